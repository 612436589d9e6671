/*
 * store_fs.c - the durable store: an append-only journal of CRC-framed
 * records plus periodic snapshots in one locked directory (docs/store.md).
 *
 * Invariants
 *   - Restore = the highest snapshot-<S> + every journal-<G> with G >= S, in
 *     order.  Every step of snapshot() keeps that rule true, so a crash at
 *     any point leaves a restorable store.
 *   - A record is acknowledged only after an fdatasync covering it returned
 *     0 (durable_lsn); append() never waits for the disk, sync() does, and
 *     concurrent sync() callers share one fdatasync (group commit).
 *   - After a failed fdatasync the store is broken: what was not durable may
 *     be lost, so appends are refused until reset() cut the journal back to
 *     the last durable byte.  Record numbers (lsn) are never reused, so a
 *     late sync() on a dropped record fails instead of succeeding.
 *
 * Threading: append/reset/snapshot_due/snapshot run under the Runtime's
 * write lock (never concurrently with each other); sync runs on any thread.
 * mu guards the lsn/offset/broken state shared with sync(); the journal fd
 * is used by one fdatasync at a time ("syncing"), which reset() and
 * snapshot() also take before they truncate or switch the journal.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crc32c.h"
#include "internal.h"
#include "store_record.h"

#define HDR_SIZE 32u          /* file header */
#define FRAME_SIZE 8u         /* u32 length + u32 crc before each payload */
#define FORMAT_VERSION 1u
#define FILE_JOURNAL 1u
#define FILE_SNAPSHOT 2u
#define MAX_PAYLOAD (64u << 20) /* bound on one record, checked both ways */
#define DEFAULT_SNAPSHOT_BYTES (UINT64_C(64) << 20)
#define SNAPSHOT_BUF (1u << 20) /* snapshot writes are batched this large */
#define NAME_MAX_LEN 40
static const unsigned char magic[8] = {'W', 'R', 'S', 'T', 'O', 'R', 'E', 0};

struct range {
	uint64_t lo, hi; /* lsns dropped by one reset(), inclusive */
};

struct fs_store {
	struct wr__store base;
	char *dir;
	int dir_fd;
	int lock_fd;
	struct wr__fs_io io;
	uint64_t snapshot_bytes; /* snapshot_due() threshold */

	/* Set by load() and snapshot(); read by sync() under mu. */
	bool loaded;
	int jfd;       /* current journal, O_APPEND */
	char *jpath;
	uint64_t gen;  /* of the current journal */
	uint64_t since_snapshot; /* journal bytes since the last snapshot */
	char *abuf;    /* append()'s frame buffer (Runtime lock) */
	size_t abuf_cap;

	pthread_mutex_t mu;
	pthread_cond_t cv;
	uint64_t written_lsn; /* records appended so far */
	uint64_t durable_lsn; /* records covered by a successful fdatasync */
	off_t written_off;    /* end of the current journal */
	off_t durable_off;    /* durable end of the current journal */
	bool syncing;         /* someone owns the journal fd for I/O */
	bool broken;
	char fail_msg[WR_MESSAGE_MAX]; /* why it broke */
	struct range *dropped;
	size_t n_dropped;
};

static const struct wr__store_ops fs_ops;

/* ---- small helpers ------------------------------------------------------ */

