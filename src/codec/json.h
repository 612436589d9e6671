/*
 * codec/json.h - the one strict JSON reader of the library, and the one
 * way it adds members to json-c objects.  Used by the codec (json.c,
 * json_scan.c, decode.c, encode.c), the store's records (store/record.c),
 * the profiles file (driver/profiles.c) and the exec driver's worker lines
 * (driver/exec.c).
 *
 * Every failure is a value: WR_EINVALID_INPUT naming the rule
 * (wr_error.reason) and the JSON path (wr_error.field: dots and [i]), or
 * WR_EINTERNAL, WR_REASON_OUT_OF_MEMORY.  Unlike codec/codec.h this header
 * includes json-c: values are json_object pointers borrowed from a
 * wr__json_doc, valid until its wr__json_doc_close.  Nothing keeps state
 * between calls; everything is reentrant, and one document must not be read
 * by two threads at once.
 */
#ifndef WR_CODEC_JSON_H
#define WR_CODEC_JSON_H

#include <json-c/json.h>

#include "codec/codec.h"

/* Evaluates a wr_err expression; on failure jumps to the function's one
 * cleanup label (done) with rc set. */
#define TRY(expr)                       \
	do {                            \
		rc = (expr);            \
		if (rc != WR_OK)        \
			goto done;      \
	} while (0)

/* ---- errors and paths ------------------------------------------------- */

/* Fills err with WR_EINVALID_INPUT, reason, field (may be NULL) and the
 * formatted message; returns WR_EINVALID_INPUT. */
