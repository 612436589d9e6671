/*
 * fs_faults.h - the fs store's write(2), fdatasync(2),
 * posix_fallocate(3) and pwrite(2) failing on demand, for the tests of what a failed write or sync leaves (the
 * wr__fs_io seam).  One set of faults per test process (Criterion forks
 * per test); none is set at the start.  Thread safe: every setting is an
 * atomic the store's threads read on their next call.
 */
#ifndef WR_TESTS_FS_FAULTS_H
#define WR_TESTS_FS_FAULTS_H

#include <stddef.h>

#include "store/store.h"

/* The seam to pass to wr__store_fs_set_io: write, fdatasync, allocate and
 * pwrite with the faults below; fsync is the real one. */
extern const struct wr__fs_io test_faulty_io;

/* Every write fails with errno e (0: writes work again).  partial > 0:
 * first, the next write longer than partial writes only partial bytes
 * (a short write), once. */
void test_fault_write(int e, size_t partial);

/* From now on fdatasync fails with errno e: every call when at is 0, else
 * only the at-th call counted from now (1: the next one).  e 0: every
 * fdatasync works.  Restarts the count test_fault_sync_calls returns. */
void test_fault_sync(int e, unsigned at);

/* Every fdatasync first sleeps us microseconds (a slow disk); 0: none. */
void test_fault_sync_delay(int us);

/* The fdatasync calls since the last test_fault_sync. */
unsigned test_fault_sync_calls(void);

/* From now on posix_fallocate fails with errno e (0: it works again). */
void test_fault_allocate(int e);

/* The allocate calls so far in this process. */
unsigned test_fault_allocate_calls(void);

/* From now on the pwrite of the store's synced file fails with errno e
 * (0: it works again). */
void test_fault_pwrite(int e);

/* The pwrite calls so far in this process. */
unsigned test_fault_pwrite_calls(void);

#endif
