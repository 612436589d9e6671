/*
 * store-lib-loop.c - the fs store's own cost, without HTTP: one thread
 * calling wr_worker_input on a Runtime with --store fs:DIR for SECONDS,
 * the library-level twin of fdatasync-loop.c (tests/bench/store-bench.sh).
 *
 *   store-lib-loop DIR SECONDS
 *
 * Prints "ops=N ops_per_s=R p50_ms=A p99_ms=B".  Exit 1 on any error.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <worker-runtime.h>

#define MAX_OPS 2000000

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int
cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

int
main(int argc, char **argv)
{
	char spec[4096];
	struct wr_config cfg = {.store = spec};
	struct wr_runtime *rt;
	struct wr_worker_info *w;
	struct wr_input in = {WR_INPUT_USER, "benchmark input of a typical "
	                      "size, about a hundred bytes long..........."};
	struct wr_error err;
	double *lat, start, end, t;
	size_t n = 0;
	int secs;

	if (argc != 3 || (secs = atoi(argv[2])) <= 0) {
		fprintf(stderr, "usage: store-lib-loop DIR SECONDS\n");
		return 1;
	}
	snprintf(spec, sizeof(spec), "fs:%s", argv[1]);
	if ((lat = malloc(MAX_OPS * sizeof(*lat))) == NULL ||
	    wr_runtime_open(&cfg, &rt, &err) != WR_OK ||
	    wr_worker_create(rt, NULL, &w, &err) != WR_OK) {
		fprintf(stderr, "store-lib-loop: %s\n", err.message);
		return 1;
	}
	start = now_s();
	end = start + secs;
	for (t = start; t < end && n < MAX_OPS; n++) {
		double t0 = t;
		if (wr_worker_input(rt, w->ref.worker_id, &in, NULL, &err) !=
		    WR_OK) {
			fprintf(stderr, "store-lib-loop: %s\n", err.message);
			return 1;
		}
		t = now_s();
		lat[n] = (t - t0) * 1000.0;
	}
	qsort(lat, n, sizeof(*lat), cmp);
	printf("ops=%zu ops_per_s=%.0f p50_ms=%.3f p99_ms=%.3f\n", n,
	       (double)n / (t - start), lat[n / 2], lat[n * 99 / 100]);
	wr_worker_info_free(w);
	wr_runtime_close(rt);
	free(lat);
	return 0;
}
