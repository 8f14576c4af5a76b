/* queue_view - the queue as text for the postmaster; see queue_view.h. */
#include "control/queue_view.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>

#include "control/queue_tally.h"
#include "util/dsn.h"

#define READ_CHUNK 4096

void queue_view_safe(struct buf *out, const char *s, size_t len)
{
	static const char hex[] = "0123456789ABCDEF";
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if ((c >= 0x20 && c < 0x7f) || c == '\t') {
			buf_putc(out, (char)c);
			continue;
		}
		/* Escaped rather than replaced: the postmaster can see what an
		 * attacker tried, and UTF-8 text stays decodable by hand. */
		char esc[4] = {'\\', 'x', hex[c >> 4], hex[c & 15]};
		buf_append(out, esc, sizeof esc);
	}
}

static void put_str(struct buf *out, const char *s)
{
	queue_view_safe(out, s ? s : "", s ? strlen(s) : 0);
}

static void put_addr(struct buf *out, const char *s)
{
	buf_putc(out, '<');
	put_str(out, s);
	buf_putc(out, '>');
}

static void put_count(struct buf *out, uint64_t n, const char *word)
{
	buf_printf(out, "%llu %s%s", (unsigned long long)n, word, n == 1 ? "" : "s");
}

/* A duration the way people read it: "42s", "17m", "5h", "3d". */
static void put_duration(struct buf *out, int64_t secs)
{
	if (secs < 0)
		secs = 0;
	if (secs < 120)
		buf_printf(out, "%llds", (long long)secs);
	else if (secs < 120 * 60)
		buf_printf(out, "%lldm", (long long)(secs / 60));
	else if (secs < 48 * 3600)
		buf_printf(out, "%lldh", (long long)(secs / 3600));
	else
		buf_printf(out, "%lldd", (long long)(secs / 86400));
}

