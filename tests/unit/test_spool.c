/*
 * test_spool - the durable queue end to end in a temporary directory:
 * durability across reopen, recipient updates, reclamation, relocation,
 * recovery from torn tails and damage, group commit, write errors, and a
 * throughput measurement. Completion is awaited with poll() on
 * spool_notify_fd() and spool_dispatch(), never with sleeps.
 */
#include "test_util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "queue/queue_id.h"
#include "queue/record.h"
#include "queue/spool.h"
#include "util/buf.h"
#include "util/fsutil.h"
#include "util/log.h"

struct fixture {
	char root[256];       /* mkdtemp directory */
	char dir[512];        /* the spool, root/spool (created by spool_open) */
	struct spool *sp;
};

#include "spool_fixture.h"

/* Completion bookkeeping: callbacks must come in submission order. */
static struct {
	size_t issued, done, failed;
	bool in_order;
	int last_err;
} W;

static void on_done(void *arg, int err)
{
	size_t seq = (size_t)(uintptr_t)arg;
	if (seq != W.done)
		W.in_order = false;
	W.done++;
	if (err) {
		W.failed++;
		W.last_err = err;
	}
}

static void *next_arg(void)
{
	return (void *)(uintptr_t)W.issued++;
}

static void wait_all(struct spool *sp)
{
	while (W.done < W.issued) {
		struct pollfd p = {.fd = spool_notify_fd(sp), .events = POLLIN};
		assert_int_equal(poll(&p, 1, 30000), 1);
		spool_dispatch(sp);
	}
}

static int setup(void **state)
{
	memset(&W, 0, sizeof W);
	W.in_order = true;
	return spool_fixture_setup(state, "spool");
}


static void reopen(struct fixture *fx)
{
	spool_close(fx->sp);
	fx->sp = spool_open(fx->dir);
	assert_non_null(fx->sp);
}

/* ---- messages ---- */

/* The second's original is left out: it is then its address. */
static const struct rcpt rcpts[] = {
	{.addr = "one@example.org", .orig = "One@Example.ORG"},
	{.addr = "two@example.org"},
	{.addr = "three@example.org", .orig = "x+three@example.org"},
};

static void fill_body(char *p, size_t len, unsigned seed)
{
	for (size_t i = 0; i < len; i++)
		p[i] = (char)('a' + (i * 7 + seed) % 26);
	if (len >= 2) {
		p[len - 2] = '\r';
		p[len - 1] = '\n';
	}
}

/* Submits a message with nrcpt recipients and a body of len bytes derived
 * from seed, handed over in two pieces. */
static void submit_sender(struct spool *sp, char id[QUEUE_ID_LEN + 1], size_t nrcpt, size_t len,
			  unsigned seed, const char *sender)
{
	char *body = malloc(len + 1);
	fill_body(body, len, seed);
	queue_id_next(id);
	struct iovec iov[2] = {{body, len / 3}, {body + len / 3, len - len / 3}};
	struct spool_new_msg m = {
		.id = id, .arrival = 1700000000 + seed, .sender = sender,
		.helo = "client.example", .client = "192.0.2.7", .flags = SPOOL_MSG_8BITMIME,
		.nrcpt = nrcpt, .rcpt = rcpts, .body = iov, .nbody = 2,
	};
	spool_submit(sp, &m, on_done, next_arg());
	free(body);
}

static void submit(struct spool *sp, char id[QUEUE_ID_LEN + 1], size_t nrcpt, size_t len,
		   unsigned seed)
{
	submit_sender(sp, id, nrcpt, len, seed, "sender@example.com");
}

static void update_warned(struct spool *sp, const char *id, size_t i, enum rcpt_state st,
			  uint32_t attempts, int64_t next_try, const char *err, bool warned)
{
	struct spool_msg *m = spool_find(sp, id);
	assert_non_null(m);
	spool_update_rcpt(sp, m, i, st, attempts, next_try, err, warned, on_done, next_arg());
}

static void update(struct spool *sp, const char *id, size_t i, enum rcpt_state st,
		   uint32_t attempts, int64_t next_try, const char *err)
{
	update_warned(sp, id, i, st, attempts, next_try, err, false);
}

static void assert_body(struct spool *sp, const char *id, size_t len, unsigned seed)
{
	struct spool_msg *m = spool_find(sp, id);
	assert_non_null(m);
	assert_int_equal(m->body_len, len);
	char *want = malloc(len + 1), *got = malloc(len + 1);
	fill_body(want, len, seed);
	assert_int_equal(spool_read_body(sp, m, got, len, 0), (ssize_t)len);
	assert_memory_equal(got, want, len);
	/* A read at an offset, and one past the end. */
	if (len > 10) {
		assert_int_equal(spool_read_body(sp, m, got, len, 10), (ssize_t)len - 10);
		assert_memory_equal(got, want + 10, len - 10);
	}
	assert_int_equal(spool_read_body(sp, m, got, len, len), 0);
	free(want);
	free(got);
}

/* ---- files ---- */

static void seg_file(const struct fixture *fx, unsigned seq, char *out, size_t outsz)
{
	snprintf(out, outsz, "%s/log/%016x.seg", fx->dir, seq);
}

static off_t file_size(const char *path)
{
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	return st.st_size;
}

