/* log.h — leveled logging to stderr, systemd style.
 *
 * The level is checked before anything is formatted. Every line names its
 * module: "<6>catalogd/api: listening on unix:/run/cairn/catalogd.sock".
 * When stderr is not a journal the line starts with an ISO-8601 time instead
 * of the <N> priority prefix. Never format a credential into a log line.
 */
#ifndef CAIRN_LOG_H
#define CAIRN_LOG_H

enum cairn_log_level {
	CAIRN_LOG_DEBUG = 0,
	CAIRN_LOG_INFO  = 1,
	CAIRN_LOG_WARN  = 2,
	CAIRN_LOG_ERROR = 3,
};

extern int cairn_log_min_level;

void cairn_log_set_level(int level);
/* "debug" | "info" | "warn" | "error" → level; CAIRN_EINVAL otherwise. */
int cairn_log_parse_level(const char *s, int *out);

void cairn_log_write(int level, const char *module, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#define cairn_log(level, module, ...) do { \
	if ((level) >= cairn_log_min_level) \
		cairn_log_write((level), (module), __VA_ARGS__); \
} while (0)
#define log_debug(mod, ...) cairn_log(CAIRN_LOG_DEBUG, mod, __VA_ARGS__)
#define log_info(mod, ...)  cairn_log(CAIRN_LOG_INFO, mod, __VA_ARGS__)
#define log_warn(mod, ...)  cairn_log(CAIRN_LOG_WARN, mod, __VA_ARGS__)
#define log_error(mod, ...) cairn_log(CAIRN_LOG_ERROR, mod, __VA_ARGS__)

#endif
