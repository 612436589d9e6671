/*
 * test_handlers_commit.c - mutations parked until durable, through
 * http_handle() and http_wait_finish() on the fs store, no sockets: a
 * mutation whose record waits for the fdatasync answers res.wait (the
 * serving thread is free), its wake comes once the fdatasync returned,
 * and http_wait_finish answers the ack (or the sync's error).  The fs
 * store's fdatasync is held at a gate (the wr__fs_io seam): every step
 * waits for a state.  Links src/libwr-core.la for the seam.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <limits.h>

#include "handlers.h"
#include "core/rt.h"
#include "http_fixture.h"
#include "sync_gate.h"
#include "tmpdir.h"

static char base[TEST_TMPDIR_SIZE];
static char spec[TEST_TMPDIR_SIZE + 32];
static struct wr_runtime *rt;
static struct http_ctx ctx;

/* The wake of every parkable request, as a responder's, counted; a wake
 * awaited comes within WAKE_WAIT_S seconds (the suite's bound: 60 s). */
#define WAKE_WAIT_S 20
static struct test_wake woken;

/* ---- fixture ------------------------------------------------------------ */

static void
setup(void)
{
	struct wr_config cfg = {.runtime_id = "rt-park"};
	struct wr_error err;

	test_wake_init(&woken);
	test_tmpdir_create(base, sizeof(base), "hcommit");
	snprintf(spec, sizeof(spec), "fs:%s/store", base);
	cfg.store = spec;
	cr_assert_eq(wr_runtime_open(&cfg, &rt, &err), WR_OK, "%s",
	             err.message);
	test_gate_install(rt);
	ctx = (struct http_ctx){.rt = rt, .max_body = 4096,
	                        .retry_after_s = 1};
}

static void
teardown(void)
{
	wr_runtime_close(rt);
	rt = NULL;
	test_tmpdir_remove(base);
}

TestSuite(handlers_commit, .init = setup, .fini = teardown, .timeout = 60);

static struct http_request
mkreq(const char *method, const char *uri, const char *body, bool parkable)
{
	struct http_request q = test_request(method, uri, body);

	q.request_id = "req-parked-1";
	if (parkable) {
		q.wake = test_wake_fn;
		q.wake_arg = &woken;
	}
	return q;
}

static void
create(char id[WR_ID_MAX + 1])
{
	struct http_request q = mkreq("POST", "/v1/workers", NULL, false);
	struct http_response r;
	struct wr_worker_info *w;
	struct wr_error err;

	http_handle(&ctx, &q, &r);
	cr_assert_eq(r.status, 201, "%s", r.body);
	cr_assert_eq(wr_json_decode_worker(r.body, r.body_len, "worker", true,
	                                   &w, &err), WR_OK);
	snprintf(id, WR_ID_MAX + 1, "%s", w->ref.worker_id);
	wr_worker_info_free(w);
	http_response_clear(&r);
}

/* Parks POST .../input on worker id (the gate shut); returns the wait. */
static struct http_wait *
park_input(const char *id, char *uri, size_t size)
{
	struct http_request q;
	struct http_response r;

	snprintf(uri, size, "/v1/workers/%s/input", id);
	q = mkreq("POST", uri, "{\"kind\":\"user\",\"content\":\"hi\"}", true);
	test_gate_set(true);
	http_handle(&ctx, &q, &r);
	cr_assert_not_null(r.wait, "the input was answered (%d) instead of "
	                   "parked until durable", r.status);
	cr_assert_null(r.body);
	test_gate_await_entered(1);
	/* The deadline is none: the responder sets no timeout for it. */
	cr_assert_eq(http_wait_deadline_ms(r.wait), ULLONG_MAX);
	cr_assert(http_wait_is_commit(r.wait), "a parked input is a commit");
	cr_assert_eq(test_wake_calls(&woken), 0, "woken before the fdatasync "
	             "returned");
	cr_assert_eq(test_transcript_len(rt, id), 0, "visible before durable");
	return r.wait;
}

