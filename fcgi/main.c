/*
 * main.c - the worker-runtime process: the flags (options.c), the listen
 * socket, the Runtime, then the responder until SIGTERM/SIGINT.
 *
 * Exit status: 0 after a clean stop, 1 when something the command line
 * names cannot be used (socket, store, token file, profiles), serving
 * fails or a stop outlasts --shutdown-timeout, 2 when the command line
 * itself is wrong.  Every message is one
 * line on stderr starting with "worker-runtime: ".
 */
#include "config.h"

#include <limits.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include "handlers.h"
#include "healthcheck.h"
#include "listen.h"
#include "log.h"
#include "options.h"
#include "responder.h"
#include "stderr_limit.h"
#include "worker-runtime.h"

#define TOKEN_MAX 4096                     /* bytes of the local token */
#define TOKENS_MAX 8        /* lines (tokens) of the local token file */


/* ---- the local token ---------------------------------------------------- */

#define TOKEN_FILE_MAX (TOKENS_MAX * (TOKEN_MAX + 2)) /* bytes, CRLF lines */

/*
 * Checks the token file's text in place: 1..TOKENS_MAX lines, each one
 * token of 1..TOKEN_MAX visible ASCII characters (a CR before the newline
 * and a newline after the last line are allowed).  Leaves buf as the
 * tokens separated by single '\n' (what struct http_ctx's token holds).
 * Returns 0, or -1 after logging one line.
 */
static int check_tokens(const char *path, char *buf, size_t len)
{
	size_t in = 0, out = 0, lines = 0;

	if (len > 0 && buf[len - 1] == '\n')
		len--;
	while (in < len || lines == 0) {
		size_t start = out;

		if (++lines > TOKENS_MAX)
			goto bad;
		while (in < len && buf[in] != '\n') {
			if (buf[in] == '\r' && (in + 1 == len || buf[in + 1] == '\n')) {
				in++;
				continue;
			}
			if (buf[in] < 0x21 || buf[in] > 0x7e)
				goto bad;
			buf[out++] = buf[in++];
		}
		if (out == start || out - start > TOKEN_MAX)
			goto bad;
		if (in < len) {
			buf[out++] = '\n';
			in++;
		}
	}
	if (out > 0 && buf[out - 1] == '\n')
		goto bad; /* an empty last line */
	buf[out] = '\0';
	return 0;
bad:
	log_msg(LOG_ERROR, "%s: expected 1..%d lines, each one "
	        "token of 1..%d visible ASCII characters (no blanks, no empty "
	        "line)", path, TOKENS_MAX, TOKEN_MAX);
	return -1;
}

/* Logs the line that refuses path, of this mode: not a regular file. */
static void log_not_regular(const char *path, mode_t mode)
{
	log_msg(LOG_ERROR, "%s: is %s, not a regular file", path,
	        wr_file_kind(mode));
}

/*
 * Reads the local token file: each line is one accepted token (several
 * during a rotation).  On success *out is a heap string of the tokens
 * separated by '\n', which the caller wipes and frees.  Returns 0, or -1
 * after logging one line.  The open does not block: a FIFO without a
 * writer would hold the start (whose stop signals are blocked by then),
 * -t or --health-check for good; it is refused at once, as anything but
 * a regular file is (a unix socket fails the open with ENXIO).  On a
 * regular file O_NONBLOCK changes nothing.
 */
