/*
 * test_handlers.c - http_handle() against a real Runtime, no sockets.
 *
 * Every test gets a fresh memory-store Runtime (.init/.fini; Criterion forks
 * per test).  Bodies are decoded with the library's own decoders, so a test
 * asserts on values, not on text.  The "slow" profile uses the busy test
 * driver (test_driver.h): an input starts a turn that ends only when the
 * test calls wr_worker_turn_end().
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <criterion/criterion.h>

#include "handlers.h"
#include "metrics.h"
#include "http_fixture.h"
#include "test_driver.h"

#define RUNTIME_ID "rt-handlers"
#define MAX_ITEMS 8
#define MAX_BODY 4096
#define RETRY_S 7
#define WAKE_WAIT_S 5 /* a wake awaited comes within (suite bound 20 s) */

static struct wr_runtime *rt;
static struct http_ctx ctx;
static const struct wr_profile profiles[] = {
	{"slow", &wr_test_busy_driver, NULL},
};

static void
setup(void)
{
	struct wr_config cfg = {
		.runtime_id = RUNTIME_ID,
		.limits = {.max_transcript_projection_items = MAX_ITEMS},
		.profiles = profiles,
		.n_profiles = 1,
	};
	struct wr_error err;

	cr_assert_eq(wr_runtime_open(&cfg, &rt, &err), WR_OK, "%s",
	             err.message);
	ctx = (struct http_ctx){
		.rt = rt, .token = NULL, .max_body = MAX_BODY,
		.retry_after_s = RETRY_S,
	};
}

static void
teardown(void)
{
	wr_runtime_close(rt);
	rt = NULL;
}

TestSuite(handlers, .init = setup, .fini = teardown, .timeout = 20);

/* ---- helpers ---------------------------------------------------------- */

/* Handles q and checks what every response must satisfy. */
static void
handle(const struct http_request *q, struct http_response *r)
{
	memset(r, 0x77, sizeof(*r));
	http_handle(&ctx, q, r);
	cr_assert_not_null(r->body);
	cr_assert_eq(r->body_len, strlen(r->body));
	for (size_t i = 0; i < r->n_headers; i++) {
		cr_assert_neq(strncasecmp(r->headers[i].name,
		                          "Access-Control-", 15), 0,
		              "CORS header %s", r->headers[i].name);
		cr_assert_neq(strcasecmp(r->headers[i].name, "Content-Type"),
		              0, "Content-Type is the responder's");
	}
}

static void
call(const char *method, const char *uri, const char *body,
     struct http_response *r)
{
	struct http_request q = test_request(method, uri, body);

	handle(&q, r);
}

/* Asserts an error response exactly; "" means the member is absent. */
static void
expect_error(struct http_response *r, int status, const char *code,
             const char *reason, const char *field, const char *worker_id)
{
	struct wr_error e, derr;

	cr_assert_eq(r->status, status, "status %d, body %s", r->status,
	             r->body);
	cr_assert_eq(wr_json_decode_error(r->body, r->body_len, &e, &derr),
	             WR_OK, "%s: %s", r->body, derr.message);
	cr_assert_str_eq(wr_err_name(e.code), code, "%s", r->body);
	cr_assert_str_eq(wr_reason_name(e.reason), reason, "%s", r->body);
	cr_assert_str_eq(e.field, field, "%s", r->body);
	cr_assert_str_eq(e.worker_id, worker_id, "%s", r->body);
	cr_assert_neq(e.message[0], '\0', "%s", r->body);
}

/* The headers besides X-Request-Id, which every response has. */
static size_t
other_headers(const struct http_response *r)
{
	size_t n = 0;

	for (size_t i = 0; i < r->n_headers; i++)
		n += strcasecmp(r->headers[i].name, "X-Request-Id") != 0;
	return n;
}

static void
expect_no_headers(const struct http_response *r)
{
	cr_assert_eq(other_headers(r), 0, "unexpected header %s",
	             r->n_headers ? r->headers[0].name : "");
}

/* Creates a worker through the handlers; copies its id into id. */
static void
create(const char *body, char id[WR_ID_MAX + 1])
{
	struct http_response r;
	struct wr_worker_info *w;
	struct wr_error err;

	call("POST", "/v1/workers", body, &r);
	cr_assert_eq(r.status, 201, "%s", r.body);
	cr_assert_eq(wr_json_decode_worker(r.body, r.body_len, "worker", true,
	                                   &w, &err),
	             WR_OK, "%s", err.message);
	snprintf(id, WR_ID_MAX + 1, "%s", w->ref.worker_id);
	wr_worker_info_free(w);
	http_response_clear(&r);
}

static void
uri_for(char *buf, size_t size, const char *id, const char *suffix)
{
	snprintf(buf, size, "/v1/workers/%s%s", id, suffix);
}

static void
input_ok(const char *id, const char *content, struct wr_input_ack *ack)
{
	char uri[128], body[256];
	struct http_response r;
	struct wr_error err;

	uri_for(uri, sizeof(uri), id, "/input");
	snprintf(body, sizeof(body), "{\"kind\":\"user\",\"content\":\"%s\"}",
	         content);
	call("POST", uri, body, &r);
	cr_assert_eq(r.status, 200, "%s", r.body);
	expect_no_headers(&r);
	cr_assert_eq(wr_json_decode_input_ack(r.body, r.body_len, "ack", ack,
	                                      &err),
	             WR_OK, "%s", err.message);
	http_response_clear(&r);
}

static uint64_t
worker_count(void)
{
	struct wr_runtime_summary s;

	cr_assert_eq(wr_runtime_summary(rt, &s, NULL), WR_OK);
	return s.worker_count;
}

/* ---- success: every endpoint ------------------------------------------ */

Test(handlers, get_runtime_returns_the_summary_envelope)
{
	struct http_response r;
	struct wr_runtime_summary s;
	struct wr_error err;

	call("GET", "/v1/runtime", NULL, &r);
	cr_assert_eq(r.status, 200, "%s", r.body);
	expect_no_headers(&r);
	cr_assert_eq(wr_json_decode_runtime_summary(r.body, r.body_len,
	                                            "runtime", &s, &err),
	             WR_OK, "%s", err.message);
	cr_assert_str_eq(s.runtime_id, RUNTIME_ID);
	cr_assert_str_eq(s.backend, "memory");
	cr_assert_eq(s.status, WR_RUNTIME_RUNNING);
	cr_assert_eq(s.worker_count, 0);
	cr_assert_eq(s.limits.max_transcript_projection_items, MAX_ITEMS);
	http_response_clear(&r);
}

Test(handlers, list_workers_is_empty_then_in_creation_order)
{
	struct http_response r;
	struct wr_worker_list l;
	struct wr_error err;
	char a[WR_ID_MAX + 1], b[WR_ID_MAX + 1];

	call("GET", "/v1/workers", NULL, &r);
	cr_assert_eq(r.status, 200, "%s", r.body);
	cr_assert_eq(wr_json_decode_worker_page(r.body, r.body_len, &l, &err),
	             WR_OK, "%s", err.message);
	cr_assert_eq(l.count, 0);
	wr_worker_list_free(&l);
	http_response_clear(&r);

	create(NULL, a);
	create("{\"intent\":{\"kind\":\"task\",\"objective\":\"o\"}}", b);
	call("GET", "/v1/workers", NULL, &r);
	cr_assert_eq(r.status, 200, "%s", r.body);
	expect_no_headers(&r);
	cr_assert_eq(wr_json_decode_worker_page(r.body, r.body_len, &l, &err),
	             WR_OK, "%s", err.message);
	cr_assert_eq(l.count, 2);
	cr_assert_str_eq(l.items[0]->ref.worker_id, a);
	cr_assert_str_eq(l.items[1]->ref.worker_id, b);
	cr_assert_eq(l.items[1]->intent.kind, WR_INTENT_TASK);
	wr_worker_list_free(&l);
	http_response_clear(&r);
}

Test(handlers, create_with_empty_body_is_201_with_location_and_defaults)
{
	struct http_response r;
	struct wr_worker_info *w;
	struct wr_error err;
	char loc[128];

	call("POST", "/v1/workers", NULL, &r);
	cr_assert_eq(r.status, 201, "%s", r.body);
	cr_assert_eq(other_headers(&r), 1);
	cr_assert_eq(wr_json_decode_worker(r.body, r.body_len, "worker", true,
	                                   &w, &err),
	             WR_OK, "%s", err.message);
	uri_for(loc, sizeof(loc), w->ref.worker_id, "");
	cr_assert_str_eq(test_header(&r, "Location"), loc);
	cr_assert_str_eq(w->ref.runtime_id, RUNTIME_ID);
	cr_assert_eq(w->status, WR_STATUS_RUNNING);
	cr_assert_eq(w->run_state, WR_RUN_IDLE);
	cr_assert_eq(w->intent.kind, WR_INTENT_ASSISTANT);
	cr_assert_eq(w->profile.kind, WR_PROFILE_RUNTIME_DEFAULT);
	cr_assert_eq(w->transcript_len, 0);
	cr_assert_eq(worker_count(), 1);
	wr_worker_info_free(w);
	http_response_clear(&r);
}

