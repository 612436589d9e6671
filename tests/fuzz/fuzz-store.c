/*
 * fuzz-store.c - the fs store's replay of journal and snapshot files
 * (src/store/fs*.c, src/store/record.c), through a Runtime opened on them.
 *
 * Input: text lines.  A line "--journal N" or "--snapshot N" starts file
 * journal-N or snapshot-N (N decimal, the generation); before any such
 * line the records go to journal-1.  Every other line is one record
 * payload, framed with a valid header and CRC-32C (docs/store.md), so the
 * bytes reach the record decoder rather than the checksum test.  A final
 * "--torn" line cuts the last file in the middle of its last frame.
 *
 * When the Runtime opens: its state is compared with a second replay of
 * the same files; then it is mutated (create, input, stop), made to write
 * a snapshot, closed and reopened, and must show the same state again.
 * Every payload is also decoded by the record decoder's fast path and by
 * its strict path alone, which must agree.
 * The directory is per process under $TMPDIR (default /dev/shm, then
 * /tmp) and removed at exit; FUZZ_STORE_DIR names one to keep instead.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz.h"
#include "base/base.h"
#include "core/rt.h"
#include "store/crc32c.h"
#include "store/fs.h"
#include "store/record.h"

static char dir[256];
static char store_spec[300];
static bool keep_dir;

static void
put_u32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void
put_u64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* Removes every file in dir (the store has no subdirectories). */
static void
empty_dir(void)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char path[600];

	FUZZ_CHECK(d != NULL);
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		FUZZ_CHECK(unlink(path) == 0);
	}
	closedir(d);
}

static void
remove_dir(void)
{
	if (keep_dir || dir[0] == '\0')
		return;
	empty_dir();
	rmdir(dir);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *keep = getenv("FUZZ_STORE_DIR"), *tmp = getenv("TMPDIR");
	struct stat sb;

	(void)argc;
	(void)argv;
	if (keep != NULL && keep[0] != '\0') {
		snprintf(dir, sizeof(dir), "%s", keep);
		FUZZ_CHECK(mkdir(dir, 0700) == 0 || errno == EEXIST);
		keep_dir = true;
	} else {
		if (tmp == NULL || tmp[0] == '\0')
			tmp = stat("/dev/shm", &sb) == 0 && S_ISDIR(sb.st_mode)
			      ? "/dev/shm" : "/tmp";
		snprintf(dir, sizeof(dir), "%s/wr-fuzz-store-XXXXXX", tmp);
		FUZZ_CHECK(mkdtemp(dir) != NULL);
		atexit(remove_dir);
	}
	snprintf(store_spec, sizeof(store_spec), "fs:%s", dir);
	return 0;
}

/* Opens file kind-gen (truncating) and writes its header; returns the fd. */
static int
start_file(unsigned kind, uint64_t gen)
{
	uint8_t h[WR__FS_HDR_SIZE] = "WRSTORE";
	char path[600];
	int fd;

	put_u32(h + 8, 1);
	put_u32(h + 12, kind);
	put_u64(h + 16, gen);
	put_u32(h + 24, wr__crc32c(0, h, 24));
	snprintf(path, sizeof(path), "%s/%s-%020" PRIu64, dir,
	         kind == WR__FS_JOURNAL ? "journal" : "snapshot", gen);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	FUZZ_CHECK(fd >= 0);
	FUZZ_CHECK(write(fd, h, sizeof(h)) == (ssize_t)sizeof(h));
	return fd;
}

/* Writes one framed record; returns the frame's size. */
static size_t
put_record(int fd, const uint8_t *payload, size_t n)
{
	uint8_t fh[8];

	put_u32(fh, (uint32_t)n);
	put_u32(fh + 4, wr__crc32c(0, payload, n));
	FUZZ_CHECK(write(fd, fh, 8) == 8);
	FUZZ_CHECK(n == 0 || write(fd, payload, n) == (ssize_t)n);
	return 8 + n;
}

/* The record decoder's fast path and its strict path agree on payload:
 * the same verdict, reason and message, or the same record. */
