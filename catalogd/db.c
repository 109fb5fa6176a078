/* db.c — RocksDB, spoken to in this one file.
 *
 * Tuning is deliberately modest: catalogd shares its machine with the pool
 * and the training jobs that read it. One LRU block cache bounds read memory
 * for all column families; a whole-key bloom filter makes the point lookups
 * that dominate (entries by name, objects by id) skip SST files that cannot
 * hold the key, and a memtable bloom does the same for the memtables;
 * db_write_buffer_size caps memtables across the ~17 column
 * families, and max_total_wal_size keeps rarely written families (meta,
 * audit) from pinning old logs. LZ4 costs little CPU on these small records.
 */
#include "db.h"

#include <stdlib.h>
#include <string.h>

#include <rocksdb/c.h>

#include "error.h"
#include "keys.h"
#include "log.h"

#define MOD "catalogd/db"

struct db {
	rocksdb_t *rdb;
	rocksdb_options_t *opts;
	rocksdb_block_based_table_options_t *table;
	rocksdb_cache_t *cache;
	rocksdb_readoptions_t *ropts;
	rocksdb_writeoptions_t *wsync;
	rocksdb_writeoptions_t *wnosync;
	rocksdb_column_family_handle_t *cf[CF_COUNT];
	/* Column families found on disk that this schema does not know: opened
	 * only because RocksDB insists, never used. */
	rocksdb_column_family_handle_t **extra;
	int nextra;
	uint32_t schema;        /* the stamp found (or written) at open */
};

struct db_batch {
	struct db *d;
	rocksdb_writebatch_t *wb;
};

struct db_iter {
	rocksdb_iterator_t *it;
	rocksdb_readoptions_t *ro;
	/* RocksDB keeps pointers to the bounds, so they live here. */
	char *lower, *upper;
};

/* Takes ownership of err (a RocksDB-allocated string). */
static int db_error(char *err, const char *what)
{
	int code = CAIRN_EIO;

	if (strstr(err, "No space") != NULL)
		code = CAIRN_ENOSPC;
	else if (strstr(err, "Corruption") != NULL)
		code = CAIRN_ECORRUPT;
	cairn_error_set(code, "catalog %s: %s", what, err);
	rocksdb_free(err);
	return code;
}

static int check_schema(struct db *d)
{
	char *err = NULL;
	size_t len = 0;
	char *val;
	int rc = 0;

	val = rocksdb_get_cf(d->rdb, d->ropts, d->cf[CF_META], KV_META_SCHEMA,
	                     strlen(KV_META_SCHEMA), &len, &err);
	if (err != NULL)
		return db_error(err, "read of the schema version");
	if (val == NULL) {
		/* A catalog is stamped right after its creation; an unstamped one
		 * is new (or was cut off before its first write). */
		uint8_t v[5];
		v[0] = KV_FMT_V1;
		kv_put32(v + 1, CAIRN_SCHEMA_VERSION);
		rocksdb_put_cf(d->rdb, d->wsync, d->cf[CF_META], KV_META_SCHEMA,
		               strlen(KV_META_SCHEMA), (const char *)v, sizeof(v), &err);
		if (err != NULL)
			return db_error(err, "write of the schema version");
		log_info(MOD, "new catalog, schema %d", CAIRN_SCHEMA_VERSION);
		d->schema = CAIRN_SCHEMA_VERSION;
		return 0;
	}
	if (len != 5 || (uint8_t)val[0] != KV_FMT_V1) {
		rc = cairn_error_set(CAIRN_ECORRUPT,
		                     "catalog schema record is unreadable");
		goto out;
	}
	uint32_t found = kv_get32((const uint8_t *)val + 1);
	/* An older schema opens: the catalog migrates it (db_schema). */
	if (found == 0 || found > CAIRN_SCHEMA_VERSION) {
		rc = cairn_error_set(CAIRN_ERROR,
		                     "catalog has schema %u, this catalogd reads schema %d%s",
		                     found, CAIRN_SCHEMA_VERSION,
		                     found > CAIRN_SCHEMA_VERSION ?
		                     ": it was written by a newer catalogd" : "");
		goto out;
	}
	d->schema = found;
out:
	rocksdb_free(val);
	return rc;
}

uint32_t db_schema(const struct db *d)
{
	return d->schema;
}

