/* test_cairnfs_inode.c — cairnfs's inode numbers and bounded tables:
 * entry inodes encode (vid, entry) with no table, the entry cache never
 * grows past its bound, special inodes keep their numbers, and a tag that
 * moves keeps its inode while reporting the move. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "error.h"
#include "inode.h"

static void test_entry_inode_encoding(void **state)
{
	(void)state;
	uint64_t ino = cfs_ino_make(7, 42);
	assert_true(cfs_ino_is_entry(ino));
	assert_int_equal(cfs_ino_vid(ino), 7);
	assert_int_equal(cfs_ino_eino(ino), 42);
	/* the extremes survive the round trip and never collide with root */
	ino = cfs_ino_make((uint32_t)CFS_VID_MAX, UINT32_MAX);
	assert_int_equal(cfs_ino_vid(ino), CFS_VID_MAX);
	assert_int_equal(cfs_ino_eino(ino), UINT32_MAX);
	assert_true(cfs_ino_is_entry(cfs_ino_make(0, 0)));
	assert_false(cfs_ino_is_entry(CFS_ROOT_INO));
	assert_true(cfs_ino_make(1, 0) != cfs_ino_make(0, 1));
}

static void test_entry_cache_is_bounded(void **state)
{
	(void)state;
	struct cfs_entry e, out;

	assert_int_equal(cfs_ecache_init(), 0);
	memset(&e, 0, sizeof(e));
	for (uint32_t i = 0; i < CFS_ECACHE_MAX + 5000; i++) {
		e.vid = 3;
		e.ino = i;
		e.size = i * 10ULL;
		e.type = CAIRN_FT_FILE;
		cfs_ecache_put(&e);
	}
	assert_true(cfs_ecache_count() <= CFS_ECACHE_MAX);
	/* the newest are there with their values, the oldest were evicted */
	assert_true(cfs_ecache_get(&out, 3, CFS_ECACHE_MAX + 4999));
	assert_int_equal(out.size, (CFS_ECACHE_MAX + 4999) * 10ULL);
	assert_false(cfs_ecache_get(&out, 3, 0));
	/* a refresh keeps one copy and updates it */
	size_t n = cfs_ecache_count();
	e.ino = CFS_ECACHE_MAX + 4999;
	e.size = 1;
	cfs_ecache_put(&e);
	assert_int_equal(cfs_ecache_count(), n);
	assert_true(cfs_ecache_get(&out, 3, e.ino));
	assert_int_equal(out.size, 1);
	/* same entry number in another version is another entry */
	assert_false(cfs_ecache_get(&out, 4, e.ino));
	cfs_ecache_free();
}

static void test_special_inodes(void **state)
{
	(void)state;
	struct cfs_snode ns, ds, again, link, found;
	bool changed = true;

	assert_int_equal(cfs_stable_init(1000), 0);
	assert_int_equal(cfs_snode_get(&found, CFS_ROOT_INO), 0);
	assert_int_equal(found.kind, CFS_S_ROOT);

	assert_int_equal(cfs_snode_dir(&ns, CFS_ROOT_INO, "genomics", "genomics",
	                               CFS_DIR_NAMESPACE, 0), 0);
	assert_int_equal(cfs_snode_dir(&ds, ns.ino, "runs", "genomics/runs",
	                               CFS_DIR_DATASET, 5), 0);
	assert_true(ns.ino != ds.ino);
	assert_false(cfs_ino_is_entry(ns.ino));
	/* a name keeps its number; flags only add up */
	assert_int_equal(cfs_snode_dir(&again, CFS_ROOT_INO, "genomics", "genomics",
	                               CFS_DIR_DATASET, 0), 0);
	assert_int_equal(again.ino, ns.ino);
	assert_int_equal(again.flags, CFS_DIR_NAMESPACE | CFS_DIR_DATASET);

	assert_int_equal(cfs_snode_link(&link, &changed, ds.ino, "prod", "genomics/runs", 1), 0);
	assert_false(changed);                 /* new, not moved */
	uint64_t tag_ino = link.ino;
	assert_int_equal(cfs_snode_link(&link, &changed, ds.ino, "prod", "genomics/runs", 1), 0);
	assert_false(changed);
	assert_int_equal(cfs_snode_link(&link, &changed, ds.ino, "prod", "genomics/runs", 2), 0);
	assert_true(changed);                  /* moved: same inode, new target */
	assert_int_equal(link.ino, tag_ino);
	assert_int_equal(link.target, 2);

	assert_int_equal(cfs_snode_find(&found, ds.ino, "prod"), 0);
	assert_int_equal(found.ino, tag_ino);
	assert_int_equal(cfs_snode_find(&found, ds.ino, "nope"), CAIRN_ENOTFOUND);
	assert_int_equal(cfs_snode_get(&found, 0x7fffffffULL), CAIRN_ENOTFOUND);
	cfs_stable_free();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_entry_inode_encoding),
		cmocka_unit_test(test_entry_cache_is_bounded),
		cmocka_unit_test(test_special_inodes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
