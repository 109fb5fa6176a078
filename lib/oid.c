/* oid.c — object ids and streaming digests; the only file that speaks to
 * xxHash.
 *
 * An id is XXH3-128 in XXH128's canonical (big-endian) byte order, so the
 * hex form matches what `xxhsum -H2` prints for the same bytes and ids sort
 * the same way as bytes and as text.
 */
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>
#if defined(__x86_64__) || defined(__i386__)
/* The same digests, computed with the widest vector unit this CPU has
 * (AVX2 where there is one: about twice SSE2's speed), chosen at run time
 * by libxxhash itself. */
#include <xxh_x86dispatch.h>
#endif

#include "error.h"
#include "oid.h"

struct cairn_hasher {
	XXH3_state_t *st;
};

static void canonical(cairn_oid *out, XXH128_hash_t h)
{
	XXH128_canonical_t c;

	_Static_assert(sizeof(c.digest) == CAIRN_OID_LEN, "oid is 16 bytes");
	XXH128_canonicalFromHash(&c, h);
	memcpy(out->b, c.digest, CAIRN_OID_LEN);
}

void cairn_oid_hash(cairn_oid *out, const void *data, size_t len)
{
	canonical(out, XXH3_128bits(data, len));
}

uint64_t cairn_block_count(uint64_t size, unsigned log2)
{
	return (size >> log2) + ((size & ((UINT64_C(1) << log2) - 1)) != 0);
}

void cairn_block_digests(uint64_t *out, const void *data, size_t len, unsigned log2)
{
	const uint8_t *p = data;
	size_t bs = (size_t)1 << log2;

	for (size_t off = 0; off < len; off += bs)
		*out++ = XXH3_64bits(p + off, len - off < bs ? len - off : bs);
}

int64_t cairn_block_mismatch(const void *data, size_t len, unsigned log2,
                             const uint64_t *digests)
{
	const uint8_t *p = data;
	size_t bs = (size_t)1 << log2;

	for (size_t i = 0; i * bs < len; i++)
		if (XXH3_64bits(p + i * bs, len - i * bs < bs ? len - i * bs : bs) != digests[i])
			return (int64_t)i;
	return -1;
}

char *cairn_oid_fmt(char *out, const cairn_oid *oid)
{
	static const char hex[] = "0123456789abcdef";

	for (int i = 0; i < CAIRN_OID_LEN; i++) {
		out[2 * i] = hex[oid->b[i] >> 4];
		out[2 * i + 1] = hex[oid->b[i] & 0xf];
	}
	out[CAIRN_OID_HEXLEN] = '\0';
	return out;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int cairn_oid_parse(cairn_oid *out, const char *hex)
{
	cairn_oid tmp;

	if (!hex)
		return cairn_error_set(CAIRN_EINVAL, "missing object id");
	for (int i = 0; i < CAIRN_OID_LEN; i++) {
		int hi, lo;

		/* hexval('\0') is -1, so a short string stops here before
		 * reading past its end. */
		hi = hexval(hex[2 * i]);
		lo = hi < 0 ? -1 : hexval(hex[2 * i + 1]);
		if (hi < 0 || lo < 0)
			goto bad;
		tmp.b[i] = (uint8_t)(hi << 4 | lo);
	}
	if (hex[CAIRN_OID_HEXLEN] != '\0')
		goto bad;
	*out = tmp;
	return 0;
bad:
	return cairn_error_set(CAIRN_EINVAL,
	                       "bad object id '%.40s%s': want 32 hex digits", hex,
	                       strnlen(hex, 41) > 40 ? "..." : "");
}

int cairn_oid_cmp(const cairn_oid *a, const cairn_oid *b)
{
	return memcmp(a->b, b->b, CAIRN_OID_LEN);
}

int cairn_hasher_new(cairn_hasher **out)
{
	cairn_hasher *h;

	h = malloc(sizeof(*h));
	if (!h)
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	h->st = XXH3_createState();
	if (!h->st) {
		free(h);
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	}
	XXH3_128bits_reset(h->st);
	*out = h;
	return 0;
}

void cairn_hasher_reset(cairn_hasher *h)
{
	XXH3_128bits_reset(h->st);
}

void cairn_hasher_update(cairn_hasher *h, const void *data, size_t len)
{
	/* XXH3 accepts (NULL, 0); guard anyway so callers may pass an empty
	 * buffer without a pointer. */
	if (len)
		XXH3_128bits_update(h->st, data, len);
}

void cairn_hasher_digest(cairn_hasher *h, cairn_oid *out)
{
	canonical(out, XXH3_128bits_digest(h->st));
}

void cairn_hasher_free(cairn_hasher *h)
{
	if (!h)
		return;
	XXH3_freeState(h->st);
	free(h);
}
