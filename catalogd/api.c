/* api.c — routing, and the catalog-level handlers: status, datasets,
 * versions, tags, audit.
 *
 * Routing splits the decoded path into segments. A dataset name is one or
 * two segments; whatever lies below a dataset comes after a "-" segment,
 * which no name can be, so "/v1/datasets/a/-/versions" and
 * "/v1/datasets/ns/a/-/versions" are never confused.
 *
 * Listings walk RocksDB iterators page by page (limit+1 keys at most); no
 * handler loads a whole listing.
 */
#include "api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commit.h"
#include "error.h"
#include "log.h"
#include "manifest.h"
#include "tiering.h"
#include "util.h"

#define MOD "catalogd/api"

#define API_LIMIT_DEFAULT 1000
#define API_LIMIT_MAX 10000
#define API_SMALL_BODY (1u << 20)       /* JSON bodies of datasets, tags */
#define API_MAX_SEGMENTS 12
#define API_TEXT_MAX (64u * 1024)       /* description, license, a meta value */
#define API_META_MAX 1000               /* keys of a meta object */
#define API_LABELS_MAX 100
#define API_TAG_SCAN_MAX 10000          /* tags of one dataset we look at */

/* ---- helpers ---- */

void api_actor(const struct http_req *r, char *buf, size_t len)
{
	util_actor(buf, len, http_peer_uid(r));
}

int api_query_u64(const struct http_req *r, const char *key, uint64_t *out)
{
	const char *s = http_query(r, key);

	if (s == NULL)
		return 0;
	if (util_parse_u64(s, out) != 0)
		return cairn_error_set(CAIRN_EINVAL, "%s must be a non-negative integer, "
		                       "not '%s'", key, s);
	return 0;
}

int api_limit(const struct http_req *r, size_t *out)
{
	uint64_t v = API_LIMIT_DEFAULT;
	int rc = api_query_u64(r, "limit", &v);

	*out = API_LIMIT_DEFAULT;
	if (rc != 0)
		return rc;
	if (v == 0)
		return cairn_error_set(CAIRN_EINVAL, "limit must be at least 1");
	*out = v > API_LIMIT_MAX ? API_LIMIT_MAX : (size_t)v;
	return 0;
}

/* The answer to one page of a listing, {"<key>": items, "next": cursor},
 * or the error rc. Listings read one key past the page to learn, without a
 * count of the rest, that there is more (`more`): then the cursor is the
 * field `field` of the last item (a name, a seq), else null. Takes items. */
static void respond_page(struct http_req *r, int rc, const char *key, json_t *items,
                         bool more, const char *field)
{
	json_t *last, *next;

	if (rc != 0) {
		json_decref(items);
		http_respond_current_error(r, rc);
		return;
	}
	last = json_array_get(items, json_array_size(items) - 1);
	next = more ? json_copy(json_object_get(last, field)) : json_null();
	http_respond_json(r, 200, json_pack("{s:o,s:o}", key, items, "next", next));
}

static void respond_bad_method(struct http_req *r)
{
	cairn_error_set(CAIRN_EINVAL, "method %s is not allowed on %s",
	                http_method(r), http_path(r));
	http_respond_current_error(r, CAIRN_EINVAL);
}

static int method_is(const struct http_req *r, const char *m)
{
	return strcmp(http_method(r), m) == 0;
}

/* Checks that a meta object maps names to strings, within bounds. */
static int check_meta(const json_t *meta, const char *what)
{
	const char *k;
	json_t *v;

	if (!json_is_object(meta))
		return cairn_error_set(CAIRN_EINVAL, "%s must be an object of "
		                       "strings", what);
	if (json_object_size(meta) > API_META_MAX)
		return cairn_error_set(CAIRN_EINVAL, "%s has more than %d keys",
		                       what, API_META_MAX);
	json_object_foreach((json_t *)meta, k, v) {
		if (*k == '\0' || strlen(k) > 256)
			return cairn_error_set(CAIRN_EINVAL, "%s keys must be 1 to 256 "
			                       "bytes", what);
		if (!json_is_string(v))
			return cairn_error_set(CAIRN_EINVAL, "%s value of '%s' must be "
			                       "a string", what, k);
		if (json_string_length(v) > API_TEXT_MAX)
			return cairn_error_set(CAIRN_EINVAL, "%s value of '%s' is longer "
			                       "than %u bytes", what, k, API_TEXT_MAX);
	}
	return 0;
}

static int check_text(const json_t *body, const char *key, const char **out)
{
	json_t *v = json_object_get(body, key);

	*out = "";
	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_string(v))
		return cairn_error_set(CAIRN_EINVAL, "%s must be a string", key);
	if (json_string_length(v) > API_TEXT_MAX)
		return cairn_error_set(CAIRN_EINVAL, "%s is longer than %u bytes", key,
		                       API_TEXT_MAX);
	*out = json_string_value(v);
	return 0;
}

/* A dataset label: 1..CAIRN_TAG_MAX bytes, no spaces or control bytes. */
static int check_label(const char *s)
{
	size_t len = strlen(s);

	if (len == 0 || len > CAIRN_TAG_MAX)
		return cairn_error_set(CAIRN_EINVAL, "invalid tag '%s': must be 1 to "
		                       "%d bytes", s, CAIRN_TAG_MAX);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p <= 0x20 || *p == 0x7f)
			return cairn_error_set(CAIRN_EINVAL, "invalid tag '%s': spaces "
			                       "and control characters are not allowed", s);
	return 0;
}

/* ---- status ---- */

