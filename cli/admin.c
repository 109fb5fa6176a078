/* admin.c — `cairn status|fsck|audit`: looking at catalogd itself.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "config.h"
#include "error.h"

static const char status_help[] =
	"usage: cairn status [--json]\n"
	"\n"
	"Shows catalogd's version, chunk size, pool usage and catalog counts.\n";

static const char fsck_help[] =
	"usage: cairn fsck [--json]\n"
	"\n"
	"Asks catalogd to read every object in the pool and check it against its\n"
	"digest, and to check that every object a version refers to is present.\n"
	"Exits 1 when an object is bad or missing. Dangling objects (stored but\n"
	"referenced by no version, e.g. left by an interrupted commit) are\n"
	"reported but are not errors. Heads (the first bytes the pool keeps of a\n"
	"released object) of objects that are not released are dropped: they are\n"
	"a cache nobody would read.\n";

static const char audit_help[] =
	"usage: cairn audit list [--since T] [--json]\n"
	"       cairn audit verify [--json]\n"
	"\n"
	"The audit log records every change to the catalog, hash-chained so that\n"
	"any edit is detected. 'list' prints it (from T on: seconds since the\n"
	"epoch, YYYY-MM-DD[THH:MM[:SS]] local time, or an age such as 2h or 7d);\n"
	"'verify' checks the chain and exits 1 if it is broken.\n";

int cmd_status(struct cli *cli, int argc, char **argv)
{
	char buf[256], a[32], b[32];
	json_t *st = NULL, *pool, *obj;
	cairn_client *c;
	int rc, done;

	rc = cli_no_operands(&done, cli, status_help, argc, argv);
	if (done)
		return rc;
	if (cli_client(cli, &c) < 0 || cairn_client_json(c, "GET", "/v1/status", NULL, &st) < 0)
		return cli_fail(cli);
	if (cli->json) {
		cli_json_print(st);
		goto out;
	}
	pool = json_object_get(st, "pool");
	obj = json_object_get(st, "objects");
	printf("%-12s%s\n", "catalogd:", cairn_client_addr(c));
	printf("%-12s%s (schema %lld)\n", "version:", cli_jstr(st, "version"),
	       (long long)cli_jint(st, "schema"));
	printf("%-12s%s\n", "chunk size:",
	       cli_size(a, sizeof(a), (uint64_t)cli_jint(st, "chunk_size")));
	printf("%-12s%s\n", "pool:", cli_jstr(pool, "path"));
	if (cli_jint(pool, "fs_size") > 0) {
		snprintf(buf, sizeof(buf), "%s of %s (%.0f%%)",
		         cli_size(a, sizeof(a), (uint64_t)cli_jint(pool, "fs_used")),
		         cli_size(b, sizeof(b), (uint64_t)cli_jint(pool, "fs_size")),
		         100.0 * (double)cli_jint(pool, "fs_used") /
		                 (double)cli_jint(pool, "fs_size"));
		printf("%-12s%s\n", "pool used:", buf);
	}
	if (cli_jint(pool, "capacity") > 0)
		printf("%-12s%s\n", "capacity:",
		       cli_size(a, sizeof(a), (uint64_t)cli_jint(pool, "capacity")));
	printf("%-12s%lld (%s)\n", "objects:", (long long)cli_jint(obj, "count"),
	       cli_size(a, sizeof(a), (uint64_t)cli_jint(obj, "bytes")));
	printf("%-12s%lld\n", "datasets:", (long long)cli_jint(st, "datasets"));
	printf("%-12s%lld\n", "versions:", (long long)cli_jint(st, "versions"));
out:
	json_decref(st);
	return CLI_OK;
}

int cmd_fsck(struct cli *cli, int argc, char **argv)
{
	json_t *res = NULL, *id;
	size_t i, nbad, nmissing;
	cairn_client *c;
	int rc, done;

	rc = cli_no_operands(&done, cli, fsck_help, argc, argv);
	if (done)
		return rc;
	if (cli_client(cli, &c) < 0 ||
	    cairn_client_json(c, "POST", "/v1/admin/fsck", NULL, &res) < 0)
		return cli_fail(cli);
	nbad = json_array_size(json_object_get(res, "bad"));
	nmissing = json_array_size(json_object_get(res, "missing"));
	if (cli->json) {
		cli_json_print(res);
	} else {
		printf("%-10s%lld\n", "objects:", (long long)cli_jint(res, "objects"));
		printf("%-10s%zu\n", "bad:", nbad);
		printf("%-10s%zu\n", "missing:", nmissing);
		printf("%-10s%lld\n", "dangling:", (long long)cli_jint(res, "dangling"));
		printf("%-10s%lld kept, %lld dropped (of objects not released)\n", "heads:",
		       (long long)cli_jint(res, "heads"), (long long)cli_jint(res, "heads_dropped"));
		json_array_foreach(json_object_get(res, "bad"), i, id)
			printf("bad      %s\n", json_string_value(id) ? json_string_value(id) : "?");
		json_array_foreach(json_object_get(res, "missing"), i, id)
			printf("missing  %s\n", json_string_value(id) ? json_string_value(id) : "?");
		if (json_is_true(json_object_get(res, "truncated")))
			printf("(the lists of ids are cut short)\n");
	}
	json_decref(res);
	if (nbad || nmissing)
		return cli_failf(cli, "%zu bad and %zu missing objects", nbad, nmissing);
	return CLI_OK;
}

/* --since: epoch seconds, a local date/time, or an age ("2h" = 2 hours ago). */
static int parse_since(int64_t *out, const char *s)
{
	static const char *const formats[] = {
		"%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M",
		"%Y-%m-%d %H:%M", "%Y-%m-%d"};
	uint64_t secs;
	size_t i;
	char *end;
	long long v;

	v = strtoll(s, &end, 10);
	if (*s && *end == '\0' && v >= 0) {
		*out = v;
		return 0;
	}
	for (i = 0; i < sizeof(formats) / sizeof(formats[0]); i++) {
		struct tm tm;
		const char *e;

		memset(&tm, 0, sizeof(tm));
		e = strptime(s, formats[i], &tm);
		if (e && *e == '\0') {
			tm.tm_isdst = -1;
			*out = (int64_t)mktime(&tm);
			return 0;
		}
	}
	if (cairn_parse_duration(s, &secs) == 0) {
		*out = (int64_t)time(NULL) - (int64_t)secs;
		return 0;
	}
	return cairn_error_set(CAIRN_EINVAL, "--since '%s': not a time or an age", s);
}

