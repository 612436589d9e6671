/*
 * driver_exec.c - the exec driver: one child process per worker, spoken to
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
 * group with default signal dispositions and an empty mask, and signals go
 * to the whole group.  The I/O thread blocks every signal (so the embedder's
 * handlers never run on it) and consumes the SIGPIPE a write to a dead child
 * raises, so the process-wide disposition of SIGPIPE is never touched.
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
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <json.h>

#include "driver_exec.h"

extern char **environ;

#define TICK_MS 100        /* poll period when the kernel has no pidfd */
#define PREVIEW_MAX 160    /* bytes of a bad line quoted in a diagnostic */
#define DIAG_PER_SEC 20    /* diagnostics per worker per second, at most */
#define THREAD_STACK (512 * 1024)

enum phase {
	PHASE_RUNNING, /* serving turns */
	PHASE_CLOSING, /* stdin closed; SIGTERM when the stop grace ends */
	PHASE_TERMED,  /* SIGTERM sent; SIGKILL when the kill grace ends */
	PHASE_KILLED   /* SIGKILL sent; waiting to reap */
};

/* A line reader with a hard bound: longer lines are dropped and counted. */
struct linebuf {
	char *buf;
	size_t len, cap, max;
	bool discarding; /* inside a line longer than max */
	size_t dropped;  /* bytes of that line seen so far */
	char head[PREVIEW_MAX + 1]; /* its first bytes, printable */
};

struct exec_worker {
	const struct wr__exec_profile *prof;
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
	bool thread_done;      /* the I/O thread made its last callback */
	int refs;              /* the I/O thread + the Runtime's state */
	pthread_cond_t done_cv;

	/* Owned by the I/O thread alone. */
	struct linebuf out, err;
	int64_t diag_window;
	unsigned diag_count, diag_suppressed;
};

static int64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
close_fd(int *fd)
{
	if (*fd >= 0) {
		close(*fd);
		*fd = -1;
	}
}

/* ---- the child side of fork() ------------------------------------------ */

/* Everything the child needs, prepared before fork(): after it only
 * async-signal-safe calls are made (the parent may have other threads). */
struct spawn {
	char *const *argv;
	char *const *envp;
	const char *cwd;
	int fds[4]; /* stdin, stdout, stderr of the child; error report */
};

/* Why exec failed, written by the child to the report pipe. */
struct spawn_report {
	int step; /* SPAWN_STEP_* */
	int err;  /* errno */
};

enum { SPAWN_STEP_FDS = 1, SPAWN_STEP_CWD, SPAWN_STEP_EXEC };

static void __attribute__((noreturn))
child_exec(struct spawn *sp)
{
	struct spawn_report rep = { SPAWN_STEP_FDS, 0 };
	struct sigaction sa;
	sigset_t none;
	int i, fd;

	setpgid(0, 0);
	/* exec keeps ignored signals ignored; the worker must get defaults. */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	sigemptyset(&sa.sa_mask);
	for (i = 1; i < NSIG; i++)
		sigaction(i, &sa, NULL); /* fails harmlessly for KILL, STOP */
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	/* Lift every fd above 2 first, so the dup2() below cannot clobber
	 * one that happens to be 0..2 (a parent that closed its stdio). */
	for (i = 0; i < 4; i++) {
		fd = fcntl(sp->fds[i], F_DUPFD_CLOEXEC, 3);
		if (fd < 0)
			goto fail;
		sp->fds[i] = fd;
	}
	for (i = 0; i < 3; i++)
		if (dup2(sp->fds[i], i) < 0)
			goto fail;
#ifdef CLOSE_RANGE_CLOEXEC
	/* Descriptors the embedder opened without O_CLOEXEC stay out too. */
	close_range(3, ~0u, CLOSE_RANGE_CLOEXEC);
#endif
	rep.step = SPAWN_STEP_CWD;
	if (sp->cwd != NULL && chdir(sp->cwd) != 0)
		goto fail;
	rep.step = SPAWN_STEP_EXEC;
	execve(sp->argv[0], sp->argv, sp->envp);
fail:
	rep.err = errno;
	if (write(sp->fds[3], &rep, sizeof(rep)) < 0)
		_exit(126);
	_exit(127);
}

