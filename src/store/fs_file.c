/*
 * store/fs_file.c - one file of the fs store (docs/store.md): the 32-byte
 * header, the CRC-framed records after it, replaying a file and telling a
 * torn tail (cut off, only at the end of the last journal) from damage
 * (refused), and writing files durably (temp + fdatasync + rename + fsync
 * of the directory).  Every write and sync goes through the I/O seam.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/crc32c.h"
#include "store/fs.h"
#include "store/record.h"

#define HDR_SIZE WR__FS_HDR_SIZE
#define FRAME_SIZE 8u         /* u32 length + u32 crc before each payload */
#define FORMAT_VERSION 3u /* 2: worker_deleted records; 3: idempotency
                          * keys (docs/store.md); 1 and 2 still read */
#define MAX_PAYLOAD WR__STORE_RECORD_MAX
static const unsigned char magic[8] = {'W', 'R', 'S', 'T', 'O', 'R', 'E', 0};

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

static wr_err
corrupt(struct wr_error *err, const char *path, off_t off, const char *why)
{
	return wr__fail(err, WR_EUNAVAILABLE, WR_REASON_STORE_CORRUPT, NULL,
	                "store file %s is damaged at byte offset %lld: %s",
	                path, (long long)off, why);
}

/* ---- the I/O seam ------------------------------------------------------- */

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

/* The offset after the last byte of [off, size) of fd that is not zero
 * (off if none), or -1 on a read error.  With first, it stops at the
 * first 4 KiB read that holds a non-zero byte: past off, but not
 * necessarily the last. */
static off_t
data_end(int fd, off_t off, off_t size, bool first)
{
	unsigned char buf[4096];
	off_t end = off;

	while (off < size) {
		size_t n = (size_t)(size - off) < sizeof(buf)
		                   ? (size_t)(size - off)
		                   : sizeof(buf);
		ssize_t r = read_at(fd, buf, n, off);
		if (r <= 0)
			return -1;
		for (ssize_t i = r; i-- > 0;) {
			if (buf[i] != 0) {
				end = off + i + 1;
				break;
			}
		}
		if (first && end > off)
			break;
		off += r;
	}
	return end;
}

/* 1 if [off, size) of fd is all zero bytes, 0 if not, -1 on read error. */
static int
zero_from(int fd, off_t off, off_t size)
{
	off_t end = data_end(fd, off, size, true);

	return end < 0 ? -1 : end == off;
}

/* ---- the file header ---------------------------------------------------- */

/* The first 24 bytes of a header, and of the synced file: magic, format
 * version, kind, generation; the n - 24 bytes after them zero. */
static void
header_start(unsigned char *h, size_t n, uint32_t kind, uint64_t gen)
{
	memset(h, 0, n);
	memcpy(h, magic, sizeof(magic));
	put_le32(h + 8, FORMAT_VERSION);
	put_le32(h + 12, kind);
	put_le64(h + 16, gen);
}

