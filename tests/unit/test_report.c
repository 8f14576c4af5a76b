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

/* A recipient for the tables below: address, original, ORCPT. */
#define RCPT(addr, orig, orcpt) (&(struct rcpt){(addr), (orig), 0, (orcpt)})

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
	static const char *const action[] = {"failed", "delayed", "delivered", "relayed"};
	char want[512];

	snprintf(want, sizeof want, "rfc822;%s", r->to->addr);
	assert_string_equal(get(f, "Final-Recipient"), want);
	if (r->to->orcpt) {
		assert_string_equal(get(f, "Original-Recipient"), r->to->orcpt);
	} else if (r->to->orig) {
		snprintf(want, sizeof want, "rfc822;%s", r->to->orig);
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
	const char *absent;  /* a phrase it must not hold, or NULL */
};

static const struct kind_case kind_cases[] = {
	{"failure, two recipients",
	 {{RCPT("bob@example.net", NULL, NULL), REPORT_FAILED, "5.1.1", "mx.example.net",
	   "550 5.1.1 <bob@example.net>: Recipient address rejected", NOW - 60},
	  {RCPT("carol@example.net", "team@example.org", NULL), REPORT_FAILED, "5.2.2",
	   "mx2.example.net",
	   "552 5.2.2 Mailbox full", NOW}},
	 2, 48, "Undelivered Mail Returned to Sender", "bounce",
	 {"queue ID " QID, "could not be delivered", "permanent error",
	  "<bob@example.net>: mx.example.net said: 550 5.1.1", "<carol@example.net> "
	  "(originally <team@example.org>): mx2.example.net said: 552 5.2.2 Mailbox full",
	  "header section of your message"},
	 "temporary error"},
	{"delay warning",
	 {{RCPT("dave@example.net", NULL, NULL), REPORT_DELAYED, "4.4.1", NULL,
	   "connect to mx.example.net: Connection timed out", NOW}},
	 1, 48, "Delayed Mail (still being retried)", "delay",
	 {"queue ID " QID, "not been delivered yet", "until Fri, 2 Jan 2026 23:00:00 +0000",
	  "48 hours", "<dave@example.net>: connect to mx.example.net: Connection timed out",
	  "(status 4.4.1)"},
	 "could not be delivered"},
	{"delay warning, no horizon",
	 {{RCPT("dave@example.net", NULL, NULL), REPORT_DELAYED, "4.4.1", NULL,
	   "Connection refused", NOW}},
	 1, 0, "Delayed Mail (still being retried)", "delay",
	 {"We will keep trying", "<dave@example.net>", NULL},
	 NULL},
	{"delivered",
	 {{RCPT("erin@example.net", NULL, NULL), REPORT_DELIVERED, "2.0.0", "mx.example.net",
	   "250 2.0.0 Ok: queued as 12345", NOW}},
	 1, 48, "Successful Mail Delivery Report", "success",
	 {"was delivered", "<erin@example.net>: mx.example.net said: 250 2.0.0", NULL},
	 NULL},
	{"relayed",
	 {{RCPT("erin@example.net", NULL, "rfc822;erin@example.net"), REPORT_RELAYED, "2.0.0",
	   "mx.example.net",
	   "250 2.0.0 Ok: queued as 12345", NOW}},
	 1, 48, "Successful Mail Delivery Report", "success",
	 {"was passed on", "do not send delivery notifications",
	  "<erin@example.net>: mx.example.net said: 250 2.0.0", NULL},
	 NULL},
	{"expired and delayed together: an expiry is no permanent error",
	 {{RCPT("bob@example.net", NULL, NULL), REPORT_FAILED, "4.4.7", NULL,
	   "connect to mx.example.net: Connection refused", NOW},
	  {RCPT("dave@example.net", NULL, NULL), REPORT_DELAYED, "4.4.1", "mx.example.net",
	   "421 4.4.1 try later", NOW}},
	 2, 24, "Undelivered Mail Returned to Sender", "bounce",
	 {"could not be delivered to the recipients below within 1 hour of its arrival",
	  "temporary error", "not been delivered yet", "24 hours",
	  "<bob@example.net>: the last attempt failed: connect to mx.example.net: "
	  "Connection refused (status 4.4.7)", NULL},
	 "permanent error"},
	{"expired after a reply from a server",
	 {{RCPT("bob@example.net", NULL, NULL), REPORT_FAILED, "4.4.7", "mx.example.net",
	   "451 4.3.0 try again later", NOW}},
	 1, 24, "Undelivered Mail Returned to Sender", "bounce",
	 {"within 1 hour", "<bob@example.net>: the last attempt failed: mx.example.net said: "
	  "451 4.3.0 try again later (status 4.4.7)", NULL},
	 "permanent error"},
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
	if (c->absent && strstr(text, c->absent))
		fail_msg("%s: text holds \"%s\"", c->name, c->absent);
	free(text);
	assert_part3(&ps, "text/rfc822-headers", ORIG_HEADERS_CRLF);
	free_parsed(&ps);
	buf_free(&out);
}

