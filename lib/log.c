/* log.c — one line per message on stderr.
 *
 * The level test happens in the cairn_log() macro, so a disabled debug line
 * costs one comparison and no formatting. A line is assembled in a bounded
 * stack buffer and handed to the kernel in one write(2): lines from
 * concurrent threads never interleave mid-line (writes to a pipe or a tty up
 * to PIPE_BUF bytes are atomic; longer lines are truncated to fit).
 *
 * Under systemd (JOURNAL_STREAM set) the journal adds its own timestamp and
 * reads the "<N>" syslog priority prefix, so the line carries that instead.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "error.h"
#include "log.h"

#define LINE_MAX_BYTES 4096

int cairn_log_min_level = CAIRN_LOG_INFO;

static const char *const level_names[] = { "DEBUG", "INFO", "WARN", "ERROR" };
/* syslog priorities: debug 7, info 6, warning 4, err 3 */
static const int level_prio[] = { 7, 6, 4, 3 };

void cairn_log_set_level(int level)
{
	if (level < CAIRN_LOG_DEBUG)
		level = CAIRN_LOG_DEBUG;
	if (level > CAIRN_LOG_ERROR)
		level = CAIRN_LOG_ERROR;
	cairn_log_min_level = level;
}

int cairn_log_parse_level(const char *s, int *out)
{
	static const char *const names[] = { "debug", "info", "warn", "error" };

	for (int i = 0; s && i < 4; i++) {
		if (strcmp(s, names[i]) == 0) {
			*out = i;
			return 0;
		}
	}
	return cairn_error_set(CAIRN_EINVAL,
	                       "bad log level '%s' (debug, info, warn or error)",
	                       s ? s : "");
}

void cairn_log_write(int level, const char *module, const char *fmt, ...)
{
	char line[LINE_MAX_BYTES];
	size_t n = 0;
	int r;
	va_list ap;

	if (level < CAIRN_LOG_DEBUG)
		level = CAIRN_LOG_DEBUG;
	if (level > CAIRN_LOG_ERROR)
		level = CAIRN_LOG_ERROR;

	if (getenv("JOURNAL_STREAM")) {
		r = snprintf(line, sizeof(line), "<%d>%s: ", level_prio[level], module);
	} else {
		struct timespec ts;
		struct tm tm;

		clock_gettime(CLOCK_REALTIME, &ts);
		gmtime_r(&ts.tv_sec, &tm);
		r = snprintf(line, sizeof(line),
		             "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s %s: ",
		             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
		             tm.tm_hour, tm.tm_min, tm.tm_sec,
		             ts.tv_nsec / 1000000L, level_names[level], module);
	}
	if (r > 0)
		n = (size_t)r < sizeof(line) ? (size_t)r : sizeof(line) - 1;

	va_start(ap, fmt);
	r = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
	va_end(ap);
	if (r > 0)
		n += (size_t)r < sizeof(line) - n ? (size_t)r : sizeof(line) - n - 1;

	/* One message, one line: a trailing newline in fmt is not doubled. */
	if (n > 0 && line[n - 1] == '\n')
		n--;
	line[n++] = '\n';

	/* Nothing sensible to do if stderr is gone; retry only interruptions. */
	while (write(STDERR_FILENO, line, n) < 0 && errno == EINTR)
		;
}
