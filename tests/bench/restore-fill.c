/*
 * restore-fill.c - the store tests/bench/restore-bench.sh restores: WORKERS
 * workers on the builtin transcript driver, then ENTRIES inputs of BYTES
 * bytes each, round robin, through the public library API on an fs store
 * (one record per input, plus the workers' and the snapshots' records).
 * Run again on the same DIR, it adds WORKERS more workers (the store is
 * restored first).  With --open it instead times wr_runtime_open on DIR, the library-level
 * twin of the binary's "first 200" (and the thing to run under perf).
 *
 *   restore-fill DIR WORKERS ENTRIES BYTES
 *   restore-fill --open DIR
 *   restore-fill --count DIR
 *
 * --count prints "records=N": the frames of every journal-* and snapshot-*
 * file in DIR (docs/store.md: a 32-byte header, then u32 length + u32
 * CRC + payload per record), what a restore reads.
 *
 * Prints "workers=W entries=N seconds=S" or "open_s=S workers=W
 * entries=N".  Exit 1 on any error.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <stdint.h>
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

static int
die(const char *what, const struct wr_error *err)
{
	fprintf(stderr, "restore-fill: %s: %s\n", what, err->message);
	return 1;
}

static int
open_only(const char *dir)
{
	char spec[4096];
	struct wr_config cfg = {.store = spec};
	struct wr_runtime_summary sum;
	struct wr_runtime *rt;
	struct wr_error err;
	double t0, t1;

	snprintf(spec, sizeof(spec), "fs:%s", dir);
	t0 = now_s();
	if (wr_runtime_open(&cfg, &rt, &err) != WR_OK)
		return die("open", &err);
	t1 = now_s();
	if (wr_runtime_summary(rt, &sum, &err) != WR_OK)
		return die("summary", &err);
	printf("open_s=%.3f workers=%llu\n", t1 - t0,
	       (unsigned long long)sum.worker_count);
	wr_runtime_close(rt);
	return 0;
}

static int
count_records(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	unsigned long long n = 0;

	if (d == NULL) {
		perror(dir);
		return 1;
	}
	while ((e = readdir(d)) != NULL) {
		char path[4096];
		unsigned char h[8];
		FILE *f;

		if ((strncmp(e->d_name, "journal-", 8) != 0 &&
		     strncmp(e->d_name, "snapshot-", 9) != 0) ||
		    strchr(e->d_name, '.') != NULL)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if ((f = fopen(path, "rb")) == NULL || fseek(f, 32, SEEK_SET) != 0)
			return 1;
		while (fread(h, 1, 8, f) == 8) {
			uint32_t len = (uint32_t)h[0] | (uint32_t)h[1] << 8 |
			               (uint32_t)h[2] << 16 | (uint32_t)h[3] << 24;

			if (len == 0 || fseek(f, (long)len, SEEK_CUR) != 0)
				break;
			n++;
		}
		fclose(f);
	}
	closedir(d);
	printf("records=%llu\n", n);
	return 0;
}

int
main(int argc, char **argv)
{
	char spec[4096], (*ids)[WR_ID_MAX + 1];
	struct wr_config cfg = {.store = spec};
	struct wr_runtime *rt;
	struct wr_input in = {WR_INPUT_USER, NULL};
	struct wr_error err;
	long workers, entries, bytes;
	double t0;

	if (argc == 3 && strcmp(argv[1], "--open") == 0)
		return open_only(argv[2]);
	if (argc == 3 && strcmp(argv[1], "--count") == 0)
		return count_records(argv[2]);
	if (argc != 5 || (workers = atol(argv[2])) <= 0 ||
	    (entries = atol(argv[3])) <= 0 || (bytes = atol(argv[4])) <= 0 ||
	    workers > 10000 || entries > 100000000L || bytes > 65536) {
		fprintf(stderr, "usage: restore-fill DIR WORKERS ENTRIES BYTES"
		        " | restore-fill --open|--count DIR\n");
		return 1;
	}
	snprintf(spec, sizeof(spec), "fs:%s", argv[1]);
	if ((ids = calloc((size_t)workers, sizeof(*ids))) == NULL ||
	    (in.content = malloc((size_t)bytes + 1)) == NULL)
		return 1;
	memset(in.content, 'x', (size_t)bytes);
	in.content[bytes] = '\0';
	if (wr_runtime_open(&cfg, &rt, &err) != WR_OK)
		return die("open", &err);
	t0 = now_s();
	for (long i = 0; i < workers; i++) {
		struct wr_worker_info *w;

		if (wr_worker_create(rt, NULL, &w, &err) != WR_OK)
			return die("create", &err);
		snprintf(ids[i], sizeof(ids[i]), "%s", w->ref.worker_id);
		wr_worker_info_free(w);
	}
	for (long i = 0; i < entries; i++)
		if (wr_worker_input(rt, ids[i % workers], &in, NULL, &err) !=
		    WR_OK)
			return die("input", &err);
	printf("workers=%ld entries=%ld seconds=%.1f\n", workers, entries,
	       now_s() - t0);
	wr_runtime_close(rt);
	free(in.content);
	free(ids);
	return 0;
}