static void
same_decode(const uint8_t *payload, size_t n)
{
	struct wr__record a, b;
	struct wr_error ea, eb;
	wr_err ra = wr__record_decode((const char *)payload, n, &a, &ea);
	wr_err rb = wr__record_decode_strict((const char *)payload, n, &b, &eb);

	FUZZ_CHECK(ra == rb);
	if (ra != WR_OK) {
		FUZZ_CHECK(ea.reason == eb.reason &&
		           strcmp(ea.message, eb.message) == 0);
		return;
	}
	FUZZ_CHECK(a.kind == b.kind && a.event_id == b.event_id &&
	           a.at_ms == b.at_ms && a.role == b.role &&
	           a.sequence == b.sequence &&
	           a.turn_started == b.turn_started && a.status == b.status &&
	           a.run_state == b.run_state &&
	           a.runtime_status == b.runtime_status &&
	           strcmp(a.runtime_id, b.runtime_id) == 0 &&
	           strcmp(a.worker_id, b.worker_id) == 0 &&
	           (a.worker == NULL) == (b.worker == NULL));
	FUZZ_CHECK((a.content == NULL && b.content == NULL) ||
	           (a.content != NULL && b.content != NULL &&
	            strcmp(a.content, b.content) == 0));
	FUZZ_CHECK((a.reason == NULL && b.reason == NULL) ||
	           (a.reason != NULL && b.reason != NULL &&
	            strcmp(a.reason, b.reason) == 0));
	wr__record_clear(&a);
	wr__record_clear(&b);
}

/* Turns the input into store files (see the header comment). */
static void
write_files(const uint8_t *data, size_t size)
{
	int fd = start_file(WR__FS_JOURNAL, 1);
	size_t last_frame = 0;

	while (size > 0) {
		const uint8_t *nl = memchr(data, '\n', size);
		size_t n = nl != NULL ? (size_t)(nl - data) : size;
		unsigned long long gen;
		char marker[32];

		if (n > 2 && n < sizeof(marker) && data[0] == '-' &&
		    data[1] == '-') {
			memcpy(marker, data, n);
			marker[n] = '\0';
			if (sscanf(marker, "--journal %llu", &gen) == 1 ||
			    sscanf(marker, "--snapshot %llu", &gen) == 1) {
				FUZZ_CHECK(close(fd) == 0);
				fd = start_file(marker[2] == 'j'
				                ? WR__FS_JOURNAL
				                : WR__FS_SNAPSHOT, gen);
				last_frame = 0;
			} else if (strcmp(marker, "--torn") == 0 &&
			           last_frame > 1) {
				off_t end = lseek(fd, 0, SEEK_CUR);
				FUZZ_CHECK(ftruncate(fd, end - (off_t)last_frame /
				                                 2) == 0);
			}
		} else if (n > 0) {
			same_decode(data, n);
			last_frame = put_record(fd, data, n);
		}
		data += n + (nl != NULL);
		size -= n + (nl != NULL);
	}
	FUZZ_CHECK(close(fd) == 0);
}

/* Appends the Runtime's whole state as text to f: counts, then per worker
 * its detail and every transcript entry. */
static void
dump_state(struct wr_runtime *rt, FILE *f)
{
	struct wr_runtime_summary s;
	struct wr_worker_list list = { 0 };
	struct wr_transcript_page page;
	struct wr_error err;
	char *text;

	FUZZ_CHECK(wr_runtime_summary(rt, &s, &err) == WR_OK);
	fprintf(f, "%d %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64
	        " %" PRIu64 "\n", (int)s.status, s.worker_count,
	        s.active_worker_count, s.stopped_worker_count,
	        s.cancelled_worker_count, s.failed_worker_count);
	FUZZ_CHECK(wr_worker_list(rt, NULL, &list, &err) == WR_OK);
	for (size_t i = 0; i < list.count; i++) {
		const char *id = list.items[i]->ref.worker_id;
		uint64_t start = 0;

		text = wr_json_encode_worker_detail(list.items[i], NULL, NULL);
		FUZZ_CHECK(text != NULL);
		fprintf(f, "%s\n", text);
		free(text);
		for (int pages = 0;; pages++) {
			FUZZ_CHECK(pages < 1000);
			FUZZ_CHECK(wr_worker_transcript(rt, id, start, 0, &page,
			                                &err) == WR_OK);
			text = wr_json_encode_transcript_page(&page, NULL,
			                                      NULL);
			FUZZ_CHECK(text != NULL);
			fprintf(f, "%s\n", text);
			free(text);
			start = page.next_start;
			wr_transcript_page_clear(&page);
			if (!page.has_next)
				break;
		}
	}
	wr_worker_list_free(&list);
}

