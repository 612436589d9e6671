/*
 * test_service.c - the routes about the Runtime as a service, through
 * http_handle() with no socket: GET /v1/health, /v1/metrics,
 * /v1/runtime/diagnostics and /v1/errors (shapes, errors, paging bounds),
 * the request counters http_request_done feeds, and the error catalog's
 * contract: every reason the product can answer is in it, with the
 * code docs/api.md gives it.  Bodies are read with json-c.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <json-c/json.h>

#include "core/rt.h"
#include "handlers.h"
#include "tmpdir.h"

static struct wr_runtime *rt;
static struct http_ctx ctx;

static void
setup(void)
{
	struct wr_config cfg = {.runtime_id = "rt-service"};
	struct wr_error err;

	cr_assert_eq(wr_runtime_open(&cfg, &rt, &err), WR_OK, "%s",
	             err.message);
	ctx = (struct http_ctx){.rt = rt, .max_body = 4096,
	                        .retry_after_s = 3};
}

static void
teardown(void)
{
	wr_runtime_close(rt);
	rt = NULL;
}

TestSuite(service, .init = setup, .fini = teardown, .timeout = 20);

/* ---- helpers ------------------------------------------------------- */

static void
call(const char *method, const char *uri, struct http_response *r)
{
	struct http_request q = {.method = method, .uri = uri};

	http_handle(&ctx, &q, r);
	cr_assert_not_null(r->body);
	cr_assert_eq(r->body_len, strlen(r->body));
}

/* The body parsed; the caller puts it. */
static json_object *
parse(const struct http_response *r)
{
	json_object *o = json_tokener_parse(r->body);

	cr_assert_not_null(o, "not JSON: %s", r->body);
	return o;
}

static json_object *
member(json_object *o, const char *path)
{
	char buf[128], *save = NULL;

	snprintf(buf, sizeof(buf), "%s", path);
	for (char *k = strtok_r(buf, ".", &save); k != NULL;
	     k = strtok_r(NULL, ".", &save))
		cr_assert(json_object_object_get_ex(o, k, &o), "no %s", path);
	return o;
}

static const char *
str_at(json_object *o, const char *path)
{
	return json_object_get_string(member(o, path));
}

static int64_t
int_at(json_object *o, const char *path)
{
	return json_object_get_int64(member(o, path));
}

static void
expect_error(const struct http_response *r, int status, const char *code,
             const char *reason, const char *field)
{
	json_object *o = parse(r);

	cr_assert_eq(r->status, status, "%d %s", r->status, r->body);
	cr_assert_str_eq(str_at(o, "error.code"), code, "%s", r->body);
	if (reason[0] == '\0')
		cr_assert_not(json_object_object_get_ex(member(o, "error"),
		                                        "reason", NULL),
		              "%s", r->body);
	else
		cr_assert_str_eq(str_at(o, "error.reason"), reason, "%s",
		                 r->body);
	if (field != NULL)
		cr_assert_str_eq(str_at(o, "error.field"), field, "%s",
		                 r->body);
	json_object_put(o);
}

/* ---- GET /v1/health ------------------------------------------------ */

Test(service, health_is_ok_on_a_fresh_runtime)
{
	struct http_response r;
	json_object *o;

	call("GET", "/v1/health", &r);
	cr_assert_eq(r.status, 200, "%s", r.body);
	cr_assert_null(r.content_type);
	cr_assert_str_eq(r.route, "/v1/health");
	o = parse(&r);
	cr_assert_str_eq(str_at(o, "health.status"), "ok");
	cr_assert_str_eq(str_at(o, "health.runtime_status"), "running");
	cr_assert_str_eq(str_at(o, "health.store.backend"), "memory");
	cr_assert_str_eq(str_at(o, "health.store.status"), "ok");
	cr_assert_geq(int_at(o, "health.uptime_s"), 0);
	cr_assert_eq(int_at(o, "health.diagnostic_count"), 0);
	cr_assert(json_object_is_type(member(o, "health.last_diagnostic_at"),
	                              json_type_null));
	json_object_put(o);
	http_response_clear(&r);
}

Test(service, health_is_degraded_after_a_recent_diagnostic)
{
	struct http_response r;
	json_object *o;

	wr_runtime_diagnose(rt, NULL, "something went wrong");
	call("GET", "/v1/health", &r);
	cr_assert_eq(r.status, 200, "%s", r.body);
	o = parse(&r);
	cr_assert_str_eq(str_at(o, "health.status"), "degraded");
	cr_assert_eq(int_at(o, "health.diagnostic_count"), 1);
	cr_assert(json_object_is_type(member(o, "health.last_diagnostic_at"),
	                              json_type_string));
	json_object_put(o);
	http_response_clear(&r);
}

