/*
 * listen.h - the worker-runtime process's listen socket and pid file.
 * Not thread-safe: used by main before the serving threads start and after
 * they end.
 */
#ifndef WR_FCGI_LISTEN_H
#define WR_FCGI_LISTEN_H

#include <stdbool.h>
#include <sys/types.h>
#include <sys/un.h>

#include "options.h"

/* The listen socket this process opened, so that exit can remove a unix
 * socket file only if it is still the one bound here. */
struct listener {
	int fd;
	bool own_unix;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	dev_t dev;
	ino_t ino;
};

/*
 * Opens what o->socket names into *l: unix:PATH (a stale socket file is
 * replaced, any other file refused; --socket-mode and --socket-group are
 * set before it listens) or HOST:PORT (a non-loopback address gets a warning
 * line); without --socket, takes fd 0, which must be a
 * listening socket (spawn-fcgi).  Returns 0, or -1 after logging one
 * line; exits 2 (usage_error) when fd 0 is not a listening socket.
 */
int listener_open(const struct options *o, struct listener *l);

/* Closes l's socket and removes its unix socket file if the file is still
 * the one bound here (same device and inode).  l->fd is -1 after. */
void listener_close(struct listener *l);

/* True if a live server accepts on the unix socket sa, or if that cannot
 * be told (then it must not be removed). */
bool unix_socket_live(const struct sockaddr_un *sa);

/* Resolves a --socket-group spec (a name, else a number) into *gid.
 * Returns 0, or -1 after logging one line. */
int resolve_group(const char *spec, gid_t *gid);

/* Writes this process's id to path (a temporary file renamed over it).
 * Returns 0, or -1 after logging one line. */
int pid_file_write(const char *path);

/* Removes path if it is still a regular file holding this process's id;
 * leaves anything else there untouched and never blocks. */
void pid_file_remove(const char *path);

#endif
