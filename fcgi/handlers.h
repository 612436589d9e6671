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
	const char *request_id;    /* REQUEST_ID (nginx's $request_id or the
	                            * client's X-Request-Id); NULL if absent */
	const char *idempotency_key; /* HTTP_IDEMPOTENCY_KEY; NULL if absent */
	/*
	 * Long-poll, and mutations waiting for the store's fdatasync: how a
	 * parked request is woken.  NULL: the caller cannot park requests,
	 * a ?wait= is answered at once as if it were 0, and a mutation
	 * blocks the calling thread until it is durable.
	 * Otherwise http_handle may answer with out->wait set (see struct
	 * http_wait below): wake(wake_arg) is then called at most once, from
	 * any thread and possibly with Runtime locks held, when the wait may
	 * be answered; it must be quick and must not call into the Runtime or
	 * the handlers.
	 */
	void (*wake)(void *wake_arg);
	void *wake_arg;
	/* With wake: the caller can spare this thread for one fdatasync
	 * (another serving thread is free), so a mutation whose record
	 * must become durable first tries to do that here, as the group
	 * commit's leader (wr_commit_lead), and is answered at once when
	 * no commit round was running; else it parks. */
	bool may_lead;
};

#define HTTP_MAX_HEADERS 6
#define HTTP_HEADER_NAME_MAX 32
#define HTTP_HEADER_VALUE_MAX 256

struct http_header {
	char name[HTTP_HEADER_NAME_MAX];
	char value[HTTP_HEADER_VALUE_MAX];
};

/* A parked request (long-poll), owned by whoever holds it; see
 * http_wait_finish. */
struct http_wait;

/* The body is owned by the response: release it with http_response_clear. */
struct http_response {
	int status;
	struct http_header headers[HTTP_MAX_HEADERS]; /* besides Content-Type */
	size_t n_headers;
	char *body; /* JSON, NUL-terminated; never NULL after http_handle
	             * unless wait is set */
	size_t body_len;
	/* Static; NULL: "application/json; charset=utf-8" (every response
	 * but GET /v1/metrics). */
	const char *content_type;
	/* For the access log and the metrics: the route template, a static
	 * string ("/v1/workers/{id}", "" when no route matched), and the
	 * error's reason (WR_REASON_NONE for none or a success). */
	const char *route;
	enum wr_reason reason;
	/* Non-NULL: the request is parked and nothing else is set yet.  The
	 * caller keeps the request (its params stay valid), and calls
	 * http_wait_finish once wake() was called, the deadline
	 * (http_wait_deadline_ms) passed, or it is shutting down. */
	struct http_wait *wait;
};

/* Serving statistics the responder keeps (for metrics and diagnostics). */
struct http_server_stats {
	unsigned threads;          /* serving threads */
	unsigned threads_busy;     /* handling a request right now */
	unsigned parked;           /* long-poll requests parked */
	unsigned idle_connections; /* kept connections with no request */
	unsigned queued;           /* ready for a thread, not yet taken */
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
	/* Fills *out with the responder's current figures; NULL: none (tests
	 * without a responder). Thread-safe. */
	void (*server_stats)(struct http_server_stats *out);
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

/* The deadline of a parked request: CLOCK_MONOTONIC, in ms.  A mutation
 * parked until its record is durable has none: ULLONG_MAX, which the
 * responder takes as "no timeout" (dsp_timeout_ms); it is answered
 * only after wake(), or, if finished earlier (shutdown, a hangup), once
 * the fdatasync covering its record returned or failed. */
unsigned long long http_wait_deadline_ms(const struct http_wait *w);

/* True if w is a mutation parked until its record is durable (its
 * http_wait_finish may block until the fdatasync covering it returns),
 * false for a long-poll (finishing it never waits for the disk).  Pure;
 * thread-safe while w is held. */
bool http_wait_is_commit(const struct http_wait *w);

/*
 * Answers a parked request now (it was woken, its deadline passed or the
 * caller is shutting down): fills *out as http_handle would have (the
 * current page or detail, possibly empty; a mutation's answer or error,
 * blocking until its record is durable or failed if it is not yet), and
 * frees w.  After it
 * returns, the wake function given with the request is neither running nor
 * ever called again for it.  Thread-safe; any thread.
 */
void http_wait_finish(const struct http_ctx *ctx, struct http_wait *w,
                      struct http_response *out);

/*
 * Called by the responder once per request after its response was written
 * (or failed to be), before the request's params are released: the access
 * log line and the request metrics.  duration_us runs from the request's
 * arrival - the moment the responder saw its connection readable or
 * accepted it, before reading the request, so a slow read counts - to the
 * end of the write; a parked request's includes its wait.  bytes_sent:
 * bytes of the HTTP answer (head and body) written to the peer.  cut: the
 * answer was cut short - the peer closed the connection or stopped
 * reading for the 10 s send bound - though the request was acted on as
 * res says; its access line is then a warning and the answers_cut_total
 * metric counts it.  Thread-safe.
 */
void http_request_done(const struct http_ctx *ctx,
                       const struct http_request *req,
                       const struct http_response *res,
                       unsigned long long duration_us,
                       unsigned long long bytes_sent, bool cut);

/* The reason phrase of an HTTP status for the FastCGI "Status:" line: RFC
 * 9110's phrase for every status a handler or the responder answers, else
 * the name of the status's class (RFC 9110, section 15: "Informational",
 * "Successful", "Redirection", "Client Error", "Server Error"; any status
 * outside 100-499 gets the last).  Returns a static string.  Pure,
 * thread-safe. */
const char *http_reason_phrase(int status);

/* Frees the body; *r may be reused afterwards.  NULL ok. */
void http_response_clear(struct http_response *r);

#endif /* WR_FCGI_HANDLERS_H */
