/*
 * test_exec.c - the exec driver and the profiles file, through the public
 * API, against tests/workers/test-worker (a worker that misbehaves on
 * request).  Every test opens its own Runtime from a profiles file in a
 * fresh temporary directory and closes it; every wait is bounded.
 */
#include "config.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tmpdir.h"
#include "watchdog_find.h"
#include "worker-runtime.h"

#ifndef TEST_WORKER
#error "TEST_WORKER must name the test-worker binary"
#endif

static char dir[TEST_TMPDIR_SIZE];
static char profiles_path[TEST_TMPDIR_SIZE + 32];
static char marker_path[TEST_TMPDIR_SIZE + 32];
static char pid_path[TEST_TMPDIR_SIZE + 32];
static struct wr_profile_set *set;
static struct wr_runtime *rt;
static struct wr_error err;

/* Every diagnostic as it is made, so a test can read them after close. */
static pthread_mutex_t logged_mu = PTHREAD_MUTEX_INITIALIZER;
static char logged[8192];

static void
log_diagnostic(void *arg, const struct wr_diagnostic *d)
{
	size_t n;

	(void)arg;
	pthread_mutex_lock(&logged_mu);
	n = strlen(logged);
	snprintf(logged + n, sizeof(logged) - n, "%s: %s\n", d->worker_id,
	         d->message);
	pthread_mutex_unlock(&logged_mu);
}

/* How many logged diagnostics contain needle. */
static int
count_logged(const char *needle)
{
	const char *p;
	int n = 0;

	pthread_mutex_lock(&logged_mu);
	for (p = logged; (p = strstr(p, needle)) != NULL; p++)
		n++;
	pthread_mutex_unlock(&logged_mu);
	return n;
}

/* ---- helpers --------------------------------------------------------- */

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

/* Every stderr line reported (WR_WORKER_STDERR), as "id: line\n". */
static char stderr_seen[4096];
/* Every exit reported (WR_WORKER_EXITED), as "id: failed=0|1\n". */
static char exits_seen[4096];
/* The profile of every exit reported, as "id: profile=NAME\n". */
static char exit_profiles_seen[4096];

/* Appends "id: text\n" to buf (under logged_mu). */
static void
seen_add(char *buf, size_t size, const char *id, const char *text)
{
	size_t n;

	pthread_mutex_lock(&logged_mu);
	n = strlen(buf);
	snprintf(buf + n, size - n, "%s: %s\n", id, text);
	pthread_mutex_unlock(&logged_mu);
}

static void
seen_event(void *arg, const struct wr_worker_event *ev)
{
	(void)arg;
	char prof[128];

	if (ev->kind == WR_WORKER_EXITED) {
		seen_add(exits_seen, sizeof(exits_seen), ev->worker_id,
		         ev->failed ? "failed=1" : "failed=0");
		snprintf(prof, sizeof(prof), "profile=%s",
		         ev->profile != NULL ? ev->profile : "(null)");
		seen_add(exit_profiles_seen, sizeof(exit_profiles_seen),
		         ev->worker_id, prof);
	}
	else if (ev->kind == WR_WORKER_STDERR)
		seen_add(stderr_seen, sizeof(stderr_seen), ev->worker_id,
		         ev->message);
}

/* Waits up to ms for "id: text\n" to be in buf; true if it is. */
static bool
wait_seen(const char *buf, const char *id, const char *text, int ms)
{
	char want[WR_ID_MAX + 300];
	int64_t end = now_ms() + ms;
	bool found;

	snprintf(want, sizeof(want), "%s: %s\n", id, text);
	for (;;) {
		pthread_mutex_lock(&logged_mu);
		found = strstr(buf, want) != NULL;
		pthread_mutex_unlock(&logged_mu);
		if (found || now_ms() > end)
			return found;
		sleep_ms(10);
	}
}

/* Waits up to ms for the exit of id to be reported; true if it was, with
 * its failed flag equal to failed. */
static bool
wait_exit_event(const char *id, bool failed, int ms)
{
	return wait_seen(exits_seen, id, failed ? "failed=1" : "failed=0", ms);
}

/* Waits up to ms for the stderr line "id: line" to be reported. */
static bool
wait_stderr(const char *id, const char *line, int ms)
{
	return wait_seen(stderr_seen, id, line, ms);
}

static int
count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	cr_assert_not_null(d);
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1; /* the directory's own descriptor */
}

/* State letter of /proc/PID/stat and its parent, or 0 if pid is gone. */
static char
proc_state(pid_t pid, pid_t *ppid)
{
	char path[64], buf[512], *p;
	FILE *f;
	size_t n;
	char st = 0;
	long pp = 0;

	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	f = fopen(path, "r");
	if (f == NULL)
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	p = strrchr(buf, ')'); /* comm may hold spaces and parentheses */
	if (p != NULL && sscanf(p + 1, " %c %ld", &st, &pp) == 2 &&
	    ppid != NULL)
		*ppid = (pid_t)pp;
	return st;
}

/* Number of our children that are zombies (<defunct>). */
static int
count_zombies(void)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	pid_t ppid;
	int n = 0;

	cr_assert_not_null(d);
	while ((e = readdir(d)) != NULL) {
		long pid = strtol(e->d_name, NULL, 10);

		ppid = 0;
		if (pid > 0 && proc_state((pid_t)pid, &ppid) == 'Z' &&
		    ppid == getpid())
			n++;
	}
	closedir(d);
	return n;
}

/* True once pid no longer exists (reaped, or a zombie of someone else
 * that is not ours to reap). */
static bool
process_gone(pid_t pid)
{
	pid_t ppid = 0;
	char st = proc_state(pid, &ppid);

	return st == 0 || (st == 'Z' && ppid != getpid());
}

static bool
wait_gone(pid_t pid, int ms)
{
	int64_t end = now_ms() + ms;

	while (!process_gone(pid)) {
		if (now_ms() > end)
			return false;
		sleep_ms(10);
	}
	return true;
}

static char *
slurp(const char *path)
{
	static char buf[4096];
	FILE *f = fopen(path, "r");
	size_t n = 0;

	buf[0] = '\0';
	if (f != NULL) {
		n = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
	}
	buf[n] = '\0';
	return buf;
}

/* Waits (bounded) for the worker to write its pid file, reads the pid
 * (and the grandchild's, if asked) and removes the file for the next. */
static pid_t
read_pid(pid_t *grandchild)
{
	int64_t end = now_ms() + 5000;
	long a = 0, b = 0;
	char *s;

	for (;;) {
		s = slurp(pid_path);
		if (strchr(s, '\n') != NULL &&
		    (grandchild == NULL || strchr(strchr(s, '\n') + 1, '\n')))
			break;
		cr_assert_lt(now_ms(), end, "worker wrote no pid file");
		sleep_ms(10);
	}
	cr_assert_geq(sscanf(s, "%ld %ld", &a, &b), 1);
	if (grandchild != NULL)
		*grandchild = (pid_t)b;
	unlink(pid_path);
	return (pid_t)a;
}

/* Waits (bounded) until the marker file reads exactly want. */
static void
wait_marker(const char *want)
{
	int64_t end = now_ms() + 5000;

	while (strcmp(slurp(marker_path), want) != 0) {
		cr_assert_lt(now_ms(), end, "marker is \"%s\", want \"%s\"",
		             slurp(marker_path), want);
		sleep_ms(10);
	}
}

static void
write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	cr_assert_not_null(f);
	fputs(text, f);
	cr_assert_eq(fclose(f), 0);
}

static void
setup(void)
{
	test_tmpdir_create(dir, sizeof(dir), "exec");
	snprintf(profiles_path, sizeof(profiles_path), "%s/profiles.json",
	         dir);
	snprintf(marker_path, sizeof(marker_path), "%s/marker", dir);
	snprintf(pid_path, sizeof(pid_path), "%s/pid", dir);
}

static void
teardown(void)
{
	wr_runtime_close(rt);
	rt = NULL;
	wr_profile_set_free(set);
	set = NULL;
	test_tmpdir_remove(dir);
}

TestSuite(exec, .init = setup, .fini = teardown, .timeout = 30);
TestSuite(profiles, .init = setup, .fini = teardown, .timeout = 10);

/*
 * Writes a profiles file whose default profile "w" runs test-worker with
 * the given options (NULL-terminated) plus --pidfile and --marker, adds
 * the JSON members in extra (may be NULL), and opens a Runtime with it.
 */
static void
open_worker_profile(const char *extra, ...)
{
	char json[4096];
	size_t n;
	const char *opt;
	va_list ap;
	size_t nprof;
	const struct wr_profile *profs;
	struct wr_config cfg = {.runtime_id = "rt-exec"};

	n = (size_t)snprintf(json, sizeof(json),
	                     "{\"default\": \"w\", \"profiles\": {\"w\": {"
	                     "\"argv\": [\"%s\", \"--pidfile\", \"%s\", "
	                     "\"--marker\", \"%s\"",
	                     TEST_WORKER, pid_path, marker_path);
	va_start(ap, extra);
	while ((opt = va_arg(ap, const char *)) != NULL)
		n += (size_t)snprintf(json + n, sizeof(json) - n, ", \"%s\"",
		                      opt);
	va_end(ap);
	snprintf(json + n, sizeof(json) - n, "]%s%s}}}\n",
	         extra != NULL ? ", " : "", extra != NULL ? extra : "");
	write_file(profiles_path, json);
	cr_assert_eq(wr_profiles_load(profiles_path, &set, &err), WR_OK, "%s",
	             err.message);
	profs = wr_profile_set_profiles(set, &nprof);
	cfg.profiles = profs;
	cfg.n_profiles = nprof;
	cfg.default_profile = wr_profile_set_default(set);
	cfg.on_diagnostic = log_diagnostic;
	cfg.on_worker_event = seen_event;
	cr_assert_eq(wr_runtime_open(&cfg, &rt, &err), WR_OK, "%s",
	             err.message);
}

/* Creates a worker with the runtime default profile; copies its id. */
static void
create(char id[WR_ID_MAX + 1])
{
	struct wr_worker_info *w = NULL;

	cr_assert_eq(wr_worker_create(rt, NULL, &w, &err), WR_OK, "%s: %s",
	             wr_reason_name(err.reason), err.message);
	cr_assert_eq(w->status, WR_STATUS_RUNNING);
	cr_assert_eq(w->run_state, WR_RUN_IDLE);
	strcpy(id, w->ref.worker_id);
	wr_worker_info_free(w);
}

