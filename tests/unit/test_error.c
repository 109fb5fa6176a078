/* test_error — the error convention: thread-local messages, prefixes, and
 * the mappings to names, errno values and HTTP statuses. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "error.h"

static const int all_codes[] = {
	CAIRN_ERROR, CAIRN_ENOTFOUND, CAIRN_EEXISTS, CAIRN_ERETRY, CAIRN_ECORRUPT,
	CAIRN_ENOSPC, CAIRN_EINVAL, CAIRN_EIO, CAIRN_ENOMEM, CAIRN_EPERM, CAIRN_ETOOBIG,
};
#define NCODES (sizeof(all_codes) / sizeof(all_codes[0]))

static void test_set_returns_code_and_formats(void **state)
{
	cairn_error_clear();
	assert_int_equal(cairn_error_code(), 0);
	assert_string_equal(cairn_error_msg(), "");

	assert_int_equal(cairn_error_set(CAIRN_EINVAL, "bad name '%s' (%d)", "X", 7),
	                 CAIRN_EINVAL);
	assert_int_equal(cairn_error_code(), CAIRN_EINVAL);
	assert_string_equal(cairn_error_msg(), "bad name 'X' (7)");

	cairn_error_clear();
	assert_int_equal(cairn_error_code(), 0);
	assert_string_equal(cairn_error_msg(), "");
}

static void test_long_message_is_truncated_not_overflowed(void **state)
{
	char big[5000];

	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	cairn_error_set(CAIRN_EIO, "%s", big);
	assert_true(strlen(cairn_error_msg()) > 500);
	assert_true(strlen(cairn_error_msg()) < sizeof(big) - 1);
	assert_int_equal(cairn_error_code(), CAIRN_EIO);
	/* prefixing a full buffer stays within bounds too */
	cairn_error_prefix(CAIRN_EIO, "ctx");
	assert_true(strncmp(cairn_error_msg(), "ctx: xxx", 8) == 0);
}

static void test_errno_maps_and_appends_strerror(void **state)
{
	static const struct { int e, code; } map[] = {
		{ ENOENT, CAIRN_ENOTFOUND }, { EEXIST, CAIRN_EEXISTS },
		{ ENOSPC, CAIRN_ENOSPC }, { EDQUOT, CAIRN_ENOSPC },
		{ EACCES, CAIRN_EPERM }, { EPERM, CAIRN_EPERM },
		{ ENOMEM, CAIRN_ENOMEM }, { EINTR, CAIRN_ERETRY }, { EAGAIN, CAIRN_ERETRY },
		{ EIO, CAIRN_EIO }, { EBADF, CAIRN_EIO }, { EXDEV, CAIRN_EIO },
	};
	char want[256];

	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
		assert_int_equal(cairn_error_errno(map[i].e, "open '%s'", "f"), map[i].code);
		assert_int_equal(cairn_error_code(), map[i].code);
		snprintf(want, sizeof(want), "open 'f': %s", strerror(map[i].e));
		assert_string_equal(cairn_error_msg(), want);
	}
}

static void test_prefix_keeps_code(void **state)
{
	cairn_error_set(CAIRN_ENOTFOUND, "no such object");
	assert_int_equal(cairn_error_prefix(CAIRN_ENOTFOUND, "reading %s", "a/b"),
	                 CAIRN_ENOTFOUND);
	assert_string_equal(cairn_error_msg(), "reading a/b: no such object");
	assert_int_equal(cairn_error_code(), CAIRN_ENOTFOUND);

	/* an empty message gets no dangling separator */
	cairn_error_clear();
	cairn_error_prefix(CAIRN_EIO, "ctx");
	assert_string_equal(cairn_error_msg(), "ctx");
}

