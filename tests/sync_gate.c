/*
 * sync_gate.c - the durability tests' fdatasync gate (sync_gate.h): one
 * mutex and condition variable guard the gate's state and signal every
 * change.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "sync_gate.h"

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_cv = PTHREAD_COND_INITIALIZER;
static bool g_shut;
static int g_entered;       /* fdatasyncs that reached the gate */
static int g_returned;      /* fdatasyncs that returned (any result) */
static atomic_int g_errno;  /* non-zero: fdatasync fails with it */
static atomic_int g_next;   /* non-zero: the next one fails at once */
static long g_total;        /* fdatasyncs that reached it, ever */
static long g_fail_upto;    /* those up to here fail with g_fail_held */
static int g_fail_held;

static void
bound(struct timespec *until)
{
	clock_gettime(CLOCK_REALTIME, until);
	until->tv_sec += TEST_GATE_BOUND_S;
}

static int
gated_fdatasync(int fd)
{
	struct timespec until;
	long seq;
	int e, r;

	if ((e = atomic_exchange(&g_next, 0)) != 0) {
		pthread_mutex_lock(&g_mu);
		g_entered++;
		g_returned++;
		pthread_cond_broadcast(&g_cv);
		pthread_mutex_unlock(&g_mu);
		errno = e;
		return -1;
	}
	pthread_mutex_lock(&g_mu);
	g_entered++;
	seq = ++g_total;
	pthread_cond_broadcast(&g_cv);
	bound(&until);
	while (g_shut &&
	       pthread_cond_timedwait(&g_cv, &g_mu, &until) == 0)
		;
	e = seq <= g_fail_upto ? g_fail_held : 0;
	pthread_mutex_unlock(&g_mu);
	if (e == 0)
		e = atomic_load(&g_errno);
	if (e != 0) {
		errno = e;
		r = -1;
	} else {
		r = fdatasync(fd);
	}
	pthread_mutex_lock(&g_mu);
	g_returned++;
	pthread_cond_broadcast(&g_cv);
	pthread_mutex_unlock(&g_mu);
	return r;
}

static const struct wr__fs_io gate_seam = {NULL, gated_fdatasync, NULL, NULL,
                                           NULL};

void
test_gate_fail_next(int e)
{
	atomic_store(&g_next, e);
}

void
test_gate_install(struct wr_runtime *rt)
{
	wr__store_fs_set_io(wr__runtime_store(rt), &gate_seam);
}

void
test_gate_set(bool shut)
{
	pthread_mutex_lock(&g_mu);
	g_shut = shut;
	if (shut)
		g_entered = 0; /* count those held from now on */
	pthread_cond_broadcast(&g_cv);
	pthread_mutex_unlock(&g_mu);
}

void
test_gate_open_failing(int e)
{
	pthread_mutex_lock(&g_mu);
	g_fail_upto = g_total;
	g_fail_held = e;
	g_shut = false;
	pthread_cond_broadcast(&g_cv);
	pthread_mutex_unlock(&g_mu);
}

void
test_gate_fail_with(int e)
{
	atomic_store(&g_errno, e);
}

void
test_gate_await_entered(int n)
{
	struct timespec until;

	bound(&until);
	pthread_mutex_lock(&g_mu);
	while (g_entered < n &&
	       pthread_cond_timedwait(&g_cv, &g_mu, &until) == 0)
		;
	cr_assert_geq(g_entered, n, "%d of %d fdatasyncs reached the gate",
	              g_entered, n);
	pthread_mutex_unlock(&g_mu);
}

int
test_gate_returned(void)
{
	int n;

	pthread_mutex_lock(&g_mu);
	n = g_returned;
	pthread_mutex_unlock(&g_mu);
	return n;
}

uint64_t
test_transcript_len(struct wr_runtime *rt, const char *id)
{
	struct wr_worker_info *w = NULL;
	uint64_t n;

	cr_assert_eq(wr_worker_get(rt, id, &w, NULL), WR_OK);
	n = w->transcript_len;
	wr_worker_info_free(w);
	return n;
}
