/*
 * options.c - the worker-runtime command line (see options.h): flags[] is
 * the one list of flags, from which getopt's table, the value checks, the
 * usage and the --help text are made (tests/man-help.sh holds the man
 * page to it).
 */
#include "config.h"

#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "log.h"
#include "options.h"
#include "responder.h"

#define EXIT_USAGE 2

#define STR_(x) #x
#define STR(x) STR_(x) /* a macro's value as a string literal */

/* The process's own bounds and defaults (the Runtime's are WR_MAX_* and
 * WR_DEFAULT_* in worker-runtime.h).  Plain literals: STR() may print them. */
#define THREADS_DEFAULT 4
#define MAX_BODY_DEFAULT (4 * 1024 * 1024) /* bytes */
#define RETRY_AFTER_DEFAULT 1              /* seconds */
#define RETRY_AFTER_MAX 3600               /* seconds */
#define SNAPSHOT_BYTES_DEFAULT (4ull << 20) /* the library's default */
#define SNAPSHOT_BYTES_MAX (1ull << 40)
#define SHUTDOWN_TIMEOUT_MAX 86400000      /* ms */

/* ---- checks of flag values ---------------------------------------------- */

/* Strict decimal in [min, max]: no sign, no blanks, no suffix. */
bool parse_uint(const char *s, unsigned long long min,
                       unsigned long long max, unsigned long long *out)
{
	unsigned long long v = 0;

	if (s == NULL || *s == '\0' || strlen(s) > 20)
		return false;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9')
			return false;
		if (v > (max - (unsigned long long)(*s - '0')) / 10)
			return false; /* above max (and never overflows) */
		v = v * 10 + (unsigned long long)(*s - '0');
	}
	if (v < min)
		return false;
	*out = v;
	return true;
}

static bool display_name_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > WR_DISPLAY_NAME_MAX)
		return false;
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return false;
	return true;
}

/* Splits HOST:PORT (HOST may be [v6]) into bounded buffers. */
bool split_host_port(const char *spec, char *host, size_t host_size,
                            char *port, size_t port_size)
{
	const char *colon = strrchr(spec, ':');
	const char *h = spec;
	size_t hlen;
	unsigned long long p;

	if (colon == NULL || colon == spec)
		return false;
	hlen = (size_t)(colon - spec);
	if (spec[0] == '[') {
		if (hlen < 3 || spec[hlen - 1] != ']')
			return false;
		h = spec + 1;
		hlen -= 2;
	} else if (memchr(spec, ':', hlen) != NULL) {
		return false; /* a bare IPv6 address needs brackets */
	}
	if (hlen >= host_size || !parse_uint(colon + 1, 1, 65535, &p))
		return false;
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	snprintf(port, port_size, "%llu", p);
	return true;
}

static bool socket_spec_ok(const char *spec)
{
	char host[256], port[8];

	if (strncmp(spec, "unix:", 5) == 0)
		return spec[5] != '\0' &&
		       strlen(spec + 5) < sizeof(((struct sockaddr_un *)0)->sun_path);
	return split_host_port(spec, host, sizeof host, port, sizeof port);
}

static bool store_spec_ok(const char *spec)
{
	return strcmp(spec, "memory") == 0 ||
	       (strncmp(spec, "fs:", 3) == 0 && spec[3] != '\0');
}

static bool file_name_ok(const char *s)
{
	return s[0] != '\0';
}

/* An octal file mode of 1 to 4 digits, at most 0777 (no setuid, setgid or
 * sticky bit: they mean nothing on a socket).  *out may be NULL. */
bool parse_mode(const char *s, mode_t *out)
{
	unsigned v = 0;
	size_t n = strlen(s);

	if (n == 0 || n > 4)
		return false;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '7')
			return false;
		v = v * 8 + (unsigned)(*s - '0');
	}
	if (v > 0777)
		return false;
	if (out != NULL)
		*out = (mode_t)v;
	return true;
}

static bool socket_mode_ok(const char *s)
{
	return parse_mode(s, NULL);
}

