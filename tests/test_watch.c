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
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "driver/spawn.h"
#include "watchdog_find.h"

Test(watch, an_acquired_descriptor_stays_that_watchdogs_socket_when_it_is_replaced,
     .timeout = 30)
{
	struct stat before, after;
	struct wr_error e;
	pid_t wd, wd2;
	int fd = -1;

	cr_assert_eq(wr__exec_watch_acquire(&fd, &e), WR_OK, "%s", e.message);
	cr_assert_eq(fstat(fd, &before), 0);
	wd = test_find_watchdog(getpid(), -1, 5000);
	cr_assert_gt(wd, 0, "no watchdog started");
	/* Between acquire and fork, the watchdog dies and the monitor thread
	 * replaces it: it closes the old socket first. */
	cr_assert_eq(kill(wd, SIGKILL), 0);
	wd2 = test_find_watchdog(getpid(), wd, 5000);
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
	cr_assert_eq(test_find_watchdog(getpid(), -1, 0), -1,
	             "the watchdog still runs");
}
