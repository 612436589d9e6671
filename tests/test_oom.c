/*
 * test_oom.c - out of memory, on purpose (the seam of tests/oom.h fails
 * the n-th allocation of the calling thread, json-c's and libc's included):
 *   - the loop of SQLite's malloc tests: for create, input, stop, cancel,
 *     transcript read and the worker page as JSON, on both stores, on a
 *     small fixture and on one at the initial capacities (so the
 *     operation must grow the entries or the worker table), fail the
 *     1st, 2nd, ... allocation in turn until the operation succeeds with
 *     the seam armed; every failure is
 *     WR_EINTERNAL/out_of_memory and leaves summary, worker list and every
 *     transcript exactly as before; the operation then retried, or done
 *     in spite of a failure, answers and leaves what a Runtime that never
 *     failed does; a loop whose seam refused nothing fails.  Leaks are
 *     caught by the ASan+LSan run of tests/run-all (valgrind replaces
 *     malloc, so the seam never fires there and run-all skips this test);
 *   - store replay: the same loop over wr_runtime_open, disabled until
 *     record decoding tells out of memory from damage (see that test);
 *   - a refused input never reached the driver (memory store, entries
 *     at capacity: every allocation but the store's comes first);
 *   - a failed sync that runs out of memory releases the discarded
 *     worker's driver outside the Runtime lock (no deadlock with a driver
 *     thread waiting for that lock in wr_worker_emit).
 * Links the static library for the wr__ I/O seam of the fs store.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "core/rt.h"
#include "oom.h"
#include "tmpdir.h"

/* Far more than any operation allocates: a loop that reaches it is a
 * seam that never stops failing. */
#define MAX_ROUNDS 5000ul

static char base[TEST_TMPDIR_SIZE];
static char dir[TEST_TMPDIR_SIZE + 16];
static char spec[TEST_TMPDIR_SIZE + 32];

static void
setup(void)
{
	test_tmpdir_create(base, sizeof(base), "oom");
	snprintf(dir, sizeof(dir), "%s/store", base);
	snprintf(spec, sizeof(spec), "fs:%s", dir);
}

static void
teardown(void)
{
	oom_disarm();
	test_tmpdir_remove(base);
}

TestSuite(oom, .init = setup, .fini = teardown, .timeout = 240);

/* ---- a driver whose release waits for a thread that calls back ------- */

/*
 * Like the exec driver: release() waits for the driver's own thread, and
 * that thread may be calling wr_worker_emit, which takes the Runtime lock.
 * Released under that lock, this waits forever; the wait is bounded so
 * that the test fails instead of hanging.
 */
struct emitter {
	struct wr_runtime *rt;
	char id[WR_ID_MAX + 1];
	wr_err emitted;
};

static atomic_int released;
static atomic_bool deadlocked;
static pthread_t stuck; /* an emit thread that did not finish in time */
static bool have_stuck;

static wr_err
em_start(void *arg, struct wr_runtime *rt, const char *worker_id,
         void **state, struct wr_error *err)
{
	struct emitter *em = calloc(1, sizeof(*em));

	(void)arg;
	if (em == NULL)
		return wr__fail(err, WR_EINTERNAL, WR_REASON_OUT_OF_MEMORY, NULL, NULL);
	em->rt = rt;
	snprintf(em->id, sizeof(em->id), "%s", worker_id);
	*state = em;
	return WR_OK;
}

static wr_err
em_input(void *state, enum wr_input_kind kind, const char *content,
         uint64_t sequence, bool *turn_started, struct wr_error *err)
{
	(void)state;
	(void)kind;
	(void)content;
	(void)sequence;
	(void)turn_started;
	(void)err;
	return WR_OK;
}

static void
em_stop(void *state, bool cancel)
{
	(void)state;
	(void)cancel;
}

static void *
em_thread(void *arg)
{
	struct emitter *em = arg;

	em->emitted = wr_worker_emit(em->rt, em->id, WR_ROLE_WORKER, "late",
	                             NULL);
	return NULL;
}

static void
em_release(void *state)
{
	struct oom_state saved = oom_pause(); /* pthread_create allocates */
	struct emitter *em = state;
	struct timespec until;
	pthread_t t;

	if (pthread_create(&t, NULL, em_thread, em) == 0) {
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += 5;
		if (pthread_timedjoin_np(t, NULL, &until) != 0) {
			atomic_store(&deadlocked, true);
			stuck = t;
			have_stuck = true;
			oom_resume(saved);
			return; /* em stays for the stuck thread */
		}
	}
	free(em);
	atomic_fetch_add(&released, 1);
	oom_resume(saved);
}

