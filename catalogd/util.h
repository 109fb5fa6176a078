/* util.h — small helpers catalogd's modules share: directories, actors, time.
 *
 * Nothing here keeps state; every function is safe from any thread.
 */
#ifndef CATALOGD_UTIL_H
#define CATALOGD_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* mkdir -p: creates path and its missing parents with mode; an existing
 * directory is 0. CAIRN_E* from the failing mkdir otherwise. */
int util_mkdir_p(const char *path, mode_t mode);

/* Writes the actor name of uid into buf: its passwd name, or "uid:N" when
 * it has none, or "unknown" for (uid_t)-1. */
void util_actor(char *buf, size_t len, uid_t uid);

/* Seconds since the epoch. */
int64_t util_now(void);

/* Parses a whole decimal u64 ("0" .. "18446744073709551615"); -1 on
 * anything else (signs, spaces, empty, overflow). */
int util_parse_u64(const char *s, uint64_t *out);

#endif
