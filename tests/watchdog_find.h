/*
 * watchdog_find.h - finding the worker watchdog (the process named
 * wr-watchdog, src/driver/watch.c) of a Runtime process, for the tests
 * that kill it or check what it holds.  Reads /proc (Linux).
 */
#ifndef WR_TESTS_WATCHDOG_FIND_H
#define WR_TESTS_WATCHDOG_FIND_H

#include <stdint.h>
#include <sys/types.h>

/*
 * A live (state not Z) child of parent named wr-watchdog, other than not
 * (-1: none excluded); looks again every 10 ms until it slept ms
 * milliseconds (0: one look).  Returns its pid, -1 when none came.  Fails
 * the running test when /proc cannot be read.
 */
pid_t test_find_watchdog(pid_t parent, pid_t not, int64_t ms);

#endif
