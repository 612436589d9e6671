/*
 * fdatasync-loop.c - the disk's floor for tests/bench/store-bench.sh: one
 * thread appending a record and fdatasync-ing it, as often as it can for
 * the given time, in a file it creates (and removes) in DIR.
 *
 *   fdatasync-loop DIR SECONDS [RECORD_BYTES [prealloc|zerofill]]
 *
 * prealloc: the records overwrite space posix_fallocate(3)d 1 MiB at a
 * time instead of growing the file with every write; zerofill: space
 * written with zeros (pwrite(2)) 1 MiB at a time, as the fs store's
 * journal does (docs/store.md, "Preallocation").  Run them side by side,
 * e.g. for i in 1 2 3 4 5 6; do for m in "" prealloc zerofill; do
 * fdatasync-loop D 2 180 $m; done; done.
 *
 * Prints "ops=N ops_per_s=R p50_ms=A p99_ms=B".  Exit 1 on any error.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_OPS 2000000
#define STEP ((off_t)1 << 20)

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

int
main(int argc, char **argv)
{
	char path[4096], rec[65536];
	double secs, t0, end, *lat;
	size_t size = 200, n = 0;
	off_t off = 0, alloc = 0;
	static const char zeros[1 << 20];
	int fd, rc = 1, prealloc = 0, zerofill = 0, e;

	if (argc < 3 || (secs = atof(argv[2])) <= 0 || secs > 600 ||
	    (argc > 4 && strcmp(argv[4], "prealloc") != 0 &&
	     strcmp(argv[4], "zerofill") != 0)) {
		fprintf(stderr, "usage: fdatasync-loop DIR SECONDS [BYTES "
		                "[prealloc|zerofill]]\n");
		return 2;
	}
	if (argc > 3)
		size = (size_t)atol(argv[3]);
	zerofill = argc > 4 && strcmp(argv[4], "zerofill") == 0;
	prealloc = argc > 4 && !zerofill;
	if (size == 0 || size > sizeof(rec)) {
		fprintf(stderr, "fdatasync-loop: BYTES must be 1..%zu\n",
		        sizeof(rec));
		return 2;
	}
	memset(rec, 'x', size);
	snprintf(path, sizeof(path), "%s/fdatasync-loop.%ld", argv[1],
	         (long)getpid());
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC |
	                        (prealloc || zerofill ? 0 : O_APPEND),
	          0600);
	if (fd < 0) {
		fprintf(stderr, "open %s: %s\n", path, strerror(errno));
		return 1;
	}
	if ((lat = malloc(MAX_OPS * sizeof(*lat))) == NULL)
		goto done;
	end = now_s() + secs;
	while (n < MAX_OPS && (t0 = now_s()) < end) {
		if (prealloc && off + (off_t)size > alloc) {
			if ((e = posix_fallocate(fd, alloc, STEP)) != 0) {
				fprintf(stderr, "posix_fallocate %s: %s\n", path,
				        strerror(e));
				goto done;
			}
			alloc += STEP;
		}
		if (zerofill && off + (off_t)size > alloc) {
			if (pwrite(fd, zeros, STEP, alloc) != STEP) {
				fprintf(stderr, "pwrite %s: %s\n", path,
				        strerror(errno));
				goto done;
			}
			alloc += STEP;
		}
		off += (off_t)size;
		if (write(fd, rec, size) != (ssize_t)size) {
			fprintf(stderr, "write %s: %s\n", path, strerror(errno));
			goto done;
		}
		if (fdatasync(fd) < 0) {
			fprintf(stderr, "fdatasync %s: %s\n", path,
			        strerror(errno));
			goto done;
		}
		lat[n++] = now_s() - t0;
	}
	if (n == 0)
		goto done;
	qsort(lat, n, sizeof(*lat), cmp_double);
	printf("ops=%zu ops_per_s=%.0f p50_ms=%.3f p99_ms=%.3f\n", n,
	       (double)n / secs, lat[n / 2] * 1e3, lat[(n * 99) / 100] * 1e3);
	rc = 0;
done:
	free(lat);
	close(fd);
	unlink(path);
	return rc;
}
