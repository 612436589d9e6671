/*
 * core/rt.h - the Runtime's private structures, shared by the files of
 * core/: table.c (lookup tables), diag.c (diagnostics), commit.c (records,
 * group commit), worker.c (worker operations) and runtime.c (lifecycle).
 *
 * Two views of every piece of state, both under rt->lock:
 *   - applied (w->info, w->entries, rt->status, rt->count): what reads see;
 *     only durable records are ever applied;
 *   - projected (w->p_*, rt->p_*): applied plus every record appended to
 *     the store but not yet durable; what validation of the next mutation
 *     sees, so that sequences and event ids are assigned without waiting.
 * With the memory store both views move together.
 */
#ifndef WR_RT_H
#define WR_RT_H

#include <pthread.h>

#include "store/store.h"

/* Worker ids this Runtime issues: "w-" + the creation order (the creation
 * event id) as WR__ID_ORDER_HEX hex digits + "-" + 8 random hex digits;
 * fixed width, so they also sort as text.  Older ids were "w-" + 16 hex. */
#define WR__ID_ORDER_HEX 14
#define WR__ID_LEN (2 + WR__ID_ORDER_HEX + 1 + 8)

/* A transcript entry kept in RAM: with a store that keeps no contents
 * (memory).  A store with read() (fs) keeps them: the Runtime keeps only
 * where each entry's record is (struct wr__loc, 16 bytes). */
struct entry {
	enum wr_role role;
	uint64_t event_id;
	int64_t at_ms;
	char *content;
};

/* What a WorkerSummary depends on besides what a worker never changes
 * after its creation: equal keys, equal summary text. */
struct summary_key {
	enum wr_worker_status status;
	enum wr_run_state run_state;
	uint64_t transcript_len;
	uint64_t last_event_id;
	int64_t updated_at_ms;
};

/* How many locks the kept summaries are spread over (struct worker). */
#define WR__SUMMARY_LOCKS 16
/* How many workers created one after another share a summary lock. */
#define WR__SUMMARY_RUN 32
/* The longest summary text a worker keeps (bytes): a typical one is
 * about 0.4 KiB, but intent strings may make it hundreds of KiB (64 KiB
 * fields, control bytes written as 6-byte escapes; a profile value is a
 * name that needs no escape); those
 * are written afresh for every list rather than kept, so what lists
 * keep is bounded by this times max_workers. */
#define WR__SUMMARY_KEEP_MAX 4096

struct worker {
	struct wr_worker_info info; /* applied: status, counters, timestamps */
	/* Entry i has sequence i + 1; exactly one of the two arrays is used
	 * (rt->store->ops->read == NULL: entries, else locs). */
	struct entry *entries;
	struct wr__loc *locs;
	size_t cap;                 /* >= p_len: applying never allocates */
	char *status_reason;        /* reason of the terminal event, or NULL */
	bool applied;               /* its creation is durable: reads see it */
	bool p_deleted;             /* projected: its delete is on its way */
	uint64_t order;             /* creation order: never decreases along
	                             * rt->workers (wr__id_order) */
	size_t idx;                 /* its slot in rt->workers */
	enum wr_worker_status p_status;
	enum wr_run_state p_run_state;
	uint64_t p_len;
	uint64_t p_last_event;
	uint64_t p_last_lsn;        /* newest record appended for it */
	const struct wr_driver *driver; /* NULL until started */
	void *dstate;
	struct wr_watch *watches;   /* under rt->waiters->mu: its watches */
	struct worker *hnext;       /* hash chain */
	struct worker *gnext;       /* rt->graves */
	/* Readers holding the worker past the lock, minus one: 0 while
	 * only the table holds it.  Whoever takes it below zero (the table
	 * dropping it, or the last reader letting go) frees it.  Only the
	 * members a worker never changes after its creation (those
	 * wr__pin_worker lists) and the kept summary below (under its own
	 * lock) may be read through a pin. */
	unsigned pins;
	/* Its WorkerSummary text as of summary_key (NULL: none kept), so a
	 * list encodes again only the workers that changed since the last
	 * one (wr_worker_list_json).  Under rt->summary_mu[order /
	 * WR__SUMMARY_RUN % WR__SUMMARY_LOCKS], not the Runtime's lock. */
	char *summary;
	size_t summary_len;
	struct summary_key summary_key;
	/* The most bytes its summary text can take
	 * (wr__worker_summary_size_max), set when it enters the table: what
	 * a list page counts against WR_LIST_PAGE_MAX_BYTES. */
	size_t summary_max;
};

