/*
 * test_metrics.c - the library's counters and gauges (wr_runtime_metrics,
 * wr_runtime_worker_event) and the diagnostics pages: each counter moves
 * exactly with what it counts, on the memory and the fs store.  Links
 * src/libwr-core.la for the snapshot seam.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "core/rt.h"
#include "tmpdir.h"

static char base[TEST_TMPDIR_SIZE];
static char spec[TEST_TMPDIR_SIZE + 32];
static struct wr_runtime *rt;
static struct wr_error err;

static void
setup(void)
{
	test_tmpdir_create(base, sizeof(base), "metrics");
	snprintf(spec, sizeof(spec), "fs:%s/store", base);
}

static void
teardown(void)
{
	wr_runtime_close(rt);
	rt = NULL;
	test_tmpdir_remove(base);
}

TestSuite(metrics, .init = setup, .fini = teardown, .timeout = 30);

static void
open_store(const char *store, uint64_t snapshot_bytes)
{
	struct wr_config cfg = {.runtime_id = "rt-m", .store = store,
	                        .snapshot_bytes = snapshot_bytes,
	                        .snapshot_percent = 1};

	cr_assert_eq(wr_runtime_open(&cfg, &rt, &err), WR_OK, "%s",
	             err.message);
}

static void
create(char id[WR_ID_MAX + 1])
{
	struct wr_worker_info *w = NULL;

	cr_assert_eq(wr_worker_create(rt, NULL, &w, &err), WR_OK, "%s",
	             err.message);
	strcpy(id, w->ref.worker_id);
	wr_worker_info_free(w);
}

static void
send_input(const char *id, const char *content)
{
	struct wr_input in = {WR_INPUT_USER, (char *)content};
	struct wr_input_ack ack;

	cr_assert_eq(wr_worker_input(rt, id, &in, &ack, &err), WR_OK, "%s",
	             err.message);
}

static struct wr_metrics
metrics(void)
{
	struct wr_metrics m;

	memset(&m, 0xff, sizeof(m));
	cr_assert_eq(wr_runtime_metrics(rt, &m, &err), WR_OK);
	return m;
}

Test(metrics, a_fresh_runtime_counts_nothing)
{
	struct wr_metrics m;

	open_store(NULL, 0);
	m = metrics();
	cr_assert_str_eq(m.backend, "memory");
	cr_assert_eq(m.status, WR_RUNTIME_RUNNING);
	cr_assert_not(m.store_failed);
	for (int st = 0; st < WR__STATUS_COUNT; st++)
		cr_assert_eq(m.workers[st], 0);
	cr_assert_eq(m.inputs + m.transcript_entries + m.diagnostics +
	             m.store_syncs + m.journal_bytes + m.snapshots +
	             m.children_spawned + m.spawn_failures, 0);
}

Test(metrics, inputs_entries_and_workers_by_status_follow_the_operations)
{
	char a[WR_ID_MAX + 1], b[WR_ID_MAX + 1];
	struct wr_lifecycle_ack ack;
	struct wr_metrics m;

	open_store(NULL, 0);
	create(a);
	create(b);
	send_input(a, "one");
	send_input(a, "two");
	send_input(b, "three");
	cr_assert_eq(wr_worker_stop(rt, b, NULL, &ack, &err), WR_OK);
	m = metrics();
	cr_assert_eq(m.inputs, 3);
	/* the transcript driver records each input as one entry */
	cr_assert_eq(m.transcript_entries, 3);
	cr_assert_eq(m.workers[WR_STATUS_RUNNING], 1);
	cr_assert_eq(m.workers[WR_STATUS_STOPPED], 1);
	cr_assert_eq(m.running_idle + m.running_busy, 1);
}

Test(metrics, the_fs_store_counts_syncs_batches_and_journal_bytes)
{
	char a[WR_ID_MAX + 1];
	struct wr_metrics m0, m;
	uint64_t inbuckets = 0;

	open_store(spec, 0);
	m0 = metrics();
	cr_assert_str_eq(m0.backend, "fs_store");
	create(a);
	send_input(a, "hello");
	m = metrics();
	/* one fdatasync per mutation here (nothing ran concurrently) */
	cr_assert_eq(m.store_syncs - m0.store_syncs, 2);
	cr_assert_gt(m.journal_bytes, m0.journal_bytes + 5);
	for (int b = 0; b < WR_METRICS_BATCH_BUCKETS; b++)
		inbuckets += m.sync_batch[b];
	cr_assert_eq(inbuckets, m.sync_batch_count);
	cr_assert_eq(m.sync_batch_count, m.store_syncs);
	cr_assert_geq(m.sync_batch_sum, m.sync_batch_count);
	cr_assert_not(m.store_failed);
}

