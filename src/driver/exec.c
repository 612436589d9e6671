/*
 * driver/exec.c - the exec driver: one child process per worker, spoken to
 * in JSON lines over stdio (docs/worker-protocol.md).
 *
 * Each worker has one I/O thread.  It owns the child's pipes: it writes the
 * queued input, reads and decodes output, enforces the turn timeout and the
 * stop/cancel timeline, and reaps the child with waitpid() on that pid only.
 * Driver operations run under the Runtime lock, so they never block: they
 * take the worker's own mutex for a moment and poke the thread through a
 * wake-up pipe.  The thread never holds that mutex while it calls back into
 * the Runtime, so the two locks are never taken in the other order.
 *
 * Hygiene: every descriptor is O_CLOEXEC; the child runs in its own process
 * group with default signal dispositions and an empty mask (spawn.c), and
 * signals go to the whole group; the worker watchdog (watch.c) kills the
 * group if this process dies without a close.  The I/O thread blocks every
 * signal (so the embedder's handlers never run on it) and consumes the
 * SIGPIPE a write to a dead child raises, so the process-wide disposition
 * of SIGPIPE is never touched.  Output is read by bounded line readers
 * (lines.c).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "codec/json.h"
#include "core/rt.h"
#include "driver/exec.h"
#include "driver/lines.h"
#include "driver/spawn.h"
#include "store/store.h"

#define TICK_MS 100        /* poll period when the kernel has no pidfd */
#define DIAG_PER_SEC 20    /* diagnostics per worker per second, at most */
#define THREAD_STACK (512 * 1024)

enum phase {
	PHASE_RUNNING, /* serving turns */
	PHASE_CLOSING, /* stdin closed (a graceful stop: once the line being
	                * written is whole); SIGTERM when the grace ends */
	PHASE_TERMED,  /* SIGTERM sent; SIGKILL when the kill grace ends */
	PHASE_KILLED   /* SIGKILL sent; waiting to reap */
};

struct exec_worker {
	/* What the worker keeps of its profile, copied at the start: the
	 * profile itself may be freed once a reload replaced it. */
	char prof_name[WR_ID_MAX + 1];
	uint32_t stop_grace_ms, turn_timeout_ms;
	struct wr_runtime *rt;
	char id[WR_ID_MAX + 1];
	pid_t pid;
	int in_fd, out_fd, err_fd, wake_r, wake_w, pid_fd;
	pthread_t thread;

	pthread_mutex_t mu; /* guards the members up to the next comment */
	char *wbuf;         /* input lines not yet written to the child */
	size_t wlen, woff;
	bool busy;             /* a turn is in flight */
	int64_t turn_deadline; /* monotonic ms; 0: none */
	bool stop_req, cancel_req, release_req;
	bool exited;           /* the child is gone: input is refused */
	int unread_note;       /* input refused as the line is unread: 0 not
	                        * yet, 1 to report, 2 reported (per line) */
	size_t unread_bytes;   /* how much of it, at the refusal */
	bool thread_done;      /* the I/O thread made its last callback */
	int refs;              /* the I/O thread + the Runtime's state */
	pthread_cond_t done_cv;

	/* Owned by the I/O thread alone. */
	size_t line_max; /* bytes of one stdout line (wr__exec_line_max) */
	struct wr__linebuf out, err;
	int64_t diag_window;
	unsigned diag_count, diag_suppressed;
};

size_t
wr__exec_line_max(uint32_t max_input)
{
	size_t room = (size_t)max_input * 6 + WR__EXEC_LINE_SLACK;

	if (room > WR__STORE_RECORD_MAX)
		return WR__STORE_RECORD_MAX;
	return room > WR__EXEC_LINE_MIN ? room : WR__EXEC_LINE_MIN;
}

static int64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- start ------------------------------------------------------------- */

static void *exec_thread(void *arg);
static void start_failed(struct wr_runtime *rt, struct exec_worker *w,
                         const char *worker_id, wr_err rc,
                         const struct wr_error *err);
static void life_event(struct wr_runtime *rt, const char *worker_id,
                       const char *profile, enum wr_worker_event_kind kind,
                       long pid, int status, bool failed,
                       const struct wr_error *err);

static void
worker_free(struct exec_worker *w)
{
	wr__exec_close_fd(&w->in_fd);
	wr__exec_close_fd(&w->out_fd);
	wr__exec_close_fd(&w->err_fd);
	wr__exec_close_fd(&w->wake_r);
	wr__exec_close_fd(&w->wake_w);
	wr__exec_close_fd(&w->pid_fd);
	pthread_mutex_destroy(&w->mu);
	pthread_cond_destroy(&w->done_cv);
	free(w->wbuf);
	wr__linebuf_free(&w->out);
	wr__linebuf_free(&w->err);
	free(w);
}

/*
 * Starts the profile's program for worker_id (wr__exec_spawn) and its I/O
 * thread.  A program that cannot start leaves no process and no worker
 * behind: WR_EUNAVAILABLE/spawn_failed then.
 */
