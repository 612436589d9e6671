/*
 * dispatch.c - the responder's event loop, leader/follower: the serving
 * threads take turns waiting for a ready connection and serve what they
 * find themselves; a small dispatcher thread keeps the parked requests.
 * See dispatch.h and the header comment of responder.c.
 *
 * Two epoll sets.  The serving set (eps) holds the listen socket, every
 * idle connection and the job eventfd (qfd), each EPOLLIN|EPOLLONESHOT.
 * Every serving thread without a request calls epoll_wait(eps, 1 event)
 * (dsp_next), and the thread that gets an event acts on it: a connection
 * with a request to read is served by that thread; the listen socket: it
 * accepts one connection, re-arms the listen socket at once (so the next
 * free thread accepts the next connection meanwhile) and serves the new
 * connection itself when nginx already wrote its request (a MSG_PEEK),
 * else adds it to the set; qfd: it takes a job (a parked request to
 * answer) from the queue.  No request passes from one thread to another.
 * EPOLLONESHOT on the listen socket rather than EPOLLEXCLUSIVE: the latter
 * only spares wake-ups across several epoll sets; in one set a
 * level-triggered listen socket is reported to every waiting thread until
 * one has accepted, while ONESHOT wakes one thread per connection, and a
 * listen socket not re-armed is also the pause at the connection bound.
 * One accept per wake-up, not a batch: the others would wait behind this
 * thread's request or cost an epoll round each anyway.
 *
 * The dispatcher thread's own set (ep) holds an eventfd (evfd) and the
 * connections of parked requests (watched for a hangup).  It keeps parked
 * requests in the deadline heap (its epoll timeout is the nearest
 * deadline; "none", ULLONG_MAX, waits without one), queues woken, expired
 * and hung-up ones for the serving threads (JOB_FINISH, through the queue
 * and qfd), re-arms the listen socket after a pause, and runs the stop.
 * An unwatched parked request (a mutation waiting for its fdatasync) never
 * reaches it: its wake queues it for the serving threads itself.  A
 * serving thread back from a job takes a queued one before it goes back
 * to epoll (a commit round queues many at once), and only the first job
 * of a batch writes qfd.
 *
 * Connections: each is on the idle list while armed in eps (accepted but
 * its request not there yet, or kept by nginx after a response).  The
 * thread that gets its event takes it off the list (under c_mu); epoll
 * does not report it again until re-armed (dsp_conn_release).  At most
 * conns_max connections are open (idle, being served or holding a parked
 * request); at the bound the listen socket is left disarmed, so new
 * connections wait in the kernel's listen backlog until one closes.  Only
 * a serving thread frees a connection (after taking its event, or after
 * serving it): the stop does not free idle ones but shuts them down, so
 * that a thread sees their end; an event a thread holds never names freed
 * memory.
 *
 * Locks: q_mu (queue), c_mu (idle list; a connection is listed before it
 * is armed, so a stop cannot miss it), p_mu (parking states and the two
 * inboxes).  Only q_mu nests, inside p_mu (dsp_wake, stop_complete).  The
 * heap is the dispatcher thread's alone.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "dispatch.h"
#include "log.h"

#define HEAP_NONE SIZE_MAX
#define EVENTS_MAX 64
#define CONNS_MAX 65536      /* whatever RLIMIT_NOFILE allows */
#define FD_RESERVE 512       /* fds left for the store, workers, logs */
#define ACCEPT_RETRY_MS 100  /* after EMFILE, ENOMEM, ... */
#define STOP_LOG_MS 5000

enum { RQ_RUNNING, RQ_EARLY, RQ_PARKED, RQ_WOKEN, RQ_DONE };

struct conn {
	int fd;
	struct conn *prev, *next; /* idle list, under c_mu */
	bool idle;
	bool abandoned; /* taken by dsp_take: never freed (see there) */
	atomic_bool in_set; /* registered in eps (a connection served
	                     * straight after its accept is not, until it
	                     * is kept) */
	struct rq *parked; /* its parked request, watched for a hangup
	                    * (dispatcher only) */
};

static int ep = -1, eps = -1, evfd = -1, qfd = -1, lfd = -1, lfd_flags = -1;
static bool lfd_inet;
static void (*notify_broken)(void);
static atomic_bool stopping, broken;
static unsigned conns_max;
static atomic_uint conns;
static atomic_bool listen_paused;
static atomic_ullong retry_at_ms; /* paused after an accept error: until */
static atomic_uint busy;          /* serving threads holding an event */
static unsigned n_threads;

/* The epoll-waiter cap (see waiter_enter): at most waiters_max serving
 * threads wait in epoll_wait at once; the other free ones (spares) wait on
 * w_cv, under w_mu. */
static unsigned waiters_max;
static atomic_uint waiters, spares;
static atomic_bool waiters_uncapped; /* the queue closed: every thread
                                      * goes to epoll to see it */
