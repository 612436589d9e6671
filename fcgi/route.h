/*
 * route.h - HTTP method + REQUEST_URI -> a typed command.
 *
 * Pure: no I/O, no allocation, no locale.  The decoder is strict and never
 * normalizes: a path is either exactly one of the v1 routes (docs/api.md) or it is
 * refused with a typed error (see docs/api.md, "Paths and query strings").
 */
#ifndef WR_FCGI_ROUTE_H
#define WR_FCGI_ROUTE_H

#include <stdbool.h>
#include <stdint.h>

#include "worker-runtime.h"

/* Longest REQUEST_URI accepted (path + '?' + query), in bytes. */
#define ROUTE_URI_MAX 4096

/* Largest limit= the route passes on (the library then applies its
 * max_transcript_projection_items: limit_too_large). */
#define ROUTE_LIMIT_MAX UINT32_MAX

enum route_op {
	ROUTE_RUNTIME_GET,       /* GET  /v1/runtime */
	ROUTE_WORKERS_LIST,      /* GET  /v1/workers */
	ROUTE_WORKER_CREATE,     /* POST /v1/workers */
	ROUTE_WORKER_GET,        /* GET  /v1/workers/{id} */
	ROUTE_WORKER_INPUT,      /* POST /v1/workers/{id}/input */
	ROUTE_WORKER_STOP,       /* POST /v1/workers/{id}/stop */
	ROUTE_WORKER_CANCEL,     /* POST /v1/workers/{id}/cancel */
	ROUTE_WORKER_TRANSCRIPT, /* GET  /v1/workers/{id}/transcript */
	ROUTE_WORKER_DELETE,     /* DELETE /v1/workers/{id} */
	ROUTE_HEALTH,            /* GET  /v1/health */
	ROUTE_METRICS,           /* GET  /v1/metrics */
	ROUTE_DIAGNOSTICS,       /* GET  /v1/runtime/diagnostics */
	ROUTE_ERRORS             /* GET  /v1/errors */
};

/* A decoded request line.  worker_id is the percent-decoded, validated id
 * (wr_id_valid) for the per-worker ops and "" otherwise.  start/limit are
 * meaningful only when has_start/has_limit (transcript: start, limit;
 * list: limit, after, status; diagnostics: limit, diag_after). */
struct route_cmd {
	enum route_op op;
	char worker_id[WR_ID_MAX + 1];
	bool has_start, has_limit, has_after, has_status;
	uint64_t start;
	uint32_t limit;
	char after[WR_ID_MAX + 1];       /* list: a valid id */
	enum wr_worker_status status;    /* list */
	/* Long-poll.  transcript: after (a sequence; exclusive, so the page
	 * starts at index after_seq) is the alternative to start, and wait;
	 * worker get: wait and after_event (both or neither of wait). */
	bool has_after_seq, has_wait, has_after_event;
	uint64_t after_seq;
	uint32_t wait_ms;                /* at most ROUTE_WAIT_MAX_MS */
	uint64_t after_event;
	bool has_diag_after;             /* diagnostics: after (an id) */
	uint64_t diag_after;
};

/* Longest wait= in ms; it must stay below nginx's fastcgi_read_timeout. */
#define ROUTE_WAIT_MAX_MS 25000u

/*
 * Why a request line was refused.  err.code is one of
 *   WR_ENOT_FOUND       no such route (also "." / ".." / empty segments,
 *                       trailing or double slashes);
 *   WR_EUNSUPPORTED     known path, method not allowed: reason
 *                       "method_not_allowed" and allow set;
 *   WR_EINVALID_INPUT   reason invalid_path, uri_too_long,
 *                       invalid_worker_id (field "worker_id"),
 *                       unknown_parameter or invalid_query (field = the
 *                       parameter name, "" for an empty pair; "after"
 *                       for after with start, "after_event" for a
 *                       worker's wait without it), limit_too_large
 *                       (field "wait": above ROUTE_WAIT_MAX_MS).
 * allow is a static string ("GET", "POST", "GET, POST" or "GET, DELETE") for
 * WR_EUNSUPPORTED and NULL otherwise.
 */
struct route_error {
	struct wr_error err;
	const char *allow;
};

/*
 * Decodes method and uri into *out.  method is compared case-sensitively
 * (HTTP methods are); HEAD is not allowed anywhere (405).  Returns WR_OK,
 * or the code above with *rerr filled (if not NULL) and *out untouched.
 * NULL method or uri are refused (not_found resp. invalid_path), never
 * dereferenced.  Reentrant; both strings are borrowed for the call.
 */
wr_err route_decode(const char *method, const char *uri,
                    struct route_cmd *out, struct route_error *rerr);

/* The route's template as metrics and the access log name it, e.g.
 * "/v1/workers/{id}/input"; static, never NULL.  Pure. */
const char *route_template(enum route_op op);

/*
 * The route template a request is counted and logged under, whether or
 * not route_decode accepts it: the template of the route whose path shape
 * uri's path matches (any method, any id segment, any query; a 405 gets
 * its path's template), "" only when the path matches no route.  Static,
 * never NULL; bounded like route_decode (ROUTE_URI_MAX).  Pure, reentrant.
 */
const char *route_template_of(const char *method, const char *uri);

#endif /* WR_FCGI_ROUTE_H */