struct profile {
	char *name;
	const struct wr_driver *driver;
	void *arg;
};

/* A record on its way to the store; owned by the thread that made it. */
struct pending {
	struct wr__record rec;
	uint64_t lsn;
	struct wr__loc loc; /* where the store put it */
	bool done;        /* applied or discarded */
	wr_err result;
	uint64_t discarded; /* the fail_seq that discarded it, or 0 */
	struct pending *next; /* rt->queue, in lsn order */
};

/*
 * A mutation awaited without a thread (wr_mutation_start): what the
 * caller gets back once its record is durable or discarded.  Owned by
 * the caller from wr_mutation_start to wr_commit_finish; linked on
 * rt->cw (under the write lock) while it waits.  Once completed (set
 * last, after done() returned, with release) nothing in it refers to the
 * Runtime, so wr_commit_finish may run after wr_runtime_close.
 */
struct wr_commit {
	struct wr_runtime *rt;      /* until completed */
	enum wr_mutation_op op;
	struct pending *p;          /* the record awaited (owned), or NULL */
	uint64_t lsn;               /* durable up to here: complete */
	void (*done)(void *arg);    /* NULL: the owner blocks in finish */
	void *done_arg;
	struct wr_commit *prev, *next; /* rt->cw while it waits */
	bool linked;
	bool ready;                 /* completed while being registered */
	bool bury;                  /* memory store delete: release graves */
	int completed;              /* atomic (release/acquire) */
	wr_err rc;                  /* completed: the mutation's result */
	struct wr_error err;
	/* What a failure undoes: the key in flight (owned copy), the
	 * diagnostic of an input the driver already had (seq != 0). */
	char *ikey;
	uint64_t diag_seq;
	char worker_id[WR_ID_MAX + 1];
	/* A refusal judged on a change not yet durable (refused): the
	 * error it completes with once c->lsn is durable. */
	bool refused;
	wr_err refusal;
	struct wr_error refusal_err;
	/* Failed by a sync (rc, err set): the fail_seq whose reset it waits
	 * for on rt->held, or 0. */
	uint64_t held;
	/* The answer, as known when the record was submitted. */
	struct wr_worker_info *info;      /* CREATE, unkeyed */
	struct wr_input_ack input_ack;
	struct wr_lifecycle_ack lifecycle_ack;
	bool keyed;
	struct wr_idempotent_result keyed_res; /* body owned */
};

/* An idempotency key the Runtime holds (idem.c): in flight from the
 * moment its request began until its record is applied (done) or the
 * request failed (gone); then its answer, until it expires. */
struct idem_entry {
	char *key;
	unsigned char digest[32];
	bool done;
	int status;                     /* done: the answer */
	char *body;
	size_t body_len;
	char worker_id[WR_ID_MAX + 1];
	int64_t at_ms;                  /* done: its record's at_ms */
	struct idem_entry *hnext;       /* hash chain */
	struct idem_entry *older, *newer; /* age list: in the order they
	                                   * began or were stored */
	/* In flight, its record dropped by failed sync number limbo (not 0):
	 * kept until a reset cut that record from the journal
	 * (wr__idem_limbo_release), since until then it may replay. */
	uint64_t limbo;
	/* Done when a snapshot froze the keys: that pin's number
	 * (wr_runtime.ik_pin_gen); 0: never pinned.  Not read by the
	 * snapshot thread. */
	uint64_t pin_gen;
};

/* A keyed mutation on its way: the key and digest (wr__idem_begin), and
 * the answer the mutation sets before it submits its record. */
