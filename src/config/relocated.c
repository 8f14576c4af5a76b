/* relocated - the table of users who have moved; see relocated.h. */
#include "config/relocated.h"

#include <stdlib.h>
#include <string.h>

#include "config/lexer.h"
#include "smtp/address.h"

struct moved {
	struct lex_key k;  /* local name, lower case, and the line naming it */
	char *to;          /* the new address, as written */
};

struct relocated {
	struct moved *v;
	size_t n, cap;
};

struct relocated *relocated_empty(void)
{
	return xcalloc(1, sizeof(struct relocated));
}

void relocated_free(struct relocated *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n; i++) {
		free(r->v[i].k.key);
		free(r->v[i].to);
	}
	free(r->v);
	free(r);
}

const char *relocated_lookup(const struct relocated *r, const char *local)
{
	const struct moved *m = lex_table_find(r->v, r->n, sizeof *r->v, local);
	return m ? m->to : NULL;
}

/* The new address must be a full address: a 551 reply tells a remote sender
 * where to write, and a bare local name means nothing to it. */
static char *parse_target(struct lexer *lx, const char *word)
{
	struct address a;
	enum addr_status st = addr_parse_mailbox(word, strlen(word), 0, &a);
	if (st != ADDR_OK) {
		lexer_error(lx, "invalid new address '%s': %s", word, addr_status_text(st));
		return NULL;
	}
	lex_lower(a.domain);
	char text[ADDR_MAILBOX_MAX + 1];
	addr_format(&a, text, sizeof text);
	return xstrdup(text);
}

static void add_entry(struct lexer *lx, const struct config *cfg, struct relocated *r,
		      const struct strlist *words)
{
	if (words->n != 2) {
		lexer_error(lx, "expected 'user new-address', found %zu word%s", words->n,
			    words->n == 1 ? "" : "s");
		return;
	}
	char key[LEX_RCPT_MAX];
	enum lex_rcpt kind = lex_recipient(lx, cfg, words->v[0], key);
	if (kind == LEX_RCPT_REMOTE)
		lexer_error(lx, "'%s' is not in a local domain", words->v[0]);
	char *to = parse_target(lx, words->v[1]);
	if (kind != LEX_RCPT_LOCAL || !to) {
		free(to);
		return;
	}
	if (r->n == r->cap) {
		r->cap = r->cap ? r->cap * 2 : 16;
		r->v = xrealloc(r->v, r->cap * sizeof *r->v);
	}
	r->v[r->n++] = (struct moved){{xstrdup(key), lx->line}, to};
}

static void parse_entry(struct lexer *lx, const struct config *cfg, struct relocated *r)
{
	struct strlist words = STRLIST_INIT;
	if (lexer_split(lx, lx->entry.p, " \t", &words))
		add_entry(lx, cfg, r, &words);
	strlist_free(&words);
}

struct relocated *relocated_load(const char *path, const struct config *cfg, struct buf *errors)
{
	struct lexer lx;
	if (!lexer_open(&lx, path, false, errors))
		return NULL;
	struct relocated *r = relocated_empty();
	while (lexer_next(&lx))
		parse_entry(&lx, cfg, r);
	lexer_close(&lx);
	lex_table_sort(r->v, r->n, sizeof *r->v, path, errors, "relocated user");
	return r;
}
