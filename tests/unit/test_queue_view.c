/*
 * test_queue_view - the postmaster's view of the queue, rendered from a real
 * spool in a temporary directory: the listing (entries, held mark, summary,
 * ages), the detailed show (envelope, recipient states, header section and
 * its size limit), and neutralised network text: a hostile envelope or
 * header must not put a single terminal control byte on the screen.
 * Completion is awaited with poll() on spool_notify_fd() + spool_dispatch().
 */
#include "test_util.h"

#include <ftw.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control/queue_tally.h"
#include "control/queue_view.h"
#include "queue/queue_id.h"
#include "queue/spool.h"
#include "util/buf.h"
#include "util/log.h"

#define ARRIVAL INT64_C(1700000000) /* 2023-11-14 22:13:20 UTC */

struct fixture {
	char root[256];
	char dir[512];
	struct spool *sp;
	unsigned issued, done;
	int err;
};

#include "spool_fixture.h"

static void on_done(void *arg, int err)
{
	struct fixture *fx = arg;
	fx->done++;
	if (err)
		fx->err = err;
}

static void wait_all(struct fixture *fx)
{
	while (fx->done < fx->issued) {
		struct pollfd p = {.fd = spool_notify_fd(fx->sp), .events = POLLIN};
		assert_int_equal(poll(&p, 1, 30000), 1);
		spool_dispatch(fx->sp);
	}
	assert_int_equal(fx->err, 0);
}

static int setup(void **state)
{
	return spool_fixture_setup(state, "view");
}


struct envelope {
	const char *sender, *helo, *client;
	size_t nrcpt;
	const char *const *addr, *const *orig;
	const char *body;
};

static struct spool_msg *submit(struct fixture *fx, const struct envelope *e)
{
	char id[QUEUE_ID_LEN + 1];
	queue_id_next(id);
	struct iovec iov = {(void *)e->body, strlen(e->body)};
	struct rcpt_list rcpt = RCPT_LIST_INIT;
	for (size_t i = 0; i < e->nrcpt; i++)
		rcpt_list_add(&rcpt, e->addr[i], e->orig[i], 0, NULL);
	struct spool_new_msg m = {
		.id = id, .arrival = ARRIVAL, .sender = e->sender,
		.helo = e->helo ? e->helo : "client.example",
		.client = e->client ? e->client : "192.0.2.7", .nrcpt = e->nrcpt,
		.rcpt = rcpt.v, .body = &iov, .nbody = 1,
	};
	fx->issued++;
	spool_submit(fx->sp, &m, on_done, fx);
	rcpt_list_free(&rcpt);
	wait_all(fx);
	struct spool_msg *msg = spool_find(fx->sp, id);
	assert_non_null(msg);
	return msg;
}

static void update(struct fixture *fx, struct spool_msg *m, size_t i, enum rcpt_state st,
		   uint32_t attempts, int64_t next_try, const char *err)
{
	fx->issued++;
	spool_update_rcpt(fx->sp, m, i, st, attempts, next_try, err, false, on_done, fx);
	wait_all(fx);
}

static void hold(struct fixture *fx, struct spool_msg *m, bool held)
{
	fx->issued++;
	spool_set_held(fx->sp, m, held, on_done, fx);
	wait_all(fx);
}

static char *list(struct fixture *fx, int64_t now)
{
	struct buf b = BUF_INIT;
	queue_view_list(&b, fx->sp, now);
	return buf_steal(&b);
}

static char *count(struct fixture *fx, int64_t now)
{
	struct buf b = BUF_INIT;
	queue_view_count(&b, fx->sp, now);
	return buf_steal(&b);
}

static char *show(struct fixture *fx, const struct spool_msg *m, int64_t now)
{
	struct buf b = BUF_INIT;
	queue_view_show(&b, fx->sp, m, now, NULL, NULL);
	return buf_steal(&b);
}

