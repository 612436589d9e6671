/*
 * test_commit.c - mutations awaited without a thread (wr_mutation_start,
 * wr_commit_finish) on the fs store: completions come once each, in
 * order, only after the fdatasync covering the record returned; a failed
 * fdatasync fails every waiting commit and changes nothing; close with
 * commits waiting completes them; the memory store answers at once; a
 * caller may lead the group commit (wr_commit_lead) when no round runs.
 * The fs store's fdatasync is held at a gate (sync_gate.h), so every
 * step waits for a state, never for a duration.  Links src/libwr-core.la.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "core/rt.h"
#include "sync_gate.h"
#include "tmpdir.h"

static char base[TEST_TMPDIR_SIZE];
static char spec[TEST_TMPDIR_SIZE + 32];

static void
setup(void)
{
	test_tmpdir_create(base, sizeof(base), "commit");
	snprintf(spec, sizeof(spec), "fs:%s/store", base);
}

static void
teardown(void)
{
	test_tmpdir_remove(base);
}

TestSuite(commit, .init = setup, .fini = teardown, .timeout = 60);

/* ---- completions: each records its order and what had returned -------- */

#define MAX_DONE 16

struct done_log {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int n;
	int who[MAX_DONE];
	int synced[MAX_DONE]; /* fdatasyncs returned when it came */
	int calls[MAX_DONE];
};

static struct done_log dl = {
	PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, {0}, {0}, {0}
};
static int tag[MAX_DONE];

static void
on_done(void *arg)
{
	int i = *(int *)arg;

	pthread_mutex_lock(&dl.mu);
	if (dl.n < MAX_DONE) {
		dl.who[dl.n] = i;
		dl.synced[dl.n] = test_gate_returned();
		dl.n++;
	}
	dl.calls[i]++;
	pthread_cond_broadcast(&dl.cv);
	pthread_mutex_unlock(&dl.mu);
}

/* Waits (at most 20 s) until n completions came; returns how many. */
static int
done_await(int n)
{
	struct timespec until;
	int got;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 20;
	pthread_mutex_lock(&dl.mu);
	while (dl.n < n &&
	       pthread_cond_timedwait(&dl.cv, &dl.mu, &until) == 0)
		;
	got = dl.n;
	pthread_mutex_unlock(&dl.mu);
	return got;
}

static int
done_count(void)
{
	int n;

	pthread_mutex_lock(&dl.mu);
	n = dl.n;
	pthread_mutex_unlock(&dl.mu);
	return n;
}

/* ---- helpers ----------------------------------------------------------- */

static struct wr_runtime *
open_rt(const char *store)
{
	struct wr_config cfg = {.runtime_id = "rt-commit", .store = store};
	struct wr_runtime *rt = NULL;
	struct wr_error e;

	cr_assert_eq(wr_runtime_open(&cfg, &rt, &e), WR_OK, "open: %s",
	             e.message);
	if (strcmp(store, "memory") != 0)
		test_gate_install(rt);
	return rt;
}

static void
create_ok(struct wr_runtime *rt, char id[WR_ID_MAX + 1])
{
	struct wr_worker_info *w = NULL;
	struct wr_error e;

	cr_assert_eq(wr_worker_create(rt, NULL, &w, &e), WR_OK, "%s",
	             e.message);
	snprintf(id, WR_ID_MAX + 1, "%s", w->ref.worker_id);
	wr_worker_info_free(w);
}

/* Starts input text on id with on_done(&tag[i]), to be led (m.lead) or
 * not; *ready out. */
static struct wr_commit *
start_as(struct wr_runtime *rt, const char *id, const char *text, int i,
         bool *ready, bool lead)
{
	struct wr_input in = {WR_INPUT_USER, (char *)text};
	struct wr_mutation m = {.op = WR_MUTATE_INPUT, .worker_id = id,
	                        .input = &in, .lead = lead};
	struct wr_commit *c = NULL;
	struct wr_error e;

	tag[i] = i;
	cr_assert_eq(wr_mutation_start(rt, &m, on_done, &tag[i], &c, ready,
	                               &e),
	             WR_OK, "start: %s", e.message);
	cr_assert_not_null(c);
	return c;
}

static struct wr_commit *
start_input(struct wr_runtime *rt, const char *id, const char *text, int i,
            bool *ready)
{
	return start_as(rt, id, text, i, ready, false);
}

static struct wr_commit *
start_led(struct wr_runtime *rt, const char *id, const char *text, int i,
          bool *ready)
{
	return start_as(rt, id, text, i, ready, true);
}

/* Starts m with its fdatasync held at the gate (the commit thread in it;
 * failing: that fdatasync fails at once, and the store's reset that
 * follows is held instead); its commit completes with on_done(&tag[0]). */
static struct wr_commit *
start_gated(struct wr_runtime *rt, const struct wr_mutation *m, bool failing)
{
	struct wr_commit *c = NULL;
	struct wr_error e;
	bool ready = true;

	test_gate_set(true);
	if (failing)
		test_gate_fail_next(EIO);
	tag[0] = 0;
	cr_assert_eq(wr_mutation_start(rt, m, on_done, &tag[0], &c, &ready,
	                               &e), WR_OK, "%s", e.message);
	cr_assert_not(ready);
	/* failing: the failed one, then the reset's */
	test_gate_await_entered(failing ? 2 : 1);
	return c;
}

static struct wr_commit *
start_held(struct wr_runtime *rt, const struct wr_mutation *m)
{
	return start_gated(rt, m, false);
}

/* Whether rt's store refuses records until it is reset. */
static bool
store_failed(struct wr_runtime *rt)
{
	struct wr_metrics m;

	cr_assert_eq(wr_runtime_metrics(rt, &m, NULL), WR_OK);
	return m.store_failed;
}

/* After a failed fdatasync: waits (at most 20 s, polling the state)
 * until the reset the Runtime runs once it released its lock is over;
 * then the store takes records, or (that reset failed too) the next
 * append tries the reset again. */
static void
await_reset_over(struct wr_runtime *rt)
{
	for (int i = 0; i < 2000 && wr__reset_due(rt); i++)
		usleep(10000);
	cr_assert_not(wr__reset_due(rt), "the store's reset did not end");
}

/* Waits for the store's reset to end, then asserts that the store takes
 * records again and kept nothing of the failed changes: an input to
 * worker id is acknowledged as its transcript's first entry. */
