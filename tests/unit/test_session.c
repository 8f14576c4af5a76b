/* Unit tests for the pure session: event flow around DATA, the spool's
 * answer (250 / 452 / 451), pipelined input held back while waiting,
 * timeouts, shutdown, the error limit. The policy is a fixed table. */
#include <errno.h>
#include <string.h>

#include "smtp/session.h"
#include "smtp/sink_buf.h"
#include "smtp/session_int.h"
#include "test_util.h"

static void fake_rcpt(void *ctx, const struct address *a, struct smtp_verdict *v,
		      struct strlist *targets)
{
	(void)ctx;
	if (strcmp(a->local, "nobody") == 0) {
		v->code = 550;
		v->ext = "5.1.1";
		buf_puts(&v->text, "User unknown");
		return;
	}
	v->code = 250;
	v->ext = "2.1.5";
	buf_puts(&v->text, "Ok");
	char t[300];
	addr_format(a, t, sizeof t);
	strlist_add(targets, t);
}

static void fake_vrfy(void *ctx, const char *arg, struct smtp_verdict *v)
{
	(void)ctx;
	v->code = 250;
	v->ext = "2.1.5";
	buf_printf(&v->text, "<%s@example.test>", arg);
}

static const struct smtp_policy policy = {fake_rcpt, fake_vrfy, fake_vrfy, NULL, NULL};
static const struct session_limits limits = {
	.hostname = "mx.test", .max_message_size = 1000, .max_recipients = 2,
	.max_errors = 5, .vrfy = true, .expn = true,
};

/* What the sessions of these tests wrote as message content. */
static struct sink_buf content;

static struct session *start_with(const struct smtp_policy *pol)
{
	struct session *s = session_new(&limits, pol, NULL, &sink_buf, &content);
	session_start(s);
	buf_reset(session_output(s));
	return s;
}

static struct session *start(void)
{
	return start_with(&policy);
}

static size_t feed(struct session *s, const char *text)
{
	return session_feed(s, text, strlen(text));
}

static void expect_out(struct session *s, const char *want)
{
	struct buf *out = session_output(s);
	assert_string_equal(out->p ? out->p : "", want);
	buf_reset(out);
}

static const char *txn = "EHLO c\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\n"
			 "RCPT TO:<nobody@y.test>\r\nRCPT TO:<b@y.test>\r\nDATA\r\n";

static void test_message_event_and_held_input(void **state)
{
	(void)state;
	struct session *s = start();
	feed(s, txn);
	buf_reset(session_output(s));
	const char *rest = "hi\r\n.\r\nNOOP\r\n";
	size_t used = feed(s, rest);
	assert_int_equal(used, strlen("hi\r\n.\r\n"));
	assert_int_equal(session_event(s), SESSION_EV_MESSAGE);
	const struct envelope *env = session_envelope(s);
	assert_string_equal(env->sender, "a@x.test");
	assert_int_equal(env->rcpt.n, 1); /* duplicate RCPT stored once */
	assert_string_equal(content.content.p, "hi\r\n");
	assert_int_equal(session_content_len(s), 4);
	/* Nothing more is consumed until the spool answers. */
	assert_int_equal(feed(s, "NOOP\r\n"), 0);
	expect_out(s, "");
	session_message_done(s, "QID1", 0);
	expect_out(s, "250 2.0.0 Ok: queued as QID1\r\n");
	assert_int_equal(feed(s, "NOOP\r\n"), 6);
	expect_out(s, "250 2.0.0 Ok\r\n");
	session_free(s);
}

static void test_spool_failure_replies(void **state)
{
	(void)state;
	static const struct {
		int err;
		const char *reply;
	} t[] = {
		{ENOSPC, "452 4.3.1 Insufficient system storage, try again later\r\n"},
		{EIO, "451 4.3.0 Local error in processing, try again later\r\n"},
	};
	for (size_t i = 0; i < 2; i++) {
		struct session *s = start();
		feed(s, txn);
		feed(s, "x\r\n.\r\n");
		buf_reset(session_output(s));
		session_message_done(s, NULL, t[i].err);
		expect_out(s, t[i].reply);
		/* The transaction is gone; a new one may start. */
		feed(s, "RCPT TO:<b@y.test>\r\n");
		expect_out(s, "503 5.5.1 Need MAIL before RCPT\r\n");
		session_free(s);
	}
}

