/*
 * test_store_runtime.c - a Runtime on the fs store: restore after close,
 * identity, locking, injected write/fdatasync failures for every kind of
 * mutation (refused with runtime_unavailable, state unchanged, reads go
 * on), and snapshot + journal replay.  Links src/libwr-core.la for the
 * wr__ seam.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "store/crc32c.h"
#include "core/rt.h"
#include "store/record.h"
#include "fs_faults.h"
#include "tmpdir.h"

static char base[TEST_TMPDIR_SIZE];
static char dir[TEST_TMPDIR_SIZE + 16];
static char spec[TEST_TMPDIR_SIZE + 32];

static void
setup(void)
{
	test_tmpdir_create(base, sizeof(base), "store-rt");
	snprintf(dir, sizeof(dir), "%s/store", base);
	snprintf(spec, sizeof(spec), "fs:%s", dir);
}

static void
teardown(void)
{
	test_tmpdir_remove(base);
}

TestSuite(store_runtime, .init = setup, .fini = teardown, .timeout = 60);

/* ---- helpers ----------------------------------------------------------- */

static struct wr_runtime *
open_rt(const char *id)
{
	struct wr_config cfg = {.runtime_id = id, .store = spec};
	struct wr_runtime *rt = NULL;
	struct wr_error e;

	cr_assert_eq(wr_runtime_open(&cfg, &rt, &e), WR_OK, "open: %s (%s)",
	             e.message, wr_reason_name(e.reason));
	wr__store_fs_set_io(wr__runtime_store(rt), &test_faulty_io);
	return rt;
}

/* Appends text to a growing heap string. */
static void
cat(char **s, size_t *len, const char *text)
{
	size_t n = strlen(text);

	*s = realloc(*s, *len + n + 2);
	memcpy(*s + *len, text, n);
	(*s)[*len + n] = '\n';
	(*s)[*len + n + 1] = '\0';
	*len += n + 1;
}

/*
 * Everything a client can read, as JSON: the list, every worker's detail
 * and whole transcript, and (with_summary) the summary without its
 * process-local members (started_at, diagnostic_count).
 */
static char *
state(struct wr_runtime *rt, bool with_summary)
{
	struct wr_worker_list l;
	struct wr_error e;
	char *s = NULL, *t;
	size_t len = 0;

	cr_assert_eq(wr_worker_list(rt, NULL, &l, &e), WR_OK, "%s", e.message);
	t = wr_json_encode_worker_list(&l, NULL, NULL);
	cat(&s, &len, t);
	free(t);
	for (size_t i = 0; i < l.count; i++) {
		const char *id = l.items[i]->ref.worker_id;
		struct wr_worker_info *w = NULL;
		uint64_t start = 0;
		bool more = true;

		cr_assert_eq(wr_worker_get(rt, id, &w, &e), WR_OK);
		t = wr_json_encode_worker_detail(w, NULL, NULL);
		cat(&s, &len, t);
		free(t);
		wr_worker_info_free(w);
		for (int pages = 0; more && pages < 1000; pages++) {
			struct wr_transcript_page p;
			cr_assert_eq(wr_worker_transcript(rt, id, start, 100, &p,
			                                  &e),
			             WR_OK, "%s", e.message);
			t = wr_json_encode_transcript_page(&p, NULL, NULL);
			cat(&s, &len, t);
			free(t);
			more = p.has_next;
			start = p.next_start;
			wr_transcript_page_clear(&p);
		}
	}
	wr_worker_list_free(&l);
	if (with_summary) {
		struct wr_runtime_summary sum;
		cr_assert_eq(wr_runtime_summary(rt, &sum, &e), WR_OK);
		sum.diagnostic_count = 0;
		sum.started_at_ms = 0;
		t = wr_json_encode_runtime_summary(&sum, NULL, NULL);
		cat(&s, &len, t);
		free(t);
	}
	return s;
}

static char *
create_ok(struct wr_runtime *rt)
{
	struct wr_worker_info *w = NULL;
	struct wr_error e;
	char *id;

	cr_assert_eq(wr_worker_create(rt, NULL, &w, &e), WR_OK, "create: %s",
	             e.message);
	id = strdup(w->ref.worker_id);
	wr_worker_info_free(w);
	return id;
}

static struct wr_input_ack
input_ok(struct wr_runtime *rt, const char *id, const char *text)
{
	struct wr_input in = {WR_INPUT_USER, (char *)text};
	struct wr_input_ack ack;
	struct wr_error e;

	cr_assert_eq(wr_worker_input(rt, id, &in, &ack, &e), WR_OK,
	             "input: %s", e.message);
	return ack;
}

static bool
has_file_with_prefix(const char *prefix, const char *not_this)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	bool found = false;

	cr_assert_not_null(d);
	while ((de = readdir(d)) != NULL)
		if (strncmp(de->d_name, prefix, strlen(prefix)) == 0 &&
		    (not_this == NULL || strcmp(de->d_name, not_this) != 0))
			found = true;
	closedir(d);
	return found;
}

/* ---- restore ----------------------------------------------------------- */

Test(store_runtime, close_and_reopen_restores_workers_transcripts_and_ids)
{
	struct wr_runtime *rt = open_rt("rt-a");
	struct wr_runtime_summary sum;
	struct wr_lifecycle_ack lack;
	struct wr_input_ack ack;
	struct wr_error e;
	char *a, *b, *c, *before, *after, *d;
	uint64_t last_event;

	a = create_ok(rt);
	b = create_ok(rt);
	c = create_ok(rt);
	for (int i = 0; i < 20; i++) {
		char text[64];
		snprintf(text, sizeof(text), "input %d: \"ünïcode\" \\ ✓", i);
		input_ok(rt, a, text);
	}
	input_ok(rt, b, "one for b");
	cr_assert_eq(wr_worker_stop(rt, b, "done with b", &lack, &e), WR_OK);
	cr_assert_eq(wr_worker_cancel(rt, c, NULL, &lack, &e), WR_OK);
	last_event = lack.event_id;
	cr_assert_eq(wr_runtime_summary(rt, &sum, &e), WR_OK);
	cr_assert_str_eq(sum.backend, "fs_store");
	before = state(rt, true);
	wr_runtime_close(rt);

	rt = open_rt("rt-a");
	after = state(rt, true);
	cr_assert_str_eq(after, before);
	cr_assert_eq(wr_runtime_summary(rt, &sum, &e), WR_OK);
	cr_assert_eq(sum.worker_count, 3);
	cr_assert_eq(sum.stopped_worker_count, 1);
	cr_assert_eq(sum.cancelled_worker_count, 1);
	/* numbering continues where it stopped */
	ack = input_ok(rt, a, "after restart");
	cr_assert_eq(ack.transcript_sequence, 21);
	cr_assert_eq(ack.event_id, last_event + 1);
	d = create_ok(rt);
	cr_assert(strcmp(d, a) && strcmp(d, b) && strcmp(d, c),
	          "new worker id %s reuses an old one", d);
	free(after);
	after = state(rt, true);
	wr_runtime_close(rt);

	/* and that is durable too; no runtime id given: the stored one */
	rt = open_rt(NULL);
	cr_assert_str_eq(wr_runtime_id(rt), "rt-a");
	free(before);
	before = state(rt, true);
	cr_assert_str_eq(before, after);
	wr_runtime_close(rt);
	free(before);
	free(after);
	free(a);
	free(b);
	free(c);
	free(d);
}

