/* policy.h — what the tiering engine decides about an object, and why.
 *
 * Pure functions and plain structs: no I/O, no locks, no clock (callers
 * pass `now`). The engine's scanner, `cairn tier run --dry-run` and
 * `cairn tier explain` all decide through tier_decide(), so what the
 * engine does, what a dry run promises and what explain says can never
 * disagree.
 *
 * Inputs to a decision:
 *   policy     the [tiering] keys (lib/config.h) with the overrides that
 *              `cairn tier policy set` persisted; see tier_policy_from_config
 *   placement  what the versions holding an object say about it: pinned by
 *              one of them, and the strongest rule matching one of them
 *   pressure   pool use against the watermarks
 *   facts      the object's catalog record (state, size, last access)
 *
 * Rules: "dataset:NAME" matches every version of dataset NAME, "tag:TAG"
 * the versions tagged TAG ("tag:latest": each dataset's newest version).
 * Actions: always_hot keeps objects on the pool (never released, recalled
 * if cold); archive_now copies them to S3 and releases their pool copies
 * at once, idle or not, watermark or not. An object held by several
 * versions takes the strongest action among them: always_hot beats
 * archive_now (keeping a byte hot is never the unsafe choice). A pin beats
 * archive_now's release too: pinned versions' objects are never released.
 */
#ifndef CAIRN_TIER_POLICY_H
#define CAIRN_TIER_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "oid.h"

/* ---- the policy ---- */

struct tier_policy {
	double high_watermark;          /* percent of capacity */
	double low_watermark;
	uint64_t min_idle;              /* seconds */
	uint64_t min_size;              /* bytes */
	uint32_t concurrency;
	uint64_t bandwidth;             /* bytes/s, 0 = unlimited */
	bool recall_on_read;
	int verify;                     /* enum cairn_verify */
	uint64_t scan_interval;         /* seconds */
	double max_error_rate;          /* percent */
	uint64_t scrub_interval;        /* seconds, 0 = no scheduled scrub */
	uint64_t keep_head;             /* bytes kept on the pool at release, 0 = none */
};

void tier_policy_from_config(struct tier_policy *p, const struct cairn_config *cfg);

/* ---- rules ---- */

enum tier_match { TIER_MATCH_DATASET = 0, TIER_MATCH_TAG = 1 };

/* Ordered by strength: a larger action wins when several rules match. */
enum tier_rule_action {
	TIER_RULE_NONE = 0,
	TIER_RULE_ARCHIVE_NOW = 1,
	TIER_RULE_ALWAYS_HOT = 2,
};

#define TIER_RULE_VALUE_MAX 160         /* a dataset name or a tag */
#define TIER_RULE_TEXT_MAX (TIER_RULE_VALUE_MAX + 16)
#define TIER_RULES_MAX 1000

struct tier_rule {
	int kind;                       /* enum tier_match */
	char value[TIER_RULE_VALUE_MAX + 1];
	int action;                     /* enum tier_rule_action, never NONE */
};

/* "dataset:NAME" | "tag:TAG" and "always_hot" | "archive_now" → rule;
 * CAIRN_EINVAL with a message naming what is wrong. */
int tier_rule_parse(struct tier_rule *out, const char *match, const char *action);
/* The match as written: "dataset:NAME" (buf of TIER_RULE_TEXT_MAX). */
void tier_rule_match_text(const struct tier_rule *r, char *buf, size_t len);
/* "always_hot", "archive_now", "none". */
const char *tier_rule_action_name(int action);

/* One version holding an object, as the catalog describes it. */
struct tier_version_ref {
	const char *dataset;
	uint64_t seq;
	const char *const *tags;        /* tags pointing at this version */
	size_t ntags;
	bool latest;                    /* the dataset's newest version */
	bool pinned;
};

bool tier_rule_matches(const struct tier_rule *r, const struct tier_version_ref *v);

/* What the versions holding an object say about it, accumulated one
 * version at a time. */
