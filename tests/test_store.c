/*
 * test_store.c - the fs store through its ops table: restore, torn tails,
 * corruption, locking, format versions, injected I/O failures (through the
 * wr__fs_io seam), group commit and snapshots.  Links src/libwr-core.la
 * for the wr__ symbols.  Each test gets its own directory (tmpdir.h).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "store/crc32c.h"
#include "store/fs.h"
#include "store/store.h"
#include "store/record.h"
#include "fs_faults.h"
#include "tmpdir.h"

#define HDR 32
#define J1 "journal-00000000000000000001"
#define J2 "journal-00000000000000000002"
#define S2 "snapshot-00000000000000000002"
#define SYNCED "synced"

static char base[TEST_TMPDIR_SIZE];
static char dir[TEST_TMPDIR_SIZE + 16];

static void
setup(void)
{
	test_tmpdir_create(base, sizeof(base), "store");
	snprintf(dir, sizeof(dir), "%s/store", base);
}

static void
teardown(void)
{
	test_tmpdir_remove(base);
}

TestSuite(store, .init = setup, .fini = teardown, .timeout = 60);

static char *
path_in(const char *name)
{
	static char p[sizeof(dir) + 64]; /* one at a time; tests are single threaded here */
	snprintf(p, sizeof(p), "%s/%s", dir, name);
	return p;
}

static off_t
file_size(const char *name)
{
	struct stat sb;
	cr_assert_eq(stat(path_in(name), &sb), 0, "stat %s", name);
	return sb.st_size;
}

static bool
exists(const char *name)
{
	struct stat sb;
	return stat(path_in(name), &sb) == 0;
}

static char *
read_file(const char *name, size_t *len)
{
	FILE *f = fopen(path_in(name), "rb");
	char *buf;
	long n;

	cr_assert_not_null(f);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc((size_t)n + 1);
	cr_assert_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	*len = (size_t)n;
	return buf;
}

/* The file's size up to its last byte that is not zero: the end of its
 * records while the store holds the journal open with preallocated
 * zeros after them. */
static off_t
data_size(const char *name)
{
	size_t len;
	char *buf = read_file(name, &len);

	while (len > 0 && buf[len - 1] == 0)
		len--;
	free(buf);
	return (off_t)len;
}

static void
write_file(const char *name, const void *buf, size_t len)
{
	int fd = open(path_in(name), O_WRONLY | O_CREAT | O_TRUNC, 0600);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, buf, len), (ssize_t)len);
	close(fd);
}

/* ---- the synced file (docs/store.md, "The synced file") -------------- */