Test(store_runtime, many_deletes_replay_to_the_same_workers_in_order,
     .description = "a journal whose deletes leave holes in the "
                    "creation-order array and close it up replays to the "
                    "same list, and the next worker still comes last")
{
	struct wr_runtime *rt = open_rt("rt-del");
	struct wr_worker_list l;
	struct wr_error e;
	char *ids[200], *before, *after, *d;

	for (int i = 0; i < 200; i++) {
		ids[i] = create_ok(rt);
		cr_assert_eq(wr_worker_cancel(rt, ids[i], NULL, NULL, &e), WR_OK);
	}
	for (int i = 0; i < 200; i++) /* the oldest, a run, the newest */
		if ((i < 120 && i % 4 != 0) || (i >= 150 && i < 170) || i >= 197)
			cr_assert_eq(wr_worker_delete(rt, ids[i], NULL, &e), WR_OK,
			             "delete %d: %s", i, e.message);
	before = state(rt, true);
	wr_runtime_close(rt);

	rt = open_rt("rt-del");
	after = state(rt, true);
	cr_assert_str_eq(after, before);
	d = create_ok(rt);
	cr_assert_eq(wr_worker_list(rt, NULL, &l, &e), WR_OK);
	cr_assert_eq(l.count, 30 + 30 + 27 + 1);
	cr_assert_str_eq(l.items[0]->ref.worker_id, ids[0]);
	cr_assert_str_eq(l.items[l.count - 2]->ref.worker_id, ids[196]);
	cr_assert_str_eq(l.items[l.count - 1]->ref.worker_id, d);
	wr_worker_list_free(&l);
	wr_runtime_close(rt);
	free(before);
	free(after);
	free(d);
	for (int i = 0; i < 200; i++)
		free(ids[i]);
}

Test(store_runtime, a_different_runtime_id_is_refused)
{
	struct wr_config cfg = {.runtime_id = "rt-b", .store = spec};
	struct wr_runtime *rt = open_rt("rt-a"), *other = NULL;
	struct wr_error e;
	char *id = create_ok(rt);

	wr_runtime_close(rt);
	cr_assert_eq(wr_runtime_open(&cfg, &other, &e), WR_EINVALID_INPUT);
	cr_assert_null(other);
	cr_assert_str_eq(wr_reason_name(e.reason), "runtime_id_mismatch");
	cr_assert(strstr(e.message, "rt-a") != NULL, "%s", e.message);
	/* the refused open changed nothing */
	rt = open_rt("rt-a");
	{
		struct wr_worker_info *w = NULL;
		cr_assert_eq(wr_worker_get(rt, id, &w, &e), WR_OK);
		wr_worker_info_free(w);
	}
	wr_runtime_close(rt);
	free(id);
}

Test(store_runtime, a_second_runtime_on_the_same_store_is_refused)
{
	struct wr_config cfg = {.runtime_id = "rt-a", .store = spec};
	struct wr_runtime *rt = open_rt("rt-a"), *other = NULL;
	struct wr_error e;

	cr_assert_eq(wr_runtime_open(&cfg, &other, &e), WR_EUNAVAILABLE);
	cr_assert_null(other);
	cr_assert_str_eq(wr_reason_name(e.reason), "store_locked");
	wr_runtime_close(rt);
}

Test(store_runtime, torn_final_record_is_dropped_with_a_diagnostic)
{
	struct wr_runtime *rt = open_rt("rt-a");
	struct wr_diagnostic *diags = NULL;
	struct wr_error e;
	char *id = create_ok(rt), *before, *after;
	size_t n = 0;
	bool found = false;
	char path[sizeof(dir) + 64];
	int fd;

	input_ok(rt, id, "kept");
	before = state(rt, true);
	wr_runtime_close(rt);
	/* a crash in the middle of writing a record: its frame says 200
	 * bytes, only 3 made it */
	snprintf(path, sizeof(path), "%s/journal-00000000000000000001", dir);
	fd = open(path, O_WRONLY | O_APPEND);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, "\xc8\0\0\0\1\2\3\4{\"k", 11), 11);
	close(fd);

	rt = open_rt("rt-a");
	after = state(rt, true);
	cr_assert_str_eq(after, before);
	cr_assert_eq(wr_runtime_diagnostics(rt, &diags, &n, &e), WR_OK);
	for (size_t i = 0; i < n; i++)
		if (strstr(diags[i].message, "torn") != NULL &&
		    strstr(diags[i].message, "journal-00000000000000000001"))
			found = true;
	cr_assert(found, "no diagnostic about the torn record");
	free(diags);
	input_ok(rt, id, "the store goes on");
	wr_runtime_close(rt);
	free(before);
	free(after);
	free(id);
}

/* ---- injected failures -------------------------------------------------- */

enum mutation { M_CREATE, M_INPUT, M_STOP, M_CANCEL, M_DELETE,
                M_RUNTIME_STOP };
static const char *const mutation_names[] = {"create", "input", "stop",
                                             "cancel", "delete",
                                             "runtime stop"};

static wr_err
mutate(struct wr_runtime *rt, enum mutation m, const char *id,
       struct wr_error *e)
{
	struct wr_input in = {WR_INPUT_USER, "a second input"};
	struct wr_worker_info *w = NULL;
	struct wr_input_ack ack;
	struct wr_lifecycle_ack lack;
	wr_err rc = WR_EINTERNAL;

	switch (m) {
	case M_CREATE:
		rc = wr_worker_create(rt, NULL, &w, e);
		wr_worker_info_free(w);
		break;
	case M_INPUT:
		rc = wr_worker_input(rt, id, &in, &ack, e);
		break;
	case M_STOP:
		rc = wr_worker_stop(rt, id, "stop it", &lack, e);
		break;
	case M_CANCEL:
		rc = wr_worker_cancel(rt, id, "cancel it", &lack, e);
		break;
	case M_DELETE:
		rc = wr_worker_delete(rt, id, &lack, e);
		break;
	case M_RUNTIME_STOP:
		rc = wr_runtime_stop(rt, e);
		break;
	}
	return rc;
}

/*
 * For one mutation: the store fails (write or fdatasync, errno err_no;
 * once: only the next fdatasync, so the Runtime's own reset succeeds);
 * the mutation is refused with runtime_unavailable and nothing a client
 * can read changes; once the disk is back the same mutation succeeds, and
 * after a restart exactly the successful one is there.
 */
static void
fail_once(enum mutation m, bool on_sync, int err_no, bool once)
{
	const char *what = mutation_names[m];
	struct wr_runtime *rt;
	struct wr_error e;
	char *id, *s0, *s1, *s2, *s3;
	wr_err rc;

	teardown();
	setup();
	rt = open_rt("rt-a");
	id = create_ok(rt);
	input_ok(rt, id, "first input");
	if (m == M_DELETE) /* only an ended worker can be deleted */
		cr_assert_eq(wr_worker_stop(rt, id, NULL, NULL, &e), WR_OK);
	s0 = state(rt, true);

	if (on_sync) /* once: the next fdatasync fails, later ones work */
		test_fault_sync(err_no, once ? 1 : 0);
	else
		test_fault_write(err_no, 0);
	rc = mutate(rt, m, id, &e);
	cr_assert_eq(rc, WR_EUNAVAILABLE, "%s: %s", what, wr_err_name(rc));
	/* A failed sync whose reset failed too leaves the outcome unknown
	 * (the record may still be in the journal): store_reset_failed. */
	cr_assert_str_eq(wr_reason_name(e.reason),
	                 !on_sync ? "store_write_failed"
	                 : once ? "store_sync_failed" : "store_reset_failed",
	                 "%s: reason %s (%s)", what,
	                 wr_reason_name(e.reason), e.message);
	cr_assert(strstr(e.message, strerror(err_no)) != NULL, "%s: %s", what,
	          e.message);
	/* reads go on and see exactly the state before */
	s1 = state(rt, true);
	cr_assert_str_eq(s1, s0, "%s changed the state", what);

	test_fault_sync(0, 0);
	test_fault_write(0, 0);
	rc = mutate(rt, m, id, &e);
	/* The store stayed failed (on_sync && !once): the commit thread
	 * retries the reset, without the lock, and a mutation meanwhile is
	 * refused store_failed, changing nothing. */
	for (int i = 0; i < 2000 && on_sync && !once && rc != WR_OK; i++) {
		cr_assert_str_eq(wr_reason_name(e.reason), "store_failed",
		                 "%s: %s", what, e.message);
		usleep(10000);
		rc = mutate(rt, m, id, &e);
	}
	cr_assert_eq(rc, WR_OK, "%s after recovery: %s", what, e.message);
	s2 = state(rt, false);
	cr_assert_str_neq(s2, s0, "%s did nothing", what);
	wr_runtime_close(rt);

	rt = open_rt("rt-a");
	s3 = state(rt, false);
	cr_assert_str_eq(s3, s2, "%s: restart differs", what);
	wr_runtime_close(rt);
	free(s0);
	free(s1);
	free(s2);
	free(s3);
	free(id);
}

