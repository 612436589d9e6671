/*
 * errors.c - the error taxonomy: names, messages, detail filling.
 *
 * The single WR_ERROR_TABLE in worker-runtime.h feeds every table here so
 * names and messages cannot drift from the enum.
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
wr__fail(struct wr_error *err, wr_err code, const char *reason,
         const char *field, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL)
		return code;
	wr_error_clear(err);
	err->code = code;
	wr__strlcpy(err->reason, reason != NULL ? reason : "",
	            sizeof(err->reason));
	wr__strlcpy(err->field, field != NULL ? field : "", sizeof(err->field));
	if (fmt == NULL) {
		wr__strlcpy(err->message, wr_strerror(code),
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
