/* keys.h — the catalog's on-disk layout: column families, keys, values.
 *
 * This is the one place that says what catalogd keeps in RocksDB. Every key
 * and value below is written and read through the helpers at the end of this
 * file; nothing else in catalogd builds a key by hand.
 *
 * Conventions
 *   - Integers in keys are big-endian and fixed width, so that RocksDB's
 *     bytewise order is numeric order: u32 = 4 bytes, u64 = 8 bytes.
 *   - Integers in values are big-endian too, for the same reading habits.
 *   - Every value starts with a format byte (KV_FMT_*). A reader refuses a
 *     format it does not know (CAIRN_ECORRUPT), so an older catalogd never
 *     misreads a record a newer one wrote.
 *   - "JSON" values are KV_FMT_JSON followed by compact UTF-8 JSON text:
 *     used for records that are read one at a time and grow fields
 *     (datasets, versions). Records read in bulk are fixed binary layouts.
 *   - vid: a version's catalog-wide id, allocated from the counters before
 *     any of its entries is written; ino: an entry's number inside its
 *     version (root 0, then 1, 2, ... in manifest order); dsid: a dataset's
 *     id; seq: a version's number inside its dataset (1, 2, ...).
 *
 * Column families
 *   meta          "schema"                -> fmt | u32 schema version
 *                 "counters"              -> fmt | next_vid u64 | next_dsid u64
 *                                            | datasets u64 | versions u64
 *                                            | objects u64 | object_bytes u64
 *                 "staging/" vid(8)       -> fmt | started i64
 *                    A commit in flight. Written durably before its first
 *                    entry; removed in the batch that publishes the version
 *                    or in the one that removes its staged keys. Any marker
 *                    found at startup is a commit cut off by a crash.
 *                 "tier/policy"           -> JSON {overrides: {K: V},
 *                                            rules: [{match, action}]}
 *                    The tiering policy set at run time (tiering/engine.h).
 *                 "tier/counts"           -> fmt | (count u64 | bytes u64)
 *                                            x CAIRN_TIER_NSTATES
 *                    Objects and bytes per tier state, written in the same
 *                    batch as every change of an object's state or record.
 *                 "tier/flight/" oid(16)  -> fmt | state u8
 *                    Objects in an in-flight state (migrating, releasing,
 *                    recalling): written and removed in the batch that
 *                    enters and leaves the state, so that recovery at
 *                    start reads this index instead of every object.
 *                 "tier/pin/" dsid(8) seq(8) -> fmt | time i64
 *                    Pinned versions: their objects are never released.
 *   datasets      name                    -> JSON {id, description, owner,
 *                                            license, meta, tags, created,
 *                                            latest}
 *   dataset_ids   dsid(8)                 -> name (raw bytes, after fmt)
 *   versions      dsid(8) seq(8)          -> JSON {seq, vid, digest, parent,
 *                                            author, message, time,
 *                                            chunk_size, files, dirs,
 *                                            symlinks, bytes, objects,
 *                                            object_bytes, meta, transform,
 *                                            derived_from}
 *   vids          vid(8)                  -> fmt | dsid u64 | seq u64
 *                                            | chunk_size u32 | time i64
 *                    Present only for published versions: the fs endpoints
 *                    check it before reading a version's entries.
 *   digests       dsid(8) digest(16) seq(8) -> fmt
 *                    Digest-prefix resolution of version references.
 *   tags          dsid(8) tag             -> fmt | seq u64
 *   entries       vid(8) parent_ino(4) name -> entry value (below)
 *   inodes        vid(8) ino(4)           -> fmt | parent_ino u32 | path
 *   chunks        vid(8) ino(4) group(4)  -> fmt | oid(16) x n
 *                    Object ids of files with more than KV_INLINE_OIDS
 *                    objects, KV_GROUP_OIDS per key: group g holds ids
 *                    g*KV_GROUP_OIDS ... (the last group may be shorter).
 *   vobjs         vid(8) oid(16)          -> fmt | size u64
 *                    Every distinct object of a version: its object count,
 *                    its tier breakdown, and what tiering walks.
 *   objects       oid(16)                 -> object value (below)
 *   blocks        oid(16)                 -> fmt | log2 u8 | digest u64 x n
 *                    The XXH3-64 digest of each 2^log2-byte block of an
 *                    object larger than one block (lib/oid.h), recorded in
 *                    the batch that makes it DUAL. Derived from the bytes,
 *                    so never stale: kept whatever the object's state
 *                    (whatever removes an object record must remove it).
 *                    Objects without one (copied to S3 before schema 3)
 *                    are fetched and checked whole.
 *   objrefs       oid(16) vid(8)          -> fmt
 *                    The vobjs keys reversed: which versions hold an
 *                    object (tiering's pins and rules). Written with the
 *                    vobjs keys while a commit stages; only versions whose
 *                    vids key exists count.
 *   lineage_up    vid(8) input_vid(8)     -> fmt   (vid was derived from input)
 *   lineage_down  input_vid(8) vid(8)     -> fmt   (the same edge, reversed)
 *   audit         seq(8)                  -> fmt | hash(16) | canonical JSON
 *                    hash = XXH3-128(previous hash | canonical JSON), the
 *                    previous hash of seq 1 being 16 zero bytes. The
 *                    canonical JSON is {action, actor, detail, seq, target,
 *                    time}, keys sorted, compact, ASCII-escaped; it is
 *                    stored verbatim so that verification re-hashes the
 *                    exact bytes.
 *   audit_time    time(8) seq(8)          -> fmt   (audit records by time;
 *                                            record times never decrease)
 *
 * Object value (objects CF), KV_FMT_V2:
 *   fmt | state u8 | size u64 | created i64 | last_access i64
 *   | verified i64 | verify u8 | flags u8 | md5(16) | etag_len u8 | etag
 *   state is enum cairn_tier_state (tiering.h); verified is when cairn
 *   verified the S3 copy (0: none), verify how (enum cairn_verify), flags
 *   bit 0 that md5 (of the bytes sent) is set, etag the server's ETag.
 *   KV_FMT_V1 records (schema 1) are the first 26 bytes: they read as their
 *   state with no S3 facts.
 *
 * Entry value (entries CF), KV_FMT_ENTRY:
 *   fmt | type u8 ('f' 'd' 'l') | mode u32 | ino u32 | size u64
 *   | mtime i64 | mtime_ns u32 | nobjects u64 | tail
 *   tail: symlink -> target bytes; file with nobjects <= KV_INLINE_OIDS ->
 *   its oids (16 bytes each); otherwise empty (ids in the chunks CF).
 */