/* Opens a Runtime on the directory; NULL if it refuses to. */
static struct wr_runtime *
open_store(void)
{
	struct wr_config cfg = { .runtime_id = "rt-fuzz", .store = store_spec };
	struct wr_runtime *rt;
	struct wr_error err;

	if (wr_runtime_open(&cfg, &rt, &err) != WR_OK) {
		FUZZ_CHECK(err.code == WR_EUNAVAILABLE ||
		           err.code == WR_EINVALID_INPUT);
		FUZZ_CHECK(memchr(err.message, '\0', sizeof(err.message)));
		return NULL;
	}
	return rt;
}

/* Closes rt and returns its state as a heap string. */
static char *
state_then_close(struct wr_runtime *rt)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	FUZZ_CHECK(f != NULL);
	dump_state(rt, f);
	FUZZ_CHECK(fclose(f) == 0);
	wr_runtime_close(rt);
	return text;
}

/* A few mutations of every kind the journal records, then a snapshot. */
static void
mutate(struct wr_runtime *rt)
{
	struct wr_input in = { .kind = WR_INPUT_USER, .content = "fuzz" };
	struct wr_worker_list list = { 0 };
	struct wr_worker_info *w = NULL;
	struct wr_input_ack ack;
	struct wr_lifecycle_ack lack;
	struct wr_error err;

	if (wr_worker_list(rt, NULL, &list, &err) == WR_OK && list.count > 0) {
		wr_worker_input(rt, list.items[0]->ref.worker_id, &in, &ack,
		                &err);
		wr_worker_stop(rt, list.items[list.count - 1]->ref.worker_id,
		               "fuzz", &lack, &err);
	}
	wr_worker_list_free(&list);
	/* The next append crosses the threshold: the store snapshots. */
	wr__store_fs_set_snapshot_bytes(wr__runtime_store(rt), 1);
	if (wr_worker_create(rt, NULL, &w, &err) == WR_OK) {
		wr_worker_input(rt, w->ref.worker_id, &in, &ack, &err);
		wr_worker_cancel(rt, w->ref.worker_id, NULL, &lack, &err);
	}
	wr_worker_info_free(w);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct wr_runtime *rt;
	char *first, *again;

	empty_dir();
	write_files(data, size);
	if ((rt = open_store()) == NULL)
		return 0;
	first = state_then_close(rt);
	rt = open_store();
	FUZZ_CHECK(rt != NULL); /* what opened once opens again */
	again = state_then_close(rt);
	if (strcmp(first, again) != 0)
		fprintf(stderr, "replay 1:\n%s\nreplay 2:\n%s\n", first, again);
	FUZZ_CHECK(strcmp(first, again) == 0);
	free(first);
	free(again);

	rt = open_store();
	FUZZ_CHECK(rt != NULL);
	mutate(rt);
	first = state_then_close(rt);
	rt = open_store();
	FUZZ_CHECK(rt != NULL); /* a snapshot the store wrote opens */
	again = state_then_close(rt);
	if (strcmp(first, again) != 0)
		fprintf(stderr, "before:\n%s\nafter reopen:\n%s\n", first,
		        again);
	FUZZ_CHECK(strcmp(first, again) == 0);
	free(first);
	free(again);
	return 0;
}