Test(handlers_commit, a_parked_input_is_answered_with_its_ack_after_the_sync)
{
	struct http_response r;
	struct wr_input_ack ack;
	struct wr_error err;
	struct http_wait *w;
	char id[WR_ID_MAX + 1], uri[128];

	create(id);
	w = park_input(id, uri, sizeof(uri));
	test_gate_set(false);
	cr_assert_eq(test_wake_await(&woken, WAKE_WAIT_S), 1);
	http_wait_finish(&ctx, w, &r);
	cr_assert_eq(r.status, 200, "%s", r.body);
	cr_assert_str_eq(r.route, "/v1/workers/{id}/input");
	cr_assert_str_eq(test_header(&r, "X-Request-Id"), "req-parked-1");
	cr_assert_eq(wr_json_decode_input_ack(r.body, r.body_len, "ack", &ack,
	                                      &err), WR_OK, "%s", r.body);
	cr_assert_eq(ack.transcript_sequence, 1);
	cr_assert_str_eq(ack.ref.worker_id, id);
	cr_assert_eq(test_transcript_len(rt, id), 1);
	http_response_clear(&r);
	cr_assert_eq(test_wake_calls(&woken), 1, "woken more than once");
}

Test(handlers_commit, a_parked_input_whose_sync_fails_is_503_and_changes_nothing)
{
	struct http_response r;
	struct wr_error e, derr;
	struct http_wait *w;
	char id[WR_ID_MAX + 1], uri[128];

	create(id);
	w = park_input(id, uri, sizeof(uri));
	test_gate_open_failing(EIO); /* its reset succeeds */
	cr_assert_eq(test_wake_await(&woken, WAKE_WAIT_S), 1);
	http_wait_finish(&ctx, w, &r);
	cr_assert_eq(r.status, 503, "%s", r.body);
	cr_assert_eq(wr_json_decode_error(r.body, r.body_len, &e, &derr),
	             WR_OK, "%s", r.body);
	cr_assert_str_eq(wr_reason_name(e.reason), "store_sync_failed", "%s",
	                 r.body);
	cr_assert_eq(r.reason, WR_REASON_STORE_SYNC_FAILED);
	http_response_clear(&r);
	test_gate_fail_with(0);
	cr_assert_eq(test_transcript_len(rt, id), 0);
}

struct finisher {
	struct http_wait *w;
	struct http_response r;
	atomic_bool returned;
};

static void *
finish_main(void *arg)
{
	struct finisher *f = arg;

	http_wait_finish(&ctx, f->w, &f->r);
	atomic_store(&f->returned, true);
	return NULL;
}

Test(handlers_commit, finish_of_a_parked_mutation_before_its_wake_waits_for_durability)
{
	struct finisher f = {0};
	struct wr_input_ack ack;
	struct wr_error err;
	char id[WR_ID_MAX + 1], uri[128];
	pthread_t t;

	create(id);
	f.w = park_input(id, uri, sizeof(uri));
	/* The responder stops (or the client left): finished before its
	 * wake, it must not answer while the fdatasync is held. */
	cr_assert_eq(pthread_create(&t, NULL, finish_main, &f), 0);
	test_gate_await_entered(1);
	cr_assert_not(atomic_load(&f.returned), "answered before durable");
	cr_assert_eq(test_transcript_len(rt, id), 0);
	test_gate_set(false);
	pthread_join(t, NULL);
	cr_assert_eq(f.r.status, 200, "%s", f.r.body);
	cr_assert_eq(wr_json_decode_input_ack(f.r.body, f.r.body_len, "ack",
	                                      &ack, &err), WR_OK);
	cr_assert_eq(ack.transcript_sequence, 1);
	cr_assert_eq(test_transcript_len(rt, id), 1);
	http_response_clear(&f.r);
}

Test(handlers_commit, a_keyed_create_parks_and_its_retry_replays_the_stored_answer)
{
	struct http_request q = mkreq("POST", "/v1/workers", NULL, true);
	struct http_response r, r2;

	q.idempotency_key = "k-create";
	test_gate_set(true);
	http_handle(&ctx, &q, &r);
	cr_assert_not_null(r.wait);
	test_gate_await_entered(1);
	/* A retry while in flight: 409, not a second worker. */
	http_handle(&ctx, &q, &r2);
	cr_assert_null(r2.wait);
	cr_assert_eq(r2.status, 409, "%s", r2.body);
	cr_assert_eq(r2.reason, WR_REASON_IDEMPOTENCY_IN_FLIGHT);
	http_response_clear(&r2);
	test_gate_set(false);
	cr_assert_eq(test_wake_await(&woken, WAKE_WAIT_S), 1);
	http_wait_finish(&ctx, r.wait, &r);
	cr_assert_eq(r.status, 201, "%s", r.body);
	cr_assert_not_null(test_header(&r, "Location"));
	/* Durable now: the retry gets the same bytes, at once. */
	http_handle(&ctx, &q, &r2);
	cr_assert_null(r2.wait);
	cr_assert_eq(r2.status, 201);
	cr_assert_str_eq(r2.body, r.body);
	cr_assert_str_eq(test_header(&r2, "Idempotent-Replayed"), "true");
	http_response_clear(&r);
	http_response_clear(&r2);
}

