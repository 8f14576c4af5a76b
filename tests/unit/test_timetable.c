/*
 * test_timetable - the scheduler's heap of due times: entries come out in
 * due order (ties in scheduling order), only when due, survive
 * rescheduling and removal from the middle, and a flush makes every
 * scheduled one due at once; checked against a plain array over many
 * random operations.
 */
#include "test_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "schedule/timetable.h"

#define N 3000

static void make_id(char *id, unsigned i)
{
	snprintf(id, QUEUE_ID_LEN + 1, "%016X", i);
}

static void test_pops_in_due_order_only_when_due(void **state)
{
	(void)state;
	struct timetable *tt = tt_new();
	char id[QUEUE_ID_LEN + 1];
	for (unsigned i = 0; i < 5; i++) {
		make_id(id, i);
		tt_schedule(tt, tt_add(tt, id), i == 0 ? 50 : 10);
	}
	assert_int_equal(tt_next_due(tt), 10);
	assert_null(tt_pop_due(tt, 9));
	for (unsigned i = 1; i < 5; i++) {
		struct tt_entry *e = tt_pop_due(tt, 10);
		make_id(id, i);
		assert_non_null(e);
		assert_string_equal(e->id, id); /* ties: first scheduled first */
		assert_int_equal(e->heap_pos, TT_UNSCHEDULED);
	}
	assert_null(tt_pop_due(tt, 49));
	make_id(id, 3);
	assert_non_null(tt_get(tt, id)); /* popped is not forgotten */
	tt_flush(tt);
	make_id(id, 0);
	assert_string_equal(tt_pop_due(tt, 0)->id, id);
	assert_true(tt_get(tt, id)->due_all);
	assert_int_equal(tt_next_due(tt), INT64_MAX);
	assert_int_equal(tt_count(tt), 5);
	tt_free(tt);
}

static void test_matches_a_sorted_array_under_random_operations(void **state)
{
	(void)state;
	struct timetable *tt = tt_new();
	static int64_t due[N];   /* -1: not scheduled */
	static bool present[N];
	char id[QUEUE_ID_LEN + 1];
	srand(12);
	for (unsigned step = 0; step < 20 * N; step++) {
		unsigned i = (unsigned)rand() % N;
		make_id(id, i);
		struct tt_entry *e = tt_get(tt, id);
		assert_true((e != NULL) == present[i]);
		int op = rand() % 4;
		if (!e) {
			e = tt_add(tt, id);
			present[i] = true;
			due[i] = -1;
		}
		if (op < 2) {
			due[i] = rand() % 1000;
			tt_schedule(tt, e, due[i]);
		} else if (op == 2) {
			tt_unschedule(tt, e);
			due[i] = -1;
		} else {
			tt_remove(tt, e);
			present[i] = false;
		}
	}
	int64_t last = -1;
	struct tt_entry *e;
	size_t popped = 0, want = 0;
	for (unsigned i = 0; i < N; i++)
		want += present[i] && due[i] >= 0;
	while ((e = tt_pop_due(tt, 1000))) {
		unsigned i = (unsigned)strtoul(e->id, NULL, 16);
		assert_true(present[i]);
		assert_int_equal(e->due, due[i]);
		assert_true(e->due >= last);
		last = e->due;
		popped++;
	}
	assert_int_equal(popped, want);
	tt_free(tt);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pops_in_due_order_only_when_due),
		cmocka_unit_test(test_matches_a_sorted_array_under_random_operations),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
