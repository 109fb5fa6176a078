/* tiering.c — object life cycle: states, transitions, invariants.
 *
 *                 migrate                 verified
 *      HOT ─────────────────▶ MIGRATING ─────────────▶ DUAL
 *       ▲                        │ failure               │  ▲
 *       └────────────────────────┘                release│  │ recalled
 *                                                        ▼  │
 *                          COLD ◀────────────────── RELEASING
 *                            │                           (unlinked)
 *                            └──────▶ RECALLING ────────────┘
 *                           read/recall         pool copy verified
 *
 * Who makes each move (tiering/move.c; every one a durable compare-and-set
 * through the catalog, checked with cairn_tier_transition_ok below):
 *   HOT → MIGRATING → DUAL         tier_migrate: upload, verify, record
 *   MIGRATING → HOT                tier_migrate on failure; recovery
 *   DUAL → RELEASING → COLD        tier_release: mark, unlink, record
 *   RELEASING → DUAL               tier_release when the unlink fails;
 *                                  recovery when the pool copy is intact
 *   DUAL → HOT                     tier_release when the S3 copy is gone
 *                                  or fails its read-back
 *   COLD → RECALLING → DUAL        the pooler, after a verified S3 read
 *   RECALLING → COLD               the pooler on failure; recovery when
 *                                  the pool copy is absent or incomplete
 *
 * Invariants (numbered; the engine asserts them where it changes state):
 *  (1) A pool copy is never unlinked before the catalog durably records a
 *      verified S3 copy: RELEASING is only entered from DUAL. Under
 *      verify=readback the copy is verified by checksum at migration and
 *      read back whole right before the release, the read-back recorded
 *      with the move to RELEASING (move.c).
 *  (2) A state that reads may serve from the pool (HOT, MIGRATING, DUAL,
 *      RELEASING until the unlink is recorded) always has the pool file.
 *  (3) A state that claims an S3 copy (DUAL, RELEASING, COLD, RECALLING) has
 *      one that was verified by cairn itself, never by the server's word.
 *  (4) Every in-flight state (MIGRATING, RELEASING, RECALLING) is safe to
 *      find after a crash: restart rolls it back or forward from what is on
 *      disk and in S3, never to a state with fewer verified copies.
 */
#include <string.h>

#include "error.h"
#include "tiering.h"

static const char *const state_names[CAIRN_TIER_NSTATES] = {
	[CAIRN_TIER_HOT] = "hot",
	[CAIRN_TIER_MIGRATING] = "migrating",
	[CAIRN_TIER_DUAL] = "dual",
	[CAIRN_TIER_RELEASING] = "releasing",
	[CAIRN_TIER_COLD] = "cold",
	[CAIRN_TIER_RECALLING] = "recalling",
};

/* allowed[from] is a bit set of the states `from` may move to. */
#define BIT(s) (1u << (s))
static const unsigned allowed[CAIRN_TIER_NSTATES] = {
	[CAIRN_TIER_HOT] = BIT(CAIRN_TIER_MIGRATING),
	[CAIRN_TIER_MIGRATING] = BIT(CAIRN_TIER_DUAL) | BIT(CAIRN_TIER_HOT),
	[CAIRN_TIER_DUAL] = BIT(CAIRN_TIER_RELEASING) | BIT(CAIRN_TIER_HOT),
	[CAIRN_TIER_RELEASING] = BIT(CAIRN_TIER_COLD) | BIT(CAIRN_TIER_DUAL),
	[CAIRN_TIER_COLD] = BIT(CAIRN_TIER_RECALLING),
	[CAIRN_TIER_RECALLING] = BIT(CAIRN_TIER_DUAL) | BIT(CAIRN_TIER_COLD),
};

const char *cairn_tier_state_name(int state)
{
	if (state < 0 || state >= CAIRN_TIER_NSTATES)
		return NULL;
	return state_names[state];
}

int cairn_tier_state_parse(const char *name, int *out)
{
	for (int s = 0; s < CAIRN_TIER_NSTATES; s++) {
		if (strcmp(name, state_names[s]) == 0) {
			*out = s;
			return 0;
		}
	}
	return cairn_error_set(CAIRN_EINVAL, "unknown tier state '%s'", name);
}

bool cairn_tier_transition_ok(int from, int to)
{
	if (from < 0 || from >= CAIRN_TIER_NSTATES || to < 0 || to >= CAIRN_TIER_NSTATES)
		return false;
	return (allowed[from] & BIT(to)) != 0;
}

bool cairn_tier_in_pool(int state)
{
	return state == CAIRN_TIER_HOT || state == CAIRN_TIER_MIGRATING ||
	       state == CAIRN_TIER_DUAL || state == CAIRN_TIER_RELEASING;
}

bool cairn_tier_in_s3(int state)
{
	return state == CAIRN_TIER_DUAL || state == CAIRN_TIER_RELEASING ||
	       state == CAIRN_TIER_COLD || state == CAIRN_TIER_RECALLING;
}

bool cairn_tier_s3_only(int state)
{
	return state == CAIRN_TIER_COLD || state == CAIRN_TIER_RECALLING ||
	       state == CAIRN_TIER_RELEASING;
}
