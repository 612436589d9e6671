/*
 * test_threads.c - one Runtime hammered from 8 threads with creates,
 * inputs, reads and stops; afterwards the invariants must hold exactly.
 */
#include "config.h"

#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "worker-runtime.h"

#define THREADS 8
#define ROUNDS 150
#define SHARED 4

static struct wr_runtime *rt;
static char shared_ids[SHARED][WR_ID_MAX + 1];
static atomic_ulong shared_acks[SHARED];
static atomic_ulong created, stopped_by_us, cancelled_by_us;

static void *
hammer(void *arg)
{
	unsigned seed = (unsigned)(uintptr_t)arg;
	char text[64];

	for (int r = 0; r < ROUNDS; r++) {
		struct wr_worker_info *w;
		struct wr_input_ack ack;
		struct wr_lifecycle_ack la;
		struct wr_transcript_page page;
		struct wr_runtime_summary s;
		struct wr_error err;
		int k = rand_r(&seed) % SHARED;

		snprintf(text, sizeof(text), "t%lu r%d", (unsigned long)(uintptr_t)arg, r);
		struct wr_input in = {WR_INPUT_USER, text};
		if (wr_worker_input(rt, shared_ids[k], &in, &ack, &err) == WR_OK)
			atomic_fetch_add(&shared_acks[k], 1);
		else
			cr_assert_fail("shared input failed: %s", err.message);

		if (r % 5 == 0) {
			cr_assert_eq(wr_worker_create(rt, NULL, &w, &err), WR_OK);
			atomic_fetch_add(&created, 1);
			cr_assert_eq(wr_worker_input(rt, w->ref.worker_id, &in,
			                             &ack, &err), WR_OK);
			cr_assert_eq(ack.transcript_sequence, 1);
			if (r % 10 == 0) {
				cr_assert_eq(wr_worker_stop(rt, w->ref.worker_id,
				                            NULL, &la, &err), WR_OK);
				atomic_fetch_add(&stopped_by_us, 1);
			} else {
				cr_assert_eq(wr_worker_cancel(rt, w->ref.worker_id,
				                              "t", &la, &err), WR_OK);
				atomic_fetch_add(&cancelled_by_us, 1);
			}
			wr_worker_info_free(w);
		}
		cr_assert_eq(wr_worker_transcript(rt, shared_ids[k], 0, 50,
		                                  &page, &err), WR_OK);
		for (size_t i = 0; i < page.count; i++)
			cr_assert_eq(page.items[i].sequence, i + 1);
		wr_transcript_page_clear(&page);
		cr_assert_eq(wr_runtime_summary(rt, &s, &err), WR_OK);
		cr_assert_eq(s.worker_count,
		             s.active_worker_count + s.stopped_worker_count +
		                     s.cancelled_worker_count +
		                     s.failed_worker_count,
		             "summary is consistent at every instant");
	}
	return NULL;
}

Test(threads, eight_threads_keep_every_invariant, .timeout = 60)
{
	pthread_t th[THREADS];
	struct wr_worker_list l;
	struct wr_runtime_summary s;
	uint64_t count[WR__STATUS_COUNT] = {0};
	uint64_t last_event = 0;

	cr_assert_eq(wr_runtime_open(NULL, &rt, NULL), WR_OK);
	for (int i = 0; i < SHARED; i++) {
		struct wr_worker_info *w;
		cr_assert_eq(wr_worker_create(rt, NULL, &w, NULL), WR_OK);
		strcpy(shared_ids[i], w->ref.worker_id);
		wr_worker_info_free(w);
	}
	for (uintptr_t i = 0; i < THREADS; i++)
		cr_assert_eq(pthread_create(&th[i], NULL, hammer,
		                            (void *)(i + 1)), 0);
	for (int i = 0; i < THREADS; i++)
		pthread_join(th[i], NULL);

	cr_assert_eq(wr_worker_list(rt, NULL, &l, NULL), WR_OK);
	cr_assert_eq(l.count, SHARED + atomic_load(&created));
	for (size_t i = 0; i < l.count; i++) {
		count[l.items[i]->status]++;
		if (l.items[i]->last_event_id > last_event)
			last_event = l.items[i]->last_event_id;
	}
	cr_assert_eq(wr_runtime_summary(rt, &s, NULL), WR_OK);
	cr_assert_eq(s.worker_count, l.count);
	cr_assert_eq(s.active_worker_count, count[WR_STATUS_RUNNING]);
	cr_assert_eq(s.stopped_worker_count, count[WR_STATUS_STOPPED]);
	cr_assert_eq(s.cancelled_worker_count, count[WR_STATUS_CANCELLED]);
	cr_assert_eq(s.active_worker_count, SHARED);
	cr_assert_eq(s.stopped_worker_count, atomic_load(&stopped_by_us));
	cr_assert_eq(s.cancelled_worker_count, atomic_load(&cancelled_by_us));
	/* Every event got its own id: creates + inputs + ends. */
	cr_assert_eq(last_event,
	             SHARED + THREADS * ROUNDS + 3 * atomic_load(&created));
	wr_worker_list_free(&l);

	for (int k = 0; k < SHARED; k++) {
		struct wr_transcript_page p;
		uint64_t acks = atomic_load(&shared_acks[k]), prev_event = 0;
		uint64_t seen = 0;
		while (seen < acks) {
			cr_assert_eq(wr_worker_transcript(rt, shared_ids[k], seen,
			                                  256, &p, NULL), WR_OK);
			cr_assert_eq(p.total_items, acks, "no lost update");
			for (size_t i = 0; i < p.count; i++) {
				cr_assert_eq(p.items[i].sequence, seen + i + 1,
				             "dense sequences");
				cr_assert_gt(p.items[i].event_id, prev_event);
				prev_event = p.items[i].event_id;
			}
			seen += p.count;
			wr_transcript_page_clear(&p);
		}
	}
	wr_runtime_close(rt);
}

