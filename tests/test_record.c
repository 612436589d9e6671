/*
 * test_record.c - the record decoder's fast path (transcript records in
 * the encoder's own form, src/store/record.c) against the strict path it
 * falls back to: wr__record_decode and wr__record_decode_strict must give
 * the same verdict and the same record on every input - records the
 * encoder writes, every one-byte mutation and truncation of them, and the
 * fuzz corpora (tests/fuzz/corpus/store lines, tests/fuzz/corpus/json
 * files).
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "store/record.h"
#include "store/store.h"

/* The bound of a test that hangs: the fuzz corpora test takes about a
 * minute under tests/run-all's valgrind (every byte of every corpus line
 * mutated, both decoders). */
TestSuite(record, .timeout = 300);

static size_t n_compared, n_accepted;

static void
same_str(const char *a, const char *b, const char *what, const char *in)
{
	if (a == NULL || b == NULL)
		cr_assert(a == b, "%s: one is NULL; input %s", what, in);
	else
		cr_assert_str_eq(a, b, "%s differs; input %s", what, in);
}

/* Decodes buf both ways and asserts the same outcome. */
static void
compare(const char *buf, size_t len)
{
	struct wr__record a, b;
	struct wr_error ea, eb;
	char in[300];
	wr_err ra, rb;

	snprintf(in, sizeof(in), "%.*s", len > 280 ? 280 : (int)len, buf);
	memset(&ea, 0, sizeof(ea));
	memset(&eb, 0, sizeof(eb));
	ra = wr__record_decode(buf, len, &a, &ea);
	rb = wr__record_decode_strict(buf, len, &b, &eb);
	n_compared++;
	cr_assert_eq(ra, rb, "verdict %d vs strict %d; input %s", ra, rb, in);
	if (ra != WR_OK) {
		cr_assert_eq(ea.reason, eb.reason, "input %s", in);
		cr_assert_str_eq(ea.message, eb.message, "input %s", in);
		return;
	}
	n_accepted++;
	cr_assert_eq(a.kind, b.kind, "input %s", in);
	cr_assert_eq(a.event_id, b.event_id, "input %s", in);
	cr_assert_eq(a.at_ms, b.at_ms, "input %s", in);
	cr_assert_str_eq(a.runtime_id, b.runtime_id, "input %s", in);
	cr_assert_str_eq(a.worker_id, b.worker_id, "input %s", in);
	cr_assert_eq(a.role, b.role, "input %s", in);
	cr_assert_eq(a.sequence, b.sequence, "input %s", in);
	same_str(a.content, b.content, "content", in);
	cr_assert_eq(a.turn_started, b.turn_started, "input %s", in);
	cr_assert_eq(a.status, b.status, "input %s", in);
	cr_assert_eq(a.run_state, b.run_state, "input %s", in);
	same_str(a.reason, b.reason, "reason", in);
	cr_assert_eq(a.runtime_status, b.runtime_status, "input %s", in);
	cr_assert_eq(a.worker == NULL, b.worker == NULL, "input %s", in);
	wr__record_clear(&a);
	wr__record_clear(&b);
}

/* buf, then every deletion, replacement (by each byte of subs) and
 * truncation of one of its bytes. */
static void
compare_mutations(const char *buf, size_t len)
{
	static const char subs[] = "\"\\0-19 xu}{,:e.\x01\x7f\x80\xc3";
	char *m = malloc(len + 1);

	cr_assert_not_null(m);
	compare(buf, len);
	for (size_t i = 0; i < len; i++) {
		memcpy(m, buf, i);
		memcpy(m + i, buf + i + 1, len - i - 1);
		compare(m, len - 1);
		compare(buf, i);
		memcpy(m, buf, len);
		for (size_t k = 0; k < sizeof(subs); k++) { /* and NUL */
			m[i] = subs[k];
			compare(m, len);
		}
	}
	free(m);
}

static const char *const contents[] = {
	"x", "hello, world", "a \"quoted\" word", "back\\slash", "a/b",
	"tab\there\nnew line\r\b\f", "\x01\x02\x1f control", "del \x7f",
	"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", "bad \xc3 utf-8",
	"\xed\xa0\x80 surrogate bytes", "",
};

