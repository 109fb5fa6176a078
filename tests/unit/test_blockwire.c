/* test_blockwire — the "CBK1" body of the blocks endpoint: the bytes
 * docs/API.md describes, what the writer puts the parser gets back, and
 * every short or wrong header is CAIRN_ECORRUPT, never a read past the
 * buffer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "blockwire.h"
#include "error.h"
#include "oid.h"

/* A body for blocks [first, first + n) of 2^log2 bytes, the last one
 * last_len bytes long; *len gets its size. The bytes are a pattern, the
 * digests their real ones. */
static uint8_t *body(size_t *len, unsigned log2, uint32_t first, uint32_t n,
                     size_t last_len)
{
	size_t dlen = ((size_t)(n - 1) << log2) + last_len;
	uint64_t *d = malloc(n * sizeof(*d));
	uint8_t *b = malloc(cairn_blockwire_head_len(n) + dlen), *data;

	assert_non_null(d);
	assert_non_null(b);
	data = b + cairn_blockwire_head_len(n);
	for (size_t i = 0; i < dlen; i++)
		data[i] = (uint8_t)(i * 31 + i / 7);
	cairn_block_digests(d, data, dlen, log2);
	assert_int_equal(cairn_blockwire_put(b, log2, first, n, d), cairn_blockwire_head_len(n));
	free(d);
	*len = cairn_blockwire_head_len(n) + dlen;
	return b;
}

static void test_layout(void **state)
{
	static const uint8_t want[] = {
		'C', 'B', 'K', '1', 16, 0, 0, 0,
		0x12, 0x34, 0x56, 0x78, 0, 0, 0, 2,
		0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,
		0xf0, 0xe0, 0xd0, 0xc0, 0xb0, 0xa0, 0x90, 0x80,
	};
	const uint64_t d[] = { UINT64_C(0x0102030405060708), UINT64_C(0xf0e0d0c0b0a09080) };
	uint8_t out[sizeof(want) + 1];

	(void)state;
	memset(out, 0xee, sizeof(out));
	assert_int_equal(cairn_blockwire_put(out, 16, 0x12345678, 2, d), sizeof(want));
	assert_memory_equal(out, want, sizeof(want));
	/* nothing written past the digests */
	assert_int_equal(out[sizeof(want)], 0xee);
}

static void test_round_trip(void **state)
{
	struct cairn_blockwire w;
	uint64_t d[5], again[5];
	size_t len;
	uint8_t *b = body(&len, CAIRN_BLOCK_LOG2, 7, 5, 1000);

	(void)state;
	assert_int_equal(cairn_blockwire_parse(&w, b, len), 0);
	assert_int_equal(w.log2, CAIRN_BLOCK_LOG2);
	assert_int_equal(w.first, 7);
	assert_int_equal(w.n, 5);
	assert_ptr_equal(w.digests, b + CAIRN_BLOCKWIRE_HDR);
	assert_ptr_equal(w.data, b + cairn_blockwire_head_len(5));
	assert_int_equal(w.data_len, 4 * CAIRN_BLOCK_SIZE + 1000);
	cairn_blockwire_digests(d, &w);
	cairn_block_digests(again, w.data, w.data_len, w.log2);
	assert_memory_equal(d, again, sizeof(d));
	assert_int_equal(cairn_block_mismatch(w.data, w.data_len, w.log2, d), -1);
	free(b);

	/* the smallest block size with first at its widest; 1 MiB blocks, and
	 * the largest size, which only the header states */
	b = body(&len, CAIRN_BLOCKWIRE_LOG2_MIN, UINT32_MAX, 1, 1);
	assert_int_equal(cairn_blockwire_parse(&w, b, len), 0);
	assert_int_equal(w.log2, CAIRN_BLOCKWIRE_LOG2_MIN);
	assert_true(w.first == UINT32_MAX);
	assert_int_equal(w.data_len, 1);
	free(b);
	b = body(&len, CAIRN_BLOCKWIRE_LOG2_MAX - 10, 0, 2, 3);
	assert_int_equal(cairn_blockwire_parse(&w, b, len), 0);
	assert_int_equal(w.log2, CAIRN_BLOCKWIRE_LOG2_MAX - 10);
	assert_int_equal(w.data_len, (1u << 20) + 3);
	b[4] = CAIRN_BLOCKWIRE_LOG2_MAX;
	assert_int_equal(cairn_blockwire_parse(&w, b, len), 0);
	assert_int_equal(w.log2, CAIRN_BLOCKWIRE_LOG2_MAX);
	free(b);
}

/* Only the header and the digests are the parser's to check: a body with
 * no bytes after its digests parses, and the caller finds the bytes
 * missing. */
static void test_no_data_is_the_callers(void **state)
{
	struct cairn_blockwire w;
	size_t len;
	uint8_t *b = body(&len, CAIRN_BLOCK_LOG2, 0, 3, 10);

	(void)state;
	assert_int_equal(cairn_blockwire_parse(&w, b, cairn_blockwire_head_len(3)), 0);
	assert_int_equal(w.data_len, 0);
	free(b);
}

static void expect_corrupt(const uint8_t *b, size_t len)
{
	struct cairn_blockwire w, keep;

	memset(&keep, 0x5a, sizeof(keep));
	memcpy(&w, &keep, sizeof(w));
	cairn_error_clear();
	assert_int_equal(cairn_blockwire_parse(&w, b, len), CAIRN_ECORRUPT);
	assert_int_equal(cairn_error_code(), CAIRN_ECORRUPT);
	assert_true(cairn_error_msg()[0] != '\0');
	/* a failed parse leaves the output alone */
	assert_memory_equal(&w, &keep, sizeof(w));
}

static void test_rejects(void **state)
{
	struct cairn_blockwire w;
	size_t len;
	uint8_t *b = body(&len, CAIRN_BLOCK_LOG2, 2, 3, CAIRN_BLOCK_SIZE);
	uint8_t save;

	(void)state;
	/* wrong magic, or another version of it */
	for (int i = 0; i < 4; i++) {
		save = b[i];
		b[i] = 'x';
		expect_corrupt(b, len);
		b[i] = save;
	}
	b[3] = '2';
	expect_corrupt(b, len);
	b[3] = '1';
	/* a header cut short, down to nothing */
	for (size_t n = 0; n < CAIRN_BLOCKWIRE_HDR; n++)
		expect_corrupt(b, n);
	/* block sizes out of range */
	b[4] = CAIRN_BLOCKWIRE_LOG2_MIN - 1;
	expect_corrupt(b, len);
	b[4] = CAIRN_BLOCKWIRE_LOG2_MAX + 1;
	expect_corrupt(b, len);
	b[4] = 255;
	expect_corrupt(b, len);
	b[4] = CAIRN_BLOCK_LOG2;
	/* n == 0 */
	save = b[15];
	b[15] = 0;
	expect_corrupt(b, len);
	b[15] = save;
	/* fewer bytes than the digests n claims: one short, or only a header */
	expect_corrupt(b, cairn_blockwire_head_len(3) - 1);
	expect_corrupt(b, CAIRN_BLOCKWIRE_HDR);
	/* an n the whole body could not hold, up to 2^32 - 1 (no wrap) */
	b[12] = 0x01;
	expect_corrupt(b, len);
	b[12] = b[13] = b[14] = b[15] = 0xff;
	expect_corrupt(b, len);
	b[12] = b[13] = b[14] = 0;
	b[15] = save;
	/* and the intact body still parses */
	assert_int_equal(cairn_blockwire_parse(&w, b, len), 0);
	free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_layout),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_no_data_is_the_callers),
		cmocka_unit_test(test_rejects),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
