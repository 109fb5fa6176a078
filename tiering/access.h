/* access.h — fixed-size tables keyed by object id: recent reads waiting to
 * be written to the catalog, and the set of objects the engine has in hand.
 *
 * Reads are frequent and their times matter only to the minute, so they
 * are coalesced here: however often an object is read between two flushes,
 * the catalog is written once for it, with the latest time. A table holds
 * at most the capacity it was made with; memory never grows with the
 * number of objects read. Not thread-safe: the engine locks around calls.
 */
#ifndef CAIRN_TIER_ACCESS_H
#define CAIRN_TIER_ACCESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "oid.h"

struct tier_oidtab;

/* A table for at most cap entries (its slots are 2 * cap rounded up to a
 * power of two, so probes stay short). */
int tier_oidtab_new(struct tier_oidtab **out, size_t cap);
void tier_oidtab_free(struct tier_oidtab *t);
size_t tier_oidtab_count(const struct tier_oidtab *t);
size_t tier_oidtab_cap(const struct tier_oidtab *t);

/* Inserts oid with val, or keeps the larger of the two values when it is
 * there. CAIRN_ETOOBIG when the table is full and oid is not in it. */
int tier_oidtab_put_max(struct tier_oidtab *t, const cairn_oid *oid, int64_t val);
/* Inserts oid; CAIRN_EEXISTS if present, CAIRN_ETOOBIG when full. */
int tier_oidtab_add(struct tier_oidtab *t, const cairn_oid *oid, int64_t val);
bool tier_oidtab_has(const struct tier_oidtab *t, const cairn_oid *oid, int64_t *val);
/* Removes oid (absent is fine). */
void tier_oidtab_del(struct tier_oidtab *t, const cairn_oid *oid);
/* Moves up to max entries out into oids/vals; returns how many. */
size_t tier_oidtab_drain(struct tier_oidtab *t, cairn_oid *oids, int64_t *vals, size_t max);

#endif
