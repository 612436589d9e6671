/*
 * slow-worker.c - an exec worker whose turns take a while, to watch a
 * Worker go busy and idle, and to try stop and cancel mid-turn
 * (docs/worker-protocol.md).
 *
 * Usage: slow-worker [STEP_MS [STEPS]]   (defaults 1000 and 3)
 * For every input it writes STEPS progress outputs STEP_MS apart, then
 * "done: CONTENT" and turn_end.  Exits 0 when stdin closes; SIGTERM ends
 * it at once (default disposition).
 *
 * Profile: {"argv": ["/usr/libexec/slow-worker", "500", "4"],
 *           "turn_timeout_ms": 10000}
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json.h>

static void
sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static int
send_output(const char *content)
{
	json_object *o = json_object_new_object();
	const char *text;
	int rc = 0;

	json_object_object_add(o, "type", json_object_new_string("output"));
	json_object_object_add(o, "content", json_object_new_string(content));
	text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
	                                      JSON_C_TO_STRING_NOSLASHESCAPE);
	if (text == NULL || printf("%s\n", text) < 0 || fflush(stdout) != 0)
		rc = -1;
	json_object_put(o);
	return rc;
}

static long
arg(int argc, char **argv, int i, long dflt)
{
	char *end;
	long v;

	if (argc <= i)
		return dflt;
	v = strtol(argv[i], &end, 10);
	if (argv[i][0] == '\0' || *end != '\0' || v < 0 || v > 3600000) {
		fprintf(stderr, "usage: slow-worker [STEP_MS [STEPS]]\n");
		exit(2);
	}
	return v;
}

/* Answers one input: progress lines, the final line, turn_end.  Returns
 * -1 when stdout is gone (the Runtime went away). */
static int
answer(const char *text, long step_ms, long steps)
{
	char progress[64], *done;
	long i;
	int rc;

	for (i = 1; i <= steps; i++) {
		sleep_ms(step_ms);
		snprintf(progress, sizeof(progress), "step %ld/%ld", i, steps);
		if (send_output(progress) != 0)
			return -1;
	}
	done = malloc(strlen(text) + sizeof("done: "));
	if (done == NULL)
		return -1;
	sprintf(done, "done: %s", text);
	rc = send_output(done);
	free(done);
	if (rc != 0 || printf("{\"type\":\"turn_end\"}\n") < 0 ||
	    fflush(stdout) != 0)
		return -1;
	return 0;
}

int
main(int argc, char **argv)
{
	long step_ms = arg(argc, argv, 1, 1000), steps = arg(argc, argv, 2, 3);
	char *line = NULL;
	size_t cap = 0;
	int rc = 0;

	while (rc == 0 && getline(&line, &cap, stdin) > 0) {
		json_object *msg = json_tokener_parse(line), *content;
		const char *text = "";

		if (msg != NULL &&
		    json_object_object_get_ex(msg, "content", &content))
			text = json_object_get_string(content);
		rc = answer(text, step_ms, steps);
		json_object_put(msg);
	}
	free(line);
	return 0;
}