static void
header_build(unsigned char h[HDR_SIZE], uint32_t kind, uint64_t gen)
{
	header_start(h, HDR_SIZE, kind, gen);
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
		return wr__fs_sys_fail(err, WR_REASON_STORE_OPEN_FAILED, "read", path,
		                       errno);
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
		return wr__fail(err, WR_EINVALID_INPUT, WR_REASON_STORE_VERSION, NULL,
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

wr_err
wr__fs_check_version(const char *path, struct wr_error *err)
{
	unsigned char h[12];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	wr_err rc = WR_OK;

	if (fd >= 0 && read_at(fd, h, sizeof(h), 0) == (ssize_t)sizeof(h) &&
	    memcmp(h, magic, sizeof(magic)) == 0 &&
	    get_le32(h + 8) > FORMAT_VERSION)
		rc = header_check(fd, path, 0, 0, NULL, err);
	if (fd >= 0)
		close(fd);
	return rc;
}

wr_err
wr__fs_create(const struct wr__fs_dir *d, const char *path, uint32_t kind,
              uint64_t gen, int *fd, struct wr_error *err)
{
	unsigned char h[HDR_SIZE];
	int f;
	wr_err rc = WR_OK;

	if ((f = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0)
		return wr__fs_sys_fail(err, WR_REASON_STORE_WRITE_FAILED, "open", path,
		                       errno);
	header_build(h, kind, gen);
	if (wr__fs_write_all(d, f, h, HDR_SIZE) < 0)
		rc = wr__fs_sys_fail(err, WR_REASON_STORE_WRITE_FAILED, "write", path,
		                     errno);
	else if (d->io.fdatasync(f) < 0)
		rc = wr__fs_sys_fail(err, WR_REASON_STORE_SYNC_FAILED, "fdatasync",
		                     path, errno);
	else if (wr__fs_sync_dir(d) < 0)
		rc = wr__fs_sys_fail(err, WR_REASON_STORE_SYNC_FAILED, "fsync", d->path,
		                     errno);
	if (rc != WR_OK) {
		close(f);
		unlink(path);
		return rc;
	}
	*fd = f;
	return WR_OK;
}

/* ---- records: the frame format ------------------------------------------ */

/*
 * A frame is the u32 payload length, the u32 CRC-32C of the payload (both
 * little-endian) and the payload: one record's JSON text, 1..MAX_PAYLOAD
 * bytes.  payload_encode() and frame_put() are the only writers of it,
 * frame_read() the only reader.
 */

/* rec's payload, refused above MAX_PAYLOAD.  On success *out (n bytes) is
 * the caller's to free; on failure nothing is allocated. */
static wr_err
payload_encode(const struct wr__record *rec, char **out, size_t *n,
               struct wr_error *err)
{
	size_t len = 0;
	char *payload = wr__record_encode(rec, &len);

	if (payload == NULL) {
		if (errno == EINVAL)
			return wr__fail(err, WR_EINTERNAL, WR_REASON_BAD_RECORD, NULL,
			                "record of kind %d misses a member it "
			                "needs", (int)rec->kind);
		return wr__oom(err);
	}
	if (len > MAX_PAYLOAD) {
		free(payload);
		return wr__fail(err, WR_EUNAVAILABLE, WR_REASON_STORE_RECORD_TOO_LARGE,
		                NULL,
		                "a record of %zu bytes exceeds the store's "
		                "limit of %u bytes", len, MAX_PAYLOAD);
	}
	*out = payload;
	*n = len;
	return WR_OK;
}

/* Writes the frame of payload[0..n) to dst, FRAME_SIZE + n bytes. */
static void
frame_put(char *dst, const char *payload, size_t n)
{
	put_le32((unsigned char *)dst, (uint32_t)n);
	put_le32((unsigned char *)dst + 4, wr__crc32c(0, payload, n));
	memcpy(dst + FRAME_SIZE, payload, n);
}

wr_err
wr__fs_frame(const struct wr__record *rec, char **buf, size_t *cap,
             size_t *n, struct wr_error *err)
{
	size_t len;
	char *payload;
	wr_err rc = payload_encode(rec, &payload, &len, err);

	if (rc != WR_OK)
		return rc;
	if (*cap < len + FRAME_SIZE) {
		char *p = realloc(*buf, len + FRAME_SIZE);
		if (p == NULL) {
			free(payload);
			return wr__oom(err);
		}
		*buf = p;
		*cap = len + FRAME_SIZE;
	}
	frame_put(*buf, payload, len);
	free(payload);
	*n = len + FRAME_SIZE;
	return WR_OK;
}

/*
 * A read window over the file being replayed: frames are taken from one
 * buffer refilled WINDOW_SIZE bytes at a time (larger for a larger
 * record), instead of a pread(2) for each frame header and each payload.
 */
#define WINDOW_SIZE (1u << 20)

struct window {
	int fd;
	char *buf;
	size_t cap;
	off_t start; /* file offset of buf[0] */
	size_t len;  /* bytes of buf read from the file */
};

/*
 * Points *out at bytes [off, off + n) of the file (which the caller knows
 * exist), valid until the next call.  Returns 0; -1 with errno set on a
 * read error or a short read (EIO); -2 out of memory.
 */
static int
window_get(struct window *w, off_t off, size_t n, const char **out)
{
	size_t want = n > WINDOW_SIZE ? n : WINDOW_SIZE;
	ssize_t r;

	if (off >= w->start && (size_t)(off - w->start) + n <= w->len) {
		*out = w->buf + (off - w->start);
		return 0;
	}
	if (want > w->cap) {
		char *nb = realloc(w->buf, want);

		if (nb == NULL)
			return -2;
		w->buf = nb;
		w->cap = want;
	}
	w->len = 0;
	errno = 0;
	if ((r = read_at(w->fd, w->buf, want, off)) < 0)
		return -1;
	w->start = off;
	w->len = (size_t)r;
	if ((size_t)r < n) {
		errno = EIO; /* the file shrank under us */
		return -1;
	}
	*out = w->buf;
	return 0;
}

/* A frame whose bytes did not all reach the disk before a crash: journals
 * are preallocated (fs.c), and the page cache writes pages back in any
 * order, so an unwritten sector reads back as zeros - also before later
 * frames that were written.  zero_tail is the one reason that drops no
 * record: nothing but zeros from there on. */
#define SECTOR 512u /* the smallest unit a disk writes whole */
static const char zero_tail[] = "zero-filled tail";

/* 1 if some 512-byte sector of the file that [off, end) touches is all
 * zero from max(off, its start) to its end (or the end of the file): a
 * sector that was last written before this frame was (a payload is JSON
 * text, which holds no NUL; a sector holds what was there when it was
 * last written, zeros after); 0 if none; -1 on a read error. */
static int
unwritten_sector(int fd, off_t off, off_t end, off_t size)
{
	for (off_t s = off / SECTOR * SECTOR; s < end && s < size; s += SECTOR) {
		off_t lo = s > off ? s : off;
		off_t hi = s + (off_t)SECTOR < size ? s + (off_t)SECTOR : size;
		int z = zero_from(fd, lo, hi);

		if (z != 0)
			return z;
	}
	return 0;
}

/*
 * Judges the frame at off whose header says n (0 when it is all zero) and
 * whose payload is not what its checksum says: *torn set when it is what
 * a crash leaves, else damage (store_corrupt).  Torn: zeros from off to
 * the end of the file (zero_tail); a zero header whose sector is zero
 * from off on; a frame touching a sector not written since it was
 * (unwritten_sector); a checksum mismatch in the final frame - ending at
 * the end of the file or followed by zeros only.  Damage: anything else,
 * e.g. a flipped bit, or a run of zeros that ends inside a sector.
 */
static wr_err
frame_judge(struct window *w, const char *path, off_t off, off_t size,
            uint32_t n, const char **torn, struct wr_error *err)
{
	off_t after = off + (off_t)FRAME_SIZE + (off_t)n;
	int z = 0;

	if (n == 0) {
		if ((z = zero_from(w->fd, off, size)) == 1)
			*torn = zero_tail;
		else if (z == 0 &&
		         (z = unwritten_sector(w->fd, off, off + 1, size)) == 1)
			*torn = "a zero-filled sector, then later writes";
		else if (z == 0)
			return corrupt(err, path, off, "zero-length record");
	} else if (after == size) {
		*torn = "checksum mismatch in the final record";
		return WR_OK;
	} else if ((z = unwritten_sector(w->fd, off, after, size)) == 1) {
		*torn = "a record with a zero-filled sector";
		return WR_OK;
	} else if (z == 0 && (z = zero_from(w->fd, after, size)) == 1) {
		*torn = "checksum mismatch in the final record";
	} else if (z == 0) {
		return corrupt(err, path, off, "checksum mismatch");
	}
	if (z < 0)
		return wr__fs_sys_fail(err, WR_REASON_STORE_OPEN_FAILED, "read",
		                       path, errno ? errno : EIO);
	return WR_OK;
}

/*
 * Reads and verifies the frame at off of a file of size bytes.  WR_OK with
 * *torn NULL: a whole frame whose checksum matches, *payload (*len bytes)
 * points into w until the next read.  WR_OK with *torn set: what a crash
 * mid-write leaves (frame_judge; also a partial header or a length past
 * the end of the file).  Otherwise damage (store_corrupt) or a read error.
 */
static wr_err
frame_read(struct window *w, const char *path, off_t off, off_t size,
           const char **payload, uint32_t *len, const char **torn,
           struct wr_error *err)
{
	off_t rem = size - off;
	const char *fh, *buf;
	uint32_t n, crc;
	int rc;

	if (rem < (off_t)FRAME_SIZE) {
		*torn = "partial record header";
		return WR_OK;
	}
	if ((rc = window_get(w, off, FRAME_SIZE, &fh)) != 0)
		goto read_failed;
	n = get_le32((const unsigned char *)fh);
	crc = get_le32((const unsigned char *)fh + 4);
	if (n == 0)
		return frame_judge(w, path, off, size, 0, torn, err);
	if ((off_t)n > rem - (off_t)FRAME_SIZE) {
		*torn = "record length beyond the end of the file";
		return WR_OK;
	}
	if (n > MAX_PAYLOAD)
		return corrupt(err, path, off, "record length too large");
	if ((rc = window_get(w, off + FRAME_SIZE, n, &buf)) != 0)
		goto read_failed;
	if (wr__crc32c(0, buf, n) != crc)
		return frame_judge(w, path, off, size, n, torn, err);
	*payload = buf;
	*len = n;
	return WR_OK;
read_failed:
	if (rc == -2)
		return wr__oom(err);
	return wr__fs_sys_fail(err, WR_REASON_STORE_OPEN_FAILED, "read", path,
	                       errno ? errno : EIO);
}

/* ---- replaying a file --------------------------------------------------- */

/*
 * Decodes the payload of the frame at off into *rec and checks the
 * record's own rules; what is inconsistent is named by file and offset.
 * On failure *rec holds nothing.
 */
static wr_err
replay_decode(const char *path, off_t off, const char *payload, uint32_t len,
              struct wr__record *rec, struct wr_error *err)
{
	char why[WR_MESSAGE_MAX];
	struct wr_error derr;
	wr_err rc;

	if ((rc = wr__record_decode(payload, len, rec, &derr)) != WR_OK) {
		/* Out of memory is no verdict on the file. */
		if (derr.reason == WR_REASON_STORE_CORRUPT)
			return corrupt(err, path, off, derr.message);
		if (err != NULL)
			*err = derr;
		return rc;
	}
	if (wr__record_check(rec, why, sizeof(why)) < 0) {
		wr__record_clear(rec);
		return corrupt(err, path, off, why);
	}
	return WR_OK;
}

/*
 * Decodes the frame at off (replay_decode) and hands the record to
 * rp->apply (which takes what it owns, whatever it returns).
 */
static wr_err
replay_record(const struct wr__fs_replay *rp, const char *path, off_t off,
              const char *payload, uint32_t len, struct wr_error *err)
{
	struct wr__loc loc = {rp->file, len, (uint64_t)off};
	char why[WR_MESSAGE_MAX];
	struct wr__record rec;
	wr_err rc;

	if ((rc = replay_decode(path, off, payload, len, &rec, err)) != WR_OK)
		return rc;
	rc = rp->apply(rp->arg, &rec, &loc, err);
	if (rc != WR_OK && err != NULL &&
	    err->reason == WR_REASON_STORE_CORRUPT) {
		snprintf(why, sizeof(why), "%s", err->message);
		rc = corrupt(err, path, off, why);
	}
	return rc;
}

/* Cuts the torn rest of the journal appends continue in at off (ftruncate
 * + fdatasync: preallocated space after it goes too) and reports it, with
 * the bytes that were not zero, through rp->diag. */
static wr_err
cut_torn_tail(const struct wr__fs_dir *d, const struct wr__fs_replay *rp,
              int fd, const char *path, off_t off, off_t size,
              const char *torn, struct wr_error *err)
{
	char msg[WR_DIAGNOSTIC_MAX];
	off_t end = data_end(fd, off, size, false);

	if (end < 0)
		end = size;
	if (ftruncate(fd, off) < 0)
		return wr__fs_sys_fail(err, WR_REASON_STORE_WRITE_FAILED,
		                       "ftruncate", path, errno);
	if (d->io.fdatasync(fd) < 0)
		return wr__fs_sys_fail(err, WR_REASON_STORE_SYNC_FAILED,
		                       "fdatasync", path, errno);
	snprintf(msg, sizeof(msg),
	         "store %s: dropped a torn final record at byte offset "
	         "%lld (%lld bytes, %s)",
	         path, (long long)off, (long long)(end - off), torn);
	if (rp->diag != NULL)
		rp->diag(rp->arg, msg);
	return WR_OK;
}

/* Damage at off of a journal that the synced file says fdatasyncs made
 * durable up to synced > off: what reads like a torn tail (torn, NULL
 * when the file ends there) is a fault of the disk or a hand, in bytes
 * that were acknowledged.  Refused like any damage; nothing is cut. */
static wr_err
acked_damage(struct wr_error *err, const char *path, off_t off,
             off_t synced, const char *torn)
{
	char why[WR_MESSAGE_MAX];

	snprintf(why, sizeof(why),
	         "%s, yet fdatasync had made the journal durable up to byte "
	         "offset %lld: acknowledged records (file " WR__FS_SYNCED ")",
	         torn != NULL && torn != zero_tail ? torn
	                                           : "the records end here",
	         (long long)synced);
	return corrupt(err, path, off, why);
}

/*
 * Applies the records of one file from HDR_SIZE on.  last: this is the
 * journal appends continue in, where a torn final record is cut off
 * (cut_torn_tail) instead of refused, and zeros after the last record
 * (its preallocated space, fs.c) are kept as they are - from synced on
 * (0: anywhere); before it they are damage (acked_damage).  *end gets
 * the offset after the last good record.
 */
static wr_err
replay_file(const struct wr__fs_dir *d, const struct wr__fs_replay *rp,
            int fd, const char *path, bool last, off_t synced, off_t *end,
            struct wr_error *err)
{
	struct window w = {.fd = fd};
	struct stat sb;
	const char *torn = NULL;
	off_t off = HDR_SIZE;
	wr_err rc = WR_OK;

	if (fstat(fd, &sb) < 0)
		return wr__fs_sys_fail(err, WR_REASON_STORE_OPEN_FAILED, "fstat", path,
		                       errno);
	while (off < sb.st_size) {
		const char *payload = NULL;
		uint32_t len = 0;

		rc = frame_read(&w, path, off, sb.st_size, &payload, &len, &torn,
		                err);
		if (rc != WR_OK || torn != NULL)
			break;
		rc = replay_record(rp, path, off, payload, len, err);
		if (rc != WR_OK)
			break;
		off += (off_t)FRAME_SIZE + (off_t)len;
	}
	free(w.buf);
	if (rc != WR_OK)
		return rc;
	if (torn != NULL && !last)
		return corrupt(err, path, off, torn);
	if (off < synced)
		return acked_damage(err, path, off, synced, torn);
	if (torn != NULL && torn != zero_tail &&
	    (rc = cut_torn_tail(d, rp, fd, path, off, sb.st_size, torn, err)) !=
	            WR_OK)
		return rc;
	*end = off;
	return WR_OK;
}

wr_err
wr__fs_replay_snapshot(const struct wr__fs_dir *d,
                       const struct wr__fs_replay *rp, uint64_t gen,
                       int *fd_out, struct wr_error *err)
{
	char name[WR__FS_NAME_MAX], *path;
	off_t end;
	int fd;
	wr_err rc;

	wr__fs_file_name(name, "snapshot", gen, "");
	if ((path = wr__fs_join(d->path, name)) == NULL)
		return wr__oom(err);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		rc = wr__fs_sys_fail(err, WR_REASON_STORE_OPEN_FAILED, "open", path,
		                     errno);
	} else {
		rc = header_check(fd, path, WR__FS_SNAPSHOT, gen, NULL, err);
		if (rc == WR_OK)
			rc = replay_file(d, rp, fd, path, false, 0, &end,
			                 err);
		if (rc == WR_OK)
			*fd_out = fd;
		else
			close(fd);
	}
	free(path);
	return rc;
}

wr_err
wr__fs_first_record(const struct wr__fs_dir *d, uint32_t kind, uint64_t gen,
                    struct wr__record *rec, bool *found, struct wr_error *err)
{
	char name[WR__FS_NAME_MAX], *path;
	struct window w = {.fd = -1};
	const char *payload = NULL, *torn = NULL;
	bool incomplete = false;
	struct stat st;
	uint32_t len = 0;
	wr_err rc;

	*found = false;
	wr__fs_file_name(name, kind == WR__FS_JOURNAL ? "journal" : "snapshot",
	                 gen, "");
	if ((path = wr__fs_join(d->path, name)) == NULL)
		return wr__oom(err);
	if ((w.fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		rc = wr__fs_sys_fail(err, WR_REASON_STORE_OPEN_FAILED, "open", path,
		                     errno);
		goto out;
	}
	rc = header_check(w.fd, path, kind, gen,
	                  kind == WR__FS_JOURNAL ? &incomplete : NULL, err);
	if (rc != WR_OK || incomplete)
		goto out;
	if (fstat(w.fd, &st) < 0) {
		rc = wr__fs_sys_fail(err, WR_REASON_STORE_OPEN_FAILED, "stat", path,
		                     errno);
		goto out;
	}
	rc = frame_read(&w, path, HDR_SIZE, st.st_size, &payload, &len, &torn,
	                err);
	if (rc != WR_OK || torn != NULL)
		goto out; /* no record yet (a torn one: the open cuts it) */
	rc = replay_decode(path, HDR_SIZE, payload, len, rec, err);
	*found = rc == WR_OK;
out:
	if (w.fd >= 0)
		close(w.fd);
	free(w.buf);
	free(path);
	return rc;
}

/*
 * Rewrites the header of the journal that appends go to when an older
 * format version wrote it, so that a binary of that version, which cannot
 * read the records of this one, refuses the file (store_version) instead
 * of calling a new record kind damage.  One 32-byte write at offset 0 on
 * its own descriptor, then fdatasync.
 */
static wr_err
upgrade_header(const struct wr__fs_dir *d, int fd, const char *path,
               uint64_t gen, struct wr_error *err)
{
	unsigned char h[HDR_SIZE];
	int wfd;

	if (read_at(fd, h, HDR_SIZE, 0) != (ssize_t)HDR_SIZE ||
	    get_le32(h + 8) >= FORMAT_VERSION)
		return WR_OK;
	header_build(h, WR__FS_JOURNAL, gen);
	if ((wfd = open(path, O_WRONLY | O_CLOEXEC)) < 0)
		return wr__fs_sys_fail(err, WR_REASON_STORE_OPEN_FAILED, "open",
		                       path, errno);
	if (pwrite(wfd, h, HDR_SIZE, 0) != (ssize_t)HDR_SIZE) {
		int e = errno;
		close(wfd);
		return wr__fs_sys_fail(err, WR_REASON_STORE_WRITE_FAILED,
		                       "pwrite", path, e ? e : EIO);
	}
	if (d->io.fdatasync(wfd) < 0) {
		int e = errno;
		close(wfd);
		return wr__fs_sys_fail(err, WR_REASON_STORE_SYNC_FAILED,
		                       "fdatasync", path, e);
	}
	close(wfd);
	return WR_OK;
}

wr_err
wr__fs_replay_journal(const struct wr__fs_dir *d,
                      const struct wr__fs_replay *rp, uint64_t gen,
                      bool last, off_t synced, int *fd_out, char **path_out,
                      off_t *end, struct wr_error *err)
{
	char name[WR__FS_NAME_MAX], msg[WR_DIAGNOSTIC_MAX], *path;
	unsigned char h[HDR_SIZE];
	bool incomplete = false;
	int fd;
	wr_err rc;

	wr__fs_file_name(name, "journal", gen, "");
	if ((path = wr__fs_join(d->path, name)) == NULL)
		return wr__oom(err);
	fd = open(path, last ? O_RDWR | O_CLOEXEC : O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		rc = wr__fs_sys_fail(err, WR_REASON_STORE_OPEN_FAILED, "open", path,
		                     errno);
		goto done;
	}
	rc = header_check(fd, path, WR__FS_JOURNAL, gen,
	                  last ? &incomplete : NULL, err);
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
		/* The synced file names this journal only once its header
		 * was durable. */
		if (synced > 0) {
			rc = acked_damage(err, path, 0, synced,
			                  "incomplete file header");
			goto done;
		}
		header_build(h, WR__FS_JOURNAL, gen);
		if (ftruncate(fd, 0) < 0 || lseek(fd, 0, SEEK_SET) != 0) {
			rc = wr__fs_sys_fail(err, WR_REASON_STORE_WRITE_FAILED,
			                     "ftruncate", path, errno);
			goto done;
		}
		if (wr__fs_write_all(d, fd, h, HDR_SIZE) < 0) {
			rc = wr__fs_sys_fail(err, WR_REASON_STORE_WRITE_FAILED, "write",
			                     path, errno);
			goto done;
		}
		if (d->io.fdatasync(fd) < 0) {
			rc = wr__fs_sys_fail(err, WR_REASON_STORE_SYNC_FAILED,
			                     "fdatasync", path, errno);
			goto done;
		}
		snprintf(msg, sizeof(msg),
		         "store %s: rewrote the incomplete header of a journal "
		         "cut by a crash while it was created", path);
		if (rp->diag != NULL)
			rp->diag(rp->arg, msg);
		*end = HDR_SIZE;
	} else {
		rc = replay_file(d, rp, fd, path, last, last ? synced : 0,
		                 end, err);
		if (rc == WR_OK && last)
			rc = upgrade_header(d, fd, path, gen, err);
	}
done:
	if (rc == WR_OK) {
		*fd_out = fd;
		*path_out = path;
		return WR_OK;
	}
	if (fd >= 0)
		close(fd);
	free(path);
	return rc;
}

/* ---- the synced file ---------------------------------------------------- */

/*
 * DIR/synced (docs/store.md, "The synced file"): the header's first 24
 * bytes with kind SYNCED_KIND and the generation of a journal, then the
 * offset up to which an fdatasync made that journal durable (u64 LE), the
 * CRC-32C of bytes 0..31 and 4 zero bytes.  One write of 40 bytes at
 * offset 0, inside one sector.
 */
#define SYNCED_KIND 3u

static void
synced_build(unsigned char b[WR__FS_SYNCED_SIZE], uint64_t gen, uint64_t off)
{
	header_start(b, WR__FS_SYNCED_SIZE, SYNCED_KIND, gen);
	put_le64(b + 24, off);
	put_le32(b + 32, wr__crc32c(0, b, 32));
}

/* NULL when b[0..n) is a synced record naming a journal (*gen, *off), else
 * why it is not. */
static const char *
synced_parse(const unsigned char *b, size_t n, uint64_t *gen, off_t *off)
{
	uint32_t version;
	uint64_t o;

	if (n != WR__FS_SYNCED_SIZE)
		return "not 40 bytes long";
	version = get_le32(b + 8);
	if (memcmp(b, magic, sizeof(magic)) != 0 ||
	    get_le32(b + 12) != SYNCED_KIND)
		return "not a synced file";
	if (version == 0 || version > FORMAT_VERSION)
		return "unknown format version";
	if (get_le32(b + 32) != wr__crc32c(0, b, 32) || get_le32(b + 36) != 0)
		return "checksum mismatch";
	o = get_le64(b + 24);
	if (get_le64(b + 16) == 0 || o < HDR_SIZE || o > (uint64_t)INT64_MAX)
		return "generation or offset out of range";
	*gen = get_le64(b + 16);
	*off = (off_t)o;
	return NULL;
}

wr_err
wr__fs_synced_open(const struct wr__fs_dir *d, const struct wr__fs_replay *rp,
                   bool create, int *fd, uint64_t *gen, off_t *off,
                   bool *missing, struct wr_error *err)
{
	unsigned char b[WR__FS_SYNCED_SIZE + 1];
	char msg[WR_DIAGNOSTIC_MAX], *path = wr__fs_join(d->path, WR__FS_SYNCED);
	int flags = O_RDWR | O_CLOEXEC | (create ? O_CREAT : 0);
	const char *why = NULL;
	ssize_t n, i = 0;
	wr_err rc;

	*gen = 0;
	*off = 0;
	*missing = false;
	if (path == NULL)
		return wr__oom(err);
	if ((*fd = open(path, flags, 0600)) < 0) {
		*missing = errno == ENOENT && !create;
		rc = *missing ? WR_OK
		              : wr__fs_sys_fail(err, WR_REASON_STORE_OPEN_FAILED,
		                                "open", path, errno);
		free(path);
		return rc;
	}
	if ((n = read_at(*fd, b, sizeof(b), 0)) < 0)
		why = strerror(errno);
	while (i < n && b[i] == 0)
		i++;
	/* Empty or zeros: what a crash leaves of a file just created. */
	if (why != NULL || (i < n && (why = synced_parse(b, (size_t)n, gen,
	                                                 off)) != NULL)) {
		snprintf(msg, sizeof(msg),
		         "store %s: ignored its contents (%s); damage in the "
		         "last journal is judged without it, as by older "
		         "versions, until an fdatasync rewrites it",
		         path, why);
		if (rp->diag != NULL)
			rp->diag(rp->arg, msg);
	}
	free(path);
	return WR_OK;
}

int
wr__fs_synced_write(const struct wr__fs_dir *d, int fd, uint64_t gen,
                    off_t off)
{
	unsigned char b[WR__FS_SYNCED_SIZE];
	ssize_t w;

	synced_build(b, gen, (uint64_t)off);
	do
		w = d->io.pwrite(fd, b, sizeof(b), 0);
	while (w < 0 && errno == EINTR);
	if (w == (ssize_t)sizeof(b))
		return 0;
	if (w >= 0)
		errno = EIO; /* short: its checksum tells the next load */
	return -1;
}

/* ---- snapshots ---------------------------------------------------------- */

/* Makes room for need bytes in *buf (at least a batch); -1 on OOM. */
static int
batch_room(char **buf, size_t *cap, size_t need)
{
	size_t ncap = need > WR__FS_BATCH ? need : WR__FS_BATCH;
	char *p;

	if (need <= *cap)
		return 0;
	if ((p = realloc(*buf, ncap)) == NULL)
		return -1;
	*buf = p;
	*cap = ncap;
	return 0;
}

/*
 * Writes the records next() hands out as frames into fd (from the end of
 * the header on) in batches of about WR__FS_BATCH, and tells next() where
 * the record it handed out before went.
 */
static wr_err
write_records(const struct wr__fs_dir *d, int fd, const char *path,
              wr__snap_next_fn next, void *arg, uint32_t file,
              struct wr_error *err)
{
	char *buf = NULL;
	size_t len = 0, cap = 0;
	uint64_t off = HDR_SIZE; /* where buf[0] goes in the file */
	struct wr__loc loc;
	const struct wr__loc *prev = NULL;
	wr_err rc;

	for (;;) {
		const struct wr__record *rec = NULL;
		size_t plen = 0;
		char *payload = NULL;

		if ((rc = next(arg, prev, &rec, err)) != WR_OK)
			break;
		if (rec != NULL && rec->raw != NULL) {
			/* A transcript entry copied as it is stored. */
			if ((payload = malloc(rec->raw_len)) == NULL) {
				rc = wr__oom(err);
				break;
			}
			memcpy(payload, rec->raw, rec->raw_len);
			plen = rec->raw_len;
		} else if (rec != NULL &&
		           (rc = payload_encode(rec, &payload, &plen, err)) !=
		                   WR_OK) {
			break;
		}
		/* Flush first if this frame would not fit, at a full batch
		 * and at the end. */
		if (len > 0 && (rec == NULL || len + FRAME_SIZE + plen > cap ||
		                len >= WR__FS_BATCH)) {
			if (wr__fs_write_all(d, fd, buf, len) < 0) {
				rc = wr__fs_sys_fail(err,
				                     WR_REASON_STORE_SNAPSHOT_FAILED,
				                     "write", path, errno);
				free(payload);
				break;
			}
			off += len;
			len = 0;
		}
		if (rec == NULL)
			break;
		if (batch_room(&buf, &cap, len + FRAME_SIZE + plen) < 0) {
			free(payload);
			rc = wr__oom(err);
			break;
		}
		frame_put(buf + len, payload, plen);
		loc = (struct wr__loc){file, (uint32_t)plen, off + len};
		prev = &loc;
		len += FRAME_SIZE + plen;
		free(payload);
	}
	free(buf);
	return rc;
}

/* Makes the temp file durable and gives it its name. */
static wr_err
publish_snapshot(const struct wr__fs_dir *d, int fd, const char *tmp,
                 const char *path, struct wr_error *err)
{
	if (d->io.fdatasync(fd) < 0)
		return wr__fs_sys_fail(err, WR_REASON_STORE_SNAPSHOT_FAILED,
		                       "fdatasync", tmp, errno);
	if (rename(tmp, path) < 0)
		return wr__fs_sys_fail(err, WR_REASON_STORE_SNAPSHOT_FAILED,
		                       "rename", tmp, errno);
	/* Until this returns the rename may be lost; that is fine, the
	 * journals it replaces are still all there. */
	if (wr__fs_sync_dir(d) < 0)
		return wr__fs_sys_fail(err, WR_REASON_STORE_SNAPSHOT_FAILED,
		                       "fsync", d->path, errno);
	return WR_OK;
}

wr_err
wr__fs_write_snapshot(const struct wr__fs_dir *d, uint64_t gen,
                      wr__snap_next_fn next, void *arg, uint32_t file,
                      int *fd_out, struct wr_error *err)
{
	char name[WR__FS_NAME_MAX], *tmp = NULL, *path = NULL;
	unsigned char h[HDR_SIZE];
	int fd = -1;
	wr_err rc = WR_OK;

	wr__fs_file_name(name, "snapshot", gen, ".tmp");
	if ((tmp = wr__fs_join(d->path, name)) == NULL)
		return wr__oom(err);
	wr__fs_file_name(name, "snapshot", gen, "");
	if ((path = wr__fs_join(d->path, name)) == NULL) {
		rc = wr__oom(err);
		goto done;
	}
	fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		rc = wr__fs_sys_fail(err, WR_REASON_STORE_SNAPSHOT_FAILED, "open", tmp,
		                     errno);
		goto done;
	}
	header_build(h, WR__FS_SNAPSHOT, gen);
	if (wr__fs_write_all(d, fd, h, HDR_SIZE) < 0) {
		rc = wr__fs_sys_fail(err, WR_REASON_STORE_SNAPSHOT_FAILED, "write", tmp,
		                     errno);
		goto done;
	}
	if ((rc = write_records(d, fd, tmp, next, arg, file, err)) != WR_OK)
		goto done;
	rc = publish_snapshot(d, fd, tmp, path, err);
done:
	if (rc == WR_OK) {
		*fd_out = fd;
	} else {
		if (fd >= 0)
			close(fd);
		unlink(tmp);
	}
	free(tmp);
	free(path);
	return rc;
}

wr_err
wr__fs_read_record(int fd, const char *path, const struct wr__loc *loc,
                   struct wr__record *rec, struct wr_error *err)
{
	off_t off = (off_t)loc->off;
	size_t n = FRAME_SIZE + (size_t)loc->len;
	char why[WR_MESSAGE_MAX];
	struct wr_error derr;
	unsigned char *buf;
	ssize_t r;
	wr_err rc;

	if (loc->len == 0 || loc->len > MAX_PAYLOAD || loc->off < HDR_SIZE)
		return corrupt(err, path, off, "record location out of range");
	if ((buf = malloc(n)) == NULL)
		return wr__oom(err);
	if ((r = read_at(fd, buf, n, off)) < 0) {
		int e = errno;
		free(buf);
		return wr__fs_sys_fail(err, WR_REASON_STORE_OPEN_FAILED, "read",
		                       path, e);
	}
	if ((size_t)r < n)
		rc = corrupt(err, path, off, "record cut short");
	else if (get_le32(buf) != loc->len)
		rc = corrupt(err, path, off, "record length changed");
	else if (get_le32(buf + 4) != wr__crc32c(0, buf + FRAME_SIZE, loc->len))
		rc = corrupt(err, path, off, "checksum mismatch");
	else if ((rc = wr__record_decode((const char *)buf + FRAME_SIZE,
	                                 loc->len, rec, &derr)) != WR_OK) {
		if (derr.reason == WR_REASON_STORE_CORRUPT)
			rc = corrupt(err, path, off, derr.message);
		else if (err != NULL)
			*err = derr;
	} else if (wr__record_check(rec, why, sizeof(why)) < 0) {
		wr__record_clear(rec);
		rc = corrupt(err, path, off, why);
	}
	free(buf);
	return rc;
}

wr_err
wr__fs_check_versions(const struct wr__fs_dir *d, struct wr_error *err)
{
	struct wr__fs_listing l;
	char name[WR__FS_NAME_MAX], *path;
	wr_err rc;

	if ((rc = wr__fs_list(d, &l, err)) != WR_OK)
		return rc;
	for (int k = 0; k < 2 && rc == WR_OK; k++) {
		struct wr__fs_gens *g = k ? &l.snapshots : &l.journals;
		for (size_t i = 0; i < g->n && rc == WR_OK; i++) {
			wr__fs_file_name(name, k ? "snapshot" : "journal",
			                 g->v[i], "");
			if ((path = wr__fs_join(d->path, name)) == NULL) {
				rc = wr__oom(err);
				break;
			}
			rc = wr__fs_check_version(path, err);
			free(path);
		}
	}
	wr__fs_listing_free(&l);
	return rc;
}

/* Where n bytes of needle occur in buf[0..len), or NULL. */
static const char *
find(const char *buf, size_t len, const char *needle, size_t n)
{
	for (size_t i = 0; n <= len && i <= len - n; i++)
		if (buf[i] == needle[0] && memcmp(buf + i, needle, n) == 0)
			return buf + i;
	return NULL;
}

#define TS_TRUE ",\"turn_started\":true}"
#define TS_FALSE ",\"turn_started\":false}"

/*
 * 1 when p[0..n) is wr__record_encode's transcript form for worker_id's
 * entry seq: its kind first, the worker's id and the sequence as members
 * (a string member's quotes are escaped inside content, so they cannot
 * match there), turn_started last.  *keep gets the bytes before the
 * turn_started member.
 */
static int
raw_form(const char *p, size_t n, const char *worker_id, uint64_t seq,
         size_t *keep)
{
	static const char kind[] = "{\"kind\":\"transcript\",\"event_id\":";
	char id[WR_ID_MAX + 32], sq[64];
	int il = snprintf(id, sizeof(id), ",\"worker_id\":\"%s\",\"role\":\"",
	                  worker_id);
	int sl = snprintf(sq, sizeof(sq), "\",\"sequence\":%" PRIu64
	                  ",\"content\":\"", seq);
	const char *a, *b;

	if (n < sizeof(kind) - 1 || memcmp(p, kind, sizeof(kind) - 1) != 0 ||
	    il < 0 || (size_t)il >= sizeof(id) || sl < 0)
		return 0;
	if (n >= sizeof(TS_FALSE) - 1 &&
	    memcmp(p + n - (sizeof(TS_FALSE) - 1), TS_FALSE,
	           sizeof(TS_FALSE) - 1) == 0)
		*keep = n - (sizeof(TS_FALSE) - 1);
	else if (memcmp(p + n - (sizeof(TS_TRUE) - 1), TS_TRUE,
	                sizeof(TS_TRUE) - 1) == 0)
		*keep = n - (sizeof(TS_TRUE) - 1);
	else
		return 0;
	a = find(p, *keep, id, (size_t)il);
	b = a != NULL ? find(a, *keep - (size_t)(a - p), sq, (size_t)sl) : NULL;
	return b != NULL;
}

wr_err
wr__fs_read_raw_entry(int fd, const char *path, const struct wr__loc *loc,
                      const char *worker_id, uint64_t seq, char **raw,
                      size_t *raw_len, struct wr_error *err)
{
	off_t off = (off_t)loc->off;
	size_t n = FRAME_SIZE + (size_t)loc->len, keep = 0;
	unsigned char *buf;
	char *p;
	ssize_t r;
	wr_err rc = WR_OK;

	*raw = NULL;
	if (loc->len == 0 || loc->len > MAX_PAYLOAD || loc->off < HDR_SIZE)
		return corrupt(err, path, off, "record location out of range");
	/* Room for the payload and a longer turn_started member. */
	if ((buf = malloc(n + sizeof(TS_FALSE))) == NULL)
		return wr__oom(err);
	if ((r = read_at(fd, buf, n, off)) < 0) {
		int e = errno;
		free(buf);
		return wr__fs_sys_fail(err, WR_REASON_STORE_OPEN_FAILED, "read",
		                       path, e);
	}
	p = (char *)buf + FRAME_SIZE;
	if ((size_t)r < n)
		rc = corrupt(err, path, off, "record cut short");
	else if (get_le32(buf) != loc->len)
		rc = corrupt(err, path, off, "record length changed");
	else if (get_le32(buf + 4) != wr__crc32c(0, p, loc->len))
		rc = corrupt(err, path, off, "checksum mismatch");
	else if (raw_form(p, loc->len, worker_id, seq, &keep)) {
		memmove(buf, p, keep);
		memcpy(buf + keep, TS_FALSE, sizeof(TS_FALSE) - 1);
		*raw = (char *)buf;
		*raw_len = keep + sizeof(TS_FALSE) - 1;
		return WR_OK;
	}
	free(buf);
	return rc;
}
