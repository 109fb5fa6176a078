/* test_oid — object ids against XXH3-128 values computed outside cairn
 * (`xxhsum -H2` on files holding the same bytes), hex round trips, and the
 * streaming hasher agreeing with the one-shot digest however it is fed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "error.h"
#include "oid.h"

/* Deterministic contents, also produced by the generator that fed xxhsum:
 *   v240: byte i = (i*7 + 3) mod 256, 240 bytes
 *   v1m:  byte i = (i*131 + i/256) mod 256, 1 MiB + 17 bytes */
static uint8_t *pattern_v240(size_t *len)
{
	uint8_t *b = malloc(240);

	for (size_t i = 0; i < 240; i++)
		b[i] = (uint8_t)((i * 7 + 3) % 256);
	*len = 240;
	return b;
}

static uint8_t *pattern_v1m(size_t *len)
{
	size_t n = 1048576 + 17;
	uint8_t *b = malloc(n);

	for (size_t i = 0; i < n; i++)
		b[i] = (uint8_t)((i * 131 + i / 256) % 256);
	*len = n;
	return b;
}

static void expect_hex(const void *data, size_t len, const char *want)
{
	char hex[CAIRN_OID_HEXLEN + 1];
	cairn_oid oid;

	cairn_oid_hash(&oid, data, len);
	assert_string_equal(cairn_oid_fmt(hex, &oid), want);
}

static void test_known_vectors(void **state)
{
	size_t len;
	uint8_t *b;

	expect_hex("", 0, "99aa06d3014798d86001c324468d497f");
	expect_hex("abc", 3, "06b05ab6733a618578af5f94892f3950");
	expect_hex("The quick brown fox jumps over the lazy dog", 43,
	           "ddd650205ca3e7fa24a1cc2e3a8a7651");
	b = pattern_v240(&len);
	expect_hex(b, len, "ad46c1021b076bc704e0b5f034bee80b");
	free(b);
	b = pattern_v1m(&len);
	expect_hex(b, len, "70e7d03ab639ccce6d53143e33a8a441");
	free(b);
}

static void test_binary_is_big_endian_canonical(void **state)
{
	cairn_oid oid;

	cairn_oid_hash(&oid, "abc", 3);
	assert_int_equal(oid.b[0], 0x06);
	assert_int_equal(oid.b[1], 0xb0);
	assert_int_equal(oid.b[15], 0x50);
}

static void test_hasher_matches_one_shot_in_any_pieces(void **state)
{
	static const size_t steps[] = { 1, 7, 64, 4096, 65536, 1000003 };
	cairn_hasher *h = NULL;
	cairn_oid one, streamed;
	size_t len;
	uint8_t *b = pattern_v1m(&len);

	assert_int_equal(cairn_hasher_new(&h), 0);
	cairn_oid_hash(&one, b, len);
	for (size_t s = 0; s < sizeof(steps) / sizeof(steps[0]); s++) {
		cairn_hasher_reset(h);
		for (size_t off = 0; off < len; off += steps[s]) {
			size_t n = len - off < steps[s] ? len - off : steps[s];

			cairn_hasher_update(h, b + off, n);
		}
		cairn_hasher_digest(h, &streamed);
		assert_memory_equal(one.b, streamed.b, CAIRN_OID_LEN);
	}
	/* reset really starts over; empty updates change nothing */
	cairn_hasher_reset(h);
	cairn_hasher_update(h, NULL, 0);
	cairn_hasher_update(h, "abc", 3);
	cairn_hasher_digest(h, &streamed);
	cairn_oid_hash(&one, "abc", 3);
	assert_memory_equal(one.b, streamed.b, CAIRN_OID_LEN);
	cairn_hasher_free(h);
	cairn_hasher_free(NULL);
	free(b);
}

/* Block digests: XXH3-64 per 64 KiB (`xxhsum -H3` of the block's bytes
 * cut out of v1m; the pattern repeats every 64 KiB, so every full block
 * has the same digest), the last block short; one damaged byte changes
 * its block's digest and no other. */