Test(store_runtime, write_eio_refuses_every_mutation_with_nothing_changed)
{
	for (int m = M_CREATE; m <= M_RUNTIME_STOP; m++)
		fail_once((enum mutation)m, false, EIO, false);
}

Test(store_runtime, write_enospc_refuses_every_mutation_with_nothing_changed)
{
	for (int m = M_CREATE; m <= M_RUNTIME_STOP; m++)
		fail_once((enum mutation)m, false, ENOSPC, false);
}

Test(store_runtime, fdatasync_eio_refuses_every_mutation_with_nothing_changed)
{
	for (int m = M_CREATE; m <= M_RUNTIME_STOP; m++)
		fail_once((enum mutation)m, true, EIO, true);
}

Test(store_runtime, fdatasync_enospc_refuses_every_mutation_with_nothing_changed)
{
	for (int m = M_CREATE; m <= M_RUNTIME_STOP; m++)
		fail_once((enum mutation)m, true, ENOSPC, true);
}

/* The disk stays failed for a while (the Runtime's reset right after the
 * failed sync fails too), then recovers: the Runtime must become usable
 * again without a restart. */
Test(store_runtime, runtime_recovers_when_the_disk_comes_back_after_a_failed_reset)
{
	for (int m = M_CREATE; m <= M_RUNTIME_STOP; m++)
		fail_once((enum mutation)m, true, EIO, false);
}

/* ---- snapshots --------------------------------------------------------- */

Test(store_runtime, snapshots_and_journal_replay_to_the_same_state)
{
	struct wr_runtime *rt = open_rt("rt-a");
	struct wr_lifecycle_ack lack;
	struct wr_input_ack ack;
	struct wr_error e;
	char *ids[4], *before, *after;

	wr__store_fs_set_snapshot_bytes(wr__runtime_store(rt), 2048);
	for (int i = 0; i < 4; i++)
		ids[i] = create_ok(rt);
	for (int round = 0; round < 30; round++) {
		for (int i = 0; i < 4; i++) {
			char text[80];
			snprintf(text, sizeof(text), "round %d for worker %d",
			         round, i);
			if (i == 1 && round == 10)
				cr_assert_eq(wr_worker_stop(rt, ids[1], "enough",
				                            &lack, &e),
				             WR_OK);
			if (i == 2 && round == 20)
				cr_assert_eq(wr_worker_cancel(rt, ids[2], NULL,
				                              &lack, &e),
				             WR_OK);
			if ((i == 1 && round >= 10) || (i == 2 && round >= 20))
				continue;
			input_ok(rt, ids[i], text);
		}
	}
	wr__snapshot_wait(rt); /* snapshots are written in the background */
	cr_assert(has_file_with_prefix("snapshot-", NULL),
	          "no snapshot was taken");
	cr_assert(!has_file_with_prefix("journal-00000000000000000001", NULL),
	          "the first journal was not replaced");
	before = state(rt, true);
	wr_runtime_close(rt);

	rt = open_rt("rt-a");
	after = state(rt, true);
	cr_assert_str_eq(after, before);
	ack = input_ok(rt, ids[0], "after the restart");
	cr_assert_eq(ack.transcript_sequence, 31);
	wr_runtime_close(rt);
	free(before);
	free(after);
	for (int i = 0; i < 4; i++)
		free(ids[i]);
}

/* ---- deletes ------------------------------------------------------------ */

Test(store_runtime, a_deleted_worker_stays_deleted_after_restart_and_snapshot)
{
	struct wr_runtime *rt = open_rt("rt-a");
	struct wr_runtime_summary sum;
	struct wr_worker_info *w = NULL;
	struct wr_lifecycle_ack ack;
	struct wr_error e;
	char *gone = create_ok(rt), *kept = create_ok(rt), *before, *after;

	input_ok(rt, gone, "soon gone");
	cr_assert_eq(wr_worker_cancel(rt, gone, NULL, &ack, &e), WR_OK);
	cr_assert_eq(wr_worker_delete(rt, gone, &ack, &e), WR_OK, "%s",
	             e.message);
	before = state(rt, true);
	wr_runtime_close(rt);

	/* From the journal. */
	rt = open_rt("rt-a");
	after = state(rt, true);
	cr_assert_str_eq(after, before);
	free(after);
	cr_assert_eq(wr_worker_get(rt, gone, &w, &e), WR_EUNKNOWN_WORKER);
	cr_assert_eq(wr_worker_delete(rt, gone, &ack, &e), WR_EUNKNOWN_WORKER);
	cr_assert_eq(wr_runtime_summary(rt, &sum, &e), WR_OK);
	cr_assert_eq(sum.deleted_worker_count, 1);
	cr_assert_eq(sum.worker_count, 1);

	/* From a snapshot: the count rides in its meta record. */
	wr__store_fs_set_snapshot_bytes(wr__runtime_store(rt), 512);
	for (int i = 0; i < 20; i++)
		input_ok(rt, kept, "enough bytes for a snapshot to be due");
	wr__snapshot_wait(rt); /* snapshots are written in the background */
	cr_assert(has_file_with_prefix("snapshot-", NULL),
	          "no snapshot was taken");
	before = state(rt, true);
	wr_runtime_close(rt);
	rt = open_rt("rt-a");
	after = state(rt, true);
	cr_assert_str_eq(after, before);
	cr_assert_eq(wr_runtime_summary(rt, &sum, &e), WR_OK);
	cr_assert_eq(sum.deleted_worker_count, 1);
	cr_assert_eq(wr_worker_get(rt, gone, &w, &e), WR_EUNKNOWN_WORKER);
	wr_runtime_close(rt);
	free(before);
	free(after);
	free(gone);
	free(kept);
}

/* ---- a failed sync next to a durable one ------------------------------ */

/* Submits one user input the way wr_worker_input does; write lock held. */
static struct pending *
submit_input(struct wr_runtime *rt, const char *id, const char *text)
{
	struct worker *w = wr__find_worker(rt, id);
	struct pending *p = wr__pending_new(WR__REC_TRANSCRIPT);

	cr_assert_not_null(w);
	p->rec.at_ms = wr__now_ms();
	p->rec.event_id = wr__next_event(rt);
	p->rec.role = WR_ROLE_USER;
	p->rec.sequence = w->p_len + 1;
	p->rec.content = strdup(text);
	strcpy(p->rec.worker_id, id);
	cr_assert_eq(wr__submit(rt, p, NULL), WR_OK);
	return p;
}

/*
 * lsn 1 became durable but its owner has not applied it yet when the sync
 * of lsn 2 fails and lsn 2's owner discards the queue: lsn 1 must be
 * applied, not discarded, or memory and disk disagree (and the next input
 * would reuse its sequence, so the store would no longer replay).
 */
