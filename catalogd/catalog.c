/* catalog.c — the catalog's state, its audit chain, staging and lookups.
 *
 * The audit chain lives in RocksDB only; its head (last seq, hash, time) is
 * read back at open from the last record and then kept in memory under the
 * lock. Appending is part of every publishing batch, so a record exists if
 * and only if its change does.
 */
#include "catalog.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "log.h"
#include "manifest.h"
#include "tierops.h"
#include "util.h"

#define MOD "catalogd/catalog"

/* Bounded read memory for the whole catalog (see db.c). */
#define CATALOG_CACHE_BYTES (64u << 20)

/* ---- counters ---- */

static void counters_enc(uint8_t *v, const struct cat_counters *n)
{
	v[0] = KV_FMT_V1;
	kv_put64(v + 1, n->next_vid);
	kv_put64(v + 9, n->next_dsid);
	kv_put64(v + 17, n->datasets);
	kv_put64(v + 25, n->versions);
	kv_put64(v + 33, n->objects);
	kv_put64(v + 41, n->object_bytes);
}

static int counters_load(struct catalog *c)
{
	struct db_val v;
	int rc;

	rc = db_get(c->db, CF_META, KV_META_COUNTERS, strlen(KV_META_COUNTERS), &v);
	if (rc == CAIRN_ENOTFOUND) {
		/* ids start at 1 so that 0 can mean "none" on the wire */
		c->n.next_vid = 1;
		c->n.next_dsid = 1;
		return 0;
	}
	if (rc != 0)
		return rc;
	const uint8_t *p = (const uint8_t *)v.data;
	if (v.len != KV_COUNTERS_LEN || p[0] != KV_FMT_V1) {
		db_val_free(&v);
		return cairn_error_set(CAIRN_ECORRUPT, "catalog counters are unreadable");
	}
	c->n.next_vid = kv_get64(p + 1);
	c->n.next_dsid = kv_get64(p + 9);
	c->n.datasets = kv_get64(p + 17);
	c->n.versions = kv_get64(p + 25);
	c->n.objects = kv_get64(p + 33);
	c->n.object_bytes = kv_get64(p + 41);
	db_val_free(&v);
	return 0;
}

void catalog_counters(struct catalog *c, struct cat_counters *out)
{
	catalog_lock(c);
	*out = c->n;
	catalog_unlock(c);
}

/* ---- the audit chain ---- */

static int audit_load_head(struct catalog *c)
{
	struct db_iter *it = NULL;
	const char *k, *v;
	size_t klen, vlen;
	json_t *rec = NULL;
	int rc;

	memset(&c->audit_hash, 0, sizeof(c->audit_hash));
	c->audit_seq = 0;
	c->audit_time = 0;
	rc = db_iter_new(&it, c->db, CF_AUDIT, NULL, 0, NULL, 0);
	if (rc != 0)
		return rc;
	db_iter_seek_last(it);
	if (!db_iter_valid(it)) {
		rc = db_iter_status(it);
		goto out;
	}
	k = db_iter_key(it, &klen);
	v = db_iter_value(it, &vlen);
	if (klen != 8 || vlen < 17 || (uint8_t)v[0] != KV_FMT_V1) {
		rc = cairn_error_set(CAIRN_ECORRUPT, "the last audit record is unreadable");
		goto out;
	}
	c->audit_seq = kv_get64((const uint8_t *)k);
	memcpy(c->audit_hash.b, v + 1, 16);
	rec = json_loadb(v + 17, vlen - 17, 0, NULL);
	if (rec == NULL) {
		rc = cairn_error_set(CAIRN_ECORRUPT, "audit record %llu is unreadable",
		                     (unsigned long long)c->audit_seq);
		goto out;
	}
	c->audit_time = json_integer_value(json_object_get(rec, "time"));
out:
	json_decref(rec);
	db_iter_free(it);
	return rc;
}

/* The record's canonical form is produced once, here, and stored verbatim:
 * verification re-hashes the stored bytes instead of re-serializing JSON,
 * which would tie the chain to one library's formatting forever. */