static pthread_mutex_t w_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t w_cv = PTHREAD_COND_INITIALIZER;
static char tag_listen, tag_event, tag_queue; /* epoll data of fixed fds */

static pthread_mutex_t q_mu = PTHREAD_MUTEX_INITIALIZER;
static struct job *q_ring;
static size_t q_cap, q_head, q_len;
static bool q_closed;

static pthread_mutex_t c_mu = PTHREAD_MUTEX_INITIALIZER;
static struct conn idle_head = { -1, &idle_head, &idle_head, false, false,
                                 false, NULL };
static unsigned n_idle;
static bool idle_closed; /* the stop: no connection becomes idle again */

static pthread_mutex_t p_mu = PTHREAD_MUTEX_INITIALIZER;
static struct rq *p_new, *p_woken;
static unsigned n_parked;

static struct rq **heap;
static size_t heap_len, heap_cap;

/* ---- small helpers ------------------------------------------------------ */

static unsigned long long now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (unsigned long long)t.tv_sec * 1000ull +
	       (unsigned long long)t.tv_nsec / 1000000ull;
}

static void poke(void)
{
	uint64_t one = 1;

	/* Fails only when the counter would overflow: it is then readable. */
	(void)!write(evfd, &one, sizeof one);
}

bool dsp_stopping(void)
{
	return atomic_load(&stopping);
}

bool dsp_broken(void)
{
	return atomic_load(&broken);
}

int dsp_conn_fd(const struct conn *c)
{
	return c->fd;
}

long dsp_timeout_ms(unsigned long long deadline_ms, unsigned long long now)
{
	if (deadline_ms == ULLONG_MAX)
		return -1; /* no deadline */
	if (deadline_ms <= now)
		return 0;
	if (deadline_ms - now > (unsigned long long)INT_MAX)
		return INT_MAX;
	return (long)(deadline_ms - now);
}

/* ---- the job queue (parked requests to answer) -------------------------- */

/* Never full: each job holds a distinct parked request, q_cap > conns_max.
 * qfd is readable exactly while jobs are queued (under q_mu), so only the
 * first of a batch (a commit round completing many) writes it. */
static void queue_push(struct job j)
{
	uint64_t one = 1;

	pthread_mutex_lock(&q_mu);
	q_ring[(q_head + q_len) % q_cap] = j;
	if (q_len++ == 0)
		(void)!write(qfd, &one, sizeof one);
	pthread_mutex_unlock(&q_mu);
}

/* Takes the oldest queued job, if any, without epoll: a thread back from
 * a job answers what a commit round queued before it sleeps again.
 * Empties qfd with the last one (a thread that epoll woke for it finds
 * the queue empty and re-arms it). */
static bool queue_take_direct(struct job *out)
{
	uint64_t v;
	bool got = false;

	pthread_mutex_lock(&q_mu);
	if (q_len > 0 && !q_closed) {
		*out = q_ring[q_head];
		q_head = (q_head + 1) % q_cap;
		if (--q_len == 0)
			(void)!read(qfd, &v, sizeof v);
		got = true;
	}
	pthread_mutex_unlock(&q_mu);
	return got;
}

static void qfd_arm(void)
{
	struct epoll_event ev;

	memset(&ev, 0, sizeof ev);
	ev.events = EPOLLIN | EPOLLONESHOT;
	ev.data.ptr = &tag_queue;
	(void)epoll_ctl(eps, EPOLL_CTL_MOD, qfd, &ev);
}

/* qfd was reported: takes one job.  Returns 1 (*out set), 0 (none), or
 * -1 (closed and empty).  Re-arms qfd, so that the next job, or the
 * close, reaches another thread. */
static int queue_pop(struct job *out)
{
	uint64_t v;
	int got = 0;

	pthread_mutex_lock(&q_mu);
	if (q_len > 0) {
		*out = q_ring[q_head];
		q_head = (q_head + 1) % q_cap;
		q_len--;
		got = 1;
	} else if (q_closed) {
		got = -1;
	}
	if (q_len == 0 && !q_closed)
		(void)!read(qfd, &v, sizeof v); /* the next push sets it */
	pthread_mutex_unlock(&q_mu);
	qfd_arm(); /* reported again at once if still readable */
	return got;
}

void dsp_close_queue(void)
{
	uint64_t one = 1;

	pthread_mutex_lock(&q_mu);
	q_closed = true;
	if (qfd >= 0)
		(void)!write(qfd, &one, sizeof one);
	pthread_mutex_unlock(&q_mu);
	pthread_mutex_lock(&w_mu);
	atomic_store(&waiters_uncapped, true);
	pthread_cond_broadcast(&w_cv);
	pthread_mutex_unlock(&w_mu);
}

