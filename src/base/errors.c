/*
 * base/errors.c - the error taxonomy: names, messages, detail filling.
 *
 * WR_ERROR_TABLE and WR_REASON_TABLE in worker-runtime.h feed every table
 * here, so names and messages cannot drift from the enums.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "base/base.h"

static const struct {
	const char *name;
	const char *message;
} error_table[] = {
#define WR__ROW(e, name, msg) [e] = {name, msg},
	WR_ERROR_TABLE(WR__ROW)
#undef WR__ROW
};

static const struct {
	const char *name;
	const char *message;
} reason_table[] = {
#define WR__ROW(e, name, msg) [e] = {name, msg},
	WR_REASON_TABLE(WR__ROW)
#undef WR__ROW
};

/*
 * What each reason means beyond its name (docs/api.md, "All reasons"):
 *  - code: the code it comes with (the error catalog GET /v1/errors is
 *    built from it).  A reason missing here maps to WR_OK, which
 *    tests/test_handlers.c's catalog contract refuses: add the row when
 *    you add a reason.
 *  - transient (PASSES): it names a state that passes by itself, so a
 *    retry after Retry-After may succeed and nothing is broken
 *    (wr_reason_transient).
 */
#define PASSES true
static const struct {
	wr_err code;
	bool transient;
} reason_rule[WR__REASON_COUNT] = {
	[WR_REASON_OUT_OF_MEMORY] = {WR_EINTERNAL, false},
	[WR_REASON_INVALID_JSON] = {WR_EINVALID_INPUT, false},
	[WR_REASON_DUPLICATE_MEMBER] = {WR_EINVALID_INPUT, false},
	[WR_REASON_NUL_IN_MEMBER_NAME] = {WR_EINVALID_INPUT, false},
	[WR_REASON_INVALID_UNICODE] = {WR_EINVALID_INPUT, false},
	[WR_REASON_INVALID_NUMBER] = {WR_EINVALID_INPUT, false},
	[WR_REASON_INVALID_UTF8] = {WR_EINVALID_INPUT, false},
	[WR_REASON_UNKNOWN_FIELD] = {WR_EINVALID_INPUT, false},
	[WR_REASON_WRONG_TYPE] = {WR_EINVALID_INPUT, false},
	[WR_REASON_MISSING_FIELD] = {WR_EINVALID_INPUT, false},
	[WR_REASON_INVALID_VALUE] = {WR_EINVALID_INPUT, false},
	[WR_REASON_TOO_DEEP] = {WR_EINVALID_INPUT, false},
	[WR_REASON_TOO_LONG] = {WR_EINVALID_INPUT, false},
	[WR_REASON_TOO_MANY_ITEMS] = {WR_EINVALID_INPUT, false},
	[WR_REASON_EMPTY_CONTENT] = {WR_EINVALID_INPUT, false},
	[WR_REASON_CONTENT_TOO_LARGE] = {WR_EINVALID_INPUT, false},
	[WR_REASON_UNKNOWN_PROFILE] = {WR_EINVALID_INPUT, false},
	[WR_REASON_LIMIT_TOO_LARGE] = {WR_EINVALID_INPUT, false},
	[WR_REASON_PAYLOAD_TOO_LARGE] = {WR_EINVALID_INPUT, false},
	[WR_REASON_UNSUPPORTED_MEDIA_TYPE] = {WR_EINVALID_INPUT, false},
	[WR_REASON_INVALID_PATH] = {WR_EINVALID_INPUT, false},
	[WR_REASON_URI_TOO_LONG] = {WR_EINVALID_INPUT, false},
	[WR_REASON_INVALID_WORKER_ID] = {WR_EINVALID_INPUT, false},
	[WR_REASON_INVALID_QUERY] = {WR_EINVALID_INPUT, false},
	[WR_REASON_UNKNOWN_PARAMETER] = {WR_EINVALID_INPUT, false},
	[WR_REASON_INVALID_REQUEST] = {WR_EINVALID_INPUT, false},
	[WR_REASON_INVALID_PARAM] = {WR_EINVALID_INPUT, false},
	[WR_REASON_INVALID_CONTENT_LENGTH] = {WR_EINVALID_INPUT, false},
	[WR_REASON_INVALID_BODY] = {WR_EINVALID_INPUT, false},
	[WR_REASON_STORE_VERSION] = {WR_EINVALID_INPUT, false},
	[WR_REASON_RUNTIME_ID_MISMATCH] = {WR_EINVALID_INPUT, false},
	[WR_REASON_UNREADABLE_FILE] = {WR_EINVALID_INPUT, false},
	[WR_REASON_FILE_TOO_LARGE] = {WR_EINVALID_INPUT, false},
	[WR_REASON_METHOD_NOT_ALLOWED] = {WR_EUNSUPPORTED, false},
	[WR_REASON_WORKER_NOT_RUNNING] = {WR_EUNSUPPORTED, false},
	[WR_REASON_WORKER_RUNNING] = {WR_EUNSUPPORTED, false},
	[WR_REASON_WORKER_LIMIT_REACHED] = {WR_EUNSUPPORTED, false},
	[WR_REASON_WORKER_EXITED] = {WR_EUNSUPPORTED, false},
	[WR_REASON_TURN_IN_PROGRESS] = {WR_EBUSY, false},
	[WR_REASON_MISSING_TOKEN] = {WR_EUNAUTHORIZED, false},
	[WR_REASON_WRONG_TOKEN] = {WR_EUNAUTHORIZED, false},
	[WR_REASON_BROWSER_REQUEST] = {WR_EFORBIDDEN, false},
	[WR_REASON_SPAWN_FAILED] = {WR_EUNAVAILABLE, false},
	[WR_REASON_RUNTIME_CLOSING] = {WR_EUNAVAILABLE, PASSES},
	[WR_REASON_RUNTIME_STOPPING] = {WR_EUNAVAILABLE, PASSES},
	[WR_REASON_RUNTIME_STOPPED] = {WR_EUNAVAILABLE, false},
	[WR_REASON_STOPPING] = {WR_EUNAVAILABLE, PASSES},
	[WR_REASON_RESTORING] = {WR_EUNAVAILABLE, PASSES},
	[WR_REASON_STORE_FAILED] = {WR_EUNAVAILABLE, false},
	[WR_REASON_STORE_WRITE_FAILED] = {WR_EUNAVAILABLE, false},
	[WR_REASON_STORE_SYNC_FAILED] = {WR_EUNAVAILABLE, false},
	[WR_REASON_STORE_RESET_FAILED] = {WR_EUNAVAILABLE, false},
	[WR_REASON_STORE_SNAPSHOT_FAILED] = {WR_EUNAVAILABLE, false},
	[WR_REASON_STORE_RECORD_TOO_LARGE] = {WR_EUNAVAILABLE, false},
	[WR_REASON_STORE_OPEN_FAILED] = {WR_EUNAVAILABLE, false},
	[WR_REASON_STORE_LOCKED] = {WR_EUNAVAILABLE, false},
	[WR_REASON_STORE_CORRUPT] = {WR_EUNAVAILABLE, false},
	[WR_REASON_NO_RANDOMNESS] = {WR_EINTERNAL, false},
	[WR_REASON_ID_COLLISION] = {WR_EINTERNAL, false},
	[WR_REASON_STORE_NOT_LOADED] = {WR_EINTERNAL, false},
	[WR_REASON_STORE_LOADED] = {WR_EINTERNAL, false},
	[WR_REASON_BAD_RECORD] = {WR_EINTERNAL, false},
	[WR_REASON_BAD_LSN] = {WR_EINTERNAL, false},
	[WR_REASON_TOO_MANY_WAITERS] = {WR_EUNAVAILABLE, PASSES},
	[WR_REASON_IDEMPOTENCY_KEY_REUSED] = {WR_EINVALID_INPUT, false},
	[WR_REASON_IDEMPOTENCY_IN_FLIGHT] = {WR_EBUSY, false},
	[WR_REASON_IDEMPOTENCY_KEYS_FULL] = {WR_EUNAVAILABLE, PASSES},
};
#undef PASSES

