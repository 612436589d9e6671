/*
 * snapshot-speed.c - how fast the fs store's snapshot thread writes a
 * snapshot of ENTRIES transcript entries (docs/store.md, "Snapshots").
 * Library level (the public API, no HTTP).
 *
 *   cc -O2 -I SRC/src -o snapshot-speed tests/bench/snapshot-speed.c \
 *      -L BUILD/src/.libs -lworker-runtime
 *   LD_LIBRARY_PATH=BUILD/src/.libs ./snapshot-speed DIR fill [N [keys|workers]]
 *   LD_LIBRARY_PATH=BUILD/src/.libs ./snapshot-speed DIR snap [N [keys|workers]]
 *
 * fill: ENTRIES (default 200000) inputs of 100 bytes over 10 workers into
 * a new store in DIR with no snapshot (--snapshot-bytes 1 TiB); with
 * "keys", each input under its own idempotency key, so the snapshot holds
 * ENTRIES keys too (max_idempotency_keys ENTRIES + 16); with "workers",
 * N workers instead (a task objective each, no entry; 8 threads, so
 * their commits share fdatasyncs).  snap:
 * reopens DIR with a 4 KiB floor and no snapshot yet, so the next commit
 * starts one; prints how long the create that started it took (the
 * freeze runs in it under the Runtime's write lock: every request waits
 * that long), then the time until DIR holds a snapshot and no
 * snapshot-*.tmp, and entries per second.  snap opens any fs store (its
 * own runtime id, up to 10,000,000 workers): one that
 * tests/bench/restore-fill.c filled with many workers shows what the
 * freeze costs per worker.  A snap changes DIR: copy a
 * filled DIR for each run (cp -a).  Bounded: every loop is counted; the
 * wait stops after 600 s.  Not run by make check.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <worker-runtime.h>

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* 1 when dir holds a snapshot and no temp file. */
static int
snapshot_done(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int tmp = 0, snap = 0;

	if (d == NULL)
		return 0;
	while ((de = readdir(d)) != NULL) {
		if (strstr(de->d_name, ".tmp") != NULL)
			tmp = 1;
		else if (strncmp(de->d_name, "snapshot-", 9) == 0)
			snap = 1;
	}
	closedir(d);
	return snap && !tmp;
}

static int
fill(struct wr_runtime *rt, long n, int keys)
{
	char ids[10][WR_ID_MAX + 1], text[101], key[32], path[128];
	struct wr_input in = {WR_INPUT_USER, text};
	struct wr_input_ack ack;
	struct wr_error e;

	memset(text, 'x', 100);
	text[100] = '\0';
	for (int i = 0; i < 10; i++) {
		struct wr_worker_info *w = NULL;
		if (wr_worker_create(rt, NULL, &w, &e) != WR_OK) {
			fprintf(stderr, "create: %s\n", e.message);
			return 1;
		}
		snprintf(ids[i], sizeof(ids[i]), "%s", w->ref.worker_id);
		wr_worker_info_free(w);
	}
	for (long k = 0; k < n; k++) {
		struct wr_idempotency ik = {key, "POST", path, text, 100};
		struct wr_idempotent_result r;
		wr_err rc;

		snprintf(key, sizeof(key), "key-%ld", k);
		snprintf(path, sizeof(path), "/v1/workers/%s/input",
		         ids[k % 10]);
		rc = keys ? wr_worker_input_keyed(rt, ids[k % 10], &in, &ik,
		                                  &r, &e)
		          : wr_worker_input(rt, ids[k % 10], &in, &ack, &e);
		if (rc != WR_OK) {
			fprintf(stderr, "input: %s\n", e.message);
			return 1;
		}
		if (keys)
			wr_idempotent_result_clear(&r);
	}
	return 0;
}

static long workers_each; /* fill_workers: workers per thread */

static void *
fill_thread(void *arg)
{
	struct wr_create_request req = {
		.intent = {.kind = WR_INTENT_TASK,
		           .objective = "an objective of some length"}};
	struct wr_error e;

	for (long k = 0; k < workers_each; k++)
		if (wr_worker_create(arg, &req, NULL, &e) != WR_OK) {
			fprintf(stderr, "create: %s\n", e.message);
			return (void *)1;
		}
	return NULL;
}

/* n workers (rounded down to a multiple of 8) from 8 threads. */
static int
fill_workers(struct wr_runtime *rt, long n)
{
	pthread_t t[8];
	void *r;
	int rc = 0, started = 0;

	workers_each = n / 8;
	for (; started < 8; started++)
		if (pthread_create(&t[started], NULL, fill_thread, rt) != 0)
			break;
	for (int i = 0; i < started; i++)
		if (pthread_join(t[i], &r) == 0 && r != NULL)
			rc = 1;
	return rc || started < 8;
}

static int
snap(struct wr_runtime *rt, const char *dir, long n, const char *what)
{
	struct wr_worker_info *w = NULL;
	struct wr_error e;
	double t0, t;

	t0 = now_s();
	if (wr_worker_create(rt, NULL, &w, &e) != WR_OK) { /* starts it */
		fprintf(stderr, "create: %s\n", e.message);
		return 1;
	}
	wr_worker_info_free(w);
	printf("the create that started it: %.1f ms\n", (now_s() - t0) * 1e3);
	for (int i = 0; i < 600000 && !snapshot_done(dir); i++)
		usleep(1000);
	t = now_s() - t0;
	if (!snapshot_done(dir)) {
		fprintf(stderr, "no snapshot after %.0f s\n", t);
		return 1;
	}
	printf("snapshot of %ld %s: %.2f s, %.0f %s/s\n", n, what, t,
	       (double)n / t, what);
	return 0;
}

int
main(int argc, char **argv)
{
	char spec[4096];
	struct wr_config cfg = {.runtime_id = "snapshot-speed", .store = spec};
	struct wr_runtime *rt = NULL;
	struct wr_error e;
	long n = argc > 3 ? atol(argv[3]) : 200000;
	int filling, rc, keys = argc > 4 && strcmp(argv[4], "keys") == 0;
	int workers = argc > 4 && strcmp(argv[4], "workers") == 0;

	if (argc < 3 || (strcmp(argv[2], "fill") && strcmp(argv[2], "snap")) ||
	    n < 1 || n > 100000000) {
		fprintf(stderr, "usage: %s DIR fill|snap [N [keys|workers]]\n",
		        argv[0]);
		return 2;
	}
	filling = strcmp(argv[2], "fill") == 0;
	snprintf(spec, sizeof(spec), "fs:%s", argv[1]);
	cfg.snapshot_bytes = filling ? UINT64_C(1) << 40 : 4096;
	if (!filling) { /* any fs store: restore-fill.c's too */
		cfg.runtime_id = NULL;
		cfg.limits.max_workers = 10000000;
	}
	if (keys)
		cfg.max_idempotency_keys = (uint32_t)n + 16;
	if (workers)
		cfg.limits.max_workers = 10000000;
	if (wr_runtime_open(&cfg, &rt, &e) != WR_OK) {
		fprintf(stderr, "open: %s\n", e.message);
		return 1;
	}
	rc = !filling  ? snap(rt, argv[1], n, workers ? "workers" : "entries")
	     : workers ? fill_workers(rt, n)
	               : fill(rt, n, keys);
	wr_runtime_close(rt);
	return rc;
}
