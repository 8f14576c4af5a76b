/*
 * Unit tests for bounce/report: delivery status notifications.
 *
 * Every report is parsed back the way a receiver would: CRLF lines of at most
 * 998 octets, the top-level header section, a multipart/report whose
 * boundary occurs nowhere but in its delimiters, exactly three parts, and
 * the RFC 3464 blocks of the delivery-status part. Every header block may
 * hold only the fields the report is meant to write, so an injected field
 * fails the parse. Inputs to report_header_len are heap copies of exactly
 * their length, so AddressSanitizer catches a read past len.
 */
#include "test_util.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "bounce/report.h"
#include "smtp/received.h"
#include "util/buf.h"

#define HOST "mx.petrel.test"
#define QID "4XQZ7K2M9P3R5T8V"
#define NOW ((time_t)1767225600) /* Thu, 1 Jan 2026 00:00:00 +0000 */
#define ARRIVAL (NOW - 3600)
#define FIRST_BOUNDARY "=_" QID ".1767225600.0000"
#define ORIG_HEADERS                                                                 \
	"Received: from client.example ([192.0.2.7])\n\tby " HOST " (Petrel)\n"    \
	"From: Alice <alice@example.com>\nSubject: Hello\n\n"
#define ORIG_HEADERS_CRLF                                                            \
	"Received: from client.example ([192.0.2.7])\r\n\tby " HOST " (Petrel)\r\n" \
	"From: Alice <alice@example.com>\r\nSubject: Hello\r\n\r\n"
#define ORIG ORIG_HEADERS "Body line one.\nBody line two.\n"

#define MAX_FIELDS 24
#define MAX_RCPT 4
#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* One header-style block, folded lines unfolded (RFC 5322 2.2.3). */
struct fields {
	size_t n;
	char *name[MAX_FIELDS];
	struct buf value[MAX_FIELDS];
};

struct part {
	struct fields hdr;
	const char *body;
	size_t body_len;
};

struct parsed {
	struct fields top;
	char boundary[128];
	struct part part[3];
	struct fields smsg;              /* RFC 3464 per-message fields */
	struct fields srcpt[MAX_RCPT];   /* per-recipient blocks */
	size_t nrcpt;
};

static const char *const top_names[] = {"From", "To", "Subject", "Date", "Message-ID",
					"Auto-Submitted", "MIME-Version", "Content-Type",
					"Content-Transfer-Encoding"};
static const char *const part_names[] = {"Content-Type", "Content-Description",
					 "Content-Transfer-Encoding"};
static const char *const msg_names[] = {"Reporting-MTA", "X-Petrel-Queue-ID",
					"Original-Envelope-Id", "Arrival-Date"};
static const char *const rcpt_names[] = {"Original-Recipient", "Final-Recipient", "Action",
					 "Status", "Remote-MTA", "Diagnostic-Code",
					 "Last-Attempt-Date", "Will-Retry-Until"};

/* Every line ends in CRLF (no bare CR or LF) and holds at most 998 octets. */
static void check_lines(const char *p, size_t n)
{
	size_t col = 0;

	assert_true(n >= 2 && p[n - 2] == '\r' && p[n - 1] == '\n');
	for (size_t i = 0; i < n; i++) {
		if (p[i] == '\r') {
			assert_true(i + 1 < n && p[i + 1] == '\n');
			i++;
			col = 0;
			continue;
		}
		assert_int_not_equal(p[i], '\n');
		col++;
		if (col > 998)
			fail_msg("line over 998 octets at offset %zu", i);
	}
}

static size_t count_str(const char *p, size_t n, const char *s)
{
	size_t count = 0, sl = strlen(s);

	for (const char *q = p, *hit; (hit = memmem(q, (size_t)(p + n - q), s, sl)); q = hit + 1)
		count++;
	return count;
}

static bool field_name_ok(const char *p, size_t n)
{
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)p[i] <= ' ' || (unsigned char)p[i] >= 0x7f)
			return false;
	return true;
}

/* Appends one line to f: a continuation or a new "Name: value" field. */
static void add_line(struct fields *f, const char *p, size_t n)
{
	if (p[0] == ' ' || p[0] == '\t') {
		assert_true(f->n > 0);
		buf_append(&f->value[f->n - 1], p, n);
		return;
	}
	const char *colon = memchr(p, ':', n);

	assert_non_null(colon);
	assert_true(field_name_ok(p, (size_t)(colon - p)));
	assert_true(f->n < MAX_FIELDS);
	f->name[f->n] = xstrndup(p, (size_t)(colon - p));
	buf_init(&f->value[f->n]);
	colon++;
	while (colon < p + n && *colon == ' ')
		colon++;
	buf_append(&f->value[f->n], colon, (size_t)(p + n - colon));
	f->n++;
}

