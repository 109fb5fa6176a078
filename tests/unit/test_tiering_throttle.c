/* test_tiering_throttle.c — the engine's brakes and meters (error-rate
 * breaker, bandwidth bucket, throughput window) and its bounded oid tables
 * (access-time coalescing, objects in hand). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "access.h"
#include "error.h"
#include "throttle.h"

#define SEC 1000000000LL

static void test_breaker_needs_enough_attempts(void **state)
{
	struct tier_breaker b;
	unsigned fails, attempts;

	(void)state;
	tier_breaker_init(&b, 300);
	/* 9 failures of 9: under the minimum of 10 attempts, not tripped */
	for (int i = 0; i < 9; i++)
		tier_breaker_record(&b, 1000 + i, false);
	assert_false(tier_breaker_tripped(&b, 1010, 50, 10, &fails, &attempts));
	assert_int_equal(fails, 9);
	assert_int_equal(attempts, 9);
	tier_breaker_record(&b, 1010, false);
	assert_true(tier_breaker_tripped(&b, 1010, 50, 10, NULL, NULL));
}

static void test_breaker_rate(void **state)
{
	struct tier_breaker b;
	unsigned fails, attempts;

	(void)state;
	tier_breaker_init(&b, 300);
	/* 5 of 10 failed = 50%: not above max_error_rate 50% */
	for (int i = 0; i < 10; i++)
		tier_breaker_record(&b, 2000, i % 2 == 0);
	assert_false(tier_breaker_tripped(&b, 2000, 50, 10, &fails, &attempts));
	assert_int_equal(fails, 5);
	tier_breaker_record(&b, 2001, false);   /* 6 of 11 */
	assert_true(tier_breaker_tripped(&b, 2001, 50, 10, NULL, NULL));
	/* max_error_rate 100% never trips */
	assert_false(tier_breaker_tripped(&b, 2001, 100, 10, NULL, NULL));
	/* reset forgets */
	tier_breaker_reset(&b);
	assert_false(tier_breaker_tripped(&b, 2001, 0, 1, &fails, &attempts));
	assert_int_equal(attempts, 0);
}

static void test_breaker_window(void **state)
{
	struct tier_breaker b;
	unsigned fails, attempts;

	(void)state;
	tier_breaker_init(&b, 300);
	for (int i = 0; i < 20; i++)
		tier_breaker_record(&b, 1000, false);
	assert_true(tier_breaker_tripped(&b, 1300, 50, 10, NULL, NULL));
	/* five minutes later the old failures no longer count */
	assert_false(tier_breaker_tripped(&b, 1301, 50, 10, &fails, &attempts));
	assert_int_equal(attempts, 0);
	/* recent successes outweigh: 20 old failures, 20 new successes */
	for (int i = 0; i < 20; i++)
		tier_breaker_record(&b, 1200, true);
	assert_false(tier_breaker_tripped(&b, 1250, 50, 10, &fails, &attempts));
	assert_int_equal(attempts, 40);
	assert_int_equal(fails, 20);
	/* the ring keeps the last TIER_BREAKER_RING outcomes only */
	for (int i = 0; i < 3 * TIER_BREAKER_RING; i++)
		tier_breaker_record(&b, 5000, true);
	assert_false(tier_breaker_tripped(&b, 5000, 0, 1, &fails, &attempts));
	assert_int_equal(attempts, TIER_BREAKER_RING);
	assert_int_equal(fails, 0);
}

static void test_bucket(void **state)
{
	struct tier_bucket b;

	(void)state;
	/* unlimited */
	tier_bucket_init(&b, 0, 0);
	assert_int_equal(tier_bucket_take(&b, 1ull << 40, 0), 0);

	/* 100 bytes/s with a full second saved: 100 at once, then waits */
	tier_bucket_init(&b, 100, 0);
	assert_int_equal(tier_bucket_take(&b, 100, 0), 0);
	assert_int_equal(tier_bucket_take(&b, 50, 0), SEC / 2);
	/* the debt is paid over time: after 0.5 s, 50 more wait a further 0.5 s */
	assert_int_equal(tier_bucket_take(&b, 50, SEC / 2), SEC / 2);
	/* an object larger than a second's budget still goes (with a wait) */
	tier_bucket_init(&b, 100, 0);
	assert_int_equal(tier_bucket_take(&b, 350, 0), (uint64_t)(2.5 * SEC));
	/* savings are capped at one second */
	tier_bucket_init(&b, 100, 0);
	assert_int_equal(tier_bucket_take(&b, 0, 100 * SEC), 0);
	assert_int_equal(tier_bucket_take(&b, 200, 100 * SEC), SEC);

	/* the long-run rate is the configured one: 10 s of 1000 B/s */
	tier_bucket_init(&b, 1000, 0);
	int64_t t = 0;
	for (int i = 0; i < 100; i++)
		t += (int64_t)tier_bucket_take(&b, 100, t);
	assert_true(t >= 9 * SEC && t <= 10 * SEC);

	/* a new rate applies at once; 0 lifts the limit */
	tier_bucket_set_rate(&b, 0, t);
	assert_int_equal(tier_bucket_take(&b, 1 << 30, t), 0);
}

static void test_rate_window(void **state)
{
	struct tier_rate r;

	(void)state;
	tier_rate_init(&r);
	assert_int_equal(tier_rate_bps(&r, 100), 0);
	for (int s = 0; s < 60; s++)
		tier_rate_add(&r, 1000 + s, 600);
	assert_int_equal(tier_rate_bps(&r, 1059), 600);
	/* a minute later half the window has aged out */
	assert_int_equal(tier_rate_bps(&r, 1089), 300);
	assert_int_equal(tier_rate_bps(&r, 1200), 0);
	/* a slot reused a minute later starts from zero */
	tier_rate_add(&r, 1060, 60);
	assert_int_equal(tier_rate_bps(&r, 1060), (59 * 600 + 60) / 60);
}