/* A group name or a numeric gid; whether it exists is checked at bind. */
static bool group_spec_ok(const char *s)
{
	return s[0] != '\0' && strlen(s) < 256 && strchr(s, ':') == NULL;
}

/* A retention duration: a decimal count and one unit of d, h, m or s
 * ("7d", "12h", "30m", "45s"), at least 1 s and at most
 * WR_MAX_RETAIN_ENDED_MS; *ms gets it in milliseconds. */
bool parse_duration(const char *s, uint64_t *ms)
{
	static const struct { char unit; uint64_t ms; } units[] = {
		{'d', 86400000}, {'h', 3600000}, {'m', 60000}, {'s', 1000},
	};
	size_t n = strspn(s, "0123456789");
	unsigned long long v;
	char digits[16];

	if (n == 0 || n >= sizeof digits || s[n] == '\0' || s[n + 1] != '\0')
		return false;
	memcpy(digits, s, n);
	digits[n] = '\0';
	if (!parse_uint(digits, 1, WR_MAX_RETAIN_ENDED_MS / 1000, &v))
		return false;
	for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
		if (s[n] != units[i].unit)
			continue;
		if (v > WR_MAX_RETAIN_ENDED_MS / units[i].ms)
			return false;
		*ms = v * units[i].ms;
		return true;
	}
	return false;
}

static bool duration_ok(const char *s)
{
	uint64_t ms;

	return parse_duration(s, &ms);
}

static bool log_format_ok(const char *s)
{
	return strcmp(s, "text") == 0 || strcmp(s, "json") == 0;
}

/* ---- the flags ---------------------------------------------------------- */

enum flag_kind {
	FLAG_TEXT,   /* a string that ok() accepts, kept as given */
	FLAG_UINT,   /* a strict decimal in [min, max] */
	FLAG_BOOL,   /* no argument: sets a bool member */
	FLAG_HELP,   /* print the help, exit 0 */
	FLAG_VERSION /* print the version, exit 0 */
};

/*
 * One flag: its name, its argument, where its value goes and what values
 * are valid.  flags[] is the one list of them: getopt's table, the checks,
 * the usage and the --help text are all made from it.
 */
struct flag {
	const char *name;  /* the long option, without "--" */
	enum flag_kind kind;
	const char *arg;   /* the argument in usage and help; NULL: none */
	size_t off, size;  /* the member of struct options it sets */
	bool (*ok)(const char *s);        /* FLAG_TEXT */
	unsigned long long min, max, def; /* FLAG_UINT; def is stored first */
	const char *expect; /* FLAG_TEXT: what is valid; FLAG_UINT: the unit */
	const char *help;   /* one phrase for --help */
	const char *def_text; /* FLAG_UINT: the default in words; NULL: def */
	char short_name;      /* also -c; 0: none */
};

#define MEMBER(m) .off = offsetof(struct options, m), \
	          .size = sizeof(((struct options *)0)->m)

