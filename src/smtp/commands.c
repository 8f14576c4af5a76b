/*
 * commands - the SMTP verbs, each a check (validate; emit 4xx/5xx and
 * refuse) and a proceed (act; emit the 2xx/3xx), dispatched from one table
 * whose flags say what each command needs. RFC 5321 3, 4.1.1, 4.3.2;
 * RFC 1870 (SIZE), RFC 6152 (8BITMIME), RFC 2920 (PIPELINING), RFC 2034.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "smtp/reply.h"
#include "smtp/session_int.h"

/* HELO/EHLO: RFC 5321 4.1.1.1. The argument is taken as one printable token;
 * being picky about its syntax only turns away broken but harmless clients. */
static bool check_hello(struct session *s, const char *arg)
{
	for (const unsigned char *c = (const unsigned char *)arg; *c; c++) {
		if (*c <= ' ' || *c == 0x7f) {
			session_reply(s, 501, "5.5.4", "Syntax: HELO/EHLO domain-or-address-literal");
			return false;
		}
	}
	return true;
}

static void greet(struct session *s, const char *arg, bool esmtp)
{
	/* RFC 5321 4.1.4: HELO/EHLO resets any transaction in progress. */
	session_reset_transaction(s);
	free(s->helo);
	s->helo = xstrdup(arg);
	s->esmtp = esmtp;
	s->env.esmtp = esmtp;
	s->state = ST_READY;
}

static void proceed_helo(struct session *s, const char *arg)
{
	greet(s, arg, false);
	session_replyf(s, 250, NULL, "%s", s->lim->hostname);
}

static void proceed_ehlo(struct session *s, const char *arg)
{
	greet(s, arg, true);
	struct buf text = BUF_INIT;
	/* RFC 1870: SIZE with the fixed maximum; RFC 2920, 6152, 2034. */
	buf_printf(&text, "%s greets %.200s\nPIPELINING\nSIZE %" PRIu64
		   "\n8BITMIME\nENHANCEDSTATUSCODES\nCHUNKING\nSMTPUTF8", s->lim->hostname, arg,
		   s->lim->max_message_size);
	if (s->lim->starttls && !s->tls)
		buf_puts(&text, "\nSTARTTLS");
	/* RFC 4954 4: mechanisms that send passwords only under TLS. */
	if (s->lim->auth && s->tls)
		buf_puts(&text, "\nAUTH PLAIN LOGIN");
	session_reply(s, 250, NULL, text.p);
	buf_free(&text);
}

/* Accepts "FROM:" / "TO:" (any case) and the one optional space some clients
 * put after the colon; returns the text after it, or NULL. */
static const char *after_keyword(const char *arg, const char *kw)
{
	size_t n = strlen(kw);
	if (strncasecmp(arg, kw, n) != 0)
		return NULL;
	arg += n;
	return *arg == ' ' ? arg + 1 : arg;
}

/* Parses the path; on failure replies as RFC 5321 4.3.2 / 4.5.3.1.10 say. */
static bool parse_path(struct session *s, const char *p, unsigned flags, const char *bad_ext,
		       const char **rest)
{
	size_t used = 0;
	enum addr_status st = addr_parse_path(p, strlen(p), flags, &s->addr, &used);
	switch (st) {
	case ADDR_OK:
		*rest = p + used;
		return true;
	case ADDR_ERR_SYNTAX:
		session_reply(s, 501, "5.5.4", "Syntax: address must be written <local@domain>");
		return false;
	case ADDR_ERR_LOCAL_TOO_LONG:
	case ADDR_ERR_DOMAIN_TOO_LONG:
	case ADDR_ERR_PATH_TOO_LONG:
		session_replyf(s, 501, "5.5.4", "Path too long: %s", addr_status_text(st));
		return false;
	default:
		session_replyf(s, 553, bad_ext, "Bad address syntax: %s", addr_status_text(st));
		return false;
	}
}

static bool non_ascii(const char *str)
{
	for (; *str; str++)
		if ((unsigned char)*str >= 0x80)
			return true;
	return false;
}

