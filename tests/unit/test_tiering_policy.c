/* test_tiering_policy.c — the tiering engine's pure decisions: candidate
 * selection (idle time, size, rules, pins), watermark math, rule matching
 * and precedence, and the reasons given for each decision. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "config.h"
#include "error.h"
#include "policy.h"
#include "tiering.h"

#define NOW 1790000000
#define DAY 86400
#define MiB (1024 * 1024)

static struct tier_policy policy(void)
{
	struct cairn_config cfg;
	struct tier_policy p;

	cairn_config_defaults(&cfg);
	tier_policy_from_config(&p, &cfg);
	return p;
}

static struct tier_facts facts(int state, uint64_t size, int64_t idle)
{
	struct tier_facts f = { state, size, NOW - idle };
	return f;
}

static struct tier_pressure pressure(double used_pct)
{
	struct tier_pressure pr;

	tier_pressure_compute(&pr, 1000 * MiB, (uint64_t)(used_pct * 10 * MiB), 85, 70);
	return pr;
}

static void test_policy_from_config(void **state)
{
	struct cairn_config cfg;
	struct tier_policy p;

	(void)state;
	cairn_config_defaults(&cfg);
	assert_int_equal(cairn_config_set(&cfg, "tiering", "min_idle", "2h"), 0);
	assert_int_equal(cairn_config_set(&cfg, "tiering", "scan_interval", "5m"), 0);
	assert_int_equal(cairn_config_set(&cfg, "tiering", "max_error_rate", "20%"), 0);
	tier_policy_from_config(&p, &cfg);
	assert_int_equal(p.min_idle, 7200);
	assert_int_equal(p.scan_interval, 300);
	assert_true(p.max_error_rate == 20.0);
	assert_true(p.high_watermark == 85.0 && p.low_watermark == 70.0);
	/* the defaults of the two tiering keys this engine added */
	cairn_config_defaults(&cfg);
	assert_int_equal(cfg.scan_interval, 60);
	assert_true(cfg.max_error_rate == 50.0);
	assert_true(cairn_config_runtime_key("scan_interval"));
	assert_true(cairn_config_runtime_key("tiering.max_error_rate"));
	assert_int_equal(cairn_config_set(&cfg, "tiering", "max_error_rate", "150%"),
	                 CAIRN_EINVAL);
}

/* Idle time and size decide a HOT object; the reason names both numbers. */
static void test_migrate_candidates(void **state)
{
	struct tier_policy p = policy();        /* min_idle 1d, min_size 0 */
	struct tier_decision d;
	struct tier_facts f;

	(void)state;
	f = facts(CAIRN_TIER_HOT, 4 * MiB, 3 * DAY);
	tier_decide(&d, &p, &f, NULL, NULL, NOW);
	assert_int_equal(d.action, TIER_MIGRATE);
	assert_false(d.forced);
	assert_non_null(strstr(d.why, "idle 3d"));
	assert_non_null(strstr(d.why, "min_idle 1d"));

	f = facts(CAIRN_TIER_HOT, 4 * MiB, 3600);
	tier_decide(&d, &p, &f, NULL, NULL, NOW);
	assert_int_equal(d.action, TIER_KEEP);
	assert_non_null(strstr(d.why, "idle 1h < min_idle 1d"));

	/* exactly min_idle is old enough */
	f = facts(CAIRN_TIER_HOT, 1, DAY);
	tier_decide(&d, &p, &f, NULL, NULL, NOW);
	assert_int_equal(d.action, TIER_MIGRATE);

	p.min_size = MiB;
	f = facts(CAIRN_TIER_HOT, MiB - 1, 10 * DAY);
	tier_decide(&d, &p, &f, NULL, NULL, NOW);
	assert_int_equal(d.action, TIER_KEEP);
	assert_non_null(strstr(d.why, "< min_size 1.0M"));
	f.size = MiB;
	tier_decide(&d, &p, &f, NULL, NULL, NOW);
	assert_int_equal(d.action, TIER_MIGRATE);

	/* min_idle 0: everything at once, even an access "in the future"
	 * (clock skew between a client and catalogd) */
	p.min_idle = 0;
	p.min_size = 0;
	f = facts(CAIRN_TIER_HOT, 10, -30);
	tier_decide(&d, &p, &f, NULL, NULL, NOW);
	assert_int_equal(d.action, TIER_MIGRATE);
}