/* Nothing a terminal could act on: printable ASCII, tab and newline only. */
static void assert_terminal_safe(const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p != '\n' && *p != '\t' && (*p < 0x20 || *p >= 0x7f))
			fail_msg("control byte 0x%02x at offset %td in:\n%s", *p,
				 (const char *)p - s, s);
	}
}

static const char *const three[] = {"a@remote.test", "b@remote.test", "c@remote.test"};
static const char *const three_orig[] = {"a@remote.test", "B@Remote.Test", "c@remote.test"};
static const char simple_body[] = "Subject: hello\r\n\r\nbody\r\n";

static void test_empty_queue(void **state)
{
	char *out = list(*state, ARRIVAL);
	assert_string_equal(out, "Mail queue is empty\n");
	free(out);
}

static void test_list_entry(void **state)
{
	struct fixture *fx = *state;
	struct envelope e = {.sender = "s@example.org", .nrcpt = 3, .addr = three,
			     .orig = three_orig, .body = simple_body};
	struct spool_msg *m = submit(fx, &e);
	update(fx, m, 0, RCPT_DELIVERED, 1, 0, NULL);
	update(fx, m, 1, RCPT_PENDING, 2, ARRIVAL + 600, "4.4.1 connect to 127.0.0.1:1: refused");
	char want[1024];
	snprintf(want, sizeof want,
		 "%s  %zu bytes  5m old  from <s@example.org>\n"
		 "  to <b@remote.test>\n"
		 "    last error (2 attempts): 4.4.1 connect to 127.0.0.1:1: refused\n"
		 "  to <c@remote.test>\n"
		 "\n"
		 "-- 1 message, %zu bytes, 2 recipients not yet final, 0 held\n",
		 m->id, sizeof simple_body - 1, sizeof simple_body - 1);
	char *out = list(fx, ARRIVAL + 300);
	assert_string_equal(out, want);
	free(out);
}

static void test_held_mark_and_summary(void **state)
{
	struct fixture *fx = *state;
	struct envelope e = {.sender = "", .nrcpt = 1, .addr = three, .orig = three,
			     .body = simple_body};
	struct spool_msg *a = submit(fx, &e);
	struct spool_msg *b = submit(fx, &e);
	hold(fx, b, true);
	char held_line[128], plain_line[128];
	snprintf(held_line, sizeof held_line, "%s  %zu bytes  0s old  from <>  [held]\n", b->id,
		 sizeof simple_body - 1);
	snprintf(plain_line, sizeof plain_line, "%s  %zu bytes  0s old  from <>\n", a->id,
		 sizeof simple_body - 1);
	char summary[128];
	snprintf(summary, sizeof summary,
		 "\n-- 2 messages, %zu bytes, 2 recipients not yet final, 1 held\n",
		 2 * (sizeof simple_body - 1));
	char *out = list(fx, ARRIVAL);
	assert_non_null(strstr(out, held_line));
	assert_non_null(strstr(out, plain_line));
	assert_non_null(strstr(out, summary));
	free(out);
	hold(fx, b, false);
	out = list(fx, ARRIVAL);
	assert_null(strstr(out, "[held]"));
	assert_non_null(strstr(out, ", 0 held\n"));
	free(out);
}

static void test_ages(void **state)
{
	struct fixture *fx = *state;
	struct envelope e = {.sender = "s@example.org", .nrcpt = 1, .addr = three,
			     .orig = three, .body = simple_body};
	struct spool_msg *m = submit(fx, &e);
	static const struct {
		int64_t after;
		const char *age;
	} cases[] = {
		{-5, " 0s old "},  {42, " 42s old "},       {119, " 119s old "},
		{17 * 60 + 5, " 17m old "}, {5 * 3600 + 59, " 5h old "}, {3 * 86400 + 1, " 3d old "},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct buf b = BUF_INIT;
		queue_view_entry(&b, m, ARRIVAL + cases[i].after);
		if (!strstr(b.p, cases[i].age))
			fail_msg("age %lld: want \"%s\" in %s", (long long)cases[i].after,
				 cases[i].age, b.p);
		buf_free(&b);
	}
}

