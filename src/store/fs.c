/*
 * store/fs.c - the durable store: an append-only journal of CRC-framed
 * records plus periodic snapshots in one locked directory (docs/store.md).
 * This file is the store object (locking, load order, append, group
 * commit, reset, snapshots); the bytes of one file are fs_file.c's, the
 * listing of the directory fs_dir.c's, names, paths and the I/O seam
 * fs_io.c's.
 *
 * Invariants
 *   - Restore = the highest snapshot-<S> + every journal-<G> with G >= S, in
 *     order.  Every step of snapshot() keeps that rule true, so a crash at
 *     any point leaves a restorable store.
 *   - A record is acknowledged only after an fdatasync covering it returned
 *     0 (durable_lsn); append() never waits for the disk, sync() does, and
 *     concurrent sync() callers share one fdatasync (group commit).
 *   - The journal appends go to is preallocated (PREALLOC_BYTES at a
 *     time, posix_fallocate): appends overwrite zeros, so the file's size
 *     does not change with each record and an fdatasync writes the data
 *     alone, not the inode too - on ext4 about 1.3x the fdatasyncs per
 *     second of appending at the end for small records (docs/store.md).
 *     The zeros after written_off are trimmed when the journal is closed
 *     or replaced; a crash leaves them, and load keeps them (fs_file.c).
 *   - After a failed fdatasync the store is broken: what was not durable may
 *     be lost, so appends are refused until reset() cut the journal back to
 *     the last durable byte.  Record numbers (lsn) are never reused, so a
 *     late sync() on a dropped record fails instead of succeeding.
 *   - The synced file names a journal generation and an offset S of it
 *     that an fdatasync made durable (synced_note): written with one
 *     pwrite after that fdatasync returned, never synced but at a clean
 *     close, so after any crash it says S <= the durable end of that
 *     journal, or names an older one.  Load refuses damage before S
 *     (store_corrupt) instead of cutting it as a torn tail.  So the
 *     journal is never cut below what the file may say: reset() cuts to
 *     durable_off >= S; append_undo() to written_off >= durable_off; the
 *     close trim and snapshot_begin's trim to written_off, durable there;
 *     close of a broken store to durable_off; load cuts a torn tail only
 *     at or after S; and a new journal is named only once its header is
 *     durable.  Load makes the restored records durable (fdatasync) before
 *     it writes their end there.
 *
 * Threading: append/snapshot_due/snapshot_begin/snapshot_switch run under
 * the Runtime's write lock (never concurrently with each other); sync runs
 * on any thread; reset with or without the write lock (it owns the journal
 * as a sync does, and does nothing unless the store is broken, while
 * append fails); snapshot_write on the Runtime's snapshot thread; read
 * on any thread.  mu guards the lsn/offset/broken state shared with sync();
 * the journal fd is used by one fdatasync at a time ("syncing"), which
 * reset() and snapshot_begin() also take before they truncate or switch
 * the journal.  The file table (files, under the rwlock ft) maps the
 * numbers in locations to read-only fds: read() holds it shared across its
 * pread, so reads run in parallel; adding a file and snapshot_switch()
 * (which closes replaced files) hold it exclusively, without I/O.
 */
#include "config.h"

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

#include "store/fs.h"

/* Compaction rule (docs/store.md, "Snapshots"): a snapshot is due once
 * the journal since the last one reaches max(snapshot_bytes, the last
 * snapshot's size * snapshot_percent / 100) - the floor and the
 * percentage of Redis's auto-aof-rewrite-min-size/-percentage - so the
 * store stays within about twice the live state plus the floor. */
#define DEFAULT_SNAPSHOT_BYTES (UINT64_C(4) << 20)
#define DEFAULT_SNAPSHOT_PERCENT 100

/* The journal grows by this much at a time (rounded up to hold a record):
 * one size change, and one inode write, per MiB rather than per record. */
#define PREALLOC_BYTES ((off_t)1 << 20)

struct range {
	uint64_t lo, hi; /* lsns dropped by one reset(), inclusive */
};

/* One file whose records locations may name; fd is read-only (or the
 * journal's own read-write fd duplicated). */
struct fs_file {
	uint32_t id;
	uint32_t kind; /* WR__FS_JOURNAL or WR__FS_SNAPSHOT */
	uint64_t gen;
	int fd;
	char *path;
};

struct fs_store {
	struct wr__store base;
	struct wr__fs_dir dir; /* path, fd and I/O seam */
	int lock_fd;
	uint64_t snapshot_bytes; /* snapshot_due() floor */
	uint32_t snapshot_percent; /* ... and share of the last snapshot */
	uint64_t snap_size;      /* bytes of the newest snapshot (0: none);
	                          * Runtime write lock */
	uint64_t new_snap_size;  /* of the one snapshot_write wrote, until
	                          * snapshot_switch */

	/* Set by load() and snapshot(); read by sync() under mu. */
	bool loaded;
	int jfd;       /* current journal; its file offset is written_off */
	char *jpath;
	uint64_t gen;  /* of the current journal */
	uint64_t since_snapshot; /* journal bytes since the last snapshot */
	char *abuf;    /* append()'s frame buffer (Runtime lock) */
	size_t abuf_cap;

	pthread_mutex_t mu;
	pthread_cond_t cv;
	uint64_t written_lsn; /* records appended so far */
	uint64_t durable_lsn; /* records covered by a successful fdatasync */
	off_t written_off;    /* end of the current journal's records */
	off_t durable_off;    /* durable end of the current journal */
	uint64_t resets;      /* resets that cut the journal (under mu) */
	/* The journal's file size, zeros after written_off, as of alloc_resets
	 * resets (a reset cuts the file at written_off without the Runtime
	 * write lock, so append() catches up); no_prealloc: posix_fallocate is
	 * not supported here.  Runtime write lock, or the store exclusively. */
	off_t alloc_off;
	uint64_t alloc_resets;
	bool no_prealloc;
	bool syncing;         /* someone owns the journal fd for I/O */
	bool broken;
	bool raced;           /* an append wrote while a reset cut (mu) */
	/* fs_drain: close leaves a failed journal as it is (atomic). */
	bool draining;
	char fail_msg[WR_MESSAGE_MAX]; /* why it broke */
	struct range *dropped;
	size_t n_dropped;

	pthread_rwlock_t ft;   /* guards the file table below */
	struct fs_file *files;
	size_t n_files, cap_files;
	uint32_t next_file;    /* number of the next file added */
	uint32_t jfile;        /* number of the current journal */

	/* The synced file (-1: none) and what it was last set to; written
	 * by the owner of the journal's I/O (syncing), or during load and
	 * close.  synced_failing: the last write failed (reported once). */
	int sfd;
	uint64_t synced_gen;
	off_t synced_off;
	bool synced_failing;
	wr__diag_fn diag; /* wr__store_fs_set_diag; may be NULL */
	void *diag_arg;

	/* Counters for fs_stats: relaxed atomics, any thread. */
	uint64_t n_syncs, n_journal_bytes, n_synced_failures;
	uint64_t n_batch[WR_METRICS_BATCH_BUCKETS], n_batch_sum;
};

