/* move.c — the moves: migrate, release, recall; single-flight fetches; the
 * roll-back/forward of in-flight states after a crash.
 *
 * Each move is a sequence of steps separated by durable state changes
 * (ops->transition, a synced compare-and-set in the catalog) and named
 * crash points (lib/fault.h), so that a kill -9 between any two steps
 * leaves a state that tier_recover() resolves without losing a copy:
 *
 *   migrate  HOT ─mark─▶ MIGRATING   tier.migrate.marked
 *            read the pool copy, check its digest (a damaged pool copy is
 *            never sent), PUT with Content-MD5     tier.migrate.uploaded
 *            verify: HEAD size and ETag = our MD5 (checksum)
 *                                                  tier.migrate.verified
 *            MIGRATING ─▶ DUAL with the S3 facts   tier.migrate.recorded
 *            any failure: MIGRATING ─▶ HOT (the S3 key may stay: harmless,
 *            it is overwritten by the next attempt)
 *   release  DUAL, still in S3: a HEAD, or under verify=readback a GET of
 *            the whole object, its length and hash tier.release.readback
 *            ─mark─▶ RELEASING, the read-back recorded with it
 *            its head kept (keep_head; a cache, pool.h)
 *                                                  tier.release.marked
 *            unlink the pool copy (failure: back to DUAL, head dropped)
 *                                                  tier.release.unlinked
 *            RELEASING ─▶ COLD
 *   recall   GET from S3, check size and digest   tier.recall.fetched
 *            (workers fetch; the pooler thread does the rest for a group
 *            of objects at a time, each step one batch for the group)
 *            COLD ─mark─▶ RECALLING                tier.recall.marked
 *            write to the pool (one synced pool batch)  tier.recall.pooled
 *            RECALLING ─▶ DUAL, its head dropped; any failure:
 *            RECALLING ─▶ COLD
 *
 * The numbered invariants are tiering.c's; INVARIANT() checks one where a
 * step relies on it and refuses the step if it does not hold — a bug, and
 * reported as one, but never a lost byte.
 */
#include "engine_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "error.h"
#include "fault.h"
#include "log.h"

#define MOD "tiering"

static int invariant_broken(int n, const char *cond, const cairn_oid *oid)
{
	char hex[CAIRN_OID_HEXLEN + 1];

	log_error(MOD, "invariant (%d) does not hold for object %s (%s): step refused",
	          n, cairn_oid_fmt(hex, oid), cond);
	return cairn_error_set(CAIRN_ECORRUPT, "object %s: invariant (%d) does not "
	                       "hold (%s); nothing was changed", hex, n, cond);
}

#define INVARIANT(n, cond, oid) ((cond) ? 0 : invariant_broken((n), #cond, (oid)))

static void hexfmt(char *out, const uint8_t *b, size_t n)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[b[i] >> 4];
		out[2 * i + 1] = digits[b[i] & 15];
	}
	out[2 * n] = '\0';
}

static void count_done(struct tier_engine *e, int which, uint64_t bytes)
{
	pthread_mutex_lock(&e->mu);
	e->tot_objects[which]++;
	e->tot_bytes[which] += bytes;
	if (which == TOT_MIGRATED)
		tier_rate_add(&e->rate_migrate, tier_now(), bytes);
	pthread_mutex_unlock(&e->mu);
}

/* Moves back after a failed step; if even that fails, restart recovery
 * will (the in-flight state is in the catalog's index). */
static void roll_back(struct tier_engine *e, const cairn_oid *oid, int from, int to)
{
	char hex[CAIRN_OID_HEXLEN + 1];
	char *msg = strdup(cairn_error_msg());
	int code = cairn_error_code();

	if (e->ops->transition(e->ctx, oid, from, to, NULL) != 0)
		log_error(MOD, "object %s stays %s until the next start: %s",
		          cairn_oid_fmt(hex, oid), cairn_tier_state_name(from),
		          cairn_error_msg());
	/* The caller reports the first failure, not this one. */
	cairn_error_set(code ? code : CAIRN_ERROR, "%s", msg ? msg : "failed");
	free(msg);
}

static int grow(uint8_t **buf, size_t *cap, size_t need)
{
	if (*cap >= need && *buf != NULL)
		return 0;
	uint8_t *nb = realloc(*buf, need ? need : 1);
	if (nb == NULL)
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	*buf = nb;
	*cap = need;
	return 0;
}

/* Reads the whole pool copy and checks it: nothing damaged leaves the pool.
 * CAIRN_ENOTFOUND when the file is gone, CAIRN_ECORRUPT when it is not
 * the object. */
static int read_pool_copy(struct tier_engine *e, const cairn_oid *oid, uint64_t size,
                          uint8_t *buf)
{
	char hex[CAIRN_OID_HEXLEN + 1];
	cairn_oid got;
	size_t nread = 0;
	int rc;

	rc = cairn_store_get_range(cairn_pool_store(e->pool), oid, 0, buf, (size_t)size,
	                           &nread);
	if (rc != 0)
		return cairn_error_prefix(rc, "pool copy of %s", cairn_oid_fmt(hex, oid));
	cairn_oid_hash(&got, buf, nread);
	if (nread != size || cairn_oid_cmp(&got, oid) != 0)
		return cairn_error_set(CAIRN_ECORRUPT, "the pool copy of %s is damaged "
		                       "(%zu bytes, %llu recorded, or wrong digest); it is "
		                       "never copied or served", cairn_oid_fmt(hex, oid),
		                       nread, (unsigned long long)size);
	return 0;
}

/* Reads the S3 copy's size bytes into buf and checks them: CAIRN_ENOTFOUND
 * when S3 has none, CAIRN_ECORRUPT when it is short or not the object.
 * exact: the stored object must be those bytes and no more (a read-back
 * of what was just uploaded), and etag (TIER_ETAG_MAX) gets the server's
 * ETag; otherwise (a reader's fetch, a scrub's verdict) bytes past the end
 * do not make the object's bytes wrong, and etag is not asked for. */
