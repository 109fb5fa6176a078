/* access.c — batched access reports for objects read from the pool.
 *
 * Two fixed sets of ids (open addressing, half full at most) take turns:
 * readers add to the current one under a mutex held for one probe; the
 * sender swaps them under the same mutex, sends the full one without it,
 * and clears it for the next turn. Memory is the two sets, whatever the
 * number of files or reads. Ids are digests, so their first bytes are
 * already a good hash.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "access.h"
#include "error.h"
#include "log.h"
#include "remote.h"

#define MOD "cairnfs/access"

#define SLOTS (2 * CFS_ACCESS_MAX)   /* a power of two */
/* Ids per request; the API takes up to 10000. */
#define BATCH 1000

struct idset {
	cairn_oid ids[SLOTS];
	unsigned char used[SLOTS];
	size_t n;
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static struct idset sets[2];
static struct idset *cur = &sets[0];
static bool stopping, running, full_signalled;
static pthread_t thread;
static unsigned long long n_sent, n_dropped;

static size_t slot_of(const cairn_oid *oid)
{
	size_t h;

	memcpy(&h, oid->b, sizeof(h));
	return h & (SLOTS - 1);
}

void cfs_access_note(const cairn_oid *oid)
{
	size_t i = slot_of(oid);

	pthread_mutex_lock(&mu);
	while (cur->used[i]) {
		if (memcmp(cur->ids[i].b, oid->b, CAIRN_OID_LEN) == 0)
			goto out;
		i = (i + 1) & (SLOTS - 1);
	}
	if (cur->n >= CFS_ACCESS_MAX) {
		n_dropped++;
		/* Ask for an early send, once per turn. */
		if (!full_signalled) {
			full_signalled = true;
			pthread_cond_signal(&cv);
		}
		goto out;
	}
	cur->ids[i] = *oid;
	cur->used[i] = 1;
	cur->n++;
out:
	pthread_mutex_unlock(&mu);
}

/* One request. Failures are logged (a missing endpoint once) and
 * otherwise ignored: the engine loses a little precision, nothing else. */
static void send_batch(const cairn_oid *ids, size_t n)
{
	static bool told_missing;
	int rc;

	rc = cfs_remote_objects_accessed(ids, n);
	if (rc == 0) {
		pthread_mutex_lock(&mu);
		n_sent += n;
		pthread_mutex_unlock(&mu);
	} else if (rc == CAIRN_ENOTFOUND) {
		if (!told_missing)
			log_info(MOD, "catalogd takes no access reports: %s", cairn_error_msg());
		told_missing = true;
	} else {
		log_debug(MOD, "access report of %zu objects dropped: %s", n, cairn_error_msg());
	}
	cairn_error_clear();
}

static void send_set(const struct idset *s)
{
	cairn_oid *batch;
	size_t i, n = 0;

	if (s->n == 0)
		return;
	batch = malloc(BATCH * sizeof(*batch));
	if (!batch)
		return;
	for (i = 0; i < SLOTS; i++) {
		if (!s->used[i])
			continue;
		batch[n++] = s->ids[i];
		if (n == BATCH) {
			send_batch(batch, n);
			n = 0;
		}
	}
	if (n)
		send_batch(batch, n);
	free(batch);
}

static void *sender(void *arg)
{
	bool last = false;

	while (!last) {
		struct timespec until;
		struct idset *full;

		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += CFS_ACCESS_INTERVAL;
		pthread_mutex_lock(&mu);
		while (!stopping && !full_signalled &&
		       pthread_cond_timedwait(&cv, &mu, &until) != ETIMEDOUT)
			;
		last = stopping;
		full = cur;
		cur = cur == &sets[0] ? &sets[1] : &sets[0];
		full_signalled = false;
		pthread_mutex_unlock(&mu);

		send_set(full);
		memset(full->used, 0, sizeof(full->used));
		full->n = 0;
	}
	/* The sender's connection goes with it. */
	cfs_remote_release();
	return NULL;
}

int cfs_access_start(void)
{
	int err;

	pthread_mutex_lock(&mu);
	stopping = false;
	pthread_mutex_unlock(&mu);
	err = pthread_create(&thread, NULL, sender, NULL);
	if (err)
		return cairn_error_errno(err, "cannot start the access reporter");
	running = true;
	return 0;
}

void cfs_access_stop(void)
{
	unsigned long long sent, dropped;

	if (!running)
		return;
	pthread_mutex_lock(&mu);
	stopping = true;
	pthread_cond_signal(&cv);
	pthread_mutex_unlock(&mu);
	pthread_join(thread, NULL);
	running = false;
	cfs_access_stats(&sent, &dropped);
	log_debug(MOD, "access reports: %llu ids sent, %llu notes dropped", sent, dropped);
}

void cfs_access_stats(unsigned long long *sent, unsigned long long *dropped)
{
	pthread_mutex_lock(&mu);
	*sent = n_sent;
	*dropped = n_dropped;
	pthread_mutex_unlock(&mu);
}