/* Entries of root/sub whose names start with prefix. */
static size_t count_files(const struct fixture *fx, const char *sub, const char *prefix)
{
	char path[PATH_MAX];
	snprintf(path, sizeof path, "%s/%s", fx->dir, sub);
	DIR *d = opendir(path);
	assert_non_null(d);
	size_t n = 0;
	struct dirent *e;
	while ((e = readdir(d)))
		n += e->d_name[0] != '.' && strncmp(e->d_name, prefix, strlen(prefix)) == 0;
	closedir(d);
	return n;
}

static void flip_byte(const char *path, off_t at)
{
	int fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	unsigned char c;
	assert_int_equal(pread(fd, &c, 1, at), 1);
	c ^= 0x5a;
	assert_int_equal(pwrite(fd, &c, 1, at), 1);
	close(fd);
}

/* ---- tests ---- */

static void test_submit_and_reopen(void **state)
{
	struct fixture *fx = *state;
	char id[3][QUEUE_ID_LEN + 1];
	/* Envelope text with CR LF must survive as data, not as structure. */
	const char *evil = "a@example.com\r\nRCPT TO:<root@example.com>\r\n";
	for (unsigned i = 0; i < 3; i++)
		submit_sender(fx->sp, id[i], i + 1, 1000 + i * 3000, i, i == 2 ? evil : "s@e.com");
	assert_int_equal(spool_count(fx->sp), 0); /* not durable yet: not indexed */
	wait_all(fx->sp);
	assert_int_equal(W.failed, 0);
	assert_true(W.in_order);
	for (int round = 0; round < 2; round++) {
		assert_int_equal(spool_count(fx->sp), 3);
		for (unsigned i = 0; i < 3; i++) {
			struct spool_msg *m = spool_find(fx->sp, id[i]);
			assert_non_null(m);
			assert_string_equal(m->sender, i == 2 ? evil : "s@e.com");
			assert_string_equal(m->helo, "client.example");
			assert_string_equal(m->client, "192.0.2.7");
			assert_int_equal(m->arrival, 1700000000 + i);
			assert_int_equal(m->flags, SPOOL_MSG_8BITMIME);
			assert_int_equal(m->nrcpt, i + 1);
			assert_string_equal(m->rcpt[0].to.orig, "One@Example.ORG");
			if (i >= 1)
				assert_string_equal(m->rcpt[1].to.orig, "two@example.org");
			assert_string_equal(m->rcpt[i].to.addr, rcpts[i].addr);
			assert_int_equal(m->rcpt[0].state, RCPT_PENDING);
			assert_body(fx->sp, id[i], 1000 + i * 3000, i);
		}
		/* Index order is arrival order. */
		assert_string_equal(spool_first(fx->sp)->id, id[0]);
		reopen(fx);
	}
}

static void test_update_and_reopen(void **state)
{
	struct fixture *fx = *state;
	char a[QUEUE_ID_LEN + 1], b[QUEUE_ID_LEN + 1];
	submit(fx->sp, a, 2, 500, 1);
	submit(fx->sp, b, 1, 500, 2);
	wait_all(fx->sp);
	update(fx->sp, a, 0, RCPT_DELIVERED, 1, 0, NULL);
	update_warned(fx->sp, a, 1, RCPT_PENDING, 2, 12345, "451 4.3.0 try \"later\"\r\n", true);
	update(fx->sp, b, 0, RCPT_BOUNCED, 1, 0, "550 5.1.1 no such user");
	wait_all(fx->sp);
	assert_int_equal(W.failed, 0);
	assert_true(W.in_order);
	for (int round = 0; round < 2; round++) {
		assert_null(spool_find(fx->sp, b)); /* finished: left the index */
		assert_int_equal(spool_count(fx->sp), 1);
		struct spool_msg *m = spool_find(fx->sp, a);
		assert_non_null(m);
		assert_int_equal(m->rcpt[0].state, RCPT_DELIVERED);
		assert_null(m->rcpt[0].last_error);
		assert_int_equal(m->rcpt[1].state, RCPT_PENDING);
		assert_int_equal(m->rcpt[1].attempts, 2);
		assert_int_equal(m->rcpt[1].next_try, 12345);
		assert_string_equal(m->rcpt[1].last_error, "451 4.3.0 try \"later\"\r\n");
		/* The delay warning is sent once: its mark survives a restart. */
		assert_true(m->rcpt[1].warned);
		assert_false(m->rcpt[0].warned);
		reopen(fx);
	}
}

/* A message still queued in the oldest segment keeps every segment; once
 * it is finished, all but the newest go. */
static void test_reclaim_oldest_first(void **state)
{
	struct fixture *fx = *state;
	char p[QUEUE_ID_LEN + 1], x[QUEUE_ID_LEN + 1];
	spool_set_segment_max(fx->sp, 1); /* a new segment for every batch */
	submit(fx->sp, p, 1, 300, 1);
	wait_all(fx->sp);
	for (unsigned i = 0; i < 3; i++) {
		submit(fx->sp, x, 1, 300, i);
		wait_all(fx->sp);
		update(fx->sp, x, 0, RCPT_DELIVERED, 1, 0, NULL);
		wait_all(fx->sp);
	}
	assert_int_equal(spool_count(fx->sp), 1);
	assert_int_equal(count_files(fx, "log", ""), 7);
	update(fx->sp, p, 0, RCPT_DELIVERED, 1, 0, NULL);
	wait_all(fx->sp);
	assert_int_equal(spool_count(fx->sp), 0);
	reopen(fx); /* the writer finishes the removals before closing */
	assert_int_equal(spool_count(fx->sp), 0);
	assert_int_equal(count_files(fx, "log", ""), 1);
	assert_int_equal(count_files(fx, "log", "0000000000000008.seg"), 1);
}

