/*
 * test_table_stress.c - many creates and deletes from several threads,
 * retention deleting too, while other threads page through the list with
 * small pages and after= cursors, copied (wr_worker_list) or as JSON
 * (wr_worker_list_json, the HTTP server's path, whose pages read pinned
 * workers without the lock and unpin workers deleted meanwhile, freeing
 * them).  Every page walk must list each worker
 * that lived through it (the running "keepers") exactly once, and every id
 * at most once, in creation order.  Memory and fs stores.  Bounded by
 * count, not by time (a run under valgrind is many times slower): each
 * churner does CHURN_OPS operations, the listers walk until the churners
 * are done (one walk each at least), then retention is awaited until it
 * has deleted the ended workers made first; HARD_MS caps every loop.
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

#include "tmpdir.h"
#include "worker-runtime.h"

#define KEEPERS 40
#define CHURNERS 3
#define LISTERS 3
#define CHURN_OPS 1000
#define ENDED_FIRST 20 /* ended workers made after each keeper */
#define HARD_MS 60000
#define MAX_WORKERS 1024 /* the array's capacity: close-ups on reserve */

static struct wr_runtime *rt;
static char keepers[KEEPERS][WR_ID_MAX + 1];
static atomic_bool stop_all;
static atomic_long walks, json_walks, deletes, creates, failures;
static int64_t hard_end;
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
	struct wr_error e;

	for (int ops = 0; ops < CHURN_OPS && now_ms() < hard_end; ops++) {
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
			/* unknown: retention (30 ms) deleted it first */
			wr_err rc = wr_worker_delete(rt, mine[k], NULL, &e);
			if (rc != WR_OK && rc != WR_EUNKNOWN_WORKER)
				fail("delete: %s%s", e.message, "");
			else
				atomic_fetch_add(&deletes, 1);
			memmove(mine[k], mine[k + 1],
			        (size_t)(n - k - 1) * sizeof(mine[0]));
			n--;
		}
	}
	return NULL;
}

#define PAGE_MAX 7 /* the listers' largest page */

/* One page of q: its ids (*n of them, in order) and next_after ("": the
 * last page), copied with wr_worker_list or, json, read back from
 * wr_worker_list_json's text.  false (and a failure noted) on an error. */
static bool
page_of(const struct wr_list_query *q, bool json,
        char ids[PAGE_MAX][WR_ID_MAX + 1], size_t *n,
        char next[WR_ID_MAX + 1])
{
	static const char item[] = "{\"worker_ref\":{\"runtime_id\":"
	                           "\"rt-stress\",\"worker_id\":\"";
	struct wr_worker_list l;
	struct wr_error e;
	char *text = NULL;
	const char *p, *na;

	*n = 0;
	if (!json) {
		if (wr_worker_list(rt, q, &l, &e) != WR_OK) {
			fail("list: %s%s", e.message, "");
			return false;
		}
		for (size_t i = 0; i < l.count && *n < PAGE_MAX; i++)
			snprintf(ids[(*n)++], WR_ID_MAX + 1, "%s",
			         l.items[i]->ref.worker_id);
		if (l.count > PAGE_MAX)
			fail("list: %s%s", "a page over its limit", "");
		snprintf(next, WR_ID_MAX + 1, "%s",
		         l.has_next ? l.next_after : "");
		wr_worker_list_free(&l);
		return true;
	}
	if (wr_worker_list_json(rt, q, &text, NULL, &e) != WR_OK) {
		fail("list json: %s%s", e.message, "");
		return false;
	}
	for (p = strstr(text, item); p != NULL; p = strstr(p, item)) {
		size_t len;
		p += sizeof(item) - 1;
		len = strcspn(p, "\"");
		if (*n == PAGE_MAX || len > WR_ID_MAX) {
			fail("list json: %.200s%s", "a page over its limit", "");
			break;
		}
		snprintf(ids[(*n)++], WR_ID_MAX + 1, "%.*s", (int)len, p);
	}
	next[0] = '\0';
	if ((na = strstr(text, "],\"next_after\":\"")) != NULL)
		snprintf(next, WR_ID_MAX + 1, "%.*s",
		         (int)strcspn(na + 16, "\""), na + 16);
	else if (strstr(text, "],\"next_after\":null}") == NULL)
		fail("list json: no next_after in %.200s%s", text, "");
	free(text);
	return true;
}

