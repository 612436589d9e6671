/*
 * request_id.h - the id of one HTTP request (X-Request-Id).
 *
 * nginx passes the client's X-Request-Id when it is valid, else its own
 * $request_id, as the FastCGI param REQUEST_ID (deploy/nginx.conf).  The
 * Runtime checks it the same way and generates one when it is absent or
 * invalid, so every response and every log line of a request names it.
 */
#ifndef WR_FCGI_REQUEST_ID_H
#define WR_FCGI_REQUEST_ID_H

#include <stdbool.h>

#define REQUEST_ID_MAX 64 /* characters */
#define REQUEST_ID_SIZE (REQUEST_ID_MAX + 1)

/* True if s is 1..REQUEST_ID_MAX characters of [A-Za-z0-9._-]; NULL is
 * false.  Pure. */
bool request_id_valid(const char *s);

/*
 * Returns s if request_id_valid(s), else a new id written into buf: 32
 * lowercase hex digits, unique within the process (a random 128-bit seed
 * read once, mixed with a counter: no system call per id) like nginx's
 * $request_id.  The result is borrowed from s or buf.  Thread-safe.
 */
const char *request_id_or_new(const char *s, char buf[REQUEST_ID_SIZE]);

#endif /* WR_FCGI_REQUEST_ID_H */