static const struct wr_driver emitter_driver = {
	"test-emitter", em_start, em_input, em_stop, em_release, false};

/* The fdatasync of the fs store fails and, from then on, so does every
 * allocation of the thread that called it. */
static atomic_bool sync_fails_oom;

static int
t_fdatasync(int fd)
{
	if (atomic_exchange(&sync_fails_oom, false)) {
		oom_arm(1, true);
		errno = EIO;
		return -1;
	}
	return fdatasync(fd);
}

static const struct wr__fs_io sync_seam = {NULL, t_fdatasync, NULL, NULL,
                                           NULL};

Test(oom, discarded_creation_releases_driver_outside_the_lock)
{
	struct wr_profile prof = {.name = "emitter", .driver = &emitter_driver};
	struct wr_config cfg = {.runtime_id = "rt-oom", .store = spec,
	                        .profiles = &prof, .n_profiles = 1};
	struct wr_create_request req = {
		.profile = {.kind = WR_PROFILE_NAMED, .value = "emitter"}};
	struct wr_runtime *rt = NULL;
	struct wr_worker_list l;
	struct wr_error e;
	wr_err rc;

	cr_assert_eq(wr_runtime_open(&cfg, &rt, &e), WR_OK, "%s", e.message);
	wr__store_fs_set_io(wr__runtime_store(rt), &sync_seam);
	atomic_store(&sync_fails_oom, true);
	rc = wr_worker_create(rt, &req, NULL, &e);
	oom_disarm(); /* fixed, the discard path may allocate nothing */
	cr_assert_not(atomic_load(&sync_fails_oom), "no fdatasync failed");
	if (have_stuck)
		pthread_join(stuck, NULL); /* the lock is free by now */
	cr_assert_not(atomic_load(&deadlocked),
	              "release() ran under the Runtime lock: the driver's "
	              "thread waited for it in wr_worker_emit");
	cr_assert_eq(rc, WR_EUNAVAILABLE, "create: %s (%s)",
	             wr_strerror(rc), wr_reason_name(e.reason));
	cr_assert_eq(atomic_load(&released), 1);
	cr_assert_eq(wr_worker_list(rt, NULL, &l, &e), WR_OK);
	cr_assert_eq(l.count, 0, "the discarded worker is still listed");
	wr_worker_list_free(&l);
	wr__store_fs_set_io(wr__runtime_store(rt), NULL);
	wr_runtime_close(rt);
}

/* ---- the state a failure must leave unchanged ------------------------ */

static void
append(char **s, size_t *len, char *text)
{
	size_t n;

	cr_assert_not_null(text, "encoding the state ran out of memory");
	n = strlen(text);
	*s = realloc(*s, *len + n + 2);
	cr_assert_not_null(*s);
	memcpy(*s + *len, text, n);
	(*s)[*len + n] = '\n';
	(*s)[*len + n + 1] = '\0';
	*len += n + 1;
	free(text);
}

/* The runtime summary (less diagnostic_count and started_at: a log and
 * the time of this open), the worker list and every transcript, as JSON
 * text; the caller frees it. */
static char *
capture(struct wr_runtime *rt)
{
	struct wr_runtime_summary s;
	struct wr_worker_list l;
	struct wr_error e;
	char *out = NULL;
	size_t len = 0;

	cr_assert_eq(wr_runtime_summary(rt, &s, &e), WR_OK);
	s.diagnostic_count = 0;
	s.started_at_ms = 0;
	append(&out, &len, wr_json_encode_runtime_summary(&s, NULL, NULL));
	cr_assert_eq(wr_worker_list(rt, NULL, &l, &e), WR_OK, "%s", e.message);
	append(&out, &len, wr_json_encode_worker_list(&l, NULL, NULL));
	for (size_t i = 0; i < l.count; i++) {
		const char *id = l.items[i]->ref.worker_id;
		struct wr_transcript_page p = {.has_next = true};

		for (uint64_t start = 0; p.has_next; start = p.next_start) {
			cr_assert_eq(wr_worker_transcript(rt, id, start, 0, &p,
			                                  &e), WR_OK);
			append(&out, &len,
			       wr_json_encode_transcript_page(&p, NULL, NULL));
			wr_transcript_page_clear(&p);
		}
	}
	wr_worker_list_free(&l);
	return out;
}

