/* policy - MAIL / RCPT / VRFY / EXPN answers from the configuration; see policy.h. */
#include "server/policy.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "auth/ratelimit.h"

static void verdict(struct smtp_verdict *v, int code, const char *ext, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void verdict(struct smtp_verdict *v, int code, const char *ext, const char *fmt, ...)
{
	v->code = code;
	v->ext = ext;
	va_list ap;
	va_start(ap, fmt);
	buf_vprintf(&v->text, fmt, ap);
	va_end(ap);
}

static void policy_rcpt(void *ctx, const struct address *a, struct smtp_verdict *v,
			struct strlist *targets)
{
	const struct policy_ctx *pc = ctx;
	char local[ADDR_LOCAL_MAX + 1], addr[ADDR_PATH_MAX + 1];
	addr_unquote_local(a->local, local, sizeof local);
	addr_format(a, addr, sizeof addr);
	struct resolution res = {0};
	config_resolve(pc->cfg, local, a->domain, &res);
	switch (res.kind) {
	case RESOLVE_LOCAL:
		verdict(v, 250, "2.1.5", "Ok");
		break;
	case RESOLVE_FORWARD:
		/* RFC 5321 3.4: we take it and forward it ourselves. */
		verdict(v, 251, "2.1.5", "User not local; will forward to <%s>", res.targets.v[0]);
		break;
	case RESOLVE_RELOCATED:
		verdict(v, 551, "5.1.6", "User not local; please try <%s>", res.relocated_to);
		break;
	case RESOLVE_UNKNOWN:
		verdict(v, 550, "5.1.1", "<%s>: Recipient address rejected: User unknown", addr);
		break;
	case RESOLVE_REMOTE:
		/* Domains we are a backup MX for take mail from anyone. */
		if (!pc->login && !config_is_relay_domain(pc->cfg, a->domain) &&
		    !cidr_list_match(&pc->cfg->relay_from, pc->peer)) {
			/* RFC 5321 3.6.2: no relaying for strangers. */
			verdict(v, 554, "5.7.1", "<%s>: Relay access denied", addr);
			break;
		}
		verdict(v, 250, "2.1.5", "Ok");
		break;
	}
	if (v->code < 300)
		for (size_t i = 0; i < res.targets.n; i++)
			strlist_add_unique(targets, res.targets.v[i]);
	resolution_free(&res);
}

/* Splits a VRFY/EXPN argument ("name", "<name@domain>", "name@domain"). */
static void split_arg(const char *arg, char *local, size_t lsz, char *domain, size_t dsz)
{
	char tmp[ADDR_PATH_MAX + 1];
	size_t n = strlen(arg);
	if (n >= 2 && arg[0] == '<' && arg[n - 1] == '>') {
		arg++;
		n -= 2;
	}
	snprintf(tmp, sizeof tmp, "%.*s", (int)n, arg);
	char *at = strrchr(tmp, '@');
	if (at)
		*at = '\0';
	snprintf(local, lsz, "%s", tmp);
	snprintf(domain, dsz, "%s", at ? at + 1 : "");
}

static bool word_match(const struct mailbox_user *u, const char *s)
{
	size_t n = strlen(s);
	if (strncasecmp(u->name, s, n) == 0)
		return true;
	for (const char *w = u->fullname; w && *w; w += strcspn(w, " "), w += strspn(w, " "))
		if (strncasecmp(w, s, n) == 0 && (w[n] == '\0' || w[n] == ' '))
			return true;
	return false;
}

static const char *primary_domain(const struct config *cfg)
{
	return cfg->local_domains.n ? cfg->local_domains.v[0] : cfg->hostname;
}

static void user_verdict(const struct config *cfg, const struct mailbox_user *u,
			 struct smtp_verdict *v)
{
	const char *dom = primary_domain(cfg);
	if (u->fullname)
		verdict(v, 250, "2.1.5", "%s <%s@%s>", u->fullname, u->name, dom);
	else
		verdict(v, 250, "2.1.5", "<%s@%s>", u->name, dom);
}

/* RFC 5321 3.5.1: a string that is not an exact name may still match one
 * user (250) or several (553 ambiguous). */
static void fuzzy_vrfy(const struct config *cfg, const char *s, struct smtp_verdict *v)
{
	const struct mailbox_user *hit = NULL;
	size_t hits = 0;
	for (size_t i = 0; *s && i < cfg->nusers; i++)
		if (word_match(&cfg->users[i], s)) {
			hit = &cfg->users[i];
			hits++;
		}
	if (hits == 1)
		user_verdict(cfg, hit, v);
	else if (hits > 1)
		verdict(v, 553, "5.1.4", "User ambiguous");
	else
		verdict(v, 550, "5.1.1", "String does not match anything");
}

static void policy_vrfy(void *ctx, const char *arg, struct smtp_verdict *v)
{
	const struct policy_ctx *pc = ctx;
	char local[ADDR_PATH_MAX + 1], domain[ADDR_PATH_MAX + 1];
	split_arg(arg, local, sizeof local, domain, sizeof domain);
	if (*domain && !config_is_local_domain(pc->cfg, domain)) {
		verdict(v, 252, "2.5.2", "Cannot VRFY remote user, but will attempt delivery");
		return;
	}
	const struct mailbox_user *u = config_find_user(pc->cfg, local);
	struct resolution res = {0};
	config_resolve(pc->cfg, local, *domain ? domain : primary_domain(pc->cfg), &res);
	if (res.kind == RESOLVE_RELOCATED)
		verdict(v, 551, "5.1.6", "User not local; please try <%s>", res.relocated_to);
	else if (res.kind == RESOLVE_FORWARD)
		verdict(v, 251, "2.1.5", "User not local; will forward to <%s>", res.targets.v[0]);
	else if (u)
		user_verdict(pc->cfg, u, v);
	else if (res.kind == RESOLVE_LOCAL)
		verdict(v, 250, "2.1.5", "<%s@%s>", local, primary_domain(pc->cfg));
	else
		fuzzy_vrfy(pc->cfg, local, v);
	resolution_free(&res);
}

static void policy_expn(void *ctx, const char *arg, struct smtp_verdict *v)
{
	const struct policy_ctx *pc = ctx;
	char local[ADDR_PATH_MAX + 1], domain[ADDR_PATH_MAX + 1];
	split_arg(arg, local, sizeof local, domain, sizeof domain);
	struct strlist members = STRLIST_INIT;
	const struct mailbox_user *u;
	if (*domain && !config_is_local_domain(pc->cfg, domain)) {
		verdict(v, 550, "5.1.2", "Not a local list");
	} else if (config_expand_list(pc->cfg, local, &members)) {
		/* RFC 5321 3.5.2: one member per line of a multi-line 250. */
		v->code = 250;
		v->ext = "2.1.5";
		for (size_t i = 0; i < members.n; i++)
			buf_printf(&v->text, "%s<%s>", i ? "\n" : "", members.v[i]);
	} else if ((u = config_find_user(pc->cfg, local))) {
		user_verdict(pc->cfg, u, v);
	} else {
		verdict(v, 550, "5.1.1", "String does not match anything");
	}
	strlist_free(&members);
}

/* RFC 6409 6.1: a submission server may insist that a user sends only as
 * an address of theirs; which ones, the config says. */
static void policy_mail(void *ctx, const char *login, const struct address *sender,
			struct smtp_verdict *v)
{
	const struct policy_ctx *pc = ctx;
	char addr[ADDR_PATH_MAX + 1];
	addr_format(sender, addr, sizeof addr);
	if (!login) {
		/* A stranger sending too fast waits; trusted networks never do. */
		if (pc->msg_rate && !cidr_list_match(&pc->cfg->relay_from, pc->peer) &&
		    ratelimit_blocked(pc->msg_rate, pc->peer_text, time(NULL)))
			verdict(v, 450, "4.7.1", "Too much mail from your address, try again later");
		else
			verdict(v, 250, "2.1.0", "Ok");
	} else if (sender->is_null || config_may_send_as(pc->cfg, login, addr))
		verdict(v, 250, "2.1.0", "Ok");
	else
		verdict(v, 553, "5.7.1", "<%s>: Sender address not owned by user %s", addr, login);
}

/* Postfix's reject_unknown_sender_domain, on the MX role: mail whose
 * sender's domain cannot take a bounce would only end as a double bounce.
 * Not asked: for the null sender (RFC 5321 4.5.5: it gets no bounce), a
 * logged-in user or a relay-from network (ours to answer for), our own
 * domains, and address literals and UTF-8 domains, which are no DNS names
 * (no IDNA here). */
static bool policy_sender_lookup(void *ctx, const char *login, const struct address *sender)
{
	const struct policy_ctx *pc = ctx;
	const char *dom = sender->domain;
	return pc->cfg->reject_unknown_sender_domain && !login && !sender->is_null &&
	       addr_valid_domain(dom, strlen(dom), false) && !config_is_local_domain(pc->cfg, dom) &&
	       !cidr_list_match(&pc->cfg->relay_from, pc->peer);
}

const struct smtp_policy receive_policy = {
	.rcpt = policy_rcpt,
	.vrfy = policy_vrfy,
	.expn = policy_expn,
	.mail = policy_mail,
	.sender_lookup = policy_sender_lookup,
};
