/*
 * driver/spawn.h - private to spawn.c, exec.c and watch.c: starting an
 * exec profile's program as a worker process, and the worker watchdog.
 *
 * Safe to call from any thread while other threads run: after fork() the
 * child makes only async-signal-safe calls.
 */
#ifndef WR_EXEC_SPAWN_H
#define WR_EXEC_SPAWN_H

#include <sys/types.h>

#include "driver/exec.h"

/* A started worker process, as the parent sees it. */
struct wr__exec_child {
	pid_t pid;  /* also its process group id */
	int in_fd;  /* its stdin, write end */
	int out_fd; /* its stdout, read end */
	int err_fd; /* its stderr, read end */
	int pid_fd; /* a pidfd that polls readable at exit, or -1 */
};

/*
 * Starts p's program for worker_id of runtime runtime_id: its own process
 * group, registered with the worker watchdog, default signal dispositions,
 * an empty signal mask, stdio on pipes, the environment of the Runtime
 * process plus p->env plus WORKER_ID and RUNTIME_ID, working directory
 * p->cwd.  Waits only until the child has exec'd (or failed to): the exec
 * error comes back through an O_CLOEXEC pipe.
 *
 * On success fills *child: the caller owns its descriptors (O_CLOEXEC; the
 * three pipes non-blocking) and must kill the group, wr__exec_unwatch(pid)
 * and reap pid, in that order.  On failure leaves no process and no
 * descriptor behind and *child untouched: WR_EINTERNAL
 * (WR_REASON_OUT_OF_MEMORY) or WR_EUNAVAILABLE (spawn_failed, the message
 * naming the profile and what failed).
 */
wr_err wr__exec_spawn(const struct wr__exec_profile *p, const char *worker_id,
                      const char *runtime_id, struct wr__exec_child *child,
                      struct wr_error *err);

/*
 * The worker watchdog (watch.c): whatever way this process ends, the
 * process groups of the workers it started and did not reap yet are sent
 * SIGTERM, then SIGKILL.
 *
 * wr__exec_watch_acquire() counts one more worker and starts the watchdog
 * if none runs; *fd is the caller's own O_CLOEXEC descriptor of that
 * watchdog's registration socket (it stays that socket if the watchdog is
 * replaced meanwhile).  The caller closes it in the parent right after
 * fork(), and always before the matching wr__exec_unwatch(): the last
 * unwatch waits for the watchdog to exit, which it does only once every
 * sending end is closed.  WR_EUNAVAILABLE/spawn_failed or WR_EINTERNAL,
 * WR_REASON_OUT_OF_MEMORY if it cannot start.  Thread-safe.
 *
 * wr__exec_watch_register() is called by the worker child itself after
 * setpgid(0, 0) and before exec: registers its process group.  Async-
 * signal-safe; returns 0, or -1 with errno set.
 *
 * wr__exec_unwatch() unregisters pgid (if > 0; call it after the group
 * was killed and before the leader is reaped, while the id cannot be
 * reused) and counts one worker less; the last one stops the watchdog
 * and reaps it.  Thread-safe.
 */
wr_err wr__exec_watch_acquire(int *fd, struct wr_error *err);
int wr__exec_watch_register(int fd);
/* The parent's side, right after fork(): keeps pgid on the list of groups
 * registered again with a new watchdog if this one dies (space for it was
 * made by wr__exec_watch_acquire) and registers it once more.  Thread-safe. */
void wr__exec_watch_track(pid_t pgid);
void wr__exec_unwatch(pid_t pgid);

/* Closes *fd unless it is -1, then sets it to -1. */
void wr__exec_close_fd(int *fd);

#endif /* WR_EXEC_SPAWN_H */