static void test_in_flight_and_cold(void **state)
{
	struct tier_policy p = policy();
	struct tier_pressure pr = pressure(99);
	struct tier_decision d;
	struct tier_facts f;

	(void)state;
	for (int s = 0; s < CAIRN_TIER_NSTATES; s++) {
		if (s != CAIRN_TIER_MIGRATING && s != CAIRN_TIER_RELEASING &&
		    s != CAIRN_TIER_RECALLING)
			continue;
		f = facts(s, MiB, 30 * DAY);
		tier_decide(&d, &p, &f, NULL, &pr, NOW);
		assert_int_equal(d.action, TIER_BUSY);
	}
	/* COLD stays cold without an always_hot rule, whatever the pool */
	f = facts(CAIRN_TIER_COLD, MiB, 0);
	tier_decide(&d, &p, &f, NULL, &pr, NOW);
	assert_int_equal(d.action, TIER_KEEP);
	f.state = 99;
	tier_decide(&d, &p, &f, NULL, &pr, NOW);
	assert_int_equal(d.action, TIER_KEEP);
}

static void test_watermark_math(void **state)
{
	struct tier_pressure pr;

	(void)state;
	/* 900 of 1000 used, high 85, low 70: free down to 700 */
	tier_pressure_compute(&pr, 1000, 900, 85, 70);
	assert_true(pr.known && pr.over_high);
	assert_int_equal(pr.release_need, 200);
	assert_true(pr.used_pct == 90.0);
	/* exactly at the high watermark: release runs */
	tier_pressure_compute(&pr, 1000, 850, 85, 70);
	assert_true(pr.over_high);
	assert_int_equal(pr.release_need, 150);
	/* just under: nothing */
	tier_pressure_compute(&pr, 1000, 849, 85, 70);
	assert_false(pr.over_high);
	assert_int_equal(pr.release_need, 0);
	/* unknown capacity: nothing is ever released for space */
	tier_pressure_compute(&pr, 0, 12345, 85, 70);
	assert_false(pr.known);
	assert_false(pr.over_high);
	/* low = high: release exactly to the watermark */
	tier_pressure_compute(&pr, 1000, 900, 80, 80);
	assert_int_equal(pr.release_need, 100);
	/* low 0: everything */
	tier_pressure_compute(&pr, 1ull << 40, 1ull << 39, 1, 0);
	assert_int_equal(pr.release_need, 1ull << 39);
	/* rounding never leaves use above low after freeing release_need */
	tier_pressure_compute(&pr, 3, 3, 50, 33.4);
	assert_true(3 - pr.release_need <= 3 * 0.334);
}

/* A DUAL object is a release candidate only over the high watermark. */
static void test_release_by_pressure(void **state)
{
	struct tier_policy p = policy();
	struct tier_pressure low = pressure(50), high = pressure(90);
	struct tier_decision d;
	struct tier_facts f = facts(CAIRN_TIER_DUAL, MiB, 2 * DAY);

	(void)state;
	tier_decide(&d, &p, &f, NULL, &low, NOW);
	assert_int_equal(d.action, TIER_KEEP);
	assert_non_null(strstr(d.why, "pool at 50.0% < high_watermark 85%"));
	tier_decide(&d, &p, &f, NULL, &high, NOW);
	assert_int_equal(d.action, TIER_RELEASE);
	assert_false(d.forced);         /* a candidate, ranked by the engine */
	assert_non_null(strstr(d.why, "least recently used"));
	/* unknown pressure: keep */
	tier_decide(&d, &p, &f, NULL, NULL, NOW);
	assert_int_equal(d.action, TIER_KEEP);
	/* a HOT object is never released, however full the pool */
	f.state = CAIRN_TIER_HOT;
	f.last_access = NOW;
	tier_decide(&d, &p, &f, NULL, &high, NOW);
	assert_int_equal(d.action, TIER_KEEP);
}