int db_schema_stamp(struct db *d, uint32_t version)
{
	char *err = NULL;
	uint8_t v[5];

	v[0] = KV_FMT_V1;
	kv_put32(v + 1, version);
	rocksdb_put_cf(d->rdb, d->wsync, d->cf[CF_META], KV_META_SCHEMA,
	               strlen(KV_META_SCHEMA), (const char *)v, sizeof(v), &err);
	if (err != NULL)
		return db_error(err, "write of the schema version");
	d->schema = version;
	return 0;
}

int db_open(struct db **out, const char *path, size_t cache_bytes)
{
	struct db *d;
	char *err = NULL;
	char **existing = NULL;
	size_t nexisting = 0;
	const char **names = NULL;
	const rocksdb_options_t **cfopts = NULL;
	rocksdb_column_family_handle_t **handles = NULL;
	int total, rc = 0;

	*out = NULL;
	d = calloc(1, sizeof(*d));
	if (d == NULL)
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");

	d->cache = rocksdb_cache_create_lru(cache_bytes);
	d->table = rocksdb_block_based_options_create();
	rocksdb_block_based_options_set_block_cache(d->table, d->cache);
	rocksdb_block_based_options_set_filter_policy(d->table,
		rocksdb_filterpolicy_create_bloom_full(10));
	rocksdb_block_based_options_set_cache_index_and_filter_blocks(d->table, 1);
	rocksdb_block_based_options_set_pin_l0_filter_and_index_blocks_in_cache(d->table, 1);
	rocksdb_block_based_options_set_format_version(d->table, 5);

	d->opts = rocksdb_options_create();
	rocksdb_options_set_create_if_missing(d->opts, 1);
	rocksdb_options_set_create_missing_column_families(d->opts, 1);
	rocksdb_options_increase_parallelism(d->opts, 2);
	rocksdb_options_set_max_background_jobs(d->opts, 2);
	rocksdb_options_set_compression(d->opts, rocksdb_lz4_compression);
	rocksdb_options_set_block_based_table_factory(d->opts, d->table);
	rocksdb_options_set_write_buffer_size(d->opts, 32u << 20);
	rocksdb_options_set_db_write_buffer_size(d->opts, 128u << 20);
	rocksdb_options_set_max_total_wal_size(d->opts, 512u << 20);
	/* A bloom filter on each memtable too: most lookups during uploads
	 * are for objects not stored yet, and a miss should not walk a
	 * skiplist of a few hundred thousand keys. */
	rocksdb_options_set_memtable_prefix_bloom_size_ratio(d->opts, 0.02);
	rocksdb_options_set_memtable_whole_key_filtering(d->opts, 1);
	rocksdb_options_set_keep_log_file_num(d->opts, 4);
	rocksdb_options_set_max_log_file_size(d->opts, 16u << 20);

	d->ropts = rocksdb_readoptions_create();
	d->wsync = rocksdb_writeoptions_create();
	rocksdb_writeoptions_set_sync(d->wsync, 1);
	d->wnosync = rocksdb_writeoptions_create();

	/* RocksDB opens only with every column family on disk named; a new
	 * catalog has none yet (and listing it fails, which is fine). */
	existing = rocksdb_list_column_families(d->opts, path, &nexisting, &err);
	if (err != NULL) {
		/* The list is allocated even on failure (empty). */
		rocksdb_free(err);
		err = NULL;
		if (existing != NULL)
			rocksdb_list_column_families_destroy(existing, 0);
		existing = NULL;
		nexisting = 0;
	}
	total = CF_COUNT;
	names = calloc(CF_COUNT + nexisting, sizeof(*names));
	cfopts = calloc(CF_COUNT + nexisting, sizeof(*cfopts));
	handles = calloc(CF_COUNT + nexisting, sizeof(*handles));
	if (names == NULL || cfopts == NULL || handles == NULL) {
		rc = cairn_error_set(CAIRN_ENOMEM, "out of memory");
		goto out;
	}
	for (int i = 0; i < CF_COUNT; i++)
		names[i] = kv_cf_name(i);
	for (size_t j = 0; j < nexisting; j++) {
		int known = 0;
		for (int i = 0; i < CF_COUNT; i++)
			if (strcmp(existing[j], names[i]) == 0)
				known = 1;
		if (!known) {
			log_warn(MOD, "catalog has an unknown column family '%s'",
			         existing[j]);
			names[total++] = existing[j];
		}
	}
	for (int i = 0; i < total; i++)
		cfopts[i] = d->opts;

	d->rdb = rocksdb_open_column_families(d->opts, path, total, names, cfopts,
	                                      handles, &err);
	if (err != NULL) {
		if (strstr(err, "lock") != NULL) {
			/* RocksDB's LOCK file: the catalog is open elsewhere. */
			rocksdb_free(err);
			rc = cairn_error_set(CAIRN_EEXISTS, "catalog %s is in use by another "
			                     "process (is another catalogd running on this "
			                     "state_dir?)", path);
			goto out;
		}
		rc = db_error(err, "open");
		cairn_error_prefix(rc, "%s", path);
		goto out;
	}
	for (int i = 0; i < CF_COUNT; i++)
		d->cf[i] = handles[i];
	d->nextra = total - CF_COUNT;
	if (d->nextra > 0) {
		d->extra = calloc((size_t)d->nextra, sizeof(*d->extra));
		if (d->extra == NULL) {
			for (int i = CF_COUNT; i < total; i++)
				rocksdb_column_family_handle_destroy(handles[i]);
			d->nextra = 0;
			rc = cairn_error_set(CAIRN_ENOMEM, "out of memory");
			goto out;
		}
		memcpy(d->extra, handles + CF_COUNT,
		       (size_t)d->nextra * sizeof(*d->extra));
	}
	rc = check_schema(d);
	if (rc != 0)
		goto out;
	*out = d;
	d = NULL;
out:
	if (existing != NULL)
		rocksdb_list_column_families_destroy(existing, nexisting);
	free(names);
	free(cfopts);
	free(handles);
	db_close(d);
	return rc;
}

