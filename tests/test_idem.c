/*
 * test_idem.c - idempotency keys in the library (wr_worker_*_keyed): a
 * retry gets the first answer byte for byte and changes nothing, another
 * request under the same key is idempotency_key_reused, a key in flight
 * is idempotency_in_flight, keys expire (injected clock), are bounded,
 * survive a reopen of the fs store and its snapshots, and expired ones
 * are dropped by a snapshot.  Links src/libwr-core.la for the wr__ seams.
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
	test_tmpdir_create(base, sizeof(base), "idem");
	snprintf(spec, sizeof(spec), "fs:%s/store", base);
}

static void
teardown(void)
{
	test_tmpdir_remove(base);
}

TestSuite(idem, .init = setup, .fini = teardown, .timeout = 60);

/* ---- helpers ------------------------------------------------------------ */

static struct wr_runtime *
open_with(const char *store, uint32_t max_keys, uint64_t ttl_ms)
{
	struct wr_config cfg = {.runtime_id = "rt-idem", .store = store,
	                        .max_idempotency_keys = max_keys,
	                        .idempotency_ttl_ms = ttl_ms};
	struct wr_runtime *rt = NULL;
	struct wr_error e;

	cr_assert_eq(wr_runtime_open(&cfg, &rt, &e), WR_OK, "open: %s",
	             e.message);
	return rt;
}

static struct wr_idempotency
key_for(const char *key, const char *path, const char *body)
{
	return (struct wr_idempotency){key, "POST", path, body, strlen(body)};
}

/* A keyed create that succeeds; returns its answer. */
static struct wr_idempotent_result
create_ok(struct wr_runtime *rt, const char *key, const char *body)
{
	struct wr_idempotency k = key_for(key, "/v1/workers", body);
	struct wr_idempotent_result r;
	struct wr_error e;

	cr_assert_eq(wr_worker_create_keyed(rt, NULL, &k, &r, &e), WR_OK,
	             "create %s: %s (%s)", key, e.message,
	             wr_reason_name(e.reason));
	return r;
}

static uint64_t
worker_count(struct wr_runtime *rt)
{
	struct wr_runtime_summary s;
	struct wr_error e;

	cr_assert_eq(wr_runtime_summary(rt, &s, &e), WR_OK);
	return s.worker_count;
}

static void
assert_same_answer(const struct wr_idempotent_result *a,
                   const struct wr_idempotent_result *b)
{
	cr_assert_eq(a->status, b->status);
	cr_assert_eq(a->body_len, strlen(a->body));
	cr_assert_eq(a->body_len, b->body_len);
	cr_assert(memcmp(a->body, b->body, a->body_len) == 0,
	          "bodies differ:\n%s\n%s", a->body, b->body);
	cr_assert_str_eq(a->worker_id, b->worker_id);
}

/* A keyed input on worker id; returns its answer. */
static wr_err
input_keyed(struct wr_runtime *rt, const char *id, const char *key,
            const char *text, struct wr_idempotent_result *r,
            struct wr_error *e)
{
	struct wr_input in = {.kind = WR_INPUT_USER, .content = (char *)text};
	char path[128];
	struct wr_idempotency k;

	snprintf(path, sizeof(path), "/v1/workers/%s/input", id);
	k = key_for(key, path, text);
	return wr_worker_input_keyed(rt, id, &in, &k, r, e);
}

/* ---- replay and mismatch ------------------------------------------------ */

Test(idem, a_retried_create_gets_the_same_bytes_and_creates_one_worker)
{
	struct wr_runtime *rt = open_with(NULL, 0, 0);
	struct wr_idempotent_result a = create_ok(rt, "k-1", "{}");
	struct wr_idempotent_result b = create_ok(rt, "k-1", "{}");

	cr_assert_eq(a.status, 201);
	cr_assert_not(a.replayed);
	cr_assert(b.replayed);
	assert_same_answer(&a, &b);
	cr_assert(strstr(a.body, a.worker_id) != NULL);
	cr_assert_eq(worker_count(rt), 1);
	wr_idempotent_result_clear(&a);
	wr_idempotent_result_clear(&b);
	wr_runtime_close(rt);
}

