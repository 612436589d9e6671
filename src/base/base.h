/*
 * base/base.h - the base layer's private declarations: errors, small
 * utilities, deep copies of the public structs.
 *
 * Not installed.  Cross-file functions use the wr__ prefix and are never
 * exported from the shared library (see -export-symbols-regex).
 */
#ifndef WR_BASE_H
#define WR_BASE_H

#include <stdarg.h>
#include <sys/types.h>

#include "worker-runtime.h"

#define WR__UNUSED __attribute__((unused))

/* ---- errors (errors.c) ---------------------------------------------- */

/* Fills err (if not NULL) and returns code.  field may be NULL; fmt may be
 * NULL (then the reason's default message, or the code's without one). */
wr_err wr__fail(struct wr_error *err, wr_err code, enum wr_reason reason,
                const char *field, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

/* The one answer to a failed allocation: WR_EINTERNAL, reason
 * WR_REASON_OUT_OF_MEMORY, the reason's message; returns WR_EINTERNAL.
 * Callers leave the Runtime as it was before returning it. */
wr_err wr__oom(struct wr_error *err);

/* Sets err->worker_id (if err is not NULL); returns code unchanged. */
wr_err wr__fail_worker(struct wr_error *err, wr_err code, const char *worker_id);

/* ---- small utilities (util.c) ------------------------------------- */

/* Wall clock, ms since the epoch. */
int64_t wr__now_ms(void);

/* Monotonic clock (CLOCK_MONOTONIC), in microseconds. */
uint64_t wr__mono_us(void);

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

/* ---- deep copies of the public structs (types.c) ------------------ */

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

/* ---- field rules shared by live writes and restore (rules.c) ---------- */

/* The longest input entry a store may hold: 64 MiB, the ceiling of
 * max_input_bytes before it became WR_MAX_INPUT_BYTES (16 MiB).  Through
 * the HTTP server no entry ever passed 16 MiB (the JSON reader stopped
 * there), but a program calling wr_worker_input() with an older build could
 * store up to 64 MiB, and such a store still opens. */
#define WR__INPUT_BYTES_CEILING (64u * 1024u * 1024u)

/* The last instant the API prints, 9999-12-31T23:59:59.999Z, in ms since
 * the epoch (wr_time_format clamps beyond it).  Every time the Runtime
 * stores comes from its clock, so a stored time lies in 0 .. this. */
#define WR__TIME_MAX_MS INT64_C(253402300799999)

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
 * strdup (and json-c, which uses the same), never with a private allocator
 * or mmap, and every failure becomes WR_EINTERNAL with reason
 * "out_of_memory" that leaves the Runtime as it was.  The seam that tests
 * this costs the library nothing: tests/oom.c interposes malloc & co. in the
 * test program (glibc's documented replacement by ELF interposition) and
 * fails the n-th allocation of the arming thread - ours, libc's and json-c's
 * alike, which wrappers in this library could not reach.  tests/test_oom.c
 * loops it over every operation.  Known json-c 0.16 limits: its serialiser
 * drops text when its buffer cannot grow (hence codec/json_text.c), its
 * parser drops members or returns NULL with "success", and it crashes when
 * the strdup of an object key fails (the seam spares json-c's strdup calls).
 */

#endif /* WR_BASE_H */