Test(handlers, create_with_full_body_keeps_every_member)
{
	static const char body[] =
		"{\"intent\":{\"kind\":\"role\",\"role\":\"reviewer\","
		"\"purpose\":\"p\"},"
		"\"profile\":{\"kind\":\"builtin\",\"value\":\"transcript\"},"
		"\"config_bundle\":{\"id\":\"cb-1\"},"
		"\"requested_capabilities\":[{\"name\":\"net\","
		"\"reason\":\"fetch\"}],"
		"\"workspace_refs\":[{\"name\":\"ws\",\"reference\":\"r1\"}],"
		"\"mount_refs\":[]}";
	struct http_response r;
	struct http_request q = test_request("POST", "/v1/workers", body);
	struct wr_worker_info *w, *got;
	struct wr_error err;

	q.content_type = "Application/JSON ; charset=utf-8";
	handle(&q, &r);
	cr_assert_eq(r.status, 201, "%s", r.body);
	cr_assert_eq(wr_json_decode_worker(r.body, r.body_len, "worker", true,
	                                   &w, &err),
	             WR_OK, "%s", err.message);
	cr_assert_eq(w->intent.kind, WR_INTENT_ROLE);
	cr_assert_str_eq(w->intent.role, "reviewer");
	cr_assert_str_eq(w->intent.purpose, "p");
	cr_assert_eq(w->profile.kind, WR_PROFILE_BUILTIN);
	cr_assert_str_eq(w->profile.value, "transcript");
	cr_assert_str_eq(w->config_bundle_id, "cb-1");
	cr_assert_eq(w->n_capabilities, 1);
	cr_assert_str_eq(w->capabilities[0].name, "net");
	cr_assert_str_eq(w->capabilities[0].reason, "fetch");
	cr_assert_eq(w->n_workspace_refs, 1);
	cr_assert_str_eq(w->workspace_refs[0].reference, "r1");
	cr_assert_eq(w->n_mount_refs, 0);
	/* ...and the library has the same worker. */
	cr_assert_eq(wr_worker_get(rt, w->ref.worker_id, &got, NULL), WR_OK);
	cr_assert_str_eq(got->intent.role, "reviewer");
	wr_worker_info_free(got);
	wr_worker_info_free(w);
	http_response_clear(&r);
}

Test(handlers, get_worker_returns_the_detail)
{
	struct http_response r;
	struct wr_worker_info *w;
	struct wr_error err;
	char id[WR_ID_MAX + 1], uri[128];

	create("{\"requested_capabilities\":[{\"name\":\"c\"}]}", id);
	uri_for(uri, sizeof(uri), id, "");
	call("GET", uri, NULL, &r);
	cr_assert_eq(r.status, 200, "%s", r.body);
	expect_no_headers(&r);
	cr_assert_eq(wr_json_decode_worker(r.body, r.body_len, "worker", true,
	                                   &w, &err),
	             WR_OK, "%s", err.message);
	cr_assert_str_eq(w->ref.worker_id, id);
	cr_assert_eq(w->n_capabilities, 1);
	cr_assert_str_eq(w->capabilities[0].name, "c");
	cr_assert_null(w->capabilities[0].reason);
	wr_worker_info_free(w);
	http_response_clear(&r);
}

Test(handlers, input_returns_the_ack_and_appends_to_the_transcript)
{
	struct wr_input_ack ack;
	struct wr_transcript_page p;
	char id[WR_ID_MAX + 1];

	create(NULL, id);
	input_ok(id, "hello", &ack);
	cr_assert_str_eq(ack.ref.worker_id, id);
	cr_assert_str_eq(ack.ref.runtime_id, RUNTIME_ID);
	cr_assert_eq(ack.status, WR_STATUS_RUNNING);
	cr_assert_eq(ack.run_state, WR_RUN_IDLE);
	cr_assert_eq(ack.transcript_sequence, 1);
	cr_assert_gt(ack.event_id, 0);

	cr_assert_eq(wr_worker_transcript(rt, id, 0, MAX_ITEMS, &p, NULL), WR_OK);
	cr_assert_eq(p.count, 1);
	cr_assert_eq(p.items[0].role, WR_ROLE_USER);
	cr_assert_str_eq(p.items[0].content, "hello");
	wr_transcript_page_clear(&p);
}

Test(handlers, stop_with_empty_body_then_again_is_idempotent)
{
	struct http_response r;
	struct wr_lifecycle_ack a1, a2;
	struct http_request q;
	struct wr_error err;
	char id[WR_ID_MAX + 1], uri[128];

	create(NULL, id);
	uri_for(uri, sizeof(uri), id, "/stop");
	/* No body, and a non-JSON content type does not matter then. */
	q = test_request("POST", uri, NULL);
	q.content_type = "text/plain";
	handle(&q, &r);
	cr_assert_eq(r.status, 200, "%s", r.body);
	expect_no_headers(&r);
	cr_assert_eq(wr_json_decode_lifecycle_ack(r.body, r.body_len, "ack",
	                                          &a1, &err),
	             WR_OK, "%s", err.message);
	cr_assert_str_eq(a1.ref.worker_id, id);
	cr_assert_eq(a1.status, WR_STATUS_STOPPED);
	http_response_clear(&r);

	call("POST", uri, "{\"reason\":\"again\"}", &r);
	cr_assert_eq(r.status, 200, "%s", r.body);
	cr_assert_eq(wr_json_decode_lifecycle_ack(r.body, r.body_len, "ack",
	                                          &a2, &err),
	             WR_OK, "%s", err.message);
	cr_assert_eq(a2.status, WR_STATUS_STOPPED);
	cr_assert_eq(a2.event_id, a1.event_id);
	http_response_clear(&r);
}

/* The reason of the stop or cancel that ended a worker is its detail's
 * status_reason (absent without one); a repeat's reason changes nothing. */
Test(handlers, lifecycle_reason_is_the_details_status_reason)
{
	static const struct {
		const char *path, *body, *want; /* want NULL: absent */
	} c[] = {
		{"/cancel", "{\"reason\":\"user closed the tab\"}",
		 "user closed the tab"},
		{"/stop", NULL, NULL},
	};
	struct http_response r;
	char id[WR_ID_MAX + 1], uri[128], want[96];

	for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
		create(NULL, id);
		uri_for(uri, sizeof(uri), id, c[i].path);
		call("POST", uri, c[i].body, &r);
		cr_assert_eq(r.status, 200, "%s", r.body);
		http_response_clear(&r);
		call("POST", uri, "{\"reason\":\"a repeat\"}", &r);
		http_response_clear(&r);
		uri_for(uri, sizeof(uri), id, "");
		call("GET", uri, NULL, &r);
		cr_assert_eq(r.status, 200, "%s", r.body);
		if (c[i].want == NULL) {
			cr_assert_null(strstr(r.body, "\"status_reason\""), "%s",
			               r.body);
		} else {
			snprintf(want, sizeof want, "\"status_reason\":\"%s\"",
			         c[i].want);
			cr_assert_not_null(strstr(r.body, want), "%s", r.body);
		}
		http_response_clear(&r);
	}
}

Test(handlers, delete_of_an_ended_worker_is_200_deleted_then_404)
{
	struct http_response r;
	struct wr_lifecycle_ack a;
	struct wr_error err;
	char id[WR_ID_MAX + 1], uri[128], stop[128];

	create(NULL, id);
	uri_for(uri, sizeof(uri), id, "");
	uri_for(stop, sizeof(stop), id, "/stop");
	call("DELETE", uri, NULL, &r);
	expect_error(&r, 409, "unsupported_operation", "worker_running", "",
	             id);
	http_response_clear(&r);

	call("POST", stop, NULL, &r);
	cr_assert_eq(r.status, 200, "%s", r.body);
	http_response_clear(&r);
	call("DELETE", uri, NULL, &r);
	cr_assert_eq(r.status, 200, "%s", r.body);
	expect_no_headers(&r);
	cr_assert_eq(wr_json_decode_lifecycle_ack(r.body, r.body_len, "ack",
	                                          &a, &err),
	             WR_OK, "%s", err.message);
	cr_assert_str_eq(a.ref.worker_id, id);
	cr_assert_eq(a.status, WR_STATUS_STOPPED);
	cr_assert(a.deleted);
	http_response_clear(&r);

	call("DELETE", uri, NULL, &r);
	expect_error(&r, 404, "unknown_worker", "", "", id);
	http_response_clear(&r);
	call("GET", uri, NULL, &r);
	expect_error(&r, 404, "unknown_worker", "", "", id);
	http_response_clear(&r);
}

/* Follows next_after with the given query until null; returns how many
 * workers the walk saw, their ids in ids[]. */
static size_t
walk_from(const char *query, const char *from, char ids[][WR_ID_MAX + 1],
          size_t max)
{
	char uri[256], after[WR_ID_MAX + 1];
	size_t n = 0;

	snprintf(after, sizeof(after), "%s", from);
	for (int page = 0; page < 100; page++) {
		struct http_response r;
		struct wr_worker_list l;
		struct wr_error err;

		snprintf(uri, sizeof(uri), "/v1/workers?%s%s%s", query,
		         after[0] ? "&after=" : "", after);
		call("GET", uri, NULL, &r);
		cr_assert_eq(r.status, 200, "%s: %s", uri, r.body);
		cr_assert_eq(wr_json_decode_worker_page(r.body, r.body_len, &l,
		                                        &err),
		             WR_OK, "%s", err.message);
		http_response_clear(&r);
		for (size_t i = 0; i < l.count && n < max; i++)
			strcpy(ids[n++], l.items[i]->ref.worker_id);
		if (!l.has_next) {
			wr_worker_list_free(&l);
			return n;
		}
		strcpy(after, l.next_after);
		wr_worker_list_free(&l);
	}
	cr_assert_fail("the walk did not end");
	return n;
}

static size_t
walk(const char *query, char ids[][WR_ID_MAX + 1], size_t max)
{
	return walk_from(query, "", ids, max);
}

Test(handlers, list_pages_follow_next_after_and_filter_by_status)
{
	char made[5][WR_ID_MAX + 1], seen[8][WR_ID_MAX + 1];
	char uri[128];
	struct http_response r;

	for (int i = 0; i < 5; i++)
		create(NULL, made[i]);
	for (int i = 1; i < 5; i += 2) {
		uri_for(uri, sizeof(uri), made[i], "/cancel");
		call("POST", uri, NULL, &r);
		cr_assert_eq(r.status, 200, "%s", r.body);
		http_response_clear(&r);
	}
	cr_assert_eq(walk("limit=2", seen, 8), 5);
	for (int i = 0; i < 5; i++)
		cr_assert_str_eq(seen[i], made[i]);
	cr_assert_eq(walk("limit=1&status=cancelled", seen, 8), 2);
	cr_assert_str_eq(seen[0], made[1]);
	cr_assert_str_eq(seen[1], made[3]);
	cr_assert_eq(walk("status=running", seen, 8), 3);

	/* A deleted cursor still continues from its place. */
	uri_for(uri, sizeof(uri), made[1], "");
	call("DELETE", uri, NULL, &r);
	cr_assert_eq(r.status, 200, "%s", r.body);
	http_response_clear(&r);
	cr_assert_eq(walk_from("limit=1", made[1], seen, 8), 3);
	cr_assert_str_eq(seen[0], made[2]);
}