/* ---- start ------------------------------------------------------------- */

static bool
env_key_is(const char *entry, const char *key)
{
	size_t n = strlen(key);

	return strncmp(entry, key, n) == 0 && entry[n] == '=';
}

static bool
env_overridden(const struct wr__exec_profile *p, const char *entry)
{
	const char *eq = strchr(entry, '=');
	size_t klen = eq != NULL ? (size_t)(eq - entry) : strlen(entry);
	size_t i;

	if (env_key_is(entry, "WORKER_ID") || env_key_is(entry, "RUNTIME_ID"))
		return true;
	for (i = 0; i < p->n_env; i++)
		if (strncmp(p->env[i], entry, klen) == 0 &&
		    p->env[i][klen] == '=')
			return true;
	return false;
}

/*
 * Builds the child's environment: the Runtime process's environment, then
 * the profile's overrides, then WORKER_ID and RUNTIME_ID (which nothing
 * overrides).  The array borrows environ's strings and owns *wid and *rid.
 * Returns NULL on OOM.
 */
static char **
build_env(const struct wr__exec_profile *p, const char *worker_id,
          const char *runtime_id, char **wid, char **rid)
{
	size_t n = 0, i, k = 0;
	char **envp;

	for (i = 0; environ != NULL && environ[i] != NULL; i++)
		n++;
	envp = calloc(n + p->n_env + 3, sizeof(*envp));
	*wid = malloc(strlen(worker_id) + sizeof("WORKER_ID="));
	*rid = malloc(strlen(runtime_id) + sizeof("RUNTIME_ID="));
	if (envp == NULL || *wid == NULL || *rid == NULL) {
		free(envp);
		free(*wid);
		free(*rid);
		*wid = *rid = NULL;
		return NULL;
	}
	sprintf(*wid, "WORKER_ID=%s", worker_id);
	sprintf(*rid, "RUNTIME_ID=%s", runtime_id);
	for (i = 0; i < n; i++)
		if (!env_overridden(p, environ[i]))
			envp[k++] = environ[i];
	for (i = 0; i < p->n_env; i++)
		envp[k++] = p->env[i];
	envp[k++] = *wid;
	envp[k++] = *rid;
	envp[k] = NULL;
	return envp;
}

static void *exec_thread(void *arg);

static void
worker_free(struct exec_worker *w)
{
	close_fd(&w->in_fd);
	close_fd(&w->out_fd);
	close_fd(&w->err_fd);
	close_fd(&w->wake_r);
	close_fd(&w->wake_w);
	close_fd(&w->pid_fd);
	pthread_mutex_destroy(&w->mu);
	pthread_cond_destroy(&w->done_cv);
	free(w->wbuf);
	free(w->out.buf);
	free(w->err.buf);
	free(w);
}

/* Reports a failed spawn as WR_EUNAVAILABLE / spawn_failed. */
static wr_err
spawn_error(struct wr_error *err, const struct wr__exec_profile *p,
            const struct spawn_report *rep)
{
	const char *what = strerror(rep->err);

	if (rep->step == SPAWN_STEP_CWD)
		return wr__fail(err, WR_EUNAVAILABLE, "spawn_failed", NULL,
		                "profile %s: cannot enter working directory "
		                "%s: %s", p->name, p->cwd, what);
	if (rep->step == SPAWN_STEP_EXEC)
		return wr__fail(err, WR_EUNAVAILABLE, "spawn_failed", NULL,
		                "profile %s: cannot execute %s: %s", p->name,
		                p->argv[0], what);
	return wr__fail(err, WR_EUNAVAILABLE, "spawn_failed", NULL,
	                "profile %s: cannot set up the worker's stdio: %s",
	                p->name, what);
}

static int
set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	return fl < 0 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

/*
 * Starts the profile's program for worker_id.  Waits only until the child
 * has exec'd (or failed to): the exec error comes back through an
 * O_CLOEXEC pipe, so a program that cannot start leaves no process and no
 * worker behind.  Returns WR_EUNAVAILABLE/spawn_failed then.
 */
