/*
 * store/fs.h - private interface between the four files of the fs store
 * (docs/store.md): fs.c (the store object: locking, load order, append,
 * group commit, reset, snapshots), fs_file.c (one file: its header and
 * version, record frames, scanning it, writing it durably; the synced
 * file), fs_dir.c (the directory: creating it, listing, stale removal)
 * and fs_io.c (file names and paths, the I/O seam, full writes, directory
 * syncs, errors).
 *
 * None of these functions lock anything: the store calls them during open
 * and load, or under the Runtime's write lock, or (wr__fs_synced_write)
 * owning the journal's I/O, never two at once on one store.
 * struct wr__fs_dir is read-only for them.
 */
#ifndef WR_STORE_FS_H
#define WR_STORE_FS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "store/store.h"

#define WR__FS_HDR_SIZE 32u /* file header; records start here */
#define WR__FS_JOURNAL 1u   /* file kinds in the header */
#define WR__FS_SNAPSHOT 2u
#define WR__FS_BATCH (1u << 20) /* snapshot writes are batched this large */
#define WR__FS_NAME_MAX 40      /* "snapshot-<20 digits>.tmp" and NUL */

/* The store directory as the file layer sees it.  Owned by the store
 * (fs.c), which frees path and closes fd at close; io is filled by
 * wr__store_fs_set_io and never NULL in any member. */
struct wr__fs_dir {
	char *path;
	int fd;              /* O_DIRECTORY, for fsync after entries change */
	struct wr__fs_io io; /* write/fdatasync/fsync/allocate, for tests */
};

/* What load() hands each record to (store/store.h); apply takes what a
 * record owns, diag may be NULL.  file: the number the store gave the file
 * being replayed, for the locations apply gets. */
struct wr__fs_replay {
	wr__apply_fn apply;
	wr__diag_fn diag;
	void *arg;
	uint32_t file;
};

/* ---- errors and I/O (fs_io.c) ----------------------------------------- */

/* WR_EUNAVAILABLE with reason and the message "<op> <path>: <strerror e>".
 * err may be NULL; path is only read. */
wr_err wr__fs_sys_fail(struct wr_error *err, enum wr_reason reason,
                       const char *op, const char *path, int e);

/* Fills *dst with io's non-NULL members and write(2)/fdatasync(2)/fsync(2)/
 * posix_fallocate(3)/pwrite(2) for the rest; io may be NULL (all real).
 * Reentrant. */
void wr__fs_io_fill(struct wr__fs_io *dst, const struct wr__fs_io *io);

/* Writes all of buf[0..n) to fd through d->io (retrying short writes and
 * EINTR).  Returns 0, or -1 with errno set; part may have been written. */
int wr__fs_write_all(const struct wr__fs_dir *d, int fd, const void *buf,
                     size_t n);

/* fsyncs the directory through d->io.  Returns 0, or -1 with errno. */
int wr__fs_sync_dir(const struct wr__fs_dir *d);

/* ---- files (fs_file.c) ------------------------------------------------- */

/*
 * Creates (or truncates) path with a header of kind/gen, makes the header
 * durable and fsyncs the directory.  On success *fd is open read-write,
 * its offset after the header, and the caller closes it.  On failure the file is
 * removed (best effort) and *fd is unchanged.
 */
wr_err wr__fs_create(const struct wr__fs_dir *d, const char *path,
                     uint32_t kind, uint64_t gen, int *fd,
                     struct wr_error *err);

/* WR_EINVALID_INPUT (store_version) if path is a store file of a newer
 * format than this build reads (WR_EUNAVAILABLE, store_corrupt, if such a
 * header is cut short); WR_OK for anything else, including files that
 * cannot be read or are damaged (load reports those). */
wr_err wr__fs_check_version(const char *path, struct wr_error *err);

/*
 * Frames rec (length, CRC-32C, payload) into *buf, growing it (and *cap)
 * as needed; *n gets the frame length.  *buf stays the caller's to free,
 * also on failure.  rec is only read.
 */
wr_err wr__fs_frame(const struct wr__record *rec, char **buf, size_t *cap,
                    size_t *n, struct wr_error *err);

/* Replays snapshot-<gen> of d through rp: no damage of any kind is
 * tolerated (WR_EUNAVAILABLE, reason store_corrupt).  On success *fd_out
 * is the file open read-only, the caller's to close. */
wr_err wr__fs_replay_snapshot(const struct wr__fs_dir *d,
                              const struct wr__fs_replay *rp, uint64_t gen,
                              int *fd_out, struct wr_error *err);

/*
 * Replays journal-<gen> of d through rp; *end gets the offset after its
 * last good record.  last: the journal appends continue in - a torn final
 * record is cut off (with what a crash wrote after it) and an incomplete
 * header (a crash while it was created) rewritten, both reported through
 * rp->diag, while zeros after the last record (preallocated space) stay -
 * opened read-write, the file offset left anywhere; not last: opened
 * read-only, and any damage fails, zeros after the last record too.
 * synced (last only; 0: none): the synced file says fdatasyncs made the
 * journal durable up to there, so what would be a torn tail or an
 * incomplete header before it, or records that end before it, is damage
 * (store_corrupt) and nothing is cut.  On success *fd_out and *path_out
 * are the caller's to close and free; on failure they are unchanged.
 */
wr_err wr__fs_replay_journal(const struct wr__fs_dir *d,
                             const struct wr__fs_replay *rp, uint64_t gen,
                             bool last, off_t synced, int *fd_out,
                             char **path_out, off_t *end,
                             struct wr_error *err);

/* ---- the synced file (fs_file.c; docs/store.md, "The synced file") ---- */

