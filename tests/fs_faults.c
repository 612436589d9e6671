/*
 * fs_faults.c - the fs store's I/O failing on demand (fs_faults.h).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <unistd.h>

#include "fs_faults.h"

static atomic_int w_errno;      /* write fails with this */
static atomic_size_t w_partial; /* the next longer write writes this much */
static atomic_int s_errno;      /* fdatasync fails with this ... */
static atomic_uint s_fail_at;   /* ... at this call (0: every call) */
static atomic_uint n_sync;      /* fdatasync calls since test_fault_sync */
static atomic_int sync_delay_us;
static atomic_int a_errno;      /* posix_fallocate fails with this */
static atomic_uint n_alloc;     /* allocate calls */
static atomic_int p_errno;      /* pwrite (the synced file) fails so */
static atomic_uint n_pwrite;    /* pwrite calls */

static ssize_t
faulty_write(int fd, const void *buf, size_t n)
{
	size_t p = atomic_load(&w_partial);
	int e = atomic_load(&w_errno);

	if (p > 0 && n > p) {
		atomic_store(&w_partial, 0);
		return write(fd, buf, p);
	}
	if (e != 0) {
		errno = e;
		return -1;
	}
	return write(fd, buf, n);
}

static int
faulty_fdatasync(int fd)
{
	unsigned k = atomic_fetch_add(&n_sync, 1) + 1;
	unsigned at = atomic_load(&s_fail_at);
	int e = atomic_load(&s_errno);
	int us = atomic_load(&sync_delay_us);

	if (us > 0)
		usleep((useconds_t)us);
	if (e != 0 && (at == 0 || at == k)) {
		errno = e;
		return -1;
	}
	return fdatasync(fd);
}

static int
faulty_allocate(int fd, off_t off, off_t len)
{
	int e = atomic_load(&a_errno);
	int r;

	atomic_fetch_add(&n_alloc, 1);
	if (e != 0) {
		errno = e;
		return -1;
	}
	if ((r = posix_fallocate(fd, off, len)) != 0) {
		errno = r;
		return -1;
	}
	return 0;
}

static ssize_t
faulty_pwrite(int fd, const void *buf, size_t n, off_t off)
{
	int e = atomic_load(&p_errno);

	atomic_fetch_add(&n_pwrite, 1);
	if (e != 0) {
		errno = e;
		return -1;
	}
	return pwrite(fd, buf, n, off);
}

const struct wr__fs_io test_faulty_io = {faulty_write, faulty_fdatasync,
                                         NULL, faulty_allocate,
                                         faulty_pwrite};

void
test_fault_pwrite(int e)
{
	atomic_store(&p_errno, e);
}

unsigned
test_fault_pwrite_calls(void)
{
	return atomic_load(&n_pwrite);
}

void
test_fault_allocate(int e)
{
	atomic_store(&a_errno, e);
}

unsigned
test_fault_allocate_calls(void)
{
	return atomic_load(&n_alloc);
}

void
test_fault_write(int e, size_t partial)
{
	atomic_store(&w_partial, partial);
	atomic_store(&w_errno, e);
}

void
test_fault_sync(int e, unsigned at)
{
	atomic_store(&s_errno, 0);
	atomic_store(&n_sync, 0);
	atomic_store(&s_fail_at, at);
	atomic_store(&s_errno, e);
}

void
test_fault_sync_delay(int us)
{
	atomic_store(&sync_delay_us, us);
}

unsigned
test_fault_sync_calls(void)
{
	return atomic_load(&n_sync);
}