static void test_show(void **state)
{
	struct fixture *fx = *state;
	static const char body[] = "Subject: hello\r\nX-Folded: a\r\n\tb\r\n\r\nSECRET BODY\r\n";
	struct envelope e = {.sender = "s@example.org", .helo = "mta.example", .client = "198.51.100.4",
			     .nrcpt = 3, .addr = three, .orig = three_orig, .body = body};
	struct spool_msg *m = submit(fx, &e);
	update(fx, m, 0, RCPT_DELIVERED, 1, 0, NULL);
	update(fx, m, 1, RCPT_PENDING, 3, ARRIVAL + 900, "4.4.1 refused");
	char want[2048];
	snprintf(want, sizeof want,
		 "id:       %s\n"
		 "arrival:  2023-11-14 22:13:20 UTC (5m ago)\n"
		 "size:     %zu bytes\n"
		 "sender:   <s@example.org>\n"
		 "client:   198.51.100.4\n"
		 "helo:     mta.example\n"
		 "flags:    none\n"
		 "status:   active\n"
		 "recipients:\n"
		 "  <a@remote.test>  delivered, 1 attempt\n"
		 "  <b@remote.test>  pending, 3 attempts, next try 2023-11-14 22:28:20 UTC (in 10m)\n"
		 "    given as <B@Remote.Test>\n"
		 "    last error: 4.4.1 refused\n"
		 "  <c@remote.test>  pending, 0 attempts, next try now\n"
		 "header section:\n"
		 "  Subject: hello\n"
		 "  X-Folded: a\n"
		 "  \tb\n",
		 m->id, sizeof body - 1);
	char *out = show(fx, m, ARRIVAL + 300);
	assert_string_equal(out, want);
	free(out);
	hold(fx, m, true);
	out = show(fx, m, ARRIVAL + 300);
	assert_non_null(strstr(out, "status:   held (no delivery until released)\n"));
	assert_non_null(strstr(out, "3 attempts, no attempt while held\n"));
	free(out);
}

static void test_header_section_limit(void **state)
{
	struct fixture *fx = *state;
	struct buf body = BUF_INIT;
	while (body.len < QUEUE_VIEW_HEADER_MAX + 5000)
		buf_puts(&body, "X-Filler: 0123456789012345678901234567890123456789\r\n");
	buf_puts(&body, "\r\nBODY TEXT\r\n");
	struct envelope e = {.sender = "s@example.org", .nrcpt = 1, .addr = three,
			     .orig = three, .body = body.p};
	char *out = show(fx, submit(fx, &e), ARRIVAL);
	assert_non_null(strstr(out, "(header section cut at 65536 bytes)\n"));
	assert_null(strstr(out, "BODY TEXT"));
	assert_true(strlen(out) < QUEUE_VIEW_HEADER_MAX + 8192);
	free(out);
	buf_free(&body);

	/* A message that is nothing but headers is shown whole and not "cut". */
	e.body = "Subject: only headers\r\nX-Last: yes\r\n";
	out = show(fx, submit(fx, &e), ARRIVAL);
	assert_non_null(strstr(out, "header section:\n  Subject: only headers\n  X-Last: yes\n"));
	assert_null(strstr(out, "cut at"));
	free(out);
}

