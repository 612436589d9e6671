/*
 * log.c - the one logger of the worker-runtime process (see log.h).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fmt.h"
#include "log.h"
#include "worker-runtime.h"

#define LOG_PREFIX "worker-runtime: "
#define LOG_RESERVE 8 /* bytes kept for the closing '"', '}' and '\n' */

static _Atomic int log_fmt = LOG_TEXT;
static atomic_bool log_access_on = true;
static char *log_path;   /* --log-file; NULL: fd 2 as inherited */
static char *access_path; /* --access-log; NULL: access lines go to fd 2 */
static int access_fd = -1; /* its fd, set before other threads exist and
                            * never changed (a reopen dup3()s onto it) */
static pthread_mutex_t reopen_mu = PTHREAD_MUTEX_INITIALIZER;

/* ---- a bounded line ------------------------------------------------------ */

struct line {
	char *p;
	size_t size; /* bytes usable for content: the buffer less LOG_RESERVE */
	size_t len;
	bool full;   /* something did not fit: later appends are dropped */
};

/* Appends n bytes, all or nothing. */
static bool put(struct line *l, const char *s, size_t n)
{
	if (l->full || n > l->size - l->len) {
		l->full = true;
		return false;
	}
	memcpy(l->p + l->len, s, n);
	l->len += n;
	return true;
}

static bool puts_(struct line *l, const char *s)
{
	return put(l, s, strlen(s));
}

/* The length of the valid UTF-8 sequence at p (at most avail bytes), or 0:
 * no overlong forms, no surrogates, nothing above U+10FFFF. */
static size_t utf8_len(const unsigned char *p, size_t avail)
{
	uint32_t c;
	size_t n, i;

	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		n = 2, c = p[0] & 0x1fu;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		n = 3, c = p[0] & 0x0fu;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		n = 4, c = p[0] & 0x07u;
	else
		return 0;
	if (n > avail)
		return 0;
	for (i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		c = (c << 6) | (p[i] & 0x3fu);
	}
	if ((n == 3 && (c < 0x800 || (c >= 0xd800 && c <= 0xdfff))) ||
	    (n == 4 && (c < 0x10000 || c > 0x10ffff)))
		return 0;
	return n;
}

/* A JSON string: quotes, escapes, invalid UTF-8 as U+FFFD.  Truncated at
 * a character boundary when the line is full; the quotes always close. */
static bool put_json_str(struct line *l, const char *s)
{
	const unsigned char *p = (const unsigned char *)(s != NULL ? s : "");
	size_t left = strlen((const char *)p);
	char esc[8];

	if (!put(l, "\"", 1))
		return false;
	while (left > 0) {
		size_t n = utf8_len(p, left);
		bool ok;

		if (n == 0) {
			ok = put(l, "\\ufffd", 6);
			n = 1;
		} else if (*p == '"' || *p == '\\') {
			esc[0] = '\\';
			esc[1] = (char)*p;
			ok = put(l, esc, 2);
		} else if (*p == '\n') {
			ok = put(l, "\\n", 2);
		} else if (*p == '\t') {
			ok = put(l, "\\t", 2);
		} else if (*p == '\r') {
			ok = put(l, "\\r", 2);
		} else if (*p < 0x20 || *p == 0x7f) {
			snprintf(esc, sizeof esc, "\\u%04x", *p);
			ok = put(l, esc, 6);
		} else {
			ok = put(l, (const char *)p, n);
		}
		if (!ok)
			break;
		p += n;
		left -= n;
	}
	/* The reserve holds the closing quote even when the line is full. */
	l->p[l->len++] = '"';
	return true;
}

/* True if a text value must be quoted: empty, or a blank, quote, '=',
 * backslash, control byte or non-ASCII byte in it. */
static bool text_needs_quotes(const char *s)
{
	if (*s == '\0')
		return true;
	for (; *s != '\0'; s++)
		if ((unsigned char)*s <= 0x20 || *s == '"' || *s == '=' ||
		    *s == '\\' || (unsigned char)*s >= 0x7f)
			return true;
	return false;
}

/* A text value: bare when safe, else quoted with \" \\ and \xNN escapes
 * for control and non-ASCII bytes (a log line stays one line of ASCII). */
static void put_text_value(struct line *l, const char *s)
{
	char esc[8];

	if (s == NULL)
		s = "";
	if (!text_needs_quotes(s)) {
		puts_(l, s);
		return;
	}
	if (!put(l, "\"", 1))
		return;
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;
		bool ok;

		if (c == '"' || c == '\\') {
			esc[0] = '\\';
			esc[1] = (char)c;
			ok = put(l, esc, 2);
		} else if (c < 0x20 || c >= 0x7f) {
			snprintf(esc, sizeof esc, "\\x%02x", c);
			ok = put(l, esc, 4);
		} else {
			ok = put(l, s, 1);
		}
		if (!ok)
			break;
	}
	l->p[l->len++] = '"';
}