/* RFC 3461 6.3: Original-Recipient comes from ORCPT, an rfc822 address
 * decoded from xtext when that is printable; anything else (a CR LF hidden
 * in xtext, other address types) stays as given, which is printable. */
static void test_orcpt(void **state)
{
	(void)state;
	static const struct {
		char *orcpt;
		const char *want;
	} cases[] = {
		{"rfc822;b+2Bc@example.org", "rfc822;b+c@example.org"},
		{"RFC822;bob@example.org", "rfc822;bob@example.org"},
		{"rfc822;x+0D+0AEvil:+20y@z", "rfc822;x+0D+0AEvil:+20y@z"},
		{"rfc822;caf+C3+A9@z", "rfc822;caf+C3+A9@z"},
		{"x400;c+3Dus", "x400;c+3Dus"},
		{"utf-8;j\\x{FC}rgen@z", "utf-8;j\\x{FC}rgen@z"},
	};
	for (size_t i = 0; i < NELEM(cases); i++) {
		struct rcpt to = {.addr = "b@example.org", .orig = "alias@example.org",
				  .orcpt = cases[i].orcpt};
		struct report_rcpt r = {.to = &to, .action = REPORT_FAILED, .status = "5.1.1"};
		struct report_info ri = base_info(&r, 1);
		struct buf out = BUF_INIT;
		struct parsed ps;

		report_compose(&out, &ri);
		parse_report(&out, &ps);
		assert_string_equal(get(&ps.srcpt[0], "Original-Recipient"), cases[i].want);
		free_parsed(&ps);
		buf_free(&out);
	}
}

static void test_kinds(void **state)
{
	(void)state;
	for (size_t i = 0; i < NELEM(kind_cases); i++)
		run_kind_case(&kind_cases[i]);
}

static const struct report_rcpt one_failed[] = {
	{RCPT("bob@example.net", NULL, NULL), REPORT_FAILED, "5.1.1", "mx.example.net",
	 "550 5.1.1 User unknown", NOW},
};

struct original_case {
	const char *name;
	const char *original; /* NULL: none */
	size_t len;
	int full;
	const char *type;
	const char *want; /* part 3 body */
	bool eight;
};

#define IN(s) s, sizeof(s) - 1

static const struct original_case original_cases[] = {
	{"LF headers and body, headers only", IN(ORIG), 0, "text/rfc822-headers",
	 ORIG_HEADERS_CRLF, false},
	{"CRLF, RET=FULL", IN(ORIG_HEADERS_CRLF "Body.\r\n"), 1, "message/rfc822",
	 ORIG_HEADERS_CRLF "Body.\r\n", false},
	{"LF, RET=FULL", IN(ORIG), 1, "message/rfc822",
	 ORIG_HEADERS_CRLF "Body line one.\r\nBody line two.\r\n", false},
	{"bare CR and mixed ends", IN("A: 1\rB: 2\r\n\nx\ry\n"), 1, "message/rfc822",
	 "A: 1\r\nB: 2\r\n\r\nx\r\ny\r\n", false},
	{"no empty line, no final line end", IN("A: 1\nB: 2"), 0, "text/rfc822-headers",
	 "A: 1\r\nB: 2\r\n", false},
	{"8-bit header", IN("Subject: gr\xc3\xbc\xc3\x9f\n\nbody\n"), 0, "text/rfc822-headers",
	 "Subject: gr\xc3\xbc\xc3\x9f\r\n\r\n", true},
	{"8-bit body, RET=FULL", IN("Subject: x\n\n\xe2\x82\xac\n"), 1, "message/rfc822",
	 "Subject: x\r\n\r\n\xe2\x82\xac\r\n", true},
	{"8-bit body, headers only", IN("Subject: x\n\n\xe2\x82\xac\n"), 0,
	 "text/rfc822-headers", "Subject: x\r\n\r\n", false},
	{"no original", NULL, 0, 0, "text/rfc822-headers", "", false},
};