/* ---- the fixture ------------------------------------------------------ */

/*
 * A Runtime with w1 running and w2 stopped.  Small: w1 has two entries.
 * At the boundary: w1 has FX_ENTRIES entries and there are FX_WORKERS
 * workers, the initial capacities of a worker's entries and of the worker
 * table (src/core/commit.c reserve_entries, src/core/table.c
 * wr__reserve_worker_slot), so the next entry or worker must grow them.
 */
#define FX_ENTRIES 8
#define FX_WORKERS 16

struct fx {
	bool fs, boundary;
	struct wr_runtime *rt;
	char w1[WR_ID_MAX + 1], w2[WR_ID_MAX + 1];
};

static struct wr_runtime *
fx_reopen(bool fs)
{
	struct wr_config cfg = {.runtime_id = "rt-oom",
	                        .store = fs ? spec : NULL};
	struct wr_runtime *rt = NULL;
	struct wr_error e;

	cr_assert_eq(wr_runtime_open(&cfg, &rt, &e), WR_OK, "open: %s (%s)",
	             e.message, wr_reason_name(e.reason));
	return rt;
}

static void
fx_create(struct fx *f, char id[WR_ID_MAX + 1])
{
	struct wr_worker_info *w = NULL;
	struct wr_error e;

	cr_assert_eq(wr_worker_create(f->rt, NULL, &w, &e), WR_OK, "%s",
	             e.message);
	snprintf(id, WR_ID_MAX + 1, "%s", w->ref.worker_id);
	wr_worker_info_free(w);
}

/* Fills the boundary fixture: FX_WORKERS workers, FX_ENTRIES in w1. */
static void
fx_fill(struct fx *f)
{
	struct wr_input in = {WR_INPUT_USER, "more"};
	struct wr_input_ack ack = {.transcript_sequence = 2};
	char id[WR_ID_MAX + 1];
	struct wr_error e;

	for (int i = 2; i < FX_WORKERS; i++)
		fx_create(f, id);
	for (int i = 0; i < FX_ENTRIES && ack.transcript_sequence < FX_ENTRIES;
	     i++)
		cr_assert_eq(wr_worker_input(f->rt, f->w1, &in, &ack, &e),
		             WR_OK, "%s", e.message);
	cr_assert_eq(ack.transcript_sequence, FX_ENTRIES);
}

static void
fx_open(struct fx *f, bool fs, bool boundary)
{
	struct wr_input in = {WR_INPUT_USER, "first"};
	struct wr_error e;

	memset(f, 0, sizeof(*f));
	f->fs = fs;
	f->boundary = boundary;
	f->rt = fx_reopen(fs);
	fx_create(f, f->w1);
	fx_create(f, f->w2);
	cr_assert_eq(wr_worker_input(f->rt, f->w1, &in, NULL, &e), WR_OK);
	in.kind = WR_INPUT_SYSTEM;
	in.content = "second";
	cr_assert_eq(wr_worker_input(f->rt, f->w1, &in, NULL, &e), WR_OK);
	cr_assert_eq(wr_worker_stop(f->rt, f->w2, "done", NULL, &e), WR_OK);
	if (boundary)
		fx_fill(f);
}

static void
fx_close(struct fx *f)
{
	wr_runtime_close(f->rt);
	f->rt = NULL;
	if (f->fs && access(dir, F_OK) == 0)
		test_tmpdir_remove(dir);
}

/* ---- the operations ---------------------------------------------------- */

/* What an operation answered, less worker ids and times (random and
 * wall clock: they differ between two Runtimes built alike). */
#define OUTCOME_MAX 512

typedef wr_err (*op_fn)(struct fx *f, char out[OUTCOME_MAX],
                        struct wr_error *e);

static wr_err
op_create(struct fx *f, char out[OUTCOME_MAX], struct wr_error *e)
{
	struct wr_capability caps[] = {{"files", "reads the workspace"},
	                               {"net", NULL}};
	struct wr_mount_ref refs[] = {{"src", "git:repo"}, {"tmp", "scratch"}};
	struct wr_create_request req = {
		.intent = {.kind = WR_INTENT_TASK, .objective = "sum it up"},
		.config_bundle_id = "bundle-1",
		.capabilities = caps, .n_capabilities = 2,
		.workspace_refs = refs, .n_workspace_refs = 2,
		.mount_refs = refs + 1, .n_mount_refs = 1};
	struct wr_worker_info *w = NULL;
	wr_err rc = wr_worker_create(f->rt, &req, &w, e);

	if (rc == WR_OK)
		snprintf(out, OUTCOME_MAX, "status %d run %d len %llu event %llu",
		         (int)w->status, (int)w->run_state,
		         (unsigned long long)w->transcript_len,
		         (unsigned long long)w->last_event_id);
	wr_worker_info_free(w);
	return rc;
}

