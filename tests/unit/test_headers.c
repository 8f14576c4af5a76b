/* Unit tests for smtp/headers.c: counting fields of the header section (the
 * Received: hop count of RFC 5321 6.3) and handing over their values (the
 * Delivered-To: loop check), whole and fed an octet at a time. */
#include <string.h>

#include "smtp/headers.h"
#include "test_util.h"

static const struct {
	const char *msg;
	unsigned received;
} counts[] = {
	{"", 0},
	{"Received: a\r\nReceived: b\r\n\r\nbody\r\n", 2},
	/* folded fields count once; a continuation never starts a field */
	{"Received: from a\r\n\tby b\r\nReceived: from c\r\n by d;\r\n date\r\n\r\n", 2},
	{"Subject: x\r\n Received: y\r\n\r\n", 0},
	/* the name in any case; white space before the colon (RFC 5322 4.5) */
	{"RECEIVED: a\r\nreceived: b\r\nReCeIvEd: c\r\nReceived : d\r\n\r\n", 4},
	/* other names that merely start or end like it */
	{"Received-SPF: pass\r\nX-Received: a\r\nReceive: b\r\nReceivedx: c\r\n\r\n", 0},
	/* the empty line ends the section: body lines never count */
	{"Subject: x\r\n\r\nReceived: in the body\r\nReceived: again\r\n", 0},
	{"Received: a\r\n\r\nReceived: in the body\r\n", 1},
	{"\r\nReceived: body only\r\n", 0},
	/* so does a line that is no header field, with or without the empty line */
	{"Received: a\r\nnot a field\r\nReceived: b\r\n", 1},
	{"Received: a\r\n: no name\r\nReceived: b\r\n", 1},
	{"Received: a\r\n\rReceived: b\r\n", 1},
	/* bare LF line ends, as sendmail may be given */
	{"Received: a\nReceived: b\n\nReceived: c\n", 2},
	/* a message that ends inside its header section */
	{"Received: a\r\nReceived: b", 2},
	{"Received:", 1},
	{"Received", 0},
};

static unsigned count_in_pieces(const char *msg, size_t piece)
{
	struct header_scan h;
	header_scan_init(&h, "Received");
	size_t len = strlen(msg), used = 0;
	while (used < len) {
		size_t n = len - used < piece ? len - used : piece;
		size_t k = 0;
		bool field;
		while (k < n)
			k += header_scan_feed(&h, msg + used + k, n - k, &field);
		used += n;
	}
	header_scan_end(&h);
	return h.count;
}

static void test_received_counts(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++) {
		const char *msg = counts[i].msg;
		unsigned want = counts[i].received;
		if (header_count(msg, strlen(msg), "Received") != want ||
		    count_in_pieces(msg, 1) != want || count_in_pieces(msg, 7) != want)
			fail_msg("case %zu (%s): want %u", i, msg, want);
	}
}

static void add_value(const struct header_scan *h, char *out, size_t outsz)
{
	strncat(out, h->value_long ? "LONG" : h->value, outsz - strlen(out) - 1);
	strncat(out, "|", outsz - strlen(out) - 1);
}

/* The values of every Delivered-To: field, joined with '|', "LONG" for one
 * that did not fit; fed in pieces of the given size. */
static void values(const char *msg, size_t piece, char *out, size_t outsz)
{
	struct header_scan h;
	header_scan_init(&h, "Delivered-To");
	out[0] = '\0';
	size_t len = strlen(msg), used = 0;
	while (used < len) {
		size_t n = len - used < piece ? len - used : piece;
		bool field;
		used += header_scan_feed(&h, msg + used, n, &field);
		if (field)
			add_value(&h, out, outsz);
	}
	if (header_scan_end(&h))
		add_value(&h, out, outsz);
}

static void test_values_unfolded_and_trimmed(void **state)
{
	(void)state;
	char big[2000];
	memset(big, 'x', sizeof big);
	memcpy(big, "Delivered-To: ", 14);
	strcpy(big + sizeof big - 40, "\r\nDelivered-To: <a@b>\r\n\r\n");
	static const struct {
		const char *msg;
		const char *want;
	} t[] = {
		{"Delivered-To: alice@example.test\r\nSubject: x\r\n\r\n", "alice@example.test|"},
		{"delivered-to:\r\n\t bob@example.test  \r\nX: y\r\n\r\n", "bob@example.test|"},
		{"Delivered-To: a\r\n b\r\n\tc\r\n\r\nDelivered-To: body\r\n", "a b\tc|"},
		{"Delivered-To: one\r\nDelivered-To: two", "one|two|"},
		{"Delivered-To:\r\n\r\n", "|"},
		{"Subject: Delivered-To: no\r\n\r\n", ""},
	};
	char got[256];
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		for (size_t piece = 1; piece <= 64; piece *= 4) {
			values(t[i].msg, piece, got, sizeof got);
			if (strcmp(got, t[i].want) != 0)
				fail_msg("case %zu, pieces of %zu: got \"%s\", want \"%s\"", i, piece,
					 got, t[i].want);
		}
	}
	values(big, 5, got, sizeof got);
	assert_string_equal(got, "LONG|<a@b>|");
}

/* A value is counted octets: a NUL inside it does not cut it short (a
 * Delivered-To: of "bob@x\0junk" must not pass for "bob@x"). */
static void test_value_with_nul(void **state)
{
	(void)state;
	static const char msg[] = "Delivered-To: b@x\0junk \r\n\r\n";
	struct header_scan h;
	header_scan_init(&h, "Delivered-To");
	bool field = false;
	size_t used = header_scan_feed(&h, msg, sizeof msg - 1, &field);
	assert_true(field);
	assert_int_equal(h.value_len, 8);
	assert_memory_equal(h.value, "b@x\0junk", 9);
	used += header_scan_feed(&h, msg + used, sizeof msg - 1 - used, &field);
	assert_int_equal(used, sizeof msg - 1);
	assert_false(field);
	assert_true(h.ended);
}

static void test_header_has(void **state)
{
	(void)state;
	const char *msg = "From: a\r\nmessage-id: <x@y>\r\n\r\nDate: in the body\r\n";
	assert_true(header_has(msg, strlen(msg), "Message-ID"));
	assert_false(header_has(msg, strlen(msg), "Date"));
	/* only len octets are looked at */
	assert_false(header_has(msg, 8, "Message-ID"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_received_counts),
		cmocka_unit_test(test_values_unfolded_and_trimmed),
		cmocka_unit_test(test_value_with_nul),
		cmocka_unit_test(test_header_has),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