Test(idem, a_retried_input_appends_one_entry_and_answers_the_same_ack)
{
	struct wr_runtime *rt = open_with(NULL, 0, 0);
	struct wr_idempotent_result w = create_ok(rt, "c", "{}");
	struct wr_idempotent_result a, b;
	struct wr_error e;

	cr_assert_eq(input_keyed(rt, w.worker_id, "i", "hello", &a, &e), WR_OK);
	cr_assert_eq(input_keyed(rt, w.worker_id, "i", "hello", &b, &e), WR_OK);
	cr_assert_eq(a.status, 200);
	cr_assert(b.replayed);
	assert_same_answer(&a, &b);
	cr_assert_eq(test_transcript_len(rt, w.worker_id), 1);
	wr_idempotent_result_clear(&a);
	wr_idempotent_result_clear(&b);
	wr_idempotent_result_clear(&w);
	wr_runtime_close(rt);
}

Test(idem, the_same_key_with_another_body_or_path_is_key_reused_and_changes_nothing)
{
	struct wr_runtime *rt = open_with(NULL, 0, 0);
	struct wr_idempotent_result w = create_ok(rt, "k", "{}");
	struct wr_idempotency other = key_for("k", "/v1/workers",
	                                      "{\"profile\":null}");
	struct wr_idempotent_result r, s;
	struct wr_error e;

	cr_assert_eq(wr_worker_create_keyed(rt, NULL, &other, &r, &e),
	             WR_EINVALID_INPUT);
	cr_assert_eq(e.reason, WR_REASON_IDEMPOTENCY_KEY_REUSED);
	cr_assert_str_eq(e.field, "Idempotency-Key");
	/* Same body, another path (an input under the create's key). */
	cr_assert_eq(input_keyed(rt, w.worker_id, "k", "{}", &s, &e),
	             WR_EINVALID_INPUT);
	cr_assert_eq(e.reason, WR_REASON_IDEMPOTENCY_KEY_REUSED);
	cr_assert_eq(worker_count(rt), 1);
	cr_assert_eq(test_transcript_len(rt, w.worker_id), 0);
	wr_idempotent_result_clear(&w);
	wr_runtime_close(rt);
}

Test(idem, a_failed_mutation_stores_no_key)
{
	struct wr_runtime *rt = open_with(NULL, 0, 0);
	struct wr_idempotent_result r;
	struct wr_error e;

	cr_assert_eq(input_keyed(rt, "w-nope", "k", "hi", &r, &e),
	             WR_EUNKNOWN_WORKER);
	/* The key is free: a create under it runs. */
	r = create_ok(rt, "k", "{}");
	cr_assert_not(r.replayed);
	wr_idempotent_result_clear(&r);
	wr_runtime_close(rt);
}

Test(idem, invalid_keys_are_refused_naming_the_header)
{
	struct wr_runtime *rt = open_with(NULL, 0, 0);
	char longkey[WR_IDEMPOTENCY_KEY_MAX + 2];
	const char *bad[] = {"", "a b", "tab\tkey", "caf\xc3\xa9", longkey};
	struct wr_idempotent_result r;
	struct wr_error e;

	memset(longkey, 'k', sizeof(longkey) - 1);
	longkey[sizeof(longkey) - 1] = '\0';
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct wr_idempotency k = key_for(bad[i], "/v1/workers", "");
		cr_assert_eq(wr_worker_create_keyed(rt, NULL, &k, &r, &e),
		             WR_EINVALID_INPUT, "key %zu", i);
		cr_assert_str_eq(e.field, "Idempotency-Key");
	}
	longkey[WR_IDEMPOTENCY_KEY_MAX] = '\0'; /* 255: the longest valid */
	r = create_ok(rt, longkey, "");
	wr_idempotent_result_clear(&r);
	cr_assert_eq(worker_count(rt), 1);
	wr_runtime_close(rt);
}

/* A byte an error message names counts from 0 (docs/api.md, Errors). */
Test(idem, an_invalid_key_byte_is_named_from_0)
{
	struct wr_runtime *rt = open_with(NULL, 0, 0);
	const char *bad[] = {"a b", "\xc3\xa9", "ab\x7f"};
	const char *want[] = {"byte 1 is not", "byte 0 is not", "byte 2 is not"};
	struct wr_idempotent_result r;
	struct wr_error e;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct wr_idempotency k = key_for(bad[i], "/v1/workers", "");
		cr_assert_eq(wr_worker_create_keyed(rt, NULL, &k, &r, &e),
		             WR_EINVALID_INPUT, "key %zu", i);
		cr_assert(strstr(e.message, want[i]) != NULL,
		          "key %zu: \"%s\", want \"%s\"", i, e.message,
		          want[i]);
	}
	wr_runtime_close(rt);
}

