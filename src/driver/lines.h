/*
 * driver/lines.h - private to lines.c and exec.c: a bounded line reader
 * for a worker's stdout and stderr, and printable previews of what
 * a worker wrote.
 *
 * A linebuf belongs to one thread at a time (the worker's I/O thread); the
 * functions keep no other state and are reentrant.
 */
#ifndef WR_EXEC_LINES_H
#define WR_EXEC_LINES_H

#include "base/base.h"

#define WR__EXEC_PREVIEW_MAX 160 /* bytes of a line quoted in a diagnostic */

/* Called with each complete line, without its '\n' (a final unterminated
 * line at EOF too); line is borrowed until the callback returns. */
typedef void (*wr__line_fn)(void *arg, const char *line, size_t len);

/* Called once per line longer than the bound, when it ends (or the stream
 * does): dropped is its length so far, head a printable preview of its
 * first bytes (borrowed until the callback returns). */
typedef void (*wr__overlong_fn)(void *arg, size_t dropped, size_t max,
                                const char *head);

/* A line reader with a hard bound: longer lines are dropped and counted. */
struct wr__linebuf {
	char *buf;
	size_t len, cap, max;
	bool discarding; /* inside a line longer than max */
	size_t dropped;  /* bytes of that line seen so far */
	char head[WR__EXEC_PREVIEW_MAX + 1]; /* its first bytes, printable */
	wr__line_fn on_line;
	wr__overlong_fn on_overlong;
	void *arg; /* passed to both callbacks */
};

/* Sets lb up empty for lines shorter than max bytes (without their '\n');
 * allocates nothing (the buffer grows on demand up to max, and a buffer
 * over 64 KiB is freed whenever it holds no partial line). */
void wr__linebuf_init(struct wr__linebuf *lb, size_t max, wr__line_fn on_line,
                      wr__overlong_fn on_overlong, void *arg);

/* Frees lb's buffer and empties it; lb stays usable. */
void wr__linebuf_free(struct wr__linebuf *lb);

/*
 * Reads what fd has (non-blocking, a bounded number of reads) into lb and
 * hands every complete line to on_line.  A line of lb->max bytes or more
 * (without its newline) goes to on_overlong instead, with a preview of its
 * head, and is dropped up to its newline.  Returns false at EOF or on a read
 * error, after handing over a final unterminated line and freeing the
 * buffer; the caller then closes fd.  Returns true otherwise: fd has
 * nothing more for now, the bound on reads per call was reached, or memory
 * ran short (the data waits in the pipe).
 */
bool wr__linebuf_read(struct wr__linebuf *lb, int fd);

/*
 * Copies up to WR__EXEC_PREVIEW_MAX bytes of s[0..len) (and fewer than
 * dstsize) into dst as printable text, NUL-terminated: control bytes become
 * '?', and so do non-ASCII bytes unless s is valid UTF-8 (then the cut is
 * moved back to a character boundary).
 */
void wr__exec_preview(char *dst, size_t dstsize, const char *s, size_t len);

#endif /* WR_EXEC_LINES_H */