int catalog_publish(struct catalog *c, struct db_batch *b,
                    const struct cat_counters *n, const char *actor,
                    const char *action, const char *target, json_t *detail)
{
	uint64_t seq = c->audit_seq + 1;
	int64_t t = util_now();
	cairn_oid hash;
	json_t *rec;
	char *text = NULL;
	uint8_t *val = NULL;
	uint8_t key[16];
	size_t tlen;
	int rc = 0;

	/* Record times never go backwards, even if the clock does: readers
	 * find records by time through the audit_time index. */
	if (t < c->audit_time)
		t = c->audit_time;
	rec = json_pack("{s:s,s:s,s:o,s:I,s:s,s:I}",
	                "action", action, "actor", actor,
	                "detail", detail ? detail : json_object(),
	                "seq", (json_int_t)seq, "target", target,
	                "time", (json_int_t)t);
	if (rec == NULL)
		return cairn_error_set(CAIRN_EINVAL, "cannot encode the audit record "
		                       "of %s %s", action, target);
	text = json_dumps(rec, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENSURE_ASCII);
	json_decref(rec);
	if (text == NULL)
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	tlen = strlen(text);
	cairn_hasher_reset(c->hasher);
	cairn_hasher_update(c->hasher, c->audit_hash.b, CAIRN_OID_LEN);
	cairn_hasher_update(c->hasher, text, tlen);
	cairn_hasher_digest(c->hasher, &hash);

	val = malloc(1 + CAIRN_OID_LEN + tlen);
	if (val == NULL) {
		rc = cairn_error_set(CAIRN_ENOMEM, "out of memory");
		goto out;
	}
	val[0] = KV_FMT_V1;
	memcpy(val + 1, hash.b, CAIRN_OID_LEN);
	memcpy(val + 1 + CAIRN_OID_LEN, text, tlen);
	db_batch_put(b, CF_AUDIT, key, kv_u64_key(key, seq), val, 1 + CAIRN_OID_LEN + tlen);
	uint8_t fmt = KV_FMT_V1;
	db_batch_put(b, CF_AUDIT_TIME, key, kv_u64u64_key(key, (uint64_t)t, seq), &fmt, 1);
	if (n != NULL) {
		uint8_t cv[KV_COUNTERS_LEN];
		counters_enc(cv, n);
		db_batch_put(b, CF_META, KV_META_COUNTERS, strlen(KV_META_COUNTERS),
		             cv, sizeof(cv));
	}
	rc = db_batch_commit(b, true);
	if (rc != 0)
		goto out;
	c->audit_seq = seq;
	c->audit_hash = hash;
	c->audit_time = t;
	if (n != NULL)
		c->n = *n;
out:
	free(val);
	free(text);
	return rc;
}

void catalog_lock(struct catalog *c)
{
	pthread_mutex_lock(&c->lock);
}

void catalog_unlock(struct catalog *c)
{
	pthread_mutex_unlock(&c->lock);
}

/* ---- staging ---- */

int catalog_stage_begin(struct catalog *c, uint64_t *vid)
{
	struct db_batch *b = NULL;
	struct cat_counters n;
	uint8_t key[KV_STAGING_KEYLEN], val[9], cv[KV_COUNTERS_LEN];
	int rc;

	rc = db_batch_new(&b, c->db);
	if (rc != 0)
		return rc;
	catalog_lock(c);
	n = c->n;
	*vid = n.next_vid++;
	counters_enc(cv, &n);
	db_batch_put(b, CF_META, KV_META_COUNTERS, strlen(KV_META_COUNTERS), cv, sizeof(cv));
	val[0] = KV_FMT_V1;
	kv_put64(val + 1, (uint64_t)util_now());
	db_batch_put(b, CF_META, key, kv_staging_key(key, *vid), val, sizeof(val));
	/* Synced: the marker must be on disk before any entry of the vid is,
	 * or a crash could leave entries nobody knows to remove. */
	rc = db_batch_commit(b, true);
	if (rc == 0)
		c->n = n;
	catalog_unlock(c);
	db_batch_free(b);
	return rc;
}

