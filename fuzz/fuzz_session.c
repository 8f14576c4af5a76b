/*
 * fuzz_session - whole pipelined SMTP sessions against the pure server
 * session (src/smtp/session.c, commands.c, data_reader.c, headers.c, reply.c).
 *
 * Input: byte 0 is the largest piece the client bytes are fed in (0: all at
 * once), byte 1 switches VRFY, EXPN, an error limit, a final timeout or
 * shutdown, STARTTLS, AUTH and submission mode, byte 2 sets max-recipients
 * (low 4 bits) and max-hops (high 4 bits, 0: none), byte 3 the size limit; the rest is what the client sends. A fixed
 * in-memory policy accepts some recipients (one of them an alias of two, one
 * accepted with no target), forwards one (251), has one moved (551), one
 * busy (450), refuses unknown users (550) and relays to relay.test only (554
 * elsewhere); logged-in users may send from example.test; other senders'
 * domains are "looked up", the answers taking turns (found, DNS failure,
 * unknown, null MX). Messages are
 * answered in turn with success, ENOSPC and EIO; STARTTLS "succeeds" at once;
 * credentials alice/secret are good, user "blocked" is rate-limited.
 * Checked:
 * - the output is only well-formed reply lines "ddd[ -]text CRLF", at most
 *   512 octets, no control characters in the text, multi-line replies
 *   complete and with one code, an enhanced status code of the reply's class;
 * - session_feed never consumes more than it was given, and consumes all of
 *   it unless an event is pending;
 * - at SESSION_EV_SENDER: a domain to look up;
 * - at SESSION_EV_AUTH: a login name and a password of at most 255 octets;
 *   good credentials make that name session_login();
 * - at SESSION_EV_MESSAGE: a sender that parses back as a mailbox, at least
 *   one recipient, addresses and origins paired and without duplicates,
 *   no more accepted RCPTs than the limit, a body within the size limit
 *   stored with CRLF line ends only, no more Received: fields than max-hops
 *   (counted again over the whole body), all of it written to the sink in
 *   pieces of at most 3 SESSION_CONTENT_CHUNKs; every content begun is
 *   discarded by the end of the session;
 * - the session is the same whatever the pieces: fed whole and fed in
 *   pieces, the transcript of replies and messages is byte for byte equal.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "smtp/headers.h"
#include "smtp/reply.h"
#include "smtp/session.h"
#include "smtp/sink_buf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define HOSTNAME "mx.example.test"
#define LOCAL_DOMAIN "example.test"

static void verdict(struct smtp_verdict *v, int code, const char *ext, const char *text)
{
	v->code = code;
	v->ext = ext;
	buf_puts(&v->text, text);
}

static void add_local(struct strlist *targets, const char *user)
{
	char addr[128];
	snprintf(addr, sizeof addr, "%s@%s", user, LOCAL_DOMAIN);
	strlist_add(targets, addr);
}

static void local_rcpt(const char *user, const char *text, struct smtp_verdict *v,
		       struct strlist *targets)
{
	if (!strcasecmp(user, "alice") || !strcasecmp(user, "bob") ||
	    !strcasecmp(user, "postmaster")) {
		add_local(targets, user);
		verdict(v, 250, "2.1.5", "Ok");
	} else if (!strcasecmp(user, "team")) {
		add_local(targets, "alice");
		add_local(targets, "bob");
		verdict(v, 250, "2.1.5", "Ok");
	} else if (!strcasecmp(user, "nobody")) {
		verdict(v, 250, "2.1.5", "Ok"); /* an alias that expands to nothing */
	} else if (!strcasecmp(user, "fwd")) {
		strlist_add(targets, "fwd@remote.test");
		verdict(v, 251, "2.1.5", "User not local; will forward to <fwd@remote.test>");
	} else if (!strcasecmp(user, "moved")) {
		verdict(v, 551, "5.1.6", "User not local; please try <moved@new.test>");
	} else if (!strcasecmp(user, "busy")) {
		verdict(v, 450, "4.2.1", "Mailbox busy\nTry again later");
	} else {
		v->code = 550;
		v->ext = "5.1.1";
		buf_printf(&v->text, "<%s>: Recipient address rejected: User unknown", text);
	}
}

