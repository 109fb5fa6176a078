/* error.h — cairn's one error convention.
 *
 * Every function that can fail returns int: 0 on success, a negative
 * CAIRN_E* code on failure. The few codes below are the ones callers act on;
 * the human explanation lives in a thread-local message set at the point of
 * failure with cairn_error_set(). Callers propagate the code and do not
 * overwrite the message (add context with cairn_error_prefix() if useful).
 * Conversion to -errno happens once, at the FUSE boundary; conversion to
 * HTTP statuses once, in catalogd's API layer.
 */
#ifndef CAIRN_ERROR_H
#define CAIRN_ERROR_H

enum {
	CAIRN_OK        = 0,
	CAIRN_ERROR     = -1,  /* anything else; see the message */
	CAIRN_ENOTFOUND = -2,  /* no such dataset, version, path, object */
	CAIRN_EEXISTS   = -3,  /* already exists */
	CAIRN_ERETRY    = -4,  /* transient: try again (timeouts, 503, conflicts) */
	CAIRN_ECORRUPT  = -5,  /* bytes or records fail their digest / decoding */
	CAIRN_ENOSPC    = -6,  /* the pool or a disk is full */
	CAIRN_EINVAL    = -7,  /* bad input from a user or a peer */
	CAIRN_EIO       = -8,  /* an I/O or network failure */
	CAIRN_ENOMEM    = -9,
	CAIRN_EPERM     = -10, /* not allowed */
	CAIRN_ETOOBIG   = -11, /* over a configured or protocol limit */
};

/* Sets the thread's message (printf-style) and returns code, so that
 * `return cairn_error_set(CAIRN_EINVAL, "bad name '%s'", n);` reads well. */
int cairn_error_set(int code, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Like cairn_error_set, for a failed system call: maps errnum to a code
 * (ENOENT→ENOTFOUND, EEXIST→EEXISTS, ENOSPC/EDQUOT→ENOSPC, EACCES/EPERM→EPERM,
 * ENOMEM→ENOMEM, EINTR/EAGAIN→ERETRY, else EIO) and appends ": strerror". */
int cairn_error_errno(int errnum, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Prepends "context: " to the current message, keeps the code; returns code. */
int cairn_error_prefix(int code, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* The thread's last message ("" when none) and code (0 when none). */
const char *cairn_error_msg(void);
int cairn_error_code(void);
void cairn_error_clear(void);

/* Stable short names used on the wire: "not_found", "exists", "retry",
 * "corrupt", "no_space", "invalid", "io", "no_memory", "permission",
 * "too_big", "error". cairn_error_from_name() maps back (unknown → CAIRN_ERROR). */
const char *cairn_error_name(int code);
int cairn_error_from_name(const char *name);

int cairn_error_to_errno(int code);   /* positive errno, for FUSE */
int cairn_error_to_http(int code);    /* HTTP status, for the API */
int cairn_error_from_http(int status);

#endif