Test(service, health_is_503_runtime_stopped_once_the_runtime_stopped)
{
	struct http_response r;

	cr_assert_eq(wr_runtime_stop(rt, NULL), WR_OK);
	call("GET", "/v1/health", &r);
	expect_error(&r, 503, "runtime_unavailable", "runtime_stopped", NULL);
	cr_assert_eq(r.reason, WR_REASON_RUNTIME_STOPPED);
	http_response_clear(&r);
}

static int
failing_fdatasync(int fd)
{
	(void)fd;
	errno = EIO;
	return -1;
}

Test(service, health_is_503_store_failed_while_the_store_refuses_writes)
{
	static const struct wr__fs_io io = {.fdatasync = failing_fdatasync};
	struct wr_config cfg = {.runtime_id = "rt-service"};
	char dir[TEST_TMPDIR_SIZE], spec[TEST_TMPDIR_SIZE + 16];
	struct http_response r;
	struct wr_error err;

	wr_runtime_close(rt);
	test_tmpdir_create(dir, sizeof(dir), "service");
	snprintf(spec, sizeof(spec), "fs:%s/s", dir);
	cfg.store = spec;
	cr_assert_eq(wr_runtime_open(&cfg, &rt, &err), WR_OK, "%s",
	             err.message);
	ctx.rt = rt;
	wr__store_fs_set_io(wr__runtime_store(rt), &io);
	call("POST", "/v1/workers", &r);
	cr_assert_eq(r.status, 503, "%s", r.body);
	http_response_clear(&r);
	call("GET", "/v1/health", &r);
	expect_error(&r, 503, "runtime_unavailable", "store_failed", NULL);
	http_response_clear(&r);
	wr_runtime_close(rt);
	rt = NULL;
	test_tmpdir_remove(dir);
}

Test(service, health_is_503_restoring_while_the_store_replays)
{
	struct http_response r;

	ctx.rt = NULL;
	call("GET", "/v1/health", &r);
	expect_error(&r, 503, "runtime_unavailable", "restoring", NULL);
	http_response_clear(&r);
}

Test(service, the_service_routes_take_only_get)
{
	static const char *const uris[] = {"/v1/health", "/v1/metrics",
	                                   "/v1/errors",
	                                   "/v1/runtime/diagnostics"};
	struct http_response r;

	for (size_t i = 0; i < 4; i++) {
		call("POST", uris[i], &r);
		expect_error(&r, 405, "unsupported_operation",
		             "method_not_allowed", NULL);
		http_response_clear(&r);
		call("GET", "/v1/health/", &r);
		cr_assert_eq(r.status, 404);
		http_response_clear(&r);
	}
	call("GET", "/v1/health?verbose=1", &r);
	expect_error(&r, 400, "invalid_input", "unknown_parameter", "verbose");
	http_response_clear(&r);
}

/* ---- GET /v1/metrics ----------------------------------------------- */

static bool
has_line(const char *text, const char *line)
{
	size_t n = strlen(line);

	for (const char *p = text; (p = strstr(p, line)) != NULL; p += n)
		if ((p == text || p[-1] == '\n') && p[n] == '\n')
			return true;
	return false;
}

static void
count_request(const char *method, const char *uri)
{
	struct http_request q = {.method = method, .uri = uri};
	struct http_response r;

	http_handle(&ctx, &q, &r);
	http_request_done(&ctx, &q, &r, 1500, 100, false);
	http_response_clear(&r);
}

Test(service, metrics_are_prometheus_text_with_help_and_type)
{
	struct http_response r;
	struct http_request q = {.method = "POST", .uri = "/v1/workers"};

	http_handle(&ctx, &q, &r);
	cr_assert_eq(r.status, 201);
	http_response_clear(&r);
	call("GET", "/v1/metrics", &r);
	cr_assert_eq(r.status, 200);
	cr_assert_str_eq(r.content_type,
	                 "text/plain; version=0.0.4; charset=utf-8");
	cr_assert(has_line(r.body, "# TYPE worker_runtime_workers gauge"),
	          "%s", r.body);
	cr_assert(has_line(r.body, "worker_runtime_workers{status=\"running\","
	                           "run_state=\"idle\"} 1"), "%s", r.body);
	cr_assert(has_line(r.body, "# TYPE worker_runtime_inputs_total "
	                           "counter"), "%s", r.body);
	cr_assert(has_line(r.body, "worker_runtime_store_failed 0"));
	cr_assert(has_line(r.body, "worker_runtime_status{status=\"running\"}"
	                           " 1"), "%s", r.body);
	/* no responder here: no serving-thread series */
	cr_assert_null(strstr(r.body, "worker_runtime_http_threads"));
	http_response_clear(&r);
}

