/*
 * metrics.h - the HTTP side of the metrics: request counters by route
 * template, method and status, answers cut short and the request
 * duration histogram, kept
 * lock-free (relaxed atomics), and the Prometheus text exposition of
 * them together with the library's wr_runtime_metrics.
 */
#ifndef WR_FCGI_METRICS_H
#define WR_FCGI_METRICS_H

#include <stddef.h>

#include "handlers.h"

/* Counts one finished request: route is a route template (or "" for no
 * route), method the request method (NULL ok), status 100..599 (others
 * are ignored).  Lock-free; any thread. */
void http_metrics_count(const char *route, const char *method, int status,
                        unsigned long long duration_us);

/* Counts one answer cut short: the peer closed the connection or stopped
 * reading before all of it was written.  Lock-free; any thread. */
void http_metrics_count_cut(void);

/*
 * Renders every series in the Prometheus text format 0.0.4: the request
 * counters above, ctx->server_stats (if not NULL) and m (borrowed).
 * Returns a NUL-terminated text the caller frees with free() (*len its
 * length), or NULL when out of memory.  Thread-safe.
 */
char *http_metrics_render(const struct http_ctx *ctx,
                          const struct wr_metrics *m, size_t *len);

#endif /* WR_FCGI_METRICS_H */