Test(store_runtime, failed_sync_keeps_records_already_durable)
{
	struct wr_runtime *rt = open_rt("rt-1");
	struct wr__store *st = wr__runtime_store(rt);
	struct wr_worker_info *w;
	struct pending *p1, *p2;
	struct wr_transcript_page page;
	struct wr_input in = {WR_INPUT_USER, "third"};
	struct wr_input_ack ack;
	char id[WR_ID_MAX + 1];

	cr_assert_eq(wr_worker_create(rt, NULL, &w, NULL), WR_OK);
	strcpy(id, w->ref.worker_id);
	wr_worker_info_free(w);

	pthread_rwlock_wrlock(&rt->lock);
	p1 = submit_input(rt, id, "first");
	pthread_rwlock_unlock(&rt->lock);
	cr_assert_eq(st->ops->sync(st, p1->lsn, NULL), WR_OK,
	             "p1 is durable; its owner has not come back yet");
	pthread_rwlock_wrlock(&rt->lock);
	p2 = submit_input(rt, id, "second");
	pthread_rwlock_unlock(&rt->lock);
	test_fault_sync(EIO, 1); /* the next fdatasync fails */
	cr_assert_eq(wr__await(rt, &p2, 1, NULL), WR_EUNAVAILABLE);
	cr_assert(p1->done);
	cr_assert_eq(p1->result, WR_OK, "the durable record was applied");
	cr_assert_eq(wr__await(rt, &p1, 1, NULL), WR_OK);
	wr__pending_free(p1);
	wr__pending_free(p2);

	cr_assert_eq(wr_worker_input(rt, id, &in, &ack, NULL), WR_OK);
	cr_assert_eq(ack.transcript_sequence, 2);
	wr_runtime_close(rt);

	rt = open_rt("rt-1");
	cr_assert_eq(wr_worker_transcript(rt, id, 0, 10, &page, NULL), WR_OK);
	cr_assert_eq(page.count, 2);
	cr_assert_str_eq(page.items[0].content, "first");
	cr_assert_str_eq(page.items[1].content, "third");
	wr_transcript_page_clear(&page);
	wr_runtime_close(rt);
}

/* ---- restore checks what it reads like a live write --------------------- */

#define J1_NAME "journal-00000000000000000001"

/* Encodes rec, frames it with a correct checksum (as a person or a bug
 * with the format in hand would) and appends it to the first journal.
 * Returns the offset the frame starts at. */
static off_t
append_record(const struct wr__record *rec)
{
	char path[sizeof(dir) + 64];
	unsigned char h[8];
	size_t len = 0;
	char *text = wr__record_encode(rec, &len);
	uint32_t crc;
	off_t off;
	int fd;

	cr_assert_not_null(text, "encode: %s", strerror(errno));
	crc = wr__crc32c(0, text, len);
	for (int i = 0; i < 4; i++) {
		h[i] = (unsigned char)((uint32_t)len >> (8 * i));
		h[4 + i] = (unsigned char)(crc >> (8 * i));
	}
	snprintf(path, sizeof(path), "%s/%s", dir, J1_NAME);
	fd = open(path, O_WRONLY | O_APPEND);
	cr_assert_geq(fd, 0);
	off = lseek(fd, 0, SEEK_END);
	cr_assert_eq(write(fd, h, 8), 8);
	cr_assert_eq(write(fd, text, len), (ssize_t)len);
	close(fd);
	free(text);
	return off;
}

/* A store holding one worker with one input; *last gets its event id. */
static char *
fresh_store(uint64_t *last)
{
	struct wr_runtime *rt;
	char *id;

	if (access(dir, F_OK) == 0)
		test_tmpdir_remove(dir);
	rt = open_rt("rt-a");
	id = create_ok(rt);
	*last = input_ok(rt, id, "hello").event_id;
	wr_runtime_close(rt);
	return id;
}

/* The bad record of case i for worker id (last: its last event id). */
static const char *
bad_record(int i, const char *id, uint64_t last, struct wr__record *r,
           struct wr_worker_info **info)
{
	static char long_reason[1100];
	struct wr_runtime *rt;
	struct wr_error e;

	memset(r, 0, sizeof(*r));
	r->at_ms = wr__now_ms();
	r->event_id = last + 1;
	snprintf(r->worker_id, sizeof(r->worker_id), "%s", id);
	r->kind = WR__REC_TRANSCRIPT;
	r->role = WR_ROLE_USER;
	r->sequence = 2;
	switch (i) {
	case 0:
	case 1:
	case 2:
	case 10:
	case 22:
	case 23:
	case 27:
		rt = open_rt("rt-a");
		cr_assert_eq(wr_worker_get(rt, id, info, &e), WR_OK);
		wr_runtime_close(rt);
		(*info)->transcript_len = 0;
		(*info)->last_event_id = last + 1;
		snprintf(r->worker_id, sizeof(r->worker_id), "w-second");
		snprintf((*info)->ref.worker_id, sizeof((*info)->ref.worker_id),
		         "w-second");
		r->kind = WR__REC_WORKER_CREATED;
		r->worker = *info;
		if (i == 0) {
			snprintf((*info)->ref.runtime_id,
			         sizeof((*info)->ref.runtime_id), "rt-other");
			return "a worker of another runtime";
		}
		if (i == 1) {
			(*info)->last_event_id = last + 1000;
			return "a worker whose last_event_id is above its event";
		}
		if (i == 22) {
			(*info)->status = WR_STATUS_STOPPED;
			(*info)->run_state = WR_RUN_NONE;
			return "a journal creation of a stopped worker";
		}
		if (i == 23) {
			(*info)->created_at_ms = -5;
			return "a worker created before 1970";
}

		if (i == 27) { /* the id's creation order is not its event */
			snprintf(r->worker_id, sizeof(r->worker_id),
			         "w-%014llx-0badf00d",
			         (unsigned long long)last + 2);
			snprintf((*info)->ref.worker_id,
			         sizeof((*info)->ref.worker_id), "%s",
			         r->worker_id);
			return "a worker whose id's creation order is not its "
			       "creation event id";
		}
		if (i == 10) { /* as a snapshot stores it: no event of its own */
			r->event_id = 0;
			(*info)->last_event_id = last + 1;
			return "a snapshot-form worker above the last event id";
		}
		snprintf((*info)->ref.worker_id, sizeof((*info)->ref.worker_id),
		         "w-third");
		return "a worker stored under another worker's id";
	case 3:
		r->kind = WR__REC_WORKER_STATE;
		r->status = WR_STATUS_RUNNING;
		r->run_state = WR_RUN_IDLE;
		r->event_id = last + 1000;
		return "a worker state above the runtime's last event id";
	case 4:
		r->sequence = 3;
		r->content = "gap";
		return "a transcript sequence with a gap";
	case 5:
		r->event_id = 1;
		r->content = "backwards";
		return "a transcript event id going backwards";
	case 6:
		r->content = "not \xff utf-8";
		return "transcript text that is not UTF-8";
	case 7:
		r->content = "";
		return "empty input content";
	case 8:
		memset(long_reason, 'x', 1025);
		r->kind = WR__REC_WORKER_STATUS;
		r->status = WR_STATUS_STOPPED;
		r->reason = long_reason;
		return "a stop reason above 1024 bytes";
	case 9:
		r->kind = WR__REC_WORKER_STATE;
		r->status = WR_STATUS_STOPPED;
		r->run_state = WR_RUN_BUSY;
		r->event_id = last;
		return "a stopped worker that is busy";
	case 11:
		r->event_id = UINT64_MAX;
		r->content = "wraps";
		return "a transcript event id at UINT64_MAX (next would wrap)";
	case 12:
		r->kind = WR__REC_TURN_END;
		r->event_id = WR_MAX_EVENT_ID + 1;
		return "a turn end above the largest event id";
	case 13:
		r->content = "before 1970";
		r->at_ms = -1;
		return "a negative at_ms";
	case 14:
		r->content = "after 9999";
		r->at_ms = WR__TIME_MAX_MS + 1;
		return "an at_ms after 9999-12-31T23:59:59.999Z";
	case 15:
		r->kind = WR__REC_TURN_END;
		r->event_id = 0; /* as wr_worker_turn_end writes it */
		return "a turn end on an idle worker";
	case 16:
		r->kind = WR__REC_RUNTIME_STATUS;
		r->runtime_status = WR_RUNTIME_RUNNING;
		r->event_id = 0;
		return "a runtime_status running (never journaled)";
	case 17:
		r->kind = WR__REC_RUNTIME_STATUS;
		r->runtime_status = WR_RUNTIME_STOPPED;
		r->event_id = 0;
		return "a runtime stopped while a worker runs";
	case 18:
		r->kind = WR__REC_WORKER_STATUS;
		r->status = WR_STATUS_RUNNING;
		return "a worker_status that does not end the worker";
	case 19:
		r->kind = WR__REC_WORKER_STATUS;
		r->status = WR_STATUS_STOPPED;
		r->content = "only failures carry text";
		return "failure text on a stopped worker";
	case 20:
		r->kind = WR__REC_WORKER_STATUS;
		r->status = WR_STATUS_STOPPED;
		append_record(r); /* valid: the worker ends */
		r->event_id = last + 2;
		return "a worker that ended ends again";
	case 21:
		r->role = WR_ROLE_WORKER;
		r->content = "output";
		r->turn_started = true;
		return "a worker entry that starts a turn";
	case 24:
		r->content = "first turn";
		r->turn_started = true;
		append_record(r); /* valid: the worker becomes busy */
		r->sequence = 3;
		r->event_id = last + 2;
		r->content = "second turn";
		return "a turn started on a busy worker";
	case 25:
		r->kind = WR__REC_WORKER_DELETED;
		return "a delete of a running worker";
	case 26:
		r->kind = WR__REC_WORKER_DELETED;
		snprintf(r->worker_id, sizeof(r->worker_id), "w-nobody");
		return "a delete of an unknown worker";
	}
	return NULL;
}

