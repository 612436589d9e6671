/*
 * test_waiters.c - watches and wr_worker_wait: what wakes them (an entry,
 * a status change, busy -> idle, deletion, stop, close), the bound, and a
 * cancel racing a wake.  Waits are state-based: a test waits for a flag
 * with a generous bound, never for a guessed duration.
 */
#include "config.h"

#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#include "test_driver.h"
#include "worker-runtime.h"

static struct wr_runtime *rt;
static struct wr_error err;

static void
open_rt(uint32_t max_waiters)
{
	static struct wr_profile profiles[1];
	struct wr_config cfg = {
		.runtime_id = "rt-wait",
		.profiles = profiles,
		.n_profiles = 1,
		.max_waiters = max_waiters,
	};

	profiles[0] = (struct wr_profile){"slow", &wr_test_busy_driver, NULL};
	cr_assert_eq(wr_runtime_open(&cfg, &rt, &err), WR_OK, "%s",
	             err.message);
}

static void
setup(void)
{
	open_rt(0);
}

static void
teardown(void)
{
	wr_runtime_close(rt);
	rt = NULL;
}

TestSuite(waiters, .init = setup, .fini = teardown, .timeout = 20);

static void
create(const char *profile, char id[WR_ID_MAX + 1])
{
	struct wr_create_request req = {0};
	struct wr_worker_info *w = NULL;

	if (profile != NULL) {
		req.profile.kind = WR_PROFILE_NAMED;
		req.profile.value = (char *)profile;
	}
	cr_assert_eq(wr_worker_create(rt, &req, &w, &err), WR_OK, "%s",
	             err.message);
	strcpy(id, w->ref.worker_id);
	wr_worker_info_free(w);
}

static uint64_t
last_event(const char *id)
{
	struct wr_worker_info *w = NULL;
	uint64_t v;

	cr_assert_eq(wr_worker_get(rt, id, &w, &err), WR_OK);
	v = w->last_event_id;
	wr_worker_info_free(w);
	return v;
}

static void
input(const char *id, const char *text)
{
	struct wr_input in = {WR_INPUT_USER, (char *)text};
	struct wr_input_ack ack;

	cr_assert_eq(wr_worker_input(rt, id, &in, &ack, &err), WR_OK, "%s",
	             err.message);
}

static void
flag_wake(void *arg)
{
	atomic_fetch_add((atomic_int *)arg, 1);
}

/* Registers a watch on id after its current last event; asserts one was
 * registered (not satisfied at once). */
static struct wr_watch *
watch(const char *id, atomic_int *flag)
{
	struct wr_watch *w = NULL;

	cr_assert_eq(wr_worker_watch(rt, id, last_event(id), flag_wake, flag,
	                             &w, &err), WR_OK, "%s", err.message);
	cr_assert_not_null(w, "the watch was satisfied at once");
	return w;
}

Test(waiters, a_watch_is_satisfied_at_once_when_the_worker_changed_since)
{
	char id[WR_ID_MAX + 1];
	struct wr_watch *w = (struct wr_watch *)1;
	atomic_int flag = 0;
	uint64_t before;

	create(NULL, id);
	before = last_event(id);
	input(id, "hi");
	cr_assert_eq(wr_worker_watch(rt, id, before, flag_wake, &flag, &w,
	                             &err), WR_OK);
	cr_assert_null(w);
	cr_assert_eq(wr_worker_watch(rt, "w-nobody", 0, flag_wake, &flag, &w,
	                             &err), WR_OK);
	cr_assert_null(w, "an unknown worker is satisfied: read it again");
	cr_assert_eq(atomic_load(&flag), 0);
}

Test(waiters, an_appended_entry_wakes_the_watch_once)
{
	char id[WR_ID_MAX + 1];
	atomic_int flag = 0;
	struct wr_watch *w;

	create(NULL, id);
	w = watch(id, &flag);
	cr_assert_eq(atomic_load(&flag), 0);
	input(id, "one");
	cr_assert_eq(atomic_load(&flag), 1);
	input(id, "two");
	cr_assert_eq(atomic_load(&flag), 1, "wake is called at most once");
	cr_assert(wr_watch_cancel(w));
}

Test(waiters, a_status_change_wakes_the_watch)
{
	char id[WR_ID_MAX + 1];
	struct wr_lifecycle_ack ack;
	atomic_int flag = 0;
	struct wr_watch *w;

	create(NULL, id);
	w = watch(id, &flag);
	cr_assert_eq(wr_worker_stop(rt, id, NULL, &ack, &err), WR_OK);
	cr_assert_eq(atomic_load(&flag), 1);
	cr_assert(wr_watch_cancel(w));
}

