/*
 * store/store.h - records and the store interface (memory and fs).
 *
 * Not installed.  Layer: store (above codec and base).
 */
#ifndef WR_STORE_H
#define WR_STORE_H

#include "base/base.h"

/* ---- records and stores (record.c, memory.c, fs*.c) ------------------- */

/* The fs store's bound on one record's JSON text (bytes), checked when it
 * writes a record and when it reads one (docs/store.md); a larger record
 * is refused with store_record_too_large.  The exec driver bounds a
 * worker's stdout line by it too. */
#define WR__STORE_RECORD_MAX (64u << 20)

/*
 * Every mutation of a Runtime is one record; applying the records of a
 * store in order rebuilds the Runtime exactly (that is how a durable store
 * restores).  A record owns what it points to until it is applied, except
 * records built for a snapshot, which borrow from the Runtime.
 */
/*
 * When you add a kind: (1) say here what it carries; (2) build with
 * --enable-werror - every switch over the kind lists all of them with no
 * default: (core/commit.c apply_record, apply_to_worker, reserve_for,
 * project), so -Wswitch names each one to extend; (3) give it a row in the
 * kinds table of record.c (name, required and optional members; a static
 * assertion there checks the table reaches WR__REC_KIND_LAST) and in the
 * table of docs/store.md; (4) decide whether a snapshot must write it
 * (core/snapshot.c: freeze and snap_next) and test a restore that replays it.
 */
enum wr__record_kind {
	WR__REC_META,            /* runtime_id, event_id = last event id;
	                          * deleted_count (optional, snapshots) */
	WR__REC_WORKER_CREATED,  /* worker */
	WR__REC_TRANSCRIPT,      /* worker_id, role, sequence, content,
	                          * turn_started */
	WR__REC_TURN_END,        /* worker_id */
	WR__REC_WORKER_STATUS,   /* worker_id, status, reason, content */
	WR__REC_RUNTIME_STATUS,  /* runtime_status */
	WR__REC_WORKER_STATE,    /* snapshots only: worker_id, status,
	                          * run_state, reason; event_id is the
	                          * worker's last_event_id, at_ms its
	                          * updated_at */
	WR__REC_WORKER_DELETED,  /* worker_id (an ended worker) */
	WR__REC_IDEMPOTENCY      /* idem_* (all), worker_id: a keyed
	                          * mutation that changed nothing (stop of
	                          * an ended worker), and snapshots' keys */
};
/* The highest kind (no sentinel member: it would need a case in every
 * switch). */
#define WR__REC_KIND_LAST WR__REC_IDEMPOTENCY

struct wr__record {
	enum wr__record_kind kind;
	uint64_t event_id; /* 0 for records that carry no event */
	int64_t at_ms;
	char runtime_id[WR_ID_MAX + 1]; /* META */
	uint64_t deleted_count;         /* META: workers deleted so far */
	char worker_id[WR_ID_MAX + 1];
	struct wr_worker_info *worker; /* CREATED: owned */
	enum wr_role role;             /* TRANSCRIPT */
	uint64_t sequence;             /* TRANSCRIPT: 1-based */
	char *content;                 /* TRANSCRIPT; WORKER_STATUS failed:
	                                * the runtime entry saying why */
	bool turn_started;             /* TRANSCRIPT */
	enum wr_worker_status status;  /* WORKER_STATUS, WORKER_STATE */
	enum wr_run_state run_state;   /* WORKER_STATE */
	char *reason;                  /* WORKER_STATUS, WORKER_STATE; may be
	                                * NULL */
	enum wr_runtime_status runtime_status; /* RUNTIME_STATUS */
	/* TRANSCRIPT handed to snapshot_write only: when not NULL, the
	 * payload to write as it is (raw_len bytes, borrowed; from
	 * read_raw), and the members above are not used. */
	const char *raw;
	size_t raw_len;
	/* Optional on WORKER_CREATED, TRANSCRIPT, WORKER_STATUS and
	 * WORKER_DELETED, required on IDEMPOTENCY: the idempotency key of the
	 * request that made the record, the SHA-256 of its method, path and
	 * body, and its answer (status, JSON body); idem_key NULL: none.
	 * The key expires at at_ms + the Runtime's idempotency TTL. */
	char *idem_key;
	unsigned char idem_digest[32];
	int idem_status;
	char *idem_body;
};

/* wr_store_check that also says what it found (for wr_runtime_check):
 * *out is overwritten, also on failure. */
wr_err wr__store_check(const char *spec, struct wr_store_check *out,
                       struct wr_error *err);

/* Frees what a record owns (not the record).  NULL ok. */
void wr__record_clear(struct wr__record *rec);

struct wr__store;

