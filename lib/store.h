/* store.h — object stores behind one small table of functions.
 *
 * The pool directory (pool.c) is the first backend; the S3 client and the
 * compute-node cache follow the same shape. A store holds immutable objects
 * named by their oid. Every function returns 0 or a CAIRN_E* code with the
 * thread's message set. Tests wrap a real store to inject faults on the Nth
 * call (the `fault` backend in tests/).
 */
#ifndef CAIRN_STORE_H
#define CAIRN_STORE_H

#include <stddef.h>
#include <stdint.h>
#include "oid.h"

typedef struct cairn_store cairn_store;

struct cairn_store_ops {
	const char *name;
	/* Durably stores len bytes as oid; the data must hash to oid
	 * (CAIRN_ECORRUPT otherwise). Idempotent: storing a present object is 0. */
	int (*put)(cairn_store *s, const cairn_oid *oid, const void *data, size_t len);
	/* Reads up to len bytes at off; *nread < len only at the object's end.
	 * CAIRN_ENOTFOUND when absent. */
	int (*get_range)(cairn_store *s, const cairn_oid *oid, uint64_t off,
	                 void *buf, size_t len, size_t *nread);
	/* Size of a present object, CAIRN_ENOTFOUND when absent. */
	int (*head)(cairn_store *s, const cairn_oid *oid, uint64_t *size);
	/* Removes the object; absent is 0. */
	int (*del)(cairn_store *s, const cairn_oid *oid);
	void (*free)(cairn_store *s);
};

struct cairn_store {
	const struct cairn_store_ops *ops;
};

static inline int cairn_store_put(cairn_store *s, const cairn_oid *o, const void *d, size_t n)
{ return s->ops->put(s, o, d, n); }
static inline int cairn_store_get_range(cairn_store *s, const cairn_oid *o, uint64_t off,
                                        void *buf, size_t len, size_t *nread)
{ return s->ops->get_range(s, o, off, buf, len, nread); }
static inline int cairn_store_head(cairn_store *s, const cairn_oid *o, uint64_t *size)
{ return s->ops->head(s, o, size); }
static inline int cairn_store_del(cairn_store *s, const cairn_oid *o)
{ return s->ops->del(s, o); }
static inline void cairn_store_free(cairn_store *s)
{ if (s) s->ops->free(s); }

#endif
