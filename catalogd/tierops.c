/* tierops.c — struct tier_catalog_ops over the catalog (see tierops.h).
 *
 * Why object state changes are not catalog_publish() changes: the catalog's
 * content (datasets, versions, what bytes a file has) does not change when
 * an object moves between the pool and S3, and an audit record per object
 * move would grow the chain by millions of records a day. Moves are logged
 * and counted (tier status) instead; the admin actions that cause them
 * (policy, rules, pins, recalls) are audited.
 *
 * Why one lock (objlock) for every object record write: a transition is a
 * read-compare-write, and so are access-time updates; the per-state counts
 * kept in meta must be written in the same order as the records they
 * count. Synced commits under it serialize, which costs one WAL sync per
 * state change — a few hundred per second, more than S3 moves objects.
 */
#include "tierops.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "log.h"
#include "manifest.h"
#include "util.h"

#define MOD "catalogd/tier"

#define VERSIONS_PER_OBJECT_MAX 4096    /* versions visited for one object */
#define TAGS_PER_VERSION_MAX 64
#define TAG_SCAN_MAX 10000
#define UPGRADE_BATCH_KEYS 10000
#define PINS_LIST_MAX 10000

static bool in_flight_state(int s)
{
	return s == CAIRN_TIER_MIGRATING || s == CAIRN_TIER_RELEASING ||
	       s == CAIRN_TIER_RECALLING;
}

static void to_tier_object(struct tier_object *t, const cairn_oid *oid,
                           const struct kv_object *o)
{
	memset(t, 0, sizeof(*t));
	t->oid = *oid;
	t->state = o->state;
	t->size = o->size;
	t->created = o->created;
	t->last_access = o->last_access;
	t->s3.verified = o->verified;
	t->s3.verify = o->verify;
	t->s3.has_md5 = o->has_md5;
	memcpy(t->s3.md5, o->md5, 16);
	snprintf(t->s3.etag, sizeof(t->s3.etag), "%s", o->etag);
}

/* ---- counts ---- */

void tierops_counts_put(struct db_batch *b, const struct obj_counts *n)
{
	uint8_t v[1 + 16 * CAIRN_TIER_NSTATES];

	v[0] = KV_FMT_V1;
	for (int s = 0; s < CAIRN_TIER_NSTATES; s++) {
		kv_put64(v + 1 + 16 * s, n->count[s]);
		kv_put64(v + 9 + 16 * s, n->bytes[s]);
	}
	db_batch_put(b, CF_META, KV_TIER_COUNTS, strlen(KV_TIER_COUNTS), v, sizeof(v));
}

static int counts_load(struct catalog *c)
{
	struct db_val v;
	int rc;

	memset(&c->tier_n, 0, sizeof(c->tier_n));
	rc = db_get(c->db, CF_META, KV_TIER_COUNTS, strlen(KV_TIER_COUNTS), &v);
	if (rc == CAIRN_ENOTFOUND)
		return 0;
	if (rc != 0)
		return rc;
	if (v.len != 1 + 16 * CAIRN_TIER_NSTATES || (uint8_t)v.data[0] != KV_FMT_V1) {
		db_val_free(&v);
		return cairn_error_set(CAIRN_ECORRUPT, "the tier counts are unreadable");
	}
	for (int s = 0; s < CAIRN_TIER_NSTATES; s++) {
		c->tier_n.count[s] = kv_get64((const uint8_t *)v.data + 1 + 16 * s);
		c->tier_n.bytes[s] = kv_get64((const uint8_t *)v.data + 9 + 16 * s);
	}
	db_val_free(&v);
	return 0;
}

/* ---- schema 1 → 2 ---- */

/* Puts (del: deletes) the objrefs key of each vobjs key of version vid (0:
 * of every version) through b, which is committed unsynced every
 * UPGRADE_BATCH_KEYS keys, so that a large version never makes one huge
 * batch; what is left stays in b for the caller. *n counts the keys. */
