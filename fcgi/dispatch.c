/*
 * dispatch.c - the responder's event loop: epoll on the listen socket, the
 * idle connections and an eventfd; a bounded job queue to the serving
 * threads; parked requests ordered by deadline.  See dispatch.h and the
 * header comment of responder.c.
 *
 * Connections: each is registered EPOLLIN|EPOLLONESHOT while it is idle
 * (just accepted, or kept by nginx after a response) and is on the idle
 * list.  When it becomes readable the dispatcher takes it off the list and
 * queues it; epoll does not report it again until the serving thread
 * re-arms it (dsp_conn_release).  At most conns_max connections are open
 * (idle, queued, being served or holding a parked request); at the bound
 * the listen socket is left out of the epoll set, so new connections wait
 * in the kernel's listen backlog until one closes.
 *
 * Locks: q_mu (queue, busy count), c_mu (idle list, and the epoll re-arm
 * so that a stop cannot close an fd between the two), p_mu (parking states
 * and the two inboxes).  Only the stop holds c_mu while it takes q_mu;
 * nothing else nests.  The heap is the dispatcher thread's alone.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
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
#define ACCEPT_BATCH 64
#define CONNS_MAX 65536      /* whatever RLIMIT_NOFILE allows */
#define FD_RESERVE 512       /* fds left for the store, workers, logs */
#define ACCEPT_RETRY_MS 100  /* after EMFILE, ENOMEM, ... */
#define STOP_LOG_MS 5000

enum { RQ_RUNNING, RQ_EARLY, RQ_PARKED, RQ_WOKEN, RQ_DONE };

struct conn {
	int fd;
	struct conn *prev, *next; /* idle list, under c_mu */
	bool idle;
	struct rq *parked; /* its parked request, watched for a hangup
	                    * (dispatcher only) */
	bool unwatched;    /* taken out of the epoll set (a parked request
	                    * was let go): re-added, not modified, if kept */
};

static int ep = -1, evfd = -1, lfd = -1, lfd_flags = -1;
static bool lfd_inet;
static void (*notify_broken)(void);
static atomic_bool stopping, broken;
static unsigned conns_max;
static atomic_uint conns;
static atomic_bool listen_paused;
static char tag_listen, tag_event; /* epoll data of the two fixed fds */

static pthread_mutex_t q_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t q_cv = PTHREAD_COND_INITIALIZER;
static struct job *q_ring;
static size_t q_cap, q_head, q_len;
static unsigned q_busy, n_threads;
static bool q_closed;

static pthread_mutex_t c_mu = PTHREAD_MUTEX_INITIALIZER;
static struct conn idle_head = { -1, &idle_head, &idle_head, false, NULL,
                                  false };
static unsigned n_idle;
static bool idle_closed; /* the stop closed the idle list */

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

/* ---- the queue ---------------------------------------------------------- */

/* Never full: each job holds a distinct connection, and q_cap > conns_max. */
static void queue_push(struct job j)
{
	pthread_mutex_lock(&q_mu);
	q_ring[(q_head + q_len) % q_cap] = j;
	q_len++;
	pthread_cond_signal(&q_cv);
	pthread_mutex_unlock(&q_mu);
}

bool dsp_pop(struct job *out)
{
	pthread_mutex_lock(&q_mu);
	while (q_len == 0 && !q_closed)
		pthread_cond_wait(&q_cv, &q_mu);
	if (q_len == 0) {
		pthread_mutex_unlock(&q_mu);
		return false;
	}
	*out = q_ring[q_head];
	q_head = (q_head + 1) % q_cap;
	q_len--;
	q_busy++;
	pthread_mutex_unlock(&q_mu);
	return true;
}

bool dsp_take(struct job *out)
{
	bool got = false;

	pthread_mutex_lock(&q_mu);
	if (q_ring != NULL && q_len > 0) {
		*out = q_ring[q_head];
		q_head = (q_head + 1) % q_cap;
		q_len--;
		got = true;
	}
	pthread_mutex_unlock(&q_mu);
	return got;
}