static int read_token(const char *path, char **out)
{
	struct stat st;
	char *buf = NULL;
	size_t len = 0;
	int fd;
	int rc = -1;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		int e = errno;

		if (e == ENXIO && stat(path, &st) == 0 && !S_ISREG(st.st_mode))
			log_not_regular(path, st.st_mode);
		else
			log_msg(LOG_ERROR, "open %s: %s", path, strerror(e));
		return -1;
	}
	if (fstat(fd, &st) < 0) {
		log_msg(LOG_ERROR, "stat %s: %s", path,
		        strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		log_not_regular(path, st.st_mode);
		goto out;
	}
	if (st.st_mode & (S_IRWXG | S_IRWXO))
		log_msg(LOG_WARN, "%s is accessible to "
		        "group or others; chmod 0600 it", path);
	buf = malloc(TOKEN_FILE_MAX + 2);
	if (buf == NULL) {
		log_msg(LOG_ERROR, "out of memory");
		goto out;
	}
	while (len < TOKEN_FILE_MAX + 1) {
		ssize_t n = read(fd, buf + len, TOKEN_FILE_MAX + 1 - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			log_msg(LOG_ERROR, "read %s: %s", path,
			        strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len > TOKEN_FILE_MAX) {
		log_msg(LOG_ERROR, "%s: larger than %d bytes (at most %d lines, "
		        "each one token of 1..%d characters)", path,
		        TOKEN_FILE_MAX, TOKENS_MAX, TOKEN_MAX);
		goto out;
	}
	if (check_tokens(path, buf, len) < 0)
		goto out;
	*out = buf;
	buf = NULL;
	rc = 0;
out:
	if (buf != NULL) {
		explicit_bzero(buf, TOKEN_FILE_MAX + 2);
		free(buf);
	}
	close(fd);
	return rc;
}

/* ---- diagnostics ------------------------------------------------------- */

/* Logs each Runtime diagnostic as one warn line (the logger escapes
 * control bytes, so a worker's output cannot forge log lines).  Called
 * from any thread, possibly with the Runtime lock held: it only formats
 * and writes. */
static void log_diagnostic(void *arg, const struct wr_diagnostic *d)
{
	const struct log_field f[] = {
		LOG_UINT("id", d->id),
		LOG_STR("message", d->message),
		LOG_STR("worker_id", d->worker_id), /* left out when empty */
	};

	(void)arg;
	log_event(LOG_WARN, "diagnostic", f, d->worker_id[0] ? 3 : 2);
}

/* The limits on the workers' stderr lines in the log (stderr_mu), the
 * lines not logged that are not yet reported, and whether a flusher
 * thread is due to report them.  The metric exec_stderr_lines_total
 * counts every line. */
static pthread_mutex_t stderr_mu = PTHREAD_MUTEX_INITIALIZER;
static struct stderr_limit stderr_lim;
static bool stderr_flusher;

/* One warn line per worker whose lines were not logged (the workers past
 * the slots together, without a worker_id). */
static void log_stderr_dropped(const struct stderr_drop *d, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		struct log_field f[2] = {
			LOG_STR("worker_id", d[i].worker_id),
			LOG_UINT("lines", d[i].lines),
		};
		bool named = d[i].worker_id[0] != '\0';

		log_event(LOG_WARN, "worker stderr lines not logged ("
		          STDERR_LIMIT_TEXT ")", named ? f : f + 1,
		          named ? 2 : 1);
	}
}

/* Reports the lines dropped a little over a second ago, whether or not
 * another line comes (a flood that stops would else be reported only at
 * the next stderr line, maybe never). */
static void *stderr_flush_thread(void *arg)
{
	struct timespec t = { 1, 100 * 1000 * 1000 };
	struct stderr_drop d[STDERR_DROPS_MAX];
	size_t n;

	(void)arg;
	while (nanosleep(&t, &t) != 0 && errno == EINTR)
		;
	pthread_mutex_lock(&stderr_mu);
	n = stderr_limit_take(&stderr_lim, d);
	stderr_flusher = false;
	pthread_mutex_unlock(&stderr_mu);
	log_stderr_dropped(d, n);
	return NULL;
}

/* Starts the flusher (stderr_mu held); without one, the first line of a
 * later second reports the count. */
static void start_stderr_flusher(void)
{
	pthread_attr_t a;
	pthread_t t;

	if (stderr_flusher || pthread_attr_init(&a) != 0)
		return;
	pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
	stderr_flusher = pthread_create(&t, &a, stderr_flush_thread,
	                                NULL) == 0;
	pthread_attr_destroy(&a);
}

/* Logs a line a worker wrote to stderr as "worker stderr", an info line
 * (php-fpm's catch_workers_output does the same): the worker's own log.
 * Past the limits of stderr_limit.h, lines are counted, not logged, and a
 * warning per worker says how many were not: before the first line of a
 * later second, or about a second after the first one dropped, whichever
 * comes first. */
static void log_worker_stderr(const struct wr_worker_event *ev)
{
	struct stderr_drop d[STDERR_DROPS_MAX];
	size_t n;
	struct timespec ts;
	bool admit;
	struct log_field f[4] = {
		LOG_STR("worker_id", ev->worker_id),
		LOG_STR("profile", ev->profile),
		LOG_INT("pid", ev->pid),
		LOG_STR("line", ev->message),
	};

	clock_gettime(CLOCK_MONOTONIC, &ts);
	pthread_mutex_lock(&stderr_mu);
	admit = stderr_limit_admit(&stderr_lim, ev->worker_id, ts.tv_sec, d,
	                           &n);
	if (!admit)
		start_stderr_flusher();
	pthread_mutex_unlock(&stderr_mu);
	log_stderr_dropped(d, n);
	if (admit)
		log_event(LOG_INFO, "worker stderr", f, 4);
}

/* Logs each exec worker's lifecycle event as one line (same rules as
 * log_diagnostic: any thread, maybe under the Runtime lock). */
static void log_worker_event(void *arg, const struct wr_worker_event *ev)
{
	struct log_field f[5] = {
		LOG_STR("worker_id", ev->worker_id),
		LOG_STR("profile", ev->profile),
		LOG_INT("pid", ev->pid),
	};
	size_t n = 3;
	enum log_level level = LOG_INFO;
	const char *msg = "worker spawned";

	(void)arg;
	switch (ev->kind) {
	case WR_WORKER_SPAWNED:
		break;
	case WR_WORKER_EXITED:
		msg = ev->failed ? "worker exited, marked failed"
		                 : "worker exited";
		level = ev->failed ? LOG_WARN : LOG_INFO;
		if (ev->signal > 0)
			f[n++] = (struct log_field)LOG_INT("signal", ev->signal);
		else
			f[n++] = (struct log_field)LOG_INT("status",
			                                   ev->exit_status);
		break;
	case WR_WORKER_KILLED:
		msg = "worker killed after its grace (SIGKILL)";
		level = LOG_WARN;
		break;
	case WR_WORKER_STDERR:
		log_worker_stderr(ev);
		return;
	case WR_WORKER_SPAWN_FAILED:
		msg = "worker spawn failed";
		level = LOG_ERROR;
		n = 2; /* no pid */
		f[n++] = (struct log_field)LOG_STR("reason",
		                                   wr_reason_name(ev->reason));
		f[n++] = (struct log_field)LOG_STR("message", ev->message);
		break;
	}
	log_event(level, msg, f, n);
}

/* ---- profiles ----------------------------------------------------------- */

/*
 * Loads the --profiles file into cfg->profiles, cfg->n_profiles and
 * cfg->default_profile; *set owns them and must outlive the Runtime
 * (unload_profiles() after wr_runtime_close()).  Returns 0, or -1 after
 * logging one line that names the file, the profile and the member.
 */
static int load_profiles(const char *path, struct wr_config *cfg,
                         struct wr_profile_set **set)
{
	struct wr_error err;

	wr_error_clear(&err);
	if (wr_profiles_load(path, set, &err) != WR_OK) {
		log_msg(LOG_ERROR, "--profiles: %s (%s/%s)",
		        err.message, wr_err_name(err.code),
		        wr_reason_name(err.reason));
		return -1;
	}
	cfg->profiles = wr_profile_set_profiles(*set, &cfg->n_profiles);
	cfg->default_profile = wr_profile_set_default(*set);
	return 0;
}

/* Releases what load_profiles() set up; safe when it set up nothing. */
static void unload_profiles(struct wr_config *cfg, struct wr_profile_set *set)
{
	cfg->profiles = NULL;
	cfg->n_profiles = 0;
	cfg->default_profile = NULL;
	wr_profile_set_free(set);
}

/* ---- SIGHUP -------------------------------------------------------------- */

/* What a reload needs.  A reload whose file holds the same bytes as the
 * set in force (logrotate's daily SIGHUP, a "systemctl reload" by a
 * configuration tool) keeps that set and frees the new one; a replaced
 * set is freed at once: the workers started from it copied what they
 * keep of it (wr_profile_set_free). */
struct reload {
	const char *profiles_path; /* NULL: no --profiles */
	struct wr_runtime *rt;     /* set once the Runtime is open */
	struct wr_profile_set *current; /* in force; owned */
	bool log_file;             /* --log-file or --access-log given:
	                            * reopen them */
};

/* Loads the profiles file again and puts it in force; on any error the
 * old profiles stay, and one error line says why. */
static void reload_profiles(struct reload *r)
{
	struct wr_profile_set *set = NULL;
	const struct wr_profile *p;
	struct wr_error err;
	size_t n = 0;

	wr_error_clear(&err);
	if (wr_profiles_load(r->profiles_path, &set, &err) != WR_OK) {
		log_msg(LOG_ERROR, "reload: --profiles: %s (%s/%s); the old "
		        "profiles stay in force", err.message,
		        wr_err_name(err.code), wr_reason_name(err.reason));
		return;
	}
	p = wr_profile_set_profiles(set, &n);
	if (wr_profile_set_same_source(set, r->current)) {
		wr_profile_set_free(set);
		log_msg(LOG_INFO, "reload: %zu profile(s) from %s unchanged; "
		        "kept in force", n, r->profiles_path);
		return;
	}
	if (wr_runtime_set_profiles(r->rt, p, n, wr_profile_set_default(set),
	                            &err) != WR_OK) {
		log_msg(LOG_ERROR, "reload: --profiles: %s (%s/%s); the old "
		        "profiles stay in force", err.message,
		        wr_err_name(err.code), wr_reason_name(err.reason));
		wr_profile_set_free(set);
		return;
	}
	wr_profile_set_free(r->current);
	r->current = set;
	log_msg(LOG_INFO, "reload: %zu profile(s) from %s in force for new "
	        "workers", n, r->profiles_path);
}

/* The responder's on_reload (main thread): reopens the log file, reloads
 * the profiles. */
static void on_reload(void *arg)
{
	struct reload *r = arg;

	if (r->log_file && log_reopen() == 0)
		log_msg(LOG_INFO, "reload: log files reopened");
	if (r->profiles_path != NULL && r->rt != NULL)
		reload_profiles(r);
}

/* ---- the shutdown bound ------------------------------------------------- */

/*
 * From the stop signal on, the process has --shutdown-timeout ms to drain
 * requests, stop its workers and close the store.  Past that the guard
 * thread answers the connections waiting in the listen backlog with 503
 * stopping (a serving thread stuck in a request must not get them reset),
 * logs one line and ends the process with _exit(1) - within GUARD_LAST_S
 * even when a log blocks those writes; the worker
 * watchdog of the library then kills the process groups of the workers
 * still running (the store keeps what it acknowledged: every record is on
 * disk before its request is answered).
 */
struct shutdown_guard {
	pthread_mutex_t mu;
	pthread_cond_t cv; /* CLOCK_MONOTONIC */
	bool done;
	bool armed;
	unsigned timeout_ms;
	int listen_fd;          /* drained at the timeout; -1: none */
	unsigned retry_after_s;
	struct wr_runtime *rt;  /* told to drain at the stop; NULL: none yet */
	pthread_t tid;
};

/* How long the guard's own drain and line may take before the process
 * ends without them: the drain's budget (1 s, responder.c) and 1 s more. */
#define GUARD_LAST_S 2

/* The guard's deadline for itself: the drain answers and logs, and a log
 * that takes no line - a FIFO whose reader stopped, a full pipe - blocks
 * the write; then this ends the process all the same. */
static void *guard_last_resort(void *arg)
{
	struct timespec t = { GUARD_LAST_S, 0 };

	(void)arg;
	while (nanosleep(&t, &t) != 0 && errno == EINTR)
		;
	_exit(EXIT_FAILURE);
}

/* Starts guard_last_resort, detached; without it (pthread_create failed)
 * the guard goes on unbounded, as it did. */
static void guard_bound_self(void)
{
	pthread_attr_t a;
	pthread_t t;

	if (pthread_attr_init(&a) != 0)
		return;
	(void)pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
	(void)pthread_create(&t, &a, guard_last_resort, NULL);
	pthread_attr_destroy(&a);
}

static void *guard_main(void *arg)
{
	struct shutdown_guard *g = arg;
	struct timespec dl;

	clock_gettime(CLOCK_MONOTONIC, &dl);
	dl.tv_sec += g->timeout_ms / 1000;
	dl.tv_nsec += (long)(g->timeout_ms % 1000) * 1000000L;
	if (dl.tv_nsec >= 1000000000L) {
		dl.tv_sec++;
		dl.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&g->mu);
	while (!g->done) {
		if (pthread_cond_timedwait(&g->cv, &g->mu, &dl) == ETIMEDOUT &&
		    !g->done) {
			unsigned n;

			guard_bound_self();
			n = g->listen_fd < 0 ? 0 :
			             responder_drain_backlog(g->listen_fd,
			                                     g->retry_after_s,
			                                     true);

			log_msg(LOG_ERROR, "shutdown timeout: not "
			        "stopped within %u ms (--shutdown-timeout); "
			        "answered %u request(s) from the listen backlog "
			        "with 503 stopping; exiting now, the workers "
			        "still running are killed", g->timeout_ms, n);
			_exit(EXIT_FAILURE);
		}
	}
	pthread_mutex_unlock(&g->mu);
	return NULL;
}

/* The responder's on_stop: starts the clock and tells the Runtime to
 * start no background work its close would wait for (main thread,
 * once). */
static void guard_arm(void *arg)
{
	struct shutdown_guard *g = arg;
	int e;

	wr_runtime_drain(g->rt);
	log_msg(LOG_INFO, "stopping within %u ms",
	        g->timeout_ms);
	e = pthread_create(&g->tid, NULL, guard_main, g);
	if (e != 0)
		log_msg(LOG_WARN, "shutdown timeout not "
		        "enforced: pthread_create: %s", strerror(e));
	else {
		(void)pthread_setname_np(g->tid, "wr-guard");
		g->armed = true;
	}
}

/* The stop finished in time: ends the guard thread. */
static void guard_disarm(struct shutdown_guard *g)
{
	if (!g->armed)
		return;
	pthread_mutex_lock(&g->mu);
	g->done = true;
	pthread_cond_signal(&g->cv);
	pthread_mutex_unlock(&g->mu);
	pthread_join(g->tid, NULL);
	g->armed = false;
}

/* Without --shutdown-timeout: the longest graceful worker stop + margin. */
static void guard_default(struct shutdown_guard *g,
                          const struct wr_config *cfg)
{
	if (g->timeout_ms == 0)
		g->timeout_ms = wr_profiles_stop_bound_ms(cfg->profiles,
		                                          cfg->n_profiles) +
		                SHUTDOWN_MARGIN_MS;
}

static void guard_init(struct shutdown_guard *g, unsigned timeout_ms)
{
	pthread_condattr_t ca;

	memset(g, 0, sizeof *g);
	pthread_mutex_init(&g->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&g->cv, &ca);
	pthread_condattr_destroy(&ca);
	g->timeout_ms = timeout_ms;
	g->listen_fd = -1;
}

/* ---- --check-config ----------------------------------------------------- */

/*
 * The directory a file at path is created in (bind, the pid file's rename,
 * the log file) exists and this process may create entries in it, as the
 * start needs.  Returns true, or false after one "check: FLAG PATH: ..."
 * error line.
 */
static bool check_parent_dir(const char *flag, const char *path)
{
	char dir[4096];
	const char *slash = strrchr(path, '/');
	size_t n = slash == NULL ? 0 : (size_t)(slash - path);
	struct stat st;
	const char *why = NULL;

	if (slash == NULL)
		snprintf(dir, sizeof dir, ".");
	else if (n == 0)
		snprintf(dir, sizeof dir, "/");
	else
		snprintf(dir, sizeof dir, "%.*s", (int)n, path);
	if (stat(dir, &st) < 0)
		why = strerror(errno);
	else if (!S_ISDIR(st.st_mode))
		why = "not a directory";
	else if (access(dir, W_OK | X_OK) < 0)
		why = strerror(errno);
	if (why != NULL)
		log_msg(LOG_ERROR, "check: %s %s: directory %s: %s", flag, path,
		        dir, why);
	return why == NULL;
}

/* --log-file or --access-log (flag): appendable if it exists (as
 * serving opens it), else its directory lets the start create it.
 * Creates nothing. */
static bool check_log_file(const char *flag, const char *path)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC | O_NOCTTY |
	              O_NONBLOCK); /* a FIFO without reader: ENXIO, no wait */

	if (fd < 0 && errno == ENOENT) {
		if (!check_parent_dir(flag, path))
			return false;
		log_msg(LOG_INFO, "check: %s %s: ok (the start creates it)",
		        flag, path);
		return true;
	}
	if (fd < 0) {
		log_msg(LOG_ERROR, "check: %s %s: %s", flag, path,
		        log_open_why(path, errno));
		return false;
	}
	close(fd);
	log_msg(LOG_INFO, "check: %s %s: ok", flag, path);
	return true;
}