int catalog_stage_abort(struct catalog *c, uint64_t vid)
{
	struct db_batch *b = NULL;
	uint8_t lo[8], hi[8], key[KV_STAGING_KEYLEN];
	int rc;

	/* objrefs keys start with the oid, not the vid: they go one by one,
	 * before the vobjs keys that name them. */
	rc = tierops_unref_version(c, vid);
	if (rc != 0)
		return cairn_error_prefix(rc, "cannot remove staged version %llu",
		                          (unsigned long long)vid);
	rc = db_batch_new(&b, c->db);
	if (rc != 0)
		return rc;
	kv_put64(lo, vid);
	kv_put64(hi, vid + 1);
	for (int cf = 0; cf < CF_COUNT; cf++)
		if (kv_cf_is_staged(cf))
			db_batch_del_range(b, cf, lo, 8, hi, 8);
	db_batch_del(b, CF_META, key, kv_staging_key(key, vid));
	rc = db_batch_commit(b, true);
	db_batch_free(b);
	if (rc != 0)
		return cairn_error_prefix(rc, "cannot remove staged version %llu",
		                          (unsigned long long)vid);
	return 0;
}

/* Removes what every commit cut off by a crash left staged. */
static int recover_staging(struct catalog *c)
{
	struct db_iter *it = NULL;
	uint64_t *vids = NULL;
	size_t n = 0, cap = 0;
	int rc;

	/* "staging0" is the first key after every "staging/..." key. */
	rc = db_iter_new(&it, c->db, CF_META, KV_STAGING, KV_STAGING_LEN,
	                 "staging0", KV_STAGING_LEN);
	if (rc != 0)
		return rc;
	for (db_iter_seek_first(it); db_iter_valid(it); db_iter_next(it)) {
		size_t klen;
		const char *k = db_iter_key(it, &klen);
		if (klen != KV_STAGING_KEYLEN)
			continue;
		if (n == cap) {
			cap = cap ? 2 * cap : 16;
			uint64_t *nv = realloc(vids, cap * sizeof(*vids));
			if (nv == NULL) {
				rc = cairn_error_set(CAIRN_ENOMEM, "out of memory");
				goto out;
			}
			vids = nv;
		}
		vids[n++] = kv_get64((const uint8_t *)k + KV_STAGING_LEN);
	}
	rc = db_iter_status(it);
	if (rc != 0)
		goto out;
	for (size_t i = 0; i < n; i++) {
		rc = catalog_stage_abort(c, vids[i]);
		if (rc != 0)
			goto out;
		log_warn(MOD, "removed the staged entries of version %llu, whose commit "
		         "was interrupted", (unsigned long long)vids[i]);
	}
out:
	free(vids);
	db_iter_free(it);
	return rc;
}

/* ---- open / close ---- */

int catalog_open(struct catalog **out, const struct cairn_config *cfg)
{
	struct catalog *c;
	char path[PATH_MAX];
	int rc;

	*out = NULL;
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	c->cfg = cfg;
	c->chunk_size = (uint32_t)cfg->chunk_size;
	pthread_mutex_init(&c->lock, NULL);
	pthread_mutex_init(&c->objlock, NULL);
	rc = cairn_hasher_new(&c->hasher);
	if (rc != 0)
		goto out;
	if ((size_t)snprintf(path, sizeof(path), "%s/catalog", cfg->state_dir) >= sizeof(path)) {
		rc = cairn_error_set(CAIRN_EINVAL, "state_dir '%s' is too long", cfg->state_dir);
		goto out;
	}
	rc = db_open(&c->db, path, CATALOG_CACHE_BYTES);
	if (rc != 0)
		goto out;
	rc = cairn_pool_open(&c->pool, cfg->pool_path);
	if (rc != 0)
		goto out;
	rc = counters_load(c);
	if (rc != 0)
		goto out;
	rc = audit_load_head(c);
	if (rc != 0)
		goto out;
	rc = recover_staging(c);
	if (rc != 0)
		goto out;
	rc = tierops_open(c);
	if (rc != 0)
		goto out;
	*out = c;
	c = NULL;
out:
	catalog_close(c);
	return rc;
}