static void
assert_first_input_after_reset(struct wr_runtime *rt, const char *id)
{
	struct wr_input in = {WR_INPUT_USER, "after the reset"};
	struct wr_input_ack ack;
	struct wr_error e;

	await_reset_over(rt);
	cr_assert_eq(wr_worker_input(rt, id, &in, &ack, &e), WR_OK,
	             "the store takes records again: %s", e.message);
	cr_assert_eq(ack.transcript_sequence, 1, "the sequence of a lost "
	             "change was kept");
	cr_assert_eq(test_transcript_len(rt, id), 1);
}

/* ---- the tests ---------------------------------------------------------- */

Test(commit, completions_come_once_each_in_order_after_the_fdatasync)
{
	struct wr_runtime *rt = open_rt(spec);
	struct wr_commit *c[3];
	struct wr_mutation_result r;
	struct wr_error e;
	char id[WR_ID_MAX + 1], text[16];
	bool ready;
	int before;

	create_ok(rt, id);
	test_gate_set(true);
	for (int i = 0; i < 3; i++) {
		snprintf(text, sizeof(text), "in-%d", i);
		c[i] = start_input(rt, id, text, i, &ready);
		cr_assert_not(ready, "a durable store cannot be ready at once");
	}
	test_gate_await_entered(1); /* the commit thread is in its fdatasync */
	before = test_gate_returned();
	cr_assert_eq(done_count(), 0, "completed before the fdatasync "
	             "returned");
	cr_assert_eq(test_transcript_len(rt, id), 0, "visible before durable");
	test_gate_set(false);
	cr_assert_eq(done_await(3), 3);
	for (int i = 0; i < 3; i++) {
		cr_assert_eq(dl.who[i], i, "completion %d was commit %d", i,
		             dl.who[i]);
		cr_assert_gt(dl.synced[i], before, "completed before an "
		             "fdatasync covering it returned");
		cr_assert_eq(wr_commit_finish(c[i], &r, &e), WR_OK, "%s",
		             e.message);
		cr_assert_eq(r.input_ack.transcript_sequence, (uint64_t)i + 1);
		wr_mutation_result_clear(&r);
	}
	cr_assert_eq(test_transcript_len(rt, id), 3);
	wr_runtime_close(rt);
	for (int i = 0; i < 3; i++)
		cr_assert_eq(dl.calls[i], 1, "commit %d completed %d times", i,
		             dl.calls[i]);
}

Test(commit, a_failed_fdatasync_fails_every_waiting_commit_and_changes_nothing)
{
	struct wr_runtime *rt = open_rt(spec);
	struct wr_commit *c[3];
	struct wr_mutation_result r;
	struct wr_error e;
	char id[WR_ID_MAX + 1];
	bool ready;

	create_ok(rt, id);
	test_gate_set(true);
	for (int i = 0; i < 3; i++)
		c[i] = start_input(rt, id, "lost", i, &ready);
	test_gate_await_entered(1);
	test_gate_open_failing(EIO); /* its reset succeeds */
	cr_assert_eq(done_await(3), 3);
	for (int i = 0; i < 3; i++) {
		wr_error_clear(&e);
		cr_assert_eq(wr_commit_finish(c[i], &r, &e), WR_EUNAVAILABLE);
		cr_assert_str_eq(wr_reason_name(e.reason), "store_sync_failed",
		                 "%s", e.message);
	}
	cr_assert_eq(test_transcript_len(rt, id), 0, "a failed sync changed "
	             "the transcript");
	test_gate_fail_with(0);
	assert_first_input_after_reset(rt, id);
	wr_runtime_close(rt);
	rt = open_rt(spec);
	cr_assert_eq(test_transcript_len(rt, id), 1, "a lost input was "
	             "restored");
	wr_runtime_close(rt);
}

static void *
close_main(void *arg)
{
	wr_runtime_close(arg);
	return NULL;
}

Test(commit, close_with_commits_waiting_completes_them_durably)
{
	struct wr_runtime *rt = open_rt(spec);
	struct wr_commit *c[2], *blocking;
	struct wr_mutation_result r;
	struct wr_input in = {WR_INPUT_USER, "no callback"};
	struct wr_mutation m = {.op = WR_MUTATE_INPUT, .input = &in};
	struct wr_error e;
	char id[WR_ID_MAX + 1];
	pthread_t t;
	bool ready;

	create_ok(rt, id);
	test_gate_set(true);
	c[0] = start_input(rt, id, "one", 0, &ready);
	c[1] = start_input(rt, id, "two", 1, &ready);
	m.worker_id = id;
	cr_assert_eq(wr_mutation_start(rt, &m, NULL, NULL, &blocking, &ready,
	                               &e), WR_OK);
	cr_assert_not(ready);
	test_gate_await_entered(1);
	cr_assert_eq(pthread_create(&t, NULL, close_main, rt), 0);
	cr_assert_eq(done_count(), 0);
	test_gate_set(false);
	pthread_join(t, NULL); /* close returned: everything completed */
	cr_assert_eq(done_count(), 2);
	cr_assert_eq(dl.calls[0], 1);
	cr_assert_eq(dl.calls[1], 1);
	/* Finished after the close, as the contract allows. */
	for (int i = 0; i < 2; i++) {
		cr_assert_eq(wr_commit_finish(c[i], &r, &e), WR_OK, "%s",
		             e.message);
		cr_assert_eq(r.input_ack.transcript_sequence, (uint64_t)i + 1);
	}
	cr_assert_eq(wr_commit_finish(blocking, &r, &e), WR_OK, "%s",
	             e.message);
	cr_assert_eq(r.input_ack.transcript_sequence, 3);
	rt = open_rt(spec);
	cr_assert_eq(test_transcript_len(rt, id), 3, "close lost a commit");
	wr_runtime_close(rt);
}

struct finisher {
	struct wr_commit *c;
	wr_err rc;
	uint64_t seq;
	atomic_bool returned;
};

static void *
finish_main(void *arg)
{
	struct finisher *f = arg;
	struct wr_mutation_result r;

	f->rc = wr_commit_finish(f->c, &r, NULL);
	f->seq = r.input_ack.transcript_sequence;
	atomic_store(&f->returned, true);
	return NULL;
}