Test(record, fast_and_strict_agree_on_encoded_transcripts_and_mutations)
{
	static const int64_t ats[] = {0, 1, 1795993961837, -5,
	                              999999999999999999, INT64_MAX,
	                              INT64_MIN};
	static const uint64_t nums[] = {0, 1, 42, 999999999999999999u,
	                                1000000000000000000u, UINT64_MAX};
	size_t n = 0;

	for (size_t c = 0; c < sizeof(contents) / sizeof(contents[0]); c++) {
		for (size_t k = 0; k < sizeof(ats) / sizeof(ats[0]); k++) {
			struct wr__record r = {
				.kind = WR__REC_TRANSCRIPT,
				.event_id = nums[k % 6],
				.at_ms = ats[k],
				.worker_id = "w-0123456789abcdef",
				.role = (enum wr_role)(k % 4),
				.sequence = nums[(k + c) % 6],
				.content = (char *)contents[c],
				.turn_started = (k + c) % 2,
			};
			size_t len;
			char *text = wr__record_encode(&r, &len);

			cr_assert_not_null(text);
			if (k == 0 || c < 3)
				compare_mutations(text, len);
			else
				compare(text, len);
			free(text);
			n++;
		}
	}
	cr_assert_gt(n_accepted, n, "the encoded records were accepted");
}

/* Encodes r both ways: the same bytes, or both refuse with the same
 * errno. */
static void
same_encoding(const struct wr__record *r, size_t *n_texts)
{
	size_t la = 0, lb = 0;
	char *a, *b;
	int ea, eb;

	errno = 0;
	a = wr__record_encode(r, &la);
	ea = errno;
	errno = 0;
	b = wr__record_encode_tree(r, &lb);
	eb = errno;
	if (a == NULL || b == NULL) {
		cr_assert(a == NULL && b == NULL, "kind %d: one refused: %s",
		          (int)r->kind, a != NULL ? a : b);
		cr_assert_eq(ea, eb, "kind %d", (int)r->kind);
	} else {
		cr_assert_eq(la, lb, "kind %d: %s vs %s", (int)r->kind, a, b);
		cr_assert_str_eq(a, b, "kind %d", (int)r->kind);
		cr_assert_eq(strlen(a), la);
		(*n_texts)++;
	}
	free(a);
	free(b);
}

/* The text encoder (every kind without a worker member) writes exactly
 * the bytes of the json-c path: every member present and absent, every
 * enum value and one out of range, the idempotency members with and
 * without a body, the contents above. */
Test(record, the_text_encoder_writes_the_bytes_of_the_json_c_path)
{
	static const uint64_t nums[] = {0, 1, 42, 999999999999999999u,
	                                UINT64_MAX};
	static const int64_t ats[] = {0, 1795993961837, -5, INT64_MIN,
	                              INT64_MAX};
	size_t n_texts = 0, n = 0;

	for (int kind = 0; kind <= WR__REC_KIND_LAST; kind++) {
		if (kind == WR__REC_WORKER_CREATED)
			continue;
		for (size_t v = 0; v < 60; v++) {
			size_t c = v % (sizeof(contents) / sizeof(contents[0]));
			struct wr__record r = {
				.kind = (enum wr__record_kind)kind,
				.event_id = nums[v % 5],
				.at_ms = ats[(v / 5) % 5],
				.role = (enum wr_role)(v % 5),
				.sequence = nums[(v + 2) % 5],
				.content = v % 7 == 3 ? NULL
				                      : (char *)contents[c],
				.turn_started = v % 2,
				.status = (enum wr_worker_status)(v %
				          (WR__STATUS_COUNT + 1)),
				.run_state = (enum wr_run_state)(v % 4),
				.reason = v % 3 == 0 ? NULL
				                     : (char *)contents[(c + 1) %
				                       (sizeof(contents) /
				                        sizeof(contents[0]))],
				.runtime_status = (enum wr_runtime_status)(v % 5),
				.deleted_count = v % 4 == 0 ? 0 : nums[v % 5],
				.idem_key = v % 5 == 1 ? NULL
				                       : (char *)contents[c],
				.idem_body = v % 6 == 2 ? NULL : "{\"a\":1}",
				.idem_status = (int)(v * 37) - 500,
			};

			if (v % 9 != 4)
				snprintf(r.worker_id, sizeof(r.worker_id),
				         "w-%zu-\"x\"", v);
			if (v % 8 != 5)
				snprintf(r.runtime_id, sizeof(r.runtime_id),
				         "rt/%zu", v);
			for (size_t i = 0; i < sizeof(r.idem_digest); i++)
				r.idem_digest[i] = (unsigned char)(v * 7 + i * 13);
			same_encoding(&r, &n_texts);
			n++;
		}
	}
	cr_assert_gt(n_texts, n / 2, "most records were encoded (%zu of %zu)",
	             n_texts, n);
}

