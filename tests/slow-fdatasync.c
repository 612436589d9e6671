/*
 * tests/slow-fdatasync.c - an LD_PRELOAD shim for end-to-end tests: while
 * the file named by WR_SLOW_FDATASYNC_ARM exists, every fdatasync(2)
 * first sleeps WR_SLOW_FDATASYNC_MS milliseconds (a slow or hung disk),
 * then runs, then creates the file named by WR_SLOW_FDATASYNC_DONE (if
 * set), so a test can tell whether a process outlived a slowed fdatasync.
 * Without the arm file it is plain fdatasync.  Test-only; never installed.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

int fdatasync(int fd);

int
fdatasync(int fd)
{
	static int (*real)(int);
	const char *arm = getenv("WR_SLOW_FDATASYNC_ARM");
	const char *ms = getenv("WR_SLOW_FDATASYNC_MS");
	const char *done = getenv("WR_SLOW_FDATASYNC_DONE");
	struct timespec ts;
	long v;
	int r, f;

	if (real == NULL)
		real = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
	if (real == NULL)
		return -1;
	if (arm == NULL || access(arm, F_OK) != 0)
		return real(fd);
	v = ms != NULL ? atol(ms) : 0;
	ts.tv_sec = v / 1000;
	ts.tv_nsec = (v % 1000) * 1000000L;
	while (nanosleep(&ts, &ts) != 0)
		;
	r = real(fd);
	if (done != NULL && (f = open(done, O_WRONLY | O_CREAT | O_CLOEXEC,
	                              0600)) >= 0)
		close(f);
	return r;
}
