/*
 * metrics.c - request counters and the duration histogram (lock-free:
 * relaxed atomic adds on fixed arrays), rendered with the library's
 * wr_runtime_metrics as Prometheus text (format 0.0.4).
 *
 * Cardinality is bounded by construction: routes are the route templates
 * (route_template) plus "unmatched", methods GET/POST/DELETE/other, and
 * statuses 100..599; only series seen at least once are written.  One
 * process serves one Runtime, so the counters are process-wide (they
 * start at 0 with the process, like the library's with the Runtime).
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "route.h"

#define MAX_ROUTES 32 /* slot 0: no route; then one per route_op */
#define N_METHODS 4
#define N_STATUS 500  /* 100..599 */

static const char *const method_names[N_METHODS] = {"GET", "POST", "DELETE",
                                                    "other"};

/* Upper bounds of the duration buckets, in microseconds (+Inf last). */
static const unsigned long long dur_le_us[] = {
	500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000,
	500000, 1000000, 2500000, 5000000, 10000000};
#define N_DUR (sizeof(dur_le_us) / sizeof(dur_le_us[0]))

static uint64_t requests[MAX_ROUTES][N_METHODS][N_STATUS];
static uint64_t dur_bucket[MAX_ROUTES][N_DUR + 1]; /* not cumulative */
static uint64_t dur_sum_us[MAX_ROUTES];
static uint64_t answers_cut;

/* The template of route slot i ("" for slot 0 and past the last op). */
static const char *
slot_template(int i)
{
	return i == 0 ? "" : route_template((enum route_op)(i - 1));
}

static int
route_slot(const char *route)
{
	if (route == NULL || route[0] == '\0')
		return 0;
	for (int i = 1; i < MAX_ROUTES; i++) {
		const char *t = slot_template(i);

		if (t[0] == '\0')
			break;
		if (strcmp(t, route) == 0)
			return i;
	}
	return 0;
}

static int
method_slot(const char *method)
{
	for (int i = 0; method != NULL && i < N_METHODS - 1; i++)
		if (strcmp(method, method_names[i]) == 0)
			return i;
	return N_METHODS - 1;
}

void
http_metrics_count(const char *route, const char *method, int status,
                   unsigned long long duration_us)
{
	int r = route_slot(route), b = 0;

	if (status < 100 || status > 599)
		return;
	__atomic_add_fetch(&requests[r][method_slot(method)][status - 100], 1,
	                   __ATOMIC_RELAXED);
	while ((size_t)b < N_DUR && duration_us > dur_le_us[b])
		b++;
	__atomic_add_fetch(&dur_bucket[r][b], 1, __ATOMIC_RELAXED);
	__atomic_add_fetch(&dur_sum_us[r], duration_us, __ATOMIC_RELAXED);
}

void
http_metrics_count_cut(void)
{
	__atomic_add_fetch(&answers_cut, 1, __ATOMIC_RELAXED);
}

