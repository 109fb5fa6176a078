/* tier.c — `cairn tier …`: the administrator's view of tiering.
 *
 * Everything here is a thin client of the /v1/tier endpoints (docs/API.md,
 * "Tiering"): the engine runs inside catalogd, so these commands only ask
 * it what it is doing, change its persisted policy, or hand it work
 * (pins, rules, a run, a recall job). Nothing is decided on this side
 * except the form of the arguments: a policy value is judged by catalogd,
 * against the same table as the config file, and its message is shown.
 *
 * Commands that name a version resolve NAME[@V] to a sequence number
 * first, so a tag that moves meanwhile cannot make `pin` pin one version
 * and report another.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "error.h"
#include "manifest.h"

static const char tier_help[] =
	"usage: cairn tier status [--json]\n"
	"       cairn tier policy show [--json]\n"
	"       cairn tier policy set KEY=VALUE... [--json]\n"
	"       cairn tier rule add dataset:NAME|tag:TAG always-hot|archive-now\n"
	"       cairn tier rule rm dataset:NAME|tag:TAG\n"
	"       cairn tier run [--dry-run] [--limit N] [--json]\n"
	"       cairn tier pin NAME[@V] | unpin NAME[@V]\n"
	"       cairn tier recall NAME[@V] [--no-wait] [--json]\n"
	"       cairn tier scrub NAME[@V] | --all [--no-wait] [--json]\n"
	"       cairn tier job ID [--wait] [--json]\n"
	"       cairn tier explain NAME[@V] PATH [--json]\n"
	"\n"
	"Objects live on the pool (hot), on the pool and in S3 (dual), or in S3\n"
	"only (cold). catalogd's tiering engine copies idle objects to S3 and,\n"
	"when the pool fills past its high watermark, releases pool copies down\n"
	"to the low watermark; a read of a cold object brings it back.\n"
	"\n"
	"  status    pool use and watermarks, objects and bytes per state, queue,\n"
	"            throughput, whether the engine is suspended, recent errors\n"
	"  policy    show or change the [tiering] settings; changes are kept in\n"
	"            the catalog, override the config file and apply at once\n"
	"  rule      per-dataset or per-tag rules: always-hot keeps objects on the\n"
	"            pool, archive-now migrates and releases them without waiting\n"
	"  run       scan now; with --dry-run, only show what would move and why\n"
	"  pin       keep a version's objects on the pool (unpin undoes it)\n"
	"  recall    bring a whole version back to the pool before a job, with\n"
	"            progress; exits 1 if any object could not be recalled\n"
	"  scrub     read every copy of a version's objects (or of all objects)\n"
	"            and check it against its digest; a damaged or missing copy\n"
	"            is replaced from a good one; exits 1 if an object has no\n"
	"            good copy left\n"
	"  job       show (or follow, with --wait) a recall or scrub job\n"
	"  explain   each object of a file: its state, last access, pin, rule, and\n"
	"            what the engine decides for it and why\n"
	"\n"
	"V is a sequence number, a tag, 'latest' (the default) or a digest prefix.\n"
	"'cairn tier SUBCOMMAND --help' tells more.\n";

static const char status_help[] =
	"usage: cairn tier status [--json]\n"
	"\n"
	"Shows the pool's capacity and use against its watermarks, how many\n"
	"objects and bytes are in each state, the engine's queues, migration and\n"
	"recall throughput over the last minute, whether the engine is suspended\n"
	"(and why), and its most recent errors.\n";

static const char policy_help[] =
	"usage: cairn tier policy show [--json]\n"
	"       cairn tier policy set KEY=VALUE... [--json]\n"
	"\n"
	"'show' prints every tiering setting with its effective value and where\n"
	"it comes from (the config file, or the catalog when set here), then the\n"
	"rules and pinned versions. 'set' changes settings at once and keeps them\n"
	"in the catalog; they survive restarts and override the config file.\n"
	"All settings of one command change together or not at all.\n"
	"\n"
	"Keys (values in the config file's syntax):\n"
	"  high_watermark, low_watermark   pool use that starts / stops release (85%)\n"
	"  min_idle        idle time before an object may migrate (1d; 0 = at once)\n"
	"  min_size        smallest object worth migrating (bytes, K/M/G suffixes)\n"
	"  concurrency     transfers in flight\n"
	"  bandwidth       bytes/s for migration, 0 = unlimited\n"
	"  recall_on_read  bring a read cold object back to the pool (yes/no)\n"
	"  verify          checksum: size and ETag (= the MD5 sent) before a pool copy\n"
	"                  may go; readback: also the whole S3 copy read back and\n"
	"                  checked right before its release (the default)\n"
	"  scan_interval   time between scans\n"
	"  max_error_rate  failure rate above which the engine suspends itself\n"
	"  scrub_interval  time between scrubs of the whole catalog (0 = never)\n"
	"  keep_head       first bytes of a released object kept on the pool, so\n"
	"                  that a first read does not wait for S3 (64K; 0 = none)\n";

static const char rule_help[] =
	"usage: cairn tier rule add dataset:NAME|tag:TAG always-hot|archive-now [--json]\n"
	"       cairn tier rule rm dataset:NAME|tag:TAG [--json]\n"
	"\n"
	"A rule applies to every version of a dataset (dataset:NAME) or to the\n"
	"datasets carrying a tag (tag:TAG). always-hot: the objects are never\n"
	"released from the pool. archive-now: they are copied to S3 and released\n"
	"without waiting for min_idle. Adding a rule for a match that has one\n"
	"replaces it. 'cairn tier policy show' lists the rules.\n";

static const char run_help[] =
	"usage: cairn tier run [--dry-run] [--limit N] [--json]\n"
	"\n"
	"Scans now instead of at the next scan interval, and prints the plan:\n"
	"each object that will move, its size, the action (migrate or release)\n"
	"and the reason. With --dry-run nothing moves.\n"
	"\n"
	"  --dry-run   only print the plan\n"
	"  --limit N   plan at most N objects\n";

static const char pin_help[] =
	"usage: cairn tier pin NAME[@V] [--json]\n"
	"       cairn tier unpin NAME[@V] [--json]\n"
	"\n"
	"A pinned version's objects are never released from the pool (they may\n"
	"still be copied to S3). V defaults to latest; the pin is on the version\n"
	"V names now, not on a tag.\n";

static const char recall_help[] =
	"usage: cairn tier recall NAME[@V] [--no-wait] [--json]\n"
	"\n"
	"Brings every object of a version back to the pool, e.g. before a job\n"
	"that reads it, and follows the job until it ends: objects, bytes and\n"
	"MiB/s on stderr when that is a terminal, a summary at the end. Exits 1\n"
	"if any object could not be recalled. V defaults to latest.\n"
	"\n"
	"  --no-wait   start the job, print its id and return\n"
	"              (follow it with 'cairn tier job ID --wait')\n";

static const char scrub_help[] =
	"usage: cairn tier scrub NAME[@V] [--no-wait] [--json]\n"
	"       cairn tier scrub --all [--no-wait] [--json]\n"
	"\n"
	"Reads every copy of every object of a version (or, with --all, of the\n"
	"whole catalog): the pool copy and the S3 copy, each checked against the\n"
	"object's digest. A damaged or missing copy is replaced from the good\n"
	"one: a bad pool copy of a dual object is removed and the object recalled\n"
	"from S3; a bad S3 copy is sent again from the pool and verified as a\n"
	"migration is. Objects being moved are left to that move. Progress and a\n"
	"summary as for recall; the objects with no good copy left are listed on\n"
	"stderr and the command exits 1. S3 reads count against the bandwidth\n"
	"limit.\n"
	"\n"
	"  --all       every object in the catalog\n"
	"  --no-wait   start the job, print its id and return\n";

static const char job_help[] =
	"usage: cairn tier job ID [--wait] [--json]\n"
	"\n"
	"Shows a recall or scrub job; with --wait, follows it until it ends and exits 1\n"
	"if it failed.\n";

static const char explain_help[] =
	"usage: cairn tier explain NAME[@V] PATH [--json]\n"
	"\n"
	"For each object of the file PATH: its id, size, state, last access,\n"
	"whether a pin holds it, the rule that applies, and what the engine\n"
	"decides for it and why.\n";

/* How long catalogd holds a followed job's request before answering with
 * its progress, unless the job ends first (then it answers at once). */