/* A body opened for a delivery pins its segment: the message finishing (or
 * being deleted) meanwhile does not close or remove the file under the
 * reader; closing the body lets reclamation take it. */
static void test_open_body_pins_its_segment(void **state)
{
	struct fixture *fx = *state;
	char p[QUEUE_ID_LEN + 1], x[QUEUE_ID_LEN + 1];
	char seg1[PATH_MAX];
	seg_file(fx, 1, seg1, sizeof seg1);
	spool_set_segment_max(fx->sp, 1); /* a new segment for every batch */
	submit(fx->sp, p, 1, 300, 7);
	wait_all(fx->sp);
	struct spool_body body;
	assert_int_equal(spool_body_open(fx->sp, spool_find(fx->sp, p), &body), 0);
	assert_int_equal(body.len, 300);
	update(fx->sp, p, 0, RCPT_DELETED, 0, 0, "deleted");
	wait_all(fx->sp);
	assert_null(spool_find(fx->sp, p));
	for (unsigned i = 0; i < 2; i++) {
		submit(fx->sp, x, 1, 10, i);
		wait_all(fx->sp);
	}
	char want[300], got[300];
	fill_body(want, sizeof want, 7);
	assert_int_equal(pread(body.fd, got, sizeof got, (off_t)body.off), 300);
	assert_memory_equal(got, want, sizeof want);
	spool_body_close(fx->sp, &body);
	assert_int_equal(body.fd, -1);
	submit(fx->sp, x, 1, 10, 9); /* a dispatch: reclamation runs */
	wait_all(fx->sp);
	reopen(fx); /* the writer finishes the removals before closing */
	assert_int_equal(access(seg1, F_OK), -1);
}

/* A long-lived message is rewritten out of the oldest segment so the log
 * does not grow behind it. */
static void test_relocation(void **state)
{
	struct fixture *fx = *state;
	char l[QUEUE_ID_LEN + 1], x[QUEUE_ID_LEN + 1];
	spool_set_segment_max(fx->sp, 1);
	submit(fx->sp, l, 2, 2000, 9);
	wait_all(fx->sp);
	update_warned(fx->sp, l, 1, RCPT_PENDING, 3, 777, "451 later", true);
	spool_set_held(fx->sp, spool_find(fx->sp, l), true, on_done, next_arg());
	wait_all(fx->sp);
	for (unsigned i = 0; i < 12; i++) {
		submit(fx->sp, x, 1, 1000, i);
		wait_all(fx->sp);
		update(fx->sp, x, 0, RCPT_BOUNCED, 1, 0, "550 no");
		wait_all(fx->sp);
	}
	struct spool_stats st;
	spool_stats(fx->sp, &st);
	assert_true(st.relocated >= 1);
	assert_true(spool_find(fx->sp, l)->seg > 1);
	assert_body(fx->sp, l, 2000, 9);
	for (int round = 0; round < 2; round++) {
		assert_int_equal(spool_count(fx->sp), 1);
		struct spool_msg *m = spool_find(fx->sp, l);
		assert_non_null(m);
		assert_true(m->held);
		assert_int_equal(m->rcpt[1].attempts, 3);
		assert_int_equal(m->rcpt[1].next_try, 777);
		assert_string_equal(m->rcpt[1].last_error, "451 later");
		assert_true(m->rcpt[1].warned);
		assert_false(m->rcpt[0].warned);
		assert_string_equal(m->rcpt[0].to.orig, "One@Example.ORG");
		assert_body(fx->sp, l, 2000, 9);
		/*
		 * Reclaimed segments are unlinked by the writer thread some time
		 * after the dispatch that reclaimed them (UNLINK requests have no
		 * callback, so wait_all() cannot wait for them): on a busy machine
		 * the directory lags the index. spool_close() drains the writer's
		 * queue, so count only then. 26 segments were written; what is
		 * left is at most the segments from the one holding the newest
		 * copy of l to the current one: relocation starts when there are
		 * 9 (RELOCATE_AFTER + 1), plus one for a relocation record still
		 * in flight at the close.
		 */
		spool_close(fx->sp);
		fx->sp = NULL;
		assert_true(count_files(fx, "log", "") <= 10);
		fx->sp = spool_open(fx->dir);
		assert_non_null(fx->sp);
	}
}

/* DSN parameters (RFC 3461) are part of the envelope: they come back after
 * recovery and after relocation, and a message without them has none. */