static void policy_rcpt(void *ctx, const struct address *a, struct smtp_verdict *v,
			struct strlist *targets)
{
	(void)ctx;
	char text[ADDR_MAILBOX_MAX + 2];
	if (addr_format(a, text, sizeof text) < 0)
		abort();
	if (a->domain[0] == '\0' || !strcasecmp(a->domain, LOCAL_DOMAIN)) {
		local_rcpt(a->local, text, v, targets);
	} else if (!strcasecmp(a->domain, "relay.test")) {
		strlist_add(targets, text);
		verdict(v, 250, "2.1.5", "Ok");
	} else {
		v->code = 554;
		v->ext = "5.7.1";
		buf_printf(&v->text, "<%s>: Relay access denied", text);
	}
}

static void policy_vrfy(void *ctx, const char *arg, struct smtp_verdict *v)
{
	(void)ctx;
	if (!strcasecmp(arg, "alice")) {
		verdict(v, 250, "2.1.5", "Alice Liddell <alice@" LOCAL_DOMAIN ">");
	} else if (!strcasecmp(arg, "a")) {
		verdict(v, 553, "5.1.4", "User ambiguous");
	} else {
		/* The argument echoed back, whatever bytes it holds. */
		v->code = 550;
		v->ext = "5.1.1";
		buf_printf(&v->text, "<%s>: Recipient address rejected: User unknown", arg);
	}
}

static void policy_expn(void *ctx, const char *arg, struct smtp_verdict *v)
{
	(void)ctx;
	if (!strcasecmp(arg, "team")) {
		verdict(v, 250, "2.1.5", "<alice@" LOCAL_DOMAIN ">\n<bob@" LOCAL_DOMAIN ">");
	} else {
		/* Long and multi-line: replies are cut at 512 octets, split at '\n'. */
		v->code = 550;
		v->ext = "5.1.1";
		buf_printf(&v->text, "%s\n%s%s%s: not a list", arg, arg, arg, arg);
	}
}

/* A logged-in user may send as anyone in our domain, and "any" as anyone. */
static void policy_mail(void *ctx, const char *login, const struct address *sender,
			struct smtp_verdict *v)
{
	(void)ctx;
	if (!login || !strcmp(login, "any") || !strcasecmp(sender->domain, LOCAL_DOMAIN))
		verdict(v, 250, "2.1.0", "Ok");
	else
		verdict(v, 553, "5.7.1", "Sender address not owned by the logged-in user");
}

static bool policy_sender_lookup(void *ctx, const char *login, const struct address *sender)
{
	(void)ctx;
	return !login && !sender->is_null && strcasecmp(sender->domain, LOCAL_DOMAIN) != 0;
}

static const struct smtp_policy policy = {
	.rcpt = policy_rcpt,
	.vrfy = policy_vrfy,
	.expn = policy_expn,
	.mail = policy_mail,
	.sender_lookup = policy_sender_lookup,
};

static bool is_digit_in(char c, char lo, char hi)
{
	return c >= lo && c <= hi;
}

/* RFC 3463: "x.y.z " at the start of the text has the reply's class x. */
static void check_enhanced(int code, const char *text, size_t len)
{
	if (len < 6 || !is_digit_in(text[0], '2', '5') || text[1] != '.')
		return;
	size_t i = 2, d1 = 0, d2 = 0;
	while (i < len && is_digit_in(text[i], '0', '9'))
		i++, d1++;
	if (i >= len || text[i++] != '.')
		return;
	while (i < len && is_digit_in(text[i], '0', '9'))
		i++, d2++;
	if (!d1 || !d2 || (i < len && text[i] != ' '))
		return;
	if (text[0] - '0' != code / 100)
		abort();
}