static wr_err
input(const char *id, const char *content, struct wr_input_ack *ack)
{
	struct wr_input in = {WR_INPUT_USER, (char *)content};

	return wr_worker_input(rt, id, &in, ack, &err);
}

/* Polls until the worker is idle or no longer running (bounded);
 * returns its final info (caller frees). */
static struct wr_worker_info *
wait_settled(const char *id, int ms)
{
	int64_t end = now_ms() + ms;
	struct wr_worker_info *w = NULL;

	for (;;) {
		cr_assert_eq(wr_worker_get(rt, id, &w, &err), WR_OK);
		if (w->status != WR_STATUS_RUNNING ||
		    w->run_state == WR_RUN_IDLE)
			return w;
		wr_worker_info_free(w);
		cr_assert_lt(now_ms(), end, "worker %s stayed busy", id);
		sleep_ms(10);
	}
}

/* Sends content to id and waits (at most ms) until its turn settled; the
 * worker still runs. */
static void
input_settled(const char *id, const char *content, int ms)
{
	struct wr_worker_info *w;

	cr_assert_eq(input(id, content, NULL), WR_OK, "%s", err.message);
	w = wait_settled(id, ms);
	cr_assert_eq(w->status, WR_STATUS_RUNNING, "worker %s ended", id);
	wr_worker_info_free(w);
}

static struct wr_worker_info *
wait_status(const char *id, enum wr_worker_status status, int ms)
{
	int64_t end = now_ms() + ms;
	struct wr_worker_info *w = NULL;

	for (;;) {
		cr_assert_eq(wr_worker_get(rt, id, &w, &err), WR_OK);
		if (w->status == status)
			return w;
		wr_worker_info_free(w);
		cr_assert_lt(now_ms(), end, "worker %s never reached %s", id,
		             wr_worker_status_name(status));
		sleep_ms(10);
	}
}

static void
transcript(const char *id, struct wr_transcript_page *page)
{
	cr_assert_eq(wr_worker_transcript(rt, id, 0, 256, page, &err), WR_OK,
	             "%s", err.message);
}

/* True if a kept diagnostic of worker id contains needle. */
static bool
has_diagnostic(const char *id, const char *needle)
{
	struct wr_diagnostic *d = NULL;
	size_t n = 0, i;
	bool found = false;

	cr_assert_eq(wr_runtime_diagnostics(rt, &d, &n, &err), WR_OK);
	for (i = 0; i < n; i++)
		if (strcmp(d[i].worker_id, id) == 0 &&
		    strstr(d[i].message, needle) != NULL)
			found = true;
	free(d);
	return found;
}

static bool
wait_diagnostic(const char *id, const char *needle, int ms)
{
	int64_t end = now_ms() + ms;

	while (!has_diagnostic(id, needle)) {
		if (now_ms() > end)
			return false;
		sleep_ms(10);
	}
	return true;
}

static void
assert_entry(const struct wr_transcript_page *p, size_t i, enum wr_role role,
             const char *content)
{
	cr_assert_lt(i, p->count, "transcript has %zu entries, want > %zu",
	             p->count, i);
	cr_assert_eq(p->items[i].sequence, i + 1);
	cr_assert_eq(p->items[i].role, role, "entry %zu: role %s", i,
	             wr_role_name(p->items[i].role));
	cr_assert_str_eq(p->items[i].content, content);
}

/* ---- turns ------------------------------------------------------------ */

Test(exec, a_turn_is_busy_until_turn_end_and_output_lands_in_order,
     .timeout = 20)
{
	char id[WR_ID_MAX + 1];
	struct wr_input_ack ack;
	struct wr_worker_info *w;
	struct wr_transcript_page p = {0};

	open_worker_profile(NULL, "--lines", "3", "--delay-ms", "200", NULL);
	create(id);
	cr_assert_eq(input(id, "hello", &ack), WR_OK, "%s", err.message);
	cr_assert_eq(ack.run_state, WR_RUN_BUSY);
	cr_assert_eq(ack.transcript_sequence, 1);
	w = wait_settled(id, 5000);
	cr_assert_eq(w->status, WR_STATUS_RUNNING);
	cr_assert_eq(w->run_state, WR_RUN_IDLE);
	cr_assert_eq(w->transcript_len, 4);
	wr_worker_info_free(w);
	transcript(id, &p);
	cr_assert_eq(p.count, 4);
	assert_entry(&p, 0, WR_ROLE_USER, "hello");
	assert_entry(&p, 1, WR_ROLE_WORKER, "LINE 1/3: hello");
	assert_entry(&p, 2, WR_ROLE_WORKER, "LINE 2/3: hello");
	assert_entry(&p, 3, WR_ROLE_WORKER, "LINE 3/3: hello");
	wr_transcript_page_clear(&p);

	/* a second turn works the same way */
	cr_assert_eq(input(id, "again \"quoted\"\nnewline", &ack), WR_OK);
	w = wait_settled(id, 5000);
	cr_assert_eq(w->transcript_len, 8);
	wr_worker_info_free(w);
	transcript(id, &p);
	assert_entry(&p, 4, WR_ROLE_USER, "again \"quoted\"\nnewline");
	assert_entry(&p, 7, WR_ROLE_WORKER,
	             "LINE 3/3: again \"quoted\"\nnewline");
	wr_transcript_page_clear(&p);
}

Test(exec, input_while_busy_is_refused_with_busy, .timeout = 20)
{
	char id[WR_ID_MAX + 1];
	struct wr_input_ack ack;
	struct wr_worker_info *w;

	open_worker_profile(NULL, "--delay-ms", "1000", NULL);
	create(id);
	cr_assert_eq(input(id, "one", &ack), WR_OK);
	cr_assert_eq(input(id, "two", &ack), WR_EBUSY);
	cr_assert_str_eq(wr_reason_name(err.reason), "turn_in_progress");
	cr_assert_str_eq(err.worker_id, id);
	w = wait_settled(id, 5000);
	cr_assert_eq(w->run_state, WR_RUN_IDLE);
	cr_assert_eq(w->transcript_len, 2); /* "two" was not recorded */
	wr_worker_info_free(w);
	cr_assert_eq(input(id, "three", &ack), WR_OK);
	cr_assert_eq(ack.transcript_sequence, 3);
}

/* A worker that ends its turns without reading its stdin: the input it
 * has not read stays queued in the Runtime.  More input must then be
 * refused (busy) instead of growing that queue without bound. */
Test(exec, input_is_refused_while_the_last_one_is_still_unread, .timeout = 20)
{
	char id[WR_ID_MAX + 1];
	struct wr_input_ack ack;
	struct wr_worker_info *w;
	struct wr_config cfg = {.runtime_id = "rt-exec"};
	size_t n, big = 1024 * 1024 - 64;
	char *content = malloc(big + 1);

	cr_assert_not_null(content);
	memset(content, 'x', big);
	content[big] = '\0';
	/* Ends every turn at once and never reads its stdin. */
	write_file(profiles_path,
	           "{\"default\": \"w\", \"profiles\": {\"w\": {\"argv\": "
	           "[\"/bin/sh\", \"-c\", \"while :; do echo "
	           "'{\\\"type\\\":\\\"turn_end\\\"}'; sleep 0.01; done\"], "
	           "\"stop_grace_ms\": 0}}}");
	cr_assert_eq(wr_profiles_load(profiles_path, &set, &err), WR_OK, "%s",
	             err.message);
	cfg.profiles = wr_profile_set_profiles(set, &n);
	cfg.n_profiles = n;
	cfg.default_profile = wr_profile_set_default(set);
	cfg.on_diagnostic = log_diagnostic;
	cr_assert_eq(wr_runtime_open(&cfg, &rt, &err), WR_OK, "%s",
	             err.message);
	create(id);
	/* Far more than a pipe holds: most of it stays queued. */
	cr_assert_eq(input(id, content, &ack), WR_OK, "%s", err.message);
	w = wait_settled(id, 5000);
	cr_assert_eq(w->run_state, WR_RUN_IDLE);
	wr_worker_info_free(w);
	cr_assert_eq(input(id, content, &ack), WR_EBUSY,
	             "a second input was queued behind an unread one");
	cr_assert_str_eq(wr_reason_name(err.reason), "turn_in_progress");
	cr_assert_str_eq(err.worker_id, id);
	w = wait_settled(id, 5000);
	cr_assert_eq(w->transcript_len, 1); /* the refused one is not recorded */
	wr_worker_info_free(w);
	/* The worker looks idle: a diagnostic says why input is refused,
	 * once per unread line however often the client retries. */
	cr_assert_eq(input(id, content, &ack), WR_EBUSY);
	for (int64_t end = now_ms() + 5000; count_logged("without reading "
	     "its last input line") == 0 && now_ms() < end;)
		sleep_ms(10);
	sleep_ms(200);
	cr_assert_eq(count_logged("input refused (busy): the worker ended its "
	                          "turn without reading its last input line"),
	             1, "%s", logged);
	free(content);
}

Test(exec, the_child_gets_worker_id_runtime_id_env_and_cwd, .timeout = 20)
{
	char id[WR_ID_MAX + 1], want[256];
	struct wr_transcript_page p = {0};

	open_worker_profile("\"env\": {\"TW_VAR\": \"v a=l\"}, \"cwd\": \"/\"",
	                    "--env", "--lines", "0", NULL);
	create(id);
	input_settled(id, "x", 5000);
	transcript(id, &p);
	cr_assert_eq(p.count, 5);
	snprintf(want, sizeof(want), "WORKER_ID=%s", id);
	assert_entry(&p, 1, WR_ROLE_WORKER, want);
	assert_entry(&p, 2, WR_ROLE_WORKER, "RUNTIME_ID=rt-exec");
	assert_entry(&p, 3, WR_ROLE_WORKER, "TW_VAR=v a=l");
	assert_entry(&p, 4, WR_ROLE_WORKER, "CWD=/");
	wr_transcript_page_clear(&p);
}

/* Opens rt (max_input_bytes max_input, 0: the default) with one profile,
 * echo (src/workers/echo-worker), and creates an echo worker into id. */