static void test_dsn_fields_survive(void **state)
{
	struct fixture *fx = *state;
	char d[QUEUE_ID_LEN + 1], x[QUEUE_ID_LEN + 1];
	static const struct rcpt dsn[] = {
		{.addr = "one@example.org", .notify = 1, .orcpt = "rfc822;one+2Bx@example.org"},
		{.addr = "two@example.org"},
		{.addr = "three@example.org", .notify = 8, .orcpt = ""},
	};
	char body[] = "Subject: dsn\r\n\r\nhi\r\n";
	struct iovec iov = {body, sizeof body - 1};
	queue_id_next(d);
	struct spool_new_msg m = {
		.id = d, .arrival = 1700000000, .sender = "s@example.com", .helo = "h",
		.client = "192.0.2.7", .nrcpt = 3, .rcpt = dsn, .envid = "QQ+2B1", .ret = 2,
		.body = &iov, .nbody = 1,
	};
	spool_set_segment_max(fx->sp, 1);
	spool_submit(fx->sp, &m, on_done, next_arg());
	submit(fx->sp, x, 1, 100, 1);
	wait_all(fx->sp);
	for (int round = 0; round < 3; round++) {
		const struct spool_msg *g = spool_find(fx->sp, d);
		assert_non_null(g);
		assert_string_equal(g->envid, "QQ+2B1");
		assert_int_equal(g->ret, 2);
		assert_int_equal(g->rcpt[0].to.notify, 1);
		assert_string_equal(g->rcpt[0].to.orcpt, "rfc822;one+2Bx@example.org");
		assert_int_equal(g->rcpt[1].to.notify, 0);
		assert_null(g->rcpt[1].to.orcpt);
		assert_int_equal(g->rcpt[2].to.notify, 8);
		assert_null(g->rcpt[2].to.orcpt);
		const struct spool_msg *plain = spool_find(fx->sp, x);
		assert_null(plain->envid);
		assert_int_equal(plain->ret, 0);
		assert_int_equal(plain->rcpt[0].to.notify, 0);
		if (round == 0) {
			reopen(fx);
			continue;
		}
		/* Filler messages until d has been moved out of its segment. */
		spool_set_segment_max(fx->sp, 1);
		uint64_t seg = g->seg;
		for (unsigned i = 0; i < 12 && spool_find(fx->sp, d)->seg == seg; i++) {
			char f[QUEUE_ID_LEN + 1];
			submit(fx->sp, f, 1, 1000, i);
			wait_all(fx->sp);
			update(fx->sp, f, 0, RCPT_BOUNCED, 1, 0, "550 no");
			wait_all(fx->sp);
		}
		assert_true(spool_find(fx->sp, d)->seg != seg);
		if (round == 1)
			reopen(fx);
	}
}

static void test_hold_and_release(void **state)
{
	struct fixture *fx = *state;
	char a[QUEUE_ID_LEN + 1];
	submit(fx->sp, a, 1, 100, 1);
	wait_all(fx->sp);
	spool_set_held(fx->sp, spool_find(fx->sp, a), true, on_done, next_arg());
	wait_all(fx->sp);
	assert_true(spool_find(fx->sp, a)->held);
	reopen(fx);
	assert_true(spool_find(fx->sp, a)->held);
	spool_set_held(fx->sp, spool_find(fx->sp, a), false, on_done, next_arg());
	wait_all(fx->sp);
	reopen(fx);
	assert_false(spool_find(fx->sp, a)->held);
}

static void test_torn_tail(void **state)
{
	struct fixture *fx = *state;
	char a[QUEUE_ID_LEN + 1], b[QUEUE_ID_LEN + 1], c[QUEUE_ID_LEN + 1];
	char seg[PATH_MAX];
	seg_file(fx, 1, seg, sizeof seg);
	submit(fx->sp, a, 1, 700, 1);
	submit(fx->sp, b, 1, 700, 2);
	submit(fx->sp, c, 1, 700, 3);
	wait_all(fx->sp);
	spool_close(fx->sp);
	fx->sp = NULL;
	off_t size0 = file_size(seg);

	/* A header and part of a payload: a write the crash interrupted. */
	unsigned char torn[40] = {'P', 'T', 'R', 'L', 1};
	torn[8] = 0xe8;
	torn[9] = 0x03;
	int fd = open(seg, O_WRONLY | O_APPEND);
	assert_int_equal(write(fd, torn, sizeof torn), (ssize_t)sizeof torn);
	close(fd);
	fx->sp = spool_open(fx->dir);
	assert_non_null(fx->sp);
	assert_int_equal(spool_count(fx->sp), 3);
	assert_int_equal(file_size(seg), size0);

	/* The last record cut short: it was never acknowledged. */
	spool_close(fx->sp);
	assert_int_equal(truncate(seg, size0 - 10), 0);
	fx->sp = spool_open(fx->dir);
	assert_non_null(fx->sp);
	assert_int_equal(spool_count(fx->sp), 2);
	assert_null(spool_find(fx->sp, c));
	assert_true(file_size(seg) < size0 - 700);
	/* The bytes cut off are kept for inspection. */
	assert_int_equal(count_files(fx, "quarantine", "0000000000000001.seg.tail-"), 2);

	/* Appending continues after the cut. */
	submit(fx->sp, c, 1, 700, 4);
	wait_all(fx->sp);
	reopen(fx);
	assert_int_equal(spool_count(fx->sp), 3);
	assert_body(fx->sp, a, 700, 1);
	assert_body(fx->sp, c, 700, 4);
}