static int read_s3_copy(struct tier_engine *e, const cairn_oid *oid, uint64_t size,
                        uint8_t *buf, bool background, bool exact, char *etag)
{
	char hex[CAIRN_OID_HEXLEN + 1];
	cairn_oid got;
	size_t nread = 0;
	int rc;

	cairn_oid_fmt(hex, oid);
	tier_throttle(e, size, background);
	if (exact)
		rc = cairn_s3_get(e->s3, oid, buf, (size_t)size, &nread, etag);
	else
		rc = cairn_s3_get_range(e->s3, oid, 0, buf, (size_t)size, &nread);
	if (rc == CAIRN_ENOTFOUND)
		return cairn_error_set(CAIRN_ENOTFOUND, "S3 has no copy of %s", hex);
	if (rc == CAIRN_ECORRUPT && exact)
		return cairn_error_set(CAIRN_ECORRUPT, "the S3 copy of %s is longer than its "
		                       "%llu bytes", hex, (unsigned long long)size);
	if (rc != 0)
		return cairn_error_prefix(rc, "fetch %s", hex);
	if (nread != size)
		return cairn_error_set(CAIRN_ECORRUPT, "the S3 copy of %s is truncated "
		                       "(%zu of %llu bytes); not served", hex, nread,
		                       (unsigned long long)size);
	cairn_oid_hash(&got, buf, nread);
	if (cairn_oid_cmp(&got, oid) != 0)
		return cairn_error_set(CAIRN_ECORRUPT, "the S3 copy of %s does not match "
		                       "its digest; not served", hex);
	return 0;
}

/* Uploads the object (size bytes in buf, checked against oid by the
 * caller) and checks the S3 copy as `verify` says, never on the server's
 * word alone: either a HEAD reports exactly size bytes and an ETag that is
 * the MD5 we computed while sending (checksum), or the whole object read
 * back is size bytes hashing to oid (readback; it says all a HEAD would).
 * md5 and etag (TIER_ETAG_MAX) get what is recorded with the copy. buf is
 * overwritten by a read-back (with the same bytes, if it passes). `point`
 * is the caller's crash point between the upload and the check. */
static int put_verified(struct tier_engine *e, const cairn_oid *oid, uint64_t size,
                        int verify, uint8_t *buf, uint8_t md5[16], char *etag,
                        const char *point)
{
	char hex[CAIRN_OID_HEXLEN + 1], md5hex[33];
	uint64_t hsize = 0;
	int rc;

	cairn_oid_fmt(hex, oid);
	etag[0] = '\0';
	tier_throttle(e, size, true);
	rc = cairn_s3_put_unchecked(e->s3, oid, buf, (size_t)size, md5);
	if (rc != 0)
		return rc;
	cairn_crash_point(point);
	if (verify == CAIRN_VERIFY_READBACK) {
		rc = read_s3_copy(e, oid, size, buf, true, true, etag);
		if (rc != 0)
			return cairn_error_prefix(rc, "read back");
		return 0;
	}
	rc = cairn_s3_head(e->s3, oid, &hsize, etag);
	if (rc == CAIRN_ENOTFOUND)
		/* Acknowledged but not there (yet): worth another try. */
		return cairn_error_set(CAIRN_ERETRY, "verify %s: S3 acknowledged the PUT but "
		                       "has no such object", hex);
	if (rc != 0)
		return cairn_error_prefix(rc, "verify %s", hex);
	if (hsize != size)
		return cairn_error_set(CAIRN_ECORRUPT, "S3 holds %llu bytes for %s, not "
		                       "the %llu sent", (unsigned long long)hsize, hex,
		                       (unsigned long long)size);
	hexfmt(md5hex, md5, 16);
	if (strcasecmp(etag, md5hex) != 0)
		return cairn_error_set(CAIRN_ECORRUPT, "S3's ETag for %s (%.40s) is not "
		                       "the MD5 of the bytes sent (%s)", hex, etag, md5hex);
	return 0;
}

int tier_migrate(struct tier_engine *e, const struct task *t, uint8_t **buf, size_t *cap)
{
	struct tier_s3_facts facts;
	struct tier_policy pol;
	struct tier_object o;
	uint64_t *blocks = NULL;
	int rc;

	tier_snapshot(e, &pol, NULL, NULL);
	rc = e->ops->get(e->ctx, &t->oid, &o);
	if (rc != 0)
		return rc == CAIRN_ENOTFOUND ? 0 : rc;
	if (o.state != CAIRN_TIER_HOT)
		return 0;       /* moved since the scan */
	rc = grow(buf, cap, (size_t)o.size);
	if (rc != 0)
		return rc;
	rc = e->ops->transition(e->ctx, &t->oid, CAIRN_TIER_HOT, CAIRN_TIER_MIGRATING, NULL);
	if (rc == CAIRN_ERETRY)
		return 0;
	if (rc != 0)
		goto fail_unmarked;
	cairn_crash_point("tier.migrate.marked");

	memset(&facts, 0, sizeof(facts));
	rc = read_pool_copy(e, &t->oid, o.size, *buf);
	if (rc != 0)
		goto fail;
	/* Block digests, from the bytes just checked against the id: what
	 * lets a reader check a range of the S3 copy alone. */
	if (o.size > CAIRN_BLOCK_SIZE) {
		uint64_t n = cairn_block_count(o.size, CAIRN_BLOCK_LOG2);

		blocks = malloc((size_t)n * sizeof(*blocks));
		if (blocks == NULL) {
			rc = cairn_error_set(CAIRN_ENOMEM, "out of memory");
			goto fail;
		}
		cairn_block_digests(blocks, *buf, (size_t)o.size, CAIRN_BLOCK_LOG2);
		facts.blocks = blocks;
		facts.nblocks = (uint32_t)n;
		facts.block_log2 = CAIRN_BLOCK_LOG2;
	}
	/* Verified by checksum here even under verify=readback: the pool
	 * copy stays while the object is DUAL, and release reads the S3
	 * copy back right before it unlinks that (tier_release). Most DUAL
	 * objects are never released, and a read-back at release also sees
	 * what happened to the copy since the migration. */
	rc = put_verified(e, &t->oid, o.size, CAIRN_VERIFY_CHECKSUM, *buf, facts.md5,
	                  facts.etag, "tier.migrate.uploaded");
	if (rc != 0)
		goto fail;
	facts.has_md5 = true;
	cairn_crash_point("tier.migrate.verified");
	facts.verified = tier_now();
	facts.verify = CAIRN_VERIFY_CHECKSUM;
	/* Invariant (3): DUAL claims a copy that cairn verified itself. */
	rc = INVARIANT(3, facts.verified != 0 && facts.has_md5, &t->oid);
	if (rc != 0)
		goto fail;
	rc = e->ops->transition(e->ctx, &t->oid, CAIRN_TIER_MIGRATING, CAIRN_TIER_DUAL, &facts);
	if (rc != 0)
		goto fail;
	cairn_crash_point("tier.migrate.recorded");
	free(blocks);
	count_done(e, TOT_MIGRATED, o.size);
	if (t->then_release)
		return tier_release(e, &t->oid, buf, cap);
	return 0;
fail:
	roll_back(e, &t->oid, CAIRN_TIER_MIGRATING, CAIRN_TIER_HOT);
fail_unmarked:
	free(blocks);
	tier_note_error(e, "migrate", &t->oid, cairn_error_msg());
	return rc;
}