Test(record, fast_and_strict_agree_on_hand_written_near_misses)
{
	static const char *const texts[] = {
		"{\"kind\":\"transcript\",\"event_id\":1,\"at_ms\":2,\"worker_id\":\"w\",\"role\":\"user\",\"sequence\":1,\"content\":\"a\",\"turn_started\":true}",
		"{\"kind\":\"transcript\",\"event_id\":01,\"at_ms\":2,\"worker_id\":\"w\",\"role\":\"user\",\"sequence\":1,\"content\":\"a\",\"turn_started\":true}",
		"{\"kind\":\"transcript\",\"event_id\":1,\"at_ms\":-0,\"worker_id\":\"w\",\"role\":\"user\",\"sequence\":1,\"content\":\"a\",\"turn_started\":true}",
		"{\"kind\":\"transcript\",\"event_id\":1,\"at_ms\":2,\"worker_id\":\"w\",\"role\":\"user\",\"sequence\":1,\"content\":\"\\u0000\",\"turn_started\":true}",
		"{\"kind\":\"transcript\",\"event_id\":1,\"at_ms\":2,\"worker_id\":\"w\",\"role\":\"user\",\"sequence\":1,\"content\":\"\\u00e9\\ud83d\\ude00\",\"turn_started\":true}",
		"{\"kind\":\"transcript\",\"event_id\":1,\"at_ms\":2,\"worker_id\":\"w\",\"role\":\"user\",\"sequence\":1,\"content\":\"a\",\"turn_started\":true,\"content\":\"b\"}",
		"{\"kind\":\"transcript\",\"event_id\":1,\"at_ms\":2,\"worker_id\":\"w\",\"role\":\"user\",\"sequence\":1,\"content\":\"a\",\"turn_started\":true} ",
		"{\"kind\":\"transcript\",\"event_id\":1.0,\"at_ms\":2,\"worker_id\":\"w\",\"role\":\"user\",\"sequence\":1,\"content\":\"a\",\"turn_started\":true}",
		"{\"kind\":\"transcript\",\"event_id\":1,\"at_ms\":2,\"worker_id\":\"w\\u002d1\",\"role\":\"user\",\"sequence\":1,\"content\":\"a\",\"turn_started\":true}",
		"{\"kind\":\"transcript\",\"event_id\":1,\"at_ms\":2,\"worker_id\":\".w\",\"role\":\"user\",\"sequence\":1,\"content\":\"a\",\"turn_started\":true}",
		"{\"kind\":\"transcript\",\"event_id\":1,\"at_ms\":2,\"worker_id\":\"w\",\"role\":\"nobody\",\"sequence\":1,\"content\":\"a\",\"turn_started\":true}",
		"{\"kind\":\"transcript\",\"event_id\":1,\"at_ms\":2,\"worker_id\":\"w\",\"role\":\"user\",\"sequence\":1,\"content\":\"a\",\"turn_started\":1}",
		"{\"kind\":\"transcript\",\"event_id\":1,\"at_ms\":2,\"worker_id\":\"w\",\"role\":\"user\",\"sequence\":1,\"content\":\"a\\\",\"turn_started\":true}",
	};

	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
		compare_mutations(texts[i], strlen(texts[i]));
	cr_assert_gt(n_accepted, 0);
}

/* Every file of dir: each line (lines = true) or the whole file. */
static size_t
compare_corpus(const char *dir, bool lines)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	size_t files = 0;

	cr_assert_not_null(d, "%s (top_srcdir not set?)", dir);
	while ((e = readdir(d)) != NULL) {
		char path[4096], *buf;
		FILE *f;
		long n;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		cr_assert_not_null(f = fopen(path, "rb"), "%s", path);
		fseek(f, 0, SEEK_END);
		n = ftell(f);
		rewind(f);
		cr_assert_not_null(buf = malloc((size_t)n + 1));
		cr_assert_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
		fclose(f);
		if (!lines) {
			compare(buf, (size_t)n);
		} else {
			for (char *p = buf, *q; p < buf + n; p = q + 1) {
				q = memchr(p, '\n', (size_t)(buf + n - p));
				if (q == NULL)
					q = buf + n;
				compare_mutations(p, (size_t)(q - p));
			}
		}
		free(buf);
		files++;
	}
	closedir(d);
	return files;
}

Test(record, fast_and_strict_agree_on_the_fuzz_corpora)
{
	/* make check exports top_srcdir; run by hand (or under valgrind by
	 * tests/run-all) the configured source directory is used. */
	const char *top = getenv("top_srcdir");
	char dir[4096];

	if (top == NULL)
		top = WR_TOP_SRCDIR;
	snprintf(dir, sizeof(dir), "%s/tests/fuzz/corpus/store", top);
	cr_assert_gt(compare_corpus(dir, true), 0, "%s is empty", dir);
	snprintf(dir, sizeof(dir), "%s/tests/fuzz/corpus/json", top);
	cr_assert_gt(compare_corpus(dir, false), 0, "%s is empty", dir);
	cr_assert_gt(n_accepted, 0);
}