static void run_original_case(const struct original_case *c)
{
	struct report_info ri = base_info(one_failed, 1);
	struct buf out = BUF_INIT;
	struct parsed ps;
	const char *cte;

	ri.original = c->original;
	ri.original_len = c->len;
	ri.full = c->full;
	report_compose(&out, &ri);
	parse_report(&out, &ps);
	assert_part3(&ps, c->type, c->want);
	cte = get(&ps.part[2].hdr, "Content-Transfer-Encoding");
	if (c->eight) {
		assert_string_equal(cte, "8bit");
		assert_string_equal(get(&ps.top, "Content-Transfer-Encoding"), "8bit");
	} else {
		assert_null(cte);
		assert_null(get(&ps.top, "Content-Transfer-Encoding"));
	}
	free_parsed(&ps);
	buf_free(&out);
}

static void test_original(void **state)
{
	(void)state;
	for (size_t i = 0; i < NELEM(original_cases); i++)
		run_original_case(&original_cases[i]);
}

/* Which input an injection case replaces. */
enum target { T_DIAG, T_ADDR, T_ORIG, T_REMOTE, T_TO, T_ENVID, T_MTA, T_QID, T_STATUS };

/* The header block where the defused value must show up. */
enum block { B_TOP, B_MSG, B_RCPT };

struct inject_case {
	enum target target;
	char *value;
	enum block where;
	const char *field;
	const char *want; /* NULL: the field must be absent */
};

#define EVIL "\r\nBcc: victim@x"

static const struct inject_case inject_cases[] = {
	{T_DIAG, "550 bad" EVIL, B_RCPT, "Diagnostic-Code", "smtp; 550 bad Bcc: victim@x"},
	{T_DIAG, "550 bad\nBcc: victim@x", B_RCPT, "Diagnostic-Code",
	 "smtp; 550 bad Bcc: victim@x"},
	{T_DIAG, "550 bad\rBcc: victim@x", B_RCPT, "Diagnostic-Code",
	 "smtp; 550 bad Bcc: victim@x"},
	{T_DIAG, "550 bad\r\n\r\n--" FIRST_BOUNDARY "\r\nContent-Type: text/html\r\n\r\n<b>",
	 B_RCPT, "Diagnostic-Code",
	 "smtp; 550 bad --" FIRST_BOUNDARY " Content-Type: text/html <b>"},
	{T_DIAG, "5\x01" "5\x1b[0m0\x7f \xff\xfe ok\t\v\f end", B_RCPT, "Diagnostic-Code",
	 "smtp; 5 5 [0m0 ?? ok end"},
	{T_DIAG, "\r\n\r\n", B_RCPT, "Diagnostic-Code", NULL},
	{T_ADDR, "bob@example.net" EVIL, B_RCPT, "Final-Recipient",
	 "utf-8;bob@example.net\\x{0D}\\x{0A}Bcc:\\x{20}victim@x"},
	{T_ORIG, "team@example.org\nBcc: victim@x", B_RCPT, "Original-Recipient",
	 "utf-8;team@example.org\\x{0A}Bcc:\\x{20}victim@x"},
	{T_REMOTE, "mx.example.net" EVIL, B_RCPT, "Remote-MTA",
	 "dns; mx.example.net--Bcc:-victim-x"},
	{T_TO, "alice@example.com" EVIL, B_TOP, "To", "undisclosed-recipients:;"},
	{T_TO, "alice@example.com>, <victim@x", B_TOP, "To", "undisclosed-recipients:;"},
	{T_TO, "", B_TOP, "To", "undisclosed-recipients:;"},
	{T_ENVID, "E1" EVIL, B_MSG, "Original-Envelope-Id", "E1 Bcc: victim@x"},
	{T_MTA, "mx" EVIL, B_MSG, "Reporting-MTA", "dns; mx--Bcc:-victim-x"},
	{T_QID, "Q1" EVIL, B_MSG, "X-Petrel-Queue-ID", "Q1Bccvictimx"},
	{T_STATUS, "5.1.1" EVIL, B_RCPT, "Status", "5.0.0"},
};

