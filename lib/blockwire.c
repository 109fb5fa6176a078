/* blockwire.c — the "CBK1" body of the blocks endpoint (blockwire.h).
 *
 * The 3 bytes after log2 are written as zero but not checked on reading,
 * as cairnfs never checked them: they are room for a later flag that old
 * readers may skip, without a new magic.
 */
#include <string.h>

#include "blockwire.h"
#include "error.h"

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

size_t cairn_blockwire_put(uint8_t *out, unsigned log2, uint32_t first, uint32_t n,
                           const uint64_t *digests)
{
	memcpy(out, CAIRN_BLOCKWIRE_MAGIC, 4);
	out[4] = (uint8_t)log2;
	out[5] = out[6] = out[7] = 0;
	put32(out + 8, first);
	put32(out + 12, n);
	for (uint32_t i = 0; i < n; i++) {
		put32(out + CAIRN_BLOCKWIRE_HDR + 8 * (size_t)i, (uint32_t)(digests[i] >> 32));
		put32(out + CAIRN_BLOCKWIRE_HDR + 8 * (size_t)i + 4, (uint32_t)digests[i]);
	}
	return cairn_blockwire_head_len(n);
}

int cairn_blockwire_parse(struct cairn_blockwire *out, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	unsigned log2;
	uint64_t n;

	if (len < CAIRN_BLOCKWIRE_HDR || memcmp(p, CAIRN_BLOCKWIRE_MAGIC, 4) != 0)
		return cairn_error_set(CAIRN_ECORRUPT, "not a %s blocks body",
		                       CAIRN_BLOCKWIRE_MAGIC);
	log2 = p[4];
	n = get32(p + 12);
	if (log2 < CAIRN_BLOCKWIRE_LOG2_MIN || log2 > CAIRN_BLOCKWIRE_LOG2_MAX)
		return cairn_error_set(CAIRN_ECORRUPT, "blocks body with a block size of "
		                       "2^%u bytes", log2);
	if (n == 0)
		return cairn_error_set(CAIRN_ECORRUPT, "blocks body with no blocks");
	/* n fits in 32 bits, so the sum cannot wrap a 64-bit length. */
	if ((uint64_t)len < CAIRN_BLOCKWIRE_HDR + 8 * n)
		return cairn_error_set(CAIRN_ECORRUPT, "blocks body of %zu bytes cannot hold "
		                       "%llu digests", len, (unsigned long long)n);
	out->log2 = log2;
	out->first = get32(p + 8);
	out->n = n;
	out->digests = p + CAIRN_BLOCKWIRE_HDR;
	out->data = p + cairn_blockwire_head_len(n);
	out->data_len = len - cairn_blockwire_head_len(n);
	return 0;
}

void cairn_blockwire_digests(uint64_t *out, const struct cairn_blockwire *w)
{
	for (uint64_t i = 0; i < w->n; i++)
		out[i] = (uint64_t)get32(w->digests + 8 * i) << 32 | get32(w->digests + 8 * i + 4);
}