static void handle_status(struct catalog *c, struct http_req *r)
{
	struct cat_counters n;
	uint64_t fs_size = 0, fs_used = 0;

	catalog_counters(c, &n);
	if (cairn_pool_usage(c->pool, &fs_size, &fs_used) != 0)
		log_warn(MOD, "pool usage: %s", cairn_error_msg());
	http_respond_json(r, 200, json_pack(
		"{s:s,s:i,s:I,s:{s:s,s:I,s:I,s:I},s:{s:I,s:I},s:I,s:I}",
		"version", CAIRN_VERSION,
		"schema", CAIRN_SCHEMA_VERSION,
		"chunk_size", (json_int_t)c->chunk_size,
		"pool",
		"path", cairn_pool_path(c->pool),
		"capacity", (json_int_t)c->cfg->pool_capacity,
		"fs_size", (json_int_t)fs_size,
		"fs_used", (json_int_t)fs_used,
		"objects",
		"count", (json_int_t)n.objects,
		"bytes", (json_int_t)n.object_bytes,
		"datasets", (json_int_t)n.datasets,
		"versions", (json_int_t)n.versions));
}

/* ---- datasets ---- */

/* The dataset as docs/API.md shows it. Versions are never deleted, so the
 * latest sequence number is also the number of versions. */
static json_t *dataset_view(const char *name, const json_t *rec)
{
	uint64_t latest = (uint64_t)json_integer_value(json_object_get(rec, "latest"));
	json_t *o = json_object();

	json_object_set_new(o, "name", json_string(name));
	json_object_set(o, "id", json_object_get(rec, "id"));
	json_object_set(o, "description", json_object_get(rec, "description"));
	json_object_set(o, "owner", json_object_get(rec, "owner"));
	json_object_set(o, "license", json_object_get(rec, "license"));
	json_object_set(o, "meta", json_object_get(rec, "meta"));
	json_object_set(o, "tags", json_object_get(rec, "tags"));
	json_object_set(o, "created", json_object_get(rec, "created"));
	json_object_set_new(o, "versions", json_integer((json_int_t)latest));
	json_object_set_new(o, "latest", latest ? json_integer((json_int_t)latest)
	                                        : json_null());
	return o;
}

static void dataset_create(void *ctx, struct http_req *r, json_t *body)
{
	struct catalog *c = ctx;
	struct db_batch *b = NULL;
	const char *name = NULL, *description, *owner, *license;
	char actor[128];
	json_t *meta, *labels = NULL, *rec = NULL, *tags;
	struct cat_counters n;
	struct db_val v;
	uint8_t key[8];
	uint64_t id = 0;
	bool locked = false;
	int rc;

	if (!json_is_object(body)) {
		rc = cairn_error_set(CAIRN_EINVAL, "the body must be a JSON object "
		                     "with at least \"name\"");
		goto out;
	}
	name = json_string_value(json_object_get(body, "name"));
	if (name == NULL) {
		rc = cairn_error_set(CAIRN_EINVAL, "\"name\" is required and must be "
		                     "a string");
		goto out;
	}
	rc = cairn_dataset_name_validate(name);
	if (rc != 0)
		goto out;
	api_actor(r, actor, sizeof(actor));
	if ((rc = check_text(body, "description", &description)) != 0 ||
	    (rc = check_text(body, "owner", &owner)) != 0 ||
	    (rc = check_text(body, "license", &license)) != 0)
		goto out;
	if (*owner == '\0')
		owner = actor;
	meta = json_object_get(body, "meta");
	if (meta != NULL && !json_is_null(meta) && (rc = check_meta(meta, "meta")) != 0)
		goto out;
	labels = json_array();
	tags = json_object_get(body, "tags");
	if (tags != NULL && !json_is_null(tags)) {
		size_t i;
		json_t *t;
		if (!json_is_array(tags) || json_array_size(tags) > API_LABELS_MAX) {
			rc = cairn_error_set(CAIRN_EINVAL, "tags must be an array of at "
			                     "most %d strings", API_LABELS_MAX);
			goto out;
		}
		json_array_foreach(tags, i, t) {
			if (!json_is_string(t)) {
				rc = cairn_error_set(CAIRN_EINVAL, "tags must be strings");
				goto out;
			}
			rc = check_label(json_string_value(t));
			if (rc != 0)
				goto out;
			json_array_append(labels, t);
		}
	}
	rec = json_pack("{s:I,s:s,s:s,s:s,s:o,s:O,s:I,s:I}",
	                "id", (json_int_t)0, "description", description,
	                "owner", owner, "license", license,
	                "meta", json_is_object(meta) ? json_incref(meta) : json_object(),
	                "tags", labels, "created", (json_int_t)util_now(),
	                "latest", (json_int_t)0);
	if (rec == NULL) {
		rc = cairn_error_set(CAIRN_EINVAL, "the dataset record cannot be encoded");
		goto out;
	}

	rc = db_batch_new(&b, c->db);
	if (rc != 0)
		goto out;
	/* The existence check and the id allocation must see every other
	 * create, so both happen under the lock that publishes. */
	catalog_lock(c);
	locked = true;
	rc = db_get(c->db, CF_DATASETS, name, strlen(name), &v);
	if (rc == 0) {
		db_val_free(&v);
		rc = cairn_error_set(CAIRN_EEXISTS, "dataset '%s' already exists", name);
		goto out;
	}
	if (rc != CAIRN_ENOTFOUND)
		goto out;
	n = c->n;
	id = n.next_dsid++;
	n.datasets++;
	json_object_set_new(rec, "id", json_integer((json_int_t)id));
	rc = catalog_put_json(b, CF_DATASETS, name, strlen(name), rec);
	if (rc != 0)
		goto out;
	{
		size_t nlen = strlen(name);
		char val[1 + CAIRN_DATASET_NAME_MAX];
		val[0] = KV_FMT_V1;
		memcpy(val + 1, name, nlen);
		db_batch_put(b, CF_DATASET_IDS, key, kv_u64_key(key, id), val, 1 + nlen);
	}
	rc = catalog_publish(c, b, &n, actor, "dataset.create", name,
	                     json_pack("{s:I}", "id", (json_int_t)id));
out:
	if (locked)
		catalog_unlock(c);
	if (rc == 0) {
		log_info(MOD, "%s created dataset %s", actor, name);
		http_respond_json(r, 201, dataset_view(name, rec));
	} else {
		http_respond_current_error(r, rc);
	}
	db_batch_free(b);
	json_decref(labels);
	json_decref(rec);
}

