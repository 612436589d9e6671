/*
 * test-worker.c - a controllable exec-driver worker for tests/test_exec.c,
 * the end-to-end scripts (exec-busy.sh, shutdown.sh) and the soak.
 *
 * Speaks the worker protocol (docs/worker-protocol.md) and misbehaves on
 * request.  Options (all optional):
 *   --lines N          output lines per turn (default 1): "LINE i/N: CONTENT"
 *   --delay-ms N       sleep N ms before answering each input
 *   --gate PATH        answer each input only once PATH exists, and remove
 *                      it (so every turn waits for its own); exit 3 if it
 *                      does not appear within 30 s
 *   --no-turn-end      never send turn_end
 *   --crash-mid-turn   abort() after the first output line of a turn
 *   --exit-at-start S  exit with status S before reading anything
 *   --exit-after T S   after T complete turns, exit with status S
 *   --garbage          before each answer write non-protocol stdout lines
 *   --ambiguous        before each answer write lines json-c alone would
 *                      read differently from other parsers (duplicate or
 *                      NUL-cut member names, a lone surrogate, -0)
 *   --huge N           per turn, first write one output line of N bytes
 *   --stderr           write one stderr line per turn
 *   --env              per turn, output WORKER_ID, RUNTIME_ID, TW_VAR, cwd
 *   --ignore-term      survive SIGTERM
 *   --ignore-eof       keep running after stdin EOF (until killed)
 *   --eof-delay-ms N   after stdin EOF, take N ms (saving state), mark
 *                      "saved", exit 0
 *   --grandchild       fork a process (same group) that sleeps 30 s
 *   --pidfile PATH     write "PID\n" (and "GRANDCHILD_PID\n") to PATH
 *   --marker PATH      append events: "start", "input", "eof", "saved",
 *                      "term"
 * Never runs for more than 30 s after stdin EOF, so a broken test cannot
 * leave it behind for long.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <json.h>

static int marker_fd = -1;
static bool ignore_term;

static void
mark(const char *what)
{
	if (marker_fd >= 0 && write(marker_fd, what, strlen(what)) < 0)
		return;
}

static void
on_term(int sig)
{
	mark("term\n");
	if (!ignore_term) {
		signal(sig, SIG_DFL);
		raise(sig);
	}
}

static void
sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static void
send_json(json_object *o)
{
	printf("%s\n", json_object_to_json_string_ext(o,
	       JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	fflush(stdout);
	json_object_put(o);
}

static void
send_output(const char *content)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "type", json_object_new_string("output"));
	json_object_object_add(o, "content", json_object_new_string(content));
	send_json(o);
}

static void
send_turn_end(void)
{
	fputs("{\"type\":\"turn_end\"}\n", stdout);
	fflush(stdout);
}

/* Waits (bounded: 30 s) until path exists, then removes it; exits 3 if it
 * never appears, so a test that forgets to open the gate fails visibly. */
static void
pass_gate(const char *path)
{
	long waited;

	for (waited = 0; access(path, F_OK) != 0; waited += 10) {
		if (waited >= 30000) {
			fprintf(stderr, "test-worker: gate %s not opened in "
			        "30 s\n", path);
			exit(3);
		}
		sleep_ms(10);
	}
	if (unlink(path) != 0)
		fprintf(stderr, "test-worker: unlink %s: %s\n", path,
		        strerror(errno));
}

static long
num(const char *s)
{
	char *end;
	long v = strtol(s, &end, 10);

	if (*s == '\0' || *end != '\0' || v < 0) {
		fprintf(stderr, "test-worker: bad number %s\n", s);
		exit(2);
	}
	return v;
}

/* Lines a lenient parser would take as an output "shadow"/"lone \ufffd"
 * or as a turn_end; a strict one refuses each (docs/worker-protocol.md). */
static void
write_ambiguous(void)
{
	fputs("{\"type\":\"output\",\"content\":\"lone \\ud800\"}\n", stdout);
	fputs("{\"type\":\"output\",\"content\":\"real\","
	      "\"content\\u0000x\":\"shadow\"}\n", stdout);
	fputs("{\"type\":\"output\",\"content\":\"dup\","
	      "\"type\":\"turn_end\"}\n", stdout);
	fputs("{\"type\":\"output\",\"content\":\"zero\",\"n\":-0}\n",
	      stdout);
	/* \u0000 in a value is JSON; a C string would cut it */
	fputs("{\"type\":\"output\",\"content\":\"cut\\u0000off\"}\n",
	      stdout);
	fflush(stdout);
}

