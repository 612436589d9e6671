/*
 * handlers.c - struct http_request -> library call -> struct http_response.
 *
 * Translation only: the request gates here are HTTP's (Origin, token, body
 * size, media type); every Worker rule (busy, terminal states, limits,
 * idempotency keys) is the library's and arrives as a wr_err.  Every error the
 * handlers answer gets its HTTP status from one table, status_rules[] (the
 * responder writes the few errors it finds itself - bad params, an unread
 * body, shutdown's 503 - with their status where it writes them).
 */
#include "config.h"

#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "handlers.h"
#include "metrics.h"
#include "log.h"
#include "request_id.h"
#include "route.h"

/* The same realm and reasons as deploy/nginx.conf's own 401/403 answers,
 * so a Backend cannot tell (and need not care) which layer refused. */
#define HTTP_REALM "worker-runtime"

/* Response headers an error may need (besides Content-Type). */
enum {
	HDR_RETRY_AFTER = 1u << 0,
	HDR_ALLOW = 1u << 1,
	HDR_WWW_AUTHENTICATE = 1u << 2,
	HDR_RETRY_AFTER_1 = 1u << 3 /* Retry-After: 1, whatever the config */
};

/*
 * The error -> HTTP status mapping (docs/api.md, "Errors").  First match
 * wins; WR_REASON_NONE matches any reason.  unsupported_operation is 405
 * when the route refused the method and 409 for everything the library
 * refuses because of state (worker_not_running, worker_limit_reached).
 */
static const struct status_rule {
	wr_err code;
	enum wr_reason reason; /* WR_REASON_NONE: any */
	int status;
	unsigned headers;
} status_rules[] = {
	{WR_EBUSY, WR_REASON_IDEMPOTENCY_IN_FLIGHT, 409, HDR_RETRY_AFTER_1},
	{WR_EBUSY, WR_REASON_NONE, 409, HDR_RETRY_AFTER},
	{WR_EUNKNOWN_WORKER, WR_REASON_NONE, 404, 0},
	{WR_EINVALID_INPUT, WR_REASON_PAYLOAD_TOO_LARGE, 413, 0},
	{WR_EINVALID_INPUT, WR_REASON_UNSUPPORTED_MEDIA_TYPE, 415, 0},
	{WR_EINVALID_INPUT, WR_REASON_IDEMPOTENCY_KEY_REUSED, 422, 0},
	{WR_EINVALID_INPUT, WR_REASON_NONE, 400, 0},
	{WR_EUNSUPPORTED, WR_REASON_METHOD_NOT_ALLOWED, 405, HDR_ALLOW},
	{WR_EUNSUPPORTED, WR_REASON_NONE, 409, 0},
	{WR_EUNAVAILABLE, WR_REASON_NONE, 503, HDR_RETRY_AFTER},
	{WR_EUNAUTHORIZED, WR_REASON_NONE, 401, HDR_WWW_AUTHENTICATE},
	{WR_EFORBIDDEN, WR_REASON_NONE, 403, 0},
	{WR_ENOT_FOUND, WR_REASON_NONE, 404, 0},
	{WR_EINTERNAL, WR_REASON_NONE, 500, 0},
};

/* Used when even the error body cannot be allocated; never freed (see
 * http_response_clear) and never written to. */
static char oom_body[] =
	"{\"error\":{\"code\":\"internal\",\"message\":\"out of memory\"}}";

static const struct status_rule *
status_rule_find(const struct wr_error *e)
{
	size_t n = sizeof(status_rules) / sizeof(status_rules[0]);

	for (size_t i = 0; i < n; i++) {
		const struct status_rule *r = &status_rules[i];

		if (r->code == e->code && (r->reason == WR_REASON_NONE ||
		                          r->reason == e->reason))
			return r;
	}
	return &status_rules[n - 1]; /* unknown code: internal */
}