wr_err wr__json_bad(struct wr_error *err, enum wr_reason reason,
                    const char *field, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* out = parent.key (or key when parent is ""); a longer one than
 * WR_FIELD_MAX - 1 bytes is cut without splitting a UTF-8 sequence and
 * ends with "..." (docs/api.md, "Errors"). */
void wr__json_path_key(char out[static WR_FIELD_MAX], const char *parent,
                       const char *key);

/* out = parent[i], cut like wr__json_path_key. */
void wr__json_path_index(char out[static WR_FIELD_MAX], const char *parent,
                         size_t i);

/* True for the four JSON whitespace bytes. */
bool wr__json_is_ws(char c);

/* ---- the strict reader ------------------------------------------------ */

/*
 * What one JSON value holds: its values by json-c type (a JSON null is
 * json_type_null), and the decoded bytes of its strings and member names.
 * The scan counts the text, wr__json_parse the tree json-c built from it:
 * json-c 0.16 drops a member or item, leaves a NULL (null) in place of a
 * value, or returns NULL with json_tokener_success, when it runs out of
 * memory, and says nothing.
 */
struct wr__json_tally {
	size_t values[json_type_string + 1];
	size_t bytes;
};

/*
 * Checks that json[0..len) (NULL: no text) is exactly one RFC 8259 value
 * plus whitespace, nested at most max_depth (1..64) objects/arrays deep,
 * that json-c will read without changing it.  Refused, each as
 * WR_EINVALID_INPUT with reason and (where there is one) the JSON path:
 *   invalid_json        anything not JSON: bad grammar, NUL or control
 *                       bytes, NaN/Infinity, "1.", "-01", trailing text;
 *   too_deep            nesting beyond max_depth;
 *   nul_in_member_name  a member name with \u0000 (json-c cuts it there;
 *                       field: the object's path);
 *   invalid_utf8        a member name that is not UTF-8 (object's path);
 *   duplicate_member    a name twice in one object (json-c keeps the last;
 *                       field: the repeated member's path);
 *   invalid_unicode     an escaped lone surrogate (json-c makes it U+FFFD;
 *                       field: the string's path, or the object's for a
 *                       member name);
 *   invalid_number      -0 (json-c drops the sign) or an integer beyond the
 *                       64-bit range (json-c saturates it).
 * String values are not checked for UTF-8 or NUL here (json-c keeps them as
 * they are; the getters refuse them).  Needs len bytes of scratch memory
 * (else WR_EINTERNAL, WR_REASON_OUT_OF_MEMORY).  tally, if not NULL, gets
 * the text's counts on success.  Reentrant.
 */
wr_err wr__json_scan(const char *json, size_t len, int max_depth,
                     struct wr__json_tally *tally, struct wr_error *err);

/*
 * wr__json_scan, then json-c: *out is the tree (caller frees it with
 * json_object_put), or NULL for a text that is JSON null.  len must be at
 * most INT32_MAX (else payload_too_large).  A tree that does not hold
 * what the scan counted (json-c ran out of memory) is WR_EINTERNAL,
 * out_of_memory, never a tree with less in it.  *out is NULL on failure.
 */
wr_err wr__json_parse(const char *json, size_t len, int max_depth,
                      json_object **out, struct wr_error *err);

/*
 * v's string, borrowed from v's tree, if v is a JSON string without NUL
 * (json-c keeps an escaped \u0000 inside a value, so strlen would cut
 * it); its length in *n if n is not NULL.  NULL otherwise.  UTF-8 is not
 * checked.  The readers outside the codec take strings through this.
 */
const char *wr__json_plain_string(json_object *v, size_t *n);

/* ---- building ----------------------------------------------------------- */

/*
 * Adds v under key to object o (json_object_object_add).  Takes v in every
 * case: on failure it is freed.  v NULL (a failed json-c constructor) or o
 * NULL fail, so a constructor's result never needs its own check and a
 * failed one never becomes a JSON null.  Returns false on failure (out of
 * memory); o is then unusable for output.
 */
bool wr__json_add(json_object *o, const char *key, json_object *v);

/* As wr__json_add, appending v to array a. */
bool wr__json_push(json_object *a, json_object *v);

/* ---- the json-c reference of the text encoders -------------------------- */

/* The public wr_json_encode_* of the same name built as a json-c tree and
 * serialised by wr__json_text.  The public ones write text directly; these
 * are what the codec tests compare them with, byte for byte. */
char *wr__json_tree_encode_runtime_summary(const struct wr_runtime_summary *s,
                                           const char *envelope, size_t *len);
char *wr__json_tree_encode_worker_summary(const struct wr_worker_info *w,
                                          const char *envelope, size_t *len);
char *wr__json_tree_encode_worker_detail(const struct wr_worker_info *w,
                                         const char *envelope, size_t *len);
char *wr__json_tree_encode_worker_list(const struct wr_worker_list *l,
                                       const char *envelope, size_t *len);
char *wr__json_tree_encode_worker_page(const struct wr_worker_list *l,
                                       size_t *len);
char *wr__json_tree_encode_input_ack(const struct wr_input_ack *a,
                                     const char *envelope, size_t *len);
char *wr__json_tree_encode_lifecycle_ack(const struct wr_lifecycle_ack *a,
                                         const char *envelope, size_t *len);

/* ---- the worker shape as objects ---------------------------------------- */

/*
 * w as a new WorkerDetail object (the members, in the order and with the
 * values wr_json_encode_worker_detail prints: that encoder is this plus
 * wr__json_text).  *out is the caller's (json_object_put); written only on
 * success.  Fails with WR_EINTERNAL, out_of_memory, or WR_EINVALID_INPUT,
 * invalid_value (field: the member) for an enum without a wire name.  w is
 * only read.  Reentrant.
 */
wr_err wr__json_worker_to_object(const struct wr_worker_info *w,
                                 json_object **out, struct wr_error *err);

/*
 * Reads WorkerDetail object o, whose JSON path is path ("" at the top),
 * into *out, strictly as wr_json_decode_worker (detail) does: that decoder
 * is wr__json_doc_open plus this.  On success *out owns its strings
 * (wr__worker_info_clear); on failure *out is untouched and the error is
 * one of codec_json.h's (invalid_input with reason and field, or
 * out_of_memory).  o is borrowed and only read.
 */
wr_err wr__json_worker_from_object(json_object *o, const char *path,
                                   struct wr_worker_info *out,
                                   struct wr_error *err);

/* ---- documents -------------------------------------------------------- */

/* A parsed text and the shape inside it. */
struct wr__json_doc {
	json_object *root;       /* owned; wr__json_doc_close frees it */
	json_object *shape;      /* borrowed from root */
	char path[WR_FIELD_MAX]; /* path of shape: "" or the envelope */
};

/*
 * Parses json[0..len) (NULL: no text) with wr__json_parse (depth
 * WR_JSON_MAX_DEPTH, at most WR_JSON_MAX_BYTES, else payload_too_large)
 * and finds the shape of the given type (json_type_object or
 * json_type_array), top level or, when envelope is not NULL, inside
 * {"<envelope>": shape}.  A top level of the wrong type is invalid_json;
 * inside an envelope it is wrong_type at the envelope.  d is overwritten
 * and, success or not, must be given to wr__json_doc_close.
 */
wr_err wr__json_doc_open(struct wr__json_doc *d, const char *json,
                         size_t len, const char *envelope,
                         enum json_type type, struct wr_error *err);

/* Frees what d holds; every value borrowed from it dies.  Safe to call
 * twice. */
void wr__json_doc_close(struct wr__json_doc *d);

/* ---- members ---------------------------------------------------------- */

/*
 * Fails with unknown_field at the first member of o (in text order) not in
 * allowed (NULL-terminated); why is appended to the message.  A member name
 * that is not UTF-8 is reported as invalid_utf8 at o itself (path).
 */
wr_err wr__json_check_members(json_object *o, const char *path,
                              const char *const *allowed, const char *why,
                              struct wr_error *err);

/*
 * The getters below read member key of object o, whose path is path.  A
 * member that is absent and required is missing_field, one of another
 * type wrong_type.  Values they hand out are borrowed from o's document;
 * f, where given, receives the member's path (for reading inside it).  On
 * failure out-parameters may have been written, but never with anything
 * the caller must free.
 */

/* An object member; *v = NULL if absent and optional. */
wr_err wr__json_get_object(json_object *o, const char *path, const char *key,
                           bool required, json_object **v,
                           char f[static WR_FIELD_MAX], struct wr_error *err);

/* An array member with at most max_items items (0: unbounded), else
 * too_many_items; *v = NULL if absent and optional. */
wr_err wr__json_get_array(json_object *o, const char *path, const char *key,
                          bool required, size_t max_items, json_object **v,
                          char f[static WR_FIELD_MAX], struct wr_error *err);

/* Item i (< length) of array a, whose path is path; it must be an object.
 * f receives its path "path[i]". */
wr_err wr__json_get_item(json_object *a, const char *path, size_t i,
                         json_object **v, char f[static WR_FIELD_MAX],
                         struct wr_error *err);

/* Flags of the string getters. */
enum {
	WR__JSON_REQUIRED = 1,  /* absent: missing_field */
	WR__JSON_NONEMPTY = 2,  /* "": invalid_value */
	WR__JSON_NULLABLE = 4,  /* JSON null accepted: *s = NULL */
	WR__JSON_UNBOUNDED = 8, /* no WR_JSON_MAX_STRING limit */
};

/*
 * A string member, borrowed, its length in *n.  *s = NULL, *n = 0 if
 * absent (and optional) or null (and WR__JSON_NULLABLE); both are also
 * reset on failure.  Checks, in order: type, UTF-8 without NUL (else
 * invalid_utf8), length (max bytes, or WR_JSON_MAX_STRING when max is 0
 * unless WR__JSON_UNBOUNDED; else too_long), emptiness.
 */
wr_err wr__json_get_string(json_object *o, const char *path, const char *key,
                           unsigned flags, size_t max, const char **s,
                           size_t *n, struct wr_error *err);

/* As wr__json_get_string (max 0), into a heap copy the caller frees; *out
 * = NULL if absent or null. */
wr_err wr__json_get_string_dup(json_object *o, const char *path,
                               const char *key, unsigned flags, char **out,
                               struct wr_error *err);

/* As wr__json_get_string, always required, copied into buf of size bytes
 * (NUL included; longer strings are too_long).  flags must not hold
 * WR__JSON_NULLABLE. */
wr_err wr__json_get_string_buf(json_object *o, const char *path,
                               const char *key, unsigned flags, char *buf,
                               size_t size, struct wr_error *err);

/* A required worker or runtime id (wr_id_valid, else invalid_value). */
wr_err wr__json_get_id(json_object *o, const char *path, const char *key,
                       char buf[static WR_ID_MAX + 1], struct wr_error *err);

/* A required enum member given by a wire name of fn (else invalid_value,
 * listing the names). */
wr_err wr__json_get_enum(json_object *o, const char *path, const char *key,
                         wr__name_fn fn, int *out, struct wr_error *err);

/*
 * A required non-negative integer member, at most max (else
 * invalid_value).  With nullable, JSON null is accepted and *null tells
 * (*out untouched then); without, null may be NULL.  json-c saturates
 * integers beyond 64 bits; such a text reads as UINT64_MAX.
 */
wr_err wr__json_get_u64(json_object *o, const char *path, const char *key,
                        bool nullable, uint64_t max, uint64_t *out,
                        bool *null, struct wr_error *err);

/* wr__json_get_u64 without null, up to UINT64_MAX. */
wr_err wr__json_get_count(json_object *o, const char *path, const char *key,
                          uint64_t *out, struct wr_error *err);

/* wr__json_get_u64 without null, up to UINT32_MAX. */
wr_err wr__json_get_u32(json_object *o, const char *path, const char *key,
                        uint32_t *out, struct wr_error *err);

/* A required boolean member. */
wr_err wr__json_get_bool(json_object *o, const char *path, const char *key,
                         bool *out, struct wr_error *err);

/* A required timestamp member in wr_time_parse form (else invalid_value). */
wr_err wr__json_get_time(json_object *o, const char *path, const char *key,
                         int64_t *out, struct wr_error *err);

#endif /* WR_CODEC_JSON_H */