Test(commit, finish_before_completion_blocks_until_durable)
{
	struct wr_runtime *rt = open_rt(spec);
	struct finisher f = {0};
	char id[WR_ID_MAX + 1];
	pthread_t t;
	bool ready;

	create_ok(rt, id);
	test_gate_set(true);
	f.c = start_input(rt, id, "x", 0, &ready);
	cr_assert_not(ready);
	cr_assert_eq(pthread_create(&t, NULL, finish_main, &f), 0);
	test_gate_await_entered(1);
	cr_assert_not(atomic_load(&f.returned), "answered before durable");
	test_gate_set(false);
	pthread_join(t, NULL);
	cr_assert_eq(f.rc, WR_OK);
	cr_assert_eq(f.seq, 1);
	cr_assert_eq(test_transcript_len(rt, id), 1);
	wr_runtime_close(rt);
	cr_assert_eq(dl.calls[0], 1, "done called %d times", dl.calls[0]);
}

Test(commit, every_mutation_keyed_or_not_completes_with_the_blocking_answer)
{
	struct wr_runtime *rt = open_rt(spec);
	struct wr_idempotency k = {"key-1", "POST", "/v1/workers", "", 0};
	struct wr_mutation m = {.op = WR_MUTATE_CREATE, .key = &k};
	struct wr_mutation_result r;
	struct wr_commit *c;
	struct wr_error e;
	char id[WR_ID_MAX + 1];
	bool ready;

	c = start_held(rt, &m);
	/* In flight until durable, as with the blocking call. */
	{
		struct wr_commit *again;
		cr_assert_eq(wr_mutation_start(rt, &m, NULL, NULL, &again,
		                               &ready, &e), WR_EBUSY);
		cr_assert_str_eq(wr_reason_name(e.reason),
		                 "idempotency_in_flight");
	}
	test_gate_set(false);
	cr_assert_eq(done_await(1), 1);
	cr_assert_eq(wr_commit_finish(c, &r, &e), WR_OK, "%s", e.message);
	cr_assert_eq(r.keyed.status, 201);
	cr_assert_not(r.keyed.replayed);
	snprintf(id, sizeof(id), "%s", r.keyed.worker_id);
	wr_mutation_result_clear(&r);
	/* The same key again: the stored answer, ready at once. */
	cr_assert_eq(wr_mutation_start(rt, &m, on_done, &tag[0], &c, &ready,
	                               &e), WR_OK);
	cr_assert(ready);
	cr_assert_eq(wr_commit_finish(c, &r, &e), WR_OK);
	cr_assert(r.keyed.replayed);
	cr_assert_str_eq(r.keyed.worker_id, id);
	wr_mutation_result_clear(&r);
	/* Stop, repeat stop (nothing new to record), delete. */
	m = (struct wr_mutation){.op = WR_MUTATE_STOP, .worker_id = id};
	for (int i = 0; i < 2; i++) {
		cr_assert_eq(wr_mutation_start(rt, &m, NULL, NULL, &c, &ready,
		                               &e), WR_OK, "%s", e.message);
		cr_assert_eq(ready, i == 1, "a repeat stop of a durable end "
		             "is ready at once");
		cr_assert_eq(wr_commit_finish(c, &r, &e), WR_OK, "%s",
		             e.message);
		cr_assert_eq(r.lifecycle_ack.status, WR_STATUS_STOPPED);
	}
	m.op = WR_MUTATE_DELETE;
	cr_assert_eq(wr_mutation_start(rt, &m, NULL, NULL, &c, &ready, &e),
	             WR_OK, "%s", e.message);
	cr_assert_eq(wr_commit_finish(c, &r, &e), WR_OK, "%s", e.message);
	cr_assert(r.lifecycle_ack.deleted);
	cr_assert_eq(wr_worker_get(rt, id, NULL, &e), WR_EUNKNOWN_WORKER);
	wr_runtime_close(rt);
	cr_assert_eq(dl.calls[0], 1, "done called %d times", dl.calls[0]);
}

Test(commit, the_memory_store_is_ready_at_once_and_never_calls_done)
{
	struct wr_runtime *rt = open_rt("memory");
	struct wr_mutation m = {.op = WR_MUTATE_CREATE};
	struct wr_mutation_result r;
	struct wr_commit *c;
	struct wr_error e;
	bool ready = false;

	tag[0] = 0;
	cr_assert_eq(wr_mutation_start(rt, &m, on_done, &tag[0], &c, &ready,
	                               &e), WR_OK, "%s", e.message);
	cr_assert(ready);
	cr_assert_eq(wr_commit_finish(c, &r, &e), WR_OK);
	cr_assert_not_null(r.worker);
	cr_assert_eq(r.worker->status, WR_STATUS_RUNNING);
	wr_mutation_result_clear(&r);
	m = (struct wr_mutation){.op = WR_MUTATE_INPUT, .worker_id = "w-none"};
	cr_assert_eq(wr_mutation_start(rt, &m, on_done, &tag[0], &c, &ready,
	                               &e), WR_EINVALID_INPUT,
	             "input is required");
	wr_runtime_close(rt);
	cr_assert_eq(done_count(), 0);
}

/* ---- refusals judged on a change not yet durable ---------------------- */

struct call {
	struct wr_runtime *rt;
	const char *id;
	bool delete; /* else an input */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool returned;
	wr_err rc;
	struct wr_error e;
};

static void *
call_main(void *arg)
{
	struct call *k = arg;
	struct wr_input in = {WR_INPUT_USER, "late"};
	struct wr_input_ack ack;
	wr_err rc;

	wr_error_clear(&k->e);
	rc = k->delete ? wr_worker_delete(k->rt, k->id, NULL, &k->e)
	               : wr_worker_input(k->rt, k->id, &in, &ack, &k->e);
	pthread_mutex_lock(&k->mu);
	k->rc = rc;
	k->returned = true;
	pthread_cond_broadcast(&k->cv);
	pthread_mutex_unlock(&k->mu);
	return NULL;
}

/* Whether k returned within ms (a bounded wait for a state). */
static bool
call_returned_within(struct call *k, int ms)
{
	struct timespec until;
	bool r;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += ms / 1000;
	until.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&k->mu);
	while (!k->returned &&
	       pthread_cond_timedwait(&k->cv, &k->mu, &until) == 0)
		;
	r = k->returned;
	pthread_mutex_unlock(&k->mu);
	return r;
}

/* Starts mutation op on id (a stop, or a delete) and holds its fdatasync;
 * then call k runs on another thread.  k must not answer while the
 * fdatasync its refusal would rest on is held; the fdatasync then fails:
 * k's answer is that failure (503 store_sync_failed), not a refusal about
 * a state the worker never reached. */