/* Once a release is marked: the object's first keep_head bytes (whole
 * blocks) stay on the pool, for the first read of it (pool.h's heads). Only
 * objects with block digests, which is what a head is checked against
 * before it is served: those larger than one block. A failure costs the
 * head, never the release. */
static void keep_head(struct tier_engine *e, const struct tier_policy *pol,
                      const struct tier_object *o)
{
	uint64_t len = (pol->keep_head + CAIRN_BLOCK_SIZE - 1) & ~(uint64_t)(CAIRN_BLOCK_SIZE - 1);

	if (len == 0 || o->size <= CAIRN_BLOCK_SIZE)
		return;
	if (len > o->size)
		len = o->size;
	if (cairn_pool_head_keep(e->pool, &o->oid, (size_t)len) != 0) {
		log_warn(MOD, "%s; released without a head", cairn_error_msg());
		cairn_error_clear();
	}
}

/* An object with its whole pool copy has no use for a head: dropped
 * wherever one turns HOT or DUAL, so that neither a failed release nor a
 * crash leaves one behind. A failure costs only the head's space (fsck
 * drops it). */
static void drop_head(struct tier_engine *e, const cairn_oid *oid)
{
	if (cairn_pool_head_drop(e->pool, oid) != 0) {
		log_warn(MOD, "%s", cairn_error_msg());
		cairn_error_clear();
	}
}

/* Whether the S3 copy of o is still there and whole before its pool
 * copy goes: a HEAD (size), or with read_back (verify=readback) all of it
 * read back, each time (a copy read back at an earlier release may have
 * been damaged since); *facts then gets the read-back to record with the
 * release (nblocks 0: the block digests on record stay). CAIRN_ECORRUPT:
 * gone, changed or damaged. */
static int check_s3_copy(struct tier_engine *e, const struct tier_object *o, bool read_back,
                         struct tier_s3_facts *facts, uint8_t **buf, size_t *cap)
{
	char etag[TIER_ETAG_MAX];
	uint64_t size = 0;
	int rc;

	if (!read_back) {
		char hex[CAIRN_OID_HEXLEN + 1];

		rc = cairn_s3_head(e->s3, &o->oid, &size, NULL);
		if (rc == CAIRN_ENOTFOUND || (rc == 0 && size != o->size))
			return cairn_error_set(CAIRN_ECORRUPT, "the S3 copy of %s is gone or "
			                       "changed (%llu bytes)", cairn_oid_fmt(hex, &o->oid),
			                       (unsigned long long)size);
		return rc;
	}
	rc = grow(buf, cap, (size_t)o->size);
	if (rc != 0)
		return rc;
	etag[0] = '\0';
	rc = read_s3_copy(e, &o->oid, o->size, *buf, true, true, etag);
	if (rc == CAIRN_ENOTFOUND)
		rc = CAIRN_ECORRUPT;
	if (rc != 0)
		return cairn_error_prefix(rc, "read back");
	cairn_crash_point("tier.release.readback");
	*facts = o->s3;
	facts->verified = tier_now();
	facts->verify = CAIRN_VERIFY_READBACK;
	facts->nblocks = 0;
	facts->blocks = NULL;
	if (etag[0])
		snprintf(facts->etag, sizeof(facts->etag), "%s", etag);
	return 0;
}

int tier_release(struct tier_engine *e, const cairn_oid *oid, uint8_t **buf, size_t *cap)
{
	struct tier_policy pol;
	struct tier_rule *rules = NULL;
	struct tier_placement pl;
	struct tier_s3_facts facts;
	struct tier_object o;
	bool read_back;
	size_t nrules;
	int rc;

	rc = e->ops->get(e->ctx, oid, &o);
	if (rc != 0)
		return rc == CAIRN_ENOTFOUND ? 0 : rc;
	if (o.state != CAIRN_TIER_DUAL)
		return 0;
	/* A pin or an always_hot rule may have come since the scan. */
	rc = tier_snapshot(e, &pol, &rules, &nrules);
	if (rc != 0)
		return rc;
	if (nrules > 0 || e->ops->has_pins(e->ctx)) {
		rc = tier_placement_of(e, oid, rules, nrules, &pl);
		if (rc == 0 && (pl.pinned || pl.rule_action == TIER_RULE_ALWAYS_HOT)) {
			free(rules);
			return 0;
		}
	}
	free(rules);
	if (rc != 0)
		goto fail_unmarked;
	/* Invariant (1): the pool copy goes only when the catalog records a
	 * verified S3 copy... */
	rc = INVARIANT(1, o.s3.verified != 0, oid);
	if (rc != 0)
		goto fail_unmarked;
	/* ...and that copy must still be there and whole (read back, under
	 * verify=readback): a bucket emptied or a copy damaged behind our
	 * back turns the object back into HOT, to be copied again. */
	read_back = pol.verify == CAIRN_VERIFY_READBACK;
	rc = check_s3_copy(e, &o, read_back, &facts, buf, cap);
	if (rc == CAIRN_ECORRUPT) {
		char msg[512];

		snprintf(msg, sizeof(msg), "%s", cairn_error_msg());
		rc = cairn_error_set(CAIRN_EIO, "%s; not released: back to hot, to be "
		                     "copied again", msg);
		tier_note_error(e, "release", oid, cairn_error_msg());
		if (e->ops->transition(e->ctx, oid, CAIRN_TIER_DUAL, CAIRN_TIER_HOT, NULL) != 0)
			log_error(MOD, "%s", cairn_error_msg());
		return rc;
	}
	if (rc != 0)
		goto fail_unmarked;
	rc = e->ops->transition(e->ctx, oid, CAIRN_TIER_DUAL, CAIRN_TIER_RELEASING,
	                        read_back ? &facts : NULL);
	if (rc == CAIRN_ERETRY)
		return 0;
	if (rc != 0)
		goto fail_unmarked;
	/* Kept once the object is marked (the pool copy it is cut from is
	 * still there): a release that goes no further leaves no head. */
	keep_head(e, &pol, &o);
	cairn_crash_point("tier.release.marked");
	rc = cairn_pool_unlink(e->pool, oid);
	if (rc != 0) {
		roll_back(e, oid, CAIRN_TIER_RELEASING, CAIRN_TIER_DUAL);
		drop_head(e, oid);
		goto fail_unmarked;
	}
	cairn_crash_point("tier.release.unlinked");
	rc = e->ops->transition(e->ctx, oid, CAIRN_TIER_RELEASING, CAIRN_TIER_COLD, NULL);
	if (rc != 0)
		goto fail_unmarked;     /* recovery finds no pool file: COLD */
	count_done(e, TOT_RELEASED, o.size);
	return 0;
fail_unmarked:
	tier_note_error(e, "release", oid, cairn_error_msg());
	return rc;
}