static void
put_le32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static void
put_le64(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t
get_le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static uint64_t
get_le64(const unsigned char *p)
{
	return (uint64_t)get_le32(p) | (uint64_t)get_le32(p + 4) << 32;
}

static char *
join(const char *dir, const char *name)
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

static void
file_name(char *buf, const char *prefix, uint64_t gen, const char *suffix)
{
	snprintf(buf, NAME_MAX_LEN, "%s-%020" PRIu64 "%s", prefix, gen, suffix);
}

static wr_err
oom(struct wr_error *err)
{
	return wr__fail(err, WR_EINTERNAL, "out_of_memory", NULL,
	                "out of memory");
}

/* "<op> <path>: <strerror>" as WR_EUNAVAILABLE with reason. */
static wr_err
sys_fail(struct wr_error *err, const char *reason, const char *op,
         const char *path, int e)
{
	return wr__fail(err, WR_EUNAVAILABLE, reason, NULL, "%s %s: %s", op,
	                path, strerror(e));
}

static wr_err
corrupt(struct wr_error *err, const char *path, off_t off, const char *why)
{
	return wr__fail(err, WR_EUNAVAILABLE, "store_corrupt", NULL,
	                "store file %s is damaged at byte offset %lld: %s",
	                path, (long long)off, why);
}

/* Writes all of buf through the seam; -1 with errno on failure. */
static int
write_all(struct fs_store *fs, int fd, const void *buf, size_t n)
{
	const char *p = buf;

	while (n > 0) {
		ssize_t w = fs->io.write(fd, p, n);
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

/* Reads up to n bytes at off; returns the count (short only at EOF) or -1. */
static ssize_t
read_at(int fd, void *buf, size_t n, off_t off)
{
	char *p = buf;
	size_t got = 0;

	while (got < n) {
		ssize_t r = pread(fd, p + got, n - got, off + (off_t)got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		if (r == 0)
			break;
		got += (size_t)r;
	}
	return (ssize_t)got;
}

/* 1 if [off, size) of fd is all zero bytes, 0 if not, -1 on read error. */
static int
zero_from(int fd, off_t off, off_t size)
{
	unsigned char buf[4096];

	while (off < size) {
		size_t n = (size_t)(size - off) < sizeof(buf)
		                   ? (size_t)(size - off)
		                   : sizeof(buf);
		ssize_t r = read_at(fd, buf, n, off);
		if (r <= 0)
			return -1;
		for (ssize_t i = 0; i < r; i++)
			if (buf[i] != 0)
				return 0;
		off += r;
	}
	return 1;
}

static void
header_build(unsigned char h[HDR_SIZE], uint32_t kind, uint64_t gen)
{
	memset(h, 0, HDR_SIZE);
	memcpy(h, magic, sizeof(magic));
	put_le32(h + 8, FORMAT_VERSION);
	put_le32(h + 12, kind);
	put_le64(h + 16, gen);
	put_le32(h + 24, wr__crc32c(0, h, 24));
}

/*
 * Checks the header of fd against what its name says.  *incomplete (if not
 * NULL) is set instead of failing when the file is shorter than a header or
 * its header is all zero - a journal whose creation was cut by a crash; the
 * caller decides whether that is allowed.
 */
static wr_err
header_check(int fd, const char *path, uint32_t kind, uint64_t gen,
             bool *incomplete, struct wr_error *err)
{
	unsigned char h[HDR_SIZE];
	static const unsigned char zero[HDR_SIZE];
	ssize_t n = read_at(fd, h, HDR_SIZE, 0);
	uint32_t version;

	if (incomplete != NULL)
		*incomplete = false;
	if (n < 0)
		return sys_fail(err, "store_open_failed", "read", path, errno);
	if ((size_t)n < HDR_SIZE || memcmp(h, zero, HDR_SIZE) == 0) {
		if (incomplete != NULL) {
			*incomplete = true;
			return WR_OK;
		}
		return corrupt(err, path, 0, "incomplete file header");
	}
	if (memcmp(h, magic, sizeof(magic)) != 0)
		return corrupt(err, path, 0, "not a worker-runtime store file");
	version = get_le32(h + 8);
	if (version > FORMAT_VERSION)
		return wr__fail(err, WR_EINVALID_INPUT, "store_version", NULL,
		                "store file %s has format version %" PRIu32
		                "; this build reads version %u (upgrade "
		                "worker-runtime)",
		                path, version, FORMAT_VERSION);
	if (version == 0 || get_le32(h + 24) != wr__crc32c(0, h, 24))
		return corrupt(err, path, 0, "bad file header");
	if (get_le32(h + 12) != kind || get_le64(h + 16) != gen)
		return corrupt(err, path, 0,
		               "header does not match the file name");
	return WR_OK;
}

/* ---- directory listing -------------------------------------------------- */

struct gens {
	uint64_t *v;
	size_t n, cap;
};

struct listing {
	struct gens journals, snapshots, tmps;
};

static int
gens_push(struct gens *g, uint64_t x)
{
	if (g->n == g->cap) {
		size_t cap = g->cap ? g->cap * 2 : 8;
		uint64_t *v = realloc(g->v, cap * sizeof(*v));
		if (v == NULL)
			return -1;
		g->v = v;
		g->cap = cap;
	}
	g->v[g->n++] = x;
	return 0;
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static void
listing_free(struct listing *l)
{
	free(l->journals.v);
	free(l->snapshots.v);
	free(l->tmps.v);
	memset(l, 0, sizeof(*l));
}

/* "<prefix>-<20 digits><suffix>" exactly; gen 0 is not a valid name. */
static bool
parse_name(const char *name, const char *prefix, const char *suffix,
           uint64_t *gen)
{
	size_t p = strlen(prefix), s = strlen(suffix);
	uint64_t g = 0;

	if (strlen(name) != p + 1 + 20 + s || strncmp(name, prefix, p) != 0 ||
	    name[p] != '-' || strcmp(name + p + 21, suffix) != 0)
		return false;
	for (size_t i = p + 1; i < p + 21; i++) {
		if (name[i] < '0' || name[i] > '9')
			return false;
		if (g > (UINT64_MAX - 9) / 10)
			return false;
		g = g * 10 + (uint64_t)(name[i] - '0');
	}
	*gen = g;
	return g > 0;
}

/* Sorted generations of the store files in fs->dir; other names ignored. */
static wr_err
list_store(struct fs_store *fs, struct listing *l, struct wr_error *err)
{
	DIR *d = opendir(fs->dir);
	struct dirent *de;
	wr_err rc = WR_OK;
	uint64_t g;

	memset(l, 0, sizeof(*l));
	if (d == NULL)
		return sys_fail(err, "store_open_failed", "opendir", fs->dir,
		                errno);
	errno = 0;
	while ((de = readdir(d)) != NULL) {
		int r = 0;
		if (parse_name(de->d_name, "journal", "", &g))
			r = gens_push(&l->journals, g);
		else if (parse_name(de->d_name, "snapshot", "", &g))
			r = gens_push(&l->snapshots, g);
		else if (parse_name(de->d_name, "snapshot", ".tmp", &g))
			r = gens_push(&l->tmps, g);
		if (r < 0) {
			rc = oom(err);
			break;
		}
		errno = 0;
	}
	if (rc == WR_OK && errno != 0)
		rc = sys_fail(err, "store_open_failed", "readdir", fs->dir,
		              errno);
	closedir(d);
	if (rc != WR_OK) {
		listing_free(l);
		return rc;
	}
	if (l->journals.n > 1)
		qsort(l->journals.v, l->journals.n, sizeof(uint64_t), cmp_u64);
	if (l->snapshots.n > 1)
		qsort(l->snapshots.v, l->snapshots.n, sizeof(uint64_t),
		      cmp_u64);
	return WR_OK;
}

/* ---- files -------------------------------------------------------------- */

static int
sync_dir(struct fs_store *fs)
{
	return fs->io.fsync(fs->dir_fd);
}

/*
 * Creates (or truncates) name with a header of kind/gen, makes the header
 * durable and fsyncs the directory.  On success *fd is open read-write
 * (journals: O_APPEND).  On failure the file is removed (best effort).
 */
static wr_err
create_file(struct fs_store *fs, const char *path, uint32_t kind,
            uint64_t gen, int *fd, struct wr_error *err)
{
	unsigned char h[HDR_SIZE];
	int flags = O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC;
	int f;
	wr_err rc = WR_OK;

	if (kind == FILE_JOURNAL)
		flags |= O_APPEND;
	if ((f = open(path, flags, 0600)) < 0)
		return sys_fail(err, "store_write_failed", "open", path, errno);
	header_build(h, kind, gen);
	if (write_all(fs, f, h, HDR_SIZE) < 0)
		rc = sys_fail(err, "store_write_failed", "write", path, errno);
	else if (fs->io.fdatasync(f) < 0)
		rc = sys_fail(err, "store_sync_failed", "fdatasync", path,
		              errno);
	else if (sync_dir(fs) < 0)
		rc = sys_fail(err, "store_sync_failed", "fsync", fs->dir,
		              errno);
	if (rc != WR_OK) {
		close(f);
		unlink(path);
		return rc;
	}
	*fd = f;
	return WR_OK;
}

/* ---- open --------------------------------------------------------------- */

/* Makes dir (0700) if it does not exist and fsyncs its parent so the new
 * entry survives a crash. */
static wr_err
make_dir(const char *dir, struct wr_error *err)
{
	char *parent;
	char *slash;
	int pfd;

	if (mkdir(dir, 0700) == 0) {
		if ((parent = strdup(dir)) == NULL)
			return oom(err);
		slash = strrchr(parent, '/');
		if (slash == NULL)
			strcpy(parent, ".");
		else if (slash == parent)
			slash[1] = '\0';
		else
			*slash = '\0';
		pfd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (pfd >= 0) {
			/* Best effort: without it only the empty directory
			 * could vanish in a crash, which loses nothing. */
			(void)fsync(pfd);
			close(pfd);
		}
		free(parent);
		return WR_OK;
	}
	if (errno == EEXIST)
		return WR_OK;
	return sys_fail(err, "store_open_failed", "mkdir", dir, errno);
}

/* Refuses a store written by a newer format before anything touches it. */
static wr_err
check_versions(struct fs_store *fs, struct wr_error *err)
{
	struct listing l;
	char name[NAME_MAX_LEN], *path;
	wr_err rc;

	if ((rc = list_store(fs, &l, err)) != WR_OK)
		return rc;
	for (int k = 0; k < 2 && rc == WR_OK; k++) {
		struct gens *g = k ? &l.snapshots : &l.journals;
		for (size_t i = 0; i < g->n && rc == WR_OK; i++) {
			unsigned char h[12];
			int fd;
			file_name(name, k ? "snapshot" : "journal", g->v[i], "");
			if ((path = join(fs->dir, name)) == NULL) {
				rc = oom(err);
				break;
			}
			fd = open(path, O_RDONLY | O_CLOEXEC);
			if (fd >= 0 && read_at(fd, h, sizeof(h), 0) ==
			                       (ssize_t)sizeof(h) &&
			    memcmp(h, magic, sizeof(magic)) == 0 &&
			    get_le32(h + 8) > FORMAT_VERSION)
				rc = header_check(fd, path, 0, 0, NULL, err);
			if (fd >= 0)
				close(fd);
			free(path);
		}
	}
	listing_free(&l);
	return rc;
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

void
wr__store_fs_set_io(struct wr__store *st, const struct wr__fs_io *io)
{
	struct fs_store *fs = (struct fs_store *)st;

	if (st == NULL || st->ops != &fs_ops)
		return;
	fs->io.write = io != NULL && io->write != NULL ? io->write : real_write;
	fs->io.fdatasync = io != NULL && io->fdatasync != NULL
	                           ? io->fdatasync
	                           : real_fdatasync;
	fs->io.fsync = io != NULL && io->fsync != NULL ? io->fsync : real_fsync;
}

void
wr__store_fs_set_snapshot_bytes(struct wr__store *st, uint64_t bytes)
{
	if (st == NULL || st->ops != &fs_ops)
		return;
	((struct fs_store *)st)->snapshot_bytes =
		bytes ? bytes : DEFAULT_SNAPSHOT_BYTES;
}

static void fs_close(struct wr__store *st);

wr_err
wr__store_fs_open(const char *dir, struct wr__store **out,
                  struct wr_error *err)
{
	struct fs_store *fs;
	char *lock_path = NULL;
	wr_err rc;

	if (dir == NULL || dir[0] == '\0')
		return wr__fail(err, WR_EINVALID_INPUT, "invalid_value",
		                "store", "the fs store needs a directory");
	if ((fs = calloc(1, sizeof(*fs))) == NULL)
		return oom(err);
	fs->base.ops = &fs_ops;
	fs->dir_fd = fs->lock_fd = fs->jfd = -1;
	fs->snapshot_bytes = DEFAULT_SNAPSHOT_BYTES;
	wr__store_fs_set_io(&fs->base, NULL);
	if (pthread_mutex_init(&fs->mu, NULL) != 0) {
		free(fs);
		return oom(err);
	}
	if (pthread_cond_init(&fs->cv, NULL) != 0) {
		pthread_mutex_destroy(&fs->mu);
		free(fs);
		return oom(err);
	}
	if ((fs->dir = strdup(dir)) == NULL) {
		rc = oom(err);
		goto fail;
	}
	if ((rc = make_dir(dir, err)) != WR_OK)
		goto fail;
	if ((fs->dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		rc = sys_fail(err, "store_open_failed", "open", dir, errno);
		goto fail;
	}
	if ((lock_path = join(dir, "lock")) == NULL) {
		rc = oom(err);
		goto fail;
	}
	fs->lock_fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fs->lock_fd < 0) {
		rc = sys_fail(err, "store_open_failed", "open", lock_path,
		              errno);
		goto fail;
	}
	if (flock(fs->lock_fd, LOCK_EX | LOCK_NB) < 0) {
		if (errno == EWOULDBLOCK)
			rc = wr__fail(err, WR_EUNAVAILABLE, "store_locked",
			              NULL,
			              "store %s is in use by another process",
			              dir);
		else
			rc = sys_fail(err, "store_open_failed", "flock",
			              lock_path, errno);
		goto fail;
	}
	if ((rc = check_versions(fs, err)) != WR_OK)
		goto fail;
	free(lock_path);
	*out = &fs->base;
	return WR_OK;
fail:
	free(lock_path);
	fs_close(&fs->base);
	return rc;
}

/* ---- load --------------------------------------------------------------- */

struct replay {
	wr__apply_fn apply;
	wr__diag_fn diag;
	void *arg;
};

/*
 * Applies the records of one file from HDR_SIZE on.  last: this is the
 * journal appends continue in, where a torn final record is cut off
 * (ftruncate + fdatasync) and reported through diag instead of refused.
 * *end gets the offset after the last good record.
 */
static wr_err
replay_file(struct fs_store *fs, const struct replay *rp, int fd,
            const char *path, bool last, off_t *end, struct wr_error *err)
{
	unsigned char fh[FRAME_SIZE];
	struct stat sb;
	char why[160], msg[WR_DIAGNOSTIC_MAX];
	char *buf = NULL;
	const char *torn = NULL;
	off_t off = HDR_SIZE, size;
	wr_err rc = WR_OK;

	if (fstat(fd, &sb) < 0)
		return sys_fail(err, "store_open_failed", "fstat", path, errno);
	size = sb.st_size;
	while (off < size) {
		off_t rem = size - off;
		uint32_t len, crc;
		struct wr__record rec;
		int z;

		if (rem < (off_t)FRAME_SIZE) {
			torn = "partial record header";
			break;
		}
		if (read_at(fd, fh, FRAME_SIZE, off) != (ssize_t)FRAME_SIZE) {
			rc = sys_fail(err, "store_open_failed", "read", path,
			              errno ? errno : EIO);
			goto done;
		}
		len = get_le32(fh);
		crc = get_le32(fh + 4);
		if (len == 0) {
			if ((z = zero_from(fd, off, size)) < 0) {
				rc = sys_fail(err, "store_open_failed", "read",
				              path, errno ? errno : EIO);
				goto done;
			}
			if (z) {
				torn = "zero-filled tail";
				break;
			}
			rc = corrupt(err, path, off, "zero-length record");
			goto done;
		}
		if ((off_t)len > rem - (off_t)FRAME_SIZE) {
			torn = "record length beyond the end of the file";
			break;
		}
		if (len > MAX_PAYLOAD) {
			rc = corrupt(err, path, off, "record length too large");
			goto done;
		}
		free(buf);
		if ((buf = malloc(len)) == NULL) {
			rc = oom(err);
			goto done;
		}
		if (read_at(fd, buf, len, off + FRAME_SIZE) != (ssize_t)len) {
			rc = sys_fail(err, "store_open_failed", "read", path,
			              errno ? errno : EIO);
			goto done;
		}
		if (wr__crc32c(0, buf, len) != crc) {
			if (off + (off_t)FRAME_SIZE + (off_t)len == size) {
				torn = "checksum mismatch in the final record";
				break;
			}
			rc = corrupt(err, path, off, "checksum mismatch");
			goto done;
		}
		if (wr__record_decode(buf, len, &rec, why, sizeof(why)) < 0) {
			rc = corrupt(err, path, off, why);
			goto done;
		}
		/* apply takes what rec owns, whatever it returns. */
		if ((rc = rp->apply(rp->arg, &rec, err)) != WR_OK)
			goto done;
		off += (off_t)FRAME_SIZE + (off_t)len;
	}
	if (torn != NULL) {
		if (!last) {
			rc = corrupt(err, path, off, torn);
			goto done;
		}
		if (ftruncate(fd, off) < 0) {
			rc = sys_fail(err, "store_write_failed", "ftruncate",
			              path, errno);
			goto done;
		}
		if (fs->io.fdatasync(fd) < 0) {
			rc = sys_fail(err, "store_sync_failed", "fdatasync",
			              path, errno);
			goto done;
		}
		snprintf(msg, sizeof(msg),
		         "store %s: dropped a torn final record at byte offset "
		         "%lld (%lld bytes, %s)",
		         path, (long long)off, (long long)(size - off), torn);
		if (rp->diag != NULL)
			rp->diag(rp->arg, msg);
	}
	*end = off;
done:
	free(buf);
	return rc;
}

/* Replays snapshot-<gen>: no damage of any kind is tolerated. */
static wr_err
replay_snapshot(struct fs_store *fs, const struct replay *rp, uint64_t gen,
                struct wr_error *err)
{
	char name[NAME_MAX_LEN], *path;
	off_t end;
	int fd;
	wr_err rc;

	file_name(name, "snapshot", gen, "");
	if ((path = join(fs->dir, name)) == NULL)
		return oom(err);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		rc = sys_fail(err, "store_open_failed", "open", path, errno);
	} else {
		rc = header_check(fd, path, FILE_SNAPSHOT, gen, NULL, err);
		if (rc == WR_OK)
			rc = replay_file(fs, rp, fd, path, false, &end, err);
		close(fd);
	}
	free(path);
	return rc;
}

/*
 * Replays journal-<gen>.  The last journal stays open in *fd for appends
 * (its path in *path_out, its end in *end); a crash while it was created
 * may have left its header incomplete, which is rewritten.
 */
static wr_err
replay_journal(struct fs_store *fs, const struct replay *rp, uint64_t gen,
               bool last, int *fd_out, char **path_out, off_t *end,
               struct wr_error *err)
{
	char name[NAME_MAX_LEN], msg[WR_DIAGNOSTIC_MAX], *path;
	unsigned char h[HDR_SIZE];
	bool incomplete = false;
	int fd;
	wr_err rc;

	file_name(name, "journal", gen, "");
	if ((path = join(fs->dir, name)) == NULL)
		return oom(err);
	fd = open(path, last ? O_RDWR | O_APPEND | O_CLOEXEC
	                     : O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		rc = sys_fail(err, "store_open_failed", "open", path, errno);
		goto done;
	}
	rc = header_check(fd, path, FILE_JOURNAL, gen, last ? &incomplete : NULL,
	                  err);
	if (rc != WR_OK)
		goto done;
	if (incomplete) {
		/* Nothing was ever appended to a journal whose header is not
		 * complete (the header is made durable first), so a short
		 * header may be rewritten; a zero header followed by data is
		 * damage. */
		off_t size = lseek(fd, 0, SEEK_END);
		if (size >= (off_t)HDR_SIZE && zero_from(fd, 0, size) != 1) {
			rc = corrupt(err, path, 0, "incomplete file header");
			goto done;
		}
		header_build(h, FILE_JOURNAL, gen);
		if (ftruncate(fd, 0) < 0) {
			rc = sys_fail(err, "store_write_failed", "ftruncate",
			              path, errno);
			goto done;
		}
		if (write_all(fs, fd, h, HDR_SIZE) < 0) {
			rc = sys_fail(err, "store_write_failed", "write", path,
			              errno);
			goto done;
		}
		if (fs->io.fdatasync(fd) < 0) {
			rc = sys_fail(err, "store_sync_failed", "fdatasync",
			              path, errno);
			goto done;
		}
		snprintf(msg, sizeof(msg),
		         "store %s: rewrote the incomplete header of a journal "
		         "cut by a crash while it was created", path);
		if (rp->diag != NULL)
			rp->diag(rp->arg, msg);
		*end = HDR_SIZE;
	} else {
		rc = replay_file(fs, rp, fd, path, last, end, err);
	}
done:
	if (rc == WR_OK && last) {
		*fd_out = fd;
		*path_out = path;
		return WR_OK;
	}
	if (fd >= 0)
		close(fd);
	free(path);
	return rc;
}

/* Removes what restore no longer reads: leftover snapshot temp files, and
 * snapshots and journals older than the restored snapshot. */
static void
remove_stale(struct fs_store *fs, const struct listing *l, uint64_t snap)
{
	char name[NAME_MAX_LEN], *path;
	bool removed = false;

	for (int k = 0; k < 3; k++) {
		const struct gens *g = k == 0   ? &l->tmps
		                       : k == 1 ? &l->snapshots
		                                : &l->journals;
		for (size_t i = 0; i < g->n; i++) {
			if (k > 0 && g->v[i] >= snap)
				continue;
			file_name(name, k == 2 ? "journal" : "snapshot",
			          g->v[i], k == 0 ? ".tmp" : "");
			if ((path = join(fs->dir, name)) == NULL)
				continue;
			if (unlink(path) == 0)
				removed = true;
			free(path);
		}
	}
	/* Best effort: a file that comes back after a crash is removed by
	 * the next load again. */
	if (removed)
		(void)sync_dir(fs);
}

static wr_err
fs_load(struct wr__store *st, wr__apply_fn apply, wr__diag_fn diag,
        void *arg, struct wr_error *err)
{
	struct fs_store *fs = (struct fs_store *)st;
	struct replay rp = {apply, diag, arg};
	struct listing l;
	char name[NAME_MAX_LEN];
	uint64_t snap = 0, first = 0, expect, bytes = 0;
	char *jpath = NULL;
	off_t end = HDR_SIZE;
	int jfd = -1;
	size_t i;
	wr_err rc;

	if (fs->loaded)
		return wr__fail(err, WR_EINTERNAL, "store_loaded", NULL,
		                "the store is already loaded");
	if ((rc = list_store(fs, &l, err)) != WR_OK)
		return rc;
	if (l.snapshots.n > 0)
		snap = l.snapshots.v[l.snapshots.n - 1];
	for (i = 0; i < l.journals.n && l.journals.v[i] < snap; i++)
		;
	first = i;
	/* Journals continue the snapshot without a gap: a missing one would
	 * silently lose acknowledged records. */
	expect = snap ? snap : 1;
	for (size_t j = first; j < l.journals.n; j++, expect++) {
		if (l.journals.v[j] != expect) {
			file_name(name, "journal", expect, "");
			rc = wr__fail(err, WR_EUNAVAILABLE, "store_corrupt",
			              NULL,
			              "store %s is damaged: %s is missing",
			              fs->dir, name);
			goto done;
		}
	}
	if (snap && (rc = replay_snapshot(fs, &rp, snap, err)) != WR_OK)
		goto done;
	for (size_t j = first; j < l.journals.n; j++) {
		bool last = j + 1 == l.journals.n;
		rc = replay_journal(fs, &rp, l.journals.v[j], last, &jfd,
		                    &jpath, &end, err);
		if (rc != WR_OK)
			goto done;
		bytes += (uint64_t)(end - HDR_SIZE);
	}
	if (jfd < 0) {
		/* A new store, or a crash between a snapshot's rename and
		 * its journal's creation. */
		fs->gen = snap ? snap : 1;
		file_name(name, "journal", fs->gen, "");
		if ((jpath = join(fs->dir, name)) == NULL) {
			rc = oom(err);
			goto done;
		}
		rc = create_file(fs, jpath, FILE_JOURNAL, fs->gen, &jfd, err);
		if (rc != WR_OK)
			goto done;
		end = HDR_SIZE;
	} else {
		fs->gen = l.journals.v[l.journals.n - 1];
	}
	remove_stale(fs, &l, snap);
	pthread_mutex_lock(&fs->mu);
	fs->jfd = jfd;
	fs->jpath = jpath;
	fs->written_off = fs->durable_off = end;
	fs->loaded = true;
	pthread_mutex_unlock(&fs->mu);
	fs->since_snapshot = bytes;
	jfd = -1;
	jpath = NULL;
done:
	if (jfd >= 0)
		close(jfd);
	free(jpath);
	listing_free(&l);
	return rc;
}

/* ---- append / sync / reset ---------------------------------------------- */

/* Frames rec into fs->abuf; *n gets the frame length. */
static wr_err
frame_record(struct fs_store *fs, const struct wr__record *rec, size_t *n,
             struct wr_error *err)
{
	size_t len = 0;
	char *payload = wr__record_encode(rec, &len);

	if (payload == NULL) {
		if (errno == EINVAL)
			return wr__fail(err, WR_EINTERNAL, "bad_record", NULL,
			                "record of kind %d misses a member it "
			                "needs", (int)rec->kind);
		return oom(err);
	}
	if (len > MAX_PAYLOAD) {
		free(payload);
		return wr__fail(err, WR_EUNAVAILABLE, "store_record_too_large",
		                NULL,
		                "a record of %zu bytes exceeds the store's "
		                "limit of %u bytes", len, MAX_PAYLOAD);
	}
	if (fs->abuf_cap < len + FRAME_SIZE) {
		char *p = realloc(fs->abuf, len + FRAME_SIZE);
		if (p == NULL) {
			free(payload);
			return oom(err);
		}
		fs->abuf = p;
		fs->abuf_cap = len + FRAME_SIZE;
	}
	put_le32((unsigned char *)fs->abuf, (uint32_t)len);
	put_le32((unsigned char *)fs->abuf + 4, wr__crc32c(0, payload, len));
	memcpy(fs->abuf + FRAME_SIZE, payload, len);
	free(payload);
	*n = len + FRAME_SIZE;
	return WR_OK;
}

static wr_err
broken_fail(struct fs_store *fs, struct wr_error *err)
{
	return wr__fail(err, WR_EUNAVAILABLE, "store_failed", NULL,
	                "store %s is failed until reset (%s)", fs->dir,
	                fs->fail_msg);
}

static wr_err
fs_append(struct wr__store *st, const struct wr__record *rec, uint64_t *lsn,
          struct wr_error *err)
{
	struct fs_store *fs = (struct fs_store *)st;
	size_t n = 0;
	off_t prev;
	bool broken;
	wr_err rc = WR_OK;

	if (!fs->loaded)
		return wr__fail(err, WR_EINTERNAL, "store_not_loaded", NULL,
		                "append before load");
	pthread_mutex_lock(&fs->mu);
	broken = fs->broken;
	prev = fs->written_off;
	if (broken)
		rc = broken_fail(fs, err);
	pthread_mutex_unlock(&fs->mu);
	if (broken)
		return rc;
	if ((rc = frame_record(fs, rec, &n, err)) != WR_OK)
		return rc;
	/* One write(2) at the end (O_APPEND); no fsync here - sync() does
	 * that for many records at once. */
	if (write_all(fs, fs->jfd, fs->abuf, n) < 0) {
		int e = errno;
		rc = sys_fail(err, "store_write_failed", "write", fs->jpath, e);
		if (ftruncate(fs->jfd, prev) < 0) {
			/* Part of the record may remain: only reset() can
			 * cut the journal back now. */
			pthread_mutex_lock(&fs->mu);
			fs->broken = true;
			snprintf(fs->fail_msg, sizeof(fs->fail_msg),
			         "ftruncate %s: %s", fs->jpath, strerror(errno));
			pthread_mutex_unlock(&fs->mu);
		}
	} else {
		pthread_mutex_lock(&fs->mu);
		fs->written_off = prev + (off_t)n;
		*lsn = ++fs->written_lsn;
		pthread_mutex_unlock(&fs->mu);
		fs->since_snapshot += n;
	}
	if (fs->abuf_cap > SNAPSHOT_BUF) {
		free(fs->abuf);
		fs->abuf = NULL;
		fs->abuf_cap = 0;
	}
	return rc;
}

static bool
lsn_dropped(const struct fs_store *fs, uint64_t lsn)
{
	for (size_t i = fs->n_dropped; i-- > 0;)
		if (lsn >= fs->dropped[i].lo && lsn <= fs->dropped[i].hi)
			return true;
	return false;
}

/* Waits until nobody owns the journal fd, then owns it.  mu held. */
static void
own_journal(struct fs_store *fs)
{
	while (fs->syncing)
		pthread_cond_wait(&fs->cv, &fs->mu);
	fs->syncing = true;
}

/* Called with mu held and the journal owned; fdatasyncs it (mu released
 * meanwhile) and publishes the result.  Returns 0 or -1 (now broken). */
static int
flush_journal(struct fs_store *fs)
{
	uint64_t target = fs->written_lsn;
	off_t off = fs->written_off;
	int fd = fs->jfd, r, e;

	pthread_mutex_unlock(&fs->mu);
	r = fs->io.fdatasync(fd);
	e = errno;
	pthread_mutex_lock(&fs->mu);
	if (r == 0) {
		if (target > fs->durable_lsn)
			fs->durable_lsn = target;
		fs->durable_off = off;
		return 0;
	}
	fs->broken = true;
	snprintf(fs->fail_msg, sizeof(fs->fail_msg), "fdatasync %s: %s",
	         fs->jpath, strerror(e));
	return -1;
}

static wr_err
fs_sync(struct wr__store *st, uint64_t lsn, struct wr_error *err)
{
	struct fs_store *fs = (struct fs_store *)st;
	wr_err rc = WR_OK;

	pthread_mutex_lock(&fs->mu);
	if (lsn > fs->written_lsn) {
		rc = wr__fail(err, WR_EINTERNAL, "bad_lsn", NULL,
		              "sync of record %" PRIu64 " that was never "
		              "appended", lsn);
		goto done;
	}
	for (;;) {
		if (lsn_dropped(fs, lsn)) {
			rc = wr__fail(err, WR_EUNAVAILABLE, "store_sync_failed",
			              NULL,
			              "record %" PRIu64 " was dropped after a "
			              "failed sync of store %s", lsn, fs->dir);
			break;
		}
		if (fs->durable_lsn >= lsn)
			break;
		if (fs->broken) {
			rc = wr__fail(err, WR_EUNAVAILABLE, "store_sync_failed",
			              NULL, "%s", fs->fail_msg);
			break;
		}
		if (!fs->syncing) {
			/* Leader: one fdatasync for everything written so
			 * far, shared by every waiter it covers. */
			fs->syncing = true;
			(void)flush_journal(fs);
			fs->syncing = false;
			pthread_cond_broadcast(&fs->cv);
			continue;
		}
		pthread_cond_wait(&fs->cv, &fs->mu);
	}
done:
	pthread_mutex_unlock(&fs->mu);
	return rc;
}

static wr_err
fs_reset(struct wr__store *st, struct wr_error *err)
{
	struct fs_store *fs = (struct fs_store *)st;
	off_t off;
	int r = 0;
	wr_err rc = WR_OK;

	if (!fs->loaded)
		return wr__fail(err, WR_EINTERNAL, "store_not_loaded", NULL,
		                "reset before load");
	pthread_mutex_lock(&fs->mu);
	own_journal(fs);
	/* Reserve the dropped range first so that success cannot fail
	 * after the journal was cut. */
	if (fs->written_lsn > fs->durable_lsn) {
		struct range *d = realloc(fs->dropped, (fs->n_dropped + 1) *
		                                               sizeof(*d));
		if (d == NULL) {
			rc = oom(err);
			goto done;
		}
		fs->dropped = d;
	}
	off = fs->durable_off;
	pthread_mutex_unlock(&fs->mu);
	if (ftruncate(fs->jfd, off) < 0)
		rc = sys_fail(err, "store_write_failed", "ftruncate", fs->jpath,
		              errno);
	else if ((r = fs->io.fdatasync(fs->jfd)) < 0)
		rc = sys_fail(err, "store_sync_failed", "fdatasync", fs->jpath,
		              errno);
	pthread_mutex_lock(&fs->mu);
	if (rc == WR_OK) {
		if (fs->written_lsn > fs->durable_lsn)
			fs->dropped[fs->n_dropped++] = (struct range){
				fs->durable_lsn + 1, fs->written_lsn};
		fs->written_off = off;
		fs->broken = false;
		fs->fail_msg[0] = '\0';
	} else {
		fs->broken = true;
		wr__strlcpy(fs->fail_msg, err != NULL ? err->message : "reset",
		            sizeof(fs->fail_msg));
	}
done:
	fs->syncing = false;
	pthread_cond_broadcast(&fs->cv);
	pthread_mutex_unlock(&fs->mu);
	return rc;
}

/* ---- snapshots ---------------------------------------------------------- */

static bool
fs_snapshot_due(struct wr__store *st)
{
	struct fs_store *fs = (struct fs_store *)st;

	return fs->loaded && fs->since_snapshot >= fs->snapshot_bytes;
}

/* Writes recs as frames into fd in batches of about SNAPSHOT_BUF. */
static wr_err
write_records(struct fs_store *fs, int fd, const char *path,
              const struct wr__record *recs, size_t n, struct wr_error *err)
{
	char *buf = NULL;
	size_t len = 0, cap = 0;
	wr_err rc = WR_OK;

	for (size_t i = 0; i <= n; i++) {
		size_t plen = 0;
		char *payload = NULL;

		if (i < n) {
			if ((payload = wr__record_encode(&recs[i], &plen)) ==
			    NULL) {
				rc = errno == EINVAL
				             ? wr__fail(err, WR_EINTERNAL,
				                        "bad_record", NULL,
				                        "snapshot record %zu "
				                        "is incomplete", i)
				             : oom(err);
				break;
			}
			if (plen > MAX_PAYLOAD) {
				free(payload);
				rc = wr__fail(err, WR_EUNAVAILABLE,
				              "store_record_too_large", NULL,
				              "snapshot record %zu is too large",
				              i);
				break;
			}
		}
		if (len > 0 && (i == n || len + FRAME_SIZE + plen > cap ||
		                len >= SNAPSHOT_BUF)) {
			if (write_all(fs, fd, buf, len) < 0) {
				free(payload);
				rc = sys_fail(err, "store_snapshot_failed",
				              "write", path, errno);
				break;
			}
			len = 0;
		}
		if (i == n)
			break;
		if (len + FRAME_SIZE + plen > cap) {
			size_t ncap = FRAME_SIZE + plen > SNAPSHOT_BUF
			                      ? FRAME_SIZE + plen
			                      : SNAPSHOT_BUF;
			char *p = realloc(buf, ncap);
			if (p == NULL) {
				free(payload);
				rc = oom(err);
				break;
			}
			buf = p;
			cap = ncap;
		}
		put_le32((unsigned char *)buf + len, (uint32_t)plen);
		put_le32((unsigned char *)buf + len + 4,
		         wr__crc32c(0, payload, plen));
		memcpy(buf + len + FRAME_SIZE, payload, plen);
		len += FRAME_SIZE + plen;
		free(payload);
	}
	free(buf);
	return rc;
}

/* snapshot-<gen>.tmp -> fdatasync -> rename -> fsync dir. */
static wr_err
write_snapshot(struct fs_store *fs, uint64_t gen,
               const struct wr__record *recs, size_t n, struct wr_error *err)
{
	char name[NAME_MAX_LEN], *tmp = NULL, *path = NULL;
	unsigned char h[HDR_SIZE];
	int fd = -1;
	wr_err rc = WR_OK;

	file_name(name, "snapshot", gen, ".tmp");
	if ((tmp = join(fs->dir, name)) == NULL)
		return oom(err);
	file_name(name, "snapshot", gen, "");
	if ((path = join(fs->dir, name)) == NULL) {
		rc = oom(err);
		goto done;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		rc = sys_fail(err, "store_snapshot_failed", "open", tmp, errno);
		goto done;
	}
	header_build(h, FILE_SNAPSHOT, gen);
	if (write_all(fs, fd, h, HDR_SIZE) < 0) {
		rc = sys_fail(err, "store_snapshot_failed", "write", tmp, errno);
		goto done;
	}
	if ((rc = write_records(fs, fd, tmp, recs, n, err)) != WR_OK)
		goto done;
	if (fs->io.fdatasync(fd) < 0) {
		rc = sys_fail(err, "store_snapshot_failed", "fdatasync", tmp,
		              errno);
		goto done;
	}
	if (close(fd) < 0) {
		fd = -1;
		rc = sys_fail(err, "store_snapshot_failed", "close", tmp, errno);
		goto done;
	}
	fd = -1;
	if (rename(tmp, path) < 0) {
		rc = sys_fail(err, "store_snapshot_failed", "rename", tmp,
		              errno);
		goto done;
	}
	/* Until this returns the rename may be lost; that is fine, the
	 * journals it replaces are still all there. */
	if (sync_dir(fs) < 0)
		rc = sys_fail(err, "store_snapshot_failed", "fsync", fs->dir,
		              errno);
done:
	if (fd >= 0)
		close(fd);
	if (rc != WR_OK)
		unlink(tmp);
	free(tmp);
	free(path);
	return rc;
}

/* Unlinks snapshots and journals older than gen; best effort (load()
 * removes leftovers). */
static void
remove_older(struct fs_store *fs, uint64_t gen)
{
	struct listing l;
	struct wr_error ignored;

	if (list_store(fs, &l, &ignored) != WR_OK)
		return;
	remove_stale(fs, &l, gen);
	listing_free(&l);
}

/*
 * Order: (1) journal-<g+1> is created and appends switch to it - restore
 * now reads journal-<g> then journal-<g+1>; (2) snapshot-<g+1> is written
 * to a temp file, made durable and renamed - restore now reads it and
 * journal-<g+1>; (3) older files are removed.  A failure in (2) leaves the
 * store working on the new journal with the old snapshot.
 */
static wr_err
fs_snapshot(struct wr__store *st, const struct wr__record *recs, size_t n,
            struct wr_error *err)
{
	struct fs_store *fs = (struct fs_store *)st;
	char name[NAME_MAX_LEN], *jpath = NULL;
	uint64_t gen = fs->gen + 1;
	int jfd = -1, old_fd;
	char *old_path;
	wr_err rc = WR_OK;

	if (!fs->loaded)
		return wr__fail(err, WR_EINTERNAL, "store_not_loaded", NULL,
		                "snapshot before load");
	pthread_mutex_lock(&fs->mu);
	own_journal(fs);
	if (!fs->broken && fs->durable_lsn < fs->written_lsn)
		(void)flush_journal(fs); /* the caller should have synced */
	if (fs->broken)
		rc = broken_fail(fs, err);
	pthread_mutex_unlock(&fs->mu);
	if (rc != WR_OK)
		goto done;

	file_name(name, "journal", gen, "");
	if ((jpath = join(fs->dir, name)) == NULL) {
		rc = oom(err);
		goto done;
	}
	if ((rc = create_file(fs, jpath, FILE_JOURNAL, gen, &jfd, err)) !=
	    WR_OK)
		goto done;
	pthread_mutex_lock(&fs->mu);
	old_fd = fs->jfd;
	old_path = fs->jpath;
	fs->jfd = jfd;
	fs->jpath = jpath;
	fs->gen = gen;
	fs->written_off = fs->durable_off = HDR_SIZE;
	pthread_mutex_unlock(&fs->mu);
	close(old_fd);
	free(old_path);
	jpath = NULL;
	/* Bytes count from here whether or not the snapshot succeeds, so a
	 * failing disk does not retry a snapshot at every mutation. */
	fs->since_snapshot = 0;

	if ((rc = write_snapshot(fs, gen, recs, n, err)) != WR_OK)
		goto done;
	remove_older(fs, gen);
done:
	free(jpath);
	pthread_mutex_lock(&fs->mu);
	fs->syncing = false;
	pthread_cond_broadcast(&fs->cv);
	pthread_mutex_unlock(&fs->mu);
	return rc;
}

/* ---- close -------------------------------------------------------------- */

static void
fs_close(struct wr__store *st)
{
	struct fs_store *fs = (struct fs_store *)st;

	if (fs == NULL)
		return;
	if (fs->jfd >= 0) {
		/* What failed to sync was reported as failed: make sure it
		 * does not come back at the next load. */
		if (fs->broken) {
			if (ftruncate(fs->jfd, fs->durable_off) == 0)
				(void)fs->io.fdatasync(fs->jfd);
		} else if (fs->written_off != fs->durable_off) {
			(void)fs->io.fdatasync(fs->jfd);
		}
		close(fs->jfd);
	}
	if (fs->lock_fd >= 0)
		close(fs->lock_fd); /* releases the flock */
	if (fs->dir_fd >= 0)
		close(fs->dir_fd);
	pthread_cond_destroy(&fs->cv);
	pthread_mutex_destroy(&fs->mu);
	free(fs->dropped);
	free(fs->abuf);
	free(fs->jpath);
	free(fs->dir);
	free(fs);
}

static const struct wr__store_ops fs_ops = {
	.backend = "fs_store",
	.load = fs_load,
	.append = fs_append,
	.sync = fs_sync,
	.reset = fs_reset,
	.snapshot_due = fs_snapshot_due,
	.snapshot = fs_snapshot,
	.close = fs_close,
};