Test(waiters, busy_to_idle_wakes_the_watch_with_a_new_event_id)
{
	char id[WR_ID_MAX + 1];
	atomic_int flag = 0;
	struct wr_watch *w;
	uint64_t busy;

	create("slow", id);
	input(id, "work");
	busy = last_event(id);
	w = watch(id, &flag);
	cr_assert_eq(wr_worker_turn_end(rt, id, &err), WR_OK);
	cr_assert_eq(atomic_load(&flag), 1);
	cr_assert_gt(last_event(id), busy);
	cr_assert(wr_watch_cancel(w));
}

Test(waiters, ending_the_worker_wakes_the_watch)
{
	char id[WR_ID_MAX + 1];
	struct wr_lifecycle_ack ack;
	atomic_int flag = 0;
	struct wr_watch *w;

	create(NULL, id);
	w = watch(id, &flag);
	cr_assert_eq(wr_worker_cancel(rt, id, NULL, &ack, &err), WR_OK);
	cr_assert_eq(atomic_load(&flag), 1);
	cr_assert(wr_watch_cancel(w));
}

/* An ended worker changes only by its deletion: a watch on it is
 * satisfied at once, whatever after_event says, so a wait on it never
 * blocks (the handlers answer such a long-poll at once through this). */
Test(waiters, a_watch_on_an_ended_worker_is_satisfied_at_once)
{
	char id[WR_ID_MAX + 1];
	struct wr_lifecycle_ack ack;
	struct wr_watch *w = (struct wr_watch *)1;
	atomic_int flag = 0;
	uint64_t got = 0;

	create(NULL, id);
	cr_assert_eq(wr_worker_stop(rt, id, NULL, &ack, &err), WR_OK);
	cr_assert_eq(wr_worker_watch(rt, id, last_event(id), flag_wake, &flag,
	                             &w, &err), WR_OK, "%s", err.message);
	cr_assert_null(w, "a watch on a stopped worker was registered");
	cr_assert_eq(atomic_load(&flag), 0);
	/* Longer than the suite's timeout: blocking at all fails the test. */
	cr_assert_eq(wr_worker_wait(rt, id, last_event(id), 600000, &got,
	                            &err), WR_OK, "%s", err.message);
	cr_assert_eq(got, last_event(id));
}

Test(waiters, stopping_the_runtime_wakes_every_watch)
{
	char a[WR_ID_MAX + 1], b[WR_ID_MAX + 1];
	atomic_int fa = 0, fb = 0;
	struct wr_watch *wa, *wb, *w = (struct wr_watch *)1;

	create(NULL, a);
	create(NULL, b);
	wa = watch(a, &fa);
	wb = watch(b, &fb);
	cr_assert_eq(wr_runtime_stop(rt, &err), WR_OK);
	cr_assert_eq(atomic_load(&fa), 1);
	cr_assert_eq(atomic_load(&fb), 1);
	cr_assert(wr_watch_cancel(wa));
	cr_assert(wr_watch_cancel(wb));
	/* Nothing will change any more: a new watch is satisfied at once. */
	cr_assert_eq(wr_worker_watch(rt, a, last_event(a), flag_wake, &fa, &w,
	                             &err), WR_OK);
	cr_assert_null(w);
}

Test(waiters, closing_the_runtime_wakes_the_watch_and_cancel_works_after)
{
	char id[WR_ID_MAX + 1];
	atomic_int flag = 0;
	struct wr_watch *w;

	create(NULL, id);
	w = watch(id, &flag);
	wr_runtime_close(rt);
	rt = NULL;
	cr_assert_eq(atomic_load(&flag), 1);
	cr_assert(wr_watch_cancel(w)); /* the registry outlives the Runtime */
}

Test(waiters, cancel_before_any_change_means_wake_is_never_called)
{
	char id[WR_ID_MAX + 1];
	atomic_int flag = 0;
	struct wr_watch *w;

	create(NULL, id);
	w = watch(id, &flag);
	cr_assert_not(wr_watch_cancel(w));
	input(id, "after the cancel");
	cr_assert_eq(atomic_load(&flag), 0);
	cr_assert_not(wr_watch_cancel(NULL));
}

Test(waiters, max_waiters_bounds_the_watches_and_a_cancel_frees_a_place)
{
	char id[WR_ID_MAX + 1];
	atomic_int flag = 0;
	struct wr_watch *w[3], *extra = NULL;
	uint64_t ev;

	teardown();
	open_rt(3);
	create(NULL, id);
	for (int i = 0; i < 3; i++)
		w[i] = watch(id, &flag);
	ev = last_event(id);
	cr_assert_eq(wr_worker_watch(rt, id, ev, flag_wake, &flag, &extra,
	                             &err), WR_EUNAVAILABLE);
	cr_assert_eq(err.reason, WR_REASON_TOO_MANY_WAITERS);
	cr_assert_null(extra);
	cr_assert_eq(wr_worker_wait(rt, id, ev, 1000, NULL, &err),
	             WR_EUNAVAILABLE);
	wr_watch_cancel(w[0]);
	w[0] = watch(id, &flag);
	for (int i = 0; i < 3; i++)
		wr_watch_cancel(w[i]);
}

