/* aliases - the /etc/aliases table and its bounded expansion; see aliases.h. */
#include "config/aliases.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config/lexer.h"

struct alias {
	struct lex_key k;         /* name, lower case, and the line defining it */
	struct strlist members;   /* local names (no '@') or remote addresses */
};

struct aliases {
	struct alias *v;
	size_t n, cap;
};

struct aliases *aliases_empty(void)
{
	return xcalloc(1, sizeof(struct aliases));
}

void aliases_free(struct aliases *al)
{
	if (!al)
		return;
	for (size_t i = 0; i < al->n; i++) {
		free(al->v[i].k.key);
		strlist_free(&al->v[i].members);
	}
	free(al->v);
	free(al);
}

static const struct alias *find(const struct aliases *al, const char *name)
{
	return lex_table_find(al->v, al->n, sizeof *al->v, name);
}

bool aliases_exists(const struct aliases *al, const char *name)
{
	return find(al, name) != NULL;
}

/* Adds one member; programs, files and includes are refused outright. */
static void add_member(struct lexer *lx, const struct config *cfg, struct alias *a,
		       const char *word)
{
	if (word[0] == '|' || word[0] == '/' || strncasecmp(word, ":include:", 9) == 0) {
		lexer_error(lx, "delivery to programs/files is not supported ('%s')", word);
		return;
	}
	char text[LEX_RCPT_MAX];
	if (lex_recipient(lx, cfg, word, text) != LEX_RCPT_BAD)
		strlist_add_unique(&a->members, text);
}

static void append(struct aliases *al, const struct alias *a)
{
	if (al->n == al->cap) {
		al->cap = al->cap ? al->cap * 2 : 16;
		al->v = xrealloc(al->v, al->cap * sizeof *al->v);
	}
	al->v[al->n++] = *a;
}

/* Splits "name: member, member" into an alias; the name is validated here,
 * the members by add_member. */
