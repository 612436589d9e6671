/*
 * list-speed.c - what a JSON page of workers costs the Runtime, alone
 * and with other threads listing the same workers at the same time (the
 * list contention case of tests/bench/http-bench.sh, without HTTP).
 * Library level (the public API), memory store.
 *
 *   cc -O2 -I SRC/src -o list-speed tests/bench/list-speed.c \
 *      -L BUILD/src/.libs -lworker-runtime -pthread
 *   LD_LIBRARY_PATH=BUILD/src/.libs ./list-speed [WORKERS [PAGES [THREADS]]]
 *
 * Creates WORKERS (default 1000, at most 100000) workers, writes one page
 * of all of them (limit WORKERS, at most 1000) so their summaries are
 * kept, then THREADS threads (default 2, at most 16) each write PAGES
 * (default 2000, at most 1000000) such pages with wr_worker_list_json.
 * Prints the mean microseconds per page of each thread and the pages
 * per second of all of them.  Run two builds by turns to compare them.
 * Bounded: every loop is counted.  Not run by make check.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <worker-runtime.h>

static struct wr_runtime *rt;
static struct wr_list_query query;
static long pages;

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* One page; its length, or 0 on failure (reported). */
static size_t
page(void)
{
	struct wr_error e;
	char *json;
	size_t len;

	if (wr_worker_list_json(rt, &query, &json, &len, &e) != WR_OK) {
		fprintf(stderr, "list: %s\n", e.message);
		return 0;
	}
	free(json);
	return len;
}

static void *
lister(void *arg)
{
	double *us = arg, t0 = now_s();

	for (long k = 0; k < pages; k++)
		if (page() == 0) {
			*us = -1;
			return NULL;
		}
	*us = (now_s() - t0) * 1e6 / (double)pages;
	return NULL;
}

int
main(int argc, char **argv)
{
	long workers = argc > 1 ? atol(argv[1]) : 1000;
	long threads = argc > 3 ? atol(argv[3]) : 2;
	pthread_t th[16];
	double us[16], t0, wall;
	size_t len;
	struct wr_error e;

	pages = argc > 2 ? atol(argv[2]) : 2000;
	if (workers < 1 || workers > 100000 || pages < 1 || pages > 1000000 ||
	    threads < 1 || threads > 16) {
		fprintf(stderr, "usage: list-speed [WORKERS (1..100000) "
		                "[PAGES (1..1000000) [THREADS (1..16)]]]\n");
		return 2;
	}
	if (wr_runtime_open(NULL, &rt, &e) != WR_OK) {
		fprintf(stderr, "open: %s\n", e.message);
		return 1;
	}
	for (long i = 0; i < workers; i++) {
		struct wr_worker_info *w;

		if (wr_worker_create(rt, NULL, &w, &e) != WR_OK) {
			fprintf(stderr, "create: %s\n", e.message);
			return 1;
		}
		wr_worker_info_free(w);
	}
	query.limit = workers < 1000 ? (uint32_t)workers : 1000;
	if ((len = page()) == 0)
		return 1;
	t0 = now_s();
	for (long t = 0; t < threads; t++)
		if (pthread_create(&th[t], NULL, lister, &us[t]) != 0) {
			fprintf(stderr, "pthread_create failed\n");
			return 1;
		}
	for (long t = 0; t < threads; t++)
		pthread_join(th[t], NULL);
	wall = now_s() - t0;
	printf("%ld workers, pages of %u (%zu bytes), %ld threads:", workers,
	       query.limit, len, threads);
	for (long t = 0; t < threads; t++) {
		if (us[t] < 0)
			return 1;
		printf(" %.1f", us[t]);
	}
	printf(" us/page; %.0f pages/s\n", (double)(pages * threads) / wall);
	wr_runtime_close(rt);
	return 0;
}
