/*
 * report - delivery status notifications; see report.h.
 *
 * Contract: report_compose appends one complete message, every line ending in
 * CRLF and at most 998 octets long (RFC 5322 2.1.1): a multipart/report
 * (RFC 6522) holding a plain-text explanation, a message/delivery-status part
 * (RFC 3464) and the original's header section (text/rfc822-headers) or the
 * whole original (message/rfc822). Values that came from the network never
 * reach the output raw: addresses are printable ASCII or RFC 6533
 * utf-8-addr-xtext, text has its controls turned into spaces and its
 * non-ASCII octets into '?', and long values are folded (RFC 5322 2.2.3) -
 * so none of them can end a line, start a header field or a MIME part. The
 * boundary occurs in none of the parts (RFC 2046 5.1.1).
 */
#include "bounce/report.h"

#include "bounce/original.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "smtp/received.h"
#include "util/dsn.h"

enum {
	MAX_LINE = 998,        /* RFC 5322 2.1.1, CRLF not counted */
	WRAP_COL = 76,         /* RFC 5322 2.1.1 asks for 78 at most */
	PATH_MAX_OCTETS = 256, /* RFC 5321 4.5.3.1.3, angle brackets included */
	ADDR_MAX = 1024,       /* four times a path: enough, and cuts the absurd */
	HOST_MAX = 255,        /* RFC 1035 2.3.4 */
	ENVID_MAX = 100,       /* RFC 3461 4.4 */
	QID_MAX = 24,          /* keeps the boundary within 70 octets (RFC 2046 5.1.1) */
};

/* RFC 3464 2.3.3, indexed by enum report_action. */
static const char *const action_name[] = {"failed", "delayed", "delivered", "relayed"};

/* Unknown enum values count as failures: never claim a success by mistake. */
static enum report_action action_of(const struct report_rcpt *r)
{
	return r->action == REPORT_DELAYED || r->action == REPORT_DELIVERED ||
		       r->action == REPORT_RELAYED
		       ? r->action
		       : REPORT_FAILED;
}

/* The report is about the worst outcome among its recipients. */
static enum report_action report_kind(const struct report_info *ri)
{
	enum report_action kind = REPORT_DELIVERED;

	for (size_t i = 0; i < ri->nrcpt; i++) {
		enum report_action a = action_of(&ri->rcpt[i]);

		if (a == REPORT_FAILED)
			return REPORT_FAILED;
		if (a == REPORT_DELAYED)
			kind = REPORT_DELAYED;
	}
	return kind;
}

static bool is_alnum(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

/* Queue IDs go into Message-ID and the boundary: letters and digits only. */
static void put_alnum(struct buf *out, const char *s, size_t max)
{
	size_t start = out->len;

	for (size_t i = 0; s && i < max && s[i]; i++)
		if (is_alnum((unsigned char)s[i]))
			buf_putc(out, s[i]);
	if (out->len == start)
		buf_puts(out, "unknown");
}

/* A host name or address literal, valid both as an RFC 3464 "dns" name and
 * as the domain of an addr-spec or msg-id (RFC 5322 3.4.1, 3.6.4). */
static void put_host(struct buf *out, const char *s)
{
	size_t i = 0;

	for (; s && i < HOST_MAX && s[i]; i++) {
		unsigned char c = (unsigned char)s[i];

		buf_putc(out, is_alnum(c) || strchr("-._:[]", c) ? (char)c : '-');
	}
	if (i == 0)
		buf_puts(out, "localhost");
}

/* Free text for one line: runs of controls and white space become a single
 * space, other non-ASCII octets '?', the ends are trimmed and at most max
 * octets read, so no CR or LF - and no double space - survives. */
static void put_clean(struct buf *out, const char *s, size_t max)
{
	size_t start = out->len, i = 0;
	bool space = false;

	for (; s && i < max && s[i]; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c <= ' ' || c == 0x7f) {
			space = out->len > start;
			continue;
		}
		if (space)
			buf_putc(out, ' ');
		space = false;
		buf_putc(out, c < 0x80 ? (char)c : '?');
	}
	if (s && i == max && s[i])
		buf_puts(out, " ...");
}