#define JOB_WAIT_MS 500

/* Errors `tier status` prints; --json has every one catalogd keeps. */
#define STATUS_ERRORS 10

/* The states in life-cycle order, for tables. */
static const char *const states[] = {"hot", "migrating", "dual", "releasing", "cold", "recalling"};
#define NSTATES (sizeof(states) / sizeof(states[0]))

/* ---- Small helpers ----------------------------------------------------- */

static double jreal(const json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	if (json_is_real(v))
		return json_real_value(v);
	if (json_is_integer(v))
		return (double)json_integer_value(v);
	return 0.0;
}

/* "85%" or "85.5%". */
static char *pct(char *buf, size_t len, double v)
{
	if (v == (double)(long long)v)
		snprintf(buf, len, "%.0f%%", v);
	else
		snprintf(buf, len, "%.1f%%", v);
	return buf;
}

/* "12.0 MiB/s". */
static char *rate(char *buf, size_t len, double bps)
{
	char sz[32];

	if (bps < 0)
		bps = 0;
	snprintf(buf, len, "%s/s", cli_size(sz, sizeof(sz), (uint64_t)bps));
	return buf;
}

/* How long ago t was: "42s ago", "3h 5m ago", "2d 4h ago"; "never" for 0. */
static char *age(char *buf, size_t len, int64_t t)
{
	int64_t d;

	if (t <= 0) {
		snprintf(buf, len, "never");
		return buf;
	}
	d = (int64_t)time(NULL) - t;
	if (d < 0)
		d = 0;
	if (d < 60)
		snprintf(buf, len, "%llds ago", (long long)d);
	else if (d < 3600)
		snprintf(buf, len, "%lldm ago", (long long)(d / 60));
	else if (d < 86400)
		snprintf(buf, len, "%lldh %lldm ago", (long long)(d / 3600),
		         (long long)(d % 3600 / 60));
	else
		snprintf(buf, len, "%lldd %lldh ago", (long long)(d / 86400),
		         (long long)(d % 86400 / 3600));
	return buf;
}

/* A job id as the API gave it (a number or a string), for paths and
 * messages. */
static int job_id(char *buf, size_t len, const json_t *v)
{
	if (json_is_integer(v))
		snprintf(buf, len, "%lld", (long long)json_integer_value(v));
	else if (json_is_string(v) && *json_string_value(v) &&
	         strlen(json_string_value(v)) < len)
		snprintf(buf, len, "%s", json_string_value(v));
	else
		return cairn_error_set(CAIRN_ECORRUPT, "catalogd sent a job without an id");
	return 0;
}

/* ---- status ------------------------------------------------------------ */