/* Whether this process may give a file it owns group gid (chown(2)): it is
 * root, or gid is its group or one of its supplementary groups. */
static bool may_chgrp(gid_t gid)
{
	gid_t groups[NGROUPS_MAX];
	int n;

	if (geteuid() == 0 || getegid() == gid)
		return true;
	n = getgroups(NGROUPS_MAX, groups);
	for (int i = 0; i < n; i++)
		if (groups[i] == gid)
			return true;
	return false;
}

/* --socket unix:PATH as listen_unix would bind it, without binding: the
 * group exists and this user may give it, the directory takes a new entry,
 * and PATH is free or a stale socket (a live one is another Runtime's: the
 * start would fail). */
static bool check_socket_unix(const struct options *o, const char *path)
{
	struct sockaddr_un sa;
	struct stat st;
	gid_t gid;

	if (o->socket_group != NULL &&
	    resolve_group(o->socket_group, &gid) < 0) {
		log_msg(LOG_ERROR, "check: --socket-group %s: failed",
		        o->socket_group);
		(void)check_parent_dir("--socket", path);
		return false;
	}
	if (o->socket_group != NULL && !may_chgrp(gid)) {
		log_msg(LOG_ERROR, "check: --socket-group %s: this user is not a "
		        "member of that group (the start could not chown the "
		        "socket)", o->socket_group);
		(void)check_parent_dir("--socket", path);
		return false;
	}
	if (!check_parent_dir("--socket", path))
		return false;
	memset(&sa, 0, sizeof sa);
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, path, strlen(path) + 1); /* length checked */
	if (lstat(path, &st) == 0 &&
	    (!S_ISSOCK(st.st_mode) || unix_socket_live(&sa))) {
		log_msg(LOG_ERROR, "check: --socket %s: %s", o->socket,
		        S_ISSOCK(st.st_mode) ? "another process is listening "
		        "on it" : "exists and is not a socket");
		return false;
	}
	log_msg(LOG_INFO, "check: --socket %s: ok%s%s", o->socket,
	        o->socket_group != NULL ? ", group " : "",
	        o->socket_group != NULL ? o->socket_group : "");
	return true;
}

