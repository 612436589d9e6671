/*
 * driver/watch.c - the worker watchdog: no exec worker's process group
 * outlives the process that runs the Runtime, however that process ends
 * (wr_runtime_close, exit, a crash, SIGKILL).
 *
 * Design: while any exec worker runs, the process has one helper process,
 * the watchdog, forked from it (no exec, async-signal-safe calls only).
 * The two share an AF_UNIX SOCK_SEQPACKET socket pair; only this process
 * holds the sending end (O_CLOEXEC: a worker holds it only between fork
 * and exec; a spawn holds its own duplicate from acquire to its fork, so
 * that a watchdog replaced meanwhile cannot leave it a reused number).  Each worker registers its process group itself, in the
 * child, after setpgid() and before exec; the driver unregisters it after
 * killing the group and before reaping the leader.  When every sending
 * end is closed - the kernel closes them when this process dies, however
 * it dies - recv() returns 0 and the watchdog sends SIGTERM to every
 * group still registered, SIGKILL WATCH_KILL_GRACE_MS later, and exits.
 * It does the same on SIGTERM, SIGINT, SIGQUIT, SIGUSR1, SIGUSR2 and
 * SIGALRM: no catchable signal ends it without ending the groups.  SIGHUP
 * is ignored: it is the Runtime's reload signal, and a reload sent to the
 * whole service (systemctl kill -s HUP without --kill-who=main, kill -HUP
 * of the process group) must not end every exec worker.
 *
 * If the watchdog dies anyway (SIGKILL), the Runtime notices: a monitor
 * thread, running while the watchdog does, polls the sending end, which
 * reports POLLHUP once the watchdog is gone.  It logs one line on stderr,
 * reaps the dead watchdog, starts a new one and registers with it every
 * group of a worker not yet reaped (the Runtime keeps their list), so the
 * protection holds again.
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
 * setpgid) is not covered; neither are the workers if the watchdog and
 * this process are SIGKILLed at the same instant (before the monitor has
 * started a new watchdog).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
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
static pid_t *watch_groups; /* their groups, as far as tracked */
static size_t watch_ngroups, watch_capgroups;
static bool watch_mon_on;   /* the monitor thread runs */
static pthread_t watch_mon;
static int watch_wake[2] = { -1, -1 }; /* stops the monitor */

static volatile sig_atomic_t watch_ended; /* the watchdog's stop signal */

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

static void
watch_on_signal(int sig)
{
	(void)sig;
	watch_ended = 1;
}

/* Default dispositions; the stop signals are caught (and blocked but in
 * ppoll), the job-control ones and SIGHUP (a reload) ignored. */
static void
watch_signals(sigset_t *open_mask)
{
	static const int ignored[] = { SIGPIPE, SIGTSTP, SIGTTIN, SIGTTOU,
	                               SIGHUP };
	static const int ending[] = { SIGTERM, SIGINT, SIGQUIT,
	                              SIGUSR1, SIGUSR2, SIGALRM };
	struct sigaction sa;
	sigset_t block;
	int i;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	for (i = 1; i < NSIG; i++)
		sigaction(i, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	for (i = 0; i < (int)(sizeof(ignored) / sizeof(ignored[0])); i++)
		sigaction(ignored[i], &sa, NULL);
	sigemptyset(&block);
	sa.sa_handler = watch_on_signal;
	for (i = 0; i < (int)(sizeof(ending) / sizeof(ending[0])); i++) {
		sigaction(ending[i], &sa, NULL);
		sigaddset(&block, ending[i]);
	}
	sigprocmask(SIG_SETMASK, &block, NULL);
	sigemptyset(open_mask);
}

#ifdef __linux__
/* Overwrites this (forked) process's argv area, the Runtime's command
 * line, with "wr-watchdog", so that ps and pkill -f see the watchdog.  Its
 * bounds are fields 48 and 49 of /proc/self/stat (Linux >= 3.5); without
 * them the command line stays.  Async-signal-safe. */
static void
watch_set_cmdline(void)
{
	static const char name[] = "wr-watchdog";
	char buf[1024], *p, *end;
	unsigned long v[2] = { 0, 0 };
	ssize_t n;
	int fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC), field;

	if (fd < 0)
		return;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return;
	buf[n] = '\0';
	for (p = end = buf; *p != '\0'; p++)
		if (*p == ')')
			end = p; /* comm may hold spaces and parentheses */
	for (p = end, field = 2; *p != '\0' && field < 49; p++) {
		if (*p != ' ')
			continue;
		field++;
		if (field >= 48)
			for (v[field - 48] = 0; p[1] >= '0' && p[1] <= '9'; p++)
				v[field - 48] = v[field - 48] * 10 +
				                (unsigned long)(p[1] - '0');
	}
	if (v[0] == 0 || v[1] <= v[0] + sizeof(name))
		return;
	memset((char *)v[0], 0, v[1] - v[0]);
	memcpy((char *)v[0], name, sizeof(name));
}
#endif