/* ESMTP parameters of MAIL (RFC 5321 4.1.2 Mail-parameters). */
static bool parse_mail_params(struct session *s, const char *p)
{
	s->mail_8bit = false;
	s->mail_utf8 = false;
	while (*p == ' ')
		p++;
	if (*p && !s->esmtp) {
		session_reply(s, 555, "5.5.4", "Parameters need EHLO");
		return false;
	}
	while (*p) {
		size_t len = strcspn(p, " ");
		char tok[128];
		if (len >= sizeof tok) {
			session_reply(s, 501, "5.5.4", "Parameter too long");
			return false;
		}
		memcpy(tok, p, len);
		tok[len] = '\0';
		char *eq = strchr(tok, '=');
		const char *val = eq ? eq + 1 : "";
		if (eq)
			*eq = '\0';
		if (strcasecmp(tok, "SIZE") == 0) {
			/* RFC 1870 6: refuse up front what could not be accepted. */
			char *end;
			errno = 0;
			unsigned long long n = strtoull(val, &end, 10);
			if (!*val || *end || errno || val[0] == '-') {
				session_reply(s, 501, "5.5.4", "Syntax: SIZE=<number>");
				return false;
			}
			if (s->lim->max_message_size && n > s->lim->max_message_size) {
				session_reply(s, 552, "5.3.4", "Message size exceeds fixed maximum message size");
				return false;
			}
		} else if (strcasecmp(tok, "BODY") == 0) {
			/* RFC 6152: 7BIT or 8BITMIME; BINARYMIME needs CHUNKING we do not offer. */
			if (strcasecmp(val, "8BITMIME") == 0) {
				s->mail_8bit = true;
			} else if (strcasecmp(val, "7BIT") != 0) {
				session_reply(s, 504, "5.5.4", "BODY type not supported");
				return false;
			}
		} else if (strcasecmp(tok, "SMTPUTF8") == 0 && !eq) {
			s->mail_utf8 = true; /* RFC 6531 3.4 */
		} else if (strcasecmp(tok, "AUTH") != 0) {
			/* RFC 4954 5: AUTH= is accepted; we trust only our own login. */
			session_replyf(s, 555, "5.5.4", "Unsupported parameter %s", tok);
			return false;
		}
		p += len;
		while (*p == ' ')
			p++;
	}
	return true;
}

static bool check_mail(struct session *s, const char *arg)
{
	if (s->state != ST_READY) {
		session_reply(s, 503, "5.5.1", "Nested MAIL command");
		return false;
	}
	const char *p = after_keyword(arg, "FROM:");
	if (!p) {
		session_reply(s, 501, "5.5.4", "Syntax: MAIL FROM:<address>");
		return false;
	}
	if (s->lim->submission && !s->login) {
		/* RFC 6409 4.3 / RFC 4954 6: submission needs a login first. */
		session_reply(s, 530, "5.7.0", "Authentication required");
		return false;
	}
	const char *rest;
	if (!parse_path(s, p, ADDR_ALLOW_NULL | ADDR_ALLOW_UTF8, "5.1.7", &rest) ||
	    !parse_mail_params(s, rest))
		return false;
	if (!s->mail_utf8 && (non_ascii(s->addr.local) || non_ascii(s->addr.domain))) {
		/* RFC 6531 3.5: a UTF-8 address needs the SMTPUTF8 parameter. */
		session_reply(s, 553, "5.6.7", "Sender address needs SMTPUTF8");
		return false;
	}
	if (s->pol->mail) {
		struct smtp_verdict v = {0};
		s->pol->mail(s->pol_ctx, s->login, &s->addr, &v);
		bool ok = v.code >= 200 && v.code < 300;
		if (!ok)
			session_reply(s, v.code, v.ext, v.text.p ? v.text.p : "");
		buf_free(&v.text);
		return ok;
	}
	return true;
}

static void proceed_mail(struct session *s, const char *arg)
{
	(void)arg;
	char text[ADDR_PATH_MAX + 1];
	addr_format(&s->addr, text, sizeof text);
	s->env.sender = xstrdup(text);
	s->env.body_8bit = s->mail_8bit;
	s->env.smtputf8 = s->mail_utf8;
	s->state = ST_MAIL;
	session_reply(s, 250, "2.1.0", "Ok");
}