/* What a store counts for wr_runtime_metrics, since it was opened. */
struct wr__store_stats {
	bool failed;             /* broken: appends fail until reset() */
	uint64_t syncs;          /* fdatasyncs of the journal */
	uint64_t batch[WR_METRICS_BATCH_BUCKETS]; /* see struct wr_metrics */
	uint64_t batch_count, batch_sum;
	uint64_t journal_bytes;  /* bytes appended */
	uint64_t snapshot_bytes; /* size of the newest snapshot, 0: none */
	uint64_t synced_failures; /* failed writes of the synced file */
};

/*
 * Where a store keeps one record: the frame at byte offset off of the file
 * the store numbered `file` (a small number the store hands out while it is
 * open; not a generation), whose payload is len bytes.  A Runtime on a
 * store with read() keeps one of these per transcript entry instead of the
 * entry's content (docs/store.md, "What is in RAM").  16 bytes.
 */
struct wr__loc {
	uint32_t file;
	uint32_t len;
	uint64_t off;
};

/* Called by load() for each persisted record, in order, with where it is
 * stored (never NULL); the callee takes what the record owns.  Returns
 * WR_OK or an error that aborts the load. */
typedef wr_err (*wr__apply_fn)(void *arg, struct wr__record *rec,
                               const struct wr__loc *loc,
                               struct wr_error *err);
/* Called by load() to report something worth a diagnostic (a dropped torn
 * tail, ...). */
typedef void (*wr__diag_fn)(void *arg, const char *message);

/*
 * Called by snapshot_write() for each record of the snapshot, in order:
 * prev is where the record it returned last time was written (NULL at the
 * first call); it sets *rec to the next record (borrowed: it stays the
 * callee's and valid until the next call) or to NULL at the end.  An error
 * aborts the snapshot.
 */
typedef wr_err (*wr__snap_next_fn)(void *arg, const struct wr__loc *prev,
                                   const struct wr__record **rec,
                                   struct wr_error *err);

/*
 * A store persists records.
 *
 * Threading: append/snapshot_due/snapshot_begin/snapshot_switch are
 * called with the Runtime's write lock held (so never concurrently with
 * each other); sync may be called by many threads at once, without the
 * Runtime lock; reset with or without it (appends fail while the store is
 * broken, and a reset of a store that is not does nothing); load once before anything else.  read may be called by
 * any number of threads at once, with or without the Runtime's read lock,
 * concurrently with append, sync, reset and a running snapshot_write; it
 * never waits for a sync or a snapshot.  snapshot_write runs on one
 * background thread, without the Runtime lock, one at a time, between a
 * snapshot_begin and the matching snapshot_switch.
 *
 * File lifetime: a location that append or load handed out, or that
 * snapshot_write reported, stays readable until snapshot_switch retires
 * its file; snapshot_switch is called under the write lock, so a reader
 * that holds the Runtime's read lock never sees its file go.  The files
 * snapshot_write reads stay open (even once unlinked) until then.
 */
