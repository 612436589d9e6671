/*
 * driver/watch.c - the worker watchdog: no exec worker's process group
 * outlives the process that runs the Runtime, however that process ends
 * (wr_runtime_close, exit, a crash, SIGKILL).
 *
 * Design: while any exec worker runs, the process has one helper process,
 * the watchdog, forked from it (no exec, async-signal-safe calls only).
 * The two share an AF_UNIX SOCK_SEQPACKET socket pair; only this process
 * holds the sending end (O_CLOEXEC: a worker holds it only between fork
 * and exec).  Each worker registers its process group itself, in the
 * child, after setpgid() and before exec; the driver unregisters it after
 * killing the group and before reaping the leader.  When every sending
 * end is closed - the kernel closes them when this process dies, however
 * it dies - recv() returns 0 and the watchdog sends SIGTERM to every
 * group still registered, SIGKILL WATCH_KILL_GRACE_MS later, and exits.
 *
 * Why not PR_SET_PDEATHSIG in the worker: it fires when the *thread* that
 * forked exits (the serving thread that created the worker, long before
 * the worker should end), it reaches only the worker and not the helpers
 * in its group, and it is Linux-only.  End-of-file on a socket needs no
 * race check: a worker registers before exec while it still holds a
 * sending end, so a Runtime that dies right after fork() still leaves the
 * registration in the queue ahead of the end-of-file.
 *
 * Limits: a helper that leaves the worker's process group (setsid,
 * setpgid) is not covered; neither is a worker if someone SIGKILLs the
 * watchdog itself (then the next spawn starts a new one).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#include "driver/spawn.h"

#define WATCH_PID_LIMIT 4194304 /* Linux PID_MAX_LIMIT on 64-bit */
#define WATCH_KILL_GRACE_MS 500
#define WATCH_CLOSE_MAX 65536   /* descriptors closed without close_range */

struct watch_msg {
	int32_t op; /* '+' register, '-' unregister */
	int32_t pgid;
};

static pthread_mutex_t watch_mu = PTHREAD_MUTEX_INITIALIZER;
static int watch_fd = -1;   /* sending end; -1: no watchdog */
static pid_t watch_pid = -1;
static unsigned watch_refs; /* workers spawned and not yet reaped */

/* ---- the watchdog process ------------------------------------------------ */

static void
watch_sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* Signals every registered group; returns how many still exist. */
static unsigned
signal_all(const uint64_t *bits, int sig)
{
	unsigned alive = 0;
	size_t i;
	int b;

	for (i = 0; i < WATCH_PID_LIMIT / 64; i++)
		for (b = 0; bits[i] != 0 && b < 64; b++)
			if ((bits[i] >> b & 1u) &&
			    kill(-(pid_t)(i * 64 + (size_t)b), sig) == 0)
				alive++;
	return alive;
}

/* Only what the Runtime shared on purpose stays open: a worker's pipe or
 * the listen socket held here would keep them alive. */
static void
close_others(int keep)
{
	int fd, max = WATCH_CLOSE_MAX;
	struct rlimit rl;

#ifdef SYS_close_range
	if ((keep == 0 || syscall(SYS_close_range, 0u,
	                          (unsigned)keep - 1, 0u) == 0) &&
	    syscall(SYS_close_range, (unsigned)keep + 1, ~0u, 0u) == 0)
		goto stdio;
#endif
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)max)
		max = (int)rl.rlim_cur;
	for (fd = 0; fd < max; fd++)
		if (fd != keep)
			close(fd);
#ifdef SYS_close_range
stdio:
#endif
	for (fd = 0; fd < 3; fd++)
		if (fd != keep && open("/dev/null", O_RDWR) < 0)
			break;
}