/* The length a UTF-8 lead octet announces (RFC 3629 3), 0 for none. */
static size_t utf8_len(unsigned char c)
{
	if (c < 0x80)
		return 1;
	if (c < 0xc0 || c >= 0xf8)
		return 0;
	return c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;
}

/* One UTF-8 sequence (RFC 3629 4) of at most n octets; anything malformed,
 * overlong or a surrogate is one octet of U+FFFD. Returns octets used. */
static size_t utf8_next(const unsigned char *s, size_t n, unsigned long *cp)
{
	static const unsigned long min[] = {0, 0, 0x80, 0x800, 0x10000};
	size_t len = utf8_len(s[0]);
	unsigned long v = s[0] & (0x7fu >> len);
	size_t i = 1;

	if (len <= 1 || len > n) {
		*cp = len == 1 ? s[0] : 0xfffd;
		return 1;
	}
	for (; i < len && (s[i] & 0xc0) == 0x80; i++)
		v = v << 6 | (s[i] & 0x3fu);
	if (i < len || v < min[len] || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff)) {
		*cp = 0xfffd;
		return 1;
	}
	*cp = v;
	return len;
}

static size_t addr_len(const char *a)
{
	return a ? strnlen(a, ADDR_MAX) : 0;
}

/* Printable ASCII, the only thing an RFC 3464 "rfc822" address may hold. */
static bool addr_plain(const char *a)
{
	size_t n = addr_len(a);

	for (size_t i = 0; i < n; i++)
		if ((unsigned char)a[i] < ' ' || (unsigned char)a[i] >= 0x7f)
			return false;
	return true;
}

/* Appends an address: printable ASCII unchanged, anything else as RFC 6533
 * 3 utf-8-addr-xtext - QCHARs as they are and every other character
 * (non-ASCII, controls, space, '+', '=', '\') as \x{HEX}. */
static void put_addr(struct buf *out, const char *a)
{
	const unsigned char *s = (const unsigned char *)a;
	size_t n = addr_len(a);

	if (addr_plain(a)) {
		buf_append(out, a ? a : "", n);
		return;
	}
	for (size_t i = 0; i < n;) {
		unsigned long cp;

		i += utf8_next(s + i, n - i, &cp);
		if (cp > ' ' && cp < 0x7f && cp != '+' && cp != '=' && cp != '\\')
			buf_putc(out, (char)cp);
		else
			buf_printf(out, "\\x{%02lX}", cp);
	}
}

/* RFC 3464 2.3.1-2.3.2: address-type ";" address, the type telling how the
 * address was written. */
static void put_typed_addr(struct buf *out, const char *a)
{
	buf_puts(out, addr_plain(a) ? "rfc822;" : "utf-8;");
	put_addr(out, a);
}

/* RFC 3461 6.3, RFC 3464 2.3.1: the client's ORCPT. An rfc822 address is
 * shown decoded when that is printable ASCII; anything else stays in its
 * xtext form, which is printable by construction. */
static void put_orcpt(struct buf *out, const char *orcpt)
{
	const char *semi = strchr(orcpt, ';');
	char dec[DSN_ORCPT_MAX + 1];
	size_t n;

	if (semi && semi - orcpt == 6 && strncasecmp(orcpt, "rfc822", 6) == 0 &&
	    xtext_decode(semi + 1, strlen(semi + 1), dec, sizeof dec, &n) && n > 0 &&
	    strlen(dec) == n && addr_plain(dec)) {
		buf_puts(out, "rfc822;");
		buf_append(out, dec, n);
		return;
	}
	put_clean(out, orcpt, DSN_ORCPT_MAX);
}

/* Appends text (printable ASCII) from column col. A line that would pass
 * WRAP_COL is broken before a space and goes on after cont - with cont " "
 * that is RFC 5322 2.2.3 folding; a word too long for any line is cut so
 * that no line passes MAX_LINE. */
