/* tiering.h — the object life cycle of cairn's hierarchical storage.
 *
 * Every object the catalog knows is in one of these states. The engine that
 * moves objects between the pool and S3 runs on its own threads inside
 * catalogd; this header holds what every part agrees on: the states, their
 * names on the wire, and which transitions are legal. The drawing and the
 * invariants live in tiering.c, next to the function that enforces them.
 */
#ifndef CAIRN_TIERING_H
#define CAIRN_TIERING_H

#include <stdbool.h>

enum cairn_tier_state {
	CAIRN_TIER_HOT = 0,        /* pool only */
	CAIRN_TIER_MIGRATING = 1,  /* pool copy authoritative, S3 upload in flight */
	CAIRN_TIER_DUAL = 2,       /* pool + verified S3 copy */
	CAIRN_TIER_RELEASING = 3,  /* DUAL, pool copy being unlinked */
	CAIRN_TIER_COLD = 4,       /* verified S3 copy only */
	CAIRN_TIER_RECALLING = 5,  /* COLD, pool copy being restored */
	CAIRN_TIER_NSTATES
};

/* "hot", "migrating", "dual", "releasing", "cold", "recalling"; NULL if bad. */
const char *cairn_tier_state_name(int state);
/* Name → state; CAIRN_EINVAL for an unknown name. */
int cairn_tier_state_parse(const char *name, int *out);

/* Whether the catalog may record the move from → to (see the drawing in
 * tiering.c). Every writer of object state checks this first. */
bool cairn_tier_transition_ok(int from, int to);

/* Whether an object in this state has a copy in the pool that reads may
 * use, and whether it has a verified copy in S3. */
bool cairn_tier_in_pool(int state);
bool cairn_tier_in_s3(int state);
/* Whether a reader should not count on the pool copy: COLD, RECALLING (it
 * is not complete yet) and RELEASING (it is about to go). */
bool cairn_tier_s3_only(int state);

#endif