static void dataset_list(struct catalog *c, struct http_req *r)
{
	const char *after = http_query(r, "after");
	struct db_iter *it = NULL;
	json_t *list = json_array();
	size_t limit, count = 0;
	bool more = false;
	int rc;

	rc = api_limit(r, &limit);
	if (rc != 0)
		goto out;
	rc = db_iter_new(&it, c->db, CF_DATASETS, NULL, 0, NULL, 0);
	if (rc != 0)
		goto out;
	if (after != NULL && *after != '\0')
		db_iter_seek(it, after, strlen(after));
	else
		db_iter_seek_first(it);
	for (; db_iter_valid(it); db_iter_next(it)) {
		size_t klen, vlen;
		const char *k = db_iter_key(it, &klen);
		const char *v = db_iter_value(it, &vlen);
		char name[CAIRN_DATASET_NAME_MAX + 1];
		json_t *rec;

		if (klen > CAIRN_DATASET_NAME_MAX)
			continue;
		memcpy(name, k, klen);
		name[klen] = '\0';
		if (after != NULL && strcmp(name, after) == 0)
			continue;
		if (count == limit) {
			more = true;
			break;
		}
		if (vlen < 1 || (uint8_t)v[0] != KV_FMT_JSON ||
		    (rec = json_loadb(v + 1, vlen - 1, 0, NULL)) == NULL) {
			rc = cairn_error_set(CAIRN_ECORRUPT, "the record of dataset '%s' "
			                     "is unreadable", name);
			goto out;
		}
		json_array_append_new(list, dataset_view(name, rec));
		json_decref(rec);
		count++;
	}
	rc = db_iter_status(it);
out:
	db_iter_free(it);
	respond_page(r, rc, "datasets", list, more, "name");
}

/* ---- versions ---- */

/* Calls fn(ctx, tag, seq) for every tag of ds (at most API_TAG_SCAN_MAX
 * keys), in name order; fn's non-zero value stops the walk and is returned. */
static int tags_foreach(struct catalog *c, const struct cat_dataset *ds,
                        int (*fn)(void *ctx, const char *tag, uint64_t seq), void *ctx)
{
	struct db_iter *it = NULL;
	uint8_t lo[8], hi[8];
	size_t seen = 0;
	int rc;

	kv_put64(lo, ds->id);
	kv_put64(hi, ds->id + 1);
	rc = db_iter_new(&it, c->db, CF_TAGS, lo, 8, hi, 8);
	if (rc != 0)
		return rc;
	for (db_iter_seek_first(it); db_iter_valid(it) && seen < API_TAG_SCAN_MAX;
	     db_iter_next(it), seen++) {
		size_t klen, vlen;
		const char *k = db_iter_key(it, &klen);
		const char *v = db_iter_value(it, &vlen);
		char tag[CAIRN_TAG_MAX + 1];

		if (klen <= 8 || klen - 8 > CAIRN_TAG_MAX || vlen != 9)
			continue;
		memcpy(tag, k + 8, klen - 8);
		tag[klen - 8] = '\0';
		rc = fn(ctx, tag, kv_get64((const uint8_t *)v + 1));
		if (rc != 0)
			break;
	}
	if (rc == 0)
		rc = db_iter_status(it);
	db_iter_free(it);
	return rc;
}

static int tag_map_add(void *ctx, const char *tag, uint64_t seq)
{
	json_t *map = ctx, *arr;
	char seqs[24];

	snprintf(seqs, sizeof(seqs), "%llu", (unsigned long long)seq);
	arr = json_object_get(map, seqs);
	if (arr == NULL) {
		arr = json_array();
		json_object_set_new(map, seqs, arr);
	}
	json_array_append_new(arr, json_string(tag));
	return 0;
}

/* {"<seq>": ["tag", ...]} for the dataset's tags. Tags are keyed by name,
 * not by version, so a version's tags come from one scan of its dataset's
 * (few) tags; a listing builds this map once for the whole page. */
static int tag_map(struct catalog *c, const struct cat_dataset *ds, json_t **out)
{
	json_t *map = json_object();
	int rc;

	*out = NULL;
	rc = tags_foreach(c, ds, tag_map_add, map);
	if (rc != 0) {
		json_decref(map);
		return rc;
	}
	*out = map;
	return 0;
}

/* Objects and bytes of a version per tier state: its vobjs keys joined
 * with the objects CF. A lookup per distinct object, which is why listings
 * skip it and ?tiers=0 turns it off. An object without a record (which
 * fsck would call dangling) is counted as "missing" rather than hidden. */
