/*
 * driver/spawn.c - starts an exec worker's process (spawn.h).
 *
 * Everything the child needs is prepared before fork(); after it the child
 * makes only async-signal-safe calls (the parent may have other threads).
 * Every descriptor is O_CLOEXEC, so a child started by another thread at
 * the same time inherits none of this one's pipes.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "driver/spawn.h"

extern char **environ;

void
wr__exec_close_fd(int *fd)
{
	if (*fd >= 0) {
		close(*fd);
		*fd = -1;
	}
}

/* ---- the child side of fork() ------------------------------------------ */

/* Everything the child needs, prepared before fork(). */
struct spawn {
	char *const *argv;
	char *const *envp;
	const char *cwd;
	int fds[4]; /* stdin, stdout, stderr of the child; error report */
	int watch_fd; /* the watchdog's registration socket */
};

/* Why exec failed, written by the child to the report pipe. */
struct spawn_report {
	int step; /* SPAWN_STEP_* */
	int err;  /* errno */
};

enum { SPAWN_STEP_FDS = 1, SPAWN_STEP_WATCH, SPAWN_STEP_CWD,
       SPAWN_STEP_EXEC };

static void __attribute__((noreturn))
child_exec(struct spawn *sp)
{
	struct spawn_report rep = { SPAWN_STEP_WATCH, 0 };
	struct sigaction sa;
	sigset_t none;
	int i, fd;

	setpgid(0, 0);
	/* Before exec, while this child holds a sending end: a Runtime
	 * that dies now still leaves the registration to the watchdog. */
	if (wr__exec_watch_register(sp->watch_fd) != 0)
		goto fail;
	rep.step = SPAWN_STEP_FDS;
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

/* ---- the parent side ----------------------------------------------------- */

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

/* Reports a failed spawn as WR_EUNAVAILABLE / spawn_failed. */
static wr_err
spawn_error(struct wr_error *err, const struct wr__exec_profile *p,
            const struct spawn_report *rep)
{
	const char *what = strerror(rep->err);

	if (rep->step == SPAWN_STEP_CWD)
		return wr__fail(err, WR_EUNAVAILABLE, WR_REASON_SPAWN_FAILED, NULL,
		                "profile %s: cannot enter working directory "
		                "%s: %s", p->name, p->cwd, what);
	if (rep->step == SPAWN_STEP_WATCH)
		return wr__fail(err, WR_EUNAVAILABLE, WR_REASON_SPAWN_FAILED, NULL,
		                "profile %s: cannot register with the worker "
		                "watchdog: %s", p->name, what);
	if (rep->step == SPAWN_STEP_EXEC)
		return wr__fail(err, WR_EUNAVAILABLE, WR_REASON_SPAWN_FAILED, NULL,
		                "profile %s: cannot execute %s: %s", p->name,
		                p->argv[0], what);
	return wr__fail(err, WR_EUNAVAILABLE, WR_REASON_SPAWN_FAILED, NULL,
	                "profile %s: cannot set up the worker's stdio: %s",
	                p->name, what);
}

/* Waits until the child exec'd (the report pipe closes empty: true) or
 * wrote why it could not (false, *rep filled). */
static bool
exec_reported(int fd, struct spawn_report *rep)
{
	ssize_t n;

	do
		n = read(fd, rep, sizeof(*rep));
	while (n < 0 && errno == EINTR);
	if (n == 0)
		return true;
	if (n != (ssize_t)sizeof(*rep)) {
		rep->step = SPAWN_STEP_EXEC;
		rep->err = n < 0 ? errno : EIO;
	}
	return false;
}

static int
set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	return fl < 0 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

/* Waits for pid, which must be a child of this process. */
static void
reap(pid_t pid)
{
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
}

/* What the parent prepares before fork(): the child's environment and
 * its pipes (all O_CLOEXEC; -1 when not open).  prep_close() releases
 * whatever is still held. */
struct spawn_prep {
	char **envp, *wid, *rid; /* build_env() */
	int in[2], out[2], errp[2];
	int report[2]; /* the child's exec error, if any */
};

static void
prep_close(struct spawn_prep *pp)
{
	for (int i = 0; i < 2; i++) {
		wr__exec_close_fd(&pp->in[i]);
		wr__exec_close_fd(&pp->out[i]);
		wr__exec_close_fd(&pp->errp[i]);
		wr__exec_close_fd(&pp->report[i]);
	}
	free(pp->envp);
	free(pp->wid);
	free(pp->rid);
	pp->envp = NULL;
	pp->wid = pp->rid = NULL;
}

/* Fills *pp (initialised by the caller to nothing held): environment and
 * pipes.  On failure *pp may hold some of them; prep_close() them. */
static wr_err
prep_open(struct spawn_prep *pp, const struct wr__exec_profile *p,
          const char *worker_id, const char *runtime_id, struct wr_error *err)
{
	pp->envp = build_env(p, worker_id, runtime_id, &pp->wid, &pp->rid);
	if (pp->envp == NULL)
		return wr__oom(err);
	if (pipe2(pp->in, O_CLOEXEC) != 0 || pipe2(pp->out, O_CLOEXEC) != 0 ||
	    pipe2(pp->errp, O_CLOEXEC) != 0 ||
	    pipe2(pp->report, O_CLOEXEC) != 0)
		return wr__fail(err, WR_EUNAVAILABLE, WR_REASON_SPAWN_FAILED, NULL,
		                "profile %s: pipe2: %s", p->name, strerror(errno));
	return WR_OK;
}

/*
 * Forks the child (which runs child_exec) and waits until it has exec'd.
 * The parent closes the child's ends of the pipes.  On success *pid is the
 * child, in its own process group and registered with the watchdog.  On
 * failure no child is left and the watchdog count taken for it is given
 * back.  Closes *watch_fd (the child has its copy) in every case, before
 * any unwatch.
 */
static wr_err
fork_child(const struct wr__exec_profile *p, struct spawn_prep *pp,
           int *watch_fd, pid_t *pid, struct wr_error *err)
{
	struct spawn sp = { p->argv, pp->envp, p->cwd,
	                    { pp->in[0], pp->out[1], pp->errp[1], pp->report[1] },
	                    *watch_fd };
	struct spawn_report rep;
	pid_t c = fork();

	if (c != 0)
		wr__exec_close_fd(watch_fd);
	if (c < 0) {
		int e = errno;

		wr__exec_unwatch(-1); /* nobody to unwatch */
		return wr__fail(err, WR_EUNAVAILABLE, WR_REASON_SPAWN_FAILED, NULL,
		                "profile %s: fork: %s", p->name, strerror(e));
	}
	if (c == 0)
		child_exec(&sp);
	/* Also from this side, so the group exists when we return. */
	setpgid(c, c);
	wr__exec_watch_track(c);
	wr__exec_close_fd(&pp->in[0]);
	wr__exec_close_fd(&pp->out[1]);
	wr__exec_close_fd(&pp->errp[1]);
	wr__exec_close_fd(&pp->report[1]);
	if (!exec_reported(pp->report[0], &rep)) {
		/* exec failed (or the report is unreadable): reap, no worker */
		wr__exec_unwatch(c);
		reap(c);
		return spawn_error(err, p, &rep);
	}
	*pid = c;
	return WR_OK;
}

/*
 * The parent's side of a child that exec'd: takes the parent's ends of the
 * pipes from *pp into *c (non-blocking) and opens a pidfd.  On failure the
 * child is killed, unwatched and reaped and *c holds no descriptor.
 */
static wr_err
take_child(const struct wr__exec_profile *p, struct spawn_prep *pp,
           pid_t pid, struct wr__exec_child *c, struct wr_error *err)
{
	*c = (struct wr__exec_child){ pid, pp->in[1], pp->out[0], pp->errp[0],
	                              -1 };
	pp->in[1] = pp->out[0] = pp->errp[0] = -1;
	if (set_nonblock(c->in_fd) != 0 || set_nonblock(c->out_fd) != 0 ||
	    set_nonblock(c->err_fd) != 0) {
		wr_err rc = wr__fail(err, WR_EUNAVAILABLE, WR_REASON_SPAWN_FAILED,
		                     NULL, "profile %s: fcntl: %s", p->name,
		                     strerror(errno));

		/* started, not handed over: must not outlive us */
		kill(-pid, SIGKILL);
		wr__exec_unwatch(pid);
		reap(pid);
		wr__exec_close_fd(&c->in_fd);
		wr__exec_close_fd(&c->out_fd);
		wr__exec_close_fd(&c->err_fd);
		return rc;
	}
#ifdef SYS_pidfd_open
	/* Lets poll() see the child's exit; without it the caller ticks. */
	c->pid_fd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (c->pid_fd >= 0)
		fcntl(c->pid_fd, F_SETFD, FD_CLOEXEC);
#endif
	return WR_OK;
}

wr_err
wr__exec_spawn(const struct wr__exec_profile *p, const char *worker_id,
               const char *runtime_id, struct wr__exec_child *child,
               struct wr_error *err)
{
	struct spawn_prep pp = { NULL, NULL, NULL, { -1, -1 }, { -1, -1 },
	                         { -1, -1 }, { -1, -1 } };
	struct wr__exec_child c;
	int watch_fd = -1;
	pid_t pid = -1;
	wr_err rc;

	if ((rc = prep_open(&pp, p, worker_id, runtime_id, err)) == WR_OK &&
	    (rc = wr__exec_watch_acquire(&watch_fd, err)) == WR_OK &&
	    (rc = fork_child(p, &pp, &watch_fd, &pid, err)) == WR_OK &&
	    (rc = take_child(p, &pp, pid, &c, err)) == WR_OK)
		*child = c;
	prep_close(&pp);
	return rc;
}
