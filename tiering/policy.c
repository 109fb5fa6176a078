/* policy.c — rules, watermark math and the one decision function.
 *
 * The reasons tier_decide() writes are for people: `cairn tier explain`
 * and `cairn tier run --dry-run` print them as they are, so each names the
 * numbers it compared ("idle 3d ≥ min_idle 1d") or the rule and the
 * version that made the call.
 */
#include "policy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "tiering.h"

void tier_policy_from_config(struct tier_policy *p, const struct cairn_config *cfg)
{
	p->high_watermark = cfg->high_watermark;
	p->low_watermark = cfg->low_watermark;
	p->min_idle = cfg->min_idle;
	p->min_size = cfg->min_size;
	p->concurrency = cfg->concurrency;
	p->bandwidth = cfg->bandwidth;
	p->recall_on_read = cfg->recall_on_read;
	p->verify = cfg->verify;
	p->scan_interval = cfg->scan_interval;
	p->max_error_rate = cfg->max_error_rate;
	p->scrub_interval = cfg->scrub_interval;
	p->keep_head = cfg->keep_head;
}

/* ---- rules ---- */

static const char *const action_names[] = {
	[TIER_RULE_NONE] = "none",
	[TIER_RULE_ARCHIVE_NOW] = "archive_now",
	[TIER_RULE_ALWAYS_HOT] = "always_hot",
};

const char *tier_rule_action_name(int action)
{
	if (action < 0 || action > TIER_RULE_ALWAYS_HOT)
		return "none";
	return action_names[action];
}

int tier_rule_parse(struct tier_rule *out, const char *match, const char *action)
{
	const char *value;
	size_t len;

	memset(out, 0, sizeof(*out));
	if (match == NULL || action == NULL)
		return cairn_error_set(CAIRN_EINVAL, "a rule needs \"match\" and \"action\"");
	if (strncmp(match, "dataset:", 8) == 0) {
		out->kind = TIER_MATCH_DATASET;
		value = match + 8;
	} else if (strncmp(match, "tag:", 4) == 0) {
		out->kind = TIER_MATCH_TAG;
		value = match + 4;
	} else {
		return cairn_error_set(CAIRN_EINVAL, "rule match '%.64s' must be "
		                       "dataset:NAME or tag:TAG", match);
	}
	len = strlen(value);
	if (len == 0 || len > TIER_RULE_VALUE_MAX)
		return cairn_error_set(CAIRN_EINVAL, "rule match '%.64s' needs a name of "
		                       "1 to %d bytes", match, TIER_RULE_VALUE_MAX);
	for (const unsigned char *p = (const unsigned char *)value; *p; p++)
		if (*p <= 0x20 || *p == 0x7f)
			return cairn_error_set(CAIRN_EINVAL, "rule match '%.64s' has a space "
			                       "or control character", match);
	memcpy(out->value, value, len + 1);
	if (strcmp(action, "always_hot") == 0)
		out->action = TIER_RULE_ALWAYS_HOT;
	else if (strcmp(action, "archive_now") == 0)
		out->action = TIER_RULE_ARCHIVE_NOW;
	else
		return cairn_error_set(CAIRN_EINVAL, "rule action '%.64s' must be "
		                       "always_hot or archive_now", action);
	return 0;
}

void tier_rule_match_text(const struct tier_rule *r, char *buf, size_t len)
{
	snprintf(buf, len, "%s:%s", r->kind == TIER_MATCH_DATASET ? "dataset" : "tag",
	         r->value);
}

bool tier_rule_matches(const struct tier_rule *r, const struct tier_version_ref *v)
{
	if (r->kind == TIER_MATCH_DATASET)
		return v->dataset != NULL && strcmp(r->value, v->dataset) == 0;
	if (strcmp(r->value, "latest") == 0 && v->latest)
		return true;
	for (size_t i = 0; i < v->ntags; i++)
		if (strcmp(r->value, v->tags[i]) == 0)
			return true;
	return false;
}

void tier_placement_init(struct tier_placement *p)
{
	memset(p, 0, sizeof(*p));
	p->rule_action = TIER_RULE_NONE;
}

void tier_placement_add(struct tier_placement *p, const struct tier_rule *rules,
                        size_t nrules, const struct tier_version_ref *v)
{
	p->versions++;
	if (v->pinned && !p->pinned) {
		p->pinned = true;
		snprintf(p->pinned_by, sizeof(p->pinned_by), "%s@%llu",
		         v->dataset ? v->dataset : "?", (unsigned long long)v->seq);
	}
	for (size_t i = 0; i < nrules; i++) {
		if (rules[i].action <= p->rule_action || !tier_rule_matches(&rules[i], v))
			continue;
		p->rule_action = rules[i].action;
		tier_rule_match_text(&rules[i], p->rule, sizeof(p->rule));
		snprintf(p->rule_via, sizeof(p->rule_via), "%s@%llu",
		         v->dataset ? v->dataset : "?", (unsigned long long)v->seq);
	}
}

/* ---- pressure ---- */

