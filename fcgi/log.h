/*
 * log.h - the one logger of the worker-runtime process.
 *
 * Every line the process writes about itself goes through here: an RFC 3339
 * timestamp (UTC, milliseconds), a level, a message and structured fields,
 * as text ("TS LEVEL worker-runtime: MSG key=value ...") or as one JSON
 * object per line ({"ts","level","msg",fields...}).  A line is formatted
 * into a bounded buffer on the caller's stack and written with one
 * write(2) on fd 2, so lines from several threads never interleave and no
 * lock is held across the write.  --log-file makes fd 2 that file
 * (O_APPEND); log_reopen() swaps it for a fresh open of the same path with
 * dup2(2), which is atomic for concurrent writers.  --access-log sends the
 * access lines (one per request) to their own file instead, reopened the
 * same way: at a request rate journald would rate-limit (by default it
 * drops a service's lines beyond 10,000 in 30 s, errors among them), the
 * other lines stay few.  Logging never fails a caller: a line that cannot
 * be written is dropped.
 */
#ifndef WR_FCGI_LOG_H
#define WR_FCGI_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

enum log_level { LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG };
enum log_format { LOG_TEXT, LOG_JSON };

#define LOG_LINE_MAX 4096 /* bytes of one line, newline included */

/* One structured field: a key (an identifier, not escaped) and a value. */
enum log_type { LOG_T_STR, LOG_T_INT, LOG_T_UINT, LOG_T_US_AS_MS };
struct log_field {
	const char *key;
	enum log_type type;
	const char *s;        /* LOG_T_STR; NULL is written as "" */
	long long i;          /* LOG_T_INT */
	unsigned long long u; /* LOG_T_UINT; LOG_T_US_AS_MS: microseconds,
	                       * written as milliseconds with 3 decimals */
};

#define LOG_STR(k, v) { .key = (k), .type = LOG_T_STR, .s = (v) }
#define LOG_INT(k, v) { .key = (k), .type = LOG_T_INT, .i = (v) }
#define LOG_UINT(k, v) { .key = (k), .type = LOG_T_UINT, .u = (v) }
#define LOG_US_AS_MS(k, v) { .key = (k), .type = LOG_T_US_AS_MS, .u = (v) }

/* Sets the format (default LOG_TEXT) and whether log_access() writes
 * (default true).  Main thread, before other threads log. */
void log_configure(enum log_format format, bool access);

/*
 * Makes fd 2 the file at path (opened O_APPEND|O_CREAT, mode 0640), so
 * that this logger and anything else writing to stderr reach it; path is
 * remembered for log_reopen().  Returns 0, or -1 with errno set (fd 2 is
 * then unchanged).  Main thread, before other threads exist.
 */
int log_open_file(const char *path);

/* Why opening the log file at path failed with errno e, for an error
 * line: strerror(e), or for ENXIO on a FIFO that no process reads, that.
 * Thread-safe. */
const char *log_open_why(const char *path, int e);

/*
 * Makes the file at path (opened O_APPEND|O_CREAT, mode 0640, on an fd
 * above 2) where log_access() writes; path is remembered for
 * log_reopen().  Returns 0, or -1 with errno set (access lines then still
 * go to fd 2).  Main thread, before other threads exist.
 */
int log_open_access_file(const char *path);

/*
 * Reopens the log files (after logrotate renamed them): opens each path
 * again and dup2()s it onto its fd (fd 2, the access log's).  Without
 * log_open_file() and log_open_access_file() it does nothing.  Returns 0,
 * or -1 after logging why (the old file stays in use).  Thread-safe.
 */
int log_reopen(void);

/* Writes one line: msg (control bytes replaced) and the fields.  Thread-safe,
 * async-signal-unsafe (it reads the clock and formats). */
void log_event(enum log_level level, const char *msg,
               const struct log_field *fields, size_t n);

/* log_event() without fields, the message printf-formatted. */
void log_msg(enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* The access line of one request, to the --access-log file if one is
 * open, else to fd 2: level info, or warn when its answer was cut short
 * (cut: the peer closed or stopped reading); bytes_sent is the bytes of
 * the HTTP answer written.  Nothing if access logging is off.  Strings
 * may be NULL.  Thread-safe. */
void log_access(const char *method, const char *route, int status,
                const char *reason, unsigned long long duration_us,
                unsigned long long bytes_sent, bool cut,
                const char *request_id);

/*
 * Formats one line into buf (size >= 128) exactly as log_event() writes it,
 * with the time ts (CLOCK_REALTIME).  Always ends the line with '\n' and
 * stays valid (JSON stays parseable) when it must truncate.  Returns the
 * length.  Pure; thread-safe.
 */
size_t log_format_line(char *buf, size_t size, enum log_format format,
                       const struct timespec *ts, enum log_level level,
                       const char *msg, const struct log_field *fields,
                       size_t n);

/* The level's name: "error", "warn", "info", "debug". */
const char *log_level_name(enum log_level level);

#endif /* WR_FCGI_LOG_H */