static uint64_t
get(const uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

static const char *
route_label(int slot)
{
	return slot == 0 ? "unmatched" : slot_template(slot);
}

static void
head(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* route_slot gives each template its first slot (list and create share
 * "/v1/workers"), so every other slot stays 0 and is skipped. */
static void
render_requests(FILE *f)
{
	head(f, "worker_runtime_http_requests_total", "counter",
	     "HTTP requests answered, by route template, method and status.");
	for (int r = 0; r < MAX_ROUTES; r++)
		for (int m = 0; m < N_METHODS; m++)
			for (int s = 0; s < N_STATUS; s++) {
				uint64_t v = get(&requests[r][m][s]);

				if (v == 0)
					continue;
				fprintf(f, "worker_runtime_http_requests_total"
				        "{route=\"%s\",method=\"%s\","
				        "status=\"%d\"} %" PRIu64 "\n",
				        route_label(r), method_names[m],
				        s + 100, v);
			}
}

static void
render_durations(FILE *f)
{
	head(f, "worker_runtime_http_request_duration_seconds", "histogram",
	     "Time from a request's arrival to the end of its response.");
	for (int r = 0; r < MAX_ROUTES; r++) {
		uint64_t b[N_DUR + 1], cum = 0, total = 0;

		/* One read of each bucket, so the cumulative counts the
		 * text shows never decrease. */
		for (size_t i = 0; i <= N_DUR; i++)
			total += b[i] = get(&dur_bucket[r][i]);
		if (total == 0)
			continue;
		for (size_t i = 0; i < N_DUR; i++) {
			cum += b[i];
			fprintf(f, "worker_runtime_http_request_duration_seconds"
			        "_bucket{route=\"%s\",le=\"%g\"} %" PRIu64
			        "\n", route_label(r),
			        (double)dur_le_us[i] / 1e6, cum);
		}
		fprintf(f, "worker_runtime_http_request_duration_seconds_bucket"
		        "{route=\"%s\",le=\"+Inf\"} %" PRIu64 "\n",
		        route_label(r), total);
		fprintf(f, "worker_runtime_http_request_duration_seconds_sum"
		        "{route=\"%s\"} %.6f\n", route_label(r),
		        (double)get(&dur_sum_us[r]) / 1e6);
		fprintf(f, "worker_runtime_http_request_duration_seconds_count"
		        "{route=\"%s\"} %" PRIu64 "\n", route_label(r), total);
	}
}

static void
render_server(FILE *f, const struct http_ctx *ctx)
{
	struct http_server_stats s;

	if (ctx->server_stats == NULL)
		return;
	memset(&s, 0, sizeof(s));
	ctx->server_stats(&s);
	head(f, "worker_runtime_http_threads", "gauge",
	     "Serving threads, busy with a request or idle.");
	fprintf(f, "worker_runtime_http_threads{state=\"busy\"} %u\n",
	        s.threads_busy);
	fprintf(f, "worker_runtime_http_threads{state=\"idle\"} %u\n",
	        s.threads > s.threads_busy ? s.threads - s.threads_busy : 0);
	head(f, "worker_runtime_http_requests_parked", "gauge",
	     "Requests parked: long-polls waiting for an event, and "
	     "mutations waiting for their fdatasync.");
	fprintf(f, "worker_runtime_http_requests_parked %u\n", s.parked);
	head(f, "worker_runtime_http_requests_queued", "gauge",
	     "Parked requests ready to be answered, not yet taken by a "
	     "serving thread.");
	fprintf(f, "worker_runtime_http_requests_queued %u\n", s.queued);
	head(f, "worker_runtime_http_connections_idle", "gauge",
	     "Open connections with no request being served.");
	fprintf(f, "worker_runtime_http_connections_idle %u\n",
	        s.idle_connections);
}

static void
one(FILE *f, const char *name, const char *type, const char *help,
    uint64_t v)
{
	head(f, name, type, help);
	fprintf(f, "%s %" PRIu64 "\n", name, v);
}

static void
render_workers(FILE *f, const struct wr_metrics *m)
{
	head(f, "worker_runtime_workers", "gauge",
	     "Workers held, by status and run state.");
	fprintf(f, "worker_runtime_workers{status=\"running\","
	        "run_state=\"idle\"} %" PRIu64 "\n", m->running_idle);
	fprintf(f, "worker_runtime_workers{status=\"running\","
	        "run_state=\"busy\"} %" PRIu64 "\n", m->running_busy);
	for (int st = WR_STATUS_STOPPED; st < WR__STATUS_COUNT; st++)
		fprintf(f, "worker_runtime_workers{status=\"%s\","
		        "run_state=\"none\"} %" PRIu64 "\n",
		        wr_worker_status_name((enum wr_worker_status)st),
		        m->workers[st]);
	one(f, "worker_runtime_inputs_total", "counter",
	    "Inputs accepted (durable) since the Runtime opened.",
	    m->inputs);
	one(f, "worker_runtime_transcript_entries_total", "counter",
	    "Transcript entries appended since the Runtime opened, any role.",
	    m->transcript_entries);
	one(f, "worker_runtime_diagnostics_total", "counter",
	    "Diagnostics recorded since the Runtime opened.", m->diagnostics);
	/* Never "negative" (2^64 - 1 in a gauge): a wr_metrics filled by
	 * hand, or by an older library, may have exited above spawned. */
	one(f, "worker_runtime_exec_children", "gauge",
	    "Worker processes alive (started and not yet reaped).",
	    m->children_spawned > m->children_exited
	    ? m->children_spawned - m->children_exited : 0);
	one(f, "worker_runtime_exec_spawn_failures_total", "counter",
	    "Worker programs that could not be started.", m->spawn_failures);
	one(f, "worker_runtime_exec_kills_after_grace_total", "counter",
	    "Worker processes sent SIGKILL after SIGTERM's grace.",
	    m->kills_after_grace);
	one(f, "worker_runtime_exec_stderr_lines_total", "counter",
	    "Lines worker processes wrote to stderr (logged as \"worker "
	    "stderr\").", m->worker_stderr_lines);
	one(f, "worker_runtime_idempotency_keys", "gauge",
	    "Idempotency keys held (at the bound, a new key is refused).",
	    m->idempotency_keys);
	one(f, "worker_runtime_idempotency_keys_max", "gauge",
	    "The bound on idempotency keys held (--max-idempotency-keys).",
	    m->idempotency_keys_max);
}

static void
render_store(FILE *f, const struct wr_metrics *m)
{
	uint64_t cum = 0;

	one(f, "worker_runtime_store_failed", "gauge",
	    "1 while the store refuses writes after a failed write or sync.",
	    m->store_failed ? 1 : 0);
	one(f, "worker_runtime_store_fsyncs_total", "counter",
	    "fdatasyncs of the journal.", m->store_syncs);
	head(f, "worker_runtime_store_commit_batch_records", "histogram",
	     "Records made durable by one fdatasync (group commit).");
	for (int b = 0; b < WR_METRICS_BATCH_BUCKETS; b++) {
		cum += m->sync_batch[b];
		if (b + 1 < WR_METRICS_BATCH_BUCKETS)
			fprintf(f, "worker_runtime_store_commit_batch_records"
			        "_bucket{le=\"%u\"} %" PRIu64 "\n", 1u << b,
			        cum);
	}
	/* The last bucket also holds the larger batches: it is +Inf. */
	fprintf(f, "worker_runtime_store_commit_batch_records_bucket"
	        "{le=\"+Inf\"} %" PRIu64 "\n", m->sync_batch_count);
	fprintf(f, "worker_runtime_store_commit_batch_records_sum %" PRIu64
	        "\n", m->sync_batch_sum);
	fprintf(f, "worker_runtime_store_commit_batch_records_count %" PRIu64
	        "\n", m->sync_batch_count);
	one(f, "worker_runtime_store_journal_written_bytes_total", "counter",
	    "Bytes appended to the journal.", m->journal_bytes);
	one(f, "worker_runtime_store_synced_write_failures_total", "counter",
	    "Failed writes of the store's synced file.",
	    m->store_synced_failures);
	one(f, "worker_runtime_store_snapshot_size_bytes", "gauge",
	    "Size of the newest snapshot (0: none).", m->snapshot_bytes);
	one(f, "worker_runtime_store_snapshots_total", "counter",
	    "Snapshots written.", m->snapshots);
	one(f, "worker_runtime_store_snapshot_failures_total", "counter",
	    "Snapshots begun and given up.", m->snapshot_failures);
	head(f, "worker_runtime_store_snapshot_duration_seconds", "summary",
	     "Time spent writing snapshots.");
	fprintf(f, "worker_runtime_store_snapshot_duration_seconds_sum %.6f\n",
	        (double)m->snapshot_us / 1e6);
	fprintf(f, "worker_runtime_store_snapshot_duration_seconds_count %"
	        PRIu64 "\n", m->snapshots);
}

static void
render_runtime(FILE *f, const struct wr_metrics *m)
{
	head(f, "worker_runtime_info", "gauge",
	     "Always 1; the labels say the version and the store backend.");
	fprintf(f, "worker_runtime_info{version=\"%s\",backend=\"%s\"} 1\n",
	        wr_version(), m->backend);
	one(f, "worker_runtime_start_time_seconds", "gauge",
	    "When the Runtime opened, in seconds since the Unix epoch.",
	    (uint64_t)(m->started_at_ms / 1000));
	head(f, "worker_runtime_status", "gauge",
	     "1 for the Runtime's status, 0 for the others.");
	for (int s = WR_RUNTIME_RUNNING; s <= WR_RUNTIME_STOPPED; s++)
		fprintf(f, "worker_runtime_status{status=\"%s\"} %d\n",
		        wr_runtime_status_name((enum wr_runtime_status)s),
		        m->status == (enum wr_runtime_status)s);
}

char *
http_metrics_render(const struct http_ctx *ctx, const struct wr_metrics *m,
                    size_t *len)
{
	char *buf = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&buf, &n);

	if (f == NULL)
		return NULL;
	render_runtime(f, m);
	render_workers(f, m);
	render_store(f, m);
	render_requests(f);
	one(f, "worker_runtime_http_answers_cut_total", "counter",
	    "Answers cut short: the peer closed the connection or stopped "
	    "reading before all of it was written (the request was acted "
	    "on; see the access log).", get(&answers_cut));
	render_durations(f);
	render_server(f, ctx);
	if (ferror(f)) {
		fclose(f);
		free(buf);
		return NULL;
	}
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	*len = n;
	return buf;
}
