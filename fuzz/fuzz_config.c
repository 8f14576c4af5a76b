/*
 * fuzz_config - config_load (src/config/config.c, lexer.c, aliases.c,
 * relocated.c) and recipient resolution (resolve.c) on fuzzed files.
 *
 * The input is up to three files separated by a line "%%": petrel.conf, then
 * "aliases" and "relocated", written into one scratch directory per process
 * (removed at exit) which is the current directory while config_load runs,
 * so "aliases aliases" in the config names the second part. A part that is
 * not there is not written, so "cannot read" paths run too. Checked:
 * - a refused config comes with errors, each a "file:line: reason" or
 *   "file: reason" line ending in '\n'; an accepted one with none;
 * - an accepted config has what config.h promises: a listen address, an
 *   absolute spool path (and maildir root when there are domains), a
 *   hostname, never-NULL tables, and a postmaster for the local domains;
 * - every alias of an accepted config expands at run time to at least one
 *   address (config_load expanded them all: anything else is the "cannot
 *   happen" of resolve.c);
 * - resolving words of the input that the session could pass on as local
 *   parts (ASCII or UTF-8) gives well-formed answers:
 *   targets that parse as mailboxes, without duplicates, one for a forward,
 *   a new address for a relocated user, the address itself for remote mail.
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

static char dir[64];
static int home_fd = -1;
static const char *const files[] = {"petrel.conf", "aliases", "relocated"};

static void remove_scratch(void)
{
	char path[128];
	for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
		snprintf(path, sizeof path, "%s/%s", dir, files[i]);
		unlink(path);
	}
	rmdir(dir);
}

/* One scratch directory per process, made on first use. */
static void setup(void)
{
	if (home_fd >= 0)
		return;
	/* Every refused config is logged otherwise; errors come back in a buffer. */
	log_set_level(LOG_LVL_ERROR + 1);
	snprintf(dir, sizeof dir, "/tmp/petrel-fuzz-config-XXXXXX");
	home_fd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (home_fd < 0 || !mkdtemp(dir))
		abort();
	atexit(remove_scratch);
}

static void write_part(const char *name, const uint8_t *p, size_t n)
{
	char path[128];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	FILE *f = fopen(path, "wb");
	if (!f || (n && fwrite(p, 1, n, f) != n) || fclose(f) != 0)
		abort();
}

/* Splits the input at "\n%%\n" into the files; missing parts are removed. */
static void write_files(const uint8_t *data, size_t size)
{
	static const char sep[] = "\n%%\n";
	size_t off = 0;
	for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
		if (off > size) {
			char path[128];
			snprintf(path, sizeof path, "%s/%s", dir, files[i]);
			unlink(path);
			continue;
		}
		const uint8_t *end = memmem(data + off, size - off, sep, sizeof sep - 1);
		size_t n = end ? (size_t)(end - (data + off)) + 1 : size - off;
		write_part(files[i], data + off, n);
		off = end ? off + n + sizeof sep - 2 : size + 1;
	}
}

/* Bytes of a word; 8-bit ones too, as SMTPUTF8 local parts have them. */
static bool name_char(uint8_t c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '_' || c == '+' || c == '-' || c >= 0x80;
}

/* RFC 5321 Dot-string, with RFC 6531's UTF-8 (the session allows it under
 * SMTPUTF8): a local part written without quotes. */
static bool dot_string(const char *w, size_t n)
{
	char text[NAME_MAX_LEN + 8];
	struct address a;
	if (n > NAME_MAX_LEN)
		return false;
	snprintf(text, sizeof text, "%.*s@x", (int)n, w);
	return addr_parse_mailbox(text, n + 2, ADDR_ALLOW_UTF8, &a) == ADDR_OK;
}

/* True when the session could hand w over as a local part with its quotes
 * removed (policy.c unquotes): a Dot-string, or the content of a
 * Quoted-string that fits in 64 octets with its quotes. */
static bool session_local(const char *w, size_t n)
{
	char text[NAME_MAX_LEN + 8];
	struct address a;
	if (dot_string(w, n))
		return true;
	snprintf(text, sizeof text, "\"%.*s\"@x", (int)n, w);
	return addr_parse_mailbox(text, n + 4, ADDR_ALLOW_UTF8, &a) == ADDR_OK;
}

