/*
 * Unit tests for the spool writer (segment.c).
 * Lazy records: delivery outcomes are written at once but synced only with
 * the next batch that syncs, when their deadline passes, or when the writer
 * stops; they complete only once durable, in submission order, and fail
 * with the batch that could not be made durable.
 * Prefill: past the last record the current segment holds zeros up to the
 * next SEG_PREFILL boundary; they are cut off when the writer stops or
 * moves to the next segment, so only the last segment ever ends in zeros.
 */
#include "test_util.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "queue/record.h"
#include "queue/segment.h"
#include "util/fsutil.h"

#define LONG_MS 600000u /* a deadline no test reaches */

struct fixture {
	char dir[64];
	char seg[PATH_MAX];
	struct writer w;
};

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof *fx);
	snprintf(fx->dir, sizeof fx->dir, "/tmp/petrel-segtest-XXXXXX");
	if (!mkdtemp(fx->dir))
		return -1;
	int fd = seg_create(fx->dir, SEG_FIRST);
	if (fd < 0)
		return -1;
	close(fd);
	seg_path(fx->seg, sizeof fx->seg, fx->dir, SEG_FIRST);
	if (writer_start(&fx->w, fx->dir, SEG_FIRST, 0) < 0)
		return -1;
	*state = fx;
	return 0;
}

static void free_list(struct wreq *r)
{
	while (r) {
		struct wreq *next = r->next;
		buf_free(&r->rec);
		free(r);
		r = next;
	}
}

static int teardown(void **state)
{
	struct fixture *fx = *state;
	writer_stop(&fx->w);
	free_list(writer_take_done(&fx->w));
	writer_destroy(&fx->w);
	unlink(fx->seg);
	rmdir(fx->dir);
	free(fx);
	return 0;
}

static struct wreq *update(unsigned idx, bool lazy)
{
	struct wreq *r = calloc(1, sizeof *r);
	r->kind = WREQ_RCPT;
	r->lazy = lazy;
	r->idx = idx;
	struct rec_update u = {.id = STR_LIT("0C6Q8V2R3M1T0000"), .index = idx, .state = 1};
	rec_encode_update(&r->rec, &u);
	return r;
}

static off_t file_size(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 ? st.st_size : -1;
}

static void pause_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

/* Polls for the writer's finished requests: up to 10 s for n of them. */
static struct wreq *wait_done(struct writer *w, size_t n)
{
	struct wreq *all = NULL, **tail = &all;
	size_t got = 0;
	for (int i = 0; i < 10000 && got < n; i++) {
		*tail = writer_take_done(w);
		while (*tail) {
			got++;
			tail = &(*tail)->next;
		}
		if (got < n)
			pause_ms(1);
	}
	assert_int_equal(got, n);
	return all;
}

static struct spool_stats stats(struct writer *w)
{
	struct spool_stats s;
	writer_stats(w, &s);
	return s;
}

/* Files may grow to max bytes from now on (a stand-in for a full disk);
 * old receives the limit to restore. */
static void limit_file_size(off_t max, struct rlimit *old)
{
	signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(getrlimit(RLIMIT_FSIZE, old), 0);
	struct rlimit lim = *old;
	lim.rlim_cur = (rlim_t)max;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
}

/* With a threshold of one byte, the next record opens segment 2. */
static void roll_to_second(struct fixture *fx)
{
	writer_set_seg_max(&fx->w, 1);
	writer_enqueue(&fx->w, update(1, false));
	struct wreq *done = wait_done(&fx->w, 1);
	assert_int_equal(done->seg, SEG_FIRST + 1);
	assert_int_equal(done->off, 0);
	free_list(done);
}

/* After a test stopped the writer: a fresh one on segment 1 (of len
 * bytes), any segment 2 gone, for the teardown. */
static void restart_on_first(struct fixture *fx, off_t len)
{
	writer_destroy(&fx->w);
	char seg2[PATH_MAX];
	seg_path(seg2, sizeof seg2, fx->dir, SEG_FIRST + 1);
	unlink(seg2);
	assert_int_equal(writer_start(&fx->w, fx->dir, SEG_FIRST, (uint64_t)len), 0);
}

/* Waits until the writer has written (not synced) n lazy records. */
static void wait_parked(struct writer *w, uint64_t n)
{
	for (int i = 0; i < 10000 && stats(w).parked < n; i++)
		pause_ms(1);
	assert_int_equal(stats(w).parked, n);
}

/* A lazy record alone is written but neither synced nor completed; the
 * next record that needs a sync takes it along: one sync for both, and
 * completions in submission order. */
static void test_lazy_rides_next_sync(void **state)
{
	struct fixture *fx = *state;
	writer_set_lazy_ms(&fx->w, LONG_MS);
	writer_enqueue(&fx->w, update(0, true));
	wait_parked(&fx->w, 1);
	assert_null(writer_take_done(&fx->w));
	assert_int_equal(stats(&fx->w).syncs, 0);
	writer_enqueue(&fx->w, update(1, false));
	struct wreq *done = wait_done(&fx->w, 2);
	assert_int_equal(done->idx, 0);
	assert_int_equal(done->next->idx, 1);
	assert_int_equal(done->err, 0);
	assert_int_equal(done->next->err, 0);
	struct spool_stats s = stats(&fx->w);
	assert_int_equal(s.syncs, 1);
	assert_int_equal(s.batches, 1);
	assert_int_equal(s.records, 2);
	free_list(done);
}