static void
refusal_waits_for(enum wr_mutation_op op, bool stop_first, bool delete)
{
	struct wr_runtime *rt = open_rt(spec);
	struct wr_mutation m = {.op = op};
	struct wr_commit *c;
	struct wr_mutation_result r;
	struct wr_error e;
	struct call k = {.delete = delete, .mu = PTHREAD_MUTEX_INITIALIZER,
	                 .cv = PTHREAD_COND_INITIALIZER};
	char id[WR_ID_MAX + 1];
	pthread_t t;

	create_ok(rt, id);
	if (stop_first)
		cr_assert_eq(wr_worker_stop(rt, id, NULL, NULL, &e), WR_OK);
	m.worker_id = id;
	c = start_held(rt, &m);
	k.rt = rt;
	k.id = id;
	cr_assert_eq(pthread_create(&t, NULL, call_main, &k), 0);
	cr_assert_not(call_returned_within(&k, 1500), "answered %s while "
	              "the change it was judged on was not durable",
	              wr_reason_name(k.e.reason));
	test_gate_fail_with(EIO);
	test_gate_set(false);
	pthread_join(t, NULL);
	cr_assert_eq(k.rc, WR_EUNAVAILABLE, "%s: %s",
	             wr_reason_name(k.e.reason), k.e.message);
	cr_assert_str_eq(wr_reason_name(k.e.reason), "store_sync_failed");
	cr_assert_eq(wr_commit_finish(c, &r, &e), WR_EUNAVAILABLE);
	test_gate_fail_with(0);
	wr_runtime_close(rt);
}

Test(commit, an_input_refused_on_a_stop_not_yet_durable_waits_for_it)
{
	refusal_waits_for(WR_MUTATE_STOP, false, false);
}

Test(commit, a_repeat_delete_refused_on_a_delete_not_yet_durable_waits_for_it)
{
	refusal_waits_for(WR_MUTATE_DELETE, true, true);
}

/* ---- refusals that wait without a thread ------------------------------ */

/* Starts m (on_done(&tag[1])) while a change it rests on is held short
 * of durable: it must neither be answered nor complete yet. */
static struct wr_commit *
start_parked(struct wr_runtime *rt, const struct wr_mutation *m)
{
	struct wr_commit *c = NULL;
	struct wr_error e;
	bool ready = true;

	tag[1] = 1;
	cr_assert_eq(wr_mutation_start(rt, m, on_done, &tag[1], &c, &ready,
	                               &e), WR_OK,
	             "refused at once (%s) on a change not yet durable",
	             wr_reason_name(e.reason));
	cr_assert_not(ready);
	cr_assert_eq(done_count(), 0, "done before the fdatasync returned");
	return c;
}

/* Lets the held fdatasync return (fails: with EIO; the reset after it
 * succeeds) and waits for the two completions. */
static void
release_held(bool fails)
{
	if (fails)
		test_gate_open_failing(EIO);
	else
		test_gate_set(false);
	cr_assert_eq(done_await(2), 2);
}

/* A keyed input's answer on id with key "late-key" (blocking call). */
static wr_err
input_keyed(struct wr_runtime *rt, const char *id, struct wr_error *e)
{
	struct wr_input in = {WR_INPUT_USER, "late"};
	struct wr_idempotency k = {.key = "late-key", .method = "POST"};
	struct wr_idempotent_result r;
	wr_err rc;

	wr_error_clear(e);
	rc = wr_worker_input_keyed(rt, id, &in, &k, &r, e);
	if (rc == WR_OK)
		wr_idempotent_result_clear(&r);
	return rc;
}

/*
 * The stop (or, delete, the delete) of a worker is started and its
 * fdatasync held; then an input (a repeat delete), keyed or not, is
 * started without a thread.  Its refusal rests on that change, so it is
 * neither answered nor does it wait on the calling thread: WR_OK, not
 * ready, done not called, its key in flight.  Once the fdatasync
 * returns, done is called and the refusal is the answer; if the
 * fdatasync fails, the answer is that failure.  Either way the key is
 * forgotten.
 */
static void
refusal_parks(bool delete, bool keyed, bool fails)
{
	struct wr_runtime *rt = open_rt(spec);
	struct wr_input in = {WR_INPUT_USER, "late"};
	struct wr_idempotency k = {.key = "late-key", .method = "POST"};
	struct wr_mutation m = {.op = delete ? WR_MUTATE_DELETE
	                                     : WR_MUTATE_INPUT,
	                        .input = &in, .key = keyed ? &k : NULL};
	struct wr_mutation held = {.op = delete ? WR_MUTATE_DELETE
	                                        : WR_MUTATE_STOP};
	struct wr_mutation_result r;
	struct wr_commit *first, *c = NULL;
	struct wr_error e;
	char id[WR_ID_MAX + 1];
	wr_err rc;

	create_ok(rt, id);
	if (delete)
		cr_assert_eq(wr_worker_stop(rt, id, NULL, NULL, &e), WR_OK);
	held.worker_id = m.worker_id = id;
	first = start_held(rt, &held);
	c = start_parked(rt, &m);
	if (keyed && !delete) {
		cr_assert_eq(input_keyed(rt, id, &e), WR_EBUSY);
		cr_assert_str_eq(wr_reason_name(e.reason),
		                 "idempotency_in_flight", "%s", e.message);
	}
	release_held(fails);
	wr_error_clear(&e);
	rc = wr_commit_finish(c, &r, &e);
	if (fails) {
		cr_assert_eq(rc, WR_EUNAVAILABLE);
		cr_assert_str_eq(wr_reason_name(e.reason), "store_sync_failed",
		                 "%s", e.message);
	} else if (delete) {
		cr_assert_eq(rc, WR_EUNKNOWN_WORKER, "%s", e.message);
		cr_assert_str_eq(e.worker_id, id);
	} else {
		cr_assert_eq(rc, WR_EUNSUPPORTED, "%s", e.message);
		cr_assert_str_eq(wr_reason_name(e.reason),
		                 "worker_not_running", "%s", e.message);
		cr_assert_str_eq(e.worker_id, id);
	}
	cr_assert_eq(wr_commit_finish(first, &r, &e),
	             fails ? WR_EUNAVAILABLE : WR_OK);
	wr_mutation_result_clear(&r);
	test_gate_fail_with(0);
	if (fails)
		await_reset_over(rt);
	if (keyed && !delete) /* forgotten: runs afresh, on the state now */
		cr_assert_eq(input_keyed(rt, id, &e),
		             fails ? WR_OK : WR_EUNSUPPORTED, "%s", e.message);
	wr_runtime_close(rt);
}