static void
put_le(unsigned char *p, uint64_t v, int n)
{
	for (int i = 0; i < n; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

/* The 40 bytes of a synced file naming journal gen durable up to off. */
static void
synced_bytes(unsigned char b[40], uint64_t gen, off_t off)
{
	static const unsigned char magic[8] = {'W', 'R', 'S', 'T',
	                                       'O', 'R', 'E', 0};

	memset(b, 0, 40);
	memcpy(b, magic, 8);
	put_le(b + 8, 3, 4);  /* format version */
	put_le(b + 12, 3, 4); /* kind: synced */
	put_le(b + 16, gen, 8);
	put_le(b + 24, (uint64_t)off, 8);
	put_le(b + 32, wr__crc32c(0, b, 32), 4);
}

/* Writes a valid synced file: what it holds after a crash that came
 * before later fdatasyncs returned. */
static void
write_synced(uint64_t gen, off_t off)
{
	unsigned char b[40];

	synced_bytes(b, gen, off);
	write_file(SYNCED, b, sizeof(b));
}

/* Whether the synced file is valid and names journal gen up to off. */
static bool
synced_says(uint64_t gen, off_t off)
{
	unsigned char want[40];
	size_t len;
	char *b;
	bool ok;

	if (!exists(SYNCED))
		return false;
	synced_bytes(want, gen, off);
	b = read_file(SYNCED, &len);
	ok = len == sizeof(want) && memcmp(b, want, len) == 0;
	free(b);
	return ok;
}

/* ---- records ---------------------------------------------------------- */

static struct wr_worker_info *
make_worker(const char *id)
{
	struct wr_worker_info *w = calloc(1, sizeof(*w));

	strcpy(w->ref.runtime_id, "rt-test");
	strcpy(w->ref.worker_id, id);
	w->status = WR_STATUS_RUNNING;
	w->run_state = WR_RUN_IDLE;
	w->intent.kind = WR_INTENT_TASK;
	w->intent.objective = strdup("sum the numbers \"quoted\" / ünïcode");
	w->profile.kind = WR_PROFILE_BUILTIN;
	w->profile.value = strdup("transcript");
	w->config_bundle_id = strdup("bundle-1");
	w->capabilities = calloc(1, sizeof(*w->capabilities));
	w->capabilities[0].name = strdup("net");
	w->capabilities[0].reason = strdup("fetch");
	w->n_capabilities = 1;
	w->workspace_refs = calloc(1, sizeof(*w->workspace_refs));
	w->workspace_refs[0].name = strdup("ws");
	w->workspace_refs[0].reference = strdup("ref://ws");
	w->n_workspace_refs = 1;
	w->created_at_ms = INT64_C(1764000000123);
	w->updated_at_ms = INT64_C(1764000000456);
	w->last_event_id = 2;
	return w;
}

static struct wr__record
transcript(const char *wid, uint64_t seq, const char *content)
{
	struct wr__record r = {.kind = WR__REC_TRANSCRIPT};

	strcpy(r.worker_id, wid);
	r.role = WR_ROLE_USER;
	r.sequence = seq;
	r.content = strdup(content);
	r.event_id = 100 + seq;
	r.at_ms = INT64_C(1764000001000) + (int64_t)seq;
	return r;
}

/* One record of every kind, in an order a Runtime could produce. */
#define N_SAMPLE 9
static void
sample(struct wr__record *r)
{
	memset(r, 0, N_SAMPLE * sizeof(*r));
	r[0].kind = WR__REC_META;
	r[0].event_id = 1;
	r[0].at_ms = 1764000000000;
	strcpy(r[0].runtime_id, "rt-test");
	r[1].kind = WR__REC_WORKER_CREATED;
	r[1].event_id = 2;
	r[1].at_ms = 1764000000123;
	strcpy(r[1].worker_id, "w-1");
	r[1].worker = make_worker("w-1");
	r[2] = transcript("w-1", 1, "hello\nworld \"x\" \\ \x01 ✓");
	r[2].turn_started = true;
	r[3] = transcript("w-1", 2, "second");
	r[3].role = WR_ROLE_WORKER;
	r[4].kind = WR__REC_TURN_END;
	strcpy(r[4].worker_id, "w-1");
	r[4].at_ms = 5;
	r[5].kind = WR__REC_WORKER_STATUS;
	strcpy(r[5].worker_id, "w-1");
	r[5].status = WR_STATUS_FAILED;
	r[5].reason = strdup("child exited with status 3");
	r[5].content = strdup("worker exited with status 3");
	r[5].event_id = 7;
	r[6].kind = WR__REC_WORKER_STATUS;
	strcpy(r[6].worker_id, "w-1");
	r[6].status = WR_STATUS_STOPPED; /* no reason, no content */
	r[6].event_id = 8;
	r[7].kind = WR__REC_RUNTIME_STATUS;
	r[7].runtime_status = WR_RUNTIME_STOPPING;
	r[7].at_ms = 3; /* negative: damage (docs/store.md) */
	r[8].kind = WR__REC_WORKER_STATE;
	strcpy(r[8].worker_id, "w-1");
	r[8].status = WR_STATUS_RUNNING;
	r[8].run_state = WR_RUN_BUSY;
	r[8].reason = strdup("why");
	r[8].event_id = UINT64_C(1) << 62;
}

static void
str_eq_or_null(const char *a, const char *b, const char *what, size_t i)
{
	if (a == NULL || b == NULL)
		cr_assert(a == b, "record %zu %s: %s vs %s", i, what,
		          a ? a : "(null)", b ? b : "(null)");
	else
		cr_assert_str_eq(a, b, "record %zu %s", i, what);
}

static void
assert_rec_eq(const struct wr__record *a, const struct wr__record *b,
              size_t i)
{
	cr_assert_eq(a->kind, b->kind, "record %zu kind", i);
	cr_assert_eq(a->event_id, b->event_id, "record %zu event_id", i);
	cr_assert_eq(a->at_ms, b->at_ms, "record %zu at_ms", i);
	cr_assert_str_eq(a->runtime_id, b->runtime_id, "record %zu", i);
	cr_assert_str_eq(a->worker_id, b->worker_id, "record %zu", i);
	cr_assert_eq(a->role, b->role, "record %zu role", i);
	cr_assert_eq(a->sequence, b->sequence, "record %zu sequence", i);
	str_eq_or_null(a->content, b->content, "content", i);
	cr_assert_eq(a->turn_started, b->turn_started, "record %zu", i);
	cr_assert_eq(a->status, b->status, "record %zu status", i);
	cr_assert_eq(a->run_state, b->run_state, "record %zu", i);
	str_eq_or_null(a->reason, b->reason, "reason", i);
	cr_assert_eq(a->runtime_status, b->runtime_status, "record %zu", i);
	cr_assert_eq(a->worker == NULL, b->worker == NULL, "record %zu", i);
	if (a->worker != NULL) {
		char *x = wr_json_encode_worker_detail(a->worker, NULL, NULL);
		char *y = wr_json_encode_worker_detail(b->worker, NULL, NULL);
		cr_assert_str_eq(x, y, "record %zu worker", i);
		free(x);
		free(y);
	}
}

static void
clear_all(struct wr__record *r, size_t n)
{
	for (size_t i = 0; i < n; i++)
		wr__record_clear(&r[i]);
}

/* ---- a collecting apply -------------------------------------------- */

struct coll {
	struct wr__record *v;
	size_t n, cap;
	char diag[8][WR_DIAGNOSTIC_MAX];
	size_t ndiag;
	size_t fail_at; /* 1-based: apply() fails on this record */
};

static wr_err
collect(void *arg, struct wr__record *rec, const struct wr__loc *loc WR__UNUSED,
        struct wr_error *err)
{
	struct coll *c = arg;

	if (c->fail_at != 0 && c->n + 1 == c->fail_at) {
		wr__record_clear(rec);
		return wr__fail(err, WR_EINTERNAL, WR_REASON_BAD_RECORD, NULL,
		                "apply refused record %zu", c->fail_at);
	}
	if (c->n == c->cap) {
		c->cap = c->cap ? 2 * c->cap : 16;
		c->v = realloc(c->v, c->cap * sizeof(*c->v));
	}
	c->v[c->n++] = *rec; /* takes what rec owns */
	return WR_OK;
}

static void
on_diag(void *arg, const char *msg)
{
	struct coll *c = arg;

	if (c->ndiag < 8)
		snprintf(c->diag[c->ndiag], WR_DIAGNOSTIC_MAX, "%s", msg);
	c->ndiag++;
}

static void
coll_free(struct coll *c)
{
	clear_all(c->v, c->n);
	free(c->v);
	memset(c, 0, sizeof(*c));
}

/* ---- store helpers -------------------------------------------------- */

static struct wr__store *
open_ok(void)
{
	struct wr__store *st = NULL;
	struct wr_error e;

	cr_assert_eq(wr__store_fs_open(dir, &st, &e), WR_OK, "open: %s",
	             e.message);
	cr_assert_str_eq(st->ops->backend, "fs_store");
	return st;
}

static struct wr__store *
open_load(struct coll *c)
{
	struct wr__store *st = open_ok();
	struct wr_error e;

	memset(c, 0, sizeof(*c));
	cr_assert_eq(st->ops->load(st, collect, on_diag, c, &e), WR_OK,
	             "load: %s", e.message);
	return st;
}

static uint64_t
append_ok(struct wr__store *st, const struct wr__record *rec)
{
	struct wr_error e;
	uint64_t lsn = 0;

	cr_assert_eq(st->ops->append(st, rec, &lsn, NULL, &e), WR_OK, "append: %s",
	             e.message);
	return lsn;
}

static void
sync_ok(struct wr__store *st, uint64_t lsn)
{
	struct wr_error e;

	cr_assert_eq(st->ops->sync(st, lsn, &e), WR_OK, "sync: %s", e.message);
}

/* Writes recs[0..n) durably into a fresh store and closes it. */
static void
store_with(const struct wr__record *recs, size_t n)
{
	struct coll c;
	struct wr__store *st = open_load(&c);
	uint64_t lsn = 0;

	for (size_t i = 0; i < n; i++)
		lsn = append_ok(st, &recs[i]);
	if (n > 0)
		sync_ok(st, lsn);
	st->ops->close(st);
	coll_free(&c);
}

/* Appends recs[0..n) to the store and closes it, keeping the synced
 * file as it was: the records were written but the crash came before
 * their fdatasync returned (and the close's trim only makes that image
 * end at the last record). */
static void
store_more(const struct wr__record *recs, size_t n)
{
	struct coll c;
	struct wr__store *st;
	size_t len;
	char *syn = read_file(SYNCED, &len);

	st = open_load(&c);
	for (size_t i = 0; i < n; i++)
		(void)append_ok(st, &recs[i]);
	st->ops->close(st);
	coll_free(&c);
	write_file(SYNCED, syn, len);
	free(syn);
}

static void
assert_restores(const struct wr__record *want, size_t n)
{
	struct coll c;
	struct wr__store *st = open_load(&c);

	cr_assert_eq(c.n, n, "restored %zu records, want %zu", c.n, n);
	for (size_t i = 0; i < n; i++)
		assert_rec_eq(&c.v[i], &want[i], i);
	st->ops->close(st);
	coll_free(&c);
}

static void
flip_byte(const char *name, off_t off)
{
	size_t len;
	char *buf = read_file(name, &len);

	cr_assert_lt((size_t)off, len);
	buf[off] ^= 0x20;
	write_file(name, buf, len);
	free(buf);
}

/* ---- tests ------------------------------------------------------------ */

Test(store, crc32c_matches_the_castagnoli_check_value)
{
	cr_assert_eq(wr__crc32c(0, "123456789", 9), 0xe3069283u);
	cr_assert_eq(wr__crc32c(wr__crc32c(0, "1234", 4), "56789", 5),
	             0xe3069283u);
	cr_assert_eq(wr__crc32c(0, "", 0), 0u);
}

Test(store, crc32c_hardware_and_portable_agree_on_every_length_and_offset)
{
	unsigned char buf[600];
	uint32_t seed = 12345;

	for (size_t i = 0; i < sizeof(buf); i++) {
		seed = seed * 1103515245u + 12345u;
		buf[i] = (unsigned char)(seed >> 16);
	}
	cr_assert_eq(wr__crc32c_portable(0, "123456789", 9), 0xe3069283u);
	for (size_t off = 0; off < 16; off++)
		for (size_t n = 0; n + off <= sizeof(buf); n += 1 + n / 8)
			cr_assert_eq(wr__crc32c(7, buf + off, n),
			             wr__crc32c_portable(7, buf + off, n),
			             "offset %zu, length %zu (hardware: %d)", off,
			             n, wr__crc32c_hw_available());
}

Test(store, new_store_is_0700_with_0600_files_and_loads_nothing)
{
	struct coll c;
	struct wr__store *st = open_load(&c);
	struct stat sb;

	cr_assert_eq(c.n, 0);
	cr_assert_eq(c.ndiag, 0);
	cr_assert_eq(stat(dir, &sb), 0);
	cr_assert(S_ISDIR(sb.st_mode));
	cr_assert_eq(sb.st_mode & 07777, 0700, "dir mode %o", sb.st_mode);
	cr_assert_eq(stat(path_in("lock"), &sb), 0);
	cr_assert_eq(sb.st_mode & 07777, 0600);
	cr_assert_eq(stat(path_in(J1), &sb), 0);
	cr_assert_eq(sb.st_mode & 07777, 0600);
	cr_assert_eq(sb.st_size, HDR);
	cr_assert(!st->ops->snapshot_due(st));
	st->ops->close(st);
	coll_free(&c);
}

Test(store, records_of_every_kind_are_restored_in_order_after_close)
{
	struct wr__record r[N_SAMPLE];
	struct coll c;
	struct wr__store *st;
	uint64_t lsn = 0;

	sample(r);
	st = open_load(&c);
	for (size_t i = 0; i < N_SAMPLE; i++) {
		lsn = append_ok(st, &r[i]);
		cr_assert_eq(lsn, i + 1, "lsns count records");
	}
	sync_ok(st, lsn);
	sync_ok(st, 3); /* already durable */
	st->ops->close(st);
	coll_free(&c);

	assert_restores(r, N_SAMPLE);
	/* and again: loading changes nothing */
	assert_restores(r, N_SAMPLE);
	clear_all(r, N_SAMPLE);
}

Test(store, appended_records_continue_after_reopen)
{
	struct wr__record r[N_SAMPLE];
	struct coll c;
	struct wr__store *st;

	sample(r);
	store_with(r, 4);
	st = open_load(&c);
	cr_assert_eq(c.n, 4);
	for (size_t i = 4; i < N_SAMPLE; i++)
		sync_ok(st, append_ok(st, &r[i]));
	st->ops->close(st);
	coll_free(&c);
	assert_restores(r, N_SAMPLE);
	clear_all(r, N_SAMPLE);
}

Test(store, torn_tail_at_every_byte_of_the_last_record_is_dropped)
{
	struct wr__record r[3] = {transcript("w-1", 1, "first"),
	                          transcript("w-1", 2, "second record"),
	                          transcript("w-1", 3, "the third, torn")};
	struct coll c;
	struct wr__store *st;
	off_t prev, full, nz;
	char *orig, want[128];
	size_t len;

	store_with(r, 2);
	prev = file_size(J1);
	st = open_load(&c);
	sync_ok(st, append_ok(st, &r[2]));
	st->ops->close(st);
	coll_free(&c);
	full = file_size(J1);
	orig = read_file(J1, &len);
	cr_assert_eq((off_t)len, full);
	cr_assert_gt(full - prev, 8);

	for (off_t cut = prev; cut < full; cut++) {
		write_file(J1, orig, (size_t)cut);
		/* The crash came before the third record's fdatasync
		 * returned: the synced file names the end of the second. */
		write_synced(1, prev);
		st = open_load(&c);
		cr_assert_eq(c.n, 2, "cut at %lld", (long long)cut);
		assert_rec_eq(&c.v[0], &r[0], 0);
		assert_rec_eq(&c.v[1], &r[1], 1);
		if (cut == prev) {
			cr_assert_eq(c.ndiag, 0);
		} else {
			cr_assert_eq(c.ndiag, 1, "cut at %lld", (long long)cut);
			cr_assert(strstr(c.diag[0], path_in(J1)) != NULL, "%s",
			          c.diag[0]);
			/* counted up to the last byte that is not zero */
			nz = cut;
			while (nz > prev && orig[nz - 1] == 0)
				nz--;
			snprintf(want, sizeof(want), "offset %lld (%lld bytes",
			         (long long)prev, (long long)(nz - prev));
			cr_assert(strstr(c.diag[0], want) != NULL,
			          "diag '%s' lacks '%s'", c.diag[0], want);
		}
		cr_assert_eq(file_size(J1), prev, "truncated to the good end");
		/* the store goes on from there */
		sync_ok(st, append_ok(st, &r[2]));
		st->ops->close(st);
		coll_free(&c);
		cr_assert_eq(file_size(J1), full);
		assert_restores(r, 3);
	}
	free(orig);
	clear_all(r, 3);
}

Test(store, checksum_mismatch_in_the_final_record_is_dropped_as_torn)
{
	struct wr__record r[2] = {transcript("w-1", 1, "kept"),
	                          transcript("w-1", 2, "torn")};
	struct coll c;
	struct wr__store *st;
	off_t full;

	store_with(r, 1);
	write_synced(1, file_size(J1)); /* the second was not acknowledged */
	store_more(&r[1], 1);
	full = file_size(J1);
	flip_byte(J1, full - 3); /* inside the last payload */
	st = open_load(&c);
	cr_assert_eq(c.n, 1);
	assert_rec_eq(&c.v[0], &r[0], 0);
	cr_assert_eq(c.ndiag, 1);
	cr_assert(strstr(c.diag[0], "checksum") != NULL, "%s", c.diag[0]);
	cr_assert_lt(file_size(J1), full);
	st->ops->close(st);
	coll_free(&c);
	clear_all(r, 2);
}

/* What a crash leaves after the records of a preallocated journal (or
 * after appends whose size change reached the disk before their data):
 * zeros, which hold no record.  They stay, without a diagnostic, and
 * appends overwrite them. */
Test(store, zero_filled_tail_is_kept_as_space_without_a_diagnostic)
{
	struct wr__record r[2] = {transcript("w-1", 1, "kept"),
	                          transcript("w-1", 2, "next")};
	struct coll c;
	struct wr__store *st;
	char zero[100] = {0};
	off_t good;
	int fd;

	store_with(r, 1);
	good = file_size(J1);
	fd = open(path_in(J1), O_WRONLY | O_APPEND);
	cr_assert_eq(write(fd, zero, sizeof(zero)), (ssize_t)sizeof(zero));
	close(fd);
	st = open_load(&c);
	cr_assert_eq(c.n, 1);
	cr_assert_eq(c.ndiag, 0, "%s", c.ndiag ? c.diag[0] : "");
	cr_assert_eq(file_size(J1), good + (off_t)sizeof(zero));
	sync_ok(st, append_ok(st, &r[1]));
	st->ops->close(st);
	coll_free(&c);
	cr_assert_eq(file_size(J1), data_size(J1), "trimmed at close");
	assert_restores(r, 2);
	clear_all(r, 2);
}

/* The payload bytes of every kind, as this format has always written them
 * (docs/store.md): a store written by an older build must read back, and
 * one written now by an older build.  A change here is a format change. */
static const char *const sample_payloads[N_SAMPLE] = {
	"{\"kind\":\"meta\",\"event_id\":1,\"at_ms\":1764000000000,"
	"\"runtime_id\":\"rt-test\"}",
	"{\"kind\":\"worker_created\",\"event_id\":2,\"at_ms\":1764"
	"000000123,\"worker_id\":\"w-1\",\"worker\":{\"worker_ref\""
	":{\"runtime_id\":\"rt-test\",\"worker_id\":\"w-1\"},\"runt"
	"ime_id\":\"rt-test\",\"worker_id\":\"w-1\",\"status\":\"ru"
	"nning\",\"run_state\":\"idle\",\"intent\":{\"kind\":\"task"
	"\",\"objective\":\"sum the numbers \\\"quoted\\\" / ünïcod"
	"e\"},\"profile\":{\"kind\":\"builtin\",\"value\":\"transcr"
	"ipt\"},\"requested_capability_count\":1,\"has_config_bundl"
	"e\":true,\"transcript_len\":0,\"last_event_id\":2,\"create"
	"d_at\":\"2025-11-24T16:00:00.123Z\",\"updated_at\":\"2025-"
	"11-24T16:00:00.456Z\",\"config_bundle\":{\"id\":\"bundle-1"
	"\"},\"requested_capabilities\":[{\"name\":\"net\",\"reason"
	"\":\"fetch\"}],\"workspace_refs\":[{\"name\":\"ws\",\"refe"
	"rence\":\"ref://ws\"}],\"mount_refs\":[]}}",
	"{\"kind\":\"transcript\",\"event_id\":101,\"at_ms\":176400"
	"0001001,\"worker_id\":\"w-1\",\"role\":\"user\",\"sequence"
	"\":1,\"content\":\"hello\\nworld \\\"x\\\" \\\\ \\u0001 ✓\""
	",\"turn_started\":true}",
	"{\"kind\":\"transcript\",\"event_id\":102,\"at_ms\":176400"
	"0001002,\"worker_id\":\"w-1\",\"role\":\"worker\",\"sequen"
	"ce\":2,\"content\":\"second\",\"turn_started\":false}",
	"{\"kind\":\"turn_end\",\"event_id\":0,\"at_ms\":5,\"worker"
	"_id\":\"w-1\"}",
	"{\"kind\":\"worker_status\",\"event_id\":7,\"at_ms\":0,\"w"
	"orker_id\":\"w-1\",\"content\":\"worker exited with status"
	" 3\",\"status\":\"failed\",\"reason\":\"child exited with "
	"status 3\"}",
	"{\"kind\":\"worker_status\",\"event_id\":8,\"at_ms\":0,\"w"
	"orker_id\":\"w-1\",\"status\":\"stopped\"}",
	"{\"kind\":\"runtime_status\",\"event_id\":0,\"at_ms\":3,\""
	"runtime_status\":\"stopping\"}",
	"{\"kind\":\"worker_state\",\"event_id\":461168601842738790"
	"4,\"at_ms\":0,\"worker_id\":\"w-1\",\"status\":\"running\""
	",\"run_state\":\"busy\",\"reason\":\"why\"}",
};

Test(store, record_payloads_keep_their_bytes)
{
	struct wr__record r[N_SAMPLE], back;
	struct wr_error e;

	sample(r);
	for (size_t i = 0; i < N_SAMPLE; i++) {
		size_t len = 0;
		char *text = wr__record_encode(&r[i], &len);

		cr_assert_not_null(text, "record %zu: %s", i, strerror(errno));
		cr_assert_eq(len, strlen(text));
		cr_expect_str_eq(text, sample_payloads[i], "record %zu", i);
		cr_assert_eq(wr__record_decode(sample_payloads[i],
		                               strlen(sample_payloads[i]), &back,
		                               &e), WR_OK,
		             "record %zu: %s", i, e.message);
		assert_rec_eq(&back, &r[i], i);
		wr__record_clear(&back);
		free(text);
	}
	clear_all(r, N_SAMPLE);
}

/* Opens, loads and expects store_corrupt naming the file and offset, and
 * also (if not NULL) in its message. */
static void
assert_corrupt_saying(const char *name, off_t off, const char *also)
{
	struct wr__store *st = open_ok();
	struct coll c = {0};
	struct wr_error e;
	char want[64];

	cr_assert_eq(st->ops->load(st, collect, on_diag, &c, &e),
	             WR_EUNAVAILABLE);
	cr_assert_str_eq(wr_reason_name(e.reason), "store_corrupt");
	cr_assert(strstr(e.message, path_in(name)) != NULL, "%s", e.message);
	snprintf(want, sizeof(want), "offset %lld", (long long)off);
	cr_assert(strstr(e.message, want) != NULL, "'%s' lacks '%s'",
	          e.message, want);
	cr_assert(also == NULL || strstr(e.message, also) != NULL,
	          "'%s' lacks '%s'", e.message, also);
	cr_assert_eq(c.ndiag, 0);
	st->ops->close(st);
	coll_free(&c);
}

static void
assert_corrupt(const char *name, off_t off)
{
	assert_corrupt_saying(name, off, NULL);
}

Test(store, flipped_byte_in_an_earlier_record_refuses_naming_file_and_offset)
{
	struct wr__record r[3] = {transcript("w-1", 1, "one"),
	                          transcript("w-1", 2, "two"),
	                          transcript("w-1", 3, "three")};
	off_t second, size;

	store_with(r, 1);
	second = file_size(J1);
	{
		struct coll c;
		struct wr__store *st = open_load(&c);
		sync_ok(st, append_ok(st, &r[1]));
		sync_ok(st, append_ok(st, &r[2]));
		st->ops->close(st);
		coll_free(&c);
	}
	size = file_size(J1);
	flip_byte(J1, second + 12); /* payload of the second record */
	assert_corrupt(J1, second);
	cr_assert_eq(file_size(J1), size, "a refused store is not modified");
	/* a first record's damage too */
	flip_byte(J1, second + 12);
	flip_byte(J1, HDR + 9);
	assert_corrupt(J1, HDR);
	clear_all(r, 3);
}

/* ---- the preallocated journal ------------------------------------------ */

#define PREALLOC (1 << 20)

/* Offset of frame k (0-based) of a journal image. */
static off_t
frame_at(const char *img, size_t k)
{
	off_t off = HDR;

	while (k-- > 0) {
		const unsigned char *p = (const unsigned char *)img + off;
		off += 8 + (off_t)(p[0] | p[1] << 8 | p[2] << 16 |
		                   (uint32_t)p[3] << 24);
	}
	return off;
}

/* Writes recs into a fresh store, the first acked of them acknowledged
 * (fdatasynced), the others appended after, and returns the journal as a
 * crash leaves it - the store still open, preallocated zeros after the
 * records - in *len bytes, the caller's to free.  The store is closed and
 * J1 and the synced file (naming the end of the acked records) hold that
 * image again. */
static char *
crash_image(const struct wr__record *recs, size_t n, size_t acked,
            size_t *len)
{
	struct coll c;
	struct wr__store *st = open_load(&c);
	uint64_t lsn = 0;
	size_t slen;
	char *img, *syn;

	for (size_t i = 0; i < n; i++) {
		lsn = append_ok(st, &recs[i]);
		if (i + 1 == acked)
			sync_ok(st, lsn);
	}
	img = read_file(J1, len);
	syn = read_file(SYNCED, &slen);
	st->ops->close(st);
	coll_free(&c);
	write_file(J1, img, *len);
	write_file(SYNCED, syn, slen);
	free(syn);
	return img;
}

Test(store, the_open_journal_is_preallocated_and_trimmed_at_close)
{
	struct wr__record r[1] = {transcript("w-1", 1, "one")};
	struct coll c;
	struct wr__store *st = open_load(&c);

	sync_ok(st, append_ok(st, &r[0]));
	cr_assert_eq(file_size(J1), PREALLOC);
	cr_assert_lt(data_size(J1), PREALLOC);
	st->ops->close(st);
	coll_free(&c);
	cr_assert_eq(file_size(J1), data_size(J1));
	assert_restores(r, 1);
	clear_all(r, 1);
}

Test(store, a_crash_image_with_preallocated_zeros_restores_every_record)
{
	struct wr__record r[3] = {transcript("w-1", 1, "one"),
	                          transcript("w-1", 2, "two"),
	                          transcript("w-1", 3, "three")};
	struct coll c;
	struct wr__store *st;
	size_t len;
	char *img = crash_image(r, 2, 2, &len);

	cr_assert_eq(len, (size_t)PREALLOC);
	st = open_load(&c);
	cr_assert_eq(c.n, 2);
	cr_assert_eq(c.ndiag, 0, "%s", c.ndiag ? c.diag[0] : "");
	cr_assert_eq(file_size(J1), PREALLOC, "the zeros stay");
	sync_ok(st, append_ok(st, &r[2]));
	st->ops->close(st);
	coll_free(&c);
	assert_restores(r, 3);
	free(img);
	clear_all(r, 3);
}

/* The last record's payload damaged, preallocated zeros after it: what a
 * crash mid-write leaves at the end, torn (a flipped byte before other
 * records is damage: damage_before_later_records_...). */
Test(store, a_bad_checksum_followed_by_zeros_only_is_a_torn_final_record)
{
	struct wr__record r[2] = {transcript("w-1", 1, "kept"),
	                          transcript("w-1", 2, "torn")};
	struct coll c;
	struct wr__store *st;
	size_t len;
	char *img = crash_image(r, 2, 1, &len);
	off_t last = frame_at(img, 1);

	img[last + 12] ^= 0x20; /* inside the last payload */
	write_file(J1, img, len);
	st = open_load(&c);
	cr_assert_eq(c.n, 1);
	cr_assert_eq(c.ndiag, 1);
	cr_assert(strstr(c.diag[0], "checksum mismatch in the final record") !=
	          NULL, "%s", c.diag[0]);
	cr_assert_eq(file_size(J1), last, "cut where it began");
	st->ops->close(st);
	coll_free(&c);
	free(img);
	clear_all(r, 2);
}

/* Records 0..2 with record 1 long enough to span a whole sector. */
static void
three_records(struct wr__record r[3])
{
	char big[1500];

	memset(big, 'b', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	r[0] = transcript("w-1", 1, "first");
	r[1] = transcript("w-1", 2, big);
	r[2] = transcript("w-1", 3, "third");
}

/* The page cache writes pages back in any order: a crash may leave a
 * sector of a record unwritten (zeros) and a later record written.
 * Neither was acknowledged (an fdatasync covering the later one covers
 * the earlier one too): both are cut, with one diagnostic. */
static void
unwritten_sector_is_cut_with_what_follows(bool header)
{
	struct wr__record r[3], want[2];
	struct coll c;
	struct wr__store *st;
	size_t len;
	char *img;
	off_t b, from, to;

	three_records(r);
	img = crash_image(r, 3, 1, &len);
	b = frame_at(img, 1);
	from = header ? b : (b + 8 + 511) / 512 * 512;
	to = (from / 512 + 1) * 512;
	cr_assert_leq(to, frame_at(img, 2), "the sector lies in record 1");
	memset(img + from, 0, (size_t)(to - from));
	write_file(J1, img, len);
	st = open_load(&c);
	cr_assert_eq(c.n, 1);
	cr_assert_eq(c.ndiag, 1);
	cr_assert(strstr(c.diag[0], "zero-filled sector") != NULL, "%s",
	          c.diag[0]);
	cr_assert_eq(file_size(J1), b, "cut where record 1 began");
	sync_ok(st, append_ok(st, &r[2]));
	st->ops->close(st);
	coll_free(&c);
	want[0] = r[0];
	want[1] = r[2];
	assert_restores(want, 2);
	free(img);
	clear_all(r, 3);
}

Test(store, unwritten_sector_in_a_record_is_cut_with_the_later_records)
{
	unwritten_sector_is_cut_with_what_follows(false);
}

Test(store, unwritten_sector_from_a_record_header_on_is_cut_with_the_rest)
{
	unwritten_sector_is_cut_with_what_follows(true);
}

/* Damage is not a crash: a flipped byte, or a zero header inside written
 * bytes, refuses the store even with later records and zeros after it. */
Test(store, damage_before_later_records_in_a_preallocated_journal_refuses)
{
	struct wr__record r[3];
	size_t len;
	char *img;
	off_t b;

	three_records(r);
	img = crash_image(r, 3, 1, &len);
	b = frame_at(img, 1);
	img[b + 100] ^= 0x20;
	write_file(J1, img, len);
	assert_corrupt(J1, b);
	cr_assert_eq(file_size(J1), (off_t)len, "a refused store is not modified");
	img[b + 100] ^= 0x20;
	memset(img + b, 0, 8); /* the header alone */
	write_file(J1, img, len);
	assert_corrupt(J1, b);
	free(img);
	clear_all(r, 3);
}

/* zero_from() reads 4 KiB at a time and stops at the first read that
 * holds a non-zero byte: data after more than 4 KiB of zeros must still
 * count.  Record 2 moved GAP bytes on, zeros before it. */
#define GAP (3 * 4096)

static char *
gap_image(const struct wr__record r[3], size_t *len, off_t *b)
{
	size_t n;
	char *img = crash_image(r, 3, 1, &n);
	off_t c = frame_at(img, 2), end = frame_at(img, 3);
	char *out = calloc(1, n);

	cr_assert_not_null(out);
	cr_assert_leq((size_t)(end + GAP), n, "room in the preallocation");
	memcpy(out, img, (size_t)c);
	memcpy(out + c + GAP, img + c, (size_t)(end - c));
	*b = frame_at(img, 1);
	*len = n;
	free(img);
	return out;
}

/* A bad checksum, then zeros for more than 4 KiB, then a record: damage
 * (the record after it was written), not a torn final record. */
Test(store, a_bad_checksum_then_a_long_zero_run_then_a_record_refuses)
{
	struct wr__record r[3];
	size_t len;
	off_t b;
	char *img;

	three_records(r);
	img = gap_image(r, &len, &b);
	img[b + 100] ^= 0x20;
	write_file(J1, img, len);
	assert_corrupt(J1, b);
	cr_assert_eq(file_size(J1), (off_t)len,
	             "a refused store is not modified");
	free(img);
	clear_all(r, 3);
}

/* A journal-2 all zero for more than 4 KiB from its header on, then
 * record bytes: damage, never rewritten as an incomplete header. */
Test(store, a_zero_header_then_a_long_zero_run_then_data_refuses)
{
	struct wr__record r[3];
	size_t len;
	off_t b;
	char *img;

	three_records(r);
	img = gap_image(r, &len, &b);
	store_with(r, 1);
	memset(img, 0, GAP); /* the header and records 0 and 1 */
	write_file(J2, img, len);
	assert_corrupt(J2, 0);
	cr_assert_eq(file_size(J2), (off_t)len,
	             "a refused store is not modified");
	free(img);
	clear_all(r, 3);
}

Test(store, when_preallocation_is_unsupported_the_journal_grows_per_append)
{
	struct wr__record r[2] = {transcript("w-1", 1, "one"),
	                          transcript("w-1", 2, "two")};
	struct coll c;
	struct wr__store *st = open_load(&c);

	wr__store_fs_set_io(st, &test_faulty_io);
	test_fault_allocate(EOPNOTSUPP);
	sync_ok(st, append_ok(st, &r[0]));
	sync_ok(st, append_ok(st, &r[1]));
	cr_assert_eq(test_fault_allocate_calls(), 1, "not tried again");
	cr_assert_eq(file_size(J1), data_size(J1));
	st->ops->close(st);
	coll_free(&c);
	assert_restores(r, 2);
	clear_all(r, 2);
}

Test(store, a_failed_preallocation_leaves_the_append_to_the_write)
{
	struct wr__record r[2] = {transcript("w-1", 1, "one"),
	                          transcript("w-1", 2, "two")};
	struct coll c;
	struct wr__store *st = open_load(&c);

	wr__store_fs_set_io(st, &test_faulty_io);
	test_fault_allocate(ENOSPC);
	sync_ok(st, append_ok(st, &r[0]));
	cr_assert_eq(file_size(J1), data_size(J1));
	test_fault_allocate(0);
	sync_ok(st, append_ok(st, &r[1]));
	cr_assert_eq(test_fault_allocate_calls(), 2, "tried again");
	cr_assert_eq(file_size(J1), PREALLOC);
	st->ops->close(st);
	coll_free(&c);
	assert_restores(r, 2);
	clear_all(r, 2);
}

/* Only the last journal may end in zeros: a snapshot's first step trims
 * the journal it leaves before it creates the next, so a crash right
 * after (no snapshot written yet) restores from both journals. */
Test(store, a_snapshot_trims_the_journal_it_leaves)
{
	struct wr__record r[2] = {transcript("w-1", 1, "one"),
	                          transcript("w-1", 2, "two")};
	struct coll c;
	struct wr__store *st = open_load(&c);
	struct wr_error e;
	uint64_t gen = 0;
	size_t len;
	char *img;

	sync_ok(st, append_ok(st, &r[0]));
	cr_assert_eq(st->ops->snapshot_begin(st, &gen, &e), WR_OK, "%s",
	             e.message);
	cr_assert_eq(file_size(J1), data_size(J1));
	sync_ok(st, append_ok(st, &r[1]));
	img = read_file(J2, &len);
	cr_assert_eq(len, (size_t)PREALLOC);
	st->ops->close(st);
	coll_free(&c);
	write_file(J2, img, len); /* as a crash leaves it */
	assert_restores(r, 2);
	free(img);
	clear_all(r, 2);
}

/* Zeros after the records of a journal that is not the last are damage:
 * no crash leaves them (a snapshot trims the journal it leaves first). */
Test(store, a_zero_tail_on_a_journal_that_is_not_the_last_refuses)
{
	struct wr__record r[2] = {transcript("w-1", 1, "one"),
	                          transcript("w-1", 2, "two")};
	struct coll c;
	struct wr__store *st = open_load(&c);
	struct wr_error e;
	char zero[100] = {0};
	uint64_t gen = 0;
	off_t end;
	int fd;

	sync_ok(st, append_ok(st, &r[0]));
	cr_assert_eq(st->ops->snapshot_begin(st, &gen, &e), WR_OK, "%s",
	             e.message);
	sync_ok(st, append_ok(st, &r[1]));
	st->ops->close(st);
	coll_free(&c);
	end = file_size(J1);
	fd = open(path_in(J1), O_WRONLY | O_APPEND);
	cr_assert_eq(write(fd, zero, sizeof(zero)), (ssize_t)sizeof(zero));
	close(fd);
	assert_corrupt(J1, end);
	clear_all(r, 2);
}

/* ---- crash states of a preallocated journal (review of e82de24) ------- */

/* Criterion's info log (shown with --verbose): what each case saw. */
#define SAY(...) cr_log_info(__VA_ARGS__)

/* Frame bytes (8 + payload) of rec. */
static size_t
rv_frame_len(const struct wr__record *rec)
{
	char *buf = NULL;
	size_t cap = 0, n = 0;
	struct wr_error e;

	cr_assert_eq(wr__fs_frame(rec, &buf, &cap, &n, &e), WR_OK, "%s",
	             e.message);
	free(buf);
	return n;
}

/* A transcript record whose frame is exactly want bytes. */
static struct wr__record
rv_sized(const char *wid, uint64_t seq, size_t want)
{
	struct wr__record r = transcript(wid, seq, "");
	size_t empty = rv_frame_len(&r);
	char *c;

	cr_assert_geq(want, empty);
	wr__record_clear(&r);
	c = malloc(want - empty + 1);
	memset(c, 'p', want - empty);
	c[want - empty] = '\0';
	r = transcript(wid, seq, c);
	free(c);
	cr_assert_eq(rv_frame_len(&r), want, "sized record");
	return r;
}

/* Opens and loads; fills out with "ok n=N diag=D[: first diag]" or
 * "refused REASON: message".  Returns the records loaded (-1: refused). */
static long
rv_outcome(char *out, size_t cap)
{
	struct wr__store *st = open_ok();
	struct coll c = {0};
	struct wr_error e;
	long n;

	if (st->ops->load(st, collect, on_diag, &c, &e) != WR_OK) {
		snprintf(out, cap, "refused %s: %s", wr_reason_name(e.reason),
		         e.message);
		n = -1;
	} else {
		snprintf(out, cap, "ok n=%zu diag=%zu%s%s", c.n, c.ndiag,
		         c.ndiag ? ": " : "", c.ndiag ? c.diag[0] : "");
		n = (long)c.n;
	}
	st->ops->close(st);
	coll_free(&c);
	return n;
}

/* ---- the rewrite of an incomplete header ------------------------- */

/* A last journal whose header a crash left incomplete (size > 0: zeros,
 * or a prefix) is rewritten; appends then go on, and a clean close and
 * reopen must restore them. */
static void
rv_incomplete_header(const void *content, size_t clen, const char *what)
{
	struct wr__record r[2] = {transcript("w-1", 1, "one"),
	                          transcript("w-1", 2, "two")};
	struct wr__record more = transcript("w-1", 3, "three");
	struct wr__record want[3];
	struct coll c;
	struct wr__store *st;
	char out[1024];
	size_t len;
	char *img;
	long n;

	store_with(r, 2);
	write_file(J2, content, clen); /* journal-2 cut while created */
	st = open_load(&c);
	SAY("%s: first open: n=%zu diag=%zu %s\n", what, c.n, c.ndiag,
	    c.ndiag ? c.diag[0] : "");
	sync_ok(st, append_ok(st, &more)); /* acknowledged */
	img = read_file(J2, &len);
	SAY("%s: journal-2 while open: %zu bytes, first bytes %02x %02x %02x "
	    "%02x (want 'W' 'R' 'S' 'T')\n", what, len,
	    (unsigned char)img[0], (unsigned char)img[1],
	    (unsigned char)img[2], (unsigned char)img[3]);
	free(img);
	st->ops->close(st);
	coll_free(&c);
	n = rv_outcome(out, sizeof(out));
	SAY("%s: reopen after a clean close: %s\n", what, out);
	want[0] = r[0];
	want[1] = r[1];
	want[2] = more;
	cr_expect_eq(n, 3, "%s: reopen: %s", what, out);
	if (n == 3)
		assert_restores(want, 3);
	clear_all(r, 2);
	wr__record_clear(&more);
}

Test(store, incomplete_header_32_zero_bytes_is_rewritten_in_place)
{
	static const char zero[HDR];

	rv_incomplete_header(zero, sizeof(zero), "32 zero bytes");
}

Test(store, incomplete_header_10_byte_prefix_is_rewritten_in_place)
{
	struct wr__record r[1] = {transcript("w-1", 1, "one")};
	size_t len;
	char *j1;

	store_with(r, 1);
	j1 = read_file(J1, &len);
	cr_assert_geq(len, 10);
	clear_all(r, 1);
	cr_assert_eq(unlink(path_in(J1)), 0);
	cr_assert_eq(unlink(path_in(SYNCED)), 0); /* a fresh store */
	rv_incomplete_header(j1, 10, "10-byte header prefix");
	free(j1);
}

/* ---- torn-vs-damage rules ----------------------------------------- */

/* Three synced records: A (filler sized so that B's frame starts at
 * b_at), B (b_len frame bytes), C.  Returns the image (zeros appended to
 * PAD bytes when the build leaves none, so that both builds see a crash
 * image of a preallocated journal). */
static char *
rv_abc(off_t b_at, size_t b_len, size_t *len, off_t *b, off_t *cpos,
       struct wr__record r[3])
{
	char *img;

	r[0] = rv_sized("w-1", 1, (size_t)(b_at - HDR));
	r[1] = rv_sized("w-1", 2, b_len);
	r[2] = transcript("w-1", 3, "the third record, acknowledged");
	img = crash_image(r, 3, 1, len);
	*b = frame_at(img, 1);
	*cpos = frame_at(img, 2);
	cr_assert_eq(*b, b_at);
	return img;
}

static void
rv_write_padded(const char *img, size_t len)
{
	size_t want = len < (1u << 20) ? (1u << 20) : len;
	char *p = calloc(1, want);

	memcpy(p, img, len);
	write_file(J1, p, want);
	free(p);
}

/* A record's header that straddles a sector (and page) boundary: the
 * page holding its first byte was written back before the record was
 * appended (old: zeros from the header on), the next page after it.
 * This is what the commit says a crash can leave; it must be torn, not
 * damage. */
static void
rv_straddle(off_t b_at, size_t b_len)
{
	struct wr__record r[3];
	char out[1024];
	size_t len;
	off_t b, c;
	long n;
	char *img = rv_abc(b_at, b_len, &len, &b, &c, r);
	off_t sector_end = (b / 512 + 1) * 512;

	memset(img + b, 0, (size_t)(sector_end - b)); /* old page: zeros */
	rv_write_padded(img, len);
	n = rv_outcome(out, sizeof(out));
	SAY("header at %lld (B %zu bytes), [%lld,%lld) unwritten: %s\n",
	    (long long)b, b_len, (long long)b, (long long)sector_end, out);
	cr_expect_eq(n, 1, "a crash image must load with A only: %s", out);
	free(img);
	clear_all(r, 3);
}

Test(store, header_straddling_a_page_with_its_first_byte_unwritten_is_torn)
{
	rv_straddle(4095, 1000);
}

Test(store, header_straddling_a_page_with_two_bytes_unwritten_is_torn)
{
	rv_straddle(4094, 70000);
}

/* Damage that no crash can leave: B's last two payload bytes (the start
 * of a sector; C's frame follows in the same sector, so that sector was
 * written with C) are zero.  The parent refuses (checksum mismatch); a
 * correct rule refuses too.  Acknowledged B and C must not be dropped. */
Test(store, two_zero_bytes_at_a_sector_start_before_later_records_are_damage)
{
	struct wr__record r[3];
	char out[1024];
	size_t len;
	off_t b, c;
	long n;
	/* B's frame ends 2 bytes into sector 8 (byte 4096 + 2) */
	char *img = rv_abc(1000, 4096 + 2 - 1000, &len, &b, &c, r);

	cr_assert_eq(c, 4098);
	img[4096] = 0;
	img[4097] = 0;
	rv_write_padded(img, len);
	n = rv_outcome(out, sizeof(out));
	SAY("B's last 2 payload bytes zeroed (sector start, C follows in "
	    "the same sector): %s\n", out);
	cr_expect_eq(n, -1, "acknowledged B and C dropped: %s", out);
	free(img);
	clear_all(r, 3);
}

/* Damage: the first payload bytes of B, from B's header (8 bytes before
 * a sector's end... here B's header ends 3 bytes before it) to the
 * sector end, zeroed: a 3-byte zero run inside a written sector. */
Test(store, three_zero_payload_bytes_after_a_header_are_damage)
{
	struct wr__record r[3];
	char out[1024];
	size_t len;
	off_t b, c;
	long n;
	char *img = rv_abc(512 - 11, 600, &len, &b, &c, r);

	memset(img + 509, 0, 3); /* payload bytes 0..2, to the sector end */
	rv_write_padded(img, len);
	n = rv_outcome(out, sizeof(out));
	SAY("B's first 3 payload bytes zeroed (its header written in the same "
	    "sector): %s\n", out);
	cr_expect_eq(n, -1, "acknowledged B and C dropped: %s", out);
	free(img);
	clear_all(r, 3);
}

/* HELD: B's 8-byte frame header zeroed where it ends a sector.  A's bytes
 * before it in the same sector are no proof the sector was written after
 * B was appended (its older version holds A and zeros), so this is a
 * crash state and torn is right (both the commit and the fix say so). */
Test(store, zero_header_ending_a_sector_is_a_crash_state_and_torn)
{
	struct wr__record r[3];
	char out[1024];
	size_t len;
	off_t b, c;
	long n;
	char *img = rv_abc(1024 - 8, 300, &len, &b, &c, r);

	memset(img + b, 0, 8);
	rv_write_padded(img, len);
	n = rv_outcome(out, sizeof(out));
	SAY("B's header zeroed at the end of a sector: %s\n", out);
	cr_expect_eq(n, 1, "torn, as a crash leaves it: %s", out);
	free(img);
	clear_all(r, 3);
}

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_cv = PTHREAD_COND_INITIALIZER;
static int g_write_gate;   /* 1: the next write waits; 2: waiting; 3: go */
static int g_sync_mode;    /* 0 real; 1 fail next with EIO; 2 gate next */
static int g_sync_state;   /* 2: a gated fdatasync waits; 3: go */

static void
g_wait_for(int *v, int want)
{
	pthread_mutex_lock(&g_mu);
	while (*v != want)
		pthread_cond_wait(&g_cv, &g_mu);
	pthread_mutex_unlock(&g_mu);
}

static void
g_set(int *v, int x)
{
	pthread_mutex_lock(&g_mu);
	*v = x;
	pthread_cond_broadcast(&g_cv);
	pthread_mutex_unlock(&g_mu);
}

static int g_write_fails; /* the gated write fails with EIO */

static ssize_t
g_write(int fd, const void *buf, size_t n)
{
	int fail = 0;

	pthread_mutex_lock(&g_mu);
	if (g_write_gate == 1) {
		g_write_gate = 2;
		pthread_cond_broadcast(&g_cv);
		while (g_write_gate != 3)
			pthread_cond_wait(&g_cv, &g_mu);
		g_write_gate = 0;
		fail = g_write_fails;
	}
	pthread_mutex_unlock(&g_mu);
	if (fail) {
		errno = EIO;
		return -1;
	}
	return write(fd, buf, n);
}

static int
g_fdatasync(int fd)
{
	pthread_mutex_lock(&g_mu);
	if (g_sync_mode == 1) {
		g_sync_mode = 0;
		pthread_mutex_unlock(&g_mu);
		errno = EIO;
		return -1;
	}
	if (g_sync_mode == 2) {
		g_sync_mode = 0;
		g_sync_state = 2;
		pthread_cond_broadcast(&g_cv);
		while (g_sync_state != 3)
			pthread_cond_wait(&g_cv, &g_mu);
		g_sync_state = 0;
	}
	pthread_mutex_unlock(&g_mu);
	return fdatasync(fd);
}

static const struct wr__fs_io g_io = {g_write, g_fdatasync, NULL, NULL,
                                      NULL};

struct g_app {
	struct wr__store *st;
	struct wr__record *rec;
	wr_err rc;
	char msg[WR_MESSAGE_MAX];
};

static void *
g_append(void *arg)
{
	struct g_app *a = arg;
	struct wr_error e;
	uint64_t lsn;

	a->rc = a->st->ops->append(a->st, a->rec, &lsn, NULL, &e);
	if (a->rc != WR_OK)
		snprintf(a->msg, sizeof(a->msg), "%s", e.message);
	return NULL;
}

static void *
g_reset(void *arg)
{
	struct g_app *a = arg;
	struct wr_error e;

	a->rc = a->st->ops->reset(a->st, &e);
	if (a->rc != WR_OK)
		snprintf(a->msg, sizeof(a->msg), "%s", e.message);
	return NULL;
}

/*
 * The append of r[2] (r[0] durable, r[1] appended: taken before the store
 * broke) races a reset: its write waits at a gate (and fails when fail)
 * while a sync of r[1] fails and a reset cuts, then waits inside its
 * fdatasync; the append writes (or fails and undoes) only then.  Returns
 * once both are done; their results are in *a and *z.
 */
static void
race_append_and_reset(struct wr__store *st, struct wr__record r[3],
                      bool fail, struct g_app *a, struct g_app *z)
{
	pthread_t ta, tz;
	struct wr_error e;
	uint64_t lsn1;

	wr__store_fs_set_io(st, &g_io);
	sync_ok(st, append_ok(st, &r[0]));
	lsn1 = append_ok(st, &r[1]);
	g_set(&g_write_fails, fail);
	g_set(&g_write_gate, 1);
	a->st = st;
	a->rec = &r[2];
	cr_assert_eq(pthread_create(&ta, NULL, g_append, a), 0);
	g_wait_for(&g_write_gate, 2);
	g_set(&g_sync_mode, 1); /* a sync fails: broken */
	cr_assert_neq(st->ops->sync(st, lsn1, &e), WR_OK);
	g_set(&g_sync_mode, 2);
	z->st = st;
	cr_assert_eq(pthread_create(&tz, NULL, g_reset, z), 0);
	g_wait_for(&g_sync_state, 2); /* the reset has cut */
	g_set(&g_write_gate, 3);
	pthread_join(ta, NULL);
	g_set(&g_sync_state, 3);
	pthread_join(tz, NULL);
	SAY("racing append: rc=%d %s; reset: rc=%d %s\n", (int)a->rc, a->msg,
	    (int)z->rc, z->msg);
}

/* After race_append_and_reset: r[3] is acknowledged where its location
 * says, and both a clean close and a crash image restore r[0] and r[3]
 * only. */
static void
next_record_lands_where_it_says(struct wr__store *st, struct coll *c,
                                struct wr__record r[4])
{
	struct wr__record back, want[2] = {r[0], r[3]};
	struct wr__loc loc;
	struct wr_error e;
	uint64_t lsn = 0;
	size_t len;
	char *img;

	cr_assert_eq(st->ops->append(st, &r[3], &lsn, &loc, &e), WR_OK, "%s",
	             e.message);
	sync_ok(st, lsn);
	cr_assert_eq(st->ops->read(st, &loc, &back, &e), WR_OK, "read: %s",
	             e.message);
	cr_expect_str_eq(back.content, r[3].content);
	wr__record_clear(&back);
	img = read_file(J1, &len); /* a crash (SIGKILL) image */
	st->ops->close(st);
	coll_free(c);
	assert_restores(want, 2);
	write_file(J1, img, len);
	assert_restores(want, 2);
	free(img);
}

/* The append writes after the reset's cut and sees the counter moved: it
 * fails, and the reset cuts again, so the fd's offset is the records'
 * end when the reset returns. */
Test(store, an_append_that_races_a_reset_fails_and_is_cut_by_it)
{
	struct wr__record r[4] = {transcript("w-1", 1, "zero, durable"),
	                          transcript("w-1", 2, "one, dropped by the reset"),
	                          transcript("w-1", 3, "two, its append fails"),
	                          transcript("w-1", 4, "three, acknowledged")};
	struct g_app a = {0}, z = {0};
	struct coll c;
	struct wr__store *st = open_load(&c);

	race_append_and_reset(st, r, false, &a, &z);
	cr_assert_neq(a.rc, WR_OK);
	cr_assert_eq(z.rc, WR_OK);
	next_record_lands_where_it_says(st, &c, r);
	clear_all(r, 4);
}

/* The append's write fails after the reset's cut: its undo (ftruncate and
 * lseek to where the record began, past the cut) is cut again too. */
Test(store, a_failed_append_that_races_a_reset_is_cut_by_it)
{
	char long_content[600]; /* past a sector end */
	struct wr__record r[4];
	struct g_app a = {0}, z = {0};
	struct coll c;
	struct wr__store *st = open_load(&c);

	memset(long_content, 'x', sizeof(long_content) - 1);
	long_content[sizeof(long_content) - 1] = '\0';
	r[0] = transcript("w-1", 1, "zero, durable");
	r[1] = transcript("w-1", 2, long_content);
	r[2] = transcript("w-1", 3, "two, its write fails");
	r[3] = transcript("w-1", 4, "three, acknowledged");
	race_append_and_reset(st, r, true, &a, &z);
	cr_assert_neq(a.rc, WR_OK);
	cr_assert_eq(z.rc, WR_OK);
	next_record_lands_where_it_says(st, &c, r);
	clear_all(r, 4);
}

/* ---- a model of power-loss crash states --------------------------- */
/*
 * K records are appended and synced (acknowledged), then M more appended
 * without a sync; the journal's image after each append is kept (S_0 =
 * the durable state, S_M = the page cache).  A power loss leaves every
 * 512-byte sector as it was at some writeback: per 4 KiB page a version
 * v in [0, M], and (a torn page write) some sectors of it at an older
 * version.  Every such image must load (no store_corrupt: nothing in it
 * is damage) and restore the K acknowledged records, then a prefix of
 * the others.
 */
#define MODEL_K 4
#define MODEL_M 40
#define MODEL_LAYOUTS 20
#define MODEL_RUNS 200

static unsigned rv_seed = 12345;
static unsigned
rv_rand(void)
{
	rv_seed = rv_seed * 1103515245u + 12345u;
	return (rv_seed >> 8) & 0xffffff;
}

struct model_result {
	unsigned refused, lost, wrong, ok, torn, straddles;
	char refusal[3][1024];
	unsigned nref;
};

/* One layout (record sizes from the seed), MODEL_RUNS crash states. */
static void
rv_model_layout(struct model_result *mr)
{
	struct wr__record r[MODEL_K + MODEL_M];
	char *img[MODEL_M + 1], *mix, *syn;
	size_t len = 0, lens[MODEL_M + 1], slen;
	struct coll c;
	struct wr__store *st;
	uint64_t lsn = 0;
	size_t end_max;

	for (size_t i = 0; i < MODEL_K + MODEL_M; i++) {
		char content[4000];
		size_t L = 20 + rv_rand() % 1500;
		if (rv_rand() % 8 == 0)
			L = 20 + rv_rand() % 200;
		memset(content, 'a' + (int)(i % 26), L);
		content[L] = '\0';
		r[i] = transcript("w-1", i + 1, content);
	}
	if (exists(J1))
		cr_assert_eq(unlink(path_in(J1)), 0);
	if (exists(SYNCED))
		cr_assert_eq(unlink(path_in(SYNCED)), 0);
	st = open_load(&c);
	for (size_t i = 0; i < MODEL_K; i++)
		lsn = append_ok(st, &r[i]);
	sync_ok(st, lsn);
	img[0] = read_file(J1, &lens[0]);
	/* It names the K records' end from here on, whenever the crash. */
	syn = read_file(SYNCED, &slen);
	for (size_t j = 0; j < MODEL_M; j++) {
		(void)append_ok(st, &r[MODEL_K + j]);
		img[j + 1] = read_file(J1, &lens[j + 1]);
	}
	st->ops->close(st);
	coll_free(&c);
	len = lens[MODEL_M];
	for (size_t j = 0; j <= MODEL_M; j++)
		cr_assert_eq(lens[j], len, "no size change in the model");
	end_max = (size_t)data_size(J1);
	for (size_t k = 0; k < MODEL_K + MODEL_M; k++) {
		off_t o = frame_at(img[MODEL_M], k);
		if (o % 512 >= 505)
			mr->straddles++;
	}
	mix = malloc(len);
	for (unsigned run = 0; run < MODEL_RUNS; run++) {
		long n;
		char out[1024];
		size_t cut_page = rv_rand() % 2 ? rv_rand() % (end_max / 4096 + 1) : 0;
		memcpy(mix, img[MODEL_M], len);
		for (size_t page = 0; page * 4096 < end_max + 4096 && page * 4096 < len; page++) {
			unsigned v = page < cut_page ? MODEL_M : rv_rand() % (MODEL_M + 1);
			bool tear = rv_rand() % 3 == 0;
			for (size_t s = 0; s < 8; s++) {
				size_t at = page * 4096 + s * 512;
				unsigned sv = v;
				if (at >= len)
					break;
				if (tear && rv_rand() % 2)
					sv = rv_rand() % (v + 1);
				if (page < cut_page && !(tear && s == 7 && rv_rand() % 2))
					sv = MODEL_M;
				memcpy(mix + at, img[sv] + at, 512);
			}
		}
		write_file(J1, mix, len);
		write_file(SYNCED, syn, slen);
		n = rv_outcome(out, sizeof(out));
		if (n < 0) {
			mr->refused++;
			if (mr->nref < 3)
				snprintf(mr->refusal[mr->nref++], 1024, "%s", out);
			continue;
		}
		if (n < MODEL_K) {
			mr->lost++;
			continue;
		}
		{
			struct coll cc;
			struct wr__store *s2 = open_load(&cc);
			bool same = cc.n == (size_t)n;
			for (size_t i = 0; same && i < cc.n; i++)
				same = cc.v[i].sequence == r[i].sequence &&
				       strcmp(cc.v[i].content, r[i].content) == 0;
			s2->ops->close(s2);
			coll_free(&cc);
			if (!same)
				mr->wrong++;
			else
				mr->ok++;
		}
		if (strstr(out, "diag=1"))
			mr->torn++;
	}
	for (size_t j = 0; j <= MODEL_M; j++)
		free(img[j]);
	free(mix);
	free(syn);
	clear_all(r, MODEL_K + MODEL_M);
}

Test(store, model_power_loss_states_load_and_keep_every_acknowledged_record,
     .timeout = 1200)
{
	struct model_result mr = {0};

	for (unsigned l = 0; l < MODEL_LAYOUTS; l++)
		rv_model_layout(&mr);
	SAY("model: %u layouts x %u crash states: ok %u (torn-cut %u), refused "
	    "%u, acknowledged lost %u, wrong records %u; frame headers at "
	    "505..511 mod 512: %u\n", MODEL_LAYOUTS, MODEL_RUNS, mr.ok, mr.torn,
	    mr.refused, mr.lost, mr.wrong, mr.straddles);
	for (unsigned i = 0; i < mr.nref; i++)
		SAY("  refusal %u: %s\n", i, mr.refusal[i]);
	cr_expect_eq(mr.refused + mr.lost + mr.wrong, 0);
}


/* Appends a frame with a correct checksum around payload. */
static void
append_raw_frame(const char *name, const char *payload)
{
	unsigned char h[8];
	uint32_t len = (uint32_t)strlen(payload);
	uint32_t crc = wr__crc32c(0, payload, len);
	int fd = open(path_in(name), O_WRONLY | O_APPEND);

	for (int i = 0; i < 4; i++) {
		h[i] = (unsigned char)(len >> (8 * i));
		h[4 + i] = (unsigned char)(crc >> (8 * i));
	}
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, h, 8), 8);
	cr_assert_eq(write(fd, payload, len), (ssize_t)len);
	close(fd);
}

Test(store, well_framed_but_undecodable_records_refuse_even_at_the_tail)
{
	static const char *const bad[] = {
		"{\"kind\":\"transcript\"",                       /* bad JSON */
		"{\"kind\":\"teleport\",\"event_id\":1,\"at_ms\":1}", /* kind */
		"{\"kind\":\"turn_end\",\"event_id\":1,\"at_ms\":1,"
		"\"worker_id\":\"w\",\"extra\":1}",                /* member */
		"{\"kind\":\"turn_end\",\"event_id\":1,\"at_ms\":1}", /* missing */
		"{\"kind\":\"turn_end\",\"event_id\":-1,\"at_ms\":1,"
		"\"worker_id\":\"w\"}",                            /* type */
		"[]",
	};
	struct wr__record r[1] = {transcript("w-1", 1, "one")};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		off_t end;
		store_with(r, 1);
		end = file_size(J1);
		append_raw_frame(J1, bad[i]);
		assert_corrupt(J1, end);
		cr_assert_eq(unlink(path_in(J1)), 0);
		cr_assert_eq(unlink(path_in(SYNCED)), 0); /* a fresh store */
	}
	clear_all(r, 1);
}

