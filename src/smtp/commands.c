/*
 * commands - the SMTP verbs, each a check (validate; emit 4xx/5xx and
 * refuse) and a proceed (act; emit the 2xx/3xx), dispatched from one table
 * whose flags say what each command needs. RFC 5321 3, 4.1.1, 4.3.2;
 * RFC 1870 (SIZE), RFC 6152 (8BITMIME), RFC 2920 (PIPELINING), RFC 2034,
 * RFC 3461 (DSN: RET, ENVID, NOTIFY, ORCPT), RFC 7505 (a sender's null MX).
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
	/* RFC 1870: SIZE with the fixed maximum; RFC 2920, 6152, 2034, 3030,
	 * 6531, 3461. */
	buf_printf(&text, "%s greets %.200s\nPIPELINING\nSIZE %" PRIu64
		   "\n8BITMIME\nENHANCEDSTATUSCODES\nCHUNKING\nSMTPUTF8\nDSN", s->lim->hostname, arg,
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

/* One esmtp-param (RFC 5321 4.1.2): keyword ["=" value], pointing into the
 * command line. */
struct param {
	const char *key;
	size_t klen;
	const char *val;  /* "" when there is no "=" */
	size_t vlen;
	bool has_val;
};

/* Takes the next space-separated parameter from *p; false at the end. */
static bool next_param(const char **p, struct param *pm)
{
	while (**p == ' ')
		(*p)++;
	if (!**p)
		return false;
	size_t len = strcspn(*p, " ");
	const char *eq = memchr(*p, '=', len);
	pm->key = *p;
	pm->klen = eq ? (size_t)(eq - *p) : len;
	pm->has_val = eq != NULL;
	pm->val = eq ? eq + 1 : "";
	pm->vlen = eq ? len - pm->klen - 1 : 0;
	*p += len;
	return true;
}

static bool val_is(const struct param *pm, const char *word)
{
	return pm->vlen == strlen(word) && strncasecmp(pm->val, word, pm->vlen) == 0;
}

/* RFC 1870 6: refuse up front what could not be accepted. */
static bool param_size(struct session *s, const struct param *pm)
{
	char num[24], *end = num;
	unsigned long long n = 0;
	bool ok = pm->vlen > 0 && pm->vlen < sizeof num && pm->val[0] != '-';
	if (ok) {
		memcpy(num, pm->val, pm->vlen);
		num[pm->vlen] = '\0';
		errno = 0;
		n = strtoull(num, &end, 10);
		ok = !*end && !errno;
	}
	if (!ok) {
		session_reply(s, 501, "5.5.4", "Syntax: SIZE=<number>");
		return false;
	}
	if (s->lim->max_message_size && n > s->lim->max_message_size) {
		session_reply(s, 552, "5.3.4", "Message size exceeds fixed maximum message size");
		return false;
	}
	return true;
}

/* RFC 6152: 7BIT or 8BITMIME; BINARYMIME (RFC 3030) is not offered. */
static bool param_body(struct session *s, const struct param *pm)
{
	if (val_is(pm, "8BITMIME"))
		s->mail_8bit = true;
	else if (!val_is(pm, "7BIT")) {
		session_reply(s, 504, "5.5.4", "BODY type not supported");
		return false;
	}
	return true;
}

static bool param_smtputf8(struct session *s, const struct param *pm)
{
	if (pm->has_val) {
		session_reply(s, 501, "5.5.4", "Syntax: SMTPUTF8 takes no value (RFC 6531 3.4)");
		return false;
	}
	s->mail_utf8 = true;
	return true;
}

/* RFC 4954 5: AUTH= is accepted; we trust only our own login. */
static bool param_auth(struct session *s, const struct param *pm)
{
	(void)s;
	(void)pm;
	return true;
}

/* RFC 3461 4.3 */
static bool param_ret(struct session *s, const struct param *pm)
{
	if (val_is(pm, "FULL"))
		s->mail_ret = DSN_RET_FULL;
	else if (val_is(pm, "HDRS"))
		s->mail_ret = DSN_RET_HDRS;
	else {
		session_reply(s, 501, "5.5.4", "Syntax: RET=FULL or RET=HDRS (RFC 3461 4.3)");
		return false;
	}
	return true;
}

/* RFC 3461 4.4: kept as given, so it can be passed on unchanged. */
static bool param_envid(struct session *s, const struct param *pm)
{
	if (!dsn_envid_valid(pm->val, pm->vlen) || pm->vlen >= sizeof s->mail_envid) {
		session_reply(s, 501, "5.5.4", "Syntax: ENVID=xtext of at most 100 printable "
			      "characters (RFC 3461 4.4)");
		return false;
	}
	snprintf(s->mail_envid, sizeof s->mail_envid, "%.*s", (int)pm->vlen, pm->val);
	return true;
}

/* RFC 3461 4.1 */
static bool param_notify(struct session *s, const struct param *pm)
{
	if (!dsn_notify_parse(pm->val, pm->vlen, &s->rcpt_notify)) {
		session_reply(s, 501, "5.5.4", "Syntax: NOTIFY=NEVER or a list of SUCCESS,FAILURE,"
			      "DELAY (RFC 3461 4.1)");
		return false;
	}
	return true;
}

/* RFC 3461 4.2 (RFC 6533 3 for the utf-8 type): kept verbatim, "type;xtext". */
static bool param_orcpt(struct session *s, const struct param *pm)
{
	if (!dsn_orcpt_valid(pm->val, pm->vlen, s->env.smtputf8) ||
	    pm->vlen >= sizeof s->rcpt_orcpt) {
		session_reply(s, 501, "5.5.4", "Syntax: ORCPT=addr-type;xtext of at most 500 "
			      "characters (RFC 3461 4.2)");
		return false;
	}
	snprintf(s->rcpt_orcpt, sizeof s->rcpt_orcpt, "%.*s", (int)pm->vlen, pm->val);
	return true;
}

struct param_kind {
	const char *name;
	bool (*take)(struct session *s, const struct param *pm);
};

static const struct param_kind mail_params[] = {
	{"SIZE", param_size},       {"BODY", param_body},   {"SMTPUTF8", param_smtputf8},
	{"AUTH", param_auth},       {"RET", param_ret},     {"ENVID", param_envid},
};

static const struct param_kind rcpt_params[] = {
	{"NOTIFY", param_notify},
	{"ORCPT", param_orcpt},
};

/* ESMTP parameters of MAIL or RCPT (RFC 5321 4.1.2): each known one at most
 * once (a repeated one is a syntax error, RFC 3461 4), unknown ones 555
 * (RFC 5321 4.1.1.11). what names the command in that reply. */
static bool parse_params(struct session *s, const char *p, const struct param_kind *kinds,
			 size_t nkinds, const char *what)
{
	unsigned seen = 0;
	struct param pm;
	while (next_param(&p, &pm)) {
		if (!s->esmtp) {
			session_reply(s, 555, "5.5.4", "Parameters need EHLO");
			return false;
		}
		size_t k = 0;
		while (k < nkinds && !(strlen(kinds[k].name) == pm.klen &&
				       strncasecmp(kinds[k].name, pm.key, pm.klen) == 0))
			k++;
		if (k == nkinds) {
			session_replyf(s, 555, "5.5.4", "Unsupported %sparameter %.*s", what,
				       (int)(pm.klen < 64 ? pm.klen : 64), pm.key);
			return false;
		}
		if (seen & 1u << k) {
			session_replyf(s, 501, "5.5.4", "Duplicate %s parameter", kinds[k].name);
			return false;
		}
		seen |= 1u << k;
		if (!kinds[k].take(s, &pm))
			return false;
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
	s->mail_8bit = false;
	s->mail_utf8 = false;
	s->mail_ret = DSN_RET_UNSET;
	s->mail_envid[0] = '\0';
	if (!parse_path(s, p, ADDR_ALLOW_NULL | ADDR_ALLOW_UTF8, "5.1.7", &rest) ||
	    !parse_params(s, rest, mail_params, sizeof mail_params / sizeof mail_params[0], ""))
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

static void accept_mail(struct session *s)
{
	char text[ADDR_PATH_MAX + 1];
	addr_format(&s->addr, text, sizeof text);
	s->env.sender = xstrdup(text);
	s->env.body_8bit = s->mail_8bit;
	s->env.smtputf8 = s->mail_utf8;
	s->env.ret = s->mail_ret;
	s->env.envid = s->mail_envid[0] ? xstrdup(s->mail_envid) : NULL;
	s->state = ST_MAIL;
	session_reply(s, 250, "2.1.0", "Ok");
}

static void proceed_mail(struct session *s, const char *arg)
{
	(void)arg;
	if (s->pol->sender_lookup && s->pol->sender_lookup(s->pol_ctx, s->login, &s->addr)) {
		/* Nothing more is read until the shell has the DNS answer, so
		 * pipelined commands are answered after this MAIL (RFC 2920). */
		s->state = ST_SENDER;
		s->event = SESSION_EV_SENDER;
		return;
	}
	accept_mail(s);
}

const char *session_sender_domain(const struct session *s)
{
	return s->state == ST_SENDER ? s->addr.domain : "";
}

void session_sender_done(struct session *s, enum sender_result r)
{
	if (s->state != ST_SENDER)
		return;
	s->event = SESSION_EV_NONE;
	s->state = ST_READY;
	if (r == SENDER_OK) {
		accept_mail(s);
		return;
	}
	char addr[ADDR_PATH_MAX + 1];
	addr_format(&s->addr, addr, sizeof addr);
	/* RFC 3463 3.2: X.1.8, the sender's system cannot take return mail;
	 * RFC 7505 4.1: 550 5.7.27 for a sender domain with a null MX (556
	 * and 5.1.10 there, and RFC 7504 3, are for recipients). */
	if (r == SENDER_TEMPFAIL)
		session_replyf(s, 450, "4.1.8", "<%s>: Sender address rejected: Domain could not "
			       "be looked up, try again later", addr);
	else if (r == SENDER_NULL_MX)
		session_replyf(s, 550, "5.7.27", "<%s>: Sender address rejected: Domain accepts "
			       "no mail (null MX)", addr);
	else
		session_replyf(s, 550, "5.1.8", "<%s>: Sender address rejected: Domain not found",
			       addr);
	session_count_error(s);
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
	s->rcpt_notify = 0;
	s->rcpt_orcpt[0] = '\0';
	if (!parse_path(s, p, flags, "5.1.3", &rest) ||
	    !parse_params(s, rest, rcpt_params, sizeof rcpt_params / sizeof rcpt_params[0],
			  "RCPT "))
		return false;
	return true;
}

/* A final address with what came with its RCPT: where the client said it
 * was going, and the DSN parameters (an alias's targets share them). */
static void add_target(struct session *s, const char *target, const char *orig)
{
	if (!rcpt_list_find(&s->env.rcpt, target))
		rcpt_list_add(&s->env.rcpt, target, orig, s->rcpt_notify, s->rcpt_orcpt);
}

static void proceed_rcpt(struct session *s, const char *arg)
{
	(void)arg;
	/* RFC 5321 4.5.3.1.8, 4.5.3.1.10: past our limit, 452 and the client
	 * sends the rest in a later transaction; with PIPELINING (RFC 2920) it
	 * may send its whole list before seeing any reply. So this is no client
	 * error, nor harvesting (it says nothing about the address), and DATA
	 * still takes the accepted ones. Only an overshoot no real list needs
	 * counts as errors, so the 452s cannot go on for ever. */
	if (s->env.naccepted >= s->lim->max_recipients) {
		session_reply(s, 452, "4.5.3", "Too many recipients");
		if (++s->env.nover > RCPT_OVERSHOOT_MAX)
			session_count_error(s);
		return;
	}
	struct smtp_verdict v = {0};
	struct strlist targets = STRLIST_INIT;
	s->pol->rcpt(s->pol_ctx, &s->addr, &v, &targets);
	if (v.code >= 200 && v.code < 300 && targets.n) {
		char orig[ADDR_PATH_MAX + 1];
		addr_format(&s->addr, orig, sizeof orig);
		for (size_t i = 0; i < targets.n; i++)
			add_target(s, targets.v[i], orig);
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
	if (!s->env.rcpt.n) {
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
	session_content_start(s);
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
	{"MAIL", CMD_NEEDS_ARG | CMD_NEEDS_HELO | CMD_DSN_MAIL, check_mail, proceed_mail},
	{"RCPT", CMD_NEEDS_ARG | CMD_NEEDS_HELO | CMD_DSN_RCPT, check_rcpt, proceed_rcpt},
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
