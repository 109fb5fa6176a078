/* blockwire.h — the body of GET /v1/objects/{id}/blocks (docs/API.md):
 * catalogd writes it, cairnfs reads it, both through here.
 *
 *   "CBK1" | log2 u8 | 3 zero bytes | first u32 | n u32 | n × digest u64 | bytes
 *
 * Integers are big-endian. The digests are the XXH3-64 of blocks first ..
 * first + n - 1 (oid.h); the bytes run from `first << log2` to the end of
 * the last block or of the object. The digit in the magic is the format's
 * version: a change of layout is "CBK2", not a new meaning for these bytes.
 */
#ifndef CAIRN_BLOCKWIRE_H
#define CAIRN_BLOCKWIRE_H

#include <stddef.h>
#include <stdint.h>

#define CAIRN_BLOCKWIRE_MAGIC "CBK1"
#define CAIRN_BLOCKWIRE_HDR 16
/* Block sizes a body may carry: 512 bytes to 1 GiB. */
#define CAIRN_BLOCKWIRE_LOG2_MIN 9
#define CAIRN_BLOCKWIRE_LOG2_MAX 30

/* Bytes of the header and n digests: where the blocks' bytes start. */
static inline size_t cairn_blockwire_head_len(uint64_t n)
{
	return CAIRN_BLOCKWIRE_HDR + 8 * (size_t)n;
}

/* Writes the header and digests[0..n) to out, which holds
 * cairn_blockwire_head_len(n) bytes; returns that length. The caller puts
 * the blocks' bytes after it. */
size_t cairn_blockwire_put(uint8_t *out, unsigned log2, uint32_t first, uint32_t n,
                           const uint64_t *digests);

/* A parsed body; the pointers are into the buffer it was parsed from. */
struct cairn_blockwire {
	unsigned log2;
	uint64_t first, n;
	const uint8_t *digests;     /* n big-endian u64: cairn_blockwire_digests() */
	const uint8_t *data;        /* the blocks' bytes, data_len of them */
	size_t data_len;
};

/* Checks the header of buf[0..len): the magic, a block size in range,
 * n >= 1 and room for the n digests; CAIRN_ECORRUPT otherwise. Whether the
 * bytes are the ones asked for (their length, the range they cover) is the
 * caller's to check: only it knows the object's size and the range. */
int cairn_blockwire_parse(struct cairn_blockwire *out, const void *buf, size_t len);
/* The n digests of a parsed body, decoded into out. */
void cairn_blockwire_digests(uint64_t *out, const struct cairn_blockwire *w);

#endif