void dsp_job_done(void)
{
	atomic_fetch_sub(&busy, 1);
	if (atomic_load(&stopping))
		poke(); /* the dispatcher waits for the last one */
}

/* ---- connections -------------------------------------------------------- */

static void idle_link(struct conn *c)
{
	c->next = &idle_head;
	c->prev = idle_head.prev;
	idle_head.prev->next = c;
	idle_head.prev = c;
	c->idle = true;
	n_idle++;
}

static void idle_unlink(struct conn *c)
{
	c->prev->next = c->next;
	c->next->prev = c->prev;
	c->idle = false;
	n_idle--;
}

static void conn_free(struct conn *c)
{
	if (!c->abandoned)
		free(c);
	atomic_fetch_sub(&conns, 1);
	if (atomic_load(&listen_paused))
		poke(); /* room again: the dispatcher resumes accepting */
}

static int arm(struct conn *c, int op)
{
	struct epoll_event ev;

	memset(&ev, 0, sizeof ev);
	ev.events = EPOLLIN | EPOLLRDHUP | EPOLLONESHOT;
	ev.data.ptr = c;
	return epoll_ctl(eps, op, c->fd, &ev);
}

/* Makes c idle: listed, then armed in the serving set (outside c_mu:
 * epoll_ctl is the slow part, and every kept request passes here); or
 * closed and freed when the responder stops or epoll refuses.  Listed
 * first, so the thread that gets its event finds it idle; a stop that
 * shuts it down in between only makes it readable. */
static void conn_idle(struct conn *c)
{
	/* Atomic only for ThreadSanitizer's sake: the thread that set it
	 * and the next one to read it are ordered through epoll (the arm,
	 * then the event), which it cannot see. */
	int op = atomic_load(&c->in_set) ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;

	pthread_mutex_lock(&c_mu);
	if (!idle_closed) {
		idle_link(c);
		pthread_mutex_unlock(&c_mu);
		atomic_store(&c->in_set, true); /* before the arm: c may be
		                                 * another's after */
		if (arm(c, op) == 0)
			return;
		atomic_store(&c->in_set, op == EPOLL_CTL_MOD); /* no event:
		                                                * still ours */
		pthread_mutex_lock(&c_mu);
		if (!c->idle) { /* taken by a guard drain meanwhile */
			pthread_mutex_unlock(&c_mu);
			return;
		}
		idle_unlink(c);
	}
	pthread_mutex_unlock(&c_mu);
	close(c->fd); /* stopping: nginx opens a new one elsewhere */
	conn_free(c);
}

void dsp_conn_release(struct conn *c, bool kept)
{
	if (kept)
		conn_idle(c);
	else
		conn_free(c);
}

/* How long a serving thread's read or write on a connection may block. */
#define CONN_IO_TIMEOUT_S 10
static const struct timeval io_timeout = { CONN_IO_TIMEOUT_S, 0 };

/* A new connection's struct and socket options; NULL (fd closed) if out
 * of memory. */
static struct conn *conn_new(int fd)
{
	struct conn *c = calloc(1, sizeof *c);

	if (c == NULL) {
		close(fd);
		return NULL;
	}
	c->fd = fd;
	atomic_fetch_add(&conns, 1);
	/* A serving thread reads a request and writes its answer with
	 * blocking calls: a peer that sends half a request, or stops reading
	 * its answer, lets go of the thread after CONN_IO_TIMEOUT_S (the
	 * request fails and the connection is closed).  An idle connection
	 * waits in epoll, not in a read, so this never ends one. */
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &io_timeout,
	                 sizeof io_timeout);
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &io_timeout,
	                 sizeof io_timeout);
	if (lfd_inet) {
		int on = 1;

		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
	}
	return c;
}

/* 1: bytes to read, 0: the peer closed (or nothing), -1: error. */
static int conn_peek(const struct conn *c)
{
	char b;
	ssize_t n = recv(c->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);

	return n > 0 ? 1 : n == 0 ? 0 : -1;
}

/* A serving thread got c's event: c is its now, or NULL when the peer
 * just closed it (nginx drops idle kept connections; the stop shuts idle
 * ones down), which ends it here. */
static struct conn *conn_take(struct conn *c, uint32_t events)
{
	pthread_mutex_lock(&c_mu);
	if (!c->idle) { /* abandoned by a guard drain (dsp_take) */
		pthread_mutex_unlock(&c_mu);
		return NULL;
	}
	idle_unlink(c);
	pthread_mutex_unlock(&c_mu);
	if ((events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) &&
	    conn_peek(c) <= 0) {
		close(c->fd);
		conn_free(c);
		return NULL;
	}
	return c;
}

/* ---- the listen socket -------------------------------------------------- */

/* ADD, MOD (re-arm after an accept or a pause) or DEL (the stop). */
static void listen_ctl(int op)
{
	struct epoll_event ev;

	memset(&ev, 0, sizeof ev);
	ev.events = EPOLLIN | EPOLLONESHOT;
	ev.data.ptr = &tag_listen;
	(void)epoll_ctl(eps, op, lfd, &ev);
}