/* The text message: control bytes become '?', so no input forges lines. */
static void put_text_msg(struct line *l, const char *s)
{
	for (; s != NULL && *s != '\0'; s++) {
		char c = (unsigned char)*s < 0x20 || *s == 0x7f ? '?' : *s;

		if (!put(l, &c, 1))
			return;
	}
}

static void put_number(struct line *l, const struct log_field *f)
{
	char num[1 + FMT_U64_MAX + 4]; /* sign, digits, ".mmm" */
	size_t n = 0;

	switch (f->type) {
	case LOG_T_INT:
		if (f->i < 0)
			num[n++] = '-';
		n += fmt_u64(num + n, f->i < 0 ? -(uint64_t)f->i
		                                : (uint64_t)f->i);
		break;
	case LOG_T_UINT:
		n = fmt_u64(num, f->u);
		break;
	default: /* LOG_T_US_AS_MS */
		n = fmt_u64(num, f->u / 1000);
		num[n++] = '.';
		num[n++] = (char)('0' + f->u % 1000 / 100);
		num[n++] = (char)('0' + f->u % 100 / 10);
		num[n++] = (char)('0' + f->u % 10);
		break;
	}
	put(l, num, n);
}

/* ---- formatting ---------------------------------------------------------- */

const char *log_level_name(enum log_level level)
{
	static const char *const names[] = { "error", "warn", "info", "debug" };

	return (unsigned)level < 4 ? names[level] : "info";
}

static void format_json(struct line *l, const char *ts, enum log_level level,
                        const char *msg, const struct log_field *fields,
                        size_t n)
{
	puts_(l, "{\"ts\":\"");
	puts_(l, ts);
	puts_(l, "\",\"level\":\"");
	puts_(l, log_level_name(level));
	puts_(l, "\",\"msg\":");
	put_json_str(l, msg);
	for (size_t i = 0; i < n && !l->full; i++) {
		size_t mark = l->len;
		bool whole;

		put(l, ",\"", 2);
		puts_(l, fields[i].key);
		put(l, "\":", 2);
		if (fields[i].type == LOG_T_STR) {
			whole = put_json_str(l, fields[i].s);
		} else {
			put_number(l, &fields[i]);
			whole = !l->full;
		}
		if (!whole)
			l->len = mark; /* drop the half field */
	}
	l->p[l->len++] = '}';
}

static void format_text(struct line *l, const char *ts, enum log_level level,
                        const char *msg, const struct log_field *fields,
                        size_t n)
{
	puts_(l, ts);
	put(l, " ", 1);
	puts_(l, log_level_name(level));
	put(l, " " LOG_PREFIX, sizeof LOG_PREFIX);
	put_text_msg(l, msg);
	for (size_t i = 0; i < n && !l->full; i++) {
		put(l, " ", 1);
		puts_(l, fields[i].key);
		put(l, "=", 1);
		if (fields[i].type == LOG_T_STR)
			put_text_value(l, fields[i].s);
		else
			put_number(l, &fields[i]);
	}
}

size_t log_format_line(char *buf, size_t size, enum log_format format,
                       const struct timespec *ts, enum log_level level,
                       const char *msg, const struct log_field *fields,
                       size_t n)
{
	struct line l = { .p = buf, .size = size - LOG_RESERVE };
	char when[32];

	wr_time_format((int64_t)ts->tv_sec * 1000 + ts->tv_nsec / 1000000,
	               when);
	if (format == LOG_JSON)
		format_json(&l, when, level, msg, fields, n);
	else
		format_text(&l, when, level, msg, fields, n);
	buf[l.len++] = '\n';
	buf[l.len] = '\0';
	return l.len;
}

/* ---- output -------------------------------------------------------------- */

static void write_line(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return; /* nowhere to report it: dropped */
		buf += n;
		len -= (size_t)n;
	}
}

/* Formats one line now and writes it to fd; errno is kept. */
static void emit(int fd, enum log_level level, const char *msg,
                 const struct log_field *fields, size_t n)
{
	char buf[LOG_LINE_MAX];
	struct timespec ts;
	size_t len;
	int saved = errno;

	clock_gettime(CLOCK_REALTIME, &ts);
	len = log_format_line(buf, sizeof buf, atomic_load(&log_fmt), &ts,
	                      level, msg, fields, n);
	write_line(fd, buf, len);
	errno = saved;
}

