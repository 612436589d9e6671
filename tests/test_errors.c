/*
 * test_errors.c - the error taxonomy table, enum wire names, ids and the
 * names of file kinds.
 */
#include "config.h"

#include <criterion/criterion.h>
#include <string.h>
#include <sys/stat.h>

#include "worker-runtime.h"

Test(errors, every_code_has_the_design_name_and_a_message)
{
	static const char *names[] = {
		"ok", "busy", "unknown_worker", "invalid_input",
		"unsupported_operation", "runtime_unavailable", "unauthorized",
		"forbidden", "not_found", "internal"};

	cr_assert_eq(WR__ERR_COUNT, sizeof(names) / sizeof(names[0]));
	for (int i = 0; i < WR__ERR_COUNT; i++) {
		wr_err back;
		cr_assert_str_eq(wr_err_name((wr_err)i), names[i]);
		cr_assert_gt(strlen(wr_strerror((wr_err)i)), 1);
		cr_assert(wr_err_parse(names[i], &back));
		cr_assert_eq(back, (wr_err)i);
	}
	cr_assert_eq(WR_OK, 0);
}

Test(errors, out_of_range_codes_get_static_strings)
{
	wr_err back = WR_EBUSY;

	cr_assert_str_eq(wr_strerror((wr_err)999), "unknown error code");
	cr_assert_str_eq(wr_strerror((wr_err)-1), "unknown error code");
	cr_assert_str_eq(wr_err_name((wr_err)999), "internal");
	cr_assert_not(wr_err_parse("nope", &back));
	cr_assert_not(wr_err_parse(NULL, &back));
	cr_assert_eq(back, WR_EBUSY, "unchanged on failure");
}

Test(reasons, every_reason_has_a_unique_wire_name_and_a_message)
{
	for (int i = 1; i < WR__REASON_COUNT; i++) {
		enum wr_reason back = WR_REASON_NONE;
		const char *n = wr_reason_name((enum wr_reason)i);

		cr_assert_gt(strlen(n), 0, "reason %d has no name", i);
		cr_assert_lt(strlen(n), WR_REASON_MAX, "%s is too long", n);
		cr_assert_gt(strlen(wr_reason_message((enum wr_reason)i)), 1,
		             "%s has no message", n);
		cr_assert(wr_reason_parse(n, &back), "%s does not parse", n);
		cr_assert_eq(back, (enum wr_reason)i, "%s is not unique", n);
		for (const char *c = n; *c != '\0'; c++)
			cr_assert((*c >= 'a' && *c <= 'z') || *c == '_' ||
			          (*c >= '0' && *c <= '9'), "%s: not snake_case", n);
	}
	cr_assert_str_empty(wr_reason_name(WR_REASON_NONE));
	cr_assert_str_eq(wr_reason_name(WR_REASON_OUT_OF_MEMORY),
	                 "out_of_memory");
}

Test(reasons, out_of_range_and_unknown_reasons_are_refused_not_guessed)
{
	enum wr_reason back = WR_REASON_TOO_LONG;

	cr_assert_str_empty(wr_reason_name((enum wr_reason)9999));
	cr_assert_str_empty(wr_reason_message((enum wr_reason)9999));
	cr_assert_not(wr_reason_parse("no_such_reason", &back));
	cr_assert_not(wr_reason_parse(NULL, &back));
	cr_assert_eq(back, WR_REASON_TOO_LONG, "unchanged on failure");
}

Test(reasons, an_error_body_with_an_unknown_reason_is_invalid_input)
{
	static const char body[] = "{\"error\": {\"code\": \"busy\", "
	                           "\"message\": \"m\", \"reason\": \"nope\"}}";
	struct wr_error out, err;

	cr_assert_eq(wr_json_decode_error(body, sizeof(body) - 1, &out, &err),
	             WR_EINVALID_INPUT);
	cr_assert_eq(err.reason, WR_REASON_INVALID_VALUE);
}

Test(errors, clear_resets_every_member)
{
	struct wr_error e;

	memset(&e, 'x', sizeof(e));
	wr_error_clear(&e);
	cr_assert_eq(e.code, WR_OK);
	cr_assert_eq(e.reason, WR_REASON_NONE);
	cr_assert_str_empty(e.field);
	cr_assert_str_empty(e.message);
	cr_assert_str_empty(e.worker_id);
	wr_error_clear(NULL);
}