void dsp_job_done(void)
{
	pthread_mutex_lock(&q_mu);
	q_busy--;
	pthread_mutex_unlock(&q_mu);
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
	return epoll_ctl(ep, op, c->fd, &ev);
}

void dsp_conn_release(struct conn *c, bool kept)
{
	if (kept) {
		pthread_mutex_lock(&c_mu);
		int op = c->unwatched ? EPOLL_CTL_ADD : EPOLL_CTL_MOD;

		c->unwatched = false;
		if (!idle_closed && arm(c, op) == 0) {
			idle_link(c);
			pthread_mutex_unlock(&c_mu);
			return;
		}
		pthread_mutex_unlock(&c_mu);
		close(c->fd); /* stopping: nginx opens a new one elsewhere */
	}
	conn_free(c);
}

/* How long a serving thread's read or write on a connection may block. */
#define CONN_IO_TIMEOUT_S 10
static const struct timeval io_timeout = { CONN_IO_TIMEOUT_S, 0 };

/* A new connection starts idle: it is handed to a thread once readable. */
static void conn_add(int fd)
{
	struct conn *c = calloc(1, sizeof *c);

	if (c == NULL) {
		close(fd);
		return;
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
	pthread_mutex_lock(&c_mu);
	if (arm(c, EPOLL_CTL_ADD) != 0) {
		pthread_mutex_unlock(&c_mu);
		close(fd);
		conn_free(c);
		return;
	}
	idle_link(c);
	pthread_mutex_unlock(&c_mu);
}

/* 1: bytes to read, 0: the peer closed (or nothing), -1: error. */
static int conn_peek(const struct conn *c)
{
	char b;
	ssize_t n = recv(c->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);

	return n > 0 ? 1 : n == 0 ? 0 : -1;
}

/* An idle connection became readable: queue it, unless the peer just
 * closed it (nginx drops idle kept connections), which ends it here. */
static void finish_if_parked(struct rq *r, bool woken_ok);

static void conn_ready(struct conn *c, uint32_t events)
{
	struct job j = { JOB_READ, c, NULL };

	if (c->parked != NULL) {
		/* The peer hung up (or aborted) while its request waits:
		 * answer it now, which frees its --max-waiters place, and
		 * close the connection after the answer. */
		c->parked->drop = true;
		finish_if_parked(c->parked, false);
		return;
	}
	pthread_mutex_lock(&c_mu);
	if (!c->idle) { /* cannot happen: ONESHOT */
		pthread_mutex_unlock(&c_mu);
		return;
	}
	idle_unlink(c);
	pthread_mutex_unlock(&c_mu);
	if ((events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) &&
	    conn_peek(c) <= 0) {
		close(c->fd);
		conn_free(c);
		return;
	}
	queue_push(j);
}

/* ---- the listen socket -------------------------------------------------- */

static void listen_set(bool on)
{
	struct epoll_event ev;

	memset(&ev, 0, sizeof ev);
	ev.events = EPOLLIN;
	ev.data.ptr = &tag_listen;
	if (on)
		(void)epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
	else
		(void)epoll_ctl(ep, EPOLL_CTL_DEL, lfd, &ev);
}

static bool accept_error_fatal(int e)
{
	return e == EBADF || e == ENOTSOCK || e == EINVAL || e == EOPNOTSUPP ||
	       e == EFAULT;
}

/* Accepts what the backlog holds, up to ACCEPT_BATCH and the connection
 * bound.  Returns the ms to wait before accepting again (EMFILE ...), or
 * 0.  The listen socket is left out of the epoll set while paused. */
static long accept_some(void)
{
	static unsigned long failures;
	int i;

	for (i = 0; i < ACCEPT_BATCH; i++) {
		int fd;

		if (atomic_load(&conns) >= conns_max) {
			atomic_store(&listen_paused, true);
			listen_set(false);
			return 0;
		}
		fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd >= 0) {
			failures = 0;
			conn_add(fd);
			continue;
		}
		if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK ||
		    atomic_load(&stopping))
			return 0;
		if (accept_error_fatal(errno)) {
			log_msg(LOG_ERROR, "accept: %s", strerror(errno));
			listen_set(false);
			atomic_store(&broken, true);
			notify_broken();
			return 0;
		}
		/* EMFILE, ENFILE, ENOMEM, ...: wait for resources. */
		if (failures++ % 50 == 0)
			log_msg(LOG_ERROR, "accept: %s (retrying)",
			        strerror(errno));
		atomic_store(&listen_paused, true);
		listen_set(false);
		return ACCEPT_RETRY_MS;
	}
	return 0;
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
	r->next_new = p_new;
	p_new = r;
	n_parked++;
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
	struct job j = { JOB_FINISH, NULL, r };
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
		/* No longer watched: out of the epoll set before a thread
		 * takes it.  (A MOD to an empty mask would still report
		 * EPOLLHUP, e.g. once the thread's close path shut the
		 * socket down, for a connection it may have freed.) */
		r->conn->parked = NULL;
		r->conn->unwatched =
			epoll_ctl(ep, EPOLL_CTL_DEL, r->conn->fd, NULL) == 0;
	}
	if (go)
		queue_push(j);
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
			/* Watched for a hangup while it waits (conn_ready). */
			if (r->conn != NULL) {
				r->conn->parked = r;
				if (arm(r->conn, EPOLL_CTL_MOD) != 0)
					r->conn->parked = NULL;
			}
		}
	}
	for (r = wk; r != NULL; r = wk) {
		wk = r->next_woken;
		finish_if_parked(r, true);
	}
}