#ifndef CATALOGD_KEYS_H
#define CATALOGD_KEYS_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Schema changelog (bump CAIRN_SCHEMA_VERSION and say why):
 *   1  2026-11-21  first layout: the column families above.
 *   2  2026-11-21  tiering: object values KV_FMT_V2 with the S3 facts; the
 *                  objrefs CF; meta tier/policy, tier/counts, tier/flight/,
 *                  tier/pin/. Opening a schema 1 catalog migrates it
 *                  (catalog.c): objrefs and counts are built from vobjs and
 *                  objects, then the stamp moves to 2; V1 object values are
 *                  read as they are and rewritten as V2 when next changed.
 *   3  2026-11-21  the blocks CF (block digests for range reads of cold
 *                  objects). A schema 2 catalog is stamped 3 at open:
 *                  nothing to rewrite, its S3 copies are read whole.
 * A catalog stamped with a newer schema is refused at open; an older one
 * is migrated by code keyed on these numbers. */
#define CAIRN_SCHEMA_VERSION 3

/* Value format bytes. */
#define KV_FMT_V1    0x01   /* binary layout, first version */
#define KV_FMT_V2    0x02   /* binary layout, second version (objects) */
#define KV_FMT_JSON  0x4a   /* 'J': JSON text follows */
#define KV_FMT_ENTRY 0x01

/* Files with at most this many objects keep their ids in the entry. */
#define KV_INLINE_OIDS 4
/* Object ids per chunks-CF key. */
#define KV_GROUP_OIDS 1024

enum kv_cf {
	CF_DEFAULT = 0,
	CF_META,
	CF_DATASETS,
	CF_DATASET_IDS,
	CF_VERSIONS,
	CF_VIDS,
	CF_DIGESTS,
	CF_TAGS,
	CF_ENTRIES,
	CF_INODES,
	CF_CHUNKS,
	CF_VOBJS,
	CF_OBJECTS,
	CF_LINEAGE_UP,
	CF_LINEAGE_DOWN,
	CF_AUDIT,
	CF_AUDIT_TIME,
	CF_OBJREFS,
	CF_BLOCKS,
	CF_COUNT
};