static void
open_echo(uint32_t max_input, char id[WR_ID_MAX + 1])
{
	struct wr_create_request req = {0};
	struct wr_worker_info *w;
	size_t n;
	struct wr_config cfg = {0};

	write_file(profiles_path, "{\"profiles\": {\"echo\": {\"argv\": [\""
	           ECHO_WORKER "\"]}}}");
	cr_assert_eq(wr_profiles_load(profiles_path, &set, &err), WR_OK);
	cfg.profiles = wr_profile_set_profiles(set, &n);
	cfg.n_profiles = n;
	cfg.limits.max_input_bytes = max_input;
	cr_assert_eq(wr_runtime_open(&cfg, &rt, &err), WR_OK);
	req.profile.kind = WR_PROFILE_NAMED;
	req.profile.value = "echo";
	cr_assert_eq(wr_worker_create(rt, &req, &w, &err), WR_OK, "%s",
	             err.message);
	strcpy(id, w->ref.worker_id);
	wr_worker_info_free(w);
}

/* Echoes content (n bytes of c) and checks the answer is all there. */
static void
echo_back(const char *id, char c, size_t n)
{
	struct wr_transcript_page p = {0};
	char *content = malloc(n + 1);

	cr_assert_not_null(content);
	memset(content, c, n);
	content[n] = '\0';
	input_settled(id, content, 10000);
	transcript(id, &p);
	cr_assert_eq(p.count, 2, "the answer to %zu bytes of 0x%02x was "
	             "dropped", n, (unsigned)c);
	cr_assert_eq(strlen(p.items[1].content), n);
	cr_assert_eq(memcmp(p.items[1].content, content, n), 0);
	wr_transcript_page_clear(&p);
	free(content);
}

Test(exec, the_example_echo_worker_echoes, .timeout = 20)
{
	char id[WR_ID_MAX + 1];
	struct wr_transcript_page p = {0};

	open_echo(0, id);
	input_settled(id, "h\xc3\xa9llo", 5000);
	transcript(id, &p);
	cr_assert_eq(p.count, 2);
	assert_entry(&p, 1, WR_ROLE_WORKER, "h\xc3\xa9llo");
	wr_transcript_page_clear(&p);
}

/* A stdout line has room for an answer to any input the Runtime accepts
 * (docs/worker-protocol.md, Limits): the echo of the largest input by the
 * default limit, and of one whose every byte json-c escapes as \u0001
 * (6 bytes each: 1.2 MB of line for 200,000 bytes of content). */
Test(exec, a_worker_can_answer_with_the_largest_input_however_escaped,
     .timeout = 30)
{
	char id[WR_ID_MAX + 1];

	open_echo(0, id);
	echo_back(id, 'x', WR_DEFAULT_MAX_INPUT_BYTES);
	wr_runtime_close(rt);
	rt = NULL;
	wr_profile_set_free(set);
	set = NULL;
	open_echo(200000, id);
	echo_back(id, '\x01', 200000);
}

/* ---- stop and cancel --------------------------------------------------- */

/* A graceful stop that comes while most of an input line still waits for
 * room in the pipe closes stdin only once the line is whole: the worker
 * reads all of it, then EOF (it used to read the 64 KiB the pipe held, cut
 * mid-JSON, and no newline). */
Test(exec, a_graceful_stop_lets_the_worker_read_its_whole_last_input,
     .timeout = 20)
{
	char id[WR_ID_MAX + 1], json[1024];
	struct wr_lifecycle_ack ack;
	struct wr_config cfg = {.runtime_id = "rt-exec"};
	size_t n, big = 1024 * 1024 - 64;
	char *content = malloc(big + 1), *s;
	int64_t end = now_ms() + 10000;

	cr_assert_not_null(content);
	memset(content, 'x', big);
	content[big] = '\0';
	/* Reads nothing for 0.3 s (the stop comes meanwhile), then counts
	 * every byte of its stdin up to EOF. */
	snprintf(json, sizeof(json),
	         "{\"default\": \"w\", \"profiles\": {\"w\": {\"argv\": "
	         "[\"/bin/sh\", \"-c\", \"sleep 0.3; wc -c > %s\"]}}}",
	         marker_path);
	write_file(profiles_path, json);
	cr_assert_eq(wr_profiles_load(profiles_path, &set, &err), WR_OK, "%s",
	             err.message);
	cfg.profiles = wr_profile_set_profiles(set, &n);
	cfg.n_profiles = n;
	cfg.default_profile = wr_profile_set_default(set);
	cr_assert_eq(wr_runtime_open(&cfg, &rt, &err), WR_OK, "%s",
	             err.message);
	create(id);
	cr_assert_eq(input(id, content, NULL), WR_OK, "%s", err.message);
	cr_assert_eq(wr_worker_stop(rt, id, "done", &ack, &err), WR_OK);
	while (strchr(s = slurp(marker_path), '\n') == NULL) {
		cr_assert_lt(now_ms(), end, "the worker never saw EOF");
		sleep_ms(10);
	}
	cr_assert_gt(strtol(s, NULL, 10), (long)big, "the worker read %s bytes "
	             "of a line of more than %zu", s, big);
	free(content);
}

Test(exec, stop_when_idle_closes_stdin_and_the_child_exits, .timeout = 20)
{
	char id[WR_ID_MAX + 1];
	struct wr_lifecycle_ack ack;
	pid_t pid;
	int64_t t0;

	open_worker_profile(NULL, NULL);
	create(id);
	pid = read_pid(NULL);
	t0 = now_ms();
	cr_assert_eq(wr_worker_stop(rt, id, "done", &ack, &err), WR_OK);
	cr_assert_eq(ack.status, WR_STATUS_STOPPED);
	cr_assert(wait_gone(pid, 3000), "child %d not reaped", (int)pid);
	cr_assert_lt(now_ms() - t0, 2000, "a graceful exit took too long");
	cr_assert_str_eq(slurp(marker_path), "start\neof\n");
	/* input to a stopped worker is refused by the Runtime */
	cr_assert_eq(input(id, "late", NULL), WR_EUNSUPPORTED);
}

/* stop_grace_ms 0: every stop sends SIGTERM at once, as the profile
 * asks; a worker that ends at it is no diagnostic, as after a cancel. */
Test(exec, a_stop_with_a_grace_of_0_is_no_diagnostic, .timeout = 20)
{
	char id[WR_ID_MAX + 1];
	struct wr_lifecycle_ack ack;
	pid_t pid;

	open_worker_profile("\"stop_grace_ms\": 0", NULL);
	create(id);
	pid = read_pid(NULL);
	cr_assert_eq(wr_worker_stop(rt, id, "done", &ack, &err), WR_OK);
	cr_assert_eq(ack.status, WR_STATUS_STOPPED);
	cr_assert(wait_gone(pid, 3000), "child %d not reaped", (int)pid);
	wr_runtime_close(rt);
	rt = NULL;
	cr_assert_eq(count_logged("still running"), 0, "%s", logged);
	cr_assert_eq(count_logged("stopped: "), 0, "%s", logged);
}

Test(exec, stop_mid_turn_escalates_to_sigterm_after_the_grace, .timeout = 20)
{
	char id[WR_ID_MAX + 1];
	struct wr_transcript_page p = {0};
	pid_t pid;
	int64_t t0, took;

	open_worker_profile("\"stop_grace_ms\": 300", "--delay-ms", "3000",
	                    NULL);
	create(id);
	pid = read_pid(NULL);
	cr_assert_eq(input(id, "slow", NULL), WR_OK);
	wait_marker("start\ninput\n"); /* the child is in its turn */
	t0 = now_ms();
	cr_assert_eq(wr_worker_stop(rt, id, NULL, NULL, &err), WR_OK);
	cr_assert(wait_gone(pid, 5000));
	took = now_ms() - t0;
	cr_assert_geq(took, 250, "SIGTERM came before the grace: %lld",
	              (long long)took);
	cr_assert_lt(took, 2500, "SIGTERM came late: %lld", (long long)took);
	cr_assert_str_eq(slurp(marker_path), "start\ninput\nterm\n");
	cr_assert(wait_diagnostic(id, "sending SIGTERM", 1000));
	transcript(id, &p);
	cr_assert_eq(p.count, 1); /* the abandoned turn left no output */
	wr_transcript_page_clear(&p);
}

Test(exec, stop_of_a_child_ignoring_eof_and_sigterm_ends_in_sigkill,
     .timeout = 20)
{
	char id[WR_ID_MAX + 1];
	pid_t pid;
	int64_t t0, took;

	open_worker_profile("\"stop_grace_ms\": 200", "--ignore-eof",
	                    "--ignore-term", NULL);
	create(id);
	pid = read_pid(NULL);
	t0 = now_ms();
	cr_assert_eq(wr_worker_stop(rt, id, NULL, NULL, &err), WR_OK);
	cr_assert(wait_gone(pid, 5000));
	took = now_ms() - t0;
	/* 200 ms stop grace + 500 ms kill grace */
	cr_assert_geq(took, 650, "killed too early: %lld", (long long)took);
	cr_assert_lt(took, 3000, "killed too late: %lld", (long long)took);
	cr_assert_str_eq(slurp(marker_path), "start\neof\nterm\n");
	cr_assert(has_diagnostic(id, "sending SIGKILL"));
}

Test(exec, cancel_when_idle_sends_sigterm_at_once, .timeout = 20)
{
	char id[WR_ID_MAX + 1];
	struct wr_lifecycle_ack ack;
	pid_t pid;
	int64_t t0;

	open_worker_profile(NULL, NULL);
	create(id);
	pid = read_pid(NULL);
	t0 = now_ms();
	cr_assert_eq(wr_worker_cancel(rt, id, NULL, &ack, &err), WR_OK);
	cr_assert_eq(ack.status, WR_STATUS_CANCELLED);
	cr_assert(wait_gone(pid, 3000));
	cr_assert_lt(now_ms() - t0, 1000); /* the stop grace is 5000 */
	cr_assert_str_eq(slurp(marker_path), "start\nterm\n");
	cr_assert(wait_exit_event(id, false, 3000), "%s", exits_seen);
	/* Ending at the cancel's own SIGTERM is what a cancel does: no
	 * diagnostic (it would make GET /v1/health "degraded"). */
	wr_runtime_close(rt);
	rt = NULL;
	cr_assert_eq(count_logged("stopped: "), 0, "%s", logged);
}