static int objrefs_of_vobjs(struct catalog *c, struct db_batch *b, uint64_t vid, bool del,
                            uint64_t *n)
{
	struct db_iter *it = NULL;
	uint8_t lo[8], hi[8];
	int rc;

	*n = 0;
	kv_put64(lo, vid);
	kv_put64(hi, vid + 1);
	rc = vid ? db_iter_new(&it, c->db, CF_VOBJS, lo, 8, hi, 8)
	         : db_iter_new(&it, c->db, CF_VOBJS, NULL, 0, NULL, 0);
	if (rc != 0)
		return rc;
	for (db_iter_seek_first(it); db_iter_valid(it); db_iter_next(it)) {
		static const uint8_t fmt = KV_FMT_V1;
		size_t klen;
		const uint8_t *k = (const uint8_t *)db_iter_key(it, &klen);
		uint8_t rk[24];
		size_t rlen;

		if (klen != 24)
			continue;
		rlen = kv_objref_key(rk, k + 8, kv_get64(k));
		if (del)
			db_batch_del(b, CF_OBJREFS, rk, rlen);
		else
			db_batch_put(b, CF_OBJREFS, rk, rlen, &fmt, 1);
		(*n)++;
		if (db_batch_count(b) >= UPGRADE_BATCH_KEYS) {
			rc = db_batch_commit(b, false);
			if (rc != 0)
				goto out;
			db_batch_clear(b);
		}
	}
	rc = db_iter_status(it);
out:
	db_iter_free(it);
	return rc;
}

/* objrefs from vobjs, counts from objects, then the stamp: re-running it
 * after a crash midway redoes the same puts. */
static int upgrade_v1(struct catalog *c)
{
	struct db_iter *it = NULL;
	struct db_batch *b = NULL;
	struct obj_counts n;
	uint64_t refs = 0;
	int rc;

	log_info(MOD, "migrating the catalog from schema 1 to 2: indexing which "
	         "versions hold each object");
	memset(&n, 0, sizeof(n));
	rc = db_batch_new(&b, c->db);
	if (rc != 0)
		return rc;
	rc = objrefs_of_vobjs(c, b, 0, false, &refs);
	if (rc != 0)
		goto out;
	rc = db_iter_new(&it, c->db, CF_OBJECTS, NULL, 0, NULL, 0);
	if (rc != 0)
		goto out;
	for (db_iter_seek_first(it); db_iter_valid(it); db_iter_next(it)) {
		size_t vlen;
		const char *v = db_iter_value(it, &vlen);
		struct kv_object o;

		if (kv_object_dec(&o, v, vlen) != 0 || o.state < 0 ||
		    o.state >= CAIRN_TIER_NSTATES)
			continue;
		n.count[o.state]++;
		n.bytes[o.state] += o.size;
	}
	rc = db_iter_status(it);
	if (rc != 0)
		goto out;
	tierops_counts_put(b, &n);
	rc = db_batch_commit(b, true);
	if (rc != 0)
		goto out;
	rc = db_schema_stamp(c->db, CAIRN_SCHEMA_VERSION);
	if (rc != 0)
		goto out;
	log_info(MOD, "catalog migrated to schema %d (%llu object references)",
	         CAIRN_SCHEMA_VERSION, (unsigned long long)refs);
out:
	db_iter_free(it);
	db_batch_free(b);
	return rc;
}

static int count_pins(struct catalog *c, uint64_t *n)
{
	struct db_iter *it = NULL;
	int rc;

	*n = 0;
	rc = db_iter_new(&it, c->db, CF_META, KV_TIER_PIN, KV_TIER_PIN_LEN,
	                 "tier/pin0", KV_TIER_PIN_LEN);
	if (rc != 0)
		return rc;
	for (db_iter_seek_first(it); db_iter_valid(it); db_iter_next(it))
		(*n)++;
	rc = db_iter_status(it);
	db_iter_free(it);
	return rc;
}

int tierops_open(struct catalog *c)
{
	int rc;

	if (db_schema(c->db) < 2) {
		rc = upgrade_v1(c);
		if (rc != 0)
			return cairn_error_prefix(rc, "catalog migration to schema 2");
	}
	if (db_schema(c->db) < 3) {
		/* Schema 3 only adds the blocks CF (keys.h). */
		rc = db_schema_stamp(c->db, 3);
		if (rc != 0)
			return cairn_error_prefix(rc, "catalog migration to schema 3");
		log_info(MOD, "catalog migrated to schema 3 (block digests)");
	}
	rc = counts_load(c);
	if (rc == 0)
		rc = count_pins(c, &c->npins);
	return rc;
}