static bool pool_submit(struct tier_engine *e, struct flight *f, struct job *job,
                        bool background, bool wait);

/* ---- single flight ---- */

static size_t bucket_of(const cairn_oid *oid)
{
	return oid->b[0] % TIER_FLIGHT_BUCKETS;
}

/* The flight for oid, joined (a reference taken); *leader when this call
 * made it and must fetch. */
static int flight_join(struct tier_engine *e, const cairn_oid *oid, uint64_t size,
                       struct flight **out, bool *leader)
{
	struct flight *f;
	size_t b = bucket_of(oid);

	*leader = false;
	pthread_mutex_lock(&e->mu);
	for (f = e->flights[b]; f != NULL; f = f->next)
		if (cairn_oid_cmp(&f->oid, oid) == 0 && f->size == size)
			break;
	if (f == NULL) {
		size_t cap = ((size_t)size + 4095) & ~(size_t)4095;

		f = calloc(1, sizeof(*f));
		/* Page-aligned, so that the pool may write it with O_DIRECT. */
		if (f != NULL)
			f->buf = aligned_alloc(4096, cap ? cap : 4096);
		if (f == NULL || f->buf == NULL) {
			if (f != NULL)
				free(f);
			pthread_mutex_unlock(&e->mu);
			return cairn_error_set(CAIRN_ENOMEM, "out of memory");
		}
		f->oid = *oid;
		f->size = size;
		f->in_table = true;
		f->next = e->flights[b];
		e->flights[b] = f;
		*leader = true;
	}
	f->refs++;
	pthread_mutex_unlock(&e->mu);
	*out = f;
	return 0;
}

void tier_flight_unlink(struct tier_engine *e, struct flight *f)
{
	pthread_mutex_lock(&e->mu);
	if (f->in_table) {
		struct flight **pp = &e->flights[bucket_of(&f->oid)];
		while (*pp != f)
			pp = &(*pp)->next;
		*pp = f->next;
		f->in_table = false;
		/* Done with: its bytes are in the pool (or will not be). */
		pthread_cond_broadcast(&e->cv_flight);
	}
	pthread_mutex_unlock(&e->mu);
}

void tier_flight_put(struct tier_engine *e, struct flight *f)
{
	bool last;

	pthread_mutex_lock(&e->mu);
	last = --f->refs == 0;
	pthread_mutex_unlock(&e->mu);
	if (last) {
		free(f->buf);
		free(f);
	}
}

/* The GET itself, by the leader: whole object, size and digest checked. */
static int fetch_verified(struct tier_engine *e, struct flight *f, bool background)
{
	int rc;

	rc = read_s3_copy(e, &f->oid, f->size, f->buf, background, false, NULL);
	if (rc == CAIRN_ENOTFOUND)
		rc = cairn_error_prefix(CAIRN_EIO, "lost");
	if (rc != 0)
		return rc;
	pthread_mutex_lock(&e->mu);
	tier_rate_add(&e->rate_recall, tier_now(), f->size);
	pthread_mutex_unlock(&e->mu);
	return 0;
}

/* Joins or leads the flight for oid and waits for it to land. keep: leave
 * a successful flight in the table for the pool write that follows. */
static int flight_fetch(struct tier_engine *e, const cairn_oid *oid, uint64_t size,
                        bool background, bool keep, struct flight **out, bool *led)
{
	struct flight *f = NULL;
	bool leader = false;
	int rc;

	*out = NULL;
	*led = false;
	rc = flight_join(e, oid, size, &f, &leader);
	if (rc != 0)
		return rc;
	if (leader) {
		rc = fetch_verified(e, f, background);
		if (rc == 0)
			cairn_crash_point("tier.recall.fetched");
		else
			tier_note_error(e, "recall", oid, cairn_error_msg());
		pthread_mutex_lock(&e->mu);
		f->rc = rc;
		if (rc != 0)
			snprintf(f->msg, sizeof(f->msg), "%s", cairn_error_msg());
		f->done = true;
		pthread_cond_broadcast(&e->cv_flight);
		pthread_mutex_unlock(&e->mu);
		if (rc != 0 || !keep)
			tier_flight_unlink(e, f);
	} else {
		pthread_mutex_lock(&e->mu);
		while (!f->done)
			pthread_cond_wait(&e->cv_flight, &e->mu);
		rc = f->rc;
		pthread_mutex_unlock(&e->mu);
		if (rc != 0)
			cairn_error_set(rc, "%s", f->msg);
	}
	if (rc != 0) {
		tier_flight_put(e, f);
		return rc;
	}
	*out = f;
	*led = leader;
	return 0;
}

struct tier_view {
	struct tier_engine *e;
	struct flight *f;
};

/* Another reference to a flight the caller holds one of. */
static void flight_hold(struct tier_engine *e, struct flight *f)
{
	pthread_mutex_lock(&e->mu);
	f->refs++;
	pthread_mutex_unlock(&e->mu);
}

int tier_engine_fetch_view(struct tier_engine *e, const cairn_oid *oid, uint64_t size,
                           struct tier_view **out)
{
	char hex[CAIRN_OID_HEXLEN + 1];
	struct tier_policy pol;
	struct tier_view *v;
	struct flight *f;
	bool pool_it, leader;
	int rc;