static wr_err
op_input(struct fx *f, char out[OUTCOME_MAX], struct wr_error *e)
{
	struct wr_input in = {WR_INPUT_USER, "third input"};
	struct wr_input_ack ack;
	wr_err rc = wr_worker_input(f->rt, f->w1, &in, &ack, e);

	if (rc == WR_OK)
		snprintf(out, OUTCOME_MAX, "status %d run %d seq %llu event %llu",
		         (int)ack.status, (int)ack.run_state,
		         (unsigned long long)ack.transcript_sequence,
		         (unsigned long long)ack.event_id);
	return rc;
}

static wr_err
lifecycle_outcome(wr_err rc, const struct wr_lifecycle_ack *ack,
                  char out[OUTCOME_MAX])
{
	if (rc == WR_OK)
		snprintf(out, OUTCOME_MAX, "status %d event %llu",
		         (int)ack->status, (unsigned long long)ack->event_id);
	return rc;
}

static wr_err
op_stop(struct fx *f, char out[OUTCOME_MAX], struct wr_error *e)
{
	struct wr_lifecycle_ack ack;

	return lifecycle_outcome(wr_worker_stop(f->rt, f->w1, "enough", &ack,
	                                        e), &ack, out);
}

static wr_err
op_cancel(struct fx *f, char out[OUTCOME_MAX], struct wr_error *e)
{
	struct wr_lifecycle_ack ack;

	return lifecycle_outcome(wr_worker_cancel(f->rt, f->w1, "abandon",
	                                          &ack, e), &ack, out);
}

/* Deletes w2, which the fixture stopped. */
static wr_err
op_delete(struct fx *f, char out[OUTCOME_MAX], struct wr_error *e)
{
	struct wr_lifecycle_ack ack;

	return lifecycle_outcome(wr_worker_delete(f->rt, f->w2, &ack, e), &ack,
	                         out);
}

/* A keyed mutation's outcome: its answer's status and size, and whether
 * it was a replay (a refusal must forget the key: the retry runs). */
static wr_err
keyed_outcome(wr_err rc, struct wr_idempotent_result *r,
              char out[OUTCOME_MAX])
{
	if (rc == WR_OK)
		snprintf(out, OUTCOME_MAX, "status %d len %zu replayed %d",
		         r->status, r->body_len, (int)r->replayed);
	wr_idempotent_result_clear(r);
	return rc;
}

static wr_err
op_create_keyed(struct fx *f, char out[OUTCOME_MAX], struct wr_error *e)
{
	struct wr_idempotency k = {"oom-c", "POST", "/v1/workers", "{}", 2};
	struct wr_idempotent_result r;

	return keyed_outcome(wr_worker_create_keyed(f->rt, NULL, &k, &r, e),
	                     &r, out);
}

static wr_err
op_input_keyed(struct fx *f, char out[OUTCOME_MAX], struct wr_error *e)
{
	struct wr_input in = {WR_INPUT_USER, "third input"};
	struct wr_idempotency k = {"oom-i", "POST", "/input", "x", 1};
	struct wr_idempotent_result r;

	return keyed_outcome(wr_worker_input_keyed(f->rt, f->w1, &in, &k, &r,
	                                           e), &r, out);
}

/* Stops w2, already stopped: the key is stored alone. */
static wr_err
op_stop_keyed(struct fx *f, char out[OUTCOME_MAX], struct wr_error *e)
{
	struct wr_idempotency k = {"oom-s", "POST", "/stop", "", 0};
	struct wr_idempotent_result r;

	return keyed_outcome(wr_worker_stop_keyed(f->rt, f->w2, NULL, &k, &r,
	                                          e), &r, out);
}

static wr_err
op_delete_keyed(struct fx *f, char out[OUTCOME_MAX], struct wr_error *e)
{
	struct wr_idempotency k = {"oom-d", "DELETE", "/d", "", 0};
	struct wr_idempotent_result r;

	return keyed_outcome(wr_worker_delete_keyed(f->rt, f->w2, &k, &r, e),
	                     &r, out);
}

