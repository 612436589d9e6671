/*
 * responder.c - the FastCGI server: params and body in, http_handle(),
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
 * CONTENT_LENGTH bytes arrived and the stdin stream ended right after
 * them (a request is acted on only once all its records were read, so
 * none is left for the next request on a kept connection); header lines
 * written back never contain CR/LF.  FastCGI params are borrowed until
 * FCGX_Finish_r and nothing keeps them past it.  A connection whose input
 * was not consumed exactly (too large, short, longer, malformed) is
 * closed after its answer: leftover stdin records on a kept connection
 * would be taken for the next request.  So
 * is a kept connection whose peer may have sent more than one request
 * before the first answer (pipelining, outside FCGI_MPXS_CONNS=0): libfcgi
 * may have read the next request ahead into a buffer it frees, and the
 * peer gets EOF after the first answer rather than waiting for ever
 * (peek_request_end).
 * Every answer is written here, not through libfcgi's stream: FCGI_STDOUT
 * records of up to 65,528 bytes, one writev(2) each, the last one also
 * carrying the empty FCGI_STDOUT and FCGI_END_REQUEST that end the request
 * (put_answer), before http_request_done, which is told how many bytes of
 * it went out and whether it was cut short.
 * http_request_done is called exactly once per request, also for the
 * answers this file writes itself (route "", the reason's wire name) and
 * for a request whose input failed, which gets no answer (input_failed:
 * status 499 or 408, as nginx logs them).
 *
 * Threads (dispatch.c), leader/follower: the --threads serving threads
 * take turns in epoll_wait on one set holding the listen socket and every
 * idle connection (all one-shot).  The thread that gets the listen socket
 * accepts one connection, re-arms it and serves the connection itself if
 * nginx already wrote the request (else the connection joins the set);
 * the thread that gets a readable connection serves it.  No request is
 * handed from one thread to another.  A serving thread drives libfcgi on
 * that fd (FCGX_Accept_r with ipcFd set and keepConnection 1, so libfcgi
 * reads the request without accepting; the request struct's listen
 * socket is -1, so a connection that ends before a request makes
 * FCGX_Accept_r fail instead of accepting).  After FCGX_Finish_r a
 * connection nginx keeps (fastcgi_keep_conn) is still open and goes back
 * into the epoll set: an idle kept connection costs an fd and an epoll
 * entry, never a thread, so upstream keepalive is safe with any --threads.
 * Connections are bounded (dsp_conns_max: RLIMIT_NOFILE, raised to its
 * hard limit, less 512, at most 65,536); at the bound the listen socket is
 * not re-armed and new connections wait in the listen backlog.  A
 * request's duration (access line, histogram) runs from the moment its
 * connection was reported readable or accepted, before its request is
 * read; while every thread is busy a ready connection waits in the kernel,
 * where the process cannot see it (a unix socket carries no receive
 * timestamp).
 *
 * Parked requests (long-poll): every request carries wake = dsp_wake.  When
 * http_handle returns res.wait, the request keeps its FCGX_Request (params
 * valid) and its connection aside and the thread takes the next job with a
 * fresh request struct.  wake() only pushes the request on an inbox and
 * writes the eventfd; the dispatcher keeps parked requests in a min-heap by
 * deadline (its epoll timeout is the nearest one) and queues a woken or
 * expired request; a serving thread then calls http_wait_finish, writes
 * the answer and finishes it as any other.
 *
 * Stop: SIGTERM/SIGINT are blocked everywhere but in the main thread's
 * sigsuspend(); their handler (no SA_RESTART) only sets a sig_atomic_t
 * flag.  The main thread then sets `stopping`, calls FCGX_ShutdownPending(),
 * shuts its own unix listener down and tells the dispatcher, which takes
 * the listen socket out of the set, queues every parked request to be
 * answered (its current page; http_wait_finish may block briefly, e.g.
 * until a group commit's sync ends) by the next free serving thread - not
 * by the dispatcher, whose loop must never block on a peer's write; with
 * every thread held, at their I/O bound or by the shutdown guard's drain
 * (responder_drain_backlog) -, shuts down the idle connections without a
 * request (a serving thread closes them; one that holds a request is
 * answered 503 stopping), and ends once nothing is idle, in flight,
 * queued or parked; kept connections are closed after their answer.
 * The threads are joined and the listen backlog is answered 503 stopping
 * (responder_drain_backlog).  No signal is sent per request: the serving
 * threads never see one (NOTIFY_SIGNAL only wakes the main thread when
 * accepting failed for good).
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
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <fastcgi.h>
#include <fcgiapp.h>

#include "dispatch.h"
#include "fmt.h"
#include "log.h"
#include "request_id.h"
#include "responder.h"

/* Wakes the main thread's sigsuspend when accepting failed for good. */
#define NOTIFY_SIGNAL SIGUSR1

#define HEAD_MAX 2048 /* status line + Content-* + HTTP_MAX_HEADERS lines */
/* An answer goes out in FastCGI records of up to RECORD_MAX bytes written
 * here (put_answer).  Through libfcgi's 8 KiB stream a 420 KB list of
 * 1,000 workers took 52 write(2) calls and as many wake-ups of nginx;
 * measured side by side (two
 * clients listing 1,000 workers in a loop while 64 read details, 4
 * interleaved rounds): 177 lists/s per client against 148, detail reads
 * alongside the same within noise. */
#define RECORD_MAX (FCGI_MAX_LENGTH & ~7) /* 65528: no padding needed */
#define DRAIN_MAX 65536 /* backlog connections answered at a stop, at most */

/* Process-wide because signal handlers need them; one responder per
 * process. */
static volatile sig_atomic_t stop_signal; /* written by the handler only */
static volatile sig_atomic_t reload_signal; /* SIGHUP: set by its handler,
                                             * cleared by the main thread */
static pthread_t main_thread;
/* The context of the running responder, for the backlog drain's
 * http_request_done (it may run on the shutdown guard's thread). */
static const struct http_ctx *_Atomic run_ctx;

/* FCGX_ShutdownPending() is called by the main thread when it stops. */
static void on_stop_signal(int sig)
{
	stop_signal = sig;
}

static void on_reload_signal(int sig)
{
	(void)sig;
	reload_signal = 1;
}