/* With no other traffic, the deadline syncs and completes lazy records. */
static void test_lazy_deadline(void **state)
{
	struct fixture *fx = *state;
	writer_set_lazy_ms(&fx->w, 20);
	writer_enqueue(&fx->w, update(0, true));
	writer_enqueue(&fx->w, update(1, true));
	struct wreq *done = wait_done(&fx->w, 2);
	assert_int_equal(done->idx, 0);
	assert_int_equal(stats(&fx->w).records, 2);
	assert_true(stats(&fx->w).syncs >= 1);
	free_list(done);
}

/* A steady stream of lazy records (a backlog draining, no new mail) must
 * not keep postponing the sync: the first record completes by about its
 * deadline although the queue never runs dry for long. */
static void test_lazy_stream_still_synced(void **state)
{
	struct fixture *fx = *state;
	writer_set_lazy_ms(&fx->w, 20);
	struct wreq *done = NULL;
	unsigned sent = 0;
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		for (int k = 0; k < 50; k++)
			writer_enqueue(&fx->w, update(sent++, true));
		done = writer_take_done(&fx->w);
		clock_gettime(CLOCK_MONOTONIC, &t1);
	} while (!done && t1.tv_sec - t0.tv_sec < 5);
	assert_non_null(done);
	assert_int_equal(done->idx, 0);
	assert_true(stats(&fx->w).syncs >= 1);
	free_list(done);
}

/* Stopping the writer syncs what is parked. */
static void test_stop_syncs_parked(void **state)
{
	struct fixture *fx = *state;
	writer_set_lazy_ms(&fx->w, LONG_MS);
	struct wreq *a = update(0, true);
	off_t len = (off_t)a->rec.len;
	writer_enqueue(&fx->w, a);
	wait_parked(&fx->w, 1);
	writer_stop(&fx->w);
	struct wreq *done = writer_take_done(&fx->w);
	assert_non_null(done);
	assert_int_equal(done->err, 0);
	assert_int_equal(stats(&fx->w).syncs, 1);
	assert_int_equal(file_size(fx->seg), len);
	free_list(done);
	restart_on_first(fx, len);
}

/* A batch that cannot be made durable fails the parked records with it
 * and cuts the file back to its durable end. */
static void test_failure_fails_parked(void **state)
{
	struct fixture *fx = *state;
	writer_set_lazy_ms(&fx->w, LONG_MS);
	struct wreq *a = update(0, true);
	off_t len = (off_t)a->rec.len;
	writer_enqueue(&fx->w, a);
	wait_parked(&fx->w, 1);
	struct rlimit old;
	limit_file_size(len + 10, &old);
	writer_enqueue(&fx->w, update(1, false));
	struct wreq *done = wait_done(&fx->w, 2);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	assert_int_equal(done->idx, 0);
	assert_int_equal(done->err, EFBIG);
	assert_int_equal(done->next->err, EFBIG);
	assert_int_equal(file_size(fx->seg), 0);
	assert_int_equal(stats(&fx->w).failed, 2);
	free_list(done);
	/* and the writer carries on */
	writer_enqueue(&fx->w, update(2, false));
	done = wait_done(&fx->w, 1);
	assert_int_equal(done->err, 0);
	assert_int_equal(done->off, 0);
	free_list(done);
}

static bool zeros_from(const char *path, off_t from)
{
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	assert_int_equal(fseeko(f, from, SEEK_SET), 0);
	int c;
	while ((c = getc(f)) != EOF && c == 0)
		;
	fclose(f);
	return c == EOF;
}

/* The writer keeps zeros written ahead of the last record, and cuts them
 * off before it moves to the next segment and when it stops. */
static void test_prefill_cut_at_roll_and_stop(void **state)
{
	struct fixture *fx = *state;
	struct wreq *a = update(0, false);
	off_t len = (off_t)a->rec.len;
	writer_enqueue(&fx->w, a);
	free_list(wait_done(&fx->w, 1));
	assert_int_equal(file_size(fx->seg), SEG_PREFILL);
	assert_true(zeros_from(fx->seg, len));

	roll_to_second(fx);
	assert_int_equal(file_size(fx->seg), len);
	char seg2[PATH_MAX];
	seg_path(seg2, sizeof seg2, fx->dir, SEG_FIRST + 1);
	assert_int_equal(file_size(seg2), SEG_PREFILL);

	writer_stop(&fx->w);
	assert_int_equal(file_size(seg2), len);
	restart_on_first(fx, len);
}

/* Zeros only partly written (the disk filled up) must still be cut off
 * before the writer moves on: only the last segment may end in zeros. */
static void test_partial_prefill_cut_at_roll(void **state)
{
	struct fixture *fx = *state;
	struct wreq *a = update(0, false);
	off_t len = (off_t)a->rec.len;
	struct rlimit old;
	limit_file_size(len + 100, &old);
	writer_enqueue(&fx->w, a);
	struct wreq *done = wait_done(&fx->w, 1);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	assert_int_equal(done->err, 0);
	free_list(done);
	assert_int_equal(file_size(fx->seg), len + 100);

	roll_to_second(fx);
	assert_int_equal(file_size(fx->seg), len);
	writer_stop(&fx->w);
	restart_on_first(fx, len);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_lazy_rides_next_sync, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lazy_deadline, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lazy_stream_still_synced, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stop_syncs_parked, setup, teardown),
		cmocka_unit_test_setup_teardown(test_failure_fails_parked, setup, teardown),
		cmocka_unit_test_setup_teardown(test_prefill_cut_at_roll_and_stop, setup, teardown),
		cmocka_unit_test_setup_teardown(test_partial_prefill_cut_at_roll, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