/* Answers the parked requests whose deadline passed; returns the ms to
 * the next deadline, or -1 for none. */
static long expire(void)
{
	unsigned long long now = now_ms();
	struct rq *r;

	while ((r = dsp_heap_top()) != NULL && r->deadline_ms <= now)
		finish_if_parked(r, false);
	if (r == NULL)
		return -1;
	return (long)(r->deadline_ms - now);
}

/* ---- stop ----------------------------------------------------------------- */

void dsp_stop(void)
{
	atomic_store(&stopping, true);
	poke();
}

/* Once, in the dispatcher: stop accepting, answer the parked requests,
 * end the idle connections (those already holding a request are queued:
 * the serving threads answer them 503 stopping). */
static void stop_begin(void)
{
	struct conn *c, *next;

	listen_set(false);
	pthread_mutex_lock(&c_mu);
	idle_closed = true;
	for (c = idle_head.next; c != &idle_head; c = next) {
		next = c->next;
		idle_unlink(c);
		if (conn_peek(c) > 0) {
			struct job j = { JOB_READ, c, NULL };

			queue_push(j);
		} else {
			close(c->fd);
			conn_free(c);
		}
	}
	pthread_mutex_unlock(&c_mu);
	while (dsp_heap_top() != NULL)
		finish_if_parked(dsp_heap_top(), false);
}