	*out = NULL;
	if (e->s3 == NULL)
		return cairn_error_set(CAIRN_EIO, "object %s is in the cold tier, but no "
		                       "[s3] endpoint is configured", cairn_oid_fmt(hex, oid));
	v = malloc(sizeof(*v));
	if (v == NULL)
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	tier_snapshot(e, &pol, NULL, NULL);
	pool_it = pol.recall_on_read;
	rc = flight_fetch(e, oid, size, false, pool_it, &f, &leader);
	if (rc != 0) {
		free(v);
		return rc;
	}
	/* The view keeps a reference of its own: the flight's buffer is only
	 * read from now on, by the pooler and by any number of views. */
	flight_hold(e, f);
	v->e = e;
	v->f = f;
	*out = v;
	/* Hand the bytes to the pooler: the reader does not wait for the
	 * pool's syncs. The flight stays in the table until then, so readers
	 * arriving meanwhile share these bytes. If the pooler is busy, a
	 * later read tries again. */
	if (pool_it && leader && pool_submit(e, f, NULL, false, false))
		return 0;       /* the pooler owns our first reference now */
	if (leader)
		tier_flight_unlink(e, f);
	tier_flight_put(e, f);
	return 0;
}

const void *tier_view_bytes(const struct tier_view *v)
{
	return v->f->buf;
}

void tier_view_release(struct tier_view *v)
{
	if (v == NULL)
		return;
	tier_flight_put(v->e, v->f);
	free(v);
}

int tier_engine_recall_wait(struct tier_engine *e, const cairn_oid *oid)
{
	char hex[CAIRN_OID_HEXLEN + 1];
	struct tier_policy pol;
	struct tier_object o;
	struct flight *f;
	bool leader;
	int rc;

	cairn_oid_fmt(hex, oid);
	rc = e->ops->get(e->ctx, oid, &o);
	if (rc != 0)
		return rc;
	if (cairn_tier_in_pool(o.state))
		return 0;
	tier_snapshot(e, &pol, NULL, NULL);
	if (e->s3 == NULL || !pol.recall_on_read)
		return cairn_error_set(CAIRN_EPERM, "object %s is not brought back to the pool "
		                       "on read (recall_on_read is off)", hex);
	rc = flight_fetch(e, oid, o.size, false, true, &f, &leader);
	if (rc != 0)
		return rc;
	/* The flight's bytes go to the pooler (ours, or the leader's), which
	 * takes the flight out of the table once the object is DUAL (or its
	 * write failed). The leader hands its reference to the pooler and
	 * keeps another to watch for that; a follower has its own. */
	if (leader) {
		flight_hold(e, f);
		if (!pool_submit(e, f, NULL, false, true)) {
			tier_flight_unlink(e, f);
			tier_flight_put(e, f);
		}
	}
	pthread_mutex_lock(&e->mu);
	while (f->in_table && !e->stopping)
		pthread_cond_wait(&e->cv_flight, &e->mu);
	pthread_mutex_unlock(&e->mu);
	tier_flight_put(e, f);
	rc = e->ops->get(e->ctx, oid, &o);
	if (rc == 0 && !cairn_tier_in_pool(o.state))
		rc = cairn_error_set(CAIRN_EPERM, "object %s was read from S3 but not written "
		                     "back to the pool (see tier status)", hex);
	return rc;
}

int tier_engine_presign(struct tier_engine *e, const cairn_oid *oid, struct tier_url *out)
{
	char hex[CAIRN_OID_HEXLEN + 1];
	const char *host = e->base.s3_public_endpoint;
	struct tier_object o;
	int64_t now = tier_now();
	int rc;

	memset(out, 0, sizeof(*out));
	cairn_oid_fmt(hex, oid);
	if (e->s3 == NULL)
		return cairn_error_set(CAIRN_EPERM, "no URL for object %s: there is no cold "
		                       "tier ([s3] endpoint is not set)", hex);
	if (e->base.s3_presign_ttl == 0)
		return cairn_error_set(CAIRN_EPERM, "no URL for object %s: catalogd hands out "
		                       "none ([s3] presign_ttl = 0); read it through catalogd",
		                       hex);
	rc = e->ops->get(e->ctx, oid, &o);
	if (rc != 0)
		return rc;
	out->state = o.state;
	out->size = o.size;
	/* Only bytes that are nowhere else: a pool copy is read through
	 * catalogd (the caller gets no URL). */
	if (!cairn_tier_s3_only(o.state))
		return 0;
	if (!o.s3.verified)
		return cairn_error_set(CAIRN_ECORRUPT, "object %s is %s without a verified S3 "
		                       "copy", hex, cairn_tier_state_name(o.state));
	out->expires = now + (int64_t)e->base.s3_presign_ttl;
	rc = cairn_s3_presign(e->s3, oid, *host ? host : NULL, out->expires, out->url,
	                      sizeof(out->url));
	if (rc != 0)
		return rc;
	out->given = true;
	pthread_mutex_lock(&e->mu);
	e->urls_signed++;
	pthread_mutex_unlock(&e->mu);
	/* The reader reads it: that is an access, and under recall_on_read
	 * the object comes back to the pool as if catalogd had served it. */
	tier_engine_accessed(e, oid, now);
	tier_prefetch_object(e, &o);
	return 0;
}

int tier_engine_fetch_blocks(struct tier_engine *e, const cairn_oid *oid, uint64_t off,
                             void *buf, size_t len, unsigned log2,
                             const uint64_t *digests)
{
	char hex[CAIRN_OID_HEXLEN + 1];
	size_t nread = 0;
	int64_t bad;
	int rc;

	cairn_oid_fmt(hex, oid);
	if (e->s3 == NULL)
		return cairn_error_set(CAIRN_EIO, "object %s is in the cold tier, but no "
		                       "[s3] endpoint is configured", hex);
	tier_throttle(e, len, false);
	rc = cairn_s3_get_range(e->s3, oid, off, buf, len, &nread);
	if (rc == CAIRN_ENOTFOUND)
		rc = cairn_error_set(CAIRN_EIO, "S3 has no copy of %s", hex);
	else if (rc != 0)
		rc = cairn_error_prefix(rc, "fetch %s", hex);
	else if (nread != len)
		rc = cairn_error_set(CAIRN_ECORRUPT, "the S3 copy of %s is truncated (%zu of "
		                     "%zu bytes at %llu); not served", hex, nread, len,
		                     (unsigned long long)off);
	if (rc == 0 && (bad = cairn_block_mismatch(buf, len, log2, digests)) >= 0)
		rc = cairn_error_set(CAIRN_ECORRUPT, "block %llu of the S3 copy of %s does "
		                     "not match its digest; not served",
		                     (unsigned long long)((off >> log2) + (uint64_t)bad), hex);
	if (rc != 0) {
		tier_note_error(e, "recall", oid, cairn_error_msg());
		return rc;
	}
	pthread_mutex_lock(&e->mu);
	tier_rate_add(&e->rate_recall, tier_now(), len);
	pthread_mutex_unlock(&e->mu);
	return 0;
}