static void test_rule_parse(void **state)
{
	struct tier_rule r;
	char text[TIER_RULE_TEXT_MAX];

	(void)state;
	assert_int_equal(tier_rule_parse(&r, "dataset:genomics/runs", "archive_now"), 0);
	assert_int_equal(r.kind, TIER_MATCH_DATASET);
	assert_string_equal(r.value, "genomics/runs");
	assert_int_equal(r.action, TIER_RULE_ARCHIVE_NOW);
	tier_rule_match_text(&r, text, sizeof(text));
	assert_string_equal(text, "dataset:genomics/runs");
	assert_int_equal(tier_rule_parse(&r, "tag:prod", "always_hot"), 0);
	assert_int_equal(r.kind, TIER_MATCH_TAG);
	assert_int_equal(r.action, TIER_RULE_ALWAYS_HOT);
	assert_string_equal(tier_rule_action_name(r.action), "always_hot");

	assert_int_equal(tier_rule_parse(&r, "prod", "always_hot"), CAIRN_EINVAL);
	assert_int_equal(tier_rule_parse(&r, "tag:", "always_hot"), CAIRN_EINVAL);
	assert_int_equal(tier_rule_parse(&r, "tag:a b", "always_hot"), CAIRN_EINVAL);
	assert_int_equal(tier_rule_parse(&r, "tag:x", "always-hot"), CAIRN_EINVAL);
	assert_int_equal(tier_rule_parse(&r, "tag:x", NULL), CAIRN_EINVAL);
	assert_non_null(strstr(cairn_error_msg(), "match"));
}

static void test_rule_matching(void **state)
{
	static const char *const tags[] = { "prod", "paper-2026" };
	struct tier_version_ref v = { "genomics/runs", 3, tags, 2, false, false };
	struct tier_rule r;

	(void)state;
	tier_rule_parse(&r, "dataset:genomics/runs", "always_hot");
	assert_true(tier_rule_matches(&r, &v));
	tier_rule_parse(&r, "dataset:genomics", "always_hot");
	assert_false(tier_rule_matches(&r, &v));       /* whole names only */
	tier_rule_parse(&r, "tag:paper-2026", "always_hot");
	assert_true(tier_rule_matches(&r, &v));
	tier_rule_parse(&r, "tag:paper", "always_hot");
	assert_false(tier_rule_matches(&r, &v));
	/* tag:latest follows each dataset's newest version */
	tier_rule_parse(&r, "tag:latest", "always_hot");
	assert_false(tier_rule_matches(&r, &v));
	v.latest = true;
	assert_true(tier_rule_matches(&r, &v));
	/* a dataset rule does not match a tag of the same name */
	tier_rule_parse(&r, "dataset:prod", "always_hot");
	assert_false(tier_rule_matches(&r, &v));
}

/* An object held by several versions takes the strongest rule; a pin in
 * any of them holds it. */
static void test_placement_precedence(void **state)
{
	static const char *const prod[] = { "prod" };
	struct tier_rule rules[2];
	struct tier_version_ref a = { "raw/scans", 1, NULL, 0, false, false };
	struct tier_version_ref b = { "ml/train", 7, prod, 1, true, false };
	struct tier_placement pl;

	(void)state;
	tier_rule_parse(&rules[0], "dataset:raw/scans", "archive_now");
	tier_rule_parse(&rules[1], "tag:prod", "always_hot");

	tier_placement_init(&pl);
	tier_placement_add(&pl, rules, 2, &a);
	assert_int_equal(pl.rule_action, TIER_RULE_ARCHIVE_NOW);
	assert_string_equal(pl.rule, "dataset:raw/scans");
	assert_string_equal(pl.rule_via, "raw/scans@1");
	tier_placement_add(&pl, rules, 2, &b);
	assert_int_equal(pl.rule_action, TIER_RULE_ALWAYS_HOT);
	assert_string_equal(pl.rule, "tag:prod");
	assert_string_equal(pl.rule_via, "ml/train@7");
	assert_int_equal(pl.versions, 2);
	assert_false(pl.pinned);

	/* order does not matter */
	tier_placement_init(&pl);
	tier_placement_add(&pl, rules, 2, &b);
	tier_placement_add(&pl, rules, 2, &a);
	assert_int_equal(pl.rule_action, TIER_RULE_ALWAYS_HOT);

	/* a pin on any version */
	tier_placement_init(&pl);
	a.pinned = true;
	tier_placement_add(&pl, NULL, 0, &b);
	tier_placement_add(&pl, NULL, 0, &a);
	assert_true(pl.pinned);
	assert_string_equal(pl.pinned_by, "raw/scans@1");
	assert_int_equal(pl.rule_action, TIER_RULE_NONE);
}

