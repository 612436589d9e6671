/*
 * snapshot-speed.c - how fast the fs store's snapshot thread writes a
 * snapshot of ENTRIES transcript entries (docs/store.md, "Snapshots").
 * Library level (the public API, no HTTP).
 *
 *   cc -O2 -I SRC/src -o snapshot-speed tests/bench/snapshot-speed.c \
 *      -L BUILD/src/.libs -lworker-runtime
 *   LD_LIBRARY_PATH=BUILD/src/.libs ./snapshot-speed DIR fill [ENTRIES [keys]]
 *   LD_LIBRARY_PATH=BUILD/src/.libs ./snapshot-speed DIR snap [ENTRIES [keys]]
 *
 * fill: ENTRIES (default 200000) inputs of 100 bytes over 10 workers into
 * a new store in DIR with no snapshot (--snapshot-bytes 1 TiB); with
 * "keys", each input under its own idempotency key, so the snapshot holds
 * ENTRIES keys too (max_idempotency_keys ENTRIES + 16).  snap:
 * reopens DIR with a 4 KiB floor and no snapshot yet, so the next commit
 * starts one; prints how long the create that started it took (the
 * freeze runs in it under the Runtime's write lock: every request waits
 * that long), then the time until DIR holds a snapshot and no
 * snapshot-*.tmp, and entries per second.  A snap changes DIR: copy a
 * filled DIR for each run (cp -a).  Bounded: every loop is counted; the
 * wait stops after 600 s.  Not run by make check.
 */
#define _GNU_SOURCE
#include <dirent.h>
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

static int
snap(struct wr_runtime *rt, const char *dir, long n)
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
	printf("snapshot of %ld entries: %.2f s, %.0f entries/s\n", n, t,
	       (double)n / t);
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

	if (argc < 3 || (strcmp(argv[2], "fill") && strcmp(argv[2], "snap")) ||
	    n < 1 || n > 100000000) {
		fprintf(stderr, "usage: %s DIR fill|snap [ENTRIES]\n", argv[0]);
		return 2;
	}
	filling = strcmp(argv[2], "fill") == 0;
	snprintf(spec, sizeof(spec), "fs:%s", argv[1]);
	cfg.snapshot_bytes = filling ? UINT64_C(1) << 40 : 4096;
	if (keys)
		cfg.max_idempotency_keys = (uint32_t)n + 16;
	if (wr_runtime_open(&cfg, &rt, &e) != WR_OK) {
		fprintf(stderr, "open: %s\n", e.message);
		return 1;
	}
	rc = filling ? fill(rt, n, keys) : snap(rt, argv[1], n);
	wr_runtime_close(rt);
	return rc;
}
