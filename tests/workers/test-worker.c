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
 *   --close-stdout     close stdout at the start, then read stdin (and
 *                      answer nothing) until EOF
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

/* What the command line asked for. */
struct opts {
	long lines, delay, exit_after, exit_status, huge, eof_delay;
	bool no_turn_end, crash, garbage, err_line, env, ignore_eof;
	bool grandchild, ambiguous, close_stdout;
	const char *pidfile, *gate;
};

/* The option at argv[*a] (and its arguments, *a moved past them) into *o.
 * Returns -1, or the status to exit with at once (--exit-at-start, 2 for
 * an unknown option). */
static int
parse_one(int argc, char **argv, int *a, struct opts *o)
{
	const char *s = argv[*a];
	bool more = *a + 1 < argc;

	if (strcmp(s, "--lines") == 0 && more)
		o->lines = num(argv[++*a]);
	else if (strcmp(s, "--delay-ms") == 0 && more)
		o->delay = num(argv[++*a]);
	else if (strcmp(s, "--gate") == 0 && more)
		o->gate = argv[++*a];
	else if (strcmp(s, "--no-turn-end") == 0)
		o->no_turn_end = true;
	else if (strcmp(s, "--crash-mid-turn") == 0)
		o->crash = true;
	else if (strcmp(s, "--exit-at-start") == 0 && more)
		return (int)num(argv[++*a]);
	else if (strcmp(s, "--exit-after") == 0 && *a + 2 < argc) {
		o->exit_after = num(argv[++*a]);
		o->exit_status = num(argv[++*a]);
	} else if (strcmp(s, "--garbage") == 0)
		o->garbage = true;
	else if (strcmp(s, "--ambiguous") == 0)
		o->ambiguous = true;
	else if (strcmp(s, "--huge") == 0 && more)
		o->huge = num(argv[++*a]);
	else if (strcmp(s, "--close-stdout") == 0)
		o->close_stdout = true;
	else if (strcmp(s, "--stderr") == 0)
		o->err_line = true;
	else if (strcmp(s, "--env") == 0)
		o->env = true;
	else if (strcmp(s, "--ignore-term") == 0)
		ignore_term = true;
	else if (strcmp(s, "--ignore-eof") == 0)
		o->ignore_eof = true;
	else if (strcmp(s, "--eof-delay-ms") == 0 && more)
		o->eof_delay = num(argv[++*a]);
	else if (strcmp(s, "--grandchild") == 0)
		o->grandchild = true;
	else if (strcmp(s, "--pidfile") == 0 && more)
		o->pidfile = argv[++*a];
	else if (strcmp(s, "--marker") == 0 && more)
		marker_fd = open(argv[++*a], O_WRONLY | O_CREAT | O_APPEND |
		                 O_CLOEXEC, 0600);
	else {
		fprintf(stderr, "test-worker: unknown option %s\n", s);
		return 2;
	}
	return -1;
}

/* The SIGTERM handler, the --grandchild, the "start" mark, the pid file. */
static void
start(const struct opts *o)
{
	pid_t gc = -1;
	FILE *f;

	signal(SIGTERM, on_term);
	if (o->grandchild) {
		gc = fork();
		if (gc == 0) {
			sleep_ms(30000);
			_exit(0);
		}
	}
	/* "start" before the pid file: a test that signals the pid it read
	 * must find "start" already marked. */
	mark("start\n");
	if (o->pidfile != NULL) {
		f = fopen(o->pidfile, "w");
		if (f != NULL) {
			fprintf(f, "%ld\n", (long)getpid());
			if (gc > 0)
				fprintf(f, "%ld\n", (long)gc);
			fclose(f);
		}
	}
}

/* --env: one output line per variable, then the working directory. */
static void
send_env(void)
{
	static const char *const names[] = { "WORKER_ID", "RUNTIME_ID",
	                                     "TW_VAR" };
	char buf[PATH_MAX + 64];

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		const char *v = getenv(names[i]);

		snprintf(buf, sizeof(buf), "%s=%s", names[i], v ? v : "");
		send_output(buf);
	}
	if (getcwd(buf + 4, sizeof(buf) - 4) != NULL) {
		memcpy(buf, "CWD=", 4);
		send_output(buf);
	}
}

/* Everything turn number turn (1-based) writes before its turn_end, in
 * the order the options promise. */
static void
answer(const struct opts *o, const char *content, long turn)
{
	char buf[PATH_MAX + 64];

	if (o->delay > 0)
		sleep_ms(o->delay);
	if (o->gate != NULL)
		pass_gate(o->gate);
	if (o->garbage) {
		fputs("this is not json\n", stdout);
		fputs("{\"type\":\"bogus\"}\n", stdout);
		fputs("[1,2,3]\n", stdout);
		fputs("{\"type\":\"output\"}\n", stdout);
		fflush(stdout);
	}
	if (o->ambiguous)
		write_ambiguous();
	if (o->err_line)
		fprintf(stderr, "test-worker: turn %ld\n", turn);
	if (o->huge > 0) {
		char *big = malloc((size_t)o->huge + 1);

		if (big == NULL)
			exit(3);
		memset(big, 'x', (size_t)o->huge);
		big[o->huge] = '\0';
		send_output(big);
		free(big);
	}
	if (o->env)
		send_env();
	for (long i = 1; i <= o->lines; i++) {
		snprintf(buf, sizeof(buf), "LINE %ld/%ld: %.200s", i, o->lines,
		         content);
		send_output(buf);
		if (o->crash)
			abort();
	}
}

int
main(int argc, char **argv)
{
	struct opts o = { .lines = 1, .exit_after = -1, .eof_delay = -1 };
	struct rlimit no_core = { 0, 0 };
	char *line = NULL;
	size_t cap = 0;
	long turns = 0;
	int a, rc;

	setrlimit(RLIMIT_CORE, &no_core); /* --crash-mid-turn leaves no core */
	for (a = 1; a < argc; a++)
		if ((rc = parse_one(argc, argv, &a, &o)) >= 0)
			return rc;
	start(&o);
	if (o.close_stdout)
		close(STDOUT_FILENO);
	while (getline(&line, &cap, stdin) > 0) {
		json_object *in = json_tokener_parse(line), *c = NULL;
		const char *content = "";

		mark("input\n");
		if (o.close_stdout) {
			json_object_put(in);
			continue;
		}
		if (in != NULL && json_object_object_get_ex(in, "content", &c))
			content = json_object_get_string(c);
		answer(&o, content, turns + 1);
		json_object_put(in);
		if (!o.no_turn_end)
			send_turn_end();
		turns++;
		if (o.exit_after >= 0 && turns >= o.exit_after) {
			free(line); /* leak checkers must not change the status */
			return (int)o.exit_status;
		}
	}
	mark("eof\n");
	if (o.eof_delay >= 0) {
		sleep_ms(o.eof_delay);
		mark("saved\n");
	}
	if (o.ignore_eof)
		sleep_ms(30000);
	free(line);
	return 0;
}