static void put_wrapped(struct buf *out, size_t col, const char *text, size_t n,
			const char *cont)
{
	size_t ind = strlen(cont);

	for (size_t i = 0; i < n; i++) {
		size_t w = 0;

		while (i + w < n && text[i + w] != ' ')
			w++;
		if (i > 0 && col > ind && col + 1 + w > WRAP_COL) {
			buf_printf(out, "\r\n%s", cont);
			col = ind;
		} else if (i > 0) {
			buf_putc(out, ' ');
			col++;
		}
		for (size_t left = w; left > 0;) {
			size_t k = col + left > MAX_LINE ? MAX_LINE - col : left;

			buf_append(out, text + i, k);
			i += k;
			left -= k;
			col += k;
			if (left > 0) {
				buf_printf(out, "\r\n%s", cont);
				col = ind;
			}
		}
	}
}

/* "Name: value" CRLF, the value folded. */
static void put_field(struct buf *out, const char *name, const struct buf *value)
{
	buf_printf(out, "%s: ", name);
	put_wrapped(out, strlen(name) + 2, value->p ? value->p : "", value->len, " ");
	buf_puts(out, "\r\n");
}

static void put_date_field(struct buf *out, const char *name, time_t when)
{
	buf_printf(out, "%s: ", name);
	rfc5322_date(out, when);
	buf_puts(out, "\r\n");
}

static time_t retry_until(const struct report_info *ri)
{
	return ri->arrival + (time_t)ri->retry_hours * 3600;
}

/* RFC 3463 2: class "." subject "." detail; class 2, 4 or 5, the others
 * one to three digits. */
static bool status_valid(const char *s)
{
	if (!s || (s[0] != '2' && s[0] != '4' && s[0] != '5') || s[1] != '.')
		return false;
	s += 2;
	for (int group = 0; group < 2; group++) {
		size_t n = strspn(s, "0123456789");

		if (n < 1 || n > 3)
			return false;
		s += n;
		if (*s != (group == 0 ? '.' : '\0'))
			return false;
		s++;
	}
	return true;
}

static const char *status_of(const struct report_rcpt *r)
{
	static const char *const fallback[] = {"5.0.0", "4.0.0", "2.0.0", "2.0.0"};

	return status_valid(r->status) ? r->status : fallback[action_of(r)];
}

/* RFC 3464 2.3.6: "smtp" says the text is an SMTP reply; a reason of our
 * own, with no remote MTA behind it, gets an X- type of its own. */
static bool put_diagnostic(struct buf *v, const struct report_rcpt *r)
{
	size_t start;

	buf_puts(v, r->remote_mta && *r->remote_mta ? "smtp; " : "X-Petrel; ");
	start = v->len;
	put_clean(v, r->diagnostic, REPORT_DIAG_MAX);
	return v->len > start;
}

/* RFC 3464 2.3: one recipient's fields, after the blank line before them. */
static void put_rcpt_fields(struct buf *out, const struct report_info *ri,
			    const struct report_rcpt *r)
{
	struct buf v = BUF_INIT;

	buf_puts(out, "\r\n");
	if (r->to->orcpt && *r->to->orcpt) {
		put_orcpt(&v, r->to->orcpt);
		put_field(out, "Original-Recipient", &v);
		buf_reset(&v);
	} else if (r->to->orig && *r->to->orig) {
		put_typed_addr(&v, r->to->orig);
		put_field(out, "Original-Recipient", &v);
		buf_reset(&v);
	}
	put_typed_addr(&v, r->to->addr);
	put_field(out, "Final-Recipient", &v);
	buf_printf(out, "Action: %s\r\nStatus: %s\r\n", action_name[action_of(r)], status_of(r));
	if (r->remote_mta && *r->remote_mta) {
		/* RFC 3464 2.3.5: "dns;" and a name - the peer's "[address]:port"
		 * stays in the text part. */
		char name[HOST_MAX + 1];
		snprintf(name, sizeof name, "%.*s", (int)strcspn(r->remote_mta, "["),
			 r->remote_mta);
		buf_reset(&v);
		buf_puts(&v, "dns; ");
		put_host(&v, name);
		put_field(out, "Remote-MTA", &v);
	}
	buf_reset(&v);
	if (put_diagnostic(&v, r))
		put_field(out, "Diagnostic-Code", &v);
	if (r->last_attempt)
		put_date_field(out, "Last-Attempt-Date", r->last_attempt);
	if (action_of(r) == REPORT_DELAYED && ri->retry_hours)
		put_date_field(out, "Will-Retry-Until", retry_until(ri));
	buf_free(&v);
}