/* Parses lines of p[0..n) up to an empty line or the end; returns the
 * octets consumed (the empty line included). */
static size_t parse_fields(const char *p, size_t n, struct fields *f)
{
	size_t i = 0;

	memset(f, 0, sizeof *f);
	while (i < n) {
		const char *eol = memmem(p + i, n - i, "\r\n", 2);
		size_t end = eol ? (size_t)(eol - p) : n, next = eol ? end + 2 : n;

		if (end == i)
			return next;
		add_line(f, p + i, end - i);
		i = next;
	}
	return i;
}

static void free_fields(struct fields *f)
{
	for (size_t i = 0; i < f->n; i++) {
		free(f->name[i]);
		buf_free(&f->value[i]);
	}
	f->n = 0;
}

static const char *get(const struct fields *f, const char *name)
{
	for (size_t i = 0; i < f->n; i++)
		if (strcasecmp(f->name[i], name) == 0)
			return f->value[i].p;
	return NULL;
}

/* Every field is one of names, and none appears twice. */
static void check_names(const struct fields *f, const char *const *names, size_t nnames)
{
	for (size_t i = 0; i < f->n; i++) {
		bool known = false;

		for (size_t k = 0; k < nnames; k++)
			known = known || strcasecmp(f->name[i], names[k]) == 0;
		if (!known)
			fail_msg("unexpected field \"%s\"", f->name[i]);
		for (size_t j = 0; j < i; j++)
			if (strcasecmp(f->name[i], f->name[j]) == 0)
				fail_msg("field \"%s\" twice", f->name[i]);
	}
}

static void get_boundary(const struct fields *top, char *out, size_t size)
{
	const char *ct = get(top, "Content-Type"), *b, *q;

	assert_non_null(ct);
	assert_true(strncmp(ct, "multipart/report; report-type=delivery-status;", 46) == 0);
	b = strstr(ct, "boundary=\"");
	assert_non_null(b);
	b += 10;
	q = strchr(b, '"');
	assert_non_null(q);
	assert_true(q > b && (size_t)(q - b) <= 70 && (size_t)(q - b) < size);
	memcpy(out, b, (size_t)(q - b));
	out[q - b] = '\0';
}

/* Splits body at the delimiters: exactly three parts, then the close. */
static void split_parts(const char *body, size_t n, struct parsed *ps)
{
	char delim[160];
	size_t dl = (size_t)snprintf(delim, sizeof delim, "\r\n--%s", ps->boundary);
	const char *end = body + n, *p = memmem(body, n, delim, dl);
	size_t nparts = 0;

	assert_non_null(p);
	for (;;) {
		p += dl;
		if (end - p >= 4 && memcmp(p, "--\r\n", 4) == 0) {
			assert_ptr_equal(p + 4, end);
			break;
		}
		assert_true(end - p >= 2 && memcmp(p, "\r\n", 2) == 0);
		p += 2;
		const char *q = memmem(p, (size_t)(end - p), delim, dl);

		assert_non_null(q);
		assert_true(nparts < 3);
		size_t used = parse_fields(p, (size_t)(q - p), &ps->part[nparts].hdr);

		ps->part[nparts].body = p + used;
		ps->part[nparts].body_len = (size_t)(q - p) - used;
		nparts++;
		p = q;
	}
	assert_int_equal(nparts, 3);
}

/* The delivery-status body: per-message block, then one per recipient. */
static void split_status(const struct part *pt, struct parsed *ps)
{
	const char *p = pt->body, *end = pt->body + pt->body_len;

	p += parse_fields(p, (size_t)(end - p), &ps->smsg);
	check_names(&ps->smsg, msg_names, NELEM(msg_names));
	while (p < end) {
		assert_true(ps->nrcpt < MAX_RCPT);
		p += parse_fields(p, (size_t)(end - p), &ps->srcpt[ps->nrcpt]);
		check_names(&ps->srcpt[ps->nrcpt], rcpt_names, NELEM(rcpt_names));
		assert_non_null(get(&ps->srcpt[ps->nrcpt], "Final-Recipient"));
		ps->nrcpt++;
	}
}