static const struct flag flags[] = {
	{ .name = "runtime-id", .kind = FLAG_TEXT, .arg = "ID",
	  MEMBER(runtime_id), .ok = wr_id_valid,
	  .expect = "1.." STR(WR_ID_MAX) " characters of [A-Za-z0-9_.-], "
	            "not starting with '.'",
	  .help = "runtime id (default: generated)" },
	{ .name = "display-name", .kind = FLAG_TEXT, .arg = "NAME",
	  MEMBER(display_name), .ok = display_name_ok,
	  .expect = "1.." STR(WR_DISPLAY_NAME_MAX) " bytes without control "
	            "characters",
	  .help = "display name (default: none)" },
	{ .name = "socket", .kind = FLAG_TEXT, .arg = "unix:PATH|HOST:PORT",
	  MEMBER(socket), .ok = socket_spec_ok,
	  .expect = "unix:PATH or HOST:PORT (port 1..65535, [v6]:PORT)",
	  .help = "bind a unix socket (mode 0660) or TCP (use a loopback "
	          "address) (default: accept on fd 0, as spawn-fcgi "
	          "provides)" },
	{ .name = "socket-mode", .kind = FLAG_TEXT, .arg = "MODE",
	  MEMBER(socket_mode), .ok = socket_mode_ok,
	  .expect = "an octal mode 0..0777",
	  .help = "mode of the --socket unix:PATH socket (default: 0660)" },
	{ .name = "socket-group", .kind = FLAG_TEXT, .arg = "GROUP",
	  MEMBER(socket_group), .ok = group_spec_ok,
	  .expect = "a group name or number",
	  .help = "group of the --socket unix:PATH socket, e.g. nginx's "
	          "(default: the process's group)" },
	{ .name = "pid-file", .kind = FLAG_TEXT, .arg = "FILE",
	  MEMBER(pid_file), .ok = file_name_ok, .expect = "a file name",
	  .help = "write the process id to FILE once serving; removed at "
	          "exit" },
	{ .name = "store", .kind = FLAG_TEXT, .arg = "memory|fs:DIR",
	  MEMBER(store), .ok = store_spec_ok, .expect = "memory or fs:DIR",
	  .help = "where state lives (default: memory)" },
	{ .name = "profiles", .kind = FLAG_TEXT, .arg = "FILE",
	  MEMBER(profiles), .ok = file_name_ok, .expect = "a file name",
	  .help = "worker profiles (JSON)" },
	{ .name = "threads", .kind = FLAG_UINT, .arg = "N", MEMBER(threads),
	  .min = 1, .max = RESPONDER_THREADS_MAX, .def = THREADS_DEFAULT,
	  .expect = "an integer", .help = "serving threads" },
	{ .name = "max-body", .kind = FLAG_UINT, .arg = "BYTES",
	  MEMBER(max_body), .min = 1, .max = WR_JSON_MAX_BYTES,
	  .def = MAX_BODY_DEFAULT, .expect = "bytes",
	  .help = "request body limit" },
	{ .name = "retry-after", .kind = FLAG_UINT, .arg = "SECONDS",
	  MEMBER(retry_after), .min = 0, .max = RETRY_AFTER_MAX,
	  .def = RETRY_AFTER_DEFAULT, .expect = "seconds",
	  .help = "Retry-After for busy/unavailable" },
	{ .name = "local-token-file", .kind = FLAG_TEXT, .arg = "FILE",
	  MEMBER(token_file), .ok = file_name_ok, .expect = "a file name",
	  .help = "require Authorization: Bearer TOKEN" },
	{ .name = "shutdown-timeout", .kind = FLAG_UINT, .arg = "MS",
	  MEMBER(shutdown_timeout_ms), .min = 1, .max = SHUTDOWN_TIMEOUT_MAX,
	  .expect = "milliseconds", .help = "after SIGTERM, exit within MS ms",
	  .def_text = "the largest stop_grace_ms + 500 + "
	              STR(SHUTDOWN_MARGIN_MS) },
	{ .name = "max-workers", .kind = FLAG_UINT, .arg = "N",
	  MEMBER(limits.max_workers), .min = 1, .max = WR_MAX_WORKERS,
	  .def = WR_DEFAULT_MAX_WORKERS, .expect = "workers",
	  .help = "workers that exist at once (running and ended, not "
	          "deleted)" },
	{ .name = "retain-ended", .kind = FLAG_TEXT, .arg = "DURATION",
	  MEMBER(retain_ended), .ok = duration_ok,
	  .expect = "a count and a unit d, h, m or s (7d, 12h, 30m, 45s), "
	            "at most 3650d",
	  .help = "delete ended workers whose last event is this old "
	          "(default: keep them until deleted)" },
	{ .name = "max-input-bytes", .kind = FLAG_UINT, .arg = "N",
	  MEMBER(limits.max_input_bytes), .min = 1, .max = WR_MAX_INPUT_BYTES,
	  .def = WR_DEFAULT_MAX_INPUT_BYTES, .expect = "bytes",
	  .help = "input content limit" },
	{ .name = "max-transcript-items", .kind = FLAG_UINT, .arg = "N",
	  MEMBER(limits.max_transcript_projection_items), .min = 1,
	  .max = WR_MAX_TRANSCRIPT_ITEMS,
	  .def = WR_DEFAULT_MAX_TRANSCRIPT_ITEMS, .expect = "entries",
	  .help = "largest transcript page" },
	{ .name = "snapshot-bytes", .kind = FLAG_UINT, .arg = "BYTES",
	  MEMBER(snapshot_bytes), .min = 4096, .max = SNAPSHOT_BYTES_MAX,
	  .def = SNAPSHOT_BYTES_DEFAULT, .expect = "bytes",
	  .help = "fs store: least journal bytes between snapshots" },
	{ .name = "snapshot-percent", .kind = FLAG_UINT, .arg = "PERCENT",
	  MEMBER(snapshot_percent), .min = 1, .max = 10000, .def = 100,
	  .expect = "percent",
	  .help = "fs store: journal between snapshots, % of the last one" },
	{ .name = "max-waiters", .kind = FLAG_UINT, .arg = "N",
	  MEMBER(max_waiters), .min = 1, .max = WR_MAX_WAITERS,
	  .def = WR_DEFAULT_MAX_WAITERS, .expect = "requests",
	  .help = "long-poll requests (wait=) waiting at once; more: 503 "
	          "too_many_waiters" },
	{ .name = "idempotency-ttl", .kind = FLAG_TEXT, .arg = "DURATION",
	  MEMBER(idempotency_ttl), .ok = duration_ok,
	  .expect = "a count and a unit d, h, m or s (24h, 30m), at most "
	            "3650d",
	  .help = "keep an Idempotency-Key's answer this long (default: "
	          "24h)" },
	{ .name = "max-idempotency-keys", .kind = FLAG_UINT, .arg = "N",
	  MEMBER(max_idempotency_keys), .min = 1,
	  .max = WR_MAX_IDEMPOTENCY_KEYS,
	  .def = WR_DEFAULT_MAX_IDEMPOTENCY_KEYS, .expect = "keys",
	  .help = "unexpired Idempotency-Keys held; beyond, keyed requests "
	          "get 503" },
	{ .name = "log-format", .kind = FLAG_TEXT, .arg = "text|json",
	  MEMBER(log_format), .ok = log_format_ok, .expect = "text or json",
	  .help = "log lines as text or as one JSON object each (default: "
	          "text)" },
	{ .name = "log-file", .kind = FLAG_TEXT, .arg = "FILE",
	  MEMBER(log_file), .ok = file_name_ok, .expect = "a file name",
	  .help = "append the log to FILE, reopened on SIGHUP (default: "
	          "stderr)" },
	{ .name = "access-log", .kind = FLAG_TEXT, .arg = "FILE",
	  MEMBER(access_log), .ok = file_name_ok, .expect = "a file name",
	  .help = "append the access lines to FILE instead of the log, "
	          "reopened on SIGHUP (default: with the other lines)" },
	{ .name = "no-access-log", .kind = FLAG_BOOL, MEMBER(no_access_log),
	  .help = "no access line per request (also with --access-log)" },
	{ .name = "check-config", .kind = FLAG_BOOL, MEMBER(check_config),
	  .short_name = 't',
	  .help = "check what a start would use (flags, files, socket, "
	          "pid file directory, store and its runtime id), print "
	          "what was checked, exit 0 or 1 without serving" },
	{ .name = "health-check", .kind = FLAG_BOOL, MEMBER(health_check),
	  .help = "ask the Runtime on --socket for GET /v1/health over "
	          "FastCGI (with --local-token-file's token if given), "
	          "print the verdict, exit 0 if 200 else 1; serves nothing" },
	{ .name = "help", .kind = FLAG_HELP, .help = "this help",
	  .short_name = 'h' },
	{ .name = "version", .kind = FLAG_VERSION, .help = "print the version" },
};