static wr_err
op_transcript(struct fx *f, char out[OUTCOME_MAX], struct wr_error *e)
{
	struct wr_transcript_page p;
	wr_err rc = wr_worker_transcript(f->rt, f->w1, 0, 0, &p, e);

	if (rc == WR_OK) {
		snprintf(out, OUTCOME_MAX, "count %zu total %llu last %llu/%llu",
		         p.count, (unsigned long long)p.total_items,
		         (unsigned long long)(p.count ? p.items[p.count - 1]
		                                               .sequence : 0),
		         (unsigned long long)(p.count ? p.items[p.count - 1]
		                                               .event_id : 0));
		wr_transcript_page_clear(&p);
	}
	return rc;
}

/* The worker page as JSON, twice: the second from the summaries the
 * first kept (or failed to keep), which must not change a byte. */
static wr_err
op_list_json(struct fx *f, char out[OUTCOME_MAX], struct wr_error *e)
{
	char *a = NULL, *b = NULL;
	size_t na = 0, nb = 0;
	wr_err rc = wr_worker_list_json(f->rt, NULL, &a, &na, e);

	if (rc == WR_OK)
		rc = wr_worker_list_json(f->rt, NULL, &b, &nb, e);
	if (rc == WR_OK)
		snprintf(out, OUTCOME_MAX, "bytes %zu, again %s", na,
		         nb == na && memcmp(a, b, na) == 0 ? "the same" : "not");
	free(a);
	free(b);
	return rc;
}

/* ---- comparing with a Runtime that never failed ----------------------- */

/* One line per worker, in creation order, and per transcript entry, less
 * ids and times: what two Runtimes built alike agree on. */
static void
digest_worker(struct wr_runtime *rt, const struct wr_worker_info *w,
              char **out, size_t *len)
{
	struct wr_transcript_page p = {.has_next = true};
	struct wr_error e;
	char *line;

	cr_assert_neq(asprintf(&line, "worker status %d run %d len %llu "
	                       "event %llu", (int)w->status, (int)w->run_state,
	                       (unsigned long long)w->transcript_len,
	                       (unsigned long long)w->last_event_id), -1);
	append(out, len, line);
	for (uint64_t start = 0; p.has_next; start = p.next_start) {
		cr_assert_eq(wr_worker_transcript(rt, w->ref.worker_id, start, 0,
		                                  &p, &e), WR_OK);
		for (size_t i = 0; i < p.count; i++) {
			cr_assert_neq(asprintf(&line, "  %llu %d %llu %s",
			              (unsigned long long)p.items[i].sequence,
			              (int)p.items[i].role,
			              (unsigned long long)p.items[i].event_id,
			              p.items[i].content), -1);
			append(out, len, line);
		}
		wr_transcript_page_clear(&p);
	}
}

/* The outcome of an operation and the state after it; the caller frees
 * it. */
static char *
digest(struct wr_runtime *rt, const char *outcome)
{
	struct wr_runtime_summary s;
	struct wr_worker_list l;
	struct wr_error e;
	char *out = NULL, *line;
	size_t len = 0;

	append(&out, &len, strdup(outcome));
	cr_assert_eq(wr_runtime_summary(rt, &s, &e), WR_OK);
	cr_assert_neq(asprintf(&line, "runtime %d workers %llu/%llu/%llu/%llu/"
	              "%llu", (int)s.status,
	              (unsigned long long)s.worker_count,
	              (unsigned long long)s.active_worker_count,
	              (unsigned long long)s.stopped_worker_count,
	              (unsigned long long)s.cancelled_worker_count,
	              (unsigned long long)s.failed_worker_count), -1);
	append(&out, &len, line);
	cr_assert_eq(wr_worker_list(rt, NULL, &l, &e), WR_OK, "%s", e.message);
	for (size_t i = 0; i < l.count; i++)
		digest_worker(rt, l.items[i], &out, &len);
	wr_worker_list_free(&l);
	return out;
}

/* What op answers and leaves on a fixture where nothing fails. */
static char *
control(bool fs, bool boundary, op_fn op, const char *what)
{
	char outcome[OUTCOME_MAX] = "";
	struct wr_error e;
	struct fx f;
	char *want;

	fx_open(&f, fs, boundary);
	cr_assert_eq(op(&f, outcome, &e), WR_OK, "%s: %s", what, e.message);
	want = digest(f.rt, outcome);
	fx_close(&f);
	return want;
}