Test(exec, cancel_mid_turn_of_a_child_ignoring_sigterm_ends_in_sigkill,
     .timeout = 20)
{
	char id[WR_ID_MAX + 1];
	struct wr_worker_info *w;
	pid_t pid;
	int64_t t0, took;

	open_worker_profile(NULL, "--ignore-term", "--delay-ms", "5000", NULL);
	create(id);
	pid = read_pid(NULL);
	cr_assert_eq(input(id, "slow", NULL), WR_OK);
	wait_marker("start\ninput\n");
	t0 = now_ms();
	cr_assert_eq(wr_worker_cancel(rt, id, NULL, NULL, &err), WR_OK);
	cr_assert(wait_gone(pid, 5000));
	took = now_ms() - t0;
	cr_assert_geq(took, 450, "killed too early: %lld", (long long)took);
	cr_assert_lt(took, 2500, "killed too late: %lld", (long long)took);
	cr_assert_str_eq(slurp(marker_path), "start\ninput\nterm\n");
	cr_assert_eq(wr_worker_get(rt, id, &w, &err), WR_OK);
	cr_assert_eq(w->status, WR_STATUS_CANCELLED);
	cr_assert_eq(w->run_state, WR_RUN_NONE);
	wr_worker_info_free(w);
	/* repeating is idempotent */
	cr_assert_eq(wr_worker_stop(rt, id, NULL, NULL, &err), WR_OK);
}

Test(exec, the_whole_process_group_is_killed, .timeout = 20)
{
	char id[WR_ID_MAX + 1];
	pid_t pid, gc = 0;

	open_worker_profile(NULL, "--grandchild", NULL);
	create(id);
	pid = read_pid(&gc);
	cr_assert_gt(gc, 0);
	cr_assert(!process_gone(gc));
	cr_assert_eq(wr_worker_stop(rt, id, NULL, NULL, &err), WR_OK);
	cr_assert(wait_gone(pid, 3000));
	cr_assert(wait_gone(gc, 3000), "grandchild %d survived", (int)gc);
}

/* ---- failures ---------------------------------------------------------- */

Test(exec, a_child_exiting_on_its_own_fails_the_worker, .timeout = 20)
{
	char id[WR_ID_MAX + 1];
	struct wr_transcript_page p = {0};
	struct wr_worker_info *w;
	struct wr_runtime_summary s;
	pid_t pid;

	open_worker_profile(NULL, "--exit-after", "1", "7", NULL);
	create(id);
	pid = read_pid(NULL);
	cr_assert_eq(input(id, "bye", NULL), WR_OK);
	w = wait_status(id, WR_STATUS_FAILED, 5000);
	cr_assert_eq(w->run_state, WR_RUN_NONE);
	wr_worker_info_free(w);
	cr_assert(wait_gone(pid, 3000));
	transcript(id, &p);
	cr_assert_eq(p.count, 3);
	assert_entry(&p, 1, WR_ROLE_WORKER, "LINE 1/1: bye");
	assert_entry(&p, 2, WR_ROLE_RUNTIME,
	             "worker process exited with status 7");
	wr_transcript_page_clear(&p);
	cr_assert_eq(wr_runtime_summary(rt, &s, &err), WR_OK);
	cr_assert_eq(s.failed_worker_count, 1);
	cr_assert_eq(input(id, "more", NULL), WR_EUNSUPPORTED);
}

Test(exec, a_child_exiting_at_start_fails_the_worker, .timeout = 20)
{
	char id[WR_ID_MAX + 1];
	struct wr_transcript_page p = {0};
	struct wr_worker_info *w;

	open_worker_profile(NULL, "--exit-at-start", "3", NULL);
	create(id);
	w = wait_status(id, WR_STATUS_FAILED, 5000);
	wr_worker_info_free(w);
	transcript(id, &p);
	cr_assert_eq(p.count, 1);
	assert_entry(&p, 0, WR_ROLE_RUNTIME,
	             "worker process exited with status 3");
	wr_transcript_page_clear(&p);
	cr_assert_eq(count_zombies(), 0);
}

Test(exec, a_crash_mid_turn_fails_the_worker_after_its_output,
     .timeout = 20)
{
	char id[WR_ID_MAX + 1];
	struct wr_transcript_page p = {0};
	struct wr_worker_info *w;
	pid_t pid;

	open_worker_profile(NULL, "--crash-mid-turn", "--lines", "2", NULL);
	create(id);
	pid = read_pid(NULL);
	cr_assert_eq(input(id, "boom", NULL), WR_OK);
	w = wait_status(id, WR_STATUS_FAILED, 5000);
	wr_worker_info_free(w);
	cr_assert(wait_gone(pid, 3000));
	transcript(id, &p);
	cr_assert_eq(p.count, 3);
	assert_entry(&p, 0, WR_ROLE_USER, "boom");
	assert_entry(&p, 1, WR_ROLE_WORKER, "LINE 1/2: boom");
	assert_entry(&p, 2, WR_ROLE_RUNTIME,
	             "worker process killed by SIGABRT");
	wr_transcript_page_clear(&p);
}

Test(exec, a_turn_over_its_timeout_fails_the_worker_and_kills_it,
     .timeout = 20)
{
	char id[WR_ID_MAX + 1];
	struct wr_transcript_page p = {0};
	struct wr_worker_info *w;
	pid_t pid;
	int64_t t0, took;

	open_worker_profile("\"turn_timeout_ms\": 300", "--no-turn-end", NULL);
	create(id);
	pid = read_pid(NULL);
	t0 = now_ms();
	cr_assert_eq(input(id, "hang", NULL), WR_OK);
	w = wait_status(id, WR_STATUS_FAILED, 5000);
	took = now_ms() - t0;
	wr_worker_info_free(w);
	cr_assert_geq(took, 250, "timed out early: %lld", (long long)took);
	cr_assert(wait_gone(pid, 3000));
	transcript(id, &p);
	cr_assert_eq(p.count, 3);
	assert_entry(&p, 1, WR_ROLE_WORKER, "LINE 1/1: hang");
	assert_entry(&p, 2, WR_ROLE_RUNTIME, "turn timed out after 300 ms");
	wr_transcript_page_clear(&p);
	/* No diagnostic says so: the exit line ("worker exited, marked
	 * failed", warn) is what tells the operator. */
	cr_assert(wait_exit_event(id, true, 3000), "%s", exits_seen);
}

/* ... while its stderr lines are its own log: each is reported as a
 * WR_WORKER_STDERR event (the "worker stderr" log line), none is a
 * diagnostic (which would turn GET /v1/health "degraded"). */
Test(exec, garbage_output_is_a_diagnostic_and_the_worker_goes_on,
     .timeout = 20)
{
	char id[WR_ID_MAX + 1];
	struct wr_transcript_page p = {0};

	open_worker_profile(NULL, "--garbage", "--stderr", NULL);
	create(id);
	input_settled(id, "one", 5000);
	cr_assert(has_diagnostic(id, "not a protocol message: this is not "
	                             "json"));
	cr_assert(has_diagnostic(id, "not a protocol message: [1,2,3]"));
	cr_assert(has_diagnostic(id, "unknown message type \"bogus\""));
	cr_assert(has_diagnostic(id, "output without a string content"));
	cr_assert(wait_stderr(id, "test-worker: turn 1", 2000));
	cr_assert(!has_diagnostic(id, "stderr"));
	cr_assert(!has_diagnostic(id, "test-worker: turn 1"));
	input_settled(id, "two", 5000);
	transcript(id, &p);
	cr_assert_eq(p.count, 4);
	assert_entry(&p, 1, WR_ROLE_WORKER, "LINE 1/1: one");
	assert_entry(&p, 3, WR_ROLE_WORKER, "LINE 1/1: two");
	wr_transcript_page_clear(&p);
}

/* A worker that closes its stdout and goes on running can send no more
 * output or turn_end: WR__EXEC_STDOUT_EOF_GRACE_MS later it is failed, with
 * a runtime entry, and ended, rather than left busy (every input refused
 * with a Retry-After) for ever. */
Test(exec, a_worker_that_closes_its_stdout_and_runs_on_is_failed_and_ended,
     .timeout = 20)
{
	char id[WR_ID_MAX + 1];
	struct wr_transcript_page p = {0};
	struct wr_worker_info *w;
	pid_t pid;

	open_worker_profile(NULL, "--close-stdout", NULL);
	create(id);
	pid = read_pid(NULL);
	cr_assert_eq(input(id, "into the void", NULL), WR_OK);
	w = wait_status(id, WR_STATUS_FAILED, 5000);
	wr_worker_info_free(w);
	cr_assert(wait_gone(pid, 3000));
	transcript(id, &p);
	cr_assert_eq(p.count, 2);
	assert_entry(&p, 1, WR_ROLE_RUNTIME, "worker process closed its stdout "
	             "and went on running");
	wr_transcript_page_clear(&p);
	cr_assert(!has_diagnostic(id, "stopped: "));
	cr_assert(wait_exit_event(id, true, 3000), "%s", exits_seen);
}

/* Lines json-c alone would read differently from other parsers (a lone
 * surrogate, a NUL-cut or repeated member name, -0) are malformed like any
 * other: a diagnostic naming the rule, nothing in the transcript, and the
 * turn is not ended by {"type":"output",...,"type":"turn_end"}.  An output
 * whose content holds \u0000 is dropped too. */
Test(exec, ambiguous_output_lines_are_refused_as_malformed, .timeout = 20)
{
	char id[WR_ID_MAX + 1];
	struct wr_transcript_page p = {0};

	open_worker_profile(NULL, "--ambiguous", NULL);
	create(id);
	input_settled(id, "one", 5000);
	cr_assert(has_diagnostic(id, "not a protocol message "
	                             "(invalid_unicode at content)"));
	cr_assert(has_diagnostic(id, "not a protocol message "
	                             "(nul_in_member_name)"));
	cr_assert(has_diagnostic(id, "not a protocol message "
	                             "(duplicate_member at type)"));
	cr_assert(has_diagnostic(id, "not a protocol message "
	                             "(invalid_number at n)"));
	cr_assert(has_diagnostic(id, "output content contains a NUL "
	                             "character; dropped"));
	cr_assert(!has_diagnostic(id, "turn_end without a turn"));
	transcript(id, &p);
	cr_assert_eq(p.count, 2);
	assert_entry(&p, 1, WR_ROLE_WORKER, "LINE 1/1: one");
	wr_transcript_page_clear(&p);
}