Test(idem, a_keyed_stop_of_an_ended_worker_replays_after_its_delete)
{
	struct wr_runtime *rt = open_with(spec, 0, 0);
	struct wr_idempotent_result w = create_ok(rt, "c", "{}");
	struct wr_idempotency k = key_for("s", "/stop", "");
	struct wr_idempotent_result a, b, d;
	struct wr_lifecycle_ack ack;
	struct wr_error e;

	cr_assert_eq(wr_worker_stop(rt, w.worker_id, NULL, &ack, &e), WR_OK);
	/* A stop that changes nothing stores its key alone. */
	cr_assert_eq(wr_worker_stop_keyed(rt, w.worker_id, NULL, &k, &a, &e),
	             WR_OK);
	cr_assert_eq(wr_worker_delete_keyed(rt, w.worker_id,
	                                    &(struct wr_idempotency){
	                                            "d", "DELETE", "/d", NULL,
	                                            0},
	                                    &d, &e),
	             WR_OK);
	wr_runtime_close(rt);
	rt = open_with(spec, 0, 0);
	cr_assert_eq(wr_worker_stop_keyed(rt, w.worker_id, NULL, &k, &b, &e),
	             WR_OK, "%s", e.message);
	cr_assert(b.replayed);
	assert_same_answer(&a, &b);
	wr_idempotent_result_clear(&a);
	wr_idempotent_result_clear(&b);
	wr_idempotent_result_clear(&d);
	wr_idempotent_result_clear(&w);
	wr_runtime_close(rt);
}

/* ---- in flight: the first request waits in fdatasync -------------------- */

static void *
create_thread(void *arg)
{
	struct wr_idempotent_result *r = malloc(sizeof(*r));

	*r = create_ok(arg, "slow", "{}");
	return r;
}

Test(idem, the_same_key_while_the_first_request_is_in_flight_is_busy)
{
	struct wr_runtime *rt = open_with(spec, 0, 0);
	struct wr_idempotency k = key_for("slow", "/v1/workers", "{}");
	struct wr_idempotent_result r, *first;
	struct wr_error e;
	pthread_t t;

	test_gate_install(rt);
	test_gate_set(true);
	cr_assert_eq(pthread_create(&t, NULL, create_thread, rt), 0);
	test_gate_await_entered(1); /* the first create is in its fdatasync */
	cr_assert_eq(wr_worker_create_keyed(rt, NULL, &k, &r, &e), WR_EBUSY);
	cr_assert_eq(e.reason, WR_REASON_IDEMPOTENCY_IN_FLIGHT);
	test_gate_set(false);
	pthread_join(t, (void **)&first);
	cr_assert_eq(wr_worker_create_keyed(rt, NULL, &k, &r, &e), WR_OK);
	cr_assert(r.replayed);
	assert_same_answer(first, &r);
	cr_assert_eq(worker_count(rt), 1);
	wr_idempotent_result_clear(first);
	free(first);
	wr_idempotent_result_clear(&r);
	wr_runtime_close(rt);
}

/* ---- expiry and the bound (an injected clock) ---------------------------- */

static _Atomic int64_t skew_ms;

static int64_t
skewed_now(void)
{
	return wr__now_ms() + atomic_load(&skew_ms);
}

Test(idem, an_expired_key_is_forgotten_and_a_request_under_it_runs_anew)
{
	struct wr_runtime *rt = open_with(NULL, 0, 3600 * 1000);
	struct wr_idempotent_result a = create_ok(rt, "k", "{}"), b;

	wr__runtime_set_clock(rt, skewed_now);
	atomic_store(&skew_ms, 3600 * 1000 - 60 * 1000); /* 59 min later */
	b = create_ok(rt, "k", "{}");
	cr_assert(b.replayed, "a key is kept for its whole TTL");
	wr_idempotent_result_clear(&b);
	atomic_store(&skew_ms, 3600 * 1000); /* an hour later */
	b = create_ok(rt, "k", "{\"profile\":null}");
	cr_assert_not(b.replayed);
	cr_assert_str_neq(a.worker_id, b.worker_id);
	cr_assert_eq(worker_count(rt), 2);
	wr_idempotent_result_clear(&a);
	wr_idempotent_result_clear(&b);
	wr_runtime_close(rt);
}