static void test_hostile_text_neutralised(void **state)
{
	struct fixture *fx = *state;
	static const char *const addr[] = {"x\x9b" "31m@example.org"};
	static const char *const orig[] = {"\x1bP+q@example.org"};
	struct envelope e = {
		.sender = "evil\x1b[2J\x1b]0;owned\x07@example.org", .helo = "\x1b[H\x1b[J",
		.client = "192.0.2.1\r\n", .nrcpt = 1, .addr = addr, .orig = orig,
		.body = "Subject: \x1b]2;title\x07hi\r\nX-Bell: \x07\x7f\r\n\r\n\x1b[31mred\r\n",
	};
	struct spool_msg *m = submit(fx, &e);
	update(fx, m, 0, RCPT_PENDING, 1, ARRIVAL + 60, "550 \x1b[5mblink\r\nforged: line");
	char *l = list(fx, ARRIVAL);
	char *s = show(fx, m, ARRIVAL);
	assert_terminal_safe(l);
	assert_terminal_safe(s);
	assert_non_null(strstr(l, "from <evil\\x1B[2J\\x1B]0;owned\\x07@example.org>\n"));
	assert_non_null(strstr(l, "to <x\\x9B31m@example.org>\n"));
	assert_non_null(strstr(l, "): 550 \\x1B[5mblink\\x0D\\x0Aforged: line\n"));
	assert_non_null(strstr(s, "helo:     \\x1B[H\\x1B[J\n"));
	assert_non_null(strstr(s, "client:   192.0.2.1\\x0D\\x0A\n"));
	assert_non_null(strstr(s, "given as <\\x1BP+q@example.org>\n"));
	assert_non_null(strstr(s, "  Subject: \\x1B]2;title\\x07hi\n  X-Bell: \\x07\\x7F\n"));
	assert_null(strstr(s, "red"));
	free(l);
	free(s);
}

static void test_safe_bytes(void **state)
{
	(void)state;
	static const char in[] = "a\tb\0\x1b\x7f\x80\xff~ \\";
	struct buf b = BUF_INIT;
	queue_view_safe(&b, in, sizeof in - 1);
	assert_string_equal(b.p, "a\tb\\x00\\x1B\\x7F\\x80\\xFF~ \\");
	buf_free(&b);
}

/* Maildrop files the daemon cannot read: one line each, a bound, a count;
 * nothing at all when there are none. */
static void test_unreadable_maildrop_files(void **state)
{
	(void)state;
	struct maildrop_stuck s[2] = {
		{.name = "0C6Q8V2R3M1T0000.42", .why = "Permission denied", .uid = 1000,
		 .mode = 0600, .since = ARRIVAL - 90},
		{.name = "0C6Q8V2R3M1T0001.43", .why = "not a regular file", .uid = 0,
		 .mode = 0755, .since = ARRIVAL - 7200},
	};
	struct buf b = BUF_INIT;
	queue_view_maildrop(&b, s, 0, 0, ARRIVAL);
	assert_int_equal(b.len, 0);
	queue_view_maildrop(&b, s, 2, 3, ARRIVAL);
	assert_string_equal(b.p,
			    "\nMaildrop files the daemon cannot read (not queued):\n"
			    "  0C6Q8V2R3M1T0000.42  owner uid 1000, mode 0600, 90s old: "
			    "Permission denied\n"
			    "  0C6Q8V2R3M1T0001.43  owner uid 0, mode 0755, 2h old: "
			    "not a regular file\n"
			    "  ... and 3 more\n"
			    "-- 5 maildrop files not imported\n");
	buf_free(&b);
}

/* The summary: the listing's last line, the oldest age, then destinations
 * by pending recipients, largest first, with tried counts and one error;
 * final recipients are not counted, domains compare without case. */