Test(exec, a_line_over_the_limit_is_dropped_with_a_diagnostic,
     .timeout = 20)
{
	char id[WR_ID_MAX + 1];
	struct wr_transcript_page p = {0};

	/* The bound by the default max_input_bytes of 1 MiB: 6 MiB + 4 KiB
	 * (wr__exec_line_max). */
	open_worker_profile(NULL, "--huge", "6300000", NULL);
	create(id);
	input_settled(id, "big", 10000);
	cr_assert(has_diagnostic(id, "line of 6300030 bytes dropped "
	                             "(limit 6295552): {\"type\":\"output\""));
	transcript(id, &p);
	cr_assert_eq(p.count, 2);
	assert_entry(&p, 1, WR_ROLE_WORKER, "LINE 1/1: big");
	wr_transcript_page_clear(&p);
}

Test(exec, a_long_line_under_the_limit_arrives_whole, .timeout = 20)
{
	char id[WR_ID_MAX + 1];
	struct wr_transcript_page p = {0};

	open_worker_profile(NULL, "--huge", "1000000", NULL);
	create(id);
	input_settled(id, "big", 10000);
	transcript(id, &p);
	cr_assert_eq(p.count, 3);
	cr_assert_eq(strlen(p.items[1].content), 1000000);
	cr_assert_eq(strspn(p.items[1].content, "x"), 1000000);
	wr_transcript_page_clear(&p);
}

Test(exec, a_program_that_cannot_start_creates_no_worker, .timeout = 20)
{
	struct wr_worker_list l = {0};
	struct wr_worker_info *w = NULL;
	struct wr_config cfg = {0};
	struct wr_create_request req = {0};
	char json[2048], noexec[TEST_TMPDIR_SIZE + 32];
	char gone[TEST_TMPDIR_SIZE + 32], cwd[TEST_TMPDIR_SIZE + 32];
	size_t n;
	int fds;

	/* Each is fine when the profiles load (which checks them) and is
	 * spoiled before the create: the spawn reports it. */
	snprintf(gone, sizeof(gone), "%s/gone", dir);
	write_file(gone, "#!/bin/sh\nexit 0\n");
	cr_assert_eq(chmod(gone, 0755), 0);
	snprintf(noexec, sizeof(noexec), "%s/not-executable", dir);
	write_file(noexec, "#!/bin/sh\nexit 0\n");
	cr_assert_eq(chmod(noexec, 0755), 0);
	snprintf(cwd, sizeof(cwd), "%s/cwd", dir);
	cr_assert_eq(mkdir(cwd, 0755), 0);
	snprintf(json, sizeof(json),
	         "{\"profiles\": {"
	         "\"missing\": {\"argv\": [\"%s\"]},"
	         "\"noexec\": {\"argv\": [\"%s\"]},"
	         "\"badcwd\": {\"argv\": [\"%s\"], \"cwd\": \"%s\"}"
	         "}}", gone, noexec, TEST_WORKER, cwd);
	write_file(profiles_path, json);
	cr_assert_eq(wr_profiles_load(profiles_path, &set, &err), WR_OK, "%s",
	             err.message);
	cr_assert_eq(unlink(gone), 0);
	cr_assert_eq(chmod(noexec, 0644), 0);
	cr_assert_eq(rmdir(cwd), 0);
	cfg.profiles = wr_profile_set_profiles(set, &n);
	cfg.n_profiles = n;
	cr_assert_eq(wr_runtime_open(&cfg, &rt, &err), WR_OK);
	fds = count_fds();
	req.profile.kind = WR_PROFILE_NAMED;

	req.profile.value = "missing";
	cr_assert_eq(wr_worker_create(rt, &req, &w, &err), WR_EUNAVAILABLE);
	cr_assert_str_eq(wr_reason_name(err.reason), "spawn_failed");
	snprintf(json, sizeof(json), "profile missing: cannot execute %s: No "
	         "such file or directory", gone);
	cr_assert_str_eq(err.message, json);
	cr_assert_null(w);

	req.profile.value = "noexec";
	cr_assert_eq(wr_worker_create(rt, &req, &w, &err), WR_EUNAVAILABLE);
	cr_assert_str_eq(wr_reason_name(err.reason), "spawn_failed");
	cr_assert(strstr(err.message, "Permission denied") != NULL, "%s",
	          err.message);

	req.profile.value = "badcwd";
	cr_assert_eq(wr_worker_create(rt, &req, &w, &err), WR_EUNAVAILABLE);
	snprintf(json, sizeof(json), "profile badcwd: cannot enter working "
	         "directory %s: No such file or directory", cwd);
	cr_assert_str_eq(err.message, json);

	cr_assert_eq(wr_worker_list(rt, NULL, &l, &err), WR_OK);
	cr_assert_eq(l.count, 0);
	wr_worker_list_free(&l);
	cr_assert_eq(count_fds(), fds);
	cr_assert_eq(count_zombies(), 0);
}

Test(exec, no_descriptor_or_zombie_is_left_after_close, .timeout = 30)
{
	char id[3][WR_ID_MAX + 1];
	pid_t pid[3];
	int fds_before, i;
	struct wr_worker_info *w;

	fds_before = count_fds();
	open_worker_profile("\"stop_grace_ms\": 200", "--delay-ms", "100",
	                    NULL);
	for (i = 0; i < 3; i++) {
		create(id[i]);
		pid[i] = read_pid(NULL);
		cr_assert_eq(input(id[i], "hi", NULL), WR_OK);
	}
	for (i = 0; i < 3; i++) {
		w = wait_settled(id[i], 5000);
		wr_worker_info_free(w);
	}
	cr_assert_eq(wr_worker_stop(rt, id[0], NULL, NULL, &err), WR_OK);
	cr_assert_eq(wr_worker_cancel(rt, id[1], NULL, NULL, &err), WR_OK);
	cr_assert_eq(input(id[2], "busy at close", NULL), WR_OK);
	wr_runtime_close(rt);
	rt = NULL;
	for (i = 0; i < 3; i++)
		cr_assert(process_gone(pid[i]), "child %d left", (int)pid[i]);
	cr_assert_eq(count_zombies(), 0);
	wr_profile_set_free(set);
	set = NULL;
	cr_assert_eq(count_fds(), fds_before);
}

Test(exec, unknown_named_profile_is_invalid_input, .timeout = 10)
{
	struct wr_create_request req = {0};

	open_worker_profile(NULL, NULL);
	req.profile.kind = WR_PROFILE_NAMED;
	req.profile.value = "nope";
	cr_assert_eq(wr_worker_create(rt, &req, NULL, &err),
	             WR_EINVALID_INPUT);
	cr_assert_str_eq(wr_reason_name(err.reason), "unknown_profile");
	req.profile.kind = WR_PROFILE_BUILTIN;
	req.profile.value = "transcript";
	cr_assert_eq(wr_worker_create(rt, &req, NULL, &err), WR_OK);
}

/* ---- the profiles file ------------------------------------------------ */

/* SIGHUP's reload frees the set it replaced at once (fcgi/main.c): the
 * worker started from it must still run, answer, stop within its grace
 * and end under its profile's name.  Under
 * valgrind (tests/run-all) a read of the freed set is an error; on a
 * plain build the freed name reads as the allocator's free-list bytes. */
Test(exec, a_replaced_set_freed_by_its_loader_lives_while_its_worker_runs)
{
	char id[WR_ID_MAX + 1], path[TEST_TMPDIR_SIZE + 16];
	struct wr_profile_set *next = NULL;
	const struct wr_profile *p;
	size_t n = 0;

	open_worker_profile(NULL, "--lines", "1", NULL);
	create(id);
	snprintf(path, sizeof(path), "%s/next.json", dir);
	write_file(path, "{\"default\": \"other\", \"profiles\": {"
	           "\"other\": {\"argv\": [\"/bin/cat\"]}}}");
	cr_assert_eq(wr_profiles_load(path, &next, &err), WR_OK, "%s",
	             err.message);
	p = wr_profile_set_profiles(next, &n);
	cr_assert_eq(wr_runtime_set_profiles(rt, p, n,
	                                     wr_profile_set_default(next),
	                                     &err), WR_OK, "%s", err.message);
	wr_profile_set_free(set); /* the worker copied what it keeps */
	set = next;               /* the teardown frees it */
	for (int i = 0; i < 64; i++)
		free(strdup("reuse the freed set's memory"));

	input_settled(id, "still here", 5000);
	cr_assert_eq(wr_worker_stop(rt, id, NULL, NULL, &err), WR_OK, "%s",
	             err.message);
	cr_assert(wait_exit_event(id, false, 5000), "exit not reported");
	cr_assert(wait_seen(exit_profiles_seen, id, "profile=w", 100),
	          "exit profile: %s", exit_profiles_seen);
}

Test(profiles, same_source_holds_for_the_same_bytes_only)
{
	struct wr_profile_set *a = NULL, *b = NULL, *c = NULL;
	const char *text = "{\"profiles\": {\"a\": {\"argv\": "
	                   "[\"/bin/true\"]}}}";

	write_file(profiles_path, text);
	cr_assert_eq(wr_profiles_load(profiles_path, &a, &err), WR_OK);
	cr_assert_eq(wr_profiles_load(profiles_path, &b, &err), WR_OK);
	cr_assert(wr_profile_set_same_source(a, b));
	/* The same profiles, one more space: another file. */
	write_file(profiles_path, "{\"profiles\": {\"a\": {\"argv\": "
	           "[\"/bin/true\"]} }}");
	cr_assert_eq(wr_profiles_load(profiles_path, &c, &err), WR_OK);
	cr_assert_not(wr_profile_set_same_source(a, c));
	cr_assert_not(wr_profile_set_same_source(a, NULL));
	cr_assert_not(wr_profile_set_same_source(NULL, NULL));
	wr_profile_set_free(a);
	wr_profile_set_free(b);
	wr_profile_set_free(c);
}

