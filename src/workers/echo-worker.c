/*
 * echo-worker.c - the smallest useful exec worker (docs/worker-protocol.md).
 *
 * For every input line on stdin it answers with one output carrying the
 * same content, then turn_end.  Exits 0 when stdin closes (the Runtime's
 * graceful stop).  Anything it cannot parse is reported on stderr, which
 * the Runtime records as a diagnostic.
 *
 * Profile: {"argv": ["/usr/libexec/echo-worker"]}
 */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json.h>

/* Writes one protocol message; the object is released. */
static int
send_message(json_object *msg)
{
	const char *text = json_object_to_json_string_ext(msg,
	        JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	int rc = 0;

	if (text == NULL || printf("%s\n", text) < 0 || fflush(stdout) != 0)
		rc = -1;
	json_object_put(msg);
	return rc;
}

static int
answer(const char *content)
{
	json_object *out = json_object_new_object();
	json_object *end = json_object_new_object();

	json_object_object_add(out, "type", json_object_new_string("output"));
	json_object_object_add(out, "content",
	                       json_object_new_string(content));
	json_object_object_add(end, "type",
	                       json_object_new_string("turn_end"));
	if (send_message(out) != 0) {
		json_object_put(end);
		return -1;
	}
	return send_message(end);
}

int
main(void)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;

	while ((n = getline(&line, &cap, stdin)) > 0) {
		json_object *msg = json_tokener_parse(line), *type, *content;

		if (msg == NULL ||
		    !json_object_object_get_ex(msg, "type", &type) ||
		    strcmp(json_object_get_string(type), "input") != 0 ||
		    !json_object_object_get_ex(msg, "content", &content)) {
			fprintf(stderr, "echo-worker: ignoring a line that "
			        "is not an input message\n");
			json_object_put(msg);
			continue;
		}
		if (answer(json_object_get_string(content)) != 0) {
			json_object_put(msg);
			break; /* stdout is gone: the Runtime went away */
		}
		json_object_put(msg);
	}
	free(line);
	return 0;
}
