/*
 * test_dispatch.c - the responder dispatcher's deadline heap (fcgi/dispatch.c):
 * parked requests come out nearest deadline first, also after arbitrary
 * removals (a woken request leaves the heap), with 10,000 of them; a wait
 * without a deadline sets no epoll timeout.
 */
#include <criterion/criterion.h>

#include <limits.h>
#include <stdint.h>
#include <stdlib.h>

#include "dispatch.h"

#define N 10000

static struct rq *make(unsigned long long deadline)
{
	struct rq *r = calloc(1, sizeof *r);

	cr_assert_not_null(r);
	r->deadline_ms = deadline;
	r->heap_i = SIZE_MAX;
	return r;
}

/* Pops everything; asserts non-decreasing deadlines; returns the count. */
static size_t drain_in_order(void)
{
	unsigned long long last = 0;
	size_t n = 0;
	struct rq *r;

	while ((r = dsp_heap_top()) != NULL) {
		cr_assert_geq(r->deadline_ms, last, "out of order at %zu", n);
		last = r->deadline_ms;
		dsp_heap_remove(r);
		cr_assert_eq(r->heap_i, SIZE_MAX);
		free(r);
		n++;
	}
	return n;
}

Test(dispatch_heap, nearest_deadline_first_among_ten_thousand)
{
	size_t i;

	srand(7);
	for (i = 0; i < N; i++)
		dsp_heap_push(make((unsigned long long)(rand() % 25000)));
	cr_assert_eq(dsp_heap_size(), N);
	cr_assert_eq(drain_in_order(), N);
}

Test(dispatch_heap, removing_woken_requests_keeps_the_order)
{
	static struct rq *all[N];
	size_t i, removed = 0;

	srand(11);
	for (i = 0; i < N; i++) {
		all[i] = make((unsigned long long)(rand() % 1000));
		dsp_heap_push(all[i]);
	}
	for (i = 0; i < N; i += 3) { /* wake every third, anywhere */
		dsp_heap_remove(all[i]);
		cr_assert_eq(all[i]->heap_i, SIZE_MAX);
		free(all[i]);
		removed++;
	}
	cr_assert_eq(dsp_heap_size(), N - removed);
	cr_assert_eq(drain_in_order(), N - removed);
}

Test(dispatch_heap, removing_twice_or_never_pushed_is_harmless)
{
	struct rq *a = make(5), *b = make(3), *c = make(9);

	dsp_heap_push(a);
	dsp_heap_push(b);
	dsp_heap_remove(b);
	dsp_heap_remove(b);
	dsp_heap_remove(c); /* never pushed */
	cr_assert_eq(dsp_heap_size(), 1);
	cr_assert_eq(dsp_heap_top(), a);
	free(b);
	free(c);
	cr_assert_eq(drain_in_order(), 1);
}

/* A parked request may wait without a deadline (ULLONG_MAX, e.g. for a
 * group commit's sync): the dispatcher then waits without a timeout, and
 * such requests come out of the heap after every real deadline. */
Test(dispatch_heap, a_wait_without_deadline_sets_no_timeout)
{
	struct rq *none = make(ULLONG_MAX), *soon = make(1500);

	cr_assert_eq(dsp_timeout_ms(ULLONG_MAX, 1000), -1);
	cr_assert_eq(dsp_timeout_ms(1500, 1000), 500);
	cr_assert_eq(dsp_timeout_ms(900, 1000), 0);
	cr_assert_eq(dsp_timeout_ms(ULLONG_MAX - 1, 1000), INT_MAX);
	dsp_heap_push(none);
	dsp_heap_push(soon);
	cr_assert_eq(dsp_heap_top(), soon);
	cr_assert_eq(drain_in_order(), 2);
}
