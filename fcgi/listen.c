/*
 * listen.c - the listen socket (--socket unix:PATH or HOST:PORT, or fd 0
 * from spawn-fcgi) and the pid file; see listen.h.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "listen.h"
#include "log.h"

#define SOCKET_MODE_DEFAULT 0660

/* ---- the listen socket -------------------------------------------------- */

/* True if a live server accepts on the unix socket at path. */
bool unix_socket_live(const struct sockaddr_un *sa)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool live;

	if (fd < 0)
		return true; /* cannot tell: do not remove it */
	live = connect(fd, (const struct sockaddr *)sa, sizeof *sa) == 0 ||
	       errno != ECONNREFUSED;
	close(fd);
	return live;
}

/* Makes room for a new socket at path: nothing there, or a stale socket
 * file (nobody listens) that is removed; any other file is refused.
 * Returns 0, or -1 after logging one line. */
static int unix_path_clear(const struct sockaddr_un *sa, const char *path)
{
	struct stat st;

	if (lstat(path, &st) < 0) {
		if (errno == ENOENT)
			return 0;
		log_msg(LOG_ERROR, "stat %s: %s", path,
		        strerror(errno));
		return -1;
	}
	if (!S_ISSOCK(st.st_mode)) {
		log_msg(LOG_ERROR, "%s exists and is not a "
		        "socket; refusing to replace it", path);
		return -1;
	}
	if (unix_socket_live(sa)) {
		log_msg(LOG_ERROR, "%s: another process is "
		        "listening on it", path);
		return -1;
	}
	if (unlink(path) < 0 && errno != ENOENT) {
		log_msg(LOG_ERROR, "unlink %s: %s", path,
		        strerror(errno));
		return -1;
	}
	return 0;
}

/* Resolves --socket-group (a name, else a number) into *gid.  Returns 0,
 * or -1 after logging one line. */
int resolve_group(const char *spec, gid_t *gid)
{
	struct group gr, *res = NULL;
	char buf[4096];
	unsigned long long v;
	int e = getgrnam_r(spec, &gr, buf, sizeof buf, &res);

	if (e == 0 && res != NULL) {
		*gid = res->gr_gid;
		return 0;
	}
	if (parse_uint(spec, 0, (gid_t)-1 - 1, &v)) {
		*gid = (gid_t)v;
		return 0;
	}
	log_msg(LOG_ERROR, "--socket-group %s: %s", spec,
	        e != 0 ? strerror(e) : "no such group");
	return -1;
}

/* Gives the socket file just bound at path its group and mode, before it
 * listens: until then a connect is refused, so nginx never reaches it
 * with the wrong owner or mode.  Fills *st.  Returns 0 or -1. */
static int unix_socket_perms(const char *path, mode_t mode, bool set_gid,
                             gid_t gid, struct stat *st)
{
	if (set_gid && chown(path, (uid_t)-1, gid) < 0) {
		log_msg(LOG_ERROR, "--socket-group: chown %s: %s%s",
		        path, strerror(errno), errno == EPERM ?
		        " (the user must be a member of that group)" : "");
		return -1;
	}
	if (chmod(path, mode) < 0 || stat(path, st) < 0) {
		log_msg(LOG_ERROR, "chmod %s: %s", path,
		        strerror(errno));
		return -1;
	}
	return 0;
}

/*
 * Binds a unix socket with o's --socket-mode (default 0660) and
 * --socket-group.  A stale socket file (nobody listens) is replaced; any
 * other existing file is refused.  Returns 0, or -1 after logging.
 */
static int listen_unix(const char *path, const struct options *o,
                       struct listener *l)
{
	struct sockaddr_un sa;
	struct stat st;
	mode_t mode = SOCKET_MODE_DEFAULT, old_mask;
	gid_t gid = 0;
	int fd = -1;
	int rc;

	memset(&sa, 0, sizeof sa);
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, path, strlen(path) + 1); /* length checked */
	if (o->socket_mode != NULL)
		parse_mode(o->socket_mode, &mode); /* checked by the flag */
	if ((o->socket_group != NULL && resolve_group(o->socket_group, &gid) < 0) ||
	    unix_path_clear(&sa, path) < 0)
		return -1;

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		log_msg(LOG_ERROR, "socket: %s", strerror(errno));
		return -1;
	}
	/* Created with at most the final mode (no window with a wider one);
	 * still single-threaded here, so changing the umask is safe. */
	old_mask = umask(~mode & 0777);
	rc = bind(fd, (const struct sockaddr *)&sa, sizeof sa);
	umask(old_mask);
	if (rc < 0) {
		log_msg(LOG_ERROR, "bind %s: %s", path,
		        strerror(errno));
		goto fail;
	}
	if (unix_socket_perms(path, mode, o->socket_group != NULL, gid,
	                      &st) < 0) {
		unlink(path);
		goto fail;
	}
	if (listen(fd, SOMAXCONN) < 0) {
		log_msg(LOG_ERROR, "listen %s: %s", path,
		        strerror(errno));
		unlink(path);
		goto fail;
	}
	l->fd = fd;
	l->own_unix = true;
	snprintf(l->path, sizeof l->path, "%s", path);
	l->dev = st.st_dev;
	l->ino = st.st_ino;
	return 0;
fail:
	close(fd);
	return -1;
}