static void test_block_digests(void **state)
{
	size_t len;
	uint8_t *b = pattern_v1m(&len);
	uint64_t d[17], d2[17];

	(void)state;
	assert_int_equal(cairn_block_count(len, CAIRN_BLOCK_LOG2), 17);
	assert_int_equal(cairn_block_count(1 << 20, CAIRN_BLOCK_LOG2), 16);
	assert_int_equal(cairn_block_count(0, CAIRN_BLOCK_LOG2), 0);
	assert_int_equal(cairn_block_count(1, CAIRN_BLOCK_LOG2), 1);
	cairn_block_digests(d, b, len, CAIRN_BLOCK_LOG2);
	assert_true(d[0] == UINT64_C(0x513812aaf46c6769));
	assert_true(d[15] == UINT64_C(0x513812aaf46c6769));
	assert_true(d[16] == UINT64_C(0x57c52d21ce492c1e));
	assert_int_equal(cairn_block_mismatch(b, len, CAIRN_BLOCK_LOG2, d), -1);
	assert_int_equal(cairn_block_mismatch(b + 16 * CAIRN_BLOCK_SIZE, 17, CAIRN_BLOCK_LOG2,
	                                      &d[16]), -1);
	b[5 * CAIRN_BLOCK_SIZE + 1234] ^= 1;
	assert_int_equal(cairn_block_mismatch(b, len, CAIRN_BLOCK_LOG2, d), 5);
	cairn_block_digests(d2, b, len, CAIRN_BLOCK_LOG2);
	for (int i = 0; i < 17; i++) {
		if (i == 5)
			assert_true(d2[i] != d[i]);
		else
			assert_true(d2[i] == d[i]);
	}
	free(b);
}

static void test_parse_and_format(void **state)
{
	char hex[CAIRN_OID_HEXLEN + 1];
	cairn_oid a, b;

	assert_int_equal(cairn_oid_parse(&a, "06b05ab6733a618578af5f94892f3950"), 0);
	cairn_oid_hash(&b, "abc", 3);
	assert_memory_equal(a.b, b.b, CAIRN_OID_LEN);
	/* upper case is accepted, lower case is printed */
	assert_int_equal(cairn_oid_parse(&a, "06B05AB6733A618578AF5F94892F3950"), 0);
	assert_string_equal(cairn_oid_fmt(hex, &a), "06b05ab6733a618578af5f94892f3950");
	assert_int_equal(cairn_oid_cmp(&a, &b), 0);
}

static void test_parse_rejects(void **state)
{
	static const char *const bad[] = {
		"",
		"06b05ab6733a618578af5f94892f395",     /* 31 digits */
		"06b05ab6733a618578af5f94892f39500",   /* 33 digits */
		"06b05ab6733a618578af5f94892f395g",    /* not hex */
		"06b05ab6733a618578af5f94892f395 ",
		" 6b05ab6733a618578af5f94892f3950",
		"0x6b05ab6733a618578af5f94892f395",
	};
	cairn_oid o, keep;

	memset(&keep, 0xab, sizeof(keep));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		o = keep;
		assert_int_equal(cairn_oid_parse(&o, bad[i]), CAIRN_EINVAL);
		assert_int_equal(cairn_error_code(), CAIRN_EINVAL);
		assert_non_null(strstr(cairn_error_msg(), "32 hex"));
		/* a failed parse leaves the output alone */
		assert_memory_equal(o.b, keep.b, CAIRN_OID_LEN);
	}
	assert_int_equal(cairn_oid_parse(&o, NULL), CAIRN_EINVAL);
}

static void test_cmp_orders_bytes(void **state)
{
	cairn_oid a, b;

	assert_int_equal(cairn_oid_parse(&a, "00000000000000000000000000000001"), 0);
	assert_int_equal(cairn_oid_parse(&b, "10000000000000000000000000000000"), 0);
	assert_true(cairn_oid_cmp(&a, &b) < 0);
	assert_true(cairn_oid_cmp(&b, &a) > 0);
	assert_int_equal(cairn_oid_cmp(&a, &a), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_known_vectors),
		cmocka_unit_test(test_binary_is_big_endian_canonical),
		cmocka_unit_test(test_hasher_matches_one_shot_in_any_pieces),
		cmocka_unit_test(test_block_digests),
		cmocka_unit_test(test_parse_and_format),
		cmocka_unit_test(test_parse_rejects),
		cmocka_unit_test(test_cmp_orders_bytes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