static int version_tiers(struct catalog *c, uint64_t vid, json_t **out)
{
	struct db_iter *it = NULL;
	uint8_t lo[8], hi[8];
	uint64_t count[CAIRN_TIER_NSTATES + 1] = {0}, bytes[CAIRN_TIER_NSTATES + 1] = {0};
	json_t *tiers;
	int rc;

	*out = NULL;
	kv_put64(lo, vid);
	kv_put64(hi, vid + 1);
	rc = db_iter_new(&it, c->db, CF_VOBJS, lo, 8, hi, 8);
	if (rc != 0)
		return rc;
	for (db_iter_seek_first(it); db_iter_valid(it); db_iter_next(it)) {
		size_t klen;
		const char *k = db_iter_key(it, &klen);
		struct kv_object o;
		cairn_oid oid;
		int slot;

		if (klen != 24)
			continue;
		memcpy(oid.b, k + 8, 16);
		rc = catalog_object_get(c, &oid, &o);
		if (rc == CAIRN_ENOTFOUND) {
			slot = CAIRN_TIER_NSTATES;  /* not recorded: "missing" */
			o.size = 0;
		} else if (rc != 0) {
			goto out;
		} else {
			slot = (o.state >= 0 && o.state < CAIRN_TIER_NSTATES) ?
			       o.state : CAIRN_TIER_NSTATES;
		}
		count[slot]++;
		bytes[slot] += o.size;
	}
	rc = db_iter_status(it);
	if (rc != 0)
		goto out;
	tiers = json_object();
	for (int s = 0; s <= CAIRN_TIER_NSTATES; s++) {
		if (count[s] == 0 && s != CAIRN_TIER_HOT)
			continue;
		const char *name = s < CAIRN_TIER_NSTATES ? cairn_tier_state_name(s) : NULL;
		json_object_set_new(tiers, name ? name : "missing", json_pack("{s:I,s:I}",
		                    "objects", (json_int_t)count[s],
		                    "bytes", (json_int_t)bytes[s]));
	}
	*out = tiers;
out:
	db_iter_free(it);
	return rc;
}

static int version_view(json_t **out, struct catalog *c, const struct cat_dataset *ds,
                        const struct cat_version *v, bool tiers, json_t *tags)
{
	static const char *const head[] = {
		"seq", "digest", "vid", "parent", "author", "message", "time",
		"chunk_size", "files", "dirs", "symlinks", "bytes", "objects",
		"object_bytes",
	};
	static const char *const tail[] = { "meta", "transform", "derived_from" };
	char seqs[24];
	json_t *o = json_object(), *t;
	int rc;

	*out = NULL;
	json_object_set_new(o, "dataset", json_string(ds->name));
	for (size_t i = 0; i < sizeof(head) / sizeof(head[0]); i++) {
		json_t *x = json_object_get(v->rec, head[i]);
		json_object_set(o, head[i], x ? x : json_null());
	}
	if (tiers) {
		rc = version_tiers(c, v->vid, &t);
		if (rc != 0) {
			json_decref(o);
			return rc;
		}
		json_object_set_new(o, "tiers", t);
	}
	for (size_t i = 0; i < sizeof(tail) / sizeof(tail[0]); i++) {
		json_t *x = json_object_get(v->rec, tail[i]);
		json_object_set(o, tail[i], x ? x : json_null());
	}
	snprintf(seqs, sizeof(seqs), "%llu", (unsigned long long)v->seq);
	t = tags ? json_object_get(tags, seqs) : NULL;
	json_object_set_new(o, "tags", t ? json_copy(t) : json_array());
	*out = o;
	return 0;
}

int api_version_view(json_t **out, struct catalog *c, const struct cat_dataset *ds,
                     const struct cat_version *v, bool tiers)
{
	json_t *tags = NULL;
	int rc;

	rc = tag_map(c, ds, &tags);
	if (rc != 0)
		return rc;
	rc = version_view(out, c, ds, v, tiers, tags);
	json_decref(tags);
	return rc;
}

static void version_list(struct catalog *c, struct http_req *r,
                         const struct cat_dataset *ds)
{
	struct db_iter *it = NULL;
	uint64_t before = 0;
	uint8_t lo[8], hi[8], key[16];
	json_t *list = json_array(), *tags = NULL;
	size_t limit, count = 0;
	bool more = false;
	int rc;

	if ((rc = api_limit(r, &limit)) != 0 ||
	    (rc = api_query_u64(r, "before", &before)) != 0)
		goto out;
	rc = tag_map(c, ds, &tags);
	if (rc != 0)
		goto out;
	kv_put64(lo, ds->id);
	kv_put64(hi, ds->id + 1);
	rc = db_iter_new(&it, c->db, CF_VERSIONS, lo, 8, hi, 8);
	if (rc != 0)
		goto out;
	/* Newest first: walk backwards from just below the cursor. */
	if (http_query(r, "before") != NULL) {
		if (before <= 1)
			goto done;
		db_iter_seek_for_prev(it, key, kv_u64u64_key(key, ds->id, before - 1));
	} else {
		db_iter_seek_last(it);
	}
	for (; db_iter_valid(it); db_iter_prev(it)) {
		size_t klen, vlen;
		const char *k = db_iter_key(it, &klen);
		const char *v = db_iter_value(it, &vlen);
		struct cat_version ver;
		json_t *view;

		if (klen != 16)
			continue;
		if (count == limit) {
			more = true;
			break;
		}
		memset(&ver, 0, sizeof(ver));
		ver.dsid = ds->id;
		ver.seq = kv_get64((const uint8_t *)k + 8);
		if (vlen < 1 || (uint8_t)v[0] != KV_FMT_JSON ||
		    (ver.rec = json_loadb(v + 1, vlen - 1, 0, NULL)) == NULL) {
			rc = cairn_error_set(CAIRN_ECORRUPT, "version %llu of '%s' is "
			                     "unreadable", (unsigned long long)ver.seq, ds->name);
			goto out;
		}
		ver.vid = (uint64_t)json_integer_value(json_object_get(ver.rec, "vid"));
		rc = version_view(&view, c, ds, &ver, false, tags);
		json_decref(ver.rec);
		if (rc != 0)
			goto out;
		json_array_append_new(list, view);
		count++;
	}
	rc = db_iter_status(it);
done:
out:
	db_iter_free(it);
	json_decref(tags);
	respond_page(r, rc, "versions", list, more, "seq");
}