/* Returns the offset where the record after msg's begins (its body is last). */
static off_t record_end(struct spool *sp, const char *id)
{
	struct spool_msg *m = spool_find(sp, id);
	assert_non_null(m);
	return (off_t)(m->body_off + m->body_len);
}

/* Copies a whole file (a snapshot of a segment as a crash would leave it). */
static void copy_file(const char *from, const char *to)
{
	FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
	assert_non_null(in);
	assert_non_null(out);
	char b[65536];
	size_t n;
	while ((n = fread(b, 1, sizeof b, in)) > 0)
		assert_int_equal(fwrite(b, 1, n, out), n);
	fclose(in);
	assert_int_equal(fclose(out), 0);
}

/* A crash leaves the zeros the writer wrote ahead of its last record:
 * recovery takes them for the clean end they are, keeps every message,
 * saves nothing to quarantine, and appending continues after the last record. */
static void test_zero_tail_after_crash(void **state)
{
	struct fixture *fx = *state;
	char a[QUEUE_ID_LEN + 1], b[QUEUE_ID_LEN + 1], c[QUEUE_ID_LEN + 1];
	char seg[PATH_MAX], snap[PATH_MAX + 8];
	seg_file(fx, 1, seg, sizeof seg);
	snprintf(snap, sizeof snap, "%s.snap", seg);
	submit(fx->sp, a, 1, 700, 1);
	submit(fx->sp, b, 1, 700, 2);
	wait_all(fx->sp);
	off_t end = record_end(fx->sp, b);
	copy_file(seg, snap);
	assert_true(file_size(snap) > end);
	spool_close(fx->sp);
	assert_int_equal(rename(snap, seg), 0);
	fx->sp = spool_open(fx->dir);
	assert_non_null(fx->sp);
	assert_int_equal(spool_count(fx->sp), 2);
	assert_int_equal(file_size(seg), end);
	assert_int_equal(count_files(fx, "quarantine", ""), 0);
	submit(fx->sp, c, 1, 700, 3);
	wait_all(fx->sp);
	reopen(fx);
	assert_int_equal(spool_count(fx->sp), 3);
	assert_body(fx->sp, b, 700, 2);
	assert_body(fx->sp, c, 700, 3);
}

static void test_corrupt_body_quarantined(void **state)
{
	struct fixture *fx = *state;
	char a[QUEUE_ID_LEN + 1], b[QUEUE_ID_LEN + 1], c[QUEUE_ID_LEN + 1];
	char seg[PATH_MAX];
	seg_file(fx, 1, seg, sizeof seg);
	submit(fx->sp, a, 1, 1000, 1);
	submit(fx->sp, b, 1, 1000, 2);
	submit(fx->sp, c, 1, 1000, 3);
	wait_all(fx->sp);
	off_t at = (off_t)spool_find(fx->sp, b)->body_off + 500;
	spool_close(fx->sp);
	off_t size0 = file_size(seg);
	flip_byte(seg, at);
	for (int round = 0; round < 2; round++) {
		fx->sp = spool_open(fx->dir);
		assert_non_null(fx->sp);
		assert_int_equal(spool_count(fx->sp), 2);
		assert_null(spool_find(fx->sp, b));
		assert_body(fx->sp, a, 1000, 1);
		assert_body(fx->sp, c, 1000, 3);
		/* One copy, not one per start; the original is left alone. */
		assert_int_equal(count_files(fx, "quarantine", "0000000000000001.seg."), 1);
		assert_int_equal(file_size(seg), size0);
		spool_close(fx->sp);
	}
	fx->sp = spool_open(fx->dir);
	assert_non_null(fx->sp);
}

/* Damage to a length field: the scan must find the next record by itself. */
static void test_corrupt_header_resync(void **state)
{
	struct fixture *fx = *state;
	char a[QUEUE_ID_LEN + 1], b[QUEUE_ID_LEN + 1], c[QUEUE_ID_LEN + 1];
	char seg[PATH_MAX];
	seg_file(fx, 1, seg, sizeof seg);
	submit(fx->sp, a, 1, 1000, 1);
	submit(fx->sp, b, 1, 1000, 2);
	submit(fx->sp, c, 1, 1000, 3);
	wait_all(fx->sp);
	off_t b_start = record_end(fx->sp, a);
	spool_close(fx->sp);
	flip_byte(seg, b_start + 9);
	fx->sp = spool_open(fx->dir);
	assert_non_null(fx->sp);
	assert_int_equal(spool_count(fx->sp), 2);
	assert_non_null(spool_find(fx->sp, a));
	assert_body(fx->sp, c, 1000, 3);
	assert_int_equal(count_files(fx, "quarantine", "0000000000000001.seg."), 1);
}

/* Damage at the end of a segment that is not the last is not a torn
 * write: the segment is quarantined, never cut, and later ones are read. */
