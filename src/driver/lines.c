/*
 * driver/lines.c - the exec driver's bounded line reader (lines.h).
 *
 * A worker may write anything to its stdout and stderr; memory per stream
 * stays within the line bound whatever it writes.  An over-long line is
 * reported once (with a preview of its head) and skipped up to its newline;
 * the lines after it are read normally.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "driver/lines.h"

/* A buffer larger than this is given back once it holds no partial line:
 * one long line must not pin up to the line bound (6 x max_input_bytes)
 * for the rest of the worker's life. */
#define LINEBUF_KEEP (64u * 1024u)

void
wr__exec_preview(char *dst, size_t dstsize, const char *s, size_t len)
{
	bool utf8;
	size_t i, n = len;

	if (n > dstsize - 1)
		n = dstsize - 1;
	if (n > WR__EXEC_PREVIEW_MAX)
		n = WR__EXEC_PREVIEW_MAX;
	utf8 = wr__utf8_valid(s, len);
	if (utf8)
		while (n > 0 && n < len && ((unsigned char)s[n] & 0xc0) == 0x80)
			n--;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		dst[i] = (c < 0x20 || c == 0x7f || (c >= 0x80 && !utf8)) ?
		         '?' : (char)c;
	}
	dst[n] = '\0';
}

void
wr__linebuf_init(struct wr__linebuf *lb, size_t max, wr__line_fn on_line,
                 wr__overlong_fn on_overlong, void *arg)
{
	memset(lb, 0, sizeof(*lb));
	lb->max = max;
	lb->on_line = on_line;
	lb->on_overlong = on_overlong;
	lb->arg = arg;
}

void
wr__linebuf_free(struct wr__linebuf *lb)
{
	free(lb->buf);
	lb->buf = NULL;
	lb->len = lb->cap = 0;
}

/* The buffer filled up without a newline: keep a preview of the line's
 * head and drop the rest of it as it arrives. */
static void
overlong_begin(struct wr__linebuf *lb)
{
	wr__exec_preview(lb->head, sizeof(lb->head), lb->buf, lb->len);
	lb->discarding = true;
	lb->dropped = lb->len;
	lb->len = 0;
}

/* The over-long line ended (or the stream did): report it once. */
static void
overlong_done(struct wr__linebuf *lb)
{
	lb->on_overlong(lb->arg, lb->dropped, lb->max, lb->head);
	lb->discarding = false;
	lb->dropped = 0;
}

/* Handles every complete line in lb and keeps the unfinished tail. */
static void
scan_lines(struct wr__linebuf *lb)
{
	size_t start = 0;
	char *nl;

	if (lb->discarding) {
		nl = memchr(lb->buf, '\n', lb->len);
		if (nl == NULL) {
			lb->dropped += lb->len;
			lb->len = 0;
			return;
		}
		lb->dropped += (size_t)(nl - lb->buf);
		overlong_done(lb);
		start = (size_t)(nl - lb->buf) + 1;
	}
	while ((nl = memchr(lb->buf + start, '\n', lb->len - start)) != NULL) {
		lb->on_line(lb->arg, lb->buf + start,
		            (size_t)(nl - (lb->buf + start)));
		start = (size_t)(nl - lb->buf) + 1;
	}
	if (start > 0) {
		memmove(lb->buf, lb->buf + start, lb->len - start);
		lb->len -= start;
	}
}

/* Gives back a large buffer that holds nothing (not while discarding: an
 * over-long line is read through the whole buffer). */
static void
shrink_if_idle(struct wr__linebuf *lb)
{
	if (lb->len == 0 && !lb->discarding && lb->cap > LINEBUF_KEEP)
		wr__linebuf_free(lb);
}

bool
wr__linebuf_read(struct wr__linebuf *lb, int fd)
{
	size_t ncap;
	ssize_t n;
	char *nb;
	int rounds;

	for (rounds = 0; rounds < 16; rounds++) {
		if (lb->cap - lb->len < 4096 && lb->cap < lb->max) {
			ncap = lb->cap == 0 ? 8192 : lb->cap * 2;
			if (ncap > lb->max)
				ncap = lb->max;
			nb = realloc(lb->buf, ncap);
			if (nb == NULL)
				return true; /* try again later; data waits */
			lb->buf = nb;
			lb->cap = ncap;
		}
		if (lb->len == lb->cap)
			overlong_begin(lb);
		n = read(fd, lb->buf + lb->len, lb->cap - lb->len);
		if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
			shrink_if_idle(lb);
			return true;
		}
		if (n <= 0) {
			if (lb->discarding)
				overlong_done(lb);
			else if (lb->len > 0)
				lb->on_line(lb->arg, lb->buf, lb->len);
			/* the stream is over: hold nothing until the fd's
			 * owner ends (a worker may outlive its stdout) */
			wr__linebuf_free(lb);
			return false;
		}
		lb->len += (size_t)n;
		scan_lines(lb);
	}
	shrink_if_idle(lb);
	return true;
}