#define WR__FS_SYNCED "synced"
#define WR__FS_SYNCED_SIZE 40u /* the whole file */

/*
 * Opens DIR/synced read-write into *fd (create: O_CREAT, 0600) and reads
 * it: *gen and *off get the journal generation and durable end it names,
 * or 0 and 0 when it names none - empty or all zeros (a crash right after
 * its creation), or invalid (size, magic, version, kind, checksum, an
 * offset inside the header) or unreadable, both reported through rp->diag
 * (it is evidence, not state).  Not create and no such file: WR_OK,
 * *missing set and *fd -1.  A file that cannot be opened fails
 * (WR_EUNAVAILABLE, store_open_failed: a store restored as root, as for
 * the lock file); on failure *fd is -1.
 */
wr_err wr__fs_synced_open(const struct wr__fs_dir *d,
                          const struct wr__fs_replay *rp, bool create,
                          int *fd, uint64_t *gen, off_t *off, bool *missing,
                          struct wr_error *err);

/* Writes "journal gen is durable up to off" into fd with one pwrite at
 * offset 0 through d->io; no sync.  0, or -1 with errno set (part of the
 * record may have been written: the next read finds its checksum bad). */
int wr__fs_synced_write(const struct wr__fs_dir *d, int fd, uint64_t gen,
                        off_t off);

/*
 * Reads the first record of the store file of kind/gen in d (read-only,
 * changing nothing) into *rec, which the caller clears when *found.
 * *found false: the file holds no whole record yet (a journal whose header
 * or first record a crash cut short: the open repairs it).  Damage is
 * WR_EUNAVAILABLE, store_corrupt; a file that cannot be read,
 * store_open_failed.
 */
wr_err wr__fs_first_record(const struct wr__fs_dir *d, uint32_t kind,
                           uint64_t gen, struct wr__record *rec, bool *found,
                           struct wr_error *err);

/*
 * Writes snapshot-<gen> from the records next(arg, ...) hands out (see
 * wr__snap_next_fn; locations name file number `file`): temp file,
 * fdatasync, rename, fsync of the directory.  On success *fd_out is the
 * new snapshot open read-only, the caller's to close.  On failure the
 * temp file is removed and the snapshot may or may not exist (restore is
 * right either way).  Takes no lock; touches only the new file.
 */
wr_err wr__fs_write_snapshot(const struct wr__fs_dir *d, uint64_t gen,
                             wr__snap_next_fn next, void *arg,
                             uint32_t file, int *fd_out,
                             struct wr_error *err);

/* Reads the frame at loc->off of fd (the file at path) back into *rec:
 * its length must be loc->len and its checksum, decoding and the record's
 * own rules must hold, or WR_EUNAVAILABLE, store_corrupt, naming path and
 * offset; a failed pread is store_open_failed.  Reentrant: any number of
 * threads may read one fd at once. */
wr_err wr__fs_read_record(int fd, const char *path, const struct wr__loc *loc,
                          struct wr__record *rec, struct wr_error *err);

/* The transcript entry at loc for snapshot_write (wr__store_ops.read_raw):
 * length and CRC-32C checked, its payload copied (turn_started made
 * false) into *raw, or *raw NULL when it is not in the writer's exact form
 * for worker_id's entry seq.  Reentrant like wr__fs_read_record. */
wr_err wr__fs_read_raw_entry(int fd, const char *path,
                             const struct wr__loc *loc, const char *worker_id,
                             uint64_t seq, char **raw, size_t *raw_len,
                             struct wr_error *err);

/* ---- the directory (fs_dir.c; names and paths: fs_io.c) --------------- */

/* Generations of one kind of store file, ascending. */
struct wr__fs_gens {
	uint64_t *v;
	size_t n, cap;
};

/* What wr__fs_list found; tmps (snapshot temp files) are not sorted. */
struct wr__fs_listing {
	struct wr__fs_gens journals, snapshots, tmps;
};

/* Writes "<prefix>-<gen as 20 digits><suffix>" into buf. */
void wr__fs_file_name(char buf[WR__FS_NAME_MAX], const char *prefix,
                      uint64_t gen, const char *suffix);

/* Returns "<dir>/<name>", which the caller frees; NULL when out of
 * memory. */
char *wr__fs_join(const char *dir, const char *name);

/* Makes dir (0700) if it does not exist and fsyncs its parent so the new
 * entry survives a crash.  An existing dir is fine. */
wr_err wr__fs_make_dir(const char *dir, struct wr_error *err);

/* Lists the store files of d into *l (overwritten; release with
 * wr__fs_listing_free).  A name starting with "journal-" or "snapshot-"
 * that is not a store file name (generation 1..UINT64_MAX in 20 digits)
 * fails with WR_EUNAVAILABLE, store_corrupt, naming it; other names are
 * ignored.  On failure *l holds nothing to free. */
wr_err wr__fs_list(const struct wr__fs_dir *d, struct wr__fs_listing *l,
                   struct wr_error *err);

/* Frees what l holds and zeroes it. */
void wr__fs_listing_free(struct wr__fs_listing *l);

/* Refuses (wr__fs_check_version) a store with any file of a newer format,
 * before anything touches it.  In fs_file.c. */
wr_err wr__fs_check_versions(const struct wr__fs_dir *d,
                             struct wr_error *err);

/* Removes what restore no longer reads: every snapshot temp file of l, and
 * the snapshots and journals of l older than generation snap.  Best effort:
 * a file that comes back after a crash is removed by the next load. */
void wr__fs_remove_stale(const struct wr__fs_dir *d,
                         const struct wr__fs_listing *l, uint64_t snap);

#endif /* WR_STORE_FS_H */
