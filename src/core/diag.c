/*
 * core/diag.c - the Runtime's diagnostics: a ring of the last
 * WR_DIAGNOSTICS_KEPT messages under rt->diag_lock (never rt->lock), so
 * drivers may record one from any thread, with or without the Runtime lock.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/rt.h"

void
wr_runtime_diagnose(struct wr_runtime *rt, const char *worker_id,
                    const char *fmt, ...)
{
	struct wr_diagnostic *d, copy;
	va_list ap;

	if (rt == NULL || fmt == NULL)
		return;
	pthread_mutex_lock(&rt->diag_lock);
	d = &rt->diags[rt->diag_count % WR_DIAGNOSTICS_KEPT];
	rt->diag_count++;
	d->id = rt->diag_count;
	d->at_ms = wr__now_ms();
	wr__strlcpy(d->worker_id, worker_id != NULL ? worker_id : "",
	            sizeof(d->worker_id));
	va_start(ap, fmt);
	vsnprintf(d->message, sizeof(d->message), fmt, ap);
	va_end(ap);
	copy = *d;
	pthread_mutex_unlock(&rt->diag_lock);
	if (rt->on_diagnostic != NULL)
		rt->on_diagnostic(rt->on_diagnostic_arg, &copy);
}

wr_err
wr_runtime_diagnostics(struct wr_runtime *rt, struct wr_diagnostic **out,
                       size_t *count, struct wr_error *err)
{
	struct wr_diagnostic *v = NULL;
	size_t n;
	uint64_t first;

	pthread_mutex_lock(&rt->diag_lock);
	n = rt->diag_count < WR_DIAGNOSTICS_KEPT ? (size_t)rt->diag_count
	                                         : WR_DIAGNOSTICS_KEPT;
	if (n > 0) {
		v = malloc(n * sizeof(*v));
		if (v == NULL) {
			pthread_mutex_unlock(&rt->diag_lock);
			return wr__oom(err);
		}
	}
	first = rt->diag_count - n;
	for (size_t i = 0; i < n; i++)
		v[i] = rt->diags[(first + i) % WR_DIAGNOSTICS_KEPT];
	pthread_mutex_unlock(&rt->diag_lock);
	*out = v;
	*count = n;
	return WR_OK;
}

wr_err
wr_runtime_diagnostics_page(struct wr_runtime *rt, uint64_t after,
                            uint32_t limit, struct wr_diagnostic **out,
                            size_t *count, bool *has_next,
                            struct wr_error *err)
{
	struct wr_diagnostic *v = NULL;
	uint64_t first, last;
	size_t n = 0;

	if (limit > WR_DIAGNOSTICS_KEPT)
		return wr__fail(err, WR_EINVALID_INPUT, WR_REASON_LIMIT_TOO_LARGE,
		                "limit", "limit must be at most %u",
		                (unsigned)WR_DIAGNOSTICS_KEPT);
	if (limit == 0)
		limit = WR_DIAGNOSTICS_KEPT;
	/* Allocated before the lock: the ring is never held across malloc. */
	if ((v = malloc(limit * sizeof(*v))) == NULL)
		return wr__oom(err);
	pthread_mutex_lock(&rt->diag_lock);
	last = rt->diag_count; /* ids are 1..last; kept: first+1..last */
	first = last > WR_DIAGNOSTICS_KEPT ? last - WR_DIAGNOSTICS_KEPT : 0;
	if (after < first)
		after = first;
	while (after + n < last && n < limit) {
		v[n] = rt->diags[(after + n) % WR_DIAGNOSTICS_KEPT];
		n++;
	}
	*has_next = after + n < last;
	pthread_mutex_unlock(&rt->diag_lock);
	if (n == 0) {
		free(v);
		v = NULL;
	}
	*out = v;
	*count = n;
	return WR_OK;
}

void
wr_runtime_worker_event(struct wr_runtime *rt, const struct wr_worker_event *ev)
{
	uint64_t *c;

	if (rt == NULL || ev == NULL)
		return;
	switch (ev->kind) {
	case WR_WORKER_SPAWNED:
		c = &rt->m_spawned;
		break;
	case WR_WORKER_EXITED:
		c = &rt->m_exited;
		break;
	case WR_WORKER_KILLED:
		c = &rt->m_kills;
		break;
	case WR_WORKER_SPAWN_FAILED:
		c = &rt->m_spawn_failures;
		break;
	case WR_WORKER_STDERR:
		c = &rt->m_stderr_lines;
		break;
	default:
		return; /* not a kind: neither counted nor handed on */
	}
	__atomic_add_fetch(c, 1, __ATOMIC_RELAXED);
	/* Set once at open, never changed: no lock. */
	if (rt->on_worker_event != NULL)
		rt->on_worker_event(rt->on_worker_event_arg, ev);
}