/* The output since the last call: complete, well-formed reply lines only. */
static void check_output(const struct buf *out)
{
	int pending = 0; /* code of an unfinished multi-line reply */
	size_t i = 0;
	while (i < out->len) {
		const char *line = out->p + i;
		const char *crlf = memmem(line, out->len - i, "\r\n", 2);
		if (!crlf)
			abort();
		size_t len = (size_t)(crlf - line);
		if (len + 2 > REPLY_LINE_MAX || len < 4 || !is_digit_in(line[0], '2', '5') ||
		    !is_digit_in(line[1], '0', '5') || !is_digit_in(line[2], '0', '9') ||
		    (line[3] != ' ' && line[3] != '-'))
			abort();
		int code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
		if (pending && code != pending)
			abort();
		for (size_t k = 4; k < len; k++)
			if ((unsigned char)line[k] < 0x20 || line[k] == 0x7f)
				abort();
		check_enhanced(code, line + 4, len - 4);
		pending = line[3] == '-' ? code : 0;
		i += len + 2;
	}
	if (pending)
		abort();
}

struct run {
	const struct session_limits *lim;
	struct sink_buf content; /* what the session wrote as message content */
	struct buf log;     /* replies and messages, to compare runs */
	unsigned messages;
	unsigned lookups;
};

static void check_body(const struct buf *b, uint64_t max)
{
	if (max && b->len > max)
		abort();
	for (size_t i = 0; i < b->len; i++) {
		if (b->p[i] == '\r' && (i + 1 == b->len || b->p[i + 1] != '\n'))
			abort();
		if (b->p[i] == '\n' && (i == 0 || b->p[i - 1] != '\r'))
			abort();
	}
}

static void check_envelope(const struct envelope *e, const struct session_limits *lim)
{
	struct address a;
	if (!e->sender || (e->sender[0] &&
			   addr_parse_mailbox(e->sender, strlen(e->sender), ADDR_ALLOW_UTF8, &a) !=
				   ADDR_OK))
		abort();
	if (e->rcpt.n == 0 || e->naccepted == 0 || e->naccepted > lim->max_recipients)
		abort();
	for (size_t i = 0; i < e->rcpt.n; i++) {
		if (!e->rcpt.v[i].addr || !e->rcpt.v[i].orig)
			abort();
		for (size_t j = 0; j < i; j++)
			if (!strcasecmp(e->rcpt.v[i].addr, e->rcpt.v[j].addr))
				abort();
	}
}

/* Hands the message over and answers it: queued, disk full, other error. */
static void message(struct session *s, struct run *r)
{
	const struct envelope *e = session_envelope(s);
	const struct buf *body = &r->content.content;
	/* Every octet reached the sink, in pieces of a bounded size. */
	if (session_content_len(s) != body->len || r->content.largest > 3 * SESSION_CONTENT_CHUNK)
		abort();
	check_envelope(e, r->lim);
	check_body(body, r->lim->max_message_size);
	if (r->lim->max_hops &&
	    header_count(body->p ? body->p : "", body->len, "Received") > r->lim->max_hops)
		abort();
	buf_printf(&r->log, "MESSAGE from <%s> 8bit=%d esmtp=%d", e->sender, e->body_8bit,
		   e->esmtp);
	for (size_t i = 0; i < e->rcpt.n; i++)
		buf_printf(&r->log, " %s(%s)", e->rcpt.v[i].addr, e->rcpt.v[i].orig);
	buf_printf(&r->log, " body %zu\n", body->len);
	buf_append(&r->log, body->p ? body->p : "", body->len);
	switch (r->messages++ % 3) {
	case 0:
		session_message_done(s, "0ABCDEFGHJKMNPQR", 0);
		break;
	case 1:
		session_message_done(s, NULL, ENOSPC);
		break;
	default:
		session_message_done(s, NULL, EIO);
		break;
	}
}

/* Credentials: alice/secret and any/any are good, "blocked" is rate-limited. */
static void authenticate(struct session *s, struct run *r)
{
	const char *user = session_auth_user(s), *pass = session_auth_pass(s);
	size_t ulen = strlen(user), plen = strlen(pass);
	/* auth.c takes at most 255 octets of each. */
	if (ulen > 255 || plen > 255)
		abort();
	enum auth_result res = AUTH_FAILED;
	if ((!strcmp(user, "alice") && !strcmp(pass, "secret")) ||
	    (!strcmp(user, "any") && !strcmp(pass, "any")))
		res = AUTH_OK;
	else if (!strcmp(user, "blocked"))
		res = AUTH_BLOCKED;
	/* The credentials are gone after session_auth_done: keep the name. */
	char name[256];
	memcpy(name, user, ulen + 1);
	buf_printf(&r->log, "AUTH %s %d\n", name, (int)res);
	session_auth_done(s, res);
	if (res == AUTH_OK && (!session_login(s) || strcmp(session_login(s), name) != 0))
		abort();
}