static void test_rules_decide(void **state)
{
	struct tier_policy p = policy();
	struct tier_pressure calm = pressure(10), full = pressure(95);
	struct tier_placement pl;
	struct tier_decision d;
	struct tier_facts f;

	(void)state;
	/* archive_now: migrate at once, fresh or not, then release */
	tier_placement_init(&pl);
	pl.rule_action = TIER_RULE_ARCHIVE_NOW;
	strcpy(pl.rule, "dataset:old");
	strcpy(pl.rule_via, "old@2");
	f = facts(CAIRN_TIER_HOT, 10, 0);
	tier_decide(&d, &p, &f, &pl, &calm, NOW);
	assert_int_equal(d.action, TIER_MIGRATE);
	assert_true(d.forced && d.then_release);
	assert_non_null(strstr(d.why, "rule dataset:old archive_now (via old@2)"));
	f.state = CAIRN_TIER_DUAL;
	tier_decide(&d, &p, &f, &pl, &calm, NOW);
	assert_int_equal(d.action, TIER_RELEASE);
	assert_true(d.forced);

	/* ...but a pin keeps the pool copy: copied to S3, never released */
	pl.pinned = true;
	strcpy(pl.pinned_by, "old@3");
	f.state = CAIRN_TIER_HOT;
	tier_decide(&d, &p, &f, &pl, &calm, NOW);
	assert_int_equal(d.action, TIER_MIGRATE);
	assert_false(d.then_release);
	assert_non_null(strstr(d.why, "pinned by old@3"));
	f.state = CAIRN_TIER_DUAL;
	tier_decide(&d, &p, &f, &pl, &full, NOW);
	assert_int_equal(d.action, TIER_KEEP);
	assert_non_null(strstr(d.why, "pinned by old@3"));
	/* pinned and in S3 only: recalled, whatever the pool */
	f.state = CAIRN_TIER_COLD;
	tier_decide(&d, &p, &f, &pl, &full, NOW);
	assert_int_equal(d.action, TIER_RECALL);
	assert_true(d.forced);
	assert_non_null(strstr(d.why, "pinned by old@3"));

	/* always_hot: never migrated, never released, recalled when cold */
	tier_placement_init(&pl);
	pl.rule_action = TIER_RULE_ALWAYS_HOT;
	strcpy(pl.rule, "tag:prod");
	strcpy(pl.rule_via, "ml@1");
	f = facts(CAIRN_TIER_HOT, 10, 100 * DAY);
	tier_decide(&d, &p, &f, &pl, &full, NOW);
	assert_int_equal(d.action, TIER_KEEP);
	assert_non_null(strstr(d.why, "always_hot"));
	f.state = CAIRN_TIER_DUAL;
	tier_decide(&d, &p, &f, &pl, &full, NOW);
	assert_int_equal(d.action, TIER_KEEP);
	f.state = CAIRN_TIER_COLD;
	tier_decide(&d, &p, &f, &pl, &calm, NOW);
	assert_int_equal(d.action, TIER_RECALL);

	/* a placement with nothing in it changes nothing */
	tier_placement_init(&pl);
	f = facts(CAIRN_TIER_HOT, 10, 2 * DAY);
	tier_decide(&d, &p, &f, &pl, &calm, NOW);
	assert_int_equal(d.action, TIER_MIGRATE);
	assert_false(d.forced);
}

static struct tier_candidate cand(int64_t last_access, uint64_t size, unsigned id)
{
	struct tier_candidate c;