/* --socket: unix as above; HOST:PORT must resolve (the port is not bound:
 * a running Runtime may hold it); none: fd 0 is checked at the start. */
static bool check_socket(const struct options *o)
{
	struct addrinfo hints, *res = NULL;
	char host[256], port[8];
	int e;

	if (o->socket == NULL) {
		log_msg(LOG_INFO, "check: --socket: not given; at the start "
		        "standard input must be a listening socket (spawn-fcgi, "
		        "systemd)");
		return true;
	}
	if (strncmp(o->socket, "unix:", 5) == 0)
		return check_socket_unix(o, o->socket + 5);
	split_host_port(o->socket, host, sizeof host, port, sizeof port);
	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	if ((e = getaddrinfo(host, port, &hints, &res)) != 0) {
		log_msg(LOG_ERROR, "check: --socket %s: %s", o->socket,
		        gai_strerror(e));
		return false;
	}
	freeaddrinfo(res);
	log_msg(LOG_INFO, "check: --socket %s: ok (resolves; not bound)",
	        o->socket);
	return true;
}

/* --pid-file: written through a temporary file in its directory, renamed
 * over PATH (which must not be a directory). */
static bool check_pid_file(const char *path)
{
	struct stat st;

	if (!check_parent_dir("--pid-file", path))
		return false;
	if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
		log_msg(LOG_ERROR, "check: --pid-file %s: is a directory", path);
		return false;
	}
	log_msg(LOG_INFO, "check: --pid-file %s: ok", path);
	return true;
}

