/*
 * http_fixture.c - the handler tests' shared pieces (http_fixture.h).
 */
#include "config.h"

#include <string.h>
#include <strings.h>
#include <time.h>

#include "http_fixture.h"

struct http_request
test_request(const char *method, const char *uri, const char *body)
{
	struct http_request q = {
		.method = method,
		.uri = uri,
		.content_type = body ? "application/json" : NULL,
		.body = body,
		.body_len = body ? strlen(body) : 0,
	};

	return q;
}

const char *
test_header(const struct http_response *r, const char *name)
{
	for (size_t i = 0; i < r->n_headers; i++)
		if (strcasecmp(r->headers[i].name, name) == 0)
			return r->headers[i].value;
	return NULL;
}

void
test_wake_init(struct test_wake *t)
{
	pthread_mutex_init(&t->mu, NULL);
	pthread_cond_init(&t->cv, NULL);
	t->calls = 0;
}

void
test_wake_fn(void *arg)
{
	struct test_wake *t = arg;

	pthread_mutex_lock(&t->mu);
	t->calls++;
	pthread_cond_broadcast(&t->cv);
	pthread_mutex_unlock(&t->mu);
}

int
test_wake_await(struct test_wake *t, int max_s)
{
	return test_wake_await_n(t, 1, max_s);
}

int
test_wake_await_n(struct test_wake *t, int want, int max_s)
{
	struct timespec until;
	int n;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += max_s;
	pthread_mutex_lock(&t->mu);
	while (t->calls < want &&
	       pthread_cond_timedwait(&t->cv, &t->mu, &until) == 0)
		;
	n = t->calls;
	pthread_mutex_unlock(&t->mu);
	return n;
}

int
test_wake_calls(struct test_wake *t)
{
	int n;

	pthread_mutex_lock(&t->mu);
	n = t->calls;
	pthread_mutex_unlock(&t->mu);
	return n;
}