/* ---- a thread that may lead (http_request.may_lead) ------------------- */

Test(handlers_commit, an_input_that_may_lead_is_answered_durable_without_parking)
{
	struct http_request q;
	struct http_response r;
	char id[WR_ID_MAX + 1], uri[128];

	create(id);
	snprintf(uri, sizeof(uri), "/v1/workers/%s/input", id);
	q = mkreq("POST", uri, "{\"kind\":\"user\",\"content\":\"hi\"}",
	          true);
	q.may_lead = true;
	http_handle(&ctx, &q, &r);
	cr_assert_null(r.wait, "parked although no commit round was running");
	cr_assert_eq(r.status, 200, "%s", r.body);
	cr_assert_eq(test_transcript_len(rt, id), 1, "answered before durable");
	/* Its wake came on this thread, before the answer (a responder
	 * then finds the request woken early). */
	cr_assert_eq(test_wake_calls(&woken), 1);
	http_response_clear(&r);
}

Test(handlers_commit, an_input_that_may_lead_parks_while_a_round_runs)
{
	struct http_request q;
	struct http_response r;
	struct http_wait *w[2];
	char id[WR_ID_MAX + 1], uri[128];

	create(id);
	w[0] = park_input(id, uri, sizeof(uri)); /* the gate shut, entered */
	q = mkreq("POST", uri, "{\"kind\":\"user\",\"content\":\"two\"}",
	          true);
	q.may_lead = true;
	http_handle(&ctx, &q, &r);
	cr_assert_not_null(r.wait, "answered (%d) while another round held "
	                   "the fdatasync", r.status);
	w[1] = r.wait;
	test_gate_set(false);
	for (int i = 0; i < 2; i++) { /* each blocks until durable */
		http_wait_finish(&ctx, w[i], &r);
		cr_assert_eq(r.status, 200, "%s", r.body);
		http_response_clear(&r);
	}
	cr_assert_eq(test_wake_calls(&woken), 2);
	cr_assert_eq(test_transcript_len(rt, id), 2);
}

/* An input refused on a stop not yet durable parks like the stop (no
 * thread waits for the disk), then is that refusal, 409
 * worker_not_running, once the stop is durable. */
Test(handlers_commit, an_input_refused_on_a_stop_not_yet_durable_parks_then_is_409)
{
	struct http_request q;
	struct http_response rs, ri, r;
	struct wr_error e, derr;
	char id[WR_ID_MAX + 1], uri[128];

	create(id);
	snprintf(uri, sizeof(uri), "/v1/workers/%s/stop", id);
	q = mkreq("POST", uri, NULL, true);
	test_gate_set(true);
	http_handle(&ctx, &q, &rs);
	cr_assert_not_null(rs.wait, "the stop was answered (%d)", rs.status);
	test_gate_await_entered(1);
	snprintf(uri, sizeof(uri), "/v1/workers/%s/input", id);
	q = mkreq("POST", uri, "{\"kind\":\"user\",\"content\":\"hi\"}", true);
	http_handle(&ctx, &q, &ri);
	cr_assert_not_null(ri.wait, "the refusal was answered (%d) before "
	                   "the stop it rests on was durable", ri.status);
	cr_assert(http_wait_is_commit(ri.wait));
	cr_assert_eq(test_wake_calls(&woken), 0);
	test_gate_set(false);
	cr_assert_eq(test_wake_await_n(&woken, 2, WAKE_WAIT_S), 2);
	http_wait_finish(&ctx, rs.wait, &r);
	cr_assert_eq(r.status, 200, "%s", r.body);
	http_response_clear(&r);
	http_wait_finish(&ctx, ri.wait, &r);
	cr_assert_eq(r.status, 409, "%s", r.body);
	cr_assert_eq(wr_json_decode_error(r.body, r.body_len, &e, &derr),
	             WR_OK, "%s", r.body);
	cr_assert_str_eq(wr_reason_name(e.reason), "worker_not_running", "%s",
	                 r.body);
	cr_assert_eq(r.reason, WR_REASON_WORKER_NOT_RUNNING);
	cr_assert_str_eq(r.route, "/v1/workers/{id}/input");
	http_response_clear(&r);
	cr_assert_eq(test_transcript_len(rt, id), 0);
}