static void status_print(const json_t *st)
{
	static const char *const heads[] = {"STATE", "OBJECTS", "BYTES"};
	static const char *const eheads[] = {"TIME", "OP", "OBJECT", "MESSAGE"};
	char a[32], b[32], c[32], line[512];
	json_t *pool = json_object_get(st, "pool"), *s3 = json_object_get(st, "s3");
	json_t *sts = json_object_get(st, "states"), *q = json_object_get(st, "queue");
	json_t *tp = json_object_get(st, "throughput"), *tot = json_object_get(st, "totals");
	json_t *errs = json_object_get(st, "errors"), *e;
	double used_pct = jreal(pool, "used_pct"), high = jreal(pool, "high_watermark");
	double low = jreal(pool, "low_watermark");
	uint64_t nobj = 0, nbytes = 0;
	struct cli_table t;
	size_t i, n;

	printf("%-13s%s\n", "pool:", cli_jstr(pool, "path"));
	if (cli_jint(pool, "capacity") > 0)
		snprintf(line, sizeof(line), "%s of %s (%.1f%%)",
		         cli_size(a, sizeof(a), (uint64_t)cli_jint(pool, "used")),
		         cli_size(b, sizeof(b), (uint64_t)cli_jint(pool, "capacity")), used_pct);
	else
		snprintf(line, sizeof(line), "%s (%.1f%%)",
		         cli_size(a, sizeof(a), (uint64_t)cli_jint(pool, "used")), used_pct);
	printf("%-13s%s\n", "used:", line);
	snprintf(line, sizeof(line), "high %s, low %s%s", pct(a, sizeof(a), high),
	         pct(b, sizeof(b), low),
	         used_pct >= high && high > 0 ? "  (above high: releasing down to low)" : "");
	printf("%-13s%s\n", "watermarks:", line);
	if (json_is_object(s3))
		snprintf(line, sizeof(line), "%s, bucket %s", cli_jstr(s3, "endpoint"),
		         cli_jstr(s3, "bucket"));
	else
		snprintf(line, sizeof(line), "not configured (no cold tier)");
	printf("%-13s%s\n", "s3:", line);
	if (json_is_false(json_object_get(st, "enabled")))
		snprintf(line, sizeof(line), "off (no S3 endpoint configured)");
	else if (json_is_true(json_object_get(st, "suspended")))
		snprintf(line, sizeof(line), "SUSPENDED: %s",
		         cli_jnull(st, "suspended_reason") ? "(no reason given)"
		                                           : cli_jstr(st, "suspended_reason"));
	else
		snprintf(line, sizeof(line), "running");
	printf("%-13s%s\n", "engine:", line);
	if (cli_jint(st, "last_scan") > 0)
		snprintf(line, sizeof(line), "%s (%s)",
		         cli_time(a, sizeof(a), cli_jint(st, "last_scan")),
		         age(b, sizeof(b), cli_jint(st, "last_scan")));
	else
		snprintf(line, sizeof(line), "not yet");
	printf("%-13s%s\n", "last scan:", line);
	snprintf(line, sizeof(line), "migrate %lld, release %lld, recall %lld",
	         (long long)cli_jint(q, "migrate"), (long long)cli_jint(q, "release"),
	         (long long)cli_jint(q, "recall"));
	if (cli_jint(q, "scrub") > 0)
		snprintf(line + strlen(line), sizeof(line) - strlen(line), ", scrub %lld",
		         (long long)cli_jint(q, "scrub"));
	if (cli_jint(q, "busy") > 0)
		snprintf(line + strlen(line), sizeof(line) - strlen(line), "; %lld in progress",
		         (long long)cli_jint(q, "busy"));
	printf("%-13s%s\n", "queue:", line);
	printf("%-13smigrate %s, recall %s (last %llds)\n", "throughput:",
	       rate(a, sizeof(a), jreal(tp, "migrate_bps")),
	       rate(b, sizeof(b), jreal(tp, "recall_bps")),
	       (long long)(cli_jint(tp, "window_s") ? cli_jint(tp, "window_s") : 60));
	{
		json_t *m = json_object_get(tot, "migrated"), *r = json_object_get(tot, "released");
		json_t *rec = json_object_get(tot, "recalled");

		printf("%-13smigrated %lld (%s), released %lld (%s), recalled %lld (%s)\n",
		       "since start:",
		       (long long)cli_jint(m, "objects"),
		       cli_size(a, sizeof(a), (uint64_t)cli_jint(m, "bytes")),
		       (long long)cli_jint(r, "objects"),
		       cli_size(b, sizeof(b), (uint64_t)cli_jint(r, "bytes")),
		       (long long)cli_jint(rec, "objects"),
		       cli_size(c, sizeof(c), (uint64_t)cli_jint(rec, "bytes")));
	}
	{
		json_t *sc = json_object_get(st, "scrub");
		int64_t last = cli_jint(sc, "last_all"), next = cli_jint(sc, "next");

		if (cli_jint(sc, "checked") + cli_jint(sc, "damaged") > 0)
			printf("%-13schecked %lld objects, repaired %lld, %lld with no good copy%s\n",
			       "scrub:", (long long)cli_jint(sc, "checked"),
			       (long long)cli_jint(sc, "repaired"), (long long)cli_jint(sc, "damaged"),
			       cli_jint(sc, "damaged") > 0 ? "  (see errors)" : "");
		if (cli_jint(sc, "interval") > 0 && next > 0)
			snprintf(line, sizeof(line), "every %s, next %s", cli_jstr(sc, "every"),
			         cli_time(a, sizeof(a), next));
		else if (cli_jint(sc, "interval") > 0)
			snprintf(line, sizeof(line), "every %s, starting", cli_jstr(sc, "every"));
		else
			snprintf(line, sizeof(line), "not scheduled (scrub_interval 0)");
		printf("%-13s%s; last of all: %s\n", "scrubs:", line, age(b, sizeof(b), last));
	}

	putchar('\n');
	cli_table_init(&t, 3, heads, "lrr");
	for (i = 0; i < NSTATES; i++) {
		json_t *s = json_object_get(sts, states[i]);
		const char *cells[3] = {states[i], a, b};

		snprintf(a, sizeof(a), "%lld", (long long)cli_jint(s, "objects"));
		cli_size(b, sizeof(b), (uint64_t)cli_jint(s, "bytes"));
		nobj += (uint64_t)cli_jint(s, "objects");
		nbytes += (uint64_t)cli_jint(s, "bytes");
		cli_table_row(&t, cells);
	}
	{
		const char *cells[3] = {"total", a, b};

		snprintf(a, sizeof(a), "%" PRIu64, nobj);
		cli_size(b, sizeof(b), nbytes);
		cli_table_row(&t, cells);
	}
	cli_table_flush(&t, stdout);
	cli_table_free(&t);

	n = json_array_size(errs);
	if (n == 0)
		return;
	printf("\nrecent errors:\n");
	cli_table_init(&t, 4, eheads, "llll");
	json_array_foreach(errs, i, e) {
		const char *cells[4];

		/* catalogd sends the newest first; a screenful says enough. */
		if (i == STATUS_ERRORS)
			break;
		cells[0] = cli_time(a, sizeof(a), cli_jint(e, "time"));
		cells[1] = cli_jstr(e, "op");
		cells[2] = *cli_jstr(e, "object") ? cli_jstr(e, "object") : "-";
		cells[3] = cli_jstr(e, "message");
		cli_table_row(&t, cells);
	}
	cli_table_flush(&t, stdout);
	cli_table_free(&t);
	if (n > STATUS_ERRORS)
		printf("(%zu more; --json lists them all)\n", n - STATUS_ERRORS);
}

