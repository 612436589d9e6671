/*
 * test_lines.c - the exec driver's bounded line reader (driver/lines.c):
 * what it holds between lines.
 */
#include "config.h"

#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "driver/exec.h"
#include "driver/lines.h"
#include "store/store.h"

static size_t got_len;
static int got_lines;

static void
on_line(void *arg, const char *line, size_t len)
{
	(void)arg;
	(void)line;
	got_len = len;
	got_lines++;
}

static void
on_overlong(void *arg, size_t dropped, size_t max, const char *head)
{
	(void)arg;
	(void)dropped;
	(void)max;
	(void)head;
	cr_assert_fail("no line here is over the bound");
}

/* One long line must not pin its buffer: once no partial line is held,
 * a buffer over 64 KiB is given back (a worker that once answered with
 * 6 MiB kept 6 MiB - 96 MiB at max_input_bytes 16 MiB - until it ended). */
Test(lines, a_long_line_does_not_pin_its_buffer, .timeout = 20)
{
	struct wr__linebuf lb;
	size_t big = 1024 * 1024, off = 0;
	char *line = malloc(big + 1);
	int fd[2];
	ssize_t n;

	cr_assert_not_null(line);
	memset(line, 'x', big);
	line[big] = '\n';
	cr_assert_eq(pipe2(fd, O_NONBLOCK), 0);
	wr__linebuf_init(&lb, 8 * 1024 * 1024, on_line, on_overlong, NULL);
	while (off < big + 1) {
		n = write(fd[1], line + off, big + 1 - off);
		if (n > 0)
			off += (size_t)n;
		cr_assert(wr__linebuf_read(&lb, fd[0]));
	}
	while (wr__linebuf_read(&lb, fd[0]) && got_lines == 0)
		;
	cr_assert_eq(got_lines, 1);
	cr_assert_eq(got_len, big);
	cr_assert_eq(lb.len, 0);
	cr_assert_leq(lb.cap, 64 * 1024, "an idle reader holds %zu bytes",
	              lb.cap);
	/* and it still reads the next line */
	cr_assert_eq(write(fd[1], "ab\n", 3), 3);
	cr_assert(wr__linebuf_read(&lb, fd[0]));
	cr_assert_eq(got_lines, 2);
	cr_assert_eq(got_len, 2);
	wr__linebuf_free(&lb);
	close(fd[0]);
	close(fd[1]);
	free(line);
}

/* At EOF the reader gives its buffer back too: a worker that closed its
 * stdout (or a stream that ended on a long unterminated line) must not pin
 * up to the line bound while the worker runs on. */
Test(lines, the_buffer_is_given_back_at_eof, .timeout = 20)
{
	struct wr__linebuf lb;
	size_t big = 200 * 1024, off = 0;
	char *line = malloc(big);
	int fd[2];
	ssize_t n;

	cr_assert_not_null(line);
	memset(line, 'y', big);
	got_lines = 0;
	cr_assert_eq(pipe2(fd, O_NONBLOCK), 0);
	wr__linebuf_init(&lb, 8 * 1024 * 1024, on_line, on_overlong, NULL);
	while (off < big) {
		n = write(fd[1], line + off, big - off);
		if (n > 0)
			off += (size_t)n;
		cr_assert(wr__linebuf_read(&lb, fd[0]));
	}
	close(fd[1]);
	while (wr__linebuf_read(&lb, fd[0]))
		;
	cr_assert_eq(got_lines, 1);
	cr_assert_eq(got_len, big); /* the unterminated tail, whole */
	cr_assert_eq(lb.len, 0);
	cr_assert_eq(lb.cap, 0, "a reader at EOF holds %zu bytes", lb.cap);
	cr_assert_null(lb.buf);
	close(fd[0]);
	free(line);
}

/* A worker's stdout line bound (docs/worker-protocol.md, Limits): room
 * for the echo of any input however escaped (6 bytes a byte), at least
 * 1 MiB, at most the fs store's record bound. */
Test(lines, the_stdout_line_bound_follows_max_input_bytes)
{
	cr_assert_eq(wr__exec_line_max(1), 1024 * 1024);
	cr_assert_eq(wr__exec_line_max(200000), 6 * 200000 + 4096);
	cr_assert_eq(wr__exec_line_max(WR_DEFAULT_MAX_INPUT_BYTES),
	             6 * 1024 * 1024 + 4096);
	cr_assert_eq(wr__exec_line_max(11 * 1024 * 1024), WR__STORE_RECORD_MAX);
	cr_assert_eq(wr__exec_line_max(WR_MAX_INPUT_BYTES),
	             WR__STORE_RECORD_MAX);
}