static void apply_target(struct report_info *ri, struct report_rcpt *r, struct rcpt *to,
			 const struct inject_case *c)
{
	switch (c->target) {
	case T_DIAG: r->diagnostic = c->value; break;
	case T_ADDR: to->addr = c->value; break;
	case T_ORIG: to->orig = c->value; break;
	case T_REMOTE: r->remote_mta = c->value; break;
	case T_TO: ri->to = c->value; break;
	case T_ENVID: ri->envid = c->value; break;
	case T_MTA: ri->reporting_mta = c->value; break;
	case T_QID: ri->queue_id = c->value; break;
	case T_STATUS: r->status = c->value; break;
	}
}

/* No line of the report starts a Bcc field; only ASCII text and CRLF. */
static void assert_defused(const struct buf *m)
{
	for (size_t i = 0; i < m->len; i++) {
		unsigned char c = (unsigned char)m->p[i];

		assert_true((c >= ' ' && c < 0x7f) || c == '\r' || c == '\n' || c == '\t');
		if ((i == 0 || m->p[i - 1] == '\n') && strncasecmp(m->p + i, "Bcc", 3) == 0)
			fail_msg("injected line at offset %zu", i);
	}
}

static void run_inject_case(const struct inject_case *c)
{
	struct report_rcpt r = one_failed[0];
	struct rcpt to = *r.to;
	struct report_info ri = base_info(&r, 1);
	struct buf out = BUF_INIT;
	struct parsed ps;
	const struct fields *f;

	r.to = &to;
	apply_target(&ri, &r, &to, c);
	report_compose(&out, &ri);
	assert_defused(&out);
	parse_report(&out, &ps);
	assert_int_equal(ps.nrcpt, 1);
	f = c->where == B_TOP ? &ps.top : c->where == B_MSG ? &ps.smsg : &ps.srcpt[0];
	if (!c->want)
		assert_null(get(f, c->field));
	else if (!get(f, c->field) || strcmp(get(f, c->field), c->want) != 0)
		fail_msg("%s: got \"%s\", want \"%s\"", c->field,
			 get(f, c->field) ? get(f, c->field) : "(none)", c->want);
	free_parsed(&ps);
	buf_free(&out);
}

static void test_injection(void **state)
{
	(void)state;
	for (size_t i = 0; i < NELEM(inject_cases); i++)
		run_inject_case(&inject_cases[i]);
}

struct addr_case {
	char *addr;
	const char *want; /* Final-Recipient */
};

static const struct addr_case addr_cases[] = {
	{"bob@example.net", "rfc822;bob@example.net"},
	{"\"b b\"@example.net", "rfc822;\"b b\"@example.net"},
	{"\"b\\\\b+x=y\"@example.net", "rfc822;\"b\\\\b+x=y\"@example.net"},
	{"j\xc3\xb6rg@example.net", "utf-8;j\\x{F6}rg@example.net"},
	{"\xe2\x82\xac+x=y\\@example.net", "utf-8;\\x{20AC}\\x{2B}x\\x{3D}y\\x{5C}@example.net"},
	{"\xf0\x9f\x98\x80 a@x", "utf-8;\\x{1F600}\\x{20}a@x"},
	{"a\xff@x", "utf-8;a\\x{FFFD}@x"},
	{"\xc0\xaf@x", "utf-8;\\x{FFFD}\\x{FFFD}@x"},
	{"\xed\xa0\x80@x", "utf-8;\\x{FFFD}\\x{FFFD}\\x{FFFD}@x"},
	{"\xf4\x90\x80\x80@x", "utf-8;\\x{FFFD}\\x{FFFD}\\x{FFFD}\\x{FFFD}@x"},
	{"\xf8\x90\x80\x80@x", "utf-8;\\x{FFFD}\\x{FFFD}\\x{FFFD}\\x{FFFD}@x"},
	{"\x80\xbf@x", "utf-8;\\x{FFFD}\\x{FFFD}@x"},
	{"a@x\xe2\x82", "utf-8;a@x\\x{FFFD}\\x{FFFD}"},
	{"a\x7f@x", "utf-8;a\\x{7F}@x"},
};

static void test_addresses(void **state)
{
	(void)state;
	for (size_t i = 0; i < NELEM(addr_cases); i++) {
		struct report_rcpt r = one_failed[0];
		struct rcpt to = *r.to;
		struct report_info ri = base_info(&r, 1);
		struct buf out = BUF_INIT;
		struct parsed ps;
		char want[256];
		char *text;

		to.addr = addr_cases[i].addr;
		r.to = &to;
		report_compose(&out, &ri);
		parse_report(&out, &ps);
		assert_string_equal(get(&ps.srcpt[0], "Final-Recipient"), addr_cases[i].want);
		/* The text part names the recipient the same way, type aside. */
		snprintf(want, sizeof want, "<%s>", strchr(addr_cases[i].want, ';') + 1);
		text = flat_text(&ps.part[0]);
		assert_non_null(strstr(text, want));
		free(text);
		free_parsed(&ps);
		buf_free(&out);
	}
}