static int tier_status(struct cli *cli, int argc, char **argv)
{
	json_t *st = NULL;
	cairn_client *c;
	int rc, done;

	rc = cli_common_opts(&done, cli, status_help, argc, argv);
	if (done)
		return rc;
	if (optind < argc)
		return cli_usage(cli, status_help, "unexpected argument '%s'", argv[optind]);
	if (cli_client(cli, &c) < 0 || cairn_client_json(c, "GET", "/v1/tier/status", NULL, &st) < 0)
		return cli_fail(cli);
	if (cli->json)
		cli_json_print(st);
	else
		status_print(st);
	json_decref(st);
	return CLI_OK;
}

/* ---- policy ------------------------------------------------------------ */

static const char *action_word(const char *wire)
{
	if (strcmp(wire, "always_hot") == 0)
		return "always-hot";
	if (strcmp(wire, "archive_now") == 0)
		return "archive-now";
	return wire;
}

static void policy_print(const json_t *p)
{
	static const char *const heads[] = {"KEY", "VALUE", "FROM"};
	static const char *const rheads[] = {"MATCH", "ACTION"};
	json_t *eff = json_object_get(p, "effective"), *ovr = json_object_get(p, "overrides");
	json_t *rules = json_object_get(p, "rules"), *pins = json_object_get(p, "pins"), *v;
	struct cli_table t;
	const char *key;
	size_t i;

	cli_table_init(&t, 3, heads, "lll");
	json_object_foreach(eff, key, v) {
		char num[64];
		const char *cells[3];

		if (json_is_string(v)) {
			cells[1] = json_string_value(v);
		} else {
			/* Values are strings by contract; show anything else as JSON. */
			char *s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);

			snprintf(num, sizeof(num), "%s", s ? s : "?");
			free(s);
			cells[1] = num;
		}
		cells[0] = key;
		cells[2] = json_object_get(ovr, key) ? "policy" : "config";
		cli_table_row(&t, cells);
	}
	cli_table_flush(&t, stdout);
	cli_table_free(&t);

	printf("\nrules:%s\n", json_array_size(rules) ? "" : " none");
	if (json_array_size(rules)) {
		cli_table_init(&t, 2, rheads, "ll");
		json_array_foreach(rules, i, v) {
			const char *cells[2] = {cli_jstr(v, "match"), action_word(cli_jstr(v, "action"))};

			cli_table_row(&t, cells);
		}
		cli_table_flush(&t, stdout);
		cli_table_free(&t);
	}
	printf("\npinned versions:%s\n", json_array_size(pins) ? "" : " none");
	json_array_foreach(pins, i, v)
		printf("  %s@%lld\n", cli_jstr(v, "dataset"), (long long)cli_jint(v, "seq"));
}

static int policy_show(struct cli *cli, int argc, char **argv)
{
	json_t *p = NULL;
	cairn_client *c;
	int rc, done;

	rc = cli_common_opts(&done, cli, policy_help, argc, argv);
	if (done)
		return rc;
	if (optind < argc)
		return cli_usage(cli, policy_help, "unexpected argument '%s'", argv[optind]);
	if (cli_client(cli, &c) < 0 || cairn_client_json(c, "GET", "/v1/tier/policy", NULL, &p) < 0)
		return cli_fail(cli);
	if (cli->json)
		cli_json_print(p);
	else
		policy_print(p);
	json_decref(p);
	return CLI_OK;
}

/* KEY=VALUE with KEY a config key's shape: [a-z0-9_]+ (so "high-watermark"
 * or "=5" is caught here, with a message that says so). */
static int policy_kv(json_t *set, const char *kv)
{
	const char *eq = strchr(kv, '=');
	size_t klen;

	if (!eq)
		return cairn_error_set(CAIRN_EINVAL, "'%s' is not KEY=VALUE", kv);
	klen = (size_t)(eq - kv);
	if (klen == 0)
		return cairn_error_set(CAIRN_EINVAL, "'%s': the key before '=' is empty", kv);
	if (strspn(kv, "abcdefghijklmnopqrstuvwxyz0123456789_") != klen)
		return cairn_error_set(CAIRN_EINVAL,
		                       "'%.*s' is not a policy key (keys are like high_watermark; "
		                       "see 'cairn tier policy show')", (int)klen, kv);
	if (json_object_getn(set, kv, klen))
		return cairn_error_set(CAIRN_EINVAL, "'%.*s' is given twice", (int)klen, kv);
	if (json_object_setn_new(set, kv, klen, json_string(eq + 1)) < 0)
		return cairn_error_set(CAIRN_EINVAL, "'%s' is not valid UTF-8", kv);
	return 0;
}

static int policy_set(struct cli *cli, int argc, char **argv)
{
	json_t *set = NULL, *body = NULL, *p = NULL, *eff, *v;
	const char *key;
	cairn_client *c;
	int rc, done, i;

	rc = cli_common_opts(&done, cli, policy_help, argc, argv);
	if (done)
		return rc;
	if (optind >= argc)
		return cli_usage(cli, policy_help, "missing KEY=VALUE");
	set = json_object();
	if (!set)
		return cli_failf(cli, "out of memory");
	for (i = optind; i < argc; i++) {
		if (policy_kv(set, argv[i]) < 0) {
			rc = cli_invalid(cli);
			goto out;
		}
	}
	body = json_pack("{s:O}", "set", set);
	if (!body) {
		rc = cli_failf(cli, "out of memory");
		goto out;
	}
	if (cli_client(cli, &c) < 0 ||
	    cairn_client_json(c, "PUT", "/v1/tier/policy", body, &p) < 0) {
		rc = cli_fail(cli);
		goto out;
	}
	if (cli->json) {
		cli_json_print(p);
		goto out;
	}
	/* What is in effect now for each key given: catalogd may normalise
	 * a value ("80" → "80%"). */
	eff = json_object_get(p, "effective");
	json_object_foreach(set, key, v) {
		json_t *now = json_object_get(eff, key);

		printf("%s = %s\n", key, json_is_string(now) ? json_string_value(now)
		                                             : json_string_value(v));
	}
out:
	json_decref(p);
	json_decref(body);
	json_decref(set);
	return rc;
}