#define N_FLAGS (sizeof(flags) / sizeof(flags[0]))
#define FLAG_VAL0 256 /* getopt_long's value of flags[0]; above any char */

/* store_uint() writes 32- and 64-bit members only. */
_Static_assert(sizeof(unsigned) == sizeof(uint32_t) &&
               sizeof(uint32_t) == sizeof(((struct wr_limits *)0)->max_workers) &&
               (sizeof(size_t) == sizeof(uint32_t) ||
                sizeof(size_t) == sizeof(uint64_t)),
               "struct options has members of 4 or 8 bytes");

static void store_uint(void *member, size_t size, unsigned long long v)
{
	if (size == sizeof(uint32_t)) {
		uint32_t x = (uint32_t)v; /* v <= the flag's max, which fits */

		memcpy(member, &x, sizeof x);
	} else {
		uint64_t x = (uint64_t)v;

		memcpy(member, &x, sizeof x);
	}
}

/* ---- usage and help ----------------------------------------------------- */

#define HELP_WIDTH 78
#define HELP_INDENT 27 /* where the help text of a flag starts */

/* Writes text word by word after column col, wrapping lines at HELP_WIDTH
 * and starting continuation lines at column indent. */
static void put_wrapped(FILE *f, size_t col, size_t indent, const char *text)
{
	while (*text != '\0') {
		size_t n = strcspn(text, " ");

		if (col > indent && col + 1 + n > HELP_WIDTH) {
			fprintf(f, "\n%*s", (int)indent, "");
			col = indent;
		} else if (col > indent) {
			fputc(' ', f);
			col++;
		}
		fprintf(f, "%.*s", (int)n, text);
		col += n;
		text += n;
		text += strspn(text, " ");
	}
	fputc('\n', f);
}