/* Where the boundary traps go: all boundaries chosen so far. */
enum trap { TRAP_HEADERS, TRAP_BODY, TRAP_DIAG, TRAP_ENVID };

static void build_trap(struct buf *b, enum trap where, const struct buf *seen)
{
	buf_reset(b);
	if (where == TRAP_HEADERS || where == TRAP_BODY)
		buf_puts(b, where == TRAP_BODY ? "Subject: trap\r\n\r\n" : "Subject: trap\r\n");
	for (const char *p = seen->p; p && *p; p += strlen(p) + 1)
		buf_printf(b, where == TRAP_ENVID ? "%s " : "--%s\r\n", p);
	if (where == TRAP_HEADERS)
		buf_puts(b, "\r\nbody --" FIRST_BOUNDARY "\r\n");
}

/* Each round puts every boundary chosen so far where the trap says; each
 * new boundary must differ from all of them (parse_report finds it in the
 * delimiters only). */
static void run_trap(enum trap where, int rounds)
{
	struct buf seen = BUF_INIT, trap = BUF_INIT;

	for (int round = 0; round < rounds; round++) {
		struct report_rcpt r = one_failed[0];
		struct report_info ri = base_info(&r, 1);
		struct buf out = BUF_INIT;
		struct parsed ps;

		build_trap(&trap, where, &seen);
		if (where == TRAP_HEADERS || where == TRAP_BODY) {
			ri.original = trap.p;
			ri.original_len = trap.len;
			ri.full = where == TRAP_BODY;
		} else if (round > 0) {
			*(where == TRAP_DIAG ? &r.diagnostic : &ri.envid) = trap.p;
		}
		report_compose(&out, &ri);
		parse_report(&out, &ps);
		if (round == 0)
			assert_string_equal(ps.boundary, FIRST_BOUNDARY);
		for (const char *p = seen.p; p && *p; p += strlen(p) + 1)
			assert_string_not_equal(ps.boundary, p);
		buf_append(&seen, ps.boundary, strlen(ps.boundary) + 1);
		free_parsed(&ps);
		buf_free(&out);
	}
	buf_free(&trap);
	buf_free(&seen);
}

/* Lines "--PREFIX%04d" for first..last, as a whole message. */
static void many_traps(int last, const char *want)
{
	struct report_rcpt r = one_failed[0];
	struct report_info ri = base_info(&r, 1);
	struct buf orig = BUF_INIT, out = BUF_INIT;
	struct parsed ps;

	buf_puts(&orig, "Subject: trap\r\n\r\n");
	for (int i = 0; i <= last; i++)
		buf_printf(&orig, "--=_" QID ".1767225600.%04d\r\n", i);
	ri.original = orig.p;
	ri.original_len = orig.len;
	ri.full = 1;
	report_compose(&out, &ri);
	parse_report(&out, &ps);
	assert_string_equal(ps.boundary, want);
	free_parsed(&ps);
	buf_free(&out);
	buf_free(&orig);
}

static void test_boundary(void **state)
{
	(void)state;
	run_trap(TRAP_HEADERS, 4);
	run_trap(TRAP_BODY, 4);
	run_trap(TRAP_DIAG, 4);
	run_trap(TRAP_ENVID, 3);
	/* 100 places, numbers 0..99 taken: 100 is the first free one. */
	many_traps(99, "=_" QID ".1767225600.0100");
	/* Over 9999 places: five digits, and 00000 occurs nowhere. */
	many_traps(10050, "=_" QID ".1767225600.00000");
}

/* A reader that returns at most piece octets a call. */
struct pieces {
	const struct buf *orig;
	size_t piece;
};

static ssize_t read_pieces(void *ctx, void *dst, size_t len, uint64_t off)
{
	const struct pieces *pc = ctx;
	if (off >= pc->orig->len)
		return 0;
	size_t n = pc->orig->len - (size_t)off;
	n = n < len ? n : len;
	n = n < pc->piece ? n : pc->piece;
	memcpy(dst, pc->orig->p + off, n);
	return (ssize_t)n;
}