#define TR_HEAD "{\"kind\":\"transcript\",\"event_id\":1,\"at_ms\":1," \
	"\"worker_id\":\"w\",\"role\":\"user\",\"sequence\":1," \
	"\"turn_started\":false,"

/* Records json-c alone would read differently from what they say go through
 * the one strict reader (src/codec/json.h) like request bodies: each is
 * damage, never data.  The same records without the ambiguity decode. */
Test(store, records_json_c_would_change_are_undecodable_and_refuse_the_store)
{
	static const struct {
		const char *json, *reason;
	} bad[] = {
		{ TR_HEAD "\"content\":\"a\",\"content\\u0000x\":\"b\"}",
		  "nul_in_member_name" },
		{ TR_HEAD "\"content\":\"a\",\"content\":\"b\"}",
		  "duplicate_member" },
		{ TR_HEAD "\"content\":\"\\ud800\"}", "invalid_unicode" },
		{ "{\"kind\":\"turn_end\",\"event_id\":-0,\"at_ms\":1,"
		  "\"worker_id\":\"w\"}", "invalid_number" },
		{ "{\"kind\":\"turn_end\",\"event_id\":18446744073709551616,"
		  "\"at_ms\":1,\"worker_id\":\"w\"}", "invalid_number" },
	};
	static const char *const good[] = {
		TR_HEAD "\"content\":\"\\ud83d\\ude00\"}",
		"{\"kind\":\"turn_end\",\"event_id\":18446744073709551615,"
		"\"at_ms\":-1,\"worker_id\":\"w\"}",
	};
	struct wr__record r[1] = {transcript("w-1", 1, "one")}, rec;
	struct wr_error e;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		off_t end;
		cr_assert_eq(wr__record_decode(bad[i].json, strlen(bad[i].json),
		                               &rec, &e),
		             WR_EUNAVAILABLE, "%s", bad[i].json);
		cr_assert_str_eq(wr_reason_name(e.reason), "store_corrupt");
		cr_expect(strstr(e.message, bad[i].reason) != NULL,
		          "%s: why '%s'", bad[i].json, e.message);
		store_with(r, 1);
		end = file_size(J1);
		append_raw_frame(J1, bad[i].json);
		assert_corrupt(J1, end);
		cr_assert_eq(unlink(path_in(J1)), 0);
		cr_assert_eq(unlink(path_in(SYNCED)), 0); /* a fresh store */
	}
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		cr_assert_eq(wr__record_decode(good[i], strlen(good[i]), &rec,
		                               &e),
		             WR_OK, "%s: %s", good[i], e.message);
		wr__record_clear(&rec);
	}
	clear_all(r, 1);
}

