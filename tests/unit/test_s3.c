/* test_s3 — the S3 client's decisions that need no server: the key layout,
 * option checking (and that no credential reaches a message), how libs3's
 * statuses become our codes (SlowDown retried, which libs3 itself does not
 * do), and the retry backoff. Requests against a real server are the
 * integration scenario 010-s3-client. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "error.h"
#include "oid.h"
#include "s3.h"
#include "s3_internal.h"
#include "store.h"

#define SECRET "wJalrXUtnFEMI-K7MDENG-bPxRfiCY"
#define ACCESS "AKIAIOSFODNN7EXAMPLE"

static struct cairn_s3_options good(void)
{
	struct cairn_s3_options o = {
		.endpoint = "127.0.0.1:9000",
		.bucket = "cairn",
		.access_key = ACCESS,
		.secret_key = SECRET,
		.retries = -1,
	};
	return o;
}

static void test_key_layout(void **state)
{
	const char *hex = "ab0123456789abcdef0123456789abcd";
	char key[48], small[12];
	cairn_oid oid;

	assert_int_equal(cairn_oid_parse(&oid, hex), 0);
	cairn_s3_key(key, sizeof(key), &oid);
	assert_string_equal(key, "objects/ab/ab0123456789abcdef0123456789abcd");
	assert_int_equal(strlen(key), 43);   /* fits the 48 bytes s3.h asks for */

	/* A short buffer gets a terminated prefix, never an overrun. */
	memset(small, 'x', sizeof(small));
	cairn_s3_key(small, sizeof(small), &oid);
	assert_string_equal(small, "objects/ab/");

	assert_int_equal(cairn_oid_parse(&oid, "00ffffffffffffffffffffffffffffff"), 0);
	cairn_s3_key(key, sizeof(key), &oid);
	assert_string_equal(key, "objects/00/00ffffffffffffffffffffffffffffff");
}

/* Opening checks everything it can without a request; each bad option is
 * refused with a message that names the option and quotes no credential. */
static void expect_invalid(const struct cairn_s3_options *o, const char *mentions)
{
	cairn_s3 *s = (cairn_s3 *)0x1;
	int rc = cairn_s3_open(&s, o);

	assert_int_equal(rc, CAIRN_EINVAL);
	assert_null(s);
	assert_non_null(strstr(cairn_error_msg(), mentions));
	assert_null(strstr(cairn_error_msg(), SECRET));
	assert_null(strstr(cairn_error_msg(), ACCESS));
}

static void test_open_validates(void **state)
{
	struct cairn_s3_options o;

	assert_int_equal(cairn_s3_open(&(cairn_s3 *){ NULL }, NULL), CAIRN_EINVAL);

	o = good(); o.endpoint = NULL;          expect_invalid(&o, "endpoint");
	o = good(); o.endpoint = "";            expect_invalid(&o, "endpoint");
	o = good(); o.endpoint = "http://127.0.0.1:9000"; expect_invalid(&o, "protocol");
	o = good(); o.endpoint = "127.0.0.1:9000/x";      expect_invalid(&o, "host:port");
	o = good(); o.bucket = "";              expect_invalid(&o, "bucket");
	o = good(); o.bucket = "ab";            expect_invalid(&o, "TooShort");
	o = good(); o.bucket = "-cairn";        expect_invalid(&o, "FirstCharacter");
	/* Underscores pass in path-style URIs only. */
	o = good(); o.bucket = "my_bucket"; o.virtual_host = 1; expect_invalid(&o, "virtual-host");
	o = good(); o.access_key = "";          expect_invalid(&o, "access key");
	o = good(); o.secret_key = NULL;        expect_invalid(&o, "secret key");
	o = good(); o.timeout_ms = -1;          expect_invalid(&o, "timeout");
	o = good(); o.retries = 1000;           expect_invalid(&o, "retries");
	o = good(); o.endpoint = "h:1" "00000000000000000000000000000000000000000000000000000000"
	    "000000000000000000000000000000000000000000000000000000000000000000000000000000000"
	    "000000000000000000000000000000000000000000000000000000000000000000000000000000000"
	    "0000000000000000000000000000000000000000000000000000000000";
	expect_invalid(&o, "longer");
}

static void test_open_good(void **state)
{
	struct cairn_s3_options o = good();
	cairn_s3 *s = NULL;
	cairn_store *st;

	/* No server listens: opening makes no request. */
	assert_int_equal(cairn_s3_open(&s, &o), 0);
	assert_non_null(s);
	st = cairn_s3_store(s);
	assert_non_null(st);
	assert_string_equal(st->ops->name, "s3");
	cairn_store_free(st);           /* a no-op: the client owns it */
	cairn_s3_close(s);

	o.bucket = "my_bucket";         /* fine for path-style */
	o.virtual_host = 0;
	o.https = 1;
	o.timeout_ms = 1;
	o.retries = 0;
	assert_int_equal(cairn_s3_open(&s, &o), 0);
	cairn_s3_close(s);
	cairn_s3_close(NULL);
}