static wr_err
exec_start(void *arg, struct wr_runtime *rt, const char *worker_id,
           void **state, struct wr_error *err)
{
	const struct wr__exec_profile *p = arg;
	struct exec_worker *w;
	struct spawn sp;
	struct spawn_report rep;
	int in[2] = { -1, -1 }, out[2] = { -1, -1 }, errp[2] = { -1, -1 };
	int report[2] = { -1, -1 };
	char **envp = NULL, *wid = NULL, *rid = NULL;
	sigset_t all, old;
	pthread_attr_t attr;
	ssize_t n;
	wr_err rc = WR_OK;
	int saved;

	w = calloc(1, sizeof(*w));
	if (w == NULL)
		return wr__fail(err, WR_EINTERNAL, "out_of_memory", NULL, NULL);
	w->prof = p;
	w->rt = rt;
	wr__strlcpy(w->id, worker_id, sizeof(w->id));
	w->pid = -1;
	w->in_fd = w->out_fd = w->err_fd = -1;
	w->wake_r = w->wake_w = w->pid_fd = -1;
	w->out.max = WR__EXEC_LINE_MAX;
	w->err.max = WR__EXEC_ERRLINE_MAX;
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->done_cv, NULL);
	w->refs = 2;

	envp = build_env(p, worker_id, wr_runtime_id(rt), &wid, &rid);
	if (envp == NULL) {
		rc = wr__fail(err, WR_EINTERNAL, "out_of_memory", NULL, NULL);
		goto out;
	}
	if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0 ||
	    pipe2(errp, O_CLOEXEC) != 0 || pipe2(report, O_CLOEXEC) != 0) {
		rc = wr__fail(err, WR_EUNAVAILABLE, "spawn_failed", NULL,
		              "profile %s: pipe2: %s", p->name,
		              strerror(errno));
		goto out;
	}
	{
		int wake[2];

		if (pipe2(wake, O_CLOEXEC | O_NONBLOCK) != 0) {
			rc = wr__fail(err, WR_EUNAVAILABLE, "spawn_failed",
			              NULL, "profile %s: pipe2: %s", p->name,
			              strerror(errno));
			goto out;
		}
		w->wake_r = wake[0];
		w->wake_w = wake[1];
	}

	sp.argv = p->argv;
	sp.envp = envp;
	sp.cwd = p->cwd;
	sp.fds[0] = in[0];
	sp.fds[1] = out[1];
	sp.fds[2] = errp[1];
	sp.fds[3] = report[1];
	w->pid = fork();
	if (w->pid < 0) {
		rc = wr__fail(err, WR_EUNAVAILABLE, "spawn_failed", NULL,
		              "profile %s: fork: %s", p->name, strerror(errno));
		goto out;
	}
	if (w->pid == 0)
		child_exec(&sp);
	/* Also from this side, so the group exists when start returns. */
	setpgid(w->pid, w->pid);
	close_fd(&in[0]);
	close_fd(&out[1]);
	close_fd(&errp[1]);
	close_fd(&report[1]);
	do
		n = read(report[0], &rep, sizeof(rep));
	while (n < 0 && errno == EINTR);
	if (n != 0) {
		/* exec failed (or the report is unreadable): reap, no worker */
		if (n != (ssize_t)sizeof(rep)) {
			rep.step = SPAWN_STEP_EXEC;
			rep.err = n < 0 ? errno : EIO;
		}
		while (waitpid(w->pid, NULL, 0) < 0 && errno == EINTR)
			;
		w->pid = -1;
		rc = spawn_error(err, p, &rep);
		goto out;
	}
	w->in_fd = in[1];
	w->out_fd = out[0];
	w->err_fd = errp[0];
	in[1] = out[0] = errp[0] = -1;
	if (set_nonblock(w->in_fd) != 0 || set_nonblock(w->out_fd) != 0 ||
	    set_nonblock(w->err_fd) != 0) {
		rc = wr__fail(err, WR_EUNAVAILABLE, "spawn_failed", NULL,
		              "profile %s: fcntl: %s", p->name, strerror(errno));
		goto out;
	}
