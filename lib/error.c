/* error.c — the thread-local error message and the code mappings.
 *
 * Each thread keeps its last code and a bounded message. Messages are built
 * with vsnprintf into the fixed buffer, so setting an error never allocates
 * and never fails: an over-long message is truncated, not lost.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "error.h"

#define MSG_MAX 1024

static _Thread_local int err_code;
static _Thread_local char err_msg[MSG_MAX];

static const struct {
	int code;
	const char *name;
	int http;
	int errnum;
} codes[] = {
	{ CAIRN_ENOTFOUND, "not_found",  404, ENOENT },
	{ CAIRN_EEXISTS,   "exists",     409, EEXIST },
	{ CAIRN_ERETRY,    "retry",      503, EAGAIN },
	{ CAIRN_ECORRUPT,  "corrupt",    422, EIO },
	{ CAIRN_ENOSPC,    "no_space",   507, ENOSPC },
	{ CAIRN_EINVAL,    "invalid",    400, EINVAL },
	{ CAIRN_EIO,       "io",         500, EIO },
	{ CAIRN_ENOMEM,    "no_memory",  500, ENOMEM },
	{ CAIRN_EPERM,     "permission", 403, EACCES },
	{ CAIRN_ETOOBIG,   "too_big",    413, EFBIG },
	{ CAIRN_ERROR,     "error",      500, EIO },
};
#define NCODES (sizeof(codes) / sizeof(codes[0]))

int cairn_error_set(int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err_msg, sizeof(err_msg), fmt, ap);
	va_end(ap);
	err_code = code;
	return code;
}

static int code_from_errno(int errnum)
{
	switch (errnum) {
	case ENOENT:
		return CAIRN_ENOTFOUND;
	case EEXIST:
		return CAIRN_EEXISTS;
	case ENOSPC:
	case EDQUOT:
		return CAIRN_ENOSPC;
	case EACCES:
	case EPERM:
		return CAIRN_EPERM;
	case ENOMEM:
		return CAIRN_ENOMEM;
	case EINTR:
	case EAGAIN:
		return CAIRN_ERETRY;
	default:
		return CAIRN_EIO;
	}
}

int cairn_error_errno(int errnum, const char *fmt, ...)
{
	va_list ap;
	size_t n;
	char ebuf[256];

	va_start(ap, fmt);
	vsnprintf(err_msg, sizeof(err_msg), fmt, ap);
	va_end(ap);
	/* strerror_r (GNU flavour) returns a pointer that may or may not be
	 * ebuf; strerror() itself is not thread-safe. */
	n = strlen(err_msg);
	snprintf(err_msg + n, sizeof(err_msg) - n, ": %s",
	         strerror_r(errnum, ebuf, sizeof(ebuf)));
	err_code = code_from_errno(errnum);
	return err_code;
}

int cairn_error_prefix(int code, const char *fmt, ...)
{
	char old[MSG_MAX];
	va_list ap;
	int n;

	memcpy(old, err_msg, sizeof(old));
	va_start(ap, fmt);
	n = vsnprintf(err_msg, sizeof(err_msg), fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if ((size_t)n < sizeof(err_msg))
		snprintf(err_msg + n, sizeof(err_msg) - (size_t)n, "%s%s",
		         old[0] ? ": " : "", old);
	err_code = code;
	return code;
}

const char *cairn_error_msg(void)
{
	return err_msg;
}

int cairn_error_code(void)
{
	return err_code;
}

void cairn_error_clear(void)
{
	err_code = 0;
	err_msg[0] = '\0';
}

const char *cairn_error_name(int code)
{
	for (size_t i = 0; i < NCODES; i++)
		if (codes[i].code == code)
			return codes[i].name;
	return "error";
}

int cairn_error_from_name(const char *name)
{
	if (!name)
		return CAIRN_ERROR;
	for (size_t i = 0; i < NCODES; i++)
		if (strcmp(codes[i].name, name) == 0)
			return codes[i].code;
	return CAIRN_ERROR;
}

int cairn_error_to_errno(int code)
{
	for (size_t i = 0; i < NCODES; i++)
		if (codes[i].code == code)
			return codes[i].errnum;
	return EIO;
}

int cairn_error_to_http(int code)
{
	for (size_t i = 0; i < NCODES; i++)
		if (codes[i].code == code)
			return codes[i].http;
	return 500;
}

/* 500 is shared by several codes and comes back as the generic one. Other
 * 4xx statuses (405, 411, ...) are a malformed request: CAIRN_EINVAL. Other
 * 5xx statuses say nothing we could act on: CAIRN_ERROR. */
int cairn_error_from_http(int status)
{
	switch (status) {
	case 400: return CAIRN_EINVAL;
	case 401:
	case 403: return CAIRN_EPERM;
	case 404: return CAIRN_ENOTFOUND;
	case 409: return CAIRN_EEXISTS;
	case 413: return CAIRN_ETOOBIG;
	case 422: return CAIRN_ECORRUPT;
	case 503: return CAIRN_ERETRY;
	case 507: return CAIRN_ENOSPC;
	default:
		if (status >= 400 && status < 500)
			return CAIRN_EINVAL;
		return CAIRN_ERROR;
	}
}
