/* throttle.c — breaker, bucket and rate window (see throttle.h). */
#include "throttle.h"

#include <string.h>

void tier_breaker_init(struct tier_breaker *b, int64_t window_s)
{
	memset(b, 0, sizeof(*b));
	b->window = window_s;
}

void tier_breaker_record(struct tier_breaker *b, int64_t now, bool ok)
{
	b->t[b->head] = now;
	b->ok[b->head] = ok;
	b->head = (b->head + 1) % TIER_BREAKER_RING;
	if (b->n < TIER_BREAKER_RING)
		b->n++;
}

void tier_breaker_reset(struct tier_breaker *b)
{
	tier_breaker_init(b, b->window);
}

bool tier_breaker_tripped(const struct tier_breaker *b, int64_t now, double max_rate,
                          unsigned min_attempts, unsigned *fails, unsigned *attempts)
{
	unsigned nf = 0, na = 0;

	for (unsigned i = 0; i < b->n; i++) {
		unsigned k = (b->head + TIER_BREAKER_RING - 1 - i) % TIER_BREAKER_RING;
		if (now - b->t[k] > b->window)
			break;          /* older ones are older still */
		na++;
		nf += !b->ok[k];
	}
	if (fails)
		*fails = nf;
	if (attempts)
		*attempts = na;
	if (na == 0 || na < min_attempts)
		return false;
	return 100.0 * (double)nf / (double)na > max_rate;
}

static void refill(struct tier_bucket *b, int64_t now_ns)
{
	if (now_ns > b->last_ns) {
		b->tokens += (double)b->rate * (double)(now_ns - b->last_ns) / 1e9;
		if (b->tokens > (double)b->rate)
			b->tokens = (double)b->rate;
	}
	b->last_ns = now_ns;
}

void tier_bucket_init(struct tier_bucket *b, uint64_t rate, int64_t now_ns)
{
	b->rate = rate;
	b->tokens = (double)rate;
	b->last_ns = now_ns;
}

void tier_bucket_set_rate(struct tier_bucket *b, uint64_t rate, int64_t now_ns)
{
	if (b->rate != 0)
		refill(b, now_ns);
	b->rate = rate;
	b->last_ns = now_ns;
	if (b->tokens > (double)rate)
		b->tokens = (double)rate;
}

uint64_t tier_bucket_take(struct tier_bucket *b, uint64_t n, int64_t now_ns)
{
	if (b->rate == 0)
		return 0;
	refill(b, now_ns);
	b->tokens -= (double)n;
	if (b->tokens >= 0)
		return 0;
	return (uint64_t)(-b->tokens * 1e9 / (double)b->rate);
}

void tier_rate_init(struct tier_rate *r)
{
	memset(r, 0, sizeof(*r));
}

void tier_rate_add(struct tier_rate *r, int64_t now_s, uint64_t n)
{
	unsigned k = (unsigned)(now_s % TIER_RATE_WINDOW);

	if (r->sec[k] != now_s) {
		r->sec[k] = now_s;
		r->bytes[k] = 0;
	}
	r->bytes[k] += n;
}

uint64_t tier_rate_bps(const struct tier_rate *r, int64_t now_s)
{
	uint64_t sum = 0;

	for (unsigned k = 0; k < TIER_RATE_WINDOW; k++)
		if (r->sec[k] > now_s - TIER_RATE_WINDOW && r->sec[k] <= now_s)
			sum += r->bytes[k];
	return sum / TIER_RATE_WINDOW;
}
