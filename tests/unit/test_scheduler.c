/*
 * test_scheduler - the scheduler's pure decisions: the retry backoff and
 * when a deferred recipient's sender gets the delay warning. The warning
 * is checked by replaying a recipient's attempts over retry grids, attempt
 * times (instant, late, slower than the retry interval) and a flush:
 * exactly one warning, at the first deferral at or past warn-after.
 */
#include "test_util.h"

#include <stdio.h>
#include <string.h>

#include "schedule/scheduler.h"
#include "util/backoff.h"

static void test_backoff_doubles_up_to_the_cap(void **state)
{
	(void)state;
	assert_int_equal(backoff_delay(60, 900, 1), 60);
	assert_int_equal(backoff_delay(60, 900, 2), 120);
	assert_int_equal(backoff_delay(60, 900, 4), 480);
	assert_int_equal(backoff_delay(60, 900, 5), 900);
	assert_int_equal(backoff_delay(60, 900, 4000000000u), 900);
	assert_int_equal(backoff_delay(3, 3, 7), 3);
}

#define ARRIVAL 1000000
#define MAX_STEPS 400

/* One recipient's history: a retry grid, how long each attempt takes
 * (cycling through dur[]), how late the tick starts it (cycling through
 * late[]), and optionally a flush (every retry due at once) after attempt
 * n. (That the mark survives a restart is test_spool's.) */
struct replay {
	const char *name;
	unsigned initial, max, warn_after;
	unsigned dur[4], ndur;
	unsigned late[3], nlate;
	unsigned flush_after; /* 0: none */
};

static const struct replay replays[] = {
	{"3s grid, warn 10s (the grid skips 10)", 3, 3, 10, {0}, 1, {0}, 1, 0},
	{"3s grid, warn 30s", 3, 3, 30, {0}, 1, {0}, 1, 0},
	{"1s grid, warn 3s", 1, 1, 3, {0}, 1, {0}, 1, 0},
	{"1s grid, warn 3s, ticks late", 1, 1, 3, {0}, 1, {1, 0, 2}, 3, 0},
	{"defaults: 1m..15m, warn 4h", 60, 900, 14400, {0, 1}, 2, {0, 1}, 2, 0},
	{"first retry already past warn-after", 5, 5, 3, {0}, 1, {0}, 1, 0},
	{"attempts slower than the retry interval", 3, 3, 10, {7}, 1, {0}, 1, 0},
	{"one slow attempt across warn-after", 2, 2, 9, {0, 0, 0, 20}, 4, {0}, 1, 0},
	{"first attempt already past warn-after", 1, 2, 1, {5}, 1, {0}, 1, 0},
	{"flush after warning", 3, 3, 10, {0}, 1, {0}, 1, 6},
};

/* Replays attempts until well past warn-after; returns the number of
 * warnings and stores when the first came and when it was due. */
static unsigned replay_warnings(const struct replay *r, int64_t *first_warn, int64_t *due)
{
	struct spool_rcpt rc = {.state = RCPT_PENDING};
	unsigned warnings = 0;
	int64_t start = ARRIVAL, end = ARRIVAL + r->warn_after + 20 * (int64_t)r->max + 60;
	*first_warn = *due = 0;
	for (unsigned k = 0; k < MAX_STEPS && start < end; k++) {
		int64_t now = start + r->dur[k % r->ndur];
		if (scheduler_warn_due(&rc, ARRIVAL, r->warn_after, now)) {
			if (!warnings++)
				*first_warn = now;
			rc.warned = true;
		}
		if (!*due && now - ARRIVAL >= (int64_t)r->warn_after)
			*due = now;
		rc.attempts++;
		rc.next_try = now + backoff_delay(r->initial, r->max, rc.attempts);
		if (r->flush_after && k + 1 == r->flush_after)
			rc.next_try = 0;
		int64_t tick = rc.next_try > now ? rc.next_try : now;
		start = tick + r->late[k % r->nlate];
	}
	return warnings;
}

static void test_delay_warning_comes_once_whatever_the_retry_grid(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof replays / sizeof replays[0]; i++) {
		const struct replay *r = &replays[i];
		int64_t first, due;
		unsigned n = replay_warnings(r, &first, &due);
		if (n != 1 || first != due) {
			print_error("%s: %u warning(s), first at +%lld s, due at +%lld s\n", r->name, n,
				    (long long)(first ? first - ARRIVAL : -1),
				    (long long)(due - ARRIVAL));
			fail();
		}
	}
}

static void test_delay_warning_not_before_warn_after(void **state)
{
	(void)state;
	struct spool_rcpt rc = {.state = RCPT_PENDING};
	assert_false(scheduler_warn_due(&rc, ARRIVAL, 10, ARRIVAL + 9));
	assert_true(scheduler_warn_due(&rc, ARRIVAL, 10, ARRIVAL + 10));
	assert_true(scheduler_warn_due(&rc, ARRIVAL, 10, ARRIVAL + 100000));
	rc.warned = true;
	assert_false(scheduler_warn_due(&rc, ARRIVAL, 10, ARRIVAL + 10));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_backoff_doubles_up_to_the_cap),
		cmocka_unit_test(test_delay_warning_comes_once_whatever_the_retry_grid),
		cmocka_unit_test(test_delay_warning_not_before_warn_after),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