static wr_err
exec_start(void *arg, struct wr_runtime *rt, const char *worker_id,
           void **state, struct wr_error *err)
{
	const struct wr__exec_profile *p = arg;
	struct exec_worker *w;
	struct wr__exec_child child;
	sigset_t all, old;
	pthread_attr_t attr;
	wr_err rc = WR_OK;
	int saved, wake[2];

	w = calloc(1, sizeof(*w));
	if (w == NULL)
		return wr__oom(err);
	wr__strlcpy(w->prof_name, p->name, sizeof(w->prof_name));
	w->stop_grace_ms = p->stop_grace_ms;
	w->turn_timeout_ms = p->turn_timeout_ms;
	w->rt = rt;
	w->line_max = wr__exec_line_max(wr__runtime_limits(rt)->max_input_bytes);
	wr__strlcpy(w->id, worker_id, sizeof(w->id));
	w->pid = -1;
	w->in_fd = w->out_fd = w->err_fd = -1;
	w->wake_r = w->wake_w = w->pid_fd = -1;
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->done_cv, NULL);
	w->refs = 2;

	if (pipe2(wake, O_CLOEXEC | O_NONBLOCK) != 0) {
		rc = wr__fail(err, WR_EUNAVAILABLE, WR_REASON_SPAWN_FAILED, NULL,
		              "profile %s: pipe2: %s", p->name,
		              strerror(errno));
		goto out;
	}
	w->wake_r = wake[0];
	w->wake_w = wake[1];
	rc = wr__exec_spawn(p, worker_id, wr_runtime_id(rt), &child, err);
	if (rc != WR_OK)
		goto out;
	/* Before the I/O thread exists, so it comes before that thread's
	 * exited event. */
	life_event(rt, worker_id, p->name, WR_WORKER_SPAWNED, (long)child.pid,
	           0, false, NULL);
	w->pid = child.pid;
	w->in_fd = child.in_fd;
	w->out_fd = child.out_fd;
	w->err_fd = child.err_fd;
	w->pid_fd = child.pid_fd;

	/* The thread needs little stack; with one per worker it adds up.
	 * Detached: it ends with its child, not when the Runtime releases
	 * the worker (which may be much later); refs decide who frees. */
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, THREAD_STACK);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	saved = pthread_create(&w->thread, &attr, exec_thread, w);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&attr);
	if (saved != 0) {
		rc = wr__fail(err, WR_EUNAVAILABLE, WR_REASON_SPAWN_FAILED, NULL,
		              "profile %s: pthread_create: %s", p->name,
		              strerror(saved));
		goto out;
	}
	*state = w;
	return WR_OK;
out:
	start_failed(rt, w, worker_id, rc, err);
	return rc;
}

/*
 * exec_start failed for worker_id: a process that started but was not
 * handed over is killed and reaped (its exited event, so the children
 * alive stay right), then the spawn failure is reported with its reason,
 * and w is freed.
 */
static void
start_failed(struct wr_runtime *rt, struct exec_worker *w,
             const char *worker_id, wr_err rc, const struct wr_error *err)
{
	struct wr_error none = { .code = rc, .reason = WR_REASON_SPAWN_FAILED };
	int status = 0;
	pid_t r;

	if (w->pid > 0) {
		/* the worker must not outlive us */
		kill(-w->pid, SIGKILL);
		wr__exec_unwatch(w->pid);
		do
			r = waitpid(w->pid, &status, 0);
		while (r < 0 && errno == EINTR);
		life_event(rt, worker_id, w->prof_name, WR_WORKER_EXITED,
		           (long)w->pid, r < 0 ? -1 : status, true, NULL);
	}
	life_event(rt, worker_id, w->prof_name, WR_WORKER_SPAWN_FAILED, -1, 0,
	           false, err != NULL && err->code != WR_OK ? err : &none);
	worker_free(w);
}

/* Reports one lifecycle event of w's process: the one report that feeds
 * both the metrics and the log (wr_runtime_worker_event). */
static void
life_event(struct wr_runtime *rt, const char *worker_id, const char *profile,
           enum wr_worker_event_kind kind, long pid, int status,
           bool failed, const struct wr_error *err)
{
	struct wr_worker_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.kind = kind;
	ev.worker_id = worker_id;
	ev.profile = profile;
	ev.pid = pid;
	ev.exit_status = -1;
	ev.failed = failed;
	ev.message = "";
	if (kind == WR_WORKER_EXITED && WIFSIGNALED(status))
		ev.signal = WTERMSIG(status);
	else if (kind == WR_WORKER_EXITED && WIFEXITED(status))
		ev.exit_status = WEXITSTATUS(status);
	if (err != NULL) {
		ev.reason = err->reason;
		ev.message = err->message;
	}
	wr_runtime_worker_event(rt, &ev);
}

/* ---- operations called under the Runtime lock --------------------------- */

/* Pokes the I/O thread; caller holds w->mu.  After the thread ended the
 * pipe is closed and there is nobody to wake. */