/* Leaves the listen socket disarmed until the dispatcher re-arms it: at
 * the connection bound (ms 0: when one closes) or for ms after an error. */
static void listen_pause(long ms)
{
	atomic_store(&retry_at_ms, now_ms() + (unsigned long long)ms);
	atomic_store(&listen_paused, true);
	poke();
}

static bool accept_error_fatal(int e)
{
	return e == EBADF || e == ENOTSOCK || e == EINVAL || e == EOPNOTSUPP ||
	       e == EFAULT;
}

/* accept4 failed with e: true if the listen socket is to be re-armed
 * (nothing to accept, or stopping); else it stays disarmed. */
static bool accept_failed(int e)
{
	static atomic_ulong failures;

	if (e == EAGAIN || e == EWOULDBLOCK || atomic_load(&stopping))
		return true;
	if (accept_error_fatal(e)) {
		log_msg(LOG_ERROR, "accept: %s", strerror(e));
		atomic_store(&broken, true);
		notify_broken();
		return false;
	}
	/* EMFILE, ENFILE, ENOMEM, ...: wait for resources. */
	if (atomic_fetch_add(&failures, 1) % 50 == 0)
		log_msg(LOG_ERROR, "accept: %s (retrying)", strerror(e));
	listen_pause(ACCEPT_RETRY_MS);
	return false;
}

/* The listen socket was reported to this thread.  Accepts one connection
 * and re-arms the listen socket (unless paused or stopping).  Returns the
 * connection if its request is already there (this thread serves it);
 * otherwise it joins the serving set and NULL is returned. */
static struct conn *accept_one(void)
{
	struct conn *c;
	int fd;

	if (atomic_load(&conns) >= conns_max) {
		listen_pause(0);
		return NULL;
	}
	do
		fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	while (fd < 0 && (errno == EINTR || errno == ECONNABORTED ||
	                  errno == EPROTO));
	if (fd < 0 && !accept_failed(errno))
		return NULL;
	if (!atomic_load(&stopping))
		listen_ctl(EPOLL_CTL_MOD); /* after a stop's DEL: ENOENT */
	if (fd < 0 || (c = conn_new(fd)) == NULL)
		return NULL;
	if (conn_peek(c) > 0)
		return c;
	conn_idle(c);
	return NULL;
}

/* ---- serving threads ---------------------------------------------------- */

/* What the event ev asks of this thread: 1 (*out is a job), 0 (nothing
 * left to do), -1 (the queue is closed: the thread ends). */
static int event_job(const struct epoll_event *ev, struct job *out)
{
	void *p = ev->data.ptr;

	memset(out, 0, sizeof *out);
	clock_gettime(CLOCK_MONOTONIC, &out->t0);
	if (p == &tag_queue)
		return queue_pop(out);
	out->kind = JOB_READ;
	out->conn = p == &tag_listen ? accept_one() : conn_take(p, ev->events);
	return out->conn != NULL;
}

/*
 * The epoll-waiter cap.  A thread that sleeps in epoll_wait costs a
 * context switch for every event it is woken for; with more threads than
 * CPUs waiting, nearly every request wakes a sleeping thread, while a
 * thread coming back from a request would have found the next event ready
 * without sleeping (measured on 2 CPUs, GET detail through nginx without
 * keepalive, wrk -t2 -c64: 16 threads served 0.79x the requests of 2).  So at most waiters_max threads (the
 * CPUs this process may run on) wait in epoll; the other free threads are
 * spares, asleep on w_cv and woken only when the last waiter leaves
 * epoll_wait with an event: some thread always waits in epoll while one
 * is free, so a thread stuck in a slow request never delays another
 * request, and --threads still bounds how many are served at once.
 * Race-free without the mutex on the fast path: a spare counts itself
 * (seq_cst) before it looks at waiters, and the last waiter leaving looks
 * at spares after it counted itself out, so one of them sees the other.
 */
static void waiter_enter(void)
{
	for (;;) {
		unsigned w = atomic_load(&waiters);

		if (w < waiters_max || atomic_load(&waiters_uncapped)) {
			if (atomic_compare_exchange_weak(&waiters, &w, w + 1))
				return;
			continue;
		}
		pthread_mutex_lock(&w_mu);
		atomic_fetch_add(&spares, 1);
		while (atomic_load(&waiters) >= waiters_max &&
		       !atomic_load(&waiters_uncapped))
			pthread_cond_wait(&w_cv, &w_mu);
		atomic_fetch_sub(&spares, 1);
		pthread_mutex_unlock(&w_mu);
	}
}