Test(commit, an_input_refused_on_a_stop_not_yet_durable_parks_until_it_is)
{
	refusal_parks(false, false, false);
}

Test(commit, a_parked_refusal_is_the_failure_when_its_fdatasync_fails)
{
	refusal_parks(false, false, true);
}

Test(commit, a_parked_keyed_refusal_holds_its_key_then_forgets_it)
{
	refusal_parks(false, true, false);
}

Test(commit, a_parked_keyed_refusal_whose_fdatasync_fails_forgets_its_key)
{
	refusal_parks(false, true, true);
}

Test(commit, a_repeat_delete_on_a_delete_not_yet_durable_parks_until_it_is)
{
	refusal_parks(true, false, false);
}

Test(commit, a_parked_refusal_is_ready_at_once_once_its_change_is_durable)
{
	struct wr_runtime *rt = open_rt(spec);
	struct wr_input in = {WR_INPUT_USER, "late"};
	struct wr_mutation m = {.op = WR_MUTATE_INPUT, .input = &in};
	struct wr_mutation_result r;
	struct wr_commit *c = NULL;
	struct wr_error e;
	char id[WR_ID_MAX + 1];
	bool ready = false;

	create_ok(rt, id);
	cr_assert_eq(wr_worker_stop(rt, id, NULL, NULL, &e), WR_OK);
	m.worker_id = id;
	tag[1] = 1;
	cr_assert_eq(wr_mutation_start(rt, &m, on_done, &tag[1], &c, &ready,
	                               NULL), WR_OK);
	cr_assert(ready, "the stop is durable: nothing to wait for");
	wr_error_clear(&e);
	cr_assert_eq(wr_commit_finish(c, &r, &e), WR_EUNSUPPORTED);
	cr_assert_str_eq(wr_reason_name(e.reason), "worker_not_running",
	                 "the refusal kept its error though start had none");
	cr_assert_eq(done_count(), 0, "done is never called when ready");
	wr_runtime_close(rt);
}

Test(commit, a_leader_settles_a_parked_refusal_on_its_thread)
{
	struct wr_runtime *rt = open_rt(spec);
	struct wr_input in = {WR_INPUT_USER, "late"};
	struct wr_mutation m = {.op = WR_MUTATE_INPUT, .input = &in,
	                        .lead = true};
	struct wr_mutation_result r;
	struct wr_commit *stop = NULL, *c = NULL;
	struct wr_mutation ms = {.op = WR_MUTATE_STOP, .lead = true};
	struct wr_error e;
	char id[WR_ID_MAX + 1];
	bool ready = true;

	create_ok(rt, id);
	ms.worker_id = m.worker_id = id;
	tag[0] = 0;
	tag[1] = 1;
	cr_assert_eq(wr_mutation_start(rt, &ms, on_done, &tag[0], &stop,
	                               &ready, &e), WR_OK);
	cr_assert_not(ready);
	cr_assert_eq(wr_mutation_start(rt, &m, on_done, &tag[1], &c, &ready,
	                               &e), WR_OK);
	cr_assert_not(ready);
	cr_assert(wr_commit_lead(c), "no round ran: the leader's ends both");
	cr_assert_eq(done_count(), 2);
	cr_assert_eq(wr_commit_finish(c, &r, &e), WR_EUNSUPPORTED);
	cr_assert_eq(wr_commit_finish(stop, &r, &e), WR_OK);
	wr_mutation_result_clear(&r);
	wr_runtime_close(rt);
}

/* A failed fdatasync drops the worker's newest record: what later
 * refusals and repeat stops rest on is then durable, so they answer at
 * once with the state the worker is in, not the old sync's error (the
 * review of 84ebc71: the dropped record's lsn was kept, and a sync for
 * it fails for good). */
Test(commit, after_a_failed_fdatasync_refusals_rest_on_what_is_durable)
{
	struct wr_runtime *rt = open_rt(spec);
	struct wr_input in = {WR_INPUT_USER, "late"};
	struct wr_mutation m = {.op = WR_MUTATE_INPUT, .input = &in};
	struct wr_input_ack ack;
	struct wr_commit *c;
	struct wr_error e;
	char id[WR_ID_MAX + 1];
	bool ready = false;

	create_ok(rt, id);
	cr_assert_eq(wr_worker_stop(rt, id, NULL, NULL, &e), WR_OK);
	test_gate_fail_with(EIO);
	cr_assert_eq(wr_worker_delete(rt, id, NULL, &e), WR_EUNAVAILABLE);
	test_gate_fail_with(0);
	wr_error_clear(&e);
	cr_assert_eq(wr_worker_input(rt, id, &in, &ack, &e), WR_EUNSUPPORTED,
	             "%s: %s", wr_reason_name(e.reason), e.message);
	cr_assert_str_eq(wr_reason_name(e.reason), "worker_not_running");
	cr_assert_eq(wr_worker_stop(rt, id, NULL, NULL, &e), WR_OK,
	             "a repeat stop: %s", e.message);
	m.worker_id = id;
	tag[0] = 0;
	cr_assert_eq(wr_mutation_start(rt, &m, on_done, &tag[0], &c, &ready,
	                               &e), WR_EUNSUPPORTED,
	             "not refused at once, with nothing to wait for");
	cr_assert_null(c);
	wr_runtime_close(rt);
}

/* With max_workers 1 and a creation held short of durable, a second
 * creation's worker_limit_reached counted that creation: it parks until
 * it is durable, then is the refusal; if that creation fails, the limit
 * was never reached, and the answer is the failure (the review of
 * 84ebc71: it was answered at once). */