/* The store's put refuses bytes that do not hash to their id before any
 * request is made (nothing listens on the endpoint). */
static void test_store_put_checks_id(void **state)
{
	struct cairn_s3_options o = good();
	cairn_s3 *s = NULL;
	cairn_oid oid;

	o.endpoint = "127.0.0.1:1";
	o.retries = 0;
	assert_int_equal(cairn_s3_open(&s, &o), 0);
	cairn_oid_hash(&oid, "abc", 3);
	assert_int_equal(cairn_store_put(cairn_s3_store(s), &oid, "abd", 3), CAIRN_ECORRUPT);
	cairn_s3_close(s);
}

static int status(const char *name)
{
	int st = cairn_s3_status_from_name(name);

	if (st < 0)
		fail_msg("libs3 has no status named %s", name);
	return st;
}

static void test_classify(void **state)
{
	static const char *const retry[] = {
		"ErrorSlowDown", "ErrorInternalError", "ErrorRequestTimeout", "ErrorBadDigest",
		"ErrorUnknown", "HttpErrorUnknown", "NameLookupError", "FailedToConnect",
		"ConnectionFailed", "Interrupted", "InternalError",
	};
	static const char *const perm[] = {
		"ErrorAccessDenied", "ErrorSignatureDoesNotMatch", "ErrorInvalidAccessKeyId",
		"HttpErrorForbidden", "ErrorExpiredToken",
	};
	static const char *const io[] = {
		"ErrorNoSuchBucket", "ErrorInvalidArgument", "ErrorMethodNotAllowed",
		"ErrorEntityTooLarge", "HttpErrorBadRequest", "ErrorPreconditionFailed",
		"XmlParseFailure", "ErrorPermanentRedirect",
	};

	assert_int_equal(cairn_s3_status_from_name("OK"), 0);
	assert_int_equal(cairn_s3_status_from_name("NoSuchStatus"), -1);
	assert_int_equal(cairn_s3_classify(status("OK")), 0);
	assert_int_equal(cairn_s3_classify(status("ErrorNoSuchKey")), CAIRN_ENOTFOUND);
	assert_int_equal(cairn_s3_classify(status("HttpErrorNotFound")), CAIRN_ENOTFOUND);
	assert_int_equal(cairn_s3_classify(status("OutOfMemory")), CAIRN_ENOMEM);
	for (size_t i = 0; i < sizeof(retry) / sizeof(retry[0]); i++)
		if (cairn_s3_classify(status(retry[i])) != CAIRN_ERETRY)
			fail_msg("%s is not retried", retry[i]);
	for (size_t i = 0; i < sizeof(perm) / sizeof(perm[0]); i++)
		if (cairn_s3_classify(status(perm[i])) != CAIRN_EPERM)
			fail_msg("%s is not a permission error", perm[i]);
	for (size_t i = 0; i < sizeof(io) / sizeof(io[0]); i++)
		if (cairn_s3_classify(status(io[i])) != CAIRN_EIO)
			fail_msg("%s is not an I/O error", io[i]);
}

static void test_backoff(void **state)
{
	/* Step n waits between half and all of 100 ms × 2^n, capped at 5 s. */
	static const long step[] = { 100, 200, 400, 800, 1600, 3200, 5000, 5000, 5000 };
	uint32_t rnds[] = { 0, 1, 7, 12345, 0x7fffffffu, 0xffffffffu };

	for (int n = 0; n < (int)(sizeof(step) / sizeof(step[0])); n++) {
		long lo = step[n], hi = 0;

		for (size_t i = 0; i < sizeof(rnds) / sizeof(rnds[0]); i++) {
			long w = cairn_s3_backoff_ms(n, rnds[i]);

			assert_in_range(w, step[n] / 2, step[n]);
			if (w < lo)
				lo = w;
			if (w > hi)
				hi = w;
		}
		/* The jitter really varies with its draw. */
		assert_true(hi > lo);
	}
	assert_int_equal(cairn_s3_backoff_ms(0, 0), 50);
	assert_in_range(cairn_s3_backoff_ms(40, 99), 2500, 5000);
	assert_in_range(cairn_s3_backoff_ms(1000, 99), 2500, 5000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_key_layout),
		cmocka_unit_test(test_open_validates),
		cmocka_unit_test(test_open_good),
		cmocka_unit_test(test_store_put_checks_id),
		cmocka_unit_test(test_classify),
		cmocka_unit_test(test_backoff),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