static bool addr_is_loopback(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;

		return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;

		return IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr) ||
		       (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr) &&
		        in6->sin6_addr.s6_addr[12] == 127);
	}
	return false;
}

/* Binds TCP HOST:PORT (first address that works).  Returns 0 or -1. */
static int listen_tcp(const char *spec, bool have_token, struct listener *l)
{
	struct addrinfo hints, *res = NULL, *ai;
	char host[256], port[8];
	int fd = -1;
	int e;
	int last_errno = 0;
	const char *what = "bind";

	split_host_port(spec, host, sizeof host, port, sizeof port);
	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	e = getaddrinfo(host, port, &hints, &res);
	if (e != 0) {
		log_msg(LOG_ERROR, "--socket %s: %s", spec,
		        gai_strerror(e));
		return -1;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		int one = 1;

		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
		            ai->ai_protocol);
		if (fd < 0) {
			last_errno = errno;
			what = "socket";
			continue;
		}
		(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 &&
		    listen(fd, SOMAXCONN) == 0)
			break;
		last_errno = errno;
		what = "bind";
		close(fd);
		fd = -1;
	}
	if (fd < 0) {
		log_msg(LOG_ERROR, "%s %s: %s", what, spec,
		        strerror(last_errno));
		freeaddrinfo(res);
		return -1;
	}
	if (!addr_is_loopback(ai->ai_addr))
		log_msg(LOG_WARN, "%s is not a loopback "
		        "address; whoever reaches it can drive the Runtime%s",
		        spec, have_token ? "" : " (no --local-token-file)");
	freeaddrinfo(res);
	l->fd = fd;
	return 0;
}

/* fd 0 must be a listening socket when spawn-fcgi (or systemd) started us. */
static int listen_stdin(struct listener *l)
{
	int v = 0;
	socklen_t len = sizeof v;

	if (getsockopt(0, SOL_SOCKET, SO_ACCEPTCONN, &v, &len) < 0 || !v)
		return -1;
	l->fd = 0;
	return 0;
}

void listener_close(struct listener *l)
{
	struct stat st;

	if (l->fd < 0)
		return;
	/* Remove the socket file only if it is still ours: a successor may
	 * have replaced it already. */
	if (l->own_unix && stat(l->path, &st) == 0 && st.st_dev == l->dev &&
	    st.st_ino == l->ino)
		unlink(l->path);
	if (l->fd != 0)
		close(l->fd);
	l->fd = -1;
}

/* ---- the pid file ------------------------------------------------------- */

/*
 * Writes "PID\n" to path through a temporary file renamed over it, so a
 * reader sees the old content or the whole new one, never a part.  Called
 * once the socket listens and the store is open.  Returns 0, or -1 after
 * logging one line.
 */
int pid_file_write(const char *path)
{
	char tmp[4096], line[32];
	int fd, n, len;

	n = snprintf(tmp, sizeof tmp, "%s.%ld.tmp", path, (long)getpid());
	if (n < 0 || (size_t)n >= sizeof tmp) {
		log_msg(LOG_ERROR, "--pid-file: name too long");
		return -1;
	}
	len = snprintf(line, sizeof line, "%ld\n", (long)getpid());
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
	          0644);
	if (fd < 0) {
		log_msg(LOG_ERROR, "--pid-file: open %s: %s", tmp,
		        strerror(errno));
		return -1;
	}
	if (write(fd, line, (size_t)len) != len || close(fd) < 0 ||
	    rename(tmp, path) < 0) {
		log_msg(LOG_ERROR, "--pid-file %s: %s", path,
		        strerror(errno));
		unlink(tmp);
		return -1;
	}
	return 0;
}

/* Removes the pid file if it is still a regular file holding this
 * process's id (a successor may have written its own already).  Nothing
 * else put in its place is opened: an open of a FIFO would wait for a
 * writer, or release one waiting in its own open into EPIPE; a device's
 * open may act.  The open does not block either, for a FIFO put there
 * after the lstat; and the file unlinked is the one read, as far as a
 * path allows (a successor renames its own over it). */
void pid_file_remove(const char *path)
{
	char buf[32], want[32];
	struct stat st, now;
	ssize_t n = -1;
	int fd;

	if (lstat(path, &st) != 0 || !S_ISREG(st.st_mode))
		return;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK |
	          O_NOCTTY);
	if (fd < 0)
		return;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode))
		n = read(fd, buf, sizeof buf - 1);
	close(fd);
	snprintf(want, sizeof want, "%ld\n", (long)getpid());
	if (n > 0 && (buf[n] = '\0', strcmp(buf, want) == 0) &&
	    lstat(path, &now) == 0 && now.st_dev == st.st_dev &&
	    now.st_ino == st.st_ino)
		unlink(path);
}

/* Opens what --socket names, or takes fd 0 without it.  Returns 0, or -1
 * after logging one line; exits 2 when fd 0 is not a listening socket. */
int listener_open(const struct options *o, struct listener *l)
{
	if (o->socket == NULL) {
		if (listen_stdin(l) < 0)
			usage_error("no --socket given and standard input is not "
			            "a listening socket (run under spawn-fcgi or "
			            "pass --socket)");
		return 0;
	}
	if (strncmp(o->socket, "unix:", 5) == 0)
		return listen_unix(o->socket + 5, o, l);
	return listen_tcp(o->socket, o->token_file != NULL, l);
}
