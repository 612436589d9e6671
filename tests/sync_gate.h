/*
 * sync_gate.h - the durability tests' fdatasync gate: the fs store's
 * fdatasync (the wr__fs_io seam) waits while the gate is shut, so a test
 * holds a record short of durable and waits for a state (an fdatasync
 * held, one returned), never for a duration.  One gate per test process
 * (Criterion forks per test); every function is thread safe.
 */
#ifndef WR_TESTS_SYNC_GATE_H
#define WR_TESTS_SYNC_GATE_H

#include <stdbool.h>
#include <stdint.h>

#include "core/rt.h"

/* How long a held fdatasync, or a wait on the gate, lasts at the most:
 * a broken test ends with its message, never hangs. */
#define TEST_GATE_BOUND_S 20

/* Routes the fdatasync of rt's fs store through the gate (open). */
void test_gate_install(struct wr_runtime *rt);

/* Shuts (true) or opens (false) the gate.  Shutting restarts the count
 * test_gate_await_entered waits on: only fdatasyncs held from now on. */
void test_gate_set(bool shut);

/* Fails every fdatasync from now on with errno e instead of calling
 * fdatasync(2); 0 calls it again. */
void test_gate_fail_with(int e);

/* Opens the gate; the fdatasyncs held at it (or that reached it since
 * it opened) fail with errno e, the ones after them are called as
 * usual: a failed sync whose reset then succeeds. */
void test_gate_open_failing(int e);

/* Fails the next fdatasync with errno e at once, without waiting at the
 * gate even while it is shut; the ones after it are gated as before. */
void test_gate_fail_next(int e);

/* Waits (at most TEST_GATE_BOUND_S) until n fdatasyncs reached the gate
 * since it was last shut; fails the running test when fewer did. */
void test_gate_await_entered(int n);

/* The fdatasyncs that returned through the gate (any result). */
int test_gate_returned(void);

/* The transcript length of worker id in rt (fails the test when the
 * worker cannot be read): what a commit test reads back. */
uint64_t test_transcript_len(struct wr_runtime *rt, const char *id);

#endif