void log_event(enum log_level level, const char *msg,
               const struct log_field *fields, size_t n)
{
	emit(STDERR_FILENO, level, msg, fields, n);
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	char msg[LOG_LINE_MAX / 2];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	log_event(level, msg, NULL, 0);
}

void log_access(const char *method, const char *route, int status,
                const char *reason, unsigned long long duration_us,
                unsigned long long bytes_sent, bool cut,
                const char *request_id)
{
	const struct log_field f[] = {
		LOG_STR("method", method != NULL ? method : ""),
		LOG_STR("route", route != NULL ? route : ""),
		LOG_INT("status", status),
		LOG_STR("reason", reason != NULL ? reason : ""),
		LOG_US_AS_MS("duration_ms", duration_us),
		LOG_UINT("bytes_sent", bytes_sent),
		LOG_STR("request_id", request_id != NULL ? request_id : ""),
	};

	if (!atomic_load_explicit(&log_access_on, memory_order_relaxed))
		return;
	emit(access_fd >= 0 ? access_fd : STDERR_FILENO,
	     cut ? LOG_WARN : LOG_INFO, "access", f, sizeof f / sizeof f[0]);
}

void log_configure(enum log_format format, bool access)
{
	atomic_store(&log_fmt, format);
	atomic_store(&log_access_on, access);
}

/* Opens path for appending (created 0640).  Without blocking: a FIFO with
 * no reader fails at once (ENXIO) instead of holding the start, or the
 * main thread at a reopen (a stop signal then waited for a reader);
 * writes block as on any log fd.  Returns the fd, or -1 with errno set. */
static int open_log(const char *path)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC |
	                    O_NOCTTY | O_NONBLOCK, 0640);
	int fl;

	if (fd >= 0 && ((fl = fcntl(fd, F_GETFL)) < 0 ||
	                fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0)) {
		int e = errno;

		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

/* Opens path and puts it on fd target (dup2: atomic for concurrent
 * writers).  An fd above 2 stays close-on-exec (dup3: dup2 would clear
 * the flag, and a worker program started afterwards would inherit the
 * access log); fd 2 is inherited as stderr is.  Returns 0, or -1 with
 * errno set. */
static int open_onto(const char *path, int target)
{
	int fd = open_log(path);
	int e;

	if (fd < 0)
		return -1;
	if ((target > STDERR_FILENO ? dup3(fd, target, O_CLOEXEC)
	                            : dup2(fd, target)) < 0) {
		e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	close(fd);
	return 0;
}

const char *log_open_why(const char *path, int e)
{
	struct stat st;

	if (e == ENXIO && stat(path, &st) == 0 && S_ISFIFO(st.st_mode))
		return "a FIFO that no process reads (ENXIO)";
	return strerror(e);
}

int log_open_file(const char *path)
{
	char *copy = strdup(path);

	if (copy == NULL || open_onto(path, STDERR_FILENO) < 0) {
		int e = copy == NULL ? ENOMEM : errno;

		free(copy);
		errno = e;
		return -1;
	}
	free(log_path);
	log_path = copy;
	return 0;
}

int log_open_access_file(const char *path)
{
	char *copy = strdup(path);
	int fd = copy == NULL ? -1 : open_log(path);

	/* Above fd 2, so that it is never a standard stream. */
	if (fd >= 0 && fd <= STDERR_FILENO) {
		int high = fcntl(fd, F_DUPFD_CLOEXEC, STDERR_FILENO + 1);

		close(fd);
		fd = high;
	}
	if (fd < 0) {
		int e = copy == NULL ? ENOMEM : errno;

		free(copy);
		errno = e;
		return -1;
	}
	if (access_fd >= 0)
		close(access_fd);
	access_fd = fd;
	free(access_path);
	access_path = copy;
	return 0;
}

int log_reopen(void)
{
	int rc = 0;

	pthread_mutex_lock(&reopen_mu);
	if (log_path != NULL && open_onto(log_path, STDERR_FILENO) < 0) {
		log_msg(LOG_ERROR, "--log-file %s: reopen: %s (still writing "
		        "to the file open before)", log_path,
		        log_open_why(log_path, errno));
		rc = -1;
	}
	if (access_path != NULL && open_onto(access_path, access_fd) < 0) {
		log_msg(LOG_ERROR, "--access-log %s: reopen: %s (still "
		        "writing to the file open before)", access_path,
		        log_open_why(access_path, errno));
		rc = -1;
	}
	pthread_mutex_unlock(&reopen_mu);
	return rc;
}