#define USAGE_BOOLS " [-t | --check-config] [--no-access-log]"

static void usage(FILE *f)
{
	static const char prog[] = "usage: worker-runtime";
	char opt[64];
	size_t col = sizeof prog - 1;

	fputs(prog, f);
	for (size_t i = 0; i < N_FLAGS; i++) {
		int n;

		if (flags[i].arg == NULL)
			continue;
		n = snprintf(opt, sizeof opt, "[--%s %s]", flags[i].name,
		             flags[i].arg);
		if (col + 1 + (size_t)n > HELP_WIDTH) {
			fprintf(f, "\n%*s", (int)sizeof prog - 1, "");
			col = sizeof prog - 1;
		}
		fprintf(f, " %s", opt);
		col += 1 + (size_t)n;
	}
	if (col + sizeof USAGE_BOOLS - 1 > HELP_WIDTH)
		fprintf(f, "\n%*s", (int)sizeof prog - 1, "");
	fputs(USAGE_BOOLS
	      "\n       worker-runtime --health-check --socket SPEC"
	      " [--local-token-file FILE]"
	      "\n       worker-runtime -h | --help | --version\n", f);
}

/* One flag's help: its name and argument, then what it does, its range and
 * its default, wrapped. */
static void help_flag(const struct flag *fl)
{
	char left[64], text[256], def[32];
	int n;

	if (fl->short_name != 0)
		n = snprintf(left, sizeof left, "  -%c, --%s", fl->short_name,
		             fl->name);
	else
		n = snprintf(left, sizeof left, "  --%s%s%s", fl->name,
		             fl->arg != NULL ? " " : "",
		             fl->arg != NULL ? fl->arg : "");
	if (fl->kind == FLAG_UINT) {
		snprintf(def, sizeof def, "%llu", fl->def);
		snprintf(text, sizeof text, "%s, %llu..%llu (default: %s)",
		         fl->help, fl->min, fl->max,
		         fl->def_text != NULL ? fl->def_text : def);
	} else {
		snprintf(text, sizeof text, "%s", fl->help);
	}
	fputs(left, stdout);
	if (n + 1 >= HELP_INDENT)
		printf("\n%*s", HELP_INDENT, "");
	else
		printf("%*s", HELP_INDENT - n, "");
	put_wrapped(stdout, HELP_INDENT, HELP_INDENT, text);
}