Test(metrics, a_snapshot_is_counted_with_its_size_and_duration)
{
	char a[WR_ID_MAX + 1];
	struct wr_metrics m;

	open_store(spec, 1); /* a snapshot after every commit */
	create(a);
	send_input(a, "hello");
	wr__snapshot_wait(rt);
	m = metrics();
	cr_assert_geq(m.snapshots, 1);
	cr_assert_gt(m.snapshot_bytes, 0);
	cr_assert_eq(m.snapshot_failures, 0);
}

static void
seen_event(void *arg, const struct wr_worker_event *ev)
{
	int *seen = arg;

	seen[ev->kind]++;
}

/* One report per event feeds both the counters and on_worker_event (the
 * log lines): neither can miss what the other saw. */
Test(metrics, one_worker_event_is_counted_once_and_handed_to_the_hook)
{
	int seen[WR_WORKER_STDERR + 1] = {0};
	struct wr_config cfg = {.runtime_id = "rt-m",
	                        .on_worker_event = seen_event,
	                        .on_worker_event_arg = seen};
	static const enum wr_worker_event_kind kinds[] = {
		WR_WORKER_SPAWNED, WR_WORKER_SPAWNED, WR_WORKER_EXITED,
		WR_WORKER_SPAWN_FAILED, WR_WORKER_KILLED, WR_WORKER_STDERR,
		WR_WORKER_STDERR, WR_WORKER_STDERR,
	};
	struct wr_worker_event ev = {.worker_id = "w-1", .profile = "p",
	                             .pid = 42, .message = ""};
	struct wr_metrics m;

	cr_assert_eq(wr_runtime_open(&cfg, &rt, &err), WR_OK, "%s",
	             err.message);
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		ev.kind = kinds[i];
		wr_runtime_worker_event(rt, &ev);
	}
	ev.kind = (enum wr_worker_event_kind)99;
	wr_runtime_worker_event(rt, &ev);
	wr_runtime_worker_event(rt, NULL);
	wr_runtime_worker_event(NULL, &ev);
	m = metrics();
	cr_assert_eq(m.children_spawned, 2);
	cr_assert_eq(m.children_exited, 1);
	cr_assert_eq(m.spawn_failures, 1);
	cr_assert_eq(m.kills_after_grace, 1);
	cr_assert_eq(m.worker_stderr_lines, 3);
	cr_assert_eq(m.diagnostics, 0); /* a stderr line is none */
	cr_assert_eq(seen[WR_WORKER_STDERR], 3);
	cr_assert_eq(seen[WR_WORKER_SPAWNED], 2);
	cr_assert_eq(seen[WR_WORKER_EXITED], 1);
	cr_assert_eq(seen[WR_WORKER_SPAWN_FAILED], 1);
	cr_assert_eq(seen[WR_WORKER_KILLED], 1);
}

/* ---- diagnostics pages --------------------------------------------- */

Test(metrics, idempotency_keys_held_and_their_bound_are_gauges)
{
	struct wr_config cfg = {.runtime_id = "rt-m",
	                        .max_idempotency_keys = 3};
	struct wr_idempotency k = {"k1", "POST", "/v1/workers", "{}", 2};
	struct wr_idempotent_result r;
	struct wr_metrics m;

	cr_assert_eq(wr_runtime_open(&cfg, &rt, &err), WR_OK, "%s",
	             err.message);
	m = metrics();
	cr_assert_eq(m.idempotency_keys, 0);
	cr_assert_eq(m.idempotency_keys_max, 3);
	cr_assert_eq(wr_worker_create_keyed(rt, NULL, &k, &r, &err), WR_OK,
	             "%s", err.message);
	wr_idempotent_result_clear(&r);
	k.key = "k2";
	cr_assert_eq(wr_worker_create_keyed(rt, NULL, &k, &r, &err), WR_OK,
	             "%s", err.message);
	wr_idempotent_result_clear(&r);
	cr_assert_eq(wr_worker_create_keyed(rt, NULL, &k, &r, &err), WR_OK,
	             "%s", err.message); /* a replay holds no new key */
	cr_assert(r.replayed);
	wr_idempotent_result_clear(&r);
	m = metrics();
	cr_assert_eq(m.idempotency_keys, 2);
	cr_assert_eq(m.idempotency_keys_max, 3);
}