struct wr__ikey {
	const char *key;
	unsigned char digest[32];
	int status;
	char *body;        /* owned by the keyed call */
	size_t body_len;
};

struct wr_runtime {
	pthread_rwlock_t lock;
	pthread_mutex_t summary_mu[WR__SUMMARY_LOCKS]; /* struct worker */
	char id[WR_ID_MAX + 1];
	char *display_name;
	struct wr_limits limits;
	int64_t started_at_ms;

	enum wr_runtime_status status;   /* applied */
	enum wr_runtime_status p_status; /* projected */
	uint64_t last_event_id;          /* applied */
	uint64_t p_event;                /* projected: last id handed out */
	uint64_t count[WR__STATUS_COUNT]; /* applied workers by status */
	uint64_t deleted_count;          /* applied worker_deleted records */

	/* Creation order; includes unapplied.  A removed worker leaves a
	 * hole (NULL), so that a delete moves nothing: iterations skip
	 * them; the last slot is never one, and the array closes up once
	 * holes are over a quarter of its slots (table.c). */
	struct worker **workers;
	size_t n_workers, cap_workers; /* slots used (holes too), allocated */
	size_t n_holes;                /* NULL slots in [0, n_workers) */
	size_t first_live;             /* <= n_workers; no worker before it
	                                * (retention's oldest-first deletes
	                                * leave their holes in front) */
	struct worker **buckets; /* power-of-two hash table */
	size_t n_buckets;

	struct profile *profiles;
	size_t n_profiles;
	const struct profile *default_profile; /* NULL: builtin transcript */

	struct wr__store *store;
	struct pending *queue, *queue_tail; /* appended, not yet applied */
	uint64_t applied_lsn; /* every record up to it is applied (or was
	                       * discarded); write lock */
	/* Commits awaited without a thread (commit.c), in the order they
	 * were registered (lsn order for records): under the write lock;
	 * cw_n and cw_target (the highest lsn awaited) are also read with
	 * __atomic_load_n by the commit thread. */
	struct wr_commit *cw_head, *cw_tail;
	size_t cw_n;
	uint64_t cw_target;
	/* The commit thread (commit.c; a store with sync only): while
	 * commits wait, syncs up to the newest awaited record, applies and
	 * completes them.  Its own mutex: the doorbell and the halt. */
	pthread_mutex_t cmt_mu;
	pthread_cond_t cmt_cv;
	/* Held by whoever runs a commit round: the commit thread, or a
	 * caller of wr_commit_lead (which only tries it), so rounds never
	 * overlap and at most one leader waits in an fdatasync (the
	 * blocking paths - wr__await, wr__commit_wait - sync without it;
	 * the store shares one fdatasync among them). */
	pthread_mutex_t cmt_round_mu;
	pthread_t cmt_thread;
	bool cmt_started;
	bool cmt_bell;   /* under cmt_mu: a commit was registered */
	bool cmt_halt;   /* under cmt_mu: drain, then return */
	/* Workers whose creation was discarded after their driver started:
	 * out of the tables, their execution stopped, their driver state to
	 * release (then the worker to free) once the lock is dropped.  The
	 * link lives in struct worker, so burying one cannot fail. */
	struct worker *graves;
	/* Workers buried (graves or the reaper's list) whose execution is not
	 * released yet: they keep their max_workers slot, so max_workers
	 * also bounds the processes still ending.  Atomic. */
	size_t n_buried;
	/* The reaper (commit.c): releases buried drivers off the request
	 * path, since release() may wait for a process's stop grace.  Its
	 * own mutex; started at the first burial, joined at close. */
	pthread_mutex_t reap_mu;
	pthread_cond_t reap_cv;
	struct worker *reap;   /* under reap_mu: drivers to release */
	pthread_t reap_thread;
	bool reap_started;     /* under reap_mu */
	bool reap_halt;        /* under reap_mu: drain, then return */
	bool closing; /* close: driver callbacks refused */
	/* wr_runtime_drain: no retry of a failed reset is started any more
	 * (retry_reset_due).  Atomic. */
	bool draining;
	/* Failed syncs and the store's reset (commit.c).  fail_seq counts
	 * the failed syncs that left the store to reset (discard_queue) and
	 * the retries an append asked for after a reset failed (wr__submit:
	 * the commit thread runs them);
	 * reset_seq is the fail_seq the last reset that ended covered, and
	 * reset_ok_seq the one the last reset that succeeded covered: every
	 * record a failure up to it dropped is cut from the journal.  Written
	 * under the write lock (the reset itself runs without it, one thread
	 * at a time: reset_mu, taken before the lock), read atomically. */
	uint64_t fail_seq, reset_seq, reset_ok_seq;
	pthread_mutex_t reset_mu;
	/* Commits a failed sync ended (c->held: its fail_seq), answered once
	 * the reset covering that failure ended, never before: until the
	 * journal is cut back, a crash would replay their records.  Under
	 * the write lock; linked by c->next. */
	struct wr_commit *held_head, *held_tail;