/* UTC, like the log, so times compare directly with log lines. */
static void put_time(struct buf *out, int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;
	char s[64];
	if (!gmtime_r(&tt, &tm) || strftime(s, sizeof s, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
		snprintf(s, sizeof s, "@%lld", (long long)t);
	buf_puts(out, s);
}

static void add_totals(struct queue_view_totals *t, const struct spool_msg *m)
{
	if (t->msgs == 0 || m->arrival < t->oldest)
		t->oldest = m->arrival;
	t->msgs++;
	t->bytes += m->body_len;
	t->held += m->held;
	for (size_t i = 0; i < m->nrcpt; i++)
		t->rcpts += m->rcpt[i].state == RCPT_PENDING;
}

/* "-- N messages, B bytes, R recipients not yet final, H held", or that the
 * queue is empty; false in the latter case. */
static bool put_totals(struct buf *out, const struct queue_view_totals *t)
{
	if (t->msgs == 0) {
		buf_puts(out, "Mail queue is empty\n");
		return false;
	}
	buf_puts(out, "-- ");
	put_count(out, t->msgs, "message");
	buf_puts(out, ", ");
	put_count(out, t->bytes, "byte");
	buf_puts(out, ", ");
	put_count(out, t->rcpts, "recipient");
	buf_printf(out, " not yet final, %llu held\n", (unsigned long long)t->held);
	return true;
}

void queue_view_entry(struct buf *out, const struct spool_msg *m, int64_t now)
{
	buf_printf(out, "%s  %llu bytes  ", m->id, (unsigned long long)m->body_len);
	put_duration(out, now - m->arrival);
	buf_puts(out, " old  from ");
	put_addr(out, m->sender);
	buf_puts(out, m->held ? "  [held]\n" : "\n");
	for (size_t i = 0; i < m->nrcpt; i++) {
		const struct spool_rcpt *rc = &m->rcpt[i];
		if (rc->state != RCPT_PENDING)
			continue;
		buf_puts(out, "  to ");
		put_addr(out, rc->to.addr);
		buf_putc(out, '\n');
		if (rc->last_error) {
			buf_puts(out, "    last error (");
			put_count(out, rc->attempts, "attempt");
			buf_puts(out, "): ");
			put_str(out, rc->last_error);
			buf_putc(out, '\n');
		}
	}
	buf_putc(out, '\n');
}

void queue_view_list_open(struct queue_listing *l, struct spool *sp, int64_t now)
{
	*l = (struct queue_listing){.sp = sp, .now = now};
	spool_cursor_open(sp, &l->cur);
}

bool queue_view_list_more(struct queue_listing *l, struct buf *out, size_t want)
{
	while (out->len < want) {
		const struct spool_msg *m = spool_cursor_next(&l->cur);
		if (!m) {
			put_totals(out, &l->t);
			return true;
		}
		queue_view_entry(out, m, l->now);
		add_totals(&l->t, m);
	}
	return false;
}

void queue_view_list_close(struct queue_listing *l)
{
	spool_cursor_close(l->sp, &l->cur);
}

void queue_view_list(struct buf *out, struct spool *sp, int64_t now)
{
	struct queue_listing l;
	queue_view_list_open(&l, sp, now);
	queue_view_list_more(&l, out, SIZE_MAX);
	queue_view_list_close(&l);
}

/* One destination line of the summary: count, domain, how many were tried,
 * and one of their errors cut to QUEUE_VIEW_ERROR_MAX bytes. */
static void put_dest(struct buf *out, const struct tally_dest *d)
{
	buf_printf(out, "  %8llu  ", (unsigned long long)d->rcpts);
	if (d->domain_len)
		queue_view_safe(out, d->domain, d->domain_len);
	else
		buf_puts(out, "(no domain)");
	buf_printf(out, "  %llu deferred", (unsigned long long)d->deferred);
	if (d->error) {
		size_t len = strlen(d->error);
		buf_puts(out, ", e.g. ");
		queue_view_safe(out, d->error, len < QUEUE_VIEW_ERROR_MAX ? len : QUEUE_VIEW_ERROR_MAX);
		if (len > QUEUE_VIEW_ERROR_MAX)
			buf_puts(out, "...");
	}
	buf_putc(out, '\n');
}

void queue_view_count(struct buf *out, struct spool *sp, int64_t now)
{
	struct queue_view_totals t = {0};
	struct queue_tally *tally = queue_tally_new();
	for (struct spool_msg *m = spool_first(sp); m; m = spool_next(sp, m)) {
		add_totals(&t, m);
		for (size_t i = 0; i < m->nrcpt; i++) {
			const struct spool_rcpt *rc = &m->rcpt[i];
			if (rc->state == RCPT_PENDING)
				queue_tally_add(tally, rc->to.addr, rc->attempts, rc->last_error);
		}
	}
	if (put_totals(out, &t)) {
		buf_puts(out, "-- oldest ");
		put_duration(out, now - t.oldest);
		struct tally_dest top[QUEUE_VIEW_TOP];
		size_t n = queue_tally_top(tally, top, QUEUE_VIEW_TOP);
		buf_printf(out, "; pending recipients by destination, the %zu largest of %zu:\n", n,
			   queue_tally_domains(tally));
		for (size_t i = 0; i < n; i++)
			put_dest(out, &top[i]);
		if (queue_tally_untallied(tally))
			buf_printf(out, "  %8llu  (more domains than the %d counted one by one)\n",
				   (unsigned long long)queue_tally_untallied(tally),
				   QUEUE_TALLY_DOMAINS);
	}
	queue_tally_free(tally);
}

void queue_view_maildrop(struct buf *out, const struct maildrop_stuck *s, size_t n, size_t more,
			 int64_t now)
{
	if (!n && !more)
		return;
	buf_puts(out, "\nMaildrop files the daemon cannot read (not queued):\n");
	for (size_t i = 0; i < n; i++) {
		buf_puts(out, "  ");
		put_str(out, s[i].name);
		buf_printf(out, "  owner uid %u, mode %04o, ", (unsigned)s[i].uid,
			   (unsigned)s[i].mode);
		put_duration(out, now - s[i].since);
		buf_puts(out, " old: ");
		put_str(out, s[i].why);
		buf_putc(out, '\n');
	}
	if (more)
		buf_printf(out, "  ... and %zu more\n", more);
	buf_puts(out, "-- ");
	put_count(out, n + more, "maildrop file");
	buf_puts(out, " not imported\n");
}

static const char *state_name(enum rcpt_state s)
{
	switch (s) {
	case RCPT_PENDING:
		return "pending";
	case RCPT_DELIVERED:
		return "delivered";
	case RCPT_BOUNCED:
		return "bounced";
	case RCPT_DELETED:
		return "deleted by the administrator";
	}
	return "unknown";
}

static void show_next_try(struct buf *out, const struct spool_msg *m, int64_t next_try,
			  int64_t now)
{
	if (m->held) {
		buf_puts(out, ", no attempt while held");
	} else if (next_try <= now) {
		buf_puts(out, ", next try now");
	} else {
		buf_puts(out, ", next try ");
		put_time(out, next_try);
		buf_puts(out, " (in ");
		put_duration(out, next_try - now);
		buf_putc(out, ')');
	}
}

/* The recipient's DSN parameters (RFC 3461 4.1, 4.2), when it has any. */
static void show_rcpt_dsn(struct buf *out, const struct spool_rcpt *rc)
{
	char notify[DSN_NOTIFY_TEXT_MAX];
	dsn_notify_text(rc->to.notify, notify, sizeof notify);
	if (!notify[0] && !rc->to.orcpt)
		return;
	buf_puts(out, "    dsn:");
	if (notify[0])
		buf_printf(out, " NOTIFY=%s", notify);
	if (rc->to.orcpt) {
		buf_puts(out, " ORCPT=");
		put_str(out, rc->to.orcpt);
	}
	buf_putc(out, '\n');
}

static void show_rcpt(struct buf *out, const struct spool_msg *m, const struct spool_rcpt *rc,
		      int64_t next_try, int64_t now)
{
	buf_puts(out, "  ");
	put_addr(out, rc->to.addr);
	buf_printf(out, "  %s, ", state_name(rc->state));
	put_count(out, rc->attempts, "attempt");
	if (rc->state == RCPT_PENDING)
		show_next_try(out, m, next_try, now);
	buf_putc(out, '\n');
	if (rc->to.orig && strcmp(rc->to.orig, rc->to.addr) != 0) {
		buf_puts(out, "    given as ");
		put_addr(out, rc->to.orig);
		buf_putc(out, '\n');
	}
	if (rc->last_error) {
		buf_puts(out, "    last error: ");
		put_str(out, rc->last_error);
		buf_putc(out, '\n');
	}
	show_rcpt_dsn(out, rc);
}

static void show_envelope(struct buf *out, const struct spool_msg *m, int64_t now)
{
	buf_printf(out, "id:       %s\narrival:  ", m->id);
	put_time(out, m->arrival);
	buf_puts(out, " (");
	put_duration(out, now - m->arrival);
	buf_printf(out, " ago)\nsize:     %llu bytes\nsender:   ", (unsigned long long)m->body_len);
	put_addr(out, m->sender);
	buf_puts(out, "\nclient:   ");
	put_str(out, m->client);
	buf_puts(out, "\nhelo:     ");
	put_str(out, m->helo);
	buf_puts(out, "\nflags:   ");
	if (m->flags & SPOOL_MSG_8BITMIME)
		buf_puts(out, " 8BITMIME");
	if (m->flags & SPOOL_MSG_SMTPUTF8)
		buf_puts(out, " SMTPUTF8");
	if (!(m->flags & (SPOOL_MSG_8BITMIME | SPOOL_MSG_SMTPUTF8)))
		buf_puts(out, " none");
	if (m->envid || m->ret) {
		/* RFC 3461 4.3, 4.4 */
		buf_puts(out, "\ndsn:     ");
		if (m->ret)
			buf_puts(out, m->ret == DSN_RET_FULL ? " RET=FULL" : " RET=HDRS");
		if (m->envid) {
			buf_puts(out, " ENVID=");
			put_str(out, m->envid);
		}
	}
	buf_puts(out, m->held ? "\nstatus:   held (no delivery until released)\n"
			      : "\nstatus:   active\n");
}

/* Reads from the start of the body until the blank line that ends the header
 * section, at most QUEUE_VIEW_HEADER_MAX bytes. Returns the section's length
 * (its last CRLF included) or -1 on a read error; *cut is set when the limit
 * was reached first. */
static ssize_t read_headers(struct spool *sp, const struct spool_msg *m, struct buf *h, bool *cut)
{
	uint64_t limit = m->body_len < QUEUE_VIEW_HEADER_MAX ? m->body_len : QUEUE_VIEW_HEADER_MAX;
	char chunk[READ_CHUNK];
	*cut = false;
	while (h->len < limit) {
		size_t want = limit - h->len < sizeof chunk ? (size_t)(limit - h->len) : sizeof chunk;
		ssize_t n = spool_read_body(sp, m, chunk, want, h->len);
		if (n <= 0)
			return -1;
		/* The terminator may straddle two chunks: search from 3 bytes back. */
		size_t from = h->len > 3 ? h->len - 3 : 0;
		buf_append(h, chunk, (size_t)n);
		if (h->len >= 2 && memcmp(h->p, "\r\n", 2) == 0)
			return 0;
		const char *end = memmem(h->p + from, h->len - from, "\r\n\r\n", 4);
		if (end)
			return end + 2 - h->p;
	}
	*cut = h->len < m->body_len;
	return (ssize_t)h->len;
}

static void show_headers(struct buf *out, struct spool *sp, const struct spool_msg *m)
{
	struct buf h = BUF_INIT;
	bool cut;
	ssize_t len = read_headers(sp, m, &h, &cut);
	buf_puts(out, "header section:\n");
	if (len < 0)
		buf_puts(out, "  (cannot read the message from the spool)\n");
	for (size_t i = 0; len > 0 && i < (size_t)len;) {
		const char *nl = memchr(h.p + i, '\n', (size_t)len - i);
		size_t end = nl ? (size_t)(nl - h.p) : (size_t)len;
		size_t linelen = end - i;
		if (linelen && h.p[end - 1] == '\r')
			linelen--;
		buf_puts(out, "  ");
		queue_view_safe(out, h.p + i, linelen);
		buf_putc(out, '\n');
		i = end + 1;
	}
	if (cut)
		buf_printf(out, "  (header section cut at %d bytes)\n", QUEUE_VIEW_HEADER_MAX);
	buf_free(&h);
}

void queue_view_show(struct buf *out, struct spool *sp, const struct spool_msg *m, int64_t now,
		     queue_view_next_try_fn *next_try, void *arg)
{
	show_envelope(out, m, now);
	buf_puts(out, "recipients:\n");
	for (size_t i = 0; i < m->nrcpt; i++)
		show_rcpt(out, m, &m->rcpt[i], next_try ? next_try(arg, m, i) : m->rcpt[i].next_try,
			  now);
	show_headers(out, sp, m);
}