static bool check_rcpt(struct session *s, const char *arg)
{
	if (s->state != ST_MAIL) {
		session_reply(s, 503, "5.5.1", "Need MAIL before RCPT");
		return false;
	}
	const char *p = after_keyword(arg, "TO:");
	if (!p) {
		session_reply(s, 501, "5.5.4", "Syntax: RCPT TO:<address>");
		return false;
	}
	const char *rest;
	unsigned flags = ADDR_ALLOW_NO_DOMAIN | (s->env.smtputf8 ? ADDR_ALLOW_UTF8 : 0);
	if (!parse_path(s, p, flags, "5.1.3", &rest))
		return false;
	while (*rest == ' ')
		rest++;
	if (*rest) {
		session_replyf(s, 555, "5.5.4", "Unsupported RCPT parameter %.64s", rest);
		return false;
	}
	/* RFC 5321 4.5.3.1.8: past our limit, 452 and the client sends the rest later. */
	if (s->env.naccepted >= s->lim->max_recipients) {
		session_reply(s, 452, "4.5.3", "Too many recipients");
		return false;
	}
	return true;
}

static void proceed_rcpt(struct session *s, const char *arg)
{
	(void)arg;
	struct smtp_verdict v = {0};
	struct strlist targets = STRLIST_INIT;
	s->pol->rcpt(s->pol_ctx, &s->addr, &v, &targets);
	if (v.code >= 200 && v.code < 300 && targets.n) {
		char orig[ADDR_PATH_MAX + 1];
		addr_format(&s->addr, orig, sizeof orig);
		for (size_t i = 0; i < targets.n; i++) {
			if (strlist_add_unique(&s->env.rcpt_addr, targets.v[i]))
				strlist_add(&s->env.rcpt_orig, orig);
		}
		s->env.naccepted++;
	}
	if (v.code >= 300 && session_no_progress(s)) {
		strlist_free(&targets);
		buf_free(&v.text);
		return;
	}
	session_reply(s, v.code, v.ext, v.text.p ? v.text.p : "");
	strlist_free(&targets);
	buf_free(&v.text);
}

static bool check_data(struct session *s, const char *arg)
{
	(void)arg;
	if (s->state != ST_MAIL) {
		session_reply(s, 503, "5.5.1", "Need MAIL and RCPT before DATA");
		return false;
	}
	if (s->bdat_used) {
		session_reply(s, 503, "5.5.1", "DATA not allowed after BDAT (RFC 3030)");
		return false;
	}
	if (!s->env.rcpt_addr.n) {
		/* RFC 5321 3.3: 554 when every RCPT was refused. */
		session_reply(s, 554, "5.5.1", "No valid recipients");
		return false;
	}
	return true;
}

static void proceed_data(struct session *s, const char *arg)
{
	(void)arg;
	data_reader_init(&s->dr, s->lim->max_message_size ? s->lim->max_message_size : UINT64_MAX);
	buf_reset(&s->body);
	s->state = ST_DATA;
	session_reply(s, 354, NULL, "End data with <CR><LF>.<CR><LF>");
}

static void proceed_rset(struct session *s, const char *arg)
{
	(void)arg;
	session_reset_transaction(s);
	session_reply(s, 250, "2.0.0", "Ok");
}

static void proceed_noop(struct session *s, const char *arg)
{
	(void)arg;
	session_reply(s, 250, "2.0.0", "Ok");
}

static void proceed_quit(struct session *s, const char *arg)
{
	(void)arg;
	session_replyf(s, 221, "2.0.0", "%s closing connection", s->lim->hostname);
	session_close(s);
}

/* Runs a VRFY/EXPN policy hook and sends its verdict. */
static void ask_policy(struct session *s, const char *arg,
		       void (*fn)(void *, const char *, struct smtp_verdict *))
{
	struct smtp_verdict v = {0};
	fn(s->pol_ctx, arg, &v);
	session_reply(s, v.code, v.ext, v.text.p ? v.text.p : "");
	buf_free(&v.text);
}