int tierops_unref_version(struct catalog *c, uint64_t vid)
{
	struct db_batch *b = NULL;
	uint64_t n;
	int rc;

	rc = db_batch_new(&b, c->db);
	if (rc != 0)
		return rc;
	rc = objrefs_of_vobjs(c, b, vid, true, &n);
	if (rc == 0 && db_batch_count(b) > 0)
		rc = db_batch_commit(b, false);
	db_batch_free(b);
	return rc;
}

/* ---- the ops ---- */

static int ops_get(void *ctx, const cairn_oid *oid, struct tier_object *out)
{
	struct kv_object o;
	int rc;

	rc = catalog_object_get(ctx, oid, &o);
	if (rc != 0)
		return rc;
	to_tier_object(out, oid, &o);
	return 0;
}

static int ops_scan(void *ctx, const cairn_oid *after, struct tier_object *out,
                    size_t max, size_t *n)
{
	struct catalog *c = ctx;
	struct db_iter *it = NULL;
	int rc;

	*n = 0;
	rc = db_iter_new(&it, c->db, CF_OBJECTS, after ? after->b : NULL,
	                 after ? CAIRN_OID_LEN : 0, NULL, 0);
	if (rc != 0)
		return rc;
	for (db_iter_seek_first(it); db_iter_valid(it) && *n < max; db_iter_next(it)) {
		size_t klen, vlen;
		const char *k = db_iter_key(it, &klen);
		const char *v = db_iter_value(it, &vlen);
		struct kv_object o;
		cairn_oid oid;

		if (klen != CAIRN_OID_LEN)
			continue;
		if (after != NULL && memcmp(k, after->b, CAIRN_OID_LEN) == 0)
			continue;
		memcpy(oid.b, k, CAIRN_OID_LEN);
		if (kv_object_dec(&o, v, vlen) != 0) {
			char hex[CAIRN_OID_HEXLEN + 1];
			log_error(MOD, "the record of object %s is unreadable; tiering skips it",
			          cairn_oid_fmt(hex, &oid));
			continue;
		}
		to_tier_object(&out[(*n)++], &oid, &o);
	}
	rc = db_iter_status(it);
	db_iter_free(it);
	return rc;
}

/* The blocks CF record of facts' block digests (keys.h). */
static int stage_blocks(struct db_batch *b, const cairn_oid *oid,
                        const struct tier_s3_facts *facts)
{
	size_t len = 2 + 8 * (size_t)facts->nblocks;
	uint8_t *v = malloc(len);

	if (v == NULL)
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	v[0] = KV_FMT_V1;
	v[1] = facts->block_log2;
	for (uint32_t i = 0; i < facts->nblocks; i++)
		kv_put64(v + 2 + 8 * i, facts->blocks[i]);
	db_batch_put(b, CF_BLOCKS, oid->b, CAIRN_OID_LEN, v, len);
	free(v);
	return 0;
}

/* With objlock held: checks one move (the compare-and-set) and stages it
 * in b, with the counts n and the in-flight index. */
