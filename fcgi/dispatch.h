/*
 * dispatch.h - the responder's event loop (internal to fcgi/responder.c).
 *
 * Leader/follower: the serving threads take turns waiting in one epoll set
 * that holds the listen socket and every idle FastCGI connection, and the
 * thread that learns a connection has a request to read (or accepts one
 * whose request is already there) serves it itself (dsp_next): no request
 * is handed from one thread to another.  A small dispatcher thread keeps
 * parked long-poll requests ordered by deadline (a binary min-heap: its
 * epoll timeout is the nearest deadline) and queues a parked request to be
 * answered (JOB_FINISH, taken by a serving thread through an eventfd in
 * the same set) once it was woken, its deadline passed, its client hung
 * up, or the responder stops.  A serving thread gives a still-open kept
 * connection back with dsp_conn_release().  One responder per process;
 * everything here is thread-safe unless said otherwise.
 */
#ifndef WR_FCGI_DISPATCH_H
#define WR_FCGI_DISPATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include <fcgiapp.h>

#include "handlers.h"

struct conn; /* one FastCGI connection; owned by the dispatcher */

/* One request: the FastCGI request struct (its params stay valid while the
 * request is parked) and what answering it later needs. */
struct rq {
	FCGX_Request req;
	struct http_request hr;      /* borrows req's params */
	struct http_wait *wait;      /* parked: owned until http_wait_finish */
	struct conn *conn;
	char *body;                  /* owned buffer of hr.body, kept for
	                              * the thread's next request */
	size_t body_cap;             /* its size */
	bool drop;                   /* close the connection after the answer */
	struct timespec t0;          /* arrival: when its connection was
	                              * seen readable or was accepted
	                              * (CLOCK_MONOTONIC), see job.t0 */
	unsigned long long deadline_ms; /* parked: http_wait_deadline_ms */
	bool unwatched;              /* parked: neither timed nor watched
	                              * for a hangup (see dsp_park) */
	char rid[64 + 1];            /* hr.request_id when generated here */
	const char *content_length;  /* CONTENT_LENGTH, borrowed as hr */
	bool params_ok;              /* every param well formed */
	/* Below: the dispatcher's. */
	int state;                   /* RQ_*, guarded by the parking mutex */
	size_t heap_i;               /* index in the deadline heap */
	struct rq *next_new;         /* parked, not yet in the heap */
	struct rq *next_woken;       /* woken, not yet queued */
};

enum job_kind { JOB_READ, JOB_FINISH };

struct job {
	enum job_kind kind;
	struct conn *conn; /* JOB_READ: readable (or new) connection */
	struct rq *rq;     /* JOB_FINISH: a parked request to answer */
	/* JOB_READ: when the thread's epoll_wait reported the connection
	 * readable, or before it accepted it (CLOCK_MONOTONIC): the request's
	 * arrival as far as the process can see it. */
	struct timespec t0;
};

/* Creates the epoll set, the eventfd and the queue, and registers
 * listen_fd (made non-blocking; its flags are restored by dsp_free).
 * on_broken is called (dispatcher thread) if accepting fails for good.
 * Returns 0, or -1 after logging a line.  Main thread. */
int dsp_init(int listen_fd, unsigned threads, void (*on_broken)(void));

/* The connection bound dsp_init computed. */
unsigned dsp_conns_max(void);

/* The dispatcher thread's body (arg unused).  Returns once the stop is
 * complete: no request in flight, queued or parked and no idle
 * connection; the queue is then closed and dsp_next() returns false. */
void *dsp_main(void *arg);

/* Closes the queue without a dispatcher (it never started): the serving
 * threads end once it is empty.  Main thread. */
void dsp_close_queue(void);

/* Asks the dispatcher to stop: stop accepting, answer every parked request
 * (JOB_FINISH), shut down the idle connections without a request (a
 * serving thread closes them); those that already hold one are answered
 * 503 stopping by the thread that takes them.  Any thread. */
void dsp_stop(void);

/* True once dsp_stop() was called. */
bool dsp_stopping(void);

/* True if accepting failed for good (the main thread was notified). */
bool dsp_broken(void);

/* Frees what dsp_init made (after every thread was joined). Main thread. */
void dsp_free(void);

/* Serving threads: takes a queued job (a parked request to answer) if
 * there is one, else waits in the shared epoll set for the next job and
 * does on the way what needs no request (accepting, closing a connection
 * the peer ended); false when the queue is closed (the thread ends).  The
 * thread counts as busy from the job (or event) until dsp_job_done(). */
bool dsp_next(struct job *out);
void dsp_job_done(void);

/* Takes a job no thread took without waiting (false: none) and without
 * counting a busy thread: a queued parked request, else an idle
 * connection that holds a request (its struct is then never freed: a
 * stuck thread may still hold its event).  For the backlog drain of a
 * stop that outlasted the shutdown timeout, which ends the process. */
bool dsp_take(struct job *out);

/* The fd of a connection a JOB_READ handed over. */
int dsp_conn_fd(const struct conn *c);

/* After the request on c: kept (the fd is still open and the connection
 * may carry another request) puts it back into the epoll set, or closes it
 * if the responder is stopping; !kept: its fd is already closed.  Either
 * way c belongs to the dispatcher again. */
void dsp_conn_release(struct conn *c, bool kept);

/* Parking.  Before http_handle: dsp_rq_running(r).  When http_handle
 * returned a wait, dsp_park(r) (r->wait, r->deadline_ms and r->unwatched
 * set): true if parked (the thread must not touch r any more), false if r
 * was already woken (answer it now).  dsp_wake is http_request.wake (arg:
 * the rq): only a mutex, a list push and an eventfd write.  An unwatched
 * request (a mutation waiting for its fdatasync: no deadline, and a
 * hangup changes nothing, since the mutation stands and only its answer
 * would be lost) is neither in the deadline heap nor watched: its wake
 * queues it for a serving thread at once, and a stop waits for it. */
void dsp_rq_running(struct rq *r);
/* True if a serving thread other than the caller's (which is busy) is
 * free now: the caller may then spend its own on one fdatasync
 * (http_request.may_lead), and a disk that hangs never holds the last
 * free thread. */
bool dsp_thread_spare(void);
bool dsp_park(struct rq *r);
void dsp_wake(void *arg);

/* Current figures: threads; busy (holding an event, a request or a job);
 * parked; idle connections (armed, no request read yet); queued (parked
 * requests ready to be answered that no thread took yet; a connection
 * whose request waits while every thread is busy stays in the kernel and
 * is not counted). */
void dsp_stats(struct http_server_stats *out);

/* The dispatcher's epoll timeout for a deadline (ms, CLOCK_MONOTONIC):
 * -1 for ULLONG_MAX (no deadline), 0 if passed, at most INT_MAX. */
long dsp_timeout_ms(unsigned long long deadline_ms, unsigned long long now);

/* The deadline heap, exposed for its unit test.  Dispatcher thread only. */
void dsp_heap_push(struct rq *r);
struct rq *dsp_heap_top(void);
void dsp_heap_remove(struct rq *r);
size_t dsp_heap_size(void);

#endif /* WR_FCGI_DISPATCH_H */