Test(idem, at_the_bound_a_new_key_is_refused_and_unkeyed_requests_go_on)
{
	struct wr_runtime *rt = open_with(NULL, 2, 3600 * 1000);
	struct wr_idempotent_result a = create_ok(rt, "k1", "{}");
	struct wr_idempotent_result b = create_ok(rt, "k2", "{}");
	struct wr_idempotency k3 = key_for("k3", "/v1/workers", "{}");
	struct wr_idempotent_result c;
	struct wr_error e;

	cr_assert_eq(wr_worker_create_keyed(rt, NULL, &k3, &c, &e),
	             WR_EUNAVAILABLE);
	cr_assert_eq(e.reason, WR_REASON_IDEMPOTENCY_KEYS_FULL);
	cr_assert_eq(worker_count(rt), 2, "nothing was done");
	/* The stored keys still answer. */
	wr_idempotent_result_clear(&a);
	a = create_ok(rt, "k1", "{}");
	cr_assert(a.replayed);
	cr_assert_eq(wr_worker_create(rt, NULL, NULL, &e), WR_OK);
	/* Once they expire, the room is there again. */
	wr__runtime_set_clock(rt, skewed_now);
	atomic_store(&skew_ms, 3600 * 1000);
	c = create_ok(rt, "k3", "{}");
	cr_assert_not(c.replayed);
	wr_idempotent_result_clear(&a);
	wr_idempotent_result_clear(&b);
	wr_idempotent_result_clear(&c);
	wr_runtime_close(rt);
}

/* A full table refuses each new key after one look at its oldest key:
 * not a walk of every key under the write lock per refused request. */
Test(idem, a_request_refused_at_the_bound_does_not_walk_every_key)
{
	enum { MAX = 2000, REFUSED = 500 };
	struct wr_runtime *rt = open_with(NULL, MAX, 3600 * 1000);
	struct wr_idempotent_result r;
	struct wr_error e;
	struct wr_idempotent_result w = create_ok(rt, "w", "{}");
	char key[32];
	const char *wid = w.worker_id;
	uint64_t before;

	for (int i = 1; i < MAX; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		cr_assert_eq(input_keyed(rt, wid, key, "x", &r, &e), WR_OK,
		             "%s: %s", key, e.message);
		wr_idempotent_result_clear(&r);
	}
	before = rt->ik_swept;
	for (int i = 0; i < REFUSED; i++) {
		snprintf(key, sizeof(key), "new%d", i);
		cr_assert_eq(input_keyed(rt, wid, key, "x", &r, &e),
		             WR_EUNAVAILABLE);
		cr_assert_eq(e.reason, WR_REASON_IDEMPOTENCY_KEYS_FULL);
	}
	cr_assert_lt(rt->ik_swept - before, (uint64_t)REFUSED * 4,
	             "%d refused requests looked at %llu keys", REFUSED,
	             (unsigned long long)(rt->ik_swept - before));
	wr_idempotent_result_clear(&w);
	wr_runtime_close(rt);
}

/* After the clock went back, an expired key behind an unexpired older
 * one is still found at the bound, and the room it held is reused. */
Test(idem, at_the_bound_a_key_expired_behind_a_newer_one_is_dropped)
{
	struct wr_runtime *rt = open_with(NULL, 2, 3600 * 1000);
	struct wr_idempotent_result a, b, c;

	wr__runtime_set_clock(rt, skewed_now);
	atomic_store(&skew_ms, 0);
	a = create_ok(rt, "a", "{}");
	atomic_store(&skew_ms, -2 * 3600 * 1000); /* the clock went back 2 h */
	b = create_ok(rt, "b", "{}");
	/* 1.5 h after b, half an hour before a: only b has expired. */
	atomic_store(&skew_ms, -1800 * 1000);
	c = create_ok(rt, "c", "{}");
	cr_assert_not(c.replayed);
	wr_idempotent_result_clear(&c);
	c = create_ok(rt, "a", "{}");
	cr_assert(c.replayed, "a is kept");
	wr_idempotent_result_clear(&a);
	wr_idempotent_result_clear(&b);
	wr_idempotent_result_clear(&c);
	wr_runtime_close(rt);
}