static int stage_transition(struct catalog *c, struct db_batch *b, struct obj_counts *n,
                            const cairn_oid *oid, int from, int to,
                            const struct tier_s3_facts *facts)
{
	char hex[CAIRN_OID_HEXLEN + 1];
	struct kv_object o;
	uint8_t val[KV_OBJECT_MAX], fk[KV_TIER_FLIGHT_KEYLEN];
	int rc;

	cairn_oid_fmt(hex, oid);
	if (!cairn_tier_transition_ok(from, to))
		return cairn_error_set(CAIRN_EINVAL, "object %s: %s → %s is not a legal "
		                       "move", hex, cairn_tier_state_name(from),
		                       cairn_tier_state_name(to));
	rc = catalog_object_get(c, oid, &o);
	if (rc != 0)
		return rc;
	if (o.state != from)
		return cairn_error_set(CAIRN_ERETRY, "object %s is %s, not %s", hex,
		                       cairn_tier_state_name(o.state) ?
		                       cairn_tier_state_name(o.state) : "unknown",
		                       cairn_tier_state_name(from));
	if (facts != NULL) {
		o.verified = facts->verified;
		o.verify = facts->verify;
		o.has_md5 = facts->has_md5;
		memcpy(o.md5, facts->md5, 16);
		snprintf(o.etag, sizeof(o.etag), "%s", facts->etag);
	}
	/* Invariant (3), at the one place every state change passes: a state
	 * that claims an S3 copy has a verified one on record. */
	if (cairn_tier_in_s3(to) && o.verified == 0)
		return cairn_error_set(CAIRN_EINVAL, "object %s: refusing %s → %s without "
		                       "a verified S3 copy on record (invariant 3)", hex,
		                       cairn_tier_state_name(from), cairn_tier_state_name(to));
	if (!cairn_tier_in_s3(to))
		o.verified = 0;         /* HOT again: the old copy is not trusted */
	if (facts != NULL && facts->nblocks > 0) {
		rc = stage_blocks(b, oid, facts);
		if (rc != 0)
			return rc;
	}
	o.state = to;
	db_batch_put(b, CF_OBJECTS, oid->b, CAIRN_OID_LEN, val, kv_object_enc(val, &o));
	kv_tier_flight_key(fk, oid->b);
	if (in_flight_state(to)) {
		uint8_t fv[2] = { KV_FMT_V1, (uint8_t)to };
		db_batch_put(b, CF_META, fk, sizeof(fk), fv, sizeof(fv));
	} else if (in_flight_state(from)) {
		db_batch_del(b, CF_META, fk, sizeof(fk));
	}
	n->count[from] -= n->count[from] > 0;
	n->bytes[from] -= n->bytes[from] >= o.size ? o.size : n->bytes[from];
	n->count[to]++;
	n->bytes[to] += o.size;
	return 0;
}

static int ops_transition(void *ctx, const cairn_oid *oid, int from, int to,
                          const struct tier_s3_facts *facts)
{
	struct catalog *c = ctx;
	struct db_batch *b = NULL;
	struct obj_counts n;
	int rc;

	rc = db_batch_new(&b, c->db);
	if (rc != 0)
		return rc;
	pthread_mutex_lock(&c->objlock);
	n = c->tier_n;
	rc = stage_transition(c, b, &n, oid, from, to, facts);
	if (rc == 0) {
		tierops_counts_put(b, &n);
		rc = db_batch_commit(b, true);
	}
	if (rc == 0)
		c->tier_n = n;
	pthread_mutex_unlock(&c->objlock);
	db_batch_free(b);
	return rc;
}

static int ops_transition_many(void *ctx, const cairn_oid *oids, size_t count, int from,
                               int to, int *rcs)
{
	struct catalog *c = ctx;
	struct db_batch *b = NULL;
	struct obj_counts n;
	size_t moved = 0;
	int rc;

	rc = db_batch_new(&b, c->db);
	if (rc != 0)
		return rc;
	pthread_mutex_lock(&c->objlock);
	n = c->tier_n;
	for (size_t i = 0; i < count; i++) {
		bool dup = false;
		/* A second mention would read the record the batch is about
		 * to replace: count it once. */
		for (size_t j = 0; j < i && !dup; j++)
			dup = rcs[j] == 0 && cairn_oid_cmp(&oids[i], &oids[j]) == 0;
		rcs[i] = dup ? CAIRN_ERETRY :
		         stage_transition(c, b, &n, &oids[i], from, to, NULL);
		moved += rcs[i] == 0;
	}
	if (moved > 0) {
		tierops_counts_put(b, &n);
		rc = db_batch_commit(b, true);
		if (rc == 0)
			c->tier_n = n;
	}
	pthread_mutex_unlock(&c->objlock);
	db_batch_free(b);
	return rc;
}