static void
limit_refusal_parks(bool fails)
{
	struct wr_config cfg = {.runtime_id = "rt-commit", .store = spec,
	                        .limits = {.max_workers = 1}};
	struct wr_mutation m = {.op = WR_MUTATE_CREATE};
	struct wr_mutation_result r;
	struct wr_worker_info *w = NULL;
	struct wr_runtime *rt = NULL;
	struct wr_commit *first, *c = NULL;
	struct wr_error e;
	wr_err rc;

	cr_assert_eq(wr_runtime_open(&cfg, &rt, &e), WR_OK, "%s", e.message);
	test_gate_install(rt);
	first = start_held(rt, &m);
	c = start_parked(rt, &m);
	release_held(fails);
	wr_error_clear(&e);
	rc = wr_commit_finish(c, &r, &e);
	cr_assert_eq(rc, fails ? WR_EUNAVAILABLE : WR_EUNSUPPORTED, "%s",
	             e.message);
	cr_assert_str_eq(wr_reason_name(e.reason), fails ? "store_sync_failed"
	                 : "worker_limit_reached", "%s", e.message);
	cr_assert_eq(wr_commit_finish(first, &r, &e),
	             fails ? WR_EUNAVAILABLE : WR_OK);
	wr_mutation_result_clear(&r);
	test_gate_fail_with(0);
	if (fails)
		await_reset_over(rt);
	rc = wr_worker_create(rt, NULL, &w, &e);
	cr_assert_eq(rc, fails ? WR_OK : WR_EUNSUPPORTED, "then: %s",
	             e.message);
	wr_worker_info_free(w);
	wr_runtime_close(rt);
}

Test(commit, a_limit_refusal_on_a_creation_not_yet_durable_parks_until_it_is)
{
	limit_refusal_parks(false);
}

Test(commit, a_limit_refusal_whose_creation_fails_is_that_failure)
{
	limit_refusal_parks(true);
}

/* A read of worker id on its own thread; returned is set (under mu)
 * once wr_worker_get came back. */
struct reader {
	struct wr_runtime *rt;
	const char *id;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool returned;
	wr_err rc;
};

static void *
reader_main(void *arg)
{
	struct reader *g = arg;
	struct wr_worker_info *w = NULL;
	wr_err rc = wr_worker_get(g->rt, g->id, &w, NULL);

	wr_worker_info_free(w);
	pthread_mutex_lock(&g->mu);
	g->rc = rc;
	g->returned = true;
	pthread_cond_broadcast(&g->cv);
	pthread_mutex_unlock(&g->mu);
	return NULL;
}

/* Waits (at most 20 s, polling the state) until rt's store takes records
 * again after a reset that failed: the commit thread retries it. */
static void
await_store_back(struct wr_runtime *rt)
{
	for (int i = 0; i < 2000 && store_failed(rt); i++)
		usleep(10000);
	cr_assert_not(store_failed(rt), "the store stayed failed 20 s after "
	              "the disk came back");
}

/* Starts a read of worker id on its own thread (g) and asserts that it
 * returns while an fdatasync is held at the gate; the caller joins the
 * thread it returns. */
static pthread_t
read_returns_while_gated(struct reader *g, struct wr_runtime *rt,
                         const char *id)
{
	struct timespec until;
	pthread_t t;

	g->rt = rt;
	g->id = id;
	cr_assert_eq(pthread_create(&t, NULL, reader_main, g), 0);
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += TEST_GATE_BOUND_S / 2;
	pthread_mutex_lock(&g->mu);
	while (!g->returned &&
	       pthread_cond_timedwait(&g->cv, &g->mu, &until) == 0)
		;
	pthread_mutex_unlock(&g->mu);
	cr_assert(g->returned, "the read waited for the reset's fdatasync");
	cr_assert_eq(g->rc, WR_OK);
	return t;
}

/* After a failed fdatasync the store's reset (an ftruncate and an
 * fdatasync) runs without the Runtime's lock: a read is answered while
 * the reset's fdatasync is held (the review of 84ebc71: reads waited for
 * it), and the store takes records again once it is done. */
Test(commit, reads_go_on_while_the_store_resets_after_a_failed_fdatasync)
{
	struct wr_runtime *rt = open_rt(spec);
	struct wr_mutation m = {.op = WR_MUTATE_STOP};
	struct wr_input in = {WR_INPUT_USER, "after"};
	struct wr_mutation_result r;
	struct wr_input_ack ack;
	struct wr_commit *c = NULL;
	struct wr_error e;
	struct reader g = {.mu = PTHREAD_MUTEX_INITIALIZER,
	                   .cv = PTHREAD_COND_INITIALIZER};
	char id[WR_ID_MAX + 1];
	pthread_t t;

	create_ok(rt, id);
	m.worker_id = id;
	c = start_gated(rt, &m, true);
	t = read_returns_while_gated(&g, rt, id);
	cr_assert(store_failed(rt), "takes records before its reset ended");
	cr_assert_eq(wr_worker_input(rt, id, &in, &ack, &e), WR_EUNAVAILABLE);
	cr_assert_str_eq(wr_reason_name(e.reason), "store_failed", "a "
	                 "mutation during the reset: %s", e.message);
	test_gate_set(false);
	pthread_join(t, NULL);
	cr_assert_eq(done_await(1), 1);
	cr_assert_eq(wr_commit_finish(c, &r, &e), WR_EUNAVAILABLE);
	assert_first_input_after_reset(rt, id);
	wr_runtime_close(rt);
}

/* A mutation failed by an fdatasync is answered only once the reset that
 * cut its record from the journal returned: a crash before would replay
 * a change already answered as failed. */
Test(commit, a_failed_commit_is_answered_only_after_its_record_is_cut)
{
	struct wr_runtime *rt = open_rt(spec);
	struct wr_mutation m = {.op = WR_MUTATE_STOP};
	struct wr_mutation_result r;
	struct wr_worker_info *w = NULL;
	struct wr_commit *c = NULL;
	struct wr_error e;
	char id[WR_ID_MAX + 1];

	create_ok(rt, id);
	m.worker_id = id;
	c = start_gated(rt, &m, true);
	cr_assert_eq(done_count(), 0, "answered while its record was still "
	             "in the journal");
	test_gate_set(false);
	cr_assert_eq(done_await(1), 1);
	wr_error_clear(&e);
	cr_assert_eq(wr_commit_finish(c, &r, &e), WR_EUNAVAILABLE);
	cr_assert_str_eq(wr_reason_name(e.reason), "store_sync_failed", "%s",
	                 e.message);
	wr_runtime_close(rt);
	rt = open_rt(spec); /* what a crash right after the answer finds */
	cr_assert_eq(wr_worker_get(rt, id, &w, &e), WR_OK, "%s", e.message);
	cr_assert_eq(w->status, WR_STATUS_RUNNING, "the failed stop came "
	             "back");
	wr_worker_info_free(w);
	wr_runtime_close(rt);
}