/* Part 2: message/delivery-status, RFC 3464 2.2 per-message fields first. */
static void compose_status(struct buf *out, const struct report_info *ri)
{
	struct buf v = BUF_INIT;

	buf_puts(out, "Content-Type: message/delivery-status\r\n"
		      "Content-Description: Delivery report\r\n\r\n");
	buf_puts(&v, "dns; ");
	put_host(&v, ri->reporting_mta);
	put_field(out, "Reporting-MTA", &v);
	buf_puts(out, "X-Petrel-Queue-ID: ");
	put_alnum(out, ri->queue_id, QID_MAX);
	buf_puts(out, "\r\n");
	if (ri->envid && *ri->envid) {
		buf_reset(&v);
		put_clean(&v, ri->envid, ENVID_MAX);
		put_field(out, "Original-Envelope-Id", &v);
	}
	put_date_field(out, "Arrival-Date", ri->arrival);
	for (size_t i = 0; i < ri->nrcpt; i++)
		put_rcpt_fields(out, ri, &ri->rcpt[i]);
	buf_free(&v);
}

/* A paragraph of part 1: text wrapped, every line after indent. */
static void put_para(struct buf *out, const struct buf *text, const char *indent)
{
	buf_puts(out, indent);
	put_wrapped(out, strlen(indent), text->p ? text->p : "", text->len, indent);
	buf_puts(out, "\r\n");
}

/* How the text part groups recipients: a failure with a temporary status
 * is one that was retried until bounce-after ran out (RFC 3463 4.4.7),
 * not a permanent error, and says so. */
enum group { G_FAILED, G_EXPIRED, G_DELAYED, G_DELIVERED, G_RELAYED, G_COUNT };

static enum group group_of(const struct report_rcpt *r)
{
	static const enum group by_action[] = {G_FAILED, G_DELAYED, G_DELIVERED, G_RELAYED};
	enum report_action a = action_of(r);

	return a == REPORT_FAILED && status_of(r)[0] == '4' ? G_EXPIRED : by_action[a];
}

/* One recipient in plain words: who, what happened, who said so. */
static void put_rcpt_text(struct buf *out, const struct report_rcpt *r)
{
	static const char *const none[] = {"delivery failed", "not delivered yet",
					   "delivered", "relayed"};
	const struct rcpt *to = r->to;
	struct buf t = BUF_INIT;
	size_t start;

	buf_putc(&t, '<');
	put_addr(&t, to->addr);
	buf_putc(&t, '>');
	if (to->orig && *to->orig && (!to->addr || strcmp(to->orig, to->addr) != 0)) {
		buf_puts(&t, " (originally <");
		put_addr(&t, to->orig);
		buf_puts(&t, ">)");
	}
	buf_puts(&t, group_of(r) == G_EXPIRED ? ": the last attempt failed: " : ": ");
	if (r->remote_mta && *r->remote_mta) {
		put_host(&t, r->remote_mta);
		buf_puts(&t, " said: ");
	}
	start = t.len;
	put_clean(&t, r->diagnostic, REPORT_DIAG_MAX);
	if (t.len == start)
		buf_puts(&t, none[action_of(r)]);
	buf_printf(&t, " (status %s)", status_of(r));
	put_para(out, &t, "    ");
	buf_free(&t);
}

