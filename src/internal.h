/*
 * internal.h - private declarations shared by the files of src/.
 *
 * Not installed.  Cross-file functions use the wr__ prefix and are never
 * exported from the shared library (see -export-symbols-regex).
 */
#ifndef WR_INTERNAL_H
#define WR_INTERNAL_H

#include <stdarg.h>

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

/* ---- records and stores (runtime.c, store_*.c) ------------------------- */

/*
 * Every mutation of a Runtime is one record; applying the records of a
 * store in order rebuilds the Runtime exactly (that is how a durable store
 * restores).  A record owns what it points to until it is applied.
 */
enum wr__record_kind {
	WR__REC_WORKER_CREATED,  /* worker */
	WR__REC_TRANSCRIPT,      /* worker_id, role, content, turn_started */
	WR__REC_TURN_END,        /* worker_id */
	WR__REC_WORKER_STATUS,   /* worker_id, status, reason */
	WR__REC_RUNTIME_STATUS   /* runtime_status */
};

struct wr__record {
	enum wr__record_kind kind;
	uint64_t event_id; /* 0 for records that carry no event */
	int64_t at_ms;
	char worker_id[WR_ID_MAX + 1];
	struct wr_worker_info *worker; /* CREATED: owned */
	enum wr_role role;             /* TRANSCRIPT */
	uint64_t sequence;             /* TRANSCRIPT: 1-based */
	char *content;                 /* TRANSCRIPT: owned */
	bool turn_started;             /* TRANSCRIPT */
	enum wr_worker_status status;  /* WORKER_STATUS */
	char *reason;                  /* WORKER_STATUS: owned, may be NULL;
	                                * for failed it is also the content of
	                                * the runtime transcript entry */
	enum wr_runtime_status runtime_status; /* RUNTIME_STATUS */
};

/* Frees what a record owns (not the record).  NULL ok. */
void wr__record_clear(struct wr__record *rec);

struct wr__store;

/*
 * A store persists records.  write() is called with records in the order
 * the Runtime applied them and returns only when they are durable; a store
 * that cannot persist returns WR_EUNAVAILABLE and the Runtime refuses the
 * mutation with nothing changed.  The memory store keeps nothing.
 */
struct wr__store_ops {
	const char *backend; /* RuntimeSummary.backend */
	wr_err (*write)(struct wr__store *st, const struct wr__record *rec,
	                struct wr_error *err);
	void (*close)(struct wr__store *st);
};

struct wr__store {
	const struct wr__store_ops *ops;
};

/* The memory store: write() succeeds at once and keeps nothing. */
wr_err wr__store_memory_open(struct wr__store **out, struct wr_error *err);

#endif /* WR_INTERNAL_H */