static inline const char *kv_cf_name(int cf)
{
	switch (cf) {
	case CF_DEFAULT:      return "default";
	case CF_META:         return "meta";
	case CF_DATASETS:     return "datasets";
	case CF_DATASET_IDS:  return "dataset_ids";
	case CF_VERSIONS:     return "versions";
	case CF_VIDS:         return "vids";
	case CF_DIGESTS:      return "digests";
	case CF_TAGS:         return "tags";
	case CF_ENTRIES:      return "entries";
	case CF_INODES:       return "inodes";
	case CF_CHUNKS:       return "chunks";
	case CF_VOBJS:        return "vobjs";
	case CF_OBJECTS:      return "objects";
	case CF_LINEAGE_UP:   return "lineage_up";
	case CF_LINEAGE_DOWN: return "lineage_down";
	case CF_AUDIT:        return "audit";
	case CF_AUDIT_TIME:   return "audit_time";
	case CF_OBJREFS:      return "objrefs";
	case CF_BLOCKS:       return "blocks";
	}
	return NULL;
}

/* Column families whose keys start with vid(8) and belong to one version's
 * staged manifest: what a failed or interrupted commit removes. */
static inline int kv_cf_is_staged(int cf)
{
	return cf == CF_ENTRIES || cf == CF_INODES || cf == CF_CHUNKS ||
	       cf == CF_VOBJS;
}

/* ---- big-endian integers ---- */

static inline void kv_put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);  p[3] = (uint8_t)v;
}

static inline void kv_put64(uint8_t *p, uint64_t v)
{
	kv_put32(p, (uint32_t)(v >> 32));
	kv_put32(p + 4, (uint32_t)v);
}

static inline uint32_t kv_get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static inline uint64_t kv_get64(const uint8_t *p)
{
	return (uint64_t)kv_get32(p) << 32 | kv_get32(p + 4);
}

/* ---- meta CF ---- */

#define KV_META_SCHEMA   "schema"
#define KV_META_COUNTERS "counters"
#define KV_STAGING       "staging/"
#define KV_STAGING_LEN   8
#define KV_STAGING_KEYLEN (KV_STAGING_LEN + 8)

static inline size_t kv_staging_key(uint8_t *k, uint64_t vid)
{
	memcpy(k, KV_STAGING, KV_STAGING_LEN);
	kv_put64(k + KV_STAGING_LEN, vid);
	return KV_STAGING_KEYLEN;
}

#define KV_COUNTERS_LEN (1 + 6 * 8)

#define KV_TIER_POLICY  "tier/policy"
#define KV_TIER_COUNTS  "tier/counts"
#define KV_TIER_SCRUB   "tier/scrub"    /* kv_put64: start of the last scrub of all */
#define KV_TIER_FLIGHT  "tier/flight/"
#define KV_TIER_FLIGHT_LEN 12
#define KV_TIER_FLIGHT_KEYLEN (KV_TIER_FLIGHT_LEN + 16)
#define KV_TIER_PIN     "tier/pin/"
#define KV_TIER_PIN_LEN 9
#define KV_TIER_PIN_KEYLEN (KV_TIER_PIN_LEN + 16)

static inline size_t kv_tier_flight_key(uint8_t *k, const uint8_t *oid)
{
	memcpy(k, KV_TIER_FLIGHT, KV_TIER_FLIGHT_LEN);
	memcpy(k + KV_TIER_FLIGHT_LEN, oid, 16);
	return KV_TIER_FLIGHT_KEYLEN;
}

static inline size_t kv_tier_pin_key(uint8_t *k, uint64_t dsid, uint64_t seq)
{
	memcpy(k, KV_TIER_PIN, KV_TIER_PIN_LEN);
	kv_put64(k + KV_TIER_PIN_LEN, dsid);
	kv_put64(k + KV_TIER_PIN_LEN + 8, seq);
	return KV_TIER_PIN_KEYLEN;
}

/* ---- fixed-layout keys ---- */

static inline size_t kv_u64_key(uint8_t *k, uint64_t a)
{
	kv_put64(k, a);
	return 8;
}