Test(handlers, list_limit_above_1000_and_bad_status_are_400)
{
	struct http_response r;

	call("GET", "/v1/workers?limit=1001", NULL, &r);
	expect_error(&r, 400, "invalid_input", "limit_too_large", "limit",
	             "");
	http_response_clear(&r);
	call("GET", "/v1/workers?limit=1000", NULL, &r);
	cr_assert_eq(r.status, 200, "%s", r.body);
	http_response_clear(&r);
	call("GET", "/v1/workers?status=paused", NULL, &r);
	expect_error(&r, 400, "invalid_input", "invalid_query", "status", "");
	http_response_clear(&r);
	call("GET", "/v1/workers?after=w-0123456789abcdef", NULL, &r);
	expect_error(&r, 400, "invalid_input", "invalid_value", "after", "");
	http_response_clear(&r);
}

Test(handlers, cancel_with_reason_returns_cancelled_ack)
{
	struct http_response r;
	struct wr_lifecycle_ack a;
	struct wr_worker_info *w;
	struct wr_error err;
	char id[WR_ID_MAX + 1], uri[128];

	create(NULL, id);
	uri_for(uri, sizeof(uri), id, "/cancel");
	call("POST", uri, "{\"reason\":\"user asked\"}", &r);
	cr_assert_eq(r.status, 200, "%s", r.body);
	expect_no_headers(&r);
	cr_assert_eq(wr_json_decode_lifecycle_ack(r.body, r.body_len, "ack",
	                                          &a, &err),
	             WR_OK, "%s", err.message);
	cr_assert_eq(a.status, WR_STATUS_CANCELLED);
	cr_assert_gt(a.event_id, 0);
	cr_assert_eq(wr_worker_get(rt, id, &w, NULL), WR_OK);
	cr_assert_eq(w->status, WR_STATUS_CANCELLED);
	wr_worker_info_free(w);
	http_response_clear(&r);
}

Test(handlers, transcript_pages_with_start_and_limit)
{
	struct http_response r;
	struct wr_transcript_page p;
	struct wr_input_ack ack;
	struct wr_error err;
	char id[WR_ID_MAX + 1], uri[160];

	create(NULL, id);
	input_ok(id, "one", &ack);
	input_ok(id, "two", &ack);
	input_ok(id, "three", &ack);

	/* No query: start 0, default limit (capped by the maximum). */
	uri_for(uri, sizeof(uri), id, "/transcript");
	call("GET", uri, NULL, &r);
	cr_assert_eq(r.status, 200, "%s", r.body);
	expect_no_headers(&r);
	cr_assert_eq(wr_json_decode_transcript_page(r.body, r.body_len,
	                                            "transcript", &p, &err),
	             WR_OK, "%s", err.message);
	cr_assert_eq(p.start, 0);
	cr_assert_eq(p.limit, MAX_ITEMS);
	cr_assert_eq(p.total_items, 3);
	cr_assert_eq(p.count, 3);
	cr_assert_not(p.has_next);
	cr_assert_str_eq(p.items[2].content, "three");
	wr_transcript_page_clear(&p);
	http_response_clear(&r);

	uri_for(uri, sizeof(uri), id, "/transcript?start=1&limit=1");
	call("GET", uri, NULL, &r);
	cr_assert_eq(r.status, 200, "%s", r.body);
	cr_assert_eq(wr_json_decode_transcript_page(r.body, r.body_len,
	                                            "transcript", &p, &err),
	             WR_OK, "%s", err.message);
	cr_assert_eq(p.start, 1);
	cr_assert_eq(p.limit, 1);
	cr_assert_eq(p.count, 1);
	cr_assert_eq(p.items[0].sequence, 2);
	cr_assert_str_eq(p.items[0].content, "two");
	cr_assert(p.has_next);
	cr_assert_eq(p.next_start, 2);
	wr_transcript_page_clear(&p);
	http_response_clear(&r);

	/* Past the end: an empty last page, not an error. */
	uri_for(uri, sizeof(uri), id, "/transcript?start=100");
	call("GET", uri, NULL, &r);
	cr_assert_eq(r.status, 200, "%s", r.body);
	cr_assert_eq(wr_json_decode_transcript_page(r.body, r.body_len,
	                                            "transcript", &p, &err),
	             WR_OK, "%s", err.message);
	cr_assert_eq(p.start, 100);
	cr_assert_eq(p.total_items, 3);
	cr_assert_eq(p.count, 0);
	cr_assert_not(p.has_next);
	wr_transcript_page_clear(&p);
	http_response_clear(&r);
}

Test(handlers, get_ignores_a_body_and_its_content_type)
{
	struct http_response r;
	struct http_request q = test_request("GET", "/v1/runtime", "not json");

	q.content_type = "text/plain";
	q.body_too_large = true;
	handle(&q, &r);
	cr_assert_eq(r.status, 200, "%s", r.body);
	http_response_clear(&r);
}

/* ---- gates: Origin and token ------------------------------------------ */

Test(handlers, origin_is_403_forbidden_even_with_a_good_token)
{
	struct http_response r;
	struct http_request q = test_request("GET", "/v1/runtime", NULL);

	ctx.token = "s3cret";
	q.authorization = "Bearer s3cret";
	q.origin = "https://app.example";
	handle(&q, &r);
	expect_error(&r, 403, "forbidden", "browser_request", "", "");
	expect_no_headers(&r);
	http_response_clear(&r);

	/* A browser header wins over 401 and 404. */
	q = test_request("POST", "/nope", "{}");
	q.sec_fetch_site = "same-origin";
	handle(&q, &r);
	expect_error(&r, 403, "forbidden", "browser_request", "", "");
	http_response_clear(&r);
	cr_assert_eq(worker_count(), 0);
}

/* The socket refuses exactly what deploy/nginx.conf's $wr_browser map
 * refuses: "$http_origin$http_sec_fetch_site" non-empty. */
Test(handlers, browser_request_is_a_non_empty_origin_or_sec_fetch_site)
{
	static const struct {
		const char *origin, *site;
		bool browser;
	} t[] = {
		{NULL, NULL, false},
		{"", NULL, false},
		{NULL, "", false},
		{"", "", false},
		{"null", NULL, true},
		{"https://app.example", NULL, true},
		{NULL, "none", true},
		{NULL, "same-origin", true},
		{NULL, "cross-site", true},
		{"", "same-site", true},
		{"https://app.example", "", true},
		{" ", NULL, true},
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		cr_expect_eq(http_browser_request(t[i].origin, t[i].site),
		             t[i].browser, "row %zu: Origin %s, Sec-Fetch-Site %s",
		             i, t[i].origin ? t[i].origin : "(absent)",
		             t[i].site ? t[i].site : "(absent)");
}

Test(handlers, empty_origin_and_sec_fetch_site_count_as_absent_like_nginx)
{
	struct http_response r;
	struct http_request q = test_request("GET", "/v1/runtime", NULL);

	q.origin = "";
	q.sec_fetch_site = "";
	handle(&q, &r);
	cr_assert_eq(r.status, 200, "%s", r.body);
	http_response_clear(&r);

	q.sec_fetch_site = "cross-site";
	handle(&q, &r);
	expect_error(&r, 403, "forbidden", "browser_request", "", "");
	http_response_clear(&r);
}

Test(handlers, wrong_or_missing_token_is_401_with_www_authenticate)
{
	static const char *const bad[] = {
		NULL, "", "Bearer", "Bearer ", "Bearer s3cre", "Bearer s3crett",
		"Bearer s3cret ", " Bearer s3cret", "bearer s3cret",
		"Basic s3cret", "Bearer  s3cret", "Bearer S3cret", "s3cret",
	};
	struct http_response r;

	ctx.token = "s3cret";
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct http_request q =
			test_request("POST", "/v1/workers", NULL);

		q.authorization = bad[i];
		handle(&q, &r);
		expect_error(&r, 401, "unauthorized",
		             i < 2 ? "missing_token" : "wrong_token", "", "");
		cr_assert_eq(other_headers(&r), 1, "case %zu", i);
		cr_assert_str_eq(test_header(&r, "WWW-Authenticate"),
		                 "Bearer realm=\"worker-runtime\"");
		http_response_clear(&r);
	}
	cr_assert_eq(worker_count(), 0);

	/* 401 comes before routing: an unknown path is not revealed. */
	call("GET", "/nope", NULL, &r);
	expect_error(&r, 401, "unauthorized", "missing_token", "", "");
	http_response_clear(&r);
}

Test(handlers, right_token_passes_and_no_token_configured_needs_none)
{
	struct http_response r;
	struct http_request q = test_request("POST", "/v1/workers", NULL);

	ctx.token = "s3cret";
	q.authorization = "Bearer s3cret";
	handle(&q, &r);
	cr_assert_eq(r.status, 201, "%s", r.body);
	http_response_clear(&r);

	ctx.token = NULL;
	q.authorization = "Bearer anything";
	handle(&q, &r);
	cr_assert_eq(r.status, 201, "%s", r.body);
	http_response_clear(&r);
	cr_assert_eq(worker_count(), 2);
}