static const struct wr__store_ops fs_ops;

/* ---- the file table ----------------------------------------------------- */

/* A number for a file about to be added. */
static uint32_t
file_number(struct fs_store *fs)
{
	uint32_t id;

	pthread_rwlock_wrlock(&fs->ft);
	id = fs->next_file++;
	pthread_rwlock_unlock(&fs->ft);
	return id;
}

/* Adds fd (read-only, now the table's: closed on failure too) as file id
 * of kind/gen at path (copied).  Takes ft exclusively; no I/O. */
static wr_err
files_add(struct fs_store *fs, uint32_t id, uint32_t kind, uint64_t gen,
          int fd, const char *path, struct wr_error *err)
{
	char *p = fd >= 0 ? strdup(path) : NULL;
	wr_err rc = WR_OK;

	if (fd < 0)
		return wr__fs_sys_fail(err, WR_REASON_STORE_OPEN_FAILED, "dup",
		                       path, errno);
	pthread_rwlock_wrlock(&fs->ft);
	if (p != NULL && fs->n_files == fs->cap_files) {
		size_t cap = fs->cap_files ? 2 * fs->cap_files : 8;
		struct fs_file *f = realloc(fs->files, cap * sizeof(*f));
		if (f != NULL) {
			fs->files = f;
			fs->cap_files = cap;
		}
	}
	if (p == NULL || fs->n_files == fs->cap_files) {
		rc = wr__oom(err);
		free(p);
		close(fd);
	} else {
		fs->files[fs->n_files++] = (struct fs_file){id, kind, gen, fd, p};
	}
	pthread_rwlock_unlock(&fs->ft);
	return rc;
}

/* Closes and forgets the files older than generation gen (every file when
 * gen is UINT64_MAX).  Takes ft exclusively; no I/O but close(2). */
static void
files_retire(struct fs_store *fs, uint64_t gen)
{
	size_t keep = 0;

	pthread_rwlock_wrlock(&fs->ft);
	for (size_t i = 0; i < fs->n_files; i++) {
		struct fs_file *f = &fs->files[i];
		if (f->gen < gen || gen == UINT64_MAX) {
			close(f->fd);
			free(f->path);
		} else {
			fs->files[keep++] = *f;
		}
	}
	fs->n_files = keep;
	pthread_rwlock_unlock(&fs->ft);
}

/* Makes jfd (journal gen at jpath) readable through the table as a new
 * file, the one appends name from now on. */
static wr_err
add_journal(struct fs_store *fs, uint64_t gen, int jfd, const char *jpath,
            struct wr_error *err)
{
	uint32_t id = file_number(fs);
	wr_err rc;

	rc = files_add(fs, id, WR__FS_JOURNAL, gen, dup(jfd), jpath, err);
	if (rc == WR_OK)
		fs->jfile = id;
	return rc;
}

static wr_err
fs_read(struct wr__store *st, const struct wr__loc *loc,
        struct wr__record *rec, struct wr_error *err)
{
	struct fs_store *fs = (struct fs_store *)st;
	wr_err rc = WR_EUNAVAILABLE;
	size_t i;

	pthread_rwlock_rdlock(&fs->ft);
	for (i = 0; i < fs->n_files && fs->files[i].id != loc->file; i++)
		;
	if (i < fs->n_files)
		rc = wr__fs_read_record(fs->files[i].fd, fs->files[i].path, loc,
		                        rec, err);
	else
		wr__fail(err, WR_EUNAVAILABLE, WR_REASON_STORE_CORRUPT, NULL,
		         "store %s: a record names file number %" PRIu32
		         ", which is not open", fs->dir.path, loc->file);
	pthread_rwlock_unlock(&fs->ft);
	return rc;
}

static wr_err
fs_read_raw(struct wr__store *st, const struct wr__loc *loc,
            const char *worker_id, uint64_t seq, char **raw, size_t *raw_len,
            struct wr_error *err)
{
	struct fs_store *fs = (struct fs_store *)st;
	wr_err rc = WR_EUNAVAILABLE;
	size_t i;

	*raw = NULL;
	pthread_rwlock_rdlock(&fs->ft);
	for (i = 0; i < fs->n_files && fs->files[i].id != loc->file; i++)
		;
	if (i < fs->n_files)
		rc = wr__fs_read_raw_entry(fs->files[i].fd, fs->files[i].path,
		                           loc, worker_id, seq, raw, raw_len,
		                           err);
	else
		wr__fail(err, WR_EUNAVAILABLE, WR_REASON_STORE_CORRUPT, NULL,
		         "store %s: a record names file number %" PRIu32
		         ", which is not open", fs->dir.path, loc->file);
	pthread_rwlock_unlock(&fs->ft);
	return rc;
}

/* ---- open --------------------------------------------------------------- */

void
wr__store_fs_set_io(struct wr__store *st, const struct wr__fs_io *io)
{
	struct fs_store *fs = (struct fs_store *)st;

	if (st == NULL || st->ops != &fs_ops)
		return;
	wr__fs_io_fill(&fs->dir.io, io);
}

void
wr__store_fs_set_diag(struct wr__store *st, wr__diag_fn diag, void *arg)
{
	struct fs_store *fs = (struct fs_store *)st;

	if (st == NULL || st->ops != &fs_ops)
		return;
	fs->diag = diag;
	fs->diag_arg = arg;
}

void
wr__store_fs_set_snapshot_bytes(struct wr__store *st, uint64_t bytes)
{
	if (st == NULL || st->ops != &fs_ops)
		return;
	((struct fs_store *)st)->snapshot_bytes =
		bytes ? bytes : DEFAULT_SNAPSHOT_BYTES;
}