/* When the reset fails too, the record may still be in the journal: the
 * answer says so (store_reset_failed), and its key stays in flight until
 * a later reset cut the record; then the retry is applied, once. */
Test(commit, a_commit_whose_reset_fails_too_is_outcome_unknown_and_keeps_its_key)
{
	struct wr_runtime *rt = open_rt(spec);
	struct wr_input in = {WR_INPUT_USER, "maybe"};
	struct wr_idempotency k = {.key = "reset-key", .method = "POST"};
	struct wr_mutation m = {.op = WR_MUTATE_INPUT, .input = &in,
	                        .key = &k};
	struct wr_mutation_result r;
	struct wr_idempotent_result kr;
	struct wr_input_ack ack;
	struct wr_commit *c = NULL;
	struct wr_error e;
	char id[WR_ID_MAX + 1];
	bool ready = true;

	create_ok(rt, id);
	m.worker_id = id;
	test_gate_fail_with(EIO); /* the sync and its reset */
	tag[0] = 0;
	cr_assert_eq(wr_mutation_start(rt, &m, on_done, &tag[0], &c, &ready,
	                               &e), WR_OK, "%s", e.message);
	cr_assert_eq(done_await(1), 1);
	wr_error_clear(&e);
	cr_assert_eq(wr_commit_finish(c, &r, &e), WR_EUNAVAILABLE);
	cr_assert_str_eq(wr_reason_name(e.reason), "store_reset_failed", "%s",
	                 e.message);
	cr_assert_eq(wr_worker_input_keyed(rt, id, &in, &k, &kr, &e),
	             WR_EBUSY);
	cr_assert_str_eq(wr_reason_name(e.reason), "idempotency_in_flight",
	                 "a retry with the key of a change that may come "
	                 "back: %s", e.message);
	test_gate_fail_with(0);
	/* The commit thread retries the reset: the record is cut, the key
	 * forgotten. */
	await_store_back(rt);
	cr_assert_eq(wr_worker_input(rt, id, &in, &ack, &e), WR_OK, "%s",
	             e.message);
	cr_assert_eq(wr_worker_input_keyed(rt, id, &in, &k, &kr, &e), WR_OK,
	             "the key was kept after its record was cut: %s",
	             e.message);
	cr_assert_not(kr.replayed);
	wr_idempotent_result_clear(&kr);
	wr_runtime_close(rt);
	rt = open_rt(spec);
	cr_assert_eq(test_transcript_len(rt, id), 2);
	wr_runtime_close(rt);
}

/* The blocking calls answer the same way: a keyed input whose fdatasync
 * and reset both fail is store_reset_failed, its key stays in flight. */
Test(commit, a_blocking_call_whose_reset_fails_too_is_outcome_unknown)
{
	struct wr_runtime *rt = open_rt(spec);
	struct wr_error e;
	char id[WR_ID_MAX + 1];

	create_ok(rt, id);
	test_gate_fail_with(EIO);
	cr_assert_eq(input_keyed(rt, id, &e), WR_EUNAVAILABLE);
	cr_assert_str_eq(wr_reason_name(e.reason), "store_reset_failed", "%s",
	                 e.message);
	test_gate_fail_with(0);
	cr_assert_eq(input_keyed(rt, id, &e), WR_EBUSY, "a retry with the "
	             "key of a change that may come back: %s", e.message);
	cr_assert_str_eq(wr_reason_name(e.reason), "idempotency_in_flight");
	wr_runtime_close(rt);
}

/* Creates a worker in id, then fails an input's fdatasync and its reset
 * (EIO), so the store is failed with a reset due: the input is refused
 * 503 store_reset_failed.  The gate fails nothing more afterwards only
 * once the caller says so (test_gate_fail_with(0)). */
static void break_store(struct wr_runtime *rt, char id[WR_ID_MAX + 1])
{
	struct wr_input in = {WR_INPUT_USER, "x"};
	struct wr_input_ack ack;
	struct wr_error e;

	create_ok(rt, id);
	test_gate_fail_with(EIO); /* the sync and its reset */
	cr_assert_eq(wr_worker_input(rt, id, &in, &ack, &e), WR_EUNAVAILABLE);
	cr_assert_str_eq(wr_reason_name(e.reason), "store_reset_failed", "%s",
	                 e.message);
}

/* When the reset after a failed fdatasync failed too, the commit thread
 * retries it without the lock: a read is answered while that retry's
 * fdatasync is held (it used to run under the write lock on the thread
 * of the next mutation, and reads waited), a mutation meanwhile is
 * refused store_failed at once, and once it is done the store takes
 * records. */
Test(commit, a_retried_reset_runs_without_the_lock)
{
	struct wr_runtime *rt = open_rt(spec);
	struct wr_input in = {WR_INPUT_USER, "x"};
	struct reader g = {.mu = PTHREAD_MUTEX_INITIALIZER,
	                   .cv = PTHREAD_COND_INITIALIZER};
	struct wr_input_ack ack;
	struct wr_error e;
	char id[WR_ID_MAX + 1];
	pthread_t t;

	break_store(rt, id);
	test_gate_set(true);
	test_gate_fail_with(0);
	test_gate_await_entered(1); /* the retried reset's fdatasync */
	t = read_returns_while_gated(&g, rt, id);
	cr_assert_eq(wr_worker_input(rt, id, &in, &ack, &e), WR_EUNAVAILABLE);
	cr_assert_str_eq(wr_reason_name(e.reason), "store_failed", "a "
	                 "mutation during the retry: %s", e.message);
	test_gate_set(false);
	pthread_join(t, NULL);
	assert_first_input_after_reset(rt, id);
	wr_runtime_close(rt);
}

/* A reset that failed is retried by the commit thread on its own, about
 * once a second, while the store stays failed: a client that only
 * retries with its idempotency key (idempotency_in_flight, which
 * appends nothing) is not left waiting for another client's mutation
 * (the review of 4a398f1: five keyed retries got 409 until an unrelated
 * input came). */