static void version_get(struct catalog *c, struct http_req *r,
                        const struct cat_dataset *ds, const struct cat_version *v)
{
	const char *t = http_query(r, "tiers");
	bool tiers = !(t != NULL && strcmp(t, "0") == 0);
	json_t *view;
	int rc;

	rc = api_version_view(&view, c, ds, v, tiers);
	if (rc != 0) {
		http_respond_current_error(r, rc);
		return;
	}
	http_respond_json(r, 200, view);
}

/* ---- tags ---- */

static json_t *tag_view(const char *tag, const struct cat_version *v)
{
	return json_pack("{s:s,s:I,s:O}", "tag", tag, "seq", (json_int_t)v->seq,
	                 "digest", json_object_get(v->rec, "digest"));
}

struct tag_list_ctx {
	struct catalog *c;
	const struct cat_dataset *ds;
	json_t *list;
};

static int tag_list_add(void *ctx, const char *tag, uint64_t seq)
{
	struct tag_list_ctx *t = ctx;
	struct cat_version ver;
	int rc = catalog_version_get(t->c, t->ds, seq, &ver);

	if (rc != 0)
		return rc;
	json_array_append_new(t->list, tag_view(tag, &ver));
	catalog_version_free(&ver);
	return 0;
}

static void tag_list(struct catalog *c, struct http_req *r, const struct cat_dataset *ds)
{
	struct tag_list_ctx t = { c, ds, json_array() };
	int rc = tags_foreach(c, ds, tag_list_add, &t);

	if (rc != 0) {
		json_decref(t.list);
		http_respond_current_error(r, rc);
		return;
	}
	http_respond_json(r, 200, json_pack("{s:o}", "tags", t.list));
}

struct tag_put {
	struct catalog *c;
	struct cat_dataset ds;
	char tag[CAIRN_TAG_MAX + 1];
};

static void tag_put_body(void *ctx, struct http_req *r, json_t *body)
{
	struct tag_put *tp = ctx;
	struct catalog *c = tp->c;
	struct cat_version ver = {0};
	struct db_batch *b = NULL;
	const char *ref;
	char actor[128], target[CAIRN_DATASET_NAME_MAX + CAIRN_TAG_MAX + 2];
	uint8_t key[8 + CAIRN_TAG_MAX], val[9];
	size_t klen;
	json_t *prev = json_null();
	struct db_val v;
	bool locked = false;
	int rc;

	ref = json_string_value(json_object_get(body, "version"));
	if (!json_is_object(body) || ref == NULL) {
		rc = cairn_error_set(CAIRN_EINVAL, "the body must be {\"version\": "
		                     "\"<seq, tag, latest or digest prefix>\"}");
		goto out;
	}
	rc = catalog_version_ref(c, &tp->ds, ref, &ver);
	if (rc != 0)
		goto out;
	api_actor(r, actor, sizeof(actor));
	rc = db_batch_new(&b, c->db);
	if (rc != 0)
		goto out;
	klen = kv_tag_key(key, tp->ds.id, tp->tag, strlen(tp->tag));
	val[0] = KV_FMT_V1;
	kv_put64(val + 1, ver.seq);
	db_batch_put(b, CF_TAGS, key, klen, val, sizeof(val));
	snprintf(target, sizeof(target), "%s@%s", tp->ds.name, tp->tag);
	/* Read the previous target under the lock, so that the audit record
	 * of each move names the version it really moved from. */
	catalog_lock(c);
	locked = true;
	if (db_get(c->db, CF_TAGS, key, klen, &v) == 0) {
		if (v.len == 9) {
			json_decref(prev);
			prev = json_integer((json_int_t)kv_get64((const uint8_t *)v.data + 1));
		}
		db_val_free(&v);
	}
	rc = catalog_publish(c, b, NULL, actor, "tag.set", target,
	                     json_pack("{s:I,s:O,s:o}", "seq", (json_int_t)ver.seq,
	                               "digest", json_object_get(ver.rec, "digest"),
	                               "previous", prev));
	prev = NULL;
out:
	if (locked)
		catalog_unlock(c);
	json_decref(prev);
	db_batch_free(b);
	if (rc == 0) {
		log_info(MOD, "%s tagged %s@%llu as %s", actor, tp->ds.name,
		         (unsigned long long)ver.seq, tp->tag);
		http_respond_json(r, 200, tag_view(tp->tag, &ver));
	} else {
		http_respond_current_error(r, rc);
	}
	catalog_version_free(&ver);
}

static void tag_put_free(void *ctx)
{
	struct tag_put *tp = ctx;

	catalog_dataset_free(&tp->ds);
	free(tp);
}