Test(handlers, each_of_several_configured_tokens_passes_and_nothing_else)
{
	static const char *const auth[] = {
		"Bearer old-token", "Bearer new-token", "Bearer old-token\nnew-token",
		"Bearer old-tokennew-token", "Bearer new", "Bearer ",
	};
	struct http_response r;
	struct http_request q = test_request("GET", "/v1/runtime", NULL);

	ctx.token = "old-token\nnew-token"; /* a file of two lines */
	for (size_t i = 0; i < sizeof auth / sizeof auth[0]; i++) {
		q.authorization = auth[i];
		handle(&q, &r);
		cr_assert_eq(r.status, i < 2 ? 200 : 401, "%s: %d %s", auth[i],
		             r.status, r.body);
		http_response_clear(&r);
	}
}

Test(handlers, empty_configured_token_matches_nothing)
{
	struct http_response r;
	struct http_request q = test_request("GET", "/v1/runtime", NULL);

	ctx.token = "";
	q.authorization = "Bearer ";
	handle(&q, &r);
	expect_error(&r, 401, "unauthorized", "wrong_token", "", "");
	http_response_clear(&r);
}

/* ---- route errors -------------------------------------------------------- */

Test(handlers, unknown_route_is_404_not_found)
{
	struct http_response r;

	call("GET", "/v1/nope", NULL, &r);
	expect_error(&r, 404, "not_found", "", "", "");
	expect_no_headers(&r);
	http_response_clear(&r);

	call("POST", "/v1/workers/", "{}", &r);
	expect_error(&r, 404, "not_found", "", "", "");
	http_response_clear(&r);
	cr_assert_eq(worker_count(), 0);
}

/* The access log and the metrics name the route a refused request was
 * meant for; only a path that matches no route is "" (unmatched). */
Test(handlers, a_refused_request_carries_its_route_template)
{
	static const struct {
		const char *method, *uri, *body, *route;
		int status;
	} c[] = {
		{"GET", "/v1/workers?limit=abc", NULL, "/v1/workers", 400},
		{"GET", "/v1/workers?nope=1", NULL, "/v1/workers", 400},
		{"PATCH", "/v1/workers/w-1", NULL, "/v1/workers/{id}", 405},
		{"PUT", "/v1/runtime", NULL, "/v1/runtime", 405},
		{"POST", "/v1/workers", "{\"profile\":", "/v1/workers", 400},
		{"GET", "/v1/workers/.bad", NULL, "/v1/workers/{id}", 400},
		{"GET", "/v1/workers/w-1/transcript?wait=x", NULL,
		 "/v1/workers/{id}/transcript", 400},
		{"GET", "/v1/nope", NULL, "", 404},
		{"GET", "/v1/workers/", NULL, "", 404},
		{"GET", "/v1/workers/w-1/nope", NULL, "", 404},
	};
	struct http_response r;

	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		call(c[i].method, c[i].uri, c[i].body, &r);
		cr_assert_eq(r.status, c[i].status, "%s %s: %d %s",
		             c[i].method, c[i].uri, r.status, r.body);
		cr_assert_str_eq(r.route, c[i].route, "%s %s", c[i].method,
		                 c[i].uri);
		http_response_clear(&r);
	}
	ctx.token = "s3cret"; /* refused before the route is decoded */
	call("GET", "/v1/runtime", NULL, &r);
	cr_assert_eq(r.status, 401);
	cr_assert_str_eq(r.route, "/v1/runtime");
	http_response_clear(&r);
}

Test(handlers, wrong_method_is_405_with_allow)
{
	static const struct {
		const char *method, *uri, *allow;
	} c[] = {
		{"PUT", "/v1/workers", "GET, POST"},
		{"HEAD", "/v1/runtime", "GET"},
		{"PUT", "/v1/workers/w1", "GET, DELETE"},
		{"DELETE", "/v1/workers", "GET, POST"},
		{"GET", "/v1/workers/w1/input", "POST"},
		{"POST", "/v1/workers/w1/transcript", "GET"},
	};
	struct http_response r;

	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		call(c[i].method, c[i].uri, NULL, &r);
		expect_error(&r, 405, "unsupported_operation",
		             "method_not_allowed", "", "");
		cr_assert_eq(other_headers(&r), 1, "%s %s", c[i].method, c[i].uri);
		cr_assert_str_eq(test_header(&r, "Allow"), c[i].allow);
		http_response_clear(&r);
	}
}

Test(handlers, bad_paths_and_queries_are_400_with_reason_and_field)
{
	static const struct {
		const char *method, *uri, *reason, *field;
	} c[] = {
		{"GET", "/v1/workers/a%zz", "invalid_path", ""},
		{"GET", "/v1/run\x01time", "invalid_path", ""},
		{"GET", "v1/runtime", "invalid_path", ""},
		{"GET", "/v1/workers/a%2Fb", "invalid_worker_id", "worker_id"},
		{"POST", "/v1/workers/.x/stop", "invalid_worker_id",
		 "worker_id"},
		{"GET", "/v1/workers/w/transcript?start=-1", "invalid_query",
		 "start"},
		{"GET", "/v1/workers/w/transcript?limit=1&limit=2",
		 "invalid_query", "limit"},
		{"GET", "/v1/workers/w/transcript?page=2", "unknown_parameter",
		 "page"},
		{"GET", "/v1/runtime?verbose=1", "unknown_parameter", "verbose"},
	};
	struct http_response r;

	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		call(c[i].method, c[i].uri, NULL, &r);
		expect_error(&r, 400, "invalid_input", c[i].reason, c[i].field,
		             "");
		expect_no_headers(&r);
		http_response_clear(&r);
	}
}

Test(handlers, over_long_uri_is_400_uri_too_long)
{
	char uri[5000];
	struct http_response r;

	memset(uri, 'a', sizeof(uri) - 1);
	memcpy(uri, "/v1/workers/", 12);
	uri[sizeof(uri) - 1] = '\0';
	call("GET", uri, NULL, &r);
	expect_error(&r, 400, "invalid_input", "uri_too_long", "", "");
	http_response_clear(&r);
}

/* ---- body gates and decoding ------------------------------------------- */

Test(handlers, too_large_body_is_413_and_creates_nothing)
{
	struct http_response r;
	struct http_request q =
		test_request("POST", "/v1/workers", "{\"intent\":");

	q.body_too_large = true;
	handle(&q, &r);
	expect_error(&r, 413, "invalid_input", "payload_too_large", "", "");
	expect_no_headers(&r);
	cr_assert(strstr(r.body, "4096") != NULL, "%s", r.body);
	http_response_clear(&r);
	cr_assert_eq(worker_count(), 0);

	/* Routing comes first: an unknown path stays 404. */
	q.uri = "/v1/nope";
	handle(&q, &r);
	expect_error(&r, 404, "not_found", "", "", "");
	http_response_clear(&r);
}

Test(handlers, non_json_body_is_415_unsupported_media_type)
{
	static const char *const types[] = {
		NULL, "", "text/plain", "application/jsonx",
		"application/json-seq", "application/x-www-form-urlencoded",
		"json", "application/", "multipart/form-data; boundary=x",
		"application/json; charset=latin1",
		"application/json;charset=utf-16",
		"application/json; charset", "application/json; charset=utf-8x",
		/* RFC 9110 §8.3.1 parameters, the whole class: */
		"application/json; charset=utf-8; charset=utf-8", /* twice */
		"application/json; charset=utf-8; CHARSET=latin1",
		"application/json; x=\"a\"; charset=latin1",
		"application/json; charset=\"latin1\"",
		"application/json; charset=\"utf-8", /* never closed */
		"application/json; x=\"a", "application/json; x=\"a\\",
		"application/json; x=\"a\001b\"", /* control inside */
		"application/json; x=\"a\"b", /* text after the quote */
		"application/json; charset = utf-8", /* no OWS around = */
		"application/json; charset=", "application/json; =utf-8",
		"application/json; x", "application/json; x=a b",
		"application/json x", "application /json",
		"application/ json", "application/json,text/plain",
		"application/json; charset=utf-8,", "application/json; charset=\"\"",
	};
	struct http_response r;
	char id[WR_ID_MAX + 1], uri[128];

	create(NULL, id);
	uri_for(uri, sizeof(uri), id, "/input");
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		struct http_request q = test_request("POST", uri,
		                              "{\"kind\":\"user\",\"content\":\"x\"}");

		q.content_type = types[i];
		handle(&q, &r);
		expect_error(&r, 415, "invalid_input",
		             "unsupported_media_type", "", "");
		http_response_clear(&r);
	}
	cr_assert_eq(worker_count(), 1);
}

/* The byte a 415 names (from 0) is the one that breaks the grammar: the
 * blank before a parameter's "=", the end of an empty value or of an
 * unclosed quote, a control byte inside one. */
Test(handlers, a_415_says_what_is_wrong_with_the_content_type)
{
	static const struct {
		const char *type, *message;
	} cases[] = {
		{ NULL, "the request has a body but no Content-Type; send "
		        "Content-Type: application/json" },
		{ " ", "the request has a body but no Content-Type; send "
		       "Content-Type: application/json" },
		{ "text/plain", "the media type is not application/json; send "
		                "Content-Type: application/json" },
		{ "application/json; charset=latin1",
		  "the body must be UTF-8 (charset=utf-8 or none) (byte 18 of "
		  "Content-Type); send Content-Type: application/json" },
		{ "application/json;charset=utf-8;charset=utf-8",
		  "Content-Type names a charset more than once (byte 31 of "
		  "Content-Type); send Content-Type: application/json" },
		{ "application/json; charset = utf-8",
		  "malformed Content-Type parameters (byte 25 of Content-Type); "
		  "send Content-Type: application/json" },
		{ "application/json; =utf-8",
		  "malformed Content-Type parameters (byte 18 of Content-Type); "
		  "send Content-Type: application/json" },
		{ "application/json; a=",
		  "malformed Content-Type parameters (byte 20 of Content-Type); "
		  "send Content-Type: application/json" },
		{ "application/json; a=\"b",
		  "malformed Content-Type parameters (byte 22 of Content-Type); "
		  "send Content-Type: application/json" },
		{ "application/json; a=\"b\x01\"",
		  "malformed Content-Type parameters (byte 22 of Content-Type); "
		  "send Content-Type: application/json" },
		{ "application/json x",
		  "malformed Content-Type parameters (byte 17 of Content-Type); "
		  "send Content-Type: application/json" },
	};
	struct http_response r;
	struct wr_error e, derr;
	char id[WR_ID_MAX + 1], uri[128];

	create(NULL, id);
	uri_for(uri, sizeof(uri), id, "/input");
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct http_request q = test_request("POST", uri,
		                              "{\"kind\":\"user\",\"content\":\"x\"}");

		q.content_type = cases[i].type;
		handle(&q, &r);
		cr_assert_eq(r.status, 415);
		cr_assert_eq(wr_json_decode_error(r.body, r.body_len, &e, &derr),
		             WR_OK);
		cr_expect_str_eq(e.message, cases[i].message, "type '%s'",
		                 cases[i].type != NULL ? cases[i].type : "(none)");
		http_response_clear(&r);
	}
}