static inline size_t kv_u64u64_key(uint8_t *k, uint64_t a, uint64_t b)
{
	kv_put64(k, a);
	kv_put64(k + 8, b);
	return 16;
}

/* entries: vid | parent | name. k must hold 12 + namelen bytes. */
static inline size_t kv_entry_key(uint8_t *k, uint64_t vid, uint32_t parent,
                                  const char *name, size_t namelen)
{
	kv_put64(k, vid);
	kv_put32(k + 8, parent);
	memcpy(k + 12, name, namelen);
	return 12 + namelen;
}

/* vid | ino (inodes), and vid | ino | group (chunks). */
static inline size_t kv_ino_key(uint8_t *k, uint64_t vid, uint32_t ino)
{
	kv_put64(k, vid);
	kv_put32(k + 8, ino);
	return 12;
}

static inline size_t kv_chunk_key(uint8_t *k, uint64_t vid, uint32_t ino,
                                  uint32_t group)
{
	kv_ino_key(k, vid, ino);
	kv_put32(k + 12, group);
	return 16;
}

/* vid | oid (vobjs). */
static inline size_t kv_vobj_key(uint8_t *k, uint64_t vid, const uint8_t *oid)
{
	kv_put64(k, vid);
	memcpy(k + 8, oid, 16);
	return 24;
}

/* oid | vid (objrefs). */
static inline size_t kv_objref_key(uint8_t *k, const uint8_t *oid, uint64_t vid)
{
	memcpy(k, oid, 16);
	kv_put64(k + 16, vid);
	return 24;
}

/* dsid | digest | seq (digests). */
static inline size_t kv_digest_key(uint8_t *k, uint64_t dsid,
                                   const uint8_t *digest, uint64_t seq)
{
	kv_put64(k, dsid);
	memcpy(k + 8, digest, 16);
	kv_put64(k + 24, seq);
	return 32;
}

/* dsid | tag (tags). k must hold 8 + taglen bytes. */
static inline size_t kv_tag_key(uint8_t *k, uint64_t dsid, const char *tag,
                                size_t taglen)
{
	kv_put64(k, dsid);
	memcpy(k + 8, tag, taglen);
	return 8 + taglen;
}

/* ---- fixed-layout values ---- */

/* objects CF */
#define KV_OBJECT_V1_LEN (1 + 1 + 8 + 8 + 8)
#define KV_OBJECT_FIXED (KV_OBJECT_V1_LEN + 8 + 1 + 1 + 16 + 1)
#define KV_OBJECT_ETAG_MAX 79
#define KV_OBJECT_MAX (KV_OBJECT_FIXED + KV_OBJECT_ETAG_MAX)
struct kv_object {
	int state;              /* enum cairn_tier_state */
	uint64_t size;
	int64_t created;
	int64_t last_access;
	int64_t verified;       /* S3 copy verified at; 0 = none */
	int verify;             /* enum cairn_verify */
	int has_md5;
	uint8_t md5[16];
	char etag[KV_OBJECT_ETAG_MAX + 1];
};

/* v must hold KV_OBJECT_MAX bytes; returns the length. */
static inline size_t kv_object_enc(uint8_t *v, const struct kv_object *o)
{
	size_t elen = strnlen(o->etag, KV_OBJECT_ETAG_MAX);

	v[0] = KV_FMT_V2;
	v[1] = (uint8_t)o->state;
	kv_put64(v + 2, o->size);
	kv_put64(v + 10, (uint64_t)o->created);
	kv_put64(v + 18, (uint64_t)o->last_access);
	kv_put64(v + 26, (uint64_t)o->verified);
	v[34] = (uint8_t)o->verify;
	v[35] = o->has_md5 ? 1 : 0;
	memcpy(v + 36, o->md5, 16);
	v[52] = (uint8_t)elen;
	memcpy(v + KV_OBJECT_FIXED, o->etag, elen);
	return KV_OBJECT_FIXED + elen;
}

