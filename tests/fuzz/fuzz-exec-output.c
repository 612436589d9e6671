/*
 * fuzz-exec-output.c - the exec driver (src/driver/exec.c) reading what a
 * real worker process writes on stdout: the line reader, the protocol
 * message parser and the diagnostics they produce.
 *
 * The input is written to a file that the worker, /bin/cat FILE, copies to
 * its stdout and exits; the harness opens a Runtime with that profile as
 * its default, creates the Worker, sends it one input (a turn, so a
 * "turn_end" in the stream may end it), waits until the Worker has failed
 * (its program exited; docs/worker-protocol.md) and closes the Runtime.
 * Checks: the Worker ends as failed, every transcript entry is non-empty
 * UTF-8 without NUL, every diagnostic is NUL-terminated UTF-8.  One process
 * per input, so this harness is slow (hundreds of inputs a second).
 */
#include "config.h"

#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include "fuzz.h"
#include "base/base.h"

static char dir[256], out_path[300], profiles_path[300];
static struct wr_profile_set *set;

static void
cleanup(void)
{
	wr_profile_set_free(set);
	unlink(out_path);
	unlink(profiles_path);
	rmdir(dir);
}

static void
write_file(const char *path, const void *data, size_t size)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	FUZZ_CHECK(fd >= 0);
	FUZZ_CHECK(size == 0 || write(fd, data, size) == (ssize_t)size);
	FUZZ_CHECK(close(fd) == 0);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *tmp = getenv("TMPDIR");
	char json[1024];
	struct wr_error err;

	(void)argc;
	(void)argv;
	snprintf(dir, sizeof(dir), "%s/wr-fuzz-exec-XXXXXX",
	         tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp");
	FUZZ_CHECK(mkdtemp(dir) != NULL);
	snprintf(out_path, sizeof(out_path), "%s/stdout", dir);
	snprintf(profiles_path, sizeof(profiles_path), "%s/profiles.json", dir);
	snprintf(json, sizeof(json),
	         "{\"default\": \"cat\", \"profiles\": {\"cat\": "
	         "{\"argv\": [\"/bin/cat\", \"%s\"], \"stop_grace_ms\": 0}}}",
	         out_path);
	write_file(profiles_path, json, strlen(json));
	FUZZ_CHECK(wr_profiles_load(profiles_path, &set, &err) == WR_OK);
	atexit(cleanup);
	return 0;
}

/* Waits (bounded: 60 s) until the worker is no longer running. */
static void
wait_ended(struct wr_runtime *rt, const char *id)
{
	struct timespec pause = { 0, 1000000 }; /* 1 ms */
	struct wr_worker_info *w;
	struct wr_error err;

	for (int i = 0;; i++) {
		FUZZ_CHECK(i < 60000);
		FUZZ_CHECK(wr_worker_get(rt, id, &w, &err) == WR_OK);
		if (w->status != WR_STATUS_RUNNING) {
			FUZZ_CHECK(w->status == WR_STATUS_FAILED);
			wr_worker_info_free(w);
			return;
		}
		wr_worker_info_free(w);
		nanosleep(&pause, NULL);
	}
}

static void
check_outcome(struct wr_runtime *rt, const char *id)
{
	struct wr_transcript_page page;
	struct wr_diagnostic *d;
	struct wr_error err;
	uint64_t start = 0;
	size_t n;

	for (int pages = 0;; pages++) {
		FUZZ_CHECK(pages < 10000);
		FUZZ_CHECK(wr_worker_transcript(rt, id, start, 0, &page, &err) ==
		           WR_OK);
		for (size_t i = 0; i < page.count; i++) {
			const char *c = page.items[i].content;

			FUZZ_CHECK(c != NULL && c[0] != '\0');
			FUZZ_CHECK(wr__utf8_valid(c, strlen(c)));
		}
		start = page.next_start;
		wr_transcript_page_clear(&page);
		if (!page.has_next)
			break;
	}
	FUZZ_CHECK(wr_runtime_diagnostics(rt, &d, &n, &err) == WR_OK);
	for (size_t i = 0; i < n; i++) {
		FUZZ_CHECK(memchr(d[i].message, '\0', sizeof(d[i].message)));
		FUZZ_CHECK(wr__utf8_valid(d[i].message,
		                          strlen(d[i].message)));
	}
	free(d);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct wr_config cfg = { .runtime_id = "rt-fuzz" };
	struct wr_input in = { .kind = WR_INPUT_USER, .content = "go" };
	struct wr_runtime *rt;
	struct wr_worker_info *w;
	struct wr_input_ack ack;
	struct wr_error err;
	char id[WR_ID_MAX + 1];

	write_file(out_path, data, size);
	cfg.profiles = wr_profile_set_profiles(set, &cfg.n_profiles);
	cfg.default_profile = wr_profile_set_default(set);
	FUZZ_CHECK(wr_runtime_open(&cfg, &rt, &err) == WR_OK);
	FUZZ_CHECK(wr_worker_create(rt, NULL, &w, &err) == WR_OK);
	snprintf(id, sizeof(id), "%s", w->ref.worker_id);
	wr_worker_info_free(w);
	/* Refused once the program has exited: that is fine too. */
	wr_worker_input(rt, id, &in, &ack, &err);
	wait_ended(rt, id);
	check_outcome(rt, id);
	wr_runtime_close(rt);
	return 0;
}