Test(handlers, json_media_type_parameters_are_parsed_as_rfc9110_and_only_charset_utf8_counts)
{
	static const char *const types[] = {
		"application/json", "APPLICATION/JSON", " application/json ",
		"application/json;charset=UTF-8",
		"application/json; charset=\"utf-8\"",
		"application/json; foo=bar",
		"application/json; foo=bar; charset=utf-8",
		/* RFC 9110 §8.3.1 parameters, the whole class: */
		"application/json; x=\"a;charset=latin1\"", /* quoted ; */
		"application/json; x=\"a;charset=latin1\"; charset=utf-8",
		"application/json; x=\"say \\\"hi\\\"; charset=x\"", /* quoted " */
		"application/json; x=\"a\\\\\"; charset=utf-8", /* escaped \ */
		"application/json; charset=\"UTF-8\"",
		"application/json; charset=\"utf\\-8\"", /* quoted-pair */
		"application/json;charset=utf-8 ;x=y", " application/json\t;\tcharset=utf-8",
		"application/json;", "application/json;;", "application/json; ; charset=utf-8",
		"application/json; CharSet=Utf-8", "application/json; x=\"\"",
		"application/json; x=\"caf\xc3\xa9\"", /* obs-text */
		"application/json; x=!#$%&'*+-.^_`|~09aZ",
	};
	struct http_response r;
	char id[WR_ID_MAX + 1], uri[128];

	create(NULL, id);
	uri_for(uri, sizeof(uri), id, "/input");
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		struct http_request q = test_request(
			"POST", uri, "{\"kind\":\"user\",\"content\":\"x\"}");

		q.content_type = types[i];
		handle(&q, &r);
		cr_assert_eq(r.status, 200, "%s: %d %s", types[i], r.status,
		             r.body);
		http_response_clear(&r);
	}
}

Test(handlers, invalid_json_bodies_are_400_with_the_codec_reason)
{
	static const struct {
		const char *suffix, *body, *reason, *field;
	} c[] = {
		{"", "{", "invalid_json", ""},
		{"", "[]", "invalid_json", ""},
		{"", "{\"colour\":1}", "unknown_field", "colour"},
		{"", "{\"intent\":{\"kind\":\"task\"}}", "missing_field",
		 "intent.objective"},
		{"", "{\"profile\":{\"kind\":\"named\",\"value\":\"nope\"}}",
		 "unknown_profile", "profile.value"},
		{"/input", "{\"kind\":\"user\"}", "missing_field", "content"},
		{"/input", "{\"kind\":\"user\",\"content\":\"\"}",
		 "empty_content", "content"},
		{"/input", "{\"kind\":\"robot\",\"content\":\"x\"}",
		 "invalid_value", "kind"},
		{"/stop", "{\"reason\":5}", "wrong_type", "reason"},
		{"/cancel", "{\"force\":true}", "unknown_field", "force"},
	};
	struct http_response r;
	char id[WR_ID_MAX + 1], uri[128];

	create(NULL, id);
	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		if (c[i].suffix[0] == '\0')
			snprintf(uri, sizeof(uri), "/v1/workers");
		else
			uri_for(uri, sizeof(uri), id, c[i].suffix);
		call("POST", uri, c[i].body, &r);
		expect_error(&r, 400, "invalid_input", c[i].reason, c[i].field,
		             "");
		http_response_clear(&r);
	}
	cr_assert_eq(worker_count(), 1);
}

/* Bodies json-c alone would read differently from any other parser (the
 * issue's examples): 400 with a typed reason, and nothing changes -- no
 * worker, no transcript entry, no event, no status change. */
Test(handlers, ambiguous_json_bodies_are_400_and_change_nothing)
{
	static const struct {
		const char *suffix, *body, *reason, *field;
	} c[] = {
		{"/input", "{\"kind\":\"user\",\"kind\\u0000x\":\"system\","
		 "\"content\":\"x\"}", "nul_in_member_name", ""},
		{"/input", "{\"kind\":\"user\",\"content\":\"real\","
		 "\"content\\u0000shadow\":\"shadowed\"}", "nul_in_member_name",
		 ""},
		{"", "{\"profile\\u0000\":{\"kind\":\"named\",\"value\":"
		 "\"slow\"}}", "nul_in_member_name", ""},
		{"/input", "{\"kind\":\"user\",\"kind\":\"system\","
		 "\"content\":\"x\"}", "duplicate_member", "kind"},
		{"", "{\"intent\":{\"kind\":\"task\",\"objective\":\"a\","
		 "\"objective\":\"b\"}}", "duplicate_member", "intent.objective"},
		{"/input", "{\"kind\":\"user\",\"content\":\"\\ud800\"}",
		 "invalid_unicode", "content"},
		{"/input", "{\"kind\":\"user\",\"content\":\"\\ud800\\u0041\"}",
		 "invalid_unicode", "content"},
		{"/stop", "{\"reason\":\"a\",\"reason\":\"b\"}",
		 "duplicate_member", "reason"},
		{"/cancel", "{\"reason\":\"\\udc00\"}", "invalid_unicode",
		 "reason"},
	};
	struct http_response r;
	struct wr_worker_info *before, *after;
	char id[WR_ID_MAX + 1], uri[128];

	create(NULL, id);
	cr_assert_eq(wr_worker_get(rt, id, &before, NULL), WR_OK);
	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		if (c[i].suffix[0] == '\0')
			snprintf(uri, sizeof(uri), "/v1/workers");
		else
			uri_for(uri, sizeof(uri), id, c[i].suffix);
		call("POST", uri, c[i].body, &r);
		expect_error(&r, 400, "invalid_input", c[i].reason, c[i].field,
		             "");
		http_response_clear(&r);
	}
	cr_assert_eq(worker_count(), 1);
	cr_assert_eq(wr_worker_get(rt, id, &after, NULL), WR_OK);
	cr_assert_eq(after->status, WR_STATUS_RUNNING);
	cr_assert_eq(after->transcript_len, 0);
	cr_assert_eq(after->last_event_id, before->last_event_id);
	wr_worker_info_free(before);
	wr_worker_info_free(after);
}

Test(handlers, input_with_empty_body_is_400)
{
	struct http_response r;
	struct wr_error e;
	char id[WR_ID_MAX + 1], uri[128];

	create(NULL, id);
	uri_for(uri, sizeof(uri), id, "/input");
	call("POST", uri, NULL, &r);
	cr_assert_eq(r.status, 400, "%s", r.body);
	cr_assert_eq(wr_json_decode_error(r.body, r.body_len, &e, NULL), WR_OK);
	cr_assert_eq(e.code, WR_EINVALID_INPUT);
	cr_assert_neq(e.reason, WR_REASON_NONE);
	http_response_clear(&r);
}

Test(handlers, limit_above_the_maximum_is_400_limit_too_large)
{
	struct http_response r;
	char id[WR_ID_MAX + 1], uri[160];

	create(NULL, id);
	snprintf(uri, sizeof(uri), "/v1/workers/%s/transcript?limit=%u", id,
	         MAX_ITEMS + 1);
	call("GET", uri, NULL, &r);
	expect_error(&r, 400, "invalid_input", "limit_too_large", "limit", "");
	http_response_clear(&r);
}

/* ---- library errors ------------------------------------------------------ */

Test(handlers, unknown_worker_is_404_naming_the_worker_on_every_route)
{
	static const struct {
		const char *method, *suffix, *body;
	} c[] = {
		{"GET", "", NULL},
		{"POST", "/input", "{\"kind\":\"user\",\"content\":\"x\"}"},
		{"POST", "/stop", NULL},
		{"POST", "/cancel", "{}"},
		{"GET", "/transcript", NULL},
		{"GET", "/transcript?start=3&limit=2", NULL},
	};
	struct http_response r;
	char uri[128];

	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		uri_for(uri, sizeof(uri), "no-such%2Dworker", c[i].suffix);
		call(c[i].method, uri, c[i].body, &r);
		expect_error(&r, 404, "unknown_worker", "", "",
		             "no-such-worker");
		expect_no_headers(&r);
		http_response_clear(&r);
	}
}

Test(handlers, input_to_a_stopped_worker_is_409_unsupported)
{
	struct http_response r;
	char id[WR_ID_MAX + 1], uri[128];

	create(NULL, id);
	cr_assert_eq(wr_worker_stop(rt, id, NULL, NULL, NULL), WR_OK);
	uri_for(uri, sizeof(uri), id, "/input");
	call("POST", uri, "{\"kind\":\"user\",\"content\":\"late\"}", &r);
	expect_error(&r, 409, "unsupported_operation", "worker_not_running", "",
	             id);
	expect_no_headers(&r);
	http_response_clear(&r);
}