static void
wake(struct exec_worker *w)
{
	/* EAGAIN means a wake-up is already pending: good enough. */
	if (w->wake_w >= 0 && write(w->wake_w, "x", 1) < 0 && errno != EAGAIN)
		return;
}

/* Encodes one input message plus its newline; NULL on OOM. */
static char *
encode_input(enum wr_input_kind kind, const char *content, uint64_t sequence,
             size_t *len)
{
	json_object *o = json_object_new_object();
	const char *s;
	char *line = NULL;
	size_t n;

	/* wr__json_add checks every constructor: a failed one must fail the
	 * input, never reach the worker as {"type":null,...}. */
	if (!wr__json_add(o, "type", json_object_new_string("input")) ||
	    !wr__json_add(o, "sequence", json_object_new_uint64(sequence)) ||
	    !wr__json_add(o, "kind", json_object_new_string(
	                          kind == WR_INPUT_SYSTEM ? "system"
	                                                  : "user")) ||
	    !wr__json_add(o, "content", json_object_new_string(content)))
		goto out;
	s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
	                                   JSON_C_TO_STRING_NOSLASHESCAPE);
	if (s == NULL)
		goto out;
	n = strlen(s);
	line = malloc(n + 2);
	if (line == NULL)
		goto out;
	memcpy(line, s, n);
	line[n] = '\n';
	line[n + 1] = '\0';
	*len = n + 1;
out:
	json_object_put(o); /* frees the members it took over */
	return line;
}

/*
 * Queues one input for the I/O thread and marks the turn started.  Refuses
 * with WR_EBUSY while a turn is in flight and WR_EUNSUPPORTED once the child
 * is gone or stopping; nothing changes on failure.
 */
static wr_err
exec_input(void *state, enum wr_input_kind kind, const char *content,
           uint64_t sequence, bool *turn_started, struct wr_error *err)
{
	struct exec_worker *w = state;
	char *line;
	size_t len = 0;
	wr_err rc = WR_OK;

	line = encode_input(kind, content, sequence, &len);
	if (line == NULL)
		return wr__oom(err);
	pthread_mutex_lock(&w->mu);
	if (w->exited || w->stop_req || w->release_req) {
		rc = wr__fail(err, WR_EUNSUPPORTED, WR_REASON_WORKER_EXITED, NULL,
		              "the worker process has exited or is stopping");
	} else if (w->busy) {
		rc = wr__fail(err, WR_EBUSY, WR_REASON_TURN_IN_PROGRESS, NULL, NULL);
	} else if (w->woff < w->wlen) {
		/* The worker ended its turn without reading all of its input
		 * (a worker that never reads stdin).  Queuing more would let
		 * the Runtime's memory grow without bound: busy until the
		 * worker has read it (or is stopped). */
		rc = wr__fail(err, WR_EBUSY, WR_REASON_TURN_IN_PROGRESS, NULL,
		              "the worker has not read its previous input yet; "
		              "retry later");
		/* The worker looks idle: one diagnostic per line says why
		 * its input is refused (the I/O thread makes it: the
		 * Runtime lock is held here). */
		if (w->unread_note == 0) {
			w->unread_note = 1;
			w->unread_bytes = w->wlen - w->woff;
			wake(w);
		}
	} else {
		/* Nothing is pending: take the line as is. */
		free(w->wbuf);
		w->wbuf = line;
		w->wlen = len;
		w->woff = 0;
		w->unread_note = 0;
		line = NULL;
	}
	if (rc == WR_OK) {
		w->busy = true;
		w->turn_deadline = w->turn_timeout_ms == 0 ? 0 :
		        mono_ms() + w->turn_timeout_ms;
		*turn_started = true;
		wake(w);
	} else {
		wr__fail_worker(err, rc, w->id);
	}
	pthread_mutex_unlock(&w->mu);
	free(line);
	return rc;
}

/* Starts the stop (graceful) or cancel (immediate) timeline; the I/O
 * thread does the waiting. */
static void
exec_stop(void *state, bool cancel)
{
	struct exec_worker *w = state;

	pthread_mutex_lock(&w->mu);
	w->stop_req = true;
	if (cancel)
		w->cancel_req = true;
	wake(w);
	pthread_mutex_unlock(&w->mu);
}

/* Ends the child if it still runs (as a cancel would), then blocks until it
 * is reaped and the I/O thread made its last callback; whichever of the
 * two lets go last frees the state. */
static void
exec_release(void *state)
{
	struct exec_worker *w = state;
	bool last;

	if (w == NULL)
		return;
	pthread_mutex_lock(&w->mu);
	w->release_req = true;
	wake(w);
	while (!w->thread_done)
		pthread_cond_wait(&w->done_cv, &w->mu);
	last = --w->refs == 0;
	pthread_mutex_unlock(&w->mu);
	if (last)
		worker_free(w);
}

/* ---- the I/O thread ---------------------------------------------------- */

/* A diagnostic for this worker, rate limited so a chatty child cannot
 * monopolise the Runtime lock or the diagnostics ring.  Returns false if
 * the rate limit suppressed it. */
