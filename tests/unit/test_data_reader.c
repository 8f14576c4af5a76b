/* Unit tests for smtp/data_reader: end of data, transparency, smuggling
 * variants, limits, and feeding in arbitrary pieces. */
#include <string.h>

#include "smtp/data_reader.h"
#include "test_util.h"

struct dr_case {
	const char *name;
	const char *in;
	size_t in_len;       /* 0: strlen(in) */
	const char *content; /* expected stored content */
	size_t consumed;     /* 0: whole input */
	bool done;
	bool too_long;
};

#define C(n, i, c, d) {n, i, 0, c, 0, d, false}

static const struct dr_case cases[] = {
	C("empty message", ".\r\n", "", true),
	C("one line", "hello\r\n.\r\n", "hello\r\n", true),
	C("unstuff", "..x\r\n...\r\n.\r\n", ".x\r\n..\r\n", true),
	C("no end yet", "hello\r\n", "hello\r\n", false),
	C("8-bit kept", "caf\xc3\xa9\r\n.\r\n", "caf\xc3\xa9\r\n", true),
	C("bare LF dot LF is text", "a\n.\nb\r\n.\r\n", "a\r\n.\r\nb\r\n", true),
	C("bare CR dot CR is text", "a\r.\rb\r\n.\r\n", "a\r\n.\r\nb\r\n", true),
	C("LF dot CRLF is text", "a\n.\r\nb\r\n.\r\n", "a\r\n.\r\nb\r\n", true),
	C("CR dot CRLF is text", "a\r.\r\nb\r\n.\r\n", "a\r\n.\r\nb\r\n", true),
	C("CRLF dot LF is text", "a\r\n.\nb\r\n.\r\n", "a\r\n.\r\nb\r\n", true),
	C("CRLF dot CR CRLF is text", "a\r\n.\r\r\nb\r\n.\r\n", "a\r\n.\r\n\r\nb\r\n", true),
	C("bare CR CR LF", "a\r\r\n.\r\n", "a\r\n\r\n", true),
	C("dot only after real CRLF", "x\n..y\r\n.\r\n", "x\r\n..y\r\n", true),
};

static void feed_all(struct data_reader *r, const char *in, size_t n, size_t step,
		     struct buf *out, size_t *used, bool *done)
{
	*used = 0;
	*done = false;
	while (*used < n && !*done) {
		size_t len = n - *used < step ? n - *used : step;
		*used += data_reader_feed(r, in + *used, len, out, done);
	}
}

static void test_cases(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const struct dr_case *c = &cases[i];
		size_t n = c->in_len ? c->in_len : strlen(c->in);
		/* Every piece size must give the same result. */
		for (size_t step = 1; step <= n; step++) {
			struct data_reader r;
			struct buf out = BUF_INIT;
			size_t used;
			bool done;
			data_reader_init(&r, 1000000);
			feed_all(&r, c->in, n, step, &out, &used, &done);
			if (done != c->done || strcmp(out.p ? out.p : "", c->content) != 0)
				fail_msg("%s (step %zu): done=%d content=\"%s\"", c->name, step, done,
					 out.p ? out.p : "");
			assert_int_equal(used, c->consumed ? c->consumed : n);
			buf_free(&out);
		}
	}
}

static void test_stops_at_end(void **state)
{
	(void)state;
	const char *in = "body\r\n.\r\nMAIL FROM:<a@b>\r\n";
	struct data_reader r;
	struct buf out = BUF_INIT;
	bool done;
	data_reader_init(&r, 100);
	size_t used = data_reader_feed(&r, in, strlen(in), &out, &done);
	assert_true(done);
	assert_int_equal(used, strlen("body\r\n.\r\n"));
	buf_free(&out);
}

static void test_size_limit(void **state)
{
	(void)state;
	struct data_reader r;
	struct buf out = BUF_INIT;
	bool done;
	data_reader_init(&r, 10);
	const char *in = "0123456789\r\nabc\r\n.\r\n";
	data_reader_feed(&r, in, strlen(in), &out, &done);
	assert_true(done);
	assert_true(r.too_big);
	assert_true(out.len <= 10);
	buf_free(&out);
}

static void test_line_limit(void **state)
{
	(void)state;
	char in[1100];
	for (size_t len = 998; len <= 999; len++) {
		memset(in, 'x', len);
		memcpy(in + len, "\r\n.\r\n", 5);
		struct data_reader r;
		struct buf out = BUF_INIT;
		bool done;
		data_reader_init(&r, 1 << 20);
		data_reader_feed(&r, in, len + 5, &out, &done);
		assert_true(done);
		/* 998 + CRLF = 1000 octets is the limit (RFC 5321 4.5.3.1.6). */
		assert_int_equal(r.line_too_long, len == 999);
		buf_free(&out);
	}
}

static void test_nul_kept(void **state)
{
	(void)state;
	const char in[] = "a\0b\r\n.\r\n";
	struct data_reader r;
	struct buf out = BUF_INIT;
	bool done;
	data_reader_init(&r, 100);
	data_reader_feed(&r, in, sizeof in - 1, &out, &done);
	assert_true(done);
	assert_int_equal(out.len, 5);
	assert_memory_equal(out.p, "a\0b\r\n", 5);
	buf_free(&out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cases),
		cmocka_unit_test(test_stops_at_end),
		cmocka_unit_test(test_size_limit),
		cmocka_unit_test(test_line_limit),
		cmocka_unit_test(test_nul_kept),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