/* Nothing in flight, queued or parked. */
static bool stop_complete(unsigned *left)
{
	unsigned n;

	pthread_mutex_lock(&q_mu);
	n = q_busy + (unsigned)q_len;
	pthread_mutex_unlock(&q_mu);
	pthread_mutex_lock(&p_mu);
	n += n_parked;
	pthread_mutex_unlock(&p_mu);
	*left = n;
	return n == 0;
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

/* One epoll round; returns the accept pause it asks for (ms, -1 none). */
static long dispatch_round(long timeout)
{
	struct epoll_event evs[EVENTS_MAX];
	long pause = -1;
	uint64_t v;
	int n, i;

	n = epoll_wait(ep, evs, EVENTS_MAX,
	               timeout > INT32_MAX ? INT32_MAX : (int)timeout);
	for (i = 0; i < n; i++) {
		void *p = evs[i].data.ptr;

		if (p == &tag_event) {
			(void)!read(evfd, &v, sizeof v);
		} else if (p == &tag_listen) {
			long ms = accept_some();

			if (ms > 0)
				pause = ms;
		} else {
			conn_ready(p, evs[i].events);
		}
	}
	return pause;
}

void *dsp_main(void *arg)
{
	unsigned long long retry_at = 0, log_at = 0;
	bool stop_seen = false;
	unsigned left;
	long timeout = -1;

	(void)arg;
	for (;;) {
		long pause = dispatch_round(timeout);
		unsigned long long now = now_ms();

		if (pause > 0)
			retry_at = now + (unsigned long long)pause;
		take_inbox();
		timeout = expire();
		if (atomic_load(&stopping)) {
			if (!stop_seen) {
				stop_seen = true;
				stop_begin();
				log_at = now + STOP_LOG_MS;
			}
			if (stop_complete(&left))
				break;
			if (now >= log_at) {
				log_msg(LOG_INFO, "waiting for %u request(s) in "
				        "flight", left);
				log_at = now + STOP_LOG_MS;
			}
			timeout = min_timeout(timeout, (long)(log_at - now));
			continue;
		}
		if (atomic_load(&listen_paused) && !atomic_load(&broken) &&
		    atomic_load(&conns) < conns_max && now >= retry_at) {
			atomic_store(&listen_paused, false);
			listen_set(true);
		}
		if (atomic_load(&listen_paused) && retry_at > now)
			timeout = min_timeout(timeout, (long)(retry_at - now));
	}
	dsp_close_queue();
	return NULL;
}

void dsp_close_queue(void)
{
	pthread_mutex_lock(&q_mu);
	q_closed = true;
	pthread_cond_broadcast(&q_cv);
	pthread_mutex_unlock(&q_mu);
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
	/* Non-blocking: another process may take a connection epoll
	 * announced (two Runtimes on one systemd socket). */
	lfd_flags = fcntl(lfd, F_GETFL);
	if (lfd_flags < 0 || fcntl(lfd, F_SETFL, lfd_flags | O_NONBLOCK) < 0)
		return -1;
	return 0;
}

int dsp_init(int listen_fd, unsigned threads, void (*on_broken)(void))
{
	struct epoll_event ev;

	notify_broken = on_broken;
	n_threads = threads;
	atomic_store(&stopping, false);
	atomic_store(&broken, false);
	atomic_store(&listen_paused, false);
	atomic_store(&conns, 0);
	q_closed = false;
	idle_closed = false;
	q_head = q_len = 0;
	q_busy = 0;
	conns_max = conns_bound();
	q_cap = (size_t)conns_max + 1;
	heap_cap = (size_t)conns_max + 1;
	heap_len = 0;
	q_ring = calloc(q_cap, sizeof *q_ring);
	heap = calloc(heap_cap, sizeof *heap);
	ep = epoll_create1(EPOLL_CLOEXEC);
	evfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	memset(&ev, 0, sizeof ev);
	ev.events = EPOLLIN;
	ev.data.ptr = &tag_event;
	if (q_ring == NULL || heap == NULL || ep < 0 || evfd < 0 ||
	    epoll_ctl(ep, EPOLL_CTL_ADD, evfd, &ev) != 0 ||
	    listen_prepare(listen_fd) != 0) {
		log_msg(LOG_ERROR, "cannot set up the event loop: %s",
		        strerror(errno));
		dsp_free();
		return -1;
	}
	listen_set(true);
	return 0;
}

void dsp_free(void)
{
	if (lfd >= 0 && lfd_flags >= 0)
		(void)fcntl(lfd, F_SETFL, lfd_flags); /* may be shared */
	if (ep >= 0)
		close(ep);
	if (evfd >= 0)
		close(evfd);
	ep = evfd = lfd = lfd_flags = -1;
	pthread_mutex_lock(&q_mu); /* the shutdown guard may drain */
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
	pthread_mutex_lock(&q_mu);
	out->threads_busy = q_busy;
	out->queued = (unsigned)q_len;
	pthread_mutex_unlock(&q_mu);
	pthread_mutex_lock(&p_mu);
	out->parked = n_parked;
	pthread_mutex_unlock(&p_mu);
	pthread_mutex_lock(&c_mu);
	out->idle_connections = n_idle;
	pthread_mutex_unlock(&c_mu);
}