/* ---- the fs store: reopen, snapshots ------------------------------------ */

Test(idem, a_key_answers_the_same_bytes_after_the_fs_store_reopens)
{
	struct wr_runtime *rt = open_with(spec, 0, 0);
	struct wr_idempotent_result w = create_ok(rt, "c", "{}"), a, b, w2;
	struct wr_error e;

	cr_assert_eq(input_keyed(rt, w.worker_id, "i", "hi", &a, &e), WR_OK);
	wr_runtime_close(rt);
	rt = open_with(spec, 0, 0);
	w2 = create_ok(rt, "c", "{}");
	cr_assert(w2.replayed);
	assert_same_answer(&w, &w2);
	cr_assert_eq(input_keyed(rt, w.worker_id, "i", "hi", &b, &e), WR_OK);
	cr_assert(b.replayed);
	assert_same_answer(&a, &b);
	cr_assert_eq(test_transcript_len(rt, w.worker_id), 1);
	cr_assert_eq(worker_count(rt), 1);
	wr_idempotent_result_clear(&a);
	wr_idempotent_result_clear(&b);
	wr_idempotent_result_clear(&w);
	wr_idempotent_result_clear(&w2);
	wr_runtime_close(rt);
}

Test(idem, an_expired_key_is_ignored_when_the_store_is_replayed)
{
	struct wr_runtime *rt = open_with(spec, 0, 0);
	struct wr_idempotent_result a = create_ok(rt, "k", "{}"), b;
	int64_t t0 = wr__now_ms();

	wr_runtime_close(rt);
	/* Wait until the clock is past the key's 1 ms TTL (a state, not a
	 * guessed duration; bounded). */
	for (int i = 0; i < 1000 && wr__now_ms() <= t0 + 1; i++)
		usleep(1000);
	rt = open_with(spec, 0, 1);
	cr_assert_eq(rt->ik_count, 0, "the replay held on to an expired key");
	b = create_ok(rt, "k", "{\"profile\":null}");
	cr_assert_not(b.replayed);
	cr_assert_eq(worker_count(rt), 2);
	wr_idempotent_result_clear(&a);
	wr_idempotent_result_clear(&b);
	wr_runtime_close(rt);
}

/* Inputs until a snapshot was written (bounded). */
static void
snapshot_now(struct wr_runtime *rt, const char *id)
{
	struct wr_input in = {.kind = WR_INPUT_USER,
	                      .content = "enough bytes for a snapshot"};
	struct wr_input_ack ack;
	struct wr_error e;

	wr__store_fs_set_snapshot_bytes(wr__runtime_store(rt), 4096);
	wr__store_fs_set_snapshot_percent(wr__runtime_store(rt), 1);
	for (int i = 0; i < 200; i++)
		cr_assert_eq(wr_worker_input(rt, id, &in, &ack, &e), WR_OK,
		             "%s", e.message);
	wr__snapshot_wait(rt);
}

static size_t
count_key_in_files(const char *needle)
{
	char cmd[TEST_TMPDIR_SIZE + 128];
	size_t n = 0;
	FILE *f;

	snprintf(cmd, sizeof(cmd), "cat %s/store/* | grep -c '%s'", base,
	         needle);
	f = popen(cmd, "r");
	cr_assert_not_null(f);
	if (fscanf(f, "%zu", &n) != 1)
		n = 0;
	pclose(f);
	return n;
}

/* A write seam that holds the snapshot thread at the first write to its
 * temp file, before it reads a single record (the header is written
 * first), until the test lets it go.  Waits are bounded (20 s). */
static pthread_mutex_t hold_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t hold_cv = PTHREAD_COND_INITIALIZER;
static bool hold_armed, hold_reached, hold_open;

static void
hold_until(bool *flag)
{
	struct timespec until;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 20;
	while (!*flag &&
	       pthread_cond_timedwait(&hold_cv, &hold_mu, &until) == 0)
		;
}

static ssize_t
hold_write(int fd, const void *buf, size_t n)
{
	if (test_fd_is_tmp(fd)) {
		pthread_mutex_lock(&hold_mu);
		if (hold_armed) {
			hold_reached = true;
			pthread_cond_broadcast(&hold_cv);
			hold_until(&hold_open);
		}
		pthread_mutex_unlock(&hold_mu);
	}
	return write(fd, buf, n);
}