static int cmd_policy(struct cli *cli, int argc, char **argv)
{
	static const struct cli_sub subs[] = {
		{"show", NULL, "tier policy show", policy_show},
		{"set", NULL, "tier policy set", policy_set},
	};

	return cli_dispatch(cli, argc, argv, policy_help, "missing subcommand (show or set)",
	                    subs, sizeof(subs) / sizeof(subs[0]));
}

/* ---- rule -------------------------------------------------------------- */

/* dataset:NAME (a valid dataset name) or tag:TAG (non-empty). */
static int rule_match(const char *m)
{
	if (strncmp(m, "dataset:", 8) == 0) {
		if (cairn_dataset_name_validate(m + 8) < 0)
			return cairn_error_prefix(cairn_error_code(), "'%s'", m);
		return 0;
	}
	if (strncmp(m, "tag:", 4) == 0) {
		if (m[4] == '\0')
			return cairn_error_set(CAIRN_EINVAL, "'%s': empty tag", m);
		return 0;
	}
	return cairn_error_set(CAIRN_EINVAL, "'%s' is not dataset:NAME or tag:TAG", m);
}

/* always-hot | archive-now (underscores accepted too) → the wire name. */
static int rule_action(const char **out, const char *a)
{
	if (strcmp(a, "always-hot") == 0 || strcmp(a, "always_hot") == 0)
		*out = "always_hot";
	else if (strcmp(a, "archive-now") == 0 || strcmp(a, "archive_now") == 0)
		*out = "archive_now";
	else
		return cairn_error_set(CAIRN_EINVAL, "'%s' is not always-hot or archive-now", a);
	return 0;
}

static int rule_add(struct cli *cli, int argc, char **argv)
{
	json_t *body = NULL, *res = NULL;
	const char *action = NULL;
	cairn_client *c;
	int rc, done;

	rc = cli_common_opts(&done, cli, rule_help, argc, argv);
	if (done)
		return rc;
	if (optind + 2 > argc)
		return cli_usage(cli, rule_help, optind >= argc ? "missing MATCH" : "missing ACTION");
	if (optind + 2 < argc)
		return cli_usage(cli, rule_help, "unexpected argument '%s'", argv[optind + 2]);
	if (rule_match(argv[optind]) < 0 || rule_action(&action, argv[optind + 1]) < 0)
		return cli_invalid(cli);
	body = json_pack("{s:s,s:s}", "match", argv[optind], "action", action);
	if (!body)
		return cli_failf(cli, "'%s' is not valid UTF-8", argv[optind]);
	if (cli_client(cli, &c) < 0 || cairn_client_json(c, "POST", "/v1/tier/rules", body, &res) < 0) {
		rc = cli_fail(cli);
		goto out;
	}
	if (cli->json)
		cli_json_print(res ? res : body);
	else
		printf("rule %s %s\n", argv[optind], action_word(action));
out:
	json_decref(res);
	json_decref(body);
	return rc;
}

static int rule_rm(struct cli *cli, int argc, char **argv)
{
	const char *operand;
	char *esc = NULL, *path = NULL;
	cairn_client *c;
	int rc, done;

	rc = cli_common_opts(&done, cli, rule_help, argc, argv);
	if (done)
		return rc;
	rc = cli_one_operand(cli, argc, argv, rule_help, "MATCH", &operand);
	if (rc != CLI_OK)
		return rc;
	if (rule_match(operand) < 0)
		return cli_invalid(cli);
	esc = cairn_url_escape(operand);
	if (!esc || asprintf(&path, "/v1/tier/rules?match=%s", esc) < 0) {
		path = NULL;
		rc = cli_failf(cli, "out of memory");
		goto out;
	}
	if (cli_client(cli, &c) < 0 || cairn_client_json(c, "DELETE", path, NULL, NULL) < 0) {
		rc = cli_fail(cli);
		goto out;
	}
	if (cli->json) {
		json_t *j = json_pack("{s:s,s:b}", "match", operand, "removed", 1);

		cli_json_print(j);
		json_decref(j);
	} else {
		printf("rule %s removed\n", operand);
	}
out:
	free(path);
	free(esc);
	return rc;
}

static int cmd_rule(struct cli *cli, int argc, char **argv)
{
	static const struct cli_sub subs[] = {
		{"add", NULL, "tier rule add", rule_add},
		{"rm", "remove", "tier rule rm", rule_rm},
	};

	return cli_dispatch(cli, argc, argv, rule_help, "missing subcommand (add or rm)",
	                    subs, sizeof(subs) / sizeof(subs[0]));
}

/* ---- run --------------------------------------------------------------- */

