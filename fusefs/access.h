/* access.h — telling catalogd which pool objects cairnfs read.
 *
 * When the pool is on this host, cairnfs reads object files in place and
 * catalogd never hears of it; but the tiering engine picks what to migrate
 * by idle time. So every object opened from the pool is noted here, and a
 * background thread sends the notes in batches (POST /v1/objects/accessed)
 * every few seconds.
 *
 * Contract: cfs_access_note() never does I/O and never waits for more
 * than a short critical section, so a read is never held up by catalogd.
 * Notes are deduplicated and bounded (CFS_ACCESS_MAX distinct ids between
 * two sends); past the bound they are dropped and counted, which only makes
 * an object look a few seconds older than it is. Access times are advisory:
 * a batch that cannot be sent is dropped, not retried.
 */
#ifndef CAIRNFS_ACCESS_H
#define CAIRNFS_ACCESS_H

#include "oid.h"

/* Distinct ids held between two sends. */
#define CFS_ACCESS_MAX 4096
/* Seconds between two sends. */
#define CFS_ACCESS_INTERVAL 3

/* Starts the sending thread (after the process has daemonized). Until it
 * runs, notes are kept (up to the bound) and sent by the first pass. */
int cfs_access_start(void);
/* Sends what is left and stops the thread; a no-op if never started. */
void cfs_access_stop(void);

void cfs_access_note(const cairn_oid *oid);

/* Counters for logs and tests: ids sent, and notes dropped at the bound. */
void cfs_access_stats(unsigned long long *sent, unsigned long long *dropped);

#endif