/* op's outcome and state match the control's. */
static void
check_as_control(struct fx *f, const char *outcome, const char *want,
                 const char *what, unsigned long n, const char *when)
{
	char *got = digest(f->rt, outcome);

	cr_assert_str_eq(got, want, "%s %s allocation %lu failed: not what a "
	                 "Runtime that never failed answers and holds", what,
	                 when, n);
	free(got);
}

static void
check_refused(const char *what, unsigned long n, wr_err rc,
              const struct wr_error *e)
{
	cr_assert_eq(rc, WR_EINTERNAL,
	             "%s with allocation %lu failing: %s (%s: %s)", what, n,
	             wr_err_name(rc), wr_reason_name(e->reason), e->message);
	cr_assert_str_eq(wr_reason_name(e->reason), "out_of_memory",
	                 "%s with allocation %lu failing: reason %s (%s)",
	                 what, n, wr_reason_name(e->reason), e->message);
}

/* The fs store restores what the Runtime shows (before: capture()). */
static void
check_restores(struct fx *f, const char *before, const char *what,
               unsigned long n, const char *how)
{
	char *after;

	wr_runtime_close(f->rt);
	f->rt = fx_reopen(true);
	after = capture(f->rt);
	cr_assert_str_eq(after, before, "%s with allocation %lu failing %s",
	                 what, n, how);
	free(after);
}

/* Refused: typed, the state (and what a restart reads) as before, and
 * the same op, unarmed, then answers what the control answers. */
static void
check_refusal(struct fx *f, op_fn op, const char *before, const char *want,
              const char *what, unsigned long n, wr_err rc,
              const struct wr_error *e)
{
	char outcome[OUTCOME_MAX] = "";
	struct wr_error e2;
	char *after;

	check_refused(what, n, rc, e);
	after = capture(f->rt);
	cr_assert_str_eq(after, before, "%s with allocation %lu failing "
	                 "changed the state", what, n);
	free(after);
	if (f->fs)
		check_restores(f, before, what, n, "changed the store");
	cr_assert_eq(op(f, outcome, &e2), WR_OK, "%s after a refused "
	             "attempt: %s", what, e2.message);
	check_as_control(f, outcome, want, what, n, "retried after");
}

/*
 * For n = 1, 2, ...: a fresh fixture, the n-th allocation of op fails.
 * Refused: see check_refusal.  Done in spite of the failure: the answer
 * and state are the control's and, on the fs store, a restart reads the
 * same.  Ends when op runs without reaching allocation n; a seam that
 * never refused anything (valgrind's allocator bypasses it) fails.
 */
static void
oom_loop_on(const char *what, bool fs, bool boundary, op_fn op)
{
	char *want = control(fs, boundary, op, what);
	unsigned long n, refused = 0;

	for (n = 1; n < MAX_ROUNDS; n++) {
		char outcome[OUTCOME_MAX] = "";
		struct fx f;
		struct wr_error e;
		char *before;
		bool fired;
		wr_err rc;

		fx_open(&f, fs, boundary);
		before = capture(f.rt);
		wr_error_clear(&e);
		oom_arm(n, false);
		rc = op(&f, outcome, &e);
		fired = oom_disarm();
		if (rc != WR_OK) {
			refused++;
			check_refusal(&f, op, before, want, what, n, rc, &e);
		} else {
			check_as_control(&f, outcome, want, what, n,
			                 fired ? "done although" : "done, no");
			if (fired && fs) {
				free(before);
				before = capture(f.rt);
				check_restores(&f, before, what, n, "succeeded, but "
				               "the store restores something else");
			}
		}
		fx_close(&f);
		free(before);
		if (!fired)
			break;
	}
	free(want);
	cr_assert_lt(n, MAX_ROUNDS, "%s never ran without failing", what);
	cr_assert(n > 1 && refused > 0, "%s: the seam refused nothing (%lu "
	          "allocations): is malloc replaced (valgrind)?", what, n - 1);
	cr_log_info("%s (%s store%s): %lu allocations, %lu refusals", what,
	            fs ? "fs" : "memory", boundary ? ", at a growth boundary"
	                                           : "", n - 1, refused);
}

/* Both stores, on the small fixture and at the growth boundary. */
static void
oom_loop(const char *what, op_fn op)
{
	for (int i = 0; i < 4; i++)
		oom_loop_on(what, i & 1, i & 2, op);
}

