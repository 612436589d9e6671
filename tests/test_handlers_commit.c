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
#include "tmpdir.h"

static char base[TEST_TMPDIR_SIZE];
static char spec[TEST_TMPDIR_SIZE + 32];
static struct wr_runtime *rt;
static struct http_ctx ctx;

/* ---- the gate: fdatasync waits while it is shut ------------------------ */

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_cv = PTHREAD_COND_INITIALIZER;
static bool g_shut;
static int g_entered;
static atomic_int g_errno;

static int
gated_fdatasync(int fd)
{
	struct timespec until;
	int e;

	pthread_mutex_lock(&g_mu);
	g_entered++;
	pthread_cond_broadcast(&g_cv);
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 5; /* bound: today's blocking handler returns */
	while (g_shut &&
	       pthread_cond_timedwait(&g_cv, &g_mu, &until) == 0)
		;
	pthread_mutex_unlock(&g_mu);
	if ((e = atomic_load(&g_errno)) != 0) {
		errno = e;
		return -1;
	}
	return fdatasync(fd);
}

static const struct wr__fs_io gate_seam = {NULL, gated_fdatasync, NULL};

static void
gate_set(bool shut)
{
	pthread_mutex_lock(&g_mu);
	g_shut = shut;
	if (shut)
		g_entered = 0;
	pthread_cond_broadcast(&g_cv);
	pthread_mutex_unlock(&g_mu);
}

static void
gate_await_entered(void)
{
	struct timespec until;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 20;
	pthread_mutex_lock(&g_mu);
	while (g_entered < 1 &&
	       pthread_cond_timedwait(&g_cv, &g_mu, &until) == 0)
		;
	cr_assert_geq(g_entered, 1, "no fdatasync reached the gate");
	pthread_mutex_unlock(&g_mu);
}

/* ---- wake: as a responder's, counted ----------------------------------- */

static pthread_mutex_t w_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t w_cv = PTHREAD_COND_INITIALIZER;
static int w_calls;

static void
wake_fn(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&w_mu);
	w_calls++;
	pthread_cond_broadcast(&w_cv);
	pthread_mutex_unlock(&w_mu);
}

/* Waits (at most 20 s) for a wake; returns the calls seen. */
static int
wake_await(void)
{
	struct timespec until;
	int n;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 20;
	pthread_mutex_lock(&w_mu);
	while (w_calls == 0 &&
	       pthread_cond_timedwait(&w_cv, &w_mu, &until) == 0)
		;
	n = w_calls;
	pthread_mutex_unlock(&w_mu);
	return n;
}

static int
wake_calls(void)
{
	int n;

	pthread_mutex_lock(&w_mu);
	n = w_calls;
	pthread_mutex_unlock(&w_mu);
	return n;
}

/* ---- fixture ------------------------------------------------------------ */