void catalog_close(struct catalog *c)
{
	if (c == NULL)
		return;
	if (c->pool != NULL)
		cairn_pool_close(c->pool);
	db_close(c->db);
	cairn_hasher_free(c->hasher);
	pthread_mutex_destroy(&c->objlock);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

/* ---- JSON records ---- */

int catalog_get_json(struct catalog *c, int cf, const void *key, size_t klen,
                     json_t **out)
{
	struct db_val v;
	json_error_t jerr;
	int rc;

	*out = NULL;
	rc = db_get(c->db, cf, key, klen, &v);
	if (rc != 0)
		return rc;
	if (v.len < 1 || (uint8_t)v.data[0] != KV_FMT_JSON) {
		db_val_free(&v);
		return cairn_error_set(CAIRN_ECORRUPT, "a %s record has an unknown format",
		                       kv_cf_name(cf));
	}
	*out = json_loadb(v.data + 1, v.len - 1, 0, &jerr);
	db_val_free(&v);
	if (*out == NULL || !json_is_object(*out)) {
		json_decref(*out);
		*out = NULL;
		return cairn_error_set(CAIRN_ECORRUPT, "a %s record is unreadable: %s",
		                       kv_cf_name(cf), jerr.text);
	}
	return 0;
}

int catalog_put_json(struct db_batch *b, int cf, const void *key, size_t klen,
                     const json_t *rec)
{
	char *text = json_dumps(rec, JSON_COMPACT);
	size_t len;
	char *val;

	if (text == NULL)
		return cairn_error_set(CAIRN_ENOMEM, "cannot encode a %s record",
		                       kv_cf_name(cf));
	len = strlen(text);
	val = malloc(len + 1);
	if (val == NULL) {
		free(text);
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	}
	val[0] = (char)KV_FMT_JSON;
	memcpy(val + 1, text, len);
	db_batch_put(b, cf, key, klen, val, len + 1);
	free(val);
	free(text);
	return 0;
}

/* ---- datasets ---- */

/* Datasets are keyed by name (listings come out sorted for free); the id
 * in the record is what every other key uses, so that keys stay short and
 * fixed-width. */
int catalog_dataset_get(struct catalog *c, const char *name, struct cat_dataset *out)
{
	size_t len = strlen(name);
	int rc;

	memset(out, 0, sizeof(*out));
	if (len > CAIRN_DATASET_NAME_MAX)
		return cairn_error_set(CAIRN_ENOTFOUND, "no dataset '%.*s...'", 64, name);
	rc = catalog_get_json(c, CF_DATASETS, name, len, &out->rec);
	if (rc == CAIRN_ENOTFOUND)
		return cairn_error_set(CAIRN_ENOTFOUND, "no dataset '%s'", name);
	if (rc != 0)
		return rc;
	memcpy(out->name, name, len + 1);
	out->id = (uint64_t)json_integer_value(json_object_get(out->rec, "id"));
	return 0;
}

void catalog_dataset_free(struct cat_dataset *ds)
{
	json_decref(ds->rec);
	ds->rec = NULL;
}

uint64_t catalog_dataset_latest(const struct cat_dataset *ds)
{
	return (uint64_t)json_integer_value(json_object_get(ds->rec, "latest"));
}

int catalog_dataset_name(struct catalog *c, uint64_t dsid, char *buf)
{
	struct db_val v;
	uint8_t key[8];
	int rc;

	rc = db_get(c->db, CF_DATASET_IDS, key, kv_u64_key(key, dsid), &v);
	if (rc == CAIRN_ENOTFOUND)
		return cairn_error_set(CAIRN_ENOTFOUND, "no dataset with id %llu",
		                       (unsigned long long)dsid);
	if (rc != 0)
		return rc;
	if (v.len < 2 || (uint8_t)v.data[0] != KV_FMT_V1 ||
	    v.len - 1 > CAIRN_DATASET_NAME_MAX) {
		db_val_free(&v);
		return cairn_error_set(CAIRN_ECORRUPT, "dataset id %llu has a bad record",
		                       (unsigned long long)dsid);
	}
	memcpy(buf, v.data + 1, v.len - 1);
	buf[v.len - 1] = '\0';
	db_val_free(&v);
	return 0;
}

/* ---- versions ---- */

static int all_digits(const char *s)
{
	if (*s == '\0')
		return 0;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return 0;
	return 1;
}

static int hex_value(int ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

/* A digest prefix of 6..32 hex digits: the newest version whose digest
 * starts with it; two different digests sharing it make it ambiguous. */
static int resolve_digest(struct catalog *c, const struct cat_dataset *ds,
                          const char *ref, uint64_t *seq)
{
	size_t len = strlen(ref), nbytes = len / 2;
	uint8_t lo[8 + 16], hi[8];
	uint8_t nib[32];
	struct db_iter *it = NULL;
	uint8_t found[16];
	int nfound = 0, rc;

	for (size_t i = 0; i < len; i++)
		nib[i] = (uint8_t)hex_value((unsigned char)ref[i]);
	kv_put64(lo, ds->id);
	for (size_t i = 0; i < nbytes; i++)
		lo[8 + i] = (uint8_t)(nib[2 * i] << 4 | nib[2 * i + 1]);
	kv_put64(hi, ds->id + 1);
	rc = db_iter_new(&it, c->db, CF_DIGESTS, NULL, 0, hi, 8);
	if (rc != 0)
		return rc;
	for (db_iter_seek(it, lo, 8 + nbytes); db_iter_valid(it); db_iter_next(it)) {
		size_t klen;
		const uint8_t *k = (const uint8_t *)db_iter_key(it, &klen);
		if (klen != 32)
			continue;
		if (memcmp(k + 8, lo + 8, nbytes) != 0)
			break;
		if ((len & 1) && (k[8 + nbytes] >> 4) != nib[len - 1])
			continue;
		if (nfound > 0 && memcmp(found, k + 8, 16) != 0) {
			rc = cairn_error_set(CAIRN_EINVAL, "version prefix '%s' is ambiguous "
			                     "in dataset '%s'", ref, ds->name);
			goto out;
		}
		memcpy(found, k + 8, 16);
		nfound++;
		/* Keys of one digest are ordered by seq: the last is newest. */
		*seq = kv_get64(k + 24);
	}
	rc = db_iter_status(it);
	if (rc == 0 && nfound == 0)
		rc = CAIRN_ENOTFOUND;
out:
	db_iter_free(it);
	return rc;
}

int catalog_resolve(struct catalog *c, const struct cat_dataset *ds,
                    const char *ref, uint64_t *seq)
{
	size_t len = strlen(ref);
	int rc;

	if (len == 0)
		return cairn_error_set(CAIRN_EINVAL, "empty version reference for "
		                       "dataset '%s'", ds->name);
	if (all_digits(ref)) {
		uint64_t s;
		uint8_t key[16];
		struct db_val v;

		rc = CAIRN_ENOTFOUND;
		if (util_parse_u64(ref, &s) == 0 && s != 0)
			rc = db_get(c->db, CF_VERSIONS, key, kv_u64u64_key(key, ds->id, s), &v);
		if (rc == 0) {
			db_val_free(&v);
			*seq = s;
			return 0;
		}
		if (rc != CAIRN_ENOTFOUND)
			return rc;
		/* No such sequence number. Six digits or more may still be a
		 * digest prefix: about one prefix in a hundred is all digits. */
		if (len >= 6 && len <= CAIRN_OID_HEXLEN) {
			rc = resolve_digest(c, ds, ref, seq);
			if (rc != CAIRN_ENOTFOUND)
				return rc;
		}
		return cairn_error_set(CAIRN_ENOTFOUND, "dataset '%s' has no "
		                       "version %s", ds->name, ref);
	}
	/* Before tags: a tag can never be called "latest" (cairn_tag_validate). */
	if (strcmp(ref, "latest") == 0) {
		*seq = catalog_dataset_latest(ds);
		if (*seq == 0)
			return cairn_error_set(CAIRN_ENOTFOUND, "dataset '%s' has no "
			                       "versions yet", ds->name);
		return 0;
	}
	if (len <= CAIRN_TAG_MAX && cairn_tag_validate(ref) == 0) {
		uint8_t key[8 + CAIRN_TAG_MAX];
		struct db_val v;
		rc = db_get(c->db, CF_TAGS, key, kv_tag_key(key, ds->id, ref, len), &v);
		if (rc == 0) {
			if (v.len != 9 || (uint8_t)v.data[0] != KV_FMT_V1) {
				db_val_free(&v);
				return cairn_error_set(CAIRN_ECORRUPT, "tag '%s' of dataset "
				                       "'%s' is unreadable", ref, ds->name);
			}
			*seq = kv_get64((const uint8_t *)v.data + 1);
			db_val_free(&v);
			return 0;
		}
		if (rc != CAIRN_ENOTFOUND)
			return rc;
	}
	/* Last: a tag that happens to look like hex wins over a digest. */
	if (len >= 6 && len <= CAIRN_OID_HEXLEN) {
		int hex = 1;
		for (size_t i = 0; i < len; i++)
			if (hex_value((unsigned char)ref[i]) < 0)
				hex = 0;
		if (hex) {
			rc = resolve_digest(c, ds, ref, seq);
			if (rc != CAIRN_ENOTFOUND)
				return rc;
		}
	}
	return cairn_error_set(CAIRN_ENOTFOUND, "dataset '%s' has no version or tag "
	                       "'%s'", ds->name, ref);
}

int catalog_version_get(struct catalog *c, const struct cat_dataset *ds,
                        uint64_t seq, struct cat_version *out)
{
	uint8_t key[16];
	int rc;

	memset(out, 0, sizeof(*out));
	rc = catalog_get_json(c, CF_VERSIONS, key, kv_u64u64_key(key, ds->id, seq),
	                      &out->rec);
	if (rc == CAIRN_ENOTFOUND)
		return cairn_error_set(CAIRN_ENOTFOUND, "dataset '%s' has no version %llu",
		                       ds->name, (unsigned long long)seq);
	if (rc != 0)
		return rc;
	out->dsid = ds->id;
	out->seq = seq;
	out->vid = (uint64_t)json_integer_value(json_object_get(out->rec, "vid"));
	out->chunk_size = (uint32_t)json_integer_value(json_object_get(out->rec, "chunk_size"));
	out->time = json_integer_value(json_object_get(out->rec, "time"));
	return 0;
}

int catalog_version_ref(struct catalog *c, const struct cat_dataset *ds,
                        const char *ref, struct cat_version *out)
{
	uint64_t seq;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = catalog_resolve(c, ds, ref, &seq);
	if (rc != 0)
		return rc;
	return catalog_version_get(c, ds, seq, out);
}

void catalog_version_free(struct cat_version *v)
{
	json_decref(v->rec);
	v->rec = NULL;
}

int catalog_vid_get(struct catalog *c, uint64_t vid, struct kv_vid *out)
{
	struct db_val v;
	uint8_t key[8];
	int rc;

	rc = db_get(c->db, CF_VIDS, key, kv_u64_key(key, vid), &v);
	if (rc == CAIRN_ENOTFOUND)
		return cairn_error_set(CAIRN_ENOTFOUND, "no version with vid %llu",
		                       (unsigned long long)vid);
	if (rc != 0)
		return rc;
	rc = kv_vid_dec(out, v.data, v.len);
	db_val_free(&v);
	if (rc != 0)
		return cairn_error_set(CAIRN_ECORRUPT, "version vid %llu has a bad record",
		                       (unsigned long long)vid);
	return 0;
}

int catalog_object_get(struct catalog *c, const cairn_oid *oid, struct kv_object *out)
{
	struct db_val v;
	char hex[CAIRN_OID_HEXLEN + 1];
	int rc;

	rc = db_get(c->db, CF_OBJECTS, oid->b, CAIRN_OID_LEN, &v);
	if (rc == CAIRN_ENOTFOUND)
		return cairn_error_set(CAIRN_ENOTFOUND, "object %s is not stored",
		                       cairn_oid_fmt(hex, oid));
	if (rc != 0)
		return rc;
	rc = kv_object_dec(out, v.data, v.len);
	db_val_free(&v);
	if (rc != 0)
		return cairn_error_set(CAIRN_ECORRUPT, "the record of object %s is unreadable",
		                       cairn_oid_fmt(hex, oid));
	return 0;
}