static void parse_report(const struct buf *m, struct parsed *ps)
{
	size_t used;

	memset(ps, 0, sizeof *ps);
	check_lines(m->p, m->len);
	used = parse_fields(m->p, m->len, &ps->top);
	check_names(&ps->top, top_names, NELEM(top_names));
	get_boundary(&ps->top, ps->boundary, sizeof ps->boundary);
	/* Four delimiters and the Content-Type parameter, nowhere else. */
	assert_int_equal(count_str(m->p, m->len, ps->boundary), 5);
	split_parts(m->p + used, m->len - used, ps);
	for (size_t i = 0; i < 3; i++)
		check_names(&ps->part[i].hdr, part_names, NELEM(part_names));
	assert_string_equal(get(&ps->part[0].hdr, "Content-Type"), "text/plain; charset=us-ascii");
	assert_string_equal(get(&ps->part[1].hdr, "Content-Type"), "message/delivery-status");
	split_status(&ps->part[1], ps);
}

static void free_parsed(struct parsed *ps)
{
	free_fields(&ps->top);
	for (size_t i = 0; i < 3; i++)
		free_fields(&ps->part[i].hdr);
	free_fields(&ps->smsg);
	for (size_t i = 0; i < ps->nrcpt; i++)
		free_fields(&ps->srcpt[i]);
}

static struct report_info base_info(const struct report_rcpt *rcpt, size_t nrcpt)
{
	return (struct report_info){
		.reporting_mta = HOST, .queue_id = QID, .envid = "ENV-1",
		.to = "alice@example.com", .arrival = ARRIVAL, .now = NOW,
		.retry_hours = 48, .rcpt = rcpt, .nrcpt = nrcpt,
		.original = ORIG, .original_len = sizeof(ORIG) - 1, .full = 0,
	};
}

/* The text part with every run of white space (line ends too) one space. */
static char *flat_text(const struct part *pt)
{
	char *s = xmalloc(pt->body_len + 1);
	size_t n = 0;

	for (size_t i = 0; i < pt->body_len; i++) {
		bool ws = strchr(" \t\r\n", pt->body[i]) != NULL;

		if (!ws)
			s[n++] = pt->body[i];
		else if (n > 0 && s[n - 1] != ' ')
			s[n++] = ' ';
	}
	s[n] = '\0';
	return s;
}

static void assert_date(const char *got, time_t when)
{
	struct buf want = BUF_INIT;

	rfc5322_date(&want, when);
	assert_non_null(got);
	assert_string_equal(got, want.p);
	buf_free(&want);
}

static void assert_part3(const struct parsed *ps, const char *type, const char *want)
{
	assert_string_equal(get(&ps->part[2].hdr, "Content-Type"), type);
	assert_int_equal(ps->part[2].body_len, strlen(want));
	assert_memory_equal(ps->part[2].body, want, strlen(want));
}

/* The fields RFC 3464 2.3 asks for, from what the recipient says. */
static void check_rcpt_block(const struct fields *f, const struct report_rcpt *r,
			     unsigned retry_hours)
{
	static const char *const action[] = {"failed", "delayed", "delivered"};
	char want[512];

	snprintf(want, sizeof want, "rfc822;%s", r->addr);
	assert_string_equal(get(f, "Final-Recipient"), want);
	if (r->orig) {
		snprintf(want, sizeof want, "rfc822;%s", r->orig);
		assert_string_equal(get(f, "Original-Recipient"), want);
	} else {
		assert_null(get(f, "Original-Recipient"));
	}
	assert_string_equal(get(f, "Action"), action[r->action]);
	assert_string_equal(get(f, "Status"), r->status);
	if (r->remote_mta) {
		snprintf(want, sizeof want, "dns; %s", r->remote_mta);
		assert_string_equal(get(f, "Remote-MTA"), want);
	} else {
		assert_null(get(f, "Remote-MTA"));
	}
	snprintf(want, sizeof want, "%s; %s", r->remote_mta ? "smtp" : "X-Petrel", r->diagnostic);
	assert_string_equal(get(f, "Diagnostic-Code"), want);
	assert_date(get(f, "Last-Attempt-Date"), r->last_attempt);
	if (r->action == REPORT_DELAYED && retry_hours)
		assert_date(get(f, "Will-Retry-Until"), ARRIVAL + (time_t)retry_hours * 3600);
	else
		assert_null(get(f, "Will-Retry-Until"));
}

static void check_top(const struct fields *top, const char *subject, const char *tag)
{
	char want[256];

	assert_string_equal(get(top, "From"), "Mail Delivery System <MAILER-DAEMON@" HOST ">");
	assert_string_equal(get(top, "To"), "<alice@example.com>");
	assert_string_equal(get(top, "Subject"), subject);
	assert_date(get(top, "Date"), NOW);
	snprintf(want, sizeof want, "<%s.%s.%lld@%s>", QID, tag, (long long)NOW, HOST);
	assert_string_equal(get(top, "Message-ID"), want);
	assert_string_equal(get(top, "Auto-Submitted"), "auto-replied");
	assert_string_equal(get(top, "MIME-Version"), "1.0");
	assert_null(get(top, "Content-Transfer-Encoding"));
}

