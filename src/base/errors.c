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