	/* Retention (runtime.c): its own thread while retain_ms != 0. */
	uint64_t retain_ms;
	pthread_t retain_thread;
	bool retain_started;
	bool retain_halt;      /* under retain_mu: the thread must return */
	size_t retain_cursor;  /* where the next scan starts (approximate) */
	pthread_mutex_t retain_mu;
	pthread_cond_t retain_cv;

	struct wr__waiters *waiters; /* waiters.c; its own mutex */

	void (*on_diagnostic)(void *arg, const struct wr_diagnostic *d);
	void *on_diagnostic_arg;
	void (*on_worker_event)(void *arg, const struct wr_worker_event *ev);
	void *on_worker_event_arg;
	/* The snapshot thread (snapshot.c).  snap_running is under the
	 * write lock: a snapshot was begun and not yet switched over or
	 * given up; snap_stop asks the thread to give up (close). */
	pthread_t snap_thread;
	bool snap_joinable; /* snap_thread exists and was not joined */
	bool snap_running;
	volatile int snap_stop; /* read with __atomic_load_n */

	/* Idempotency keys (idem.c), under the lock. */
	struct idem_entry **ik_buckets; /* NULL until the first key */
	size_t ik_nbuckets;
	size_t ik_count;                /* entries, in flight or done */
	size_t ik_max;                  /* max_idempotency_keys */
	uint64_t ik_ttl_ms;
	uint64_t ik_seed;
	struct idem_entry *ik_oldest, *ik_newest;
	size_t ik_limbo;                /* entries in limbo */
	int64_t ik_newest_at_ms;        /* the largest at_ms applied */
	bool ik_unordered;              /* some key was applied with an
	                                 * at_ms below ik_newest_at_ms (the
	                                 * clock went back): the age list
	                                 * may not be oldest first */
	uint64_t ik_swept;              /* keys sweeps looked at (tests) */
	/* While a snapshot reads the keys it froze (wr__idem_freeze), they
	 * are pinned: a pinned key dropped meanwhile is unlinked but kept
	 * on ik_grave (through hnext) until wr__idem_unpin; any other key
	 * dropped meanwhile is freed at once. */
	bool ik_pinned;
	uint64_t ik_pin_gen;            /* the pin in force or last */
	struct idem_entry *ik_grave;    /* only entries the pin holds */
	/* The clock of mutations and key expiry: wr__now_ms, or a
	 * test's (wr__runtime_set_clock). */
	int64_t (*now_ms)(void);

	pthread_mutex_t diag_lock; /* guards the diagnostics only */
	struct wr__loc last_damage; /* under diag_lock: the place of the last
	                             * damaged entry a read reported */
	bool damage_seen;
	struct wr_diagnostic diags[WR_DIAGNOSTICS_KEPT];
	uint64_t diag_count;