static int tier_run(struct cli *cli, int argc, char **argv)
{
	enum { OPT_DRY = 0x200, OPT_LIMIT };
	static const struct option opts[] = {
		CLI_COMMON_OPTIONS,
		{"dry-run", no_argument, NULL, OPT_DRY},
		{"limit", required_argument, NULL, OPT_LIMIT},
		{0, 0, 0, 0}};
	static const char *const heads[] = {"OBJECT", "SIZE", "ACTION", "REASON"};
	json_t *body = NULL, *res = NULL, *plan, *it;
	uint64_t nmig = 0, bmig = 0, nrel = 0, brel = 0;
	long long limit = -1;
	struct cli_table t;
	cairn_client *c;
	int opt, dry = 0, rc = CLI_OK;
	char a[32], b[32];
	size_t i;

	cli_getopt_reset();
	while ((opt = getopt_long(argc, argv, ":hn", opts, NULL)) != -1) {
		switch (opt) {
		case CLI_OPT_JSON: cli->json = 1; break;
		case 'n':
		case OPT_DRY: dry = 1; break;
		case OPT_LIMIT: {
			char *end;

			errno = 0;
			limit = strtoll(optarg, &end, 10);
			if (errno || end == optarg || *end || limit <= 0)
				return cli_usage(cli, run_help, "--limit '%s': not a positive number",
				                 optarg);
			break;
		}
		case 'h': return cli_help(run_help);
		default: return cli_bad_option(cli, run_help, argv, opt);
		}
	}
	if (optind < argc)
		return cli_usage(cli, run_help, "unexpected argument '%s'", argv[optind]);
	body = json_pack("{s:b}", "dry_run", dry);
	if (!body || (limit > 0 && json_object_set_new(body, "limit", json_integer(limit)) < 0)) {
		rc = cli_failf(cli, "out of memory");
		goto out;
	}
	if (cli_client(cli, &c) < 0 || cairn_client_json(c, "POST", "/v1/tier/run", body, &res) < 0) {
		rc = cli_fail(cli);
		goto out;
	}
	if (cli->json) {
		cli_json_print(res);
		goto out;
	}
	plan = json_object_get(res, "plan");
	cli_table_init(&t, 4, heads, "lrll");
	json_array_foreach(plan, i, it) {
		const char *cells[4];
		const char *action = cli_jstr(it, "action");
		uint64_t size = (uint64_t)cli_jint(it, "size");

		if (strcmp(action, "release") == 0) {
			nrel++;
			brel += size;
		} else {
			nmig++;
			bmig += size;
		}
		cells[0] = cli_jstr(it, "object");
		cells[1] = cli_size(a, sizeof(a), size);
		cells[2] = action;
		cells[3] = cli_jstr(it, "reason");
		cli_table_row(&t, cells);
		/* Plans may be long: print a page at a time. */
		if (t.nrows >= CLI_PAGE)
			cli_table_flush(&t, stdout);
	}
	cli_table_flush(&t, stdout);
	cli_table_free(&t);
	if (json_array_size(plan) == 0)
		printf("nothing to move\n");
	else
		printf("%" PRIu64 " to migrate (%s), %" PRIu64 " to release (%s)%s\n", nmig, cli_size(a, sizeof(a), bmig), nrel,
		       cli_size(b, sizeof(b), brel),
		       dry ? "; dry run, nothing moved" :
		       json_is_true(json_object_get(res, "started")) ? "; started" : "");
out:
	json_decref(res);
	json_decref(body);
	return rc;
}

/* ---- pin, unpin -------------------------------------------------------- */

static int tier_pin(struct cli *cli, int argc, char **argv, int pin)
{
	const char *operand;
	char seq[32], path[1024];
	char *name = NULL, *ver = NULL;
	cairn_client *c;
	int rc, done;

	rc = cli_common_opts(&done, cli, pin_help, argc, argv);
	if (done)
		return rc;
	rc = cli_one_operand(cli, argc, argv, pin_help, "NAME[@V]", &operand);
	if (rc != CLI_OK)
		return rc;
	if (cli_ref_parse(&name, &ver, operand) < 0)
		return cli_invalid(cli);
	if (cli_client(cli, &c) < 0 || cli_resolve_seq(seq, sizeof(seq), c, name, ver) < 0 ||
	    cli_version_path(path, sizeof(path), name, seq, "/pin") < 0 ||
	    cairn_client_json(c, pin ? "POST" : "DELETE", path, NULL, NULL) < 0) {
		rc = cli_fail(cli);
		goto out;
	}
	if (cli->json) {
		json_t *j = json_pack("{s:s,s:I,s:b}", "dataset", name, "seq",
		                      (json_int_t)atoll(seq), "pinned", pin);

		cli_json_print(j);
		json_decref(j);
	} else {
		printf("%s %s@%s\n", pin ? "pinned" : "unpinned", name, seq);
	}
out:
	free(name);
	free(ver);
	return rc;
}

/* ---- recall, job ------------------------------------------------------- */

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void progress(const char *what, const json_t *j, double secs)
{
	char a[32], b[32], r[32];
	double done = (double)cli_jint(j, "done_bytes");

	fprintf(stderr, "\r%s: %lld/%lld objects, %s/%s, %s\033[K", what,
	        (long long)cli_jint(j, "done_objects"), (long long)cli_jint(j, "objects"),
	        cli_size(a, sizeof(a), (uint64_t)cli_jint(j, "done_bytes")),
	        cli_size(b, sizeof(b), (uint64_t)cli_jint(j, "bytes")),
	        rate(r, sizeof(r), secs > 0 ? done / secs : 0));
	fflush(stderr);
}

/* Follows the job until it is no longer running; *out gets its last state.
 * Each request returns when the job ends or after JOB_WAIT_MS, so the end
 * is seen as it happens, not at the next poll, and the progress line is
 * redrawn twice a second. The rate shown counts from the first request. */
static int follow_job(json_t **out, cairn_client *c, const char *id, const char *what,
                      int show)
{
	char path[128];
	json_t *j = NULL;
	double t0 = now_s();
	int rc, shown = 0;

	snprintf(path, sizeof(path), "/v1/tier/jobs/%s?wait=%d", id, JOB_WAIT_MS);
	for (;;) {
		double t = now_s();

		rc = cairn_client_json(c, "GET", path, NULL, &j);
		if (rc < 0)
			break;
		if (show) {
			progress(what, j, now_s() - t0);
			shown = 1;
		}
		if (strcmp(cli_jstr(j, "state"), "running") != 0)
			break;
		json_decref(j);
		j = NULL;
		/* A running job answered at once: a catalogd that does not
		 * wait. Do not spin. */
		if (now_s() - t < 0.01) {
			struct timespec ts = {0, JOB_WAIT_MS * 1000000L / 5};
			nanosleep(&ts, NULL);
		}
	}
	if (shown)
		fputc('\n', stderr);
	if (rc < 0) {
		json_decref(j);
		return cairn_error_prefix(rc, "job %s", id);
	}
	*out = j;
	return 0;
}