/* A report whose original is read a few octets at a time is the report
 * made from it in memory, octet for octet: boundary places, CRLF and bare
 * line ends, long lines and the header section's end split across pieces. */
static void test_original_read_in_pieces_makes_the_same_report(void **state)
{
	(void)state;
	struct buf orig = BUF_INIT;
	buf_puts(&orig, "Subject: pieces\r\nX-Long: ");
	for (int i = 0; i < 1500; i++)
		buf_putc(&orig, (char)('a' + i % 26));
	buf_puts(&orig, "\r\n\r\nbody \xe9\rbare\nlf\r\n");
	for (int i = 0; i < 300; i++)
		buf_printf(&orig, "--=_" QID ".1767225600.%04d\r\n", i * 7 % 301);
	for (int i = 0; i < 2500; i++)
		buf_putc(&orig, (char)('A' + i % 26));
	buf_puts(&orig, "\r");
	static const size_t sizes[] = {1, 2, 3, 7, 64, 999, 70000};
	for (int full = 0; full < 2; full++) {
		struct report_rcpt r = one_failed[0];
		struct report_info ri = base_info(&r, 1);
		struct buf want = BUF_INIT;
		ri.original = orig.p;
		ri.original_len = orig.len;
		ri.full = full;
		report_compose(&want, &ri);
		for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
			struct pieces pc = {&orig, sizes[k]};
			struct buf got = BUF_INIT;
			ri.original = NULL;
			ri.read_original = read_pieces;
			ri.read_ctx = &pc;
			report_compose(&got, &ri);
			assert_int_equal(got.len, want.len);
			assert_memory_equal(got.p, want.p, want.len);
			buf_free(&got);
		}
		buf_free(&want);
	}
	buf_free(&orig);
}

/* An input made of unit repeated up to len octets. */
struct long_case {
	enum target target;
	const char *unit;
	size_t len;
	enum block where;
	const char *field;
	const char *prefix; /* the field value is prefix, the input's first */
	size_t keep;        /* keep octets (trailing spaces trimmed), suffix */
	const char *suffix;
	bool squeeze;       /* compare with all spaces removed (words were cut) */
};

static const struct long_case long_cases[] = {
	{T_DIAG, "x", 5000, B_RCPT, "Diagnostic-Code", "smtp; ", REPORT_DIAG_MAX, " ...", true},
	{T_DIAG, "word ", 3000, B_RCPT, "Diagnostic-Code", "smtp; ", REPORT_DIAG_MAX, " ...",
	 false},
	{T_DIAG, "x", 1500, B_RCPT, "Diagnostic-Code", "smtp; ", 1500, "", true},
	{T_DIAG, "a-very-long-word-without-any-break ", 1500, B_RCPT, "Diagnostic-Code",
	 "smtp; ", 1500, "", false},
	{T_ADDR, "a", 1000, B_RCPT, "Final-Recipient", "rfc822;", 1000, "", true},
	{T_ADDR, "\xc3\xa9", 400, B_RCPT, "Final-Recipient", NULL, 0, NULL, false},
	{T_REMOTE, "m", 2000, B_RCPT, "Remote-MTA", "dns; ", 255, "", false},
	{T_ENVID, "e", 500, B_MSG, "Original-Envelope-Id", "", 100, " ...", false},
	{T_TO, "t", 254, B_TOP, "To", "<", 254, ">", false},
	{T_TO, "t", 255, B_TOP, "To", "undisclosed-recipients:;", 0, "", false},
	{T_TO, "t", 1500, B_TOP, "To", "undisclosed-recipients:;", 0, "", false},
};

static void expected_value(struct buf *want, const struct long_case *c, const char *in)
{
	size_t keep = c->keep;

	while (keep > 0 && in[keep - 1] == ' ')
		keep--;
	buf_puts(want, c->prefix);
	buf_append(want, in, keep);
	buf_puts(want, c->suffix);
}

static void squeeze(char *s)
{
	char *d = s;

	for (; *s; s++)
		if (*s != ' ')
			*d++ = *s;
	*d = '\0';
}