/* An answer the peer did not take whole (it closed or stopped reading) is
 * counted as answered, by its status, and once more as cut short. */
Test(service, an_answer_cut_short_is_counted_as_cut)
{
	struct http_request q = {.method = "GET", .uri = "/v1/runtime"};
	struct http_response r;

	http_handle(&ctx, &q, &r);
	http_request_done(&ctx, &q, &r, 1500, 0, true);
	http_response_clear(&r);
	count_request("GET", "/v1/runtime");
	call("GET", "/v1/metrics", &r);
	cr_assert(has_line(r.body, "# TYPE worker_runtime_http_answers_cut_"
	                           "total counter"), "%s", r.body);
	cr_assert(has_line(r.body, "worker_runtime_http_answers_cut_total 1"),
	          "%s", r.body);
	cr_assert(has_line(r.body, "worker_runtime_http_requests_total{route="
	                           "\"/v1/runtime\",method=\"GET\","
	                           "status=\"200\"} 2"), "%s", r.body);
	http_response_clear(&r);
}

Test(service, requests_are_counted_by_route_template_method_and_status)
{
	struct http_response r;

	count_request("GET", "/v1/workers/w-1");
	count_request("GET", "/v1/workers/w-2");
	count_request("GET", "/v1/no/such/route");
	count_request("PATCH", "/v1/runtime");
	count_request("GET", "/v1/workers?limit=abc");
	call("GET", "/v1/metrics", &r);
	cr_assert(has_line(r.body, "worker_runtime_http_requests_total{route="
	                           "\"/v1/workers/{id}\",method=\"GET\","
	                           "status=\"404\"} 2"), "%s", r.body);
	cr_assert(has_line(r.body, "worker_runtime_http_requests_total{route="
	                           "\"unmatched\",method=\"GET\","
	                           "status=\"404\"} 1"), "%s", r.body);
	/* refused on a known path: that path's template, not unmatched */
	cr_assert(has_line(r.body, "worker_runtime_http_requests_total{route="
	                           "\"/v1/runtime\",method=\"other\","
	                           "status=\"405\"} 1"), "%s", r.body);
	cr_assert(has_line(r.body, "worker_runtime_http_requests_total{route="
	                           "\"/v1/workers\",method=\"GET\","
	                           "status=\"400\"} 1"), "%s", r.body);
	cr_assert_null(strstr(r.body, "w-1"), "a raw path became a label");
	/* 1.5 ms: above the 1 ms bucket, inside the 2.5 ms one */
	cr_assert(has_line(r.body, "worker_runtime_http_request_duration_"
	                           "seconds_bucket{route=\"/v1/workers/{id}\","
	                           "le=\"0.001\"} 0"), "%s", r.body);
	cr_assert(has_line(r.body, "worker_runtime_http_request_duration_"
	                           "seconds_bucket{route=\"/v1/workers/{id}\","
	                           "le=\"0.0025\"} 2"), "%s", r.body);
	cr_assert(has_line(r.body, "worker_runtime_http_request_duration_"
	                           "seconds_count{route=\"/v1/workers/{id}\"}"
	                           " 2"), "%s", r.body);
	http_response_clear(&r);
}

static void
fake_stats(struct http_server_stats *out)
{
	*out = (struct http_server_stats){.threads = 4, .threads_busy = 1,
	                                  .parked = 2, .queued = 3,
	                                  .idle_connections = 5};
}

Test(service, metrics_include_the_responder_figures_when_given)
{
	struct http_response r;

	ctx.server_stats = fake_stats;
	call("GET", "/v1/metrics", &r);
	cr_assert(has_line(r.body, "worker_runtime_http_threads{state="
	                           "\"busy\"} 1"), "%s", r.body);
	cr_assert(has_line(r.body, "worker_runtime_http_threads{state="
	                           "\"idle\"} 3"), "%s", r.body);
	cr_assert(has_line(r.body, "worker_runtime_http_requests_parked 2"));
	cr_assert(has_line(r.body, "worker_runtime_http_requests_queued 3"));
	cr_assert(has_line(r.body, "worker_runtime_http_connections_idle 5"));
	http_response_clear(&r);
}