Test(profiles, a_valid_file_loads_every_profile_in_order)
{
	struct wr_profile_set *s = NULL;
	const struct wr_profile *p;
	size_t n = 0;

	write_file(profiles_path,
	           "{\"default\": \"b\", \"profiles\": {"
	           "\"a\": {\"argv\": [\"/bin/true\"]},"
	           "\"b\": {\"argv\": [\"/bin/cat\", \"-u\"], "
	           "\"env\": {\"X\": \"1\"}, \"cwd\": \"/tmp\", "
	           "\"stop_grace_ms\": 0, \"turn_timeout_ms\": 86400000}}}");
	cr_assert_eq(wr_profiles_load(profiles_path, &s, &err), WR_OK, "%s",
	             err.message);
	p = wr_profile_set_profiles(s, &n);
	cr_assert_eq(n, 2);
	cr_assert_str_eq(p[0].name, "a");
	cr_assert_str_eq(p[1].name, "b");
	cr_assert_not_null(p[0].driver);
	cr_assert_str_eq(p[0].driver->name, "exec");
	cr_assert_str_eq(wr_profile_set_default(s), "b");
	wr_profile_set_free(s);

	write_file(profiles_path, "{\"profiles\": {}}");
	cr_assert_eq(wr_profiles_load(profiles_path, &s, &err), WR_OK);
	cr_assert_null(wr_profile_set_default(s));
	wr_profile_set_profiles(s, &n);
	cr_assert_eq(n, 0);
	wr_profile_set_free(s);
	wr_profile_set_free(NULL);
}

struct bad_case {
	const char *json;
	const char *reason;
	const char *field;
	const char *message; /* after "PATH: " */
};

static const struct bad_case bad_cases[] = {
	{"{\"profiles\": ", "invalid_json", "",
	 "the text is not valid JSON (byte 13)"},
	{"{\"profiles\": {}} x", "invalid_json", "",
	 "unexpected text after the JSON value (byte 17)"},
	/* the strict reader of every JSON text (src/codec/json.h) */
	{"{\"profiles\": {\"p\": {\"argv\": [\"/x\"]}, "
	 "\"p\": {\"argv\": [\"/y\"]}}}", "duplicate_member", "profiles.p",
	 "member 'profiles.p' occurs more than once; send each member once"},
	{"{\"profiles\": {\"p\": {\"argv\": [\"/x\"], "
	 "\"argv\": [\"/y\"]}}}", "duplicate_member", "profiles.p.argv",
	 "member 'profiles.p.argv' occurs more than once; send each member "
	 "once"},
	{"{\"profiles\": {\"p\\u0000x\": {\"argv\": [\"/x\"]}}}",
	 "nul_in_member_name", "profiles", "the member name at byte 14 in "
	 "'profiles' contains \\u0000"},
	{"{\"profiles\": {\"p\": {\"argv\": [\"/x\\udc00\"]}}}",
	 "invalid_unicode", "profiles.p.argv[0]", "'profiles.p.argv[0]' "
	 "contains an escaped lone surrogate (byte 32); send the character "
	 "itself or a complete \\ud800-\\udbff + \\udc00-\\udfff pair"},
	{"{\"profiles\": {\"p\": {\"argv\": [\"/x\"], "
	 "\"stop_grace_ms\": -0}}}", "invalid_number",
	 "profiles.p.stop_grace_ms", "'profiles.p.stop_grace_ms' is -0 "
	 "(byte 53): write 0"},
	{"{\"profiles\": {\"p\": {\"argv\": [\"/x\"], "
	 "\"turn_timeout_ms\": 18446744073709551616}}}", "invalid_number",
	 "profiles.p.turn_timeout_ms", "'profiles.p.turn_timeout_ms' is an "
	 "integer beyond the 64-bit range (byte 55)"},
	{"{\"profiles\": {\"p\": {\"argv\": [\"/x\"], "
	 "\"stop_grace_ms\": 1e3}}}", "wrong_type",
	 "profiles.p.stop_grace_ms", "profile \"p\": member "
	 "\"stop_grace_ms\": must be an integer number of milliseconds"},
	{"[]", "wrong_type", "", "the document must be a JSON object"},
	{"{}", "missing_field", "profiles",
	 "member \"profiles\": is required"},
	{"{\"profiles\": {}, \"extra\": 1}", "unknown_field", "extra",
	 "member \"extra\": unknown member (known: default, profiles)"},
	{"{\"profiles\": []}", "wrong_type", "profiles",
	 "member \"profiles\": must be an object of profiles"},
	{"{\"profiles\": {\"p\": {\"argv\": [\"/x\"], \"bogus\": 1}}}",
	 "unknown_field", "profiles.p.bogus",
	 "profile \"p\": member \"bogus\": unknown member (known: argv, "
	 "env, cwd, stop_grace_ms, turn_timeout_ms)"},
	{"{\"profiles\": {\"p\": {}}}", "missing_field", "profiles.p.argv",
	 "profile \"p\": member \"argv\": is required"},
	{"{\"profiles\": {\"p\": 3}}", "wrong_type", "profiles.p",
	 "profile \"p\": must be an object"},
	{"{\"profiles\": {\"p\": {\"argv\": []}}}", "invalid_value",
	 "profiles.p.argv", "profile \"p\": member \"argv\": must not be "
	 "empty"},
	{"{\"profiles\": {\"p\": {\"argv\": \"/bin/true\"}}}", "wrong_type",
	 "profiles.p.argv", "profile \"p\": member \"argv\": must be an "
	 "array of strings"},
	{"{\"profiles\": {\"p\": {\"argv\": [\"bin/true\"]}}}",
	 "invalid_value", "profiles.p.argv", "profile \"p\": member "
	 "\"argv\": the program \"bin/true\" must be an absolute path"},
	{"{\"profiles\": {\"p\": {\"argv\": [\"/x\", 1]}}}", "wrong_type",
	 "profiles.p.argv", "profile \"p\": member \"argv\": item 1 must be "
	 "a string without NUL characters"},
	{"{\"profiles\": {\"p\": {\"argv\": [\"/x\\u0000y\"]}}}",
	 "wrong_type", "profiles.p.argv", "profile \"p\": member \"argv\": "
	 "item 0 must be a string without NUL characters"},
	{"{\"profiles\": {\"p\": {\"argv\": [\"/x\"], \"env\": {\"A\": 1}}}}",
	 "wrong_type", "profiles.p.env", "profile \"p\": member \"env\": the "
	 "value of A must be a string without NUL characters"},
	{"{\"profiles\": {\"p\": {\"argv\": [\"/x\"], \"env\": []}}}",
	 "wrong_type", "profiles.p.env", "profile \"p\": member \"env\": "
	 "must be an object of strings"},
	{"{\"profiles\": {\"p\": {\"argv\": [\"/x\"], "
	 "\"env\": {\"WORKER_ID\": \"x\"}}}}", "invalid_value",
	 "profiles.p.env", "profile \"p\": member \"env\": WORKER_ID is set "
	 "by the runtime"},
	{"{\"profiles\": {\"p\": {\"argv\": [\"/x\"], "
	 "\"env\": {\"A=B\": \"x\"}}}}", "invalid_value", "profiles.p.env",
	 "profile \"p\": member \"env\": variable name \"A=B\" must be "
	 "non-empty and without '='"},
	{"{\"profiles\": {\"p\": {\"argv\": [\"/x\"], \"cwd\": \"tmp\"}}}",
	 "invalid_value", "profiles.p.cwd", "profile \"p\": member \"cwd\": "
	 "must be an absolute path"},
	{"{\"profiles\": {\"p\": {\"argv\": [\"/x\"], \"cwd\": 1}}}",
	 "wrong_type", "profiles.p.cwd", "profile \"p\": member \"cwd\": "
	 "must be a string without NUL characters"},
	{"{\"profiles\": {\"p\": {\"argv\": [\"/x\"], "
	 "\"stop_grace_ms\": -1}}}", "invalid_value",
	 "profiles.p.stop_grace_ms", "profile \"p\": member "
	 "\"stop_grace_ms\": must be between 0 and 3600000"},
	{"{\"profiles\": {\"p\": {\"argv\": [\"/x\"], "
	 "\"stop_grace_ms\": \"5\"}}}", "wrong_type",
	 "profiles.p.stop_grace_ms", "profile \"p\": member "
	 "\"stop_grace_ms\": must be an integer number of milliseconds"},
	{"{\"profiles\": {\"p\": {\"argv\": [\"/x\"], "
	 "\"turn_timeout_ms\": 1.5}}}", "wrong_type",
	 "profiles.p.turn_timeout_ms", "profile \"p\": member "
	 "\"turn_timeout_ms\": must be an integer number of milliseconds"},
	{"{\"profiles\": {\"p\": {\"argv\": [\"/x\"], "
	 "\"turn_timeout_ms\": 86400001}}}", "invalid_value",
	 "profiles.p.turn_timeout_ms", "profile \"p\": member "
	 "\"turn_timeout_ms\": must be between 0 and 86400000"},
	{"{\"profiles\": {\"bad name\": {\"argv\": [\"/x\"]}}}",
	 "invalid_value", "profiles.bad name", "profile \"bad name\": a "
	 "profile name is 1-64 characters of [A-Za-z0-9_.-], not starting "
	 "with '.'"},
	{"{\"default\": \"q\", \"profiles\": {\"p\": {\"argv\": [\"/bin/sh\"]}}}",
	 "unknown_profile", "default", "member \"default\": names no "
	 "profile of this file: \"q\""},
	/* What a spawn needs, as the loading process sees it. */
	{"{\"profiles\": {\"p\": {\"argv\": [\"/nonexistent/wr-program\"]}}}",
	 "invalid_value", "profiles.p.argv", "profile \"p\": member \"argv\": "
	 "cannot execute the program /nonexistent/wr-program: No such file "
	 "or directory"},
	{"{\"profiles\": {\"p\": {\"argv\": [\"/nonexistent/"
	 "a-program-name-long-enough-to-be-cut-at-64-bytes-of-the-path\"]}}}",
	 "invalid_value", "profiles.p.argv", "profile \"p\": member \"argv\": "
	 "cannot execute the program /nonexistent/a-program-name-long-enough-"
	 "to-be-cut-at-64-bytes-of...: No such file or directory"},
	{"{\"profiles\": {\"p\": {\"argv\": [\"/\"]}}}",
	 "invalid_value", "profiles.p.argv", "profile \"p\": member \"argv\": "
	 "cannot execute the program /: is a directory, not a regular file"},
	{"{\"profiles\": {\"p\": {\"argv\": [\"/etc/passwd\"]}}}",
	 "invalid_value", "profiles.p.argv", "profile \"p\": member \"argv\": "
	 "cannot execute the program /etc/passwd: Permission denied"},
	{"{\"profiles\": {\"p\": {\"argv\": [\"/bin/sh\"], "
	 "\"cwd\": \"/nonexistent\"}}}", "invalid_value", "profiles.p.cwd",
	 "profile \"p\": member \"cwd\": cannot enter /nonexistent: No such "
	 "file or directory"},
	{"{\"profiles\": {\"p\": {\"argv\": [\"/bin/sh\"], "
	 "\"cwd\": \"/etc/passwd\"}}}", "invalid_value", "profiles.p.cwd",
	 "profile \"p\": member \"cwd\": cannot enter /etc/passwd: is a "
	 "regular file, not a directory"},
	{"{\"default\": 1, \"profiles\": {}}", "wrong_type", "default",
	 "member \"default\": must be a profile name"},
};