struct kind_case {
	const char *name;
	struct report_rcpt rcpt[2];
	size_t nrcpt;
	unsigned retry_hours;
	const char *subject;
	const char *tag;
	const char *text[6]; /* phrases the text part must hold */
};

static const struct kind_case kind_cases[] = {
	{"failure, two recipients",
	 {{"bob@example.net", NULL, REPORT_FAILED, "5.1.1", "mx.example.net",
	   "550 5.1.1 <bob@example.net>: Recipient address rejected", NOW - 60},
	  {"carol@example.net", "team@example.org", REPORT_FAILED, "5.2.2", "mx2.example.net",
	   "552 5.2.2 Mailbox full", NOW}},
	 2, 48, "Undelivered Mail Returned to Sender", "bounce",
	 {"queue ID " QID, "could not be delivered", "permanent error",
	  "<bob@example.net>: mx.example.net said: 550 5.1.1", "<carol@example.net> "
	  "(originally <team@example.org>): mx2.example.net said: 552 5.2.2 Mailbox full",
	  "header section of your message"}},
	{"delay warning",
	 {{"dave@example.net", NULL, REPORT_DELAYED, "4.4.1", NULL,
	   "connect to mx.example.net: Connection timed out", NOW}},
	 1, 48, "Delayed Mail (still being retried)", "delay",
	 {"queue ID " QID, "not been delivered yet", "until Fri, 2 Jan 2026 23:00:00 +0000",
	  "48 hours", "<dave@example.net>: connect to mx.example.net: Connection timed out",
	  "(status 4.4.1)"}},
	{"delay warning, no horizon",
	 {{"dave@example.net", NULL, REPORT_DELAYED, "4.4.1", NULL, "Connection refused", NOW}},
	 1, 0, "Delayed Mail (still being retried)", "delay",
	 {"We will keep trying", "<dave@example.net>", NULL}},
	{"delivered",
	 {{"erin@example.net", NULL, REPORT_DELIVERED, "2.0.0", "mx.example.net",
	   "250 2.0.0 Ok: queued as 12345", NOW}},
	 1, 48, "Successful Mail Delivery Report", "success",
	 {"was delivered", "<erin@example.net>: mx.example.net said: 250 2.0.0", NULL}},
	{"failed and delayed together",
	 {{"bob@example.net", NULL, REPORT_FAILED, "4.4.7", NULL,
	   "delivery time expired", NOW},
	  {"dave@example.net", NULL, REPORT_DELAYED, "4.4.1", "mx.example.net",
	   "421 4.4.1 try later", NOW}},
	 2, 24, "Undelivered Mail Returned to Sender", "bounce",
	 {"could not be delivered", "not been delivered yet", "24 hours",
	  "<bob@example.net>: delivery time expired (status 4.4.7)", NULL}},
};

static void run_kind_case(const struct kind_case *c)
{
	struct report_info ri = base_info(c->rcpt, c->nrcpt);
	struct buf out = BUF_INIT;
	struct parsed ps;
	char *text;

	ri.retry_hours = c->retry_hours;
	report_compose(&out, &ri);
	parse_report(&out, &ps);
	check_top(&ps.top, c->subject, c->tag);
	assert_string_equal(get(&ps.smsg, "Reporting-MTA"), "dns; " HOST);
	assert_string_equal(get(&ps.smsg, "X-Petrel-Queue-ID"), QID);
	assert_string_equal(get(&ps.smsg, "Original-Envelope-Id"), "ENV-1");
	assert_date(get(&ps.smsg, "Arrival-Date"), ARRIVAL);
	assert_int_equal(ps.nrcpt, c->nrcpt);
	for (size_t i = 0; i < c->nrcpt; i++)
		check_rcpt_block(&ps.srcpt[i], &c->rcpt[i], c->retry_hours);
	text = flat_text(&ps.part[0]);
	for (size_t i = 0; i < NELEM(c->text) && c->text[i]; i++)
		if (!strstr(text, c->text[i]))
			fail_msg("%s: text lacks \"%s\"", c->name, c->text[i]);
	free(text);
	assert_part3(&ps, "text/rfc822-headers", ORIG_HEADERS_CRLF);
	free_parsed(&ps);
	buf_free(&out);
}

static void test_kinds(void **state)
{
	(void)state;
	for (size_t i = 0; i < NELEM(kind_cases); i++)
		run_kind_case(&kind_cases[i]);
}