/* Does nothing: its delivery is what ends sigsuspend. */
static void on_notify_signal(int sig)
{
	(void)sig;
}

static void signal_set(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGHUP);
	sigaddset(set, NOTIFY_SIGNAL);
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
	sa.sa_handler = on_notify_signal;
	if (sigaction(NOTIFY_SIGNAL, &sa, NULL) < 0)
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

/* A 5xx status gets a "server error" line with its reason and the raw
 * URI, which the access line leaves out (the logger escapes what a client
 * sent): error, or warn for a reason that names a passing state
 * (wr_reason_transient: restoring, stopping...), which a Backend retries
 * after Retry-After. */
static void log_server_error(const struct http_request *hr, int status,
                             enum wr_reason reason)
{
	const struct log_field f[] = {
		LOG_INT("status", status),
		LOG_STR("reason", wr_reason_name(reason)),
		LOG_STR("method", hr->method),
		LOG_STR("uri", hr->uri),
		LOG_STR("request_id", hr->request_id),
	};

	log_event(wr_reason_transient(reason) ? LOG_WARN : LOG_ERROR,
	          "server error", f, sizeof f / sizeof f[0]);
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

/* Writes iov[0..n) to fd, a blocking socket with the 10 s send bound, in
 * one call.  Returns the bytes written: all of them, or fewer with errno
 * set (EAGAIN when only part went out: that call ended at the bound, as
 * the serving threads block the signals that could end it earlier; the
 * peer stopped reading, and its connection is let go then, as the docs
 * promise, not after another 10 s for the rest). */
static size_t writev_once(int fd, const struct iovec *iov, int n)
{
	size_t want = 0;
	ssize_t w;

	for (int i = 0; i < n; i++)
		want += iov[i].iov_len;
	do
		w = writev(fd, iov, n);
	while (w < 0 && errno == EINTR);
	if (w < 0)
		return 0;
	if ((size_t)w < want)
		errno = EAGAIN;
	return (size_t)w;
}

/* How much of an answer went out (http_request_done). */
struct sent {
	size_t bytes; /* of head and body */
	bool whole;   /* all of it, with the records that end the request */
};

/* A FastCGI record header (the FastCGI 1.0 specification, section 3.3)
 * of req's request, without padding. */
static void record_header(unsigned char h[FCGI_HEADER_LEN], int type,
                          const FCGX_Request *req, size_t len)
{
	h[0] = FCGI_VERSION_1;
	h[1] = (unsigned char)type;
	h[2] = (unsigned char)(req->requestId >> 8);
	h[3] = (unsigned char)req->requestId;
	h[4] = (unsigned char)(len >> 8);
	h[5] = (unsigned char)len;
	h[6] = 0;
	h[7] = 0;
}

/*
 * Writes a whole answer straight to req's connection: head then body as
 * FCGI_STDOUT records of up to RECORD_MAX bytes (the head shares the
 * first), the empty FCGI_STDOUT that ends the stream and FCGI_END_REQUEST
 * (application status 0, FCGI_REQUEST_COMPLETE).  One writev(2) per
 * record, the last one carrying the two ending records: an answer of up
 * to RECORD_MAX bytes is one system call (through libfcgi's 8 KiB stream
 * only one up to 8 KiB was, see RECORD_MAX; its one way to a larger
 * buffer, FCGX_CreateWriter, leaks an FCGX_Request per call).
 * Written here, before the access line, so that the line can say whether
 * the answer reached the peer.
 *
 * This relies on libfcgi 2.4's handling of a stream beyond what
 * fcgiapp.h promises (its fields are public, their use is not): req->out
 * is marked closed (isClosed, wasFCloseCalled), so FCGX_Finish_r's
 * FCGX_FClose of it writes nothing, and FCGX_FClose of req->err, which
 * nothing here writes to, sends neither an empty FCGI_STDERR nor
 * FCGI_END_REQUEST while req->out still counts as an open writer
 * (nWriters); on a failed write req->out also gets FCGI_errno, so
 * FCGX_Finish_r closes the connection rather than wait the send bound
 * once more on a peer that does not read.  A libfcgi that wrote either
 * record again would break every kept connection: fcgi-peer.sh,
 * keepalive.sh and large-answers.sh would fail.
 *
 * last: the connection is closed after this answer, and its write side
 * is shut down right after it, before the access line: nginx sees the
 * connection end right after FCGI_END_REQUEST and rarely takes it for
 * its next request (it still can in between; the review of 13a04e7
 * measured 140 upstream_failed against 59 when the shutdown came after
 * the access line, with nginx sending bodies over --max-body).  Returns the bytes of
 * head and body written and whether all of the answer was.
 */
static struct sent put_answer(FCGX_Request *req, const char *head,
                              size_t head_len, const char *body,
                              size_t body_len, bool last)
{
	unsigned char h[FCGI_HEADER_LEN];
	unsigned char end[2 * FCGI_HEADER_LEN + sizeof(FCGI_EndRequestBody)];
	size_t left = head_len + body_len;
	struct sent out = { 0, false };
	struct iovec iov[4];

	record_header(end, FCGI_STDOUT, req, 0);
	record_header(end + FCGI_HEADER_LEN, FCGI_END_REQUEST, req,
	              sizeof(FCGI_EndRequestBody));
	/* appStatus 0, protocolStatus FCGI_REQUEST_COMPLETE (0), reserved */
	memset(end + 2 * FCGI_HEADER_LEN, 0, sizeof(FCGI_EndRequestBody));
	for (;;) {
		size_t n = left > RECORD_MAX ? RECORD_MAX : left;
		size_t from_head = head_len < n ? head_len : n;
		size_t want, w;
		int k = 3;

		record_header(h, FCGI_STDOUT, req, n);
		iov[0] = (struct iovec){h, sizeof h};
		iov[1] = (struct iovec){(void *)head, from_head};
		iov[2] = (struct iovec){(void *)body, n - from_head};
		if (n == left)
			iov[k++] = (struct iovec){end, sizeof end};
		want = sizeof h + n + (k == 4 ? sizeof end : 0);
		w = writev_once(req->ipcFd, iov, k);
		if (w < want) {
			if (w > sizeof h)
				out.bytes += (w - sizeof h < n ? w - sizeof h
				                               : n);
			req->out->FCGI_errno = errno != 0 ? errno : EIO;
			break;
		}
		out.bytes += n;
		if (n == left) {
			out.whole = true;
			if (last)
				(void)shutdown(req->ipcFd, SHUT_WR);
			break;
		}
		head += from_head;
		head_len -= from_head;
		body += n - from_head;
		left -= n;
	}
	req->out->isClosed = 1;
	req->out->wasFCloseCalled = 1;
	return out;
}

/* The head of an answer, appended to in place; a piece that does not fit
 * is dropped whole (cannot happen: HEAD_MAX bounds every field). */
struct head {
	char p[HEAD_MAX];
	size_t used;
};

static bool head_fits(const struct head *h, size_t n)
{
	return n <= sizeof h->p - 2 - h->used; /* 2: the closing CRLF */
}

static void head_put(struct head *h, const char *s, size_t n)
{
	memcpy(h->p + h->used, s, n);
	h->used += n;
}

#define HEAD_LIT(h, lit) head_put((h), (lit), sizeof(lit) - 1)

/* "Status: ...", Content-Type and Content-Length (without snprintf: it
 * was a measurable part of a small answer's cost).  A Content-Type too
 * long to fit is left out whole (cannot happen: the handlers' types are
 * constants of a few dozen bytes); the status line and the length
 * always fit. */
static void head_start(struct head *h, int status, const char *content_type,
                       size_t body_len)
{
	const char *phrase = http_reason_phrase(status);
	char code[1 + FMT_U64_MAX], len[FMT_U64_MAX];
	size_t nc = 0, nl = fmt_u64(len, (uint64_t)body_len);
	size_t np = strlen(phrase), nt = strlen(content_type);

	if (status < 0)
		code[nc++] = '-';
	nc += fmt_u64(code + nc, status < 0 ? -(uint64_t)status
	                                    : (uint64_t)status);
	h->used = 0;
	HEAD_LIT(h, "Status: ");
	head_put(h, code, nc);
	HEAD_LIT(h, " ");
	head_put(h, phrase, np);
	if (head_fits(h, sizeof "\r\nContent-Type: " - 1 + nt +
	              sizeof "\r\nContent-Length: " - 1 + nl + 2)) {
		HEAD_LIT(h, "\r\nContent-Type: ");
		head_put(h, content_type, nt);
	}
	HEAD_LIT(h, "\r\nContent-Length: ");
	head_put(h, len, nl);
	HEAD_LIT(h, "\r\n");
}

/*
 * Writes one complete response to req (put_answer; last: the connection
 * is closed after it) and returns how much of it went out.  A failed
 * write means the peer has gone or stopped reading; there is no one left
 * to tell but the access line, and FCGX_Finish_r drops the connection.
 */
static struct sent write_response(FCGX_Request *req, int status,
                           const struct http_header *headers, size_t n_headers,
                           const char *body, size_t body_len,
                           const char *content_type, bool last)
{
	struct head h;

	head_start(&h, status, content_type != NULL ? content_type
	                       : "application/json; charset=utf-8", body_len);
	for (size_t i = 0; i < n_headers && i < HTTP_MAX_HEADERS; i++) {
		size_t nn, nv;

		if (!header_ok(&headers[i])) {
			log_msg(LOG_ERROR, "dropped invalid response "
			        "header from handler (status %d)", status);
			continue;
		}
		nn = strlen(headers[i].name);
		nv = strlen(headers[i].value);
		if (!head_fits(&h, nn + 2 + nv + 2))
			break;
		head_put(&h, headers[i].name, nn);
		HEAD_LIT(&h, ": ");
		head_put(&h, headers[i].value, nv);
		HEAD_LIT(&h, "\r\n");
	}
	HEAD_LIT(&h, "\r\n"); /* head_fits kept room for it */
	return put_answer(req, h.p, h.used, body, body_len, last);
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

/* A request body buffer up to this size stays with the thread's request
 * struct for its next request (no malloc per POST); a larger one is freed
 * after its request. */
#define BODY_KEEP (64 * 1024)

/* How reading a request's stdin went. */
enum body_read {
	BODY_OK,     /* exactly CONTENT_LENGTH bytes, then the stream's end */
	BODY_FAILED, /* ended early, or the read failed (input_failed) */
	BODY_NOMEM,  /* no memory to buffer it */
	BODY_LONGER  /* bytes follow CONTENT_LENGTH */
};

/* Reads exactly len bytes (len <= max_body) into r's NUL-terminated body
 * buffer (grown as needed; r owns it): BODY_OK, BODY_FAILED or
 * BODY_NOMEM. */
static enum body_read read_body(FCGX_Stream *in, size_t len, struct rq *r)
{
	size_t got = 0;

	if (r->body_cap < len + 1) {
		free(r->body);
		r->body_cap = 0;
		r->body = malloc(len + 1);
		if (r->body == NULL)
			return BODY_NOMEM;
		r->body_cap = len + 1;
	}
	while (got < len) {
		size_t want = len - got;
		int n;

		if (want > INT_MAX)
			want = INT_MAX;
		n = FCGX_GetStr(r->body + got, (int)want, in);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	if (got != len)
		return BODY_FAILED;
	r->body[len] = '\0';
	return BODY_OK;
}

/* Reads the request's stdin on from the end of its body: BODY_OK when
 * the stream ends there (its empty record is read, so none is left on a
 * kept connection for libfcgi to take for the next request's first
 * record), BODY_LONGER when bytes follow, BODY_FAILED when the read
 * failed (input_failed says how).  nginx sends the empty record with the
 * body, so this reads from libfcgi's buffer; a direct client that sends
 * it later is waited for, as for the rest of its request. */
static enum body_read read_stdin_end(FCGX_Stream *in)
{
	if (FCGX_GetChar(in) != EOF)
		return BODY_LONGER;
	return FCGX_GetError(in) != 0 ? BODY_FAILED : BODY_OK;
}

/* The params the responder reads, found in one pass over the request's
 * params (params_read) rather than one FCGX_GetParam scan of all of them
 * per name (9 scans of about 25 params: 3.5% of the Runtime's CPU for a
 * GET on a kept connection). */
enum param {
	P_METHOD, P_URI, P_CONTENT_TYPE, P_CONTENT_LENGTH, P_AUTHORIZATION,
	P_ORIGIN, P_SEC_FETCH_SITE, P_REQUEST_ID, P_IDEMPOTENCY_KEY, P_COUNT
};

#define PNAME(s) { s, sizeof(s) - 1 }
static const struct {
	const char *name;
	size_t len;
} param_names[P_COUNT] = {
	[P_METHOD] = PNAME("REQUEST_METHOD"),
	[P_URI] = PNAME("REQUEST_URI"),
	[P_CONTENT_TYPE] = PNAME("CONTENT_TYPE"),
	[P_CONTENT_LENGTH] = PNAME("CONTENT_LENGTH"),
	[P_AUTHORIZATION] = PNAME("HTTP_AUTHORIZATION"),
	[P_ORIGIN] = PNAME("HTTP_ORIGIN"),
	[P_SEC_FETCH_SITE] = PNAME("HTTP_SEC_FETCH_SITE"),
	[P_REQUEST_ID] = PNAME("REQUEST_ID"),
	[P_IDEMPOTENCY_KEY] = PNAME("HTTP_IDEMPOTENCY_KEY"),
};
#undef PNAME

/*
 * Sets v[i] to the value of param i (NULL if absent), as FCGX_GetParam
 * would: each param is one string "NAME=VALUE", its name ends at the
 * first '=', and of params with the same name the first counts.  Returns
 * true if every param is well formed: a non-empty NAME followed by '='
 * (a NUL inside a name, or an empty name, leaves a string with no '='
 * after a name).
 */
static bool params_read(char **envp, const char *v[P_COUNT])
{
	bool ok = true;

	for (int i = 0; i < P_COUNT; i++)
		v[i] = NULL;
	for (; envp != NULL && *envp != NULL; envp++) {
		const char *eq = strchr(*envp, '=');
		size_t n;

		if (eq == NULL || eq == *envp) {
			ok = false;
			continue;
		}
		n = (size_t)(eq - *envp);
		for (int i = 0; i < P_COUNT; i++)
			if (n == param_names[i].len && v[i] == NULL &&
			    memcmp(*envp, param_names[i].name, n) == 0) {
				v[i] = eq + 1;
				break;
			}
	}
	return ok;
}

/* Microseconds since *t0 (CLOCK_MONOTONIC). */
static unsigned long long elapsed_us(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (unsigned long long)(t.tv_sec - t0->tv_sec) * 1000000ull +
	       (unsigned long long)((t.tv_nsec - t0->tv_nsec) / 1000);
}

/* ---- pipelining ---------------------------------------------------------- */

/* FastCGI record types and header size (the FastCGI 1.0 specification). */
#define REC_HEADER 8
#define REC_BEGIN 1
#define REC_STDIN 5
#define PEEK_MAX 16384 /* above libfcgi's 8 KiB read */

/*
 * Looks (MSG_PEEK, without blocking or consuming) at what the peer has
 * sent on fd before libfcgi reads the next request, and finds the end of
 * that request: the empty FCGI_STDIN record of the request id of the first
 * FCGI_BEGIN_REQUEST.  libfcgi reads up to 8 KiB at a time into its
 * request's input buffer and frees that buffer at FCGX_Finish_r; it
 * answers FCGI_MPXS_CONNS=0 and cannot serve a request sent before the
 * previous one's FCGI_END_REQUEST (pipelining), whose bytes it may have
 * read ahead and dropped: the peer would wait for an answer that never
 * comes on a connection that looks idle.  Returns 0 if the bytes present
 * end exactly with that request (nothing can be read ahead now), 1 if
 * more bytes follow it (pipelined: the caller closes a kept connection
 * after the answer), -1 if its end is not among them (it arrives in parts,
 * or is longer than PEEK_MAX): unknown, and the connection is kept.  Only
 * evidence closes a kept connection: nginx may already have written its
 * next request on it, which it then answers 502/503 upstream_failed
 * without retrying a POST (47 of 34,017 POSTs of 20 KB, when -1 closed
 * too).  So a pipelined request arriving while the first is read, or
 * behind one longer than PEEK_MAX, is still lost (a direct peer only;
 * nginx never pipelines).  What libfcgi read ahead is private to it, so
 * this is decided here, not from its buffer.
 */
static int peek_request_end(int fd)
{
	unsigned char b[PEEK_MAX];
	ssize_t n = recv(fd, b, sizeof b, MSG_PEEK | MSG_DONTWAIT);
	size_t off = 0;
	long id = -1;

	while (n > 0 && off + REC_HEADER <= (size_t)n) {
		unsigned type = b[off + 1];
		long rid = (long)b[off + 2] << 8 | b[off + 3];
		size_t clen = (size_t)b[off + 4] << 8 | b[off + 5];
		size_t next = off + REC_HEADER + clen + b[off + 6];

		if (type == REC_BEGIN && id < 0)
			id = rid;
		else if (type == REC_STDIN && rid == id && clen == 0)
			return next == (size_t)n ? 0 : next < (size_t)n ? 1 : -1;
		off = next;
	}
	return -1;
}

/* ---- one request -------------------------------------------------------- */

/* hr's params from req, and CONTENT_LENGTH's value in *content_length
 * (NULL if absent); the request id is checked once here (a valid
 * REQUEST_ID, else one generated into rid), so the handlers, the errors
 * answered here and the access line name the same id.  Returns false if
 * a param is malformed (params_read). */
static bool request_fill(struct http_request *hr, FCGX_Request *req,
                         char rid[REQUEST_ID_SIZE],
                         const char **content_length)
{
	const char *v[P_COUNT];
	bool ok = params_read(req->envp, v);

	memset(hr, 0, sizeof *hr);
	hr->method = v[P_METHOD];
	hr->uri = v[P_URI];
	hr->content_type = v[P_CONTENT_TYPE];
	hr->authorization = v[P_AUTHORIZATION];
	hr->origin = v[P_ORIGIN];
	hr->sec_fetch_site = v[P_SEC_FETCH_SITE];
	hr->request_id = request_id_or_new(v[P_REQUEST_ID], rid);
	hr->idempotency_key = v[P_IDEMPOTENCY_KEY];
	*content_length = v[P_CONTENT_LENGTH];
	return ok;
}

/*
 * Writes a typed error produced here rather than by the handlers, then
 * calls http_request_done for it (ctx NULL: not).  retry_after_s > 0 adds
 * Retry-After.  last: the connection is closed after it (put_answer).
 */
static void answer_own(const struct http_ctx *ctx, FCGX_Request *req,
                       const struct http_request *hr,
                       const struct timespec *t0, int status, wr_err code,
                       enum wr_reason reason, const char *message,
                       unsigned retry_after_s, bool last)
{
	/* The last resort when even encoding the error fails. */
	static const char oom_body[] =
		"{\"error\":{\"code\":\"internal\",\"message\":\"out of memory\"}}";
	struct http_response res;
	struct wr_error e;
	struct sent sent;
	char *body;
	size_t len = 0;

	memset(&e, 0, sizeof e);
	e.code = code;
	e.reason = reason;
	snprintf(e.message, sizeof e.message, "%s", message);
	memset(&res, 0, sizeof res);
	res.status = status;
	res.route = "";
	res.reason = reason;
	snprintf(res.headers[0].name, sizeof res.headers[0].name,
	         "X-Request-Id");
	snprintf(res.headers[0].value, sizeof res.headers[0].value, "%s",
	         hr->request_id != NULL ? hr->request_id : "");
	res.n_headers = 1;
	if (retry_after_s > 0) {
		snprintf(res.headers[1].name, sizeof res.headers[1].name,
		         "Retry-After");
		snprintf(res.headers[1].value, sizeof res.headers[1].value,
		         "%u", retry_after_s);
		res.n_headers = 2;
	}
	body = wr_json_encode_error_request(&e, hr->request_id, &len);
	if (body == NULL) {
		res.status = 500;
		res.n_headers = 1;
		res.reason = WR_REASON_OUT_OF_MEMORY;
		res.body = (char *)oom_body;
		res.body_len = sizeof oom_body - 1;
	} else {
		res.body = body;
		res.body_len = len;
	}
	sent = write_response(req, res.status, res.headers, res.n_headers,
	                      res.body, res.body_len, NULL, last);
	if (ctx != NULL)
		http_request_done(ctx, hr, &res, elapsed_us(t0), sent.bytes,
		                  !sent.whole);
	free(body);
}

/* True if r's connection is closed after its answer: dropped, or the
 * responder stops (no connection is kept from then on; conn_idle). */
static bool closed_after(const struct rq *r)
{
	return r->drop || dsp_stopping();
}

/* Writes what the handlers answered, logs a 5xx, http_request_done. */
static void respond(const struct http_ctx *ctx, struct rq *r,
                    struct http_response *res)
{
	struct sent sent;

	if (res->status < 100 || res->status > 599) {
		log_msg(LOG_ERROR, "handler returned status %d", res->status);
		http_response_clear(res);
		answer_own(ctx, &r->req, &r->hr, &r->t0, 500, WR_EINTERNAL,
		           WR_REASON_NONE, "the handler produced an invalid "
		           "status", 0, closed_after(r));
		return;
	}
	sent = write_response(&r->req, res->status, res->headers,
	                      res->n_headers, res->body,
	                      res->body != NULL ? res->body_len : 0,
	                      res->content_type, closed_after(r));
	if (res->status >= 500)
		log_server_error(&r->hr, res->status, res->reason);
	http_request_done(ctx, &r->hr, res, elapsed_us(&r->t0), sent.bytes,
	                  !sent.whole);
	http_response_clear(res);
}

/*
 * True if the request's input failed: the stream libfcgi reads its params
 * and stdin from reports an error because the peer closed the connection,
 * sent FCGI_ABORT_REQUEST or a record out of place (all three are
 * FCGX_PROTOCOL_ERROR to libfcgi), or sent nothing for the 10 s I/O bound
 * (EAGAIN).  Such a request is not acted on and gets no HTTP answer: no
 * one is left to read it, and it is not the client's fault.  Its access
 * line says what nginx logs for the same: 408 for the timeout, 499 (client
 * closed request) otherwise; route and reason "".  FCGX_Finish_r then ends
 * the request with an empty FCGI_STDOUT and FCGI_END_REQUEST (the answer
 * the FastCGI spec gives an aborted request) and closes the connection.
 */
static bool input_failed(const struct http_ctx *ctx, struct rq *r)
{
	int e = FCGX_GetError(r->req.in);
	struct http_response res;

	if (e == 0)
		return false;
	memset(&res, 0, sizeof res);
	res.status = e == EAGAIN ? 408 : 499; /* EWOULDBLOCK == EAGAIN */
	res.route = "";
	res.reason = WR_REASON_NONE;
	http_request_done(ctx, &r->hr, &res, elapsed_us(&r->t0), 0, false);
	r->drop = true;
	return true;
}

/* The checks before the handlers: a bad request is answered here (and its
 * connection dropped).  Returns true if the handlers are to be called:
 * then the request's stdin was read to its end, or its connection is to
 * be dropped (a body over the limit, not read). */
static bool request_ok(const struct responder_config *cfg, struct rq *r)
{
	const struct http_ctx *ctx = cfg->ctx;
	uint64_t len = 0;
	enum body_read rc;

	if (!r->params_ok) {
		r->drop = true;
		answer_own(ctx, &r->req, &r->hr, &r->t0, 400, WR_EINVALID_INPUT,
		           WR_REASON_INVALID_PARAM, "a FastCGI param name is "
		           "empty or holds a NUL byte", 0, true);
		return false;
	}
	if (r->hr.method == NULL || r->hr.method[0] == '\0' ||
	    r->hr.uri == NULL || r->hr.uri[0] == '\0') {
		r->drop = true;
		answer_own(ctx, &r->req, &r->hr, &r->t0, 400, WR_EINVALID_INPUT,
		           WR_REASON_INVALID_REQUEST, "REQUEST_METHOD and "
		           "REQUEST_URI are required", 0, true);
		return false;
	}
	if (parse_length(r->content_length, &len) != 0) {
		r->drop = true;
		answer_own(ctx, &r->req, &r->hr, &r->t0, 400, WR_EINVALID_INPUT,
		           WR_REASON_INVALID_CONTENT_LENGTH, "CONTENT_LENGTH is "
		           "not a decimal byte count", 0, true);
		return false;
	}
	if (len > cfg->max_body) {
		/* Not read at all: the handlers answer 413 with the limit. */
		r->hr.body_too_large = true;
		r->drop = true;
		return true;
	}
	rc = len > 0 ? read_body(r->req.in, (size_t)len, r) : BODY_OK;
	if (rc == BODY_OK)
		rc = read_stdin_end(r->req.in);
	if (rc == BODY_FAILED && input_failed(ctx, r))
		return false;
	if (rc != BODY_OK) {
		r->drop = true;
		if (rc == BODY_NOMEM)
			answer_own(ctx, &r->req, &r->hr, &r->t0, 500,
			           WR_EINTERNAL, WR_REASON_OUT_OF_MEMORY, "no "
			           "memory to buffer the request body", 0,
			           true);
		else
			answer_own(ctx, &r->req, &r->hr, &r->t0, 400,
			           WR_EINVALID_INPUT, WR_REASON_INVALID_BODY,
			           rc == BODY_LONGER
			                   ? "the request body is longer than "
			                     "CONTENT_LENGTH bytes"
			                   : "the request body ended before "
			                     "CONTENT_LENGTH bytes", 0, true);
		return false;
	}
	r->hr.body = len > 0 ? r->body : NULL;
	r->hr.body_len = (size_t)len;
	return true;
}

/* Ends a request: FCGX_Finish_r, then the connection goes back to the
 * dispatcher (kept, or closed by libfcgi or here when r->drop).  A
 * connection nginx did not ask to keep, whose request was read to the end
 * of its stdin, is closed here with a plain close(): libfcgi's own close
 * shuts the socket down and polls until the peer closes first (up to
 * 2 s), which only matters while the client may still be sending - a
 * close with unread input resets the connection (TCP and unix sockets
 * alike) and a client still writing gets EPIPE.  So is a connection
 * whose read failed or timed out: its peer is gone or stalled, and the
 * thread is to be free at the 10 s I/O bound.  Otherwise libfcgi closes
 * it its way. */
static void finish_rq(struct rq *r)
{
	struct conn *c = r->conn;
	bool plain, kept;

	/* Not dropped: request_ok read its stdin to the end. */
	plain = r->req.keepConnection == 0 && !r->drop;
	if (plain)
		r->req.keepConnection = 1; /* libfcgi closes on an error only */
	/* FCGX_Finish_r closes a kept connection only when a read or write
	 * failed or timed out (the peer went away or stalled), and closes
	 * any connection whose read failed: detached makes that a plain
	 * close(2), so the thread is free at the 10 s I/O bound, not after
	 * libfcgi's shutdown and poll of up to 2 s more.  FCGX_Free clears
	 * detached when it closes. */
	if (r->req.keepConnection != 0 || FCGX_GetError(r->req.in) != 0)
		r->req.detached = 1;
	FCGX_Finish_r(&r->req); /* params (r->hr) are invalid from here on */
	r->req.detached = 0; /* a drop below is libfcgi's own close */
	if (r->body_cap > BODY_KEEP) {
		free(r->body);
		r->body = NULL;
		r->body_cap = 0;
	}
	kept = r->req.ipcFd >= 0;
	if (kept && r->drop) {
		FCGX_Free(&r->req, 1); /* shutdown, drain, close */
		kept = false;
	} else if (kept && plain) {
		close(r->req.ipcFd);
		kept = false;
	}
	r->req.ipcFd = -1; /* the connection is the dispatcher's again */
	r->conn = NULL;
	r->drop = false;
	dsp_conn_release(c, kept);
}

static struct rq *rq_new(void)
{
	struct rq *r = calloc(1, sizeof *r);

	if (r == NULL)
		return NULL;
	/* No listen socket: a connection that ends before its request makes
	 * FCGX_Accept_r fail (EBADF) rather than accept another. */
	if (FCGX_InitRequest(&r->req, -1, 0) != 0) {
		free(r);
		return NULL;
	}
	return r;
}

static void rq_free(struct rq *r)
{
	if (r == NULL)
		return;
	FCGX_Free(&r->req, 0);
	free(r->body);
	free(r);
}

/* ---- parking ------------------------------------------------------------ */

/* Calls the handlers.  Returns true if the request was parked: r is then
 * the dispatcher's until it queues it back (JOB_FINISH). */
static bool handle(const struct responder_config *cfg, struct rq *r)
{
	const struct http_ctx *ctx = cfg->ctx;
	struct http_response res;

	r->hr.wake = dsp_wake;
	r->hr.wake_arg = r;
	r->hr.may_lead = dsp_thread_spare();
	dsp_rq_running(r);
	http_handle(ctx, &r->hr, &res);
	if (res.wait != NULL) {
		r->wait = res.wait;
		r->deadline_ms = http_wait_deadline_ms(res.wait);
		r->unwatched = http_wait_is_commit(res.wait);
		/* request_ok read its stdin's end record, so any byte that
		 * arrives on a parked connection ends the wait as a hangup or
		 * an abort (dispatch.c, dispatch_round). */
		if (dsp_park(r))
			return true;
		/* Woken before it was parked: answer now. */
		http_wait_finish(ctx, r->wait, &res);
		r->wait = NULL;
	}
	respond(ctx, r, &res);
	return false;
}

/* A parked request was woken, timed out or the responder stops: answer
 * it with its current page, end it and free its request struct. */
static void serve_finish(const struct http_ctx *ctx, struct rq *r)
{
	struct http_response res;

	http_wait_finish(ctx, r->wait, &res);
	r->wait = NULL;
	respond(ctx, r, &res);
	finish_rq(r);
	rq_free(r);
}

/* ---- serving threads ---------------------------------------------------- */

/* Requests a serving thread answered 503 stopping (accepted before the
 * stop, not yet served): logged with the backlog's. */
static atomic_uint stop_answered;

static const char stopping_message[] =
	"the runtime is stopping; the request was not acted on, retry later";

/* A connection with a request to read (JOB_READ).  *cur is the thread's
 * request struct (made here when NULL; left NULL when it was parked). */
static void serve_read(const struct responder_config *cfg, const struct job *j,
                       struct rq **cur)
{
	struct conn *c = j->conn;
	struct rq *r = *cur;
	bool read_ahead;

	if (r == NULL && (r = *cur = rq_new()) == NULL) {
		log_msg(LOG_ERROR, "out of memory for a request; connection "
		        "closed");
		close(dsp_conn_fd(c));
		dsp_conn_release(c, false);
		return;
	}
	r->req.ipcFd = dsp_conn_fd(c);
	r->req.keepConnection = 1; /* FCGX_Accept_r's first Finish keeps it */
	read_ahead = peek_request_end(r->req.ipcFd) > 0;
	/* If the read of the request's start fails (the peer closed, broke
	 * the protocol or stalled 10 s), libfcgi closes the connection: with
	 * detached, plainly (see finish_rq). */
	r->req.detached = 1;
	if (FCGX_Accept_r(&r->req) < 0) {
		/* libfcgi closed it (FCGX_Free) before its accept on listen
		 * socket -1 failed. */
		if (r->req.ipcFd >= 0)
			FCGX_Free(&r->req, 1);
		r->req.ipcFd = -1;
		r->req.detached = 0;
		dsp_conn_release(c, false);
		return;
	}
	r->req.detached = 0;
	r->t0 = j->t0; /* arrival, not the end of the read */
	r->conn = c;
	/* Possibly pipelined (see peek_request_end): a kept connection is
	 * closed after this answer. */
	r->drop = read_ahead && r->req.keepConnection != 0;
	r->params_ok = request_fill(&r->hr, &r->req, r->rid,
	                            &r->content_length);
	if (input_failed(cfg->ctx, r)) {
		/* Its params did not arrive whole: not answered. */
	} else if (dsp_stopping()) {
		/* Read, not acted on: safe to retry. */
		atomic_fetch_add(&stop_answered, 1);
		r->drop = true;
		answer_own(cfg->ctx, &r->req, &r->hr, &r->t0, 503,
		           WR_EUNAVAILABLE, WR_REASON_STOPPING, stopping_message,
		           cfg->ctx->retry_after_s ? cfg->ctx->retry_after_s : 1,
		           true);
	} else if (request_ok(cfg, r) && handle(cfg, r)) {
		*cur = NULL; /* parked */
		return;
	}
	finish_rq(r);
}

struct slot {
	pthread_t tid;
	const struct responder_config *cfg;
};

static void *serve(void *arg)
{
	struct slot *slot = arg;
	struct rq *cur = NULL;
	struct job j;

	while (dsp_next(&j)) {
		if (j.kind == JOB_READ)
			serve_read(slot->cfg, &j, &cur);
		else
			serve_finish(slot->cfg->ctx, j.rq);
		dsp_job_done();
	}
	rq_free(cur);
	return NULL;
}

/* ---- the listen backlog at a stop --------------------------------------- */

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

/* What a drain may still spend: each connection at most 1 s; at a
 * shutdown timeout the whole drain at most DRAIN_BUDGET_MS, so a peer
 * holding half a request cannot hold the exit. */
#define DRAIN_CONN_MS 1000
#define DRAIN_BUDGET_MS 1000

struct drain {
	bool at_timeout;
	struct timespec end; /* at_timeout: when the drain gives up */
};

/* The limit for the next connection in ms, 0: the budget is spent. */
static long drain_limit_ms(const struct drain *d)
{
	struct timespec now;
	long left;

	if (!d->at_timeout)
		return DRAIN_CONN_MS;
	clock_gettime(CLOCK_MONOTONIC, &now);
	left = (d->end.tv_sec - now.tv_sec) * 1000L +
	       (d->end.tv_nsec - now.tv_nsec) / 1000000L;
	return left <= 0 ? 0 : left < DRAIN_CONN_MS ? left : DRAIN_CONN_MS;
}

static bool drain_one(FCGX_Request *req, int fd, unsigned retry_after_s,
                      long limit_ms, bool hurry)
{
	const struct timeval io_limit = { limit_ms / 1000,
	                                  (limit_ms % 1000) * 1000 };
	struct http_request hr;
	struct timespec t0;
	char rid[REQUEST_ID_SIZE];
	const char *content_length;
	bool answered = false;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	/* A client that sends nothing cannot hold the stop. */
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &io_limit,
	                 sizeof io_limit);
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &io_limit,
	                 sizeof io_limit);
	/* libfcgi's own accept refuses after FCGX_ShutdownPending(); with
	 * ipcFd set it reads the request from that connection (keepConnection
	 * keeps its first FCGX_Finish_r from closing it; the request's own
	 * flags decide after that). */
	req->ipcFd = fd;
	req->keepConnection = 1;
	/* At a shutdown timeout every close is a plain close(): libfcgi's
	 * (also on a failed read) shuts the socket down and polls up to 2 s
	 * for a peer that may never close; detached skips that. */
	req->detached = hurry;
	if (FCGX_Accept_r(req) >= 0) {
		(void)request_fill(&hr, req, rid, &content_length);
		answer_own(atomic_load(&run_ctx), req, &hr, &t0, 503,
		           WR_EUNAVAILABLE, WR_REASON_STOPPING, stopping_message,
		           retry_after_s ? retry_after_s : 1, true);
		answered = true;
	}
	if (hurry) {
		/* At a shutdown timeout: a plain close, not libfcgi's, which
		 * waits up to 2 s for a peer that may never close. */
		req->keepConnection = 1;
		FCGX_Finish_r(req);
		if (req->ipcFd >= 0)
			close(req->ipcFd);
		req->ipcFd = -1;
		FCGX_Free(req, 0);
		return answered;
	}
	FCGX_Finish_r(req);
	FCGX_Free(req, 1);
	return answered;
}

/* Answers the jobs no serving thread took (they are stuck in requests at
 * a shutdown timeout): idle connections holding a request 503 stopping,
 * parked requests their page - but at_timeout not a parked mutation:
 * finishing it waits for its fdatasync, which may be what is stuck, so it
 * is left unanswered (the process exits; nginx answers 502, nothing was
 * acknowledged).  Returns how many connections were answered 503. */
static unsigned drain_queue(FCGX_Request *req, unsigned retry_after_s,
                            const struct drain *d)
{
	const struct http_ctx *ctx = atomic_load(&run_ctx);
	struct job j;
	unsigned n = 0;
	long limit;

	while ((limit = drain_limit_ms(d)) > 0 && dsp_take(&j)) {
		if (j.kind == JOB_FINISH) {
			/* A mutation waiting for its fdatasync: its answer
			 * may block, so at a timeout it gets none. */
			if (ctx != NULL && (!d->at_timeout ||
			                    !http_wait_is_commit(j.rq->wait)))
				serve_finish(ctx, j.rq);
			continue;
		}
		if (drain_one(req, dsp_conn_fd(j.conn), retry_after_s, limit,
		              d->at_timeout))
			n++;
		dsp_conn_release(j.conn, false); /* drain_one closed it */
	}
	return n;
}

unsigned responder_drain_backlog(int listen_fd, unsigned retry_after_s,
                                 bool at_timeout)
{
	FCGX_Request req;
	struct drain d = { .at_timeout = at_timeout };
	unsigned n = 0, tries = 0;
	long limit;
	int fl;

	clock_gettime(CLOCK_MONOTONIC, &d.end);
	d.end.tv_sec += DRAIN_BUDGET_MS / 1000;
	if (!at_timeout)
		pthread_mutex_lock(&drain_mu);
	else if (pthread_mutex_trylock(&drain_mu) != 0)
		return 0; /* the stop's own drain is stuck: do not wait on it */
	fl = fcntl(listen_fd, F_GETFL);
	if (fl < 0 || fcntl(listen_fd, F_SETFL, fl | O_NONBLOCK) < 0 ||
	    FCGX_InitRequest(&req, listen_fd, FCGI_FAIL_ACCEPT_ON_INTR) != 0) {
		pthread_mutex_unlock(&drain_mu);
		return 0;
	}
	n = drain_queue(&req, retry_after_s, &d);
	while (tries < DRAIN_MAX && (limit = drain_limit_ms(&d)) > 0) {
		int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);

		if (fd < 0 && errno == EINTR)
			continue;
		if (fd < 0)
			break; /* empty: EAGAIN, or EINVAL once shut down */
		tries++;
		if (drain_one(&req, fd, retry_after_s, limit, at_timeout))
			n++;
	}
	FCGX_Free(&req, 1);
	/* The open file description may be shared (systemd's socket). */
	(void)fcntl(listen_fd, F_SETFL, fl);
	pthread_mutex_unlock(&drain_mu);
	return n;
}