/* The end of a job: a summary (or its JSON) and the exit status. */
static int job_result(struct cli *cli, const json_t *j, const char *what, double secs)
{
	const char *state = cli_jstr(j, "state");
	int scrub = strcmp(cli_jstr(j, "kind"), "scrub") == 0;
	int64_t failed = cli_jint(j, "failed");
	char a[32], r[32];

	if (cli->json) {
		cli_json_print((json_t *)j);
	} else if (strcmp(state, "running") == 0) {
		printf("%s: running, %lld/%lld objects, %s of %s\n", what,
		       (long long)cli_jint(j, "done_objects"), (long long)cli_jint(j, "objects"),
		       cli_size(a, sizeof(a), (uint64_t)cli_jint(j, "done_bytes")),
		       cli_size(r, sizeof(r), (uint64_t)cli_jint(j, "bytes")));
		return CLI_OK;
	} else {
		printf("%s: %lld/%lld objects, %s", what, (long long)cli_jint(j, "done_objects"),
		       (long long)cli_jint(j, "objects"),
		       cli_size(a, sizeof(a), (uint64_t)cli_jint(j, "done_bytes")));
		if (secs > 0)
			printf(" in %.1fs (%s)", secs,
			       rate(r, sizeof(r), (double)cli_jint(j, "done_bytes") / secs));
		if (scrub)
			printf(", %lld repaired", (long long)cli_jint(j, "repaired"));
		printf(", %s\n", state);
	}
	if (strcmp(state, "failed") == 0 || failed > 0) {
		const char *msg = cli_jstr(j, "message");
		json_t *bad = json_object_get(j, "bad"), *b;
		size_t i;

		if (!cli->json) {
			json_array_foreach(bad, i, b)
				fprintf(stderr, "  %s\n", cli_jstr(b, "message"));
		}
		if (failed > 0)
			return cli_failf(cli, "%lld object%s %s%s%s", (long long)failed,
			                 failed == 1 ? "" : "s",
			                 scrub ? "could not be checked or have no good copy left"
			                       : "could not be recalled",
			                 *msg ? "; the last: " : "", msg);
		return cli_failf(cli, "the job failed%s%s", *msg ? ": " : "",
		                 *msg ? msg : "");
	}
	if (strcmp(state, "running") != 0 && strcmp(state, "done") != 0)
		return cli_failf(cli, "the job ended in state '%s'", state);
	return CLI_OK;
}

/* recall and scrub: start the job, then follow it (or not, --no-wait). A
 * scrub takes --all instead of a version. */
