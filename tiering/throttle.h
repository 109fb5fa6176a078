/* throttle.h — the engine's meters and brakes: an error-rate breaker, a
 * token bucket for bandwidth, and a throughput window.
 *
 * Plain data with explicit time arguments, so tests drive the clock. None
 * is thread-safe: the engine holds its lock around every call.
 */
#ifndef CAIRN_TIER_THROTTLE_H
#define CAIRN_TIER_THROTTLE_H

#include <stdbool.h>
#include <stdint.h>

/* ---- error-rate breaker ----
 * Remembers the outcome of the last TIER_BREAKER_RING attempts. Tripped
 * when, among the attempts of the last `window` seconds, there are at least
 * `min_attempts` and the failed share is above max_rate percent. */
#define TIER_BREAKER_RING 256

struct tier_breaker {
	int64_t t[TIER_BREAKER_RING];
	bool ok[TIER_BREAKER_RING];
	unsigned head, n;
	int64_t window;
};

void tier_breaker_init(struct tier_breaker *b, int64_t window_s);
void tier_breaker_record(struct tier_breaker *b, int64_t now, bool ok);
/* Forgets every outcome (an admin resumed tiering). */
void tier_breaker_reset(struct tier_breaker *b);
bool tier_breaker_tripped(const struct tier_breaker *b, int64_t now, double max_rate,
                          unsigned min_attempts, unsigned *fails, unsigned *attempts);

/* ---- token bucket ----
 * rate bytes/s, at most one second's worth saved up. take() never refuses:
 * it hands out a debt and says how long the caller must wait before
 * sending, so one object larger than a second's budget still goes, and
 * the next caller waits for it. rate 0 = unlimited (never waits). */
struct tier_bucket {
	uint64_t rate;
	double tokens;
	int64_t last_ns;
};

void tier_bucket_init(struct tier_bucket *b, uint64_t rate, int64_t now_ns);
void tier_bucket_set_rate(struct tier_bucket *b, uint64_t rate, int64_t now_ns);
/* Nanoseconds to wait before sending n bytes (0: at once). */
uint64_t tier_bucket_take(struct tier_bucket *b, uint64_t n, int64_t now_ns);

/* ---- throughput over the last TIER_RATE_WINDOW seconds ---- */
#define TIER_RATE_WINDOW 60

struct tier_rate {
	int64_t sec[TIER_RATE_WINDOW];
	uint64_t bytes[TIER_RATE_WINDOW];
};

void tier_rate_init(struct tier_rate *r);
void tier_rate_add(struct tier_rate *r, int64_t now_s, uint64_t n);
/* Bytes per second averaged over the window ending at now_s. */
uint64_t tier_rate_bps(const struct tier_rate *r, int64_t now_s);

#endif
