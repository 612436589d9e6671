/*
 * route.c - method + REQUEST_URI -> struct route_cmd.
 *
 * Strict and non-normalizing on purpose: the Runtime sits behind nginx and
 * is driven by a program, so anything but the exact canonical form is a bug
 * in the caller and gets a typed error instead of a guess.  Only the
 * {worker_id} segment is percent-decoded; literal segments must match byte
 * for byte.  The order of checks (and so which error wins) is:
 *   URI syntax (invalid_path, uri_too_long) -> route shape (not_found) ->
 *   method (405) -> worker id (invalid_worker_id) -> query.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "route.h"

/* A path has at most four segments: v1 / workers / {id} / action. */
#define MAX_SEGMENTS 4

struct segment {
	const char *p;
	size_t len;
};

/* Fills *rerr (if not NULL) and returns code. */
static wr_err
route_fail(struct route_error *rerr, wr_err code, enum wr_reason reason,
           const char *field, const char *allow, const char *fmt, ...)
	__attribute__((format(printf, 6, 7)));

static wr_err
route_fail(struct route_error *rerr, wr_err code, enum wr_reason reason,
           const char *field, const char *allow, const char *fmt, ...)
{
	va_list ap;

	if (rerr == NULL)
		return code;
	wr_error_clear(&rerr->err);
	rerr->err.code = code;
	rerr->allow = allow;
	rerr->err.reason = reason;
	if (field != NULL)
		snprintf(rerr->err.field, sizeof(rerr->err.field), "%s", field);
	va_start(ap, fmt);
	vsnprintf(rerr->err.message, sizeof(rerr->err.message), fmt, ap);
	va_end(ap);
	return code;
}

static int
hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static bool
seg_is(const struct segment *s, const char *lit)
{
	size_t n = strlen(lit);

	return s->len == n && memcmp(s->p, lit, n) == 0;
}

/*
 * Percent-decodes the id segment into buf (WR_ID_MAX + 1 bytes).  Escapes
 * were checked well-formed by the caller.  Returns false if the decoded id
 * is longer than WR_ID_MAX or contains a NUL (%00); buf is then undefined.
 * A decoded '/' (%2F) stays inside the id, where wr_id_valid refuses it.
 */
static bool
decode_id(const struct segment *s, char buf[WR_ID_MAX + 1])
{
	size_t i = 0, n = 0;

	while (i < s->len) {
		char c = s->p[i];

		if (c == '%') {
			c = (char)(hex_value(s->p[i + 1]) * 16 +
			           hex_value(s->p[i + 2]));
			i += 3;
		} else {
			i++;
		}
		if (n == WR_ID_MAX || c == '\0')
			return false;
		buf[n++] = c;
	}
	buf[n] = '\0';
	return true;
}

/* Parses a non-negative decimal integer without sign, spaces or overflow
 * above max.  Leading zeros are accepted. */