Test(store, second_opener_is_refused_while_another_process_holds_the_lock)
{
	int ready[2], go[2];
	struct wr__store *st = NULL;
	struct wr_error e;
	pid_t pid;
	char ch;
	int status;

	cr_assert_eq(pipe(ready), 0);
	cr_assert_eq(pipe(go), 0);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		struct wr__store *cst = NULL;
		close(ready[0]);
		close(go[1]);
		if (wr__store_fs_open(dir, &cst, NULL) != WR_OK)
			_exit(1);
		if (write(ready[1], "r", 1) != 1)
			_exit(2);
		if (read(go[0], &ch, 1) != 1) /* EOF also ends the wait */
			ch = 0;
		cst->ops->close(cst);
		_exit(0);
	}
	close(ready[1]);
	close(go[0]);
	cr_assert_eq(read(ready[0], &ch, 1), 1, "child did not open");

	cr_assert_eq(wr__store_fs_open(dir, &st, &e), WR_EUNAVAILABLE);
	cr_assert_null(st);
	cr_assert_str_eq(wr_reason_name(e.reason), "store_locked");
	{
		char want[512];
		snprintf(want, sizeof(want),
		         "store %s is in use by another process", dir);
		cr_assert_str_eq(e.message, want);
	}
	cr_assert_eq(write(go[1], "g", 1), 1);
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	close(ready[0]);
	close(go[1]);

	st = open_ok();
	st->ops->close(st);
}