Test(handlers, input_to_a_busy_worker_is_409_busy_with_retry_after)
{
	static const char in[] = "{\"kind\":\"user\",\"content\":\"go\"}";
	struct http_response r;
	struct wr_input_ack ack;
	char id[WR_ID_MAX + 1], uri[128];

	create("{\"profile\":{\"kind\":\"named\",\"value\":\"slow\"}}", id);
	input_ok(id, "first", &ack);
	cr_assert_eq(ack.run_state, WR_RUN_BUSY);

	uri_for(uri, sizeof(uri), id, "/input");
	call("POST", uri, in, &r);
	expect_error(&r, 409, "busy", "turn_in_progress", "", id);
	cr_assert_eq(other_headers(&r), 1);
	cr_assert_str_eq(test_header(&r, "Retry-After"), "7");
	http_response_clear(&r);

	/* Once the turn ends the same request goes through. */
	cr_assert_eq(wr_worker_turn_end(rt, id, NULL), WR_OK);
	input_ok(id, "second", &ack);
	cr_assert_eq(ack.transcript_sequence, 2);
	cr_assert_eq(wr_worker_turn_end(rt, id, NULL), WR_OK);
}

Test(handlers, stopped_runtime_is_503_with_retry_after_and_reads_go_on)
{
	struct http_response r;
	struct wr_runtime_summary s;
	char id[WR_ID_MAX + 1], uri[128];

	create(NULL, id);
	cr_assert_eq(wr_runtime_stop(rt, NULL), WR_OK);

	call("POST", "/v1/workers", NULL, &r);
	expect_error(&r, 503, "runtime_unavailable", "runtime_stopped", "", "");
	cr_assert_eq(other_headers(&r), 1);
	cr_assert_str_eq(test_header(&r, "Retry-After"), "7");
	http_response_clear(&r);

	uri_for(uri, sizeof(uri), id, "/input");
	call("POST", uri, "{\"kind\":\"user\",\"content\":\"x\"}", &r);
	cr_assert_eq(r.status, 503, "%s", r.body);
	cr_assert_str_eq(test_header(&r, "Retry-After"), "7");
	http_response_clear(&r);

	call("GET", "/v1/runtime", NULL, &r);
	cr_assert_eq(r.status, 200, "%s", r.body);
	cr_assert_eq(wr_json_decode_runtime_summary(r.body, r.body_len,
	                                            "runtime", &s, NULL),
	             WR_OK);
	cr_assert_eq(s.status, WR_RUNTIME_STOPPED);
	cr_assert_eq(s.worker_count, 1);
	http_response_clear(&r);
}

Test(handlers, every_request_is_503_restoring_until_the_runtime_is_set)
{
	static const char *const req[][3] = {
		{"GET", "/v1/runtime", NULL},
		{"GET", "/v1/workers", NULL},
		{"POST", "/v1/workers", "{}"},
		{"GET", "/v1/workers/w-1", NULL},
		{"POST", "/v1/workers/w-1/input",
		 "{\"kind\":\"user\",\"content\":\"x\"}"},
		{"GET", "/v1/workers/w-1/transcript", NULL},
		{"GET", "/nowhere", NULL},
	};
	struct http_response r;
	struct wr_runtime_summary s;

	atomic_store(&ctx.rt, NULL); /* as main() has it while opening */
	for (size_t i = 0; i < sizeof(req) / sizeof(req[0]); i++) {
		call(req[i][0], req[i][1], req[i][2], &r);
		expect_error(&r, 503, "runtime_unavailable", "restoring", "",
		             "");
		cr_assert_str_eq(test_header(&r, "Retry-After"), "7");
		http_response_clear(&r);
	}
	atomic_store(&ctx.rt, rt);
	call("GET", "/v1/runtime", NULL, &r);
	cr_assert_eq(r.status, 200, "%s", r.body);
	cr_assert_eq(wr_json_decode_runtime_summary(r.body, r.body_len,
	                                            "runtime", &s, NULL),
	             WR_OK);
	cr_assert_eq(s.worker_count, 0, "the POST while restoring did nothing");
	http_response_clear(&r);
}

Test(handlers, restoring_still_checks_the_token_and_browser_first)
{
	struct http_response r;
	struct http_request q = test_request("GET", "/v1/runtime", NULL);

	atomic_store(&ctx.rt, NULL);
	ctx.token = "secret";
	handle(&q, &r);
	expect_error(&r, 401, "unauthorized", "missing_token", "", "");
	http_response_clear(&r);
	ctx.token = NULL;
	q.origin = "https://example.org";
	handle(&q, &r);
	expect_error(&r, 403, "forbidden", "browser_request", "", "");
	http_response_clear(&r);
	atomic_store(&ctx.rt, rt);
}

Test(handlers, retry_after_is_at_least_one_second)
{
	struct http_response r;

	ctx.retry_after_s = 0;
	cr_assert_eq(wr_runtime_stop(rt, NULL), WR_OK);
	call("POST", "/v1/workers", NULL, &r);
	cr_assert_eq(r.status, 503, "%s", r.body);
	cr_assert_str_eq(test_header(&r, "Retry-After"), "1");
	http_response_clear(&r);
}

Test(handlers, response_clear_accepts_null_and_is_repeatable)
{
	struct http_response r;

	http_response_clear(NULL);
	call("GET", "/v1/runtime", NULL, &r);
	http_response_clear(&r);
	cr_assert_null(r.body);
	cr_assert_eq(r.n_headers, 0);
	http_response_clear(&r);
}

/* ---- long-poll: parked requests (no sockets) -------------------------- */

/* Handles a GET that may park; out->wait says whether it did. */
static void
handle_parkable(const char *uri, struct test_wake *t, struct http_response *r)
{
	struct http_request q = test_request("GET", uri, NULL);

	q.wake = test_wake_fn;
	q.wake_arg = t;
	memset(r, 0, sizeof(*r));
	http_handle(&ctx, &q, r);
}

static void
decode_page(struct http_response *r, struct wr_transcript_page *p)
{
	struct wr_error err;

	cr_assert_eq(r->status, 200, "%s", r->body);
	cr_assert_eq(wr_json_decode_transcript_page(r->body, r->body_len,
	                                            "transcript", p, &err),
	             WR_OK, "%s: %s", r->body, err.message);
}

static unsigned long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (unsigned long long)ts.tv_sec * 1000u +
	       (unsigned long long)ts.tv_nsec / 1000000u;
}

Test(handlers, transcript_after_with_entries_is_answered_at_once_with_state)
{
	struct test_wake t;
	struct http_response r;
	struct wr_transcript_page p;
	struct wr_input_ack ack;
	char id[WR_ID_MAX + 1], uri[160];

	test_wake_init(&t);
	create(NULL, id);
	input_ok(id, "one", &ack);
	input_ok(id, "two", &ack);
	uri_for(uri, sizeof(uri), id, "/transcript?after=1&wait=25000");
	handle_parkable(uri, &t, &r);
	cr_assert_null(r.wait);
	decode_page(&r, &p);
	cr_assert_eq(p.start, 1);
	cr_assert_eq(p.count, 1);
	cr_assert_eq(p.items[0].sequence, 2);
	cr_assert_eq(p.status, WR_STATUS_RUNNING);
	cr_assert_eq(p.run_state, WR_RUN_IDLE);
	cr_assert_eq(p.last_event_id, ack.event_id);
	cr_assert_str_eq(r.route, "/v1/workers/{id}/transcript");
	wr_transcript_page_clear(&p);
	http_response_clear(&r);
}

Test(handlers, transcript_wait_parks_until_an_input_and_finish_answers_it)
{
	struct test_wake t;
	struct http_response r;
	struct wr_transcript_page p;
	struct wr_input_ack ack;
	char id[WR_ID_MAX + 1], uri[160];
	unsigned long long before = now_ms();

	test_wake_init(&t);
	create(NULL, id);
	input_ok(id, "one", &ack);
	uri_for(uri, sizeof(uri), id, "/transcript?after=1&wait=20000");
	handle_parkable(uri, &t, &r);
	cr_assert_not_null(r.wait, "%d %s", r.status, r.body);
	cr_assert_null(r.body);
	cr_assert_geq(http_wait_deadline_ms(r.wait), before + 20000);
	cr_assert_leq(http_wait_deadline_ms(r.wait), now_ms() + 20000);
	cr_assert_not(http_wait_is_commit(r.wait), "a long-poll is no commit");
	cr_assert_eq(test_wake_calls(&t), 0);
	input_ok(id, "two", &ack);
	cr_assert_eq(test_wake_await(&t, WAKE_WAIT_S), 1);
	http_wait_finish(&ctx, r.wait, &r);
	cr_assert_null(r.wait);
	decode_page(&r, &p);
	cr_assert_eq(p.count, 1);
	cr_assert_eq(p.items[0].sequence, 2);
	cr_assert_str_eq(p.items[0].content, "two");
	cr_assert_eq(p.last_event_id, ack.event_id);
	cr_assert_str_eq(r.route, "/v1/workers/{id}/transcript");
	cr_assert_eq(r.reason, WR_REASON_NONE);
	wr_transcript_page_clear(&p);
	http_response_clear(&r);
	input_ok(id, "three", &ack);
	cr_assert_eq(test_wake_calls(&t), 1, "woken again after finish");
}

Test(handlers, a_parked_transcript_finished_at_its_deadline_is_an_empty_page)
{
	struct test_wake t;
	struct http_response r;
	struct wr_transcript_page p;
	struct wr_input_ack ack;
	char id[WR_ID_MAX + 1], uri[160];

	test_wake_init(&t);
	create(NULL, id);
	uri_for(uri, sizeof(uri), id, "/transcript?wait=1");
	handle_parkable(uri, &t, &r);
	cr_assert_not_null(r.wait);
	http_wait_finish(&ctx, r.wait, &r); /* as at the deadline */
	decode_page(&r, &p);
	cr_assert_eq(p.count, 0);
	cr_assert_eq(p.total_items, 0);
	wr_transcript_page_clear(&p);
	http_response_clear(&r);
	input_ok(id, "late", &ack);
	cr_assert_eq(test_wake_calls(&t), 0, "wake after finish");
}