static void __attribute__((noreturn))
watchdog_main(int sock, uint64_t *bits)
{
	struct pollfd pf = { sock, POLLIN, 0 };
	struct watch_msg m;
	sigset_t open_mask;
	ssize_t n;
	int i;

	close_others(sock);
	setpgid(0, 0); /* a terminal's ^C for the Runtime is not for us */
#ifdef __linux__
	prctl(PR_SET_NAME, "wr-watchdog", 0, 0, 0);
	watch_set_cmdline();
#endif
	watch_signals(&open_mask);
	while (!watch_ended) {
		/* The stop signals are open only while waiting here. */
		if (ppoll(&pf, 1, NULL, &open_mask) < 0)
			continue;
		n = recv(sock, &m, sizeof(m), MSG_DONTWAIT);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
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
	size_t i;

	bits = calloc(WATCH_PID_LIMIT / 64, sizeof(*bits));
	if (bits == NULL)
		return wr__oom(err);
	/* A new watchdog knows every running group from its first instant. */
	for (i = 0; i < watch_ngroups; i++)
		if (watch_groups[i] > 0 && watch_groups[i] < WATCH_PID_LIMIT)
			bits[watch_groups[i] / 64] |=
				(uint64_t)1 << (watch_groups[i] % 64);
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

/* The watchdog died with workers running: reaps it, logs, starts a new
 * one that knows every tracked group; watch_mu held. */
static void
watch_restart(void)
{
	struct wr_error err;
	pid_t old = watch_pid;

	close(watch_fd);
	watch_fd = -1;
	while (waitpid(old, NULL, 0) < 0 && errno == EINTR)
		;
	watch_pid = -1;
	memset(&err, 0, sizeof(err));
	if (watch_start(&err) != WR_OK) {
		fprintf(stderr, "worker-runtime: error: the worker watchdog "
		        "(pid %ld) is gone and no new one starts (%s); %zu "
		        "worker process group(s) unprotected until the next "
		        "spawn\n", (long)old, err.message, watch_ngroups);
		return;
	}
	fprintf(stderr, "worker-runtime: error: the worker watchdog (pid %ld) "
	        "is gone; started a new one (pid %ld) and registered %zu "
	        "worker process group(s) with it\n", (long)old,
	        (long)watch_pid, watch_ngroups);
}

/* Runs while workers do: restarts the watchdog when its socket hangs up. */
static void *
watch_monitor(void *arg)
{
	struct pollfd pf[2];
	int wake = (int)(intptr_t)arg;

	for (;;) {
		pthread_mutex_lock(&watch_mu);
		pf[0] = (struct pollfd){ wake, POLLIN, 0 };
		pf[1] = (struct pollfd){ watch_fd, 0, 0 }; /* -1: ignored */
		pthread_mutex_unlock(&watch_mu);
		if (poll(pf, 2, -1) < 0) {
			if (errno != EINTR)
				poll(NULL, 0, 100); /* no hot loop */
			continue;
		}
		if (pf[0].revents != 0)
			break; /* watch_stop: pf[1].fd may be closed already */
		if (pf[1].revents == 0)
			continue;
		pthread_mutex_lock(&watch_mu);
		if (watch_fd == pf[1].fd && watch_fd >= 0)
			watch_restart();
		pthread_mutex_unlock(&watch_mu);
	}
	return NULL;
}

/* Starts the monitor thread if it does not run; watch_mu held.  Without
 * it a dead watchdog is noticed at the next spawn only. */
static void
watch_monitor_start(void)
{
	sigset_t all, old;
	int e;

	if (watch_mon_on || pipe2(watch_wake, O_CLOEXEC) != 0)
		return;
	/* The embedder's signals are not for this thread. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	e = pthread_create(&watch_mon, NULL, watch_monitor,
	                   (void *)(intptr_t)watch_wake[0]);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (e != 0) {
		close(watch_wake[0]);
		close(watch_wake[1]);
		watch_wake[0] = watch_wake[1] = -1;
		return;
	}
	watch_mon_on = true;
}

/* Closes the sending end and reaps the watchdog; watch_mu held, and
 * released and taken again while the monitor thread ends. */
static void
watch_stop(void)
{
	if (watch_mon_on) {
		pthread_t t = watch_mon;
		int w[2] = { watch_wake[0], watch_wake[1] };

		watch_mon_on = false;
		watch_wake[0] = watch_wake[1] = -1;
		while (write(w[1], "x", 1) < 0 && errno == EINTR)
			;
		pthread_mutex_unlock(&watch_mu);
		pthread_join(t, NULL);
		pthread_mutex_lock(&watch_mu);
		close(w[0]);
		close(w[1]);
		if (watch_refs > 0)
			return; /* a spawn came in meanwhile: keep the watchdog */
	}
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
	if (watch_capgroups < watch_refs + 1) {
		size_t cap = watch_capgroups ? watch_capgroups * 2 : 16;
		pid_t *g = realloc(watch_groups, cap * sizeof(*g));

		if (g == NULL) {
			pthread_mutex_unlock(&watch_mu);
			return wr__oom(err);
		}
		watch_groups = g;
		watch_capgroups = cap;
	}
	/* Gone (killed, or reaped by an embedder's wait()): start anew. */
	if (watch_fd >= 0 && waitpid(watch_pid, NULL, WNOHANG) != 0)
		watch_restart();
	if (watch_fd < 0)
		rc = watch_start(err);
	/* A descriptor of its own: the monitor may replace the watchdog
	 * (closing watch_fd, whose number another open() may then take)
	 * before the caller forks, and the child must still write to the
	 * socket of the watchdog this acquire counted on.  O_CLOEXEC like
	 * watch_fd: a worker exec'd meanwhile by another thread must not keep
	 * a sending end, or the watchdog would never see end-of-file. */
	if (rc == WR_OK && (*fd = fcntl(watch_fd, F_DUPFD_CLOEXEC, 3)) < 0) {
		rc = wr__fail(err, WR_EUNAVAILABLE, WR_REASON_SPAWN_FAILED, NULL,
		              "cannot share the worker watchdog's socket: "
		              "fcntl: %s", strerror(errno));
		if (watch_refs == 0)
			watch_stop();
	}
	if (rc == WR_OK) {
		watch_refs++;
		watch_monitor_start();
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
wr__exec_watch_track(pid_t pgid)
{
	struct watch_msg m = { '+', (int32_t)pgid };

	pthread_mutex_lock(&watch_mu);
	/* Room was made by wr__exec_watch_acquire for this worker. */
	if (watch_ngroups < watch_capgroups)
		watch_groups[watch_ngroups++] = pgid;
	/* Again, from here: the watchdog may have been replaced since the
	 * child registered (a group registered twice is one group). */
	if (watch_fd >= 0)
		while (send(watch_fd, &m, sizeof(m), MSG_NOSIGNAL) < 0 &&
		       errno == EINTR)
			;
	pthread_mutex_unlock(&watch_mu);
}

void
wr__exec_unwatch(pid_t pgid)
{
	struct watch_msg m = { '-', (int32_t)pgid };
	size_t i;

	pthread_mutex_lock(&watch_mu);
	for (i = 0; pgid > 0 && i < watch_ngroups; i++)
		if (watch_groups[i] == pgid) {
			watch_groups[i] = watch_groups[--watch_ngroups];
			break;
		}
	if (watch_fd >= 0 && pgid > 0)
		while (send(watch_fd, &m, sizeof(m), MSG_NOSIGNAL) < 0 &&
		       errno == EINTR)
			;
	if (watch_refs > 0 && --watch_refs == 0)
		watch_stop();
	pthread_mutex_unlock(&watch_mu);
}