struct wr__store_ops {
	const char *backend; /* RuntimeSummary.backend */
	/* Replays what is persisted.  A store that holds nothing yet calls
	 * apply() zero times. */
	wr_err (*load)(struct wr__store *st, wr__apply_fn apply,
	               wr__diag_fn diag, void *arg, struct wr_error *err);
	/* Writes one record without waiting for the disk; *lsn gets its
	 * number (1, 2, ...) and *loc (if loc is not NULL) where it is.  On
	 * failure nothing of the record remains and the result is
	 * WR_EUNAVAILABLE. */
	wr_err (*append)(struct wr__store *st, const struct wr__record *rec,
	                 uint64_t *lsn, struct wr__loc *loc,
	                 struct wr_error *err);
	/* Returns when every record up to lsn is durable; concurrent callers
	 * share one fdatasync.  NULL: appends are durable at once (memory).
	 * On failure the store is broken: append fails until reset(). */
	wr_err (*sync)(struct wr__store *st, uint64_t lsn, struct wr_error *err);
	/* Drops every record that is not durable and makes the store usable
	 * again; WR_EUNAVAILABLE if it cannot (it stays broken).  WR_OK and
	 * nothing done if the store is not broken. */
	wr_err (*reset)(struct wr__store *st, struct wr_error *err);
	/* Reads the durable record at loc back into *rec (overwritten; the
	 * caller clears it), decoded and checked as strictly as load() does:
	 * damage is WR_EUNAVAILABLE, reason store_corrupt, naming the file
	 * and offset.  NULL: the store keeps no contents (memory), the
	 * Runtime does. */
	wr_err (*read)(struct wr__store *st, const struct wr__loc *loc,
	               struct wr__record *rec, struct wr_error *err);
	/* For snapshot_write: the payload of the transcript entry at loc
	 * as a snapshot stores it, checked against its length and CRC-32C
	 * but not decoded, in *raw (*raw_len bytes, the caller's to free):
	 * the stored bytes, with turn_started false (a snapshot starts no
	 * turn).  *raw is NULL when the payload is not in the writer's exact
	 * form for worker_id's entry seq; the caller then reads it with
	 * read.  Damage is store_corrupt as for read.  Any thread.  NULL:
	 * read only. */
	wr_err (*read_raw)(struct wr__store *st, const struct wr__loc *loc,
	                   const char *worker_id, uint64_t seq, char **raw,
	                   size_t *raw_len, struct wr_error *err);
	/* True when a snapshot would shorten restore enough to be worth it. */
	bool (*snapshot_due)(struct wr__store *st);
	/* Starts a snapshot: appends switch to a new journal, whose
	 * generation *gen the snapshot takes.  Only when every appended
	 * record is durable.  On failure no snapshot is running. */
	wr_err (*snapshot_begin)(struct wr__store *st, uint64_t *gen,
	                         struct wr_error *err);
	/* Writes snapshot <gen> from the records next() hands out (the state
	 * at snapshot_begin) and makes it durable; then the files it replaces
	 * are unlinked (they stay open and readable until snapshot_switch).
	 * On failure the store carries on with what it had. */
	wr_err (*snapshot_write)(struct wr__store *st, uint64_t gen,
	                         wr__snap_next_fn next, void *arg,
	                         struct wr_error *err);
	/* After a successful snapshot_write, once the Runtime points every
	 * location of the snapshot's records at the new file: closes the
	 * replaced files.  No I/O but close(2); cannot fail. */
	void (*snapshot_switch)(struct wr__store *st, uint64_t gen);
	/* Closes the store: a journal a failed sync left broken is cut
	 * back first (an ftruncate and an fdatasync), unless drain was
	 * called. */
	void (*close)(struct wr__store *st);
	/* The Runtime drains (wr_runtime_drain): close will not cut a
	 * broken journal back, so a stop waits for no I/O on a disk that
	 * failed (as slow as that disk).  What such a journal may still
	 * hold past its durable end are records of changes answered
	 * store_reset_failed (their reset failed: outcome unknown), which a
	 * restart may apply, and a torn final record, which it drops.  Any
	 * thread; NULL: close does no such I/O (memory). */
	void (*drain)(struct wr__store *st);
	/* Fills *out with the store's counters (relaxed atomics; any
	 * thread, no lock needed).  NULL: the store counts nothing (memory). */
	void (*stats)(struct wr__store *st, struct wr__store_stats *out);
};

struct wr__store {
	const struct wr__store_ops *ops;
};

/* The memory store: keeps nothing (the Runtime's tables are its only
 * copy); append always succeeds; sync, read and snapshots are NULL. */
wr_err wr__store_memory_open(struct wr__store **out, struct wr_error *err);

/* The fs store on directory dir (created 0700 if missing), locked
 * exclusively until close.  Errors: WR_EUNAVAILABLE (cannot create, lock
 * held by another process: reason "store_locked"), WR_EINVALID_INPUT
 * (reason "store_version" for a newer format). */
wr_err wr__store_fs_open(const char *dir, struct wr__store **out,
                         struct wr_error *err);

/* Test seam of the fs store: replaces write(2)/fdatasync(2)/fsync(2),
 * posix_fallocate(3) (allocate: 0, or -1 with errno set) and the pwrite(2)
 * of the synced file so tests can force EIO/ENOSPC/EOPNOTSUPP.  NULL
 * members keep the real call. */
struct wr__fs_io {
	ssize_t (*write)(int fd, const void *buf, size_t n);
	int (*fdatasync)(int fd);
	int (*fsync)(int fd);
	int (*allocate)(int fd, off_t off, off_t len);
	ssize_t (*pwrite)(int fd, const void *buf, size_t n, off_t off);
};
void wr__store_fs_set_io(struct wr__store *st, const struct wr__fs_io *io);

/* Where the fs store reports what it notices after load (a failed write
 * of its synced file): diag(arg, message) from the thread that noticed,
 * possibly with the Runtime lock held, never with a store lock held; arg
 * must outlive the store.  NULL: not reported (still counted in stats). */
void wr__store_fs_set_diag(struct wr__store *st, wr__diag_fn diag,
                           void *arg);

/* Tune when snapshot_due() turns true: journal bytes since the last
 * snapshot at least bytes (the floor) and percent % of that snapshot's
 * size; 0 = default (4 MiB, 100). */
void wr__store_fs_set_snapshot_bytes(struct wr__store *st, uint64_t bytes);
void wr__store_fs_set_snapshot_percent(struct wr__store *st,
                                       uint32_t percent);

/* A whole snapshot at once from recs[0..n) (borrowed): snapshot_begin,
 * snapshot_write, snapshot_switch.  For tests and tools that hold no
 * locations into the store.  WR_EINTERNAL on a store without snapshots. */
wr_err wr__store_snapshot(struct wr__store *st, const struct wr__record *recs,
                          size_t n, struct wr_error *err);

#endif /* WR_STORE_H */