Test(store, the_same_store_cannot_be_opened_twice_in_one_process)
{
	struct wr__store *a = open_ok(), *b = NULL;
	struct wr_error e;

	cr_assert_eq(wr__store_fs_open(dir, &b, &e), WR_EUNAVAILABLE);
	cr_assert_str_eq(wr_reason_name(e.reason), "store_locked");
	a->ops->close(a);
	b = open_ok();
	b->ops->close(b);
}

static void
set_version(const char *name, uint32_t v)
{
	size_t len;
	char *buf = read_file(name, &len);

	for (int i = 0; i < 4; i++)
		buf[8 + i] = (char)(v >> (8 * i));
	write_file(name, buf, len);
	free(buf);
}

/* As a version-v binary wrote J1: version v, its own CRC. */
static void
set_version_crc(uint32_t v)
{
	size_t len;
	char *buf;
	uint32_t crc;

	set_version(J1, v);
	buf = read_file(J1, &len);
	crc = wr__crc32c(0, buf, 24);
	for (int i = 0; i < 4; i++)
		buf[24 + i] = (char)(crc >> (8 * i));
	write_file(J1, buf, len);
	free(buf);
}

/* A journal a version-v binary wrote is read, and appends go on in
 * version 3 (its header is rewritten). */
static void
old_version_is_read(uint32_t v)
{
	struct wr__record r[1] = {transcript("w-1", 1, "one")};
	struct wr__store *st;
	struct coll c;
	size_t len;
	char *buf;

	store_with(r, 1);
	set_version_crc(v);
	st = open_load(&c);
	cr_assert_eq(c.n, 1, "the version-%u records are read", v);
	st->ops->close(st);
	coll_free(&c);
	buf = read_file(J1, &len);
	cr_assert_eq((unsigned char)buf[8], 3, "appends go on in version 3");
	free(buf);
	assert_restores(r, 1);
}

Test(store, a_version_1_journal_is_read_and_its_header_becomes_version_3)
{
	old_version_is_read(1);
}

Test(store, a_version_2_journal_is_read_and_its_header_becomes_version_3)
{
	old_version_is_read(2);
}

Test(store, newer_format_version_is_refused_naming_file_and_versions)
{
	struct wr__record r[1] = {transcript("w-1", 1, "one")};
	struct wr__store *st = NULL;
	struct wr_error e;

	store_with(r, 1);
	set_version(J1, 4);
	cr_assert_eq(wr__store_fs_open(dir, &st, &e), WR_EINVALID_INPUT);
	cr_assert_null(st);
	cr_assert_str_eq(wr_reason_name(e.reason), "store_version");
	cr_assert(strstr(e.message, path_in(J1)) != NULL, "%s", e.message);
	cr_assert(strstr(e.message, "version 4") != NULL, "%s", e.message);
	cr_assert(strstr(e.message, "version 3") != NULL, "%s", e.message);
	clear_all(r, 1);
}

Test(store, header_damage_and_missing_journals_are_refused)
{
	struct wr__record r[1] = {transcript("w-1", 1, "one")};
	struct wr__store *st;
	struct coll c = {0};
	struct wr_error e;
	size_t len;
	char *j;

	store_with(r, 1);
	j = read_file(J1, &len);
	/* a journal whose header names another generation */
	write_file(J2, j, len);
	cr_assert_eq(unlink(path_in(J1)), 0);
	st = open_ok();
	cr_assert_eq(st->ops->load(st, collect, on_diag, &c, &e),
	             WR_EUNAVAILABLE);
	cr_assert_str_eq(wr_reason_name(e.reason), "store_corrupt");
	cr_assert(strstr(e.message, J1) != NULL, "missing: %s", e.message);
	st->ops->close(st);
	/* journal-1 back, journal-2 with the wrong generation */
	write_file(J1, j, len);
	st = open_ok();
	cr_assert_eq(st->ops->load(st, collect, on_diag, &c, &e),
	             WR_EUNAVAILABLE);
	cr_assert_str_eq(wr_reason_name(e.reason), "store_corrupt");
	cr_assert(strstr(e.message, J2) != NULL, "%s", e.message);
	st->ops->close(st);
	coll_free(&c);
	free(j);
	clear_all(r, 1);
}

