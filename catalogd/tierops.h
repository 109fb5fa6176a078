/* tierops.h — the catalog side of tiering: object records and their
 * states, the versions holding an object, pins, the persisted policy.
 *
 * tierops.c is the one glue file between catalogd and tiering/: it
 * implements struct tier_catalog_ops (tiering/engine.h) over the catalog's
 * RocksDB column families (keys.h), and nothing in tiering/ knows what a
 * column family is. Every change of an object's state is one synced
 * WriteBatch, checked as a compare-and-set under the catalog's objlock
 * with cairn_tier_transition_ok(), carrying the per-state counts and the
 * in-flight index with it.
 */
#ifndef CATALOGD_TIEROPS_H
#define CATALOGD_TIEROPS_H

#include <stdbool.h>
#include <jansson.h>

#include "catalog.h"
#include "engine.h"

extern const struct tier_catalog_ops tierops;

/* At catalog open: migrates a schema 1 catalog (objrefs, counts), loads
 * the per-state counts and the number of pins. */
int tierops_open(struct catalog *c);

/* Puts the counts n into b (tier/counts); the caller holds objlock and,
 * once b is committed, stores n in c->tier_n. */
void tierops_counts_put(struct db_batch *b, const struct obj_counts *n);

/* Removes the objrefs keys of a version being discarded (staging). */
int tierops_unref_version(struct catalog *c, uint64_t vid);

/* Pins or unpins version seq of ds; idempotent; audited when it changes. */
int tierops_pin(struct catalog *c, const struct cat_dataset *ds, uint64_t seq,
                bool pin, const char *actor);
/* [{"dataset", "seq", "time"}] of every pin (at most 10000). */
int tierops_pins_json(struct catalog *c, json_t **out);

#endif