Test(metrics, diagnostics_page_after_and_limit)
{
	struct wr_diagnostic *v = NULL;
	size_t n = 0;
	bool more = true;

	open_store(NULL, 0);
	for (int i = 1; i <= 5; i++)
		wr_runtime_diagnose(rt, NULL, "d%d", i);
	cr_assert_eq(wr_runtime_diagnostics_page(rt, 1, 2, &v, &n, &more,
	                                         &err), WR_OK);
	cr_assert_eq(n, 2);
	cr_assert_eq(v[0].id, 2);
	cr_assert_str_eq(v[1].message, "d3");
	cr_assert(more);
	free(v);
	cr_assert_eq(wr_runtime_diagnostics_page(rt, 3, 0, &v, &n, &more,
	                                         &err), WR_OK);
	cr_assert_eq(n, 2);
	cr_assert_eq(v[1].id, 5);
	cr_assert_not(more);
	free(v);
	cr_assert_eq(wr_runtime_diagnostics_page(rt, 5, 0, &v, &n, &more,
	                                         &err), WR_OK);
	cr_assert_eq(n, 0);
	cr_assert_null(v);
	cr_assert_not(more);
	cr_assert_eq(metrics().diagnostics, 5);
}

Test(metrics, diagnostics_page_starts_at_the_oldest_kept_and_bounds_limit)
{
	struct wr_diagnostic *v = NULL;
	size_t n = 0;
	bool more = false;

	open_store(NULL, 0);
	for (int i = 1; i <= WR_DIAGNOSTICS_KEPT + 10; i++)
		wr_runtime_diagnose(rt, "w", "d%d", i);
	cr_assert_eq(wr_runtime_diagnostics_page(rt, 0, 1, &v, &n, &more,
	                                         &err), WR_OK);
	cr_assert_eq(n, 1);
	cr_assert_eq(v[0].id, 11);
	cr_assert(more);
	free(v);
	cr_assert_eq(wr_runtime_diagnostics_page(rt, 0, WR_DIAGNOSTICS_KEPT + 1,
	                                         &v, &n, &more, &err),
	             WR_EINVALID_INPUT);
	cr_assert_eq(err.reason, WR_REASON_LIMIT_TOO_LARGE);
	cr_assert_str_eq(err.field, "limit");
}

/* ---- a failing disk ------------------------------------------------- */

static int
failing_fdatasync(int fd)
{
	(void)fd;
	errno = EIO;
	return -1;
}

Test(metrics, a_store_that_cannot_sync_is_reported_failed)
{
	static const struct wr__fs_io io = {.fdatasync = failing_fdatasync};
	struct wr_worker_info *w = NULL;
	struct wr_metrics m0, m;

	open_store(spec, 0);
	m0 = metrics();
	cr_assert_not(m0.store_failed);
	wr__store_fs_set_io(wr__runtime_store(rt), &io);
	cr_assert_eq(wr_worker_create(rt, NULL, &w, &err), WR_EUNAVAILABLE);
	m = metrics();
	cr_assert(m.store_failed, "the store could not even reset");
	cr_assert_eq(m.workers[WR_STATUS_RUNNING], 0);
	cr_assert_eq(m.store_syncs, m0.store_syncs, "a failed sync counts");
}

static ssize_t
failing_pwrite(int fd, const void *buf, size_t n, off_t off)
{
	(void)fd;
	(void)buf;
	(void)n;
	(void)off;
	errno = EIO;
	return -1;
}

/* The fs store's synced file is evidence only (docs/store.md): a write of
 * it that fails fails no mutation; each failure is counted, the first of
 * the run is one diagnostic of the Runtime. */
Test(metrics, a_failed_write_of_the_synced_file_is_counted_and_diagnosed_once)
{
	static const struct wr__fs_io io = {.pwrite = failing_pwrite};
	struct wr_diagnostic *d = NULL;
	char id[WR_ID_MAX + 1];
	struct wr_metrics m0, m;
	size_t n = 0, found = 0;

	open_store(spec, 0);
	m0 = metrics();
	cr_assert_eq(m0.store_synced_failures, 0);
	wr__store_fs_set_io(wr__runtime_store(rt), &io);
	create(id);
	send_input(id, "one");
	send_input(id, "two");
	m = metrics();
	cr_assert_geq(m.store_synced_failures, 3, "one per fdatasync");
	cr_assert_eq(m.diagnostics, m0.diagnostics + 1);
	cr_assert_eq(wr_runtime_diagnostics(rt, &d, &n, &err), WR_OK);
	for (size_t i = 0; i < n; i++)
		if (strstr(d[i].message, "pwrite") != NULL &&
		    strstr(d[i].message, "/synced: Input/output error") != NULL)
			found++;
	free(d);
	cr_assert_eq(found, 1);
}
