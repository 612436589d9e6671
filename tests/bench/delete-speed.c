/*
 * delete-speed.c - how long deleting a worker holds the Runtime's write
 * lock, and a page of a status no worker has its read lock, when many
 * are held (issue 13: reads must not stall behind writers or big reads).
 * Library level (the public API, no HTTP), memory store, so a delete's
 * time is its work under the lock and no fdatasync.
 *
 *   cc -O2 -I SRC/src -o delete-speed tests/bench/delete-speed.c \
 *      -L BUILD/src/.libs -lworker-runtime
 *   LD_LIBRARY_PATH=BUILD/src/.libs ./delete-speed [WORKERS [DELETES]]
 *
 * Creates WORKERS (default 1000000, at most 10000000, the max_workers
 * bound) ended workers, times the first page of status=running (none
 * matches: the page looks at every worker, or WR_LIST_SCAN_MAX of them),
 * then deletes DELETES (default 2000) of them,
 * oldest first (what retention and a Backend cleaning up do), and prints
 * the mean and the largest time of one wr_worker_delete, then the same for
 * DELETES newest ones.  Run two builds by turns to compare them.  Bounded:
 * every loop is counted.  Not run by make check.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <worker-runtime.h>

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Times the first page of status=running, limit 10. */
static int
filtered_page(struct wr_runtime *rt)
{
	struct wr_list_query q = {.limit = 10, .has_status = true,
	                          .status = WR_STATUS_RUNNING};
	struct wr_worker_list l;
	struct wr_error e;
	double t0 = now_s();

	if (wr_worker_list(rt, &q, &l, &e) != WR_OK) {
		fprintf(stderr, "list: %s\n", e.message);
		return 1;
	}
	printf("status=running page: %.2f ms, %zu workers, next_after %s\n",
	       (now_s() - t0) * 1e3, l.count, l.has_next ? "set" : "null");
	wr_worker_list_free(&l);
	return 0;
}

/* Deletes ids[from], ids[from + step], ... (n of them); prints the times. */
static int
delete_some(struct wr_runtime *rt, char (*ids)[WR_ID_MAX + 1], long from,
            long step, long n, const char *what)
{
	double sum = 0, max = 0;
	struct wr_error e;

	for (long k = 0; k < n; k++) {
		double t0 = now_s(), t;
		if (wr_worker_delete(rt, ids[from + k * step], NULL, &e) !=
		    WR_OK) {
			fprintf(stderr, "delete: %s\n", e.message);
			return 1;
		}
		t = now_s() - t0;
		sum += t;
		if (t > max)
			max = t;
	}
	printf("%-7s %ld deletes: mean %.1f us, max %.1f us\n", what, n,
	       sum / (double)n * 1e6, max * 1e6);
	return 0;
}

int
main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 1000000;
	long d = argc > 2 ? atol(argv[2]) : 2000;
	struct wr_config cfg = {.runtime_id = "delete-speed",
	                        .store = "memory"};
	char (*ids)[WR_ID_MAX + 1];
	struct wr_runtime *rt = NULL;
	struct wr_error e;
	int rc = 1;

	if (n < 1 || n > 10000000 || d < 1 || 2 * d > n) {
		fprintf(stderr, "usage: %s [WORKERS (1..10000000) "
		        "[DELETES (at most WORKERS / 2)]]\n", argv[0]);
		return 2;
	}
	cfg.limits.max_workers = (uint32_t)n;
	if ((ids = calloc((size_t)n, sizeof(*ids))) == NULL)
		return 1;
	if (wr_runtime_open(&cfg, &rt, &e) != WR_OK) {
		fprintf(stderr, "open: %s\n", e.message);
		free(ids);
		return 1;
	}
	for (long k = 0; k < n; k++) {
		struct wr_worker_info *w = NULL;
		if (wr_worker_create(rt, NULL, &w, &e) != WR_OK ||
		    (snprintf(ids[k], sizeof(ids[k]), "%s", w->ref.worker_id),
		     wr_worker_stop(rt, ids[k], NULL, NULL, &e)) != WR_OK) {
			fprintf(stderr, "create/stop: %s\n", e.message);
			wr_worker_info_free(w);
			goto out;
		}
		wr_worker_info_free(w);
	}
	printf("%ld ended workers\n", n);
	if (filtered_page(rt) == 0 && filtered_page(rt) == 0 &&
	    delete_some(rt, ids, 0, 1, d, "oldest") == 0 &&
	    delete_some(rt, ids, n - 1, -1, d, "newest") == 0)
		rc = 0;
out:
	wr_runtime_close(rt);
	free(ids);
	return rc;
}
