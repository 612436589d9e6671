/*
 * handlers.h - HTTP request struct in, HTTP response struct out.
 *
 * Pure: no sockets, no FastCGI.  The responder fills a struct http_request
 * from the FastCGI params and body and writes the struct http_response back;
 * tests call http_handle() directly.  Handlers translate only: every Worker
 * rule is the library's (src/), reached through worker-runtime.h.
 */
#ifndef WR_FCGI_HANDLERS_H
#define WR_FCGI_HANDLERS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "worker-runtime.h"

/* Everything borrowed for the duration of http_handle(). */
struct http_request {
	const char *method;        /* REQUEST_METHOD */
	const char *uri;           /* REQUEST_URI: raw path + optional "?query" */
	const char *content_type;  /* CONTENT_TYPE; NULL if absent */
	const char *authorization; /* HTTP_AUTHORIZATION; NULL if absent */
	const char *origin;        /* HTTP_ORIGIN; NULL if absent */
	const char *sec_fetch_site; /* HTTP_SEC_FETCH_SITE; NULL if absent */
	const char *body;          /* may be NULL when body_len == 0 */
	size_t body_len;
	bool body_too_large;       /* the responder stopped reading at max_body */
};

#define HTTP_MAX_HEADERS 4
#define HTTP_HEADER_NAME_MAX 32
#define HTTP_HEADER_VALUE_MAX 256

struct http_header {
	char name[HTTP_HEADER_NAME_MAX];
	char value[HTTP_HEADER_VALUE_MAX];
};

/* The body is owned by the response: release it with http_response_clear. */
struct http_response {
	int status;
	struct http_header headers[HTTP_MAX_HEADERS]; /* besides Content-Type */
	size_t n_headers;
	char *body; /* JSON, NUL-terminated; never NULL after http_handle */
	size_t body_len;
};

/* Shared, read-only configuration of the handlers. */
struct http_ctx {
	/* Borrowed.  NULL while the Runtime is being opened (the store
	 * replays): every request is then answered 503 runtime_unavailable,
	 * reason restoring.  Set once, NULL -> the open Runtime, by the one
	 * thread that opened it (release store) and never changed back while
	 * requests are served, so a request that sees it non-NULL sees an
	 * open Runtime, never a half-open one. */
	struct wr_runtime *_Atomic rt;
	const char *token;       /* NULL: no Authorization check; else the
	                          * accepted tokens, separated by '\n' */
	size_t max_body;         /* for the payload_too_large message */
	unsigned retry_after_s;  /* Retry-After value for busy / unavailable */
};

/*
 * True if the request was issued by a browser: a non-empty Origin or a
 * non-empty Sec-Fetch-Site (NULL = absent).  An empty value counts as
 * absent, exactly as deploy/nginx.conf decides (its $http_ variables cannot
 * tell empty from absent), so the socket refuses what nginx refuses and
 * nothing else.  Pure; thread-safe.
 */
bool http_browser_request(const char *origin, const char *sec_fetch_site);

/* Handles one request: the browser and token checks, then 503
 * runtime_unavailable/restoring while ctx->rt is NULL, else the route.
 * Always fills *out (status, headers, JSON body; on
 * allocation failure a static 500 body is copied).  Thread-safe as far as
 * the Runtime is (it is). */
void http_handle(const struct http_ctx *ctx, const struct http_request *req,
                 struct http_response *out);

/* Frees the body; *r may be reused afterwards.  NULL ok. */
void http_response_clear(struct http_response *r);

#endif /* WR_FCGI_HANDLERS_H */