/* Words of the input that could be local parts: what to resolve. */
static void collect_names(const uint8_t *data, size_t size, struct strlist *names)
{
	strlist_add(names, "postmaster");
	size_t i = 0;
	while (i < size && names->n < MAX_NAMES) {
		size_t start = i;
		while (i < size && name_char(data[i]))
			i++;
		const char *w = (const char *)data + start;
		if (i > start && i - start <= NAME_MAX_LEN && session_local(w, i - start))
			strlist_addn(names, w, i - start);
		i += i == start;
	}
}

static void check_errors(const struct buf *errors, bool loaded)
{
	if (loaded != (errors->len == 0))
		abort();
	for (size_t i = 0; i < errors->len;) {
		const char *nl = memchr(errors->p + i, '\n', errors->len - i);
		if (!nl || !memmem(errors->p + i, (size_t)(nl - errors->p) - i, ": ", 2))
			abort();
		i = (size_t)(nl - errors->p) + 1;
	}
}

static void check_targets(const struct strlist *t)
{
	for (size_t i = 0; i < t->n; i++) {
		struct address a;
		if (addr_parse_mailbox(t->v[i], strlen(t->v[i]), ADDR_ALLOW_UTF8, &a) != ADDR_OK)
			abort();
		for (size_t j = 0; j < i; j++)
			if (!strcasecmp(t->v[i], t->v[j]))
				abort();
	}
}

static void check_resolve(const struct config *cfg, const char *local, const char *domain)
{
	struct resolution res;
	config_resolve(cfg, local, domain, &res);
	check_targets(&res.targets);
	switch (res.kind) {
	case RESOLVE_FORWARD:
		if (res.targets.n != 1)
			abort();
		break;
	case RESOLVE_RELOCATED:
		if (!res.relocated_to || res.targets.n)
			abort();
		break;
	case RESOLVE_REMOTE:
		/* A Dot-string goes out as it came in, without quotes. */
		if (res.targets.n != 1 || config_is_local_domain(cfg, domain) ||
		    (dot_string(local, strlen(local)) &&
		     strncmp(res.targets.v[0], local, strlen(local)) != 0))
			abort();
		break;
	case RESOLVE_UNKNOWN:
		if (res.targets.n)
			abort();
		break;
	case RESOLVE_LOCAL:
		break;
	}
	resolution_free(&res);
}

static void check_config(const struct config *cfg, const struct strlist *names)
{
	if (!cfg->listen.n || !cfg->spool_dir || cfg->spool_dir[0] != '/' || !cfg->hostname ||
	    !cfg->aliases || !cfg->relocated || !cfg->path || cfg->path[0] != '/')
		abort();
	if (cfg->local_domains.n &&
	    (!cfg->maildir_root || cfg->maildir_root[0] != '/' ||
	     (!config_find_user(cfg, "postmaster") && !aliases_exists(cfg->aliases, "postmaster"))))
		abort();
	for (size_t i = 0; i < names->n; i++) {
		char lower[NAME_MAX_LEN + 1];
		snprintf(lower, sizeof lower, "%s", names->v[i]);
		for (char *c = lower; *c; c++)
			*c = (char)(*c >= 'A' && *c <= 'Z' ? *c + 32 : *c);
		struct strlist out = STRLIST_INIT;
		enum alias_status st = aliases_expand(cfg->aliases, cfg, lower, &out);
		if ((st != ALIAS_OK && st != ALIAS_NOT_FOUND) || (st == ALIAS_OK && !out.n))
			abort();
		check_targets(&out);
		strlist_free(&out);
		check_resolve(cfg, names->v[i], "remote.example");
		for (size_t d = 0; d < cfg->local_domains.n && d < 2; d++)
			check_resolve(cfg, names->v[i], cfg->local_domains.v[d]);
		if (!strcasecmp(names->v[i], "postmaster"))
			check_resolve(cfg, names->v[i], "");
		config_find_route(cfg, names->v[i]);
		config_is_relay_domain(cfg, names->v[i]);
		config_may_send_as(cfg, names->v[i], "someone@remote.example");
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	setup();
	write_files(data, size);
	struct buf errors = BUF_INIT;
	if (chdir(dir) != 0)
		abort();
	struct config *cfg = config_load("petrel.conf", &errors);
	if (fchdir(home_fd) != 0)
		abort();
	check_errors(&errors, cfg != NULL);
	if (cfg) {
		struct strlist names = STRLIST_INIT;
		collect_names(data, size, &names);
		check_config(cfg, &names);
		strlist_free(&names);
	}
	config_free(cfg);
	buf_free(&errors);
	return 0;
}