static void test_recipient_limit(void **state)
{
	(void)state;
	struct session *s = start();
	feed(s, "HELO c\r\nMAIL FROM:<>\r\nRCPT TO:<a@y.test>\r\nRCPT TO:<b@y.test>\r\n"
		"RCPT TO:<c@y.test>\r\n");
	expect_out(s, "250 mx.test\r\n250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n250 2.1.5 Ok\r\n"
		      "452 4.5.3 Too many recipients\r\n");
	session_free(s);
}

/* RFC 5321 4.5.3.1.10, RFC 2920: a client may pipeline more RCPTs than the
 * limit; the 452s beyond it are neither errors nor "no progress", so the
 * session stays open and DATA takes the accepted recipients. */
static void test_recipient_limit_452_is_not_an_error(void **state)
{
	(void)state;
	static const struct session_limits lim = {
		.hostname = "mx.test", .max_message_size = 1000, .max_recipients = 2,
		.max_errors = 3, .max_no_progress = 3,
	};
	struct session *s = session_new(&lim, &policy, NULL, &sink_buf, &content);
	struct buf in = BUF_INIT, want = BUF_INIT;
	buf_puts(&in, "EHLO c\r\nMAIL FROM:<a@x.test>\r\n");
	for (int i = 0; i < 10; i++)
		buf_printf(&in, "RCPT TO:<r%d@y.test>\r\n", i);
	buf_puts(&in, "DATA\r\n");
	assert_int_equal(session_feed(s, in.p, in.len), in.len);
	buf_puts(&want, "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n250 2.1.5 Ok\r\n");
	for (int i = 2; i < 10; i++)
		buf_puts(&want, "452 4.5.3 Too many recipients\r\n");
	buf_puts(&want, "354 End data with <CR><LF>.<CR><LF>\r\n");
	struct buf *out = session_output(s);
	const char *ehlo_end = strstr(out->p, "250 DSN\r\n");
	assert_non_null(ehlo_end);
	assert_string_equal(ehlo_end + strlen("250 DSN\r\n"), want.p);
	buf_reset(out);
	feed(s, "hi\r\n.\r\n");
	assert_int_equal(session_event(s), SESSION_EV_MESSAGE);
	assert_int_equal(session_envelope(s)->rcpt.n, 2);
	assert_string_equal(session_envelope(s)->rcpt.v[1].addr, "r1@y.test");
	session_message_done(s, "QID", 0);
	expect_out(s, "250 2.0.0 Ok: queued as QID\r\n");
	buf_free(&in);
	buf_free(&want);
	session_free(s);
}

/* The 452s past the limit are free only up to an overshoot no real list
 * needs: a client that sends RCPTs for ever is closed by the error limit. */
static void test_endless_recipients_past_the_limit_are_closed(void **state)
{
	(void)state;
	static const struct session_limits lim = {
		.hostname = "mx.test", .max_message_size = 1000, .max_recipients = 1,
		.max_errors = 3,
	};
	struct session *s = session_new(&lim, &policy, NULL, &sink_buf, &content);
	feed(s, "EHLO c\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<r@y.test>\r\n");
	int i;
	for (i = 0; i < RCPT_OVERSHOOT_MAX + 10 && session_event(s) != SESSION_EV_CLOSE; i++) {
		buf_reset(session_output(s));
		feed(s, "RCPT TO:<more@y.test>\r\n");
	}
	assert_int_equal(session_event(s), SESSION_EV_CLOSE);
	assert_int_equal(i, RCPT_OVERSHOOT_MAX + 3);
	assert_non_null(strstr(session_output(s)->p, "421 4.7.0 Too many errors"));
	session_free(s);
}

/* RFC 5321 6.3: more Received: fields than max_hops is a mail loop, refused
 * at the end of DATA and of BDAT LAST; only the header section counts. */
