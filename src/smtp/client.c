/*
 * client - the pure SMTP client state machine; see client.h.
 * RFC 5321 3.3 (transaction), 4.2 (replies), 4.5.2 (transparency);
 * RFC 2920 (pipelining), RFC 1870 (SIZE), RFC 3207, RFC 4954;
 * RFC 2033 (LMTP: LHLO, per-recipient replies to the final dot).
 */
#include "smtp/client.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/base64.h"
#include "util/dsn.h"
#include "util/strlist.h"

#define REPLY_LINE_LIMIT 2048 /* generous: RFC 5321 4.5.3.1.5 says 512 */
#define REPLY_LINES_LIMIT 200

enum cstate {
	CS_GREET, CS_EHLO, CS_HELO, CS_STARTTLS, CS_TLS_WAIT, CS_AUTH, CS_AUTH_USER,
	CS_AUTH_PASS, CS_READY, CS_TXN, CS_BODY, CS_DOT, CS_TXN_DONE, CS_RSET, CS_QUIT,
	CS_DONE,
};

struct smtp_client {
	struct client_opts opts;
	enum cstate st;
	enum client_event ev;
	struct buf out;
	struct buf in;
	/* the reply being assembled */
	int rcode;
	unsigned rlines;
	char rtext[CLIENT_TEXT_MAX];
	/* what the server offers (from the last EHLO) */
	struct strlist ext;
	uint64_t size_limit;
	bool tls;
	bool authed;
	struct client_reply failure;
	/* the transaction */
	struct client_txn *txn;
	size_t step;          /* replies consumed: 0 MAIL, 1..n RCPT, n+1 DATA */
	size_t accepted;
	size_t dot_next;      /* LMTP: recipients before it have their final reply */
	bool mail_failed;
	bool needs_rset;
	struct client_reply mail_reply;
	bool bol;             /* body: at the beginning of a line */
	char tail[2];         /* body: its last two bytes */
};

struct smtp_client *client_new(const struct client_opts *opts)
{
	struct smtp_client *c = xcalloc(1, sizeof *c);
	c->opts = *opts;
	c->st = CS_GREET;
	return c;
}

void client_free(struct smtp_client *c)
{
	if (!c)
		return;
	buf_free(&c->out);
	buf_free(&c->in);
	strlist_free(&c->ext);
	free(c);
}

static void set_reply(struct client_reply *r, int code, const char *text, const char *stage)
{
	r->code = code;
	snprintf(r->text, sizeof r->text, "%s", text);
	r->stage = stage;
	r->ours = false;
}

static void fail(struct smtp_client *c, int code, const char *text, const char *stage)
{
	set_reply(&c->failure, code, text, stage);
	c->st = CS_DONE;
	c->ev = CLIENT_EV_FAILED;
}