/* The sender's domain: the answers take turns. */
static void sender_domain(struct session *s, struct run *r)
{
	const char *dom = session_sender_domain(s);
	if (!*dom)
		abort();
	enum sender_result res = (enum sender_result)(r->lookups++ % 4);
	buf_printf(&r->log, "SENDER %s %d\n", dom, (int)res);
	session_sender_done(s, res);
}

static void collect(struct session *s, struct run *r)
{
	struct buf *out = session_output(s);
	check_output(out);
	buf_append(&r->log, out->p ? out->p : "", out->len);
	buf_reset(out);
}

static uint32_t next_rand(uint32_t *st)
{
	*st = *st * 1103515245u + 12345u;
	return *st >> 16;
}

/* Does what the shell does for the pending event; false when there is none
 * to answer (none at all, or CLOSE). */
static bool answer(struct session *s, struct run *r)
{
	switch (session_event(s)) {
	case SESSION_EV_MESSAGE:
		message(s, r);
		return true;
	case SESSION_EV_AUTH:
		authenticate(s, r);
		return true;
	case SESSION_EV_SENDER:
		sender_domain(s, r);
		return true;
	case SESSION_EV_STARTTLS:
		/* The shell would drop what is left of its read; a model that
		 * depends on read sizes could not compare runs, so the input
		 * simply goes on under "TLS". */
		if (session_tls_active(s))
			abort();
		buf_puts(&r->log, "TLS\n");
		session_tls_started(s);
		return true;
	default:
		return false;
	}
}

/* One whole session; piece sizes are 1..maxchunk (all at once when 0). */
static void run_session(const char *p, size_t n, unsigned maxchunk, unsigned ending,
			struct run *r)
{
	struct session *s = session_new(r->lim, &policy, NULL, &sink_buf, &r->content);
	session_start(s);
	uint32_t seed = (uint32_t)n;
	size_t off = 0;
	for (;;) {
		collect(s, r);
		if (answer(s, r))
			continue;
		if (session_event(s) != SESSION_EV_NONE || off == n)
			break;
		size_t piece = n - off;
		if (maxchunk) {
			size_t want = 1 + next_rand(&seed) % maxchunk;
			piece = want < piece ? want : piece;
		}
		size_t used = session_feed(s, p + off, piece);
		if (used > piece || (used < piece && session_event(s) == SESSION_EV_NONE))
			abort();
		off += used;
	}
	if (session_event(s) == SESSION_EV_NONE && ending) {
		if (ending == 1)
			session_timeout(s);
		else
			session_shutdown(s);
		collect(s, r);
		if (session_event(s) != SESSION_EV_CLOSE)
			abort();
	}
	session_free(s);
	/* Whatever was begun was discarded (answered, refused or reset). */
	if (r->content.begins != r->content.discards)
		abort();
	sink_buf_free(&r->content);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 4)
		return 0;
	struct session_limits lim = {
		.hostname = HOSTNAME,
		.max_message_size = data[3] ? (uint64_t)data[3] * 16 : 10u << 20,
		.max_recipients = data[2] ? data[2] % 16 : 100,
		.max_hops = data[2] >> 4,
		.max_errors = data[1] & 4 ? 5 : 0,
		.vrfy = data[1] & 1,
		.expn = data[1] & 2,
		.starttls = data[1] & 0x20,
		.auth = data[1] & 0x40,
		.submission = data[1] & 0x80,
	};
	unsigned ending = (data[1] >> 3) % 3;
	const char *p = (const char *)data + 4;
	size_t n = size - 4;
	struct run whole = {.lim = &lim}, pieces = {.lim = &lim};
	run_session(p, n, 0, ending, &whole);
	run_session(p, n, data[0], ending, &pieces);
	if (whole.log.len != pieces.log.len ||
	    (whole.log.len && memcmp(whole.log.p, pieces.log.p, whole.log.len) != 0))
		abort();
	buf_free(&whole.log);
	buf_free(&pieces.log);
	return 0;
}