/* ---- paging while workers come and go ---------------------------------- */

#define STABLE 200
#define CHURNERS 3
#define WALKERS 2
#define WALKS 15

static char stable_ids[STABLE][WR_ID_MAX + 1];
static char doomed_ids[STABLE][WR_ID_MAX + 1];
static atomic_int doomed_next;
static atomic_bool doomed_claimed[STABLE];

/* Ends and deletes doomed worker k unless another thread claimed it. */
static void
doom(int k)
{
	if (atomic_exchange(&doomed_claimed[k], true))
		return;
	cr_assert_eq(wr_worker_stop(rt, doomed_ids[k], NULL, NULL, NULL), WR_OK);
	cr_assert_eq(wr_worker_delete(rt, doomed_ids[k], NULL, NULL), WR_OK);
}

static char *
make_worker(struct wr_runtime *r, char id[WR_ID_MAX + 1])
{
	struct wr_worker_info *w;

	cr_assert_eq(wr_worker_create(r, NULL, &w, NULL), WR_OK);
	strcpy(id, w->ref.worker_id);
	wr_worker_info_free(w);
	return id;
}

/* Creates, ends and deletes new workers, and deletes the doomed ones
 * (created between the stable ones before the walks began). */
static void *
churn(void *arg)
{
	(void)arg;
	for (int r = 0; r < 150; r++) {
		char id[WR_ID_MAX + 1];
		int k = atomic_fetch_add(&doomed_next, 1);

		make_worker(rt, id);
		cr_assert_eq(wr_worker_cancel(rt, id, NULL, NULL, NULL), WR_OK);
		cr_assert_eq(wr_worker_delete(rt, id, NULL, NULL), WR_OK);
		if (k < STABLE)
			doom(k);
	}
	return NULL;
}

/* Walks the list with small pages WALKS times, deleting a doomed cursor
 * before following it; every stable worker must appear exactly once per
 * walk, and ids (which sort as their creation order) must strictly
 * grow. */
static void *
walker(void *arg)
{
	struct wr_list_query q = {.limit = (uint32_t)(uintptr_t)arg};

	for (int walk = 0; walk < WALKS; walk++) {
		char last[WR_ID_MAX + 1] = "", after[WR_ID_MAX + 1] = "";
		size_t stable_seen = 0;

		for (int pages = 0; pages < 10000; pages++) {
			struct wr_worker_list l;
			struct wr_error err;

			q.after = after[0] ? after : NULL;
			cr_assert_eq(wr_worker_list(rt, &q, &l, &err), WR_OK, "%s",
			             err.message);
			for (size_t i = 0; i < l.count; i++) {
				const char *id = l.items[i]->ref.worker_id;
				cr_assert_gt(strcmp(id, last), 0,
				             "a duplicate or out of order: %s after "
				             "%s", id, last);
				strcpy(last, id);
				if (stable_seen < STABLE &&
				    strcmp(id, stable_ids[stable_seen]) == 0)
					stable_seen++;
			}
			if (!l.has_next) {
				wr_worker_list_free(&l);
				break;
			}
			strcpy(after, l.next_after);
			wr_worker_list_free(&l);
			/* Now and then the cursor itself goes away. */
			for (int k = 0; k < STABLE; k++)
				if (strcmp(after, doomed_ids[k]) == 0)
					doom(k);
		}
		cr_assert_eq(stable_seen, STABLE, "walk %d missed stable "
		             "worker %zu", walk, stable_seen);
	}
	return NULL;
}

Test(threads, list_walks_see_every_lasting_worker_once_under_churn,
     .timeout = 60)
{
	pthread_t th[CHURNERS + WALKERS];
	struct wr_runtime_summary s;

	cr_assert_eq(wr_runtime_open(NULL, &rt, NULL), WR_OK);
	for (int i = 0; i < STABLE; i++) {
		make_worker(rt, stable_ids[i]);
		make_worker(rt, doomed_ids[i]);
	}
	for (uintptr_t i = 0; i < CHURNERS; i++)
		cr_assert_eq(pthread_create(&th[i], NULL, churn, NULL), 0);
	for (uintptr_t i = 0; i < WALKERS; i++)
		cr_assert_eq(pthread_create(&th[CHURNERS + i], NULL, walker,
		                            (void *)(3 + 4 * i)), 0);
	for (int i = 0; i < CHURNERS + WALKERS; i++)
		pthread_join(th[i], NULL);
	cr_assert_eq(wr_runtime_summary(rt, &s, NULL), WR_OK);
	cr_assert_eq(s.worker_count, STABLE);
	cr_assert_eq(s.deleted_worker_count, STABLE + CHURNERS * 150);
	wr_runtime_close(rt);
}