Test(names, enum_wire_names_match_the_design)
{
	cr_assert_str_eq(wr_worker_status_name(WR_STATUS_RUNNING), "running");
	cr_assert_str_eq(wr_worker_status_name(WR_STATUS_STOPPED), "stopped");
	cr_assert_str_eq(wr_worker_status_name(WR_STATUS_CANCELLED),
	                 "cancelled");
	cr_assert_str_eq(wr_worker_status_name(WR_STATUS_FAILED), "failed");
	cr_assert_null(wr_worker_status_name((enum wr_worker_status)9));
	cr_assert_str_eq(wr_run_state_name(WR_RUN_IDLE), "idle");
	cr_assert_str_eq(wr_run_state_name(WR_RUN_BUSY), "busy");
	cr_assert_str_eq(wr_run_state_name(WR_RUN_NONE), "none");
	cr_assert_str_eq(wr_role_name(WR_ROLE_USER), "user");
	cr_assert_str_eq(wr_role_name(WR_ROLE_SYSTEM), "system");
	cr_assert_str_eq(wr_role_name(WR_ROLE_WORKER), "worker");
	cr_assert_str_eq(wr_role_name(WR_ROLE_RUNTIME), "runtime");
	cr_assert_str_eq(wr_runtime_status_name(WR_RUNTIME_STOPPING),
	                 "stopping");
}

Test(ids, charset_and_length_bounds)
{
	char id[WR_ID_MAX + 2];

	cr_assert(wr_id_valid("w-0123abcd"));
	cr_assert(wr_id_valid("A_b.c-9"));
	cr_assert_not(wr_id_valid(""));
	cr_assert_not(wr_id_valid(NULL));
	cr_assert_not(wr_id_valid(".hidden"));
	cr_assert_not(wr_id_valid("a/b"));
	cr_assert_not(wr_id_valid("a b"));
	cr_assert_not(wr_id_valid("caf\xc3\xa9"));
	memset(id, 'a', WR_ID_MAX);
	id[WR_ID_MAX] = '\0';
	cr_assert(wr_id_valid(id), "exactly WR_ID_MAX is valid");
	id[WR_ID_MAX] = 'a';
	id[WR_ID_MAX + 1] = '\0';
	cr_assert_not(wr_id_valid(id), "one past WR_ID_MAX is not");
}

Test(names, every_file_kind_is_named_with_its_article)
{
	cr_assert_str_eq(wr_file_kind(S_IFREG | 0644), "a regular file");
	cr_assert_str_eq(wr_file_kind(S_IFDIR | 0755), "a directory");
	cr_assert_str_eq(wr_file_kind(S_IFIFO | 0600), "a FIFO");
	cr_assert_str_eq(wr_file_kind(S_IFCHR | 0666), "a character device");
	cr_assert_str_eq(wr_file_kind(S_IFBLK | 0660), "a block device");
	cr_assert_str_eq(wr_file_kind(S_IFSOCK | 0777), "a socket");
	cr_assert_str_eq(wr_file_kind(S_IFLNK | 0777), "a symbolic link");
	cr_assert_str_eq(wr_file_kind(0), "a special file");
}

Test(reasons, only_passing_states_are_transient)
{
	static const enum wr_reason passing[] = {
		WR_REASON_RESTORING, WR_REASON_STOPPING,
		WR_REASON_RUNTIME_STOPPING, WR_REASON_RUNTIME_CLOSING,
		WR_REASON_TOO_MANY_WAITERS, WR_REASON_IDEMPOTENCY_KEYS_FULL};
	size_t n_passing = sizeof passing / sizeof passing[0], seen = 0;

	for (int r = 0; r < WR__REASON_COUNT; r++) {
		bool want = false;

		for (size_t i = 0; i < n_passing; i++)
			want = want || passing[i] == (enum wr_reason)r;
		cr_assert_eq(wr_reason_transient((enum wr_reason)r), want,
		             "%s", wr_reason_name((enum wr_reason)r));
		seen += want;
	}
	cr_assert_eq(seen, n_passing);
	cr_assert_not(wr_reason_transient(WR_REASON_STORE_SYNC_FAILED));
	cr_assert_not(wr_reason_transient((enum wr_reason)WR__REASON_COUNT));
}