	/* Counters for wr_runtime_metrics: relaxed atomics only
	 * (__atomic_*), never under a lock of their own. */
	uint64_t m_inputs, m_entries;
	uint64_t m_snapshots, m_snapshot_failures, m_snapshot_us;
	uint64_t m_spawned, m_exited, m_spawn_failures, m_kills;
	uint64_t m_stderr_lines;
};

/* ---- lookup tables (table.c) ------------------------------------------ */

/* Any worker, applied or not; NULL if none.  Caller holds the lock. */
struct worker *wr__find_worker(const struct wr_runtime *rt, const char *id);
/* A worker reads may see; NULL if none or not yet durable. */
struct worker *wr__find_visible(const struct wr_runtime *rt, const char *id);
/* Adds w to the table (room must be reserved) and sets its order, idx
 * and summary_max.  Write lock held. */
void wr__insert_worker(struct wr_runtime *rt, struct worker *w);
/* Removes w from the hash table (not from rt->workers).  Write lock. */
void wr__unlink_worker(struct wr_runtime *rt, struct worker *w);
/* Removes w from both tables: its slot in the creation-order array
 * becomes a hole, and the array closes up once holes are over a quarter
 * of its slots (so a delete costs O(1) amortized, not a move of every
 * later slot under the write lock).  Write lock. */
void wr__remove_worker(struct wr_runtime *rt, struct worker *w);
/* Closes up rt->workers: drops every hole, keeping the order (and
 * retain_cursor's place).  O(n_workers).  Write lock. */
void wr__compact_workers(struct wr_runtime *rt);
/* Workers held: rt->workers' slots that are not holes.  Lock held. */
size_t wr__workers_held(const struct wr_runtime *rt);
/* The creation order a worker id carries (w-<14 hex>-<8 hex>: the hex
 * number), or 0 for an id of another form. */
uint64_t wr__id_order(const char *id);
/* Index in rt->workers of the first worker whose order is above order
 * (n_workers if none; no worker at or after it has an order at or below
 * it, skipping holes).  Lock held. */
size_t wr__order_upper(const struct wr_runtime *rt, uint64_t order);
/* Index of w in rt->workers (n_workers if it is not there).  O(1).
 * Lock held. */
size_t wr__index_of(const struct wr_runtime *rt, const struct worker *w);
/* Makes room for one more worker; -1 on OOM with nothing changed. */
int wr__reserve_worker_slot(struct wr_runtime *rt);
/* Drops the table's hold on a worker: frees it and everything it owns
 * (not its driver state) now, or when the last reader unpins it. */
void wr__free_worker(struct worker *w);
/* Keeps w's memory (and the immutable parts of w->info: ref, intent,
 * profile, config bundle, capabilities and their count, workspace and
 * mount refs, created_at) alive after the lock is let go, so a reader
 * copies them out without holding it.  Lock held (read or write).
 * Thread-safe. */
void wr__pin_worker(struct worker *w);
/* Lets go of a pin; frees w if the table dropped it meanwhile.  Needs no
 * lock.  Thread-safe. */
void wr__unpin_worker(struct worker *w);
/* Tests only (NULL otherwise; set before the threads start): called by
 * wr_worker_list and wr_worker_list_json after they let go of the lock
 * and before they copy or encode the page, so a test can show the lock
 * is free meanwhile. */
extern void (*wr__list_copy_hook)(void);
/* How many WorkerSummary texts wr_worker_list_json has written afresh
 * (not reused from a worker's kept one) since the process started:
 * tests see with it that a list reuses what did not change.  Atomic. */
extern size_t wr__list_summaries_encoded;

/*
 * Entry seq (1-based, at most w->info.transcript_len) of worker w, read
 * back from the store when it keeps the contents (ops->read), else from
 * RAM.  On success *content is the caller's to free.  Damage in the store
 * is WR_EUNAVAILABLE, reason store_corrupt (also when the record found is
 * not that entry), reported as a diagnostic too.  Caller holds the lock
 * (read or write), or, for a location copied out (loc not NULL, used
 * instead of w's), keeps its file from being retired.
 */
