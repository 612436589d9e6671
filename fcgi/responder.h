/*
 * responder.h - the FastCGI server of the worker-runtime process.
 *
 * main() calls responder_signals_init() before it starts any thread, opens
 * the listen socket and the Runtime, then responder_run(), which serves
 * requests (N serving threads in leader/follower on one epoll set, a small
 * dispatcher thread for parked requests; see the header comment of
 * responder.c) until SIGTERM or SIGINT and returns once every
 * request in flight has been answered.  Nothing here is reentrant: one
 * responder per process.
 */
#ifndef WR_FCGI_RESPONDER_H
#define WR_FCGI_RESPONDER_H

#include <stdbool.h>
#include <stddef.h>

#include "handlers.h"

#define RESPONDER_THREADS_MAX 256

struct responder_config {
	int listen_fd;               /* a listening socket; 0 under spawn-fcgi */
	bool own_listener;           /* bound by this process (--socket): may
	                              * be shut down at stop; an inherited one
	                              * is shared and is left alone */
	bool tcp;                    /* own_listener is a TCP socket */
	unsigned threads;            /* 1..RESPONDER_THREADS_MAX */
	size_t max_body;             /* bytes of request body read at most */
	const struct http_ctx *ctx;  /* borrowed until responder_run returns */
	/* Called once, in the main thread, when the stop signal arrived
	 * (before the drain); may be NULL. */
	void (*on_stop)(void *arg);
	void *on_stop_arg;
	/* Called in the main thread for each SIGHUP taken while serving
	 * (several before it runs count once); may be NULL. */
	void (*on_reload)(void *arg);
	void *on_reload_arg;
};

/*
 * Installs the SIGTERM/SIGINT/SIGHUP handlers (without SA_RESTART), ignores
 * SIGPIPE and blocks them and the internal notify signal in the calling
 * thread.  Call it first in main(), before any thread exists, so that every
 * thread created later (the responder's, the library's) inherits the mask
 * and a stop signal can only be taken by responder_run() in the main thread.
 * A signal that arrives before responder_run() stays pending and stops it
 * at once.  Returns 0, or -1 with errno set.
 */
int responder_signals_init(void);

/*
 * Serves FastCGI requests on cfg->listen_fd with cfg->threads threads until
 * SIGTERM or SIGINT.  Then it stops accepting (an own unix listener is shut
 * down, so new connections are refused; on an inherited one, such as a
 * systemd socket, they wait in the backlog for the next instance), answers
 * every parked request, closes idle connections, answers 503
 * runtime_unavailable/stopping a request that arrived but was not started,
 * lets every request in flight finish, joins all threads, and answers each
 * connection still waiting in the backlog with 503 stopping (an own TCP
 * listener is shut down only after that, since shutting it down resets its
 * backlog).  The
 * listen socket is left open for the caller to close.  Returns 0 after a
 * stop signal, or -1 (a line is already logged) if the threads could not be
 * started or accepting failed for good.
 */
int responder_run(const struct responder_config *cfg);

/*
 * responder_run() in two steps, so that the process can serve while it
 * opens the Runtime: responder_start() starts the threads (they answer
 * 503 restoring while cfg->ctx->rt is NULL, see handlers.h) and returns
 * 0, or -1 after logging a line (no thread is left running);
 * responder_wait() is the rest of responder_run() and returns what it
 * returns.  responder_abort() stops the started threads as a stop signal
 * would (the backlog is answered 503 stopping) when the process must end
 * before responder_wait(), e.g. because the store cannot be opened.  Main
 * thread only.
 */
int responder_start(const struct responder_config *cfg);
int responder_wait(const struct responder_config *cfg);
void responder_abort(const struct responder_config *cfg);

/*
 * Answers each connection waiting in the backlog of listen_fd with 503
 * runtime_unavailable, reason "stopping", Retry-After retry_after_s (1 if
 * 0), and before them the idle connections holding a request that no
 * serving thread took (a parked request queued for a thread gets its page):
 * non-blocking accepts until the backlog is empty, at most DRAIN_MAX
 * connections, each read and written with a 1 s limit.  responder_run()
 * calls it at the end of a stop; the shutdown guard calls it before it
 * ends a stop that outlasted --shutdown-timeout, so those connections are
 * answered and not reset.  at_timeout (the guard): parked mutations are
 * not answered (their answer waits for the fdatasync, which may be what
 * hangs; parked long-polls get their page), the whole drain gives up after 1 s (a peer holding
 * half a request costs at most that), and if the stop's own drain holds
 * the lock nothing is drained, so the guard never waits longer.  Thread-safe: calls are
 * serialised.  Returns how many connections were answered.
 */
unsigned responder_drain_backlog(int listen_fd, unsigned retry_after_s,
                                 bool at_timeout);

/*
 * Fills *out with the responder's current figures: serving threads, those
 * busy with a request, parked long-poll requests, idle connections (kept
 * by nginx or just accepted, waiting for a request) and parked requests
 * ready to be answered that no thread took yet (a ready connection waiting
 * while every thread is busy stays in the kernel, uncounted).  All zero when no responder runs.  Meant
 * for http_ctx.server_stats.  Thread-safe; takes three short locks.
 */
void responder_stats(struct http_server_stats *out);

#endif /* WR_FCGI_RESPONDER_H */