int
main(int argc, char **argv)
{
	long lines = 1, delay = 0, exit_after = -1, exit_status = 0;
	long huge = 0, turns = 0, i, eof_delay = -1;
	bool no_turn_end = false, crash = false, garbage = false;
	bool err_line = false, env = false, ignore_eof = false;
	bool grandchild = false, ambiguous = false;
	const char *pidfile = NULL, *gate = NULL;
	struct rlimit no_core = { 0, 0 };
	char *line = NULL, buf[PATH_MAX + 64];
	size_t cap = 0;
	pid_t gc = -1;
	FILE *f;
	int a;

	setrlimit(RLIMIT_CORE, &no_core); /* --crash-mid-turn leaves no core */
	for (a = 1; a < argc; a++) {
		const char *o = argv[a];
		bool more = a + 1 < argc;

		if (strcmp(o, "--lines") == 0 && more)
			lines = num(argv[++a]);
		else if (strcmp(o, "--delay-ms") == 0 && more)
			delay = num(argv[++a]);
		else if (strcmp(o, "--gate") == 0 && more)
			gate = argv[++a];
		else if (strcmp(o, "--no-turn-end") == 0)
			no_turn_end = true;
		else if (strcmp(o, "--crash-mid-turn") == 0)
			crash = true;
		else if (strcmp(o, "--exit-at-start") == 0 && more)
			return (int)num(argv[++a]);
		else if (strcmp(o, "--exit-after") == 0 && a + 2 < argc) {
			exit_after = num(argv[++a]);
			exit_status = num(argv[++a]);
		} else if (strcmp(o, "--garbage") == 0)
			garbage = true;
		else if (strcmp(o, "--ambiguous") == 0)
			ambiguous = true;
		else if (strcmp(o, "--huge") == 0 && more)
			huge = num(argv[++a]);
		else if (strcmp(o, "--stderr") == 0)
			err_line = true;
		else if (strcmp(o, "--env") == 0)
			env = true;
		else if (strcmp(o, "--ignore-term") == 0)
			ignore_term = true;
		else if (strcmp(o, "--ignore-eof") == 0)
			ignore_eof = true;
		else if (strcmp(o, "--eof-delay-ms") == 0 && more)
			eof_delay = num(argv[++a]);
		else if (strcmp(o, "--grandchild") == 0)
			grandchild = true;
		else if (strcmp(o, "--pidfile") == 0 && more)
			pidfile = argv[++a];
		else if (strcmp(o, "--marker") == 0 && more)
			marker_fd = open(argv[++a], O_WRONLY | O_CREAT |
			                 O_APPEND | O_CLOEXEC, 0600);
		else {
			fprintf(stderr, "test-worker: unknown option %s\n", o);
			return 2;
		}
	}
	signal(SIGTERM, on_term);
	if (grandchild) {
		gc = fork();
		if (gc == 0) {
			sleep_ms(30000);
			_exit(0);
		}
	}
	/* "start" before the pid file: a test that signals the pid it read
	 * must find "start" already marked. */
	mark("start\n");
	if (pidfile != NULL) {
		f = fopen(pidfile, "w");
		if (f != NULL) {
			fprintf(f, "%ld\n", (long)getpid());
			if (gc > 0)
				fprintf(f, "%ld\n", (long)gc);
			fclose(f);
		}
	}

	while (getline(&line, &cap, stdin) > 0) {
		json_object *in = json_tokener_parse(line), *c = NULL;
		const char *content = "";

		mark("input\n");
		if (in != NULL && json_object_object_get_ex(in, "content", &c))
			content = json_object_get_string(c);
		if (delay > 0)
			sleep_ms(delay);
		if (gate != NULL)
			pass_gate(gate);
		if (garbage) {
			fputs("this is not json\n", stdout);
			fputs("{\"type\":\"bogus\"}\n", stdout);
			fputs("[1,2,3]\n", stdout);
			fputs("{\"type\":\"output\"}\n", stdout);
			fflush(stdout);
		}
		if (ambiguous)
			write_ambiguous();
		if (err_line)
			fprintf(stderr, "test-worker: turn %ld\n", turns + 1);
		if (huge > 0) {
			char *big = malloc((size_t)huge + 1);

			if (big == NULL)
				return 3;
			memset(big, 'x', (size_t)huge);
			big[huge] = '\0';
			send_output(big);
			free(big);
		}
		if (env) {
			snprintf(buf, sizeof(buf), "WORKER_ID=%s",
			         getenv("WORKER_ID") ? getenv("WORKER_ID") : "");
			send_output(buf);
			snprintf(buf, sizeof(buf), "RUNTIME_ID=%s",
			         getenv("RUNTIME_ID") ? getenv("RUNTIME_ID") : "");
			send_output(buf);
			snprintf(buf, sizeof(buf), "TW_VAR=%s",
			         getenv("TW_VAR") ? getenv("TW_VAR") : "");
			send_output(buf);
			if (getcwd(buf + 4, sizeof(buf) - 4) != NULL) {
				memcpy(buf, "CWD=", 4);
				send_output(buf);
			}
		}
		for (i = 1; i <= lines; i++) {
			snprintf(buf, sizeof(buf), "LINE %ld/%ld: %.200s", i,
			         lines, content);
			send_output(buf);
			if (crash)
				abort();
		}
		json_object_put(in);
		if (!no_turn_end)
			send_turn_end();
		turns++;
		if (exit_after >= 0 && turns >= exit_after) {
			free(line); /* leak checkers must not change the status */
			return (int)exit_status;
		}
	}
	mark("eof\n");
	if (eof_delay >= 0) {
		sleep_ms(eof_delay);
		mark("saved\n");
	}
	if (ignore_eof)
		sleep_ms(30000);
	free(line);
	return 0;
}