/* 0, or -1 when the value is not a record this schema knows. */
static inline int kv_object_dec(struct kv_object *o, const void *val, size_t len)
{
	const uint8_t *v = val;

	memset(o, 0, sizeof(*o));
	if (len < KV_OBJECT_V1_LEN || (v[0] != KV_FMT_V1 && v[0] != KV_FMT_V2))
		return -1;
	o->state = v[1];
	o->size = kv_get64(v + 2);
	o->created = (int64_t)kv_get64(v + 10);
	o->last_access = (int64_t)kv_get64(v + 18);
	if (v[0] == KV_FMT_V1)
		return 0;
	if (len < KV_OBJECT_FIXED || v[52] > KV_OBJECT_ETAG_MAX ||
	    len != (size_t)KV_OBJECT_FIXED + v[52])
		return -1;
	o->verified = (int64_t)kv_get64(v + 26);
	o->verify = v[34];
	o->has_md5 = v[35] & 1;
	memcpy(o->md5, v + 36, 16);
	memcpy(o->etag, v + KV_OBJECT_FIXED, v[52]);
	o->etag[v[52]] = '\0';
	return 0;
}

/* vids CF */
#define KV_VID_LEN (1 + 8 + 8 + 4 + 8)
struct kv_vid {
	uint64_t dsid;
	uint64_t seq;
	uint32_t chunk_size;
	int64_t time;
};

static inline size_t kv_vid_enc(uint8_t *v, const struct kv_vid *r)
{
	v[0] = KV_FMT_V1;
	kv_put64(v + 1, r->dsid);
	kv_put64(v + 9, r->seq);
	kv_put32(v + 17, r->chunk_size);
	kv_put64(v + 21, (uint64_t)r->time);
	return KV_VID_LEN;
}

static inline int kv_vid_dec(struct kv_vid *r, const void *val, size_t len)
{
	const uint8_t *v = val;
	if (len < KV_VID_LEN || v[0] != KV_FMT_V1)
		return -1;
	r->dsid = kv_get64(v + 1);
	r->seq = kv_get64(v + 9);
	r->chunk_size = kv_get32(v + 17);
	r->time = (int64_t)kv_get64(v + 21);
	return 0;
}

/* entries CF */
#define KV_ENTRY_FIXED (1 + 1 + 4 + 4 + 8 + 8 + 4 + 8)
struct kv_entry {
	char type;              /* 'f' 'd' 'l' */
	uint32_t mode;
	uint32_t ino;
	uint64_t size;
	int64_t mtime;
	uint32_t mtime_ns;
	uint64_t nobjects;
	const char *target;     /* symlinks: not NUL-terminated, target_len bytes */
	size_t target_len;
	const uint8_t *oids;    /* files with inline ids: nobjects x 16 bytes */
};

/* Encodes the fixed part; the caller appends the tail. */
static inline size_t kv_entry_enc(uint8_t *v, const struct kv_entry *e)
{
	v[0] = KV_FMT_ENTRY;
	v[1] = (uint8_t)e->type;
	kv_put32(v + 2, e->mode);
	kv_put32(v + 6, e->ino);
	kv_put64(v + 10, e->size);
	kv_put64(v + 18, (uint64_t)e->mtime);
	kv_put32(v + 26, e->mtime_ns);
	kv_put64(v + 30, e->nobjects);
	return KV_ENTRY_FIXED;
}

/* Points target/oids into val, which must outlive e. */
static inline int kv_entry_dec(struct kv_entry *e, const void *val, size_t len)
{
	const uint8_t *v = val;
	if (len < KV_ENTRY_FIXED || v[0] != KV_FMT_ENTRY)
		return -1;
	e->type = (char)v[1];
	e->mode = kv_get32(v + 2);
	e->ino = kv_get32(v + 6);
	e->size = kv_get64(v + 10);
	e->mtime = (int64_t)kv_get64(v + 18);
	e->mtime_ns = kv_get32(v + 26);
	e->nobjects = kv_get64(v + 30);
	e->target = NULL;
	e->target_len = 0;
	e->oids = NULL;
	if (e->type == 'l') {
		e->target = (const char *)v + KV_ENTRY_FIXED;
		e->target_len = len - KV_ENTRY_FIXED;
	} else if (e->type == 'f' && e->nobjects <= KV_INLINE_OIDS) {
		if (len != KV_ENTRY_FIXED + 16 * e->nobjects)
			return -1;
		e->oids = v + KV_ENTRY_FIXED;
	} else if (e->type != 'f' && e->type != 'd') {
		return -1;
	}
	return 0;
}

#endif
