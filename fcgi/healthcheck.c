/*
 * healthcheck.c - worker-runtime --health-check: a FastCGI client of one
 * request, GET /v1/health, to a Runtime's --socket, for probes that run
 * beside the Runtime without nginx (a Kubernetes exec liveness probe).
 *
 * The FastCGI records are those of the FastCGI 1.0 specification: one
 * FCGI_BEGIN_REQUEST (role responder), the params, an empty FCGI_PARAMS,
 * an empty FCGI_STDIN; then FCGI_STDOUT records until FCGI_END_REQUEST.
 * Every read and write is bounded by the timeout; the answer by
 * ANSWER_MAX bytes.
 */
#include "config.h"

#include <errno.h>
#include <netdb.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "healthcheck.h"
#include "log.h"

#define FCGI_VERSION_1 1
#define FCGI_BEGIN_REQUEST 1
#define FCGI_END_REQUEST 3
#define FCGI_PARAMS 4
#define FCGI_STDIN 5
#define FCGI_STDOUT 6
#define FCGI_RESPONDER 1
#define REQ_ID 1
#define ANSWER_MAX (64 * 1024)   /* bytes of the answer kept */
#define PARAMS_MAX 8192          /* bytes of the encoded params */

/* Appends one FastCGI record header for type and len to buf. */
static size_t record_header(unsigned char *buf, int type, size_t len)
{
	buf[0] = FCGI_VERSION_1;
	buf[1] = (unsigned char)type;
	buf[2] = 0;
	buf[3] = REQ_ID;
	buf[4] = (unsigned char)(len >> 8);
	buf[5] = (unsigned char)(len & 0xff);
	buf[6] = 0; /* no padding */
	buf[7] = 0;
	return 8;
}

/* Appends the name-value pair (both shorter than 128 bytes, or the value
 * up to PARAMS_MAX) to p[*n]; false when it does not fit. */
static int add_param(unsigned char *p, size_t *n, const char *name,
                     const char *value)
{
	size_t nl = strlen(name), vl = strlen(value);
	size_t need = 1 + (vl < 128 ? 1 : 4) + nl + vl;

	if (nl >= 128 || vl > PARAMS_MAX || *n + need > PARAMS_MAX)
		return 0;
	p[(*n)++] = (unsigned char)nl;
	if (vl < 128) {
		p[(*n)++] = (unsigned char)vl;
	} else {
		p[(*n)++] = (unsigned char)(0x80 | (vl >> 24));
		p[(*n)++] = (unsigned char)(vl >> 16);
		p[(*n)++] = (unsigned char)(vl >> 8);
		p[(*n)++] = (unsigned char)vl;
	}
	memcpy(p + *n, name, nl);
	*n += nl;
	memcpy(p + *n, value, vl);
	*n += vl;
	return 1;
}