/* ---- start and stop ----------------------------------------------------- */

/* What responder_start() started; one responder per process. */
static struct slot *run_slots;
static unsigned run_started;
static pthread_t run_dispatcher;
static bool run_dispatching;

static void notify_main(void)
{
	pthread_kill(main_thread, NOTIFY_SIGNAL);
}

/* Stops accepting, answers the parked requests, waits for the requests in
 * flight and every thread, then answers the listen backlog. */
static void stop_all(const struct responder_config *cfg)
{
	unsigned i;

	FCGX_ShutdownPending();
	dsp_stop();
	/* Refuse new connections, but only on a socket of our own:
	 * shutdown() acts on the socket, not on this descriptor, and would
	 * break a systemd socket for the next start.  On a unix socket new
	 * connections are then refused while the ones already in the
	 * backlog can still be accepted (drained below); shutting a TCP
	 * listener down would reset its backlog, so it is drained first. */
	if (cfg->own_listener && !cfg->tcp)
		(void)shutdown(cfg->listen_fd, SHUT_RDWR);
	if (run_dispatching)
		pthread_join(run_dispatcher, NULL); /* closes the queue */
	else
		dsp_close_queue();
	run_dispatching = false;
	for (i = 0; i < run_started; i++)
		pthread_join(run_slots[i].tid, NULL);
	dsp_free();
	i = responder_drain_backlog(cfg->listen_fd, cfg->ctx->retry_after_s,
	                            false);
	i += atomic_exchange(&stop_answered, 0);
	if (i > 0)
		log_msg(LOG_INFO, "answered %u request(s) from the listen "
		        "backlog with 503 stopping (accepted or not, none acted "
		        "on)", i);
	if (cfg->own_listener && cfg->tcp)
		(void)shutdown(cfg->listen_fd, SHUT_RDWR);
}