void db_close(struct db *d)
{
	if (d == NULL)
		return;
	if (d->rdb != NULL) {
		for (int i = 0; i < CF_COUNT; i++)
			if (d->cf[i] != NULL)
				rocksdb_column_family_handle_destroy(d->cf[i]);
		for (int i = 0; i < d->nextra; i++)
			rocksdb_column_family_handle_destroy(d->extra[i]);
		rocksdb_close(d->rdb);
	}
	free(d->extra);
	if (d->ropts != NULL)
		rocksdb_readoptions_destroy(d->ropts);
	if (d->wsync != NULL)
		rocksdb_writeoptions_destroy(d->wsync);
	if (d->wnosync != NULL)
		rocksdb_writeoptions_destroy(d->wnosync);
	if (d->opts != NULL)
		rocksdb_options_destroy(d->opts);
	/* The options hold the table factory, which holds the cache; both
	 * are reference-counted inside RocksDB. */
	if (d->table != NULL)
		rocksdb_block_based_options_destroy(d->table);
	if (d->cache != NULL)
		rocksdb_cache_destroy(d->cache);
	free(d);
}

int db_get(struct db *d, int cf, const void *key, size_t klen, struct db_val *v)
{
	char *err = NULL;
	rocksdb_pinnableslice_t *ps;

	v->data = NULL;
	v->len = 0;
	v->pin = NULL;
	ps = rocksdb_get_pinned_cf(d->rdb, d->ropts, d->cf[cf], key, klen, &err);
	if (err != NULL)
		return db_error(err, "read");
	if (ps == NULL)
		return cairn_error_set(CAIRN_ENOTFOUND, "not found");
	v->pin = ps;
	v->data = rocksdb_pinnableslice_value(ps, &v->len);
	return 0;
}

void db_val_free(struct db_val *v)
{
	if (v->pin != NULL)
		rocksdb_pinnableslice_destroy(v->pin);
	v->pin = NULL;
	v->data = NULL;
	v->len = 0;
}

int db_batch_new(struct db_batch **out, struct db *d)
{
	struct db_batch *b = malloc(sizeof(*b));

	*out = NULL;
	if (b == NULL)
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	b->d = d;
	b->wb = rocksdb_writebatch_create();
	*out = b;
	return 0;
}

void db_batch_free(struct db_batch *b)
{
	if (b == NULL)
		return;
	rocksdb_writebatch_destroy(b->wb);
	free(b);
}