#ifdef SYS_pidfd_open
	/* Lets poll() see the child's exit; without it we tick. */
	w->pid_fd = (int)syscall(SYS_pidfd_open, w->pid, 0);
	if (w->pid_fd >= 0)
		fcntl(w->pid_fd, F_SETFD, FD_CLOEXEC);
#endif

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
		rc = wr__fail(err, WR_EUNAVAILABLE, "spawn_failed", NULL,
		              "profile %s: pthread_create: %s", p->name,
		              strerror(saved));
		goto out;
	}
	*state = w;
	w = NULL;
out:
	if (w != NULL && w->pid > 0) {
		/* started but not handed over: the worker must not outlive us */
		kill(-w->pid, SIGKILL);
		while (waitpid(w->pid, NULL, 0) < 0 && errno == EINTR)
			;
	}
	if (w != NULL)
		worker_free(w);
	close_fd(&in[0]);
	close_fd(&in[1]);
	close_fd(&out[0]);
	close_fd(&out[1]);
	close_fd(&errp[0]);
	close_fd(&errp[1]);
	close_fd(&report[0]);
	close_fd(&report[1]);
	free(envp);
	free(wid);
	free(rid);
	return rc;
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

	if (o == NULL)
		return NULL;
	if (json_object_object_add(o, "type",
	                           json_object_new_string("input")) != 0 ||
	    json_object_object_add(o, "sequence",
	                           json_object_new_uint64(sequence)) != 0 ||
	    json_object_object_add(o, "kind", json_object_new_string(
	                               kind == WR_INPUT_SYSTEM ? "system"
	                                                       : "user")) != 0 ||
	    json_object_object_add(o, "content",
	                           json_object_new_string(content)) != 0)
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
	char *line, *nb;
	size_t len = 0;
	wr_err rc = WR_OK;

	line = encode_input(kind, content, sequence, &len);
	if (line == NULL)
		return wr__fail(err, WR_EINTERNAL, "out_of_memory", NULL, NULL);
	pthread_mutex_lock(&w->mu);
	if (w->exited || w->stop_req || w->release_req) {
		rc = wr__fail(err, WR_EUNSUPPORTED, "worker_exited", NULL,
		              "the worker process has exited or is stopping");
	} else if (w->busy) {
		rc = wr__fail(err, WR_EBUSY, "turn_in_progress", NULL, NULL);
	} else if (w->wlen == w->woff) {
		/* Not busy, so nothing is pending: take the line as is. */
		free(w->wbuf);
		w->wbuf = line;
		w->wlen = len;
		w->woff = 0;
		line = NULL;
	} else {
		nb = realloc(w->wbuf, w->wlen + len);
		if (nb == NULL) {
			rc = wr__fail(err, WR_EINTERNAL, "out_of_memory", NULL,
			              NULL);
		} else {
			memcpy(nb + w->wlen, line, len);
			w->wbuf = nb;
			w->wlen += len;
		}
	}
	if (rc == WR_OK) {
		w->busy = true;
		w->turn_deadline = w->prof->turn_timeout_ms == 0 ? 0 :
		        mono_ms() + w->prof->turn_timeout_ms;
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

/* Copies up to PREVIEW_MAX bytes of s into dst as printable text: control
 * bytes become '?', and so do non-ASCII bytes unless s is valid UTF-8
 * (then the cut is moved back to a character boundary). */
static void
preview(char *dst, size_t dstsize, const char *s, size_t len)
{
	bool utf8;
	size_t i, n = len;

	if (n > dstsize - 1)
		n = dstsize - 1;
	if (n > PREVIEW_MAX)
		n = PREVIEW_MAX;
	utf8 = wr__utf8_valid(s, len);
	if (utf8)
		while (n > 0 && n < len && ((unsigned char)s[n] & 0xc0) == 0x80)
			n--;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		dst[i] = (c < 0x20 || c == 0x7f || (c >= 0x80 && !utf8)) ?
		         '?' : (char)c;
	}
	dst[n] = '\0';
}

/* A diagnostic for this worker, rate limited so a chatty child cannot
 * monopolise the Runtime lock or the diagnostics ring. */
