/* util.c — see util.h. */
#include "util.h"

#include <errno.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "error.h"

int util_mkdir_p(const char *path, mode_t mode)
{
	char buf[PATH_MAX];
	size_t len = strlen(path);

	if (len == 0 || len >= sizeof(buf))
		return cairn_error_set(CAIRN_EINVAL, "bad directory path '%s'", path);
	memcpy(buf, path, len + 1);
	/* Create each ancestor in turn; EEXIST on the way is expected, and
	 * the last component is checked to really be a directory. */
	for (char *p = buf + 1; ; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char c = *p;
		*p = '\0';
		if (mkdir(buf, mode) != 0 && errno != EEXIST)
			return cairn_error_errno(errno, "cannot create directory '%s'", buf);
		*p = c;
		if (c == '\0')
			break;
	}
	struct stat st;
	if (stat(path, &st) != 0)
		return cairn_error_errno(errno, "cannot use directory '%s'", path);
	if (!S_ISDIR(st.st_mode))
		return cairn_error_set(CAIRN_EINVAL, "'%s' is not a directory", path);
	return 0;
}

void util_actor(char *buf, size_t len, uid_t uid)
{
	struct passwd pw, *res = NULL;
	char tmp[1024];

	if (uid == (uid_t)-1) {
		snprintf(buf, len, "unknown");
		return;
	}
	if (getpwuid_r(uid, &pw, tmp, sizeof(tmp), &res) == 0 && res != NULL)
		snprintf(buf, len, "%s", res->pw_name);
	else
		snprintf(buf, len, "uid:%u", (unsigned)uid);
}

int64_t util_now(void)
{
	return (int64_t)time(NULL);
}

int util_parse_u64(const char *s, uint64_t *out)
{
	uint64_t v = 0;

	if (s == NULL || *s == '\0')
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		unsigned d = (unsigned)(*s - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}