static void tag_put(struct catalog *c, struct http_req *r, struct cat_dataset *ds,
                    const char *tag)
{
	struct tag_put *tp;

	if (cairn_tag_validate(tag) != 0) {
		http_respond_current_error(r, CAIRN_EINVAL);
		return;
	}
	tp = calloc(1, sizeof(*tp));
	if (tp == NULL) {
		http_respond_error(r, CAIRN_ENOMEM, "out of memory");
		return;
	}
	tp->c = c;
	tp->ds = *ds;
	ds->rec = NULL;         /* moved into tp */
	snprintf(tp->tag, sizeof(tp->tag), "%s", tag);
	http_body_json(r, API_SMALL_BODY, tag_put_body, tp, tag_put_free);
}

static void tag_delete(struct catalog *c, struct http_req *r,
                       const struct cat_dataset *ds, const char *tag)
{
	struct db_batch *b = NULL;
	char actor[128], target[CAIRN_DATASET_NAME_MAX + CAIRN_TAG_MAX + 2];
	uint8_t key[8 + CAIRN_TAG_MAX];
	size_t klen;
	struct db_val v;
	uint64_t seq = 0;
	bool locked = false;
	int rc;

	if (strlen(tag) > CAIRN_TAG_MAX || cairn_tag_validate(tag) != 0) {
		http_respond_current_error(r, CAIRN_EINVAL);
		return;
	}
	api_actor(r, actor, sizeof(actor));
	klen = kv_tag_key(key, ds->id, tag, strlen(tag));
	snprintf(target, sizeof(target), "%s@%s", ds->name, tag);
	rc = db_batch_new(&b, c->db);
	if (rc != 0)
		goto out;
	catalog_lock(c);
	locked = true;
	rc = db_get(c->db, CF_TAGS, key, klen, &v);
	if (rc == CAIRN_ENOTFOUND) {
		rc = cairn_error_set(CAIRN_ENOTFOUND, "dataset '%s' has no tag '%s'",
		                     ds->name, tag);
		goto out;
	}
	if (rc != 0)
		goto out;
	if (v.len == 9)
		seq = kv_get64((const uint8_t *)v.data + 1);
	db_val_free(&v);
	db_batch_del(b, CF_TAGS, key, klen);
	rc = catalog_publish(c, b, NULL, actor, "tag.delete", target,
	                     json_pack("{s:I}", "seq", (json_int_t)seq));
out:
	if (locked)
		catalog_unlock(c);
	db_batch_free(b);
	if (rc == 0) {
		log_info(MOD, "%s removed tag %s", actor, target);
		http_respond_empty(r, 204);
	} else {
		http_respond_current_error(r, rc);
	}
}

/* ---- audit ---- */

/* The stored record as the API shows it: the canonical JSON plus its hash. */
static json_t *audit_view(const char *v, size_t vlen)
{
	char hex[CAIRN_OID_HEXLEN + 1];
	cairn_oid h;
	json_t *rec;

	if (vlen < 17 || (uint8_t)v[0] != KV_FMT_V1)
		return NULL;
	rec = json_loadb(v + 17, vlen - 17, 0, NULL);
	if (rec == NULL)
		return NULL;
	memcpy(h.b, v + 1, 16);
	json_object_set_new(rec, "hash", json_string(cairn_oid_fmt(hex, &h)));
	return rec;
}

static void audit_list(struct catalog *c, struct http_req *r)
{
	struct db_iter *it = NULL;
	uint64_t since = 0, after = 0, start;
	uint8_t key[16];
	json_t *list = json_array();
	size_t limit, count = 0;
	bool more = false;
	int rc;

	if ((rc = api_limit(r, &limit)) != 0 ||
	    (rc = api_query_u64(r, "since", &since)) != 0 ||
	    (rc = api_query_u64(r, "after", &after)) != 0)
		goto out;
	start = after + 1;
	if (since > 0) {
		/* Record times never decrease: the first record at or after
		 * `since` starts the answer. */
		rc = db_iter_new(&it, c->db, CF_AUDIT_TIME, NULL, 0, NULL, 0);
		if (rc != 0)
			goto out;
		db_iter_seek(it, key, kv_u64u64_key(key, since, 0));
		if (!db_iter_valid(it)) {
			rc = db_iter_status(it);
			goto out;
		}
		size_t klen;
		const char *k = db_iter_key(it, &klen);
		if (klen == 16 && kv_get64((const uint8_t *)k + 8) > start)
			start = kv_get64((const uint8_t *)k + 8);
		db_iter_free(it);
		it = NULL;
	}
	rc = db_iter_new(&it, c->db, CF_AUDIT, NULL, 0, NULL, 0);
	if (rc != 0)
		goto out;
	for (db_iter_seek(it, key, kv_u64_key(key, start)); db_iter_valid(it);
	     db_iter_next(it)) {
		size_t klen, vlen;
		const char *k = db_iter_key(it, &klen);
		const char *v = db_iter_value(it, &vlen);
		json_t *rec;

		if (klen != 8)
			continue;
		if (count == limit) {
			more = true;
			break;
		}
		rec = audit_view(v, vlen);
		if (rec == NULL) {
			rc = cairn_error_set(CAIRN_ECORRUPT, "audit record %llu is unreadable",
			                     (unsigned long long)kv_get64((const uint8_t *)k));
			goto out;
		}
		json_array_append_new(list, rec);
		count++;
	}
	rc = db_iter_status(it);
out:
	db_iter_free(it);
	respond_page(r, rc, "records", list, more, "seq");
}

/* Re-hashes the whole chain: each record's hash must be XXH3-128 of the
 * previous hash and its canonical bytes, seqs must run 1, 2, ... without a
 * gap, and the chain must reach the head this process wrote last. */