/* ---- GET /v1/runtime/diagnostics ----------------------------------- */

Test(service, diagnostics_are_paged_with_next_after)
{
	struct http_response r;
	json_object *o, *items;

	for (int i = 1; i <= 3; i++)
		wr_runtime_diagnose(rt, i == 2 ? "w-x" : NULL, "diag %d", i);
	call("GET", "/v1/runtime/diagnostics?limit=2", &r);
	cr_assert_eq(r.status, 200, "%s", r.body);
	o = parse(&r);
	items = member(o, "diagnostics");
	cr_assert_eq(json_object_array_length(items), 2);
	cr_assert_eq(int_at(json_object_array_get_idx(items, 0), "id"), 1);
	cr_assert_str_eq(str_at(json_object_array_get_idx(items, 1),
	                        "worker_id"), "w-x");
	cr_assert_str_eq(str_at(json_object_array_get_idx(items, 1),
	                        "message"), "diag 2");
	cr_assert_eq(int_at(o, "next_after"), 2);
	json_object_put(o);
	http_response_clear(&r);

	call("GET", "/v1/runtime/diagnostics?after=2&limit=2", &r);
	o = parse(&r);
	items = member(o, "diagnostics");
	cr_assert_eq(json_object_array_length(items), 1);
	cr_assert(json_object_is_type(member(json_object_array_get_idx(items,
	                                     0), "worker_id"),
	                              json_type_null));
	cr_assert(json_object_is_type(member(o, "next_after"),
	                              json_type_null));
	json_object_put(o);
	http_response_clear(&r);
}

Test(service, diagnostics_refuse_bad_paging)
{
	struct http_response r;

	call("GET", "/v1/runtime/diagnostics?limit=129", &r);
	expect_error(&r, 400, "invalid_input", "limit_too_large", "limit");
	http_response_clear(&r);
	call("GET", "/v1/runtime/diagnostics?after=x", &r);
	expect_error(&r, 400, "invalid_input", "invalid_query", "after");
	http_response_clear(&r);
	call("GET", "/v1/runtime/diagnostics?status=failed", &r);
	expect_error(&r, 400, "invalid_input", "unknown_parameter", "status");
	http_response_clear(&r);
	call("GET", "/v1/runtime/diagnostics?limit=128", &r);
	cr_assert_eq(r.status, 200);
	http_response_clear(&r);
}

/* ---- GET /v1/errors: the catalog and its contract ------------------- */

/* The catalog entry named name in array a under key; NULL if none. */
static json_object *
find(json_object *a, const char *key, const char *name)
{
	for (size_t i = 0; i < json_object_array_length(a); i++) {
		json_object *e = json_object_array_get_idx(a, i);

		if (strcmp(str_at(e, key), name) == 0)
			return e;
	}
	return NULL;
}

static json_object *
catalog(void)
{
	struct http_response r;
	json_object *o;

	call("GET", "/v1/errors", &r);
	cr_assert_eq(r.status, 200, "%s", r.body);
	o = parse(&r);
	http_response_clear(&r);
	return o;
}

Test(service, the_catalog_lists_every_code_with_statuses_and_retryability)
{
	json_object *o = catalog(), *codes = member(o, "errors.codes");

	cr_assert_eq(json_object_array_length(codes), WR__ERR_COUNT - 1);
	for (int c = WR_OK + 1; c < WR__ERR_COUNT; c++) {
		json_object *e = find(codes, "code", wr_err_name((wr_err)c));

		cr_assert_not_null(e, "code %s missing", wr_err_name((wr_err)c));
		cr_assert_gt(json_object_array_length(member(e, "statuses")), 0);
		cr_assert_str_eq(str_at(e, "message"), wr_strerror((wr_err)c));
	}
	cr_assert(json_object_get_boolean(member(find(codes, "code", "busy"),
	                                         "retryable")));
	cr_assert_not(json_object_get_boolean(member(find(codes, "code",
	                                                  "invalid_input"),
	                                             "retryable")));
	cr_assert_eq(json_object_array_length(member(find(codes, "code",
	                                                  "invalid_input"),
	                                             "statuses")), 4);
	json_object_put(o);
}

/*
 * The contract: every reason the product can put in an error (every row
 * of WR_REASON_TABLE - the handlers, the library and the responder's own
 * answers all name reasons by these enumerators) is in the catalog with
 * a code, and that code's statuses include the reason's.
 */
