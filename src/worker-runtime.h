/*
 * worker-runtime.h - the public contract of libworker-runtime.
 *
 * A Runtime hosts Workers: long-lived sessions that take input, keep a
 * transcript and have a lifecycle (running -> stopped | cancelled | failed).
 * Anything not declared in this header is private.
 *
 * Conventions
 *   - Fallible calls return a wr_err (WR_OK == 0) and, when the caller passes
 *     a non-NULL struct wr_error, fill it with the code, a reason, the JSON
 *     field path and a message.  Out-parameters are written only on success;
 *     on failure the Runtime is left exactly as it was.
 *   - Strings passed in are borrowed for the duration of the call and copied
 *     when kept.  Results that own heap memory say which *_free releases them.
 *     Every *_free accepts NULL.
 *
 * Thread safety
 *   A struct wr_runtime is shared by any number of threads.  It is guarded by
 *   one reader/writer lock: reads (summary, list, get, transcript) take it
 *   shared, mutations take it exclusive.  With the fs store a mutation
 *   write(2)s its record under the lock and waits for the fdatasync with the
 *   lock released, and a transcript page reads its entries back from the
 *   store's files (pread) under the shared lock.  Exactly two things hold
 *   the lock exclusive across the store's disk I/O (fdatasync/fsync),
 *   pausing every other call meanwhile:
 *     - the start of a snapshot, taken by the mutation that finds the
 *       journal past its threshold (64 MiB; docs/store.md): a new journal
 *       is created (one small write, fdatasync and fsync of the directory)
 *       and the state's index is copied; the snapshot itself is written by
 *       a background thread without the lock;
 *     - the reset after a failed write or fdatasync: the journal is cut
 *       back to its last durable record (ftruncate) and synced, by the
 *       failing commit or, if that reset failed too, by the next mutation
 *       before it may append.
 *   With retain_ended_ms set (wr_config), a thread of the Runtime takes the
 *   lock exclusive now and then to delete expired ended workers, at most 64
 *   per hold, and awaits their records with it released.
 *   The lock is never held while waiting for a child process: a driver's
 *   release() is always called without it.  Driver operations (struct
 *   wr_driver) are called with the lock held and must not block; drivers
 *   report back through the wr_worker_emit family from their own threads
 *   only, never from inside a driver operation.  Everything else in this
 *   header (codec, names, strerror) is reentrant.
 */
#ifndef WORKER_RUNTIME_H
#define WORKER_RUNTIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Version of the library and of the REST API it serves. */
#define WR_API_VERSION "v1"

/* Returns the library version ("MAJOR.MINOR.PATCH"); static, never NULL. */
const char *wr_version(void);

/* ------------------------------------------------------------------------ */
/* Errors                                                                   */
/* ------------------------------------------------------------------------ */

/*
 * The error taxonomy: X(enum, code name, message).  The code name is the
 * wire value of error.code; the HTTP status is chosen by the responder only.
 */
#define WR_ERROR_TABLE(X)                                                     \
	X(WR_OK, "ok", "success")                                             \
	X(WR_EBUSY, "busy",                                                   \
	  "the worker is mid-turn and cannot take input now; retry later")   \
	X(WR_EUNKNOWN_WORKER, "unknown_worker",                               \
	  "no such worker in this runtime")                                   \
	X(WR_EINVALID_INPUT, "invalid_input",                                 \
	  "the request is malformed; fix it before retrying")                 \
	X(WR_EUNSUPPORTED, "unsupported_operation",                           \
	  "the operation cannot be done here; do not retry")                  \
	X(WR_EUNAVAILABLE, "runtime_unavailable",                             \
	  "the runtime is stopping, stopped or cannot persist; retry later")  \
	X(WR_EUNAUTHORIZED, "unauthorized", "missing or wrong local token")   \
	X(WR_EFORBIDDEN, "forbidden",                                         \
	  "browser-originated requests are refused")                          \
	X(WR_ENOT_FOUND, "not_found", "no such route")                        \
	X(WR_EINTERNAL, "internal", "internal error")

typedef enum wr_err {
#define WR__ENUM(e, name, msg) e,
	WR_ERROR_TABLE(WR__ENUM)
#undef WR__ENUM
	WR__ERR_COUNT
} wr_err;

/* Returns the human message of an error; static string, never NULL (also
 * for out-of-range values). */
const char *wr_strerror(wr_err code);

/* Returns the wire name of an error ("busy", ...); static, never NULL. */
const char *wr_err_name(wr_err code);

/* Parses a wire name back; returns false (and leaves *out) if unknown. */
bool wr_err_parse(const char *name, wr_err *out);

/*
 * The reasons: the one table of every reason an error can carry, each with
 * its wire name and default message (docs/api.md lists them by code).  A
 * reason refines a code; WR_REASON_NONE is the empty reason.  Branch on
 * the enumerator, never on the name.
 *
 * When you add a reason: add its row here, use it through wr__fail, and
 * add it to docs/api.md's table of its code.
 */