static int ops_in_flight(void *ctx, struct tier_object *out, size_t max, size_t *n)
{
	struct catalog *c = ctx;
	struct db_iter *it = NULL;
	struct db_batch *stale = NULL;
	int rc;

	*n = 0;
	rc = db_batch_new(&stale, c->db);
	if (rc != 0)
		return rc;
	rc = db_iter_new(&it, c->db, CF_META, KV_TIER_FLIGHT, KV_TIER_FLIGHT_LEN,
	                 "tier/flight0", KV_TIER_FLIGHT_LEN);
	if (rc != 0)
		goto out;
	for (db_iter_seek_first(it); db_iter_valid(it) && *n < max; db_iter_next(it)) {
		size_t klen;
		const char *k = db_iter_key(it, &klen);
		struct kv_object o;
		cairn_oid oid;

		if (klen != KV_TIER_FLIGHT_KEYLEN)
			continue;
		memcpy(oid.b, k + KV_TIER_FLIGHT_LEN, CAIRN_OID_LEN);
		rc = catalog_object_get(c, &oid, &o);
		if (rc != 0 && rc != CAIRN_ENOTFOUND)
			goto out;
		if (rc == CAIRN_ENOTFOUND || !in_flight_state(o.state)) {
			/* Cannot happen (both change in one batch); tidy up. */
			db_batch_del(stale, CF_META, k, klen);
			rc = 0;
			continue;
		}
		to_tier_object(&out[(*n)++], &oid, &o);
	}
	rc = db_iter_status(it);
	if (rc == 0 && db_batch_count(stale) > 0)
		rc = db_batch_commit(stale, true);
out:
	db_iter_free(it);
	db_batch_free(stale);
	return rc;
}

/* The tags of version seq of dataset dsid (at most TAGS_PER_VERSION_MAX). */
static int version_tags(struct catalog *c, uint64_t dsid, uint64_t seq,
                        char tags[][CAIRN_TAG_MAX + 1], size_t *ntags)
{
	struct db_iter *it = NULL;
	uint8_t lo[8], hi[8];
	size_t seen = 0;
	int rc;

	*ntags = 0;
	kv_put64(lo, dsid);
	kv_put64(hi, dsid + 1);
	rc = db_iter_new(&it, c->db, CF_TAGS, lo, 8, hi, 8);
	if (rc != 0)
		return rc;
	for (db_iter_seek_first(it); db_iter_valid(it) && seen < TAG_SCAN_MAX &&
	     *ntags < TAGS_PER_VERSION_MAX; db_iter_next(it), seen++) {
		size_t klen, vlen;
		const char *k = db_iter_key(it, &klen);
		const char *v = db_iter_value(it, &vlen);

		if (klen <= 8 || klen - 8 > CAIRN_TAG_MAX || vlen != 9 ||
		    kv_get64((const uint8_t *)v + 1) != seq)
			continue;
		memcpy(tags[*ntags], k + 8, klen - 8);
		tags[*ntags][klen - 8] = '\0';
		(*ntags)++;
	}
	rc = db_iter_status(it);
	db_iter_free(it);
	return rc;
}

static bool is_pinned(struct catalog *c, uint64_t dsid, uint64_t seq)
{
	uint8_t key[KV_TIER_PIN_KEYLEN];
	struct db_val v;

	if (db_get(c->db, CF_META, key, kv_tier_pin_key(key, dsid, seq), &v) != 0)
		return false;
	db_val_free(&v);
	return true;
}

struct ds_cache {
	uint64_t dsid;
	bool valid;
	char name[CAIRN_DATASET_NAME_MAX + 1];
	uint64_t latest;
};