static void
diagnose(struct exec_worker *w, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void
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
		return;
	}
	w->diag_count++;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	wr_runtime_diagnose(w->rt, w->id, "%s", msg);
}

/* Handles one complete stdout line of the protocol.  Anything malformed
 * is a diagnostic; nothing here can end the worker. */
static void
handle_out_line(struct exec_worker *w, const char *line, size_t len)
{
	char pv[PREVIEW_MAX + 1];
	struct json_tokener *tok;
	json_object *o = NULL, *t, *c;
	const char *type;
	struct wr_error e;
	bool was_busy;
	wr_err rc;

	if (len > 0 && line[len - 1] == '\r')
		len--;
	if (len == 0)
		return;
	tok = json_tokener_new_ex(WR_JSON_MAX_DEPTH);
	if (tok != NULL) {
		o = json_tokener_parse_ex(tok, line, (int)len);
		if (o != NULL && json_tokener_get_parse_end(tok) < len &&
		    strspn(line + json_tokener_get_parse_end(tok), " \t") !=
		            len - json_tokener_get_parse_end(tok)) {
			json_object_put(o); /* trailing garbage */
			o = NULL;
		}
		json_tokener_free(tok);
	}
	if (o == NULL || !json_object_is_type(o, json_type_object) ||
	    !json_object_object_get_ex(o, "type", &t) ||
	    !json_object_is_type(t, json_type_string)) {
		preview(pv, sizeof(pv), line, len);
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
		if ((size_t)json_object_get_string_len(c) !=
		    strlen(json_object_get_string(c))) {
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
		    strcmp(e.reason, "runtime_closing") != 0)
			diagnose(w, "worker output rejected: %s (%s)",
			         e.message, e.reason);
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
		preview(pv, sizeof(pv), type, strlen(type));
		diagnose(w, "worker stdout: unknown message type \"%s\"", pv);
	}
out:
	json_object_put(o);
}

static void
handle_err_line(struct exec_worker *w, const char *line, size_t len)
{
	char pv[PREVIEW_MAX + 1];

	if (len > 0 && line[len - 1] == '\r')
		len--;
	if (len == 0)
		return;
	preview(pv, sizeof(pv), line, len);
	if (len > PREVIEW_MAX)
		diagnose(w, "worker stderr: %s... (line truncated)", pv);
	else
		diagnose(w, "worker stderr: %s", pv);
}

static void
handle_line(struct exec_worker *w, struct linebuf *lb, const char *line,
            size_t len)
{
	if (lb == &w->out)
		handle_out_line(w, line, len);
	else
		handle_err_line(w, line, len);
}

/* The buffer filled up without a newline: keep a preview of the line's
 * head and drop the rest of it as it arrives. */
static void
overlong_begin(struct linebuf *lb)
{
	preview(lb->head, sizeof(lb->head), lb->buf, lb->len);
	lb->discarding = true;
	lb->dropped = lb->len;
	lb->len = 0;
}

/* The over-long line ended (or the stream did): report it once. */
static void
overlong_done(struct exec_worker *w, struct linebuf *lb)
{
	if (lb == &w->out)
		diagnose(w, "worker stdout: line of %zu bytes dropped "
		         "(limit %zu): %s...", lb->dropped, lb->max, lb->head);
	else
		diagnose(w, "worker stderr: %s... (line truncated)", lb->head);
	lb->discarding = false;
	lb->dropped = 0;
}

/* Handles every complete line in lb and keeps the unfinished tail. */
static void
scan_lines(struct exec_worker *w, struct linebuf *lb)
{
	size_t start = 0;
	char *nl;

	if (lb->discarding) {
		nl = memchr(lb->buf, '\n', lb->len);
		if (nl == NULL) {
			lb->dropped += lb->len;
			lb->len = 0;
			return;
		}
		lb->dropped += (size_t)(nl - lb->buf);
		overlong_done(w, lb);
		start = (size_t)(nl - lb->buf) + 1;
	}
	while ((nl = memchr(lb->buf + start, '\n', lb->len - start)) != NULL) {
		handle_line(w, lb, lb->buf + start,
		            (size_t)(nl - (lb->buf + start)));
		start = (size_t)(nl - lb->buf) + 1;
	}
	if (start > 0) {
		memmove(lb->buf, lb->buf + start, lb->len - start);
		lb->len -= start;
	}
}