static void test_names_round_trip(void **state)
{
	static const struct { int code; const char *name; } names[] = {
		{ CAIRN_ENOTFOUND, "not_found" }, { CAIRN_EEXISTS, "exists" },
		{ CAIRN_ERETRY, "retry" }, { CAIRN_ECORRUPT, "corrupt" },
		{ CAIRN_ENOSPC, "no_space" }, { CAIRN_EINVAL, "invalid" },
		{ CAIRN_EIO, "io" }, { CAIRN_ENOMEM, "no_memory" },
		{ CAIRN_EPERM, "permission" }, { CAIRN_ETOOBIG, "too_big" },
		{ CAIRN_ERROR, "error" },
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		assert_string_equal(cairn_error_name(names[i].code), names[i].name);
		assert_int_equal(cairn_error_from_name(names[i].name), names[i].code);
	}
	assert_int_equal(cairn_error_from_name("no_such_code"), CAIRN_ERROR);
	assert_int_equal(cairn_error_from_name(""), CAIRN_ERROR);
	assert_int_equal(cairn_error_from_name(NULL), CAIRN_ERROR);
	assert_string_equal(cairn_error_name(-999), "error");
}

static void test_http_mapping(void **state)
{
	static const struct { int code, status; } map[] = {
		{ CAIRN_EINVAL, 400 }, { CAIRN_EPERM, 403 }, { CAIRN_ENOTFOUND, 404 },
		{ CAIRN_EEXISTS, 409 }, { CAIRN_ETOOBIG, 413 }, { CAIRN_ECORRUPT, 422 },
		{ CAIRN_ERETRY, 503 }, { CAIRN_ENOSPC, 507 }, { CAIRN_EIO, 500 },
		{ CAIRN_ENOMEM, 500 }, { CAIRN_ERROR, 500 },
	};

	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
		assert_int_equal(cairn_error_to_http(map[i].code), map[i].status);
		if (map[i].status != 500)
			assert_int_equal(cairn_error_from_http(map[i].status), map[i].code);
	}
	assert_int_equal(cairn_error_from_http(500), CAIRN_ERROR);
	/* every code maps to an error status */
	for (size_t i = 0; i < NCODES; i++)
		assert_true(cairn_error_to_http(all_codes[i]) >= 400);
}

static void test_errno_mapping(void **state)
{
	static const struct { int code, e; } map[] = {
		{ CAIRN_ENOTFOUND, ENOENT }, { CAIRN_EEXISTS, EEXIST }, { CAIRN_EINVAL, EINVAL },
		{ CAIRN_ENOSPC, ENOSPC }, { CAIRN_EPERM, EACCES }, { CAIRN_ECORRUPT, EIO },
		{ CAIRN_ETOOBIG, EFBIG }, { CAIRN_ERETRY, EAGAIN }, { CAIRN_ENOMEM, ENOMEM },
		{ CAIRN_EIO, EIO }, { CAIRN_ERROR, EIO }, { -12345, EIO },
	};

	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		assert_int_equal(cairn_error_to_errno(map[i].code), map[i].e);
}

static void *other_thread(void *arg)
{
	int *seen = arg;

	/* a fresh thread starts clean and does not disturb its parent */
	seen[0] = cairn_error_code();
	seen[1] = (int)strlen(cairn_error_msg());
	cairn_error_set(CAIRN_EIO, "from the other thread");
	return NULL;
}

static void test_messages_are_per_thread(void **state)
{
	pthread_t t;
	int seen[2] = { -1, -1 };

	cairn_error_set(CAIRN_EEXISTS, "main thread");
	assert_int_equal(pthread_create(&t, NULL, other_thread, seen), 0);
	pthread_join(t, NULL);
	assert_int_equal(seen[0], 0);
	assert_int_equal(seen[1], 0);
	assert_int_equal(cairn_error_code(), CAIRN_EEXISTS);
	assert_string_equal(cairn_error_msg(), "main thread");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_set_returns_code_and_formats),
		cmocka_unit_test(test_long_message_is_truncated_not_overflowed),
		cmocka_unit_test(test_errno_maps_and_appends_strerror),
		cmocka_unit_test(test_prefix_keeps_code),
		cmocka_unit_test(test_names_round_trip),
		cmocka_unit_test(test_http_mapping),
		cmocka_unit_test(test_errno_mapping),
		cmocka_unit_test(test_messages_are_per_thread),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