static int audit_list(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		CLI_COMMON_OPTIONS, {"since", required_argument, NULL, 's'}, {0, 0, 0, 0}};
	static const char *const heads[] = {"SEQ", "TIME", "ACTOR", "ACTION", "TARGET", "DETAIL"};
	struct cli_table table;
	struct cli_jstream js;
	int64_t since = 0;
	long long after = -1;
	cairn_client *c;
	int opt, rc = CLI_OK, started = 0;

	cli_getopt_reset();
	while ((opt = getopt_long(argc, argv, ":hs:", opts, NULL)) != -1) {
		switch (opt) {
		case CLI_OPT_JSON: cli->json = 1; break;
		case 's':
			if (parse_since(&since, optarg) < 0)
				return cli_invalid(cli);
			break;
		case 'h': return cli_help(audit_help);
		default: return cli_bad_option(cli, audit_help, argv, opt);
		}
	}
	if (optind < argc)
		return cli_usage(cli, audit_help, "unexpected argument '%s'", argv[optind]);
	if (cli_client(cli, &c) < 0)
		return cli_fail(cli);

	cli_table_init(&table, 6, heads, "rlllll");
	for (;;) {
		char path[256], seq[32], when[32];
		json_t *res = NULL, *list, *next, *r;
		size_t i;

		if (after >= 0)
			snprintf(path, sizeof(path), "/v1/audit?since=%lld&limit=%d&after=%lld",
			         (long long)since, CLI_PAGE, after);
		else
			snprintf(path, sizeof(path), "/v1/audit?since=%lld&limit=%d",
			         (long long)since, CLI_PAGE);
		if (cairn_client_json(c, "GET", path, NULL, &res) < 0) {
			rc = cli_fail(cli);
			goto out;
		}
		list = json_object_get(res, "records");
		if (cli->json && !started)
			cli_jstream_begin(&js, NULL, "records");
		started = 1;
		json_array_foreach(list, i, r) {
			json_t *d = json_object_get(r, "detail");
			char *detail = NULL;
			const char *cells[6];

			if (cli->json) {
				cli_jstream_item(&js, r);
				continue;
			}
			if (json_is_string(d))
				detail = strdup(json_string_value(d));
			else if (d && !json_is_null(d))
				detail = json_dumps(d, JSON_COMPACT | JSON_ENCODE_ANY);
			snprintf(seq, sizeof(seq), "%lld", (long long)cli_jint(r, "seq"));
			cells[0] = seq;
			cells[1] = cli_time(when, sizeof(when), cli_jint(r, "time"));
			cells[2] = cli_jstr(r, "actor");
			cells[3] = cli_jstr(r, "action");
			cells[4] = cli_jstr(r, "target");
			cells[5] = detail;
			cli_table_row(&table, cells);
			free(detail);
		}
		if (!cli->json)
			cli_table_flush(&table, stdout);
		next = json_object_get(res, "next");
		if (json_is_integer(next) && json_array_size(list) > 0 &&
		    json_integer_value(next) > after)
			after = json_integer_value(next);
		else
			after = -1;
		json_decref(res);
		if (after < 0)
			break;
	}
	if (cli->json)
		cli_jstream_end(&js);
out:
	cli_table_free(&table);
	return rc;
}

static int audit_verify(struct cli *cli, int argc, char **argv)
{
	json_t *res = NULL;
	cairn_client *c;
	int rc, done, ok;

	rc = cli_no_operands(&done, cli, audit_help, argc, argv);
	if (done)
		return rc;
	if (cli_client(cli, &c) < 0 ||
	    cairn_client_json(c, "GET", "/v1/audit/verify", NULL, &res) < 0)
		return cli_fail(cli);
	ok = json_is_true(json_object_get(res, "ok"));
	if (cli->json)
		cli_json_print(res);
	else if (ok)
		printf("audit log intact: %lld records\n", (long long)cli_jint(res, "records"));
	if (!ok)
		rc = cli_failf(cli, "the audit log does not verify from record %lld on",
		               (long long)cli_jint(res, "first_bad"));
	json_decref(res);
	return rc;
}

int cmd_audit(struct cli *cli, int argc, char **argv)
{
	static const struct cli_sub subs[] = {
		{"list", NULL, "audit list", audit_list},
		{"verify", NULL, "audit verify", audit_verify},
	};

	return cli_dispatch(cli, argc, argv, audit_help, "missing subcommand",
	                    subs, sizeof(subs) / sizeof(subs[0]));
}