/* "3 days", "1 hour", "40 seconds": the largest unit that fits, whole. */
static void put_duration(struct buf *t, time_t secs)
{
	static const struct {
		const char *unit;
		time_t len;
	} units[] = {{"day", 86400}, {"hour", 3600}, {"minute", 60}, {"second", 1}};
	size_t k = 0;

	if (secs < 0)
		secs = 0;
	while (k + 1 < sizeof units / sizeof units[0] && secs < units[k].len)
		k++;
	secs /= units[k].len;
	buf_printf(t, "%lld %s%s", (long long)secs, units[k].unit, secs == 1 ? "" : "s");
}

/* What each group of recipients means and what happens next. */
static void put_section_intro(struct buf *t, const struct report_info *ri, enum group g)
{
	if (g == G_FAILED) {
		buf_puts(t, "Your message could not be delivered to the recipients below. "
			    "This is a permanent error; we will not try again.");
	} else if (g == G_EXPIRED) {
		buf_puts(t, "Your message could not be delivered to the recipients below "
			    "within ");
		put_duration(t, ri->now - ri->arrival);
		buf_puts(t, " of its arrival. Each attempt failed with a temporary error, "
			    "the last of which is shown; we have now given up and will not "
			    "try again.");
	} else if (g == G_DELIVERED) {
		buf_puts(t, "Your message was delivered to the recipients below.");
	} else if (g == G_RELAYED) {
		buf_puts(t, "Your message was passed on to the recipients' mail servers below. "
			    "They do not send delivery notifications, so this is the last "
			    "report you will get about it.");
	} else if (ri->retry_hours) {
		buf_puts(t, "Your message has not been delivered yet to the recipients "
			    "below. We will keep trying until ");
		rfc5322_date(t, retry_until(ri));
		buf_printf(t, ", %u hours after it arrived. You do not need to send it "
			      "again; if it still cannot be delivered by then, it will be "
			      "returned to you.", ri->retry_hours);
	} else {
		buf_puts(t, "Your message has not been delivered yet to the recipients "
			    "below. We will keep trying; you do not need to send it again.");
	}
}

/* Part 1: text/plain for people, grouped by what happened. */
static void compose_text(struct buf *out, const struct report_info *ri)
{
	struct buf t = BUF_INIT;

	buf_puts(out, "Content-Type: text/plain; charset=us-ascii\r\n"
		      "Content-Description: Notification\r\n\r\n");
	buf_puts(&t, "This is the mail delivery system at ");
	put_host(&t, ri->reporting_mta);
	buf_puts(&t, ". This is an automatic report on your message with queue ID ");
	put_alnum(&t, ri->queue_id, QID_MAX);
	buf_puts(&t, ", which arrived on ");
	rfc5322_date(&t, ri->arrival);
	buf_putc(&t, '.');
	put_para(out, &t, "");
	for (enum group g = 0; g < G_COUNT; g++) {
		bool intro = false;

		for (size_t i = 0; i < ri->nrcpt; i++) {
			if (group_of(&ri->rcpt[i]) != g)
				continue;
			if (!intro) {
				buf_reset(&t);
				put_section_intro(&t, ri, g);
				buf_puts(out, "\r\n");
				put_para(out, &t, "");
				buf_puts(out, "\r\n");
				intro = true;
			}
			put_rcpt_text(out, &ri->rcpt[i]);
		}
	}
	buf_puts(out, ri->full ? "\r\nThe delivery report and your message are attached.\r\n"
			       : "\r\nThe delivery report and the header section of your "
				 "message are attached.\r\n");
	buf_free(&t);
}

/* The original as the report carries it: read through ri->read_original,
 * or from ri->original in memory. */
struct mem_original {
	const char *p;
	uint64_t len;
};