wr_err wr__entry_read(struct wr_runtime *rt, const struct worker *w,
                      const char *worker_id, const struct wr__loc *loc,
                      uint64_t seq, enum wr_role *role, char **content,
                      uint64_t *event_id, int64_t *at_ms,
                      struct wr_error *err);

/* ---- watches (waiters.c) ---------------------------------------------- */

/* Creates the watch registry of a Runtime (max: watches at once, 0 for
 * the default); -1 on OOM. */
int wr__waiters_open(struct wr_runtime *rt, uint32_t max);
/* Wakes every watch and lets go of the registry (it lives on while
 * watches not yet cancelled refer to it).  Write lock held; the last
 * thing close does with the watches. */
void wr__waiters_close(struct wr_runtime *rt);
/* After a record about w was applied: wakes w's watches that it
 * satisfies (all of them when gone is true: w is being deleted).  Write
 * lock held. */
void wr__waiters_notify(struct wr_runtime *rt, struct worker *w, bool gone);
/* Wakes every watch (the Runtime stops).  Write lock held. */
void wr__waiters_wake_all(struct wr_runtime *rt);

/* ---- idempotency keys (idem.c) --------------------------------------- */

/* The SHA-256 of (method, NUL, path, NUL, body) into ik->digest and
 * ik->key = k->key.  No lock. */
void wr__idem_digest(struct wr__ikey *ik, const struct wr_idempotency *k);

/*
 * Looks ik's key up.  A stored, unexpired answer for the same digest:
 * WR_OK with *replayed and out filled (the caller's to clear); another
 * digest: idempotency_key_reused; in flight: idempotency_in_flight; no
 * room: idempotency_keys_full.  Else WR_OK with the key now in flight.
 * Write lock held.
 */
wr_err wr__idem_begin(struct wr_runtime *rt, const struct wr__ikey *ik,
                      struct wr_idempotent_result *out, bool *replayed,
                      struct wr_error *err);

/* Forgets key if it is still in flight (its request failed), unless it
 * is in limbo (wr__idem_limbo).  Write lock held. */
void wr__idem_abort(struct wr_runtime *rt, const char *key);

/* Keeps key, in flight, in limbo: its record was dropped by failed sync
 * number tag but may still be in the journal, so a retry with it gets
 * idempotency_in_flight until a reset cut the record.  Write lock
 * held. */
void wr__idem_limbo(struct wr_runtime *rt, const char *key, uint64_t tag);

/* Forgets the keys in limbo for failed syncs up to upto: a reset cut
 * their records from the journal.  Write lock held. */
void wr__idem_limbo_release(struct wr_runtime *rt, uint64_t upto);

/* Copies ik (key, digest, answer) into rec's idem_* members; -1 on OOM
 * with rec unchanged. */
int wr__idem_attach(struct wr__record *rec, const struct wr__ikey *ik);

/* Stores the key rec carries (takes rec's idem_key and idem_body): live,
 * the key in flight becomes done; replaying, a key that has expired is
 * dropped and another stored (replacing an earlier one of the same key).
 * WR_OK, or out_of_memory (replay only).  Write lock held. */
wr_err wr__idem_apply(struct wr_runtime *rt, struct wr__record *rec,
                      struct wr_error *err);

/* The stored, unexpired keys for a snapshot: *keys (owned; NULL when *n
 * is 0) points at the entries themselves, which stay pinned, unchanged
 * and allocated, even if dropped, until wr__idem_unpin; no copy of a
 * key or answer is made under the lock.  At most one snapshot pins at a
 * time.  -1 on OOM (nothing pinned).  Write lock held. */
int wr__idem_freeze(struct wr_runtime *rt, const struct idem_entry ***keys,
                    size_t *n);

/* Fills *rec as the IDEMPOTENCY record of a pinned entry; its idem_key
 * and idem_body are borrowed from the entry (valid until
 * wr__idem_unpin; never free them).  Needs no lock: a pinned entry does
 * not change. */
void wr__idem_record(const struct idem_entry *e, struct wr__record *rec);

/* Ends the pin of wr__idem_freeze and frees the keys dropped while it
 * held.  Write lock held. */