static void proceed_vrfy(struct session *s, const char *arg)
{
	/* RFC 5321 3.5.3: with VRFY off, 252 still lets the client try RCPT. */
	if (!s->lim->vrfy)
		session_reply(s, 252, "2.5.2",
			      "Cannot VRFY user, but will accept message and attempt delivery");
	else
		ask_policy(s, arg, s->pol->vrfy);
}

static void proceed_expn(struct session *s, const char *arg)
{
	if (!s->lim->expn)
		session_reply(s, 502, "5.5.1", "EXPN command disabled");
	else
		ask_policy(s, arg, s->pol->expn);
}

static void proceed_help(struct session *s, const char *arg)
{
	(void)arg;
	session_reply(s, 214, "2.0.0",
		      "Petrel SMTP server; commands:\n"
		      "HELO EHLO MAIL RCPT DATA RSET NOOP QUIT VRFY EXPN HELP\n"
		      "See RFC 5321 for their syntax.\nEnd of HELP info");
}

static bool check_starttls(struct session *s, const char *arg)
{
	(void)arg;
	if (!s->lim->starttls) {
		session_reply(s, 502, "5.5.1", "STARTTLS not available");
		return false;
	}
	if (s->tls) {
		session_reply(s, 503, "5.5.1", "TLS already active");
		return false;
	}
	return true;
}

static void proceed_starttls(struct session *s, const char *arg)
{
	(void)arg;
	session_reset_transaction(s);
	session_reply(s, 220, "2.0.0", "Ready to start TLS");
	/* The session consumes nothing more: whatever the client pipelined
	 * after STARTTLS is dropped by the shell, never executed (CVE-2011-0411). */
	s->event = SESSION_EV_STARTTLS;
}

static void proceed_obsolete(struct session *s, const char *arg)
{
	(void)arg;
	/* RFC 5321 4.2.4 / 3.4: SEND, SOML, SAML, TURN are obsolete: 502. */
	session_reply(s, 502, "5.5.1", "Command not implemented");
}

static const struct smtp_command commands[] = {
	{"HELO", CMD_NEEDS_ARG, check_hello, proceed_helo},
	{"EHLO", CMD_NEEDS_ARG, check_hello, proceed_ehlo},
	{"MAIL", CMD_NEEDS_ARG | CMD_NEEDS_HELO, check_mail, proceed_mail},
	{"RCPT", CMD_NEEDS_ARG | CMD_NEEDS_HELO, check_rcpt, proceed_rcpt},
	{"DATA", CMD_NO_ARG | CMD_NEEDS_HELO, check_data, proceed_data},
	{"RSET", CMD_NO_ARG | CMD_NO_PROGRESS, NULL, proceed_rset},
	{"NOOP", CMD_NO_PROGRESS, NULL, proceed_noop},
	{"QUIT", CMD_NO_ARG, NULL, proceed_quit},
	{"VRFY", CMD_NEEDS_ARG | CMD_NO_PROGRESS, NULL, proceed_vrfy},
	{"EXPN", CMD_NEEDS_ARG | CMD_NO_PROGRESS, NULL, proceed_expn},
	{"HELP", CMD_NO_PROGRESS, NULL, proceed_help},
	{"STARTTLS", CMD_NO_ARG, check_starttls, proceed_starttls},
	/* No CMD_NEEDS_HELO: a refused chunk must still be read (bdat.c). */
	{"BDAT", CMD_NEEDS_ARG, check_bdat, proceed_bdat},
	{"AUTH", CMD_NEEDS_ARG | CMD_NEEDS_HELO, check_auth, proceed_auth},
	{"SEND", CMD_ERROR, NULL, proceed_obsolete},
	{"SOML", CMD_ERROR, NULL, proceed_obsolete},
	{"SAML", CMD_ERROR, NULL, proceed_obsolete},
	{"TURN", CMD_ERROR, NULL, proceed_obsolete},
};

const struct smtp_command *command_lookup(const char *verb, size_t len)
{
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
		if (strlen(commands[i].verb) == len && strncasecmp(commands[i].verb, verb, len) == 0)
			return &commands[i];
	return NULL;
}