static void help(void)
{
	usage(stdout);
	fputs("\nServes the worker-runtime REST API over FastCGI (behind "
	      "nginx).\n\n", stdout);
	for (size_t i = 0; i < N_FLAGS; i++)
		help_flag(&flags[i]);
	fputs("\nStops on SIGTERM or SIGINT after answering requests in "
	      "flight.\nSIGHUP reloads --profiles and reopens --log-file and "
	      "--access-log.\n"
	      "See worker-runtime(8).\n", stdout);
}

/* One line, then the usage, on stderr; exit status 2. */
void usage_error(const char *fmt, ...)
{
	va_list ap;
	char msg[512];

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	log_event(LOG_ERROR, msg, NULL, 0);
	usage(stderr);
	exit(EXIT_USAGE);
}

/* ---- parsing ------------------------------------------------------------ */

/* Checks arg against fl and stores it in *o; exits on --help, --version
 * and on a value fl refuses (usage_error). */
static void apply_flag(const struct flag *fl, const char *arg,
                       struct options *o)
{
	char *member = (char *)o + fl->off;
	unsigned long long v;

	switch (fl->kind) {
	case FLAG_TEXT:
		if (!fl->ok(arg))
			usage_error("--%s: expected %s", fl->name, fl->expect);
		memcpy(member, &arg, sizeof arg);
		break;
	case FLAG_UINT:
		if (!parse_uint(arg, fl->min, fl->max, &v))
			usage_error("--%s: expected %s in %llu..%llu", fl->name,
			            fl->expect, fl->min, fl->max);
		store_uint(member, fl->size, v);
		break;
	case FLAG_BOOL: {
		bool on = true;

		memcpy(member, &on, sizeof on);
		break;
	}
	case FLAG_HELP:
		help();
		exit(0);
	case FLAG_VERSION:
		printf("worker-runtime %s (libworker-runtime %s, API %s)\n",
		       PACKAGE_VERSION, wr_version(), WR_API_VERSION);
		exit(0);
	}
}

/* Fills *o from the command line: defaults first, then each flag through
 * apply_flag().  Exits 2 with a usage error on anything it refuses. */
void options_parse(int argc, char **argv, struct options *o)
{
	struct option longopts[N_FLAGS + 1];
	int c;

	memset(o, 0, sizeof *o);
	o->store = "memory";
	memset(longopts, 0, sizeof longopts);
	for (size_t i = 0; i < N_FLAGS; i++) {
		longopts[i].name = flags[i].name;
		longopts[i].has_arg = flags[i].arg != NULL ? required_argument
		                                           : no_argument;
		longopts[i].val = FLAG_VAL0 + (int)i;
		if (flags[i].kind == FLAG_UINT)
			store_uint((char *)o + flags[i].off, flags[i].size,
			           flags[i].def);
	}
	opterr = 0; /* our own one-line messages */
	while ((c = getopt_long(argc, argv, ":ht", longopts, NULL)) != -1) {
		if (c >= FLAG_VAL0 && c < FLAG_VAL0 + (int)N_FLAGS) {
			apply_flag(&flags[c - FLAG_VAL0], optarg, o);
		} else if (c == 'h' || c == 't') {
			for (size_t i = 0; i < N_FLAGS; i++)
				if (flags[i].short_name == c)
					apply_flag(&flags[i], NULL, o);
		} else if (c == ':') {
			usage_error("%s: missing argument", argv[optind - 1]);
		} else {
			usage_error("%s: unknown option", argv[optind - 1]);
		}
	}
	if (optind < argc)
		usage_error("%s: unexpected argument", argv[optind]);
	if (o->health_check && o->socket == NULL)
		usage_error("--health-check needs --socket");
	/* --no-access-log wins: an operator's "--no-access-log" (e.g. in a
	 * template instance's WR_ARGS) turns off the file the unit names. */
	if (o->no_access_log) {
		o->access_log_off = o->access_log;
		o->access_log = NULL;
	}
	if ((o->socket_mode != NULL || o->socket_group != NULL) &&
	    (o->socket == NULL || strncmp(o->socket, "unix:", 5) != 0))
		usage_error("--socket-mode and --socket-group need --socket "
		            "unix:PATH");
}