void wr__idem_unpin(struct wr_runtime *rt);

/* Frees every key (close; no snapshot runs). */
void wr__idem_free_all(struct wr_runtime *rt);

/* The Runtime's clock, which the records of mutations and key expiry
 * read: wr__now_ms, or a test's (wr__runtime_set_clock). */
int64_t wr__rt_now(const struct wr_runtime *rt);

/* Test seam: the Runtime's clock (NULL: wr__now_ms). */
void wr__runtime_set_clock(struct wr_runtime *rt, int64_t (*now_ms)(void));

/* ---- snapshots (snapshot.c) ------------------------------------------- */

/* When the store asks for one and none is running: freezes the applied
 * view (per worker its detail, state and entry locations) and starts the
 * snapshot thread on it.  Write lock held; nothing is in flight. */
void wr__snapshot_maybe(struct wr_runtime *rt);

/* Stops a running snapshot (it gives up; the store stays consistent) and
 * joins the thread.  Lock NOT held.  Safe when none ever ran. */
void wr__snapshot_stop(struct wr_runtime *rt);

/* Test seam: returns once the snapshot that is running (if any) is
 * switched over or given up.  Lock NOT held. */
void wr__snapshot_wait(struct wr_runtime *rt);

/* Resolves a profile selector to a driver; reports unknown_profile. */
wr_err wr__resolve_profile(const struct wr_runtime *rt,
                           const struct wr_profile_ref *p,
                           const struct wr_driver **driver, void **arg,
                           struct wr_error *err);

/* Fills rt's profile table from cfg: names valid and unique, the default
 * profile resolved.  Only while the Runtime is being opened. */
wr_err wr__copy_profiles(struct wr_runtime *rt, const struct wr_config *cfg,
                         struct wr_error *err);

/* ---- records and group commit (commit.c) ----------------------------- */

/* Allocates a pending record of the given kind; NULL on OOM. */
struct pending *wr__pending_new(enum wr__record_kind kind);
/* Frees a pending record after it is done (or was never submitted). */
void wr__pending_free(struct pending *p);

/* Whether a failed sync left the store to reset and that reset has not
 * ended yet (commit.c: reset_until).  Any thread. */
static inline bool
wr__reset_due(struct wr_runtime *rt)
{
	return __atomic_load_n(&rt->fail_seq, __ATOMIC_ACQUIRE) !=
	       __atomic_load_n(&rt->reset_seq, __ATOMIC_ACQUIRE);
}

/* Reserves now what applying rec will need, so that wr__submit() cannot
 * run out of memory before the store is asked (a caller that must act
 * before submitting, such as handing input to a driver, reserves first).
 * WR_OK, or out_of_memory with nothing changed.  Write lock held. */
wr_err wr__reserve(struct wr_runtime *rt, const struct wr__record *rec,
                   struct wr_error *err);

/*
 * Hands a validated record to the store.  Write lock held.  On success the
 * projected view includes it (and, with a synchronous store, the applied
 * view too: p->done).  On failure nothing changed; a store that stayed
 * failed after a reset answers store_failed, and the commit thread tries
 * the reset again (never here, under the lock).
 */
wr_err wr__submit(struct wr_runtime *rt, struct pending *p,
                  struct wr_error *err);

/*
 * Waits until p[0..n) (submitted in that order, lock released since) are
 * durable and applied; returns WR_OK, or the store's error after which none
 * of them is applied.  Takes the write lock itself.  Releases discarded
 * driver states.  Then frees nothing: the caller frees the pendings.
 */
wr_err wr__await(struct wr_runtime *rt, struct pending **p, size_t n,
                 struct wr_error *err);

/* Waits until every record up to lsn (a worker's p_last_lsn: the newest
 * record the store took for it) is durable and applied, for idempotent
 * answers computed from the projected view; WR_OK at once for lsn 0 or a
 * store without sync.  Lock NOT held. */
wr_err wr__await_lsn(struct wr_runtime *rt, uint64_t lsn,
                     struct wr_error *err);