void db_batch_put(struct db_batch *b, int cf, const void *key, size_t klen,
                  const void *val, size_t vlen)
{
	rocksdb_writebatch_put_cf(b->wb, b->d->cf[cf], key, klen, val, vlen);
}

void db_batch_del(struct db_batch *b, int cf, const void *key, size_t klen)
{
	rocksdb_writebatch_delete_cf(b->wb, b->d->cf[cf], key, klen);
}

void db_batch_del_range(struct db_batch *b, int cf, const void *start,
                        size_t slen, const void *end, size_t elen)
{
	rocksdb_writebatch_delete_range_cf(b->wb, b->d->cf[cf], start, slen,
	                                   end, elen);
}

size_t db_batch_count(struct db_batch *b)
{
	return (size_t)rocksdb_writebatch_count(b->wb);
}

size_t db_batch_bytes(struct db_batch *b)
{
	size_t size = 0;
	rocksdb_writebatch_data(b->wb, &size);
	return size;
}

int db_batch_commit(struct db_batch *b, bool sync)
{
	char *err = NULL;

	rocksdb_write(b->d->rdb, sync ? b->d->wsync : b->d->wnosync, b->wb, &err);
	if (err != NULL)
		return db_error(err, "write");
	return 0;
}

void db_batch_clear(struct db_batch *b)
{
	rocksdb_writebatch_clear(b->wb);
}

static char *dup_bytes(const void *p, size_t n)
{
	char *c = malloc(n ? n : 1);
	if (c != NULL && n > 0)
		memcpy(c, p, n);
	return c;
}

int db_iter_new(struct db_iter **out, struct db *d, int cf,
                const void *lower, size_t llen, const void *upper, size_t ulen)
{
	struct db_iter *it;

	*out = NULL;
	it = calloc(1, sizeof(*it));
	if (it == NULL)
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	it->ro = rocksdb_readoptions_create();
	if (lower != NULL) {
		it->lower = dup_bytes(lower, llen);
		if (it->lower == NULL)
			goto nomem;
		rocksdb_readoptions_set_iterate_lower_bound(it->ro, it->lower, llen);
	}
	if (upper != NULL) {
		it->upper = dup_bytes(upper, ulen);
		if (it->upper == NULL)
			goto nomem;
		rocksdb_readoptions_set_iterate_upper_bound(it->ro, it->upper, ulen);
	}
	it->it = rocksdb_create_iterator_cf(d->rdb, it->ro, d->cf[cf]);
	*out = it;
	return 0;
nomem:
	db_iter_free(it);
	return cairn_error_set(CAIRN_ENOMEM, "out of memory");
}

void db_iter_free(struct db_iter *it)
{
	if (it == NULL)
		return;
	if (it->it != NULL)
		rocksdb_iter_destroy(it->it);
	rocksdb_readoptions_destroy(it->ro);
	free(it->lower);
	free(it->upper);
	free(it);
}

void db_iter_seek(struct db_iter *it, const void *key, size_t klen)
{
	rocksdb_iter_seek(it->it, key, klen);
}

void db_iter_seek_first(struct db_iter *it)
{
	rocksdb_iter_seek_to_first(it->it);
}

void db_iter_seek_last(struct db_iter *it)
{
	rocksdb_iter_seek_to_last(it->it);
}

void db_iter_seek_for_prev(struct db_iter *it, const void *key, size_t klen)
{
	rocksdb_iter_seek_for_prev(it->it, key, klen);
}

bool db_iter_valid(struct db_iter *it)
{
	return rocksdb_iter_valid(it->it) != 0;
}

void db_iter_next(struct db_iter *it)
{
	rocksdb_iter_next(it->it);
}

void db_iter_prev(struct db_iter *it)
{
	rocksdb_iter_prev(it->it);
}

const char *db_iter_key(struct db_iter *it, size_t *len)
{
	return rocksdb_iter_key(it->it, len);
}

const char *db_iter_value(struct db_iter *it, size_t *len)
{
	return rocksdb_iter_value(it->it, len);
}

int db_iter_status(struct db_iter *it)
{
	char *err = NULL;

	rocksdb_iter_get_error(it->it, &err);
	if (err != NULL)
		return db_error(err, "scan");
	return 0;
}