static void send_line(struct smtp_client *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void send_line(struct smtp_client *c, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	buf_vprintf(&c->out, fmt, ap);
	va_end(ap);
	buf_append(&c->out, "\r\n", 2);
}

bool client_has_ext(const struct smtp_client *c, const char *ext)
{
	return strlist_contains(&c->ext, ext);
}

uint64_t client_size_limit(const struct smtp_client *c)
{
	return c->size_limit;
}

bool client_tls_active(const struct smtp_client *c)
{
	return c->tls;
}

/* One EHLO line after the first: "KEYWORD params" (RFC 5321 4.1.1.1). */
static void note_extension(struct smtp_client *c, const char *line)
{
	char kw[64];
	size_t n = strcspn(line, " ");
	if (n == 0 || n >= sizeof kw)
		return;
	memcpy(kw, line, n);
	kw[n] = '\0';
	strlist_add_unique(&c->ext, kw);
	const char *params = line + n;
	if (strcasecmp(kw, "SIZE") == 0)
		c->size_limit = strtoull(params, NULL, 10);
	if (strcasecmp(kw, "AUTH") == 0) {
		for (const char *p = params; *p;) {
			p += strspn(p, " ");
			size_t m = strcspn(p, " ");
			char mech[40];
			if (m && m < 30) {
				snprintf(mech, sizeof mech, "AUTH=%.*s", (int)m, p);
				strlist_add_unique(&c->ext, mech);
			}
			p += m;
		}
	}
}

static void send_ehlo(struct smtp_client *c)
{
	strlist_free(&c->ext);
	c->size_limit = 0;
	/* RFC 2033 4.1: an LMTP client greets with LHLO, never EHLO or HELO. */
	send_line(c, "%s %s", c->opts.lmtp ? "LHLO" : "EHLO", c->opts.helo_name);
	c->st = CS_EHLO;
}

static void ready(struct smtp_client *c)
{
	c->st = CS_READY;
	c->ev = CLIENT_EV_READY;
}

/* RFC 4954: PLAIN in one step (initial response), LOGIN in two. */
static void start_auth(struct smtp_client *c)
{
	/* PLAIN and LOGIN carry the password itself: never over an open wire. */
	if (!c->tls && !c->opts.auth_in_clear)
		fail(c, 0, "relay host offers no STARTTLS: the password is not sent in the clear",
		     "AUTH");
	else if (client_has_ext(c, "AUTH=PLAIN")) {
		struct buf cred = BUF_INIT, b64 = BUF_INIT;
		buf_putc(&cred, '\0');
		buf_puts(&cred, c->opts.auth_user);
		buf_putc(&cred, '\0');
		buf_puts(&cred, c->opts.auth_pass);
		base64_encode(&b64, cred.p, cred.len);
		send_line(c, "AUTH PLAIN %s", b64.p);
		buf_free(&cred);
		buf_free(&b64);
		c->st = CS_AUTH;
	} else if (client_has_ext(c, "AUTH=LOGIN")) {
		send_line(c, "AUTH LOGIN");
		c->st = CS_AUTH_USER;
	} else {
		fail(c, 0, "relay host offers neither AUTH PLAIN nor AUTH LOGIN", "AUTH");
	}
}

static void send_b64(struct smtp_client *c, const char *s)
{
	struct buf b64 = BUF_INIT;
	base64_encode(&b64, s, strlen(s));
	send_line(c, "%s", b64.p ? b64.p : "");
	buf_free(&b64);
}

/* After a successful EHLO/HELO: STARTTLS first, then AUTH, then ready. */
static void after_hello(struct smtp_client *c)
{
	if (c->opts.starttls && !c->tls && client_has_ext(c, "STARTTLS")) {
		send_line(c, "STARTTLS");
		c->st = CS_STARTTLS;
	} else if (c->opts.auth_user && !c->authed) {
		start_auth(c);
	} else {
		ready(c);
	}
}

static void send_mail(struct smtp_client *c)
{
	const struct client_txn *t = c->txn;
	buf_printf(&c->out, "MAIL FROM:<%s>", t->sender);
	if (client_has_ext(c, "SIZE"))
		buf_printf(&c->out, " SIZE=%" PRIu64, t->size);
	if (t->body_8bit && client_has_ext(c, "8BITMIME"))
		buf_puts(&c->out, " BODY=8BITMIME");
	if (t->smtputf8)
		buf_puts(&c->out, " SMTPUTF8");
	c->txn->peer_dsn = client_has_ext(c, "DSN");
	/* RFC 3461 5.2.1: a DSN-capable relay passes the parameters on. */
	if (t->peer_dsn && t->ret)
		buf_puts(&c->out, t->ret == DSN_RET_FULL ? " RET=FULL" : " RET=HDRS");
	if (t->peer_dsn && t->envid)
		buf_printf(&c->out, " ENVID=%s", t->envid);
	buf_append(&c->out, "\r\n", 2);
}

static void send_rcpt(struct smtp_client *c, size_t i)
{
	const struct client_txn *t = c->txn;
	const struct rcpt *r = &t->rcpt[i];
	buf_printf(&c->out, "RCPT TO:<%s>", r->addr);
	if (t->peer_dsn && r->notify) {
		char notify[DSN_NOTIFY_TEXT_MAX];
		dsn_notify_text(r->notify, notify, sizeof notify);
		buf_printf(&c->out, " NOTIFY=%s", notify);
	}
	if (t->peer_dsn && r->orcpt)
		buf_printf(&c->out, " ORCPT=%s", r->orcpt);
	buf_append(&c->out, "\r\n", 2);
}

static void finish_txn(struct smtp_client *c, bool needs_rset)
{
	for (size_t i = 0; i < c->txn->nrcpt; i++)
		if (c->mail_failed && c->txn->result[i].code == 0)
			c->txn->result[i] = c->mail_reply;
	c->needs_rset = needs_rset;
	c->st = CS_TXN_DONE;
	c->ev = CLIENT_EV_TXN_DONE;
}

static bool pipelining(const struct smtp_client *c)
{
	return client_has_ext(c, "PIPELINING");
}

/* The reply to MAIL, a RCPT or DATA, in order (RFC 2920 3.1). */
static void txn_reply(struct smtp_client *c, int code)
{
	struct client_txn *t = c->txn;
	size_t step = c->step++;
	if (step == 0) {
		c->mail_failed = code / 100 != 2;
		set_reply(&c->mail_reply, code, c->rtext, "MAIL FROM");
		if (c->mail_failed && !pipelining(c))
			finish_txn(c, false);
		else if (!pipelining(c))
			send_rcpt(c, 0);
		return;
	}
	if (step <= t->nrcpt) {
		if (!c->mail_failed) {
			set_reply(&t->result[step - 1], code, c->rtext, "RCPT TO");
			c->accepted += code / 100 == 2;
		}
		if (pipelining(c))
			return;
		if (step < t->nrcpt)
			send_rcpt(c, step);
		else if (c->accepted)
			send_line(c, "DATA");
		else
			finish_txn(c, true);
		return;
	}
	if (code == 354 && c->accepted && !c->mail_failed) {
		c->st = CS_BODY;
		c->ev = CLIENT_EV_BODY;
		c->bol = true;
		memcpy(c->tail, "\r\n", 2);
		return;
	}
	if (code == 354) {
		/* RFC 2920 3.1: every RCPT failed yet DATA was accepted: end it empty. */
		send_line(c, ".");
		c->accepted = 0;
		c->st = CS_DOT;
		return;
	}
	for (size_t i = 0; i < t->nrcpt; i++)
		if (t->result[i].code / 100 == 2)
			set_reply(&t->result[i], code, c->rtext, "DATA");
	finish_txn(c, true);
}

/* The first recipient from index `from` on that RCPT accepted. */
static size_t next_accepted(const struct client_txn *t, size_t from)
{
	while (from < t->nrcpt && t->result[from].code / 100 != 2)
		from++;
	return from;
}

/* SMTP answers the final dot once for every accepted recipient; LMTP once
 * per accepted recipient, in RCPT order (RFC 2033 4.2). */
static void dot_reply(struct smtp_client *c, int code)
{
	struct client_txn *t = c->txn;
	size_t i = c->opts.lmtp ? next_accepted(t, c->dot_next) : t->nrcpt;
	if (i < t->nrcpt) {
		set_reply(&t->result[i], code, c->rtext, "end of data");
		c->dot_next = i + 1;
		if (next_accepted(t, c->dot_next) < t->nrcpt)
			return;
	} else {
		for (size_t k = 0; k < t->nrcpt; k++)
			if (t->result[k].code / 100 == 2)
				set_reply(&t->result[k], code, c->rtext, "end of data");
	}
	finish_txn(c, false);
}

static void handle_reply(struct smtp_client *c, int code)
{
	int cls = code / 100;
	switch (c->st) {
	case CS_GREET:
		if (cls == 2)
			send_ehlo(c);
		else
			fail(c, code, c->rtext, "greeting");
		break;
	case CS_EHLO:
		if (cls == 2) {
			after_hello(c);
		} else if (cls == 5 && !c->opts.lmtp) {
			/* RFC 5321 3.2: an old server may not know EHLO. */
			send_line(c, "HELO %s", c->opts.helo_name);
			c->st = CS_HELO;
		} else {
			fail(c, code, c->rtext, "EHLO");
		}
		break;
	case CS_HELO:
		if (cls == 2)
			after_hello(c);
		else
			fail(c, code, c->rtext, "HELO");
		break;
	case CS_STARTTLS:
		if (code == 220) {
			c->st = CS_TLS_WAIT;
			c->ev = CLIENT_EV_STARTTLS;
		} else if (c->opts.auth_user && !c->authed) {
			start_auth(c);
		} else {
			ready(c); /* opportunistic: carry on in the clear */
		}
		break;
	case CS_AUTH:
		if (cls == 2) { /* 235; some servers say 250 */
			c->authed = true;
			ready(c);
		} else {
			fail(c, code, c->rtext, "AUTH");
		}
		break;
	case CS_AUTH_USER:
	case CS_AUTH_PASS:
		if (code != 334) {
			fail(c, code, c->rtext, "AUTH");
		} else {
			send_b64(c, c->st == CS_AUTH_USER ? c->opts.auth_user : c->opts.auth_pass);
			c->st = c->st == CS_AUTH_USER ? CS_AUTH_PASS : CS_AUTH;
		}
		break;
	case CS_TXN:
		txn_reply(c, code);
		break;
	case CS_DOT:
		dot_reply(c, code);
		break;
	case CS_RSET:
		if (cls == 2)
			ready(c);
		else
			fail(c, code, c->rtext, "RSET");
		break;
	case CS_QUIT:
		c->st = CS_DONE;
		c->ev = CLIENT_EV_CLOSED;
		break;
	default:
		/* A reply nobody asked for, e.g. 421 on an idle connection. */
		fail(c, code, c->rtext, "idle");
		break;
	}
}

/* One reply line: "ddd text" or "ddd-text" (RFC 5321 4.2). */
static void reply_line(struct smtp_client *c, const char *line, size_t len)
{
	bool ok = len >= 3 && line[0] >= '2' && line[0] <= '5' && line[1] >= '0' &&
		  line[1] <= '5' && line[2] >= '0' && line[2] <= '9' &&
		  (len == 3 || line[3] == ' ' || line[3] == '-');
	int code = ok ? (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0') : 0;
	if (!ok || (c->rlines && code != c->rcode) || ++c->rlines > REPLY_LINES_LIMIT) {
		fail(c, 0, "protocol error: malformed reply from server", "reply");
		return;
	}
	if (c->rlines == 1) {
		c->rcode = code;
		size_t n = len < sizeof c->rtext ? len : sizeof c->rtext - 1;
		for (size_t i = 0; i < n; i++)
			c->rtext[i] = (line[i] < 0x20 || line[i] == 0x7f) ? '?' : line[i];
		c->rtext[n] = '\0';
	} else if (c->st == CS_EHLO && len > 4) {
		char ext[REPLY_LINE_LIMIT];
		snprintf(ext, sizeof ext, "%.*s", (int)(len - 4), line + 4);
		note_extension(c, ext);
	}
	if (len > 3 && line[3] == '-')
		return;
	c->rlines = 0;
	handle_reply(c, code);
}

enum client_event client_feed(struct smtp_client *c, const char *p, size_t n)
{
	buf_append(&c->in, p, n);
	size_t start = 0;
	while (c->ev == CLIENT_EV_NONE && c->st != CS_DONE) {
		char *nl = memchr(c->in.p + start, '\n', c->in.len - start);
		if (!nl)
			break;
		size_t len = (size_t)(nl - (c->in.p + start));
		if (len && c->in.p[start + len - 1] == '\r')
			len--;
		reply_line(c, c->in.p + start, len);
		start = (size_t)(nl - c->in.p) + 1;
	}
	buf_consume(&c->in, start);
	if (c->in.len > REPLY_LINE_LIMIT && c->ev == CLIENT_EV_NONE)
		fail(c, 0, "protocol error: reply line too long", "reply");
	return c->ev;
}

enum client_event client_event(const struct smtp_client *c)
{
	return c->ev;
}

struct buf *client_output(struct smtp_client *c)
{
	return &c->out;
}

void client_tls_done(struct smtp_client *c)
{
	/* RFC 3207 4.2: forget everything learnt before TLS; greet again. */
	c->tls = true;
	c->ev = CLIENT_EV_NONE;
	send_ehlo(c);
}

bool client_needs_7bit(const struct smtp_client *c, const struct client_txn *txn)
{
	return txn->body_8bit && !client_has_ext(c, "8BITMIME");
}

void client_start(struct smtp_client *c, struct client_txn *txn)
{
	c->txn = txn;
	c->step = 0;
	c->accepted = 0;
	c->dot_next = 0;
	c->mail_failed = false;
	c->ev = CLIENT_EV_NONE;
	c->st = CS_TXN;
	for (size_t i = 0; i < txn->nrcpt; i++)
		set_reply(&txn->result[i], 0, "", "");
	char text[CLIENT_TEXT_MAX] = "";
	if (txn->smtputf8 && !client_has_ext(c, "SMTPUTF8"))
		/* RFC 6531 3.4: UTF-8 addresses cannot go to this server. */
		snprintf(text, sizeof text, "553 5.6.7 the server does not support SMTPUTF8");
	else if (txn->refusal)
		snprintf(text, sizeof text, "%s", txn->refusal);
	else if (c->size_limit && txn->size > c->size_limit)
		/* RFC 1870 6: do not send what the server said it will refuse. */
		snprintf(text, sizeof text, "552 5.3.4 message size %" PRIu64
			 " exceeds the server's limit of %" PRIu64, txn->size, c->size_limit);
	if (text[0]) {
		set_reply(&c->mail_reply, atoi(text), text, "MAIL FROM");
		c->mail_reply.ours = true;
		c->mail_failed = true;
		finish_txn(c, false);
		return;
	}
	send_mail(c);
	if (!pipelining(c))
		return;
	for (size_t i = 0; i < txn->nrcpt; i++)
		send_rcpt(c, i);
	send_line(c, "DATA");
}

/* RFC 5321 4.5.2: a line starting with '.' gets one more. */
void client_body_write(struct smtp_client *c, const char *p, size_t n)
{
	/* Line by line (memchr), not byte by byte: this runs over every
	 * relayed body in the event loop. */
	size_t from = 0, i = 0;
	while (i < n) {
		if (c->bol && p[i] == '.') {
			buf_append(&c->out, p + from, i - from);
			buf_putc(&c->out, '.');
			from = i;
		}
		const char *nl = memchr(p + i, '\n', n - i);
		c->bol = nl != NULL;
		if (!nl)
			break;
		i = (size_t)(nl - p) + 1;
	}
	buf_append(&c->out, p + from, n - from);
	if (n >= 2) {
		c->tail[0] = p[n - 2];
		c->tail[1] = p[n - 1];
	} else if (n == 1) {
		c->tail[0] = c->tail[1];
		c->tail[1] = p[0];
	}
}

void client_body_end(struct smtp_client *c)
{
	if (!c->bol || c->tail[0] != '\r')
		buf_append(&c->out, "\r\n", 2);
	buf_append(&c->out, ".\r\n", 3);
	c->st = CS_DOT;
	c->ev = CLIENT_EV_NONE;
}

void client_next(struct smtp_client *c)
{
	c->txn = NULL;
	c->ev = CLIENT_EV_NONE;
	if (c->needs_rset) {
		send_line(c, "RSET");
		c->st = CS_RSET;
	} else {
		ready(c);
	}
}

void client_quit(struct smtp_client *c)
{
	send_line(c, "QUIT");
	c->st = CS_QUIT;
	c->ev = CLIENT_EV_NONE;
}

void client_abort(struct smtp_client *c, const char *reason)
{
	if (c->txn && c->st != CS_TXN_DONE) {
		/* LMTP: recipients before dot_next got their final reply. */
		for (size_t i = c->dot_next; i < c->txn->nrcpt; i++)
			if (c->txn->result[i].code == 0 || c->txn->result[i].code / 100 == 2)
				set_reply(&c->txn->result[i], 0, reason, "connection");
	}
	fail(c, 0, reason, "connection");
}

const struct client_reply *client_failure(const struct smtp_client *c)
{
	return &c->failure;
}