/* ---- writing recalled objects to the pool: the pooler ---- */

/* A group waits up to POOL_GROUP_WAIT_MS for POOL_GROUP_MIN objects. */
#define POOL_GROUP_MIN 4
#define POOL_GROUP_WAIT_MS 5

/* Queues a fetched object (a flight, whose reference it takes) for the
 * pooler; wait: until there is room, else false at once when the queue
 * is full. False too when the pooler is stopping or not running. */
static bool pool_submit(struct tier_engine *e, struct flight *f, struct job *job,
                        bool background, bool wait)
{
	bool ok = false;

	pthread_mutex_lock(&e->pmq);
	while (wait && e->pq_len == TIER_POOLQ_MAX && !e->pq_stopping && e->pooler_started)
		pthread_cond_wait(&e->cv_pq_space, &e->pmq);
	if (e->pooler_started && !e->pq_stopping && e->pq_len < TIER_POOLQ_MAX) {
		struct pool_item *it = &e->pq[(e->pq_head + e->pq_len) % TIER_POOLQ_MAX];
		memset(it, 0, sizeof(*it));
		it->flight = f;
		it->job = job;
		it->background = background;
		e->pq_len++;
		pthread_cond_signal(&e->cv_pq_items);
		ok = true;
	}
	pthread_mutex_unlock(&e->pmq);
	return ok;
}

static void item_fail(struct pool_item *it, int rc)
{
	it->rc = rc ? rc : CAIRN_ERROR;
	snprintf(it->msg, sizeof(it->msg), "%s", cairn_error_msg());
}

/* Moves the objects of items[idx[0..n)] from → to in one batch; an item
 * whose move fails gets the error, one that was not in `from` is dropped
 * from idx (someone else moved it: nothing left to do). */
static void move_group(struct tier_engine *e, struct pool_item *items, size_t *idx,
                       size_t *n, int from, int to, cairn_oid *oids, int *rcs)
{
	size_t k = 0;
	int rc;

	for (size_t i = 0; i < *n; i++)
		oids[i] = items[idx[i]].flight->oid;
	rc = e->ops->transition_many(e->ctx, oids, *n, from, to, rcs);
	for (size_t i = 0; i < *n; i++) {
		struct pool_item *it = &items[idx[i]];
		int r = rc ? rc : rcs[i];
		if (r == 0)
			idx[k++] = idx[i];
		else if (r != CAIRN_ERETRY)
			item_fail(it, r);
	}
	*n = k;
}

/* One group: COLD → RECALLING (one catalog batch), one pool batch with
 * every object, RECALLING → DUAL (one catalog batch). An object that fails
 * on the way goes back to COLD; its S3 copy is what it always was. */
static void pool_group(struct tier_engine *e, struct pool_item *items, size_t n)
{
	size_t idx[TIER_POOLQ_MAX], m = 0, k;
	cairn_oid oids[TIER_POOLQ_MAX];
	int rcs[TIER_POOLQ_MAX];
	cairn_pool_batch *b = NULL;
	int rc;

	for (size_t i = 0; i < n; i++) {
		struct tier_object o;
		struct flight *f = items[i].flight;
		bool dup = false;

		for (size_t j = 0; j < m; j++)
			dup |= cairn_oid_cmp(&items[idx[j]].flight->oid, &f->oid) == 0;
		cairn_error_clear();
		rc = e->ops->get(e->ctx, &f->oid, &o);
		if (rc != 0 && rc != CAIRN_ENOTFOUND)
			item_fail(&items[i], rc);
		else if (rc == 0 && !dup && o.state == CAIRN_TIER_COLD && o.size == f->size)
			idx[m++] = i;
		/* else: back already, or no longer known: nothing to do */
	}
	if (m == 0)
		return;
	/* Invariant (3): COLD has a verified S3 copy — the one just read. */
	move_group(e, items, idx, &m, CAIRN_TIER_COLD, CAIRN_TIER_RECALLING, oids, rcs);
	if (m == 0)
		return;
	cairn_crash_point("tier.recall.marked");
	rc = cairn_pool_batch_new(e->pool, &b);
	for (size_t i = 0; i < m && rc == 0; i++) {
		struct flight *f = items[idx[i]].flight;
		/* Hashed to its id already (fetch_verified, or a scrub's read). */
		int arc = cairn_pool_batch_add_checked(b, &f->oid, f->buf, (size_t)f->size);
		if (arc != 0) {
			char hex[CAIRN_OID_HEXLEN + 1];
			cairn_error_prefix(arc, "write %s back to the pool",
			                   cairn_oid_fmt(hex, &f->oid));
			item_fail(&items[idx[i]], arc);
		}
	}
	if (rc == 0)
		rc = cairn_pool_batch_commit(b);
	cairn_pool_batch_free(b);       /* removes whatever was not committed */
	/* Split: those written go on to DUAL, the others back to COLD. */
	size_t back[TIER_POOLQ_MAX], nb = 0;
	k = 0;
	for (size_t i = 0; i < m; i++) {
		struct pool_item *it = &items[idx[i]];
		if (rc != 0 && it->rc == 0)
			item_fail(it, rc);
		if (it->rc != 0)
			back[nb++] = idx[i];
		else
			idx[k++] = idx[i];
	}
	m = k;
	if (nb > 0) {
		int brcs[TIER_POOLQ_MAX];
		cairn_oid boids[TIER_POOLQ_MAX];
		for (size_t i = 0; i < nb; i++)
			boids[i] = items[back[i]].flight->oid;
		if (e->ops->transition_many(e->ctx, boids, nb, CAIRN_TIER_RECALLING,
		                            CAIRN_TIER_COLD, brcs) != 0)
			log_error(MOD, "%zu objects stay recalling until the next start: %s",
			          nb, cairn_error_msg());
	}
	if (m == 0)
		return;
	cairn_crash_point("tier.recall.pooled");
	/* The whole objects are back: their heads go before they are DUAL,
	 * so no crash leaves a DUAL object with one. */
	for (size_t i = 0; i < m; i++)
		drop_head(e, &items[idx[i]].flight->oid);
	/* A failure here leaves RECALLING with a verified pool copy: the next
	 * start makes it DUAL. */
	move_group(e, items, idx, &m, CAIRN_TIER_RECALLING, CAIRN_TIER_DUAL, oids, rcs);
	for (size_t i = 0; i < m; i++)
		count_done(e, TOT_RECALLED, items[idx[i]].flight->size);
}