void tier_pressure_compute(struct tier_pressure *out, uint64_t capacity,
                           uint64_t used, double high, double low)
{
	memset(out, 0, sizeof(*out));
	out->high = high;
	out->low = low;
	out->capacity = capacity;
	out->used = used;
	if (capacity == 0)
		return;
	out->known = true;
	out->used_pct = 100.0 * (double)used / (double)capacity;
	if (out->used_pct < high)
		return;
	out->over_high = true;
	/* Free down to low percent: the target is rounded down, so that
	 * freeing exactly release_need lands at or under the watermark. */
	uint64_t target = (uint64_t)((double)capacity * (low / 100.0));
	out->release_need = used > target ? used - target : 0;
}

/* ---- decisions ---- */

const char *tier_action_name(int action)
{
	switch (action) {
	case TIER_KEEP:    return "keep";
	case TIER_MIGRATE: return "migrate";
	case TIER_RELEASE: return "release";
	case TIER_RECALL:  return "recall";
	case TIER_BUSY:    return "busy";
	}
	return "unknown";
}

void tier_fmt_duration(char *buf, size_t len, uint64_t s)
{
	if (s >= 86400 * 2 || (s >= 86400 && s % 86400 == 0))
		snprintf(buf, len, "%llud", (unsigned long long)(s / 86400));
	else if (s >= 3600 * 2 || (s >= 3600 && s % 3600 == 0))
		snprintf(buf, len, "%lluh", (unsigned long long)(s / 3600));
	else if (s >= 60 * 2 || (s >= 60 && s % 60 == 0))
		snprintf(buf, len, "%llum", (unsigned long long)(s / 60));
	else
		snprintf(buf, len, "%llus", (unsigned long long)s);
}

void tier_fmt_size(char *buf, size_t len, uint64_t b)
{
	static const char units[] = "KMGTP";
	double v = (double)b;
	int u = -1;

	if (b < 1024) {
		snprintf(buf, len, "%lluB", (unsigned long long)b);
		return;
	}
	while (v >= 1024.0 && u < 4) {
		v /= 1024.0;
		u++;
	}
	snprintf(buf, len, "%.1f%c", v, units[u]);
}

static void why_rule(struct tier_decision *d, const struct tier_placement *pl,
                     const char *what)
{
	/* A reason longer than the buffer is cut: it is text for people. */
	if (snprintf(d->why, sizeof(d->why), "rule %s %s (via %s): %s", pl->rule,
	             tier_rule_action_name(pl->rule_action), pl->rule_via, what) >=
	    (int)sizeof(d->why))
		d->why[sizeof(d->why) - 2] = '~';
}

static void decide_hot(struct tier_decision *d, const struct tier_policy *p,
                       const struct tier_facts *f, const struct tier_placement *pl,
                       int64_t now)
{
	char a[32], b[32], c[32], e[32];
	uint64_t idle = now > f->last_access ? (uint64_t)(now - f->last_access) : 0;

	if (pl != NULL && pl->rule_action == TIER_RULE_ALWAYS_HOT) {
		why_rule(d, pl, "stays on the pool");
		return;
	}
	if (pl != NULL && pl->rule_action == TIER_RULE_ARCHIVE_NOW) {
		d->action = TIER_MIGRATE;
		d->forced = true;
		d->then_release = !pl->pinned;
		if (pl->pinned) {
			char what[TIER_RULE_VALUE_MAX + 96];
			snprintf(what, sizeof(what), "copy to S3 now; the pool copy stays "
			         "(pinned by %s)", pl->pinned_by);
			why_rule(d, pl, what);
		} else {
			why_rule(d, pl, "copy to S3 now, then release the pool copy");
		}
		return;
	}
	tier_fmt_size(a, sizeof(a), f->size);
	tier_fmt_size(b, sizeof(b), p->min_size);
	if (f->size < p->min_size) {
		snprintf(d->why, sizeof(d->why), "size %s < min_size %s: stays on the "
		         "pool", a, b);
		return;
	}
	tier_fmt_duration(c, sizeof(c), idle);
	tier_fmt_duration(e, sizeof(e), p->min_idle);
	if (idle < p->min_idle) {
		snprintf(d->why, sizeof(d->why), "idle %s < min_idle %s", c, e);
		return;
	}
	d->action = TIER_MIGRATE;
	snprintf(d->why, sizeof(d->why), "idle %s \u2265 min_idle %s; size %s \u2265 "
	         "min_size %s", c, e, a, b);
}