static void parse_entry(struct lexer *lx, const struct config *cfg, struct aliases *al)
{
	char *text = lx->entry.p;
	char *colon = strchr(text, ':');
	if (!colon) {
		lexer_error(lx, "expected 'name: member, member, ...'");
		return;
	}
	char *end = colon;
	while (end > text && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	*end = '\0';
	if (!lex_is_local_name(text)) {
		lexer_error(lx, "invalid alias name '%s'", text);
		return;
	}
	struct strlist words = STRLIST_INIT;
	if (!lexer_split(lx, colon + 1, " \t,", &words)) {
		strlist_free(&words);
		return;
	}
	struct alias a = {{xstrdup(text), lx->line}, STRLIST_INIT};
	lex_lower(a.k.key);
	if (words.n == 0)
		lexer_error(lx, "alias '%s' has no members", a.k.key);
	else if (words.n > ALIAS_MEMBERS_MAX)
		lexer_error(lx, "alias '%s' has more than %d members", a.k.key, ALIAS_MEMBERS_MAX);
	else
		for (size_t i = 0; i < words.n; i++)
			add_member(lx, cfg, &a, words.v[i]);
	/* Kept even when broken, so lists naming it are not reported as well. */
	append(al, &a);
	strlist_free(&words);
}

/* One expansion in progress: the chain of aliases being expanded (to see
 * loops) and the number of members visited so far (to bound the work). */
struct expansion {
	const struct aliases *al;
	const struct config *cfg;
	struct strlist *out;
	const char *chain[ALIAS_DEPTH_MAX];
	unsigned depth;
	unsigned visits;
};

static bool in_chain(const struct expansion *ex, const char *name)
{
	for (unsigned i = 0; i < ex->depth; i++)
		if (strcmp(ex->chain[i], name) == 0)
			return true;
	return false;
}

static void deliver_to_mailbox(struct expansion *ex, const char *name)
{
	if (!config_find_user(ex->cfg, name) || ex->cfg->local_domains.n == 0)
		return;
	struct buf b = BUF_INIT;
	buf_printf(&b, "%s@%s", name, ex->cfg->local_domains.v[0]);
	strlist_add_unique(ex->out, b.p);
	buf_free(&b);
}

static enum alias_status expand_alias(struct expansion *ex, const struct alias *a);

static enum alias_status expand_member(struct expansion *ex, const char *m)
{
	if (strchr(m, '@')) {
		strlist_add_unique(ex->out, m);
		return ALIAS_OK;
	}
	const struct alias *sub = in_chain(ex, m) ? NULL : find(ex->al, m);
	if (sub)
		return expand_alias(ex, sub);
	deliver_to_mailbox(ex, m);
	return ALIAS_OK;
}

static enum alias_status expand_alias(struct expansion *ex, const struct alias *a)
{
	if (ex->depth == ALIAS_DEPTH_MAX)
		return ALIAS_TOO_DEEP;
	ex->chain[ex->depth++] = a->k.key;
	for (size_t i = 0; i < a->members.n; i++) {
		if (++ex->visits > ALIAS_EXPAND_MAX)
			return ALIAS_TOO_BIG;
		enum alias_status st = expand_member(ex, a->members.v[i]);
		if (st != ALIAS_OK)
			return st;
	}
	ex->depth--;
	return ALIAS_OK;
}

enum alias_status aliases_expand(const struct aliases *al, const struct config *cfg,
				 const char *name, struct strlist *out)
{
	const struct alias *a = find(al, name);
	if (!a)
		return ALIAS_NOT_FOUND;
	struct expansion ex = {.al = al, .cfg = cfg, .out = out};
	return expand_alias(&ex, a);
}

static void check_members(const struct aliases *al, const struct alias *a,
			  const struct config *cfg, const char *path, struct buf *errors)
{
	for (size_t j = 0; j < a->members.n; j++) {
		const char *m = a->members.v[j];
		if (!strchr(m, '@') && !find(al, m) && !config_find_user(cfg, m))
			lex_error_at(errors, path, a->k.line,
				     "alias '%s': unknown local member '%s' "
				     "(neither a mailbox nor an alias)", a->k.key, m);
	}
}

/* Expands an alias once at load time, so run-time expansion never hits a bound. */
static void check_expansion(const struct aliases *al, const struct alias *a,
			    const struct config *cfg, const char *path, struct buf *errors)
{
	struct strlist out = STRLIST_INIT;
	enum alias_status st = aliases_expand(al, cfg, a->k.key, &out);
	if (st == ALIAS_TOO_DEEP)
		lex_error_at(errors, path, a->k.line, "alias '%s' nests more than %d levels deep",
			     a->k.key, ALIAS_DEPTH_MAX);
	else if (st == ALIAS_TOO_BIG)
		lex_error_at(errors, path, a->k.line, "alias '%s' expands to more than %d members",
			     a->k.key, ALIAS_EXPAND_MAX);
	else if (out.n == 0)
		lex_error_at(errors, path, a->k.line,
			     "alias '%s' expands to no address (it only loops back on itself)",
			     a->k.key);
	strlist_free(&out);
}

static int cmp_line(const void *x, const void *y)
{
	const struct alias *a = *(const struct alias *const *)x, *b = *(const struct alias *const *)y;
	return (a->k.line > b->k.line) - (a->k.line < b->k.line);
}

/* Checks what needs the whole table, reporting in file order (the table
 * itself is sorted by name). Broken entries and unknown members expand to
 * nothing, so expansions are only checked in a table with no other error:
 * clean_since is the length errors had before the file was read. */
static void check_table(const struct aliases *al, const struct config *cfg, const char *path,
			struct buf *errors, size_t clean_since)
{
	if (al->n == 0)
		return;
	const struct alias **order = xcalloc(al->n, sizeof *order);
	for (size_t i = 0; i < al->n; i++)
		order[i] = &al->v[i];
	qsort(order, al->n, sizeof *order, cmp_line);
	for (size_t i = 0; i < al->n; i++)
		check_members(al, order[i], cfg, path, errors);
	bool clean = errors->len == clean_since;
	for (size_t i = 0; clean && i < al->n; i++)
		check_expansion(al, order[i], cfg, path, errors);
	free(order);
}

struct aliases *aliases_load(const char *path, const struct config *cfg, struct buf *errors)
{
	struct lexer lx;
	if (!lexer_open(&lx, path, true, errors))
		return NULL;
	struct aliases *al = aliases_empty();
	size_t clean_since = errors->len;
	while (lexer_next(&lx))
		parse_entry(&lx, cfg, al);
	lexer_close(&lx);
	lex_table_sort(al->v, al->n, sizeof *al->v, path, errors, "alias");
	check_table(al, cfg, path, errors, clean_since);
	return al;
}
