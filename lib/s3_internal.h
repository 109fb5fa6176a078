/* s3_internal.h — what s3.c lets its unit tests reach without a server.
 *
 * Other modules use s3.h. These are the pure decisions of the client: how a
 * libs3 status becomes one of our codes, how long to wait before a retry,
 * and the listing page size (so a test can page through a handful of keys).
 */
#ifndef CAIRN_S3_INTERNAL_H
#define CAIRN_S3_INTERNAL_H

#include <stdint.h>
#include "s3.h"

/* libs3's name for a status ("ErrorSlowDown", "HttpErrorNotFound", ...) →
 * its number; -1 when libs3 has no such status. */
int cairn_s3_status_from_name(const char *name);

/* A libs3 status → 0, CAIRN_ENOTFOUND, CAIRN_ERETRY (worth another attempt),
 * CAIRN_EPERM, CAIRN_ENOMEM or CAIRN_EIO. */
int cairn_s3_classify(int status);

/* Milliseconds to wait before retry number attempt+1: 100 ms × 2^attempt,
 * capped at 5 s, of which the upper half is jitter drawn from rnd. */
long cairn_s3_backoff_ms(int attempt, uint32_t rnd);

/* Keys asked for per LIST request (1..1000; default 1000). */
void cairn_s3_set_list_page(cairn_s3 *s, int keys);

#endif
