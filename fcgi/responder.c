/*
 * responder.c - the FastCGI accept loop: params and body in, http_handle(),
 * status, headers and JSON body out.
 *
 * Trust boundary: Browser -> Backend -> nginx -> this process.  Browsers
 * never talk to the Runtime.  The Runtime credential (the local token)
 * lives only in the Backend and in nginx (plus --local-token-file when the
 * socket is TCP, as defense in depth).  No CORS header is ever sent: nginx
 * refuses a request that carries a non-empty Origin or Sec-Fetch-Site (one
 * a browser issued) with a typed 403, and the handlers refuse exactly the
 * same again (http_browser_request).  This file passes HTTP_ORIGIN,
 * HTTP_SEC_FETCH_SITE and HTTP_AUTHORIZATION through untouched so that they
 * can.
 *
 * NUL inside a param: libfcgi stores each param as one C string
 * "NAME=VALUE" and keeps no length, so a NUL inside a VALUE is invisible
 * here (the value simply ends at it).  A NUL inside a NAME is visible, as
 * a param with no '=' before its end, and such a request is refused with
 * 400 invalid_param: it could otherwise hide a header (HTTP_ORIGIN\0x
 * would not be found as HTTP_ORIGIN).
 *
 * What this file guarantees to the handlers: at most max_body bytes of body
 * are ever read or buffered (a larger CONTENT_LENGTH is not read at all and
 * is reported as body_too_large); a body is handed over only when exactly
 * CONTENT_LENGTH bytes arrived; header lines written back never contain
 * CR/LF.  FastCGI params are borrowed until FCGX_Finish_r and nothing keeps
 * them past it.
 *
 * Threads and signals: N threads call FCGX_Accept_r on the one listen
 * socket.  Linux lets any number of threads block in accept() on one socket,
 * so accept is not serialised by a mutex: with nginx's fastcgi_keep_conn a
 * thread waits for the next request on its kept connection, and a mutex held
 * there would starve the others.  SIGTERM/SIGINT are blocked everywhere but
 * in the main thread's sigsuspend(); their handler (no SA_RESTART) only sets
 * a sig_atomic_t flag.  The main thread then sets `stopping`, calls
 * FCGX_ShutdownPending(), shuts its own listen socket down and sends
 * WAKE_SIGNAL to the threads until they end.
 * A thread unblocks WAKE_SIGNAL only while it waits in FCGX_Accept_r, so the
 * signal interrupts accept() or the wait on an idle kept connection, never
 * the body read or the response write of a request in flight (libfcgi's
 * read/write do not retry on EINTR).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>

#include <fcgiapp.h>

#include "log.h"
#include "request_id.h"
#include "responder.h"

/* Interrupts a thread blocked in FCGX_Accept_r; see the header comment. */
#define WAKE_SIGNAL SIGUSR1

#define HEAD_MAX 2048 /* status line + Content-* + HTTP_MAX_HEADERS lines */
#define WRITE_SLICE (1 << 20)
#define DRAIN_MAX 65536 /* backlog connections answered at a stop, at most */

/* Process-wide because signal handlers need them; one responder per
 * process. */
static volatile sig_atomic_t stop_signal; /* written by the handler only */
static volatile sig_atomic_t reload_signal; /* SIGHUP: set by its handler,
                                             * cleared by the main thread */
static atomic_bool stopping;              /* main thread -> serving threads */
static atomic_bool accept_broken;         /* serving thread -> main thread */
static pthread_t main_thread;

struct slot {
	pthread_t tid;
	atomic_bool done;
	const struct responder_config *cfg;
};

/* FCGX_ShutdownPending() is called by the main thread, after it has set
 * `stopping`, so that a thread whose accept fails sees why. */
static void on_stop_signal(int sig)
{
	stop_signal = sig;
}

static void on_reload_signal(int sig)
{
	(void)sig;
	reload_signal = 1;
}

/* Does nothing: its delivery is what interrupts the blocking call. */
static void on_wake_signal(int sig)
{
	(void)sig;
}

static void signal_set(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGHUP);
	sigaddset(set, WAKE_SIGNAL);
}