static int ops_versions(void *ctx, const cairn_oid *oid,
                        int (*fn)(void *arg, const struct tier_version_ref *v), void *arg)
{
	struct catalog *c = ctx;
	struct db_iter *it = NULL;
	struct ds_cache dc = {0};
	uint8_t lo[16], hi[24];
	char (*tags)[CAIRN_TAG_MAX + 1] = NULL;
	const char *tagp[TAGS_PER_VERSION_MAX];
	bool pins;
	size_t visited = 0;
	int rc;

	pthread_mutex_lock(&c->objlock);
	pins = c->npins > 0;
	pthread_mutex_unlock(&c->objlock);
	tags = malloc(TAGS_PER_VERSION_MAX * sizeof(*tags));
	if (tags == NULL)
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	memcpy(lo, oid->b, 16);
	memcpy(hi, oid->b, 16);
	memset(hi + 16, 0xff, 8);
	rc = db_iter_new(&it, c->db, CF_OBJREFS, lo, 16, hi, 24);
	if (rc != 0)
		goto out;
	for (db_iter_seek_first(it); db_iter_valid(it); db_iter_next(it)) {
		size_t klen, ntags = 0;
		const uint8_t *k = (const uint8_t *)db_iter_key(it, &klen);
		struct tier_version_ref ref;
		struct kv_vid vr;

		if (klen != 24)
			continue;
		if (++visited > VERSIONS_PER_OBJECT_MAX) {
			char hex[CAIRN_OID_HEXLEN + 1];
			log_warn(MOD, "object %s is held by more than %d versions; rules and "
			         "pins are checked on the first %d", cairn_oid_fmt(hex, oid),
			         VERSIONS_PER_OBJECT_MAX, VERSIONS_PER_OBJECT_MAX);
			break;
		}
		rc = catalog_vid_get(c, kv_get64(k + 16), &vr);
		if (rc == CAIRN_ENOTFOUND) {
			rc = 0;         /* a commit still staging, or cut off */
			continue;
		}
		if (rc != 0)
			goto out;
		if (!dc.valid || dc.dsid != vr.dsid) {
			struct cat_dataset ds;
			rc = catalog_dataset_name(c, vr.dsid, dc.name);
			if (rc == 0)
				rc = catalog_dataset_get(c, dc.name, &ds);
			if (rc != 0)
				goto out;
			dc.latest = catalog_dataset_latest(&ds);
			catalog_dataset_free(&ds);
			dc.dsid = vr.dsid;
			dc.valid = true;
		}
		rc = version_tags(c, vr.dsid, vr.seq, tags, &ntags);
		if (rc != 0)
			goto out;
		for (size_t i = 0; i < ntags; i++)
			tagp[i] = tags[i];
		ref.dataset = dc.name;
		ref.seq = vr.seq;
		ref.tags = tagp;
		ref.ntags = ntags;
		ref.latest = vr.seq == dc.latest;
		ref.pinned = pins && is_pinned(c, vr.dsid, vr.seq);
		rc = fn(arg, &ref);
		if (rc != 0)
			goto out;
	}
	rc = db_iter_status(it);
out:
	db_iter_free(it);
	free(tags);
	return rc;
}

static bool ops_has_pins(void *ctx)
{
	struct catalog *c = ctx;
	bool any;

	pthread_mutex_lock(&c->objlock);
	any = c->npins > 0;
	pthread_mutex_unlock(&c->objlock);
	return any;
}

static int ops_version_objects(void *ctx, uint64_t vid, const cairn_oid *after,
                               struct tier_object *out, size_t max, size_t *n)
{
	struct catalog *c = ctx;
	struct db_iter *it = NULL;
	uint8_t lo[24], hi[8];
	int rc;

	*n = 0;
	kv_put64(lo, vid);
	if (after != NULL)
		memcpy(lo + 8, after->b, 16);
	kv_put64(hi, vid + 1);
	rc = db_iter_new(&it, c->db, CF_VOBJS, lo, after ? 24 : 8, hi, 8);
	if (rc != 0)
		return rc;
	for (db_iter_seek_first(it); db_iter_valid(it) && *n < max; db_iter_next(it)) {
		size_t klen;
		const char *k = db_iter_key(it, &klen);
		struct kv_object o;
		cairn_oid oid;

		if (klen != 24 || (after != NULL && memcmp(k + 8, after->b, 16) == 0))
			continue;
		memcpy(oid.b, k + 8, 16);
		rc = catalog_object_get(c, &oid, &o);
		if (rc == CAIRN_ENOTFOUND) {
			memset(&out[*n], 0, sizeof(out[*n]));
			out[*n].oid = oid;
			out[(*n)++].state = -1;
			continue;
		}
		if (rc != 0)
			goto out;
		to_tier_object(&out[(*n)++], &oid, &o);
	}
	rc = db_iter_status(it);
out:
	db_iter_free(it);
	return rc;
}