static int write_all(int fd, const unsigned char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int read_all(int fd, unsigned char *p, size_t n)
{
	while (n > 0) {
		ssize_t r = read(fd, p, n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r == 0)
			errno = ECONNRESET;
		if (r <= 0)
			return -1;
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

/* Connects to "unix:PATH" or "HOST:PORT" with both directions bounded by
 * timeout_ms.  Returns the fd, or -1 with *what naming the failed step. */
static int connect_to(const char *spec, unsigned timeout_ms, const char **what)
{
	struct timeval tv = { .tv_sec = timeout_ms / 1000,
	                      .tv_usec = (timeout_ms % 1000) * 1000 };
	struct addrinfo hints, *res = NULL, *ai;
	char host[256], *colon;
	int fd = -1;

	*what = "connect";
	if (strncmp(spec, "unix:", 5) == 0) {
		struct sockaddr_un sa = { .sun_family = AF_UNIX };

		if (strlen(spec + 5) >= sizeof sa.sun_path) {
			errno = ENAMETOOLONG;
			return -1;
		}
		strcpy(sa.sun_path, spec + 5);
		if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
			return -1;
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
		if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0)
			return fd;
		close(fd);
		return -1;
	}
	snprintf(host, sizeof host, "%s", spec);
	if ((colon = strrchr(host, ':')) == NULL) {
		errno = EINVAL;
		return -1;
	}
	*colon = '\0';
	if (host[0] == '[' && colon > host && colon[-1] == ']') {
		colon[-1] = '\0';
		memmove(host, host + 1, strlen(host));
	}
	memset(&hints, 0, sizeof hints);
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	if (getaddrinfo(host, colon + 1, &hints, &res) != 0) {
		*what = "resolve";
		errno = EHOSTUNREACH;
		return -1;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
		            ai->ai_protocol);
		if (fd < 0)
			continue;
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	return fd;
}

/* Sends GET /v1/health (with the token, if any).  Returns 0 or -1. */
static int send_request(int fd, const char *token)
{
	unsigned char buf[8 + 8 + 8 + PARAMS_MAX + 8 + 8];
	unsigned char params[PARAMS_MAX];
	char auth[PARAMS_MAX];
	size_t n = 0, pn = 0;

	if (!add_param(params, &pn, "REQUEST_METHOD", "GET") ||
	    !add_param(params, &pn, "REQUEST_URI", "/v1/health"))
		return -1;
	if (token != NULL) {
		/* the first line: the token in force */
		int len = (int)strcspn(token, "\n");

		snprintf(auth, sizeof auth, "Bearer %.*s", len, token);
		if (!add_param(params, &pn, "HTTP_AUTHORIZATION", auth))
			return -1;
	}
	n += record_header(buf + n, FCGI_BEGIN_REQUEST, 8);
	memset(buf + n, 0, 8);
	buf[n + 1] = FCGI_RESPONDER; /* flags 0: close when done */
	n += 8;
	n += record_header(buf + n, FCGI_PARAMS, pn);
	memcpy(buf + n, params, pn);
	n += pn;
	n += record_header(buf + n, FCGI_PARAMS, 0);
	n += record_header(buf + n, FCGI_STDIN, 0);
	return write_all(fd, buf, n);
}

/* Reads records until FCGI_END_REQUEST; the stdout stream (at most
 * ANSWER_MAX - 1 bytes) goes to ans, NUL-terminated.  Returns 0 or -1. */
static int read_answer(int fd, char *ans)
{
	unsigned char h[8], body[65535 + 255];
	size_t used = 0;

	for (;;) {
		size_t len, pad;

		if (read_all(fd, h, 8) < 0)
			return -1;
		len = ((size_t)h[4] << 8) | h[5];
		pad = h[6];
		if (read_all(fd, body, len + pad) < 0)
			return -1;
		if (h[1] == FCGI_END_REQUEST)
			break;
		if (h[1] == FCGI_STDOUT) {
			size_t take = len < ANSWER_MAX - 1 - used
			              ? len : ANSWER_MAX - 1 - used;

			memcpy(ans + used, body, take);
			used += take;
		}
	}
	ans[used] = '\0';
	return 0;
}

/* The answer's status (from "Status: NNN"), 0 if none; *body its body. */
static int parse_answer(char *ans, const char **body)
{
	char *end = strstr(ans, "\r\n\r\n");
	int status = 0;

	*body = "";
	if (end != NULL) {
		*end = '\0';
		*body = end + 4;
	}
	if (strncmp(ans, "Status: ", 8) == 0)
		status = atoi(ans + 8);
	return status;
}

/* The one-line summary of a health body: the value of the first of keys
 * found as "KEY":"VALUE" (health status, or the error's reason). */
static void body_word(const char *body, const char *key, char *out,
                      size_t size)
{
	char pat[64];
	const char *p;
	size_t n;

	snprintf(pat, sizeof pat, "\"%s\":\"", key);
	out[0] = '\0';
	if ((p = strstr(body, pat)) == NULL)
		return;
	p += strlen(pat);
	n = strcspn(p, "\"");
	snprintf(out, size, "%.*s", (int)(n < size ? n : size - 1), p);
}

int health_check(const char *socket_spec, const char *token,
                 unsigned timeout_ms)
{
	const char *what, *body;
	char *ans = malloc(ANSWER_MAX);
	char word[64];
	int fd, status;

	if (ans == NULL) {
		log_msg(LOG_ERROR, "health-check: out of memory");
		return 1;
	}
	fd = connect_to(socket_spec, timeout_ms, &what);
	if (fd < 0) {
		log_msg(LOG_ERROR, "health-check %s: %s: %s (no Runtime "
		        "serves there)", socket_spec, what, strerror(errno));
		free(ans);
		return 1;
	}
	if (send_request(fd, token) < 0 || read_answer(fd, ans) < 0) {
		log_msg(LOG_ERROR, "health-check %s: no answer: %s",
		        socket_spec, strerror(errno));
		close(fd);
		free(ans);
		return 1;
	}
	close(fd);
	status = parse_answer(ans, &body);
	body_word(body, status == 200 ? "status" : "reason", word, sizeof word);
	if (status == 200)
		log_msg(LOG_INFO, "health-check %s: 200 %s", socket_spec, word);
	else
		log_msg(LOG_ERROR, "health-check %s: %d %s", socket_spec, status,
		        word[0] != '\0' ? word : "(no reason)");
	free(ans);
	return status == 200 ? 0 : 1;
}
