/*
 * tests/slow-fdatasync.c - an LD_PRELOAD shim for end-to-end tests: while
 * the file named by WR_SLOW_FDATASYNC_ARM exists, every fdatasync(2)
 * first sleeps WR_SLOW_FDATASYNC_MS milliseconds (a slow or hung disk),
 * then runs, then creates the file named by WR_SLOW_FDATASYNC_DONE (if
 * set), so a test can tell whether a process outlived a slowed fdatasync.
 * While armed, more switches:
 *   - WR_SLOW_FDATASYNC_ENTERED: the file it names is created as an
 *     fdatasync begins (a test waits for that state);
 *   - WR_FAIL_FDATASYNC_ARM: while the file it names exists, the next
 *     fdatasync removes it, sleeps as the others, then fails with EIO
 *     (a failed sync);
 *   - WR_SLOW_FTRUNCATE=1: every ftruncate(2) first sleeps as long (the
 *     store's reset after a failed sync is an ftruncate, then an
 *     fdatasync).
 * Without the arm file it is plain fdatasync.  Test-only; never installed.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

int fdatasync(int fd);
int ftruncate(int fd, off_t len);

/* Whether the arm file exists. */
static int
armed(void)
{
	const char *arm = getenv("WR_SLOW_FDATASYNC_ARM");

	return arm != NULL && access(arm, F_OK) == 0;
}

/* Sleeps WR_SLOW_FDATASYNC_MS. */
static void
slow_down(void)
{
	const char *ms = getenv("WR_SLOW_FDATASYNC_MS");
	struct timespec ts;
	long v = ms != NULL ? atol(ms) : 0;

	ts.tv_sec = v / 1000;
	ts.tv_nsec = (v % 1000) * 1000000L;
	while (nanosleep(&ts, &ts) != 0)
		;
}

int
ftruncate(int fd, off_t len)
{
	static int (*real)(int, off_t);
	const char *slow = getenv("WR_SLOW_FTRUNCATE");

	if (real == NULL)
		real = (int (*)(int, off_t))dlsym(RTLD_NEXT, "ftruncate");
	if (real == NULL)
		return -1;
	if (slow != NULL && slow[0] == '1' && armed())
		slow_down();
	return real(fd, len);
}

/* Creates the file named by the environment variable var, if set. */
static void
touch(const char *var)
{
	const char *path = getenv(var);
	int f;

	if (path != NULL &&
	    (f = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600)) >= 0)
		close(f);
}

int
fdatasync(int fd)
{
	static int (*real)(int);
	const char *fail = getenv("WR_FAIL_FDATASYNC_ARM");
	int failing, r;

	if (real == NULL)
		real = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
	if (real == NULL)
		return -1;
	if (!armed())
		return real(fd);
	touch("WR_SLOW_FDATASYNC_ENTERED");
	failing = fail != NULL && unlink(fail) == 0;
	slow_down();
	if (failing) {
		errno = EIO;
		return -1;
	}
	r = real(fd);
	touch("WR_SLOW_FDATASYNC_DONE");
	return r;
}