/* --local-token-file: read and checked as the start reads it. */
static bool check_token_file(const char *path)
{
	char *token = NULL;

	if (read_token(path, &token) < 0) {
		log_msg(LOG_ERROR, "check: --local-token-file %s: failed", path);
		return false;
	}
	log_msg(LOG_INFO, "check: --local-token-file %s: ok", path);
	explicit_bzero(token, strlen(token));
	free(token);
	return true;
}

/* The Runtime's config (cfg, as the start builds it) and store:
 * wr_runtime_check gives the errors wr_runtime_open would. */
static bool check_runtime(const struct options *o, const struct wr_config *cfg)
{
	struct wr_store_check found;
	struct wr_error err;

	wr_error_clear(&err);
	if (wr_runtime_check(cfg, &found, &err) != WR_OK) {
		log_msg(LOG_ERROR, "check: --store %s: %s (%s/%s)", o->store,
		        err.message, wr_err_name(err.code),
		        wr_reason_name(err.reason));
		return false;
	}
	if (found.store_created)
		log_msg(LOG_INFO, "check: --store %s: ok (does not exist yet; "
		        "the first start creates it)", o->store);
	else if (found.store_runtime_id[0] != '\0')
		log_msg(LOG_INFO, "check: --store %s: ok (runtime id %s)",
		        o->store, found.store_runtime_id);
	else
		log_msg(LOG_INFO, "check: --store %s: ok", o->store);
	return true;
}