Test(commit, a_failed_reset_is_retried_without_a_mutation)
{
	struct wr_runtime *rt = open_rt(spec);
	struct wr_error e;
	char id[WR_ID_MAX + 1];

	create_ok(rt, id);
	test_gate_fail_with(EIO); /* the sync and its reset */
	cr_assert_eq(input_keyed(rt, id, &e), WR_EUNAVAILABLE);
	cr_assert_str_eq(wr_reason_name(e.reason), "store_reset_failed");
	cr_assert_eq(input_keyed(rt, id, &e), WR_EBUSY);
	test_gate_fail_with(0);
	await_store_back(rt);
	cr_assert_eq(input_keyed(rt, id, &e), WR_OK, "the key's retry: %s",
	             e.message);
	cr_assert_eq(test_transcript_len(rt, id), 1);
	wr_runtime_close(rt);
}

/* Once the Runtime drains (wr_runtime_drain, a server's stop signal), a
 * reset that failed is retried no more: neither the commit thread's timed
 * retry nor a mutation starts one, and close does not cut the journal
 * back either, so the stop waits for no fdatasync of a failing disk (the
 * reviews of cd09fbf and 187b424: SIGTERM on a failing, slow disk ran
 * into --shutdown-timeout behind such a retry, then behind close's cut).
 * A mutation is still refused store_failed. */
Test(commit, a_draining_runtime_retries_no_failed_reset)
{
	struct wr_runtime *rt = open_rt(spec);
	struct wr_input in = {WR_INPUT_USER, "while draining"};
	struct wr_input_ack ack;
	struct wr_error e;
	char id[WR_ID_MAX + 1];
	int synced;

	break_store(rt, id);
	wr_runtime_drain(rt);
	await_reset_over(rt); /* a retry begun before the drain ends (fails) */
	test_gate_set(true); /* a retry now would hold in its fdatasync */
	test_gate_fail_with(0);
	cr_assert_eq(wr_worker_input(rt, id, &in, &ack, &e), WR_EUNAVAILABLE);
	cr_assert_str_eq(wr_reason_name(e.reason), "store_failed", "%s",
	                 e.message);
	cr_assert_not(wr__reset_due(rt), "a retry of the reset was started "
	              "after the drain began");
	cr_assert(store_failed(rt));
	test_gate_set(false);
	synced = test_gate_returned();
	wr_runtime_close(rt);
	cr_assert_eq(test_gate_returned(), synced, "close cut the failed "
	             "journal back (an fdatasync) while draining");
}

/* ---- the group commit's leader (wr_commit_lead) ----------------------- */

Test(commit, a_leader_makes_its_commit_durable_before_lead_returns)
{
	struct wr_runtime *rt = open_rt(spec);
	struct wr_mutation_result r;
	struct wr_commit *c;
	struct wr_error e;
	char id[WR_ID_MAX + 1];
	int before;
	bool ready;

	create_ok(rt, id);
	before = test_gate_returned();
	c = start_led(rt, id, "led", 0, &ready);
	cr_assert_not(ready);
	cr_assert(wr_commit_lead(c), "no round was running: it must lead");
	/* Completed on this thread, after an fdatasync that covered it. */
	cr_assert_eq(done_count(), 1, "done was not called before "
	             "wr_commit_lead returned");
	cr_assert_gt(dl.synced[0], before);
	cr_assert_eq(test_transcript_len(rt, id), 1);
	cr_assert_eq(wr_commit_finish(c, &r, &e), WR_OK, "%s", e.message);
	cr_assert_eq(r.input_ack.transcript_sequence, 1);
	wr_mutation_result_clear(&r);
	wr_runtime_close(rt);
	rt = open_rt(spec);
	cr_assert_eq(test_transcript_len(rt, id), 1, "a led input was lost");
	wr_runtime_close(rt);
	cr_assert_eq(dl.calls[0], 1);
}

Test(commit, lead_returns_at_once_while_a_round_runs_and_the_next_covers_it)
{
	struct wr_runtime *rt = open_rt(spec);
	struct wr_mutation_result r;
	struct wr_commit *c[2];
	struct wr_error e;
	char id[WR_ID_MAX + 1];
	bool ready;

	create_ok(rt, id);
	test_gate_set(true);
	c[0] = start_input(rt, id, "first", 0, &ready);
	test_gate_await_entered(1); /* the commit thread's round */
	c[1] = start_led(rt, id, "second", 1, &ready);
	cr_assert_not(wr_commit_lead(c[1]), "it led while a round ran (or "
	              "waited for it)");
	cr_assert_eq(done_count(), 0, "completed before the fdatasync "
	             "returned");
	test_gate_set(false);
	cr_assert_eq(done_await(2), 2, "the commit thread did not finish the "
	             "commit its leader left");
	for (int i = 0; i < 2; i++) {
		cr_assert_eq(dl.who[i], i);
		cr_assert_eq(wr_commit_finish(c[i], &r, &e), WR_OK, "%s",
		             e.message);
		cr_assert_eq(r.input_ack.transcript_sequence, (uint64_t)i + 1);
		wr_mutation_result_clear(&r);
	}
	wr_runtime_close(rt);
}

Test(commit, a_leader_whose_fdatasync_fails_gets_the_failure_and_changes_nothing)
{
	struct wr_runtime *rt = open_rt(spec);
	struct wr_mutation_result r;
	struct wr_commit *c;
	struct wr_error e;
	char id[WR_ID_MAX + 1];
	bool ready;

	create_ok(rt, id);
	test_gate_fail_next(EIO); /* its reset succeeds */
	c = start_led(rt, id, "lost", 0, &ready);
	cr_assert(wr_commit_lead(c));
	cr_assert_eq(done_count(), 1);
	wr_error_clear(&e);
	cr_assert_eq(wr_commit_finish(c, &r, &e), WR_EUNAVAILABLE);
	cr_assert_str_eq(wr_reason_name(e.reason), "store_sync_failed", "%s",
	                 e.message);
	cr_assert_eq(test_transcript_len(rt, id), 0);
	wr_runtime_close(rt);
}

Test(commit, the_memory_store_is_ready_at_once_and_lead_is_a_no_op)
{
	struct wr_runtime *rt = open_rt("memory");
	struct wr_mutation_result r;
	struct wr_commit *c;
	struct wr_error e;
	char id[WR_ID_MAX + 1];
	bool ready;

	create_ok(rt, id);
	c = start_led(rt, id, "mem", 0, &ready);
	cr_assert(ready);
	cr_assert(wr_commit_lead(c));
	cr_assert_eq(done_count(), 0, "done is never called when ready");
	cr_assert_eq(wr_commit_finish(c, &r, &e), WR_OK, "%s", e.message);
	wr_mutation_result_clear(&r);
	wr_runtime_close(rt);
}