#define WR_REASON_TABLE(X)                                                   \
	X(WR_REASON_NONE, "", "")                                            \
	X(WR_REASON_OUT_OF_MEMORY, "out_of_memory",                          \
	  "the Runtime ran out of memory; the request changed nothing")      \
	X(WR_REASON_INVALID_JSON, "invalid_json",                            \
	  "the body is not one JSON value of the expected type")             \
	X(WR_REASON_DUPLICATE_MEMBER, "duplicate_member",                    \
	  "a member name occurs twice in one JSON object")                   \
	X(WR_REASON_NUL_IN_MEMBER_NAME, "nul_in_member_name",                \
	  "a JSON member name contains \\u0000")                             \
	X(WR_REASON_INVALID_UNICODE, "invalid_unicode",                      \
	  "a JSON string holds an escaped lone surrogate")                   \
	X(WR_REASON_INVALID_NUMBER, "invalid_number",                        \
	  "a number that cannot be read exactly: -0, or beyond 64 bits")     \
	X(WR_REASON_INVALID_UTF8, "invalid_utf8",                            \
	  "a string that is not UTF-8 or holds a NUL byte")                  \
	X(WR_REASON_UNKNOWN_FIELD, "unknown_field",                          \
	  "a member the shape does not have")                                \
	X(WR_REASON_WRONG_TYPE, "wrong_type",                                \
	  "a member of the wrong JSON type")                                 \
	X(WR_REASON_MISSING_FIELD, "missing_field",                          \
	  "a required member is absent")                                     \
	X(WR_REASON_INVALID_VALUE, "invalid_value",                          \
	  "a malformed value or an unknown enum value")                      \
	X(WR_REASON_TOO_DEEP, "too_deep",                                    \
	  "JSON nested deeper than allowed")                                 \
	X(WR_REASON_TOO_LONG, "too_long",                                    \
	  "a string longer than allowed")                                    \
	X(WR_REASON_TOO_MANY_ITEMS, "too_many_items",                        \
	  "an array with more items than allowed")                           \
	X(WR_REASON_EMPTY_CONTENT, "empty_content",                          \
	  "content must not be empty")                                       \
	X(WR_REASON_CONTENT_TOO_LARGE, "content_too_large",                  \
	  "content is longer than max_input_bytes")                          \
	X(WR_REASON_UNKNOWN_PROFILE, "unknown_profile",                      \
	  "no such profile is configured")                                   \
	X(WR_REASON_LIMIT_TOO_LARGE, "limit_too_large",                      \
	  "a page limit above the allowed maximum")                          \
	X(WR_REASON_PAYLOAD_TOO_LARGE, "payload_too_large",                  \
	  "the request body is larger than allowed")                         \
	X(WR_REASON_UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type",        \
	  "the request body must be application/json; charset=utf-8")        \
	X(WR_REASON_INVALID_PATH, "invalid_path",                            \
	  "the request path is malformed")                                   \
	X(WR_REASON_URI_TOO_LONG, "uri_too_long",                            \
	  "the request URI is too long")                                     \
	X(WR_REASON_INVALID_WORKER_ID, "invalid_worker_id",                  \
	  "the worker id in the path is not a valid id")                     \
	X(WR_REASON_INVALID_QUERY, "invalid_query",                          \
	  "a query parameter's value is malformed")                          \
	X(WR_REASON_UNKNOWN_PARAMETER, "unknown_parameter",                  \
	  "a query parameter the endpoint does not take")                    \
	X(WR_REASON_INVALID_REQUEST, "invalid_request",                      \
	  "the request lacks REQUEST_METHOD or REQUEST_URI")                 \
	X(WR_REASON_INVALID_PARAM, "invalid_param",                          \
	  "a request param name is empty or holds a NUL byte")               \
	X(WR_REASON_INVALID_CONTENT_LENGTH, "invalid_content_length",        \
	  "CONTENT_LENGTH is not a decimal byte count")                      \
	X(WR_REASON_INVALID_BODY, "invalid_body",                            \
	  "the request body ended before CONTENT_LENGTH bytes, or went on "  \
	  "after them")                                                      \
	X(WR_REASON_METHOD_NOT_ALLOWED, "method_not_allowed",                \
	  "the path does not take this method")                              \
	X(WR_REASON_MISSING_TOKEN, "missing_token",                          \
	  "the request carries no local token")                              \
	X(WR_REASON_WRONG_TOKEN, "wrong_token",                              \
	  "the local token is wrong")                                        \
	X(WR_REASON_BROWSER_REQUEST, "browser_request",                      \
	  "a browser-issued request (Origin or Sec-Fetch-Site) is refused")  \
	X(WR_REASON_WORKER_NOT_RUNNING, "worker_not_running",                \
	  "the worker has ended; it takes no more input")                    \
	X(WR_REASON_WORKER_RUNNING, "worker_running",                        \
	  "the worker is running; stop or cancel it before deleting it")     \
	X(WR_REASON_WORKER_LIMIT_REACHED, "worker_limit_reached",            \
	  "max_workers workers exist already")                               \
	X(WR_REASON_TURN_IN_PROGRESS, "turn_in_progress",                    \
	  "the worker is mid-turn; retry after Retry-After")                 \
	X(WR_REASON_WORKER_EXITED, "worker_exited",                          \
	  "the worker process has exited or is stopping")                    \
	X(WR_REASON_SPAWN_FAILED, "spawn_failed",                            \
	  "the worker program could not be started")                         \
	X(WR_REASON_RUNTIME_CLOSING, "runtime_closing",                      \
	  "the Runtime is closing")                                          \
	X(WR_REASON_RUNTIME_STOPPING, "runtime_stopping",                    \
	  "the Runtime is stopping; it takes no new work")                   \
	X(WR_REASON_RUNTIME_STOPPED, "runtime_stopped",                      \
	  "the Runtime is stopped; it takes no new work")                    \
	X(WR_REASON_STOPPING, "stopping",                                    \
	  "the request waited in the listen backlog while the Runtime began to stop; it was not acted on") \
	X(WR_REASON_RESTORING, "restoring",                                  \
	  "the Runtime is still replaying its store; the request was not acted on") \
	X(WR_REASON_NO_RANDOMNESS, "no_randomness",                          \
	  "the kernel gave no randomness for a new id")                      \
	X(WR_REASON_ID_COLLISION, "id_collision",                            \
	  "no free worker id was found")                                     \
	X(WR_REASON_RUNTIME_ID_MISMATCH, "runtime_id_mismatch",              \
	  "the store belongs to another runtime id")                         \
	X(WR_REASON_STORE_FAILED, "store_failed",                            \
	  "the store failed to persist this change; nothing was applied")    \
	X(WR_REASON_STORE_OPEN_FAILED, "store_open_failed",                  \
	  "the store could not be opened")                                   \
	X(WR_REASON_STORE_WRITE_FAILED, "store_write_failed",                \
	  "a store write failed")                                            \
	X(WR_REASON_STORE_SYNC_FAILED, "store_sync_failed",                  \
	  "a store sync (fdatasync) failed")                                 \
	X(WR_REASON_STORE_RESET_FAILED, "store_reset_failed",                \
	  "an fdatasync failed and the journal could not be cut back: "      \
	  "not applied now, but may be after a restart")                     \
	X(WR_REASON_STORE_SNAPSHOT_FAILED, "store_snapshot_failed",          \
	  "writing a snapshot failed")                                       \
	X(WR_REASON_STORE_RECORD_TOO_LARGE, "store_record_too_large",        \
	  "a record is larger than the store's frame allows")                \
	X(WR_REASON_STORE_CORRUPT, "store_corrupt",                          \
	  "the store holds damaged or inconsistent records")                 \
	X(WR_REASON_STORE_VERSION, "store_version",                          \
	  "the store was written by a newer format version")                 \
	X(WR_REASON_STORE_LOCKED, "store_locked",                            \
	  "another process holds the store's lock")                          \
	X(WR_REASON_STORE_NOT_LOADED, "store_not_loaded",                    \
	  "the store was used before it was loaded")                         \
	X(WR_REASON_STORE_LOADED, "store_loaded",                            \
	  "the store is already loaded")                                     \
	X(WR_REASON_BAD_RECORD, "bad_record",                                \
	  "a record the store cannot encode")                                \
	X(WR_REASON_BAD_LSN, "bad_lsn",                                      \
	  "a log sequence number the store never handed out")                \
	X(WR_REASON_UNREADABLE_FILE, "unreadable_file",                      \
	  "a file could not be read")                                        \
	X(WR_REASON_FILE_TOO_LARGE, "file_too_large",                        \
	  "a file is larger than allowed")                                   \
	X(WR_REASON_TOO_MANY_WAITERS, "too_many_waiters",                    \
	  "max_waiters requests are waiting already; retry after Retry-After") \
	X(WR_REASON_IDEMPOTENCY_KEY_REUSED, "idempotency_key_reused",        \
	  "the Idempotency-Key was used for another method, path or body")   \
	X(WR_REASON_IDEMPOTENCY_IN_FLIGHT, "idempotency_in_flight",          \
	  "a request with this Idempotency-Key is still in flight; retry after Retry-After") \
	X(WR_REASON_IDEMPOTENCY_KEYS_FULL, "idempotency_keys_full",          \
	  "max_idempotency_keys unexpired keys are held; nothing was done")

enum wr_reason {
#define WR__REASON_ENUM(e, name, msg) e,
	WR_REASON_TABLE(WR__REASON_ENUM)
#undef WR__REASON_ENUM
	WR__REASON_COUNT
};

/* Returns the wire name of a reason ("unknown_field", "" for
 * WR_REASON_NONE); static, never NULL (also for out-of-range values: ""). */
const char *wr_reason_name(enum wr_reason reason);

/* Returns the default message of a reason; static, never NULL. */
const char *wr_reason_message(enum wr_reason reason);

/* Returns the code a reason comes with (WR_OK for WR_REASON_NONE and
 * out-of-range values).  Pure. */
wr_err wr_reason_code(enum wr_reason reason);

/* Returns true for an unavailable reason (WR_EUNAVAILABLE) that names a
 * state, not a fault: nothing is broken, and the same request may succeed
 * later - after Retry-After when the Runtime is restoring its store or at
 * its --max-waiters or --max-idempotency-keys bound, on the restarted
 * Runtime when it is stopping or closing (a retry on a Runtime that is
 * closing never succeeds).  False for every other reason (a fault, a
 * refusal; the busy reasons pass too, but are not faults to begin with)
 * and out-of-range values.  Pure; the rule is a column of the reasons'
 * table in src/base/errors.c.  The responder logs a 503 of such a reason
 * at warn, not error. */
bool wr_reason_transient(enum wr_reason reason);

/* Parses a wire name back ("" is WR_REASON_NONE); returns false (and
 * leaves *out) if the name is in no row of WR_REASON_TABLE. */
bool wr_reason_parse(const char *name, enum wr_reason *out);

/* The largest event id (and transcript sequence) a Runtime hands out:
 * 2^53 - 1, the largest integer every JSON parser reads exactly (RFC 8259
 * section 6).  A store holding a larger one is damaged. */
#define WR_MAX_EVENT_ID 9007199254740991ull

#define WR_ID_MAX 64        /* worker and runtime ids, excluding NUL */
#define WR_REASON_MAX 48    /* longest wire name of a reason, excluding NUL */
#define WR_FIELD_MAX 128
#define WR_MESSAGE_MAX 256

/*
 * Per-call error detail, owned by the caller.  reason is WR_REASON_NONE and
 * field/worker_id are empty strings when they do not apply; the reason's
 * wire name is wr_reason_name(reason).  Never a global buffer.
 */
struct wr_error {
	wr_err code;
	enum wr_reason reason;        /* e.g. WR_REASON_UNKNOWN_FIELD */
	char field[WR_FIELD_MAX];     /* JSON path, e.g. "intent.kind"; a
	                               * longer one is cut, ending "..." */
	char message[WR_MESSAGE_MAX]; /* one sentence for a human */
	char worker_id[WR_ID_MAX + 1];
};

/* Resets *err to WR_OK with empty strings.  NULL is accepted. */
void wr_error_clear(struct wr_error *err);

/* ------------------------------------------------------------------------ */
/* Value types                                                              */
/* ------------------------------------------------------------------------ */

enum wr_worker_status {
	WR_STATUS_RUNNING,
	WR_STATUS_STOPPED,
	WR_STATUS_CANCELLED,
	WR_STATUS_FAILED,
	WR__STATUS_COUNT /* not a status: how many there are, for arrays */
};

enum wr_run_state { WR_RUN_IDLE, WR_RUN_BUSY, WR_RUN_NONE };

enum wr_role { WR_ROLE_USER, WR_ROLE_SYSTEM, WR_ROLE_WORKER, WR_ROLE_RUNTIME };

enum wr_input_kind { WR_INPUT_USER, WR_INPUT_SYSTEM };

enum wr_intent_kind { WR_INTENT_ASSISTANT, WR_INTENT_TASK, WR_INTENT_ROLE };

enum wr_profile_kind {
	WR_PROFILE_RUNTIME_DEFAULT,
	WR_PROFILE_BUILTIN,
	WR_PROFILE_NAMED
};

enum wr_runtime_status {
	WR_RUNTIME_RUNNING,
	WR_RUNTIME_STOPPING,
	WR_RUNTIME_STOPPED
};

/* Wire names of the enums above; static strings, NULL if out of range. */
const char *wr_worker_status_name(enum wr_worker_status s);
const char *wr_run_state_name(enum wr_run_state s);
const char *wr_role_name(enum wr_role r);
const char *wr_runtime_status_name(enum wr_runtime_status s);

/* Identifies a worker across runtimes. */
struct wr_worker_ref {
	char runtime_id[WR_ID_MAX + 1];
	char worker_id[WR_ID_MAX + 1];
};

/* Returns true if s is a syntactically valid worker or runtime id:
 * 1..WR_ID_MAX bytes of [A-Za-z0-9_.-], not starting with '.'. */
bool wr_id_valid(const char *s);

/* Returns the kind of file a stat(2) st_mode describes, with its article,
 * for messages that refuse a file of the wrong kind: "a regular file",
 * "a directory", "a FIFO", "a character device", "a block device",
 * "a socket", "a symbolic link", or "a special file" for anything else.
 * The string is static; thread-safe. */
const char *wr_file_kind(mode_t mode);

struct wr_intent {
	enum wr_intent_kind kind;
	char *purpose;   /* assistant, role: optional (NULL) */
	char *objective; /* task: required */
	char *role;      /* role: required */
};

struct wr_profile_ref {
	enum wr_profile_kind kind;
	char *value; /* builtin, named: required; runtime_default: NULL */
};

struct wr_capability {
	char *name;
	char *reason; /* optional (NULL) */
};

struct wr_mount_ref {
	char *name;
	char *reference;
};

/*
 * CreateWorkerRequest.  Passed to wr_worker_create it is borrowed; a
 * zero-initialised request means assistant intent and the runtime default
 * profile.  Decoded by wr_json_decode_create_request it is owned by the
 * caller and freed with wr_create_request_free.
 */
struct wr_create_request {
	struct wr_intent intent;
	struct wr_profile_ref profile;
	char *config_bundle_id; /* NULL: no config bundle */
	struct wr_capability *capabilities;
	size_t n_capabilities;
	struct wr_mount_ref *workspace_refs;
	size_t n_workspace_refs;
	struct wr_mount_ref *mount_refs;
	size_t n_mount_refs;
};

/* Frees a request returned by the decoder, and all it points to. */
void wr_create_request_free(struct wr_create_request *req);

/*
 * WorkerSummary + WorkerDetail in one struct (the summary is a projection).
 * Returned by the library as a heap copy: the caller frees it with
 * wr_worker_info_free.  Timestamps are milliseconds since the Unix epoch.
 */
struct wr_worker_info {
	struct wr_worker_ref ref;
	enum wr_worker_status status;
	enum wr_run_state run_state;
	struct wr_intent intent;
	struct wr_profile_ref profile;
	char *config_bundle_id; /* NULL: none */
	struct wr_capability *capabilities;
	size_t n_capabilities;
	struct wr_mount_ref *workspace_refs;
	size_t n_workspace_refs;
	struct wr_mount_ref *mount_refs;
	size_t n_mount_refs;
	uint64_t transcript_len;
	uint64_t last_event_id;
	int64_t created_at_ms;
	int64_t updated_at_ms;
	/* The reason given to the stop or cancel that ended the worker
	 * (LifecycleRequest.reason), or NULL: none given, or not ended by
	 * one.  Owned by the info. */
	char *status_reason;
};

void wr_worker_info_free(struct wr_worker_info *w);

/* A page of workers in creation order; free with wr_worker_list_free.
 * has_next: more workers may follow; pass next_after as the next query's
 * after (false: the walk is complete, next_after is ""). */
struct wr_worker_list {
	struct wr_worker_info **items;
	size_t count;
	bool has_next;
	char next_after[WR_ID_MAX + 1];
};

void wr_worker_list_free(struct wr_worker_list *list); /* frees the items */

/* WorkerInput.  content is borrowed by wr_worker_input; when produced by
 * wr_json_decode_input it is owned and released by wr_input_clear. */
struct wr_input {
	enum wr_input_kind kind;
	char *content;
};

void wr_input_clear(struct wr_input *in);

struct wr_input_ack {
	struct wr_worker_ref ref;
	enum wr_worker_status status;
	enum wr_run_state run_state;
	uint64_t transcript_sequence;
	uint64_t event_id;
};

struct wr_lifecycle_ack {
	struct wr_worker_ref ref;
	enum wr_worker_status status;
	uint64_t event_id;
	bool deleted; /* wr_worker_delete: true (encoded as "deleted") */
};

struct wr_transcript_entry {
	uint64_t sequence; /* 1-based, dense */
	enum wr_role role;
	char *content;
	uint64_t event_id;
	int64_t created_at_ms;
};

/* TranscriptPage; free its items with wr_transcript_page_clear. */
struct wr_transcript_page {
	struct wr_worker_ref ref;
	uint64_t start;
	uint32_t limit;
	uint64_t total_items;
	struct wr_transcript_entry *items;
	size_t count;
	bool has_next; /* false: next_start is null */
	uint64_t next_start;
	/* The worker as of the page (read under the same lock as the
	 * entries): a follower knows from one answer whether the turn is
	 * over, and last_event_id is what to wait after next. */
	enum wr_worker_status status;
	enum wr_run_state run_state;
	uint64_t last_event_id;
};

void wr_transcript_page_clear(struct wr_transcript_page *page);

/* The Runtime's limits.  0 means the WR_DEFAULT_* value; a value above
 * its WR_MAX_* makes wr_runtime_open() fail (invalid_input/invalid_value,
 * field "limits.<member>"). */
struct wr_limits {
	uint32_t max_transcript_projection_items; /* 0: default 256 */
	uint32_t max_input_bytes;                 /* 0: default 1 MiB */
	uint32_t max_workers;                     /* 0: default 10000 */
};

#define WR_DEFAULT_MAX_TRANSCRIPT_ITEMS 256u       /* entries per page */
#define WR_DEFAULT_MAX_INPUT_BYTES (1024u * 1024u) /* bytes of content */
#define WR_DEFAULT_MAX_WORKERS 10000u              /* workers held */
#define WR_MAX_TRANSCRIPT_ITEMS 100000u            /* entries per page */
/* 16 MiB, the same as WR_JSON_MAX_BYTES: content arrives in a JSON text no
 * reader takes beyond that, so a higher limit could never be reached. */
#define WR_MAX_INPUT_BYTES (16u * 1024u * 1024u)   /* bytes of content */
#define WR_MAX_WORKERS 10000000u                   /* workers held */
#define WR_DISPLAY_NAME_MAX 256
/* Idempotency keys (struct wr_idempotency). */
#define WR_IDEMPOTENCY_KEY_MAX 255                     /* bytes */
#define WR_DEFAULT_IDEMPOTENCY_TTL_MS (24ull * 3600 * 1000) /* 24 h */
#define WR_MAX_IDEMPOTENCY_TTL_MS (3650ull * 24 * 3600 * 1000)
#define WR_DEFAULT_MAX_IDEMPOTENCY_KEYS 100000u
#define WR_MAX_IDEMPOTENCY_KEYS 10000000u
/* Longest --retain-ended: 3650 days. */
#define WR_MAX_RETAIN_ENDED_MS (3650ull * 24 * 3600 * 1000)

/* RuntimeSummary, a self-contained value (no heap). */
struct wr_runtime_summary {
	char runtime_id[WR_ID_MAX + 1];
	bool has_display_name;
	char display_name[WR_DISPLAY_NAME_MAX + 1];
	char backend[16]; /* "memory" | "fs_store" */
	enum wr_runtime_status status;
	uint64_t worker_count;
	uint64_t active_worker_count;
	uint64_t stopped_worker_count;
	uint64_t cancelled_worker_count;
	uint64_t failed_worker_count;
	/* Workers deleted over the Runtime's life (DELETE and retention);
	 * kept across restarts by a durable store. */
	uint64_t deleted_worker_count;
	uint64_t diagnostic_count; /* diagnostics recorded since open */
	struct wr_limits limits;   /* effective values, never 0 */
	char version[32];
	int64_t started_at_ms;
};

#define WR_DIAGNOSTIC_MAX 256 /* bytes of one diagnostic message */
#define WR_DIAGNOSTICS_KEPT 128 /* newest diagnostics kept per runtime */

struct wr_diagnostic {
	uint64_t id; /* 1-based, increasing */
	int64_t at_ms;
	char worker_id[WR_ID_MAX + 1]; /* empty: runtime-wide */
	char message[WR_DIAGNOSTIC_MAX];
};

/* ------------------------------------------------------------------------ */
/* Drivers                                                                  */
/* ------------------------------------------------------------------------ */

struct wr_runtime;

/* A worker execution's lifecycle event (wr_config.on_worker_event). */
enum wr_worker_event_kind {
	WR_WORKER_SPAWNED,      /* its process started: pid */
	WR_WORKER_EXITED,       /* its process was reaped: exit_status or
	                         * signal; failed if the worker was marked
	                         * failed: it ended on its own, or the
	                         * Runtime ended it for a timed-out turn or
	                         * a stdout it closed */
	WR_WORKER_KILLED,       /* SIGKILL sent: still running after SIGTERM
	                         * and the kill grace */
	WR_WORKER_SPAWN_FAILED, /* no process: reason and message say why */
	WR_WORKER_STDERR        /* a line it wrote to stderr: message, its
	                         * first 160 bytes with control bytes (and
	                         * every non-ASCII byte when the line is not
	                         * UTF-8) shown as '?', and " (line truncated)"
	                         * after a longer one's.  The worker's own
	                         * log, not the Runtime's trouble: no
	                         * diagnostic */
};

struct wr_worker_event {
	enum wr_worker_event_kind kind;
	const char *worker_id;
	const char *profile;   /* the profile's name */
	long pid;              /* -1: none */
	int exit_status;       /* EXITED normally: 0..255; else -1 */
	int signal;            /* EXITED by a signal: its number; else 0 */
	bool failed;
	enum wr_reason reason; /* SPAWN_FAILED */
	const char *message;   /* SPAWN_FAILED: why; STDERR: the line;
	                        * else "" */
};

/*
 * The one report a driver makes about a worker's execution: counts ev in
 * the Runtime's metrics (children_spawned, children_exited,
 * spawn_failures, kills_after_grace, worker_stderr_lines of struct
 * wr_metrics: one relaxed atomic add), then hands it to
 * wr_config.on_worker_event, if any (the lifecycle and stderr log lines).  NULL rt or ev, or an unknown kind, is ignored.
 * Lock-free and thread-safe; may be called inside driver operations.
 */
void wr_runtime_worker_event(struct wr_runtime *rt,
                             const struct wr_worker_event *ev);

/*
 * An execution driver runs a worker.  The builtin "transcript" driver only
 * records input; embedders and the exec driver supply others.  All
 * operations are called with the Runtime lock held: they must not block and
 * must not call back into the Runtime.  Asynchronous results (output, end of
 * a turn, death of the execution) are reported from the driver's own threads
 * with wr_worker_emit / wr_worker_turn_end / wr_worker_fail.
 */
struct wr_driver {
	const char *name;
	/* Begins executing worker_id.  On success *state is the driver's
	 * per-worker state.  On failure no execution is left behind and the
	 * worker is not created; the code is returned to the caller. */
	wr_err (*start)(void *arg, struct wr_runtime *rt, const char *worker_id,
	                void **state, struct wr_error *err);
	/* Delivers one input.  Sets *turn_started if the worker is now busy
	 * until it reports wr_worker_turn_end.  May return WR_EBUSY. */
	wr_err (*input)(void *state, enum wr_input_kind kind, const char *content,
	                uint64_t sequence, bool *turn_started,
	                struct wr_error *err);
	/* Begins ending the execution: graceful (cancel == false) or
	 * immediate.  Must not block; called at most once per worker. */
	void (*stop)(void *state, bool cancel);
	/* Releases the state.  Called without the Runtime lock, at close or
	 * when the worker ended; may block until the execution is gone.  After
	 * it returns the driver makes no more callbacks for this worker. */
	void (*release)(void *state);
	/* release() may wait a long time (the exec driver: a process in its
	 * stop grace).  Such a deleted worker is released by a Runtime thread,
	 * so the delete answers at once, and keeps its max_workers slot until
	 * release() returned; otherwise the deleting thread releases it. */
	bool release_waits;
};

/* A named profile: a driver plus its argument (borrowed for the Runtime's
 * lifetime).  driver == NULL means the builtin transcript driver. */
struct wr_profile {
	const char *name;
	const struct wr_driver *driver;
	void *driver_arg;
};

/* Returns the builtin transcript driver (static). */
const struct wr_driver *wr_driver_transcript(void);

/* Driver callbacks: thread-safe; must not be called from inside a driver
 * operation.  They return WR_EUNKNOWN_WORKER if the worker is gone,
 * WR_EUNSUPPORTED if it is no longer running (late output is dropped) and
 * WR_EUNAVAILABLE (runtime_closing) once wr_runtime_close began; emit
 * refuses a role other than worker or runtime and content that is not UTF-8
 * without NUL (WR_EINVALID_INPUT).  A turn_end while not busy is WR_OK and
 * records nothing. */
wr_err wr_worker_emit(struct wr_runtime *rt, const char *worker_id,
                      enum wr_role role, const char *content,
                      struct wr_error *err);
wr_err wr_worker_turn_end(struct wr_runtime *rt, const char *worker_id,
                          struct wr_error *err);
/* Marks the worker failed and records why as a runtime transcript entry
 * (a NULL, empty or non-UTF-8 why is recorded as "the worker failed"). */
wr_err wr_worker_fail(struct wr_runtime *rt, const char *worker_id,
                      const char *why, struct wr_error *err);
/* Records a bounded diagnostic (truncated to WR_DIAGNOSTIC_MAX - 1 bytes).
 * worker_id may be NULL.  Thread-safe. */
void wr_runtime_diagnose(struct wr_runtime *rt, const char *worker_id,
                         const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* ------------------------------------------------------------------------ */
/* Runtime                                                                  */
/* ------------------------------------------------------------------------ */

/*
 * Configuration; zero values mean the documented defaults.  Everything is
 * borrowed during wr_runtime_open except profiles[i].driver/driver_arg,
 * which must outlive the Runtime.
 */
struct wr_config {
	const char *runtime_id;   /* NULL: generated, unique ("rt-" + hex) */
	const char *display_name; /* NULL: unset (null on the wire) */
	struct wr_limits limits;
	const char *store;        /* NULL or "memory"; "fs:DIR" durable */
	const struct wr_profile *profiles;
	size_t n_profiles;
	const char *default_profile; /* NULL: builtin transcript */
	/* Retention: 0 keeps ended workers until they are deleted; otherwise
	 * a background thread of the Runtime deletes every ended worker whose
	 * last event is at least this old (at most WR_MAX_RETAIN_ENDED_MS),
	 * journaled exactly like wr_worker_delete. */
	uint64_t retain_ended_ms;
	/* Called with every diagnostic as it is recorded (NULL: none), from
	 * whichever thread records it and possibly with the Runtime lock held:
	 * it must be quick and must not call into the Runtime.  *d is valid
	 * for the call only. */
	void (*on_diagnostic)(void *arg, const struct wr_diagnostic *d);
	void *on_diagnostic_arg;
	/* fs store: a snapshot is written in the background once the
	 * journal since the last one reaches this many bytes and as many as
	 * snapshot_percent % of the last snapshot (docs/store.md, "Snapshots");
	 * 0: 4 MiB.
	 * Ignored by the memory store. */
	uint64_t snapshot_bytes;
	/* fs store: ... and this percentage of the last snapshot's size;
	 * 0: 100.  1 makes the floor alone decide for stores up to 100x
	 * snapshot_bytes. */
	uint32_t snapshot_percent;
	/* Watches (wr_worker_watch, wr_worker_wait) that may exist at once;
	 * 0: WR_DEFAULT_MAX_WAITERS, at most WR_MAX_WAITERS.  One more is
	 * WR_EUNAVAILABLE, reason too_many_waiters. */
	uint32_t max_waiters;
	/* Idempotency keys (wr_worker_create_keyed, ...): how long a key's
	 * stored answer is kept (0: WR_DEFAULT_IDEMPOTENCY_TTL_MS; at most
	 * WR_MAX_IDEMPOTENCY_TTL_MS) and how many unexpired keys are held at
	 * once (0: WR_DEFAULT_MAX_IDEMPOTENCY_KEYS; at most
	 * WR_MAX_IDEMPOTENCY_KEYS).  At the bound a new keyed mutation is
	 * refused (WR_EUNAVAILABLE, idempotency_keys_full): no key is ever
	 * dropped before it expires. */
	uint64_t idempotency_ttl_ms;
	uint32_t max_idempotency_keys;
	/* Called for each lifecycle event of a worker's execution (the exec
	 * driver: spawned, exited, killed after its grace, spawn failed);
	 * NULL: none.  Same rules as on_diagnostic: from any thread, possibly
	 * with the Runtime lock held, quick, no calls into the Runtime; *ev
	 * is valid for the call only. */
	void (*on_worker_event)(void *arg, const struct wr_worker_event *ev);
	void *on_worker_event_arg;
};

#define WR_DEFAULT_MAX_WAITERS 10000u
#define WR_MAX_WAITERS 1000000u

/* Opens a Runtime.  On success *out is owned by the caller (close it with
 * wr_runtime_close).  Fails with WR_EINVALID_INPUT for a bad config or a
 * store of a newer format (store_version), WR_EUNAVAILABLE if the store
 * cannot be opened or restored (store_locked, store_corrupt, ...) and
 * WR_EINTERNAL (out_of_memory). */
wr_err wr_runtime_open(const struct wr_config *cfg, struct wr_runtime **out,
                       struct wr_error *err);

/*
 * Replaces the Runtime's profiles (a reload): the names and the default are
 * checked as wr_runtime_open checks them and copied; workers created from
 * then on resolve their profile in the new set, running workers keep the
 * driver and driver_arg they were started with, so the caller keeps a
 * driver_arg alive while a worker started with it may run, until
 * wr_runtime_close at the latest (the profiles of a wr_profile_set need
 * no care: their workers copy what they keep at their start).  On an error
 * (WR_EINVALID_INPUT: invalid_value, unknown_profile; WR_EINTERNAL) the old
 * profiles stay in force.  Thread-safe (takes the Runtime's write lock
 * briefly; call it outside driver operations).
 */
wr_err wr_runtime_set_profiles(struct wr_runtime *rt,
                               const struct wr_profile *profiles,
                               size_t n_profiles, const char *default_profile,
                               struct wr_error *err);

/*
 * Checks a store spec as wr_runtime_open would use it, without opening it
 * for writing or creating anything: "memory" is always fine; "fs:DIR" must
 * be a directory this process may write, holding no file of a newer
 * format (WR_EINVALID_INPUT, store_version), not locked by a live Runtime
 * (WR_EUNAVAILABLE, store_locked) and whose first record (the runtime id)
 * reads back (store_corrupt); or DIR does not exist yet and its parent is
 * a directory this process may write (the first open creates DIR).
 * store_open_failed for the rest.  A store that passes may still fail to
 * open (e.g. a corrupt journal is found only by the replay).  Thread-safe.
 */
wr_err wr_store_check(const char *spec, struct wr_error *err);

/* What wr_runtime_check found. */
struct wr_store_check {
	bool store_created; /* fs:DIR does not exist: the first open makes it */
	char store_runtime_id[WR_ID_MAX + 1]; /* the runtime id the store
	                                       * belongs to; "" none yet */
};

/*
 * Checks cfg as wr_runtime_open would, without opening anything for
 * writing or creating anything, and fills *out: the config's values and
 * its profiles (the errors wr_runtime_open gives for them), the store
 * (wr_store_check), and that a store which belongs to another runtime id
 * than cfg->runtime_id is refused with the same error the open gives
 * (WR_EINVALID_INPUT, runtime_id_mismatch).  cfg's callbacks are not
 * called.  A config that passes may still fail to open (the store's
 * replay, a lock taken meanwhile).  Thread-safe.
 */
wr_err wr_runtime_check(const struct wr_config *cfg,
                        struct wr_store_check *out, struct wr_error *err);

/* Returns the Runtime's id; borrowed, immutable until close.  Lock-free: may
 * be called from anywhere, including inside driver operations. */
const char *wr_runtime_id(const struct wr_runtime *rt);

/* Closes the Runtime without recording anything: every running worker's
 * execution is asked to stop gracefully (its driver's stop policy) and
 * released, which waits until it is gone; the workers keep their recorded
 * status, so a durable store restores them at the next open (see
 * wr_runtime_stop to record an end).  First every commit still waiting
 * (wr_mutation_start) completes - durable, or failed if its fdatasync
 * fails - and its done() is called; such a commit may still be finished
 * afterwards (wr_commit_finish).  Then syncs and closes the store and
 * frees everything.  No other thread may use rt during or after.  NULL ok. */
void wr_runtime_close(struct wr_runtime *rt);

/* Tells rt that wr_runtime_close() follows once the requests under way
 * are answered (a server calls it when it starts to drain, at its stop
 * signal): from now on rt starts no work that close would have to wait
 * for, namely the retry of a store reset that failed (about once a
 * second, or at the next mutation; each an ftruncate and an fdatasync,
 * on a failing disk as slow as that disk), and close itself does not cut
 * a failed journal back (the records it may then keep are of changes
 * answered store_reset_failed: outcome unknown), so the stop is bounded
 * by the work already under way.  Everything else goes on: reads
 * and mutations are served, a failed fdatasync still gets its reset
 * (the commits it failed are answered only after it), and while the
 * store stays failed a mutation is refused WR_EUNAVAILABLE
 * (store_failed), as before.  Cannot be undone.  Thread-safe, idempotent;
 * NULL ok. */
void wr_runtime_drain(struct wr_runtime *rt);

/* Stops the Runtime: status goes stopping -> stopped, running workers are
 * stopped, every later mutation fails with WR_EUNAVAILABLE, reads go on.
 * Idempotent, and resumable: unlike every other mutation, a failure
 * (WR_EINTERNAL/out_of_memory, a store error) may leave the Runtime
 * stopping with some workers already stopped; calling it again goes on
 * from there. */
wr_err wr_runtime_stop(struct wr_runtime *rt, struct wr_error *err);

/* Fills *out (a value; nothing to free).  O(1). */
wr_err wr_runtime_summary(struct wr_runtime *rt,
                          struct wr_runtime_summary *out,
                          struct wr_error *err);

/* Copies the kept diagnostics, oldest first, into a heap array the caller
 * frees with free(); *count may be 0 (then *out is NULL). */
wr_err wr_runtime_diagnostics(struct wr_runtime *rt, struct wr_diagnostic **out,
                              size_t *count, struct wr_error *err);

/*
 * Metrics: counters (only ever grow while the Runtime is open; they start
 * at 0 at every open) and gauges (current values) for monitoring.  Filled
 * by wr_runtime_metrics; a self-contained value (no heap).
 */
#define WR_METRICS_BATCH_BUCKETS 8 /* group-commit batch <= 1,2,4..128 */

struct wr_metrics {
	enum wr_runtime_status status;
	char backend[16];          /* "memory" | "fs_store" */
	bool store_failed;         /* the store refuses writes until reset */
	int64_t started_at_ms;
	/* gauges: workers held by status; running workers by run state */
	uint64_t workers[WR__STATUS_COUNT];
	uint64_t running_idle, running_busy;
	/* counters */
	uint64_t inputs;             /* inputs accepted (durable) */
	uint64_t transcript_entries; /* entries appended, any role */
	uint64_t diagnostics;        /* diagnostics recorded */
	uint64_t store_syncs;        /* fdatasyncs of the journal */
	/* Records made durable by each fdatasync (group commit): count of
	 * syncs with a batch <= 2^i records (not cumulative; the last
	 * bucket also holds the larger ones), their number and sum. */
	uint64_t sync_batch[WR_METRICS_BATCH_BUCKETS];
	uint64_t sync_batch_count, sync_batch_sum;
	uint64_t journal_bytes;      /* bytes appended to the journal */
	uint64_t snapshots;          /* snapshots written */
	uint64_t snapshot_failures;  /* snapshots begun and given up */
	uint64_t snapshot_us;        /* time spent writing them, in us */
	uint64_t snapshot_bytes;     /* gauge: size of the newest snapshot */
	/* exec driver (wr_runtime_worker_event) */
	uint64_t children_spawned, children_exited;
	uint64_t spawn_failures;     /* worker programs that did not start */
	uint64_t kills_after_grace;  /* SIGKILLs after SIGTERM's grace */
	uint64_t worker_stderr_lines; /* lines worker processes wrote to
	                               * stderr (WR_WORKER_STDERR) */
	/* fs store: failed writes of its synced file (docs/store.md) */
	uint64_t store_synced_failures;
	/* gauges: idempotency keys held (in flight or stored, expired ones
	 * not yet dropped included) and their bound, max_idempotency_keys:
	 * at the bound a request with a new key is refused
	 * (idempotency_keys_full) */
	uint64_t idempotency_keys, idempotency_keys_max;
};

/*
 * Fills *out.  Counters are read with relaxed atomics (each is exact, a
 * set of them is not one instant); the worker gauges walk the workers
 * under the read lock (O(workers), no I/O).  Thread-safe.  WR_OK always
 * (err unused) for an open rt.
 */
wr_err wr_runtime_metrics(struct wr_runtime *rt, struct wr_metrics *out,
                          struct wr_error *err);

/*
 * Copies at most limit (1..WR_DIAGNOSTICS_KEPT; 0: all kept) of the kept
 * diagnostics whose id is above after, oldest first, into a heap array
 * the caller frees with free() (*out NULL when *count is 0).  *has_next:
 * newer kept diagnostics follow the page.  Diagnostics older than the
 * WR_DIAGNOSTICS_KEPT newest are gone; the page starts at the oldest
 * kept one.  WR_EINVALID_INPUT/limit_too_large (field "limit") above
 * WR_DIAGNOSTICS_KEPT.  Thread-safe.
 */
wr_err wr_runtime_diagnostics_page(struct wr_runtime *rt, uint64_t after,
                                   uint32_t limit, struct wr_diagnostic **out,
                                   size_t *count, bool *has_next,
                                   struct wr_error *err);

/* ------------------------------------------------------------------------ */
/* Workers                                                                  */
/* ------------------------------------------------------------------------ */

/* Creates a worker.  req may be NULL (all defaults).  On success *out (may be
 * NULL if unwanted) is a copy the caller frees with wr_worker_info_free.
 * Errors: WR_EINVALID_INPUT (unknown_profile, ...), WR_EUNSUPPORTED
 * (max_workers reached, reason "worker_limit_reached"), WR_EUNAVAILABLE,
 * or what the driver's start returned. */
wr_err wr_worker_create(struct wr_runtime *rt,
                        const struct wr_create_request *req,
                        struct wr_worker_info **out, struct wr_error *err);

/* List paging: at most WR_LIST_LIMIT_MAX workers per page; limit 0 is
 * the default page size. */
#define WR_LIST_LIMIT_DEFAULT 256u
#define WR_LIST_LIMIT_MAX 1000u
/* Workers one page looks at, at most: a page with a status filter that
 * few workers match ends there (fewer workers than its limit, maybe
 * none, and next_after set), so it never holds the read lock for a walk
 * over all of max_workers (up to 10,000,000). */
#define WR_LIST_SCAN_MAX 65536u
/* A page's workers stop before their WorkerSummary JSON text could pass
 * this many bytes (at least one worker is always returned; next_after
 * then names the last one), so a response stays bounded whatever the
 * workers' strings: a summary is about 0.4 KiB, but a role intent whose
 * role and purpose are 64 KiB of control bytes each makes one about
 * 0.8 MB (a profile's value is a profile name, never escaped).  The same
 * bound as WR_TRANSCRIPT_PAGE_MAX_BYTES. */
#define WR_LIST_PAGE_MAX_BYTES (8u * 1024u * 1024u)

/*
 * Which page wr_worker_list copies.  A zero query (or NULL) is the first
 * page of WR_LIST_LIMIT_DEFAULT workers of any status.  after (borrowed;
 * NULL or "" = from the start) continues after that worker in creation
 * order, also when it was deleted since, provided this Runtime issued it
 * in the current id form (w-<14 hex order>-<8 hex>); an id of the older
 * form w-<16 hex> that no longer exists is WR_EINVALID_INPUT, reason
 * invalid_value, field "after".
 */
struct wr_list_query {
	uint32_t limit;
	const char *after;
	bool has_status;
	enum wr_worker_status status;
};

/*
 * Copies one page of the workers whose creation is durable, in creation
 * order, into *out (free with wr_worker_list_free): the first q->limit
 * ones after q->after, of status q->status when has_status.  A walk that
 * follows next_after sees every worker that exists during the whole walk
 * exactly once, whatever is created or deleted meanwhile.  The page is
 * the state at one instant (taken under the read lock, for O(limit) plus
 * the workers the status filter skips, at most WR_LIST_SCAN_MAX looked
 * at, without allocating); the copies are made after the lock is let go,
 * so a long page does not hold up other reads and writes.  A page may
 * hold fewer than limit workers, even none, and still have next_after
 * (has_next): the walk is complete only when has_next is false.  A page
 * also stops before its summaries could pass WR_LIST_PAGE_MAX_BYTES of
 * JSON (at least one worker; next_after is then its last one).
 * Thread-safe.  Errors:
 * WR_EINVALID_INPUT (limit_too_large above WR_LIST_LIMIT_MAX, field
 * "limit"; invalid_value for a bad status or after), WR_EINTERNAL.
 */
wr_err wr_worker_list(struct wr_runtime *rt, const struct wr_list_query *q,
                      struct wr_worker_list *out, struct wr_error *err);

/*
 * The page wr_worker_list would copy for q, as the WorkerPage JSON text
 * wr_json_encode_worker_page writes for it (byte for byte), without
 * copying the workers: on WR_OK *json is the malloc'd NUL-terminated text
 * (the caller frees) and *len (if not NULL) its length in bytes; on error
 * *json is untouched.  The page is the state at one instant, as for
 * wr_worker_list.  Each worker keeps the summary text last written for it
 * (typically about 0.4 KiB; one longer than 4 KiB, from long intent
 * strings, is not kept; freed with the worker), and a later page
 * writes afresh only the workers whose status, run state, transcript
 * length, last event or update time changed; so a page of 1,000 workers
 * that did not change is a copy of 1,000 kept texts.  Thread-safe.
 * Errors: those of wr_worker_list.
 */
wr_err wr_worker_list_json(struct wr_runtime *rt, const struct wr_list_query *q,
                           char **json, size_t *len, struct wr_error *err);

/* Copies one worker's detail, as it was at one instant, into *out (the
 * caller's; free with wr_worker_info_free).  Thread-safe; the copy is made
 * after the read lock is let go.  Errors: WR_EUNKNOWN_WORKER,
 * WR_EINTERNAL (out of memory). */
wr_err wr_worker_get(struct wr_runtime *rt, const char *worker_id,
                     struct wr_worker_info **out, struct wr_error *err);

/* Appends input to the transcript and hands it to the driver.  Content must
 * be non-empty UTF-8 without NUL, at most max_input_bytes.  Errors:
 * WR_EUNKNOWN_WORKER, WR_EINVALID_INPUT (empty_content, invalid_utf8,
 * content_too_large), WR_EUNSUPPORTED (worker not running), WR_EBUSY,
 * WR_EUNAVAILABLE. */
wr_err wr_worker_input(struct wr_runtime *rt, const char *worker_id,
                       const struct wr_input *in, struct wr_input_ack *out,
                       struct wr_error *err);

/* Stops (graceful) or cancels (immediate) a worker.  reason may be NULL and
 * is kept on the event.  Idempotent: on a terminal worker returns its
 * current status and last event id without change. */
wr_err wr_worker_stop(struct wr_runtime *rt, const char *worker_id,
                      const char *reason, struct wr_lifecycle_ack *out,
                      struct wr_error *err);
wr_err wr_worker_cancel(struct wr_runtime *rt, const char *worker_id,
                        const char *reason, struct wr_lifecycle_ack *out,
                        struct wr_error *err);

/*
 * Deletes an ended worker (stopped, cancelled or failed): its record
 * worker_deleted is journaled with a new event id, then the worker, its
 * transcript and its memory are gone - reads answer unknown_worker, it no
 * longer counts against max_workers, and a durable store keeps it deleted
 * after a restart.  An exec worker's process is already gone or ending
 * when the worker is terminal; the call does not wait for it (the driver
 * state is released by a Runtime thread; wr_runtime_close waits).  On
 * success *out (may be NULL) gets the worker's ref, its last status, the
 * delete's event id and deleted = true.  Thread-safe (write lock).
 * Errors: WR_EUNKNOWN_WORKER (unknown or already deleted),
 * WR_EUNSUPPORTED reason worker_running (stop or cancel it first),
 * WR_EUNAVAILABLE (runtime stopping/stopped, store failure).
 */
wr_err wr_worker_delete(struct wr_runtime *rt, const char *worker_id,
                        struct wr_lifecycle_ack *out, struct wr_error *err);

/*
 * Idempotent mutations.  A caller that may retry a mutation whose outcome
 * it did not learn (a timeout, a crash) gives it a key.  The key, a
 * SHA-256 digest of (method, path, body) and the exact answer (status and
 * JSON body) are stored in the same store record as the mutation itself,
 * so after a crash at any point the key is either unknown (the mutation
 * never became durable: a retry runs it) or answers the stored bytes.
 * Only mutations that succeeded store their key.
 */
struct wr_idempotency {
	const char *key;    /* 1..WR_IDEMPOTENCY_KEY_MAX bytes 0x21..0x7e */
	const char *method; /* what the digest covers: e.g. "POST" */
	const char *path;   /* e.g. "/v1/workers" (NULL: "") */
	const char *body;   /* may be NULL when body_len is 0 */
	size_t body_len;
};

/* The answer of a keyed mutation. */
struct wr_idempotent_result {
	int status;     /* the REST status: 201 for a creation, else 200 */
	char *body;     /* the JSON answer, NUL-terminated; the caller frees
	                 * it (wr_idempotent_result_clear) */
	size_t body_len;
	char worker_id[WR_ID_MAX + 1]; /* the worker it is about */
	bool replayed;  /* the stored answer of an earlier request with this
	                 * key: nothing was done now */
};

/* Frees r->body and zeroes *r.  NULL ok. */
void wr_idempotent_result_clear(struct wr_idempotent_result *r);

/* WR_OK if key is 1..255 visible ASCII characters; else
 * WR_EINVALID_INPUT, reason invalid_value, field "Idempotency-Key". */
wr_err wr_idempotency_key_check(const char *key, struct wr_error *err);

/*
 * The keyed forms of wr_worker_create/input/stop/cancel/delete: the same
 * mutation, answered in *out as the REST API encodes it (WorkerDetail
 * under "worker" with 201; InputAck or LifecycleAck under "ack" with 200).
 * If k's key was stored by an earlier request and has not expired: the
 * same method, path and body get that request's answer again, byte for
 * byte, with out->replayed and nothing changed; another method, path or
 * body is WR_EINVALID_INPUT, reason idempotency_key_reused; while the
 * earlier request is still in flight, WR_EBUSY, reason
 * idempotency_in_flight.  max_idempotency_keys unexpired keys held:
 * WR_EUNAVAILABLE, reason idempotency_keys_full.  Otherwise the errors of
 * the unkeyed form, and a failed mutation stores no key.  Thread-safe.
 */
wr_err wr_worker_create_keyed(struct wr_runtime *rt,
                              const struct wr_create_request *req,
                              const struct wr_idempotency *k,
                              struct wr_idempotent_result *out,
                              struct wr_error *err);
wr_err wr_worker_input_keyed(struct wr_runtime *rt, const char *worker_id,
                             const struct wr_input *in,
                             const struct wr_idempotency *k,
                             struct wr_idempotent_result *out,
                             struct wr_error *err);
wr_err wr_worker_stop_keyed(struct wr_runtime *rt, const char *worker_id,
                            const char *reason, const struct wr_idempotency *k,
                            struct wr_idempotent_result *out,
                            struct wr_error *err);
wr_err wr_worker_cancel_keyed(struct wr_runtime *rt, const char *worker_id,
                              const char *reason,
                              const struct wr_idempotency *k,
                              struct wr_idempotent_result *out,
                              struct wr_error *err);
wr_err wr_worker_delete_keyed(struct wr_runtime *rt, const char *worker_id,
                              const struct wr_idempotency *k,
                              struct wr_idempotent_result *out,
                              struct wr_error *err);

/*
 * Mutations awaited without a thread.  On a durable store a mutation is
 * answered only once the fdatasync covering its record returned; the
 * calls above block the calling thread meanwhile.  wr_mutation_start
 * does everything else at once - validates, appends the record, updates
 * what the next mutation sees, fixes the answer - and lets the caller
 * learn of the durability through a callback instead, so a server can
 * serve other requests while many records share one fdatasync (a commit
 * thread per Runtime on a durable store syncs up to the newest record
 * awaited, applies the records in order and completes their commits).
 * The rules of the blocking calls hold unchanged: nothing is visible to
 * reads before it is durable, a failed fdatasync fails every mutation
 * not yet durable (WR_EUNAVAILABLE, reason store_sync_failed) and
 * changes nothing, and an idempotency key stays in flight
 * (idempotency_in_flight) until its record is durable.
 */
enum wr_mutation_op {
	WR_MUTATE_CREATE, /* wr_worker_create(_keyed) */
	WR_MUTATE_INPUT,  /* wr_worker_input(_keyed) */
	WR_MUTATE_STOP,   /* wr_worker_stop(_keyed) */
	WR_MUTATE_CANCEL, /* wr_worker_cancel(_keyed) */
	WR_MUTATE_DELETE  /* wr_worker_delete(_keyed) */
};

/* One mutation; everything is borrowed for the call to
 * wr_mutation_start only. */
struct wr_mutation {
	enum wr_mutation_op op;
	const char *worker_id;                  /* all but CREATE */
	const struct wr_create_request *create; /* CREATE; NULL: defaults */
	const struct wr_input *input;           /* INPUT */
	const char *reason;                     /* STOP, CANCEL; may be NULL */
	const struct wr_idempotency *key;       /* NULL: not keyed */
	/* The caller calls wr_commit_lead when the commit is not ready at
	 * once: the commit thread is not rung until that needs it. */
	bool lead;
};

/* The answer of a mutation, as the blocking call would give it: keyed:
 * keyed (the REST status and body); else CREATE: worker (owned), INPUT:
 * input_ack, STOP/CANCEL/DELETE: lifecycle_ack. */
struct wr_mutation_result {
	struct wr_worker_info *worker;
	struct wr_input_ack input_ack;
	struct wr_lifecycle_ack lifecycle_ack;
	struct wr_idempotent_result keyed;
};

/* Frees what r owns and zeroes it.  NULL ok. */
void wr_mutation_result_clear(struct wr_mutation_result *r);

/* A started mutation, until wr_commit_finish. */
struct wr_commit;

/*
 * Starts mutation m.  An error found before anything was recorded (the
 * errors of the blocking call: validation, unknown worker, a busy
 * worker, a key in flight or reused, a refused append...) is returned
 * at once with *out NULL - but for a refusal that rests on a change not
 * yet durable (an input to a worker whose stop is in flight, a repeat
 * delete while the first one's record is): that one waits for the
 * change like a mutation waits for its record, so WR_OK and a commit
 * that ends with the refusal once the change is durable, or with the
 * sync's error if it fails (the change never happened; a key in flight
 * is forgotten either way).  Otherwise WR_OK and *out is a commit
 * the caller owns and must end with wr_commit_finish, which gives the
 * mutation's answer or its error.  *ready is true when the outcome is
 * known already (the memory store, a replayed key, a repeat stop of an
 * ended worker): done is then never called.  Else done(done_arg)
 * (NULL: none) is called exactly once, when the record is durable or
 * failed, from whichever thread completes it (the commit thread, one in
 * wr_commit_lead - also the caller's own, before wr_commit_lead returns -
 * or one blocked in wr_commit_finish), with Runtime locks held: it must
 * be quick and must not call into the Runtime.  Thread-safe.
 */
wr_err wr_mutation_start(struct wr_runtime *rt, const struct wr_mutation *m,
                         void (*done)(void *done_arg), void *done_arg,
                         struct wr_commit **out, bool *ready,
                         struct wr_error *err);

/*
 * Makes c durable on the calling thread if no commit round is running
 * (the group commit's leader): runs one round - the store's fdatasync up
 * to the newest record waiting, then applies and completes every commit
 * it covers, c included (their done is called, c's on this thread) - and
 * returns true: c's outcome is known, wr_commit_finish does not block.
 * While another round runs (the commit thread's, or another leader's) it
 * returns false at once and c completes with the commit thread's next
 * round.  For a caller that would otherwise wait for c without a thread
 * and can spare this one: it blocks for one fdatasync (as long as the
 * disk does), and saves at one mutation in flight the hand-offs to the
 * commit thread and back.  Start c with m->lead set, so the commit thread
 * is woken only if needed.  c must not be finished yet.  Thread-safe.
 */
bool wr_commit_lead(struct wr_commit *c);

/*
 * Ends c: fills *out (the caller's to clear) and returns WR_OK, or
 * returns the mutation's error (in *err), exactly as the blocking call
 * would have; frees c.  If c is not complete yet, blocks until its record
 * is durable or failed (never answers before).  Any thread; once c is
 * complete (done was called, or *ready) it may also be called after
 * wr_runtime_close, which completes every commit still waiting.
 */
wr_err wr_commit_finish(struct wr_commit *c, struct wr_mutation_result *out,
                        struct wr_error *err);

/* limit 0 means "the default page size": min(256, maximum).  (A page of
 * zero entries would never advance a client that follows next_start.) */
#define WR_TRANSCRIPT_LIMIT_DEFAULT 0u

/* A page's entries stop before their JSON text would pass this many bytes
 * (at least one entry is always returned), so a response stays bounded
 * whatever the contents; next_start then points at the first one left. */
#define WR_TRANSCRIPT_PAGE_MAX_BYTES (8u * 1024u * 1024u)

/* Copies transcript entries [start, start + limit) (0-based start) into
 * *out, fewer if WR_TRANSCRIPT_PAGE_MAX_BYTES is reached; O(limit).  A
 * limit above max_transcript_projection_items is
 * WR_EINVALID_INPUT/limit_too_large.  Clear with wr_transcript_page_clear. */
wr_err wr_worker_transcript(struct wr_runtime *rt, const char *worker_id,
                            uint64_t start, uint32_t limit,
                            struct wr_transcript_page *out,
                            struct wr_error *err);

/* ------------------------------------------------------------------------ */
/* Waiting for a worker to change                                           */
/* ------------------------------------------------------------------------ */

/*
 * Every applied change of a worker gives it a new last_event_id: an entry
 * (input, output, a failure's why), the end of a turn (busy -> idle), a
 * terminal status, its deletion.  A watch is told when a worker's
 * last_event_id passes a value, the worker is deleted, or the Runtime stops
 * (wr_runtime_stop) or closes.  It only wakes: the caller reads the state
 * again afterwards (wr_worker_get, wr_worker_transcript).
 */
struct wr_watch;

/*
 * Registers a watch on worker_id for a last_event_id above after_event,
 * without blocking (read lock).  Answers at once with WR_OK and *out =
 * NULL ("already satisfied": read again now) when the worker's
 * last_event_id is already above after_event, the worker has ended
 * (stopped, cancelled or failed: only its deletion could still change
 * it), the worker does not exist (or is not yet durable), or the Runtime
 * is not running.  Otherwise *out
 * is a watch the caller owns and must end with wr_watch_cancel, also after
 * it fired: wake(arg) is then called at most once, from whichever thread
 * applies the change (or stops/closes the Runtime), with Runtime locks
 * held: it must be quick and must not call into the Runtime or cancel a
 * watch.  Errors (*out untouched): WR_EUNAVAILABLE reason
 * too_many_waiters when max_waiters watches exist, WR_EINVALID_INPUT
 * (invalid_value) when wake or out is NULL, WR_EINTERNAL
 * (out_of_memory).  Thread-safe; O(1) (a lookup and a list insert).
 */
wr_err wr_worker_watch(struct wr_runtime *rt, const char *worker_id,
                       uint64_t after_event, void (*wake)(void *arg),
                       void *arg, struct wr_watch **out,
                       struct wr_error *err);

/*
 * Ends a watch and frees it; returns true if its wake was called.  After it
 * returns, wake is not running and will never be called.  May be called
 * after wr_runtime_close (the watch keeps what it needs alive); must not
 * be called from inside a wake.  NULL ok (returns false).  Thread-safe.
 */
bool wr_watch_cancel(struct wr_watch *w);

/*
 * Blocks until worker_id's last_event_id is above after_event, the worker
 * has ended or is deleted, the Runtime stops or closes, or timeout_ms
 * milliseconds (CLOCK_MONOTONIC; any value, 0 = do not block) pass; then
 * sets
 * *last_event_id (may be NULL) to the worker's current one, which is
 * after_event or below when the wait timed out or the Runtime stopped.
 * Errors: WR_EUNKNOWN_WORKER (no such worker, also once deleted while
 * waiting), WR_EUNAVAILABLE too_many_waiters, WR_EINTERNAL.  Built on
 * wr_worker_watch (it counts against max_waiters).  Thread-safe; must not
 * be called from a driver operation or a wake.
 */
wr_err wr_worker_wait(struct wr_runtime *rt, const char *worker_id,
                      uint64_t after_event, uint32_t timeout_ms,
                      uint64_t *last_event_id, struct wr_error *err);

/* ------------------------------------------------------------------------ */
/* Profiles file and the exec driver                                        */
/* ------------------------------------------------------------------------ */

/*
 * A loaded profiles file (docs/worker-protocol.md): {"default": NAME?,
 * "profiles": {NAME: {"argv": [...], "env"?, "cwd"?, "stop_grace_ms"?,
 * "turn_timeout_ms"?}}}.  Each profile runs its program with the exec driver.
 * The set owns its profiles and drivers' arguments.  A worker reads its
 * profile only while it starts and copies what it keeps, so a set
 * replaced by wr_runtime_set_profiles may be freed at once while its
 * workers still run.  A set is immutable; any number of Runtimes and
 * threads may share it.
 */
struct wr_profile_set;

/* Loads and validates path, a regular file: anything else (a FIFO, a
 * directory, a device) is WR_EINVALID_INPUT unreadable_file at once, never
 * waited on.  Each profile's program must be a regular file this process
 * may execute (a script's absolute #! interpreter too) and its cwd a
 * directory it may enter, as stat(2) and
 * access(2) (effective ids) see them now: else WR_EINVALID_INPUT
 * invalid_value (docs/worker-protocol.md).  On failure err->message names
 * the file, the profile and the member.  Free with wr_profile_set_free. */
wr_err wr_profiles_load(const char *path, struct wr_profile_set **out,
                        struct wr_error *err);
/* Borrowed array of *n profiles, valid until wr_profile_set_free. */
const struct wr_profile *wr_profile_set_profiles(
	const struct wr_profile_set *set, size_t *n);
/* The "default" member or NULL; borrowed. */
const char *wr_profile_set_default(const struct wr_profile_set *set);
/* Returns true if a and b were parsed from the same bytes (a reload of an
 * unchanged file), false if they differ or either is NULL.  Pure;
 * thread-safe. */
bool wr_profile_set_same_source(const struct wr_profile_set *a,
                                const struct wr_profile_set *b);
/* Frees the set.  No Runtime may still have it in force (wr_runtime_open's
 * config or the last wr_runtime_set_profiles): wr_runtime_set_profiles to
 * another set, or wr_runtime_close, first; workers started from it may go
 * on running.  NULL ok. */
void wr_profile_set_free(struct wr_profile_set *set);

/*
 * The longest a graceful stop of one worker of these profiles can take, in
 * milliseconds: the largest exec stop_grace_ms plus the 500 ms between
 * SIGTERM and SIGKILL; 0 when none is an exec profile.  wr_runtime_close()
 * asks every worker's execution to stop at once, so it ends within about
 * this long.  Pure;
 * profiles may be NULL when n is 0.
 */
uint32_t wr_profiles_stop_bound_ms(const struct wr_profile *profiles,
                                   size_t n);

/* ------------------------------------------------------------------------ */
/* JSON codec (DESIGN section 3 shapes)                                     */
/* ------------------------------------------------------------------------ */

/*
 * Encoders return a NUL-terminated JSON text the caller frees with free(),
 * or NULL when out of memory; *len (if not NULL) gets its length.  When
 * envelope is not NULL the shape is wrapped as {"<envelope>": shape}.
 *
 * Decoders are strict: unknown member, wrong type, missing required member,
 * bad enum value, nesting deeper than WR_JSON_MAX_DEPTH or text longer than
 * WR_JSON_MAX_BYTES give WR_EINVALID_INPUT with reason and field set.  So
 * does JSON another parser would read differently (docs/api.md, Strict
 * JSON): duplicate_member, nul_in_member_name, invalid_unicode (an escaped
 * lone surrogate), invalid_number (-0, integers beyond 64 bits).
 * envelope works as for the encoders.
 */
#define WR_JSON_MAX_DEPTH 16
#define WR_JSON_MAX_BYTES (16u * 1024u * 1024u)
#define WR_JSON_MAX_ITEMS 256     /* capabilities, refs */
#define WR_JSON_MAX_STRING 65536  /* any string except input content */

char *wr_json_encode_runtime_summary(const struct wr_runtime_summary *s,
                                     const char *envelope, size_t *len);
char *wr_json_encode_worker_summary(const struct wr_worker_info *w,
                                    const char *envelope, size_t *len);
char *wr_json_encode_worker_detail(const struct wr_worker_info *w,
                                   const char *envelope, size_t *len);
/* Encodes [WorkerSummary...]. */
char *wr_json_encode_worker_list(const struct wr_worker_list *l,
                                 const char *envelope, size_t *len);
/* Encodes a list page: {"workers": [WorkerSummary...], "next_after":
 * ID|null} (GET /v1/workers). */
char *wr_json_encode_worker_page(const struct wr_worker_list *l,
                                 size_t *len);
/* A page of diagnostics: {"diagnostics": [{"id", "at", "worker_id" (null:
 * runtime-wide), "message"}], "next_after": the last id, or null when
 * has_next is false}.  Bytes of a message that are not UTF-8 become '?'. */
char *wr_json_encode_diagnostic_page(const struct wr_diagnostic *items,
                                     size_t count, bool has_next,
                                     size_t *len);
char *wr_json_encode_create_request(const struct wr_create_request *r,
                                    const char *envelope, size_t *len);
char *wr_json_encode_input(const struct wr_input *in, const char *envelope,
                           size_t *len);
char *wr_json_encode_input_ack(const struct wr_input_ack *a,
                               const char *envelope, size_t *len);
/* reason may be NULL: encodes {}. */
char *wr_json_encode_lifecycle_request(const char *reason,
                                       const char *envelope, size_t *len);
char *wr_json_encode_lifecycle_ack(const struct wr_lifecycle_ack *a,
                                   const char *envelope, size_t *len);
char *wr_json_encode_transcript_page(const struct wr_transcript_page *p,
                                     const char *envelope, size_t *len);
/* Always {"error": {...}}; empty reason/field/worker_id are omitted. */
char *wr_json_encode_error(const struct wr_error *e, size_t *len);
/* The same with "request_id": request_id as its last member (the id of
 * the request this error answers; NULL or "" omits it, which is then
 * exactly wr_json_encode_error). */
char *wr_json_encode_error_request(const struct wr_error *e,
                                   const char *request_id, size_t *len);

wr_err wr_json_decode_create_request(const char *json, size_t len,
                                     const char *envelope,
                                     struct wr_create_request **out,
                                     struct wr_error *err);
wr_err wr_json_decode_input(const char *json, size_t len, const char *envelope,
                            struct wr_input *out, struct wr_error *err);
/* An empty text (len 0 or only whitespace) is valid: *reason = NULL.
 * Otherwise *reason is NULL or a string the caller frees with free(). */
wr_err wr_json_decode_lifecycle_request(const char *json, size_t len,
                                        const char *envelope, char **reason,
                                        struct wr_error *err);
wr_err wr_json_decode_runtime_summary(const char *json, size_t len,
                                      const char *envelope,
                                      struct wr_runtime_summary *out,
                                      struct wr_error *err);
/* Decodes a WorkerDetail (detail == true) or WorkerSummary. */
wr_err wr_json_decode_worker(const char *json, size_t len, const char *envelope,
                             bool detail, struct wr_worker_info **out,
                             struct wr_error *err);
wr_err wr_json_decode_worker_list(const char *json, size_t len,
                                  const char *envelope,
                                  struct wr_worker_list *out,
                                  struct wr_error *err);
/* Decodes a list page {"workers": [...], "next_after": ID|null} into *out
 * (has_next and next_after set from next_after). */
wr_err wr_json_decode_worker_page(const char *json, size_t len,
                                  struct wr_worker_list *out,
                                  struct wr_error *err);
wr_err wr_json_decode_input_ack(const char *json, size_t len,
                                const char *envelope, struct wr_input_ack *out,
                                struct wr_error *err);
wr_err wr_json_decode_lifecycle_ack(const char *json, size_t len,
                                    const char *envelope,
                                    struct wr_lifecycle_ack *out,
                                    struct wr_error *err);
wr_err wr_json_decode_transcript_page(const char *json, size_t len,
                                      const char *envelope,
                                      struct wr_transcript_page *out,
                                      struct wr_error *err);
/* Decodes {"error": {...}} into *out.  A "request_id" member (a string of
 * at most 64 bytes) is accepted and not kept. */
wr_err wr_json_decode_error(const char *json, size_t len, struct wr_error *out,
                            struct wr_error *err);

/* Formats ms since the epoch as RFC 3339 UTC with milliseconds
 * ("2026-11-24T10:21:56.123Z") into buf (at least 25 bytes). */
void wr_time_format(int64_t ms, char buf[static 25]);
/* Parses that form back; returns false if malformed. */
bool wr_time_parse(const char *s, int64_t *ms);

#ifdef __cplusplus
}
#endif
#endif /* WORKER_RUNTIME_H */
