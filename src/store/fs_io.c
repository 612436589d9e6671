/*
 * store/fs_io.c - the fs store's lowest layer: file names and paths, the
 * I/O seam (write/fdatasync/fsync/allocate/pwrite), full writes, directory syncs, and the
 * errors every fs store file reports.  Depends on nothing else of the
 * store.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/fs.h"

wr_err
wr__fs_sys_fail(struct wr_error *err, enum wr_reason reason, const char *op,
                const char *path, int e)
{
	return wr__fail(err, WR_EUNAVAILABLE, reason, NULL, "%s %s: %s", op,
	                path, strerror(e));
}

static ssize_t
real_write(int fd, const void *buf, size_t n)
{
	return write(fd, buf, n);
}

static int
real_fdatasync(int fd)
{
	return fdatasync(fd);
}

static int
real_fsync(int fd)
{
	return fsync(fd);
}

static ssize_t
real_pwrite(int fd, const void *buf, size_t n, off_t off)
{
	return pwrite(fd, buf, n, off);
}

static int
real_allocate(int fd, off_t off, off_t len)
{
	int e = posix_fallocate(fd, off, len);

	if (e != 0) {
		errno = e;
		return -1;
	}
	return 0;
}

void
wr__fs_io_fill(struct wr__fs_io *dst, const struct wr__fs_io *io)
{
	dst->write = io != NULL && io->write != NULL ? io->write : real_write;
	dst->fdatasync = io != NULL && io->fdatasync != NULL
	                         ? io->fdatasync
	                         : real_fdatasync;
	dst->fsync = io != NULL && io->fsync != NULL ? io->fsync : real_fsync;
	dst->allocate = io != NULL && io->allocate != NULL ? io->allocate
	                                                   : real_allocate;
	dst->pwrite = io != NULL && io->pwrite != NULL ? io->pwrite
	                                               : real_pwrite;
}

int
wr__fs_write_all(const struct wr__fs_dir *d, int fd, const void *buf,
                 size_t n)
{
	const char *p = buf;

	while (n > 0) {
		ssize_t w = d->io.write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			if (w == 0)
				errno = EIO;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int
wr__fs_sync_dir(const struct wr__fs_dir *d)
{
	return d->io.fsync(d->fd);
}

char *
wr__fs_join(const char *dir, const char *name)
{
	size_t a = strlen(dir), b = strlen(name);
	char *p = malloc(a + b + 2);

	if (p != NULL) {
		memcpy(p, dir, a);
		p[a] = '/';
		memcpy(p + a + 1, name, b + 1);
	}
	return p;
}

void
wr__fs_file_name(char buf[WR__FS_NAME_MAX], const char *prefix, uint64_t gen,
                 const char *suffix)
{
	snprintf(buf, WR__FS_NAME_MAX, "%s-%020" PRIu64 "%s", prefix, gen,
	         suffix);
}