static void audit_verify(struct catalog *c, struct http_req *r)
{
	struct db_iter *it = NULL;
	cairn_hasher *h = NULL;
	cairn_oid prev, got;
	uint64_t expect = 1, first_bad = 0, head;
	int rc;

	memset(&prev, 0, sizeof(prev));
	rc = cairn_hasher_new(&h);
	if (rc != 0)
		goto out;
	rc = db_iter_new(&it, c->db, CF_AUDIT, NULL, 0, NULL, 0);
	if (rc != 0)
		goto out;
	catalog_lock(c);
	head = c->audit_seq;
	catalog_unlock(c);
	for (db_iter_seek_first(it); db_iter_valid(it); db_iter_next(it)) {
		size_t klen, vlen;
		const char *k = db_iter_key(it, &klen);
		const char *v = db_iter_value(it, &vlen);
		uint64_t seq = klen == 8 ? kv_get64((const uint8_t *)k) : 0;
		json_t *rec;

		if (seq != expect || vlen < 17 || (uint8_t)v[0] != KV_FMT_V1) {
			first_bad = expect;
			break;
		}
		cairn_hasher_reset(h);
		cairn_hasher_update(h, prev.b, CAIRN_OID_LEN);
		cairn_hasher_update(h, v + 17, vlen - 17);
		cairn_hasher_digest(h, &got);
		if (memcmp(got.b, v + 1, CAIRN_OID_LEN) != 0) {
			first_bad = seq;
			break;
		}
		rec = json_loadb(v + 17, vlen - 17, 0, NULL);
		if (rec == NULL || (uint64_t)json_integer_value(
		                       json_object_get(rec, "seq")) != seq) {
			json_decref(rec);
			first_bad = seq;
			break;
		}
		json_decref(rec);
		prev = got;
		expect++;
	}
	rc = db_iter_status(it);
	if (rc == 0 && first_bad == 0 && expect - 1 < head)
		first_bad = expect;     /* the newest records are gone */
out:
	db_iter_free(it);
	cairn_hasher_free(h);
	if (rc != 0) {
		http_respond_current_error(r, rc);
		return;
	}
	if (first_bad != 0) {
		log_error(MOD, "audit chain broken at record %llu",
		          (unsigned long long)first_bad);
		http_respond_json(r, 200, json_pack("{s:b,s:I,s:I}", "ok", 0,
		                  "first_bad", (json_int_t)first_bad,
		                  "records", (json_int_t)(expect - 1)));
		return;
	}
	http_respond_json(r, 200, json_pack("{s:b,s:I}", "ok", 1,
	                  "records", (json_int_t)(expect - 1)));
}

/* ---- routing ---- */

/* Everything under /v1/datasets/{name}/-/... */
static void route_dataset_sub(struct catalog *c, struct http_req *r,
                              struct cat_dataset *ds, char **sub, int nsub)
{
	struct cat_version v = {0};
	int rc;

	if (nsub >= 1 && strcmp(sub[0], "versions") == 0) {
		if (nsub == 1) {
			if (method_is(r, "GET"))
				version_list(c, r, ds);
			else if (method_is(r, "POST"))
				commit_start(c, r, ds);
			else
				respond_bad_method(r);
			return;
		}
		bool tier = nsub == 3 && (strcmp(sub[2], "pin") == 0 ||
		                          strcmp(sub[2], "recall") == 0 ||
		                          strcmp(sub[2], "scrub") == 0 ||
		                          strcmp(sub[2], "explain") == 0);
		if (nsub > 3 || (nsub == 3 && !tier && strcmp(sub[2], "entry") != 0 &&
		                 strcmp(sub[2], "files") != 0 &&
		                 strcmp(sub[2], "content") != 0))
			goto notfound;
		if (!tier && !method_is(r, "GET")) {
			respond_bad_method(r);
			return;
		}
		rc = catalog_version_ref(c, ds, sub[1], &v);
		if (rc != 0) {
			http_respond_current_error(r, rc);
			return;
		}
		if (tier)
			tierapi_version(c, r, ds, &v, sub[2]);
		else if (nsub == 2)
			version_get(c, r, ds, &v);
		else if (strcmp(sub[2], "entry") == 0)
			tree_entry(c, r, &v);
		else if (strcmp(sub[2], "files") == 0)
			tree_files(c, r, &v);
		else
			tree_content(c, r, &v);
		catalog_version_free(&v);
		return;
	}
	if (nsub >= 1 && strcmp(sub[0], "tags") == 0) {
		if (nsub == 1 && method_is(r, "GET"))
			tag_list(c, r, ds);
		else if (nsub == 2 && method_is(r, "PUT"))
			tag_put(c, r, ds, sub[1]);
		else if (nsub == 2 && method_is(r, "DELETE"))
			tag_delete(c, r, ds, sub[1]);
		else if (nsub <= 2)
			respond_bad_method(r);
		else
			goto notfound;
		return;
	}
notfound:
	cairn_error_set(CAIRN_ENOTFOUND, "no such endpoint: %s", http_path(r));
	http_respond_current_error(r, CAIRN_ENOTFOUND);
}