static void run_long_case(const struct long_case *c)
{
	struct report_rcpt r = one_failed[0];
	struct rcpt to = *r.to;
	struct report_info ri = base_info(&r, 1);
	struct inject_case inj = {c->target, NULL, c->where, c->field, NULL};
	struct buf in = BUF_INIT, want = BUF_INIT, out = BUF_INIT;
	struct parsed ps;
	const struct fields *f;
	char *got;

	while (in.len < c->len)
		buf_puts(&in, c->unit);
	in.len = c->len;
	in.p[in.len] = '\0';
	inj.value = in.p;
	r.to = &to;
	apply_target(&ri, &r, &to, &inj);
	report_compose(&out, &ri);
	parse_report(&out, &ps); /* every line at most 998 octets */
	f = c->where == B_TOP ? &ps.top : c->where == B_MSG ? &ps.smsg : &ps.srcpt[0];
	assert_non_null(get(f, c->field));
	if (c->prefix) {
		expected_value(&want, c, in.p);
		got = xstrdup(get(f, c->field));
		if (c->squeeze) {
			squeeze(got);
			squeeze(want.p);
		}
		assert_string_equal(got, want.p);
		free(got);
	}
	free_parsed(&ps);
	buf_free(&out);
	buf_free(&want);
	buf_free(&in);
}

/* Removes every "\r\n" followed by cut (a fold or a plain cut line). */
static void unfold(struct buf *b, const char *cut)
{
	size_t d = 0, cl = strlen(cut);

	for (size_t i = 0; i < b->len; i++) {
		if (b->len - i >= 2 + cl && memcmp(b->p + i, "\r\n", 2) == 0 &&
		    memcmp(b->p + i + 2, cut, cl) == 0 && i + 2 + cl < b->len) {
			i += 1 + cl;
			continue;
		}
		b->p[d++] = b->p[i];
	}
	b->len = d;
}

/* A 3000-octet header line is folded, a body line cut: no line over 998, and
 * undoing the folds (and, for the body, ignoring line ends) gives the
 * original back. */
static void long_original(int full)
{
	struct report_rcpt r = one_failed[0];
	struct report_info ri = base_info(&r, 1);
	struct buf orig = BUF_INIT, out = BUF_INIT, got = BUF_INIT;
	struct parsed ps;

	buf_puts(&orig, "X-Long: ");
	for (int i = 0; i < 3000; i++)
		buf_putc(&orig, (char)('a' + i % 26));
	buf_puts(&orig, "\r\nSubject: x\r\n\r\n");
	for (int i = 0; full && i < 3000; i++)
		buf_putc(&orig, (char)('A' + i % 26));
	buf_puts(&orig, full ? "\r\n" : "");
	ri.original = orig.p;
	ri.original_len = orig.len;
	ri.full = full;
	report_compose(&out, &ri);
	parse_report(&out, &ps);
	buf_append(&got, ps.part[2].body, ps.part[2].body_len);
	if (full) { /* a body line is cut plainly, not folded */
		const char *b = strstr(got.p, "\r\n\r\n");

		assert_non_null(b);
		assert_int_equal(count_str(b, (size_t)(got.p + got.len - b), "\r\n "), 0);
	}
	unfold(&got, " ");
	if (full) { /* the body line was cut: compare without any line ends */
		unfold(&got, "");
		unfold(&orig, "");
	}
	assert_int_equal(got.len, orig.len);
	assert_memory_equal(got.p, orig.p, orig.len);
	free_parsed(&ps);
	buf_free(&got);
	buf_free(&out);
	buf_free(&orig);
}

static void test_long_lines(void **state)
{
	(void)state;
	for (size_t i = 0; i < NELEM(long_cases); i++)
		run_long_case(&long_cases[i]);
	long_original(0);
	long_original(1);
}

struct hlen_case {
	const char *in;
	size_t len;
	size_t want;
};

static const struct hlen_case hlen_cases[] = {
	{IN("A: b\r\nC: d\r\n\r\nbody\r\n"), 14},
	{IN("A: b\nC: d\n\nbody\n"), 11},
	{IN("A: b\r\nC: d\r\n"), 12},
	{IN("A: b\nC: d"), 9},
	{IN(""), 0},
	{IN("\r\nbody"), 2},
	{IN("\nbody"), 1},
	{IN("A: b\r\n\nbody"), 7},
	{IN("A: b\n\r\nbody"), 7},
	{IN("A: b\r\r\nbody"), 11},
	{IN("A: b\r\n \r\nbody"), 13},
	{IN("A: b\r\n\r"), 7},
	{IN("A: \0b\n\nbody"), 7},
};