Test(handlers, busy_to_idle_wakes_a_transcript_follower)
{
	struct test_wake t;
	struct http_response r;
	struct wr_transcript_page p;
	struct wr_input_ack ack;
	char id[WR_ID_MAX + 1], uri[160];

	test_wake_init(&t);
	create("{\"profile\":{\"kind\":\"named\",\"value\":\"slow\"}}", id);
	input_ok(id, "work", &ack);
	uri_for(uri, sizeof(uri), id, "/transcript?after=1&wait=20000");
	handle_parkable(uri, &t, &r);
	cr_assert_not_null(r.wait);
	cr_assert_eq(wr_worker_turn_end(rt, id, NULL), WR_OK);
	cr_assert_eq(test_wake_await(&t, WAKE_WAIT_S), 1);
	http_wait_finish(&ctx, r.wait, &r);
	decode_page(&r, &p);
	cr_assert_eq(p.count, 0);
	cr_assert_eq(p.run_state, WR_RUN_IDLE);
	cr_assert_gt(p.last_event_id, ack.event_id);
	wr_transcript_page_clear(&p);
	http_response_clear(&r);
}

Test(handlers, worker_get_wait_parks_until_last_event_id_passes_after_event)
{
	struct test_wake t;
	struct http_response r;
	struct wr_worker_info *w;
	struct wr_input_ack ack;
	struct wr_error err;
	char id[WR_ID_MAX + 1], uri[160];

	test_wake_init(&t);
	create(NULL, id);
	input_ok(id, "one", &ack);
	/* Already past: answered at once. */
	snprintf(uri, sizeof(uri), "/v1/workers/%s?wait=20000&after_event="
	         "%llu", id, (unsigned long long)ack.event_id - 1);
	handle_parkable(uri, &t, &r);
	cr_assert_null(r.wait);
	cr_assert_eq(r.status, 200, "%s", r.body);
	http_response_clear(&r);
	/* Not yet: parked until the next event. */
	snprintf(uri, sizeof(uri), "/v1/workers/%s?wait=20000&after_event="
	         "%llu", id, (unsigned long long)ack.event_id);
	handle_parkable(uri, &t, &r);
	cr_assert_not_null(r.wait);
	input_ok(id, "two", &ack);
	cr_assert_eq(test_wake_await(&t, WAKE_WAIT_S), 1);
	http_wait_finish(&ctx, r.wait, &r);
	cr_assert_eq(r.status, 200, "%s", r.body);
	cr_assert_eq(wr_json_decode_worker(r.body, r.body_len, "worker", true,
	                                   &w, &err), WR_OK);
	cr_assert_eq(w->last_event_id, ack.event_id);
	cr_assert_eq(w->transcript_len, 2);
	cr_assert_str_eq(r.route, "/v1/workers/{id}");
	wr_worker_info_free(w);
	http_response_clear(&r);
}

Test(handlers, wait_without_a_wake_function_is_answered_at_once)
{
	struct http_response r;
	char id[WR_ID_MAX + 1], uri[160];

	create(NULL, id);
	uri_for(uri, sizeof(uri), id, "/transcript?wait=25000");
	call("GET", uri, NULL, &r); /* test_request: wake NULL */
	cr_assert_null(r.wait);
	cr_assert_eq(r.status, 200);
	http_response_clear(&r);
	snprintf(uri, sizeof(uri), "/v1/workers/%s?wait=25000&after_event=99",
	         id);
	call("GET", uri, NULL, &r);
	cr_assert_null(r.wait);
	cr_assert_eq(r.status, 200);
	http_response_clear(&r);
}

Test(handlers, long_poll_query_errors_are_400_naming_the_parameter)
{
	struct http_response r;
	char id[WR_ID_MAX + 1], uri[160];

	create(NULL, id);
	snprintf(uri, sizeof(uri), "/v1/workers/%s?wait=10", id);
	call("GET", uri, NULL, &r);
	expect_error(&r, 400, "invalid_input", "invalid_query", "after_event",
	             "");
	http_response_clear(&r);
	uri_for(uri, sizeof(uri), id, "/transcript?wait=25001");
	call("GET", uri, NULL, &r);
	expect_error(&r, 400, "invalid_input", "limit_too_large", "wait", "");
	http_response_clear(&r);
	uri_for(uri, sizeof(uri), id, "/transcript?start=0&after=0");
	call("GET", uri, NULL, &r);
	expect_error(&r, 400, "invalid_input", "invalid_query", "after", "");
	http_response_clear(&r);
}

Test(handlers, a_parked_request_on_a_deleted_worker_finishes_404)
{
	struct test_wake t;
	struct http_response r;
	struct wr_worker_info *w;
	struct wr_lifecycle_ack ack;
	char id[WR_ID_MAX + 1], uri[160];

	test_wake_init(&t);
	create(NULL, id);
	cr_assert_eq(wr_worker_get(rt, id, &w, NULL), WR_OK);
	snprintf(uri, sizeof(uri), "/v1/workers/%s?wait=20000&after_event="
	         "%llu", id, (unsigned long long)w->last_event_id);
	wr_worker_info_free(w);
	handle_parkable(uri, &t, &r);
	cr_assert_not_null(r.wait);
	/* Woken by the stop, deleted before its answer is made. */
	cr_assert_eq(wr_worker_stop(rt, id, NULL, &ack, NULL), WR_OK);
	cr_assert_eq(test_wake_await(&t, WAKE_WAIT_S), 1);
	cr_assert_eq(wr_worker_delete(rt, id, &ack, NULL), WR_OK);
	http_wait_finish(&ctx, r.wait, &r);
	expect_error(&r, 404, "unknown_worker", "", "", id);
	http_response_clear(&r);
}

Test(handlers, a_detail_wait_on_an_ended_worker_is_answered_at_once)
{
	struct test_wake t;
	struct http_response r;
	struct wr_lifecycle_ack ack;
	char id[WR_ID_MAX + 1], uri[160];

	test_wake_init(&t);
	create(NULL, id);
	cr_assert_eq(wr_worker_stop(rt, id, NULL, &ack, NULL), WR_OK);
	snprintf(uri, sizeof(uri), "/v1/workers/%s?wait=20000&after_event="
	         "%llu", id, (unsigned long long)ack.event_id + 5);
	handle_parkable(uri, &t, &r);
	cr_assert_null(r.wait, "an ended worker cannot change: no wait");
	cr_assert_eq(r.status, 200, "%s", r.body);
	http_response_clear(&r);
}

Test(handlers, a_parked_answer_carries_the_requests_id)
{
	struct test_wake t;
	struct http_response r;
	struct wr_input_ack ack;
	struct http_request q;
	char id[WR_ID_MAX + 1], uri[160];

	test_wake_init(&t);
	create(NULL, id);
	uri_for(uri, sizeof(uri), id, "/transcript?after=0&wait=20000");
	q = test_request("GET", uri, NULL);
	q.wake = test_wake_fn;
	q.wake_arg = &t;
	q.request_id = "parked-rid.1";
	memset(&r, 0, sizeof(r));
	http_handle(&ctx, &q, &r);
	cr_assert_not_null(r.wait);
	input_ok(id, "one", &ack);
	cr_assert_eq(test_wake_await(&t, WAKE_WAIT_S), 1);
	http_wait_finish(&ctx, r.wait, &r);
	cr_assert_eq(r.status, 200, "%s", r.body);
	cr_assert_str_eq(test_header(&r, "X-Request-Id"), "parked-rid.1");
	http_response_clear(&r);
}

Test(handlers, over_max_waiters_is_503_too_many_waiters_with_retry_after)
{
	struct wr_config cfg = {.runtime_id = RUNTIME_ID, .max_waiters = 1};
	struct test_wake t;
	struct http_response r1, r2;
	struct wr_error err;
	char id[WR_ID_MAX + 1], uri[160];

	teardown();
	cr_assert_eq(wr_runtime_open(&cfg, &rt, &err), WR_OK);
	ctx.rt = rt;
	test_wake_init(&t);
	create(NULL, id);
	uri_for(uri, sizeof(uri), id, "/transcript?wait=20000");
	handle_parkable(uri, &t, &r1);
	cr_assert_not_null(r1.wait);
	handle_parkable(uri, &t, &r2);
	cr_assert_null(r2.wait);
	expect_error(&r2, 503, "runtime_unavailable", "too_many_waiters", "",
	             "");
	cr_assert_str_eq(test_header(&r2, "Retry-After"), "7");
	cr_assert_eq(r2.reason, WR_REASON_TOO_MANY_WAITERS);
	http_response_clear(&r2);
	http_wait_finish(&ctx, r1.wait, &r1);
	cr_assert_eq(r1.status, 200);
	http_response_clear(&r1);
}

Test(handlers, stopping_the_runtime_wakes_a_parked_request)
{
	struct test_wake t;
	struct http_response r;
	struct wr_transcript_page p;
	char id[WR_ID_MAX + 1], uri[160];

	test_wake_init(&t);
	create(NULL, id);
	uri_for(uri, sizeof(uri), id, "/transcript?wait=20000");
	handle_parkable(uri, &t, &r);
	cr_assert_not_null(r.wait);
	cr_assert_eq(wr_runtime_stop(rt, NULL), WR_OK);
	cr_assert_eq(test_wake_await(&t, WAKE_WAIT_S), 1);
	http_wait_finish(&ctx, r.wait, &r);
	decode_page(&r, &p);
	cr_assert_eq(p.status, WR_STATUS_STOPPED);
	wr_transcript_page_clear(&p);
	http_response_clear(&r);
}

/* ---- Idempotency-Key ------------------------------------------------------ */

static void
call_keyed(const char *method, const char *uri, const char *body,
           const char *key, struct http_response *r)
{
	struct http_request q = test_request(method, uri, body);

	q.idempotency_key = key;
	handle(&q, r);
}