static const struct wr__fs_io hold_seam = {hold_write, NULL, NULL, NULL,
                                           NULL};

/* Starts a snapshot with an input to worker id and holds its thread at
 * its first write (what it froze is all it may read from then on). */
static void
hold_snapshot(struct wr_runtime *rt, const char *id)
{
	struct wr__store *st = wr__runtime_store(rt);
	struct wr_input in = {.kind = WR_INPUT_USER, .content = "x"};
	struct wr_error e;
	bool reached;

	wr__store_fs_set_io(st, &hold_seam);
	hold_armed = true;
	wr__store_fs_set_snapshot_bytes(st, 1); /* the next commit starts one */
	cr_assert_eq(wr_worker_input(rt, id, &in, NULL, &e), WR_OK, "%s",
	             e.message);
	pthread_mutex_lock(&hold_mu);
	hold_until(&hold_reached);
	reached = hold_reached;
	pthread_mutex_unlock(&hold_mu);
	cr_assert(reached, "no snapshot ran in the background");
	wr__store_fs_set_snapshot_bytes(st, 0); /* no second one */
}

/* Reuses freed memory (so a read of what was freed sees other bytes),
 * lets the held snapshot go, checks it was written and closes rt. */
static void
release_snapshot_and_close(struct wr_runtime *rt)
{
	struct wr_metrics m;
	struct wr_error e;

	for (int i = 0; i < 64; i++)
		free(strdup("freed memory, reused by someone else"));
	pthread_mutex_lock(&hold_mu);
	hold_open = true;
	pthread_cond_broadcast(&hold_cv);
	pthread_mutex_unlock(&hold_mu);
	wr__snapshot_wait(rt);
	cr_assert_eq(wr_runtime_metrics(rt, &m, &e), WR_OK);
	cr_assert_eq(m.snapshots, 1, "snapshots %ju, failures %ju",
	             (uintmax_t)m.snapshots, (uintmax_t)m.snapshot_failures);
	wr_runtime_close(rt);
	hold_armed = hold_reached = hold_open = false;
}

/* The snapshot freezes the keys by pinning them, not by copying them
 * under the write lock (core/idem.c): a key that expires and is dropped
 * while the snapshot thread has not read it yet must still be written
 * whole, as it was when frozen.  Under valgrind (tests/run-all) a read of
 * a freed key is an error; on a plain build it reads as garbage. */
Test(idem, a_key_dropped_while_the_snapshot_runs_is_written_as_frozen)
{
	struct wr_runtime *rt = open_with(spec, 0, 3600 * 1000);
	struct wr_idempotent_result old, w, r;

	wr__runtime_set_clock(rt, skewed_now);
	atomic_store(&skew_ms, 0);
	old = create_ok(rt, "pinned-old-key", "{}");
	hold_snapshot(rt, old.worker_id);

	/* An hour on, a new key's request sweeps the old one out. */
	atomic_store(&skew_ms, 3600 * 1000);
	w = create_ok(rt, "new-key", "{}");
	/* Once written, the journal that also held the key is gone: only
	 * the snapshot can hold it. */
	release_snapshot_and_close(rt);

	cr_assert_geq(count_key_in_files("pinned-old-key"), 1,
	              "the snapshot holds the key as frozen");
	/* Reopened an hour on: the frozen key has expired and is ignored,
	 * the new one replays. */
	rt = open_with(spec, 0, 3600 * 1000);
	wr__runtime_set_clock(rt, skewed_now);
	r = create_ok(rt, "pinned-old-key", "{}");
	cr_assert_not(r.replayed, "an expired key is ignored on replay");
	wr_idempotent_result_clear(&r);
	r = create_ok(rt, "new-key", "{}");
	cr_assert(r.replayed);
	assert_same_answer(&w, &r);
	wr_idempotent_result_clear(&r);
	wr_idempotent_result_clear(&old);
	wr_idempotent_result_clear(&w);
	wr_runtime_close(rt);
	atomic_store(&skew_ms, 0);
}

/* The snapshot freezes a worker by pinning it and copying its detail
 * plainly, its strings staying the worker's (core/snapshot.c): a worker
 * deleted while the snapshot thread has not written it yet must still be
 * written whole, as it was when frozen, and stay deleted on reopen.
 * Under valgrind or ASan a read of the freed worker is an error. */