static void test_corrupt_older_segment(void **state)
{
	struct fixture *fx = *state;
	char a[QUEUE_ID_LEN + 1], b[QUEUE_ID_LEN + 1], c[QUEUE_ID_LEN + 1];
	char seg2[PATH_MAX];
	seg_file(fx, 2, seg2, sizeof seg2);
	spool_set_segment_max(fx->sp, 1);
	submit(fx->sp, a, 1, 400, 1);
	wait_all(fx->sp);
	submit(fx->sp, b, 1, 400, 2);
	wait_all(fx->sp);
	submit(fx->sp, c, 1, 400, 3);
	wait_all(fx->sp);
	assert_int_equal(spool_find(fx->sp, b)->seg, 2);
	off_t at = (off_t)spool_find(fx->sp, b)->body_off + 399;
	spool_close(fx->sp);
	off_t size2 = file_size(seg2);
	flip_byte(seg2, at);
	fx->sp = spool_open(fx->dir);
	assert_non_null(fx->sp);
	assert_int_equal(spool_count(fx->sp), 2);
	assert_body(fx->sp, a, 400, 1);
	assert_body(fx->sp, c, 400, 3);
	assert_int_equal(file_size(seg2), size2);
	assert_int_equal(count_files(fx, "quarantine", "0000000000000002.seg."), 1);
}

/* Appends the ended record in b to seg, bound to where it lands. */
static void append_record(const char *seg, struct buf *b)
{
	off_t at = file_size(seg);
	rec_bind((uint8_t *)b->p, 1, (uint64_t)at);
	int fd = open(seg, O_WRONLY | O_APPEND);
	assert_int_equal(write(fd, b->p, b->len), (ssize_t)b->len);
	close(fd);
	buf_reset(b);
}

/* Records a newer version might write, records about unknown messages and
 * a CRC-valid record with malformed fields: none of them is fatal. */
static void test_foreign_records(void **state)
{
	struct fixture *fx = *state;
	char a[QUEUE_ID_LEN + 1], b[QUEUE_ID_LEN + 1];
	char seg[PATH_MAX];
	seg_file(fx, 1, seg, sizeof seg);
	submit(fx->sp, a, 1, 300, 1);
	wait_all(fx->sp);
	spool_close(fx->sp);
	struct buf r = BUF_INIT;
	/* A record type from the future: skipped. */
	uint8_t hdr[REC_HDR_LEN] = {'P', 'T', 'R', 'L', 99};
	buf_append(&r, hdr, sizeof hdr);
	buf_append(&r, "\x01\x00\x01\x00\x00\x00x", 7);
	rec_end(&r, 0);
	append_record(seg, &r);
	/* Updates for a message that is not queued, and for a recipient a
	 * message does not have: ignored. */
	struct rec_update u = {.id = STR_LIT("0000000000000000"), .state = RCPT_DELIVERED};
	rec_encode_update(&r, &u);
	append_record(seg, &r);
	u.id = (struct str){a, QUEUE_ID_LEN};
	u.index = 7;
	rec_encode_update(&r, &u);
	append_record(seg, &r);
	/* A MSG record without a body: malformed, so the segment is quarantined. */
	hdr[4] = REC_MSG;
	buf_append(&r, hdr, sizeof hdr);
	buf_append(&r, "\x01\x00\x01\x00\x00\x00x", 7);
	rec_end(&r, 0);
	append_record(seg, &r);
	buf_free(&r);

	fx->sp = spool_open(fx->dir);
	assert_non_null(fx->sp);
	assert_int_equal(spool_count(fx->sp), 1);
	assert_int_equal(spool_find(fx->sp, a)->rcpt[0].state, RCPT_PENDING);
	assert_int_equal(count_files(fx, "quarantine", "0000000000000001.seg."), 1);
	submit(fx->sp, b, 1, 300, 2);
	wait_all(fx->sp);
	reopen(fx);
	assert_int_equal(spool_count(fx->sp), 2);
	assert_body(fx->sp, b, 300, 2);
}

/* A body carrying a well-formed record (a forgery, or just a mailed spool
 * file) is not taken for one even when resynchronisation scans through it. */
static void test_record_in_body_not_resynced(void **state)
{
	struct fixture *fx = *state;
	char a[QUEUE_ID_LEN + 1], b[QUEUE_ID_LEN + 1], c[QUEUE_ID_LEN + 1];
	char fake[QUEUE_ID_LEN + 1], seg[PATH_MAX];
	seg_file(fx, 1, seg, sizeof seg);
	queue_id_next(fake);
	const char *addr = "victim@example.com";
	struct rec_rcpt rc = {.addr = str_from(addr), .orig = str_from(addr)};
	struct rec_msg fm = {.id = {fake, QUEUE_ID_LEN}, .sender = STR_LIT("x@example.com"),
			     .nrcpt = 1, .rcpt = &rc};
	struct buf forged = BUF_INIT;
	size_t start, at = rec_msg_begin(&forged, &fm, 5, &start);
	memcpy(forged.p + at, "spam\n", 5);
	rec_end(&forged, start);
	rec_bind((uint8_t *)forged.p, 1, 0);

	submit(fx->sp, a, 1, 300, 1);
	wait_all(fx->sp);
	struct iovec iov = {forged.p, forged.len};
	queue_id_next(b);
	struct spool_new_msg m = {.id = b, .sender = "", .helo = "h", .client = "c", .nrcpt = 1,
				  .rcpt = rcpts, .body = &iov, .nbody = 1};
	spool_submit(fx->sp, &m, on_done, next_arg());
	submit(fx->sp, c, 1, 300, 3);
	wait_all(fx->sp);
	off_t b_start = record_end(fx->sp, a);
	spool_close(fx->sp);
	flip_byte(seg, b_start + 8); /* b's length: the scan must search */
	fx->sp = spool_open(fx->dir);
	assert_non_null(fx->sp);
	assert_null(spool_find(fx->sp, fake));
	assert_null(spool_find(fx->sp, b));
	assert_non_null(spool_find(fx->sp, a));
	assert_body(fx->sp, c, 300, 3);
	buf_free(&forged);
}