Test(service, every_reason_the_product_can_answer_is_in_the_catalog)
{
	json_object *o = catalog(), *codes = member(o, "errors.codes");
	json_object *reasons = member(o, "errors.reasons");

	cr_assert_eq(json_object_array_length(reasons), WR__REASON_COUNT - 1);
	for (int i = WR_REASON_NONE + 1; i < WR__REASON_COUNT; i++) {
		const char *name = wr_reason_name((enum wr_reason)i);
		json_object *e = find(reasons, "reason", name), *c, *st;
		bool listed = false;

		cr_assert_not_null(e, "reason %s missing", name);
		cr_assert_neq(wr_reason_code((enum wr_reason)i), WR_OK,
		              "reason %s has no code (src/base/errors.c)", name);
		c = find(codes, "code", str_at(e, "code"));
		cr_assert_not_null(c, "reason %s: code %s", name,
		                   str_at(e, "code"));
		st = member(c, "statuses");
		for (size_t k = 0; k < json_object_array_length(st); k++)
			listed |= json_object_get_int(json_object_array_get_idx(
			                  st, k)) == int_at(e, "status");
		cr_assert(listed, "reason %s: status %d not among %s's", name,
		          (int)int_at(e, "status"), str_at(e, "code"));
	}
	json_object_put(o);
}

/* The catalog and docs/api.md "All reasons" agree on every reason's code
 * (tests/reasons-documented.sh checks the rows exist; this, the codes). */
Test(service, every_catalog_reason_is_documented_with_its_code)
{
	json_object *o = catalog(), *reasons = member(o, "errors.reasons");
	FILE *f = fopen(WR_TOP_SRCDIR "/docs/api.md", "r");
	static char doc[1 << 20];
	size_t n;

	cr_assert_not_null(f, "docs/api.md");
	n = fread(doc, 1, sizeof(doc) - 1, f);
	doc[n] = '\0';
	fclose(f);
	cr_assert_not_null(strstr(doc, "\n## All reasons\n"));
	for (size_t i = 0; i < json_object_array_length(reasons); i++) {
		json_object *e = json_object_array_get_idx(reasons, i);
		char row[128];

		snprintf(row, sizeof(row), "\n| `%s` | `%s`",
		         str_at(e, "reason"), str_at(e, "code"));
		cr_assert_not_null(strstr(strstr(doc, "\n## All reasons\n"),
		                          row),
		                   "docs/api.md All reasons lacks %s", row + 1);
	}
	json_object_put(o);
}

Test(service, the_catalog_answers_statuses_as_the_responses_do)
{
	json_object *o = catalog(), *reasons = member(o, "errors.reasons");
	struct http_response r;

	/* a few reasons whose status is reachable here, answered for real */
	call("GET", "/v1/workers/w-none", &r); /* 404 unknown_worker: none */
	http_response_clear(&r);
	call("PUT", "/v1/runtime", &r);
	cr_assert_eq(r.status, int_at(find(reasons, "reason",
	                                   "method_not_allowed"), "status"));
	http_response_clear(&r);
	call("GET", "/v1/workers?limit=100000", &r);
	cr_assert_eq(r.status, int_at(find(reasons, "reason",
	                                   "limit_too_large"), "status"));
	http_response_clear(&r);
	cr_assert_eq(int_at(find(reasons, "reason", "payload_too_large"),
	                    "status"), 413);
	cr_assert_eq(int_at(find(reasons, "reason", "turn_in_progress"),
	                    "status"), 409);
	cr_assert(json_object_get_boolean(member(find(reasons, "reason",
	                                              "restoring"),
	                                         "retryable")));
	json_object_put(o);
}

Test(service, the_service_paths_match_exactly)
{
	static const char *const missing[] = {
		"/v1/runtime/diagnostics/", "/v1/runtime/other",
		"/v1/runtime/diagnostics/1", "/v1/healthz", "/v1/error"};
	struct http_response r;

	for (size_t i = 0; i < sizeof(missing) / sizeof(missing[0]); i++) {
		call("GET", missing[i], &r);
		expect_error(&r, 404, "not_found", "", NULL);
		cr_assert_str_eq(r.route, "", "%s", missing[i]);
		http_response_clear(&r);
	}
	call("GET", "/v1/metrics?limit=1", &r);
	expect_error(&r, 400, "invalid_input", "unknown_parameter", "limit");
	http_response_clear(&r);
	call("GET", "/v1/runtime/diagnostics?after=1&after=2", &r);
	expect_error(&r, 400, "invalid_input", "invalid_query", "after");
	http_response_clear(&r);
}