static void
setup(void)
{
	struct wr_config cfg = {.runtime_id = "rt-park"};
	struct wr_error err;

	test_tmpdir_create(base, sizeof(base), "hcommit");
	snprintf(spec, sizeof(spec), "fs:%s/store", base);
	cfg.store = spec;
	cr_assert_eq(wr_runtime_open(&cfg, &rt, &err), WR_OK, "%s",
	             err.message);
	wr__store_fs_set_io(wr__runtime_store(rt), &gate_seam);
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
	struct http_request q = {
		.method = method,
		.uri = uri,
		.content_type = body ? "application/json" : NULL,
		.body = body,
		.body_len = body ? strlen(body) : 0,
		.request_id = "req-parked-1",
	};

	if (parkable) {
		q.wake = wake_fn;
		q.wake_arg = NULL;
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

static const char *
header(const struct http_response *r, const char *name)
{
	for (size_t i = 0; i < r->n_headers; i++)
		if (strcasecmp(r->headers[i].name, name) == 0)
			return r->headers[i].value;
	return NULL;
}

static uint64_t
transcript_len(const char *id)
{
	struct wr_worker_info *w = NULL;
	uint64_t n;

	cr_assert_eq(wr_worker_get(rt, id, &w, NULL), WR_OK);
	n = w->transcript_len;
	wr_worker_info_free(w);
	return n;
}


/* Parks POST .../input on worker id (the gate shut); returns the wait. */
static struct http_wait *
park_input(const char *id, char *uri, size_t size)
{
	struct http_request q;
	struct http_response r;

	snprintf(uri, size, "/v1/workers/%s/input", id);
	q = mkreq("POST", uri, "{\"kind\":\"user\",\"content\":\"hi\"}", true);
	gate_set(true);
	http_handle(&ctx, &q, &r);
	cr_assert_not_null(r.wait, "the input was answered (%d) instead of "
	                   "parked until durable", r.status);
	cr_assert_null(r.body);
	gate_await_entered();
	/* The deadline is none: the responder sets no timeout for it. */
	cr_assert_eq(http_wait_deadline_ms(r.wait), ULLONG_MAX);
	cr_assert(http_wait_is_commit(r.wait), "a parked input is a commit");
	cr_assert_eq(wake_calls(), 0, "woken before the fdatasync returned");
	cr_assert_eq(transcript_len(id), 0, "visible before durable");
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
	gate_set(false);
	cr_assert_eq(wake_await(), 1);
	http_wait_finish(&ctx, w, &r);
	cr_assert_eq(r.status, 200, "%s", r.body);
	cr_assert_str_eq(r.route, "/v1/workers/{id}/input");
	cr_assert_str_eq(header(&r, "X-Request-Id"), "req-parked-1");
	cr_assert_eq(wr_json_decode_input_ack(r.body, r.body_len, "ack", &ack,
	                                      &err), WR_OK, "%s", r.body);
	cr_assert_eq(ack.transcript_sequence, 1);
	cr_assert_str_eq(ack.ref.worker_id, id);
	cr_assert_eq(transcript_len(id), 1);
	http_response_clear(&r);
	cr_assert_eq(wake_calls(), 1, "woken more than once");
}

Test(handlers_commit, a_parked_input_whose_sync_fails_is_503_and_changes_nothing)
{
	struct http_response r;
	struct wr_error e, derr;
	struct http_wait *w;
	char id[WR_ID_MAX + 1], uri[128];

	create(id);
	w = park_input(id, uri, sizeof(uri));
	atomic_store(&g_errno, EIO);
	gate_set(false);
	cr_assert_eq(wake_await(), 1);
	http_wait_finish(&ctx, w, &r);
	cr_assert_eq(r.status, 503, "%s", r.body);
	cr_assert_eq(wr_json_decode_error(r.body, r.body_len, &e, &derr),
	             WR_OK, "%s", r.body);
	cr_assert_str_eq(wr_reason_name(e.reason), "store_sync_failed", "%s",
	                 r.body);
	cr_assert_str_eq(r.reason, "store_sync_failed");
	http_response_clear(&r);
	atomic_store(&g_errno, 0);
	cr_assert_eq(transcript_len(id), 0);
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
	gate_await_entered();
	cr_assert_not(atomic_load(&f.returned), "answered before durable");
	cr_assert_eq(transcript_len(id), 0);
	gate_set(false);
	pthread_join(t, NULL);
	cr_assert_eq(f.r.status, 200, "%s", f.r.body);
	cr_assert_eq(wr_json_decode_input_ack(f.r.body, f.r.body_len, "ack",
	                                      &ack, &err), WR_OK);
	cr_assert_eq(ack.transcript_sequence, 1);
	cr_assert_eq(transcript_len(id), 1);
	http_response_clear(&f.r);
}

Test(handlers_commit, a_keyed_create_parks_and_its_retry_replays_the_stored_answer)
{
	struct http_request q = mkreq("POST", "/v1/workers", NULL, true);
	struct http_response r, r2;

	q.idempotency_key = "k-create";
	gate_set(true);
	http_handle(&ctx, &q, &r);
	cr_assert_not_null(r.wait);
	gate_await_entered();
	/* A retry while in flight: 409, not a second worker. */
	http_handle(&ctx, &q, &r2);
	cr_assert_null(r2.wait);
	cr_assert_eq(r2.status, 409, "%s", r2.body);
	cr_assert_str_eq(r2.reason, "idempotency_in_flight");
	http_response_clear(&r2);
	gate_set(false);
	cr_assert_eq(wake_await(), 1);
	http_wait_finish(&ctx, r.wait, &r);
	cr_assert_eq(r.status, 201, "%s", r.body);
	cr_assert_not_null(header(&r, "Location"));
	/* Durable now: the retry gets the same bytes, at once. */
	http_handle(&ctx, &q, &r2);
	cr_assert_null(r2.wait);
	cr_assert_eq(r2.status, 201);
	cr_assert_str_eq(r2.body, r.body);
	cr_assert_str_eq(header(&r2, "Idempotent-Replayed"), "true");
	http_response_clear(&r);
	http_response_clear(&r2);
}