/* 1000 records submitted before any dispatch share few fdatasyncs. */
static void test_group_commit(void **state)
{
	struct fixture *fx = *state;
	char id[QUEUE_ID_LEN + 1];
	for (unsigned i = 0; i < 1000; i++)
		submit(fx->sp, id, 1, 200, i);
	wait_all(fx->sp);
	struct spool_stats st;
	spool_stats(fx->sp, &st);
	print_message("group commit: 1000 records in %llu batches\n",
		      (unsigned long long)st.batches);
	assert_int_equal(st.records, 1000);
	assert_true(st.batches < st.records);
	assert_int_equal(st.syncs, st.batches);
	assert_int_equal(spool_count(fx->sp), 1000);
	assert_true(W.in_order);
}

/*
 * A write error (here EFBIG from RLIMIT_FSIZE, which takes the same path as
 * ENOSPC: a short write, then an error) fails the batch, leaves the segment
 * as it was, and the spool carries on once space is back.
 */
static void test_write_error_recovers(void **state)
{
	struct fixture *fx = *state;
	char a[QUEUE_ID_LEN + 1], b[QUEUE_ID_LEN + 1], c[QUEUE_ID_LEN + 1];
	char seg[PATH_MAX];
	seg_file(fx, 1, seg, sizeof seg);
	signal(SIGXFSZ, SIG_IGN);
	submit(fx->sp, a, 1, 500, 1);
	wait_all(fx->sp);
	off_t size0 = record_end(fx->sp, a);
	struct rlimit old, lim;
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	lim = old;
	lim.rlim_cur = (rlim_t)size0 + 100;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	submit(fx->sp, b, 1, 8000, 2);
	wait_all(fx->sp);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	assert_int_equal(W.failed, 1);
	assert_int_equal(W.last_err, EFBIG);
	assert_int_equal(file_size(seg), size0);
	assert_null(spool_find(fx->sp, b));
	submit(fx->sp, c, 1, 8000, 3);
	wait_all(fx->sp);
	assert_int_equal(W.failed, 1);
	struct spool_stats st;
	spool_stats(fx->sp, &st);
	assert_int_equal(st.failed, 1);
	reopen(fx);
	assert_int_equal(spool_count(fx->sp), 2);
	assert_null(spool_find(fx->sp, b));
	assert_body(fx->sp, c, 8000, 3);
}

static void test_invalid_requests(void **state)
{
	struct fixture *fx = *state;
	char a[QUEUE_ID_LEN + 1];
	submit(fx->sp, a, 1, 100, 1);
	wait_all(fx->sp);
	struct iovec iov = {"x\r\n", 3};
	struct spool_new_msg m = {.id = "not-an-id", .sender = "", .helo = "h", .client = "c",
				  .nrcpt = 1, .rcpt = rcpts, .body = &iov, .nbody = 1};
	spool_submit(fx->sp, &m, on_done, next_arg());
	m.id = a; /* already queued */
	spool_submit(fx->sp, &m, on_done, next_arg());
	update(fx->sp, a, 5, RCPT_DELIVERED, 1, 0, NULL); /* no such recipient */
	char b[QUEUE_ID_LEN + 1];
	submit(fx->sp, b, 1, 100, 2);
	wait_all(fx->sp);
	assert_int_equal(W.failed, 3);
	assert_true(W.in_order);
	assert_int_equal(spool_count(fx->sp), 2);
	assert_int_equal(spool_find(fx->sp, a)->rcpt[0].state, RCPT_PENDING);
}

static void test_single_opener(void **state)
{
	struct fixture *fx = *state;
	assert_null(spool_open(fx->dir));
}

/* ---- queue IDs and fsutil ---- */

#define ID_THREADS 4
#define IDS_PER_THREAD 5000

static void *make_ids(void *arg)
{
	char (*ids)[QUEUE_ID_LEN + 1] = arg;
	for (int i = 0; i < IDS_PER_THREAD; i++)
		queue_id_next(ids[i]);
	return NULL;
}

static int cmp_id(const void *a, const void *b)
{
	return strcmp(a, b);
}

static void test_queue_ids(void **state)
{
	(void)state;
	static char ids[ID_THREADS * IDS_PER_THREAD][QUEUE_ID_LEN + 1];
	pthread_t t[ID_THREADS];
	for (int i = 0; i < ID_THREADS; i++)
		pthread_create(&t[i], NULL, make_ids, ids[i * IDS_PER_THREAD]);
	for (int i = 0; i < ID_THREADS; i++)
		pthread_join(t[i], NULL);
	/* Increasing within each thread, unique across all. */
	for (int i = 0; i < ID_THREADS * IDS_PER_THREAD; i++) {
		assert_true(queue_id_valid(ids[i]));
		if (i % IDS_PER_THREAD)
			assert_true(strcmp(ids[i - 1], ids[i]) < 0);
	}
	qsort(ids, ID_THREADS * IDS_PER_THREAD, sizeof ids[0], cmp_id);
	for (int i = 1; i < ID_THREADS * IDS_PER_THREAD; i++)
		assert_true(strcmp(ids[i - 1], ids[i]) < 0);
	assert_false(queue_id_valid(""));
	assert_false(queue_id_valid("0123456789ABCDE"));
	assert_false(queue_id_valid("0123456789ABCDEFG"));
	assert_false(queue_id_valid("0123456789ABCDEI"));
	assert_false(queue_id_valid("0123456789abcdef"));
	assert_true(queue_id_valid("0123456789ABCDEZ"));
}