/*
 * Reads what *fd has (non-blocking, a bounded number of reads) into lb and
 * handles every complete line.  A line that does not fit in lb->max bytes
 * is reported with a preview of its head and dropped up to its newline.
 * At EOF or on a read error a final unterminated line is handled too and
 * *fd is closed.  Returns false then.
 */
static bool
read_lines(struct exec_worker *w, struct linebuf *lb, int *fd)
{
	size_t ncap;
	ssize_t n;
	char *nb;
	int rounds;

	for (rounds = 0; rounds < 16; rounds++) {
		if (lb->cap - lb->len < 4096 && lb->cap < lb->max) {
			ncap = lb->cap == 0 ? 8192 : lb->cap * 2;
			if (ncap > lb->max)
				ncap = lb->max;
			nb = realloc(lb->buf, ncap);
			if (nb == NULL)
				return true; /* try again later; data waits */
			lb->buf = nb;
			lb->cap = ncap;
		}
		if (lb->len == lb->cap)
			overlong_begin(lb);
		n = read(*fd, lb->buf + lb->len, lb->cap - lb->len);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return true;
		if (n <= 0) {
			if (lb->discarding)
				overlong_done(w, lb);
			else if (lb->len > 0)
				handle_line(w, lb, lb->buf, lb->len);
			lb->len = 0;
			close_fd(fd);
			return false;
		}
		lb->len += (size_t)n;
		scan_lines(w, lb);
	}
	return true;
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
	if (broken || w->woff == w->wlen)
		w->woff = w->wlen = 0;
	pthread_mutex_unlock(&w->mu);
	if (broken) {
		/* SIGPIPE is blocked on this thread: take it off the queue. */
		sigemptyset(&pipe_set);
		sigaddset(&pipe_set, SIGPIPE);
		while (sigtimedwait(&pipe_set, NULL, &zero) > 0)
			;
		close_fd(&w->in_fd);
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

/*
 * If the child has exited: collects its last output, kills what is left of
 * its process group (the exited leader still holds the group id, so the
 * signal cannot reach a recycled group), reaps it and, unless the Runtime
 * already ended the worker, reports the failure.  Returns true then.
 */
static bool
child_gone(struct exec_worker *w, bool quiet)
{
	siginfo_t si;
	char why[128], sb[24];
	int status = 0, rounds;
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
			read_lines(w, &w->out, &w->out_fd);
		if (w->err_fd >= 0)
			read_lines(w, &w->err, &w->err_fd);
	}
	kill(-w->pid, SIGKILL);
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
	quiet = quiet || w->stop_req || w->release_req;
	pthread_mutex_unlock(&w->mu);
	if (!quiet)
		wr_worker_fail(w->rt, w->id, why, NULL);
	return true;
}

static void
signal_group(struct exec_worker *w, int sig)
{
	kill(-w->pid, sig);
}

static void *
exec_thread(void *arg)
{
	struct exec_worker *w = arg;
	enum phase phase = PHASE_RUNNING;
	int64_t now, phase_at = 0, turn_at, wait_ms;
	bool stop_req, cancel_req, release_req, want_write;
	bool quiet = false; /* the Runtime ended the worker, or we failed it */
	bool last;
	struct pollfd pf[5];
	int npf, i, timeout;
	char drain[64];

	for (;;) {
		pthread_mutex_lock(&w->mu);
		stop_req = w->stop_req;
		cancel_req = w->cancel_req;
		release_req = w->release_req;
		want_write = w->woff < w->wlen && w->in_fd >= 0;
		turn_at = w->busy ? w->turn_deadline : 0;
		pthread_mutex_unlock(&w->mu);
		now = mono_ms();

		/* The stop/cancel timeline; release alone acts as cancel. */
		if (phase == PHASE_RUNNING && stop_req && !cancel_req &&
		    !release_req) {
			quiet = true;
			close_fd(&w->in_fd);
			want_write = false;
			phase = PHASE_CLOSING;
			phase_at = now + w->prof->stop_grace_ms;
		}
		if ((phase == PHASE_RUNNING || phase == PHASE_CLOSING) &&
		    (cancel_req || release_req)) {
			quiet = true;
			phase_at = now; /* SIGTERM right below */
			phase = PHASE_CLOSING;
		}
		if (phase == PHASE_RUNNING && turn_at != 0 && now >= turn_at) {
			char why[96];

			quiet = true;
			snprintf(why, sizeof(why), "turn timed out after %u ms",
			         w->prof->turn_timeout_ms);
			wr_worker_fail(w->rt, w->id, why, NULL);
			phase_at = now;
			phase = PHASE_CLOSING;
		}
		if (phase == PHASE_CLOSING && now >= phase_at) {
			if (!cancel_req && !release_req && stop_req)
				diagnose(w, "worker process still running %u ms "
				         "after its stdin was closed; sending "
				         "SIGTERM", w->prof->stop_grace_ms);
			signal_group(w, SIGTERM);
			phase = PHASE_TERMED;
			phase_at = now + WR__EXEC_KILL_GRACE_MS;
		}
		if (phase == PHASE_TERMED && now >= phase_at) {
			diagnose(w, "worker process still running %u ms after "
			         "SIGTERM; sending SIGKILL",
			         WR__EXEC_KILL_GRACE_MS);
			signal_group(w, SIGKILL);
			phase = PHASE_KILLED;
		}
		if (phase != PHASE_RUNNING)
			want_write = false;

		if (child_gone(w, quiet))
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
		wait_ms = -1;
		if (phase == PHASE_CLOSING || phase == PHASE_TERMED)
			wait_ms = phase_at - now;
		if (phase == PHASE_RUNNING && turn_at != 0 &&
		    (wait_ms < 0 || turn_at - now < wait_ms))
			wait_ms = turn_at - now;
		if (w->pid_fd < 0 && (wait_ms < 0 || wait_ms > TICK_MS))
			wait_ms = TICK_MS;
		if (wait_ms < 0)
			timeout = -1;
		else
			timeout = wait_ms > 60000 ? 60000 : (int)wait_ms + 1;
		if (poll(pf, (nfds_t)npf, timeout) < 0) {
			if (errno == EINTR)
				continue;
			/* cannot happen with valid fds; avoid a hot loop */
			poll(NULL, 0, TICK_MS);
			continue;
		}
		for (i = 0; i < npf; i++) {
			if (pf[i].revents == 0)
				continue;
			if (pf[i].fd == w->wake_r) {
				while (read(w->wake_r, drain,
				            sizeof(drain)) > 0)
					;
			} else if (pf[i].fd == w->out_fd) {
				read_lines(w, &w->out, &w->out_fd);
			} else if (pf[i].fd == w->err_fd) {
				read_lines(w, &w->err, &w->err_fd);
			} else if (pf[i].fd == w->in_fd && want_write) {
				write_pending(w);
			}
		}
	}
	/* An ended worker holds no descriptor and no buffer until release
	 * (the Runtime may keep it for a long time). */
	pthread_mutex_lock(&w->mu);
	close_fd(&w->in_fd);
	close_fd(&w->out_fd);
	close_fd(&w->err_fd);
	close_fd(&w->pid_fd);
	close_fd(&w->wake_r);
	close_fd(&w->wake_w);
	free(w->out.buf);
	free(w->err.buf);
	w->out.buf = w->err.buf = NULL;
	w->thread_done = true;
	pthread_cond_broadcast(&w->done_cv);
	last = --w->refs == 0;
	pthread_mutex_unlock(&w->mu);
	if (last)
		worker_free(w);
	return NULL;
}

static const struct wr_driver exec_driver = {
	.name = "exec",
	.start = exec_start,
	.input = exec_input,
	.stop = exec_stop,
	.release = exec_release,
};

const struct wr_driver *
wr__driver_exec(void)
{
	return &exec_driver;
}