Test(idem, a_worker_deleted_while_the_snapshot_runs_is_written_as_frozen)
{
	struct wr_runtime *rt = open_with(spec, 0, 0);
	struct wr_create_request req = {
		.intent = {.kind = WR_INTENT_TASK,
		           .objective = "pinned-worker-objective"}};
	struct wr_worker_info *w = NULL;
	struct wr_error e;
	char id[WR_ID_MAX + 1];

	cr_assert_eq(wr_worker_create(rt, &req, &w, &e), WR_OK, "%s",
	             e.message);
	strcpy(id, w->ref.worker_id);
	wr_worker_info_free(w);
	cr_assert_eq(wr_worker_cancel(rt, id, "frozen-reason", NULL, &e), WR_OK);
	cr_assert_eq(wr_worker_create(rt, NULL, &w, &e), WR_OK);
	hold_snapshot(rt, w->ref.worker_id);
	wr_worker_info_free(w);

	cr_assert_eq(wr_worker_delete(rt, id, NULL, &e), WR_OK, "%s",
	             e.message);
	release_snapshot_and_close(rt);

	cr_assert_geq(count_key_in_files("pinned-worker-objective"), 1,
	              "the snapshot holds the worker as frozen");
	cr_assert_geq(count_key_in_files("frozen-reason"), 1);
	rt = open_with(spec, 0, 0);
	cr_assert_eq(wr_worker_get(rt, id, &w, &e), WR_EUNKNOWN_WORKER,
	             "the delete after the snapshot replays");
	cr_assert_eq(worker_count(rt), 1);
	wr_runtime_close(rt);
}

/* Only the keys a snapshot froze wait on the grave while it runs: a key
 * begun and aborted meanwhile (a keyed request that fails) is freed at
 * once, so a client retrying failing requests with fresh keys during a
 * long snapshot does not grow the process past max_idempotency_keys. */
Test(idem, a_key_aborted_while_the_snapshot_runs_is_freed_at_once)
{
	struct wr_runtime *rt = open_with(spec, 100, 3600 * 1000);
	struct wr_idempotent_result old, r;
	struct wr_error e;
	size_t graves = 0;
	char key[64];

	old = create_ok(rt, "pinned-old-key", "{}");
	hold_snapshot(rt, old.worker_id);
	for (int i = 0; i < 1000; i++) {
		snprintf(key, sizeof(key), "abort-%d", i);
		memset(&r, 0, sizeof(r));
		cr_assert_neq(input_keyed(rt, "no-such-worker", key, "x", &r,
		                          &e), WR_OK);
		wr_idempotent_result_clear(&r);
	}
	pthread_rwlock_rdlock(&rt->lock);
	for (struct idem_entry *g = rt->ik_grave; g != NULL; g = g->hnext)
		graves++;
	pthread_rwlock_unlock(&rt->lock);
	release_snapshot_and_close(rt);
	wr_idempotent_result_clear(&old);
	cr_assert_eq(graves, 0, "grave grew to %zu", graves);
}

Test(idem, a_snapshot_keeps_unexpired_keys_and_drops_expired_ones)
{
	struct wr_runtime *rt = open_with(spec, 0, 3600 * 1000);
	struct wr_idempotent_result old, w, r;

	/* old-key is stored now, new-key an hour later, when the snapshot
	 * is taken: old-key has expired then. */
	wr__runtime_set_clock(rt, skewed_now);
	old = create_ok(rt, "old-key", "{}");
	atomic_store(&skew_ms, 3600 * 1000);
	w = create_ok(rt, "new-key", "{}");
	snapshot_now(rt, w.worker_id);
	wr_runtime_close(rt);
	cr_assert_eq(count_key_in_files("old-key"), 0,
	             "the expired key is gone from the store");
	cr_assert_geq(count_key_in_files("new-key"), 1);
	/* Reopened on the real clock: new-key is fresh, old-key unknown. */
	rt = open_with(spec, 0, 3600 * 1000);
	r = create_ok(rt, "new-key", "{}");
	cr_assert(r.replayed, "the snapshot kept the unexpired key");
	assert_same_answer(&w, &r);
	wr_idempotent_result_clear(&r);
	r = create_ok(rt, "old-key", "{}");
	cr_assert_not(r.replayed);
	wr_idempotent_result_clear(&r);
	wr_idempotent_result_clear(&old);
	wr_idempotent_result_clear(&w);
	wr_runtime_close(rt);
}
