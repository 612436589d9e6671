/*
 * healthcheck.h - worker-runtime --health-check (healthcheck.c).
 */
#ifndef WR_FCGI_HEALTHCHECK_H
#define WR_FCGI_HEALTHCHECK_H

/*
 * Asks the Runtime listening on socket_spec ("unix:PATH" or "HOST:PORT")
 * GET /v1/health over FastCGI, sending token's first line as a Bearer
 * token when token is not NULL; every step is bounded by timeout_ms.
 * Logs one line (log_msg) with the verdict and returns the exit status:
 * 0 for 200 (status ok or degraded), 1 for anything else (no socket,
 * nobody listening, no answer, 503 ...).  Not thread-safe (logs).
 */
int health_check(const char *socket_spec, const char *token,
                 unsigned timeout_ms);

#endif /* WR_FCGI_HEALTHCHECK_H */
