/*
 * codec/text.h - the buffer the text encoders (encode.c) append JSON to,
 * for a layer above that assembles a response from pieces it keeps:
 * core's lists reuse each worker's WorkerSummary text until the worker
 * changes (wr_worker_list_json).  json-c stays out of this header.
 */
#ifndef WR_CODEC_TEXT_H
#define WR_CODEC_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/base.h"

/* A growing text: p[0 .. len) written so far, cap bytes allocated.  Once
 * failed (out of memory, or an enum without a wire name) every later
 * append does nothing and the text is thrown away at the end.  Not
 * thread-safe: one writer. */
struct wr__text {
	char *p;
	size_t len, cap;
	bool failed;
};

/* Appends n bytes of s (borrowed) to t. */
void wr__text_put(struct wr__text *t, const char *s, size_t n);

/* Appends v in decimal, as json-c writes a uint64. */
void wr__text_u64(struct wr__text *t, uint64_t v);

/* Appends s (NUL-terminated, borrowed) as a JSON string, escaped as
 * json-c escapes it with JSON_C_TO_STRING_NOSLASHESCAPE: the five short
 * escapes, \" and \\, \u00xx (lower-case hex) for the other control
 * bytes, everything else (also '/' and bytes >= 0x7f) as it is. */
void wr__text_str(struct wr__text *t, const char *s);

/* Appends w's WorkerSummary object, the bytes wr_json_encode_worker_summary
 * writes for it without an envelope.  w is only read. */
void wr__text_worker_summary(struct wr__text *t,
                             const struct wr_worker_info *w);

/* The most bytes wr__text_worker_summary can append for w, whatever its
 * status, run state, counts and times: the escaped length of its intent
 * and profile strings plus WR__SUMMARY_FIXED_MAX for everything else
 * (ids are at most WR_ID_MAX bytes that need no escape; the widest
 * summary's other members take 686 bytes: test_encode_text).  O(length
 * of those strings).  w is only read. */
#define WR__SUMMARY_FIXED_MAX 1024u
size_t wr__worker_summary_size_max(const struct wr_worker_info *w);

/* Appends WorkerPage item i to t (through wr__text_put or
 * wr__text_worker_summary); arg is the caller's. */
typedef void wr__page_item_fn(struct wr__text *t, size_t i, void *arg);

/*
 * A WorkerPage of count items, each written by item(t, i, arg) in order
 * 0 .. count-1, then next_after (a string when has_next, else null): the
 * same text as wr_json_encode_worker_page of the same workers.  Returns
 * the malloc'd NUL-terminated text (the caller frees) and its length in
 * *len (if not NULL), or NULL when t failed.  Not reentrant only in what
 * item does.
 */
char *wr__text_worker_page(size_t count, bool has_next, const char *next_after,
                           wr__page_item_fn *item, void *arg, size_t *len);

#endif /* WR_CODEC_TEXT_H */