static ssize_t read_mem(void *ctx, void *dst, size_t len, uint64_t off)
{
	const struct mem_original *m = ctx;
	if (off >= m->len)
		return 0;
	if (len > m->len - off)
		len = (size_t)(m->len - off);
	memcpy(dst, m->p + off, len);
	return (ssize_t)len;
}

/* o and the number of its octets part 3 carries: the whole message for
 * RET=FULL, else its header section (RFC 6522 5). */
static uint64_t open_original(const struct report_info *ri, struct mem_original *mem,
			      struct original *o)
{
	*mem = (struct mem_original){ri->original ? ri->original : "",
				     ri->original ? ri->original_len : 0};
	*o = ri->read_original ? (struct original){ri->read_original, ri->read_ctx, ri->original_len}
			       : (struct original){read_mem, mem, mem->len};
	return ri->full ? o->len : original_header_len(o);
}

/* Part 3's own header: 8-bit content is labelled so (RFC 2045 6.2; RFC 2046
 * 5.2.1 allows no other encoding for message/rfc822). */
static void put_original_header(struct buf *out, const struct report_info *ri, bool eight)
{
	buf_puts(out, ri->full ? "Content-Type: message/rfc822\r\n"
				 "Content-Description: Original message\r\n"
			       : "Content-Type: text/rfc822-headers\r\n"
				 "Content-Description: Original message headers\r\n");
	if (eight)
		buf_puts(out, "Content-Transfer-Encoding: 8bit\r\n");
	buf_puts(out, "\r\n");
}

/* Counts the places prefix occurs in the parts and the original; with
 * taken, also marks the w-digit number after each one (when no greater than
 * limit) as used. Counted in the original as stored: its copy only adds
 * CR, LF and space, none of which is in the prefix, so it holds no place
 * the stored one lacks. Returns whether the original is 8-bit. */
static bool scan_prefix(const struct buf *parts, size_t nparts, const struct original *o,
			uint64_t n, const struct buf *prefix, size_t w, unsigned char *taken,
			size_t limit, size_t *count)
{
	struct prefix_scan scan;
	*count = 0;
	for (size_t k = 0; k < nparts; k++) {
		prefix_scan_init(&scan, prefix, w, taken, limit);
		prefix_scan_feed(&scan, parts[k].p ? parts[k].p : "", parts[k].len);
		*count += prefix_scan_end(&scan);
	}
	prefix_scan_init(&scan, prefix, w, taken, limit);
	bool eight = original_scan(o, n, &scan);
	*count += prefix_scan_end(&scan);
	return eight;
}

/* RFC 2046 5.1.1: the boundary must occur in no part. It is "=_" (never
 * produced by quoted-printable), the queue ID and the time, a dot and a
 * number of w digits. With m places holding that prefix, at most m numbers
 * are taken, so one of 0..m is free (pigeonhole); w is wide enough to write
 * m. So the choice always succeeds, in time linear in the parts' size,
 * reading the original twice a piece at a time. Returns whether the
 * original is 8-bit. */
static bool choose_boundary(struct buf *out, const struct report_info *ri,
			    const struct buf *parts, size_t nparts, const struct original *o,
			    uint64_t n)
{
	struct buf prefix = BUF_INIT;
	size_t m, w = 4, v = 0;
	unsigned char *taken;

	buf_puts(&prefix, "=_");
	put_alnum(&prefix, ri->queue_id, QID_MAX);
	buf_printf(&prefix, ".%lld.", (long long)ri->now);
	bool eight = scan_prefix(parts, nparts, o, n, &prefix, 0, NULL, 0, &m);
	for (size_t big = m; big >= 10000; big /= 10)
		w++;
	taken = xcalloc(m / 8 + 1, 1);
	scan_prefix(parts, nparts, o, n, &prefix, w, taken, m, &m);
	while (taken[v / 8] & (1u << (v % 8)))
		v++;
	buf_printf(out, "%s%0*zu", prefix.p, (int)w, v);
	free(taken);
	buf_free(&prefix);
	return eight;
}

