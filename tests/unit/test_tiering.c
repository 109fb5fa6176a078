/* test_tiering.c — the object life cycle's states and legal transitions. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "error.h"
#include "tiering.h"

static void test_names_round_trip(void **state)
{
	(void)state;
	for (int s = 0; s < CAIRN_TIER_NSTATES; s++) {
		int back = -1;
		assert_non_null(cairn_tier_state_name(s));
		assert_int_equal(cairn_tier_state_parse(cairn_tier_state_name(s), &back), 0);
		assert_int_equal(back, s);
	}
	int out;
	assert_int_equal(cairn_tier_state_parse("lukewarm", &out), CAIRN_EINVAL);
	assert_null(cairn_tier_state_name(CAIRN_TIER_NSTATES));
	assert_null(cairn_tier_state_name(-1));
}

/* Invariant (1): the pool copy goes only from a state with a verified S3
 * copy. No path from HOT or MIGRATING reaches COLD in one step. */
static void test_no_release_without_s3_copy(void **state)
{
	(void)state;
	assert_false(cairn_tier_transition_ok(CAIRN_TIER_HOT, CAIRN_TIER_COLD));
	assert_false(cairn_tier_transition_ok(CAIRN_TIER_HOT, CAIRN_TIER_RELEASING));
	assert_false(cairn_tier_transition_ok(CAIRN_TIER_MIGRATING, CAIRN_TIER_COLD));
	assert_false(cairn_tier_transition_ok(CAIRN_TIER_MIGRATING, CAIRN_TIER_RELEASING));
	assert_true(cairn_tier_transition_ok(CAIRN_TIER_DUAL, CAIRN_TIER_RELEASING));
	assert_true(cairn_tier_transition_ok(CAIRN_TIER_RELEASING, CAIRN_TIER_COLD));
	/* every state that may lose its pool copy next must already be in S3 */
	for (int from = 0; from < CAIRN_TIER_NSTATES; from++)
		for (int to = 0; to < CAIRN_TIER_NSTATES; to++)
			if (cairn_tier_transition_ok(from, to) && cairn_tier_in_pool(from) &&
			    !cairn_tier_in_pool(to))
				assert_true(cairn_tier_in_s3(from));
}

static void test_life_cycle_path(void **state)
{
	(void)state;
	static const int path[] = { CAIRN_TIER_HOT, CAIRN_TIER_MIGRATING, CAIRN_TIER_DUAL,
	                            CAIRN_TIER_RELEASING, CAIRN_TIER_COLD,
	                            CAIRN_TIER_RECALLING, CAIRN_TIER_DUAL };
	for (size_t i = 0; i + 1 < sizeof(path) / sizeof(path[0]); i++)
		assert_true(cairn_tier_transition_ok(path[i], path[i + 1]));
	assert_false(cairn_tier_transition_ok(CAIRN_TIER_COLD, CAIRN_TIER_HOT));
	assert_false(cairn_tier_transition_ok(CAIRN_TIER_COLD, CAIRN_TIER_COLD));
	assert_false(cairn_tier_transition_ok(-1, CAIRN_TIER_HOT));
	assert_false(cairn_tier_transition_ok(CAIRN_TIER_HOT, CAIRN_TIER_NSTATES));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names_round_trip),
		cmocka_unit_test(test_no_release_without_s3_copy),
		cmocka_unit_test(test_life_cycle_path),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