Test(store, apply_failure_stops_the_load_with_its_error)
{
	struct wr__record r[3] = {transcript("w-1", 1, "a"),
	                          transcript("w-1", 2, "b"),
	                          transcript("w-1", 3, "c")};
	struct wr__store *st;
	struct coll c = {.fail_at = 2};
	struct wr_error e;

	store_with(r, 3);
	st = open_ok();
	cr_assert_eq(st->ops->load(st, collect, on_diag, &c, &e),
	             WR_EINTERNAL);
	cr_assert_str_eq(wr_reason_name(e.reason), "bad_record");
	cr_assert_eq(c.n, 1);
	st->ops->close(st);
	coll_free(&c);
	clear_all(r, 3);
}

/* Append fails with errno e (after a partial write if partial > 0): the
 * journal is unchanged and the next append works. */
static void
write_failure(int e, size_t partial, const char *text)
{
	struct wr__record r[3] = {transcript("w-1", 1, "before"),
	                          transcript("w-1", 2, "lost"),
	                          transcript("w-1", 2, "after")};
	struct wr__record want[2];
	struct coll c;
	struct wr__store *st = open_load(&c);
	struct wr_error err;
	uint64_t lsn = 99;
	char msg[512];
	off_t size;

	wr__store_fs_set_io(st, &test_faulty_io);
	sync_ok(st, append_ok(st, &r[0]));
	size = data_size(J1);
	test_fault_write(e, partial);
	cr_assert_eq(st->ops->append(st, &r[1], &lsn, NULL, &err), WR_EUNAVAILABLE);
	cr_assert_eq(lsn, 99, "lsn untouched on failure");
	cr_assert_str_eq(wr_reason_name(err.reason), "store_write_failed");
	snprintf(msg, sizeof(msg), "write %s: %s", path_in(J1), text);
	cr_assert_str_eq(err.message, msg);
	cr_assert_eq(data_size(J1), size, "nothing of the record remains");
	test_fault_write(0, 0);
	lsn = append_ok(st, &r[2]);
	cr_assert_eq(lsn, 2);
	sync_ok(st, lsn);
	st->ops->close(st);
	coll_free(&c);
	want[0] = r[0];
	want[1] = r[2];
	assert_restores(want, 2);
	clear_all(r, 3);
}

Test(store, write_eio_fails_append_and_leaves_the_journal_unchanged)
{
	write_failure(EIO, 0, "Input/output error");
}

Test(store, write_enospc_after_a_partial_write_leaves_nothing_behind)
{
	write_failure(ENOSPC, 5, "No space left on device");
}

/* fdatasync fails with e: sync fails, appends are refused until reset,
 * and what was not durable does not come back. */
static void
sync_failure(int e, const char *text)
{
	struct wr__record r[4] = {transcript("w-1", 1, "durable"),
	                          transcript("w-1", 2, "lost"),
	                          transcript("w-1", 2, "refused"),
	                          transcript("w-1", 2, "after reset")};
	struct wr__record want[2];
	struct coll c;
	struct wr__store *st = open_load(&c);
	struct wr_error err;
	uint64_t a, b, lsn = 0;
	char msg[512];
	off_t size;

	wr__store_fs_set_io(st, &test_faulty_io);
	a = append_ok(st, &r[0]);
	sync_ok(st, a);
	size = data_size(J1);
	b = append_ok(st, &r[1]);
	test_fault_sync(e, 0);
	cr_assert_eq(st->ops->sync(st, b, &err), WR_EUNAVAILABLE);
	cr_assert_str_eq(wr_reason_name(err.reason), "store_sync_failed");
	snprintf(msg, sizeof(msg), "fdatasync %s: %s", path_in(J1), text);
	cr_assert_str_eq(err.message, msg);
	/* what was durable before stays durable */
	sync_ok(st, a);
	/* broken: appends refused, the same sync fails again */
	cr_assert_eq(st->ops->append(st, &r[2], &lsn, NULL, &err), WR_EUNAVAILABLE);
	cr_assert_str_eq(wr_reason_name(err.reason), "store_failed");
	cr_assert_eq(st->ops->sync(st, b, &err), WR_EUNAVAILABLE);
	/* a reset that cannot sync keeps it broken */
	cr_assert_eq(st->ops->reset(st, &err), WR_EUNAVAILABLE);
	cr_assert_eq(st->ops->append(st, &r[2], &lsn, NULL, &err), WR_EUNAVAILABLE);
	cr_assert_str_eq(wr_reason_name(err.reason), "store_failed");
	/* the disk recovers: reset cuts the journal back */
	test_fault_sync(0, 0);
	cr_assert_eq(st->ops->reset(st, &err), WR_OK, "%s", err.message);
	cr_assert_eq(file_size(J1), size, "cut at the durable end");
	lsn = append_ok(st, &r[3]);
	cr_assert_gt(lsn, b, "record numbers are not reused");
	sync_ok(st, lsn);
	/* the dropped record never becomes durable */
	cr_assert_eq(st->ops->sync(st, b, &err), WR_EUNAVAILABLE);
	cr_assert_str_eq(wr_reason_name(err.reason), "store_sync_failed");
	st->ops->close(st);
	coll_free(&c);
	want[0] = r[0];
	want[1] = r[3];
	assert_restores(want, 2);
	clear_all(r, 4);
}

Test(store, fdatasync_eio_breaks_the_store_until_reset)
{
	sync_failure(EIO, "Input/output error");
}

Test(store, fdatasync_enospc_breaks_the_store_until_reset)
{
	sync_failure(ENOSPC, "No space left on device");
}

/* A reset of a store that is not broken (a second one, after the first
 * succeeded and an append came: the Runtime resets outside its lock)
 * cuts nothing: the record appended since becomes durable and stays. */
Test(store, a_reset_of_a_store_that_is_not_broken_cuts_nothing)
{
	struct wr__record r[2] = {transcript("w-1", 1, "durable"),
	                          transcript("w-1", 2, "appended since")};
	struct coll c;
	struct wr__store *st = open_load(&c);
	struct wr_error err;
	uint64_t a, b;
	off_t size;

	a = append_ok(st, &r[0]);
	sync_ok(st, a);
	b = append_ok(st, &r[1]);
	size = file_size(J1);
	cr_assert_eq(st->ops->reset(st, &err), WR_OK, "%s", err.message);
	cr_assert_eq(file_size(J1), size, "a reset cut a store not broken");
	sync_ok(st, b);
	st->ops->close(st);
	coll_free(&c);
	assert_restores(r, 2);
	clear_all(r, 2);
}

Test(store, close_of_a_broken_store_drops_what_was_not_durable)
{
	struct wr__record r[2] = {transcript("w-1", 1, "durable"),
	                          transcript("w-1", 2, "lost")};
	struct coll c;
	struct wr__store *st = open_load(&c);
	struct wr_error err;
	uint64_t b;

	wr__store_fs_set_io(st, &test_faulty_io);
	sync_ok(st, append_ok(st, &r[0]));
	b = append_ok(st, &r[1]);
	test_fault_sync(EIO, 0);
	cr_assert_eq(st->ops->sync(st, b, &err), WR_EUNAVAILABLE);
	test_fault_sync(0, 0);
	st->ops->close(st); /* no reset */
	coll_free(&c);
	assert_restores(r, 1);
	clear_all(r, 2);
}

/* ---- group commit ----------------------------------------------------- */

#define THREADS 8
#define PER_THREAD 50

struct gc {
	struct wr__store *st;
	pthread_mutex_t *rt_lock; /* stands for the Runtime write lock */
	int id;
	int failures;
};

static void *
gc_thread(void *arg)
{
	struct gc *g = arg;

	for (int j = 0; j < PER_THREAD; j++) {
		char text[32];
		struct wr__record r;
		struct wr_error e;
		uint64_t lsn = 0;
		wr_err rc;

		snprintf(text, sizeof(text), "t%d-%d", g->id, j);
		r = transcript("w-1", (uint64_t)j + 1, text);
		pthread_mutex_lock(g->rt_lock);
		rc = g->st->ops->append(g->st, &r, &lsn, NULL, &e);
		pthread_mutex_unlock(g->rt_lock);
		if (rc != WR_OK || g->st->ops->sync(g->st, lsn, &e) != WR_OK)
			g->failures++;
		wr__record_clear(&r);
	}
	return NULL;
}

Test(store, concurrent_syncs_share_one_fdatasync)
{
	pthread_mutex_t rt_lock = PTHREAD_MUTEX_INITIALIZER;
	pthread_t t[THREADS];
	struct gc g[THREADS];
	struct coll c;
	struct wr__store *st = open_load(&c);
	int next[THREADS] = {0};
	unsigned calls;

	wr__store_fs_set_io(st, &test_faulty_io);
	test_fault_sync(0, 0); /* count from here */
	test_fault_sync_delay(1000); /* a disk that takes 1 ms */
	for (int i = 0; i < THREADS; i++) {
		g[i] = (struct gc){st, &rt_lock, i, 0};
		cr_assert_eq(pthread_create(&t[i], NULL, gc_thread, &g[i]), 0);
	}
	for (int i = 0; i < THREADS; i++) {
		pthread_join(t[i], NULL);
		cr_assert_eq(g[i].failures, 0);
	}
	calls = test_fault_sync_calls();
	fprintf(stderr, "group commit: %d appends+syncs on %d threads, %u "
	        "fdatasync calls\n", THREADS * PER_THREAD, THREADS, calls);
	cr_assert_lt(calls, THREADS * PER_THREAD, "%u fdatasyncs", calls);
	cr_assert_geq(calls, 1);
	st->ops->close(st);
	coll_free(&c);

	/* every record is back, each thread's in its order */
	st = open_load(&c);
	cr_assert_eq(c.n, THREADS * PER_THREAD);
	for (size_t k = 0; k < c.n; k++) {
		int ti, j;
		cr_assert_eq(sscanf(c.v[k].content, "t%d-%d", &ti, &j), 2);
		cr_assert(ti >= 0 && ti < THREADS);
		cr_assert_eq(j, next[ti], "thread %d out of order", ti);
		next[ti]++;
	}
	st->ops->close(st);
	coll_free(&c);
}

/* ---- snapshots -------------------------------------------------------- */

Test(store, snapshot_then_journal_restores_snapshot_records_then_journal)
{
	struct wr__record r[N_SAMPLE], before[3], after[2], want[N_SAMPLE + 2];
	struct coll c;
	struct wr__store *st;
	struct wr_error e;
	struct stat sb;
	uint64_t lsn = 0;

	sample(r);
	before[0] = transcript("w-1", 1, "replaced by the snapshot");
	before[1] = transcript("w-1", 2, "this too");
	before[2] = transcript("w-1", 3, "and this");
	after[0] = transcript("w-1", 3, "after the snapshot");
	after[1] = transcript("w-1", 4, "and more");

	st = open_load(&c);
	for (int i = 0; i < 3; i++)
		lsn = append_ok(st, &before[i]);
	sync_ok(st, lsn);
	cr_assert_eq(wr__store_snapshot(st, r, N_SAMPLE, &e), WR_OK, "%s",
	             e.message);
	cr_assert(exists(S2));
	cr_assert(exists(J2));
	cr_assert(!exists(J1), "the replaced journal is removed");
	cr_assert_eq(stat(path_in(S2), &sb), 0);
	cr_assert_eq(sb.st_mode & 07777, 0600);
	cr_assert_eq(stat(path_in(J2), &sb), 0);
	cr_assert_eq(sb.st_mode & 07777, 0600);
	cr_assert_eq(stat(dir, &sb), 0);
	cr_assert_eq(sb.st_mode & 07777, 0700);
	for (int i = 0; i < 2; i++)
		lsn = append_ok(st, &after[i]);
	sync_ok(st, lsn);
	st->ops->close(st);
	coll_free(&c);

	memcpy(want, r, sizeof(r));
	want[N_SAMPLE] = after[0];
	want[N_SAMPLE + 1] = after[1];
	assert_restores(want, N_SAMPLE + 2);

	/* a second snapshot replaces the first */
	st = open_load(&c);
	cr_assert_eq(wr__store_snapshot(st, after, 2, &e), WR_OK, "%s",
	             e.message);
	st->ops->close(st);
	coll_free(&c);
	cr_assert(!exists(S2));
	cr_assert(!exists(J2));
	cr_assert(exists("snapshot-00000000000000000003"));
	assert_restores(after, 2);

	clear_all(r, N_SAMPLE);
	clear_all(before, 3);
	clear_all(after, 2);
}

Test(store, snapshot_due_follows_journal_bytes)
{
	struct wr__record r = transcript("w-1", 1, "0123456789012345678901");
	struct coll c;
	struct wr__store *st = open_load(&c);
	struct wr_error e;
	int n = 0;

	wr__store_fs_set_snapshot_bytes(st, 300);
	while (!st->ops->snapshot_due(st) && n < 100) {
		sync_ok(st, append_ok(st, &r));
		n++;
	}
	cr_assert(n > 1 && n < 100, "due after %d records", n);
	cr_assert_eq(wr__store_snapshot(st, &r, 1, &e), WR_OK, "%s", e.message);
	cr_assert(!st->ops->snapshot_due(st));
	st->ops->close(st);
	coll_free(&c);
	/* journal bytes replayed at load count too */
	st = open_load(&c);
	wr__store_fs_set_snapshot_bytes(st, 300);
	for (int i = 0; i < n; i++)
		sync_ok(st, append_ok(st, &r));
	st->ops->close(st);
	coll_free(&c);
	st = open_load(&c);
	wr__store_fs_set_snapshot_bytes(st, 300);
	cr_assert(st->ops->snapshot_due(st));
	wr__store_fs_set_snapshot_bytes(st, 0); /* default: 64 MiB */
	cr_assert(!st->ops->snapshot_due(st));
	st->ops->close(st);
	coll_free(&c);
	wr__record_clear(&r);
}