Test(store_runtime, restore_refuses_what_a_live_write_refuses_naming_file_and_offset)
{
	struct wr_config cfg = {.runtime_id = "rt-a", .store = spec};
	const char *what;
	char path[sizeof(dir) + 64], want[64];

	snprintf(path, sizeof(path), "%s/%s", dir, J1_NAME);
	for (int i = 0;; i++) {
		struct wr_worker_info *info = NULL;
		struct wr_runtime *rt = NULL;
		struct wr__record r;
		struct wr_error e;
		struct stat before, after;
		uint64_t last;
		char *id = fresh_store(&last);
		off_t off;

		if ((what = bad_record(i, id, last, &r, &info)) == NULL) {
			free(id);
			break;
		}
		off = append_record(&r);
		wr_worker_info_free(info);
		cr_assert_eq(stat(path, &before), 0);
		cr_expect_eq(wr_runtime_open(&cfg, &rt, &e), WR_EUNAVAILABLE,
		             "%s: the store opened", what);
		if (rt != NULL) {
			wr_runtime_close(rt);
			free(id);
			continue;
		}
		cr_expect_str_eq(wr_reason_name(e.reason), "store_corrupt", "%s", what);
		snprintf(want, sizeof(want), "at byte offset %lld",
		         (long long)off);
		cr_expect(strstr(e.message, path) != NULL &&
		                  strstr(e.message, want) != NULL,
		          "%s: '%s' lacks the file or '%s'", what, e.message,
		          want);
		cr_assert_eq(stat(path, &after), 0);
		cr_expect_eq(after.st_size, before.st_size,
		             "%s: a refused store is not modified", what);
		free(id);
	}
}

Test(store_runtime, restore_accepts_a_record_a_live_write_could_have_made)
{
	struct wr_runtime *rt;
	struct wr__record r = {.kind = WR__REC_TRANSCRIPT};
	struct wr_input_ack ack;
	uint64_t last;
	char *id = fresh_store(&last);

	snprintf(r.worker_id, sizeof(r.worker_id), "%s", id);
	r.role = WR_ROLE_WORKER;
	r.sequence = 2;
	r.content = "appended by hand, by the rules";
	r.event_id = last + 1;
	r.at_ms = wr__now_ms();
	append_record(&r);
	rt = open_rt("rt-a");
	ack = input_ok(rt, id, "next");
	cr_assert_eq(ack.transcript_sequence, 3);
	cr_assert_eq(ack.event_id, last + 2, "event ids go on from the record");
	wr_runtime_close(rt);
	free(id);
}

/* ---- a driver whose every input starts a turn ------------------------- */

static wr_err
turn_start(void *arg, struct wr_runtime *rt, const char *worker_id,
           void **state, struct wr_error *err)
{
	(void)arg, (void)rt, (void)worker_id, (void)err;
	*state = NULL;
	return WR_OK;
}

static wr_err
turn_input(void *state, enum wr_input_kind kind, const char *content,
           uint64_t sequence, bool *turn_started, struct wr_error *err)
{
	(void)state, (void)kind, (void)content, (void)sequence, (void)err;
	*turn_started = true;
	return WR_OK;
}

static void
turn_stop(void *state, bool cancel)
{
	(void)state, (void)cancel;
}

static void
turn_release(void *state)
{
	(void)state;
}

static const struct wr_driver turn_driver = {"test-turns", turn_start,
                                             turn_input, turn_stop,
                                             turn_release, false};

/* The rules refusing records no live write makes (turn ends without a
 * turn, ends of ended workers, "stopped" with workers running, ...) accept
 * every record live writes do make: turns, a failure, a stop, restarts. */
Test(store_runtime, restore_accepts_turns_failures_and_stops_as_live_writes_make_them)
{
	struct wr_profile prof = {.name = "turns", .driver = &turn_driver};
	struct wr_config cfg = {.runtime_id = "rt-a", .store = spec,
	                        .profiles = &prof, .n_profiles = 1};
	struct wr_create_request req = {
		.profile = {.kind = WR_PROFILE_NAMED, .value = "turns"}};
	struct wr_worker_info *w = NULL;
	struct wr_runtime *rt = NULL;
	char *a, *b, *c, *before, *after;
	struct wr_error e;

	for (int round = 0; round < 2; round++) {
		cr_assert_eq(wr_runtime_open(&cfg, &rt, &e), WR_OK,
		             "round %d: %s", round, e.message);
		cr_assert_eq(wr_worker_create(rt, &req, &w, &e), WR_OK, "%s",
		             e.message);
		a = strdup(w->ref.worker_id);
		wr_worker_info_free(w);
		cr_assert_eq(wr_worker_create(rt, &req, &w, &e), WR_OK);
		b = strdup(w->ref.worker_id);
		wr_worker_info_free(w);
		c = create_ok(rt); /* transcript: never busy */
		input_ok(rt, a, "turn one");
		cr_assert_eq(wr_worker_turn_end(rt, a, &e), WR_OK);
		input_ok(rt, a, "turn two"); /* left busy */
		input_ok(rt, b, "turn");
		cr_assert_eq(wr_worker_fail(rt, b, "it broke", &e), WR_OK);
		input_ok(rt, c, "plain");
		if (round == 1)
			cr_assert_eq(wr_runtime_stop(rt, &e), WR_OK, "%s",
			             e.message);
		before = state(rt, false);
		wr_runtime_close(rt);
		rt = NULL;
		cr_assert_eq(wr_runtime_open(&cfg, &rt, &e), WR_OK,
		             "round %d: reopen refused: %s", round, e.message);
		after = state(rt, false);
		if (round == 1)
			cr_assert_str_eq(after, before, "a stopped Runtime "
			                 "restores as it was");
		wr_runtime_close(rt);
		free(before);
		free(after);
		free(a);
		free(b);
		free(c);
	}
}

/* ---- transcripts on disk ------------------------------------------------ */

#define JOURNAL1 "journal-00000000000000000001"

/* The transcript page of id from start (limit 256); WR_OK or the error. */
static wr_err
page(struct wr_runtime *rt, const char *id, uint64_t start,
     struct wr_transcript_page *p, struct wr_error *e)
{
	memset(p, 0, sizeof(*p));
	return wr_worker_transcript(rt, id, start, 256, p, e);
}

/*
 * Finds the record frame of file name in the store whose payload holds
 * `from`, replaces it by `to` (same length) and, if fix_crc, recomputes
 * the frame's checksum - a change a Runtime that kept contents in RAM
 * would never see.  Returns the frame's byte offset.
 */