Test(profiles, every_rule_is_enforced_with_reason_field_and_message)
{
	struct wr_profile_set *s;
	char want[WR_MESSAGE_MAX + sizeof(profiles_path)];
	size_t i;

	for (i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		const struct bad_case *c = &bad_cases[i];

		s = NULL;
		write_file(profiles_path, c->json);
		cr_assert_eq(wr_profiles_load(profiles_path, &s, &err),
		             WR_EINVALID_INPUT, "case %zu: %s", i, c->json);
		cr_assert_null(s);
		cr_assert_eq(err.code, WR_EINVALID_INPUT);
		cr_assert_str_eq(wr_reason_name(err.reason), c->reason, "case %zu", i);
		cr_assert_str_eq(err.field, c->field, "case %zu", i);
		snprintf(want, sizeof(want), "%s: %s", profiles_path,
		         c->message);
		cr_assert_str_eq(err.message, want, "case %zu", i);
	}
}

/* A script whose interpreter is missing would fail every create with a
 * retryable 503 spawn_failed (execve's ENOENT): refused at load too.  A
 * script whose interpreter exists loads. */
Test(profiles, a_script_whose_interpreter_is_missing_is_refused)
{
	struct wr_profile_set *s = NULL;
	char script[TEST_TMPDIR_SIZE + 32], json[2 * TEST_TMPDIR_SIZE + 64];
	char want[sizeof(profiles_path) + sizeof(script) + 160];

	snprintf(script, sizeof(script), "%s/script", dir);
	snprintf(json, sizeof(json), "{\"profiles\": {\"p\": {\"argv\": "
	         "[\"%s\"]}}}", script);
	write_file(profiles_path, json);
	write_file(script, "#! /nonexistent/wr-interp -x\necho hi\n");
	cr_assert_eq(chmod(script, 0755), 0);
	cr_assert_eq(wr_profiles_load(profiles_path, &s, &err),
	             WR_EINVALID_INPUT);
	cr_assert_null(s);
	cr_assert_str_eq(wr_reason_name(err.reason), "invalid_value");
	cr_assert_str_eq(err.field, "profiles.p.argv");
	snprintf(want, sizeof(want), "%s: profile \"p\": member \"argv\": "
	         "cannot execute the program %s: its interpreter "
	         "/nonexistent/wr-interp: No such file or directory",
	         profiles_path, script);
	cr_assert_str_eq(err.message, want);
	write_file(script, "#!/bin/sh");
	cr_assert_eq(wr_profiles_load(profiles_path, &s, &err), WR_OK, "%s",
	             err.message);
	wr_profile_set_free(s);
	unlink(script);
}

Test(profiles, a_missing_file_is_reported_with_its_name)
{
	struct wr_profile_set *s = NULL;
	char want[WR_MESSAGE_MAX + sizeof(profiles_path)];

	cr_assert_eq(wr_profiles_load(profiles_path, &s, &err),
	             WR_EINVALID_INPUT);
	cr_assert_null(s);
	cr_assert_str_eq(wr_reason_name(err.reason), "unreadable_file");
	snprintf(want, sizeof(want), "%s: cannot open: No such file or "
	         "directory", profiles_path);
	cr_assert_str_eq(err.message, want);
}

/* Writes a profiles file of exactly size bytes: a valid document padded
 * with blanks. */
static void
write_padded(size_t size)
{
	static const char doc[] = "{\"profiles\": {}}";
	FILE *f = fopen(profiles_path, "w");
	size_t i;

	cr_assert_not_null(f);
	for (i = 0; i < size - strlen(doc); i++)
		cr_assert_neq(fputc(' ', f), EOF);
	cr_assert_neq(fputs(doc, f), EOF);
	cr_assert_eq(fclose(f), 0);
}

/* The bound is exact (docs/worker-protocol.md: more than 1 MiB is
 * file_too_large); files up to 2 MiB - 1 bytes used to load. */
Test(profiles, a_file_of_one_byte_over_1_mib_is_too_large)
{
	struct wr_profile_set *s = NULL;
	char want[WR_MESSAGE_MAX + sizeof(profiles_path)];

	write_padded(1024 * 1024);
	cr_assert_eq(wr_profiles_load(profiles_path, &s, &err), WR_OK, "%s",
	             err.message);
	wr_profile_set_free(s);
	s = NULL;
	write_padded(1024 * 1024 + 1);
	cr_assert_eq(wr_profiles_load(profiles_path, &s, &err),
	             WR_EINVALID_INPUT);
	cr_assert_null(s);
	cr_assert_str_eq(wr_reason_name(err.reason), "file_too_large");
	snprintf(want, sizeof(want), "%s: larger than 1048576 bytes",
	         profiles_path);
	cr_assert_str_eq(err.message, want);
}

/* Loading path fails with unreadable_file and "PATH: is KIND, not a
 * regular file". */
static void
expect_not_regular(const char *path, const char *kind)
{
	struct wr_profile_set *s = NULL;
	char want[WR_MESSAGE_MAX + sizeof(profiles_path)];

	cr_assert_eq(wr_profiles_load(path, &s, &err), WR_EINVALID_INPUT,
	             "%s", path);
	cr_assert_null(s);
	cr_assert_str_eq(wr_reason_name(err.reason), "unreadable_file");
	snprintf(want, sizeof(want), "%s: is %s, not a regular file", path,
	         kind);
	cr_assert_str_eq(err.message, want);
}

/* Only a regular file is read: a FIFO without a writer (a blocking open
 * would wait for one for good: the test's timeout), a directory, a device
 * and a unix socket are refused at once, named as what they are. */
Test(profiles, a_file_that_is_not_regular_is_refused_at_once, .timeout = 5)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd;

	cr_assert_eq(mkfifo(profiles_path, 0600), 0, "%s", strerror(errno));
	expect_not_regular(profiles_path, "a FIFO");
	expect_not_regular(dir, "a directory");
	expect_not_regular("/dev/null", "a character device");

	cr_assert_eq(unlink(profiles_path), 0);
	if (strlen(profiles_path) >= sizeof(sa.sun_path))
		return; /* a long $TMPDIR: no socket there */
	strcpy(sa.sun_path, profiles_path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert_geq(fd, 0);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0, "%s",
	             strerror(errno));
	expect_not_regular(profiles_path, "a socket"); /* open: ENXIO */
	close(fd);
}

/* ---- restart with the fs store ----------------------------------------- */

static void
open_on_store(const char *store)
{
	struct wr_config cfg = {.runtime_id = "rt-exec", .store = store};

	cfg.profiles = wr_profile_set_profiles(set, &cfg.n_profiles);
	cfg.default_profile = wr_profile_set_default(set);
	cr_assert_eq(wr_runtime_open(&cfg, &rt, &err), WR_OK, "%s",
	             err.message);
}

/* The policy of docs/store.md: an exec worker's process does not survive
 * a restart, so the worker comes back failed with a runtime entry (saying
 * a turn in flight was interrupted); transcript workers carry on. */
Test(exec, after_a_restart_exec_workers_fail_and_transcript_workers_go_on,
     .timeout = 30)
{
	char idle[WR_ID_MAX + 1], busy[WR_ID_MAX + 1], plain[WR_ID_MAX + 1];
	char store[TEST_TMPDIR_SIZE + 32];
	struct wr_create_request req = {
		.profile = {WR_PROFILE_BUILTIN, "transcript"}};
	struct wr_worker_info *w;
	struct wr_transcript_page p = {0};
	struct wr_runtime_summary s;
	struct wr_input_ack ack;

	open_worker_profile("\"stop_grace_ms\": 100", "--delay-ms", "2000",
	                    NULL);
	wr_runtime_close(rt);
	snprintf(store, sizeof(store), "fs:%s/store", dir);
	open_on_store(store);
	create(idle);
	create(busy);
	cr_assert_eq(wr_worker_create(rt, &req, &w, &err), WR_OK);
	strcpy(plain, w->ref.worker_id);
	wr_worker_info_free(w);
	cr_assert_eq(input(busy, "long job", &ack), WR_OK, "%s", err.message);
	cr_assert_eq(ack.run_state, WR_RUN_BUSY);
	cr_assert_eq(input(plain, "note", NULL), WR_OK);
	wr_runtime_close(rt); /* the process goes away mid-turn */
	rt = NULL;

	open_on_store(store);
	w = wait_status(idle, WR_STATUS_FAILED, 100);
	cr_assert_eq(w->run_state, WR_RUN_NONE);
	wr_worker_info_free(w);
	transcript(idle, &p);
	cr_assert_eq(p.count, 1);
	cr_assert_eq(p.items[0].role, WR_ROLE_RUNTIME);
	cr_assert(strncmp(p.items[0].content, "runtime_restarted", 17) == 0,
	          "%s", p.items[0].content);
	cr_assert_null(strstr(p.items[0].content, "interrupted"));
	wr_transcript_page_clear(&p);

	w = wait_status(busy, WR_STATUS_FAILED, 100);
	wr_worker_info_free(w);
	transcript(busy, &p);
	assert_entry(&p, 0, WR_ROLE_USER, "long job");
	cr_assert_eq(p.count, 2);
	cr_assert_eq(p.items[1].role, WR_ROLE_RUNTIME);
	cr_assert_not_null(strstr(p.items[1].content, "interrupted"), "%s",
	                   p.items[1].content);
	wr_transcript_page_clear(&p);

	w = wait_status(plain, WR_STATUS_RUNNING, 100);
	wr_worker_info_free(w);
	cr_assert_eq(input(plain, "after", &ack), WR_OK, "%s", err.message);
	cr_assert_eq(ack.transcript_sequence, 2);
	cr_assert_eq(wr_runtime_summary(rt, &s, &err), WR_OK);
	cr_assert_eq(s.failed_worker_count, 2);
	cr_assert_eq(s.active_worker_count, 1);
	cr_assert_str_eq(s.backend, "fs_store");
}