int responder_signals_init(void)
{
	struct sigaction sa;
	sigset_t set;
	int rc;

	memset(&sa, 0, sizeof sa);
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = 0; /* no SA_RESTART: blocking calls must see EINTR */
	sa.sa_handler = on_stop_signal;
	if (sigaction(SIGTERM, &sa, NULL) < 0 || sigaction(SIGINT, &sa, NULL) < 0)
		return -1;
	sa.sa_handler = on_reload_signal;
	if (sigaction(SIGHUP, &sa, NULL) < 0)
		return -1;
	sa.sa_handler = on_wake_signal;
	if (sigaction(WAKE_SIGNAL, &sa, NULL) < 0)
		return -1;
	/* A peer that hangs up must cost one failed write, not the process. */
	sa.sa_handler = SIG_IGN;
	if (sigaction(SIGPIPE, &sa, NULL) < 0)
		return -1;
	signal_set(&set);
	rc = pthread_sigmask(SIG_BLOCK, &set, NULL);
	if (rc != 0) {
		errno = rc;
		return -1;
	}
	return 0;
}

/* ---- one request ------------------------------------------------------- */

static const char *reason_phrase(int status)
{
	switch (status) {
	case 200: return "OK";
	case 201: return "Created";
	case 202: return "Accepted";
	case 204: return "No Content";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 409: return "Conflict";
	case 411: return "Length Required";
	case 413: return "Content Too Large";
	case 415: return "Unsupported Media Type";
	case 422: return "Unprocessable Content";
	case 429: return "Too Many Requests";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	}
	if (status >= 200 && status < 300)
		return "OK";
	if (status >= 400 && status < 500)
		return "Client Error";
	return "Server Error";
}

/* A 5xx (or invalid) status gets an error line with the raw URI, which
 * the access line leaves out (the logger escapes what a client sent). */
static void log_server_error(const struct http_request *hr, int status)
{
	const struct log_field f[] = {
		LOG_INT("status", status),
		LOG_STR("method", hr->method),
		LOG_STR("uri", hr->uri),
		LOG_STR("request_id", hr->request_id),
	};

	log_event(LOG_ERROR, "server error", f, sizeof f / sizeof f[0]);
}

/* A header the handlers add must be a token name and a value without
 * control bytes, and must not duplicate what this file writes itself. */
static bool header_ok(const struct http_header *h)
{
	const char *p;

	if (h->name[0] == '\0' || strcasecmp(h->name, "Status") == 0 ||
	    strcasecmp(h->name, "Content-Type") == 0 ||
	    strcasecmp(h->name, "Content-Length") == 0)
		return false;
	for (p = h->name; *p != '\0'; p++)
		if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
		      (*p >= '0' && *p <= '9') || *p == '-'))
			return false;
	for (p = h->value; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return false;
	return true;
}

/*
 * Writes one complete response.  A failed write means the peer has gone;
 * there is no one left to tell, and FCGX_Finish_r drops the connection.
 */
static void write_response(FCGX_Stream *out, int status,
                           const struct http_header *headers, size_t n_headers,
                           const char *body, size_t body_len)
{
	char head[HEAD_MAX];
	size_t used;
	size_t i;
	int n;

	n = snprintf(head, sizeof head,
	             "Status: %d %s\r\n"
	             "Content-Type: application/json; charset=utf-8\r\n"
	             "Content-Length: %zu\r\n",
	             status, reason_phrase(status), body_len);
	used = (size_t)n;
	for (i = 0; i < n_headers && i < HTTP_MAX_HEADERS; i++) {
		if (!header_ok(&headers[i])) {
			log_msg(LOG_ERROR, "dropped invalid response "
			        "header from handler (status %d)", status);
			continue;
		}
		n = snprintf(head + used, sizeof head - used, "%s: %s\r\n",
		             headers[i].name, headers[i].value);
		if (n < 0 || (size_t)n >= sizeof head - used)
			break; /* cannot happen: HEAD_MAX bounds every field */
		used += (size_t)n;
	}
	if (used + 2 < sizeof head) {
		memcpy(head + used, "\r\n", 3);
		used += 2;
	}
	if (FCGX_PutStr(head, (int)used, out) != (int)used)
		return;
	/* FCGX_PutStr takes an int: write large bodies in slices. */
	while (body_len > 0) {
		int slice = body_len > WRITE_SLICE ? WRITE_SLICE : (int)body_len;

		if (FCGX_PutStr(body, slice, out) != slice)
			return;
		body += slice;
		body_len -= (size_t)slice;
	}
}

/* A typed error produced here rather than by the handlers, with the
 * request's id (header and body); *res gets what the access log needs. */