/*
 * -t: checks what the command line names, one line each, like nginx -t,
 * as the start would use it: the flags (already parsed), the log file,
 * the token file, the profiles file, the listen socket (unix: its group,
 * its directory, nothing else listening; TCP: the address resolves), the
 * pid file's directory, then the Runtime's config and store through
 * wr_runtime_check (exists or can be created, writable, format version,
 * not locked by a live Runtime, the runtime id it belongs to).  Binds,
 * creates and serves nothing.  Returns the exit status: 0 if everything
 * passed, else 1.
 */
static int check_config(const struct options *o, struct wr_config *cfg)
{
	struct wr_profile_set *set = NULL;
	bool ok = true;

	log_msg(LOG_INFO, "check: flags: ok");
	if (o->log_file != NULL)
		ok &= check_log_file("--log-file", o->log_file);
	if (o->access_log != NULL)
		ok &= check_log_file("--access-log", o->access_log);
	if (o->access_log_off != NULL)
		log_msg(LOG_INFO, "check: --access-log %s: not used "
		        "(--no-access-log)", o->access_log_off);
	if (o->token_file != NULL)
		ok &= check_token_file(o->token_file);
	if (o->profiles != NULL) {
		if (load_profiles(o->profiles, cfg, &set) < 0) {
			log_msg(LOG_ERROR, "check: --profiles %s: failed",
			        o->profiles);
			ok = false;
		} else {
			log_msg(LOG_INFO, "check: --profiles %s: ok, %zu "
			        "profile(s)", o->profiles, cfg->n_profiles);
		}
	}
	ok &= check_socket(o);
	if (o->pid_file != NULL)
		ok &= check_pid_file(o->pid_file);
	ok &= check_runtime(o, cfg);
	unload_profiles(cfg, set);
	log_msg(ok ? LOG_INFO : LOG_ERROR, "check: configuration %s",
	        ok ? "ok" : "has errors");
	return ok ? EXIT_SUCCESS : EXIT_FAILURE;
}

/* ---- main --------------------------------------------------------------- */

/* --health-check: the token file is read as the Runtime reads it; the
 * probe's bound is 5 s (below a probe's usual timeoutSeconds). */
#define HEALTH_CHECK_TIMEOUT_MS 5000

static int run_health_check(const struct options *o)
{
	char *token = NULL;
	int rc;

	if (o->token_file != NULL && read_token(o->token_file, &token) < 0)
		return EXIT_FAILURE;
	rc = health_check(o->socket, token, HEALTH_CHECK_TIMEOUT_MS);
	if (token != NULL) {
		explicit_bzero(token, strlen(token));
		free(token);
	}
	return rc;
}

/* The Runtime's config from the flags (the profiles come later), for the
 * start and for -t alike. */