static int start_threads(const struct responder_config *cfg)
{
	unsigned i;
	int e;

	for (i = 0; i < cfg->threads; i++) {
		run_slots[i].cfg = cfg;
		e = pthread_create(&run_slots[i].tid, NULL, serve, &run_slots[i]);
		if (e != 0)
			goto fail;
		/* Thread names, for ps -L, top -H and /proc: at most 15 bytes. */
		(void)pthread_setname_np(run_slots[i].tid, "wr-serve");
		run_started++;
	}
	e = pthread_create(&run_dispatcher, NULL, dsp_main, NULL);
	if (e != 0)
		goto fail;
	(void)pthread_setname_np(run_dispatcher, "wr-dispatch");
	run_dispatching = true;
	return 0;
fail:
	log_msg(LOG_ERROR, "pthread_create: %s", strerror(e));
	return -1;
}

int responder_start(const struct responder_config *cfg)
{
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
	run_dispatching = false;
	main_thread = pthread_self();
	if (dsp_init(cfg->listen_fd, cfg->threads, notify_main) < 0) {
		free(run_slots);
		run_slots = NULL;
		return -1;
	}
	atomic_store(&run_ctx, cfg->ctx);
	if (start_threads(cfg) < 0) {
		responder_abort(cfg);
		return -1;
	}
	return 0;
}

void responder_abort(const struct responder_config *cfg)
{
	if (run_slots == NULL)
		return;
	stop_all(cfg);
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
	sigdelset(&waitmask, NOTIFY_SIGNAL);
	while (stop_signal == 0 && !dsp_broken()) {
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

void responder_stats(struct http_server_stats *out)
{
	if (run_slots == NULL) {
		memset(out, 0, sizeof *out);
		return;
	}
	dsp_stats(out);
}