static void write_error(FCGX_Stream *out, int status, wr_err code,
                        enum wr_reason reason, const char *message,
                        const char *request_id, struct http_response *res)
{
	/* The last resort when even encoding the error fails. */
	static const char oom_body[] =
		"{\"error\":{\"code\":\"internal\",\"message\":\"out of memory\"}}";
	struct wr_error e;
	char *body;
	size_t len = 0;

	memset(&e, 0, sizeof e);
	e.code = code;
	e.reason = reason;
	snprintf(e.message, sizeof e.message, "%s", message);
	body = wr_json_encode_error_request(&e, request_id, &len);
	memset(res, 0, sizeof *res);
	res->status = body != NULL ? status : 500;
	res->route = "";
	res->reason = wr_reason_name(reason);
	snprintf(res->headers[0].name, sizeof res->headers[0].name,
	         "X-Request-Id");
	snprintf(res->headers[0].value, sizeof res->headers[0].value, "%s",
	         request_id);
	res->n_headers = 1;
	if (body == NULL)
		write_response(out, 500, res->headers, 1, oom_body,
		               sizeof oom_body - 1);
	else
		write_response(out, status, res->headers, 1, body, len);
	free(body);
}

/* Parses CONTENT_LENGTH: absent or empty is 0 (nginx sends "" without a
 * body); otherwise only decimal digits, saturating at UINT64_MAX (which is
 * above any max_body).  Returns 0, or -1 if malformed. */
static int parse_length(const char *s, uint64_t *out)
{
	uint64_t v = 0;

	if (s == NULL || *s == '\0') {
		*out = 0;
		return 0;
	}
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		if (v > (UINT64_MAX - 9) / 10)
			v = UINT64_MAX;
		else
			v = v * 10 + (uint64_t)(*s - '0');
	}
	*out = v;
	return 0;
}

/* Reads exactly len bytes (len <= max_body) into a NUL-terminated buffer
 * the caller frees.  Returns 0, -1 if the body ended early or the stream
 * failed, -2 if out of memory.  On failure *out is unchanged. */
