/*
 * tmpdir.h - the one temporary-directory fixture of the Criterion tests:
 * a fresh directory per test under $TMPDIR (/tmp when unset or empty),
 * removed with everything under it at teardown.  Criterion runs each test
 * in its own process, so a test's .init creates and its .fini removes.
 */
#ifndef WR_TESTS_TMPDIR_H
#define WR_TESTS_TMPDIR_H

#include <stdbool.h>
#include <stddef.h>

/* Room for a directory made by test_tmpdir_create, NUL included; paths
 * inside it need a few bytes more (name the files). */
#define TEST_TMPDIR_SIZE 256

/*
 * Creates "$TMPDIR/wr-TAG-XXXXXX" (mode 0700, by mkdtemp) and writes its
 * path to dir (size bytes, at least TEST_TMPDIR_SIZE).  Fails the running
 * test, saying why, when the path does not fit or mkdtemp fails.
 */
void test_tmpdir_create(char *dir, size_t size, const char *tag);

/*
 * Removes dir and everything under it, never following a symbolic link.
 * Does nothing when dir is "" (test_tmpdir_create never ran).  Fails the
 * running test, naming the path and errno, when something stays behind.
 */
void test_tmpdir_remove(const char *dir);

/* True if descriptor fd is open on a file whose path ends in ".tmp" (a
 * snapshot being written, for the tests' write and fdatasync seams). */
bool test_fd_is_tmp(int fd);

#endif