Test(oom, create_fails_cleanly_at_every_allocation)
{
	oom_loop("create", op_create);
}

Test(oom, input_fails_cleanly_at_every_allocation)
{
	oom_loop("input", op_input);
}

Test(oom, stop_fails_cleanly_at_every_allocation)
{
	oom_loop("stop", op_stop);
}

Test(oom, cancel_fails_cleanly_at_every_allocation)
{
	oom_loop("cancel", op_cancel);
}

Test(oom, delete_fails_cleanly_at_every_allocation)
{
	oom_loop("delete", op_delete);
}

Test(oom, keyed_create_fails_cleanly_at_every_allocation)
{
	oom_loop("keyed create", op_create_keyed);
}

Test(oom, keyed_input_fails_cleanly_at_every_allocation)
{
	oom_loop("keyed input", op_input_keyed);
}

Test(oom, keyed_stop_of_an_ended_worker_fails_cleanly_at_every_allocation)
{
	oom_loop("keyed stop (key alone)", op_stop_keyed);
}

Test(oom, keyed_delete_fails_cleanly_at_every_allocation)
{
	oom_loop("keyed delete", op_delete_keyed);
}

Test(oom, list_as_json_fails_cleanly_at_every_allocation)
{
	oom_loop("list as JSON", op_list_json);
}

Test(oom, transcript_read_fails_cleanly_at_every_allocation)
{
	oom_loop("transcript read", op_transcript);
}

/* ---- store replay ------------------------------------------------------ */

/* A store with a snapshot and a journal after it: w1 running with
 * entries, w2 stopped, w3 cancelled. */
static void
replay_fixture(void)
{
	struct fx f;
	struct wr_input in = {WR_INPUT_USER, "after the snapshot"};
	struct wr_error e;
	char w3[WR_ID_MAX + 1];

	fx_open(&f, true, false);
	wr__store_fs_set_snapshot_bytes(wr__runtime_store(f.rt), 512);
	fx_create(&f, w3);
	cr_assert_eq(wr_worker_cancel(f.rt, w3, NULL, NULL, &e), WR_OK);
	cr_assert_eq(wr_worker_input(f.rt, f.w1, &in, NULL, &e), WR_OK);
	wr__snapshot_wait(f.rt); /* written in the background */
	wr_runtime_close(f.rt);
}

/* Every file of the store directory, name and bytes, as one text the
 * caller frees: what a refused open must leave exactly as it was. */
static char *
store_files(void)
{
	struct dirent **names;
	char *out = NULL, path[sizeof(dir) + 300];
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);
	int n = scandir(dir, &names, NULL, alphasort);

	cr_assert_not_null(f);
	cr_assert_geq(n, 0, "scandir %s", dir);
	for (int i = 0; i < n; i++) {
		FILE *in;
		int c;

		snprintf(path, sizeof(path), "%s/%s", dir, names[i]->d_name);
		fprintf(f, "%s\n", names[i]->d_name);
		if (names[i]->d_name[0] != '.' &&
		    (in = fopen(path, "rb")) != NULL) {
			while ((c = getc(in)) != EOF)
				fputc(c, f);
			fclose(in);
		}
		free(names[i]);
	}
	free(names);
	cr_assert_eq(fclose(f), 0);
	return out;
}

/*
 * Out of memory while the store replays is out_of_memory, never
 * store_corrupt: an operator told the store is damaged may cut it.  json-c
 * returns NULL with json_tokener_success, or drops a member, when it runs
 * out of memory while parsing; the strict reader tells that from damage.
 */
