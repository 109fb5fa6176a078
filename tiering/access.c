/* access.c — open addressing with linear probing and backward-shift
 * deletion (no tombstones, so a long-lived table never degrades). Object
 * ids are digests: their first bytes are already a uniform hash. */
#include "access.h"

#include <stdlib.h>
#include <string.h>

#include "error.h"

struct slot {
	cairn_oid oid;
	int64_t val;
	bool used;
};

struct tier_oidtab {
	struct slot *s;
	size_t mask;            /* slots - 1 */
	size_t cap, n;
};

static size_t hash(const cairn_oid *oid)
{
	uint64_t h;

	memcpy(&h, oid->b, sizeof(h));
	return (size_t)h;
}

int tier_oidtab_new(struct tier_oidtab **out, size_t cap)
{
	struct tier_oidtab *t;
	size_t slots = 16;

	*out = NULL;
	if (cap == 0)
		cap = 1;
	while (slots < 2 * cap)
		slots *= 2;
	t = calloc(1, sizeof(*t));
	if (t == NULL)
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	t->s = calloc(slots, sizeof(*t->s));
	if (t->s == NULL) {
		free(t);
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	}
	t->mask = slots - 1;
	t->cap = cap;
	*out = t;
	return 0;
}

void tier_oidtab_free(struct tier_oidtab *t)
{
	if (t == NULL)
		return;
	free(t->s);
	free(t);
}

size_t tier_oidtab_count(const struct tier_oidtab *t)
{
	return t->n;
}

size_t tier_oidtab_cap(const struct tier_oidtab *t)
{
	return t->cap;
}

/* The slot holding oid, or the empty slot where it would go. */
static size_t find(const struct tier_oidtab *t, const cairn_oid *oid)
{
	size_t i = hash(oid) & t->mask;

	while (t->s[i].used && memcmp(t->s[i].oid.b, oid->b, CAIRN_OID_LEN) != 0)
		i = (i + 1) & t->mask;
	return i;
}

static int insert(struct tier_oidtab *t, const cairn_oid *oid, int64_t val, bool keep_max)
{
	size_t i = find(t, oid);

	if (t->s[i].used) {
		if (!keep_max)
			return CAIRN_EEXISTS;
		if (val > t->s[i].val)
			t->s[i].val = val;
		return 0;
	}
	if (t->n >= t->cap)
		return CAIRN_ETOOBIG;
	t->s[i].oid = *oid;
	t->s[i].val = val;
	t->s[i].used = true;
	t->n++;
	return 0;
}

int tier_oidtab_put_max(struct tier_oidtab *t, const cairn_oid *oid, int64_t val)
{
	return insert(t, oid, val, true);
}

int tier_oidtab_add(struct tier_oidtab *t, const cairn_oid *oid, int64_t val)
{
	return insert(t, oid, val, false);
}

bool tier_oidtab_has(const struct tier_oidtab *t, const cairn_oid *oid, int64_t *val)
{
	size_t i = find(t, oid);

	if (!t->s[i].used)
		return false;
	if (val)
		*val = t->s[i].val;
	return true;
}

/* Empties slot i and pulls back the entries after it whose probe chain
 * passed through it. */
static void remove_at(struct tier_oidtab *t, size_t i)
{
	size_t j = i;

	t->s[i].used = false;
	t->n--;
	for (;;) {
		j = (j + 1) & t->mask;
		if (!t->s[j].used)
			return;
		size_t home = hash(&t->s[j].oid) & t->mask;
		/* j stays if its home lies cyclically in (i, j]. */
		if (i <= j ? (i < home && home <= j) : (i < home || home <= j))
			continue;
		t->s[i] = t->s[j];
		t->s[j].used = false;
		i = j;
	}
}

void tier_oidtab_del(struct tier_oidtab *t, const cairn_oid *oid)
{
	size_t i = find(t, oid);

	if (t->s[i].used)
		remove_at(t, i);
}

size_t tier_oidtab_drain(struct tier_oidtab *t, cairn_oid *oids, int64_t *vals, size_t max)
{
	size_t got = 0;

	/* Top down: the slots above i are already empty, so a removal at i
	 * shifts nothing into them; what it may shift into i itself (from a
	 * chain wrapping past the end) is taken by the inner loop. */
	for (size_t i = t->mask + 1; i-- > 0 && got < max;) {
		while (t->s[i].used && got < max) {
			oids[got] = t->s[i].oid;
			if (vals)
				vals[got] = t->s[i].val;
			got++;
			remove_at(t, i);
		}
	}
	return got;
}