	memset(&c, 0, sizeof(c));
	c.last_access = last_access;
	c.size = size;
	c.oid.b[0] = (uint8_t)id;
	c.oid.b[1] = (uint8_t)(id >> 8);
	return c;
}

/* The oldest candidates, just enough bytes, in LRU order, whatever order
 * the scan meets them in. */
static void test_release_selection(void **state)
{
	struct tier_lru h;
	/* last_access values in scan (id) order */
	static const int64_t ages[] = { 50, 10, 90, 30, 70, 20, 80, 40, 60, 0 };

	(void)state;
	assert_int_equal(tier_lru_init(&h, 100, 35), 0);
	for (unsigned i = 0; i < 10; i++) {
		struct tier_candidate c = cand(ages[i], 10, i);
		tier_lru_offer(&h, &c);
	}
	tier_lru_sort(&h);
	/* 35 bytes of 10-byte objects: the four oldest (0, 10, 20, 30) */
	assert_int_equal(h.n, 4);
	assert_int_equal(h.bytes, 40);
	for (size_t i = 0; i < h.n; i++)
		assert_int_equal(h.v[i].last_access, (int64_t)(10 * i));
	assert_int_equal(h.v[0].oid.b[0], 9);
	assert_int_equal(h.v[1].oid.b[0], 1);
	tier_lru_free(&h);

	/* nothing needed: nothing kept */
	assert_int_equal(tier_lru_init(&h, 100, 0), 0);
	struct tier_candidate c = cand(1, 10, 1);
	tier_lru_offer(&h, &c);
	assert_int_equal(h.n, 0);
	tier_lru_free(&h);

	/* one big old object covers the need alone */
	assert_int_equal(tier_lru_init(&h, 100, 1000), 0);
	for (unsigned i = 0; i < 50; i++) {
		struct tier_candidate x = cand(100 + i, 10, i);
		tier_lru_offer(&h, &x);
	}
	struct tier_candidate big = cand(5, 5000, 99);
	tier_lru_offer(&h, &big);
	assert_int_equal(h.n, 1);
	assert_int_equal(h.v[0].oid.b[0], 99);
	tier_lru_free(&h);

	/* more needed than the cap holds: the cap's worth of the oldest */
	assert_int_equal(tier_lru_init(&h, 8, 1ull << 40), 0);
	for (unsigned i = 0; i < 1000; i++) {
		struct tier_candidate x = cand((int64_t)((i * 7919) % 1000), 1, i);
		tier_lru_offer(&h, &x);
	}
	tier_lru_sort(&h);
	assert_int_equal(h.n, 8);
	for (size_t i = 0; i < h.n; i++)
		assert_int_equal(h.v[i].last_access, (int64_t)i);
	tier_lru_free(&h);
}

static void test_formats(void **state)
{
	char b[32];

	(void)state;
	tier_fmt_duration(b, sizeof(b), 0);
	assert_string_equal(b, "0s");
	tier_fmt_duration(b, sizeof(b), 59);
	assert_string_equal(b, "59s");
	tier_fmt_duration(b, sizeof(b), 60);
	assert_string_equal(b, "1m");
	tier_fmt_duration(b, sizeof(b), 90);
	assert_string_equal(b, "90s");
	tier_fmt_duration(b, sizeof(b), 3 * DAY + 5);
	assert_string_equal(b, "3d");
	tier_fmt_size(b, sizeof(b), 1023);
	assert_string_equal(b, "1023B");
	tier_fmt_size(b, sizeof(b), 4 * MiB);
	assert_string_equal(b, "4.0M");
	assert_string_equal(tier_action_name(TIER_RELEASE), "release");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_policy_from_config),
		cmocka_unit_test(test_migrate_candidates),
		cmocka_unit_test(test_in_flight_and_cold),
		cmocka_unit_test(test_watermark_math),
		cmocka_unit_test(test_release_by_pressure),
		cmocka_unit_test(test_rule_parse),
		cmocka_unit_test(test_rule_matching),
		cmocka_unit_test(test_placement_precedence),
		cmocka_unit_test(test_rules_decide),
		cmocka_unit_test(test_release_selection),
		cmocka_unit_test(test_formats),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