Test(oom, store_replay_fails_cleanly_at_every_allocation)
{
	struct wr_config cfg = {.runtime_id = "rt-oom", .store = spec};
	struct wr_runtime *rt;
	unsigned long n, refused = 0;
	char *want, *got, *files;

	replay_fixture();
	rt = fx_reopen(true);
	want = capture(rt);
	wr_runtime_close(rt);
	files = store_files();
	for (n = 1; n < MAX_ROUNDS; n++) {
		struct wr_error e;
		bool fired;
		wr_err rc;

		rt = NULL;
		wr_error_clear(&e);
		oom_arm(n, false);
		rc = wr_runtime_open(&cfg, &rt, &e);
		fired = oom_disarm();
		if (rc == WR_OK)
			wr_runtime_close(rt);
		else if (rc != WR_EINTERNAL)
			/* A system call that failed with ENOMEM is reported
			 * as such; never as a damaged store. */
			cr_assert(rc == WR_EUNAVAILABLE &&
			          strstr(e.message, strerror(ENOMEM)) != NULL,
			          "store replay with allocation %lu failing: "
			          "%s (%s: %s)", n, wr_err_name(rc),
			          wr_reason_name(e.reason), e.message);
		else
			check_refused("store replay", n, rc, &e);
		refused += rc != WR_OK;
		/* Nothing cut, nothing rewritten: replaying a sound store
		 * writes nothing, refused or not. */
		got = store_files();
		cr_assert(strcmp(got, files) == 0, "store replay with "
		          "allocation %lu failing changed the files", n);
		free(got);
		/* Refused or not, the store restores the same state. */
		rt = fx_reopen(true);
		got = capture(rt);
		wr_runtime_close(rt);
		cr_assert_str_eq(got, want, "store replay with allocation %lu "
		                 "failing changed the store", n);
		free(got);
		if (!fired)
			break;
	}
	free(want);
	free(files);
	cr_assert_lt(n, MAX_ROUNDS, "store replay never ran without failing");
	cr_log_info("store replay: %lu allocations, %lu refusals", n - 1,
	            refused);
}

/* ---- input reaches the driver only when nothing but the store fails --- */

static atomic_int inputs_seen;

static wr_err
count_start(void *arg, struct wr_runtime *rt, const char *worker_id,
            void **state, struct wr_error *err)
{
	(void)arg, (void)rt, (void)worker_id, (void)err;
	*state = NULL;
	return WR_OK;
}

static wr_err
count_input(void *state, enum wr_input_kind kind, const char *content,
            uint64_t sequence, bool *turn_started, struct wr_error *err)
{
	(void)state, (void)kind, (void)content, (void)sequence, (void)err;
	atomic_fetch_add(&inputs_seen, 1);
	*turn_started = false;
	return WR_OK;
}

static void
count_stop(void *state, bool cancel)
{
	(void)state, (void)cancel;
}

static void
count_release(void *state)
{
	(void)state;
}

static const struct wr_driver counting_driver = {
	"test-counting", count_start, count_input, count_stop, count_release,
	false};

/*
 * For n = 1, 2, ...: the n-th allocation of an input fails, on a worker
 * whose entries are at their initial capacity (the input must grow them).
 * The memory store cannot fail otherwise, so a refused input must never
 * have reached the driver: it would hold an input the Runtime never
 * recorded.
 */
Test(oom, refused_input_never_reached_the_driver)
{
	struct wr_profile prof = {.name = "counting",
	                          .driver = &counting_driver};
	struct wr_config cfg = {.runtime_id = "rt-oom", .profiles = &prof,
	                        .n_profiles = 1};
	struct wr_create_request req = {
		.profile = {.kind = WR_PROFILE_NAMED, .value = "counting"}};
	struct wr_input in = {WR_INPUT_USER, "more"};
	unsigned long n, refused = 0;

	for (n = 1; n < MAX_ROUNDS; n++) {
		struct wr_runtime *rt = NULL;
		struct wr_worker_info *w = NULL;
		struct wr_error e;
		int seen;
		bool fired;
		wr_err rc;

		cr_assert_eq(wr_runtime_open(&cfg, &rt, &e), WR_OK);
		cr_assert_eq(wr_worker_create(rt, &req, &w, &e), WR_OK);
		for (int i = 0; i < FX_ENTRIES; i++)
			cr_assert_eq(wr_worker_input(rt, w->ref.worker_id, &in,
			                             NULL, &e), WR_OK);
		seen = atomic_load(&inputs_seen);
		oom_arm(n, false);
		rc = wr_worker_input(rt, w->ref.worker_id, &in, NULL, &e);
		fired = oom_disarm();
		if (rc != WR_OK) {
			refused++;
			check_refused("input", n, rc, &e);
			cr_assert_eq(atomic_load(&inputs_seen), seen,
			             "input with allocation %lu failing was "
			             "refused after the driver took it", n);
		}
		wr_worker_info_free(w);
		wr_runtime_close(rt);
		if (!fired)
			break;
	}
	cr_assert_lt(n, MAX_ROUNDS, "input never ran without failing");
	cr_assert(refused > 0, "the seam refused nothing: is malloc "
	          "replaced (valgrind)?");
}
