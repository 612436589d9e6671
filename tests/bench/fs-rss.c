/*
 * fs-rss.c - RSS of a Runtime on the fs store as transcripts grow: the
 * contents live in the store's files, RAM keeps a 16-byte location per
 * entry (docs/store.md, "What is in RAM").  Library level (the public
 * API, no HTTP): THREADS threads post ENTRIES inputs of 100 bytes to each
 * of WORKERS workers, then the process's RSS is read from /proc; the
 * Runtime is closed and reopened (a restore) and RSS read again; finally
 * every transcript is read back page by page and checked.
 *
 *   cc -O2 -I SRC/src -o fs-rss tests/bench/fs-rss.c \
 *      -L BUILD/src/.libs -lworker-runtime -lpthread
 *   LD_LIBRARY_PATH=BUILD/src/.libs ./fs-rss DIR [WORKERS ENTRIES THREADS]
 *
 * Defaults: 100 workers x 10000 entries (1,000,000), 16 threads.  DIR must
 * not exist or be empty; it is left behind (remove it).  Prints one line
 * per phase; exit 1 on any error.  Bounded: every loop is counted.  Not run
 * by make check.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <dirent.h>
#include <unistd.h>

#include <worker-runtime.h>

static struct wr_runtime *rt;
static char (*ids)[WR_ID_MAX + 1];
static unsigned n_workers = 100, n_entries = 10000, n_threads = 16;

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* VmRSS or VmHWM of this process in KiB; -1 if unreadable. */
static long
status_kib(const char *key)
{
	char line[256];
	long v = -1;
	FILE *f = fopen("/proc/self/status", "r");

	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, key, strlen(key)) == 0)
			v = strtol(line + strlen(key) + 1, NULL, 10);
	fclose(f);
	return v;
}

/* The 100-byte content of entry e of worker w. */
static void
content(char buf[101], unsigned w, unsigned e)
{
	int n = snprintf(buf, 101, "w%u-e%u-", w, e);

	memset(buf + n, 'x', (size_t)(100 - n));
	buf[100] = '\0';
}

static void *
poster(void *arg)
{
	unsigned t = (unsigned)(size_t)arg;
	char text[101];
	struct wr_error err;

	for (unsigned e = 1; e <= n_entries; e++)
		for (unsigned w = t; w < n_workers; w += n_threads) {
			struct wr_input in = {WR_INPUT_USER, text};
			content(text, w, e);
			if (wr_worker_input(rt, ids[w], &in, NULL, &err) != WR_OK) {
				fprintf(stderr, "input: %s\n", err.message);
				exit(1);
			}
		}
	return NULL;
}

/* Diagnostics (a failed snapshot, say) go to stderr. */
static void
on_diag(void *arg, const struct wr_diagnostic *d)
{
	(void)arg;
	fprintf(stderr, "diagnostic: %s\n", d->message);
}

static void
open_rt(const char *spec)
{
	struct wr_config cfg = {.runtime_id = "rss-bench", .store = spec,
	                        .on_diagnostic = on_diag};
	struct wr_error err;

	if (wr_runtime_open(&cfg, &rt, &err) != WR_OK) {
		fprintf(stderr, "open: %s\n", err.message);
		exit(1);
	}
}

/* Reads every transcript back and checks each entry; returns entries. */
static unsigned long
read_all(void)
{
	unsigned long total = 0;
	char want[101];

	for (unsigned w = 0; w < n_workers; w++) {
		uint64_t start = 0;
		for (unsigned pages = 0; pages < n_entries + 1; pages++) {
			struct wr_transcript_page p;
			struct wr_error err;
			if (wr_worker_transcript(rt, ids[w], start, 256, &p,
			                         &err) != WR_OK) {
				fprintf(stderr, "page: %s\n", err.message);
				exit(1);
			}
			for (size_t i = 0; i < p.count; i++) {
				content(want, w, (unsigned)p.items[i].sequence);
				if (strcmp(p.items[i].content, want) != 0) {
					fprintf(stderr, "worker %u entry %llu differs\n",
					        w, (unsigned long long)
					        p.items[i].sequence);
					exit(1);
				}
			}
			total += p.count;
			start = p.next_start;
			wr_transcript_page_clear(&p);
			if (!p.has_next)
				break;
		}
	}
	return total;
}