struct tier_placement {
	size_t versions;
	bool pinned;
	char pinned_by[TIER_RULE_VALUE_MAX + 24];   /* "ds@seq" of a pin */
	int rule_action;                            /* strongest; NONE if no rule */
	char rule[TIER_RULE_TEXT_MAX];              /* its match text */
	char rule_via[TIER_RULE_VALUE_MAX + 24];    /* "ds@seq" it matched */
};

void tier_placement_init(struct tier_placement *p);
void tier_placement_add(struct tier_placement *p, const struct tier_rule *rules,
                        size_t nrules, const struct tier_version_ref *v);

/* ---- pool pressure ---- */

struct tier_pressure {
	bool known;                     /* false: usage could not be read */
	uint64_t capacity;              /* bytes */
	uint64_t used;
	double used_pct;
	double high, low;               /* the watermarks it was computed with */
	bool over_high;                 /* used_pct >= high: release runs */
	uint64_t release_need;          /* bytes to free to get under low */
};

/* Watermark math. Release starts when use reaches the high watermark and
 * frees enough to end at or below the low one; a capacity of 0 means
 * "unknown" (nothing is released). */
void tier_pressure_compute(struct tier_pressure *out, uint64_t capacity,
                           uint64_t used, double high, double low);

/* ---- the decision ---- */

enum tier_action {
	TIER_KEEP = 0,                  /* nothing to do now */
	TIER_MIGRATE = 1,               /* HOT → copy to S3 (→ DUAL) */
	TIER_RELEASE = 2,               /* DUAL → drop the pool copy (→ COLD) */
	TIER_RECALL = 3,                /* COLD → bring back to the pool (→ DUAL) */
	TIER_BUSY = 4,                  /* in flight: a move is under way */
};

const char *tier_action_name(int action);

struct tier_facts {
	int state;                      /* enum cairn_tier_state */
	uint64_t size;
	int64_t last_access;
};

#define TIER_WHY_MAX 400

struct tier_decision {
	int action;                     /* enum tier_action */
	/* A rule's doing: ignores idle time, size and watermarks. For
	 * TIER_MIGRATE, `then_release` says the pool copy goes right after. */
	bool forced;
	bool then_release;
	char why[TIER_WHY_MAX];
};

/* Decides for one object. pl may be NULL (no rules, no pins); pr may be
 * NULL (pressure unknown: nothing is released for space). A TIER_RELEASE
 * that is not forced makes the object a release *candidate*: the engine
 * releases candidates least recently used first, only as many bytes as
 * pr->release_need. */
void tier_decide(struct tier_decision *d, const struct tier_policy *p,
                 const struct tier_facts *f, const struct tier_placement *pl,
                 const struct tier_pressure *pr, int64_t now);

/* ---- release candidates ----
 * Over the high watermark, the engine releases the least recently used
 * DUAL objects first, and only as many bytes as it needs. One pass sees
 * every candidate once; this keeps the oldest ones whose sizes add up to
 * `need` (plus the one that crosses it), at most `cap` of them, in a
 * max-heap on last access: a newer candidate only ever displaces the
 * newest kept one. Memory is O(cap), whatever the number of objects. */
struct tier_candidate {
	int64_t last_access;
	uint64_t size;
	cairn_oid oid;
};

struct tier_lru {
	struct tier_candidate *v;
	size_t n, cap;
	uint64_t bytes;                 /* of the kept candidates */
	uint64_t need;
};

int tier_lru_init(struct tier_lru *h, size_t cap, uint64_t need);
void tier_lru_offer(struct tier_lru *h, const struct tier_candidate *c);
/* Orders the kept candidates oldest first (call once, after the offers). */
void tier_lru_sort(struct tier_lru *h);
void tier_lru_free(struct tier_lru *h);

/* "45s", "12m", "3h", "2d" (the largest unit, rounded down). */
void tier_fmt_duration(char *buf, size_t len, uint64_t seconds);
/* "512B", "4.0K", "12.5M", "2.0G". */
void tier_fmt_size(char *buf, size_t len, uint64_t bytes);

#endif