static void test_count_summary(void **state)
{
	struct fixture *fx = *state;
	char *out = count(fx, ARRIVAL);
	assert_string_equal(out, "Mail queue is empty\n");
	free(out);
	static const char *const mixed[] = {"a@remote.test", "b@Remote.TEST", "c@other.test",
					    "d@remote.test"};
	struct envelope e = {.sender = "s@example.org", .nrcpt = 4, .addr = mixed, .orig = mixed,
			     .body = simple_body};
	struct spool_msg *m = submit(fx, &e);
	update(fx, m, 0, RCPT_PENDING, 2, ARRIVAL + 600, "451 4.3.0 try \x1b later");
	update(fx, m, 2, RCPT_PENDING, 1, ARRIVAL + 600, "450 4.2.0 busy");
	update(fx, m, 3, RCPT_DELIVERED, 1, 0, NULL);
	e.nrcpt = 1;
	e.addr = e.orig = three;
	hold(fx, submit(fx, &e), true);
	char want[512];
	snprintf(want, sizeof want,
		 "-- 2 messages, %zu bytes, 4 recipients not yet final, 1 held\n"
		 "-- oldest 2h; pending recipients by destination, the 2 largest of 2:\n"
		 "         3  remote.test  1 deferred, e.g. 451 4.3.0 try \\x1B later\n"
		 "         1  other.test  1 deferred, e.g. 450 4.2.0 busy\n",
		 2 * (sizeof simple_body - 1));
	out = count(fx, ARRIVAL + 7200);
	assert_string_equal(out, want);
	assert_terminal_safe(out);
	free(out);
}

/* Errors are cut, and at most QUEUE_VIEW_TOP destinations are named. */
static void test_count_output_is_bounded(void **state)
{
	struct fixture *fx = *state;
	char addr[QUEUE_VIEW_TOP + 5][32];
	const char *addrs[QUEUE_VIEW_TOP + 5];
	for (size_t i = 0; i < QUEUE_VIEW_TOP + 5; i++) {
		snprintf(addr[i], sizeof addr[i], "u@d%zu.test", i);
		addrs[i] = addr[i];
	}
	struct envelope e = {.sender = "s@example.org", .nrcpt = QUEUE_VIEW_TOP + 5, .addr = addrs,
			     .orig = addrs, .body = simple_body};
	struct spool_msg *m = submit(fx, &e);
	char err[QUEUE_VIEW_ERROR_MAX * 2];
	memset(err, 'x', sizeof err - 1);
	err[sizeof err - 1] = '\0';
	update(fx, m, 0, RCPT_PENDING, 1, ARRIVAL + 60, err);
	char *out = count(fx, ARRIVAL);
	size_t lines = 0;
	for (const char *p = out; *p; p++)
		lines += *p == '\n';
	assert_int_equal(lines, 2 + QUEUE_VIEW_TOP);
	assert_non_null(strstr(out, "the 10 largest of 15:\n"));
	char cut[QUEUE_VIEW_ERROR_MAX + 8];
	memset(cut, 'x', QUEUE_VIEW_ERROR_MAX);
	snprintf(cut + QUEUE_VIEW_ERROR_MAX, 8, "...\n");
	assert_non_null(strstr(out, cut));
	free(out);
}

/* The listing's pieces: out grows to at least want, never by more than
 * one entry beyond it. */
static char *list_in_pieces(struct queue_listing *l, size_t want, size_t piece_max)
{
	struct buf all = BUF_INIT, piece = BUF_INIT;
	bool done;
	do {
		buf_reset(&piece);
		done = queue_view_list_more(l, &piece, want);
		assert_true(piece.len <= piece_max);
		buf_append(&all, piece.p ? piece.p : "", piece.len);
	} while (!done);
	queue_view_list_close(l);
	buf_free(&piece);
	return buf_steal(&all);
}

/* The daemon used to build the whole listing in one buffer (140 MB at a
 * million messages) while the loop waited. In pieces each is bounded, the
 * pieces make the same text, and a walk survives messages leaving the
 * index between two pieces: the one it stood at, one behind, one ahead. */