static long
rewrite_record(const char *name, const char *from, const char *to,
               bool fix_crc)
{
	char path[sizeof(dir) + 64];
	unsigned char *buf;
	long size, off = 32;
	FILE *f;

	cr_assert_eq(strlen(from), strlen(to));
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	cr_assert_not_null(f = fopen(path, "r+b"), "%s", path);
	fseek(f, 0, SEEK_END);
	size = ftell(f);
	cr_assert_not_null(buf = malloc((size_t)size));
	rewind(f);
	cr_assert_eq(fread(buf, 1, (size_t)size, f), (size_t)size);
	while (off + 8 <= size) {
		uint32_t len = (uint32_t)buf[off] | (uint32_t)buf[off + 1] << 8 |
		               (uint32_t)buf[off + 2] << 16 |
		               (uint32_t)buf[off + 3] << 24;
		unsigned char *pl = buf + off + 8, *hit;

		hit = memmem(pl, len, from, strlen(from));
		if (hit != NULL) {
			memcpy(hit, to, strlen(to));
			if (fix_crc) {
				uint32_t crc = wr__crc32c(0, pl, len);
				for (int i = 0; i < 4; i++)
					buf[off + 4 + i] = (unsigned char)(crc >> (8 * i));
			}
			fseek(f, off, SEEK_SET);
			cr_assert_eq(fwrite(buf + off, 1, 8 + len, f), 8 + len);
			fclose(f);
			free(buf);
			return off;
		}
		off += 8 + (long)len;
	}
	cr_assert_fail("no record of %s holds \"%s\"", name, from);
	return -1;
}

Test(store_runtime, transcript_after_a_restart_is_read_from_the_store_files)
{
	static const char *texts[3] = {"first entry", "second entry",
	                               "third entry"};
	struct wr_runtime *rt = open_rt("rt-a");
	struct wr_transcript_page p;
	struct wr_error e;
	char *id = create_ok(rt);

	for (int i = 0; i < 3; i++)
		input_ok(rt, id, texts[i]);
	wr_runtime_close(rt);

	rt = open_rt("rt-a");
	cr_assert_eq(page(rt, id, 0, &p, &e), WR_OK, "%s", e.message);
	cr_assert_eq(p.count, 3);
	for (size_t i = 0; i < 3; i++) {
		cr_assert_eq(p.items[i].sequence, i + 1);
		cr_assert_eq(p.items[i].role, WR_ROLE_USER);
		cr_assert_str_eq(p.items[i].content, texts[i]);
	}
	wr_transcript_page_clear(&p);
	/* The content comes from the journal at every read, not from RAM. */
	rewrite_record(JOURNAL1, "second entry", "SECOND ENTRY", true);
	cr_assert_eq(page(rt, id, 0, &p, &e), WR_OK, "%s", e.message);
	cr_assert_eq(p.count, 3);
	cr_assert_str_eq(p.items[1].content, "SECOND ENTRY");
	cr_assert_str_eq(p.items[2].content, "third entry");
	wr_transcript_page_clear(&p);
	wr_runtime_close(rt);
	free(id);
}

Test(store_runtime, damage_in_an_entry_found_at_read_time_is_store_corrupt)
{
	struct wr_runtime *rt = open_rt("rt-a");
	struct wr_runtime_summary sum;
	struct wr_transcript_page p;
	struct wr_error e;
	char *id = create_ok(rt), want[64];
	uint64_t diags;
	long off;

	input_ok(rt, id, "intact entry");
	input_ok(rt, id, "doomed entry");
	cr_assert_eq(wr_runtime_summary(rt, &sum, &e), WR_OK);
	diags = sum.diagnostic_count;
	off = rewrite_record(JOURNAL1, "doomed", "DOOMED", false);
	cr_assert_eq(page(rt, id, 0, &p, &e), WR_EUNAVAILABLE);
	cr_assert_str_eq(wr_reason_name(e.reason), "store_corrupt");
	snprintf(want, sizeof(want), "byte offset %ld", off);
	cr_assert(strstr(e.message, want) != NULL, "%s", e.message);
	cr_assert(strstr(e.message, JOURNAL1) != NULL, "%s", e.message);
	cr_assert_eq(wr_runtime_summary(rt, &sum, &e), WR_OK);
	cr_assert_eq(sum.diagnostic_count, diags + 1, "damage is a diagnostic");
	/* a client retrying the page adds no diagnostic per retry */
	for (int i = 0; i < 3; i++)
		cr_assert_eq(page(rt, id, 0, &p, &e), WR_EUNAVAILABLE);
	cr_assert_eq(wr_runtime_summary(rt, &sum, &e), WR_OK);
	cr_assert_eq(sum.diagnostic_count, diags + 1,
	             "one diagnostic per damaged place, not per read");
	/* the entry before it is still served; nothing else changed */
	cr_assert_eq(wr_worker_transcript(rt, id, 0, 1, &p, &e), WR_OK);
	cr_assert_str_eq(p.items[0].content, "intact entry");
	cr_assert(p.has_next);
	wr_transcript_page_clear(&p);
	wr_runtime_close(rt);
	free(id);
}

/* ---- reads and snapshots at once --------------------------------------- */

#define RW_WORKERS 4
#define RW_INPUTS 60 /* small enough for valgrind (tests/run-all) */

struct reader {
	struct wr_runtime *rt;
	char **ids;
	atomic_ullong *acked;   /* per worker: inputs acknowledged */
	atomic_bool *done;
	atomic_int bad;         /* reads that saw anything wrong */
	atomic_ullong pages;
	char why[WR_MESSAGE_MAX + 64];
};

/* Checks one whole transcript of worker k against what was acknowledged
 * before and after reading it; returns false with r->why filled. */
static bool
read_check(struct reader *r, int k)
{
	uint64_t before = atomic_load(&r->acked[k]), seen = 0, start = 0;
	struct wr_transcript_page p;
	struct wr_error e;
	char want[64];

	for (int n = 0; n < 100; n++) {
		if (page(r->rt, r->ids[k], start, &p, &e) != WR_OK) {
			snprintf(r->why, sizeof(r->why), "read: %s", e.message);
			return false;
		}
		for (size_t i = 0; i < p.count; i++) {
			snprintf(want, sizeof(want), "w%d e%llu", k,
			         (unsigned long long)p.items[i].sequence);
			if (p.items[i].sequence != start + i + 1 ||
			    strcmp(p.items[i].content, want) != 0) {
				snprintf(r->why, sizeof(r->why), "entry %llu is "
				         "\"%s\"", (unsigned long long)
				         p.items[i].sequence, p.items[i].content);
				wr_transcript_page_clear(&p);
				return false;
			}
		}
		seen = start + p.count;
		start = p.next_start;
		atomic_fetch_add(&r->pages, 1);
		if (!p.has_next) {
			wr_transcript_page_clear(&p);
			break;
		}
		wr_transcript_page_clear(&p);
	}
	if (seen < before || seen > atomic_load(&r->acked[k]) + 1) {
		snprintf(r->why, sizeof(r->why), "saw %llu entries, acknowledged "
		         "%llu", (unsigned long long)seen,
		         (unsigned long long)before);
		return false;
	}
	return true;
}

static void *
reader_main(void *arg)
{
	struct reader *r = arg;

	for (int n = 0; n < 1000000 && !atomic_load(r->done); n++)
		if (!read_check(r, n % RW_WORKERS)) {
			atomic_fetch_add(&r->bad, 1);
			break;
		}
	return NULL;
}

Test(store_runtime, reads_during_background_snapshots_see_exactly_the_acknowledged_entries)
{
	struct wr_runtime *rt = open_rt("rt-a");
	atomic_ullong acked[RW_WORKERS];
	atomic_bool done = false;
	struct reader r[2];
	pthread_t t[2];
	char *ids[RW_WORKERS], text[64];
	char *before, *after;

	wr__store_fs_set_snapshot_bytes(wr__runtime_store(rt), 1024);
	for (int k = 0; k < RW_WORKERS; k++) {
		ids[k] = create_ok(rt);
		atomic_init(&acked[k], 0);
	}
	for (int i = 0; i < 2; i++) {
		r[i] = (struct reader){.rt = rt, .ids = ids, .acked = acked,
		                       .done = &done};
		cr_assert_eq(pthread_create(&t[i], NULL, reader_main, &r[i]), 0);
	}
	for (int n = 1; n <= RW_INPUTS; n++)
		for (int k = 0; k < RW_WORKERS; k++) {
			snprintf(text, sizeof(text), "w%d e%d", k, n);
			input_ok(rt, ids[k], text);
			atomic_store(&acked[k], (unsigned long long)n);
		}
	atomic_store(&done, true);
	for (int i = 0; i < 2; i++) {
		pthread_join(t[i], NULL);
		cr_assert_eq(atomic_load(&r[i].bad), 0, "%s", r[i].why);
		cr_assert_gt(atomic_load(&r[i].pages), 0);
	}
	wr__snapshot_wait(rt);
	cr_assert(has_file_with_prefix("snapshot-", NULL));
	cr_assert(!has_file_with_prefix(JOURNAL1, NULL));
	r[0].bad = 0;
	for (int k = 0; k < RW_WORKERS; k++)
		cr_assert(read_check(&r[0], k), "%s", r[0].why);
	before = state(rt, false);
	wr_runtime_close(rt);
	rt = open_rt("rt-a");
	after = state(rt, false);
	cr_assert_str_eq(after, before);
	wr_runtime_close(rt);
	free(before);
	free(after);
	for (int k = 0; k < RW_WORKERS; k++)
		free(ids[k]);
}