static void pool_report(struct tier_engine *e, struct pool_item *it)
{
	if (it->rc != 0)
		tier_note_error(e, "recall", &it->flight->oid, it->msg);
	if (it->background)
		tier_note_outcome(e, it->rc == 0, it->rc);
	if (it->job != NULL) {
		pthread_mutex_lock(&e->mu);
		tier_job_task_done_locked(it->job, &it->flight->oid, it->rc == 0,
		                          it->flight->size, it->msg);
		pthread_mutex_unlock(&e->mu);
	}
	tier_flight_unlink(e, it->flight);
	tier_flight_put(e, it->flight);
}

void *tier_pooler_main(void *arg)
{
	struct tier_engine *e = arg;
	struct pool_item items[TIER_POOLQ_MAX];
	size_t n;

	pthread_mutex_lock(&e->pmq);
	for (;;) {
		while (e->pq_len == 0 && !e->pq_stopping)
			pthread_cond_wait(&e->cv_pq_items, &e->pmq);
		if (e->pq_len == 0)
			break;          /* stopping, and everything handed in is done */
		if (e->pq_len < POOL_GROUP_MIN && !e->pq_stopping) {
			/* Objects come in one by one as their GETs end; a few ms
			 * more make a group of several, and a group costs two
			 * syncs whatever it holds. */
			struct timespec until;

			tier_deadline_in(&until, POOL_GROUP_WAIT_MS / 1000.0);
			while (e->pq_len < POOL_GROUP_MIN && !e->pq_stopping &&
			       pthread_cond_timedwait(&e->cv_pq_items, &e->pmq, &until) == 0)
				;
		}
		for (n = 0; e->pq_len > 0; n++) {
			items[n] = e->pq[e->pq_head];
			e->pq_head = (e->pq_head + 1) % TIER_POOLQ_MAX;
			e->pq_len--;
		}
		pthread_cond_broadcast(&e->cv_pq_space);
		pthread_mutex_unlock(&e->pmq);
		pool_group(e, items, n);
		for (size_t i = 0; i < n; i++)
			pool_report(e, &items[i]);
		pthread_mutex_lock(&e->pmq);
	}
	pthread_mutex_unlock(&e->pmq);
	return NULL;
}

void tier_pooler_stop(struct tier_engine *e)
{
	pthread_mutex_lock(&e->pmq);
	e->pq_stopping = true;
	pthread_cond_broadcast(&e->cv_pq_items);
	pthread_cond_broadcast(&e->cv_pq_space);
	pthread_mutex_unlock(&e->pmq);
	if (e->pooler_started)
		pthread_join(e->pooler, NULL);
	e->pooler_started = false;
}

int tier_recall(struct tier_engine *e, const struct task *t)
{
	struct tier_object o;
	struct flight *f;
	bool leader;
	int rc;

	rc = e->ops->get(e->ctx, &t->oid, &o);
	if (rc != 0)
		return rc;
	if (o.state != CAIRN_TIER_COLD)
		return 0;       /* back already (a reader, another job) */
	rc = flight_fetch(e, &t->oid, o.size, true, true, &f, &leader);
	if (rc != 0)
		return rc;
	if (pool_submit(e, f, t->job, t->background, true))
		return TIER_DEFERRED;
	tier_flight_unlink(e, f);
	tier_flight_put(e, f);
	return cairn_error_set(CAIRN_ERETRY, "tiering is stopping");
}

/* ---- scrub ---- */

/* The pool copy of DUAL o is damaged or gone and buf holds its verified S3
 * bytes: the bad file goes the way of a release (DUAL → RELEASING →
 * COLD), then the good bytes come back the way of a recall (COLD →
 * RECALLING → DUAL). Every step is one a crash already leaves safe. */
static int repair_pool_copy(struct tier_engine *e, const struct tier_object *o,
                            uint8_t *buf)
{
	struct flight f = { .oid = o->oid, .size = o->size, .buf = buf };
	struct pool_item it = { .flight = &f };
	int rc;

	rc = e->ops->transition(e->ctx, &o->oid, CAIRN_TIER_DUAL, CAIRN_TIER_RELEASING, NULL);
	if (rc != 0)
		return rc;
	cairn_crash_point("tier.scrub.marked");
	rc = cairn_pool_unlink(e->pool, &o->oid);
	if (rc != 0) {
		roll_back(e, &o->oid, CAIRN_TIER_RELEASING, CAIRN_TIER_DUAL);
		return rc;
	}
	rc = e->ops->transition(e->ctx, &o->oid, CAIRN_TIER_RELEASING, CAIRN_TIER_COLD, NULL);
	if (rc != 0)
		return rc;      /* recovery finds no pool file: COLD */
	cairn_crash_point("tier.scrub.unlinked");
	pool_group(e, &it, 1);
	if (it.rc != 0)
		return cairn_error_set(it.rc, "%s; the object stays cold (its S3 copy is "
		                       "good)", it.msg);
	return 0;
}

/* The S3 copy of DUAL o is damaged or gone and its pool copy is good: send
 * the pool copy again and verify it as a migration does. The object stays
 * DUAL throughout (its pool copy is never touched), and the same bytes
 * give the same MD5, so the recorded S3 facts stand. */
static int repair_s3_copy(struct tier_engine *e, const struct tier_object *o, uint8_t *buf)
{
	struct tier_policy pol;
	uint8_t md5[16];
	char etag[TIER_ETAG_MAX];
	int rc;

	tier_snapshot(e, &pol, NULL, NULL);
	rc = read_pool_copy(e, &o->oid, o->size, buf);
	if (rc != 0)
		return rc;
	return put_verified(e, &o->oid, o->size, pol.verify, buf, md5, etag,
	                    "tier.scrub.uploaded");
}

/* A verdict on one copy: 0 good, CAIRN_ENOTFOUND gone, CAIRN_ECORRUPT
 * damaged. Anything else (S3 unreachable, an I/O error) is no verdict. */
static bool verdict(int rc)
{
	return rc == 0 || rc == CAIRN_ENOTFOUND || rc == CAIRN_ECORRUPT;
}

static const char *damage(int rc)
{
	return rc == CAIRN_ENOTFOUND ? "missing" : "damaged";
}