/*
 * Commits awaited without a thread.  wr__commit_register: after the
 * record p was submitted (or, p NULL, for a worker's newest record lsn,
 * 0: none), under the write lock: c takes p and either completes at
 * once (the memory store, lsn 0 or already applied, a record dropped by
 * an earlier failed sync: returns true, done() is never called) or waits
 * on rt->cw and returns false; then done() is called exactly once, from
 * whichever thread applies or discards its record, write lock held.
 */
bool wr__commit_register(struct wr_runtime *rt, struct wr_commit *c,
                         struct pending *p, uint64_t lsn);
/* As wr__commit_register for lsn, the newest record of the worker a
 * refusal (rc, why: its error, not NULL) was judged on: c completes with
 * that refusal once lsn is durable, with the sync's error if it fails
 * (the change never happened), and forgets c's key in flight either way.
 * Returns true when c completed at once.  Write lock held. */
bool wr__commit_refusal(struct wr_runtime *rt, struct wr_commit *c,
                        uint64_t lsn, wr_err rc, const struct wr_error *why);
/* Rings the commit thread for a commit registered with a done().  Lock
 * NOT held. */
void wr__commit_ring(struct wr_runtime *rt);
/* Blocks until c is completed (syncing in the calling thread, as
 * wr__await does).  Lock NOT held; c was registered and not completed. */
void wr__commit_wait(struct wr_commit *c);
/* Releases the graves a delete applied at once left (memory store).
 * Lock NOT held. */
void wr__commit_bury(struct wr_runtime *rt);
/* Starts the commit thread of a store with sync; WR_OK at once for one
 * without.  Open only. */
wr_err wr__commit_start(struct wr_runtime *rt, struct wr_error *err);
/* Completes every waiting commit (syncing as the thread does) and ends
 * the commit thread.  Lock NOT held (close; no mutation runs). */
void wr__commit_stop(struct wr_runtime *rt);

/* Replays the store into an empty Runtime (open).  Sets *had_meta and
 * fills stored_id when the store named a runtime id. */
wr_err wr__replay(struct wr_runtime *rt, bool *had_meta,
                  char stored_id[WR_ID_MAX + 1], struct wr_error *err);

/* Next event id to hand out (projected).  Write lock held. */
uint64_t wr__next_event(struct wr_runtime *rt);

/* ---- worker rules (worker.c) and a test seam (runtime.c) ------------- */

/* Builds the pending terminal-status record for a running worker (failed:
 * why becomes a runtime transcript entry; ik, if not NULL, the key it
 * stores) and submits it.  Write lock
 * held; *out is the caller's to await and free. */
wr_err wr__end_worker(struct wr_runtime *rt, struct worker *w,
                      enum wr_worker_status status, const char *reason,
                      const struct wr__ikey *ik, struct pending **out,
                      struct wr_error *err);

/* Builds the pending worker_deleted record for an ended worker and
 * submits it; the worker may be freed by the time this returns (a
 * synchronous store applies at once), so w is not used afterwards.
 * Write lock held; *out is the caller's to await and free. */
wr_err wr__delete_worker(struct wr_runtime *rt, struct worker *w,
                         const struct wr__ikey *ik, struct pending **out,
                         struct wr_error *err);

/* Puts w (out of the tables, its execution stopping) on rt->graves; its
 * slot stays taken until the reaper released it.  Write lock held. */
void wr__bury_worker(struct wr_runtime *rt, struct worker *w);

/* Waits until the reaper has released every driver handed to it and
 * ends it; later burials release in the caller.  Lock NOT held (close). */
void wr__reaper_stop(struct wr_runtime *rt);

/* The Runtime's effective limits (never 0; borrowed): fixed at open, so
 * read without the lock, e.g. by a driver sizing its buffers. */
const struct wr_limits *wr__runtime_limits(const struct wr_runtime *rt);

/* Gives tests the store of a Runtime (borrowed). */
struct wr__store *wr__runtime_store(struct wr_runtime *rt);

#endif /* WR_RT_H */