static int start_job(struct cli *cli, int argc, char **argv, const char *kind,
                     const char *help)
{
	const char *operand = NULL;
	enum { OPT_NOWAIT = 0x200, OPT_ALL };
	static const struct option opts[] = {
		CLI_COMMON_OPTIONS, {"no-wait", no_argument, NULL, OPT_NOWAIT},
		{"all", no_argument, NULL, OPT_ALL}, {0, 0, 0, 0}};
	char seq[32], path[1024], id[64], what[600];
	char *name = NULL, *ver = NULL;
	json_t *start = NULL, *j = NULL;
	int scrub = strcmp(kind, "scrub") == 0;
	cairn_client *c;
	int opt, nowait = 0, all = 0, rc = CLI_OK;
	double t0;

	cli_getopt_reset();
	while ((opt = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (opt) {
		case CLI_OPT_JSON: cli->json = 1; break;
		case OPT_NOWAIT: nowait = 1; break;
		case OPT_ALL:
			if (!scrub)
				return cli_bad_option(cli, help, argv, opt);
			all = 1;
			break;
		case 'h': return cli_help(help);
		default: return cli_bad_option(cli, help, argv, opt);
		}
	}
	if (all && optind < argc)
		return cli_usage(cli, help, "give NAME[@V] or --all, not both");
	if (!all) {
		rc = cli_one_operand(cli, argc, argv, help, "NAME[@V]", &operand);
		if (rc != CLI_OK)
			return rc;
		if (cli_ref_parse(&name, &ver, operand) < 0)
			return cli_invalid(cli);
	}
	t0 = now_s();
	if (cli_client(cli, &c) < 0)
		goto fail;
	if (all) {
		snprintf(path, sizeof(path), "/v1/tier/scrub");
		snprintf(what, sizeof(what), "scrub of every object");
	} else {
		char suffix[16];

		snprintf(suffix, sizeof(suffix), "/%s", kind);
		if (cli_resolve_seq(seq, sizeof(seq), c, name, ver) < 0 ||
		    cli_version_path(path, sizeof(path), name, seq, suffix) < 0)
			goto fail;
		snprintf(what, sizeof(what), "%s %s@%s", kind, name, seq);
	}
	if (cairn_client_json(c, "POST", path, NULL, &start) < 0 ||
	    job_id(id, sizeof(id), json_object_get(start, "job")) < 0)
		goto fail;
	if (nowait) {
		char a[32];

		if (cli->json)
			cli_json_print(start);
		else
			printf("%s: job %s started, %lld objects, %s\n", what, id,
			       (long long)cli_jint(start, "objects"),
			       cli_size(a, sizeof(a), (uint64_t)cli_jint(start, "bytes")));
		goto out;
	}
	if (follow_job(&j, c, id, what, isatty(STDERR_FILENO)) < 0)
		goto fail;
	rc = job_result(cli, j, what, now_s() - t0);
	goto out;
fail:
	rc = cli_fail(cli);
out:
	json_decref(j);
	json_decref(start);
	free(name);
	free(ver);
	return rc;
}

static int tier_recall(struct cli *cli, int argc, char **argv)
{
	return start_job(cli, argc, argv, "recall", recall_help);
}

static int tier_scrub(struct cli *cli, int argc, char **argv)
{
	return start_job(cli, argc, argv, "scrub", scrub_help);
}

static int tier_job(struct cli *cli, int argc, char **argv)
{
	enum { OPT_WAIT = 0x200 };
	static const struct option opts[] = {
		CLI_COMMON_OPTIONS, {"wait", no_argument, NULL, OPT_WAIT}, {0, 0, 0, 0}};
	char path[128], what[96];
	json_t *j = NULL;
	cairn_client *c;
	const char *id;
	int opt, wait = 0, rc;
	double t0;

	cli_getopt_reset();
	while ((opt = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (opt) {
		case CLI_OPT_JSON: cli->json = 1; break;
		case OPT_WAIT: wait = 1; break;
		case 'h': return cli_help(job_help);
		default: return cli_bad_option(cli, job_help, argv, opt);
		}
	}
	rc = cli_one_operand(cli, argc, argv, job_help, "ID", &id);
	if (rc != CLI_OK)
		return rc;
	if (!*id || strlen(id) > 40 || strspn(id, "abcdefghijklmnopqrstuvwxyz0123456789-_") != strlen(id))
		return cli_usage(cli, job_help, "'%s' is not a job id", id);
	snprintf(what, sizeof(what), "job %s", id);
	snprintf(path, sizeof(path), "/v1/tier/jobs/%s", id);
	t0 = now_s();
	if (cli_client(cli, &c) < 0)
		return cli_fail(cli);
	rc = wait ? follow_job(&j, c, id, what, isatty(STDERR_FILENO))
	          : cairn_client_json(c, "GET", path, NULL, &j);
	if (rc < 0)
		return cli_fail(cli);
	rc = job_result(cli, j, what, wait ? now_s() - t0 : 0);
	json_decref(j);
	return rc;
}

/* ---- explain ----------------------------------------------------------- */

static int tier_explain(struct cli *cli, int argc, char **argv)
{
	static const char *const heads[] = {
		"OBJECT", "SIZE", "STATE", "LAST ACCESS", "PINNED", "RULE", "DECISION", "WHY"};
	char path[1024], seq[32];
	char *name = NULL, *ver = NULL, *fpath = NULL, *epath = NULL, *req = NULL;
	json_t *res = NULL, *objs, *o;
	struct cli_table t;
	cairn_client *c;
	int rc, done;
	size_t i;

	rc = cli_common_opts(&done, cli, explain_help, argc, argv);
	if (done)
		return rc;
	if (optind + 2 > argc)
		return cli_usage(cli, explain_help,
		                 optind >= argc ? "missing NAME[@V] and PATH" : "missing PATH");
	if (optind + 2 < argc)
		return cli_usage(cli, explain_help, "unexpected argument '%s'", argv[optind + 2]);
	if (cli_ref_parse(&name, &ver, argv[optind]) < 0)
		return cli_invalid(cli);
	fpath = cli_clean_path(argv[optind + 1]);
	if (!fpath) {
		rc = cli_failf(cli, "out of memory");
		goto out;
	}
	if (cairn_path_validate(fpath, 0) < 0) {
		rc = cli_invalid(cli);
		goto out;
	}
	epath = cairn_url_escape(fpath);
	if (!epath) {
		rc = cli_failf(cli, "out of memory");
		goto out;
	}
	if (cli_client(cli, &c) < 0 || cli_resolve_seq(seq, sizeof(seq), c, name, ver) < 0 ||
	    cli_version_path(path, sizeof(path), name, seq, "/explain?path=") < 0) {
		rc = cli_fail(cli);
		goto out;
	}
	if (asprintf(&req, "%s%s", path, epath) < 0) {
		req = NULL;
		rc = cli_failf(cli, "out of memory");
		goto out;
	}
	if (cairn_client_json(c, "GET", req, NULL, &res) < 0) {
		rc = cli_fail(cli);
		goto out;
	}
	if (cli->json) {
		cli_json_print(res);
		goto out;
	}
	objs = json_object_get(res, "objects");
	printf("%s@%s %s: %zu object%s\n", name, seq, fpath, json_array_size(objs),
	       json_array_size(objs) == 1 ? "" : "s");
	if (json_array_size(objs) == 0)
		goto out;
	cli_table_init(&t, 8, heads, "lrllllll");
	json_array_foreach(objs, i, o) {
		char sz[32], when[32];
		const char *cells[8];

		cells[0] = cli_jstr(o, "id");
		cells[1] = cli_size(sz, sizeof(sz), (uint64_t)cli_jint(o, "size"));
		cells[2] = cli_jstr(o, "state");
		cells[3] = age(when, sizeof(when), cli_jint(o, "last_access"));
		cells[4] = json_is_true(json_object_get(o, "pinned")) ? "yes" : "no";
		cells[5] = cli_jnull(o, "rule") || !*cli_jstr(o, "rule") ? "-" : cli_jstr(o, "rule");
		cells[6] = cli_jstr(o, "decision");
		cells[7] = cli_jstr(o, "why");
		cli_table_row(&t, cells);
		if (t.nrows >= CLI_PAGE)
			cli_table_flush(&t, stdout);
	}
	cli_table_flush(&t, stdout);
	cli_table_free(&t);
out:
	json_decref(res);
	free(req);
	free(epath);
	free(fpath);
	free(name);
	free(ver);
	return rc;
}

/* ---- Dispatch ---------------------------------------------------------- */

static int tier_pin_cmd(struct cli *cli, int argc, char **argv)
{
	return tier_pin(cli, argc, argv, 1);
}

static int tier_unpin_cmd(struct cli *cli, int argc, char **argv)
{
	return tier_pin(cli, argc, argv, 0);
}

int cmd_tier(struct cli *cli, int argc, char **argv)
{
	static const struct cli_sub subs[] = {
		{"status", NULL, "tier status", tier_status},
		{"policy", NULL, "tier policy", cmd_policy},
		{"rule", "rules", "tier rule", cmd_rule},
		{"run", NULL, "tier run", tier_run},
		{"pin", NULL, "tier pin", tier_pin_cmd},
		{"unpin", NULL, "tier unpin", tier_unpin_cmd},
		{"recall", NULL, "tier recall", tier_recall},
		{"job", NULL, "tier job", tier_job},
		{"scrub", NULL, "tier scrub", tier_scrub},
		{"explain", NULL, "tier explain", tier_explain},
	};

	return cli_dispatch(cli, argc, argv, tier_help, "missing subcommand",
	                    subs, sizeof(subs) / sizeof(subs[0]));
}