static void test_listing_is_sent_in_bounded_pieces_not_built_whole(void **state)
{
	struct fixture *fx = *state;
	struct spool_msg *m[20];
	for (size_t i = 0; i < 20; i++) {
		struct envelope e = {.sender = "s@example.org", .nrcpt = 1, .addr = three,
				     .orig = three, .body = simple_body};
		m[i] = submit(fx, &e);
	}
	char *whole = list(fx, ARRIVAL);
	size_t entry = strchr(whole, '\n') - whole + strlen("  to <a@remote.test>\n\n") + 1;
	struct queue_listing l;
	queue_view_list_open(&l, fx->sp, ARRIVAL);
	char *pieces = list_in_pieces(&l, 3 * entry, 4 * entry);
	assert_string_equal(pieces, whole);
	free(pieces);

	char ids[20][QUEUE_ID_LEN + 1];
	for (size_t i = 0; i < 20; i++)
		memcpy(ids[i], m[i]->id, sizeof ids[i]);
	queue_view_list_open(&l, fx->sp, ARRIVAL);
	struct buf first = BUF_INIT;
	assert_false(queue_view_list_more(&l, &first, 3 * entry));
	size_t at = 0;
	while (strcmp(ids[at], l.cur.at->id) != 0)
		at++;
	assert_true(at > 1 && at < 18);
	size_t gone[] = {0, at, at + 2};
	for (size_t k = 0; k < 3; k++)
		update(fx, m[gone[k]], 0, RCPT_DELIVERED, 1, 0, NULL);
	char *rest = list_in_pieces(&l, 3 * entry, 4 * entry);
	struct buf all = BUF_INIT;
	buf_append(&all, first.p, first.len);
	buf_puts(&all, rest);
	for (size_t i = 0; i < 20; i++) {
		bool removed_ahead = i == at || i == at + 2;
		assert_int_equal(occurrences(all.p, ids[i]), removed_ahead ? 0 : 1);
	}
	assert_non_null(strstr(rest, "-- 18 messages"));
	free(rest);
	buf_free(&first);
	buf_free(&all);
	free(whole);
}

/* Past QUEUE_TALLY_DOMAINS distinct domains the table stops growing and
 * the rest are counted together. */
static void test_tally_caps_its_domains(void **state)
{
	(void)state;
	enum { N = QUEUE_TALLY_DOMAINS + 100 };
	static char addr[N][24];
	struct queue_tally *t = queue_tally_new();
	for (size_t i = 0; i < N; i++) {
		snprintf(addr[i], sizeof addr[i], "u@d%zu.test", i);
		queue_tally_add(t, addr[i], 0, NULL);
	}
	queue_tally_add(t, "v@D0.TEST", 3, "451 later");
	queue_tally_add(t, "no-domain", 0, NULL);
	struct tally_dest top[2];
	assert_int_equal(queue_tally_top(t, top, 2), 2);
	assert_int_equal(top[0].rcpts, 2);
	assert_int_equal(top[0].deferred, 1);
	assert_string_equal(top[0].error, "451 later");
	assert_int_equal(top[0].domain_len, 7);
	assert_memory_equal(top[0].domain, "d0.test", 7);
	assert_int_equal(queue_tally_domains(t), QUEUE_TALLY_DOMAINS);
	assert_int_equal(queue_tally_untallied(t), 101);
	queue_tally_free(t);
}

int main(void)
{
	log_set_level(LOG_LVL_WARN);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_empty_queue, setup, spool_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_list_entry, setup, spool_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_held_mark_and_summary, setup, spool_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_ages, setup, spool_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_show, setup, spool_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_header_section_limit, setup, spool_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_hostile_text_neutralised, setup, spool_fixture_teardown),
		cmocka_unit_test(test_safe_bytes),
		cmocka_unit_test(test_unreadable_maildrop_files),
		cmocka_unit_test_setup_teardown(test_count_summary, setup, spool_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_count_output_is_bounded, setup, spool_fixture_teardown),
		cmocka_unit_test(test_tally_caps_its_domains),
		cmocka_unit_test_setup_teardown(test_listing_is_sent_in_bounded_pieces_not_built_whole,
						setup, spool_fixture_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
