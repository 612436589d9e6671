/*
 * bare-fcgi.c - the floor for tests/bench/http-bench.sh: a libfcgi
 * responder with N threads that does nothing but answer fixed bytes, in
 * the naive libfcgi architecture the Runtime's responder has today: every
 * thread blocks in FCGX_Accept_r on the one listen socket (no mutex
 * around it: libfcgi's threaded example takes one, which would also
 * serialise reading every request's params), answers, FCGX_Finish_r.
 *
 *   bare-fcgi SOCKET THREADS GET_FILE POST_FILE POST_STATUS
 *             [JOURNAL RECORD_BYTES]
 *
 * SOCKET is a unix socket path (created; removed at exit).  A GET answers
 * 200 with GET_FILE's bytes; any other method reads the whole body and
 * answers POST_STATUS with POST_FILE's bytes - what the Runtime sends for
 * its GET detail and its input ack.  With JOURNAL, a POST first appends
 * RECORD_BYTES to that file (created, O_APPEND, one write) and
 * fdatasyncs it, as tests/bench/fdatasync-loop.c does: the floor of a
 * durable input behind FastCGI.  Runs until SIGTERM.
 */
#include <fcgiapp.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_THREADS 256
#define MAX_BODY (1 << 20)

static int sock;
static char *get_body, *post_body;
static size_t get_len, post_len;
static int post_status;
static int journal = -1;
static char record[65536];
static size_t record_len;

static char *
slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = malloc(MAX_BODY);

	if (f == NULL || buf == NULL) {
		perror(path);
		exit(1);
	}
	*len = fread(buf, 1, MAX_BODY, f);
	fclose(f);
	return buf;
}

/* libfcgi's own printf knows no %zu: the head is formatted here. */
static void
put(FCGX_Request *req, int status, const char *body, size_t len)
{
	char head[256];
	int n = snprintf(head, sizeof(head), "Status: %d\r\n"
	                 "Content-Type: application/json; charset=utf-8\r\n"
	                 "Content-Length: %zu\r\n\r\n", status, len);

	FCGX_PutStr(head, n, req->out);
	FCGX_PutStr(body, (int)len, req->out);
}

static void
answer(FCGX_Request *req)
{
	const char *method = FCGX_GetParam("REQUEST_METHOD", req->envp);
	char buf[4096];

	if (method != NULL && strcmp(method, "GET") == 0) {
		put(req, 200, get_body, get_len);
		return;
	}
	while (FCGX_GetStr(buf, sizeof(buf), req->in) > 0)
		;
	if (journal >= 0 &&
	    (write(journal, record, record_len) != (ssize_t)record_len ||
	     fdatasync(journal) != 0)) {
		put(req, 503, "{}", 2);
		return;
	}
	put(req, post_status, post_body, post_len);
}

static void *
serve(void *arg)
{
	FCGX_Request req;

	(void)arg;
	if (FCGX_InitRequest(&req, sock, 0) != 0)
		return NULL;
	while (FCGX_Accept_r(&req) >= 0) {
		answer(&req);
		FCGX_Finish_r(&req);
	}
	return NULL;
}

static void on_term(int sig)
{
	(void)sig;
	_exit(0);
}

int
main(int argc, char **argv)
{
	pthread_t th[MAX_THREADS];
	int n;

	if ((argc != 6 && argc != 8) || (n = atoi(argv[2])) < 1 ||
	    n > MAX_THREADS) {
		fprintf(stderr, "usage: bare-fcgi SOCKET THREADS GET_FILE "
		        "POST_FILE POST_STATUS [JOURNAL RECORD_BYTES]\n");
		return 2;
	}
	if (argc == 8) {
		record_len = (size_t)atol(argv[7]);
		if (record_len < 1 || record_len > sizeof(record)) {
			fprintf(stderr, "bare-fcgi: RECORD_BYTES 1..%zu\n",
			        sizeof(record));
			return 2;
		}
		memset(record, 'x', record_len);
		journal = open(argv[6], O_WRONLY | O_CREAT | O_APPEND |
		               O_CLOEXEC, 0600);
		if (journal < 0) {
			perror(argv[6]);
			return 1;
		}
	}
	get_body = slurp(argv[3], &get_len);
	post_body = slurp(argv[4], &post_len);
	post_status = atoi(argv[5]);
	signal(SIGPIPE, SIG_IGN);
	/* libfcgi's own SIGTERM handler only sets a flag that threads
	 * blocked in accept never see (bench_stop_all then waited 5 s and
	 * killed it); it leaves a handler that is already set alone. */
	signal(SIGTERM, on_term);
	if (FCGX_Init() != 0 || (sock = FCGX_OpenSocket(argv[1], 128)) < 0) {
		fprintf(stderr, "bare-fcgi: cannot listen on %s\n", argv[1]);
		return 1;
	}
	for (int i = 0; i < n; i++)
		if (pthread_create(&th[i], NULL, serve, NULL) != 0)
			return 1;
	for (int i = 0; i < n; i++)
		pthread_join(th[i], NULL);
	return 0;
}
