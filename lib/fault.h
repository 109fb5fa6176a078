/* fault.h — named crash points for crash-recovery tests.
 *
 * A crash point is a place in the code where a crash must leave nothing
 * half done. When the environment variable CAIRN_CRASH is "NAME:N", the
 * N-th time the process passes cairn_crash_point("NAME") it kills itself
 * with SIGKILL — exactly what `kill -9` does, but at a chosen instant (the
 * model is SQLite's crash VFS). Without the variable a crash point costs one
 * predictable branch. Several points may be given, comma-separated.
 */
#ifndef CAIRN_FAULT_H
#define CAIRN_FAULT_H

extern int cairn_crash_armed;
void cairn_crash_check(const char *name);

#define cairn_crash_point(name) do { \
	if (cairn_crash_armed) \
		cairn_crash_check(name); \
} while (0)

/* Reads CAIRN_CRASH; call once at start-up. */
void cairn_crash_init(void);

#endif