wr_err
wr_reason_code(enum wr_reason reason)
{
	if ((unsigned)reason >= WR__REASON_COUNT)
		return WR_OK;
	return reason_rule[reason].code;
}

bool
wr_reason_transient(enum wr_reason reason)
{
	if ((unsigned)reason >= WR__REASON_COUNT)
		return false;
	return reason_rule[reason].transient;
}

const char *
wr_reason_name(enum wr_reason reason)
{
	if ((unsigned)reason >= WR__REASON_COUNT)
		return "";
	return reason_table[reason].name;
}

const char *
wr_reason_message(enum wr_reason reason)
{
	if ((unsigned)reason >= WR__REASON_COUNT)
		return "";
	return reason_table[reason].message;
}

bool
wr_reason_parse(const char *name, enum wr_reason *out)
{
	if (name == NULL)
		return false;
	for (unsigned i = 0; i < WR__REASON_COUNT; i++) {
		if (strcmp(reason_table[i].name, name) == 0) {
			*out = (enum wr_reason)i;
			return true;
		}
	}
	return false;
}

const char *
wr_strerror(wr_err code)
{
	if ((unsigned)code >= WR__ERR_COUNT)
		return "unknown error code";
	return error_table[code].message;
}

const char *
wr_err_name(wr_err code)
{
	if ((unsigned)code >= WR__ERR_COUNT)
		return "internal";
	return error_table[code].name;
}

bool
wr_err_parse(const char *name, wr_err *out)
{
	if (name == NULL)
		return false;
	for (unsigned i = 0; i < WR__ERR_COUNT; i++) {
		if (strcmp(error_table[i].name, name) == 0) {
			*out = (wr_err)i;
			return true;
		}
	}
	return false;
}

void
wr_error_clear(struct wr_error *err)
{
	if (err == NULL)
		return;
	memset(err, 0, sizeof(*err));
	err->code = WR_OK;
}

wr_err
wr__fail(struct wr_error *err, wr_err code, enum wr_reason reason,
         const char *field, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL)
		return code;
	wr_error_clear(err);
	err->code = code;
	err->reason = reason;
	wr__strlcpy(err->field, field != NULL ? field : "", sizeof(err->field));
	if (fmt == NULL) {
		wr__strlcpy(err->message,
		            reason != WR_REASON_NONE ? wr_reason_message(reason)
		                                     : wr_strerror(code),
		            sizeof(err->message));
	} else {
		va_start(ap, fmt);
		vsnprintf(err->message, sizeof(err->message), fmt, ap);
		va_end(ap);
	}
	return code;
}

wr_err
wr__fail_worker(struct wr_error *err, wr_err code, const char *worker_id)
{
	if (err != NULL && worker_id != NULL)
		wr__strlcpy(err->worker_id, worker_id, sizeof(err->worker_id));
	return code;
}

wr_err
wr__oom(struct wr_error *err)
{
	return wr__fail(err, WR_EINTERNAL, WR_REASON_OUT_OF_MEMORY, NULL, NULL);
}
