/* oid.h — object ids: the XXH3-128 digest of an object's bytes.
 *
 * Binary form is XXH128's canonical (big-endian) 16 bytes; the text form is
 * its 32 lower-case hex digits. The pool stores an object at ab/cd/<hex>,
 * S3 at objects/ab/<hex>. This is the only file that speaks to xxHash.
 */
#ifndef CAIRN_OID_H
#define CAIRN_OID_H

#include <stddef.h>
#include <stdint.h>

#define CAIRN_OID_LEN    16
#define CAIRN_OID_HEXLEN 32

typedef struct cairn_oid {
	uint8_t b[CAIRN_OID_LEN];
} cairn_oid;

void cairn_oid_hash(cairn_oid *out, const void *data, size_t len);
/* out must hold CAIRN_OID_HEXLEN + 1 bytes; returns out. */
char *cairn_oid_fmt(char *out, const cairn_oid *oid);
/* Exactly 32 hex digits (either case) → oid; CAIRN_EINVAL otherwise. */
int cairn_oid_parse(cairn_oid *out, const char *hex);
int cairn_oid_cmp(const cairn_oid *a, const cairn_oid *b);

/* Block digests. An object larger than one block also has an XXH3-64
 * digest of each CAIRN_BLOCK_SIZE bytes (the last block may be short),
 * recorded when it is copied to S3: a range of a cold object can then be
 * fetched and checked without the rest of it. Like the id, a pure function
 * of the bytes. */
#define CAIRN_BLOCK_LOG2 16
#define CAIRN_BLOCK_SIZE (1u << CAIRN_BLOCK_LOG2)

/* Blocks of 2^log2 bytes in size bytes (the last one may be short). */
uint64_t cairn_block_count(uint64_t size, unsigned log2);
/* The digest of every block of data[0..len) into out (cairn_block_count
 * entries). */
void cairn_block_digests(uint64_t *out, const void *data, size_t len, unsigned log2);
/* The index of the first block of data[0..len) whose digest is not
 * digests[i], or -1 when every block matches. */
int64_t cairn_block_mismatch(const void *data, size_t len, unsigned log2,
                             const uint64_t *digests);

/* Streaming digest, for objects that arrive in pieces and for manifests.
 * One hasher per thread of use; _free(NULL) is a no-op. */
typedef struct cairn_hasher cairn_hasher;
int cairn_hasher_new(cairn_hasher **out);
void cairn_hasher_reset(cairn_hasher *h);
void cairn_hasher_update(cairn_hasher *h, const void *data, size_t len);
void cairn_hasher_digest(cairn_hasher *h, cairn_oid *out);
void cairn_hasher_free(cairn_hasher *h);

#endif
