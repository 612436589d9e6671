/*
 * base/rules.c - value rules that both a live write (core/worker.c) and a
 * restore (store/record.c, core/commit.c) apply, so that what a store gives
 * back passes exactly what a request had to pass.  Reentrant.
 */
#include "config.h"

#include <string.h>

#include "base/base.h"

/* A stop/cancel reason's longest form (bytes). */
#define MAX_REASON_BYTES 1024

wr_err
wr__content_check(const char *content, uint32_t max, const char *field,
                  struct wr_error *err)
{
	size_t n;

	if (content == NULL || content[0] == '\0')
		return wr__fail(err, WR_EINVALID_INPUT, WR_REASON_EMPTY_CONTENT, field,
		                "content must not be empty");
	n = strlen(content);
	if (n > max)
		return wr__fail(err, WR_EINVALID_INPUT, WR_REASON_CONTENT_TOO_LARGE,
		                field, "content is %zu bytes; at most %u allowed",
		                n, max);
	if (!wr__utf8_valid(content, n))
		return wr__fail(err, WR_EINVALID_INPUT, WR_REASON_INVALID_UTF8, field,
		                "content must be valid UTF-8 without NUL");
	return WR_OK;
}

wr_err
wr__emitted_check(const char *content, struct wr_error *err)
{
	if (content == NULL || !wr__utf8_valid(content, strlen(content)))
		return wr__fail(err, WR_EINVALID_INPUT, WR_REASON_INVALID_UTF8, "content",
		                "content must be valid UTF-8 without NUL");
	return WR_OK;
}

wr_err
wr__reason_check(const char *reason, struct wr_error *err)
{
	if (reason != NULL && (strlen(reason) > MAX_REASON_BYTES ||
	                       !wr__utf8_valid(reason, strlen(reason))))
		return wr__fail(err, WR_EINVALID_INPUT, WR_REASON_INVALID_VALUE, "reason",
		                "reason must be UTF-8 of at most %d bytes",
		                MAX_REASON_BYTES);
	return WR_OK;
}

wr_err
wr_idempotency_key_check(const char *key, struct wr_error *err)
{
	size_t n = key != NULL ? strlen(key) : 0;

	if (n == 0 || n > WR_IDEMPOTENCY_KEY_MAX)
		return wr__fail(err, WR_EINVALID_INPUT, WR_REASON_INVALID_VALUE,
		                "Idempotency-Key", "an idempotency key is 1 to "
		                "%d visible ASCII characters",
		                WR_IDEMPOTENCY_KEY_MAX);
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)key[i] < 0x21 ||
		    (unsigned char)key[i] > 0x7e)
			return wr__fail(err, WR_EINVALID_INPUT,
			                WR_REASON_INVALID_VALUE,
			                "Idempotency-Key", "an idempotency key "
			                "is visible ASCII (0x21-0x7e); byte %zu "
			                "is not", i);
	return WR_OK;
}
