/*
 * test_watch.c - the worker watchdog's registration socket as a spawn holds
 * it (src/driver/watch.c, src/driver/spawn.c): the descriptor
 * wr__exec_watch_acquire() hands out stays the socket of the watchdog it
 * counted on until the spawn closes it, even when the monitor replaces a
 * killed watchdog before the spawn forks (it closes the old socket, whose
 * number the next open() takes), and the last unwatch, after that close,
 * stops the watchdog without waiting forever.  Links the convenience
 * library for the wr__ internals.
 */
#include "config.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "driver/spawn.h"

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A child of this process named wr-watchdog, other than not and alive
 * (state not Z); waits up to ms for one; -1 if none. */
static pid_t
find_watchdog(pid_t not, int64_t ms)
{
	int64_t end = now_ms() + ms;

	do {
		DIR *d = opendir("/proc");
		struct dirent *e;
		pid_t found = -1;

		cr_assert_not_null(d);
		while (found < 0 && (e = readdir(d)) != NULL) {
			char path[300], buf[512], *rp, state;
			FILE *f;
			long ppid;

			if (e->d_name[0] < '1' || e->d_name[0] > '9')
				continue;
			snprintf(path, sizeof(path), "/proc/%s/stat", e->d_name);
			if ((f = fopen(path, "r")) == NULL)
				continue;
			if (fgets(buf, sizeof(buf), f) != NULL &&
			    strstr(buf, "(wr-watchdog) ") != NULL &&
			    (rp = strrchr(buf, ')')) != NULL &&
			    sscanf(rp + 2, "%c %ld", &state, &ppid) == 2 &&
			    state != 'Z' && ppid == (long)getpid() &&
			    atol(e->d_name) != (long)not)
				found = (pid_t)atol(e->d_name);
			fclose(f);
		}
		closedir(d);
		if (found > 0)
			return found;
		usleep(10000);
	} while (now_ms() < end);
	return -1;
}

Test(watch, an_acquired_descriptor_stays_that_watchdogs_socket_when_it_is_replaced,
     .timeout = 30)
{
	struct stat before, after;
	struct wr_error e;
	pid_t wd, wd2;
	int fd = -1;

	cr_assert_eq(wr__exec_watch_acquire(&fd, &e), WR_OK, "%s", e.message);
	cr_assert_eq(fstat(fd, &before), 0);
	wd = find_watchdog(-1, 5000);
	cr_assert_gt(wd, 0, "no watchdog started");
	/* Between acquire and fork, the watchdog dies and the monitor thread
	 * replaces it: it closes the old socket first. */
	cr_assert_eq(kill(wd, SIGKILL), 0);
	wd2 = find_watchdog(wd, 5000);
	cr_assert_gt(wd2, 0, "the watchdog was not replaced");
	cr_assert_eq(fstat(fd, &after), 0, "the spawn's descriptor was "
	             "closed under it");
	cr_assert(after.st_dev == before.st_dev &&
	          after.st_ino == before.st_ino,
	          "the spawn's descriptor now names another file: its child "
	          "would write its registration there");
	/* As fork_child does: close, then give the count back; the last
	 * unwatch stops the watchdog and must not wait forever. */
	close(fd);
	wr__exec_unwatch(-1);
	cr_assert_eq(find_watchdog(-1, 0), -1, "the watchdog still runs");
}