static int ops_touch(void *ctx, const cairn_oid *oids, const int64_t *times, size_t n)
{
	struct catalog *c = ctx;
	struct db_batch *b = NULL;
	int rc;

	rc = db_batch_new(&b, c->db);
	if (rc != 0)
		return rc;
	pthread_mutex_lock(&c->objlock);
	for (size_t i = 0; i < n; i++) {
		uint8_t val[KV_OBJECT_MAX];
		struct kv_object o;

		rc = catalog_object_get(c, &oids[i], &o);
		if (rc == CAIRN_ENOTFOUND)
			continue;       /* a client named an object nobody stored */
		if (rc != 0)
			goto out;
		if (times[i] <= o.last_access)
			continue;
		o.last_access = times[i];
		db_batch_put(b, CF_OBJECTS, oids[i].b, CAIRN_OID_LEN, val, kv_object_enc(val, &o));
	}
	rc = 0;
	if (db_batch_count(b) > 0)
		rc = db_batch_commit(b, false);
out:
	pthread_mutex_unlock(&c->objlock);
	db_batch_free(b);
	return rc;
}

static void ops_counts(void *ctx, uint64_t count[CAIRN_TIER_NSTATES],
                       uint64_t bytes[CAIRN_TIER_NSTATES])
{
	struct catalog *c = ctx;

	pthread_mutex_lock(&c->objlock);
	memcpy(count, c->tier_n.count, sizeof(c->tier_n.count));
	memcpy(bytes, c->tier_n.bytes, sizeof(c->tier_n.bytes));
	pthread_mutex_unlock(&c->objlock);
}

static int ops_policy_load(void *ctx, char **json)
{
	struct catalog *c = ctx;
	struct db_val v;
	int rc;

	*json = NULL;
	rc = db_get(c->db, CF_META, KV_TIER_POLICY, strlen(KV_TIER_POLICY), &v);
	if (rc == CAIRN_ENOTFOUND)
		return 0;
	if (rc != 0)
		return rc;
	if (v.len < 1 || (uint8_t)v.data[0] != KV_FMT_JSON) {
		db_val_free(&v);
		return cairn_error_set(CAIRN_ECORRUPT, "the stored tiering policy has an "
		                       "unknown format");
	}
	*json = strndup(v.data + 1, v.len - 1);
	db_val_free(&v);
	if (*json == NULL)
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	return 0;
}

static int ops_policy_store(void *ctx, const char *json, const char *actor,
                            const char *what)
{
	struct catalog *c = ctx;
	struct db_batch *b = NULL;
	size_t len = strlen(json);
	char *val;
	int rc;

	val = malloc(len + 1);
	if (val == NULL)
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	val[0] = (char)KV_FMT_JSON;
	memcpy(val + 1, json, len);
	rc = db_batch_new(&b, c->db);
	if (rc != 0)
		goto out;
	db_batch_put(b, CF_META, KV_TIER_POLICY, strlen(KV_TIER_POLICY), val, len + 1);
	catalog_lock(c);
	rc = catalog_publish(c, b, NULL, actor, "tier.policy", "tiering",
	                     json_pack("{s:s}", "change", what));
	catalog_unlock(c);
out:
	db_batch_free(b);
	free(val);
	return rc;
}

static int ops_scrub_load(void *ctx, int64_t *started)
{
	struct catalog *c = ctx;
	struct db_val v;
	int rc;

	*started = 0;
	rc = db_get(c->db, CF_META, KV_TIER_SCRUB, strlen(KV_TIER_SCRUB), &v);
	if (rc == CAIRN_ENOTFOUND)
		return 0;
	if (rc != 0)
		return rc;
	if (v.len != 8) {
		db_val_free(&v);
		return cairn_error_set(CAIRN_ECORRUPT, "the recorded time of the last scrub "
		                       "is unreadable");
	}
	*started = (int64_t)kv_get64((const uint8_t *)v.data);
	db_val_free(&v);
	return 0;
}

