/* db.h — the catalog's key-value store: RocksDB behind a small typed interface.
 *
 * Column families are named by enum kv_cf (keys.h), which also documents
 * every key and value. db.c is the only file that speaks to RocksDB; it turns
 * RocksDB's error strings into CAIRN_E* codes ("No space" → CAIRN_ENOSPC,
 * "Corruption" → CAIRN_ECORRUPT, anything else → CAIRN_EIO) with the
 * thread's message set.
 *
 * Thread safety: a db, its gets and its iterators may be used from any
 * number of threads; one batch or one iterator belongs to one thread.
 * Atomicity: a batch commits all of its operations or none. Durability:
 * a batch committed with sync=true is on stable storage when the call
 * returns, and so is every batch committed before it (one write-ahead log).
 */
#ifndef CATALOGD_DB_H
#define CATALOGD_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct db;

/* Opens (creating it and any missing column family) the catalog at path.
 * Stamps a new catalog with CAIRN_SCHEMA_VERSION; refuses one stamped with
 * a newer version (CAIRN_ERROR, the message says which) and opens an older
 * one, whose stamp db_schema() reports so that the caller migrates it.
 * cache_bytes bounds the block cache shared by every column family. */
int db_open(struct db **out, const char *path, size_t cache_bytes);
/* The schema stamp of the open catalog. */
uint32_t db_schema(const struct db *d);
/* Stamps the catalog with version, durably (the last step of a migration). */
int db_schema_stamp(struct db *d, uint32_t version);
/* Flushes nothing extra (the WAL is durable); waits for background work. */
void db_close(struct db *d);

/* ---- point reads ---- */

/* A value read from the store. data/len stay valid until db_val_free. */
struct db_val {
	const char *data;
	size_t len;
	void *pin;              /* private */
};

/* 0 with *v filled, CAIRN_ENOTFOUND when the key is absent (the message is a
 * bare "not found": callers say what was not found), or an error. */
int db_get(struct db *d, int cf, const void *key, size_t klen, struct db_val *v);
void db_val_free(struct db_val *v);

/* ---- write batches ---- */

struct db_batch;

int db_batch_new(struct db_batch **out, struct db *d);
void db_batch_free(struct db_batch *b);
void db_batch_put(struct db_batch *b, int cf, const void *key, size_t klen,
                  const void *val, size_t vlen);
void db_batch_del(struct db_batch *b, int cf, const void *key, size_t klen);
/* Removes every key k with start <= k < end. */
void db_batch_del_range(struct db_batch *b, int cf, const void *start,
                        size_t slen, const void *end, size_t elen);
/* Operations and serialized bytes held, to bound a batch's size. */
size_t db_batch_count(struct db_batch *b);
size_t db_batch_bytes(struct db_batch *b);
/* Applies the batch atomically; it stays filled (clear it to reuse). */
int db_batch_commit(struct db_batch *b, bool sync);
void db_batch_clear(struct db_batch *b);

/* ---- iterators ---- */

struct db_iter;

/* An iterator over cf restricted to lower <= key < upper (either bound may be
 * NULL; the bounds are copied). Bounded iterators skip deleted ranges
 * cheaply, so every scan in catalogd passes the tightest bounds it knows. */
int db_iter_new(struct db_iter **out, struct db *d, int cf,
                const void *lower, size_t llen, const void *upper, size_t ulen);
void db_iter_free(struct db_iter *it);
void db_iter_seek(struct db_iter *it, const void *key, size_t klen);
void db_iter_seek_first(struct db_iter *it);
void db_iter_seek_last(struct db_iter *it);
/* Positions at the last key <= key. */
void db_iter_seek_for_prev(struct db_iter *it, const void *key, size_t klen);
bool db_iter_valid(struct db_iter *it);
void db_iter_next(struct db_iter *it);
void db_iter_prev(struct db_iter *it);
/* Valid until the iterator moves. */
const char *db_iter_key(struct db_iter *it, size_t *len);
const char *db_iter_value(struct db_iter *it, size_t *len);
/* After !db_iter_valid(): 0 at a normal end, else the read error. */
int db_iter_status(struct db_iter *it);

#endif