static void fill_config(const struct options *o, struct wr_config *cfg)
{
	memset(cfg, 0, sizeof *cfg);
	cfg->runtime_id = o->runtime_id;
	cfg->display_name = o->display_name;
	cfg->store = o->store;
	cfg->snapshot_bytes = o->snapshot_bytes;
	cfg->snapshot_percent = o->snapshot_percent;
	cfg->limits = o->limits;
	cfg->max_waiters = o->max_waiters;
	if (o->retain_ended != NULL)
		parse_duration(o->retain_ended, &cfg->retain_ended_ms);
	if (o->idempotency_ttl != NULL)
		parse_duration(o->idempotency_ttl, &cfg->idempotency_ttl_ms);
	cfg->max_idempotency_keys = o->max_idempotency_keys;
	cfg->on_diagnostic = log_diagnostic;
	cfg->on_worker_event = log_worker_event;
}

/* Opens the Runtime *cfg describes.  Returns it, or NULL after logging
 * one line with the error's code and reason. */
static struct wr_runtime *open_runtime(const struct wr_config *cfg)
{
	struct wr_runtime *rt = NULL;
	struct wr_error err;
	wr_err rc;

	wr_error_clear(&err);
	rc = wr_runtime_open(cfg, &rt, &err);
	if (rc != WR_OK) {
		log_msg(LOG_ERROR, "cannot open the runtime: %s "
		        "(%s%s%s)", err.message[0] ? err.message : wr_strerror(rc),
		        wr_err_name(rc), err.reason != WR_REASON_NONE ? "/" : "",
		        wr_reason_name(err.reason));
		return NULL;
	}
	return rt;
}

/*
 * Test seam of tests/e2e/restoring.sh: with WR_TEST_HOLD_OPEN=FIFO in the
 * environment, the process waits before it opens the Runtime until a
 * writer has opened and closed FIFO, so the test sees the restoring state
 * without guessing how long a replay takes.  Without it: nothing.
 */
static void hold_open_for_test(void)
{
	const char *path = getenv("WR_TEST_HOLD_OPEN");
	char buf[64];
	int fd;

	if (path == NULL || path[0] == '\0')
		return;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		log_msg(LOG_ERROR, "WR_TEST_HOLD_OPEN %s: %s",
		        path, strerror(errno));
		return;
	}
	while (read(fd, buf, sizeof buf) > 0)
		; /* until the writer closes it */
	close(fd);
}

/* Logs the "started" line once rt is open.  Returns 0, or -1 after logging
 * why the summary failed. */
static int log_started(const struct options *o, struct wr_runtime *rt)
{
	struct wr_runtime_summary sum;
	struct wr_error err;

	wr_error_clear(&err);
	if (wr_runtime_summary(rt, &sum, &err) != WR_OK) {
		log_msg(LOG_ERROR, "runtime summary: %s",
		        err.message);
		return -1;
	}
	{
		const struct log_field f[] = {
			LOG_STR("runtime_id", sum.runtime_id),
			LOG_STR("socket", o->socket != NULL ? o->socket : "fd:0"),
			LOG_STR("store", o->store),
			LOG_UINT("threads", o->threads),
		};

		log_event(LOG_INFO, "started", f, sizeof f / sizeof f[0]);
	}
	return 0;
}

/*
 * Serves on l until SIGTERM/SIGINT.  The responder's threads start first
 * and answer every request 503 restoring while this thread opens the
 * Runtime (the store replays); *rt is then published to them (see
 * handlers.h) and the "started" line logged.  A stop signal that arrives
 * while the store replays is taken once the Runtime is open.  guard is
 * armed by the responder when the stop begins.  Returns 0 after a clean
 * stop, -1 after logging why opening or serving failed; *rt is the Runtime
 * opened (NULL if none), the caller closes it; *pid_written says whether
 * --pid-file was written (once the Runtime is open, before it serves).
 */
static int serve(const struct options *o, const struct wr_config *cfg,
                 struct wr_runtime **rt, const char *token,
                 const struct listener *l, struct shutdown_guard *guard,
                 struct reload *reload, bool *pid_written)
{
	struct http_ctx ctx;
	struct responder_config rcfg;

	memset(&ctx, 0, sizeof ctx);
	atomic_init(&ctx.rt, NULL);
	ctx.token = token;
	ctx.max_body = o->max_body;
	ctx.retry_after_s = o->retry_after;
	ctx.server_stats = responder_stats;
	memset(&rcfg, 0, sizeof rcfg);
	rcfg.listen_fd = l->fd;
	rcfg.own_listener = o->socket != NULL;
	rcfg.tcp = o->socket != NULL && strncmp(o->socket, "unix:", 5) != 0;
	guard_default(guard, cfg);
	guard->listen_fd = l->fd;
	guard->retry_after_s = o->retry_after;
	rcfg.on_stop = guard_arm;
	rcfg.on_stop_arg = guard;
	rcfg.on_reload = on_reload;
	rcfg.on_reload_arg = reload;
	rcfg.threads = o->threads;
	rcfg.max_body = o->max_body;
	rcfg.ctx = &ctx;