void
wr__store_fs_set_snapshot_percent(struct wr__store *st, uint32_t percent)
{
	if (st == NULL || st->ops != &fs_ops)
		return;
	((struct fs_store *)st)->snapshot_percent =
		percent ? percent : DEFAULT_SNAPSHOT_PERCENT;
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
		return wr__fail(err, WR_EINVALID_INPUT, WR_REASON_INVALID_VALUE,
		                "store", "the fs store needs a directory");
	if ((fs = calloc(1, sizeof(*fs))) == NULL)
		return wr__oom(err);
	fs->base.ops = &fs_ops;
	fs->dir.fd = fs->lock_fd = fs->jfd = fs->sfd = -1;
	fs->snapshot_bytes = DEFAULT_SNAPSHOT_BYTES;
	fs->snapshot_percent = DEFAULT_SNAPSHOT_PERCENT;
	wr__store_fs_set_io(&fs->base, NULL);
	if (pthread_mutex_init(&fs->mu, NULL) != 0) {
		free(fs);
		return wr__oom(err);
	}
	if (pthread_cond_init(&fs->cv, NULL) != 0) {
		pthread_mutex_destroy(&fs->mu);
		free(fs);
		return wr__oom(err);
	}
	if (pthread_rwlock_init(&fs->ft, NULL) != 0) {
		pthread_cond_destroy(&fs->cv);
		pthread_mutex_destroy(&fs->mu);
		free(fs);
		return wr__oom(err);
	}
	if ((fs->dir.path = strdup(dir)) == NULL) {
		rc = wr__oom(err);
		goto fail;
	}
	if ((rc = wr__fs_make_dir(dir, err)) != WR_OK)
		goto fail;
	if ((fs->dir.fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		rc = wr__fs_sys_fail(err, WR_REASON_STORE_OPEN_FAILED, "open", dir,
		                     errno);
		goto fail;
	}
	if ((lock_path = wr__fs_join(dir, "lock")) == NULL) {
		rc = wr__oom(err);
		goto fail;
	}
	fs->lock_fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fs->lock_fd < 0) {
		rc = wr__fs_sys_fail(err, WR_REASON_STORE_OPEN_FAILED, "open",
		                     lock_path, errno);
		goto fail;
	}
	if (flock(fs->lock_fd, LOCK_EX | LOCK_NB) < 0) {
		if (errno == EWOULDBLOCK)
			rc = wr__fail(err, WR_EUNAVAILABLE, WR_REASON_STORE_LOCKED,
			              NULL,
			              "store %s is in use by another process",
			              dir);
		else
			rc = wr__fs_sys_fail(err, WR_REASON_STORE_OPEN_FAILED,
			                     "flock", lock_path, errno);
		goto fail;
	}
	if ((rc = wr__fs_check_versions(&fs->dir, err)) != WR_OK)
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

/* Replays snapshot-<snap> (if snap) and journals[first..] of l into the
 * file table; the last journal's fd and path (appends continue there) go
 * to *jfd and *jpath, its end to *end, the journal bytes to *bytes.
 * synced: how far the last journal is known durable (0: not known). */
static wr_err
replay_files(struct fs_store *fs, struct wr__fs_replay *rp,
             const struct wr__fs_listing *l, uint64_t snap, size_t first,
             off_t synced, int *jfd, char **jpath, off_t *end,
             uint64_t *bytes, struct wr_error *err)
{
	char name[WR__FS_NAME_MAX], *path = NULL;
	int fd = -1;
	wr_err rc = WR_OK;

	if (snap) {
		rp->file = file_number(fs);
		wr__fs_file_name(name, "snapshot", snap, "");
		if ((path = wr__fs_join(fs->dir.path, name)) == NULL)
			return wr__oom(err);
		rc = wr__fs_replay_snapshot(&fs->dir, rp, snap, &fd, err);
		if (rc == WR_OK) {
			struct stat sb;
			fs->snap_size = fstat(fd, &sb) == 0
			                ? (uint64_t)sb.st_size : 0;
			rc = files_add(fs, rp->file, WR__FS_SNAPSHOT, snap, fd,
			               path, err);
		}
		free(path);
	}
	for (size_t j = first; j < l->journals.n && rc == WR_OK; j++) {
		bool last = j + 1 == l->journals.n;
		uint64_t gen = l->journals.v[j];
		rp->file = file_number(fs);
		rc = wr__fs_replay_journal(&fs->dir, rp, gen, last,
		                           last ? synced : 0, &fd, &path, end,
		                           err);
		if (rc != WR_OK)
			break;
		*bytes += (uint64_t)(*end - WR__FS_HDR_SIZE);
		if (last) {
			*jfd = fd;
			*jpath = path;
			rc = files_add(fs, rp->file, WR__FS_JOURNAL, gen, dup(fd),
			               path, err);
			fs->jfile = rp->file;
		} else {
			rc = files_add(fs, rp->file, WR__FS_JOURNAL, gen, fd, path,
			               err);
			free(path);
		}
	}
	return rc;
}

/* Journals continue the snapshot without a gap: a missing one would
 * silently lose acknowledged records. */
static wr_err
check_journals(const struct fs_store *fs, const struct wr__fs_listing *l,
               uint64_t snap, size_t first, struct wr_error *err)
{
	char name[WR__FS_NAME_MAX];
	uint64_t expect = snap ? snap : 1;

	for (size_t j = first; j < l->journals.n; j++, expect++) {
		if (l->journals.v[j] != expect) {
			wr__fs_file_name(name, "journal", expect, "");
			return wr__fail(err, WR_EUNAVAILABLE, WR_REASON_STORE_CORRUPT,
			                NULL, "store %s is damaged: %s is missing",
			                fs->dir.path, name);
		}
	}
	return WR_OK;
}

/*
 * Records in the synced file that journal gen is durable up to off.  Only
 * ever called once an fdatasync covering [0, off) of that journal (or its
 * creation's) returned 0, by whoever owns the journal's I/O (syncing, or
 * the store alone: load, close), so the file never names more than is
 * durable, whenever its own page reaches the disk, and what it names only
 * grows within a generation.  No sync: one pwrite.  A failure is counted,
 * reported through diag (may be NULL) when it begins a run of failures,
 * and otherwise ignored - the file is evidence for recovery, not state.
 */
static void
synced_note(struct fs_store *fs, uint64_t gen, off_t off, wr__diag_fn diag,
            void *arg)
{
	char msg[WR_DIAGNOSTIC_MAX];

	if (fs->sfd < 0 || (gen == fs->synced_gen && off == fs->synced_off &&
	                    !fs->synced_failing))
		return;
	if (wr__fs_synced_write(&fs->dir, fs->sfd, gen, off) == 0) {
		fs->synced_gen = gen;
		fs->synced_off = off;
		fs->synced_failing = false;
		return;
	}
	__atomic_add_fetch(&fs->n_synced_failures, 1, __ATOMIC_RELAXED);
	if (fs->synced_failing)
		return;
	fs->synced_failing = true;
	snprintf(msg, sizeof(msg),
	         "store %s: pwrite %s/" WR__FS_SYNCED ": %s (the store goes "
	         "on; until a write succeeds, damage in records acknowledged "
	         "since reads as a torn tail at the next open)",
	         fs->dir.path, fs->dir.path, strerror(errno));
	if (diag != NULL)
		diag(arg, msg);
}

/*
 * Opens the synced file (not creating it: a refused load changes nothing)
 * and turns what it says into the offset up to which the last journal of
 * l is known durable, *synced; 0: not known - no file, one of an older
 * version, one naming an older journal (a snapshot replaced it since).
 * A file naming a journal that restore reads (not older than the newest
 * snapshot, snap) but newer than the last one of l: that journal is
 * missing, store_corrupt.  *missing: there was no synced file.
 */
static wr_err
synced_load(struct fs_store *fs, const struct wr__fs_replay *rp,
            const struct wr__fs_listing *l, uint64_t snap, off_t *synced,
            bool *missing, struct wr_error *err)
{
	char name[WR__FS_NAME_MAX];
	uint64_t last = l->journals.n ? l->journals.v[l->journals.n - 1] : 0;
	uint64_t gen;
	off_t off;
	wr_err rc;

	if (fs->sfd >= 0) /* a load that failed before */
		close(fs->sfd);
	rc = wr__fs_synced_open(&fs->dir, rp, false, &fs->sfd, &gen, &off,
	                        missing, err);
	if (rc != WR_OK)
		return rc;
	*synced = gen != 0 && gen == last ? off : 0;
	if (gen <= last || gen < snap)
		return WR_OK;
	wr__fs_file_name(name, "journal", gen, "");
	return wr__fail(err, WR_EUNAVAILABLE, WR_REASON_STORE_CORRUPT, NULL,
	                "store %s is damaged: %s is missing, yet fdatasync made "
	                "it durable up to byte offset %lld (file "
	                WR__FS_SYNCED ")",
	                fs->dir.path, name, (long long)off);
}

/*
 * After a replay: makes the journal appends continue in durable up to end
 * (records a crash left in the page cache unsynced are restored, so they
 * count as acknowledged from now on; skipped when the synced file already
 * says so, as after a clean close, or when the journal was just created)
 * and writes that into the synced file, creating it if it was missing
 * (if that fails, a diagnostic: the store goes on without it).  A failed
 * fdatasync fails the load (WR_EUNAVAILABLE, store_sync_failed).
 */
static wr_err
synced_settle(struct fs_store *fs, const struct wr__fs_replay *rp, int jfd,
              const char *jpath, off_t end, bool sync, bool missing,
              struct wr_error *err)
{
	char msg[WR_DIAGNOSTIC_MAX];
	struct wr_error e;
	struct stat sb;
	uint64_t gen;
	off_t off;

	if (sync && fs->dir.io.fdatasync(jfd) < 0)
		return wr__fs_sys_fail(err, WR_REASON_STORE_SYNC_FAILED,
		                       "fdatasync", jpath, errno);
	if (missing && wr__fs_synced_open(&fs->dir, rp, true, &fs->sfd, &gen,
	                                  &off, &missing, &e) != WR_OK) {
		snprintf(msg, sizeof(msg), "store %s: the store goes on "
		         "without its " WR__FS_SYNCED " file: %.160s", fs->dir.path,
		         e.message);
		if (rp->diag != NULL)
			rp->diag(rp->arg, msg);
	}
	/* The note below writes 40 bytes at offset 0: a longer file (not
	 * one the store wrote) would stay "not 40 bytes long", ignored at
	 * every open, so it is emptied first (empty: S not known). */
	if (fs->sfd >= 0 && fstat(fs->sfd, &sb) == 0 &&
	    sb.st_size > (off_t)WR__FS_SYNCED_SIZE)
		(void)ftruncate(fs->sfd, 0);
	synced_note(fs, fs->gen, end, rp->diag, rp->arg);
	return WR_OK;
}

static wr_err
fs_load(struct wr__store *st, wr__apply_fn apply, wr__diag_fn diag,
        void *arg, struct wr_error *err)
{
	struct fs_store *fs = (struct fs_store *)st;
	struct wr__fs_replay rp = {apply, diag, arg, 0};
	struct wr__fs_listing l;
	char name[WR__FS_NAME_MAX];
	uint64_t snap = 0, bytes = 0;
	char *jpath = NULL;
	struct stat sb;
	off_t end = WR__FS_HDR_SIZE, synced = 0;
	bool missing = false, created = false;
	int jfd = -1;
	size_t first;
	wr_err rc;

	if (fs->loaded)
		return wr__fail(err, WR_EINTERNAL, WR_REASON_STORE_LOADED, NULL,
		                "the store is already loaded");
	if ((rc = wr__fs_list(&fs->dir, &l, err)) != WR_OK)
		return rc;
	if (l.snapshots.n > 0)
		snap = l.snapshots.v[l.snapshots.n - 1];
	for (first = 0; first < l.journals.n && l.journals.v[first] < snap;
	     first++)
		;
	if ((rc = check_journals(fs, &l, snap, first, err)) != WR_OK ||
	    (rc = synced_load(fs, &rp, &l, snap, &synced, &missing,
	                       err)) != WR_OK ||
	    (rc = replay_files(fs, &rp, &l, snap, first, synced, &jfd, &jpath,
	                       &end, &bytes, err)) != WR_OK)
		goto done;
	if (jfd < 0) {
		/* A new store, or a crash between a snapshot's rename and
		 * its journal's creation. */
		fs->gen = snap ? snap : 1;
		wr__fs_file_name(name, "journal", fs->gen, "");
		if ((jpath = wr__fs_join(fs->dir.path, name)) == NULL) {
			rc = wr__oom(err);
			goto done;
		}
		rc = wr__fs_create(&fs->dir, jpath, WR__FS_JOURNAL, fs->gen,
		                   &jfd, err);
		if (rc == WR_OK)
			rc = add_journal(fs, fs->gen, jfd, jpath, err);
		if (rc != WR_OK)
			goto done;
		end = WR__FS_HDR_SIZE;
		created = true;
	} else {
		fs->gen = l.journals.v[l.journals.n - 1];
	}
	/* Appends continue at end, over any zeros a crash left after it. */
	if (fstat(jfd, &sb) < 0 || lseek(jfd, end, SEEK_SET) != end) {
		rc = wr__fs_sys_fail(err, WR_REASON_STORE_OPEN_FAILED, "lseek",
		                     jpath, errno);
		goto done;
	}
	rc = synced_settle(fs, &rp, jfd, jpath, end, !created && end > synced,
	                   missing, err);
	if (rc != WR_OK)
		goto done;
	wr__fs_remove_stale(&fs->dir, &l, snap);
	fs->alloc_off = sb.st_size > end ? sb.st_size : end;
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
	if (rc != WR_OK)
		files_retire(fs, UINT64_MAX);
	wr__fs_listing_free(&l);
	return rc;
}

/* ---- append / sync / reset ---------------------------------------------- */

static wr_err
broken_fail(struct fs_store *fs, struct wr_error *err)
{
	return wr__fail(err, WR_EUNAVAILABLE, WR_REASON_STORE_FAILED, NULL,
	                "store %s is failed until reset (%s)",
	                fs->dir.path, fs->fail_msg);
}

/*
 * Makes room for the journal to reach need bytes: preallocates up to need
 * rounded up to PREALLOC_BYTES.  Best effort: where posix_fallocate is
 * not supported (EOPNOTSUPP, EINVAL, ENOSYS - glibc emulates it instead,
 * writing a zero byte per block, so these come from other C libraries)
 * preallocation stops for this store and appends grow the file; any other
 * failure (ENOSPC, EIO) is left to the write that follows.  Runtime write
 * lock held.
 */
static void
journal_grow(struct fs_store *fs, off_t need)
{
	off_t to = (need + PREALLOC_BYTES - 1) / PREALLOC_BYTES * PREALLOC_BYTES;
	struct stat sb;

	if (fs->no_prealloc || need <= fs->alloc_off)
		return;
	if (fs->dir.io.allocate(fs->jfd, fs->alloc_off, to - fs->alloc_off) ==
	    0) {
		fs->alloc_off = to;
		return;
	}
	if (errno == EOPNOTSUPP || errno == EINVAL || errno == ENOSYS)
		fs->no_prealloc = true;
	/* A failure may have allocated part, as zeros. */
	if (fstat(fs->jfd, &sb) == 0 && sb.st_size > fs->alloc_off)
		fs->alloc_off = sb.st_size;
}

/* After a failed write at prev: cuts what part of the record was written
 * (and the space after it), or marks the store broken so that reset()
 * does.  Runtime write lock held. */
static void
append_undo(struct fs_store *fs, off_t prev)
{
	if (ftruncate(fs->jfd, prev) == 0 &&
	    lseek(fs->jfd, prev, SEEK_SET) == prev) {
		fs->alloc_off = prev;
		return;
	}
	pthread_mutex_lock(&fs->mu);
	fs->broken = true;
	snprintf(fs->fail_msg, sizeof(fs->fail_msg), "ftruncate %s: %s",
	         fs->jpath, strerror(errno));
	pthread_mutex_unlock(&fs->mu);
}

/*
 * Whether a reset began since the append read resets (a sync failed
 * meanwhile; the reset runs without the Runtime lock): then where the
 * append's bytes and the fd's offset are is not known, so the store is
 * broken again and that reset (raced) or the next cuts from the durable
 * end once more.  mu held.
 */
static bool
append_raced(struct fs_store *fs, uint64_t resets)
{
	if (fs->resets == resets)
		return false;
	fs->broken = true;
	fs->raced = true;
	snprintf(fs->fail_msg, sizeof(fs->fail_msg),
	         "%s was cut while a record was appended", fs->jpath);
	return true;
}

static wr_err
fs_append(struct wr__store *st, const struct wr__record *rec, uint64_t *lsn,
          struct wr__loc *loc, struct wr_error *err)
{
	struct fs_store *fs = (struct fs_store *)st;
	uint64_t resets;
	size_t n = 0;
	off_t prev;
	bool broken;
	wr_err rc = WR_OK;

	if (!fs->loaded)
		return wr__fail(err, WR_EINTERNAL, WR_REASON_STORE_NOT_LOADED, NULL,
		                "append before load");
	pthread_mutex_lock(&fs->mu);
	broken = fs->broken;
	prev = fs->written_off;
	resets = fs->resets;
	if (broken)
		rc = broken_fail(fs, err);
	pthread_mutex_unlock(&fs->mu);
	if (broken)
		return rc;
	if (fs->alloc_resets != resets) {
		fs->alloc_off = prev; /* the reset cut it there */
		fs->alloc_resets = resets;
	}
	rc = wr__fs_frame(rec, &fs->abuf, &fs->abuf_cap, &n, err);
	if (rc != WR_OK)
		return rc;
	journal_grow(fs, prev + (off_t)n);
	/* One write(2) at written_off (the fd's offset), over preallocated
	 * zeros; no fsync here - sync() does that for many records at once. */
	if (wr__fs_write_all(&fs->dir, fs->jfd, fs->abuf, n) < 0) {
		rc = wr__fs_sys_fail(err, WR_REASON_STORE_WRITE_FAILED, "write",
		                     fs->jpath, errno);
		append_undo(fs, prev);
		/* The undo's ftruncate and lseek may have run after a racing
		 * reset's cut. */
		pthread_mutex_lock(&fs->mu);
		(void)append_raced(fs, resets);
		pthread_mutex_unlock(&fs->mu);
	} else {
		pthread_mutex_lock(&fs->mu);
		if (append_raced(fs, resets)) {
			rc = broken_fail(fs, err);
		} else {
			fs->written_off = prev + (off_t)n;
			*lsn = ++fs->written_lsn;
		}
		pthread_mutex_unlock(&fs->mu);
		if (prev + (off_t)n > fs->alloc_off)
			fs->alloc_off = prev + (off_t)n;
	}
	if (rc == WR_OK) {
		fs->since_snapshot += n;
		__atomic_add_fetch(&fs->n_journal_bytes, n, __ATOMIC_RELAXED);
		if (loc != NULL)
			*loc = (struct wr__loc){fs->jfile, (uint32_t)(n - 8),
			                        (uint64_t)prev};
	}
	if (fs->abuf_cap > WR__FS_BATCH) {
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

/* Counts one successful fdatasync that made batch records durable. */
static void
count_sync(struct fs_store *fs, uint64_t batch)
{
	unsigned b = 0;

	while (b + 1 < WR_METRICS_BATCH_BUCKETS && batch > (1ull << b))
		b++;
	__atomic_add_fetch(&fs->n_syncs, 1, __ATOMIC_RELAXED);
	__atomic_add_fetch(&fs->n_batch[b], 1, __ATOMIC_RELAXED);
	__atomic_add_fetch(&fs->n_batch_sum, batch, __ATOMIC_RELAXED);
}

/* Called with mu held and the journal owned; fdatasyncs it (mu released
 * meanwhile) and publishes the result.  Returns 0 or -1 (now broken). */
static int
flush_journal(struct fs_store *fs)
{
	uint64_t target = fs->written_lsn, gen = fs->gen;
	off_t off = fs->written_off;
	int fd = fs->jfd, r, e;

	pthread_mutex_unlock(&fs->mu);
	r = fs->dir.io.fdatasync(fd);
	e = errno;
	if (r == 0) /* still the journal's owner: the pwrites stay in order */
		synced_note(fs, gen, off, fs->diag, fs->diag_arg);
	pthread_mutex_lock(&fs->mu);
	if (r == 0) {
		count_sync(fs, target > fs->durable_lsn
		                   ? target - fs->durable_lsn : 0);
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
		rc = wr__fail(err, WR_EINTERNAL, WR_REASON_BAD_LSN, NULL,
		              "sync of record %" PRIu64 " that was never "
		              "appended", lsn);
		goto done;
	}
	for (;;) {
		if (lsn_dropped(fs, lsn)) {
			rc = wr__fail(err, WR_EUNAVAILABLE, WR_REASON_STORE_SYNC_FAILED,
			              NULL,
			              "record %" PRIu64 " was dropped after a "
			              "failed sync of store %s", lsn,
			              fs->dir.path);
			break;
		}
		if (fs->durable_lsn >= lsn)
			break;
		if (fs->broken) {
			rc = wr__fail(err, WR_EUNAVAILABLE, WR_REASON_STORE_SYNC_FAILED,
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
		return wr__fail(err, WR_EINTERNAL, WR_REASON_STORE_NOT_LOADED, NULL,
		                "reset before load");
	pthread_mutex_lock(&fs->mu);
	own_journal(fs);
	/* Only a broken store has a tail to cut: appends fail only while it
	 * is, so a reset that comes after another one succeeded (the
	 * Runtime's, deferred past its lock, and an append's retry) must
	 * not cut what was appended since. */
	if (!fs->broken)
		goto done;
	fs->resets++; /* before the cut: see fs_append */
	/* Reserve the dropped range first so that success cannot fail
	 * after the journal was cut. */
	if (fs->written_lsn > fs->durable_lsn) {
		struct range *d = realloc(fs->dropped, (fs->n_dropped + 1) *
		                                               sizeof(*d));
		if (d == NULL) {
			rc = wr__oom(err);
			goto done;
		}
		fs->dropped = d;
	}
	off = fs->durable_off;
	do {
		/* An append that wrote meanwhile (it saw the counter move)
		 * put its bytes and the fd's offset anywhere: cut again. */
		fs->raced = false;
		pthread_mutex_unlock(&fs->mu);
		if (ftruncate(fs->jfd, off) < 0 ||
		    lseek(fs->jfd, off, SEEK_SET) != off)
			rc = wr__fs_sys_fail(err, WR_REASON_STORE_WRITE_FAILED,
			                     "ftruncate", fs->jpath, errno);
		else if ((r = fs->dir.io.fdatasync(fs->jfd)) < 0)
			rc = wr__fs_sys_fail(err, WR_REASON_STORE_SYNC_FAILED,
			                     "fdatasync", fs->jpath, errno);
		pthread_mutex_lock(&fs->mu);
	} while (rc == WR_OK && fs->raced);
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

	uint64_t grown = fs->snap_size / 100 * fs->snapshot_percent;

	return fs->loaded && fs->since_snapshot >= fs->snapshot_bytes &&
	       fs->since_snapshot >= grown;
}

/*
 * Cuts the preallocated zeros off the current journal (ftruncate to
 * written_off, then fsync for the size, always), so that a journal that
 * is not the last ends with its last record, as restore requires.  The
 * journal is owned and durable up to written_off, or the store being
 * closed.
 */
static wr_err
journal_trim(struct fs_store *fs, struct wr_error *err)
{
	if (fs->alloc_off > fs->written_off &&
	    ftruncate(fs->jfd, fs->written_off) < 0)
		return wr__fs_sys_fail(err, WR_REASON_STORE_WRITE_FAILED,
		                       "ftruncate", fs->jpath, errno);
	fs->alloc_off = fs->written_off;
	/* Also when nothing was cut now: an earlier trim's fsync may have
	 * failed. */
	if (fs->dir.io.fsync(fs->jfd) < 0)
		return wr__fs_sys_fail(err, WR_REASON_STORE_SYNC_FAILED, "fsync",
		                       fs->jpath, errno);
	return WR_OK;
}

/* Creates journal-<gen> and switches appends to it (mu held on entry and
 * exit, the journal owned).  Unlinks it again if it cannot be used. */
static wr_err
switch_journal(struct fs_store *fs, uint64_t gen, struct wr_error *err)
{
	char name[WR__FS_NAME_MAX], *jpath, *old_path;
	int jfd = -1, old_fd;
	wr_err rc;

	wr__fs_file_name(name, "journal", gen, "");
	if ((jpath = wr__fs_join(fs->dir.path, name)) == NULL)
		return wr__oom(err);
	pthread_mutex_unlock(&fs->mu);
	/* Only the last journal may end in zeros: the old one is trimmed
	 * first, so that a crash before the new one exists leaves it last. */
	rc = journal_trim(fs, err);
	if (rc == WR_OK)
		rc = wr__fs_create(&fs->dir, jpath, WR__FS_JOURNAL, gen, &jfd,
		                   err);
	if (rc == WR_OK && (rc = add_journal(fs, gen, jfd, jpath, err)) != WR_OK) {
		/* Never leave an empty newer journal behind the one appends
		 * continue in: a torn tail there would look like damage. */
		close(jfd);
		unlink(jpath);
		(void)wr__fs_sync_dir(&fs->dir);
	}
	if (rc == WR_OK) /* its header and name are durable */
		synced_note(fs, gen, WR__FS_HDR_SIZE, fs->diag, fs->diag_arg);
	pthread_mutex_lock(&fs->mu);
	if (rc != WR_OK) {
		free(jpath);
		return rc;
	}
	old_fd = fs->jfd;
	old_path = fs->jpath;
	fs->jfd = jfd;
	fs->jpath = jpath;
	fs->gen = gen;
	fs->written_off = fs->durable_off = WR__FS_HDR_SIZE;
	fs->alloc_off = WR__FS_HDR_SIZE;
	pthread_mutex_unlock(&fs->mu);
	close(old_fd); /* the table keeps its own fd of it */
	free(old_path);
	pthread_mutex_lock(&fs->mu);
	return WR_OK;
}

/*
 * Step 1 of a snapshot (docs/store.md): journal-<g+1> is created and
 * appends switch to it - restore now reads journal-<g> then journal-<g+1>.
 * Write lock held; the only I/O is the old journal's trim (ftruncate of
 * its preallocated zeros + fsync, journal_trim), the new journal's header
 * and its fdatasync and directory fsync.
 */
static wr_err
fs_snapshot_begin(struct wr__store *st, uint64_t *gen, struct wr_error *err)
{
	struct fs_store *fs = (struct fs_store *)st;
	wr_err rc = WR_OK;

	if (!fs->loaded)
		return wr__fail(err, WR_EINTERNAL, WR_REASON_STORE_NOT_LOADED, NULL,
		                "snapshot before load");
	pthread_mutex_lock(&fs->mu);
	own_journal(fs);
	if (!fs->broken && fs->durable_lsn < fs->written_lsn)
		(void)flush_journal(fs); /* the caller should have synced */
	if (fs->broken) {
		rc = broken_fail(fs, err);
	} else if (fs->gen == UINT64_MAX) {
		/* Never wrap: generation 0 is no name, and a lower one would
		 * sort before the files it replaces.  The store carries on
		 * in its journal; only snapshots stop. */
		fs->since_snapshot = 0;
		rc = wr__fail(err, WR_EUNAVAILABLE,
		              WR_REASON_STORE_SNAPSHOT_FAILED, NULL,
		              "store %s: generation %" PRIu64 " is the last; "
		              "no more snapshots (the journal keeps growing)",
		              fs->dir.path, fs->gen);
	} else if ((rc = switch_journal(fs, fs->gen + 1, err)) == WR_OK) {
		*gen = fs->gen;
		/* Bytes count from here whether or not the snapshot
		 * succeeds, so a failing disk does not retry a snapshot at
		 * every mutation. */
		fs->since_snapshot = 0;
	}
	fs->syncing = false;
	pthread_cond_broadcast(&fs->cv);
	pthread_mutex_unlock(&fs->mu);
	return rc;
}

/* Unlinks snapshots and journals older than gen (their fds stay open in
 * the table); best effort (load() removes leftovers). */
static void
remove_older(struct fs_store *fs, uint64_t gen)
{
	struct wr__fs_listing l;
	struct wr_error ignored;

	if (wr__fs_list(&fs->dir, &l, &ignored) != WR_OK)
		return;
	wr__fs_remove_stale(&fs->dir, &l, gen);
	wr__fs_listing_free(&l);
	(void)wr__fs_sync_dir(&fs->dir);
}

/*
 * Steps 2 and 3, on the snapshot thread without any Runtime lock:
 * snapshot-<gen>.tmp is written, fdatasynced, renamed and the directory
 * fsynced - restore now reads it and journal-<gen>; then the older files
 * are unlinked.  A failure leaves the store on the new journal with the
 * old snapshot and journals, all still open.
 */
static wr_err
fs_snapshot_write(struct wr__store *st, uint64_t gen, wr__snap_next_fn next,
                  void *arg, struct wr_error *err)
{
	struct fs_store *fs = (struct fs_store *)st;
	char name[WR__FS_NAME_MAX], *path;
	uint32_t id = file_number(fs);
	int fd = -1;
	wr_err rc;

	wr__fs_file_name(name, "snapshot", gen, "");
	if ((path = wr__fs_join(fs->dir.path, name)) == NULL)
		return wr__oom(err);
	rc = wr__fs_write_snapshot(&fs->dir, gen, next, arg, id, &fd, err);
	if (rc == WR_OK) {
		struct stat sb;
		fs->new_snap_size = fstat(fd, &sb) == 0 ? (uint64_t)sb.st_size
		                                        : 0;
		rc = files_add(fs, id, WR__FS_SNAPSHOT, gen, fd, path, err);
	}
	free(path);
	if (rc == WR_OK)
		remove_older(fs, gen);
	return rc;
}

/* Closes the files the snapshot of gen replaced.  Write lock held. */
static void
fs_snapshot_switch(struct wr__store *st, uint64_t gen)
{
	struct fs_store *fs = (struct fs_store *)st;

	__atomic_store_n(&fs->snap_size, fs->new_snap_size, __ATOMIC_RELAXED);
	files_retire(fs, gen);
}

static wr_err
array_next(void *arg, const struct wr__loc *prev WR__UNUSED,
           const struct wr__record **rec, struct wr_error *err WR__UNUSED)
{
	struct {
		const struct wr__record *v;
		size_t n, i;
	} *it = arg;

	*rec = it->i < it->n ? &it->v[it->i++] : NULL;
	return WR_OK;
}

wr_err
wr__store_snapshot(struct wr__store *st, const struct wr__record *recs,
                   size_t n, struct wr_error *err)
{
	struct {
		const struct wr__record *v;
		size_t n, i;
	} it = {recs, n, 0};
	uint64_t gen = 0;
	wr_err rc;

	if (st->ops->snapshot_begin == NULL)
		return wr__fail(err, WR_EINTERNAL, WR_REASON_STORE_SNAPSHOT_FAILED,
		                NULL, "the %s store takes no snapshots",
		                st->ops->backend);
	if ((rc = st->ops->snapshot_begin(st, &gen, err)) != WR_OK)
		return rc;
	rc = st->ops->snapshot_write(st, gen, array_next, &it, err);
	if (rc == WR_OK)
		st->ops->snapshot_switch(st, gen);
	return rc;
}

/* ---- close -------------------------------------------------------------- */

static void
fs_drain(struct wr__store *st)
{
	struct fs_store *fs = (struct fs_store *)st;

	__atomic_store_n(&fs->draining, true, __ATOMIC_RELEASE);
}

static void
fs_close(struct wr__store *st)
{
	struct fs_store *fs = (struct fs_store *)st;

	if (fs == NULL)
		return;
	if (fs->jfd >= 0) {
		/* What failed to sync was reported as failed: make sure it
		 * does not come back at the next load - unless the Runtime
		 * drains (fs_drain): then a disk that failed is left alone. */
		bool durable = false;

		if (fs->broken) {
			if (!__atomic_load_n(&fs->draining, __ATOMIC_ACQUIRE) &&
			    ftruncate(fs->jfd, fs->durable_off) == 0)
				(void)fs->dir.io.fdatasync(fs->jfd);
		} else if (fs->alloc_off > fs->written_off) {
			/* fsync: the records too */
			durable = journal_trim(fs, NULL) == WR_OK;
		} else {
			durable = fs->written_off == fs->durable_off ||
			          fs->dir.io.fdatasync(fs->jfd) == 0;
		}
		/* The only sync of the synced file: what it says survives a
		 * power loss right after a clean stop. */
		if (durable && fs->sfd >= 0) {
			synced_note(fs, fs->gen, fs->written_off, NULL, NULL);
			(void)fs->dir.io.fsync(fs->sfd);
		}
		close(fs->jfd);
	}
	if (fs->sfd >= 0)
		close(fs->sfd);
	files_retire(fs, UINT64_MAX);
	if (fs->lock_fd >= 0)
		close(fs->lock_fd); /* releases the flock */
	if (fs->dir.fd >= 0)
		close(fs->dir.fd);
	pthread_rwlock_destroy(&fs->ft);
	pthread_cond_destroy(&fs->cv);
	pthread_mutex_destroy(&fs->mu);
	free(fs->files);
	free(fs->dropped);
	free(fs->abuf);
	free(fs->jpath);
	free(fs->dir.path);
	free(fs);
}

static void
fs_stats(struct wr__store *st, struct wr__store_stats *out)
{
	struct fs_store *fs = (struct fs_store *)st;

	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&fs->mu);
	out->failed = fs->broken;
	pthread_mutex_unlock(&fs->mu);
	out->syncs = __atomic_load_n(&fs->n_syncs, __ATOMIC_RELAXED);
	for (unsigned b = 0; b < WR_METRICS_BATCH_BUCKETS; b++) {
		out->batch[b] = __atomic_load_n(&fs->n_batch[b],
		                                __ATOMIC_RELAXED);
		out->batch_count += out->batch[b];
	}
	out->batch_sum = __atomic_load_n(&fs->n_batch_sum, __ATOMIC_RELAXED);
	out->journal_bytes = __atomic_load_n(&fs->n_journal_bytes,
	                                     __ATOMIC_RELAXED);
	out->snapshot_bytes = __atomic_load_n(&fs->snap_size,
	                                      __ATOMIC_RELAXED);
	out->synced_failures = __atomic_load_n(&fs->n_synced_failures,
	                                       __ATOMIC_RELAXED);
}

static const struct wr__store_ops fs_ops = {
	.backend = "fs_store",
	.load = fs_load,
	.append = fs_append,
	.sync = fs_sync,
	.reset = fs_reset,
	.read = fs_read,
	.read_raw = fs_read_raw,
	.snapshot_due = fs_snapshot_due,
	.snapshot_begin = fs_snapshot_begin,
	.snapshot_write = fs_snapshot_write,
	.snapshot_switch = fs_snapshot_switch,
	.close = fs_close,
	.drain = fs_drain,
	.stats = fs_stats,
};

/* A missing store directory is fine when its parent is a directory this
 * process may write: the first open creates it (wr__fs_make_dir makes one
 * level, as here). */
static wr_err
fs_check_new_dir(const char *dir, struct wr_error *err)
{
	char *parent = strdup(dir), *slash;
	struct stat st;
	size_t n;
	wr_err rc = WR_OK;

	if (parent == NULL)
		return wr__oom(err);
	for (n = strlen(parent); n > 1 && parent[n - 1] == '/'; n--)
		parent[n - 1] = '\0';
	if ((slash = strrchr(parent, '/')) == NULL)
		strcpy(parent, ".");
	else
		slash[slash == parent ? 1 : 0] = '\0';
	if (stat(parent, &st) < 0)
		rc = wr__fs_sys_fail(err, WR_REASON_STORE_OPEN_FAILED,
		                     "stat (the store's parent)", parent, errno);
	else if (!S_ISDIR(st.st_mode))
		rc = wr__fail(err, WR_EUNAVAILABLE, WR_REASON_STORE_OPEN_FAILED,
		              NULL, "%s (the store's parent) is not a directory",
		              parent);
	else if (access(parent, W_OK | X_OK) < 0)
		rc = wr__fs_sys_fail(err, WR_REASON_STORE_OPEN_FAILED,
		                     "access (write, the store's parent)", parent,
		                     errno);
	free(parent);
	return rc;
}

/* The runtime id the store at d belongs to: the META record that starts
 * its state (the newest snapshot, else the oldest journal); "" when it
 * holds none yet. */
static wr_err
fs_stored_id(const struct wr__fs_dir *d, char id[WR_ID_MAX + 1],
             struct wr_error *err)
{
	struct wr__fs_listing l;
	struct wr__record rec;
	bool found = false;
	wr_err rc;

	id[0] = '\0';
	if ((rc = wr__fs_list(d, &l, err)) != WR_OK)
		return rc;
	if (l.snapshots.n > 0)
		rc = wr__fs_first_record(d, WR__FS_SNAPSHOT,
		                         l.snapshots.v[l.snapshots.n - 1], &rec,
		                         &found, err);
	else if (l.journals.n > 0)
		rc = wr__fs_first_record(d, WR__FS_JOURNAL, l.journals.v[0], &rec,
		                         &found, err);
	wr__fs_listing_free(&l);
	if (rc == WR_OK && found && rec.kind == WR__REC_META)
		wr__strlcpy(id, rec.runtime_id, WR_ID_MAX + 1);
	if (found)
		wr__record_clear(&rec);
	return rc;
}

/* name in d may be opened with mode (access(2) R_OK/W_OK) as the open
 * would: a store restored as root (files 0600 root) fails here, as the
 * start would.  A missing file is fine (the open creates or skips it). */
static wr_err
fs_check_file(const struct wr__fs_dir *d, const char *name, int mode,
              struct wr_error *err)
{
	char *path = wr__fs_join(d->path, name);
	struct stat sb;
	wr_err rc = WR_OK;

	if (path == NULL)
		return wr__oom(err);
	/* access(2) passes a directory (and anything, as root); the open's
	 * open(2) O_RDWR fails on one (EISDIR). */
	if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode))
		rc = wr__fs_sys_fail(err, WR_REASON_STORE_OPEN_FAILED, "open",
		                     path, EISDIR);
	else if (access(path, mode) < 0 && errno != ENOENT)
		rc = wr__fs_sys_fail(err, WR_REASON_STORE_OPEN_FAILED,
		                     mode & W_OK ? "access (read and write)"
		                                 : "access (read)",
		                     path, errno);
	free(path);
	return rc;
}

/* The files the open reads or writes are readable, and writable where it
 * writes (the lock file, the synced file and the newest journal).  Files
 * older than the newest snapshot are not read (the open removes them: the
 * directory's write permission is enough). */
static wr_err
fs_check_files(const struct wr__fs_dir *d, struct wr_error *err)
{
	struct wr__fs_listing l;
	char name[WR__FS_NAME_MAX];
	uint64_t snap;
	wr_err rc = fs_check_file(d, "lock", R_OK | W_OK, err);

	if (rc == WR_OK)
		rc = fs_check_file(d, WR__FS_SYNCED, R_OK | W_OK, err);

	if (rc != WR_OK || (rc = wr__fs_list(d, &l, err)) != WR_OK)
		return rc;
	snap = l.snapshots.n > 0 ? l.snapshots.v[l.snapshots.n - 1] : 0;
	for (size_t i = 0; rc == WR_OK && i < l.journals.n; i++) {
		if (l.journals.v[i] < snap)
			continue;
		wr__fs_file_name(name, "journal", l.journals.v[i], "");
		rc = fs_check_file(d, name, i + 1 == l.journals.n
		                                    ? R_OK | W_OK : R_OK, err);
	}
	if (rc == WR_OK && snap != 0) {
		wr__fs_file_name(name, "snapshot", snap, "");
		rc = fs_check_file(d, name, R_OK, err);
	}
	wr__fs_listing_free(&l);
	return rc;
}

/* Checks an fs store directory without opening it for writing. */
static wr_err
fs_check_dir(const char *dir, struct wr_store_check *out,
             struct wr_error *err)
{
	struct wr__fs_dir d;
	struct stat st;
	char *lock_path;
	int lock_fd;
	wr_err rc;

	if (stat(dir, &st) < 0) {
		if (errno != ENOENT)
			return wr__fs_sys_fail(err, WR_REASON_STORE_OPEN_FAILED,
			                       "stat", dir, errno);
		out->store_created = true;
		return fs_check_new_dir(dir, err);
	}
	if (!S_ISDIR(st.st_mode))
		return wr__fail(err, WR_EUNAVAILABLE, WR_REASON_STORE_OPEN_FAILED,
		                NULL, "%s is not a directory", dir);
	if (access(dir, W_OK | X_OK) < 0)
		return wr__fs_sys_fail(err, WR_REASON_STORE_OPEN_FAILED,
		                       "access (write)", dir, errno);
	if ((lock_path = wr__fs_join(dir, "lock")) == NULL)
		return wr__oom(err);
	/* Never created here; a live Runtime holds its flock. */
	lock_fd = open(lock_path, O_RDONLY | O_CLOEXEC);
	if (lock_fd >= 0 && flock(lock_fd, LOCK_SH | LOCK_NB) < 0 &&
	    errno == EWOULDBLOCK) {
		close(lock_fd);
		free(lock_path);
		return wr__fail(err, WR_EUNAVAILABLE, WR_REASON_STORE_LOCKED, NULL,
		                "store %s is in use by another process", dir);
	}
	if (lock_fd >= 0)
		close(lock_fd); /* releases the shared flock */
	free(lock_path);
	memset(&d, 0, sizeof(d));
	d.path = (char *)dir;
	d.fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (d.fd < 0)
		return wr__fs_sys_fail(err, WR_REASON_STORE_OPEN_FAILED, "open",
		                       dir, errno);
	rc = fs_check_files(&d, err);
	if (rc == WR_OK)
		rc = wr__fs_check_versions(&d, err);
	if (rc == WR_OK)
		rc = fs_stored_id(&d, out->store_runtime_id, err);
	close(d.fd);
	return rc;
}

wr_err
wr__store_check(const char *spec, struct wr_store_check *out,
                struct wr_error *err)
{
	memset(out, 0, sizeof(*out));
	if (spec == NULL || strcmp(spec, "memory") == 0)
		return WR_OK;
	if (strncmp(spec, "fs:", 3) != 0 || spec[3] == '\0')
		return wr__fail(err, WR_EINVALID_INPUT, WR_REASON_INVALID_VALUE,
		                "store", "expected memory or fs:DIR");
	return fs_check_dir(spec + 3, out, err);
}

wr_err
wr_store_check(const char *spec, struct wr_error *err)
{
	struct wr_store_check out;

	return wr__store_check(spec, &out, err);
}