Test(waiters, max_waiters_above_its_maximum_is_refused_at_open)
{
	struct wr_config cfg = {.max_waiters = WR_MAX_WAITERS + 1};
	struct wr_runtime *other = NULL;

	cr_assert_eq(wr_runtime_open(&cfg, &other, &err), WR_EINVALID_INPUT);
	cr_assert_str_eq(err.field, "max_waiters");
}

/* ---- the blocking wait ------------------------------------------------ */

struct later {
	char id[WR_ID_MAX + 1];
	uint64_t after;
};

/* Appends an entry once a waiter is registered (the watch count is not
 * visible, so it retries the append until the waiter returned). */
static void *
append_later(void *arg)
{
	struct later *l = arg;
	struct timespec ts = {0, 2 * 1000 * 1000};

	nanosleep(&ts, NULL); /* not a synchronisation: either order passes */
	input(l->id, "later");
	return NULL;
}

Test(waiters, wr_worker_wait_returns_the_new_last_event_after_an_append)
{
	struct later l;
	pthread_t t;
	uint64_t got = 0;

	create(NULL, l.id);
	l.after = last_event(l.id);
	pthread_create(&t, NULL, append_later, &l);
	cr_assert_eq(wr_worker_wait(rt, l.id, l.after, 10000, &got, &err),
	             WR_OK, "%s", err.message);
	cr_assert_gt(got, l.after);
	pthread_join(t, NULL);
}

Test(waiters, wr_worker_wait_times_out_with_the_unchanged_event)
{
	char id[WR_ID_MAX + 1];
	struct timespec a, b;
	uint64_t ev, got = 0;
	long ms;

	create(NULL, id);
	ev = last_event(id);
	clock_gettime(CLOCK_MONOTONIC, &a);
	cr_assert_eq(wr_worker_wait(rt, id, ev, 50, &got, &err), WR_OK);
	clock_gettime(CLOCK_MONOTONIC, &b);
	ms = (b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000;
	cr_assert_eq(got, ev);
	cr_assert_geq(ms, 50, "returned after %ld ms", ms);
	cr_assert_eq(wr_worker_wait(rt, id, ev, 0, &got, &err), WR_OK);
	cr_assert_eq(wr_worker_wait(rt, "w-none", 0, 10, &got, &err),
	             WR_EUNKNOWN_WORKER);
	cr_assert_str_eq(err.worker_id, "w-none");
}

/* ---- a cancel racing a wake ------------------------------------------- */

struct racer {
	atomic_int in_wake;   /* a wake is running */
	atomic_int after_cancel; /* a wake ran after its cancel returned */
	atomic_bool cancelled;
};

static void
racing_wake(void *arg)
{
	struct racer *r = arg;

	atomic_fetch_add(&r->in_wake, 1);
	if (atomic_load(&r->cancelled))
		atomic_fetch_add(&r->after_cancel, 1);
	for (volatile int i = 0; i < 2000; i++)
		; /* widen the window */
	atomic_fetch_sub(&r->in_wake, 1);
}

struct appender {
	char id[WR_ID_MAX + 1];
	atomic_bool halt;
};

static void *
append_loop(void *arg)
{
	struct appender *a = arg;
	struct wr_input in = {WR_INPUT_USER, "x"};
	struct wr_input_ack ack;

	for (int i = 0; i < 20000 && !atomic_load(&a->halt); i++)
		wr_worker_input(rt, a->id, &in, &ack, NULL);
	return NULL;
}

Test(waiters, after_cancel_returns_wake_is_not_running_and_never_called,
     .timeout = 60)
{
	struct appender a = {.halt = false};
	pthread_t t;
	int registered = 0;

	create(NULL, a.id);
	pthread_create(&t, NULL, append_loop, &a);
	for (int i = 0; i < 3000; i++) {
		struct racer r = {0};
		struct wr_watch *w = NULL;

		if (wr_worker_watch(rt, a.id, last_event(a.id), racing_wake, &r,
		                    &w, &err) != WR_OK || w == NULL)
			continue;
		registered++;
		wr_watch_cancel(w);
		atomic_store(&r.cancelled, true);
		cr_assert_eq(atomic_load(&r.in_wake), 0,
		             "wake still running after cancel returned");
		/* r goes out of scope: a late wake would also be a
		 * use after free that ASan reports. */
		cr_assert_eq(atomic_load(&r.after_cancel), 0);
	}
	atomic_store(&a.halt, true);
	pthread_join(t, NULL);
	cr_assert_gt(registered, 0);
}