static bool
parse_u64(const char *p, size_t len, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;

	if (len == 0)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned d;

		if (p[i] < '0' || p[i] > '9')
			return false;
		d = (unsigned)(p[i] - '0');
		if (v > (max - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*out = v;
	return true;
}

/* Copies a query parameter name into dst for error reports, truncated and
 * with non-ASCII bytes replaced by '?' so the JSON reply stays UTF-8. */
static void
name_copy(char *dst, size_t size, const char *p, size_t len)
{
	if (len >= size)
		len = size - 1;
	for (size_t i = 0; i < len; i++)
		dst[i] = (unsigned char)p[i] < 0x80 ? p[i] : '?';
	dst[len] = '\0';
}

/* The parameters each route takes (only the transcript, a worker's
 * detail, the list and the diagnostics take any). */
enum param {
	P_START, P_LIMIT, P_AFTER, P_STATUS,
	P_AFTER_SEQ, P_WAIT, P_AFTER_EVENT, P_DIAG_AFTER, P_NONE
};

static enum param
param_of(const struct route_cmd *cmd, const char *p, size_t n)
{
	bool list = cmd->op == ROUTE_WORKERS_LIST;
	bool transcript = cmd->op == ROUTE_WORKER_TRANSCRIPT;
	bool get = cmd->op == ROUTE_WORKER_GET;
	bool diag = cmd->op == ROUTE_DIAGNOSTICS;

	if (n == 5 && memcmp(p, "after", 5) == 0 && transcript)
		return P_AFTER_SEQ;
	if (n == 4 && memcmp(p, "wait", 4) == 0 && (transcript || get))
		return P_WAIT;
	if (n == 11 && memcmp(p, "after_event", 11) == 0 && get)
		return P_AFTER_EVENT;
	if (n == 5 && memcmp(p, "limit", 5) == 0 &&
	    (list || transcript || diag))
		return P_LIMIT;
	if (n == 5 && memcmp(p, "after", 5) == 0 && diag)
		return P_DIAG_AFTER;
	if (n == 5 && memcmp(p, "start", 5) == 0 && transcript)
		return P_START;
	if (n == 5 && memcmp(p, "after", 5) == 0 && list)
		return P_AFTER;
	if (n == 6 && memcmp(p, "status", 6) == 0 && list)
		return P_STATUS;
	return P_NONE;
}

/* The long-poll parameters: after (a sequence), wait (ms, at most
 * ROUTE_WAIT_MAX_MS), after_event (an event id); strict decimal. */
static wr_err
take_longpoll(struct route_cmd *cmd, enum param prm, const char *name,
              const char *v, size_t vlen, struct route_error *rerr)
{
	uint64_t n;

	if (v == NULL || !parse_u64(v, vlen, UINT64_MAX, &n))
		return route_fail(rerr, WR_EINVALID_INPUT,
		                  WR_REASON_INVALID_QUERY, name, NULL,
		                  "query parameter '%s' must be a non-negative "
		                  "decimal integer", name);
	if (prm == P_WAIT) {
		if (n > ROUTE_WAIT_MAX_MS)
			return route_fail(rerr, WR_EINVALID_INPUT,
			                  WR_REASON_LIMIT_TOO_LARGE, name, NULL,
			                  "wait must be at most %u ms",
			                  ROUTE_WAIT_MAX_MS);
		cmd->wait_ms = (uint32_t)n;
	} else if (prm == P_AFTER_SEQ) {
		cmd->after_seq = n;
	} else {
		cmd->after_event = n;
	}
	return WR_OK;
}

/* Stores one parameter's value (v, vlen bytes; not percent-decoded: the
 * values are digits, ids and status names, none needing an escape). */
static wr_err
take_param(struct route_cmd *cmd, enum param prm, const char *name,
           const char *v, size_t vlen, struct route_error *rerr)
{
	bool *has[] = {&cmd->has_start, &cmd->has_limit, &cmd->has_after,
	               &cmd->has_status, &cmd->has_after_seq, &cmd->has_wait,
	               &cmd->has_after_event, &cmd->has_diag_after};
	uint64_t n;

	if (*has[prm])
		return route_fail(rerr, WR_EINVALID_INPUT, WR_REASON_INVALID_QUERY,
		                  name, NULL, "query parameter '%s' given twice",
		                  name);
	*has[prm] = true;
	switch (prm) {
	case P_START:
	case P_LIMIT:
	case P_DIAG_AFTER:
		if (v == NULL || !parse_u64(v, vlen, prm != P_LIMIT ? UINT64_MAX
		                                             : ROUTE_LIMIT_MAX,
		                            &n))
			return route_fail(rerr, WR_EINVALID_INPUT,
			                  WR_REASON_INVALID_QUERY, name, NULL,
			                  "query parameter '%s' must be a "
			                  "non-negative decimal integer%s", name,
			                  prm == P_LIMIT ? " below 4294967296" : "");
		if (prm == P_START)
			cmd->start = n;
		else if (prm == P_DIAG_AFTER)
			cmd->diag_after = n;
		else
			cmd->limit = (uint32_t)n;
		return WR_OK;
	case P_AFTER:
		if (v == NULL || vlen > WR_ID_MAX)
			break;
		memcpy(cmd->after, v, vlen);
		cmd->after[vlen] = '\0';
		if (!wr_id_valid(cmd->after))
			break;
		return WR_OK;
	case P_STATUS:
		for (int st = 0; v != NULL && st < WR__STATUS_COUNT; st++) {
			const char *sn = wr_worker_status_name(st);
			if (strlen(sn) == vlen && memcmp(sn, v, vlen) == 0) {
				cmd->status = (enum wr_worker_status)st;
				return WR_OK;
			}
		}
		return route_fail(rerr, WR_EINVALID_INPUT, WR_REASON_INVALID_QUERY,
		                  name, NULL, "status must be running, stopped, "
		                  "cancelled or failed");
	case P_AFTER_SEQ:
	case P_WAIT:
	case P_AFTER_EVENT:
		return take_longpoll(cmd, prm, name, v, vlen, rerr);
	case P_NONE:
		break;
	}
	return route_fail(rerr, WR_EINVALID_INPUT, WR_REASON_INVALID_QUERY,
	                  name, NULL, "query parameter '%s' must be a worker "
	                  "id", name);
}

/* Parameters that exclude or need each other: after (a sequence) is
 * the alternative to start; a worker's wait needs after_event (it says
 * what the client has seen: waiting for "a change from now" would miss
 * one that came between its last read and this request). */
static wr_err
check_combination(const struct route_cmd *cmd, struct route_error *rerr)
{
	if (cmd->has_after_seq && cmd->has_start)
		return route_fail(rerr, WR_EINVALID_INPUT,
		                  WR_REASON_INVALID_QUERY, "after", NULL,
		                  "give either start or after, not both");
	if (cmd->op == ROUTE_WORKER_GET && cmd->has_wait &&
	    !cmd->has_after_event)
		return route_fail(rerr, WR_EINVALID_INPUT,
		                  WR_REASON_INVALID_QUERY, "after_event", NULL,
		                  "wait needs after_event: the last_event_id "
		                  "the client has seen");
	return WR_OK;
}

/*
 * Parses query (len bytes, without the '?') into cmd.  Only the transcript
 * (start or after, limit, wait), a worker's detail (wait, after_event),
 * the list (limit, after, status) and the diagnostics (after: a number,
 * limit) take parameters; anywhere else every parameter is unknown.
 */
static wr_err
parse_query(const char *q, size_t len, struct route_cmd *cmd,
            struct route_error *rerr)
{
	size_t i = 0;

	while (i < len) {
		const char *pair = q + i;
		const char *amp = memchr(pair, '&', len - i);
		size_t plen = amp ? (size_t)(amp - pair) : len - i;
		const char *eq = memchr(pair, '=', plen);
		size_t nlen = eq ? (size_t)(eq - pair) : plen;
		char name[WR_FIELD_MAX];
		enum param prm;
		wr_err rc;

		name_copy(name, sizeof(name), pair, nlen);
		if (plen == 0 || nlen == 0)
			return route_fail(rerr, WR_EINVALID_INPUT,
			                  WR_REASON_INVALID_QUERY, name, NULL,
			                  "empty query parameter");
		if ((prm = param_of(cmd, pair, nlen)) == P_NONE)
			return route_fail(rerr, WR_EINVALID_INPUT,
			                  WR_REASON_UNKNOWN_PARAMETER, name, NULL,
			                  "unknown query parameter '%s'",
			                  name);
		rc = take_param(cmd, prm, name, eq ? eq + 1 : NULL,
		                eq ? plen - nlen - 1 : 0, rerr);
		if (rc != WR_OK)
			return rc;
		i += plen + 1;
		/* A trailing '&' leaves an empty last pair. */
		if (amp != NULL && i == len)
			return route_fail(rerr, WR_EINVALID_INPUT,
			                  WR_REASON_INVALID_QUERY, "", NULL,
			                  "empty query parameter");
	}
	return check_combination(cmd, rerr);
}

/* The GET-only routes without an id: sets cmd->op if seg[1..n) is one. */
static bool
match_get_only(const struct segment *seg, size_t n, struct route_cmd *cmd)
{
	static const struct {
		const char *s1, *s2; /* s2 NULL: two segments */
		enum route_op op;
	} routes[] = {
		{"runtime", NULL, ROUTE_RUNTIME_GET},
		{"health", NULL, ROUTE_HEALTH},
		{"metrics", NULL, ROUTE_METRICS},
		{"errors", NULL, ROUTE_ERRORS},
		{"runtime", "diagnostics", ROUTE_DIAGNOSTICS},
	};

	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		if (n != (routes[i].s2 != NULL ? 3u : 2u) ||
		    !seg_is(&seg[1], routes[i].s1) ||
		    (routes[i].s2 != NULL && !seg_is(&seg[2], routes[i].s2)))
			continue;
		cmd->op = routes[i].op;
		return true;
	}
	return false;
}

/* Matches the segments to a route; sets cmd->op, *id (the id segment or
 * NULL) and *allow (the methods of the route).  False: no such route. */
static bool
match_route(const struct segment *seg, size_t n, const char *method,
            struct route_cmd *cmd, const struct segment **id,
            const char **allow)
{
	bool get = strcmp(method, "GET") == 0;
	bool post = strcmp(method, "POST") == 0;

	*id = NULL;
	if (n < 2 || !seg_is(&seg[0], "v1"))
		return false;
	if (match_get_only(seg, n, cmd)) {
		*allow = get ? NULL : "GET";
		return true;
	}
	if (!seg_is(&seg[1], "workers"))
		return false;
	if (n == 2) {
		cmd->op = post ? ROUTE_WORKER_CREATE : ROUTE_WORKERS_LIST;
		*allow = get || post ? NULL : "GET, POST";
		return true;
	}
	/* We do not normalize: "." and ".." are never ids. */
	if (seg_is(&seg[2], ".") || seg_is(&seg[2], ".."))
		return false;
	*id = &seg[2];
	if (n == 3) {
		bool del = strcmp(method, "DELETE") == 0;

		cmd->op = del ? ROUTE_WORKER_DELETE : ROUTE_WORKER_GET;
		*allow = get || del ? NULL : "GET, DELETE";
		return true;
	}
	if (seg_is(&seg[3], "transcript")) {
		cmd->op = ROUTE_WORKER_TRANSCRIPT;
		*allow = get ? NULL : "GET";
		return true;
	}
	if (seg_is(&seg[3], "input"))
		cmd->op = ROUTE_WORKER_INPUT;
	else if (seg_is(&seg[3], "stop"))
		cmd->op = ROUTE_WORKER_STOP;
	else if (seg_is(&seg[3], "cancel"))
		cmd->op = ROUTE_WORKER_CANCEL;
	else
		return false;
	*allow = post ? NULL : "POST";
	return true;
}

/* Splits the path uri[0..plen) after its leading '/' into seg[0..*n).
 * False when no route can match: an empty segment (//, a trailing /, an
 * empty id) or more than MAX_SEGMENTS. */
static bool
split_path(const char *uri, size_t plen, struct segment seg[MAX_SEGMENTS],
           size_t *n)
{
	*n = 0;
	for (const char *p = uri + 1, *end = uri + plen;;) {
		const char *slash = memchr(p, '/', (size_t)(end - p));
		const char *segend = slash ? slash : end;

		if (segend == p || *n == MAX_SEGMENTS)
			return false;
		seg[*n].p = p;
		seg[*n].len = (size_t)(segend - p);
		(*n)++;
		if (slash == NULL)
			return true;
		p = slash + 1;
	}
}

wr_err
route_decode(const char *method, const char *uri, struct route_cmd *out,
             struct route_error *rerr)
{
	struct route_cmd cmd;
	struct segment seg[MAX_SEGMENTS];
	const struct segment *id;
	const char *allow, *query = NULL;
	size_t ulen, plen, qlen = 0, n = 0;
	wr_err rc;

	memset(&cmd, 0, sizeof(cmd));
	if (uri == NULL || uri[0] != '/')
		return route_fail(rerr, WR_EINVALID_INPUT, WR_REASON_INVALID_PATH,
		                  NULL, NULL, "the path must start with '/'");
	ulen = strnlen(uri, ROUTE_URI_MAX + 1);
	if (ulen > ROUTE_URI_MAX)
		return route_fail(rerr, WR_EINVALID_INPUT, WR_REASON_URI_TOO_LONG,
		                  NULL, NULL,
		                  "the request URI is longer than %d bytes",
		                  ROUTE_URI_MAX);
	for (size_t i = 0; i < ulen; i++) {
		unsigned char c = (unsigned char)uri[i];

		if (c < 0x20 || c == 0x7f)
			return route_fail(rerr, WR_EINVALID_INPUT,
			                  WR_REASON_INVALID_PATH, NULL, NULL,
			                  "control byte in the request URI");
	}
	plen = ulen;
	if ((query = memchr(uri, '?', ulen)) != NULL) {
		plen = (size_t)(query - uri);
		query++;
		qlen = ulen - plen - 1;
	}
	for (size_t i = 0; i < plen; i++) {
		if (uri[i] == '%' &&
		    (i + 2 >= plen || hex_value(uri[i + 1]) < 0 ||
		     hex_value(uri[i + 2]) < 0))
			return route_fail(rerr, WR_EINVALID_INPUT,
			                  WR_REASON_INVALID_PATH, NULL, NULL,
			                  "malformed percent escape in the path");
	}

	if (!split_path(uri, plen, seg, &n) ||
	    !match_route(seg, n, method ? method : "", &cmd, &id, &allow))
		goto not_found;
	if (allow != NULL)
		return route_fail(rerr, WR_EUNSUPPORTED, WR_REASON_METHOD_NOT_ALLOWED,
		                  NULL, allow,
		                  "method not allowed on this path; allowed: %s",
		                  allow);
	if (id != NULL &&
	    (!decode_id(id, cmd.worker_id) || !wr_id_valid(cmd.worker_id)))
		return route_fail(rerr, WR_EINVALID_INPUT, WR_REASON_INVALID_WORKER_ID,
		                  "worker_id", NULL,
		                  "a worker id is 1..%d bytes of [A-Za-z0-9_.-], "
		                  "not starting with '.'", WR_ID_MAX);
	if (query != NULL) {
		rc = parse_query(query, qlen, &cmd, rerr);
		if (rc != WR_OK)
			return rc;
	}
	*out = cmd;
	return WR_OK;

not_found:
	return route_fail(rerr, WR_ENOT_FOUND, WR_REASON_NONE, NULL, NULL,
	                  "no such route");
}

const char *
route_template(enum route_op op)
{
	switch (op) {
	case ROUTE_RUNTIME_GET:
		return "/v1/runtime";
	case ROUTE_WORKERS_LIST:
	case ROUTE_WORKER_CREATE:
		return "/v1/workers";
	case ROUTE_WORKER_GET:
	case ROUTE_WORKER_DELETE:
		return "/v1/workers/{id}";
	case ROUTE_WORKER_INPUT:
		return "/v1/workers/{id}/input";
	case ROUTE_WORKER_STOP:
		return "/v1/workers/{id}/stop";
	case ROUTE_WORKER_CANCEL:
		return "/v1/workers/{id}/cancel";
	case ROUTE_WORKER_TRANSCRIPT:
		return "/v1/workers/{id}/transcript";
	case ROUTE_HEALTH:
		return "/v1/health";
	case ROUTE_METRICS:
		return "/v1/metrics";
	case ROUTE_DIAGNOSTICS:
		return "/v1/runtime/diagnostics";
	case ROUTE_ERRORS:
		return "/v1/errors";
	}
	return "";
}

const char *
route_template_of(const char *method, const char *uri)
{
	struct segment seg[MAX_SEGMENTS];
	const struct segment *id;
	const char *allow, *q;
	struct route_cmd cmd;
	size_t plen, n;

	if (uri == NULL || uri[0] != '/')
		return "";
	q = memchr(uri, '?', strnlen(uri, ROUTE_URI_MAX + 1));
	plen = q != NULL ? (size_t)(q - uri) : strnlen(uri, ROUTE_URI_MAX + 1);
	if (plen > ROUTE_URI_MAX || !split_path(uri, plen, seg, &n) ||
	    !match_route(seg, n, method != NULL ? method : "", &cmd, &id,
	                 &allow))
		return "";
	return route_template(cmd.op);
}