static void test_header_len(void **state)
{
	(void)state;
	for (size_t i = 0; i < NELEM(hlen_cases); i++) {
		const struct hlen_case *c = &hlen_cases[i];
		char *copy = xmalloc(c->len);

		memcpy(copy, c->in, c->len);
		if (report_header_len(copy, c->len) != c->want)
			fail_msg("case %zu: got %zu, want %zu", i,
				 report_header_len(copy, c->len), c->want);
		free(copy);
	}
	assert_int_equal(report_header_len(NULL, 0), 0);
}

struct status_case {
	enum report_action action;
	const char *status;
	const char *want_action;
	const char *want_status;
};

static const struct status_case status_cases[] = {
	{REPORT_FAILED, "5.1.1", "failed", "5.1.1"},
	{REPORT_FAILED, "4.4.7", "failed", "4.4.7"},
	{REPORT_FAILED, "5.123.456", "failed", "5.123.456"},
	{REPORT_FAILED, "5.1", "failed", "5.0.0"},
	{REPORT_FAILED, "5.1.1.1", "failed", "5.0.0"},
	{REPORT_FAILED, "5.1.1 ", "failed", "5.0.0"},
	{REPORT_FAILED, "3.1.1", "failed", "5.0.0"},
	{REPORT_FAILED, "5.1234.1", "failed", "5.0.0"},
	{REPORT_FAILED, "5..1", "failed", "5.0.0"},
	{REPORT_FAILED, "", "failed", "5.0.0"},
	{REPORT_DELAYED, NULL, "delayed", "4.0.0"},
	{REPORT_DELIVERED, "ok", "delivered", "2.0.0"},
	{(enum report_action)7, "5.1.1", "failed", "5.1.1"},
};

static void test_status(void **state)
{
	(void)state;
	for (size_t i = 0; i < NELEM(status_cases); i++) {
		struct report_rcpt r = one_failed[0];
		struct report_info ri = base_info(&r, 1);
		struct buf out = BUF_INIT;
		struct parsed ps;

		r.action = status_cases[i].action;
		r.status = status_cases[i].status;
		report_compose(&out, &ri);
		parse_report(&out, &ps);
		assert_string_equal(get(&ps.srcpt[0], "Action"), status_cases[i].want_action);
		assert_string_equal(get(&ps.srcpt[0], "Status"), status_cases[i].want_status);
		free_parsed(&ps);
		buf_free(&out);
	}
}

/* RFC 3464 2.3.5: Remote-MTA is "dns;" and the name of the server that
 * answered - not its "[address]:port", which the text part keeps - and is
 * left out when no server answered (the diagnostic is then our own). */
static void test_remote_mta_is_a_name_and_only_for_a_server_that_answered(void **state)
{
	(void)state;
	struct report_rcpt r = one_failed[0];
	struct report_info ri = base_info(&r, 1);
	struct buf out = BUF_INIT;
	struct parsed ps;
	char *text;

	r.remote_mta = "mx.example.net[192.0.2.1]:25";
	report_compose(&out, &ri);
	parse_report(&out, &ps);
	assert_string_equal(get(&ps.srcpt[0], "Remote-MTA"), "dns; mx.example.net");
	assert_true(strncmp(get(&ps.srcpt[0], "Diagnostic-Code"), "smtp; ", 6) == 0);
	text = flat_text(&ps.part[0]);
	assert_non_null(strstr(text, "mx.example.net[192.0.2.1]:25 said: "));
	free(text);
	free_parsed(&ps);
	buf_reset(&out);
	r.remote_mta = NULL;
	r.status = "4.4.7";
	r.diagnostic = "connect to mx.example.net[192.0.2.1]:25: Connection refused";
	report_compose(&out, &ri);
	parse_report(&out, &ps);
	assert_null(get(&ps.srcpt[0], "Remote-MTA"));
	assert_string_equal(get(&ps.srcpt[0], "Diagnostic-Code"),
			    "X-Petrel; connect to mx.example.net[192.0.2.1]:25: Connection refused");
	free_parsed(&ps);
	buf_free(&out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kinds),
		cmocka_unit_test(test_orcpt),
		cmocka_unit_test(test_original),
		cmocka_unit_test(test_original_read_in_pieces_makes_the_same_report),
		cmocka_unit_test(test_injection),
		cmocka_unit_test(test_addresses),
		cmocka_unit_test(test_boundary),
		cmocka_unit_test(test_long_lines),
		cmocka_unit_test(test_header_len),
		cmocka_unit_test(test_status),
		cmocka_unit_test(test_remote_mta_is_a_name_and_only_for_a_server_that_answered),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
