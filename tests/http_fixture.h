/*
 * http_fixture.h - what the handler tests (http_handle(), no sockets)
 * share: a request as a Backend sends it, a response's header by name,
 * and the test's side of a parked request's wake, counted as a responder
 * would see it.
 */
#ifndef WR_TESTS_HTTP_FIXTURE_H
#define WR_TESTS_HTTP_FIXTURE_H

#include <pthread.h>

#include "handlers.h"

/* A request as a well-behaved Backend sends it: method and uri, and body
 * (NUL-terminated, borrowed) as application/json unless NULL; every other
 * member zero (no token, request id, key or wake). */
struct http_request test_request(const char *method, const char *uri,
                                 const char *body);

/* The value of r's header name (compared ignoring case), NULL if absent;
 * borrowed from r. */
const char *test_header(const struct http_response *r, const char *name);

/* A wake target: set q.wake = test_wake_fn and q.wake_arg to one of these
 * (initialized by test_wake_init).  Thread safe. */
struct test_wake {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int calls;
};

void test_wake_init(struct test_wake *t);

/* http_request.wake: counts the call and signals the waiting test. */
void test_wake_fn(void *arg);

/* Waits (at most max_s seconds) until t was woken at least once; returns
 * the calls seen, 0 when none came in time. */
int test_wake_await(struct test_wake *t, int max_s);
/* The same until it was woken at least want times. */
int test_wake_await_n(struct test_wake *t, int want, int max_s);

/* The calls t has seen so far. */
int test_wake_calls(struct test_wake *t);

#endif