static void test_too_many_received_fields_is_a_loop(void **state)
{
	(void)state;
	static const struct session_limits lim = {
		.hostname = "mx.test", .max_message_size = 10000, .max_recipients = 2,
		.max_hops = 3,
	};
	static const struct {
		const char *content;
		bool refused;
	} t[] = {
		{"Received: a\r\nReceived: b\r\nReceived: c\r\n\r\nhi\r\n", false},
		{"Received: a\r\nReceived: b\r\nReceived: c\r\nreceived: d\r\n\r\nhi\r\n", true},
		{"Received: a\r\n\tb\r\nReceived: c\r\n d\r\nReceived: e\r\n f\r\n\r\n", false},
		{"Received: a\r\n\r\nReceived: b\r\nReceived: c\r\nReceived: d\r\n", false},
		{"Received: a\r\nReceived: b\r\nX: c\r\nReceived: c\r\nReceived: d\r\n", true},
	};
	const char *loop = "554 5.4.6 Too many hops: 4 Received: header fields, more than 3; "
			   "mail loop? (RFC 5321 6.3)\r\n";
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		for (int bdat = 0; bdat < 2; bdat++) {
			struct session *s = session_new(&lim, &policy, NULL, &sink_buf, &content);
			feed(s, "HELO c\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\n");
			struct buf in = BUF_INIT;
			if (bdat)
				buf_printf(&in, "BDAT %zu LAST\r\n%s", strlen(t[i].content),
					   t[i].content);
			else
				buf_printf(&in, "DATA\r\n%s.\r\n", t[i].content);
			buf_reset(session_output(s));
			feed(s, in.p);
			struct buf *out = session_output(s);
			const char *got = out->p ? out->p : "";
			if (bdat == 0)
				got += strlen("354 End data with <CR><LF>.<CR><LF>\r\n");
			if (t[i].refused) {
				assert_string_equal(got, loop);
				assert_int_equal(session_event(s), SESSION_EV_NONE);
				feed(s, "RCPT TO:<b@y.test>\r\n");
				assert_non_null(strstr(out->p, "503 5.5.1 Need MAIL before RCPT"));
			} else {
				assert_string_equal(got, "");
				assert_int_equal(session_event(s), SESSION_EV_MESSAGE);
			}
			buf_free(&in);
			session_free(s);
		}
	}
}

/* Feeds a whole transaction with msg as content (DATA or BDAT LAST). */
static struct session *send_content(const struct session_limits *lim, struct sink_buf *sink,
				    const struct buf *msg, int bdat)
{
	struct buf in = BUF_INIT;
	struct session *s = session_new(lim, &policy, NULL, &sink_buf, sink);
	feed(s, "EHLO c\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\n");
	if (bdat)
		buf_printf(&in, "BDAT %zu LAST\r\n%s", msg->len, msg->p);
	else
		buf_printf(&in, "DATA\r\n%s.\r\n", msg->p);
	session_feed(s, in.p, in.len);
	buf_free(&in);
	return s;
}

/* The session never holds a message: its content reaches the sink in
 * pieces of at most a few chunks (bare line ends, which double, included),
 * all of it by the end, by DATA and by BDAT alike; the hop count still sees
 * a header section longer than a chunk; content that will not be handed
 * over (a refusal, RSET between BDAT chunks) is discarded. */