int tier_scrub(struct tier_engine *e, const struct task *t, uint8_t **buf, size_t *cap,
               bool *repaired)
{
	char hex[CAIRN_OID_HEXLEN + 1], pmsg[512] = "", smsg[512] = "";
	struct tier_object o;
	bool pool, s3;
	int prc = 0, src = 0, rc;

	*repaired = false;
	cairn_oid_fmt(hex, &t->oid);
	rc = e->ops->get(e->ctx, &t->oid, &o);
	if (rc != 0)
		return rc == CAIRN_ENOTFOUND ? 0 : rc;  /* gone since the walk */
	if (o.state != CAIRN_TIER_HOT && o.state != CAIRN_TIER_DUAL && o.state != CAIRN_TIER_COLD)
		return 0;       /* moving: the move checks what it copies */
	pool = cairn_tier_in_pool(o.state);
	s3 = cairn_tier_in_s3(o.state);
	if (s3 && e->s3 == NULL)
		return cairn_error_set(CAIRN_EIO, "object %s has an S3 copy, but no [s3] "
		                       "endpoint is configured to check it", hex);
	rc = grow(buf, cap, (size_t)o.size);
	if (rc != 0)
		return rc;
	if (pool) {
		prc = read_pool_copy(e, &o.oid, o.size, *buf);
		if (!verdict(prc))
			return prc;
		snprintf(pmsg, sizeof(pmsg), "%s", prc ? cairn_error_msg() : "");
	}
	if (s3) {
		/* Overwrites the pool bytes: a repair of S3 reads them again. */
		src = read_s3_copy(e, &o.oid, o.size, *buf, true, false, NULL);
		if (!verdict(src))
			return src;
		snprintf(smsg, sizeof(smsg), "%s", src ? cairn_error_msg() : "");
	}
	if ((!pool || prc == 0) && (!s3 || src == 0))
		return 0;
	if ((prc != 0 || !pool) && (src != 0 || !s3)) {
		char what[64];

		if (pool && s3)
			snprintf(what, sizeof(what), "pool copy %s, S3 copy %s", damage(prc),
			         damage(src));
		else
			snprintf(what, sizeof(what), "%s copy %s", pool ? "pool" : "S3",
			         damage(pool ? prc : src));
		log_error(MOD, "object %s: %s%s%s", hex, pmsg, pmsg[0] && smsg[0] ? "; " : "",
		          smsg);
		rc = cairn_error_set(CAIRN_ECORRUPT, "object %s (%s) has no good copy left: "
		                     "%s", hex, cairn_tier_state_name(o.state), what);
		tier_note_error(e, "scrub", &o.oid, cairn_error_msg());
		return rc;
	}
	log_warn(MOD, "%s", prc ? pmsg : smsg);
	rc = prc ? repair_pool_copy(e, &o, *buf) : repair_s3_copy(e, &o, *buf);
	if (rc == CAIRN_ERETRY)
		return 0;       /* moved meanwhile: the next scrub looks again */
	if (rc != 0) {
		cairn_error_prefix(rc, "repair of the %s copy of %s", prc ? "pool" : "S3", hex);
		tier_note_error(e, "scrub", &o.oid, cairn_error_msg());
		return rc;
	}
	log_warn(MOD, "object %s: %s copy replaced from the good %s copy", hex,
	         prc ? "pool" : "S3", prc ? "S3" : "pool");
	*repaired = true;
	return 0;
}

/* ---- after a crash ---- */

/* Whether the pool holds a complete, verified copy of o. */
static bool pool_copy_good(struct tier_engine *e, const struct tier_object *o)
{
	uint64_t size = 0;

	return cairn_pool_verify(e->pool, &o->oid, &size) == 0 && size == o->size;
}

/* Invariant (4): resolve one in-flight object from what is on disk. */
static int recover_one(struct tier_engine *e, const struct tier_object *o)
{
	char hex[CAIRN_OID_HEXLEN + 1];
	int to, rc;

	cairn_oid_fmt(hex, &o->oid);
	switch (o->state) {
	case CAIRN_TIER_MIGRATING:
		/* The S3 copy was never recorded as verified: start over. */
		to = CAIRN_TIER_HOT;
		break;
	case CAIRN_TIER_RELEASING:
	case CAIRN_TIER_RECALLING:
		/* Both have a verified S3 copy (invariant 3). A whole pool copy
		 * makes the object DUAL again; anything else goes, and it is
		 * COLD. */
		if (pool_copy_good(e, o)) {
			to = CAIRN_TIER_DUAL;
		} else {
			rc = INVARIANT(3, o->s3.verified != 0, &o->oid);
			if (rc != 0)
				return rc;
			rc = cairn_pool_unlink(e->pool, &o->oid);
			if (rc != 0)
				return rc;
			to = CAIRN_TIER_COLD;
		}
		break;
	default:
		return 0;
	}
	rc = e->ops->transition(e->ctx, &o->oid, o->state, to, NULL);
	if (rc != 0)
		return rc;
	if (to != CAIRN_TIER_COLD)
		drop_head(e, &o->oid);   /* kept by a release that stopped there */
	log_warn(MOD, "object %s was %s when catalogd stopped: now %s", hex,
	         cairn_tier_state_name(o->state), cairn_tier_state_name(to));
	return 0;
}

int tier_recover(struct tier_engine *e)
{
	enum { PAGE = 256 };
	struct tier_object *page = malloc(PAGE * sizeof(*page));
	size_t n, total = 0, stuck = 0;
	int rc = 0;

	if (page == NULL)
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	for (;;) {
		size_t progress = 0;

		rc = e->ops->in_flight(e->ctx, page, PAGE, &n);
		if (rc != 0 || n == 0)
			break;
		for (size_t i = 0; i < n; i++) {
			char hex[CAIRN_OID_HEXLEN + 1];
			if (recover_one(e, &page[i]) == 0) {
				progress++;
				continue;
			}
			/* Left as it is: in flight, so no move touches it, and
			 * reads still find a copy (invariants 2 and 3). */
			log_error(MOD, "object %s stays %s: %s", cairn_oid_fmt(hex, &page[i].oid),
			          cairn_tier_state_name(page[i].state), cairn_error_msg());
			stuck++;
		}
		total += progress;
		if (progress == 0)
			break;  /* only what cannot be resolved is left */
	}
	if (rc == 0 && total > 0)
		log_info(MOD, "recovered %zu objects that were moving", total);
	if (rc == 0 && stuck > 0)
		log_error(MOD, "%zu objects could not be recovered; they are retried at "
		          "the next start", stuck);
	free(page);
	if (rc != 0)
		return cairn_error_prefix(rc, "tiering recovery");
	return 0;
}