Test(store, failed_snapshot_keeps_the_store_usable_and_restorable)
{
	struct wr__record r[4] = {transcript("w-1", 1, "one"),
	                          transcript("w-1", 2, "two"),
	                          transcript("w-1", 3, "three"),
	                          transcript("w-1", 4, "four")};
	struct wr__record snap = transcript("w-1", 1, "never stored");
	struct coll c;
	struct wr__store *st = open_load(&c);
	struct wr_error e;

	wr__store_fs_set_io(st, &test_faulty_io);
	sync_ok(st, append_ok(st, &r[0]));
	sync_ok(st, append_ok(st, &r[1]));
	/* fdatasync #1 makes journal-2's header durable, #2 is the
	 * snapshot's temp file: fail that one */
	test_fault_sync(EIO, 2);
	cr_assert_eq(wr__store_snapshot(st, &snap, 1, &e), WR_EUNAVAILABLE);
	cr_assert_str_eq(wr_reason_name(e.reason), "store_snapshot_failed");
	cr_assert(strstr(e.message, "fdatasync") != NULL, "%s", e.message);
	test_fault_sync(0, 0);
	cr_assert(!exists(S2));
	cr_assert(!exists(S2 ".tmp"));
	sync_ok(st, append_ok(st, &r[2]));
	sync_ok(st, append_ok(st, &r[3]));
	st->ops->close(st);
	coll_free(&c);
	cr_assert(exists(J1));
	cr_assert(exists(J2));
	assert_restores(r, 4);
	clear_all(r, 4);
	wr__record_clear(&snap);
}

Test(store, crash_leftovers_of_a_snapshot_restore_correctly)
{
	struct wr__record r[2] = {transcript("w-1", 1, "one"),
	                          transcript("w-1", 2, "two")};
	struct wr__record s[1] = {transcript("w-1", 1, "snapshot")};
	struct wr__record more = transcript("w-1", 3, "three");
	struct wr__record want[3];
	struct coll c;
	struct wr__store *st;
	struct wr_error e;
	size_t len;
	char *snapfile;

	/* (a) a temp file that never got renamed is ignored and removed,
	 * and an empty new journal (cut before its header) is rewritten */
	store_with(r, 2);
	write_file(S2 ".tmp", "partial", 7);
	write_file(J2, "", 0);
	st = open_load(&c);
	cr_assert_eq(c.n, 2);
	cr_assert_eq(c.ndiag, 1, "the rewritten header is reported");
	cr_assert(strstr(c.diag[0], J2) != NULL, "%s", c.diag[0]);
	cr_assert(!exists(S2 ".tmp"));
	cr_assert_eq(file_size(J2), HDR);
	sync_ok(st, append_ok(st, &more));
	st->ops->close(st);
	coll_free(&c);
	want[0] = r[0];
	want[1] = r[1];
	want[2] = more;
	assert_restores(want, 3);

	/* (b) a snapshot whose journal was never created: the old
	 * journals are superseded and removed, a new journal is made */
	st = open_load(&c);
	cr_assert_eq(wr__store_snapshot(st, s, 1, &e), WR_OK, "%s", e.message);
	st->ops->close(st);
	coll_free(&c);
	snapfile = read_file("snapshot-00000000000000000003", &len);
	cr_assert_eq(unlink(path_in("journal-00000000000000000003")), 0);
	/* ... so the synced file never named it, but journal-2 */
	write_synced(2, HDR);
	write_file(J1, "stale", 5); /* an old journal left behind */
	st = open_load(&c);
	cr_assert_eq(c.n, 1);
	assert_rec_eq(&c.v[0], &s[0], 0);
	cr_assert(exists("journal-00000000000000000003"));
	cr_assert(!exists(J1));
	st->ops->close(st);
	coll_free(&c);

	/* (c) a damaged snapshot is refused, never half-used */
	snapfile[len - 2] ^= 1;
	write_file("snapshot-00000000000000000003", snapfile, len);
	st = open_ok();
	memset(&c, 0, sizeof(c));
	cr_assert_eq(st->ops->load(st, collect, on_diag, &c, &e),
	             WR_EUNAVAILABLE);
	cr_assert_str_eq(wr_reason_name(e.reason), "store_corrupt");
	cr_assert(strstr(e.message, "snapshot-00000000000000000003") != NULL,
	          "%s", e.message);
	st->ops->close(st);
	coll_free(&c);

	free(snapfile);
	clear_all(r, 2);
	clear_all(s, 1);
	wr__record_clear(&more);
}

/* ---- generations near UINT64_MAX ------------------------------------- */

#define GEN_610 UINT64_C(18446744073709551610)
#define GEN_MAX UINT64_MAX

struct rec_array {
	const struct wr__record *v;
	size_t n, i;
};

/* Hands out the records of a struct rec_array (wr__snap_next_fn). */
static wr_err
array_next(void *arg, const struct wr__loc *prev WR__UNUSED,
           const struct wr__record **rec, struct wr_error *err WR__UNUSED)
{
	struct rec_array *a = arg;

	*rec = a->i < a->n ? &a->v[a->i++] : NULL;
	return WR_OK;
}

/* Crafts snapshot-<gen> holding recs[0..n) and an empty journal-<gen>,
 * as the store itself writes them. */
static void
craft_generation(uint64_t gen, const struct wr__record *recs, size_t n)
{
	struct wr__fs_dir d = {.path = dir};
	struct rec_array a = {recs, n, 0};
	char name[WR__FS_NAME_MAX];
	struct wr_error e;
	int fd = -1;

	wr__fs_io_fill(&d.io, NULL);
	cr_assert(mkdir(dir, 0700) == 0 || errno == EEXIST);
	d.fd = open(dir, O_RDONLY | O_DIRECTORY);
	cr_assert_geq(d.fd, 0);
	cr_assert_eq(wr__fs_write_snapshot(&d, gen, array_next, &a, 0, &fd, &e),
	             WR_OK, "%s", e.message);
	close(fd);
	wr__fs_file_name(name, "journal", gen, "");
	cr_assert_eq(wr__fs_create(&d, path_in(name), WR__FS_JOURNAL, gen, &fd,
	                           &e), WR_OK, "%s", e.message);
	close(fd);
	close(d.fd);
}

/* The fuzz find (issue 8): a store at generation 18446744073709551610 was
 * ignored by the parser of its own file names, and a stale journal-1
 * replayed instead of the acknowledged state. */
Test(store, generations_up_to_uint64_max_are_read_not_ignored)
{
	struct wr__record stale[1] = {transcript("w-1", 1, "stale")};
	struct wr__record now[2] = {transcript("w-1", 1, "acknowledged"),
	                            transcript("w-1", 2, "state")};
	struct wr__record more = transcript("w-1", 3, "after");
	struct wr__record want[3];
	char name[WR__FS_NAME_MAX];
	struct coll c;
	struct wr__store *st;

	store_with(stale, 1);
	craft_generation(GEN_610, now, 2);
	st = open_load(&c);
	cr_assert_eq(c.n, 2, "restored %zu records: the snapshot at "
	             "generation %" PRIu64 " was ignored", c.n, GEN_610);
	assert_rec_eq(&c.v[0], &now[0], 0);
	assert_rec_eq(&c.v[1], &now[1], 1);
	cr_assert(!exists(J1), "the journal the snapshot replaced is removed");
	sync_ok(st, append_ok(st, &more));
	st->ops->close(st);
	coll_free(&c);
	wr__fs_file_name(name, "journal", GEN_610, "");
	cr_assert_gt(file_size(name), HDR);
	want[0] = now[0];
	want[1] = now[1];
	want[2] = more;
	assert_restores(want, 3);
	clear_all(stale, 1);
	clear_all(now, 2);
	wr__record_clear(&more);
}

/* Names that look like store files but are none are damage: refused at
 * open, naming the file, and nothing is touched. */
Test(store, store_file_names_that_do_not_parse_refuse_the_store)
{
	static const char *const bad[] = {
		"journal-18446744073709551616", /* UINT64_MAX + 1 */
		"snapshot-99999999999999999999",
		"journal-00000000000000000000", /* generation 0 */
		"journal-1",
		"snapshot-0000000000000000000x",
		"snapshot-00000000000000000002.bak",
		"journal-",
	};
	struct wr__record r[1] = {transcript("w-1", 1, "one")};
	off_t size;

	store_with(r, 1);
	size = file_size(J1);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct wr__store *st = NULL;
		struct wr_error e;

		write_file(bad[i], "x", 1);
		cr_assert_eq(wr__store_fs_open(dir, &st, &e), WR_EUNAVAILABLE,
		             "%s was not refused", bad[i]);
		cr_assert_null(st);
		cr_assert_str_eq(wr_reason_name(e.reason), "store_corrupt");
		cr_assert(strstr(e.message, bad[i]) != NULL, "%s", e.message);
		cr_assert(exists(bad[i]));
		cr_assert_eq(file_size(J1), size);
		cr_assert_eq(unlink(path_in(bad[i])), 0);
	}
	/* other names stay ignored */
	write_file("notes.txt", "x", 1);
	write_file("journal", "x", 1);
	assert_restores(r, 1);
	clear_all(r, 1);
}

/* At generation UINT64_MAX a snapshot would need the next one: refused
 * (typed), never wrapped to 0; appends go on in the journal. */
Test(store, snapshot_at_the_last_generation_is_refused_and_the_store_goes_on)
{
	struct wr__record snap[1] = {transcript("w-1", 1, "at the end")};
	struct wr__record more = transcript("w-1", 2, "still journalled");
	struct wr__record want[2];
	struct coll c;
	struct wr__store *st;
	struct wr_error e;

	craft_generation(GEN_MAX, snap, 1);
	st = open_load(&c);
	cr_assert_eq(c.n, 1);
	wr__store_fs_set_snapshot_bytes(st, 1);
	sync_ok(st, append_ok(st, &more));
	cr_assert(st->ops->snapshot_due(st));
	cr_assert_eq(wr__store_snapshot(st, snap, 1, &e), WR_EUNAVAILABLE);
	cr_assert_str_eq(wr_reason_name(e.reason), "store_snapshot_failed");
	cr_assert(strstr(e.message, "18446744073709551615") != NULL, "%s",
	          e.message);
	cr_assert(!st->ops->snapshot_due(st), "not retried at every commit");
	cr_assert(!exists("journal-00000000000000000000"));
	cr_assert(!exists("snapshot-00000000000000000000"));
	st->ops->close(st);
	coll_free(&c);
	want[0] = snap[0];
	want[1] = more;
	assert_restores(want, 2);
	clear_all(snap, 1);
	wr__record_clear(&more);
}

/* ---- idempotency members (format version 3) ---------------------------- */

Test(store, idempotency_members_round_trip_and_are_read_strictly)
{
	static const char hex[] = "000102030405060708090a0b0c0d0e0f"
	                          "101112131415161718191a1b1c1d1e1f";
	struct wr__record r = transcript("w-1", 1, "one"), back;
	struct wr_error e;
	char *text, bad[1024];
	size_t len;
	const char *const variants[][2] = {
		/* what is replaced, by what: each must be refused */
		{"\"idempotency_status\":200", "\"idempotency_status\":500"},
		{"\"idempotency_status\":200", "\"idempotency_status\":\"200\""},
		{"\"idempotency_key\":\"k-1\"", "\"idempotency_key\":\"k 1\""},
		{"\"idempotency_key\":\"k-1\"", "\"idempotency_key\":\"\""},
		{"0a0b0c", "0A0B0C"},
		{"1e1f\"", "1e1\""},
		{",\"idempotency_body\":\"{\\\"ack\\\":1}\"", ""},
	};

	r.idem_key = strdup("k-1");
	r.idem_body = strdup("{\"ack\":1}");
	r.idem_status = 200;
	for (int i = 0; i < 32; i++)
		r.idem_digest[i] = (unsigned char)i;
	text = wr__record_encode(&r, &len);
	cr_assert_not_null(text);
	cr_assert(strstr(text, hex) != NULL, "%s", text);
	cr_assert_eq(wr__record_decode(text, len, &back, &e), WR_OK, "%s",
	             e.message);
	cr_assert_str_eq(back.idem_key, "k-1");
	cr_assert_str_eq(back.idem_body, "{\"ack\":1}");
	cr_assert_eq(back.idem_status, 200);
	cr_assert(memcmp(back.idem_digest, r.idem_digest, 32) == 0);
	wr__record_clear(&back);
	for (size_t i = 0; i < sizeof(variants) / sizeof(variants[0]); i++) {
		const char *at = strstr(text, variants[i][0]);
		size_t pre;

		cr_assert_not_null(at, "%s in %s", variants[i][0], text);
		pre = (size_t)(at - text);
		snprintf(bad, sizeof(bad), "%.*s%s%s", (int)pre, text,
		         variants[i][1], at + strlen(variants[i][0]));
		cr_assert_eq(wr__record_decode(bad, strlen(bad), &back, &e),
		             WR_EUNAVAILABLE, "accepted %s", bad);
		cr_assert_str_eq(wr_reason_name(e.reason), "store_corrupt");
	}
	/* A key alone needs all four members. */
	snprintf(bad, sizeof(bad), "{\"kind\":\"idempotency\",\"event_id\":0,"
	         "\"at_ms\":1,\"idempotency_key\":\"k\"}");
	cr_assert_eq(wr__record_decode(bad, strlen(bad), &back, &e),
	             WR_EUNAVAILABLE);
	free(text);
	wr__record_clear(&r);
}

/* ---- the synced file: acknowledged bytes are not a torn tail ------------ */

/* Zeros the whole sector in record 1 of img (three_records), as a disk
 * fault or a hand would; returns where record 1 starts. */
static off_t
zero_sector_in_record_1(char *img)
{
	off_t b = frame_at(img, 1);
	off_t from = (b + 8 + 511) / 512 * 512;

	cr_assert_leq(from + 512, frame_at(img, 2), "a sector of record 1");
	memset(img + from, 0, 512);
	return b;
}

/* Three acknowledged records (a clean close: the synced file names their
 * end), record 1 with a sector zeroed; the image in *len bytes. */
static char *
acked_image_with_a_zero_sector(struct wr__record r[3], size_t *len,
                               off_t *b)
{
	char *img;

	three_records(r);
	store_with(r, 3);
	img = read_file(J1, len);
	cr_assert(synced_says(1, (off_t)*len), "a clean close names the end");
	*b = zero_sector_in_record_1(img);
	write_file(J1, img, *len);
	return img;
}

/* store_corrupt at off of name, saying the bytes up to synced were
 * acknowledged. */
static void
assert_acked_corrupt(const char *name, off_t off, off_t synced)
{
	char want[96];

	snprintf(want, sizeof(want), "damaged at byte offset %lld: ",
	         (long long)off);
	assert_corrupt_saying(name, off, want);
	snprintf(want, sizeof(want), "durable up to byte offset %lld: "
	         "acknowledged records (file synced)", (long long)synced);
	assert_corrupt_saying(name, off, want);
}

/* The reviewer's case: a sector of an acknowledged record of the last
 * journal zeroed reads like a torn tail, but the synced file says the
 * fdatasyncs reached past it: refused, naming file and offset, and
 * nothing on disk changes. */
