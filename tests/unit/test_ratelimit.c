/*
 * test_ratelimit - the AUTH failure counter: the limit within the window,
 * a fresh start after it, independent addresses, IPv6 grouped by /64,
 * IPv4-mapped addresses as IPv4, and the bounded table (expiry first,
 * then eviction of the oldest entry).
 */
#include "test_util.h"

#include <stdio.h>

#include "auth/ratelimit.h"

static void fail_n(struct ratelimit *rl, const char *addr, unsigned n, time_t now)
{
	for (unsigned i = 0; i < n; i++)
		ratelimit_fail(rl, addr, now);
}

static void test_limit_and_window(void **state)
{
	(void)state;
	struct ratelimit *rl = ratelimit_new(3, 300);
	assert_false(ratelimit_blocked(rl, "192.0.2.1", 1000));
	fail_n(rl, "192.0.2.1", 2, 1000);
	assert_false(ratelimit_blocked(rl, "192.0.2.1", 1001));
	ratelimit_fail(rl, "192.0.2.1", 1100);
	assert_true(ratelimit_blocked(rl, "192.0.2.1", 1100));
	assert_true(ratelimit_blocked(rl, "192.0.2.1", 1299));
	/* The window counts from the first failure. */
	assert_false(ratelimit_blocked(rl, "192.0.2.1", 1300));
	assert_int_equal(ratelimit_size(rl), 0);
	ratelimit_fail(rl, "192.0.2.1", 1301);
	assert_false(ratelimit_blocked(rl, "192.0.2.1", 1301));
	ratelimit_free(rl);
}

static void test_addresses_apart(void **state)
{
	(void)state;
	struct ratelimit *rl = ratelimit_new(2, 60);
	fail_n(rl, "192.0.2.1", 2, 10);
	assert_true(ratelimit_blocked(rl, "192.0.2.1", 10));
	assert_false(ratelimit_blocked(rl, "192.0.2.2", 10));
	assert_false(ratelimit_blocked(rl, "2001:db8::1", 10));
	ratelimit_free(rl);
}

static void test_ipv6_by_64(void **state)
{
	(void)state;
	struct ratelimit *rl = ratelimit_new(2, 60);
	ratelimit_fail(rl, "2001:db8:1:2::1", 10);
	ratelimit_fail(rl, "IPv6:2001:db8:1:2:ffff::9", 11);
	assert_true(ratelimit_blocked(rl, "2001:db8:1:2::77", 12));
	assert_false(ratelimit_blocked(rl, "2001:db8:1:3::1", 12));
	ratelimit_fail(rl, "::ffff:198.51.100.7", 10);
	ratelimit_fail(rl, "198.51.100.7", 10);
	assert_true(ratelimit_blocked(rl, "198.51.100.7", 10));
	assert_false(ratelimit_blocked(rl, "198.51.100.8", 10));
	/* Not an address at all: kept by its text. */
	fail_n(rl, "unix-socket", 2, 10);
	assert_true(ratelimit_blocked(rl, "unix-socket", 10));
	ratelimit_free(rl);
}

static void test_bounded(void **state)
{
	(void)state;
	struct ratelimit *rl = ratelimit_new(1, 3600);
	char addr[32];
	for (unsigned i = 0; i < RATELIMIT_MAX_ENTRIES; i++) {
		snprintf(addr, sizeof addr, "10.%u.%u.%u", i >> 16, (i >> 8) & 255, i & 255);
		ratelimit_fail(rl, addr, 100 + i / 1000);
	}
	assert_int_equal(ratelimit_size(rl), RATELIMIT_MAX_ENTRIES);
	assert_true(ratelimit_blocked(rl, "10.0.0.0", 200));
	ratelimit_fail(rl, "192.0.2.99", 200);
	assert_int_equal(ratelimit_size(rl), RATELIMIT_MAX_ENTRIES);
	/* The oldest went to make room; the newest and the second oldest stay. */
	assert_false(ratelimit_blocked(rl, "10.0.0.0", 200));
	assert_true(ratelimit_blocked(rl, "10.0.0.1", 200));
	assert_true(ratelimit_blocked(rl, "192.0.2.99", 200));
	/* Expired entries go first, all at once. */
	assert_true(ratelimit_blocked(rl, "192.0.2.99", 200 + 3599));
	assert_false(ratelimit_blocked(rl, "192.0.2.99", 200 + 3600));
	assert_int_equal(ratelimit_size(rl), 0);
	ratelimit_free(rl);
}

static void test_clock_steps_back(void **state)
{
	(void)state;
	struct ratelimit *rl = ratelimit_new(2, 60);
	ratelimit_fail(rl, "192.0.2.1", 1000);
	ratelimit_fail(rl, "192.0.2.2", 500);  /* the clock stepped back */
	ratelimit_fail(rl, "192.0.2.2", 500);
	assert_true(ratelimit_blocked(rl, "192.0.2.2", 501));
	/* 192.0.2.2's window ended long ago by now, though it is not the head. */
	assert_false(ratelimit_blocked(rl, "192.0.2.2", 1001));
	ratelimit_fail(rl, "192.0.2.2", 1001);
	assert_false(ratelimit_blocked(rl, "192.0.2.2", 1001));
	ratelimit_fail(rl, "192.0.2.2", 1002);
	assert_true(ratelimit_blocked(rl, "192.0.2.2", 1002));
	ratelimit_free(rl);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_limit_and_window),
		cmocka_unit_test(test_addresses_apart),
		cmocka_unit_test(test_ipv6_by_64),
		cmocka_unit_test(test_bounded),
		cmocka_unit_test(test_clock_steps_back),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