static void decide_dual(struct tier_decision *d, const struct tier_facts *f,
                        const struct tier_placement *pl,
                        const struct tier_pressure *pr, int64_t now)
{
	char a[32];
	uint64_t idle = now > f->last_access ? (uint64_t)(now - f->last_access) : 0;

	if (pl != NULL && pl->rule_action == TIER_RULE_ALWAYS_HOT) {
		why_rule(d, pl, "the pool copy is never released");
		return;
	}
	if (pl != NULL && pl->pinned) {
		snprintf(d->why, sizeof(d->why), "pinned by %s: the pool copy is never "
		         "released", pl->pinned_by);
		return;
	}
	if (pl != NULL && pl->rule_action == TIER_RULE_ARCHIVE_NOW) {
		d->action = TIER_RELEASE;
		d->forced = true;
		why_rule(d, pl, "release the pool copy now (safe in S3)");
		return;
	}
	if (pr == NULL || !pr->known) {
		snprintf(d->why, sizeof(d->why), "pool use unknown: the pool copy is kept");
		return;
	}
	tier_fmt_duration(a, sizeof(a), idle);
	if (!pr->over_high) {
		snprintf(d->why, sizeof(d->why), "pool at %.1f%% < high_watermark %g%%: "
		         "the pool copy is kept", pr->used_pct, pr->high);
		return;
	}
	d->action = TIER_RELEASE;
	snprintf(d->why, sizeof(d->why), "pool at %.1f%% \u2265 high_watermark %g%%: "
	         "release candidate (idle %s), least recently used first, down to "
	         "low_watermark %g%%", pr->used_pct, pr->high, a, pr->low);
}

void tier_decide(struct tier_decision *d, const struct tier_policy *p,
                 const struct tier_facts *f, const struct tier_placement *pl,
                 const struct tier_pressure *pr, int64_t now)
{
	memset(d, 0, sizeof(*d));
	d->action = TIER_KEEP;
	switch (f->state) {
	case CAIRN_TIER_HOT:
		decide_hot(d, p, f, pl, now);
		return;
	case CAIRN_TIER_DUAL:
		decide_dual(d, f, pl, pr, now);
		return;
	case CAIRN_TIER_COLD:
		if (pl != NULL && pl->rule_action == TIER_RULE_ALWAYS_HOT) {
			d->action = TIER_RECALL;
			d->forced = true;
			why_rule(d, pl, "bring back to the pool");
			return;
		}
		/* A pin keeps a version on the pool: one that is in S3 only
		 * (pinned after its release, or a pool repair cut short) comes
		 * back. */
		if (pl != NULL && pl->pinned) {
			d->action = TIER_RECALL;
			d->forced = true;
			snprintf(d->why, sizeof(d->why), "pinned by %s: brought back to the "
			         "pool", pl->pinned_by);
			return;
		}
		snprintf(d->why, sizeof(d->why), "in S3 only: recalled when read or by "
		         "`cairn tier recall`");
		return;
	case CAIRN_TIER_MIGRATING:
	case CAIRN_TIER_RELEASING:
	case CAIRN_TIER_RECALLING:
		d->action = TIER_BUSY;
		snprintf(d->why, sizeof(d->why), "%s: a move is under way",
		         cairn_tier_state_name(f->state));
		return;
	}
	snprintf(d->why, sizeof(d->why), "unknown state %d: left alone", f->state);
}

/* ---- release candidates ---- */

static bool newer(const struct tier_candidate *a, const struct tier_candidate *b)
{
	return a->last_access > b->last_access;
}

static void swap(struct tier_candidate *a, struct tier_candidate *b)
{
	struct tier_candidate t = *a;
	*a = *b;
	*b = t;
}

static void sift_down(struct tier_lru *h, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;
		if (l < h->n && newer(&h->v[l], &h->v[m]))
			m = l;
		if (r < h->n && newer(&h->v[r], &h->v[m]))
			m = r;
		if (m == i)
			return;
		swap(&h->v[i], &h->v[m]);
		i = m;
	}
}

static void pop_newest(struct tier_lru *h)
{
	h->bytes -= h->v[0].size;
	h->v[0] = h->v[--h->n];
	sift_down(h, 0);
}

int tier_lru_init(struct tier_lru *h, size_t cap, uint64_t need)
{
	memset(h, 0, sizeof(*h));
	h->need = need;
	if (cap == 0)
		return 0;
	h->v = malloc(cap * sizeof(*h->v));
	if (h->v == NULL)
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	h->cap = cap;
	return 0;
}

void tier_lru_offer(struct tier_lru *h, const struct tier_candidate *c)
{
	size_t i;

	if (h->cap == 0 || h->need == 0)
		return;
	if (h->n == h->cap) {
		if (!newer(&h->v[0], c))
			return;
		pop_newest(h);
	}
	i = h->n++;
	h->v[i] = *c;
	h->bytes += c->size;
	while (i > 0 && newer(&h->v[i], &h->v[(i - 1) / 2])) {
		swap(&h->v[i], &h->v[(i - 1) / 2]);
		i = (i - 1) / 2;
	}
	/* Drop the newest while the others still cover the need. */
	while (h->n > 1 && h->bytes - h->v[0].size >= h->need)
		pop_newest(h);
}

static int cmp_oldest(const void *a, const void *b)
{
	const struct tier_candidate *x = a, *y = b;

	return (x->last_access > y->last_access) - (x->last_access < y->last_access);
}

void tier_lru_sort(struct tier_lru *h)
{
	if (h->n > 1)
		qsort(h->v, h->n, sizeof(*h->v), cmp_oldest);
}

void tier_lru_free(struct tier_lru *h)
{
	free(h->v);
	memset(h, 0, sizeof(*h));
}
