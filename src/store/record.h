/*
 * store/record.h - one record (store/store.h) <-> the compact JSON payload
 * the fs store frames on disk.  Private to record.c and fs_file.c (and the
 * store's tests).
 */
#ifndef WR_STORE_RECORD_H
#define WR_STORE_RECORD_H

#include "store/store.h"

/*
 * Encodes rec as compact JSON.  Returns a NUL-terminated text the caller
 * frees with free() and its length in *len; NULL with errno ENOMEM (out of
 * memory) or EINVAL (the record misses what its kind needs).  rec is only
 * read.  Reentrant.
 */
char *wr__record_encode(const struct wr__record *rec, size_t *len);

/*
 * wr__record_encode through a json-c tree (serialised, then parsed back
 * and compared, since json-c's serialiser can drop bytes when memory runs
 * out).  wr__record_encode takes this path only for a kind with a worker
 * member; for the others it writes the same bytes straight into one
 * buffer (appends run under the Runtime's write lock, and this path cost
 * 17% of the Runtime's CPU there).  Exposed so that tests compare the
 * two.  Same contract as wr__record_encode.
 */
char *wr__record_encode_tree(const struct wr__record *rec, size_t *len);

/*
 * Decodes buf[0..len) into *rec, which it overwrites; on success rec owns
 * its heap members (release with wr__record_clear).  Strict: unknown
 * members, missing members, wrong types and bad enum names are refused.
 * Returns WR_OK; WR_EUNAVAILABLE, reason store_corrupt, with what is wrong
 * in err->message (the caller names the file and offset); or WR_EINTERNAL,
 * out_of_memory, which says nothing about the payload.  On failure *rec
 * holds nothing to free.  err may be NULL.  Reentrant.
 */
wr_err wr__record_decode(const char *buf, size_t len, struct wr__record *rec,
                         struct wr_error *err);

/*
 * wr__record_decode without its fast path for transcript records: always
 * the strict JSON reader and json-c.  The two give the same result on
 * every input (the fast path reads a subset and hands the rest here);
 * exposed so tests can check that.  Same contract as wr__record_decode.
 */
wr_err wr__record_decode_strict(const char *buf, size_t len,
                                struct wr__record *rec, struct wr_error *err);

/*
 * Checks the fields of a decoded record by the rules live writes obey
 * (base/rules.c): input content non-empty UTF-8 within the max_input_bytes
 * ceiling, emitted content and failure text UTF-8, reasons bounded UTF-8,
 * sequences 1-based, run states that fit the status, times in 1970 ..
 * 9999 (WR__TIME_MAX_MS), and only values some live write sets (no
 * running runtime_status, no worker_status running, failure text only
 * when failed, turns started only by input).  What needs the
 * records before it (ids, event order) is checked while applying.
 * Returns 0, or -1 with a short description in why[0..whysz).  rec is
 * only read.  Reentrant.
 */
int wr__record_check(const struct wr__record *rec, char *why, size_t whysz);

#endif /* WR_STORE_RECORD_H */