static void
add_header(struct http_response *out, const char *name, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Appends one header; silently bounded by HTTP_MAX_HEADERS (we never need
 * more than two). */
static void
add_header(struct http_response *out, const char *name, const char *fmt, ...)
{
	struct http_header *h;
	va_list ap;

	if (out->n_headers == HTTP_MAX_HEADERS)
		return;
	h = &out->headers[out->n_headers++];
	snprintf(h->name, sizeof(h->name), "%s", name);
	va_start(ap, fmt);
	vsnprintf(h->value, sizeof(h->value), fmt, ap);
	va_end(ap);
}

static void
set_oom(struct http_response *out)
{
	out->status = 500;
	out->n_headers = 0;
	out->body = oom_body;
	out->body_len = sizeof(oom_body) - 1;
}

/* Fills e (code, message; a reason if given) for an error found here. */
static wr_err
fail(struct wr_error *e, wr_err code, enum wr_reason reason, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static wr_err
fail(struct wr_error *e, wr_err code, enum wr_reason reason, const char *fmt, ...)
{
	va_list ap;

	wr_error_clear(e);
	e->code = code;
	e->reason = reason;
	va_start(ap, fmt);
	vsnprintf(e->message, sizeof(e->message), fmt, ap);
	va_end(ap);
	return code;
}

/*
 * Writes the error response for e: status from status_rules[], the
 * headers the rule asks for, {"error": ...} as the body.  allow is the
 * route's Allow value (405 only).
 */
static void
respond_error(const struct http_ctx *ctx, const struct wr_error *e,
              const char *allow, const char *request_id,
              struct http_response *out)
{
	const struct status_rule *r = status_rule_find(e);
	unsigned retry = ctx->retry_after_s ? ctx->retry_after_s : 1;

	out->status = r->status;
	out->n_headers = 0;
	if (r->headers & HDR_RETRY_AFTER)
		add_header(out, "Retry-After", "%u", retry);
	if (r->headers & HDR_RETRY_AFTER_1)
		add_header(out, "Retry-After", "1");
	if ((r->headers & HDR_ALLOW) && allow != NULL)
		add_header(out, "Allow", "%s", allow);
	if (r->headers & HDR_WWW_AUTHENTICATE)
		add_header(out, "WWW-Authenticate", "Bearer realm=\"%s\"",
		           HTTP_REALM);
	out->body = wr_json_encode_error_request(e, request_id, &out->body_len);
	if (out->body == NULL)
		set_oom(out);
}

/* Takes ownership of json (a wr_json_encode_* result; NULL means out of
 * memory) as the 2xx body. */
static wr_err
respond_json(struct http_response *out, int status, char *json, size_t len,
             struct wr_error *e)
{
	if (json == NULL)
		return fail(e, WR_EINTERNAL, WR_REASON_OUT_OF_MEMORY, "out of memory");
	out->status = status;
	out->body = json;
	out->body_len = len;
	return WR_OK;
}

/*
 * Compares Authorization with "Bearer <token>" (token: tl bytes) in time
 * that depends only on the lengths, never on where they differ.  An empty
 * token matches nothing (fail closed).
 */
static bool
token_matches(const char *token, size_t tl, const char *auth)
{
	static const char scheme[] = "Bearer ";
	size_t sl = sizeof(scheme) - 1;
	size_t al = auth != NULL ? strlen(auth) : 0;
	size_t want_len = sl + tl;
	size_t n = al > want_len ? al : want_len;
	volatile unsigned diff = (al != want_len) | (tl == 0);

	for (size_t i = 0; i < n; i++) {
		unsigned char want = i < sl ? (unsigned char)scheme[i]
		                   : i < want_len ? (unsigned char)token[i - sl]
		                   : 0;
		unsigned char got = i < al ? (unsigned char)auth[i] : 0;

		diff |= (unsigned)(want ^ got);
	}
	return diff == 0;
}

/* True if auth carries any of the '\n'-separated tokens; every one is
 * compared (no early exit). */
static bool
tokens_match(const char *tokens, const char *auth)
{
	bool ok = false;

	for (;;) {
		size_t tl = strcspn(tokens, "\n");

		ok |= token_matches(tokens, tl, auth);
		if (tokens[tl] == '\0')
			return ok;
		tokens += tl + 1;
	}
}

static char
ascii_lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

static const char *
skip_blanks(const char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	return s;
}

/* RFC 9110 §5.6.2: tchar; token = 1*tchar. */
static bool
is_tchar(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') ||
	       (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static size_t
token_len(const char *s)
{
	size_t n = 0;

	while (is_tchar((unsigned char)s[n]))
		n++;
	return n;
}

/* True if the n bytes at s are word, ASCII case-insensitively. */
static bool
token_is(const char *s, size_t n, const char *word)
{
	if (n != strlen(word))
		return false;
	for (size_t i = 0; i < n; i++)
		if (ascii_lower(s[i]) != word[i])
			return false;
	return true;
}

/* A parameter value at *s (RFC 9110 §5.6.6: token / quoted-string, whose
 * quoted-pairs stand for the character after the backslash): copies the
 * value into val (at most valsz - 1 bytes; *over if longer) and advances
 * past it.  False if it is neither (empty, an unclosed quote, a control
 * character inside), with *s at the byte that breaks it. */
static bool
param_value(const char **s, char *val, size_t valsz, bool *over)
{
	const unsigned char *p = (const unsigned char *)*s;
	size_t n = 0, len;

	*over = false;
	if (*p != '"') {
		if ((len = token_len(*s)) == 0)
			return false;
		*over = len >= valsz;
		n = *over ? valsz - 1 : len;
		memcpy(val, p, n);
		val[n] = '\0';
		*s += len;
		return true;
	}
	for (p++; *p != '"'; p++) {
		if (*p == '\\')
			p++; /* quoted-pair: HTAB / SP / VCHAR / obs-text */
		/* qdtext and the quoted character: HTAB, SP, 0x21-0x7E but
		 * the quote and the backslash (taken above), obs-text. */
		if (*p != '\t' && (*p < 0x20 || *p == 0x7f)) {
			*s = (const char *)p;
			return false; /* NUL too: the string never closed */
		}
		if (n + 1 < valsz)
			val[n++] = (char)*p;
		else
			*over = true;
	}
	val[n] = '\0';
	*s = (const char *)p + 1;
	return true;
}

/*
 * Checks that ct is application/json with well-formed parameters (RFC
 * 9110 §8.3.1: type "/" subtype *( OWS ";" OWS [ name "=" value ] ),
 * names and the type case-insensitive).  A charset parameter may appear
 * once and must say utf-8, as a token or a quoted-string (the body is
 * decoded as UTF-8 whatever it claims); other parameters are ignored.
 * Anything the grammar does not allow is refused rather than guessed at.
 * Returns NULL if ct is accepted, else what is wrong (static), and in
 * *at the byte of ct that breaks the parameters, or where the parameter
 * that is wrong starts (0 when the type itself is wrong).
 */
static const char *
media_type_problem(const char *ct, size_t *at)
{
	const char *const start = ct;
	bool charset = false, over;
	char val[16];
	size_t n;

	*at = 0;
	if (ct == NULL || *(ct = skip_blanks(ct)) == '\0')
		return "the request has a body but no Content-Type";
	n = token_len(ct);
	if (!token_is(ct, n, "application") || ct[n] != '/' ||
	    !token_is(ct + n + 1, token_len(ct + n + 1), "json"))
		return "the media type is not application/json";
	for (ct += n + 1 + token_len(ct + n + 1);;) {
		const char *name;

		ct = skip_blanks(ct);
		if (*ct == '\0')
			return NULL;
		*at = (size_t)(ct - start);
		if (*ct != ';')
			return "malformed Content-Type parameters";
		ct = skip_blanks(ct + 1);
		if (*ct == ';' || *ct == '\0')
			continue; /* an empty parameter */
		name = ct;
		*at = (size_t)(ct - start);
		if ((n = token_len(ct)) == 0 || ct[n] != '=') {
			*at = (size_t)(ct + n - start);
			return "malformed Content-Type parameters";
		}
		ct += n + 1;
		if (!param_value(&ct, val, sizeof(val), &over)) {
			*at = (size_t)(ct - start);
			return "malformed Content-Type parameters";
		}
		if (!token_is(name, n, "charset"))
			continue;
		if (charset)
			return "Content-Type names a charset more than once";
		if (over || !token_is(val, strlen(val), "utf-8"))
			return "the body must be UTF-8 (charset=utf-8 or none)";
		charset = true;
	}
}

/* The HTTP-level body gates of a POST: size, then media type when there
 * is a body at all. */
static wr_err
check_post_body(const struct http_ctx *ctx, const struct http_request *req,
                struct wr_error *e)
{
	const char *why;
	size_t at;

	if (req->body_too_large)
		return fail(e, WR_EINVALID_INPUT, WR_REASON_PAYLOAD_TOO_LARGE,
		            "the request body is larger than %zu bytes",
		            ctx->max_body);
	if (req->body_len == 0 ||
	    (why = media_type_problem(req->content_type, &at)) == NULL)
		return WR_OK;
	if (at > 0)
		return fail(e, WR_EINVALID_INPUT, WR_REASON_UNSUPPORTED_MEDIA_TYPE,
		            "%s (byte %zu of Content-Type); send "
		            "Content-Type: application/json", why, at);
	return fail(e, WR_EINVALID_INPUT, WR_REASON_UNSUPPORTED_MEDIA_TYPE,
	            "%s; send Content-Type: application/json", why);
}

/* ---- idempotency keys ------------------------------------------------- */

/* The Idempotency-Key of a mutation and what its digest covers: the
 * method, the URI and the body exactly as received.  An empty key is no
 * key, exactly as deploy/nginx.conf decides (if_not_empty). */
static const struct wr_idempotency *
idem_of(const struct http_request *req, struct wr_idempotency *k)
{
	if (req->idempotency_key == NULL || req->idempotency_key[0] == '\0')
		return NULL;
	k->key = req->idempotency_key;
	k->method = req->method;
	k->path = req->uri;
	k->body = req->body;
	k->body_len = req->body_len;
	return k;
}

/*
 * Test seam of tests/e2e/idempotency-crash.sh (docs/worker-runtime.8,
 * ENVIRONMENT): with WR_TEST_HOLD_COMMIT=PATH, a keyed mutation that just
 * became durable creates PATH and, before its answer goes out, waits
 * until PATH is removed (at most 60 s), so a test can kill the process
 * between the commit and the response.  Unset or empty: nothing.
 */
static void
test_hold_commit(void)
{
	const char *path = getenv("WR_TEST_HOLD_COMMIT");
	struct timespec tick = {0, 10 * 1000 * 1000};
	int fd;

	if (path == NULL || path[0] == '\0')
		return;
	fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return;
	close(fd);
	for (int i = 0; i < 6000 && access(path, F_OK) == 0; i++)
		nanosleep(&tick, NULL);
}

/* The answer of a keyed mutation (the library's bytes, stored or new);
 * takes res's body.  A replay says so in Idempotent-Replayed. */
static void
respond_keyed(struct http_response *out, struct wr_idempotent_result *res)
{
	if (!res->replayed)
		test_hold_commit();
	out->status = res->status;
	out->body = res->body;
	out->body_len = res->body_len;
	res->body = NULL;
	if (res->status == 201)
		add_header(out, "Location", "/v1/workers/%s", res->worker_id);
	if (res->replayed)
		add_header(out, "Idempotent-Replayed", "true");
}

/* ---- one function per operation; each fills out on WR_OK ------------- */

static wr_err
op_runtime_get(const struct http_ctx *ctx, struct http_response *out,
               struct wr_error *e)
{
	struct wr_runtime_summary s;
	size_t len;
	char *json;
	wr_err rc;

	rc = wr_runtime_summary(ctx->rt, &s, e);
	if (rc != WR_OK)
		return rc;
	json = wr_json_encode_runtime_summary(&s, "runtime", &len);
	return respond_json(out, 200, json, len, e);
}

static wr_err
op_workers_list(const struct http_ctx *ctx, const struct route_cmd *cmd,
                struct http_response *out, struct wr_error *e)
{
	struct wr_list_query q = {0};
	size_t len;
	char *json;
	wr_err rc;

	q.limit = cmd->has_limit ? cmd->limit : 0;
	q.after = cmd->has_after ? cmd->after : NULL;
	q.has_status = cmd->has_status;
	q.status = cmd->status;
	rc = wr_worker_list_json(ctx->rt, &q, &json, &len, e);
	if (rc != WR_OK)
		return rc;
	return respond_json(out, 200, json, len, e);
}

/* ---- long-poll: parking a request on a watch ------------------------- */

/* A parked request: the route command (a copy: the request's params stay
 * valid, but the decoded command would not), its deadline, its watch. */
struct http_wait {
	enum {
		WAIT_WATCH,  /* a long-poll: on a watch, until its deadline */
		WAIT_COMMIT  /* a mutation: until its record is durable */
	} kind;
	struct route_cmd cmd;
	unsigned long long deadline_ms; /* CLOCK_MONOTONIC */
	struct wr_watch *watch;         /* WAIT_WATCH */
	struct wr_commit *commit;       /* WAIT_COMMIT */
	char rid[REQUEST_ID_SIZE];      /* the request's id, for the answer */
};

/* The deadline of a wait that has none (WAIT_COMMIT): the responder's
 * "no deadline" (handlers.h). */
#define WAIT_NEVER_MS ULLONG_MAX

static unsigned long long
monotonic_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (unsigned long long)ts.tv_sec * 1000u +
	       (unsigned long long)ts.tv_nsec / 1000000u;
}

/*
 * Parks the request: a watch on the worker for a last_event_id above
 * after (registered with the request's wake).  WR_OK with out->wait set,
 * or WR_OK with nothing set when the watch was satisfied at once (the
 * caller reads again and answers), or the watch's error
 * (too_many_waiters).
 */
static wr_err
park(const struct http_ctx *ctx, const struct http_request *req,
     const struct route_cmd *cmd, uint64_t after, struct http_response *out,
     struct wr_error *e)
{
	struct http_wait *w = calloc(1, sizeof(*w));
	wr_err rc;

	if (w == NULL)
		return fail(e, WR_EINTERNAL, WR_REASON_OUT_OF_MEMORY,
		            "out of memory");
	w->kind = WAIT_WATCH;
	w->cmd = *cmd;
	w->deadline_ms = monotonic_ms() + cmd->wait_ms;
	rc = wr_worker_watch(ctx->rt, cmd->worker_id, after, req->wake,
	                     req->wake_arg, &w->watch, e);
	if (rc != WR_OK || w->watch == NULL) {
		free(w);
		return rc;
	}
	out->wait = w;
	return WR_OK;
}

/* True if a request with this command may park at all. */
static bool
may_park(const struct http_request *req, const struct route_cmd *cmd)
{
	return req != NULL && req->wake != NULL && cmd->has_wait &&
	       cmd->wait_ms > 0;
}

/* ---- mutations: parked until durable ---------------------------------- */

/* The answer of a started mutation (blocks until its record is durable
 * or failed if it is not yet): the stored or new keyed answer, else the
 * operation's own.  Ends c. */
static wr_err
commit_answer(const struct route_cmd *cmd, struct wr_commit *c,
              struct http_response *out, struct wr_error *e)
{
	struct wr_mutation_result r;
	size_t len = 0;
	char *json;
	wr_err rc;

	if ((rc = wr_commit_finish(c, &r, e)) != WR_OK)
		return rc;
	if (r.keyed.body != NULL) {
		respond_keyed(out, &r.keyed);
	} else if (cmd->op == ROUTE_WORKER_CREATE) {
		json = wr_json_encode_worker_detail(r.worker, "worker", &len);
		rc = respond_json(out, 201, json, len, e);
		if (rc == WR_OK)
			add_header(out, "Location", "/v1/workers/%s",
			           r.worker->ref.worker_id);
	} else if (cmd->op == ROUTE_WORKER_INPUT) {
		json = wr_json_encode_input_ack(&r.input_ack, "ack", &len);
		rc = respond_json(out, 200, json, len, e);
	} else {
		json = wr_json_encode_lifecycle_ack(&r.lifecycle_ack, "ack",
		                                    &len);
		rc = respond_json(out, 200, json, len, e);
	}
	wr_mutation_result_clear(&r);
	return rc;
}

/*
 * Runs mutation m.  When its record still has to become durable and the
 * caller can park requests, the request is made durable on this thread
 * if it may lead and no commit round is running (wr_commit_lead), else
 * parked on the commit (no deadline: it is answered once the fdatasync
 * covering it returned, or failed) and the serving thread is free;
 * otherwise it is answered now (the memory store, a replayed key; or,
 * without wake, after blocking until durable).
 */
static wr_err
mutate(const struct http_ctx *ctx, const struct http_request *req,
       const struct route_cmd *cmd, struct wr_mutation *m,
       struct http_response *out, struct wr_error *e)
{
	bool can_park = req != NULL && req->wake != NULL, ready = false;
	struct http_wait *w = NULL;
	struct wr_idempotency k;
	struct wr_commit *c;
	wr_err rc;

	m->key = req != NULL ? idem_of(req, &k) : NULL;
	/* Made first: once started with wake, the request must park. */
	if (can_park && (w = calloc(1, sizeof(*w))) == NULL)
		return fail(e, WR_EINTERNAL, WR_REASON_OUT_OF_MEMORY,
		            "out of memory");
	m->lead = can_park && req->may_lead;
	rc = wr_mutation_start(ctx->rt, m, can_park ? req->wake : NULL,
	                       can_park ? req->wake_arg : NULL, &c, &ready, e);
	if (rc == WR_OK && !ready && m->lead && wr_commit_lead(c))
		ready = true; /* durable (or failed) on this thread */
	if (rc == WR_OK && !ready && w != NULL) {
		w->kind = WAIT_COMMIT;
		w->cmd = *cmd;
		w->deadline_ms = WAIT_NEVER_MS;
		w->commit = c;
		out->wait = w;
		return WR_OK;
	}
	free(w);
	return rc == WR_OK ? commit_answer(cmd, c, out, e) : rc;
}

/* An empty body means {} (all defaults). */
static wr_err
op_worker_create(const struct http_ctx *ctx, const struct http_request *req,
                 const struct route_cmd *cmd, struct http_response *out,
                 struct wr_error *e)
{
	struct wr_mutation m = {.op = WR_MUTATE_CREATE};
	struct wr_create_request *creq = NULL;
	wr_err rc = WR_OK;

	if (req->body_len > 0)
		rc = wr_json_decode_create_request(req->body, req->body_len,
		                                   NULL, &creq, e);
	if (rc == WR_OK) {
		m.create = creq;
		rc = mutate(ctx, req, cmd, &m, out, e);
	}
	wr_create_request_free(creq);
	return rc;
}

static wr_err
op_worker_input(const struct http_ctx *ctx, const struct http_request *req,
                const struct route_cmd *cmd, struct http_response *out,
                struct wr_error *e)
{
	struct wr_mutation m = {.op = WR_MUTATE_INPUT};
	struct wr_input in = {0};
	wr_err rc;

	rc = wr_json_decode_input(req->body, req->body_len, NULL, &in, e);
	if (rc == WR_OK) {
		m.worker_id = cmd->worker_id;
		m.input = &in;
		rc = mutate(ctx, req, cmd, &m, out, e);
	}
	wr_input_clear(&in);
	return rc;
}

/* Stop and cancel: an empty body is valid (no reason). */
static wr_err
op_worker_lifecycle(const struct http_ctx *ctx, const struct http_request *req,
                    const struct route_cmd *cmd, struct http_response *out,
                    struct wr_error *e)
{
	struct wr_mutation m = {.op = cmd->op == ROUTE_WORKER_STOP
	                                      ? WR_MUTATE_STOP
	                                      : WR_MUTATE_CANCEL};
	char *reason = NULL;
	wr_err rc;

	rc = wr_json_decode_lifecycle_request(req->body, req->body_len, NULL,
	                                      &reason, e);
	if (rc == WR_OK) {
		m.worker_id = cmd->worker_id;
		m.reason = reason;
		rc = mutate(ctx, req, cmd, &m, out, e);
	}
	free(reason);
	return rc;
}

static wr_err
op_worker_delete(const struct http_ctx *ctx, const struct http_request *req,
                 const struct route_cmd *cmd, struct http_response *out,
                 struct wr_error *e)
{
	struct wr_mutation m = {.op = WR_MUTATE_DELETE};

	m.worker_id = cmd->worker_id;
	return mutate(ctx, req, cmd, &m, out, e);
}

static wr_err
op_worker_get(const struct http_ctx *ctx, const struct http_request *req,
              const struct route_cmd *cmd, struct http_response *out,
              struct wr_error *e)
{
	struct wr_worker_info *info = NULL;
	size_t len;
	char *json;
	wr_err rc;

	rc = wr_worker_get(ctx->rt, cmd->worker_id, &info, e);
	if (rc != WR_OK)
		return rc;
	/* park() answers at once when the worker changed since or has
	 * ended (wr_worker_watch; docs/api.md, "Following a worker"). */
	if (may_park(req, cmd) && info->last_event_id <= cmd->after_event) {
		rc = park(ctx, req, cmd, cmd->after_event, out, e);
		if (rc != WR_OK || out->wait != NULL) {
			wr_worker_info_free(info);
			return rc;
		}
		/* Changed meanwhile: answer the detail as it is now. */
		wr_worker_info_free(info);
		info = NULL;
		if ((rc = wr_worker_get(ctx->rt, cmd->worker_id, &info, e)) !=
		    WR_OK)
			return rc;
	}
	json = wr_json_encode_worker_detail(info, "worker", &len);
	wr_worker_info_free(info);
	return respond_json(out, 200, json, len, e);
}

/*
 * A page (start, or after: entries with a sequence above it, which is the
 * same index).  With wait, an empty page of a running worker parks the
 * request on a watch after the page's own last_event_id, registered after
 * the read: whatever happened in between, or an ended worker (only its
 * deletion could still change it), makes the watch satisfied at once,
 * and the page is read again.
 */
static wr_err
op_worker_transcript(const struct http_ctx *ctx,
                     const struct http_request *req,
                     const struct route_cmd *cmd, struct http_response *out,
                     struct wr_error *e)
{
	struct wr_transcript_page page;
	uint64_t start = cmd->has_after_seq ? cmd->after_seq
	               : cmd->has_start ? cmd->start : 0;
	uint32_t limit = cmd->has_limit ? cmd->limit
	                                : WR_TRANSCRIPT_LIMIT_DEFAULT;
	size_t len;
	char *json;
	wr_err rc;

	rc = wr_worker_transcript(ctx->rt, cmd->worker_id, start, limit, &page,
	                          e);
	if (rc != WR_OK)
		return rc;
	if (may_park(req, cmd) && page.count == 0) {
		rc = park(ctx, req, cmd, page.last_event_id, out, e);
		if (rc != WR_OK || out->wait != NULL) {
			wr_transcript_page_clear(&page);
			return rc;
		}
		wr_transcript_page_clear(&page);
		rc = wr_worker_transcript(ctx->rt, cmd->worker_id, start,
		                          limit, &page, e);
		if (rc != WR_OK)
			return rc;
	}
	json = wr_json_encode_transcript_page(&page, "transcript", &len);
	wr_transcript_page_clear(&page);
	return respond_json(out, 200, json, len, e);
}

/* ---- operations about the Runtime as a service ---------------------- */

/* Health is "degraded" while the newest diagnostic is younger than this
 * (docs/api.md, GET /v1/health). */
#define HEALTH_DEGRADED_S 300

/* The newest diagnostic's time, or 0 when none was recorded. */
static int64_t
newest_diagnostic_ms(const struct http_ctx *ctx, uint64_t count)
{
	struct wr_diagnostic *d = NULL;
	size_t n = 0;
	bool more;
	int64_t at = 0;

	if (count == 0 || wr_runtime_diagnostics_page(ctx->rt, count - 1, 1, &d,
	                                              &n, &more, NULL) != WR_OK)
		return 0;
	if (n == 1)
		at = d[0].at_ms;
	free(d);
	return at;
}

static wr_err
op_health(const struct http_ctx *ctx, struct http_response *out,
          struct wr_error *e)
{
	struct wr_metrics m;
	char last[32] = "null", body[512];
	int64_t now = (int64_t)time(NULL) * 1000, at;
	bool degraded;
	int n;

	wr_runtime_metrics(ctx->rt, &m, NULL);
	if (m.status != WR_RUNTIME_RUNNING)
		return fail(e, WR_EUNAVAILABLE, m.status == WR_RUNTIME_STOPPING
		                ? WR_REASON_RUNTIME_STOPPING
		                : WR_REASON_RUNTIME_STOPPED,
		            "the runtime is %s; it takes no new work",
		            wr_runtime_status_name(m.status));
	if (m.store_failed)
		return fail(e, WR_EUNAVAILABLE, WR_REASON_STORE_FAILED,
		            "the store refuses writes after a failed write or "
		            "sync (see GET /v1/runtime/diagnostics)");
	at = newest_diagnostic_ms(ctx, m.diagnostics);
	degraded = at != 0 && now - at < HEALTH_DEGRADED_S * 1000;
	if (at != 0) {
		char t[25];
		wr_time_format(at, t);
		snprintf(last, sizeof(last), "\"%s\"", t);
	}
	n = snprintf(body, sizeof(body),
	             "{\"health\":{\"status\":\"%s\",\"runtime_status\":"
	             "\"running\",\"store\":{\"backend\":\"%s\",\"status\":"
	             "\"ok\"},\"uptime_s\":%lld,\"diagnostic_count\":%llu,"
	             "\"last_diagnostic_at\":%s}}",
	             degraded ? "degraded" : "ok", m.backend,
	             (long long)(now > m.started_at_ms
	                         ? (now - m.started_at_ms) / 1000 : 0),
	             (unsigned long long)m.diagnostics, last);
	return respond_json(out, 200, strndup(body, (size_t)n), (size_t)n, e);
}

static wr_err
op_metrics(const struct http_ctx *ctx, struct http_response *out,
           struct wr_error *e)
{
	struct wr_metrics m;
	size_t len = 0;
	char *text;
	wr_err rc;

	if ((rc = wr_runtime_metrics(ctx->rt, &m, e)) != WR_OK)
		return rc;
	text = http_metrics_render(ctx, &m, &len);
	rc = respond_json(out, 200, text, len, e);
	if (rc == WR_OK)
		out->content_type = "text/plain; version=0.0.4; charset=utf-8";
	return rc;
}

static wr_err
op_diagnostics(const struct http_ctx *ctx, const struct route_cmd *cmd,
               struct http_response *out, struct wr_error *e)
{
	struct wr_diagnostic *v = NULL;
	size_t n = 0, len = 0;
	bool more = false;
	char *json;
	wr_err rc;

	rc = wr_runtime_diagnostics_page(ctx->rt,
	                                 cmd->has_diag_after ? cmd->diag_after
	                                                     : 0,
	                                 cmd->has_limit ? cmd->limit : 0, &v,
	                                 &n, &more, e);
	if (rc != WR_OK)
		return rc;
	json = wr_json_encode_diagnostic_page(v, n, more, &len);
	free(v);
	return respond_json(out, 200, json, len, e);
}

/* Writes s as a JSON string (the catalog's texts are static ASCII). */
static void
put_json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s != '\0'; s++) {
		if (*s == '"' || *s == '\\')
			fprintf(f, "\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			fprintf(f, "\\u%04x", (unsigned)*s);
		else
			fputc(*s, f);
	}
	fputc('"', f);
}

/* Every code: the statuses status_rules[] gives it, retryable when a
 * rule of it sends Retry-After, and its message. */
static void
catalog_codes(FILE *f)
{
	size_t nr = sizeof(status_rules) / sizeof(status_rules[0]);

	fputs("\"codes\":[", f);
	for (int c = WR_OK + 1; c < WR__ERR_COUNT; c++) {
		bool retry = false, first = true;

		fprintf(f, "%s{\"code\":\"%s\",\"statuses\":[",
		        c > WR_OK + 1 ? "," : "", wr_err_name((wr_err)c));
		for (size_t i = 0; i < nr; i++) {
			bool seen = false;

			if (status_rules[i].code != (wr_err)c)
				continue;
			retry |= (status_rules[i].headers & HDR_RETRY_AFTER) != 0;
			for (size_t j = 0; j < i; j++)
				seen |= status_rules[j].code == (wr_err)c &&
				        status_rules[j].status ==
				        status_rules[i].status;
			if (!seen)
				fprintf(f, "%s%d", first ? "" : ",",
				        status_rules[i].status);
			first &= seen;
		}
		fprintf(f, "],\"retryable\":%s,\"message\":",
		        retry ? "true" : "false");
		put_json_str(f, wr_strerror((wr_err)c));
		fputc('}', f);
	}
	fputc(']', f);
}

/* Every reason but the empty one: its code (wr_reason_code), the status
 * status_rules[] answers it with, and its message. */
static void
catalog_reasons(FILE *f)
{
	fputs("\"reasons\":[", f);
	for (int r = WR_REASON_NONE + 1; r < WR__REASON_COUNT; r++) {
		struct wr_error e = {.code = wr_reason_code((enum wr_reason)r),
		                     .reason = (enum wr_reason)r};
		const struct status_rule *rule = status_rule_find(&e);

		fprintf(f, "%s{\"reason\":\"%s\",\"code\":\"%s\","
		        "\"status\":%d,\"retryable\":%s,\"message\":",
		        r > WR_REASON_NONE + 1 ? "," : "",
		        wr_reason_name((enum wr_reason)r), wr_err_name(e.code),
		        rule->status,
		        (rule->headers & HDR_RETRY_AFTER) ? "true" : "false");
		put_json_str(f, wr_reason_message((enum wr_reason)r));
		fputc('}', f);
	}
	fputc(']', f);
}

/* GET /v1/errors: the catalog, built from the tables that build every
 * error response (status_rules[], WR_ERROR_TABLE, WR_REASON_TABLE and
 * wr_reason_code). */
static wr_err
op_errors(struct http_response *out, struct wr_error *e)
{
	char *buf = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&buf, &n);
	bool bad;

	if (f == NULL)
		return fail(e, WR_EINTERNAL, WR_REASON_OUT_OF_MEMORY,
		            "out of memory");
	fputs("{\"errors\":{", f);
	catalog_codes(f);
	fputc(',', f);
	catalog_reasons(f);
	fputs("}}", f);
	bad = ferror(f) != 0;
	if (fclose(f) != 0 || bad) {
		free(buf);
		buf = NULL;
	}
	return respond_json(out, 200, buf, n, e);
}

static wr_err
dispatch(const struct http_ctx *ctx, const struct http_request *req,
         const struct route_cmd *cmd, struct http_response *out,
         struct wr_error *e)
{
	wr_err rc;

	switch (cmd->op) {
	case ROUTE_RUNTIME_GET:
		return op_runtime_get(ctx, out, e);
	case ROUTE_WORKERS_LIST:
		return op_workers_list(ctx, cmd, out, e);
	case ROUTE_WORKER_GET:
		return op_worker_get(ctx, req, cmd, out, e);
	case ROUTE_WORKER_TRANSCRIPT:
		return op_worker_transcript(ctx, req, cmd, out, e);
	case ROUTE_WORKER_DELETE: /* a body, if any, is ignored */
		return op_worker_delete(ctx, req, cmd, out, e);
	case ROUTE_HEALTH:
		return op_health(ctx, out, e);
	case ROUTE_METRICS:
		return op_metrics(ctx, out, e);
	case ROUTE_DIAGNOSTICS:
		return op_diagnostics(ctx, cmd, out, e);
	case ROUTE_ERRORS:
		return op_errors(out, e);
	case ROUTE_WORKER_CREATE:
	case ROUTE_WORKER_INPUT:
	case ROUTE_WORKER_STOP:
	case ROUTE_WORKER_CANCEL:
		break;
	}
	/* POST: a GET's body is ignored, a POST's is gated first. */
	rc = check_post_body(ctx, req, e);
	if (rc != WR_OK)
		return rc;
	switch (cmd->op) {
	case ROUTE_WORKER_CREATE:
		return op_worker_create(ctx, req, cmd, out, e);
	case ROUTE_WORKER_INPUT:
		return op_worker_input(ctx, req, cmd, out, e);
	default:
		return op_worker_lifecycle(ctx, req, cmd, out, e);
	}
}

/* Library errors: trust the return value over the detail, and make
 * unknown_worker always name the worker. */
static void
library_error(struct wr_error *e, wr_err rc, const struct route_cmd *cmd)
{
	e->code = rc;
	if (e->message[0] == '\0')
		snprintf(e->message, sizeof(e->message), "%s", wr_strerror(rc));
	if (rc == WR_EUNKNOWN_WORKER && e->worker_id[0] == '\0')
		snprintf(e->worker_id, sizeof(e->worker_id), "%s",
		         cmd->worker_id);
}

void
http_handle(const struct http_ctx *ctx, const struct http_request *req,
            struct http_response *out)
{
	struct http_request r = *req;
	struct route_error rerr;
	struct route_cmd cmd;
	struct wr_error e;
	const char *allow = NULL;
	char rid_buf[REQUEST_ID_SIZE];
	const char *rid = request_id_or_new(req->request_id, rid_buf);
	wr_err rc, route_rc = WR_ENOT_FOUND;

	memset(out, 0, sizeof(*out));
	wr_error_clear(&e);
	wr_error_clear(&rerr.err);
	if (r.body == NULL)
		r.body_len = 0;
	if (r.body_len == 0)
		r.body = "";

	if (http_browser_request(r.origin, r.sec_fetch_site)) {
		rc = fail(&e, WR_EFORBIDDEN, WR_REASON_BROWSER_REQUEST,
		          "browser-originated requests (with Origin or "
		          "Sec-Fetch-Site) are refused; call the Runtime from "
		          "the Backend");
	} else if (ctx->token != NULL &&
	           !tokens_match(ctx->token, r.authorization)) {
		bool missing = r.authorization == NULL ||
		               r.authorization[0] == '\0';

		rc = fail(&e, WR_EUNAUTHORIZED,
		          missing ? WR_REASON_MISSING_TOKEN
		                  : WR_REASON_WRONG_TOKEN,
		          "missing or wrong Authorization: Bearer token");
	} else if (atomic_load_explicit(&ctx->rt, memory_order_acquire) ==
	           NULL) {
		rc = fail(&e, WR_EUNAVAILABLE, WR_REASON_RESTORING,
		          "the runtime is restoring its store; the request was "
		          "not acted on, retry after Retry-After");
	} else if ((rc = route_rc = route_decode(r.method, r.uri, &cmd,
	                                         &rerr)) != WR_OK) {
		e = rerr.err;
		allow = rerr.allow;
	} else if ((rc = dispatch(ctx, &r, &cmd, out, &e)) != WR_OK) {
		library_error(&e, rc, &cmd);
	}
	if (out->wait != NULL) {
		/* Parked: http_wait_finish answers, naming the request. */
		snprintf(out->wait->rid, sizeof(out->wait->rid), "%s", rid);
		return;
	}
	if (rc != WR_OK) {
		/* out->body is still NULL */
		respond_error(ctx, &e, allow, rid, out);
		out->reason = e.reason;
	}
	/* Refused requests too (auth, query, method, body) carry the route
	 * they were meant for; "" only when the path matches none. */
	out->route = route_rc == WR_OK ? route_template(cmd.op)
	                               : route_template_of(r.method, r.uri);
	add_header(out, "X-Request-Id", "%s", rid); /* every answer names
	                                             * its request */
}

unsigned long long
http_wait_deadline_ms(const struct http_wait *w)
{
	return w->deadline_ms;
}

bool
http_wait_is_commit(const struct http_wait *w)
{
	return w->kind == WAIT_COMMIT;
}

void
http_wait_finish(const struct http_ctx *ctx, struct http_wait *w,
                 struct http_response *out)
{
	struct wr_error e;
	wr_err rc;

	memset(out, 0, sizeof(*out));
	wr_error_clear(&e);
	if (w->kind == WAIT_COMMIT) {
		/* Its answer, once durable (blocks until then if it is
		 * not yet: the responder stops, or the client left). */
		rc = commit_answer(&w->cmd, w->commit, out, &e);
	} else {
		wr_watch_cancel(w->watch); /* its wake is over and done with */
		/* The same operation, answered now (a NULL request never
		 * parks). */
		rc = dispatch(ctx, NULL, &w->cmd, out, &e);
	}
	if (rc != WR_OK) {
		library_error(&e, rc, &w->cmd);
		respond_error(ctx, &e, NULL, w->rid, out);
		out->reason = e.reason;
	}
	out->route = route_template(w->cmd.op);
	add_header(out, "X-Request-Id", "%s", w->rid);
	free(w);
}

void
http_request_done(const struct http_ctx *ctx, const struct http_request *req,
                  const struct http_response *res,
                  unsigned long long duration_us,
                  unsigned long long bytes_sent, bool cut)
{
	const char *rid = NULL;

	(void)ctx;
	http_metrics_count(res->route, req->method, res->status, duration_us);
	if (cut)
		http_metrics_count_cut();
	for (size_t i = 0; i < res->n_headers && i < HTTP_MAX_HEADERS; i++)
		if (strcmp(res->headers[i].name, "X-Request-Id") == 0)
			rid = res->headers[i].value;
	if (rid == NULL && request_id_valid(req->request_id))
		rid = req->request_id;
	log_access(req->method, res->route, res->status,
	           wr_reason_name(res->reason),
	           duration_us, bytes_sent, cut, rid);
}

bool
http_browser_request(const char *origin, const char *sec_fetch_site)
{
	return (origin != NULL && origin[0] != '\0') ||
	       (sec_fetch_site != NULL && sec_fetch_site[0] != '\0');
}

void
http_response_clear(struct http_response *r)
{
	if (r == NULL)
		return;
	if (r->body != oom_body)
		free(r->body);
	memset(r, 0, sizeof(*r));
}

const char *http_reason_phrase(int status)
{
	switch (status) {
	case 200: return "OK";
	case 201: return "Created";
	case 202: return "Accepted";
	case 204: return "No Content";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 409: return "Conflict";
	case 411: return "Length Required";
	case 413: return "Content Too Large";
	case 415: return "Unsupported Media Type";
	case 422: return "Unprocessable Content";
	case 429: return "Too Many Requests";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	}
	/* Any other: the name of its class (RFC 9110, section 15). */
	switch (status / 100) {
	case 1: return "Informational";
	case 2: return "Successful";
	case 3: return "Redirection";
	case 4: return "Client Error";
	default: return "Server Error";
	}
}