static void test_content_streams_to_the_sink_in_bounded_pieces(void **state)
{
	(void)state;
	struct session_limits lim = {
		.hostname = "mx.test", .max_message_size = 1 << 20, .max_recipients = 2,
		.max_hops = 12,
	};
	struct buf msg = BUF_INIT, want = BUF_INIT;
	for (int i = 0; i < 12; i++) {
		buf_printf(&msg, "Received: hop %d ", i);
		for (int k = 0; k < 900; k++)
			buf_putc(&msg, (char)('a' + k % 26));
		buf_puts(&msg, "\r\n");
	}
	buf_puts(&msg, "\r\n");
	buf_append(&want, msg.p, msg.len);
	for (int i = 0; i < 20000; i++) {
		buf_puts(&msg, "x\n"); /* a bare LF: stored as CRLF */
		buf_puts(&want, "x\r\n");
	}
	buf_puts(&msg, "end\r\n"); /* the end of data needs a real CRLF before it */
	buf_puts(&want, "end\r\n");
	for (int bdat = 0; bdat < 2; bdat++) {
		struct sink_buf sink = {0};
		lim.max_hops = 12;
		struct session *s = send_content(&lim, &sink, &msg, bdat);
		assert_int_equal(session_event(s), SESSION_EV_MESSAGE);
		assert_int_equal(sink.begins, 1);
		assert_true(sink.largest <= 3 * SESSION_CONTENT_CHUNK);
		assert_int_equal(session_content_len(s), want.len);
		assert_int_equal(sink.content.len, want.len);
		assert_memory_equal(sink.content.p, want.p, want.len);
		session_message_done(s, "QID", 0);
		assert_int_equal(sink.discards, 1);
		session_free(s);
		/* Twelve Received: fields, the last past the first chunk: a loop. */
		lim.max_hops = 11;
		s = send_content(&lim, &sink, &msg, bdat);
		assert_non_null(strstr(session_output(s)->p, "554 5.4.6 Too many hops: 12"));
		assert_int_equal(sink.discards, 2);
		session_free(s);
		sink_buf_free(&sink);
	}
	struct sink_buf sink = {0};
	struct session *s = session_new(&lim, &policy, NULL, &sink_buf, &sink);
	feed(s, "EHLO c\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nBDAT 3\r\nabc"
		"RSET\r\n");
	assert_int_equal(sink.begins, 1);
	assert_int_equal(sink.discards, 1);
	session_free(s);
	assert_int_equal(sink.discards, 1);
	sink_buf_free(&sink);
	buf_free(&msg);
	buf_free(&want);
}

static void test_timeout_and_shutdown(void **state)
{
	(void)state;
	struct session *s = start();
	session_timeout(s);
	expect_out(s, "421 4.4.2 Timeout exceeded, closing connection\r\n");
	assert_int_equal(session_event(s), SESSION_EV_CLOSE);
	assert_int_equal(feed(s, "NOOP\r\n"), 0);
	session_free(s);
	s = start();
	session_shutdown(s);
	expect_out(s, "421 4.3.2 mx.test Service shutting down, closing connection\r\n");
	assert_int_equal(session_event(s), SESSION_EV_CLOSE);
	session_free(s);
}

static void test_error_limit_closes(void **state)
{
	(void)state;
	struct session *s = start();
	feed(s, "X\r\nX\r\nX\r\nX\r\nX\r\nNOOP\r\n");
	struct buf *out = session_output(s);
	assert_non_null(strstr(out->p, "421 4.7.0 Too many errors"));
	assert_null(strstr(out->p, "250"));
	assert_int_equal(session_event(s), SESSION_EV_CLOSE);
	session_free(s);
}

static void test_bare_lf_commands_and_split_lines(void **state)
{
	(void)state;
	struct session *s = start();
	const char *in = "NOOP\nNO";
	assert_int_equal(feed(s, in), strlen(in));
	expect_out(s, "250 2.0.0 Ok\r\n");
	feed(s, "OP\r");
	expect_out(s, "");
	feed(s, "\n");
	expect_out(s, "250 2.0.0 Ok\r\n");
	session_free(s);
}

static void test_rset_clears_transaction(void **state)
{
	(void)state;
	struct session *s = start();
	feed(s, "EHLO c\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nRSET\r\nDATA\r\n");
	struct buf *out = session_output(s);
	assert_non_null(strstr(out->p, "503 5.5.1 Need MAIL and RCPT before DATA\r\n"));
	session_free(s);
}

/* Every sender's domain is looked up, but for the null sender. */
static bool fake_sender_lookup(void *ctx, const char *login, const struct address *sender)
{
	(void)ctx;
	(void)login;
	return !sender->is_null;
}

static const struct smtp_policy lookup_policy = {fake_rcpt, fake_vrfy, fake_vrfy, NULL,
						 fake_sender_lookup};

