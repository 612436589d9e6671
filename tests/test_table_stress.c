/*
 * test_table_stress.c - many creates and deletes from several threads,
 * retention deleting too, while other threads page through the list with
 * small pages and after= cursors.  Every page walk must list each worker
 * that lived through it (the running "keepers") exactly once, and every id
 * at most once, in creation order.  Memory and fs stores.  Bounded: each
 * thread runs for RUN_MS, then every thread is joined.
 */
#include "config.h"

#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "worker-runtime.h"

#define KEEPERS 40
#define CHURNERS 3
#define LISTERS 3
#define RUN_MS 4000
#define MAX_WORKERS 1024 /* the array's capacity: close-ups on reserve */

static struct wr_runtime *rt;
static char keepers[KEEPERS][WR_ID_MAX + 1];
static atomic_bool stop_all;
static atomic_long walks, deletes, creates, failures;
static char fail_msg[512];
static pthread_mutex_t fail_mu = PTHREAD_MUTEX_INITIALIZER;

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
fail(const char *fmt, const char *a, const char *b)
{
	pthread_mutex_lock(&fail_mu);
	if (atomic_fetch_add(&failures, 1) == 0)
		snprintf(fail_msg, sizeof(fail_msg), fmt, a, b);
	/* fmt's %s are %.200s: fail_msg holds both (-Wformat-truncation) */
	pthread_mutex_unlock(&fail_mu);
}

static void *
churn(void *arg)
{
	unsigned seed = (unsigned)(uintptr_t)arg;
	char mine[64][WR_ID_MAX + 1];
	int n = 0;
	int64_t end = now_ms() + RUN_MS;
	struct wr_error e;

	while (now_ms() < end && !atomic_load(&stop_all)) {
		struct wr_worker_info *w = NULL;
		int r = rand_r(&seed) % 100;

		if (n < 64 && r < 55) {
			wr_err rc = wr_worker_create(rt, NULL, &w, &e);
			if (rc == WR_OK) {
				snprintf(mine[n], sizeof(mine[n]), "%s",
				         w->ref.worker_id);
				wr_worker_info_free(w);
				if (wr_worker_stop(rt, mine[n], NULL, NULL, &e) ==
				    WR_OK)
					n++;
				atomic_fetch_add(&creates, 1);
			} else if (rc != WR_EUNSUPPORTED) {
				fail("create: %s%s", e.message, "");
			}
		} else if (n > 0) {
			/* the oldest mostly (as a Backend cleaning up) */
			int k = r % 4 == 0 ? rand_r(&seed) % n : 0;
			wr_err rc = wr_worker_delete(rt, mine[k], NULL, &e);
			if (rc != WR_OK && rc != WR_EUNKNOWN_WORKER)
				fail("delete: %s%s", e.message, "");
			else if (rc == WR_OK)
				atomic_fetch_add(&deletes, 1);
			memmove(mine[k], mine[k + 1],
			        (size_t)(n - k - 1) * sizeof(mine[0]));
			n--;
		}
	}
	return NULL;
}

static void *
lister(void *arg)
{
	unsigned seed = (unsigned)(uintptr_t)arg;
	int64_t end = now_ms() + RUN_MS;
	struct wr_error e;

	while (now_ms() < end && !atomic_load(&stop_all)) {
		char after[WR_ID_MAX + 1] = "", prev[WR_ID_MAX + 1] = "";
		struct wr_list_query q = {.limit = 1 + rand_r(&seed) % 7};
		bool seen[KEEPERS] = {0};
		int pages = 0;

		for (;;) {
			struct wr_worker_list l;
			q.after = after[0] ? after : NULL;
			if (wr_worker_list(rt, &q, &l, &e) != WR_OK) {
				fail("list: %s%s", e.message, "");
				return NULL;
			}
			for (size_t i = 0; i < l.count; i++) {
				const char *id = l.items[i]->ref.worker_id;
				if (prev[0] && strcmp(id, prev) <= 0)
					fail("list: %s after %s (twice or out "
					     "of order)", id, prev);
				snprintf(prev, sizeof(prev), "%s", id);
				for (int k = 0; k < KEEPERS; k++)
					if (strcmp(id, keepers[k]) == 0)
						seen[k] = true;
			}
			snprintf(after, sizeof(after), "%s",
			         l.has_next ? l.next_after : "");
			wr_worker_list_free(&l);
			if (after[0] == '\0')
				break;
			if (++pages > 100000) {
				fail("list: %s%s", "the walk did not end", "");
				return NULL;
			}
		}
		for (int k = 0; k < KEEPERS; k++)
			if (!seen[k])
				fail("list: keeper %.200s missing%s", keepers[k], "");
		atomic_fetch_add(&walks, 1);
	}
	return NULL;
}

static void
run(const char *store)
{
	struct wr_config cfg = {.runtime_id = "rt-stress", .store = store,
	                        .retain_ended_ms = 30,
	                        .limits = {.max_workers = MAX_WORKERS}};
	pthread_t t[CHURNERS + LISTERS];
	struct wr_error e;

	cr_assert_eq(wr_runtime_open(&cfg, &rt, &e), WR_OK, "%s", e.message);
	/* keepers spread over the array: some first, the rest among churn */
	for (int k = 0; k < KEEPERS; k++) {
		struct wr_worker_info *w = NULL;
		cr_assert_eq(wr_worker_create(rt, NULL, &w, &e), WR_OK, "%s",
		             e.message);
		snprintf(keepers[k], sizeof(keepers[k]), "%s",
		         w->ref.worker_id);
		wr_worker_info_free(w);
		for (int j = 0; j < 20; j++) { /* ended: retention's */
			cr_assert_eq(wr_worker_create(rt, NULL, &w, &e), WR_OK);
			cr_assert_eq(wr_worker_stop(rt, w->ref.worker_id, NULL,
			                            NULL, &e), WR_OK);
			wr_worker_info_free(w);
		}
	}
	for (int i = 0; i < CHURNERS; i++)
		cr_assert_eq(pthread_create(&t[i], NULL, churn,
		                            (void *)(uintptr_t)(i + 1)), 0);
	for (int i = 0; i < LISTERS; i++)
		cr_assert_eq(pthread_create(&t[CHURNERS + i], NULL, lister,
		                            (void *)(uintptr_t)(i + 100)), 0);
	for (int i = 0; i < CHURNERS + LISTERS; i++)
		pthread_join(t[i], NULL);
	wr_runtime_close(rt);
	rt = NULL;
	cr_log_info("%s: %ld walks, %ld creates, %ld deletes", store,
	            atomic_load(&walks), atomic_load(&creates),
	            atomic_load(&deletes));
	cr_assert_eq(atomic_load(&failures), 0, "%ld failures, first: %s",
	             atomic_load(&failures), fail_msg);
	cr_assert_gt(atomic_load(&walks), 0);
	cr_assert_gt(atomic_load(&deletes), 0);
}

Test(table_stress, memory_store, .timeout = 60)
{
	run("memory");
}

Test(table_stress, fs_store, .timeout = 60)
{
	char dir[] = "/tmp/wr-stress-XXXXXX", spec[64], cmd[128];

	cr_assert_not_null(mkdtemp(dir));
	snprintf(spec, sizeof(spec), "fs:%s", dir);
	run(spec);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	cr_assert_eq(system(cmd), 0);
}