Test(store, a_zeroed_sector_in_an_acknowledged_record_refuses_and_changes_nothing)
{
	struct wr__record r[3];
	size_t len, after_len;
	off_t b;
	char *img = acked_image_with_a_zero_sector(r, &len, &b), *after;

	assert_acked_corrupt(J1, b, (off_t)len);
	after = read_file(J1, &after_len);
	cr_assert_eq(after_len, len, "the journal keeps its size");
	cr_assert(memcmp(after, img, len) == 0, "the journal is unchanged");
	cr_assert(synced_says(1, (off_t)len), "the synced file is unchanged");
	free(after);
	free(img);
	clear_all(r, 3);
}

/* Records appended after the last fdatasync that returned (the synced
 * file names the start of record 1): a write that a crash cut short in
 * record 2 is a torn tail, dropped as before; the file then names the
 * cut. */
Test(store, a_torn_tail_above_the_synced_offset_is_still_dropped)
{
	struct wr__record r[3];
	struct coll c;
	struct wr__store *st;
	char *img, want[64];
	size_t len;
	off_t c2;

	three_records(r);
	img = crash_image(r, 3, 1, &len);
	c2 = frame_at(img, 2);
	cr_assert(synced_says(1, frame_at(img, 1)), "record 0 acknowledged");
	write_file(J1, img, (size_t)c2 + 20); /* record 2 cut short */
	st = open_load(&c);
	cr_assert_eq(c.n, 2, "record 1 was written whole: kept");
	cr_assert_eq(c.ndiag, 1);
	snprintf(want, sizeof(want), "torn final record at byte offset %lld",
	         (long long)c2);
	cr_assert(strstr(c.diag[0], want) != NULL, "%s", c.diag[0]);
	cr_assert_eq(file_size(J1), c2);
	cr_assert(synced_says(1, c2), "the synced file names the cut");
	st->ops->close(st);
	coll_free(&c);
	free(img);
	clear_all(r, 3);
}

/* A store an older version wrote has no synced file: the last journal is
 * judged as before (the zero sector is a torn tail), and the open
 * creates the file. */
Test(store, without_a_synced_file_the_last_journal_is_judged_as_before)
{
	struct wr__record r[3];
	struct coll c;
	struct wr__store *st;
	size_t len;
	off_t b;
	char *img = acked_image_with_a_zero_sector(r, &len, &b);

	cr_assert_eq(unlink(path_in(SYNCED)), 0);
	st = open_load(&c);
	cr_assert_eq(c.n, 1);
	cr_assert_eq(c.ndiag, 1, "%s", c.ndiag ? c.diag[0] : "");
	cr_assert(strstr(c.diag[0], "zero-filled sector") != NULL, "%s",
	          c.diag[0]);
	cr_assert_eq(file_size(J1), b);
	cr_assert(synced_says(1, b), "created, naming the end");
	{
		struct stat sb;
		cr_assert_eq(stat(path_in(SYNCED), &sb), 0);
		cr_assert_eq(sb.st_mode & 07777, 0600);
	}
	st->ops->close(st);
	coll_free(&c);
	free(img);
	clear_all(r, 3);
}

/* A synced file that is not one (any size but 40, another magic or
 * kind, an unknown version, a bad checksum, an offset inside the
 * header) is evidence of nothing: one diagnostic, the journal is judged
 * as before, and the store starts and rewrites the file. */
Test(store, an_invalid_synced_file_is_a_diagnostic_and_ignored)
{
	struct wr__record r[3];
	unsigned char good[40], bad[40];
	size_t len;
	off_t b;
	char *img = acked_image_with_a_zero_sector(r, &len, &b);
	static const struct {
		size_t at, len; /* bytes to change; len 0: cut the file at */
		const char *why;
	} cases[] = {
		{10, 0, "not 40 bytes long"},  {0, 1, "not a synced file"},
		{12, 1, "not a synced file"},  {8, 1, "unknown format version"},
		{24, 1, "checksum mismatch"},  {36, 1, "checksum mismatch"},
	};

	synced_bytes(good, 1, (off_t)len);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct coll c;
		struct wr__store *st;

		memcpy(bad, good, sizeof(bad));
		if (cases[i].len > 0)
			bad[cases[i].at] ^= 0x40;
		write_file(SYNCED, bad, cases[i].len ? 40 : cases[i].at);
		write_file(J1, img, len);
		st = open_load(&c);
		cr_assert_eq(c.n, 1, "case %zu", i);
		cr_assert_eq(c.ndiag, 2, "case %zu", i);
		cr_assert(strstr(c.diag[0], path_in(SYNCED)) != NULL &&
		          strstr(c.diag[0], cases[i].why) != NULL,
		          "case %zu: '%s' lacks '%s'", i, c.diag[0],
		          cases[i].why);
		cr_assert(strstr(c.diag[1], "zero-filled sector") != NULL,
		          "%s", c.diag[1]);
		cr_assert(synced_says(1, b), "rewritten");
		st->ops->close(st);
		coll_free(&c);
	}
	/* an offset inside the header, with a good checksum */
	write_synced(1, HDR - 1);
	write_file(J1, img, len);
	{
		struct coll c;
		struct wr__store *st = open_load(&c);
		cr_assert_eq(c.ndiag, 2);
		cr_assert(strstr(c.diag[0], "out of range") != NULL, "%s",
		          c.diag[0]);
		st->ops->close(st);
		coll_free(&c);
	}
	free(img);
	clear_all(r, 3);
}

/* A synced file longer than 40 bytes (not one the store wrote: its writes
 * are 40 bytes at offset 0) is ignored with a diagnostic, and the open
 * rewrites it whole: afterwards it is exactly the 40-byte record, so that
 * damage in acknowledged records is refused again at the next open
 * instead of being cut as a torn tail at every open. */
Test(store, a_synced_file_longer_than_40_bytes_is_rewritten_whole)
{
	struct wr__record r[3];
	unsigned char junk[81];
	size_t len;
	off_t b;
	char *img = acked_image_with_a_zero_sector(r, &len, &b);
	struct coll c;
	struct wr__store *st;

	synced_bytes(junk, 1, (off_t)len);
	memset(junk + 40, 'x', sizeof(junk) - 40);
	write_file(SYNCED, junk, sizeof(junk));
	write_file(J1, img, len);
	st = open_load(&c);
	cr_assert(strstr(c.diag[0], "not 40 bytes long") != NULL, "%s",
	          c.diag[0]);
	/* judged as a torn tail (S unknown), cut at the damaged record */
	cr_assert_eq(file_size(J1), b);
	cr_assert_eq(file_size(SYNCED), 40, "rewritten whole, not in part");
	cr_assert(synced_says(1, b));
	st->ops->close(st);
	coll_free(&c);
	free(img);
	clear_all(r, 3);
}

/* The last journal ends before the offset the synced file names: bytes
 * made durable are gone (a cut at a record boundary, or inside a
 * record): refused, and nothing is cut further. */
Test(store, a_last_journal_cut_below_the_synced_offset_refuses)
{
	struct wr__record r[3];
	size_t len;
	char *img;
	off_t c2;

	three_records(r);
	store_with(r, 3);
	img = read_file(J1, &len);
	c2 = frame_at(img, 2);
	write_file(J1, img, (size_t)c2); /* at record 2's start */
	assert_acked_corrupt(J1, c2, (off_t)len);
	cr_assert_eq(file_size(J1), c2, "nothing cut");
	write_file(J1, img, (size_t)c2 + 5); /* inside record 2's header */
	assert_acked_corrupt(J1, c2, (off_t)len);
	cr_assert_eq(file_size(J1), c2 + 5, "nothing cut");
	write_file(J1, img, HDR - 7); /* inside the header */
	assert_acked_corrupt(J1, 0, (off_t)len);
	free(img);
	clear_all(r, 3);
}

/* A snapshot switches appends to journal-2; a synced file that still
 * names journal-1 (its write after the switch was lost) says nothing
 * about journal-2, whose torn tail is dropped as before.  One naming a
 * journal newer than the last one: that journal is missing. */
Test(store, a_synced_file_of_an_older_journal_does_not_apply_to_the_new_one)
{
	struct wr__record r[3], s[1] = {transcript("w-1", 1, "snapshot")};
	struct coll c;
	struct wr__store *st;
	struct wr_error e;
	uint64_t lsn = 0;
	size_t len;
	char *img;
	off_t b;

	three_records(r);
	store_with(r, 1);
	st = open_load(&c);
	cr_assert_eq(wr__store_snapshot(st, s, 1, &e), WR_OK, "%s", e.message);
	cr_assert(synced_says(2, HDR), "the switch names journal-2");
	for (size_t i = 0; i < 3; i++)
		lsn = append_ok(st, &r[i]);
	sync_ok(st, lsn);
	st->ops->close(st);
	coll_free(&c);
	img = read_file(J2, &len);
	cr_assert(synced_says(2, (off_t)len));
	b = zero_sector_in_record_1(img);
	write_file(J2, img, len);
	write_synced(1, (off_t)len + 4096); /* journal-1, far beyond */
	st = open_load(&c);
	cr_assert_eq(c.n, 2, "the snapshot's record and record 0");
	cr_assert_eq(c.ndiag, 1);
	cr_assert(strstr(c.diag[0], "zero-filled sector") != NULL, "%s",
	          c.diag[0]);
	cr_assert(synced_says(2, b));
	st->ops->close(st);
	coll_free(&c);

	write_synced(3, HDR);
	st = open_ok();
	memset(&c, 0, sizeof(c));
	cr_assert_eq(st->ops->load(st, collect, on_diag, &c, &e),
	             WR_EUNAVAILABLE);
	cr_assert_str_eq(wr_reason_name(e.reason), "store_corrupt");
	cr_assert(strstr(e.message, "journal-00000000000000000003 is missing") !=
	          NULL, "%s", e.message);
	st->ops->close(st);
	coll_free(&c);
	cr_assert(synced_says(3, HDR), "a refused store is not modified");
	free(img);
	clear_all(r, 3);
	clear_all(s, 1);
}

/* docs/store.md's remedy for acknowledged records lost: cut the journal
 * at the offset named, remove the synced file, restart. */
Test(store, the_documented_remedy_truncate_and_remove_synced_opens)
{
	struct wr__record r[3];
	struct coll c;
	struct wr__store *st;
	size_t len;
	off_t b;
	char *img = acked_image_with_a_zero_sector(r, &len, &b);

	assert_acked_corrupt(J1, b, (off_t)len);
	cr_assert_eq(truncate(path_in(J1), b), 0); /* truncate -s OFFSET */
	assert_acked_corrupt(J1, b, (off_t)len);   /* synced still says */
	cr_assert_eq(unlink(path_in(SYNCED)), 0);
	st = open_load(&c);
	cr_assert_eq(c.n, 1);
	cr_assert_eq(c.ndiag, 0, "%s", c.ndiag ? c.diag[0] : "");
	cr_assert(synced_says(1, b));
	sync_ok(st, append_ok(st, &r[2]));
	st->ops->close(st);
	coll_free(&c);
	{
		struct wr__record want[2] = {r[0], r[2]};
		assert_restores(want, 2);
	}
	free(img);
	clear_all(r, 3);
}

/* Records a crash left written but not synced are restored, so the open
 * makes them durable before the synced file names them: a failed
 * fdatasync there fails the open and the file keeps what it said. */
Test(store, the_open_syncs_restored_records_before_naming_them_in_synced)
{
	struct wr__record r[3];
	struct wr__store *st;
	struct coll c = {0};
	struct wr_error e;
	size_t len;
	char *img;

	three_records(r);
	img = crash_image(r, 3, 1, &len);
	st = open_ok();
	wr__store_fs_set_io(st, &test_faulty_io);
	test_fault_sync(EIO, 0);
	cr_assert_eq(st->ops->load(st, collect, on_diag, &c, &e),
	             WR_EUNAVAILABLE);
	cr_assert_str_eq(wr_reason_name(e.reason), "store_sync_failed");
	st->ops->close(st);
	coll_free(&c);
	cr_assert(synced_says(1, frame_at(img, 1)), "not past the durable end");
	test_fault_sync(0, 0);
	st = open_ok();
	wr__store_fs_set_io(st, &test_faulty_io);
	cr_assert_eq(st->ops->load(st, collect, on_diag, &c, &e), WR_OK, "%s",
	             e.message);
	cr_assert_eq(test_fault_sync_calls(), 1, "one fdatasync at the open");
	cr_assert_eq(c.n, 3);
	cr_assert(synced_says(1, frame_at(img, 3)));
	st->ops->close(st);
	coll_free(&c);
	free(img);
	clear_all(r, 3);
}

/* The synced file is evidence, not state: a failed write of it fails no
 * commit; it is counted, reported once per run of failures, and the
 * next write that works catches up. */
Test(store, a_failed_write_of_the_synced_file_is_counted_reported_once_and_harmless)
{
	struct wr__record r[5] = {
		transcript("w-1", 1, "one"), transcript("w-1", 2, "two"),
		transcript("w-1", 3, "three"), transcript("w-1", 4, "four"),
		transcript("w-1", 5, "five")};
	struct wr__store_stats ss;
	struct coll c, seen = {0};
	struct wr__store *st = open_load(&c);

	wr__store_fs_set_io(st, &test_faulty_io);
	wr__store_fs_set_diag(st, on_diag, &seen);
	test_fault_pwrite(EIO);
	sync_ok(st, append_ok(st, &r[0]));
	sync_ok(st, append_ok(st, &r[1]));
	st->ops->stats(st, &ss);
	cr_assert_eq(ss.synced_failures, 2);
	cr_assert_eq(seen.ndiag, 1, "once per run of failures");
	cr_assert(strstr(seen.diag[0], "pwrite") != NULL &&
	          strstr(seen.diag[0], path_in(SYNCED)) != NULL &&
	          strstr(seen.diag[0], "Input/output error") != NULL,
	          "%s", seen.diag[0]);
	cr_assert(synced_says(1, HDR), "still what the open wrote");
	test_fault_pwrite(0);
	sync_ok(st, append_ok(st, &r[2]));
	cr_assert(synced_says(1, data_size(J1)), "caught up");
	test_fault_pwrite(ENOSPC);
	sync_ok(st, append_ok(st, &r[3]));
	cr_assert_eq(seen.ndiag, 2, "a new run is reported again");
	test_fault_pwrite(0);
	sync_ok(st, append_ok(st, &r[4]));
	st->ops->stats(st, &ss);
	cr_assert_eq(ss.synced_failures, 3);
	cr_assert_eq(test_fault_pwrite_calls(), 5, "one per fdatasync");
	st->ops->close(st);
	coll_free(&c);
	coll_free(&seen);
	assert_restores(r, 5);
	clear_all(r, 5);
}