static void test_fsutil(void **state)
{
	struct fixture *fx = *state;
	char path[PATH_MAX + 32], file[PATH_MAX + 64];
	snprintf(path, sizeof path, "%s/a/b//c", fx->root);
	assert_int_equal(fsutil_mkdir_p(path, 0700), 0);
	assert_int_equal(fsutil_mkdir_p(path, 0700), 0);
	snprintf(file, sizeof file, "%s/f", path);
	assert_int_equal(fsutil_write_atomic(file, "first", 5, 0600), 0);
	assert_int_equal(fsutil_write_atomic(file, "second", 6, 0600), 0);
	char got[16] = {0};
	int fd = open(file, O_RDONLY);
	assert_int_equal(read(fd, got, sizeof got), 6);
	close(fd);
	assert_string_equal(got, "second");
	/* No temporary file is left behind. */
	DIR *d = opendir(path);
	size_t n = 0;
	for (struct dirent *e; (e = readdir(d));)
		n += e->d_name[0] != '.';
	closedir(d);
	assert_int_equal(n, 1);
	assert_int_equal(fsutil_mkdir_p(file, 0700), -1);
	assert_int_equal(errno, ENOTDIR);
}

/* s-nail runs its MTA under umask 077: the maildrop file must still be
 * 0644 for the daemon, which reads it as another user. */
static void test_write_atomic_mode_is_exact_under_umask_077(void **state)
{
	struct fixture *fx = *state;
	char file[PATH_MAX];
	snprintf(file, sizeof file, "%s/m", fx->root);
	mode_t old = umask(077);
	int rc = fsutil_write_atomic(file, "x", 1, 0644);
	umask(old);
	assert_int_equal(rc, 0);
	struct stat st;
	assert_int_equal(stat(file, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0644);
}

/* ---- throughput ---- */

#define TP_RECORDS 20000
#define TP_BODY 4096
#define TP_SERIAL 1000

static double now_sec(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void test_throughput(void **state)
{
	struct fixture *fx = *state;
	char id[QUEUE_ID_LEN + 1];
	double t0 = now_sec();
	for (unsigned i = 0; i < TP_RECORDS; i++)
		submit(fx->sp, id, 1, TP_BODY, i);
	wait_all(fx->sp);
	double dt = now_sec() - t0;
	struct spool_stats st;
	spool_stats(fx->sp, &st);
	print_message("throughput: %d records of %d bytes in %.3f s: %.0f records/s, "
		      "%.1f MiB/s, %llu batches (%.1f records per fdatasync), %llu segments\n",
		      TP_RECORDS, TP_BODY, dt, TP_RECORDS / dt,
		      (double)st.bytes / dt / (1 << 20), (unsigned long long)st.batches,
		      (double)st.records / (double)st.batches, (unsigned long long)st.segments);
	assert_int_equal(W.failed, 0);
	assert_int_equal(spool_count(fx->sp), TP_RECORDS);

	/* The same one at a time: every record waits for its own fdatasync. */
	t0 = now_sec();
	for (unsigned i = 0; i < TP_SERIAL; i++) {
		submit(fx->sp, id, 1, TP_BODY, i);
		wait_all(fx->sp);
	}
	dt = now_sec() - t0;
	print_message("serial: %d records of %d bytes in %.3f s: %.0f records/s\n", TP_SERIAL,
		      TP_BODY, dt, TP_SERIAL / dt);
	reopen(fx);
	assert_int_equal(spool_count(fx->sp), TP_RECORDS + TP_SERIAL);
}

int main(void)
{
	log_set_level(LOG_LVL_ERROR);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_submit_and_reopen, setup, spool_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_update_and_reopen, setup, spool_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_reclaim_oldest_first, setup, spool_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_open_body_pins_its_segment, setup, spool_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_relocation, setup, spool_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_dsn_fields_survive, setup, spool_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_hold_and_release, setup, spool_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_zero_tail_after_crash, setup, spool_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_torn_tail, setup, spool_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_corrupt_body_quarantined, setup, spool_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_corrupt_header_resync, setup, spool_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_corrupt_older_segment, setup, spool_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_foreign_records, setup, spool_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_record_in_body_not_resynced, setup, spool_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_group_commit, setup, spool_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_write_error_recovers, setup, spool_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_invalid_requests, setup, spool_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_single_opener, setup, spool_fixture_teardown),
		cmocka_unit_test(test_queue_ids),
		cmocka_unit_test_setup_teardown(test_fsutil, setup, spool_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_write_atomic_mode_is_exact_under_umask_077, setup,
						spool_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_throughput, setup, spool_fixture_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