/* ---- the switch-over ---------------------------------------------------- */

/* A seam that holds the snapshot's temp file at its fdatasync until the
 * test lets it go: the snapshot is then provably running. */
static pthread_mutex_t gate_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cv = PTHREAD_COND_INITIALIZER;
static bool gate_armed, gate_reached, gate_open;

static int
gate_fdatasync(int fd)
{
	if (test_fd_is_tmp(fd)) {
		struct timespec until;
		pthread_mutex_lock(&gate_mu);
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += 20; /* bounded: the test fails instead */
		if (gate_armed) {
			gate_reached = true;
			pthread_cond_broadcast(&gate_cv);
			while (!gate_open &&
			       pthread_cond_timedwait(&gate_cv, &gate_mu, &until) == 0)
				;
		}
		pthread_mutex_unlock(&gate_mu);
	}
	return fdatasync(fd);
}

static const struct wr__fs_io gate_seam = {NULL, gate_fdatasync, NULL, NULL,
                                           NULL};

/* Waits (at most 20 s) until the snapshot reached the gate. */
static bool
gate_wait_reached(void)
{
	struct timespec until;
	bool ok;

	pthread_mutex_lock(&gate_mu);
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 20;
	while (!gate_reached &&
	       pthread_cond_timedwait(&gate_cv, &gate_mu, &until) == 0)
		;
	ok = gate_reached;
	pthread_mutex_unlock(&gate_mu);
	return ok;
}

static void
gate_release(void)
{
	pthread_mutex_lock(&gate_mu);
	gate_open = true;
	pthread_cond_broadcast(&gate_cv);
	pthread_mutex_unlock(&gate_mu);
}

/* Every entry of id is "e<seq>", 1..n. */
static void
assert_entries(struct wr_runtime *rt, const char *id, int n)
{
	struct wr_transcript_page p;
	struct wr_error e;
	char want[32];

	cr_assert_eq(page(rt, id, 0, &p, &e), WR_OK, "%s", e.message);
	cr_assert_eq(p.count, (size_t)n);
	for (int i = 0; i < n; i++) {
		snprintf(want, sizeof(want), "e%d", i + 1);
		cr_assert_str_eq(p.items[i].content, want);
	}
	wr_transcript_page_clear(&p);
}

Test(store_runtime, switch_over_keeps_entries_appended_while_the_snapshot_was_written)
{
	struct wr_runtime *rt = open_rt("rt-a");
	struct wr__store *st = wr__runtime_store(rt);
	char *id = create_ok(rt), text[32];

	wr__store_fs_set_io(st, &gate_seam);
	for (int i = 1; i <= 5; i++) {
		snprintf(text, sizeof(text), "e%d", i);
		input_ok(rt, id, text);
	}
	gate_armed = true;
	wr__store_fs_set_snapshot_bytes(st, 1); /* the next commit starts one */
	input_ok(rt, id, "e6");
	cr_assert(gate_wait_reached(), "no snapshot ran in the background");
	wr__store_fs_set_snapshot_bytes(st, 0); /* no second one */
	/* While the snapshot is held before its fdatasync: appends go to
	 * journal-2, reads are served from journal-1 and journal-2. */
	for (int i = 7; i <= 9; i++) {
		snprintf(text, sizeof(text), "e%d", i);
		input_ok(rt, id, text);
	}
	assert_entries(rt, id, 9);
	cr_assert(has_file_with_prefix("snapshot-00000000000000000002.tmp",
	                               NULL));
	gate_release();
	wr__snapshot_wait(rt);
	cr_assert(has_file_with_prefix("snapshot-00000000000000000002",
	                               "snapshot-00000000000000000002.tmp"));
	cr_assert(!has_file_with_prefix(JOURNAL1, NULL),
	          "the replaced journal is unlinked");
	/* e1..e6 now come from the snapshot (journal-1's fd is closed),
	 * e7..e9 from journal-2. */
	assert_entries(rt, id, 9);
	input_ok(rt, id, "e10");
	wr_runtime_close(rt);
	rt = open_rt("rt-a");
	assert_entries(rt, id, 10);
	wr_runtime_close(rt);
	free(id);
}

/* ---- compaction keeps the store proportional to what exists ----------- */

/* Bytes of the files in the store directory now. */
static uint64_t
store_size(void)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	uint64_t n = 0;
	char path[sizeof(dir) + 300];
	struct stat sb;

	cr_assert_not_null(d);
	while ((de = readdir(d)) != NULL) {
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (de->d_name[0] != '.' && stat(path, &sb) == 0)
			n += (uint64_t)sb.st_size;
	}
	closedir(d);
	return n;
}

/* The generation of the newest journal: 1 + the snapshots taken. */
static uint64_t
journal_gen(void)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	uint64_t g = 0, v;

	cr_assert_not_null(d);
	while ((de = readdir(d)) != NULL)
		if (sscanf(de->d_name, "journal-%20" SCNu64, &v) == 1 && v > g)
			g = v;
	closedir(d);
	return g;
}

/* One create -> input -> stop -> delete cycle. */
static void
churn_cycle(struct wr_runtime *rt, const char *text)
{
	struct wr_lifecycle_ack lack;
	struct wr_error e;
	char *id = create_ok(rt);

	input_ok(rt, id, text);
	cr_assert_eq(wr_worker_stop(rt, id, NULL, &lack, &e), WR_OK, "%s",
	             e.message);
	cr_assert_eq(wr_worker_delete(rt, id, &lack, &e), WR_OK, "%s",
	             e.message);
	free(id);
}

#define CHURN_CYCLES 160
#define CHURN_INPUT (64 * 1024)

Test(store_runtime, create_delete_churn_keeps_the_store_bounded_at_the_default_floor)
{
	struct wr_runtime *rt = open_rt("rt-a");
	struct wr_runtime_summary sum;
	struct wr_error e;
	char *text = malloc(CHURN_INPUT + 1);
	uint64_t peak = 0, s;

	/* 160 cycles of 64 KiB journal ~10 MiB; nothing stays: the store
	 * must stay near the 4 MiB floor, not grow with the cycles.  The
	 * snapshot runs in the background at a lower priority: every 16
	 * cycles (1 MiB) the test waits for one under way, so that a busy
	 * machine that starves it cannot fail the bound (4 MiB + 1 MiB +
	 * the new journal's first records). */
	cr_assert_not_null(text);
	memset(text, 'x', CHURN_INPUT);
	text[CHURN_INPUT] = '\0';
	for (int i = 0; i < CHURN_CYCLES; i++) {
		churn_cycle(rt, text);
		if ((s = store_size()) > peak)
			peak = s;
		if (i % 16 == 15)
			wr__snapshot_wait(rt);
	}
	wr__snapshot_wait(rt);
	cr_assert_gt(journal_gen(), 1, "no snapshot after ~10 MiB of journal");
	cr_assert_leq(peak, UINT64_C(6) << 20,
	              "store peaked at %" PRIu64 " bytes", peak);
	wr_runtime_close(rt);
	rt = open_rt("rt-a");
	cr_assert_eq(wr_runtime_summary(rt, &sum, &e), WR_OK);
	cr_assert_eq(sum.deleted_worker_count, CHURN_CYCLES);
	cr_assert_eq(sum.worker_count, 0);
	wr_runtime_close(rt);
	free(text);
}