static void route_datasets(struct catalog *c, struct http_req *r, char **seg, int n)
{
	char name[CAIRN_DATASET_NAME_MAX + 2];
	struct cat_dataset ds;
	int i, rc;

	if (n == 1) {
		if (method_is(r, "GET"))
			dataset_list(c, r);
		else if (method_is(r, "POST"))
			http_body_json(r, API_SMALL_BODY, dataset_create, c, NULL);
		else
			respond_bad_method(r);
		return;
	}
	i = 2;
	if (n > 2 && strcmp(seg[2], "-") != 0) {
		if ((size_t)snprintf(name, sizeof(name), "%s/%s", seg[1], seg[2]) >= sizeof(name))
			name[CAIRN_DATASET_NAME_MAX + 1] = '\0';
		i = 3;
	} else {
		snprintf(name, sizeof(name), "%s", seg[1]);
	}
	if (i < n && strcmp(seg[i], "-") != 0) {
		cairn_error_set(CAIRN_ENOTFOUND, "no such endpoint: %s (below a dataset, "
		                "paths continue after a '-' segment)", http_path(r));
		http_respond_current_error(r, CAIRN_ENOTFOUND);
		return;
	}
	rc = cairn_dataset_name_validate(name);
	if (rc != 0) {
		http_respond_current_error(r, rc);
		return;
	}
	if (i == n && !method_is(r, "GET")) {
		respond_bad_method(r);
		return;
	}
	rc = catalog_dataset_get(c, name, &ds);
	if (rc != 0) {
		http_respond_current_error(r, rc);
		return;
	}
	if (i == n)
		http_respond_json(r, 200, dataset_view(ds.name, ds.rec));
	else
		route_dataset_sub(c, r, &ds, seg + i + 1, n - i - 1);
	catalog_dataset_free(&ds);
}

/* Every request enters here, on its connection's thread, once its headers
 * are in. Unknown paths are not_found; a known path with the wrong method
 * is invalid (the API's error codes have no 405). */
void api_handle(void *ctx, struct http_req *r)
{
	struct catalog *c = ctx;
	const char *path = http_path(r);
	char buf[2048];
	char *seg[API_MAX_SEGMENTS];
	int n = 0;

	if (strncmp(path, "/v1/", 4) != 0 || strlen(path + 4) >= sizeof(buf))
		goto notfound;
	strcpy(buf, path + 4);
	for (char *p = buf, *s; p != NULL; p = s) {
		s = strchr(p, '/');
		if (s != NULL)
			*s++ = '\0';
		if (*p == '\0' && s == NULL && n > 0)
			break;          /* one trailing slash is forgiven */
		if (*p == '\0' || n == API_MAX_SEGMENTS)
			goto notfound;
		seg[n++] = p;
	}
	if (n == 0)
		goto notfound;

	if (strcmp(seg[0], "status") == 0 && n == 1) {
		if (method_is(r, "GET"))
			handle_status(c, r);
		else
			respond_bad_method(r);
		return;
	}
	if (strcmp(seg[0], "datasets") == 0) {
		route_datasets(c, r, seg, n);
		return;
	}
	if (strcmp(seg[0], "fs") == 0 && (n == 3 || n == 4)) {
		if (method_is(r, "GET"))
			tree_fs(c, r, seg[1], seg[2], n == 4 ? seg[3] : NULL);
		else
			respond_bad_method(r);
		return;
	}
	if (strcmp(seg[0], "tier") == 0 && n >= 2) {
		tierapi_route(c, r, seg, n);
		return;
	}
	if (strcmp(seg[0], "objects") == 0) {
		bool named = n == 2 && (strcmp(seg[1], "missing") == 0 ||
		                        strcmp(seg[1], "info") == 0 ||
		                        strcmp(seg[1], "accessed") == 0);
		if (n == 1 && method_is(r, "POST"))
			objects_upload(c, r);
		else if (n == 2 && strcmp(seg[1], "missing") == 0 && method_is(r, "POST"))
			objects_missing(c, r);
		else if (n == 2 && strcmp(seg[1], "info") == 0 && method_is(r, "POST"))
			objects_info_batch(c, r);
		else if (n == 2 && strcmp(seg[1], "accessed") == 0 && method_is(r, "POST"))
			objects_accessed(c, r);
		else if (n == 2 && !named && method_is(r, "GET"))
			objects_get(c, r, seg[1]);
		else if (n == 3 && strcmp(seg[2], "info") == 0 && method_is(r, "GET"))
			objects_info(c, r, seg[1]);
		else if (n == 3 && strcmp(seg[2], "blocks") == 0 && method_is(r, "GET"))
			objects_blocks(c, r, seg[1]);
		else if (n == 3 && strcmp(seg[2], "recall") == 0 && method_is(r, "POST"))
			objects_recall(c, r, seg[1]);
		else if (n == 3 && strcmp(seg[2], "url") == 0 && method_is(r, "GET"))
			objects_url(c, r, seg[1]);
		else if (n <= 2 || (n == 3 && (strcmp(seg[2], "info") == 0 ||
		                               strcmp(seg[2], "blocks") == 0 ||
		                               strcmp(seg[2], "recall") == 0 ||
		                               strcmp(seg[2], "url") == 0)))
			respond_bad_method(r);
		else
			goto notfound;
		return;
	}
	if (strcmp(seg[0], "admin") == 0 && n == 2 && strcmp(seg[1], "fsck") == 0) {
		if (method_is(r, "POST"))
			objects_fsck(c, r);
		else
			respond_bad_method(r);
		return;
	}
	if (strcmp(seg[0], "audit") == 0 && n <= 2) {
		if (!method_is(r, "GET"))
			respond_bad_method(r);
		else if (n == 1)
			audit_list(c, r);
		else if (strcmp(seg[1], "verify") == 0)
			audit_verify(c, r);
		else
			goto notfound;
		return;
	}
notfound:
	cairn_error_set(CAIRN_ENOTFOUND, "no such endpoint: %s", path);
	http_respond_current_error(r, CAIRN_ENOTFOUND);
}
