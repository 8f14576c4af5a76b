/*
 * Unit tests for util/workq: work runs in worker threads, done callbacks run
 * only inside workq_dispatch() (or workq_free()) in the calling thread, each
 * exactly once; the notify fd is waited on with poll(), never with sleeps.
 * Worker threads only record what they saw: cmocka assertions are made in the
 * main thread, since cmocka is not thread-safe.
 */
#include "test_util.h"

#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>

#include "util/workq.h"

#define WAIT_MS 10000

struct item {
	size_t idx;
	pthread_t main;
	atomic_int works;
	int dones;
	bool work_off_main;
	bool done_on_main;
	bool work_before_done;
	size_t *order;     /* optional: done appends idx here */
	size_t *norder;
	struct workq *resubmit; /* optional: done submits one more item here */
	struct item *child;
};

static int done_total;

static void item_init(struct item *it, size_t idx)
{
	it->idx = idx;
	it->main = pthread_self();
	atomic_init(&it->works, 0);
	it->dones = 0;
	it->work_off_main = it->done_on_main = it->work_before_done = false;
	it->order = it->norder = NULL;
	it->resubmit = NULL;
	it->child = NULL;
}

static void work_cb(void *arg)
{
	struct item *it = arg;
	it->work_off_main = !pthread_equal(pthread_self(), it->main);
	atomic_fetch_add(&it->works, 1);
}

static void done_cb(void *arg)
{
	struct item *it = arg;
	it->dones++;
	done_total++;
	it->done_on_main = pthread_equal(pthread_self(), it->main);
	it->work_before_done = atomic_load(&it->works) == 1;
	if (it->order)
		it->order[(*it->norder)++] = it->idx;
	if (it->resubmit)
		workq_submit(it->resubmit, work_cb, done_cb, it->child);
}

static void wait_readable(int fd)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	assert_int_equal(poll(&p, 1, WAIT_MS), 1);
	assert_true(p.revents & POLLIN);
}

static bool readable_now(int fd)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	return poll(&p, 1, 0) == 1;
}

/* The loop's job, as the event loop would do it. */
static void run_until_idle(struct workq *q)
{
	while (workq_pending(q) > 0) {
		wait_readable(workq_notify_fd(q));
		workq_dispatch(q);
	}
	assert_false(readable_now(workq_notify_fd(q)));
}

static void check_items(const struct item *items, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(atomic_load(&items[i].works), 1);
		assert_int_equal(items[i].dones, 1);
		assert_true(items[i].work_off_main);
		assert_true(items[i].done_on_main);
		assert_true(items[i].work_before_done);
	}
}

static void test_exactly_once(void **state)
{
	(void)state;
	static const struct {
		unsigned nthreads;
		size_t nitems;
	} cases[] = {
		{0, 10}, {1, 1}, {1, 200}, {2, 500}, {4, 1000}, {16, 1000},
	};
	for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
		size_t n = cases[c].nitems;
		struct item *items = calloc(n, sizeof *items);
		assert_non_null(items);
		struct workq *q = workq_new(cases[c].nthreads);
		assert_non_null(q);
		assert_false(readable_now(workq_notify_fd(q)));
		for (size_t i = 0; i < n; i++) {
			item_init(&items[i], i);
			workq_submit(q, work_cb, done_cb, &items[i]);
		}
		run_until_idle(q);
		check_items(items, n);
		workq_free(q);
		free(items);
	}
}

static void test_done_only_in_dispatch(void **state)
{
	(void)state;
	enum { N = 50 };
	struct item items[N];
	struct workq *q = workq_new(3);
	assert_non_null(q);
	done_total = 0;
	for (size_t i = 0; i < N; i++) {
		item_init(&items[i], i);
		workq_submit(q, work_cb, done_cb, &items[i]);
	}
	assert_int_equal(workq_pending(q), N);
	wait_readable(workq_notify_fd(q));
	assert_int_equal(done_total, 0);
	assert_int_equal(workq_pending(q), N);
	workq_dispatch(q);
	assert_true(done_total >= 1);
	assert_int_equal(workq_pending(q), (size_t)(N - done_total));
	run_until_idle(q);
	assert_int_equal(done_total, N);
	check_items(items, N);
	workq_free(q);
}

/* With one worker, items finish in submission order, so dispatch must run
 * the done callbacks in that order too. */
static void test_completion_order(void **state)
{
	(void)state;
	enum { N = 300 };
	struct item items[N];
	size_t order[N], norder = 0;
	struct workq *q = workq_new(1);
	assert_non_null(q);
	for (size_t i = 0; i < N; i++) {
		item_init(&items[i], i);
		items[i].order = order;
		items[i].norder = &norder;
		workq_submit(q, work_cb, done_cb, &items[i]);
	}
	run_until_idle(q);
	assert_int_equal(norder, N);
	for (size_t i = 0; i < N; i++)
		assert_int_equal(order[i], i);
	workq_free(q);
}

static void test_submit_from_done(void **state)
{
	(void)state;
	struct item parent, child;
	struct workq *q = workq_new(2);
	assert_non_null(q);
	item_init(&parent, 0);
	item_init(&child, 1);
	parent.resubmit = q;
	parent.child = &child;
	workq_submit(q, work_cb, done_cb, &parent);
	run_until_idle(q);
	check_items(&parent, 1);
	check_items(&child, 1);
	workq_free(q);
}

/* workq_free with work still queued: every item still gets its work and its
 * done callback, the latter in the freeing thread. */
static void test_free_finishes_queued(void **state)
{
	(void)state;
	static const unsigned threads[] = {1, 4};
	enum { N = 400 };
	static struct item items[N];
	for (size_t t = 0; t < sizeof threads / sizeof threads[0]; t++) {
		struct workq *q = workq_new(threads[t]);
		assert_non_null(q);
		for (size_t i = 0; i < N; i++) {
			item_init(&items[i], i);
			workq_submit(q, work_cb, done_cb, &items[i]);
		}
		workq_free(q);
		check_items(items, N);
	}
}

static void test_null_done_and_free(void **state)
{
	(void)state;
	struct item it;
	item_init(&it, 0);
	struct workq *q = workq_new(1);
	assert_non_null(q);
	workq_submit(q, work_cb, NULL, &it);
	run_until_idle(q);
	assert_int_equal(atomic_load(&it.works), 1);
	assert_int_equal(it.dones, 0);
	workq_free(q);
	workq_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exactly_once),
		cmocka_unit_test(test_done_only_in_dispatch),
		cmocka_unit_test(test_completion_order),
		cmocka_unit_test(test_submit_from_done),
		cmocka_unit_test(test_free_finishes_queued),
		cmocka_unit_test(test_null_done_and_free),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