/* Waits (at most 600 s) while DIR holds the temp file of a snapshot: the
 * background snapshot the load may have started is done (written or given
 * up).  Returns the seconds waited, or -1. */
static double
wait_snapshot(const char *dir)
{
	double t0 = now_s();

	for (int i = 0; i < 60000; i++) {
		DIR *d = opendir(dir);
		struct dirent *de;
		int tmp = 0;
		if (d == NULL)
			return -1;
		while ((de = readdir(d)) != NULL)
			if (strncmp(de->d_name, "snapshot-", 9) == 0 &&
			    strstr(de->d_name, ".tmp") != NULL)
				tmp = 1;
		closedir(d);
		if (!tmp)
			return now_s() - t0;
		usleep(10000);
	}
	return -1;
}

int
main(int argc, char **argv)
{
	char spec[4200];
	pthread_t th[256];
	unsigned long total;
	double t0;

	if (argc < 2 || argc == 3 || argc == 4 || argc > 5) {
		fprintf(stderr, "usage: fs-rss DIR [WORKERS ENTRIES THREADS]\n");
		return 2;
	}
	if (argc == 5) {
		n_workers = (unsigned)strtoul(argv[2], NULL, 10);
		n_entries = (unsigned)strtoul(argv[3], NULL, 10);
		n_threads = (unsigned)strtoul(argv[4], NULL, 10);
	}
	if (n_workers == 0 || n_workers > 100000 || n_entries == 0 ||
	    n_entries > 10000000 || n_threads == 0 || n_threads > 256)
		return 2;
	snprintf(spec, sizeof(spec), "fs:%s", argv[1]);
	ids = calloc(n_workers, sizeof(*ids));
	open_rt(spec);
	printf("start: rss_kib=%ld\n", status_kib("VmRSS:"));
	for (unsigned w = 0; w < n_workers; w++) {
		struct wr_worker_info *info;
		struct wr_error err;
		if (wr_worker_create(rt, NULL, &info, &err) != WR_OK) {
			fprintf(stderr, "create: %s\n", err.message);
			return 1;
		}
		snprintf(ids[w], sizeof(ids[w]), "%s", info->ref.worker_id);
		wr_worker_info_free(info);
	}
	t0 = now_s();
	for (unsigned t = 0; t < n_threads; t++)
		pthread_create(&th[t], NULL, poster, (void *)(size_t)t);
	for (unsigned t = 0; t < n_threads; t++)
		pthread_join(th[t], NULL);
	printf("loaded: entries=%lu seconds=%.1f rss_kib=%ld peak_kib=%ld\n",
	       (unsigned long)n_workers * n_entries, now_s() - t0,
	       status_kib("VmRSS:"), status_kib("VmHWM:"));
	printf("no snapshot running: waited_seconds=%.1f rss_kib=%ld "
	       "peak_kib=%ld\n", wait_snapshot(argv[1]), status_kib("VmRSS:"),
	       status_kib("VmHWM:"));
	wr_runtime_close(rt);
	printf("closed: rss_kib=%ld\n", status_kib("VmRSS:"));
	t0 = now_s();
	open_rt(spec);
	printf("restored: seconds=%.1f rss_kib=%ld\n", now_s() - t0,
	       status_kib("VmRSS:"));
	t0 = now_s();
	total = read_all();
	printf("read back: entries=%lu seconds=%.1f rss_kib=%ld peak_kib=%ld\n",
	       total, now_s() - t0, status_kib("VmRSS:"), status_kib("VmHWM:"));
	wr_runtime_close(rt);
	free(ids);
	return 0;
}