Test(handlers, a_keyed_create_retried_gets_the_same_bytes_marked_replayed)
{
	static const char body[] =
		"{\"config_bundle\":{\"id\":\"cb-1\"}}";
	struct http_response a, b;

	call_keyed("POST", "/v1/workers", body, "create-1", &a);
	cr_assert_eq(a.status, 201, "%s", a.body);
	cr_assert_not_null(test_header(&a, "Location"));
	cr_assert_null(test_header(&a, "Idempotent-Replayed"));
	call_keyed("POST", "/v1/workers", body, "create-1", &b);
	cr_assert_eq(b.status, 201, "%s", b.body);
	cr_assert_str_eq(b.body, a.body);
	cr_assert_str_eq(test_header(&b, "Location"),
	                 test_header(&a, "Location"));
	cr_assert_str_eq(test_header(&b, "Idempotent-Replayed"), "true");
	cr_assert_eq(worker_count(), 1);
	http_response_clear(&a);
	http_response_clear(&b);
}

Test(handlers, a_keyed_input_retried_while_its_turn_runs_replays_instead_of_409)
{
	static const char in[] = "{\"kind\":\"user\",\"content\":\"go\"}";
	struct http_response a, b;
	char id[WR_ID_MAX + 1], uri[128];

	create("{\"profile\":{\"kind\":\"named\",\"value\":\"slow\"}}", id);
	uri_for(uri, sizeof(uri), id, "/input");
	call_keyed("POST", uri, in, "input-1", &a);
	cr_assert_eq(a.status, 200, "%s", a.body);
	call_keyed("POST", uri, in, "input-1", &b);
	cr_assert_eq(b.status, 200, "%s", b.body);
	cr_assert_str_eq(b.body, a.body);
	cr_assert_str_eq(test_header(&b, "Idempotent-Replayed"), "true");
	http_response_clear(&b);
	/* Without the key the same request is a second input: busy. */
	call("POST", uri, in, &b);
	expect_error(&b, 409, "busy", "turn_in_progress", "", id);
	http_response_clear(&a);
	http_response_clear(&b);
	cr_assert_eq(wr_worker_turn_end(rt, id, NULL), WR_OK);
}

Test(handlers, a_key_reused_for_another_body_is_422_and_changes_nothing)
{
	struct http_response r;

	call_keyed("POST", "/v1/workers", "{}", "k", &r);
	cr_assert_eq(r.status, 201, "%s", r.body);
	http_response_clear(&r);
	call_keyed("POST", "/v1/workers", "{\"mount_refs\":[]}", "k", &r);
	expect_error(&r, 422, "invalid_input", "idempotency_key_reused",
	             "Idempotency-Key", "");
	expect_no_headers(&r);
	http_response_clear(&r);
	cr_assert_eq(worker_count(), 1);
}

Test(handlers, an_invalid_idempotency_key_is_400_naming_the_header)
{
	const char *bad[] = {"with space", "\x7f", "caf\xc3\xa9"};
	struct http_response r;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		call_keyed("POST", "/v1/workers", NULL, bad[i], &r);
		expect_error(&r, 400, "invalid_input", "invalid_value",
		             "Idempotency-Key", "");
		http_response_clear(&r);
	}
	cr_assert_eq(worker_count(), 0);
}

Test(handlers, keyed_stop_cancel_and_delete_replay_their_answers)
{
	struct http_response a, b;
	char id[WR_ID_MAX + 1], uri[128];
	const char *ops[][2] = {{"POST", "/stop"}, {"POST", "/cancel"},
	                        {"DELETE", ""}};

	create(NULL, id);
	for (size_t i = 0; i < 3; i++) {
		char key[16];

		snprintf(key, sizeof(key), "op-%zu", i);
		uri_for(uri, sizeof(uri), id, ops[i][1]);
		call_keyed(ops[i][0], uri, NULL, key, &a);
		cr_assert_eq(a.status, 200, "%s %s", uri, a.body);
		call_keyed(ops[i][0], uri, NULL, key, &b);
		cr_assert_eq(b.status, 200, "%s %s", uri, b.body);
		cr_assert_str_eq(b.body, a.body);
		cr_assert_str_eq(test_header(&b, "Idempotent-Replayed"),
		                 "true");
		http_response_clear(&a);
		http_response_clear(&b);
	}
	cr_assert_eq(worker_count(), 0, "deleted once");
}

Test(handlers, an_empty_idempotency_key_is_no_key_as_nginx_decides)
{
	struct http_response a, b;

	call_keyed("POST", "/v1/workers", NULL, "", &a);
	call_keyed("POST", "/v1/workers", NULL, "", &b);
	cr_assert_eq(a.status, 201, "%s", a.body);
	cr_assert_eq(b.status, 201, "%s", b.body);
	cr_assert_null(test_header(&b, "Idempotent-Replayed"));
	cr_assert_eq(worker_count(), 2);
	http_response_clear(&a);
	http_response_clear(&b);
}

Test(handlers, a_get_ignores_an_idempotency_key)
{
	struct http_response r;

	call_keyed("GET", "/v1/runtime", NULL, "not a key", &r);
	cr_assert_eq(r.status, 200, "%s", r.body);
	http_response_clear(&r);
}

/* ---- request ids (X-Request-Id) ---------------------------------------- */

static bool
is_hex32(const char *s)
{
	return s != NULL && strlen(s) == 32 &&
	       strspn(s, "0123456789abcdef") == 32;
}

Test(handlers, valid_request_id_is_echoed_in_header_and_error_body)
{
	struct http_response r;
	struct http_request q = test_request("GET", "/v1/workers/nope", NULL);

	q.request_id = "Abc.9_z-1";
	handle(&q, &r);
	cr_assert_eq(r.status, 404, "%s", r.body);
	cr_assert_str_eq(test_header(&r, "X-Request-Id"), "Abc.9_z-1");
	cr_assert_not_null(strstr(r.body, "\"request_id\":\"Abc.9_z-1\""),
	                   "%s", r.body);
	http_response_clear(&r);

	q = test_request("GET", "/v1/runtime", NULL);
	q.request_id = "ok-1";
	handle(&q, &r);
	cr_assert_eq(r.status, 200, "%s", r.body);
	cr_assert_str_eq(test_header(&r, "X-Request-Id"), "ok-1");
	http_response_clear(&r);
}

Test(handlers, invalid_or_absent_request_id_is_replaced_by_a_new_one)
{
	static const char *const bad[] = {
		NULL, "", "has space", "quote\"", "new\nline", "caf\xc3\xa9",
		"0123456789012345678901234567890123456789012345678901234567890"
		"1234", /* 65 */
	};
	char seen[sizeof(bad) / sizeof(bad[0])][64];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct http_response r;
		struct http_request q =
			test_request("POST", "/v1/nowhere", NULL);
		const char *id;

		q.request_id = bad[i];
		handle(&q, &r);
		id = test_header(&r, "X-Request-Id");
		cr_assert(is_hex32(id), "case %zu: %s", i, id ? id : "(none)");
		cr_assert_not_null(strstr(r.body, id), "%s", r.body);
		snprintf(seen[i], sizeof(seen[i]), "%s", id);
		for (size_t j = 0; j < i; j++)
			cr_assert_str_neq(seen[j], seen[i]);
		http_response_clear(&r);
	}
}

Test(handlers, sixty_four_character_request_id_is_kept)
{
	static const char id64[] =
		"0123456789012345678901234567890123456789012345678901234567890123";
	struct http_response r;
	struct http_request q = test_request("GET", "/v1/runtime", NULL);

	q.request_id = id64;
	handle(&q, &r);
	cr_assert_str_eq(test_header(&r, "X-Request-Id"), id64);
	http_response_clear(&r);
}

Test(handlers, reason_phrase_is_rfc9110s_or_the_name_of_the_status_class)
{
	static const struct { int status; const char *phrase; } own[] = {
		{ 200, "OK" }, { 201, "Created" }, { 202, "Accepted" },
		{ 204, "No Content" }, { 400, "Bad Request" },
		{ 401, "Unauthorized" }, { 403, "Forbidden" },
		{ 404, "Not Found" }, { 405, "Method Not Allowed" },
		{ 409, "Conflict" }, { 411, "Length Required" },
		{ 413, "Content Too Large" },
		{ 415, "Unsupported Media Type" },
		{ 422, "Unprocessable Content" },
		{ 429, "Too Many Requests" },
		{ 500, "Internal Server Error" }, { 501, "Not Implemented" },
		{ 502, "Bad Gateway" }, { 503, "Service Unavailable" },
		{ 504, "Gateway Timeout" },
		/* No phrase of its own: the class (RFC 9110, section 15). */
		{ 103, "Informational" }, { 206, "Successful" },
		{ 308, "Redirection" }, { 418, "Client Error" },
		{ 507, "Server Error" }, { 0, "Server Error" },
		{ 600, "Server Error" },
	};

	for (size_t i = 0; i < sizeof own / sizeof own[0]; i++)
		cr_expect_str_eq(http_reason_phrase(own[i].status),
		                 own[i].phrase, "status %d", own[i].status);
}

/* The gauge of live worker processes is spawned - exited; read while a
 * child is spawned and reaped, exited may come out above spawned.  It is
 * then 0, never 2^64 - 1 (a months-long scrape would graph 1.8e19). */
Test(handlers, the_exec_children_gauge_is_never_below_zero)
{
	struct wr_metrics m;
	struct wr_error e;
	char *text;
	size_t len = 0;

	cr_assert_eq(wr_runtime_metrics(rt, &m, &e), WR_OK);
	m.children_spawned = 5;
	m.children_exited = 6;
	text = http_metrics_render(&ctx, &m, &len);
	cr_assert_not_null(text);
	cr_assert_not_null(strstr(text, "\nworker_runtime_exec_children 0\n"),
	                   "%s", strstr(text, "worker_runtime_exec_children "));
	free(text);
}
