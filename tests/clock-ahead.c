/*
 * tests/clock-ahead.c - an LD_PRELOAD shim for end-to-end tests: every
 * clock_gettime(CLOCK_REALTIME) answers WR_CLOCK_AHEAD_S seconds later
 * than the kernel's wall clock (other clocks are untouched).  A deadline
 * the process computes on CLOCK_REALTIME then lies that far beyond the
 * kernel's, as it does after the wall clock was stepped back that far
 * (NTP, an operator) while a thread waited: a wait that should end on
 * time ends only then.  Test-only; never installed.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <time.h>

int clock_gettime(clockid_t id, struct timespec *ts);

int
clock_gettime(clockid_t id, struct timespec *ts)
{
	static int (*real)(clockid_t, struct timespec *);
	const char *ahead;
	int rc;

	if (real == NULL)
		real = (int (*)(clockid_t, struct timespec *))dlsym(
			RTLD_NEXT, "clock_gettime");
	rc = real(id, ts);
	if (rc == 0 && id == CLOCK_REALTIME &&
	    (ahead = getenv("WR_CLOCK_AHEAD_S")) != NULL)
		ts->tv_sec += (time_t)strtol(ahead, NULL, 10);
	return rc;
}
