/*
 * driver/profiles.c - loads the profiles file (docs/worker-protocol.md) into
 * a set of exec profiles.
 *
 * The whole file is validated before anything is kept: on failure nothing
 * is returned and err->message names the file, the profile and the member.
 * A loaded set is immutable, so any number of Runtimes and threads may
 * share it.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "codec/json.h"
#include "driver/exec.h"
#include "driver/profile_set.h"

#define PROFILES_FILE_MAX (1024 * 1024) /* bytes */
#define PROFILES_MAX 1024               /* profiles in one file */
#define PROFILE_ITEMS_MAX 256           /* argv items, env members */
#define STOP_GRACE_MAX_MS 3600000       /* one hour */
#define TURN_TIMEOUT_MAX_MS 86400000    /* one day */

/* What a failing check reports; the message is built by load_fail(). */
struct ctx {
	const char *path;
	struct wr_error *err;
};

/*
 * Fills err with WR_EINVALID_INPUT, reason and field, and a message
 * "PATH: profile "NAME": member "MEMBER": WHAT".  profile and member may be
 * NULL (file- or root-level problems).
 */
static wr_err
load_fail(const struct ctx *c, enum wr_reason reason, const char *profile,
          const char *member, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

static wr_err
load_fail(const struct ctx *c, enum wr_reason reason, const char *profile,
          const char *member, const char *fmt, ...)
{
	char what[WR_MESSAGE_MAX], where[WR_MESSAGE_MAX], field[WR_FIELD_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (profile != NULL && member != NULL) {
		snprintf(where, sizeof(where), "profile \"%s\": member \"%s\": ",
		         profile, member);
		snprintf(field, sizeof(field), "profiles.%s.%s", profile,
		         member);
	} else if (profile != NULL) {
		snprintf(where, sizeof(where), "profile \"%s\": ", profile);
		snprintf(field, sizeof(field), "profiles.%s", profile);
	} else if (member != NULL) {
		snprintf(where, sizeof(where), "member \"%s\": ", member);
		snprintf(field, sizeof(field), "%s", member);
	} else {
		where[0] = '\0';
		field[0] = '\0';
	}
	return wr__fail(c->err, WR_EINVALID_INPUT, reason, field, "%s: %s%s",
	                c->path, where, what);
}

/* The unreadable_file error that refuses a file of this mode, not a
 * regular file, naming what it is. */
static wr_err
not_regular(const struct ctx *c, mode_t mode)
{
	return load_fail(c, WR_REASON_UNREADABLE_FILE, NULL, NULL,
	                 "is %s, not a regular file", wr_file_kind(mode));
}

/* The unreadable_file error of an open that failed with errno e (a unix
 * socket fails with ENXIO: it is named as such). */
static wr_err
open_fail(const struct ctx *c, int e)
{
	struct stat st;

	if (e == ENXIO && stat(c->path, &st) == 0 && !S_ISREG(st.st_mode))
		return not_regular(c, st.st_mode);
	return load_fail(c, WR_REASON_UNREADABLE_FILE, NULL, NULL,
	                 "cannot open: %s", strerror(e));
}

/*
 * Reads path, a regular file of at most PROFILES_FILE_MAX bytes, into a
 * NUL-terminated heap buffer (caller frees).  The open does not block:
 * without O_NONBLOCK a FIFO with no writer would hold -t, the start or,
 * at SIGHUP, the main thread (which then never saw SIGTERM); anything but
 * a regular file (a FIFO, a directory, a device) is refused, before any
 * read.  On a regular file O_NONBLOCK changes nothing.
 */
static wr_err
read_file(const struct ctx *c, char **out, size_t *len)
{
	size_t cap = 4096, grown, n = 0;
	char *buf = NULL, *nb;
	struct stat st;
	ssize_t r;
	int fd;
	wr_err rc = WR_OK;

	fd = open(c->path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return open_fail(c, errno);
	if (fstat(fd, &st) < 0) {
		rc = load_fail(c, WR_REASON_UNREADABLE_FILE, NULL, NULL,
		               "cannot stat: %s", strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = not_regular(c, st.st_mode);
		goto out;
	}
	buf = malloc(cap);
	if (buf == NULL) {
		rc = wr__oom(c->err);
		goto out;
	}
	for (;;) {
		/* Room for PROFILES_FILE_MAX + 1 bytes at most: the byte past
		 * the bound tells a larger file (also one that grows now). */
		if (n + 1 >= cap) {
			if (n > PROFILES_FILE_MAX) {
				rc = load_fail(c, WR_REASON_FILE_TOO_LARGE, NULL, NULL,
				               "larger than %d bytes",
				               PROFILES_FILE_MAX);
				goto out;
			}
			grown = cap * 2 < PROFILES_FILE_MAX + 2 ? cap * 2
			                                        : PROFILES_FILE_MAX + 2;
			nb = realloc(buf, grown);
			if (nb == NULL) {
				rc = wr__oom(c->err);
				goto out;
			}
			buf = nb;
			cap = grown;
		}
		r = read(fd, buf + n, cap - n - 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = load_fail(c, WR_REASON_UNREADABLE_FILE, NULL, NULL,
			               "cannot read: %s", strerror(errno));
			goto out;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	buf[n] = '\0';
	*out = buf;
	*len = n;
	buf = NULL;
out:
	free(buf);
	close(fd);
	return rc;
}

/* A JSON string without NUL bytes; on success *s borrows from v. */
static bool
plain_string(json_object *v, const char **s)
{
	return (*s = wr__json_plain_string(v, NULL)) != NULL;
}

static char *
dup_or_oom(const char *s, bool *oom)
{
	char *d = strdup(s);

	if (d == NULL)
		*oom = true;
	return d;
}

static wr_err
parse_ms(const struct ctx *c, const char *name, const char *member,
         json_object *v, uint32_t max, uint32_t *out)
{
	int64_t ms;

	if (!json_object_is_type(v, json_type_int))
		return load_fail(c, WR_REASON_WRONG_TYPE, name, member,
		                 "must be an integer number of milliseconds");
	ms = json_object_get_int64(v);
	if (ms < 0 || ms > (int64_t)max)
		return load_fail(c, WR_REASON_INVALID_VALUE, name, member,
		                 "must be between 0 and %u", max);
	*out = (uint32_t)ms;
	return WR_OK;
}

static wr_err
parse_argv(const struct ctx *c, const char *name, json_object *v,
           struct wr__exec_profile *p)
{
	size_t i, n;
	const char *s;
	bool oom = false;

	if (!json_object_is_type(v, json_type_array))
		return load_fail(c, WR_REASON_WRONG_TYPE, name, "argv",
		                 "must be an array of strings");
	n = json_object_array_length(v);
	if (n == 0)
		return load_fail(c, WR_REASON_INVALID_VALUE, name, "argv",
		                 "must not be empty");
	if (n > PROFILE_ITEMS_MAX)
		return load_fail(c, WR_REASON_TOO_MANY_ITEMS, name, "argv",
		                 "more than %d items", PROFILE_ITEMS_MAX);
	p->argv = calloc(n + 1, sizeof(*p->argv));
	if (p->argv == NULL)
		return wr__oom(c->err);
	for (i = 0; i < n; i++) {
		if (!plain_string(json_object_array_get_idx(v, i), &s))
			return load_fail(c, WR_REASON_WRONG_TYPE, name, "argv",
			                 "item %zu must be a string without "
			                 "NUL characters", i);
		if (i == 0 && s[0] != '/')
			return load_fail(c, WR_REASON_INVALID_VALUE, name, "argv",
			                 "the program \"%.64s\" must be an "
			                 "absolute path", s);
		p->argv[i] = dup_or_oom(s, &oom);
		p->argc = i + 1;
		if (oom)
			return wr__oom(c->err);
	}
	return WR_OK;
}

static wr_err
parse_env(const struct ctx *c, const char *name, json_object *v,
          struct wr__exec_profile *p)
{
	size_t n, klen;
	const char *s;

	if (!json_object_is_type(v, json_type_object))
		return load_fail(c, WR_REASON_WRONG_TYPE, name, "env",
		                 "must be an object of strings");
	n = (size_t)json_object_object_length(v);
	if (n > PROFILE_ITEMS_MAX)
		return load_fail(c, WR_REASON_TOO_MANY_ITEMS, name, "env",
		                 "more than %d members", PROFILE_ITEMS_MAX);
	p->env = calloc(n + 1, sizeof(*p->env));
	if (p->env == NULL)
		return wr__oom(c->err);
	json_object_object_foreach(v, key, val) {
		klen = strlen(key);
		if (klen == 0 || strchr(key, '=') != NULL)
			return load_fail(c, WR_REASON_INVALID_VALUE, name, "env",
			                 "variable name \"%.64s\" must be "
			                 "non-empty and without '='", key);
		if (strcmp(key, "WORKER_ID") == 0 ||
		    strcmp(key, "RUNTIME_ID") == 0)
			return load_fail(c, WR_REASON_INVALID_VALUE, name, "env",
			                 "%s is set by the runtime", key);
		if (!plain_string(val, &s))
			return load_fail(c, WR_REASON_WRONG_TYPE, name, "env",
			                 "the value of %.64s must be a string "
			                 "without NUL characters", key);
		p->env[p->n_env] = malloc(klen + strlen(s) + 2);
		if (p->env[p->n_env] == NULL)
			return wr__oom(c->err);
		sprintf(p->env[p->n_env], "%s=%s", key, s);
		p->n_env++;
	}
	return WR_OK;
}

/* Parses one profile into *p (which the caller frees on any outcome). */
/* True if path is not a directory (want_dir) or regular file that this
 * process may enter or execute (access(2) X_OK as its effective user);
 * why then says what is wrong. */
static bool
not_usable(const char *path, bool want_dir, char *why, size_t size)
{
	struct stat st;

	if (stat(path, &st) != 0) {
		snprintf(why, size, "%s", strerror(errno));
		return true;
	}
	if (want_dir ? !S_ISDIR(st.st_mode) : !S_ISREG(st.st_mode)) {
		snprintf(why, size, "is %s, not %s", wr_file_kind(st.st_mode),
		         want_dir ? "a directory" : "a regular file");
		return true;
	}
	if (faccessat(AT_FDCWD, path, X_OK, AT_EACCESS) != 0) {
		snprintf(why, size, "%s", strerror(errno));
		return true;
	}
	return false;
}

/* If path is a script ("#!" and an absolute interpreter), puts its
 * interpreter in interp and returns true.  A file it cannot read, or any
 * other file, is left to execve(2). */
static bool
script_interpreter(const char *path, char *interp, size_t size)
{
	char head[256];
	ssize_t n;
	size_t i = 2, len;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);

	if (fd < 0)
		return false;
	n = read(fd, head, sizeof(head) - 1);
	close(fd);
	if (n < 3 || head[0] != '#' || head[1] != '!')
		return false;
	head[n] = '\0';
	while (head[i] == ' ' || head[i] == '\t')
		i++;
	len = strcspn(head + i, " \t\n");
	if (head[i] != '/' || len >= size ||
	    (head[i + len] == '\0' && (size_t)n == sizeof(head) - 1))
		return false; /* relative, or longer than we read */
	memcpy(interp, head + i, len);
	interp[len] = '\0';
	return true;
}

/* What a spawn of p needs, as this process sees it now: its program a
 * regular file it may execute, its cwd a directory it may enter.  Else a
 * profile with a mistyped program would load, pass -t and fail every
 * create with 503 spawn_failed, which a Backend retries.  A spawn still
 * reports what changed since (a file removed later). */
/* "..." after a path cut to its first 64 bytes ("%.64s%s"), so that a cut
 * path does not read as another, shorter one. */
static const char *
cut_mark(const char *path)
{
	return strlen(path) > 64 ? "..." : "";
}

static wr_err
check_runnable(const struct ctx *c, const struct wr__exec_profile *p)
{
	char why[128], interp[128];

	if (p->cwd != NULL && not_usable(p->cwd, true, why, sizeof(why)))
		return load_fail(c, WR_REASON_INVALID_VALUE, p->name, "cwd",
		                 "cannot enter %.64s%s: %s", p->cwd,
		                 cut_mark(p->cwd), why);
	if (not_usable(p->argv[0], false, why, sizeof(why)))
		return load_fail(c, WR_REASON_INVALID_VALUE, p->name, "argv",
		                 "cannot execute the program %.64s%s: %s",
		                 p->argv[0], cut_mark(p->argv[0]), why);
	/* A script whose interpreter is missing fails its execve with
	 * ENOENT, each create a retryable 503 spawn_failed as well. */
	if (script_interpreter(p->argv[0], interp, sizeof(interp)) &&
	    not_usable(interp, false, why, sizeof(why)))
		return load_fail(c, WR_REASON_INVALID_VALUE, p->name, "argv",
		                 "cannot execute the program %.64s%s: its "
		                 "interpreter %.64s%s: %s", p->argv[0],
		                 cut_mark(p->argv[0]), interp,
		                 cut_mark(interp), why);
	return WR_OK;
}

static wr_err
parse_profile(const struct ctx *c, const char *name, json_object *v,
              struct wr__exec_profile *p)
{
	const char *s;
	bool oom = false, have_argv = false;
	wr_err rc;

	p->stop_grace_ms = WR__EXEC_STOP_GRACE_DEFAULT_MS;
	if (!wr_id_valid(name))
		return load_fail(c, WR_REASON_INVALID_VALUE, name, NULL,
		                 "a profile name is 1-%d characters of "
		                 "[A-Za-z0-9_.-], not starting with '.'",
		                 WR_ID_MAX);
	p->name = dup_or_oom(name, &oom);
	if (oom)
		return wr__oom(c->err);
	if (!json_object_is_type(v, json_type_object))
		return load_fail(c, WR_REASON_WRONG_TYPE, name, NULL,
		                 "must be an object");
	json_object_object_foreach(v, key, val) {
		if (strcmp(key, "argv") == 0) {
			rc = parse_argv(c, name, val, p);
			have_argv = true;
		} else if (strcmp(key, "env") == 0) {
			rc = parse_env(c, name, val, p);
		} else if (strcmp(key, "cwd") == 0) {
			if (!plain_string(val, &s))
				return load_fail(c, WR_REASON_WRONG_TYPE, name, "cwd",
				                 "must be a string without NUL "
				                 "characters");
			if (s[0] != '/')
				return load_fail(c, WR_REASON_INVALID_VALUE, name,
				                 "cwd", "must be an absolute "
				                 "path");
			free(p->cwd);
			p->cwd = dup_or_oom(s, &oom);
			rc = oom ? wr__oom(c->err)
			         : WR_OK;
		} else if (strcmp(key, "stop_grace_ms") == 0) {
			rc = parse_ms(c, name, key, val, STOP_GRACE_MAX_MS,
			              &p->stop_grace_ms);
		} else if (strcmp(key, "turn_timeout_ms") == 0) {
			rc = parse_ms(c, name, key, val, TURN_TIMEOUT_MAX_MS,
			              &p->turn_timeout_ms);
		} else {
			return load_fail(c, WR_REASON_UNKNOWN_FIELD, name, key,
			                 "unknown member (known: argv, env, "
			                 "cwd, stop_grace_ms, turn_timeout_ms)");
		}
		if (rc != WR_OK)
			return rc;
	}
	if (!have_argv)
		return load_fail(c, WR_REASON_MISSING_FIELD, name, "argv",
		                 "is required");
	return check_runnable(c, p);
}

/* Validates the document root and fills set. */
static wr_err
parse_root(const struct ctx *c, json_object *root, struct wr_profile_set *set)
{
	json_object *profiles = NULL, *def = NULL;
	const char *s;
	size_t i, n;
	bool oom = false;
	wr_err rc;

	if (!json_object_is_type(root, json_type_object))
		return load_fail(c, WR_REASON_WRONG_TYPE, NULL, NULL,
		                 "the document must be a JSON object");
	json_object_object_foreach(root, key, val) {
		if (strcmp(key, "profiles") == 0)
			profiles = val;
		else if (strcmp(key, "default") == 0)
			def = val;
		else
			return load_fail(c, WR_REASON_UNKNOWN_FIELD, NULL, key,
			                 "unknown member (known: default, "
			                 "profiles)");
	}
	if (profiles == NULL)
		return load_fail(c, WR_REASON_MISSING_FIELD, NULL, "profiles",
		                 "is required");
	if (!json_object_is_type(profiles, json_type_object))
		return load_fail(c, WR_REASON_WRONG_TYPE, NULL, "profiles",
		                 "must be an object of profiles");
	n = (size_t)json_object_object_length(profiles);
	if (n > PROFILES_MAX)
		return load_fail(c, WR_REASON_TOO_MANY_ITEMS, NULL, "profiles",
		                 "more than %d profiles", PROFILES_MAX);
	set->exec = calloc(n + 1, sizeof(*set->exec));
	set->profiles = calloc(n + 1, sizeof(*set->profiles));
	if (set->exec == NULL || set->profiles == NULL)
		return wr__oom(c->err);
	i = 0;
	json_object_object_foreach(profiles, name, pv) {
		/* counted first, so wr_profile_set_free sees partial ones */
		set->n = i + 1;
		rc = parse_profile(c, name, pv, &set->exec[i]);
		if (rc != WR_OK)
			return rc;
		set->profiles[i].name = set->exec[i].name;
		set->profiles[i].driver = wr__driver_exec();
		set->profiles[i].driver_arg = &set->exec[i];
		i++;
	}
	if (def != NULL && !json_object_is_type(def, json_type_null)) {
		if (!plain_string(def, &s))
			return load_fail(c, WR_REASON_WRONG_TYPE, NULL, "default",
			                 "must be a profile name");
		for (i = 0; i < set->n; i++)
			if (strcmp(set->exec[i].name, s) == 0)
				break;
		if (i == set->n)
			return load_fail(c, WR_REASON_UNKNOWN_PROFILE, NULL, "default",
			                 "names no profile of this file: "
			                 "\"%.64s\"", s);
		set->default_name = dup_or_oom(s, &oom);
		if (oom)
			return wr__oom(c->err);
	}
	return WR_OK;
}

wr_err
wr_profiles_load(const char *path, struct wr_profile_set **out,
                 struct wr_error *err)
{
	struct ctx c = { path != NULL ? path : "(null)", err };
	struct wr_profile_set *set = NULL;
	json_object *root = NULL;
	struct wr_error e;
	char *text = NULL;
	size_t len = 0;
	wr_err rc;

	if (path == NULL || out == NULL)
		return wr__fail(err, WR_EINVALID_INPUT, WR_REASON_MISSING_FIELD, NULL,
		                "wr_profiles_load needs a path and an out "
		                "pointer");
	rc = read_file(&c, &text, &len);
	if (rc != WR_OK)
		goto out;
	/* The one strict reader (codec/json.h): refuses what json-c would
	 * read differently (duplicate members, NUL in member names, ...). */
	rc = wr__json_parse(text, len, WR_JSON_MAX_DEPTH, &root, &e);
	if (rc == WR_EINVALID_INPUT) {
		rc = wr__fail(err, WR_EINVALID_INPUT, e.reason, e.field,
		              "%s: %s", c.path, e.message);
		goto out;
	}
	if (rc != WR_OK) {
		if (err != NULL)
			*err = e;
		goto out;
	}
	set = calloc(1, sizeof(*set));
	if (set == NULL) {
		rc = wr__oom(err);
		goto out;
	}
	rc = parse_root(&c, root, set);
	if (rc != WR_OK)
		goto out;
	set->source = text; /* the bytes parsed, for same_source */
	set->source_len = len;
	text = NULL;
	*out = set;
	set = NULL;
out:
	wr_profile_set_free(set);
	json_object_put(root);
	free(text);
	return rc;
}