	if (responder_start(&rcfg) < 0)
		return -1;
	{
		const struct log_field f[] = { LOG_STR("store", o->store) };

		log_event(LOG_INFO, "restoring (answering 503 restoring until "
		          "it is open)", f, 1);
	}
	hold_open_for_test();
	*rt = open_runtime(cfg);
	/* The pid file before the "started" line: whoever waits for that
	 * line (spawn-fcgi.sh) then finds the pid file. */
	if (*rt == NULL ||
	    (o->pid_file != NULL && pid_file_write(o->pid_file) < 0)) {
		responder_abort(&rcfg);
		return -1;
	}
	*pid_written = o->pid_file != NULL; /* once the Runtime serves */
	if (log_started(o, *rt) < 0) {
		responder_abort(&rcfg);
		return -1;
	}
	reload->rt = *rt;
	guard->rt = *rt; /* read by guard_arm, on this (the main) thread */
	atomic_store_explicit(&ctx.rt, *rt, memory_order_release);
	return responder_wait(&rcfg);
}

/*
 * A transcript page is one response body of up to some MiB, allocated and
 * freed by a serving thread per request.  With glibc's defaults such a
 * block is mmap'ed and unmapped each time (the dynamic mmap threshold) or,
 * once that threshold has grown, freeing it makes the thread's heap trim
 * its top and the next response fault the same pages back in: a page cost
 * 4x more at 1M entries than at 1k, nearly all in sysmalloc and page
 * faults.  Fixed thresholds keep such blocks in the heap and the freed
 * pages mapped for the next response: at most MALLOC_KEEP bytes of free
 * memory stay with each malloc arena (glibc makes up to 8 per core), a
 * bounded price for no per-response mmap/munmap/fault.  (Reusable
 * per-thread response buffers would do the same for the body only, not
 * for the page the library builds, and would change the handlers'
 * ownership rules.)
 */
#define MALLOC_MMAP_THRESHOLD (32 * 1024 * 1024) /* glibc's maximum */
#define MALLOC_KEEP (32 * 1024 * 1024)

static void tune_malloc(void)
{
#if defined(__GLIBC__)
	if (mallopt(M_MMAP_THRESHOLD, MALLOC_MMAP_THRESHOLD) != 1 ||
	    mallopt(M_TRIM_THRESHOLD, MALLOC_KEEP) != 1)
		log_msg(LOG_WARN, "mallopt refused the "
		        "heap thresholds; large responses may cost more");
#endif
}

int main(int argc, char **argv)
{
	struct options o;
	struct listener l = { .fd = -1 };
	struct wr_config cfg;
	struct wr_runtime *rt = NULL;
	struct wr_profile_set *pset = NULL;
	struct shutdown_guard guard;
	struct reload reload = { .profiles_path = NULL };
	char *token = NULL;
	bool pid_written = false;
	int status = EXIT_FAILURE;

	options_parse(argc, argv, &o); /* --help and usage errors exit */
	log_configure(o.log_format != NULL && strcmp(o.log_format, "json") == 0
	              ? LOG_JSON : LOG_TEXT, !o.no_access_log);
	fill_config(&o, &cfg);
	if (o.check_config)
		return check_config(&o, &cfg);
	if (o.health_check)
		return run_health_check(&o);
	if (o.log_file != NULL && log_open_file(o.log_file) < 0) {
		log_msg(LOG_ERROR, "--log-file %s: %s", o.log_file,
		        log_open_why(o.log_file, errno));
		return EXIT_FAILURE;
	}
	if (o.access_log != NULL && log_open_access_file(o.access_log) < 0) {
		log_msg(LOG_ERROR, "--access-log %s: %s", o.access_log,
		        log_open_why(o.access_log, errno));
		return EXIT_FAILURE;
	}
	reload.profiles_path = o.profiles;
	reload.log_file = o.log_file != NULL || o.access_log != NULL;
	tune_malloc(); /* before any thread has an arena */
	guard_init(&guard, o.shutdown_timeout_ms);

	/* Before any thread exists, so every thread inherits the mask. */
	if (responder_signals_init() < 0) {
		log_msg(LOG_ERROR, "signals: %s", strerror(errno));
		return EXIT_FAILURE;
	}

	if (o.token_file != NULL && read_token(o.token_file, &token) < 0)
		goto out;

	if (o.profiles != NULL && load_profiles(o.profiles, &cfg, &pset) < 0)
		goto out;
	if (listener_open(&o, &l) < 0)
		goto out;
	reload.current = pset;
	if (serve(&o, &cfg, &rt, token, &l, &guard, &reload, &pid_written) == 0)
		status = 0;

out:
	/* Stops the workers and flushes the store; no thread uses rt now. */
	wr_runtime_close(rt);
	guard_disarm(&guard);
	unload_profiles(&cfg, reload.current != NULL ? reload.current : pset);
	listener_close(&l);
	if (pid_written)
		pid_file_remove(o.pid_file);
	if (token != NULL) {
		explicit_bzero(token, strlen(token));
		free(token);
	}
	if (status == 0)
		log_msg(LOG_INFO, "stopped");
	return status;
}