/* To: the original sender when it is one printable address that fits an
 * SMTP path (RFC 5321 4.5.3.1.3: 256 octets with the brackets); otherwise
 * an empty group (RFC 5322 3.4) - the envelope carries the real recipient. */
static void put_to(struct buf *out, const char *to)
{
	size_t n = to ? strnlen(to, PATH_MAX_OCTETS) : 0;
	bool ok = n > 0 && n + 2 <= PATH_MAX_OCTETS;

	for (size_t i = 0; ok && i < n; i++)
		ok = to[i] >= ' ' && to[i] < 0x7f && to[i] != '<' && to[i] != '>';
	if (ok)
		buf_printf(out, "To: <%s>\r\n", to);
	else
		buf_puts(out, "To: undisclosed-recipients:;\r\n");
}

/* The top-level header section; Auto-Submitted per RFC 3834 5. */
static void put_headers(struct buf *out, const struct report_info *ri, enum report_action kind,
			const struct buf *boundary, bool eight)
{
	static const char *const subject[] = {"Undelivered Mail Returned to Sender",
					      "Delayed Mail (still being retried)",
					      "Successful Mail Delivery Report"};
	static const char *const tag[] = {"bounce", "delay", "success"};

	buf_puts(out, "From: Mail Delivery System <MAILER-DAEMON@");
	put_host(out, ri->reporting_mta);
	buf_puts(out, ">\r\n");
	put_to(out, ri->to);
	buf_printf(out, "Subject: %s\r\n", subject[kind]);
	put_date_field(out, "Date", ri->now);
	buf_puts(out, "Message-ID: <");
	put_alnum(out, ri->queue_id, QID_MAX);
	buf_printf(out, ".%s.%lld@", tag[kind], (long long)ri->now);
	put_host(out, ri->reporting_mta);
	buf_printf(out, ">\r\nAuto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n"
			"Content-Type: multipart/report; report-type=delivery-status;\r\n"
			"\tboundary=\"%s\"\r\n", boundary->p);
	if (eight)
		buf_puts(out, "Content-Transfer-Encoding: 8bit\r\n");
	buf_puts(out, "\r\n");
}

void report_write(const struct report_info *ri, report_put_fn put, void *ctx)
{
	struct buf part[2] = {BUF_INIT, BUF_INIT}, boundary = BUF_INIT, out = BUF_INIT;
	enum report_action kind = report_kind(ri);
	struct mem_original mem;
	struct original o;
	uint64_t n = open_original(ri, &mem, &o);

	compose_text(&part[0], ri);
	compose_status(&part[1], ri);
	bool eight = choose_boundary(&boundary, ri, part, 2, &o, n);
	put_headers(&out, ri, kind, &boundary, eight);
	/* RFC 2046 5.1.1: the CRLF before "--" belongs to the delimiter, so
	 * each part keeps the CRLF ending its own last line. */
	buf_puts(&out, "This is a MIME-encapsulated message.");
	for (size_t i = 0; i < 2; i++) {
		buf_printf(&out, "\r\n--%s\r\n", boundary.p);
		buf_append(&out, part[i].p, part[i].len);
		buf_free(&part[i]);
	}
	buf_printf(&out, "\r\n--%s\r\n", boundary.p);
	put_original_header(&out, ri, eight);
	put(ctx, out.p, out.len);
	original_put(&o, n, MAX_LINE, put, ctx);
	buf_reset(&out);
	buf_printf(&out, "\r\n--%s--\r\n", boundary.p);
	put(ctx, out.p, out.len);
	buf_free(&out);
	buf_free(&boundary);
}

static void put_buf(void *ctx, const char *p, size_t n)
{
	buf_append(ctx, p, n);
}

void report_compose(struct buf *out, const struct report_info *ri)
{
	report_write(ri, put_buf, out);
}

size_t report_header_len(const char *msg, size_t len)
{
	struct header_end h = {0};

	header_end_feed(&h, msg ? msg : "", len);
	return h.found ? (size_t)h.len : len;
}