static cairn_oid oid_n(unsigned n)
{
	cairn_oid o;

	memset(&o, 0, sizeof(o));
	/* The tables hash on the first bytes: spread like digests, with a few
	 * deliberate collisions (n and n + 4096 share a home slot). */
	o.b[0] = (uint8_t)(n * 37);
	o.b[1] = (uint8_t)((n & 4095) >> 4);
	o.b[8] = (uint8_t)(n >> 8);
	o.b[9] = (uint8_t)n;
	o.b[15] = (uint8_t)(n >> 16);
	return o;
}

/* Many reads of one object are one entry with the latest time. */
static void test_access_coalesces(void **state)
{
	struct tier_oidtab *t;
	cairn_oid a = oid_n(1), b = oid_n(2), out[4];
	int64_t vals[4];
	size_t n;

	(void)state;
	assert_int_equal(tier_oidtab_new(&t, 100), 0);
	for (int i = 0; i < 1000; i++)
		assert_int_equal(tier_oidtab_put_max(t, &a, 5000 + (i % 7) * 10), 0);
	tier_oidtab_put_max(t, &b, 42);
	tier_oidtab_put_max(t, &b, 41);          /* never lowers */
	assert_int_equal(tier_oidtab_count(t), 2);
	n = tier_oidtab_drain(t, out, vals, 4);
	assert_int_equal(n, 2);
	for (size_t i = 0; i < n; i++) {
		if (memcmp(out[i].b, a.b, 16) == 0)
			assert_int_equal(vals[i], 5060);
		else
			assert_int_equal(vals[i], 42);
	}
	assert_int_equal(tier_oidtab_count(t), 0);
	assert_int_equal(tier_oidtab_drain(t, out, vals, 4), 0);
	tier_oidtab_free(t);
}

/* Bounded: a full table refuses new ids (the caller flushes), keeps
 * updating the ones it has, and drains in pieces without losing any. */
static void test_oidtab_bounds_and_drain(void **state)
{
	enum { CAP = 5000 };
	struct tier_oidtab *t;
	cairn_oid *out = malloc(CAP * sizeof(*out));
	int64_t *vals = malloc(CAP * sizeof(*vals));
	char *seen = calloc(CAP, 1);
	size_t total = 0, n;

	(void)state;
	assert_int_equal(tier_oidtab_new(&t, CAP), 0);
	for (unsigned i = 0; i < CAP; i++) {
		cairn_oid o = oid_n(i);
		assert_int_equal(tier_oidtab_put_max(t, &o, i), 0);
	}
	cairn_oid extra = oid_n(CAP + 7);
	assert_int_equal(tier_oidtab_put_max(t, &extra, 1), CAIRN_ETOOBIG);
	cairn_oid first = oid_n(0);
	assert_int_equal(tier_oidtab_put_max(t, &first, 99999), 0);
	assert_int_equal(tier_oidtab_count(t), CAP);
	while ((n = tier_oidtab_drain(t, out, vals, 333)) > 0) {
		for (size_t i = 0; i < n; i++) {
			unsigned k = (unsigned)(out[i].b[8] << 8 | out[i].b[9]) |
			             (unsigned)out[i].b[15] << 16;
			assert_true(k < CAP);
			assert_false(seen[k]);
			seen[k] = 1;
			assert_int_equal(vals[i], k == 0 ? 99999 : (int64_t)k);
		}
		total += n;
	}
	assert_int_equal(total, CAP);
	tier_oidtab_free(t);
	free(out);
	free(vals);
	free(seen);
}

/* The set of objects in hand: add is exclusive, delete keeps every other
 * entry findable (backward-shift deletion across collisions). */
static void test_oidtab_set(void **state)
{
	enum { N = 3000 };
	struct tier_oidtab *t;
	int64_t v;

	(void)state;
	assert_int_equal(tier_oidtab_new(&t, N), 0);
	for (unsigned i = 0; i < N; i++) {
		cairn_oid o = oid_n(i);
		assert_int_equal(tier_oidtab_add(t, &o, i), 0);
	}
	cairn_oid dup = oid_n(17);
	assert_int_equal(tier_oidtab_add(t, &dup, 0), CAIRN_EEXISTS);
	/* remove every third, check the rest */
	for (unsigned i = 0; i < N; i += 3) {
		cairn_oid o = oid_n(i);
		tier_oidtab_del(t, &o);
	}
	tier_oidtab_del(t, &dup);       /* 17 is not a multiple of 3 */
	for (unsigned i = 0; i < N; i++) {
		cairn_oid o = oid_n(i);
		bool want = i % 3 != 0 && i != 17;
		assert_int_equal(tier_oidtab_has(t, &o, &v), want);
		if (want)
			assert_int_equal(v, i);
	}
	assert_int_equal(tier_oidtab_count(t), N - (N + 2) / 3 - 1);
	/* deleted slots are reusable */
	for (unsigned i = 0; i < N; i += 3) {
		cairn_oid o = oid_n(i);
		assert_int_equal(tier_oidtab_add(t, &o, 1), 0);
	}
	tier_oidtab_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_breaker_needs_enough_attempts),
		cmocka_unit_test(test_breaker_rate),
		cmocka_unit_test(test_breaker_window),
		cmocka_unit_test(test_bucket),
		cmocka_unit_test(test_rate_window),
		cmocka_unit_test(test_access_coalesces),
		cmocka_unit_test(test_oidtab_bounds_and_drain),
		cmocka_unit_test(test_oidtab_set),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