static void __attribute__((noreturn))
watchdog_main(int sock, uint64_t *bits)
{
	static const int ignored[] = { SIGHUP, SIGINT, SIGQUIT, SIGPIPE,
	                               SIGTSTP, SIGTTIN, SIGTTOU };
	struct sigaction sa;
	struct watch_msg m;
	sigset_t none;
	ssize_t n;
	int i;

	close_others(sock);
	setpgid(0, 0); /* a terminal's ^C for the Runtime is not for us */
#ifdef __linux__
	prctl(PR_SET_NAME, "wr-watchdog", 0, 0, 0);
#endif
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	for (i = 1; i < NSIG; i++)
		sigaction(i, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	for (i = 0; i < (int)(sizeof(ignored) / sizeof(ignored[0])); i++)
		sigaction(ignored[i], &sa, NULL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	for (;;) {
		n = recv(sock, &m, sizeof(m), 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break; /* every sending end is closed */
		if (n != (ssize_t)sizeof(m) || m.pgid <= 0 ||
		    m.pgid >= WATCH_PID_LIMIT)
			continue;
		if (m.op == '+')
			bits[m.pgid / 64] |= (uint64_t)1 << (m.pgid % 64);
		else if (m.op == '-')
			bits[m.pgid / 64] &= ~((uint64_t)1 << (m.pgid % 64));
	}
	if (signal_all(bits, SIGTERM) > 0) {
		for (i = 0; i < WATCH_KILL_GRACE_MS / 10; i++) {
			watch_sleep_ms(10);
			if (signal_all(bits, 0) == 0)
				_exit(0);
		}
		signal_all(bits, SIGKILL);
	}
	_exit(0);
}

/* ---- the Runtime's side ------------------------------------------------ */

/* Starts the watchdog; watch_mu held, none running. */
static wr_err
watch_start(struct wr_error *err)
{
	uint64_t *bits;
	int sv[2];
	pid_t pid;

	bits = calloc(WATCH_PID_LIMIT / 64, sizeof(*bits));
	if (bits == NULL)
		return wr__oom(err);
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
		free(bits);
		return wr__fail(err, WR_EUNAVAILABLE, WR_REASON_SPAWN_FAILED, NULL,
		                "cannot start the worker watchdog: "
		                "socketpair: %s", strerror(errno));
	}
	pid = fork();
	if (pid == 0)
		watchdog_main(sv[1], bits);
	free(bits);
	close(sv[1]);
	if (pid < 0) {
		close(sv[0]);
		return wr__fail(err, WR_EUNAVAILABLE, WR_REASON_SPAWN_FAILED, NULL,
		                "cannot start the worker watchdog: fork: %s",
		                strerror(errno));
	}
	watch_fd = sv[0];
	watch_pid = pid;
	return WR_OK;
}

/* Closes the sending end and reaps the watchdog; watch_mu held. */
static void
watch_stop(void)
{
	if (watch_fd < 0)
		return;
	close(watch_fd);
	watch_fd = -1;
	while (waitpid(watch_pid, NULL, 0) < 0 && errno == EINTR)
		;
	watch_pid = -1;
}

wr_err
wr__exec_watch_acquire(int *fd, struct wr_error *err)
{
	wr_err rc = WR_OK;

	pthread_mutex_lock(&watch_mu);
	/* Gone (killed, or reaped by an embedder's wait()): start anew. */
	if (watch_fd >= 0 && waitpid(watch_pid, NULL, WNOHANG) != 0) {
		close(watch_fd);
		watch_fd = -1;
		watch_pid = -1;
	}
	if (watch_fd < 0)
		rc = watch_start(err);
	if (rc == WR_OK) {
		watch_refs++;
		*fd = watch_fd;
	}
	pthread_mutex_unlock(&watch_mu);
	return rc;
}

int
wr__exec_watch_register(int fd)
{
	struct watch_msg m = { '+', (int32_t)getpid() };

	return send(fd, &m, sizeof(m), MSG_NOSIGNAL) == (ssize_t)sizeof(m) ?
	       0 : -1;
}

void
wr__exec_unwatch(pid_t pgid)
{
	struct watch_msg m = { '-', (int32_t)pgid };

	pthread_mutex_lock(&watch_mu);
	if (watch_fd >= 0 && pgid > 0)
		while (send(watch_fd, &m, sizeof(m), MSG_NOSIGNAL) < 0 &&
		       errno == EINTR)
			;
	if (watch_refs > 0 && --watch_refs == 0)
		watch_stop();
	pthread_mutex_unlock(&watch_mu);
}