static void waiter_leave(void)
{
	if (atomic_fetch_sub(&waiters, 1) == 1 && atomic_load(&spares) > 0) {
		pthread_mutex_lock(&w_mu);
		pthread_cond_signal(&w_cv);
		pthread_mutex_unlock(&w_mu);
	}
}

/* How many CPUs this process may run on (its affinity mask): the cap. */
static unsigned cpus_usable(void)
{
	cpu_set_t set;
	int n;

	if (sched_getaffinity(0, sizeof set, &set) == 0 &&
	    (n = CPU_COUNT(&set)) > 0)
		return (unsigned)n;
	n = (int)sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? (unsigned)n : 1;
}

bool dsp_next(struct job *out)
{
	struct epoll_event ev;

	/* Counted busy before it leaves the queue, as after an event (a
	 * stop's check never sees it in neither). */
	atomic_fetch_add(&busy, 1);
	memset(out, 0, sizeof *out);
	if (queue_take_direct(out)) {
		clock_gettime(CLOCK_MONOTONIC, &out->t0);
		return true;
	}
	dsp_job_done();
	for (;;) {
		int n, rc;

		waiter_enter();
		n = epoll_wait(eps, &ev, 1, -1);
		waiter_leave();
		if (n < 0 && errno != EINTR) { /* cannot happen: eps is */
			log_msg(LOG_ERROR, "epoll_wait: %s", /* open until */
			        strerror(errno));          /* every join */
			return false;
		}
		if (n <= 0)
			continue; /* EINTR: a debugger's stop */
		atomic_fetch_add(&busy, 1);
		rc = event_job(&ev, out);
		if (rc > 0)
			return true;
		dsp_job_done();
		if (rc < 0)
			return false;
	}
}

/* The guard drain (all threads stuck): first the queued jobs, then idle
 * connections holding a request.  Such a connection is taken off the
 * list and marked abandoned: a thread may still hold its epoll event, so
 * its struct is never freed (the process ends after a guard drain). */
bool dsp_take(struct job *out)
{
	struct conn *c;
	bool got = false;

	memset(out, 0, sizeof *out);
	pthread_mutex_lock(&q_mu);
	if (q_ring != NULL && q_len > 0) {
		*out = q_ring[q_head];
		q_head = (q_head + 1) % q_cap;
		q_len--;
		got = true;
	}
	pthread_mutex_unlock(&q_mu);
	if (got)
		return true;
	pthread_mutex_lock(&c_mu);
	for (c = idle_head.next; c != &idle_head && !got; c = c->next) {
		if (conn_peek(c) <= 0)
			continue;
		idle_unlink(c);
		c->abandoned = true;
		out->kind = JOB_READ;
		out->conn = c;
		got = true;
	}
	pthread_mutex_unlock(&c_mu);
	return got;
}

/* ---- the deadline heap -------------------------------------------------- */

static void heap_set(size_t i, struct rq *r)
{
	heap[i] = r;
	r->heap_i = i;
}

static void heap_up(size_t i)
{
	struct rq *r = heap[i];

	while (i > 0 && heap[(i - 1) / 2]->deadline_ms > r->deadline_ms) {
		heap_set(i, heap[(i - 1) / 2]);
		i = (i - 1) / 2;
	}
	heap_set(i, r);
}

static void heap_down(size_t i)
{
	struct rq *r = heap[i];

	for (;;) {
		size_t c = 2 * i + 1;

		if (c >= heap_len)
			break;
		if (c + 1 < heap_len &&
		    heap[c + 1]->deadline_ms < heap[c]->deadline_ms)
			c++;
		if (heap[c]->deadline_ms >= r->deadline_ms)
			break;
		heap_set(i, heap[c]);
		i = c;
	}
	heap_set(i, r);
}

/* Sized for every connection up front, so a push never fails. */
void dsp_heap_push(struct rq *r)
{
	if (heap_len == heap_cap) { /* only in the unit test's own use */
		size_t cap = heap_cap ? heap_cap * 2 : 64;
		struct rq **h = realloc(heap, cap * sizeof *h);

		if (h == NULL)
			abort();
		heap = h;
		heap_cap = cap;
	}
	heap_set(heap_len++, r);
	heap_up(heap_len - 1);
}

struct rq *dsp_heap_top(void)
{
	return heap_len > 0 ? heap[0] : NULL;
}

size_t dsp_heap_size(void)
{
	return heap_len;
}

void dsp_heap_remove(struct rq *r)
{
	size_t i = r->heap_i;

	if (i == HEAP_NONE || i >= heap_len || heap[i] != r)
		return;
	r->heap_i = HEAP_NONE;
	heap_len--;
	if (i == heap_len)
		return;
	{
		struct rq *m = heap[heap_len];

		heap_set(i, m);
		heap_up(i);
		heap_down(m->heap_i);
	}
}

/* ---- parking ------------------------------------------------------------ */

bool dsp_thread_spare(void)
{
	return atomic_load(&busy) < n_threads;
}