static int ops_scrub_store(void *ctx, int64_t started)
{
	struct catalog *c = ctx;
	struct db_batch *b = NULL;
	uint8_t val[8];
	int rc;

	kv_put64(val, (uint64_t)started);
	rc = db_batch_new(&b, c->db);
	if (rc != 0)
		return rc;
	db_batch_put(b, CF_META, KV_TIER_SCRUB, strlen(KV_TIER_SCRUB), val, sizeof(val));
	rc = db_batch_commit(b, true);
	db_batch_free(b);
	return rc;
}

const struct tier_catalog_ops tierops = {
	.scan = ops_scan,
	.get = ops_get,
	.transition = ops_transition,
	.transition_many = ops_transition_many,
	.in_flight = ops_in_flight,
	.versions = ops_versions,
	.has_pins = ops_has_pins,
	.version_objects = ops_version_objects,
	.touch = ops_touch,
	.counts = ops_counts,
	.policy_load = ops_policy_load,
	.policy_store = ops_policy_store,
	.scrub_load = ops_scrub_load,
	.scrub_store = ops_scrub_store,
};

/* ---- pins ---- */

int tierops_pin(struct catalog *c, const struct cat_dataset *ds, uint64_t seq,
                bool pin, const char *actor)
{
	struct db_batch *b = NULL;
	char target[CAIRN_DATASET_NAME_MAX + 24];
	uint8_t key[KV_TIER_PIN_KEYLEN], val[9];
	size_t klen = kv_tier_pin_key(key, ds->id, seq);
	struct db_val v;
	bool present;
	int rc;

	snprintf(target, sizeof(target), "%s@%llu", ds->name, (unsigned long long)seq);
	rc = db_batch_new(&b, c->db);
	if (rc != 0)
		return rc;
	catalog_lock(c);
	rc = db_get(c->db, CF_META, key, klen, &v);
	if (rc != 0 && rc != CAIRN_ENOTFOUND)
		goto out;
	present = rc == 0;
	if (present)
		db_val_free(&v);
	rc = 0;
	if (present == pin)
		goto out;       /* already so: nothing to record */
	if (pin) {
		val[0] = KV_FMT_V1;
		kv_put64(val + 1, (uint64_t)util_now());
		db_batch_put(b, CF_META, key, klen, val, sizeof(val));
	} else {
		db_batch_del(b, CF_META, key, klen);
	}
	rc = catalog_publish(c, b, NULL, actor, pin ? "tier.pin" : "tier.unpin", target,
	                     NULL);
	if (rc == 0) {
		pthread_mutex_lock(&c->objlock);
		if (pin)
			c->npins++;
		else
			c->npins--;
		pthread_mutex_unlock(&c->objlock);
		log_info(MOD, "%s %s %s", actor, pin ? "pinned" : "unpinned", target);
	}
out:
	catalog_unlock(c);
	db_batch_free(b);
	return rc;
}

int tierops_pins_json(struct catalog *c, json_t **out)
{
	struct db_iter *it = NULL;
	json_t *list = json_array();
	size_t n = 0;
	int rc;

	*out = NULL;
	rc = db_iter_new(&it, c->db, CF_META, KV_TIER_PIN, KV_TIER_PIN_LEN,
	                 "tier/pin0", KV_TIER_PIN_LEN);
	if (rc != 0)
		goto out;
	for (db_iter_seek_first(it); db_iter_valid(it) && n < PINS_LIST_MAX;
	     db_iter_next(it), n++) {
		size_t klen, vlen;
		const uint8_t *k = (const uint8_t *)db_iter_key(it, &klen);
		const uint8_t *v = (const uint8_t *)db_iter_value(it, &vlen);
		char name[CAIRN_DATASET_NAME_MAX + 1];

		if (klen != KV_TIER_PIN_KEYLEN || vlen != 9)
			continue;
		if (catalog_dataset_name(c, kv_get64(k + KV_TIER_PIN_LEN), name) != 0)
			continue;
		json_array_append_new(list, json_pack("{s:s,s:I,s:I}", "dataset", name,
			"seq", (json_int_t)kv_get64(k + KV_TIER_PIN_LEN + 8),
			"time", (json_int_t)kv_get64(v + 1)));
	}
	rc = db_iter_status(it);
out:
	db_iter_free(it);
	if (rc != 0) {
		json_decref(list);
		return rc;
	}
	*out = list;
	return 0;
}