static bool
diagnose(struct exec_worker *w, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static bool
diagnose(struct exec_worker *w, const char *fmt, ...)
{
	char msg[WR_DIAGNOSTIC_MAX];
	int64_t now = mono_ms();
	va_list ap;

	if (now - w->diag_window >= 1000) {
		if (w->diag_suppressed > 0)
			wr_runtime_diagnose(w->rt, w->id,
			                    "%u more worker diagnostics "
			                    "suppressed (rate limit)",
			                    w->diag_suppressed);
		w->diag_window = now;
		w->diag_count = 0;
		w->diag_suppressed = 0;
	}
	if (w->diag_count >= DIAG_PER_SEC) {
		w->diag_suppressed++;
		return false;
	}
	w->diag_count++;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	wr_runtime_diagnose(w->rt, w->id, "%s", msg);
	return true;
}

/* Handles one complete stdout line of the protocol (a wr__line_fn; arg is
 * the worker).  Anything malformed is a diagnostic; nothing here can end
 * the worker. */
static void
handle_out_line(void *arg, const char *line, size_t len)
{
	struct exec_worker *w = arg;
	char pv[WR__EXEC_PREVIEW_MAX + 1];
	json_object *o = NULL, *t, *c;
	const char *type;
	struct wr_error e;
	bool was_busy;
	wr_err rc;

	if (len > 0 && line[len - 1] == '\r')
		len--;
	if (len == 0)
		return;
	/* The one strict reader (codec/json.h): a line json-c would read
	 * differently (duplicate or NUL-cut member names, lone surrogates)
	 * is malformed like any other. */
	rc = wr__json_parse(line, len, WR_JSON_MAX_DEPTH, &o, &e);
	if (rc != WR_OK) {
		wr__exec_preview(pv, sizeof(pv), line, len);
		if (e.reason == WR_REASON_INVALID_JSON)
			diagnose(w, "worker stdout: not a protocol message: "
			         "%s", pv);
		else if (e.field[0] != '\0')
			diagnose(w, "worker stdout: not a protocol message "
			         "(%s at %s): %s", wr_reason_name(e.reason),
			         e.field, pv);
		else
			diagnose(w, "worker stdout: not a protocol message "
			         "(%s): %s", wr_reason_name(e.reason), pv);
		goto out;
	}
	if (o == NULL || !json_object_is_type(o, json_type_object) ||
	    !json_object_object_get_ex(o, "type", &t) ||
	    !json_object_is_type(t, json_type_string)) {
		wr__exec_preview(pv, sizeof(pv), line, len);
		diagnose(w, "worker stdout: not a protocol message: %s", pv);
		goto out;
	}
	type = json_object_get_string(t);
	if (strcmp(type, "output") == 0) {
		if (!json_object_object_get_ex(o, "content", &c) ||
		    !json_object_is_type(c, json_type_string)) {
			diagnose(w, "worker stdout: output without a string "
			         "content member");
			goto out;
		}
		if (wr__json_plain_string(c, NULL) == NULL) {
			diagnose(w, "worker stdout: output content contains "
			         "a NUL character; dropped");
			goto out;
		}
		rc = wr_worker_emit(w->rt, w->id, WR_ROLE_WORKER,
		                    json_object_get_string(c), &e);
		/* late output of an ended worker or a closing Runtime is
		 * dropped silently */
		if (rc != WR_OK && rc != WR_EUNKNOWN_WORKER &&
		    rc != WR_EUNSUPPORTED &&
		    e.reason != WR_REASON_RUNTIME_CLOSING)
			diagnose(w, "worker output rejected: %s (%s)",
			         e.message, wr_reason_name(e.reason));
	} else if (strcmp(type, "turn_end") == 0) {
		pthread_mutex_lock(&w->mu);
		was_busy = w->busy;
		w->busy = false;
		w->turn_deadline = 0;
		pthread_mutex_unlock(&w->mu);
		if (was_busy)
			wr_worker_turn_end(w->rt, w->id, NULL);
		else
			diagnose(w, "worker stdout: turn_end without a turn "
			         "in progress");
	} else {
		wr__exec_preview(pv, sizeof(pv), type, strlen(type));
		diagnose(w, "worker stdout: unknown message type \"%s\"", pv);
	}
out:
	json_object_put(o);
}

/* Reports a stderr line (its shown head pv; cut: the line was longer) as
 * the worker's own log (WR_WORKER_STDERR), not a diagnostic: a worker that
 * logs as programs do must not turn GET /v1/health "degraded" nor push the
 * Runtime's own diagnostics out of their ring. */
static void
stderr_line(struct exec_worker *w, const char *pv, bool cut)
{
	char line[WR__EXEC_PREVIEW_MAX + sizeof(" (line truncated)")];
	struct wr_worker_event ev;

	snprintf(line, sizeof(line), "%s%s", pv, cut ? " (line truncated)"
	                                             : "");
	memset(&ev, 0, sizeof(ev));
	ev.kind = WR_WORKER_STDERR;
	ev.worker_id = w->id;
	ev.profile = w->prof_name;
	ev.pid = (long)w->pid;
	ev.exit_status = -1;
	ev.message = line;
	wr_runtime_worker_event(w->rt, &ev);
}

/* Handles one complete stderr line (a wr__line_fn). */
static void
handle_err_line(void *arg, const char *line, size_t len)
{
	char pv[WR__EXEC_PREVIEW_MAX + 1];

	if (len > 0 && line[len - 1] == '\r')
		len--;
	if (len == 0)
		return;
	wr__exec_preview(pv, sizeof(pv), line, len);
	stderr_line(arg, pv, len > WR__EXEC_PREVIEW_MAX);
}

/* An over-long stdout line ended (a wr__overlong_fn): report it. */
static void
out_overlong(void *arg, size_t dropped, size_t max, const char *head)
{
	diagnose(arg, "worker stdout: line of %zu bytes dropped "
	         "(limit %zu): %s...", dropped, max, head);
}

/* An over-long stderr line ended: report its head. */
static void
err_overlong(void *arg, size_t dropped WR__UNUSED, size_t max WR__UNUSED,
             const char *head)
{
	stderr_line(arg, head, true);
}

/* Reads what *fd has into lb, whose callbacks handle the lines; closes *fd
 * at EOF or on a read error. */
static void
read_stream(struct wr__linebuf *lb, int *fd)
{
	if (!wr__linebuf_read(lb, *fd))
		wr__exec_close_fd(fd);
}

/* Writes queued input.  On EPIPE (the child closed stdin or died) the
 * queue is dropped; the exit, if any, is noticed by the main loop. */
static void
write_pending(struct exec_worker *w)
{
	ssize_t n;
	bool broken = false;
	sigset_t pipe_set;
	struct timespec zero = { 0, 0 };

	pthread_mutex_lock(&w->mu);
	while (w->woff < w->wlen) {
		n = write(w->in_fd, w->wbuf + w->woff, w->wlen - w->woff);
		if (n > 0) {
			w->woff += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno != EAGAIN)
			broken = true;
		break;
	}
	if (broken || w->woff == w->wlen) {
		/* written (or dropped): an idle worker holds no input line */
		free(w->wbuf);
		w->wbuf = NULL;
		w->woff = w->wlen = 0;
	}
	pthread_mutex_unlock(&w->mu);
	if (broken) {
		/* SIGPIPE is blocked on this thread: take it off the queue. */
		sigemptyset(&pipe_set);
		sigaddset(&pipe_set, SIGPIPE);
		while (sigtimedwait(&pipe_set, NULL, &zero) > 0)
			;
		wr__exec_close_fd(&w->in_fd);
		diagnose(w, "worker closed its stdin; pending input dropped");
	}
}

static const char *
signal_name(int sig, char *buf, size_t size)
{
	static const struct {
		int sig;
		const char *name;
	} names[] = {
		{ SIGHUP, "SIGHUP" },   { SIGINT, "SIGINT" },
		{ SIGQUIT, "SIGQUIT" }, { SIGILL, "SIGILL" },
		{ SIGTRAP, "SIGTRAP" }, { SIGABRT, "SIGABRT" },
		{ SIGBUS, "SIGBUS" },   { SIGFPE, "SIGFPE" },
		{ SIGKILL, "SIGKILL" }, { SIGUSR1, "SIGUSR1" },
		{ SIGSEGV, "SIGSEGV" }, { SIGUSR2, "SIGUSR2" },
		{ SIGPIPE, "SIGPIPE" }, { SIGALRM, "SIGALRM" },
		{ SIGTERM, "SIGTERM" }, { SIGXCPU, "SIGXCPU" },
		{ SIGXFSZ, "SIGXFSZ" }, { SIGSYS, "SIGSYS" },
	};
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (names[i].sig == sig)
			return names[i].name;
	snprintf(buf, size, "signal %d", sig);
	return buf;
}

/* Where a worker is in the stop/cancel timeline; the I/O thread's own. */
struct timeline {
	enum phase phase;
	int64_t phase_at; /* monotonic ms: the next step is due */
	int64_t began;    /* monotonic ms: the Runtime began ending it */
	bool quiet;       /* the Runtime ended the worker, or we failed it */
	bool term_first;  /* SIGTERM was the first step (a cancel, a release
	                   * without a stop, a timed-out turn), not a graceful
	                   * stop's grace running out */
	int64_t out_eof;  /* monotonic ms: its stdout reached EOF; 0: not */
	bool failed;      /* we failed it (a timed-out turn, its stdout
	                   * closed): its exit line says so */
};

/* The last step taken, for the stop log line. */
static const char *
phase_how(enum phase phase)
{
	switch (phase) {
	case PHASE_RUNNING:
		return "on its own";
	case PHASE_CLOSING:
		return "after its stdin was closed";
	case PHASE_TERMED:
		return "after SIGTERM";
	case PHASE_KILLED:
		return "after SIGKILL";
	}
	return "?";
}

/*
 * If the child has exited: collects its last output, kills what is left of
 * its process group (the exited leader still holds the group id, so the
 * signal cannot reach a recycled group), reaps it and, unless the Runtime
 * already ended the worker, reports the failure; if the Runtime ended it,
 * logs one line saying how.  Returns true then.
 */
static bool
child_gone(struct exec_worker *w, const struct timeline *tl)
{
	siginfo_t si;
	char why[128], sb[24];
	int status = 0, rounds;
	bool quiet;
	pid_t r;

	memset(&si, 0, sizeof(si));
	r = waitid(P_PID, (id_t)w->pid, &si, WEXITED | WNOHANG | WNOWAIT);
	if ((r == 0 && si.si_pid == 0) || (r < 0 && errno == EINTR))
		return false;
	/* exited (or ECHILD: the embedder ignores SIGCHLD and the kernel
	 * reaped it already) */
	for (rounds = 0; rounds < 8 && (w->out_fd >= 0 || w->err_fd >= 0);
	     rounds++) {
		if (w->out_fd >= 0)
			read_stream(&w->out, &w->out_fd);
		if (w->err_fd >= 0)
			read_stream(&w->err, &w->err_fd);
	}
	kill(-w->pid, SIGKILL);
	wr__exec_unwatch(w->pid); /* while the zombie still holds the group */
	do
		r = waitpid(w->pid, &status, 0);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		snprintf(why, sizeof(why), "worker process exited "
		         "(status unknown: %s)", strerror(errno));
	else if (WIFSIGNALED(status))
		snprintf(why, sizeof(why), "worker process killed by %s",
		         signal_name(WTERMSIG(status), sb, sizeof(sb)));
	else
		snprintf(why, sizeof(why), "worker process exited with "
		         "status %d", WEXITSTATUS(status));
	pthread_mutex_lock(&w->mu);
	w->exited = true;
	w->busy = false;
	w->woff = w->wlen = 0;
	quiet = tl->quiet || w->stop_req || w->release_req;
	pthread_mutex_unlock(&w->mu);
	/* "marked failed" (a warn line) also when we failed it ourselves:
	 * a timed-out turn or a closed stdout is no diagnostic, so this line
	 * is the only one that tells the operator. */
	life_event(w->rt, w->id, w->prof_name, WR_WORKER_EXITED, (long)w->pid,
	           r < 0 ? -1 : status, !quiet || tl->failed, NULL);
	if (!quiet)
		wr_worker_fail(w->rt, w->id, why, NULL);
	else if (tl->phase == PHASE_KILLED ||
	         (tl->phase == PHASE_TERMED && !tl->term_first))
		/* A worker that exits once its stdin is closed stopped as it
		 * should, and so did one that a cancel (or a timed-out turn)
		 * ended with its SIGTERM: the lifecycle event says so, it is
		 * no diagnostic (one would make GET /v1/health "degraded"
		 * and diagnostics_total rise on every stop or cancel).  One
		 * that outlived a stop's grace or needed SIGKILL is. */
		diagnose(w, "stopped: %s %s, %lld ms after the stop began",
		         why, phase_how(tl->phase),
		         (long long)(mono_ms() - tl->began));
	return true;
}

static void
signal_group(struct exec_worker *w, int sig)
{
	kill(-w->pid, sig);
}

/* Leaves PHASE_RUNNING: the next step is due at `at`. */
static void
begin_ending(struct timeline *tl, int64_t now, int64_t at)
{
	tl->quiet = true;
	tl->phase = PHASE_CLOSING;
	tl->phase_at = at;
	tl->began = now;
}

/* Fails the worker (why: its runtime transcript entry) and ends its
 * process at once, as a cancel does: SIGTERM right away. */
static void
fail_and_end(struct exec_worker *w, struct timeline *tl, int64_t now,
             const char *why)
{
	wr_worker_fail(w->rt, w->id, why, NULL);
	begin_ending(tl, now, now);
	tl->failed = true;
}

/* True while a graceful stop waits out its grace: stdin stays open until
 * the input line being written is whole. */
static bool
graceful(const struct timeline *tl, bool stop_req, bool cancel_req)
{
	return tl->phase == PHASE_CLOSING && stop_req && !cancel_req;
}

/*
 * Takes the steps of the stop/cancel timeline that are due: a graceful
 * stop closes stdin once the input line being written (pending) is whole,
 * so that the worker never reads half a line, and waits the profile's
 * stop grace; a cancel, a release without a stop, or a timed-out turn go
 * to SIGTERM at once (what is left of a line is dropped); SIGKILL follows
 * WR__EXEC_KILL_GRACE_MS after SIGTERM.  Signals go to the whole process
 * group.
 */
static void
advance_timeline(struct exec_worker *w, struct timeline *tl, int64_t now,
                 bool stop_req, bool cancel_req, bool release_req,
                 int64_t turn_at, bool pending)
{
	char why[96];

	if (tl->phase == PHASE_RUNNING && stop_req && !cancel_req)
		begin_ending(tl, now, now + w->stop_grace_ms);
	if (graceful(tl, stop_req, cancel_req) && !pending)
		wr__exec_close_fd(&w->in_fd);
	/* A release after a graceful stop lets that stop run its course
	 * (wr_runtime_close asks every execution to stop, then releases
	 * each). */
	if ((tl->phase == PHASE_RUNNING || tl->phase == PHASE_CLOSING) &&
	    (cancel_req || (release_req && !stop_req))) {
		if (tl->phase == PHASE_RUNNING)
			begin_ending(tl, now, now);
		tl->phase_at = now; /* SIGTERM right below */
	}
	if (tl->phase == PHASE_RUNNING && turn_at != 0 && now >= turn_at) {
		snprintf(why, sizeof(why), "turn timed out after %u ms",
		         w->turn_timeout_ms);
		fail_and_end(w, tl, now, why);
	}
	if (tl->phase == PHASE_RUNNING && tl->out_eof != 0 &&
	    now - tl->out_eof >= WR__EXEC_STDOUT_EOF_GRACE_MS) {
		/* Else it would stay busy (or idle) for ever: every input
		 * refused with a Retry-After, or never answered. */
		fail_and_end(w, tl, now, "worker process closed its stdout "
		             "and went on running");
	}
	if (tl->phase == PHASE_CLOSING && now >= tl->phase_at) {
		/* A grace of 0 is a profile's choice of SIGTERM as the
		 * first step of every stop, as a cancel's: no diagnostic
		 * (one on every stop would keep GET /v1/health
		 * "degraded"). */
		bool outlived = graceful(tl, stop_req, cancel_req) &&
		                w->stop_grace_ms > 0;

		if (outlived)
			diagnose(w, "worker process still running %u ms "
			         "after the stop began%s; sending SIGTERM",
			         w->stop_grace_ms, w->in_fd >= 0 ?
			         " (it had not read all of its last input "
			         "line)" : "");
		tl->term_first = !outlived;
		/* SIGTERM first: once kill(2) returned it is pending, so the
		 * worker runs its handler before it can see the EOF of the
		 * close below (the other order let it see EOF first). */
		signal_group(w, SIGTERM);
		if (stop_req) /* what is left of a line is dropped (also
		               * when a cancel cut the grace short) */
			wr__exec_close_fd(&w->in_fd);
		tl->phase = PHASE_TERMED;
		tl->phase_at = now + WR__EXEC_KILL_GRACE_MS;
	}
	if (tl->phase == PHASE_TERMED && now >= tl->phase_at) {
		diagnose(w, "worker process still running %u ms after "
		         "SIGTERM; sending SIGKILL", WR__EXEC_KILL_GRACE_MS);
		signal_group(w, SIGKILL);
		tl->phase = PHASE_KILLED;
		life_event(w->rt, w->id, w->prof_name, WR_WORKER_KILLED,
		           (long)w->pid, 0, false, NULL);
	}
}

/* Services the descriptors poll() reported: stdin first, so that the
 * rest of an input line the pipe has room for is written before a
 * turn_end read in the same round ends the turn (exec_input refuses
 * input while part of the last line is unwritten). */
static void
handle_events(struct exec_worker *w, const struct pollfd *pf, int npf,
              bool want_write)
{
	char drain[64];
	int i;

	for (i = 0; i < npf; i++)
		if (pf[i].revents != 0 && pf[i].fd == w->in_fd && want_write)
			write_pending(w);
	for (i = 0; i < npf; i++) {
		if (pf[i].revents == 0)
			continue;
		if (pf[i].fd == w->wake_r) {
			while (read(w->wake_r, drain, sizeof(drain)) > 0)
				;
		} else if (pf[i].fd == w->out_fd) {
			read_stream(&w->out, &w->out_fd);
		} else if (pf[i].fd == w->err_fd) {
			read_stream(&w->err, &w->err_fd);
		}
	}
}

/* How long poll() may wait: until the next timeline step or turn
 * deadline, at most TICK_MS without a pidfd; -1 for ever. */
static int
poll_timeout(const struct exec_worker *w, const struct timeline *tl,
             int64_t now, int64_t turn_at)
{
	int64_t wait_ms = -1;

	if (tl->phase == PHASE_CLOSING || tl->phase == PHASE_TERMED)
		wait_ms = tl->phase_at - now;
	if (tl->phase == PHASE_RUNNING && turn_at != 0 &&
	    (wait_ms < 0 || turn_at - now < wait_ms))
		wait_ms = turn_at - now;
	if (tl->phase == PHASE_RUNNING && tl->out_eof != 0 &&
	    (wait_ms < 0 ||
	     tl->out_eof + WR__EXEC_STDOUT_EOF_GRACE_MS - now < wait_ms))
		wait_ms = tl->out_eof + WR__EXEC_STDOUT_EOF_GRACE_MS - now;
	if (w->pid_fd < 0 && (wait_ms < 0 || wait_ms > TICK_MS))
		wait_ms = TICK_MS;
	if (wait_ms < 0)
		return -1;
	return wait_ms > 60000 ? 60000 : (int)wait_ms + 1;
}

/* The thread's last act: drops descriptors and buffers, tells release. */
static void
thread_finish(struct exec_worker *w)
{
	bool last;

	/* An ended worker holds no descriptor and no buffer until release
	 * (the Runtime may keep it for a long time). */
	pthread_mutex_lock(&w->mu);
	wr__exec_close_fd(&w->in_fd);
	wr__exec_close_fd(&w->out_fd);
	wr__exec_close_fd(&w->err_fd);
	wr__exec_close_fd(&w->pid_fd);
	wr__exec_close_fd(&w->wake_r);
	wr__exec_close_fd(&w->wake_w);
	wr__linebuf_free(&w->out);
	wr__linebuf_free(&w->err);
	free(w->wbuf);
	w->wbuf = NULL;
	w->woff = w->wlen = 0;
	w->thread_done = true;
	pthread_cond_broadcast(&w->done_cv);
	last = --w->refs == 0;
	pthread_mutex_unlock(&w->mu);
	if (last)
		worker_free(w);
}

/* The diagnostic of an input exec_input refused because unread bytes of
 * the last line are still unwritten (it runs under the Runtime lock, so
 * it leaves this to the I/O thread).  One per line: if the rate limit
 * swallowed it, the next refusal of that line tries again. */
static void
report_unread(struct exec_worker *w, size_t unread)
{
	if (diagnose(w, "input refused (busy): the worker ended its turn "
	             "without reading its last input line (%zu bytes of it "
	             "still unread); a worker must read every input line",
	             unread))
		return;
	pthread_mutex_lock(&w->mu);
	if (w->unread_note == 2) /* not a new line meanwhile */
		w->unread_note = 0;
	pthread_mutex_unlock(&w->mu);
}

static void *
exec_thread(void *arg)
{
	struct exec_worker *w = arg;
	struct timeline tl = { PHASE_RUNNING, 0, 0, false, false, 0, false };
	int64_t now, turn_at;
	bool stop_req, cancel_req, release_req, want_write, note;
	size_t unread = 0;
	struct pollfd pf[5];
	int npf;

	wr__linebuf_init(&w->out, w->line_max, handle_out_line,
	                 out_overlong, w);
	wr__linebuf_init(&w->err, WR__EXEC_ERRLINE_MAX, handle_err_line,
	                 err_overlong, w);
	for (;;) {
		pthread_mutex_lock(&w->mu);
		stop_req = w->stop_req;
		cancel_req = w->cancel_req;
		release_req = w->release_req;
		want_write = w->woff < w->wlen && w->in_fd >= 0;
		turn_at = w->busy ? w->turn_deadline : 0;
		if ((note = w->unread_note == 1)) {
			w->unread_note = 2;
			unread = w->unread_bytes;
		}
		pthread_mutex_unlock(&w->mu);
		now = mono_ms();
		if (note)
			report_unread(w, unread);

		advance_timeline(w, &tl, now, stop_req, cancel_req,
		                 release_req, turn_at, want_write);
		if (tl.phase != PHASE_RUNNING &&
		    !graceful(&tl, stop_req, cancel_req))
			want_write = false;
		want_write = want_write && w->in_fd >= 0;
		if (child_gone(w, &tl))
			break;

		npf = 0;
		pf[npf++] = (struct pollfd){ w->wake_r, POLLIN, 0 };
		if (w->out_fd >= 0)
			pf[npf++] = (struct pollfd){ w->out_fd, POLLIN, 0 };
		if (w->err_fd >= 0)
			pf[npf++] = (struct pollfd){ w->err_fd, POLLIN, 0 };
		if (want_write)
			pf[npf++] = (struct pollfd){ w->in_fd, POLLOUT, 0 };
		if (w->pid_fd >= 0)
			pf[npf++] = (struct pollfd){ w->pid_fd, POLLIN, 0 };
		if (poll(pf, (nfds_t)npf, poll_timeout(w, &tl, now, turn_at))
		    < 0) {
			if (errno != EINTR) /* cannot happen with valid fds */
				poll(NULL, 0, TICK_MS); /* no hot loop */
			continue;
		}
		handle_events(w, pf, npf, want_write);
		if (w->out_fd < 0 && tl.out_eof == 0)
			tl.out_eof = mono_ms();
	}
	thread_finish(w);
	return NULL;
}

static const struct wr_driver exec_driver = {
	.name = "exec",
	.start = exec_start,
	.input = exec_input,
	.stop = exec_stop,
	.release = exec_release,
	.release_waits = true, /* a process in its stop grace */
};

const struct wr_driver *
wr__driver_exec(void)
{
	return &exec_driver;
}

uint32_t
wr_profiles_stop_bound_ms(const struct wr_profile *profiles, size_t n)
{
	const struct wr__exec_profile *p;
	uint32_t max = 0;
	size_t i;
	bool any = false;

	for (i = 0; i < n; i++) {
		if (profiles[i].driver != &exec_driver)
			continue;
		p = profiles[i].driver_arg;
		any = true;
		if (p->stop_grace_ms > max)
			max = p->stop_grace_ms;
	}
	return any ? max + WR__EXEC_KILL_GRACE_MS : 0;
}