void dsp_rq_running(struct rq *r)
{
	pthread_mutex_lock(&p_mu);
	r->state = RQ_RUNNING;
	r->heap_i = HEAP_NONE;
	pthread_mutex_unlock(&p_mu);
}

bool dsp_park(struct rq *r)
{
	pthread_mutex_lock(&p_mu);
	if (r->state == RQ_EARLY) {
		pthread_mutex_unlock(&p_mu);
		return false;
	}
	r->state = RQ_PARKED;
	n_parked++;
	if (r->unwatched) {
		/* Neither timed nor watched: the dispatcher never sees it. */
		pthread_mutex_unlock(&p_mu);
		return true;
	}
	r->next_new = p_new;
	p_new = r;
	pthread_mutex_unlock(&p_mu);
	poke();
	return true;
}

void dsp_wake(void *arg)
{
	struct rq *r = arg;
	bool queued = false;

	pthread_mutex_lock(&p_mu);
	if (r->state == RQ_RUNNING) {
		r->state = RQ_EARLY;
	} else if (r->state == RQ_PARKED && r->unwatched) {
		/* Straight to the serving threads, counted as queued before
		 * it stops counting as parked (under p_mu: see
		 * stop_complete). */
		r->state = RQ_DONE;
		queue_push((struct job){ .kind = JOB_FINISH, .rq = r });
		n_parked--;
	} else if (r->state == RQ_PARKED) {
		r->state = RQ_WOKEN;
		r->next_woken = p_woken;
		p_woken = r;
		queued = true;
	}
	pthread_mutex_unlock(&p_mu);
	if (queued)
		poke();
}

/* Queues r to be answered if it is still parked (a woken one is queued
 * from the woken inbox instead, exactly once).  Dispatcher only. */
static void finish_if_parked(struct rq *r, bool woken_ok)
{
	struct job j = { .kind = JOB_FINISH, .rq = r };
	bool go = false;

	dsp_heap_remove(r);
	pthread_mutex_lock(&p_mu);
	if (r->state == RQ_PARKED || (woken_ok && r->state == RQ_WOKEN)) {
		r->state = RQ_DONE;
		n_parked--;
		go = true;
	}
	pthread_mutex_unlock(&p_mu);
	if (go && r->conn != NULL && r->conn->parked == r) {
		struct epoll_event ev;

		/* No longer watched: out of ep before a thread takes it. */
		r->conn->parked = NULL;
		memset(&ev, 0, sizeof ev);
		(void)epoll_ctl(ep, EPOLL_CTL_DEL, r->conn->fd, &ev);
	}
	if (go)
		queue_push(j);
}

/* Watches the connection of a parked request for a hangup (or an abort
 * record): it is in ep, not in the serving set, while it waits. */
static void watch_parked(struct rq *r)
{
	struct epoll_event ev;

	if (r->conn == NULL)
		return;
	memset(&ev, 0, sizeof ev);
	ev.events = EPOLLIN | EPOLLRDHUP | EPOLLONESHOT;
	ev.data.ptr = r->conn;
	r->conn->parked = r;
	if (epoll_ctl(ep, EPOLL_CTL_ADD, r->conn->fd, &ev) != 0)
		r->conn->parked = NULL;
}

/* New parks go into the heap (or are answered at once when stopping),
 * woken ones are queued. */
static void take_inbox(void)
{
	struct rq *nw, *wk, *r;

	pthread_mutex_lock(&p_mu);
	nw = p_new;
	wk = p_woken;
	p_new = p_woken = NULL;
	pthread_mutex_unlock(&p_mu);
	for (r = nw; r != NULL; r = nw) {
		nw = r->next_new;
		if (atomic_load(&stopping)) {
			finish_if_parked(r, false);
		} else {
			dsp_heap_push(r);
			watch_parked(r);
		}
	}
	for (r = wk; r != NULL; r = wk) {
		wk = r->next_woken;
		finish_if_parked(r, true);
	}
}

/* Answers the parked requests whose deadline passed; returns the epoll
 * timeout to the next deadline (-1: none). */
static long expire(void)
{
	unsigned long long now = now_ms();
	struct rq *r;

	while ((r = dsp_heap_top()) != NULL && r->deadline_ms <= now)
		finish_if_parked(r, false);
	return r == NULL ? -1 : dsp_timeout_ms(r->deadline_ms, now);
}

/* ---- stop ----------------------------------------------------------------- */

void dsp_stop(void)
{
	atomic_store(&stopping, true);
	poke();
}

/* Once, in the dispatcher: stop accepting, answer the parked requests,
 * end the idle connections without a request (shut down: the thread that
 * gets their event closes them); those already holding one stay armed, a
 * thread answers them 503 stopping. */