static void *
lister(void *arg)
{
	unsigned seed = (unsigned)(uintptr_t)arg;
	unsigned walk = seed; /* the listers' first walks take both paths */

	do {
		char after[WR_ID_MAX + 1] = "", prev[WR_ID_MAX + 1] = "";
		struct wr_list_query q = {.limit = 1 + rand_r(&seed) % PAGE_MAX};
		bool json = walk++ % 2 == 1, seen[KEEPERS] = {0};
		int pages = 0;

		for (;;) {
			char ids[PAGE_MAX][WR_ID_MAX + 1];
			size_t n;
			q.after = after[0] ? after : NULL;
			if (!page_of(&q, json, ids, &n, after))
				return NULL;
			for (size_t i = 0; i < n; i++) {
				if (prev[0] && strcmp(ids[i], prev) <= 0)
					fail("list: %s after %s (twice or out "
					     "of order)", ids[i], prev);
				memcpy(prev, ids[i], sizeof(prev));
				for (int k = 0; k < KEEPERS; k++)
					if (strcmp(ids[i], keepers[k]) == 0)
						seen[k] = true;
			}
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
		atomic_fetch_add(json ? &json_walks : &walks, 1);
		/* a breath between walks: under valgrind, whose threads take
		 * turns on one CPU, the churners still get theirs */
		nanosleep(&(struct timespec){0, 1000 * 1000}, NULL);
	} while (!atomic_load(&stop_all) && now_ms() < hard_end);
	return NULL;
}

static void
run(const char *store)
{
	struct wr_config cfg = {.runtime_id = "rt-stress", .store = store,
	                        .retain_ended_ms = 30,
	                        .limits = {.max_workers = MAX_WORKERS}};
	pthread_t t[CHURNERS + LISTERS];
	struct wr_runtime_summary sum = {0};
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
		for (int j = 0; j < ENDED_FIRST; j++) { /* retention's */
			cr_assert_eq(wr_worker_create(rt, NULL, &w, &e), WR_OK);
			cr_assert_eq(wr_worker_stop(rt, w->ref.worker_id, NULL,
			                            NULL, &e), WR_OK);
			wr_worker_info_free(w);
		}
	}
	hard_end = now_ms() + HARD_MS;
	for (int i = 0; i < CHURNERS; i++)
		cr_assert_eq(pthread_create(&t[i], NULL, churn,
		                            (void *)(uintptr_t)(i + 1)), 0);
	for (int i = 0; i < LISTERS; i++)
		cr_assert_eq(pthread_create(&t[CHURNERS + i], NULL, lister,
		                            (void *)(uintptr_t)(i + 100)), 0);
	for (int i = 0; i < CHURNERS; i++)
		pthread_join(t[i], NULL);
	atomic_store(&stop_all, true);
	for (int i = CHURNERS; i < CHURNERS + LISTERS; i++)
		pthread_join(t[i], NULL);
	/* Retention deletes the ended workers made first (a state awaited,
	 * bounded by HARD_MS again, never a guessed duration). */
	hard_end = now_ms() + HARD_MS;
	do {
		cr_assert_eq(wr_runtime_summary(rt, &sum, &e), WR_OK);
		if (sum.deleted_worker_count >= KEEPERS * ENDED_FIRST)
			break;
		nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
	} while (now_ms() < hard_end);
	wr_runtime_close(rt);
	rt = NULL;
	cr_log_info("%s: %ld walks (%ld as JSON), %ld creates, %ld deletes",
	            store, atomic_load(&walks) + atomic_load(&json_walks),
	            atomic_load(&json_walks), atomic_load(&creates),
	            atomic_load(&deletes));
	cr_assert_eq(atomic_load(&failures), 0, "%ld failures, first: %s",
	             atomic_load(&failures), fail_msg);
	cr_assert_geq(atomic_load(&walks) + atomic_load(&json_walks), LISTERS);
	cr_assert_geq(atomic_load(&json_walks), 1);
	cr_assert_gt(atomic_load(&deletes), 0);
	cr_assert_geq(sum.deleted_worker_count, KEEPERS * ENDED_FIRST,
	              "retention deleted %ju", (uintmax_t)sum.deleted_worker_count);
}

Test(table_stress, memory_store, .timeout = 120)
{
	run("memory");
}

static char fs_dir[TEST_TMPDIR_SIZE];

/* Removes the fs store also when an assertion ended the test early. */
static void
fs_fini(void)
{
	if (fs_dir[0] != '\0')
		test_tmpdir_remove(fs_dir);
}

Test(table_stress, fs_store, .timeout = 120, .fini = fs_fini)
{
	char spec[TEST_TMPDIR_SIZE + 16];

	test_tmpdir_create(fs_dir, sizeof(fs_dir), "stress");
	snprintf(spec, sizeof(spec), "fs:%s/store", fs_dir);
	run(spec);
}
