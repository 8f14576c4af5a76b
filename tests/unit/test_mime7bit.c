/*
 * Unit tests for deliver/mime7bit: 8-bit content made 7-bit for a server
 * without 8BITMIME. Each case is fed in pieces of several sizes (the two
 * passes with different ones) and must give the same result every time.
 * Inputs and expected outputs are written with "\n", which the test turns
 * into CRLF (inputs marked raw keep their line ends). Every converted
 * output is checked to hold 7-bit octets only.
 */
#include "test_util.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deliver/mime7bit.h"
#include "util/buf.h"

#define E "\xc3\xa9" /* é in UTF-8 */
#define QPE "=C3=A9"
#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

struct case7 {
	const char *name;
	const char *in;
	bool raw;                  /* in keeps its own line ends */
	enum mime7_result result;
	const char *out;           /* NULL: nothing to change (sent as it is) */
};

static const struct case7 cases[] = {
	{"7-bit message needs nothing", "Subject: hi\n\nplain = text  \n", false, MIME7_OK, NULL},
	{"non-MIME message, UTF-8 body", "From: a@example.org\nSubject: hi\n\ncaf" E "\n", false,
	 MIME7_OK,
	 "From: a@example.org\nSubject: hi\nMIME-Version: 1.0\n"
	 "Content-Type: text/plain; charset=utf-8\n"
	 "Content-Transfer-Encoding: quoted-printable\n\ncaf" QPE "\n"},
	{"non-MIME message, Latin-1 body", "Subject: hi\n\ncaf\xe9\n", false, MIME7_OK,
	 "Subject: hi\nMIME-Version: 1.0\nContent-Type: text/plain; charset=unknown-8bit\n"
	 "Content-Transfer-Encoding: quoted-printable\n\ncaf=E9\n"},
	{"text part declared 8bit", "MIME-Version: 1.0\nContent-Transfer-Encoding: 8bit\n"
	 "Content-Type: text/plain; charset=utf-8\n\nx=1 " E "\n", false, MIME7_OK,
	 "MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n"
	 "Content-Transfer-Encoding: quoted-printable\n\nx=3D1 " QPE "\n"},
	{"folded and obsolete encoding field dropped whole",
	 "MIME-Version: 1.0\nContent-Transfer-Encoding :\n 8bit\nX-A: b\n\n" E "\n", false, MIME7_OK,
	 "MIME-Version: 1.0\nX-A: b\nContent-Type: text/plain; charset=utf-8\n"
	 "Content-Transfer-Encoding: quoted-printable\n\n" QPE "\n"},
	{"declared 8bit, 7-bit content: encoded anyway",
	 "MIME-Version: 1.0\nContent-Type: text/plain\nContent-Transfer-Encoding: 8BIT\n\na=b\n",
	 false, MIME7_OK,
	 "MIME-Version: 1.0\nContent-Type: text/plain\n"
	 "Content-Transfer-Encoding: quoted-printable\n\na=3Db\n"},
	{"multipart: 8-bit text part converted, 7-bit part kept",
	 "MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"XX\"\n\npreamble\n"
	 "--XX\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n"
	 "h" E "\n--XX\nContent-Type: text/plain\n\nplain = kept  \n--XX--\nepilogue\n",
	 false, MIME7_OK,
	 "MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"XX\"\n\npreamble\n"
	 "--XX\nContent-Type: text/plain; charset=utf-8\n"
	 "Content-Transfer-Encoding: quoted-printable\n\nh" QPE "\n"
	 "--XX\nContent-Type: text/plain\n\nplain = kept  \n--XX--\nepilogue\n"},
	{"multipart declared 8bit becomes 7bit, never encoded",
	 "MIME-Version: 1.0\nContent-Transfer-Encoding: 8bit\n"
	 "Content-Type: multipart/mixed; boundary=b\n\n--b\n\n" E "\n--b--\n",
	 false, MIME7_OK,
	 "MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=b\n"
	 "Content-Transfer-Encoding: 7bit\n\n--b\nContent-Type: text/plain; charset=utf-8\n"
	 "Content-Transfer-Encoding: quoted-printable\n\n" QPE "\n--b--\n"},
	{"nested multipart, boundary on a folded line",
	 "MIME-Version: 1.0\nContent-Type: multipart/mixed;\n\tboundary=outer\n\n--outer\n"
	 "Content-Type: multipart/alternative; (comment) boundary=\"in ner\"\n\n--in ner\n"
	 "Content-Type: text/plain\n\nascii\n--in ner\nContent-Type: text/html\n\n<p>" E
	 "</p>\n--in ner--\n--outer\nContent-Type: text/plain\n\n" E "\n--outer--\n",
	 false, MIME7_OK,
	 "MIME-Version: 1.0\nContent-Type: multipart/mixed;\n\tboundary=outer\n\n--outer\n"
	 "Content-Type: multipart/alternative; (comment) boundary=\"in ner\"\n\n--in ner\n"
	 "Content-Type: text/plain\n\nascii\n--in ner\nContent-Type: text/html\n"
	 "Content-Transfer-Encoding: quoted-printable\n\n<p>" QPE "</p>\n--in ner--\n"
	 "--outer\nContent-Type: text/plain\nContent-Transfer-Encoding: quoted-printable\n\n" QPE
	 "\n--outer--\n"},
	{"message/rfc822 walked into, its own encoding 7bit",
	 "MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=b\n\n--b\n"
	 "Content-Type: message/rfc822\nContent-Transfer-Encoding: 8bit\n\n"
	 "Subject: inner\n\n" E "\n--b--\n",
	 false, MIME7_OK,
	 "MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=b\n\n--b\n"
	 "Content-Type: message/rfc822\nContent-Transfer-Encoding: 7bit\n\n"
	 "Subject: inner\nMIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n"
	 "Content-Transfer-Encoding: quoted-printable\n\n" QPE "\n--b--\n"},
	{"digest parts are messages by default",
	 "MIME-Version: 1.0\nContent-Type: multipart/digest; boundary=d\n\n--d\n\n"
	 "Subject: one\n\n" E "\n--d--\n",
	 false, MIME7_OK,
	 "MIME-Version: 1.0\nContent-Type: multipart/digest; boundary=d\n\n--d\n\n"
	 "Subject: one\nMIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n"
	 "Content-Transfer-Encoding: quoted-printable\n\n" QPE "\n--d--\n"},
	{"message/global is a leaf", "MIME-Version: 1.0\nContent-Type: message/global\n\n"
	 "Subject: " E "\n", false, MIME7_OK,
	 "MIME-Version: 1.0\nContent-Type: message/global\n"
	 "Content-Transfer-Encoding: quoted-printable\n\nSubject: " QPE "\n"},
	{"trailing white space encoded, inner kept", "Subject: s\n\n" E " a \t\n\t\n", false,
	 MIME7_OK,
	 "Subject: s\nMIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n"
	 "Content-Transfer-Encoding: quoted-printable\n\n" QPE " a =09\n=09\n"},
	{"bare LF lines become CRLF, bare CR is =0D", "Subject: s\r\n\r\na\rb" E "\nc \n", true,
	 MIME7_OK,
	 "Subject: s\nMIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n"
	 "Content-Transfer-Encoding: quoted-printable\n\na=0Db" QPE "\nc=20\n"},
	{"no final line break", "Subject: s\r\n\r\n" E " ", true, MIME7_OK,
	 "Subject: s\nMIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n"
	 "Content-Transfer-Encoding: quoted-printable\n\n" QPE "=20"},
	{"header section without a blank line ends at a non-field line",
	 "Subject: s\nnot a field " E "\nmore\n", false, MIME7_OK,
	 "Subject: s\nMIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n"
	 "Content-Transfer-Encoding: quoted-printable\n\nnot a field " QPE "\nmore\n"},
	{"soft break never starts a delimiter-like line",
	 "Subject: s\n\n" E "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa--XX\n",
	 false, MIME7_OK,
	 "Subject: s\nMIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n"
	 "Content-Transfer-Encoding: quoted-printable\n\n" QPE
	 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa=\n=2D-XX\n"},
	{"declared 7bit but 8-bit: the label is replaced",
	 "MIME-Version: 1.0\nContent-Type: text/plain; charset=iso-8859-1\n"
	 "Content-Transfer-Encoding: 7bit\n\n\xe9t\xe9\n.line\n", false, MIME7_OK,
	 "MIME-Version: 1.0\nContent-Type: text/plain; charset=iso-8859-1\n"
	 "Content-Transfer-Encoding: quoted-printable\n\n=E9t=E9\n.line\n"},
	{"part without a blank line, padded delimiters, upper-case parameter",
	 "MIME-Version: 1.0\nContent-Type: Multipart/Mixed; BOUNDARY=b\n\n--b \t\n"
	 "Content-Type: text/plain\n--b\n\n" E "\n--b-- \nend\n", false, MIME7_OK,
	 "MIME-Version: 1.0\nContent-Type: Multipart/Mixed; BOUNDARY=b\n\n--b \t\n"
	 "Content-Type: text/plain\n--b\nContent-Type: text/plain; charset=utf-8\n"
	 "Content-Transfer-Encoding: quoted-printable\n\n" QPE "\n--b-- \nend\n"},
	{"8-bit header field refused", "Subject: caf" E "\n\nbody " E "\n", false,
	 MIME7_8BIT_HEADER, NULL},
	{"8-bit field in a part header refused",
	 "MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=b\n\n--b\n"
	 "Content-Disposition: attachment; filename=\"" E "\"\n\nx\n--b--\n",
	 false, MIME7_8BIT_HEADER, NULL},
	{"8-bit in a base64 part refused", "MIME-Version: 1.0\nContent-Type: image/png\n"
	 "Content-Transfer-Encoding: base64\n\n" E "\n", false, MIME7_8BIT_ENCODED, NULL},
	{"8-bit in a preamble refused",
	 "MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=b\n\n" E "\n--b\n\nx\n--b--\n",
	 false, MIME7_8BIT_OUTSIDE, NULL},
	{"8-bit in message/delivery-status refused",
	 "MIME-Version: 1.0\nContent-Type: message/delivery-status\n\nX-A: " E "\n", false,
	 MIME7_8BIT_OUTSIDE, NULL},
	{"8-bit in a multipart without boundary refused",
	 "MIME-Version: 1.0\nContent-Type: multipart/mixed\n\n" E "\n", false,
	 MIME7_BAD_MULTIPART, NULL},
	{"7-bit multipart without boundary passes", "MIME-Version: 1.0\n"
	 "Content-Type: multipart/mixed\n\nascii\n", false, MIME7_OK, NULL},
};

/* "\n" -> "\r\n" */
static void crlf(struct buf *b, const char *s)
{
	for (; *s; s++)
		buf_puts(b, *s == '\n' ? "\r\n" : (char[]){*s, 0});
}

static void feed(struct mime7 *m, const struct buf *in, size_t step, struct buf *out)
{
	for (size_t i = 0; i < in->len; i += step) {
		size_t n = in->len - i < step ? in->len - i : step;
		if (out)
			mime7_convert(m, in->p + i, n, out);
		else
			mime7_scan(m, in->p + i, n);
	}
	if (out)
		mime7_convert_end(m, out);
}

/* Both passes; out gets the conversion when one is needed. */
static enum mime7_result run(const struct buf *in, size_t scan_step, size_t conv_step,
			     struct buf *out, bool *needed)
{
	struct mime7 *m = mime7_new();
	feed(m, in, scan_step, NULL);
	enum mime7_result r = mime7_scan_end(m, needed);
	if (r == MIME7_OK && *needed)
		feed(m, in, conv_step, out);
	mime7_free(m);
	return r;
}

/* What goes to a server without 8BITMIME: 7-bit octets only. */
static void check_output(const struct buf *out)
{
	for (size_t i = 0; i < out->len; i++)
		assert_true((unsigned char)out->p[i] < 0x80);
}

static void test_cases(void **state)
{
	(void)state;
	static const size_t steps[] = {1, 2, 3, 7, 64, 100000};
	for (size_t i = 0; i < NELEM(cases); i++) {
		const struct case7 *c = &cases[i];
		struct buf in = BUF_INIT, want = BUF_INIT;
		if (c->raw)
			buf_puts(&in, c->in);
		else
			crlf(&in, c->in);
		if (c->out)
			crlf(&want, c->out);
		for (size_t s = 0; s < NELEM(steps); s++) {
			struct buf out = BUF_INIT;
			bool needed;
			enum mime7_result r = run(&in, steps[s], steps[NELEM(steps) - 1 - s], &out,
						  &needed);
			if (r != c->result)
				fail_msg("%s (step %zu): result %d, want %d", c->name, steps[s], r,
					 c->result);
			if (r == MIME7_OK && needed != (c->out != NULL))
				fail_msg("%s: needed %d", c->name, needed);
			if (c->out && (out.len != want.len || memcmp(out.p, want.p, want.len)))
				fail_msg("%s (step %zu):\n got: %s\nwant: %s", c->name, steps[s],
					 out.p ? out.p : "", want.p);
			check_output(&out);
			buf_free(&out);
		}
		buf_free(&in);
		buf_free(&want);
	}
}

static int hexval(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* RFC 2045 6.7 decoding of a body, strict: only "=XX" and soft breaks. */
static void qp_decode(const char *p, size_t n, struct buf *out)
{
	for (size_t i = 0; i < n; i++) {
		if (p[i] != '=') {
			buf_putc(out, p[i]);
			continue;
		}
		assert_true(i + 2 < n);
		if (p[i + 1] == '\r' && p[i + 2] == '\n') {
			i += 2;
			continue;
		}
		int hi = hexval(p[i + 1]), lo = hexval(p[i + 2]);
		assert_true(hi >= 0 && lo >= 0);
		buf_putc(out, (char)(hi * 16 + lo));
		i += 2;
	}
}

/* Long lines, every octet value and white space everywhere: lines stay
 * within 76 characters and the body decodes to what it was. */
static void test_long_lines_round_trip(void **state)
{
	(void)state;
	struct buf body = BUF_INIT, in = BUF_INIT, out = BUF_INIT, dec = BUF_INIT;
	for (int line = 0; line < 40; line++) {
		for (int k = 0; k < line * 7; k++) {
			unsigned char c = (unsigned char)((line * 31 + k * 7) % 256);
			if (c == '\r' || c == '\n')
				c = k % 2 ? ' ' : '\t';
			buf_putc(&body, (char)c);
		}
		buf_puts(&body, line % 3 ? "\r\n" : " \r\n");
	}
	buf_puts(&body, "." E "\r\n");
	buf_puts(&in, "Subject: long\r\n\r\n");
	buf_append(&in, body.p, body.len);
	bool needed;
	assert_int_equal(run(&in, 4096, 13, &out, &needed), MIME7_OK);
	assert_true(needed);
	check_output(&out);
	const char *start = strstr(out.p, "\r\n\r\n");
	assert_non_null(start);
	start += 4;
	size_t col = 0;
	for (const char *q = start; q < out.p + out.len; q++) {
		col = *q == '\n' ? 0 : col + 1;
		assert_true(col <= 77); /* 76 plus the CR */
		/* No encoded line ends in white space (rule 3). */
		if (*q == '\r')
			assert_true(q == start || (q[-1] != ' ' && q[-1] != '\t'));
	}
	qp_decode(start, (size_t)(out.p + out.len - start), &dec);
	assert_int_equal(dec.len, body.len);
	assert_memory_equal(dec.p, body.p, body.len);
	buf_free(&body);
	buf_free(&in);
	buf_free(&out);
	buf_free(&dec);
}

/* Nesting: MIME7_DEPTH_MAX multiparts inside each other still convert;
 * one more and 8-bit octets at the bottom are refused. */
static void nested(struct buf *in, unsigned levels)
{
	buf_puts(in, "MIME-Version: 1.0\r\n");
	for (unsigned i = 0; i < levels; i++)
		buf_printf(in, "Content-Type: multipart/mixed; boundary=b%ux\r\n\r\n--b%ux\r\n", i, i);
	buf_puts(in, "Content-Type: text/plain\r\n\r\n" E "\r\n");
	for (unsigned i = levels; i-- > 0;)
		buf_printf(in, "--b%ux--\r\n", i);
}

static void test_nesting_limit(void **state)
{
	(void)state;
	struct buf ok = BUF_INIT, deep = BUF_INIT, out = BUF_INIT;
	bool needed;
	nested(&ok, MIME7_DEPTH_MAX);
	assert_int_equal(run(&ok, 100, 100, &out, &needed), MIME7_OK);
	assert_non_null(strstr(out.p, "Content-Transfer-Encoding: quoted-printable\r\n\r\n" QPE));
	check_output(&out);
	nested(&deep, MIME7_DEPTH_MAX + 1);
	assert_int_equal(run(&deep, 100, 100, &out, &needed), MIME7_TOO_DEEP);
	buf_free(&ok);
	buf_free(&deep);
	buf_free(&out);
}

/* Parts past MIME7_PARTS_MAX: refused only when they need converting. */
static void parts(struct buf *in, size_t n, const char *last)
{
	buf_puts(in, "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=p\r\n\r\n");
	for (size_t i = 0; i < n; i++)
		buf_printf(in, "--p\r\n\r\n%s\r\n", i == 0 || i + 1 == n ? last : "x");
	buf_puts(in, "--p--\r\n");
}

static void test_parts_limit(void **state)
{
	(void)state;
	struct buf ok = BUF_INIT, many = BUF_INIT, out = BUF_INIT;
	bool needed;
	parts(&ok, MIME7_PARTS_MAX - 1, E);
	assert_int_equal(run(&ok, 4096, 4096, &out, &needed), MIME7_OK);
	check_output(&out);
	parts(&many, MIME7_PARTS_MAX + 1, E);
	assert_int_equal(run(&many, 4096, 4096, &out, &needed), MIME7_TOO_MANY_PARTS);
	buf_reset(&many);
	parts(&many, MIME7_PARTS_MAX + 1, "ascii");
	assert_int_equal(run(&many, 4096, 4096, &out, &needed), MIME7_OK);
	assert_false(needed);
	buf_free(&ok);
	buf_free(&many);
	buf_free(&out);
}

static void test_reasons(void **state)
{
	(void)state;
	for (int r = MIME7_OK; r <= MIME7_TOO_MANY_PARTS; r++) {
		const char *s = mime7_reason((enum mime7_result)r);
		assert_non_null(s);
		assert_true(strlen(s) > 10 && !strchr(s, '\r') && !strchr(s, '\n'));
	}
	assert_non_null(strstr(mime7_reason(MIME7_8BIT_HEADER), "SMTPUTF8"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cases),
		cmocka_unit_test(test_long_lines_round_trip),
		cmocka_unit_test(test_nesting_limit),
		cmocka_unit_test(test_parts_limit),
		cmocka_unit_test(test_reasons),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
