/* test_log — line format (time or journal priority, level, module), level
 * filtering before formatting, and one bounded line per message. */
#include <regex.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "error.h"
#include "log.h"

static char captured[16384];

/* Runs fn with stderr sent to a temp file and returns what it wrote. */
static const char *capture(void (*fn)(void))
{
	FILE *tmp = tmpfile();
	int saved = dup(STDERR_FILENO);
	size_t n;

	assert_non_null(tmp);
	fflush(stderr);
	dup2(fileno(tmp), STDERR_FILENO);
	fn();
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	rewind(tmp);
	n = fread(captured, 1, sizeof(captured) - 1, tmp);
	captured[n] = '\0';
	fclose(tmp);
	return captured;
}

static int format_calls;

static const char *counted(const char *s)
{
	format_calls++;
	return s;
}

static void log_some(void)
{
	log_debug("catalogd/api", "hidden %s", counted("debug"));
	log_info("catalogd/api", "listening on %s", "unix:/x.sock");
	log_warn("pool", "warned\n");
	log_error("tiering", "failed: %d", 42);
}

static void test_plain_format(void **state)
{
	regex_t re;
	const char *out;

	unsetenv("JOURNAL_STREAM");
	cairn_log_set_level(CAIRN_LOG_INFO);
	format_calls = 0;
	out = capture(log_some);
	/* the debug line's arguments were not even evaluated */
	assert_int_equal(format_calls, 0);
	assert_int_equal(regcomp(&re,
	        "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z "
	        "INFO catalogd/api: listening on unix:/x\\.sock\n"
	        "[0-9T:.Z-]{24} WARN pool: warned\n"
	        "[0-9T:.Z-]{24} ERROR tiering: failed: 42\n$", REG_EXTENDED), 0);
	if (regexec(&re, out, 0, NULL, 0) != 0)
		fail_msg("unexpected log output:\n%s", out);
	regfree(&re);
}

static void test_debug_level_and_filtering(void **state)
{
	const char *out;

	unsetenv("JOURNAL_STREAM");
	cairn_log_set_level(CAIRN_LOG_DEBUG);
	format_calls = 0;
	out = capture(log_some);
	assert_int_equal(format_calls, 1);
	assert_non_null(strstr(out, " DEBUG catalogd/api: hidden debug\n"));

	cairn_log_set_level(CAIRN_LOG_ERROR);
	out = capture(log_some);
	assert_null(strstr(out, "INFO"));
	assert_null(strstr(out, "WARN"));
	assert_non_null(strstr(out, " ERROR tiering: failed: 42\n"));
	cairn_log_set_level(CAIRN_LOG_INFO);
}

static void test_journal_format(void **state)
{
	const char *out;

	setenv("JOURNAL_STREAM", "8:12345", 1);
	cairn_log_set_level(CAIRN_LOG_DEBUG);
	out = capture(log_some);
	assert_string_equal(out,
	                    "<7>catalogd/api: hidden debug\n"
	                    "<6>catalogd/api: listening on unix:/x.sock\n"
	                    "<4>pool: warned\n"
	                    "<3>tiering: failed: 42\n");
	unsetenv("JOURNAL_STREAM");
	cairn_log_set_level(CAIRN_LOG_INFO);
}

static void log_long(void)
{
	char big[10000];

	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	log_info("m", "%s", big);
	log_info("m", "after");
}

static void test_long_line_is_cut_to_one_line(void **state)
{
	const char *out;
	const char *nl;

	setenv("JOURNAL_STREAM", "1:1", 1);
	out = capture(log_long);
	unsetenv("JOURNAL_STREAM");
	nl = strchr(out, '\n');
	assert_non_null(nl);
	assert_true(nl - out < 10000);
	assert_true(nl - out > 1000);
	assert_string_equal(nl + 1, "<6>m: after\n");
}

static void test_parse_level(void **state)
{
	static const char *const names[] = { "debug", "info", "warn", "error" };
	int lvl;

	for (int i = 0; i < 4; i++) {
		lvl = -1;
		assert_int_equal(cairn_log_parse_level(names[i], &lvl), 0);
		assert_int_equal(lvl, i);
	}
	assert_int_equal(cairn_log_parse_level("verbose", &lvl), CAIRN_EINVAL);
	assert_non_null(strstr(cairn_error_msg(), "'verbose'"));
	assert_int_equal(cairn_log_parse_level("INFO", &lvl), CAIRN_EINVAL);
	assert_int_equal(cairn_log_parse_level(NULL, &lvl), CAIRN_EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain_format),
		cmocka_unit_test(test_debug_level_and_filtering),
		cmocka_unit_test(test_journal_format),
		cmocka_unit_test(test_long_line_is_cut_to_one_line),
		cmocka_unit_test(test_parse_level),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