static void stop_begin(void)
{
	struct conn *c;

	listen_ctl(EPOLL_CTL_DEL);
	pthread_mutex_lock(&c_mu);
	idle_closed = true;
	for (c = idle_head.next; c != &idle_head; c = c->next)
		if (conn_peek(c) <= 0)
			(void)shutdown(c->fd, SHUT_RDWR);
	pthread_mutex_unlock(&c_mu);
	while (dsp_heap_top() != NULL)
		finish_if_parked(dsp_heap_top(), false);
}

/* What a stop still waits for. */
struct stop_left {
	unsigned idle;   /* connections armed, not taken by a thread: idle
	                  * kept ones a thread is to close, or ones holding a
	                  * request no thread took yet (503 stopping) */
	unsigned queued; /* parked requests' answers no thread took yet */
	unsigned busy;   /* serving threads in a request (read, handle,
	                  * write) or a job */
	unsigned parked; /* parked, not yet queued */
};

/* Nothing idle, queued, in flight or parked.  The order of the reads
 * matters: a thread counts as busy before it takes an idle connection or
 * a job, and parks a request before it stops being busy.  p_mu is held
 * over the last three: an unwatched request's wake queues it and stops
 * counting it as parked in one p_mu section (dsp_wake), which a read of
 * the queue before it and of the parked count after it would miss. */
static bool stop_complete(struct stop_left *l)
{
	pthread_mutex_lock(&c_mu);
	l->idle = n_idle;
	pthread_mutex_unlock(&c_mu);
	pthread_mutex_lock(&p_mu);
	pthread_mutex_lock(&q_mu);
	l->queued = (unsigned)q_len;
	pthread_mutex_unlock(&q_mu);
	l->busy = atomic_load(&busy);
	l->parked = n_parked;
	pthread_mutex_unlock(&p_mu);
	return l->idle + l->queued + l->busy + l->parked == 0;
}

/* ---- the loop ------------------------------------------------------------- */

static long min_timeout(long a, long b)
{
	if (a < 0)
		return b;
	if (b < 0)
		return a;
	return a < b ? a : b;
}

/* One epoll round: the eventfd, and hangups of parked requests. */
static void dispatch_round(long timeout)
{
	struct epoll_event evs[EVENTS_MAX];
	uint64_t v;
	int n, i;

	n = epoll_wait(ep, evs, EVENTS_MAX, (int)timeout);
	for (i = 0; i < n; i++) {
		struct conn *c = evs[i].data.ptr;

		if (evs[i].data.ptr == &tag_event) {
			(void)!read(evfd, &v, sizeof v);
		} else if (c->parked != NULL) {
			/* The peer hung up (or aborted) while its request
			 * waits: answer it now, which frees its --max-waiters
			 * place, and close the connection after the answer. */
			c->parked->drop = true;
			finish_if_parked(c->parked, false);
		}
	}
}

/* Re-arms a paused listen socket once there is room and the retry time
 * passed; returns the timeout until it may, or -1. */
static long listen_resume(unsigned long long now)
{
	unsigned long long at = atomic_load(&retry_at_ms);

	if (!atomic_load(&listen_paused) || atomic_load(&broken))
		return -1;
	if (atomic_load(&conns) >= conns_max)
		return -1; /* conn_free pokes */
	if (now < at)
		return (long)(at - now);
	atomic_store(&listen_paused, false);
	listen_ctl(EPOLL_CTL_MOD);
	return -1;
}

/* During the stop: true once it is complete; logs what it waits for. */
static bool stop_round(unsigned long long now, long *timeout)
{
	static unsigned long long log_at;
	static bool seen;
	struct stop_left left;

	if (!seen) {
		seen = true;
		stop_begin();
		log_at = now + STOP_LOG_MS;
	}
	if (stop_complete(&left)) {
		seen = false;
		return true;
	}
	if (now >= log_at) {
		log_msg(LOG_INFO, "waiting for %u request(s) in flight, %u "
		        "parked request(s) and %u answer(s) to write, %u "
		        "connection(s) no thread took yet", left.busy,
		        left.parked, left.queued, left.idle);
		log_at = now + STOP_LOG_MS;
	}
	*timeout = min_timeout(*timeout, (long)(log_at - now));
	return false;
}

void *dsp_main(void *arg)
{
	long timeout = -1;

	(void)arg;
	for (;;) {
		unsigned long long now;

		dispatch_round(timeout);
		now = now_ms();
		take_inbox();
		timeout = expire();
		if (atomic_load(&stopping)) {
			if (stop_round(now, &timeout))
				break;
			continue;
		}
		timeout = min_timeout(timeout, listen_resume(now));
	}
	dsp_close_queue();
	return NULL;
}

/* ---- setup ---------------------------------------------------------------- */

/* The connection bound: what RLIMIT_NOFILE allows (the soft limit is
 * raised to the hard one), less a reserve, at most CONNS_MAX. */
