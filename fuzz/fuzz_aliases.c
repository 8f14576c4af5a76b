/*
 * fuzz_aliases - the aliases file parser and its expansion
 * (src/config/aliases.c, lexer.c, resolve.c).
 *
 * The input is an aliases file, written to one scratch file per process
 * (removed at exit) and loaded against a fixed config: local domains
 * example.test and other.test, mailboxes postmaster, alice, bob and erin.
 * Every word of the input that could be a name is then expanded, resolved
 * and EXPNed. Checked:
 * - loading never fails for a readable file, and every problem is reported
 *   as a "file:line: reason" line;
 * - whatever the table, expansion stays within its bounds and gives
 *   well-formed targets: mailboxes that parse again, no duplicates;
 * - a table that loads without errors expands every alias at run time to
 *   at least one address (aliases.h: loading expands every alias once, so a
 *   clean table can always be expanded within the bounds);
 * - recipient resolution and EXPN through a config holding the table agree
 *   with the expansion.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "config/aliases.h"
#include "config/config.h"
#include "smtp/address.h"
#include "util/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_NAMES 24
#define NAME_MAX_LEN 64

static const char conf[] = "listen 127.0.0.1:2525\n"
			   "spool spool\n"
			   "maildir-root mail\n"
			   "domain example.test other.test\n"
			   "mailbox postmaster\n"
			   "mailbox alice \"Alice Liddell\"\n"
			   "mailbox bob\n"
			   "mailbox erin\n";

static char dir[64], conf_path[128], aliases_path[128];
static struct config *cfg;

static void write_file(const char *path, const void *p, size_t n)
{
	FILE *f = fopen(path, "wb");
	if (!f || (n && fwrite(p, 1, n, f) != n) || fclose(f) != 0)
		abort();
}

static void remove_scratch(void)
{
	config_free(cfg);
	unlink(conf_path);
	unlink(aliases_path);
	rmdir(dir);
}

/* The scratch directory and the fixed config, made on first use. */
static void setup(void)
{
	if (cfg)
		return;
	log_set_level(LOG_LVL_ERROR + 1);
	snprintf(dir, sizeof dir, "/tmp/petrel-fuzz-aliases-XXXXXX");
	if (!mkdtemp(dir))
		abort();
	snprintf(conf_path, sizeof conf_path, "%s/petrel.conf", dir);
	snprintf(aliases_path, sizeof aliases_path, "%s/aliases", dir);
	write_file(conf_path, conf, sizeof conf - 1);
	struct buf errors = BUF_INIT;
	cfg = config_load(conf_path, &errors);
	if (!cfg)
		abort();
	buf_free(&errors);
	atexit(remove_scratch);
}

static bool name_char(uint8_t c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '_' || c == '+' || c == '-';
}

/* Words of the input that could be alias names, lower-cased. */
static void collect_names(const uint8_t *data, size_t size, struct strlist *names)
{
	strlist_add(names, "postmaster");
	size_t i = 0;
	while (i < size && names->n < MAX_NAMES) {
		size_t start = i;
		while (i < size && name_char(data[i]))
			i++;
		if (i > start && i - start <= NAME_MAX_LEN) {
			strlist_addn(names, (const char *)data + start, i - start);
			for (char *c = names->v[names->n - 1]; *c; c++)
				*c = (char)(*c >= 'A' && *c <= 'Z' ? *c + 32 : *c);
		}
		i += i == start;
	}
}

static void check_errors(const struct buf *errors)
{
	for (size_t i = 0; i < errors->len;) {
		const char *nl = memchr(errors->p + i, '\n', errors->len - i);
		if (!nl || !memmem(errors->p + i, (size_t)(nl - errors->p) - i, ": ", 2))
			abort();
		i = (size_t)(nl - errors->p) + 1;
	}
}

static void check_targets(const struct strlist *t)
{
	if (t->n > ALIAS_EXPAND_MAX)
		abort();
	for (size_t i = 0; i < t->n; i++) {
		struct address a;
		if (addr_parse_mailbox(t->v[i], strlen(t->v[i]), ADDR_ALLOW_UTF8, &a) != ADDR_OK)
			abort();
		for (size_t j = 0; j < i; j++)
			if (!strcasecmp(t->v[i], t->v[j]))
				abort();
	}
}

/* Expansion, then resolution and EXPN of the same name through cfg. */
static void check_name(const struct aliases *al, const char *name, bool clean)
{
	struct strlist out = STRLIST_INIT;
	enum alias_status st = aliases_expand(al, cfg, name, &out);
	check_targets(&out);
	if (st == ALIAS_NOT_FOUND ? aliases_exists(al, name) || out.n : !aliases_exists(al, name))
		abort();
	if (clean && st != ALIAS_NOT_FOUND && (st != ALIAS_OK || !out.n))
		abort();
	struct strlist list = STRLIST_INIT;
	if (config_expand_list(cfg, name, &list) != (st == ALIAS_OK) ||
	    (st == ALIAS_OK && !strlist_equal(&out, &list)))
		abort();
	struct resolution res;
	config_resolve(cfg, name, "Example.Test", &res);
	check_targets(&res.targets);
	/* Nobody has moved in this config, so an alias resolves to its expansion. */
	if (st == ALIAS_OK && out.n &&
	    ((res.kind != RESOLVE_LOCAL && res.kind != RESOLVE_FORWARD) ||
	     !strlist_equal(&out, &res.targets)))
		abort();
	resolution_free(&res);
	strlist_free(&list);
	strlist_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	setup();
	write_file(aliases_path, data, size);
	struct buf errors = BUF_INIT;
	struct aliases *al = aliases_load(aliases_path, cfg, &errors);
	if (!al)
		abort();
	check_errors(&errors);
	/* Resolution looks the aliases up through the config. */
	struct aliases *fixed = cfg->aliases;
	cfg->aliases = al;
	struct strlist names = STRLIST_INIT;
	collect_names(data, size, &names);
	for (size_t i = 0; i < names.n; i++)
		check_name(al, names.v[i], errors.len == 0);
	cfg->aliases = fixed;
	strlist_free(&names);
	aliases_free(al);
	buf_free(&errors);
	return 0;
}
