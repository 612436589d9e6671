/*
 * fuzz-exec-lines.c - the exec driver's line reader (src/driver/lines.c) on
 * what a worker may write, read from a real pipe.
 *
 * Input: one byte choosing the bound (1..64 bytes, so over-long lines are
 * common), the rest is the stream.  The oracle splits the stream at '\n'
 * itself (docs/worker-protocol.md): every line shorter than the bound is
 * handed over with exactly its bytes, every other one is reported once as
 * over-long with its length and a preview of its first bytes, in order; a
 * final unterminated line counts too.  The preview is printable and
 * NUL-terminated.
 */
#include "config.h"

#include <fcntl.h>
#include <unistd.h>

#include "driver/lines.h"
#include "fuzz.h"

struct expect {
	const uint8_t *data; /* the stream */
	size_t size, pos;    /* pos: where the next line starts */
	size_t max;
};

/* The next line of the stream: its start and length. */
static const uint8_t *
next_line(struct expect *x, size_t *len)
{
	const uint8_t *p = x->data + x->pos;
	const uint8_t *nl = memchr(p, '\n', x->size - x->pos);

	FUZZ_CHECK(x->pos < x->size);
	*len = nl != NULL ? (size_t)(nl - p) : x->size - x->pos;
	x->pos += *len + (nl != NULL);
	return p;
}

static void
check_printable(const char *s, size_t size)
{
	FUZZ_CHECK(memchr(s, '\0', size) != NULL);
	for (; *s != '\0'; s++)
		FUZZ_CHECK((unsigned char)*s >= 0x20 && *s != 0x7f);
}

static void
on_line(void *arg, const char *line, size_t len)
{
	struct expect *x = arg;
	size_t want_len;
	const uint8_t *want = next_line(x, &want_len);
	char pv[WR__EXEC_PREVIEW_MAX + 1];

	FUZZ_CHECK(want_len < x->max);
	FUZZ_CHECK(len == want_len && memcmp(line, want, len) == 0);
	wr__exec_preview(pv, sizeof(pv), line, len);
	check_printable(pv, sizeof(pv));
}

static void
on_overlong(void *arg, size_t dropped, size_t max, const char *head)
{
	struct expect *x = arg;
	size_t want_len;
	const uint8_t *want = next_line(x, &want_len);
	char pv[WR__EXEC_PREVIEW_MAX + 1];

	FUZZ_CHECK(max == x->max);
	FUZZ_CHECK(want_len >= x->max);
	FUZZ_CHECK(dropped == want_len);
	check_printable(head, WR__EXEC_PREVIEW_MAX + 1);
	wr__exec_preview(pv, sizeof(pv), (const char *)want, x->max);
	FUZZ_CHECK(strcmp(pv, head) == 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct wr__linebuf lb;
	struct expect x;
	int p[2], rounds = 0;
	size_t off = 0;

	if (size < 1 || size > 60000) /* one pipe buffer holds it all */
		return 0;
	x = (struct expect){ .data = data + 1, .size = size - 1,
	                     .max = 1 + data[0] % 64 };
	FUZZ_CHECK(pipe(p) == 0);
	FUZZ_CHECK(fcntl(p[0], F_SETFL, O_NONBLOCK) == 0);
	wr__linebuf_init(&lb, x.max, on_line, on_overlong, &x);
	/* Written in chunks with reads between, as a worker's output comes. */
	while (off < x.size) {
		size_t chunk = x.size - off < 4096 ? x.size - off : 4096;

		FUZZ_CHECK(write(p[1], x.data + off, chunk) == (ssize_t)chunk);
		off += chunk;
		FUZZ_CHECK(wr__linebuf_read(&lb, p[0]));
	}
	FUZZ_CHECK(close(p[1]) == 0);
	while (wr__linebuf_read(&lb, p[0]))
		FUZZ_CHECK(++rounds < 100000);
	FUZZ_CHECK(x.pos == x.size); /* every line was accounted for */
	wr__linebuf_free(&lb);
	FUZZ_CHECK(close(p[0]) == 0);
	return 0;
}
