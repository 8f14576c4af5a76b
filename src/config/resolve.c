/*
 * resolve - what becomes of mail for local@domain; see config.h.
 *
 * Contract: for our domains the order is relocated, alias, mailbox, so a
 * relocation entry can retire a name that still has a mailbox, and an alias
 * can redirect a mailbox user (who may keep a copy by naming himself). All
 * lookups are on the lower-cased local part, copied into buffers sized by
 * the RFC 5321 limits; anything longer cannot be ours.
 */
#include "config/config.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config/aliases.h"
#include "config/lexer.h"
#include "config/relocated.h"
#include "smtp/address.h"
#include "util/log.h"

/* Copies s lower-cased into out; false when it does not fit. */
static bool lower_copy(const char *s, char *out, size_t outsz)
{
	size_t n = strlen(s);
	if (n >= outsz)
		return false;
	memcpy(out, s, n + 1);
	lex_lower(out);
	return true;
}

/* RFC 5321 4.1.2 Dot-string, with the UTF-8 of RFC 6531 3.3 that the
 * session lets in under SMTPUTF8. lex_is_dot_atom() is ASCII only, and
 * quoting a UTF-8 Dot-string would change the address and could push it
 * past the 64-octet limit. */
static bool is_dot_string(const char *local)
{
	char text[ADDR_LOCAL_MAX + 3];
	size_t n = strlen(local);
	struct address a;
	if (n > ADDR_LOCAL_MAX || local[0] == '"')
		return false;
	memcpy(text, local, n);
	memcpy(text + n, "@x", 2);
	return addr_parse_mailbox(text, n + 2, ADDR_ALLOW_UTF8, &a) == ADDR_OK;
}

/* The caller removed the quotes of a Quoted-string local part; a local part
 * that is not a Dot-string needs them back to be an address again. */
static void add_address(struct strlist *l, const char *local, const char *domain)
{
	struct buf b = BUF_INIT;
	if (is_dot_string(local)) {
		buf_puts(&b, local);
	} else {
		buf_putc(&b, '"');
		for (const char *p = local; *p; p++) {
			if (*p == '"' || *p == '\\')
				buf_putc(&b, '\\');
			buf_putc(&b, *p);
		}
		buf_putc(&b, '"');
	}
	buf_printf(&b, "@%s", domain);
	strlist_add_unique(l, b.p);
	buf_free(&b);
}

static bool is_remote(const struct config *cfg, const char *address)
{
	const char *at = strrchr(address, '@');
	return at && !config_is_local_domain(cfg, at + 1);
}

static void resolve_local(const struct config *cfg, const char *name, struct resolution *res)
{
	const char *moved = relocated_lookup(cfg->relocated, name);
	if (moved) {
		res->kind = RESOLVE_RELOCATED;
		res->relocated_to = xstrdup(moved);
		return;
	}
	enum alias_status st = aliases_expand(cfg->aliases, cfg, name, &res->targets);
	if (st == ALIAS_OK && res->targets.n > 0) {
		bool forward = res->targets.n == 1 && is_remote(cfg, res->targets.v[0]);
		res->kind = forward ? RESOLVE_FORWARD : RESOLVE_LOCAL;
		return;
	}
	if (st != ALIAS_NOT_FOUND) {
		/* config_load expanded every alias, so this means a bug, not bad input. */
		log_error("alias %s: expansion failed at run time (status %d)", name, (int)st);
		strlist_free(&res->targets);
		return;
	}
	if (config_find_user(cfg, name)) {
		res->kind = RESOLVE_LOCAL;
		add_address(&res->targets, name, cfg->local_domains.v[0]);
	}
}

void config_resolve(const struct config *cfg, const char *local, const char *domain,
		    struct resolution *res)
{
	*res = (struct resolution){.kind = RESOLVE_UNKNOWN, .targets = STRLIST_INIT};
	/* RFC 5321 4.5.1: a bare "postmaster" is the postmaster of our domains. */
	if (domain[0] == '\0' && strcasecmp(local, "postmaster") == 0 && cfg->local_domains.n)
		domain = cfg->local_domains.v[0];
	char dom[ADDR_DOMAIN_MAX + 1], name[ADDR_LOCAL_MAX + 1];
	if (!lower_copy(domain, dom, sizeof dom) || dom[0] == '\0')
		return;
	if (!config_is_local_domain(cfg, dom)) {
		res->kind = RESOLVE_REMOTE;
		add_address(&res->targets, local, dom);
		return;
	}
	if (lower_copy(local, name, sizeof name))
		resolve_local(cfg, name, res);
}

void resolution_free(struct resolution *res)
{
	strlist_free(&res->targets);
	free(res->relocated_to);
	res->relocated_to = NULL;
}

bool config_expand_list(const struct config *cfg, const char *name, struct strlist *out)
{
	char key[ADDR_LOCAL_MAX + 1];
	return lower_copy(name, key, sizeof key) &&
	       aliases_expand(cfg->aliases, cfg, key, out) == ALIAS_OK;
}