static int read_body(FCGX_Stream *in, size_t len, char **out)
{
	char *buf;
	size_t got = 0;

	if (len == 0) {
		*out = NULL;
		return 0;
	}
	buf = malloc(len + 1);
	if (buf == NULL)
		return -2;
	while (got < len) {
		size_t want = len - got;
		int n;

		if (want > INT_MAX)
			want = INT_MAX;
		n = FCGX_GetStr(buf + got, (int)want, in);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	if (got != len) {
		free(buf);
		return -1;
	}
	buf[len] = '\0';
	*out = buf;
	return 0;
}

#define PARAM(req, name) FCGX_GetParam((name), (req)->envp)

/* True if every param is "NAME=VALUE" with a non-empty NAME: a NUL inside
 * a name (or an empty name) leaves a string with no '=' after a name. */
static bool params_well_formed(char **envp)
{
	for (; envp != NULL && *envp != NULL; envp++) {
		const char *eq = strchr(*envp, '=');

		if (eq == NULL || eq == *envp)
			return false;
	}
	return true;
}

/* Microseconds since *t0 (CLOCK_MONOTONIC). */
static unsigned long long elapsed_us(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (unsigned long long)(t.tv_sec - t0->tv_sec) * 1000000ull +
	       (unsigned long long)((t.tv_nsec - t0->tv_nsec) / 1000);
}

/*
 * Answers one accepted request and finishes it.  Returns true if the
 * connection must be closed afterwards because its input was not consumed
 * exactly (too large, short, malformed length): leftover stdin records on a
 * kept connection would be taken for the start of the next request.
 */
static bool serve_one(const struct responder_config *cfg, FCGX_Request *req)
{
	struct http_request hr;
	struct http_response res;
	char *body = NULL;
	uint64_t len = 0;
	bool drop = false;
	struct timespec t0;
	char rid_buf[REQUEST_ID_SIZE];
	int rc;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	memset(&hr, 0, sizeof hr);
	memset(&res, 0, sizeof res);
	hr.method = PARAM(req, "REQUEST_METHOD");
	hr.uri = PARAM(req, "REQUEST_URI");
	hr.content_type = PARAM(req, "CONTENT_TYPE");
	hr.authorization = PARAM(req, "HTTP_AUTHORIZATION");
	hr.origin = PARAM(req, "HTTP_ORIGIN");
	hr.sec_fetch_site = PARAM(req, "HTTP_SEC_FETCH_SITE");
	/* Checked once here, so the handlers, the responder's own errors
	 * and the access line name the same id. */
	hr.request_id = request_id_or_new(PARAM(req, "REQUEST_ID"), rid_buf);
	hr.idempotency_key = PARAM(req, "HTTP_IDEMPOTENCY_KEY");

	if (!params_well_formed(req->envp)) {
		write_error(req->out, 400, WR_EINVALID_INPUT, WR_REASON_INVALID_PARAM,
		            "a FastCGI param name is empty or holds a NUL byte",
		            hr.request_id, &res);
		drop = true;
		goto finish;
	}
	if (hr.method == NULL || hr.method[0] == '\0' || hr.uri == NULL ||
	    hr.uri[0] == '\0') {
		write_error(req->out, 400, WR_EINVALID_INPUT, WR_REASON_INVALID_REQUEST,
		            "REQUEST_METHOD and REQUEST_URI are required",
		            hr.request_id, &res);
		drop = true;
		goto finish;
	}
	if (parse_length(PARAM(req, "CONTENT_LENGTH"), &len) != 0) {
		write_error(req->out, 400, WR_EINVALID_INPUT,
		            WR_REASON_INVALID_CONTENT_LENGTH,
		            "CONTENT_LENGTH is not a decimal byte count",
		            hr.request_id, &res);
		drop = true;
		goto finish;
	}
	if (len > cfg->max_body) {
		/* Not read at all: the handlers answer 413 with the limit. */
		hr.body_too_large = true;
		drop = true;
	} else {
		rc = read_body(req->in, (size_t)len, &body);
		if (rc == -2) {
			write_error(req->out, 500, WR_EINTERNAL, WR_REASON_OUT_OF_MEMORY,
			            "no memory to buffer the request body",
		            hr.request_id, &res);
			drop = true;
			goto finish;
		}
		if (rc != 0) {
			write_error(req->out, 400, WR_EINVALID_INPUT, WR_REASON_INVALID_BODY,
			            "the request body ended before CONTENT_LENGTH bytes",
		            hr.request_id, &res);
			drop = true;
			goto finish;
		}
		hr.body = body;
		hr.body_len = (size_t)len;
	}

	http_handle(cfg->ctx, &hr, &res);
	if (res.status < 100 || res.status > 599) {
		struct http_response bad;

		log_msg(LOG_ERROR, "handler returned status %d",
		        res.status);
		write_error(req->out, 500, WR_EINTERNAL, WR_REASON_NONE,
		            "the handler produced an invalid status",
		            hr.request_id, &bad);
	} else {
		write_response(req->out, res.status, res.headers, res.n_headers,
		               res.body, res.body != NULL ? res.body_len : 0);
	}
	if (res.status >= 500 || res.status < 100)
		log_server_error(&hr, res.status);
	http_request_done(cfg->ctx, &hr, &res, elapsed_us(&t0));
	http_response_clear(&res);
	goto done;

finish: /* an error written here: res holds its status and reason */
	http_request_done(cfg->ctx, &hr, &res, elapsed_us(&t0));
done:
	free(body);
	FCGX_Finish_r(req); /* params (hr.*) are invalid from here on */
	return drop;
}

/* ---- threads ------------------------------------------------------------ */

/* Accept errors that say the listen socket itself is unusable. */
static bool accept_error_fatal(int e)
{
	return e == EBADF || e == ENOTSOCK || e == EINVAL || e == EOPNOTSUPP ||
	       e == EFAULT;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static void *serve(void *arg)
{
	struct slot *slot = arg;
	FCGX_Request req;
	sigset_t wake;
	unsigned long failures = 0;

	sigemptyset(&wake);
	sigaddset(&wake, WAKE_SIGNAL);
	/* A wake-up must end accept(), not restart it. */
	if (FCGX_InitRequest(&req, slot->cfg->listen_fd,
	                     FCGI_FAIL_ACCEPT_ON_INTR) != 0) {
		log_msg(LOG_ERROR, "FCGX_InitRequest failed");
		atomic_store(&accept_broken, true);
		pthread_kill(main_thread, WAKE_SIGNAL);
		goto out;
	}
	while (!atomic_load(&stopping)) {
		int rc;

		pthread_sigmask(SIG_UNBLOCK, &wake, NULL);
		rc = FCGX_Accept_r(&req);
		pthread_sigmask(SIG_BLOCK, &wake, NULL);
		if (rc >= 0) {
			failures = 0;
			if (serve_one(slot->cfg, &req))
				FCGX_Free(&req, 1);
			continue;
		}
		if (atomic_load(&stopping))
			break;
		if (rc == -EINTR)
			continue; /* some other signal's handler ran */
		if (accept_error_fatal(-rc)) {
			log_msg(LOG_ERROR, "accept: %s",
			        strerror(-rc));
			atomic_store(&accept_broken, true);
			pthread_kill(main_thread, WAKE_SIGNAL);
			break;
		}
		/* EMFILE, ENOMEM, ...: wait for resources, log now and then. */
		if (failures++ % 50 == 0)
			log_msg(LOG_ERROR, "accept: %s (retrying)",
			        rc == -9999 ? "unknown error" : strerror(-rc));
		sleep_ms(100);
	}
	FCGX_Free(&req, 1); /* closes a kept connection, if any */
out:
	atomic_store(&slot->done, true);
	return NULL;
}

/*
 * Answers every connection waiting in the listen backlog with a typed 503
 * runtime_unavailable, reason "stopping" (the request was read but not
 * acted on, so it is safe to retry), instead of leaving it to be reset
 * when the socket closes - nginx would report that as upstream_failed,
 * outcome unknown.  Accepts without blocking until the backlog is empty
 * (EAGAIN; EINVAL on a unix socket already shut down), at most DRAIN_MAX.
 * Returns how many were answered.  Serialised: the stop and the shutdown
 * guard may both call it (see responder.h).
 */
static pthread_mutex_t drain_mu = PTHREAD_MUTEX_INITIALIZER;

unsigned responder_drain_backlog(int listen_fd, unsigned retry_after_s)
{
	static const struct timeval io_limit = { 1, 0 };
	struct http_header retry;
	struct wr_error e;
	FCGX_Request req;
	char *body;
	size_t len = 0;
	unsigned n = 0;
	int fl;

	pthread_mutex_lock(&drain_mu);
	fl = fcntl(listen_fd, F_GETFL);
	memset(&e, 0, sizeof e);
	e.code = WR_EUNAVAILABLE;
	e.reason = WR_REASON_STOPPING;
	snprintf(e.message, sizeof e.message, "the runtime is stopping; the "
	         "request was not acted on, retry later");
	body = wr_json_encode_error(&e, &len);
	if (body == NULL || fl < 0 ||
	    fcntl(listen_fd, F_SETFL, fl | O_NONBLOCK) < 0 ||
	    FCGX_InitRequest(&req, listen_fd,
	                     FCGI_FAIL_ACCEPT_ON_INTR) != 0) {
		free(body);
		pthread_mutex_unlock(&drain_mu);
		return 0;
	}
	snprintf(retry.name, sizeof retry.name, "Retry-After");
	snprintf(retry.value, sizeof retry.value, "%u",
	         retry_after_s ? retry_after_s : 1);
	while (n < DRAIN_MAX) {
		int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);

		if (fd < 0 && errno == EINTR)
			continue;
		if (fd < 0)
			break; /* empty: EAGAIN, or EINVAL once shut down */
		/* A client that sends nothing cannot hold the stop. */
		(void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &io_limit,
		                 sizeof io_limit);
		(void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &io_limit,
		                 sizeof io_limit);
		/* libfcgi's own accept refuses after FCGX_ShutdownPending();
		 * with ipcFd set it reads the request from that connection
		 * (keepConnection keeps its first FCGX_Finish_r from closing
		 * it; the request's own flags decide after that). */
		req.ipcFd = fd;
		req.keepConnection = 1;
		if (FCGX_Accept_r(&req) >= 0) {
			write_response(req.out, 503, &retry, 1, body, len);
			n++;
		}
		FCGX_Finish_r(&req);
		FCGX_Free(&req, 1);
	}
	FCGX_Free(&req, 1);
	free(body);
	/* The open file description may be shared (systemd's socket). */
	(void)fcntl(listen_fd, F_SETFL, fl);
	pthread_mutex_unlock(&drain_mu);
	return n;
}

/* Stops accepting and waits for every started thread. */
static void stop_threads(struct slot *slots, unsigned n,
                         const struct responder_config *cfg)
{
	unsigned i;
	unsigned rounds = 0;

	atomic_store(&stopping, true);
	FCGX_ShutdownPending();
	/* Refuse new connections, but only on a socket of our own:
	 * shutdown() acts on the socket, not on this descriptor, and would
	 * break a systemd socket for the next start.  On a unix socket new
	 * connections are then refused while the ones already in the
	 * backlog can still be accepted (drained below); shutting a TCP
	 * listener down would reset its backlog, so it is drained first. */
	if (cfg->own_listener && !cfg->tcp)
		(void)shutdown(cfg->listen_fd, SHUT_RDWR);
	for (;;) {
		unsigned left = 0;

		for (i = 0; i < n; i++) {
			if (atomic_load(&slots[i].done))
				continue;
			left++;
			/* Pending (harmless) in a thread busy with a request;
			 * interrupts accept() or an idle kept connection. */
			pthread_kill(slots[i].tid, WAKE_SIGNAL);
		}
		if (left == 0)
			break;
		if (++rounds % 250 == 0) /* every 5 s */
			log_msg(LOG_INFO, "waiting for %u "
			        "request(s) in flight", left);
		sleep_ms(20);
	}
	for (i = 0; i < n; i++)
		pthread_join(slots[i].tid, NULL);
	i = responder_drain_backlog(cfg->listen_fd,
	                            cfg->ctx->retry_after_s);
	if (i > 0)
		log_msg(LOG_INFO, "answered %u request(s) from "
		        "the listen backlog with 503 stopping", i);
	if (cfg->own_listener && cfg->tcp)
		(void)shutdown(cfg->listen_fd, SHUT_RDWR);
}

/* The threads responder_start() started; one responder per process. */
static struct slot *run_slots;
static unsigned run_started;

int responder_start(const struct responder_config *cfg)
{
	unsigned i;

	if (cfg->threads < 1 || cfg->threads > RESPONDER_THREADS_MAX) {
		log_msg(LOG_ERROR, "bad thread count %u",
		        cfg->threads);
		return -1;
	}
	if (FCGX_Init() != 0) {
		log_msg(LOG_ERROR, "FCGX_Init failed");
		return -1;
	}
	run_slots = calloc(cfg->threads, sizeof *run_slots);
	if (run_slots == NULL) {
		log_msg(LOG_ERROR, "out of memory");
		return -1;
	}
	run_started = 0;
	main_thread = pthread_self();
	atomic_store(&stopping, false);
	atomic_store(&accept_broken, false);
	for (i = 0; i < cfg->threads; i++) {
		int e;

		run_slots[i].cfg = cfg;
		atomic_init(&run_slots[i].done, false);
		e = pthread_create(&run_slots[i].tid, NULL, serve, &run_slots[i]);
		if (e != 0) {
			log_msg(LOG_ERROR, "pthread_create: %s",
			        strerror(e));
			responder_abort(cfg);
			return -1;
		}
		run_started++;
	}
	return 0;
}

void responder_abort(const struct responder_config *cfg)
{
	if (run_slots == NULL)
		return;
	stop_threads(run_slots, run_started, cfg);
	free(run_slots);
	run_slots = NULL;
	run_started = 0;
}

int responder_wait(const struct responder_config *cfg)
{
	sigset_t waitmask;
	int rc = -1;

	/* The stop signals are blocked; sigsuspend opens them atomically, so
	 * a signal between the test and the wait is not lost. */
	pthread_sigmask(SIG_BLOCK, NULL, &waitmask);
	sigdelset(&waitmask, SIGTERM);
	sigdelset(&waitmask, SIGINT);
	sigdelset(&waitmask, SIGHUP);
	sigdelset(&waitmask, WAKE_SIGNAL);
	while (stop_signal == 0 && !atomic_load(&accept_broken)) {
		sigsuspend(&waitmask);
		if (reload_signal != 0 && stop_signal == 0) {
			reload_signal = 0;
			log_msg(LOG_INFO, "SIGHUP received, reloading");
			if (cfg->on_reload != NULL)
				cfg->on_reload(cfg->on_reload_arg);
		}
	}
	if (stop_signal != 0) {
		log_msg(LOG_INFO, "%s received, draining",
		        stop_signal == SIGINT ? "SIGINT" : "SIGTERM");
		if (cfg->on_stop != NULL)
			cfg->on_stop(cfg->on_stop_arg);
		rc = 0;
	}
	responder_abort(cfg);
	return rc;
}

int responder_run(const struct responder_config *cfg)
{
	if (responder_start(cfg) < 0)
		return -1;
	return responder_wait(cfg);
}