Test(store_runtime, snapshots_wait_for_as_many_journal_bytes_as_the_last_snapshot_holds)
{
	struct wr_runtime *rt = open_rt("rt-a");
	char *keep, text[4096 + 1];
	uint64_t g0, s, peak = 0, snap;

	/* A live worker of ~160 KiB, then ~100 KiB of churn at a 4 KiB
	 * floor: a fixed 4 KiB threshold would rewrite the 160 KiB about
	 * 25 times; proportional compaction at most once. */
	wr__store_fs_set_snapshot_bytes(wr__runtime_store(rt), 4096);
	memset(text, 'k', 4096);
	text[4096] = '\0';
	keep = create_ok(rt);
	for (int i = 0; i < 40; i++)
		input_ok(rt, keep, text);
	wr__snapshot_wait(rt);
	churn_cycle(rt, "one small input"); /* starts a due snapshot */
	wr__snapshot_wait(rt);
	g0 = journal_gen();
	snap = store_size();
	for (int i = 0; i < 90; i++) {
		churn_cycle(rt, "one small input");
		if ((s = store_size()) > peak)
			peak = s;
	}
	wr__snapshot_wait(rt);
	cr_assert_leq(journal_gen() - g0, 1, "%" PRIu64 " snapshots of the "
	              "live state during churn", journal_gen() - g0);
	cr_assert_leq(peak, 3 * snap + 8192, "store peaked at %" PRIu64
	              " bytes (live state %" PRIu64 ")", peak, snap);
	wr_runtime_close(rt);
	free(keep);
}

/* ---- wr_store_check (worker-runtime -t) -------------------------------- */

Test(store_runtime, store_check_passes_a_closed_store_and_refuses_a_live_one)
{
	struct wr_runtime *rt;
	struct wr_error e;
	char missing[TEST_TMPDIR_SIZE + 32];

	cr_assert_eq(wr_store_check("memory", &e), WR_OK);
	snprintf(missing, sizeof(missing), "fs:%s/none/store", base);
	cr_assert_eq(wr_store_check(missing, &e), WR_EUNAVAILABLE);
	cr_assert_str_eq(wr_reason_name(e.reason), "store_open_failed");
	cr_assert_eq(access(missing + 3, F_OK), -1, "the check created it");

	rt = open_rt("rt-a");
	cr_assert_eq(wr_store_check(spec, &e), WR_EUNAVAILABLE);
	cr_assert_str_eq(wr_reason_name(e.reason), "store_locked");
	wr_runtime_close(rt);
	cr_assert_eq(wr_store_check(spec, &e), WR_OK, "%s", e.message);
	/* The check left the store openable. */
	rt = open_rt("rt-a");
	wr_runtime_close(rt);
}

/* A directory where the open opens a file (lock, synced, the newest
 * journal) fails the open with store_open_failed; the check (-t) says so
 * too instead of passing it (access(2) passes a directory, and anything
 * for root). */
Test(store_runtime, store_check_refuses_a_directory_named_synced_or_lock)
{
	static const char *const names[] = {"synced", "lock"};
	char p[TEST_TMPDIR_SIZE + 64];
	struct wr_runtime *rt;
	struct wr_error e;

	rt = open_rt("rt-a");
	wr_runtime_close(rt);
	for (size_t i = 0; i < 2; i++) {
		snprintf(p, sizeof(p), "%s/%s", dir, names[i]);
		cr_assert_eq(unlink(p), 0, "%s", p);
		cr_assert_eq(mkdir(p, 0700), 0);
		cr_assert_eq(wr_store_check(spec, &e), WR_EUNAVAILABLE, "%s",
		             names[i]);
		cr_assert_str_eq(wr_reason_name(e.reason), "store_open_failed");
		cr_assert(strstr(e.message, names[i]) != NULL, "%s",
		          e.message);
		cr_assert_eq(rmdir(p), 0);
	}
	cr_assert_eq(wr_store_check(spec, &e), WR_OK, "%s", e.message);
}

/* A store directory that does not exist yet passes when the first open
 * can create it (its parent is writable), and the open does create it. */
Test(store_runtime, store_check_passes_a_new_store_whose_parent_is_writable)
{
	struct wr_config cfg = {.runtime_id = "rt-a", .store = spec};
	struct wr_store_check found;
	struct wr_runtime *rt;
	struct wr_error e;

	cr_assert_eq(access(dir, F_OK), -1);
	cr_assert_eq(wr_store_check(spec, &e), WR_OK, "%s", e.message);
	cr_assert_eq(wr_runtime_check(&cfg, &found, &e), WR_OK, "%s",
	             e.message);
	cr_assert(found.store_created);
	cr_assert_str_eq(found.store_runtime_id, "");
	cr_assert_eq(access(dir, F_OK), -1, "the check created it");
	rt = open_rt("rt-a");
	wr_runtime_close(rt);
	cr_assert_eq(access(dir, F_OK), 0);
}

/* A store of another runtime id fails the check with the very error the
 * open gives; the same id, or none, passes. */
Test(store_runtime, runtime_check_refuses_a_store_of_another_runtime_id)
{
	struct wr_config cfg = {.runtime_id = "rt-b", .store = spec};
	struct wr_store_check found;
	struct wr_runtime *rt = NULL;
	struct wr_error ce, oe;

	rt = open_rt("rt-a");
	wr_runtime_close(rt);
	rt = NULL;
	cr_assert_eq(wr_runtime_check(&cfg, &found, &ce), WR_EINVALID_INPUT);
	cr_assert_eq(wr_runtime_open(&cfg, &rt, &oe), WR_EINVALID_INPUT);
	cr_assert_null(rt);
	cr_assert_eq(ce.reason, WR_REASON_RUNTIME_ID_MISMATCH);
	cr_assert_eq(oe.reason, ce.reason);
	cr_assert_str_eq(ce.message, oe.message);
	cr_assert_str_eq(found.store_runtime_id, "rt-a");
	cfg.runtime_id = "rt-a";
	cr_assert_eq(wr_runtime_check(&cfg, &found, &ce), WR_OK, "%s",
	             ce.message);
	cr_assert(!found.store_created);
	cfg.runtime_id = NULL;
	cr_assert_eq(wr_runtime_check(&cfg, &found, &ce), WR_OK, "%s",
	             ce.message);
	/* After a snapshot the id is read from the snapshot. */
	cfg.runtime_id = "rt-a";
	cfg.snapshot_bytes = 1;
	cfg.snapshot_percent = 1;
	cr_assert_eq(wr_runtime_open(&cfg, &rt, &oe), WR_OK, "%s", oe.message);
	for (int i = 0; i < 20; i++)
		free(create_ok(rt));
	wr__snapshot_wait(rt);
	wr_runtime_close(rt);
	cr_assert(has_file_with_prefix("snapshot-", NULL), "no snapshot");
	cr_assert(!has_file_with_prefix("journal-00000000000000000001", NULL));
	cfg.runtime_id = "rt-b";
	cr_assert_eq(wr_runtime_check(&cfg, &found, &ce), WR_EINVALID_INPUT,
	             "%s", ce.message);
	cr_assert_str_eq(found.store_runtime_id, "rt-a");
}

/* The profiles get the checks of wr_runtime_open too. */
Test(store_runtime, runtime_check_refuses_an_unknown_default_profile)
{
	static const struct wr_profile p[] = {{"one", NULL, NULL}};
	struct wr_config cfg = {.profiles = p, .n_profiles = 1,
	                        .default_profile = "two"};
	struct wr_store_check found;
	struct wr_error e;

	cr_assert_eq(wr_runtime_check(&cfg, &found, &e), WR_EINVALID_INPUT);
	cr_assert_eq(e.reason, WR_REASON_UNKNOWN_PROFILE);
	cfg.default_profile = "one";
	cr_assert_eq(wr_runtime_check(&cfg, &found, &e), WR_OK, "%s",
	             e.message);
}