static unsigned conns_bound(void)
{
	struct rlimit rl;
	rlim_t n;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return 256;
	if (rl.rlim_cur < rl.rlim_max) {
		rlim_t want = rl.rlim_max;

		if (want == RLIM_INFINITY || want > (rlim_t)(2 * CONNS_MAX))
			want = (rlim_t)(2 * CONNS_MAX);
		if (want > rl.rlim_cur) {
			struct rlimit nl = { want, rl.rlim_max };

			if (setrlimit(RLIMIT_NOFILE, &nl) == 0)
				rl.rlim_cur = want;
		}
	}
	n = rl.rlim_cur;
	n = n > 2 * FD_RESERVE ? n - FD_RESERVE : n / 2;
	return n > CONNS_MAX ? CONNS_MAX : (unsigned)n;
}

static int listen_prepare(int listen_fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;

	lfd = listen_fd;
	if (getsockname(lfd, (struct sockaddr *)&ss, &len) == 0)
		lfd_inet = ss.ss_family == AF_INET || ss.ss_family == AF_INET6;
	/* Non-blocking: another thread, or another process (two Runtimes
	 * on one systemd socket), may take a connection epoll announced. */
	lfd_flags = fcntl(lfd, F_GETFL);
	if (lfd_flags < 0 || fcntl(lfd, F_SETFL, lfd_flags | O_NONBLOCK) < 0)
		return -1;
	return 0;
}

/* The epoll sets and their fixed members. */
static int sets_init(void)
{
	struct epoll_event ev;

	ep = epoll_create1(EPOLL_CLOEXEC);
	eps = epoll_create1(EPOLL_CLOEXEC);
	evfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	qfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (ep < 0 || eps < 0 || evfd < 0 || qfd < 0)
		return -1;
	memset(&ev, 0, sizeof ev);
	ev.events = EPOLLIN;
	ev.data.ptr = &tag_event;
	if (epoll_ctl(ep, EPOLL_CTL_ADD, evfd, &ev) != 0)
		return -1;
	ev.events = EPOLLIN | EPOLLONESHOT;
	ev.data.ptr = &tag_queue;
	return epoll_ctl(eps, EPOLL_CTL_ADD, qfd, &ev);
}

int dsp_init(int listen_fd, unsigned threads, void (*on_broken)(void))
{
	notify_broken = on_broken;
	n_threads = threads;
	waiters_max = cpus_usable();
	if (waiters_max > threads)
		waiters_max = threads;
	atomic_store(&waiters, 0);
	atomic_store(&spares, 0);
	atomic_store(&waiters_uncapped, false);
	atomic_store(&stopping, false);
	atomic_store(&broken, false);
	atomic_store(&listen_paused, false);
	atomic_store(&conns, 0);
	atomic_store(&busy, 0);
	q_closed = false;
	idle_closed = false;
	q_head = q_len = 0;
	conns_max = conns_bound();
	q_cap = (size_t)conns_max + 1;
	heap_cap = (size_t)conns_max + 1;
	heap_len = 0;
	q_ring = calloc(q_cap, sizeof *q_ring);
	heap = calloc(heap_cap, sizeof *heap);
	if (q_ring == NULL || heap == NULL || sets_init() != 0 ||
	    listen_prepare(listen_fd) != 0) {
		log_msg(LOG_ERROR, "cannot set up the event loop: %s",
		        strerror(errno));
		dsp_free();
		return -1;
	}
	listen_ctl(EPOLL_CTL_ADD);
	return 0;
}

void dsp_free(void)
{
	if (lfd >= 0 && lfd_flags >= 0)
		(void)fcntl(lfd, F_SETFL, lfd_flags); /* may be shared */
	if (ep >= 0)
		close(ep);
	if (eps >= 0)
		close(eps);
	if (evfd >= 0)
		close(evfd);
	pthread_mutex_lock(&q_mu); /* the shutdown guard may drain */
	if (qfd >= 0)
		close(qfd);
	ep = eps = evfd = qfd = lfd = lfd_flags = -1;
	free(q_ring);
	q_ring = NULL;
	q_len = 0;
	pthread_mutex_unlock(&q_mu);
	free(heap);
	heap = NULL;
	heap_cap = heap_len = 0;
}

unsigned dsp_conns_max(void)
{
	return conns_max;
}

void dsp_stats(struct http_server_stats *out)
{
	memset(out, 0, sizeof *out);
	out->threads = n_threads;
	out->threads_busy = atomic_load(&busy);
	pthread_mutex_lock(&q_mu);
	out->queued = (unsigned)q_len;
	pthread_mutex_unlock(&q_mu);
	pthread_mutex_lock(&p_mu);
	out->parked = n_parked;
	pthread_mutex_unlock(&p_mu);
	pthread_mutex_lock(&c_mu);
	out->idle_connections = n_idle;
	pthread_mutex_unlock(&c_mu);
}