static void test_sender_lookup_holds_pipelined_input(void **state)
{
	(void)state;
	struct session *s = start_with(&lookup_policy);
	const char *in = "EHLO c\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\n";
	size_t used = feed(s, in);
	assert_int_equal(used, strlen(in) - strlen("RCPT TO:<b@y.test>\r\n"));
	assert_int_equal(session_event(s), SESSION_EV_SENDER);
	assert_string_equal(session_sender_domain(s), "x.test");
	buf_reset(session_output(s));
	assert_int_equal(feed(s, "RCPT TO:<b@y.test>\r\n"), 0);
	session_sender_done(s, SENDER_OK);
	expect_out(s, "250 2.1.0 Ok\r\n");
	assert_int_equal(session_event(s), SESSION_EV_NONE);
	feed(s, "RCPT TO:<b@y.test>\r\n");
	expect_out(s, "250 2.1.5 Ok\r\n");
	/* No answer is owed any more: a late one changes nothing. */
	session_sender_done(s, SENDER_UNKNOWN);
	expect_out(s, "");
	session_free(s);
}

static void test_sender_lookup_refusals(void **state)
{
	(void)state;
	static const struct {
		enum sender_result r;
		const char *reply;
	} t[] = {
		{SENDER_TEMPFAIL, "450 4.1.8 <a@x.test>: Sender address rejected: Domain could not "
				  "be looked up, try again later\r\n"},
		{SENDER_UNKNOWN, "550 5.1.8 <a@x.test>: Sender address rejected: Domain not found\r\n"},
		{SENDER_NULL_MX, "550 5.7.27 <a@x.test>: Sender address rejected: Domain accepts no "
				 "mail (null MX)\r\n"},
	};
	struct session *s = start_with(&lookup_policy);
	feed(s, "EHLO c\r\n");
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		buf_reset(session_output(s));
		feed(s, "MAIL FROM:<a@x.test>\r\n");
		expect_out(s, "");
		session_sender_done(s, t[i].r);
		expect_out(s, t[i].reply);
	}
	/* No transaction began; the null sender needs no lookup. */
	feed(s, "RCPT TO:<b@y.test>\r\nMAIL FROM:<>\r\n");
	expect_out(s, "503 5.5.1 Need MAIL before RCPT\r\n250 2.1.0 Ok\r\n");
	session_free(s);
}

static void test_sender_refusals_count_as_errors(void **state)
{
	(void)state;
	struct session *s = start_with(&lookup_policy);
	feed(s, "HELO c\r\n");
	for (int i = 0; i < 5; i++) {
		feed(s, "MAIL FROM:<a@x.test>\r\n");
		session_sender_done(s, SENDER_UNKNOWN);
	}
	assert_non_null(strstr(session_output(s)->p, "421 4.7.0 Too many errors"));
	assert_int_equal(session_event(s), SESSION_EV_CLOSE);
	session_free(s);
}

static void test_shutdown_while_sender_lookup_pending(void **state)
{
	(void)state;
	struct session *s = start_with(&lookup_policy);
	feed(s, "HELO c\r\nMAIL FROM:<a@x.test>\r\n");
	buf_reset(session_output(s));
	session_shutdown(s);
	expect_out(s, "421 4.3.2 mx.test Service shutting down, closing connection\r\n");
	assert_int_equal(session_event(s), SESSION_EV_CLOSE);
	session_sender_done(s, SENDER_OK);
	expect_out(s, "");
	session_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_message_event_and_held_input),
		cmocka_unit_test(test_spool_failure_replies),
		cmocka_unit_test(test_recipient_limit),
		cmocka_unit_test(test_recipient_limit_452_is_not_an_error),
		cmocka_unit_test(test_endless_recipients_past_the_limit_are_closed),
		cmocka_unit_test(test_too_many_received_fields_is_a_loop),
		cmocka_unit_test(test_content_streams_to_the_sink_in_bounded_pieces),
		cmocka_unit_test(test_timeout_and_shutdown),
		cmocka_unit_test(test_error_limit_closes),
		cmocka_unit_test(test_bare_lf_commands_and_split_lines),
		cmocka_unit_test(test_rset_clears_transaction),
		cmocka_unit_test(test_sender_lookup_holds_pipelined_input),
		cmocka_unit_test(test_sender_lookup_refusals),
		cmocka_unit_test(test_sender_refusals_count_as_errors),
		cmocka_unit_test(test_shutdown_while_sender_lookup_pending),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