/* ---- threads end with their workers ------------------------------------ */

static int
thread_count(void)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	int n = 0;

	cr_assert_not_null(d);
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

/* A Runtime may hold ended workers for ever: their I/O threads must not
 * wait for wr_runtime_close to go away. */
Test(exec, an_ended_workers_thread_exits_before_close, .timeout = 20)
{
	char ids[3][WR_ID_MAX + 1];
	int64_t end;
	int base;

	open_worker_profile("\"stop_grace_ms\": 100", NULL);
	base = thread_count();
	for (int i = 0; i < 3; i++)
		create(ids[i]);
	cr_assert_eq(thread_count(), base + 3 + 1,
	             "one I/O thread per worker, one watchdog monitor");
	cr_assert_eq(wr_worker_stop(rt, ids[0], NULL, NULL, &err), WR_OK);
	cr_assert_eq(wr_worker_cancel(rt, ids[1], NULL, NULL, &err), WR_OK);
	cr_assert_eq(wr_worker_stop(rt, ids[2], NULL, NULL, &err), WR_OK);
	end = now_ms() + 5000;
	while (thread_count() != base) {
		cr_assert_lt(now_ms(), end, "%d threads left, want %d",
		             thread_count(), base);
		sleep_ms(10);
	}
}

/* ---- the Runtime's close and the Runtime process's end ----------------- */

/* How many lines of the marker file read exactly `line`. */
static int
count_marker(const char *line)
{
	char *s = slurp(marker_path), *tok, *save = NULL;
	int n = 0;

	for (tok = strtok_r(s, "\n", &save); tok != NULL;
	     tok = strtok_r(NULL, "\n", &save))
		n += strcmp(tok, line) == 0;
	return n;
}

/* Four workers each need 500 ms after stdin EOF to save their state: a
 * close gives every one of them its stop grace, all at once. */
Test(exec, close_closes_stdin_and_waits_the_stop_grace_of_all_workers_at_once,
     .timeout = 30)
{
	char id[4][WR_ID_MAX + 1];
	pid_t pid[4];
	int64_t t0, took;
	int i;

	open_worker_profile("\"stop_grace_ms\": 5000", "--eof-delay-ms", "500",
	                    NULL);
	for (i = 0; i < 4; i++) {
		create(id[i]);
		pid[i] = read_pid(NULL);
	}
	t0 = now_ms();
	wr_runtime_close(rt);
	rt = NULL;
	took = now_ms() - t0;
	for (i = 0; i < 4; i++)
		cr_assert(process_gone(pid[i]), "child %d left", (int)pid[i]);
	cr_assert_eq(count_marker("saved"), 4, "marker: %s",
	             slurp(marker_path));
	cr_assert_eq(count_marker("term"), 0, "SIGTERM before the grace: %s",
	             slurp(marker_path));
	cr_assert_geq(took, 450, "close returned after %lld ms",
	              (long long)took);
	cr_assert_lt(took, 1900, "workers stopped one after another: %lld ms",
	             (long long)took);
	/* A stop that went as it should is no diagnostic. */
	cr_assert_eq(count_logged("stopped: worker process exited with "
	                          "status 0 after its stdin was closed"), 0,
	             "%s", logged);
}

Test(exec, close_escalates_to_sigterm_after_the_grace_then_sigkill,
     .timeout = 30)
{
	pid_t pid, gc = 0;
	char id[WR_ID_MAX + 1];
	int64_t t0, took;

	open_worker_profile("\"stop_grace_ms\": 300", "--ignore-eof",
	                    "--ignore-term", "--grandchild", NULL);
	create(id);
	pid = read_pid(&gc);
	t0 = now_ms();
	wr_runtime_close(rt);
	rt = NULL;
	took = now_ms() - t0;
	/* 300 ms stop grace + 500 ms kill grace */
	cr_assert_geq(took, 750, "killed too early: %lld", (long long)took);
	cr_assert_lt(took, 3000, "killed too late: %lld", (long long)took);
	cr_assert(process_gone(pid));
	cr_assert(wait_gone(gc, 3000), "grandchild %d survived", (int)gc);
	/* the helper has the same marker and SIGTERM handler */
	cr_assert_eq(strncmp(slurp(marker_path), "start\neof\nterm\n", 15), 0,
	             "marker: %s", slurp(marker_path));
	cr_assert_eq(count_logged("stopped: worker process killed by SIGKILL "
	                          "after SIGKILL"), 1, "%s", logged);
}

/* The Runtime's process is SIGKILLed: nothing of its in-process stop
 * runs, yet the worker (ignoring stdin EOF and SIGTERM) and the helper it
 * forked into its group must not survive it. */
Test(exec, no_worker_or_helper_outlives_a_sigkilled_runtime_process,
     .timeout = 30)
{
	pid_t host, pid, gc = 0;
	int status;

	host = fork();
	cr_assert_geq(host, 0);
	if (host == 0) {
		char id[WR_ID_MAX + 1];

		open_worker_profile(NULL, "--ignore-eof", "--ignore-term",
		                    "--grandchild", NULL);
		create(id);
		for (;;)
			pause(); /* until SIGKILLed */
	}
	pid = read_pid(&gc);
	cr_assert(!process_gone(pid) && !process_gone(gc));
	cr_assert_eq(kill(host, SIGKILL), 0);
	cr_assert_eq(waitpid(host, &status, 0), host);
	cr_assert(wait_gone(pid, 5000), "worker %d survived", (int)pid);
	cr_assert(wait_gone(gc, 5000), "helper %d survived", (int)gc);
}

/* Forks a "Runtime" process running one worker that ignores stdin EOF
 * and SIGTERM and has forked a helper into its group. */
static pid_t
host_with_stubborn_worker(pid_t *pid, pid_t *gc)
{
	pid_t host = fork();

	cr_assert_geq(host, 0);
	if (host == 0) {
		char id[WR_ID_MAX + 1];

		open_worker_profile(NULL, "--ignore-eof", "--ignore-term",
		                    "--grandchild", NULL);
		create(id);
		for (;;)
			pause(); /* until SIGKILLed */
	}
	*pid = read_pid(gc);
	cr_assert(!process_gone(*pid) && !process_gone(*gc));
	return host;
}

/* The watchdog is SIGKILLed: the Runtime starts a new one that knows the
 * running worker, so a SIGKILL of the Runtime still ends worker and
 * helper. */
Test(exec, a_sigkilled_watchdog_is_replaced_and_still_covers_running_workers,
     .timeout = 30)
{
	pid_t host, pid, gc = 0, wd, wd2;
	int status;

	host = host_with_stubborn_worker(&pid, &gc);
	wd = test_find_watchdog(host, -1, 5000);
	cr_assert_gt(wd, 0, "no wr-watchdog child of %d", (int)host);
	cr_assert_eq(kill(wd, SIGKILL), 0);
	wd2 = test_find_watchdog(host, wd, 5000);
	cr_assert_gt(wd2, 0, "the Runtime started no new watchdog");
	cr_assert_eq(kill(host, SIGKILL), 0);
	cr_assert_eq(waitpid(host, &status, 0), host);
	cr_assert(wait_gone(pid, 5000), "worker %d survived", (int)pid);
	cr_assert(wait_gone(gc, 5000), "helper %d survived", (int)gc);
}

/* SIGTERM to the watchdog (pkill -f wr-watchdog finds it by its command
 * line) ends it only after it ended the groups. */
Test(exec, a_sigtermed_watchdog_kills_every_group_before_it_exits,
     .timeout = 30)
{
	pid_t host, pid, gc = 0, wd;
	char path[64];
	int status;

	host = host_with_stubborn_worker(&pid, &gc);
	wd = test_find_watchdog(host, -1, 5000);
	cr_assert_gt(wd, 0, "no wr-watchdog child of %d", (int)host);
	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)wd);
	cr_assert_str_eq(slurp(path), "wr-watchdog");
	cr_assert_eq(kill(wd, SIGTERM), 0);
	cr_assert(wait_gone(pid, 5000), "worker %d survived", (int)pid);
	cr_assert(wait_gone(gc, 5000), "helper %d survived", (int)gc);
	cr_assert_eq(kill(host, SIGKILL), 0);
	cr_assert_eq(waitpid(host, &status, 0), host);
}

/* The signal mask line "name:\thex" of /proc/pid/status, as a number. */
static unsigned long long
proc_sigmask(pid_t pid, const char *name)
{
	char path[64], line[256];
	unsigned long long mask = 0;
	size_t n = strlen(name);
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "r");
	cr_assert_not_null(f);
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, name, n) == 0 && line[n] == ':')
			mask = strtoull(line + n + 1, NULL, 16);
	fclose(f);
	return mask;
}

/* SIGHUP is the Runtime's reload signal; sent to the whole service (a
 * logrotate postrotate with systemctl kill -s HUP) it reaches the watchdog
 * too, which ignores it: the workers keep running, and the watchdog still
 * covers them. */
Test(exec, a_sighup_to_the_watchdog_leaves_the_workers_running,
     .timeout = 30)
{
	pid_t host, pid, gc = 0, wd;
	int status;

	host = host_with_stubborn_worker(&pid, &gc);
	wd = test_find_watchdog(host, -1, 5000);
	cr_assert_gt(wd, 0, "no wr-watchdog child of %d", (int)host);
	cr_assert(proc_sigmask(wd, "SigIgn") & (1ULL << (SIGHUP - 1)),
	          "the watchdog does not ignore SIGHUP");
	cr_assert_eq(kill(wd, SIGHUP), 0);
	/* An ignored signal is discarded when sent: nothing is pending. */
	cr_assert(!process_gone(wd) && !process_gone(pid) &&
	          !process_gone(gc));
	cr_assert_eq(kill(host, SIGKILL), 0);
	cr_assert_eq(waitpid(host, &status, 0), host);
	cr_assert(wait_gone(pid, 5000), "worker %d survived", (int)pid);
	cr_assert(wait_gone(gc, 5000), "helper %d survived", (int)gc);
}
