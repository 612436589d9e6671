/*
 * internal.h - private declarations shared by the files of src/.
 *
 * Not installed.  Cross-file functions use the wr__ prefix and are never
 * exported from the shared library (see -export-symbols-regex).
 */
#ifndef WR_INTERNAL_H
#define WR_INTERNAL_H

#include <stdarg.h>
#include <sys/types.h>

#include "worker-runtime.h"

#define WR__UNUSED __attribute__((unused))

/* ---- errors (errors.c) ---------------------------------------------- */

/* Fills err (if not NULL) and returns code.  reason/field may be NULL;
 * fmt may be NULL (then the taxonomy's message is used). */
wr_err wr__fail(struct wr_error *err, wr_err code, const char *reason,
                const char *field, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

/* Sets err->worker_id (if err is not NULL); returns code unchanged. */
wr_err wr__fail_worker(struct wr_error *err, wr_err code, const char *worker_id);

/* ---- small utilities (util.c) ------------------------------------- */

/* Wall clock, ms since the epoch. */
int64_t wr__now_ms(void);

/* Writes 2*nbytes lowercase hex digits of kernel randomness plus NUL into
 * buf.  Returns 0, or -1 with errno set. */
int wr__random_hex(char *buf, size_t nbytes);

/* True if s[0..len) is well-formed UTF-8 (no overlongs, no surrogates,
 * nothing above U+10FFFF) and contains no NUL byte. */
bool wr__utf8_valid(const char *s, size_t len);

/* strdup that maps NULL to NULL; on OOM returns NULL and sets *oom. */
char *wr__strdup(const char *s, bool *oom);

/* Bounded copy, always NUL-terminated (size > 0). */
void wr__strlcpy(char *dst, const char *src, size_t size);

/* Deep copies of request parts; dst is overwritten.  Return 0 or -1 on OOM
 * (then dst holds nothing that needs freeing). */
int wr__intent_copy(struct wr_intent *dst, const struct wr_intent *src);
void wr__intent_clear(struct wr_intent *i);
int wr__profile_ref_copy(struct wr_profile_ref *dst,
                         const struct wr_profile_ref *src);
void wr__profile_ref_clear(struct wr_profile_ref *p);
int wr__capabilities_copy(struct wr_capability **dst, size_t *ndst,
                          const struct wr_capability *src, size_t n);
void wr__capabilities_free(struct wr_capability *c, size_t n);
int wr__mount_refs_copy(struct wr_mount_ref **dst, size_t *ndst,
                        const struct wr_mount_ref *src, size_t n);
void wr__mount_refs_free(struct wr_mount_ref *r, size_t n);

/* Frees what a wr_worker_info points to, not the struct itself. */
void wr__worker_info_clear(struct wr_worker_info *w);

/* Deep copy of a whole info into *dst (overwritten).  0 or -1 on OOM. */
int wr__worker_info_copy(struct wr_worker_info *dst,
                         const struct wr_worker_info *src);

/* ---- field rules shared by live writes and restore (worker.c) ---------- */

/* The ceiling of max_input_bytes: no input entry is ever longer. */
#define WR__INPUT_BYTES_CEILING (64u * 1024u * 1024u)

/* Input content (user/system entries): non-empty, at most max bytes, UTF-8
 * without NUL.  WR_OK, or WR_EINVALID_INPUT (empty_content,
 * content_too_large, invalid_utf8) with field set.  Reentrant. */
wr_err wr__content_check(const char *content, uint32_t max,
                         const char *field, struct wr_error *err);
/* Content a driver emits (worker/runtime entries): UTF-8 without NUL. */
wr_err wr__emitted_check(const char *content, struct wr_error *err);
/* A stop/cancel reason: NULL, or UTF-8 of at most 1024 bytes. */
wr_err wr__reason_check(const char *reason, struct wr_error *err);

/*
 * Allocation failures.  src/ allocates only with malloc, calloc, realloc,
 * strdup (and json-c, which uses the same), never with a private
 * allocator or mmap, and every failure becomes WR_EINTERNAL with reason
 * "out_of_memory" that leaves the Runtime as it was.  The seam that tests
 * this costs the library nothing: tests/oom.c interposes malloc & co. in
 * the test program (glibc's documented replacement by ELF interposition)
 * and fails the n-th allocation of the arming thread - ours, libc's and
 * json-c's alike, which wrappers in this library could not reach.
 * tests/test_oom.c loops it over every operation.  Known json-c 0.16
 * limits: its serialiser drops text when its buffer cannot grow (hence
 * json_text.c), its parser drops members or returns NULL with "success",
 * and it crashes when the strdup of an object key fails (the seam spares
 * json-c's strdup calls).
 */

/* ---- records and stores (runtime.c, store_*.c) ------------------------- */

/*
 * Every mutation of a Runtime is one record; applying the records of a
 * store in order rebuilds the Runtime exactly (that is how a durable store
 * restores).  A record owns what it points to until it is applied, except
 * records built for a snapshot, which borrow from the Runtime.
 */
/*
 * When you add a kind: (1) say here what it carries; (2) build with
 * --enable-werror - every switch over the kind lists all of them with no
 * default: (commit.c apply_record, apply_to_worker, reserve_for, project),
 * so -Wswitch names each one to extend; (3) give it a row in the kinds
 * table of store_record.c (name, required and optional members; a static
 * assertion there checks the table reaches WR__REC_KIND_LAST) and in the
 * table of docs/store.md; (4) decide whether a snapshot must write it
 * (commit.c maybe_snapshot) and test a restore that replays it.
 */
enum wr__record_kind {
	WR__REC_META,            /* runtime_id, event_id = last event id */
	WR__REC_WORKER_CREATED,  /* worker */
	WR__REC_TRANSCRIPT,      /* worker_id, role, sequence, content,
	                          * turn_started */
	WR__REC_TURN_END,        /* worker_id */
	WR__REC_WORKER_STATUS,   /* worker_id, status, reason, content */
	WR__REC_RUNTIME_STATUS,  /* runtime_status */
	WR__REC_WORKER_STATE     /* snapshots only: worker_id, status,
	                          * run_state, reason; event_id is the
	                          * worker's last_event_id, at_ms its
	                          * updated_at */
};
/* The highest kind (no sentinel member: it would need a case in every
 * switch). */
#define WR__REC_KIND_LAST WR__REC_WORKER_STATE

struct wr__record {
	enum wr__record_kind kind;
	uint64_t event_id; /* 0 for records that carry no event */
	int64_t at_ms;
	char runtime_id[WR_ID_MAX + 1]; /* META */
	char worker_id[WR_ID_MAX + 1];
	struct wr_worker_info *worker; /* CREATED: owned */
	enum wr_role role;             /* TRANSCRIPT */
	uint64_t sequence;             /* TRANSCRIPT: 1-based */
	char *content;                 /* TRANSCRIPT; WORKER_STATUS failed:
	                                * the runtime entry saying why */
	bool turn_started;             /* TRANSCRIPT */
	enum wr_worker_status status;  /* WORKER_STATUS, WORKER_STATE */
	enum wr_run_state run_state;   /* WORKER_STATE */
	char *reason;                  /* WORKER_STATUS, WORKER_STATE; may be
	                                * NULL */
	enum wr_runtime_status runtime_status; /* RUNTIME_STATUS */
};

/* Frees what a record owns (not the record).  NULL ok. */
void wr__record_clear(struct wr__record *rec);

struct wr__store;

/* Called by load() for each persisted record, in order; the callee takes
 * what the record owns.  Returns WR_OK or an error that aborts the load. */
typedef wr_err (*wr__apply_fn)(void *arg, struct wr__record *rec,
                               struct wr_error *err);
/* Called by load() to report something worth a diagnostic (a dropped torn
 * tail, ...). */
typedef void (*wr__diag_fn)(void *arg, const char *message);

/*
 * A store persists records.  Threading: append/reset/snapshot_due/snapshot
 * are called with the Runtime's write lock held (so never concurrently
 * with each other; reset and snapshot sync the disk under it, as
 * worker-runtime.h says); sync may be called by many threads at once, without
 * the Runtime lock; load once before anything else.
 */
struct wr__store_ops {
	const char *backend; /* RuntimeSummary.backend */
	/* Replays what is persisted.  A store that holds nothing yet calls
	 * apply() zero times. */
	wr_err (*load)(struct wr__store *st, wr__apply_fn apply,
	               wr__diag_fn diag, void *arg, struct wr_error *err);
	/* Writes one record without waiting for the disk; *lsn gets its
	 * number (1, 2, ...).  On failure nothing of the record remains and
	 * the result is WR_EUNAVAILABLE. */
	wr_err (*append)(struct wr__store *st, const struct wr__record *rec,
	                 uint64_t *lsn, struct wr_error *err);
	/* Returns when every record up to lsn is durable; concurrent callers
	 * share one fdatasync.  NULL: appends are durable at once (memory).
	 * On failure the store is broken: append fails until reset(). */
	wr_err (*sync)(struct wr__store *st, uint64_t lsn, struct wr_error *err);
	/* Drops every record that is not durable and makes the store usable
	 * again; WR_EUNAVAILABLE if it cannot (it stays broken). */
	wr_err (*reset)(struct wr__store *st, struct wr_error *err);
	/* True when a snapshot would shorten restore enough to be worth it. */
	bool (*snapshot_due)(struct wr__store *st);
	/* Replaces everything persisted by recs[0..n) (which borrow) and starts
	 * a new journal.  Only when every appended record is durable. */
	wr_err (*snapshot)(struct wr__store *st, const struct wr__record *recs,
	                   size_t n, struct wr_error *err);
	void (*close)(struct wr__store *st);
};

struct wr__store {
	const struct wr__store_ops *ops;
};

/* The memory store: keeps nothing; append always succeeds, sync is NULL. */
wr_err wr__store_memory_open(struct wr__store **out, struct wr_error *err);

/* The fs store on directory dir (created 0700 if missing), locked
 * exclusively until close.  Errors: WR_EUNAVAILABLE (cannot create, lock
 * held by another process: reason "store_locked"), WR_EINVALID_INPUT
 * (reason "store_version" for a newer format). */
wr_err wr__store_fs_open(const char *dir, struct wr__store **out,
                         struct wr_error *err);

/* Test seam of the fs store: replaces write(2)/fdatasync(2)/fsync(2) so
 * tests can force EIO/ENOSPC.  NULL members keep the real call. */
struct wr__fs_io {
	ssize_t (*write)(int fd, const void *buf, size_t n);
	int (*fdatasync)(int fd);
	int (*fsync)(int fd);
};
void wr__store_fs_set_io(struct wr__store *st, const struct wr__fs_io *io);

/* Gives tests the store of a Runtime (borrowed). */
struct wr__store *wr__runtime_store(struct wr_runtime *rt);

/* Tunes when snapshot_due() turns true (journal bytes); 0 = default. */
void wr__store_fs_set_snapshot_bytes(struct wr__store *st, uint64_t bytes);

#endif /* WR_INTERNAL_H */
