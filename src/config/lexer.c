/* lexer - lines, comments, quoted words and errors of the config files; see lexer.h. */
#include "config/lexer.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

bool lexer_open(struct lexer *lx, const char *path, bool continuation, struct buf *errors)
{
	memset(lx, 0, sizeof *lx);
	lx->fp = fopen(path, "r");
	if (!lx->fp)
		return false;
	struct stat st;
	int err = 0;
	if (fstat(fileno(lx->fp), &st) != 0)
		err = errno;
	else if (!S_ISREG(st.st_mode))
		err = S_ISDIR(st.st_mode) ? EISDIR : EINVAL;
	if (err) {
		fclose(lx->fp);
		lx->fp = NULL;
		errno = err;
		return false;
	}
	lx->path = path;
	lx->errors = errors;
	lx->continuation = continuation;
	/* Reserved once, so held.p is never NULL and never reallocated while reading. */
	buf_reserve(&lx->held, LEX_LINE_MAX);
	buf_reserve(&lx->entry, LEX_LINE_MAX);
	return true;
}

void lexer_close(struct lexer *lx)
{
	if (lx->fp)
		fclose(lx->fp);
	lx->fp = NULL;
	buf_free(&lx->entry);
	buf_free(&lx->held);
}

static void verror(struct buf *errors, const char *path, unsigned line, const char *fmt,
		   va_list ap)
{
	buf_printf(errors, "%s:%u: ", path, line);
	buf_vprintf(errors, fmt, ap);
	buf_putc(errors, '\n');
}

void lex_error_at(struct buf *errors, const char *path, unsigned line, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	verror(errors, path, line, fmt, ap);
	va_end(ap);
}

void lexer_error(struct lexer *lx, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	verror(lx->errors, lx->path, lx->line, fmt, ap);
	va_end(ap);
}

/* Cuts a '#' comment (outside quotes, at line start or after a blank) and
 * trailing blanks. A '#' inside a word such as "a#b@example.org" stays. */
static void strip_comment(struct buf *b)
{
	bool quoted = false;
	for (size_t i = 0; i < b->len; i++) {
		char c = b->p[i];
		if (quoted && c == '\\' && i + 1 < b->len) {
			i++;
		} else if (c == '"') {
			quoted = !quoted;
		} else if (c == '#' && !quoted && (i == 0 || is_blank(b->p[i - 1]))) {
			b->len = i;
			break;
		}
	}
	while (b->len && is_blank(b->p[b->len - 1]))
		b->len--;
	b->p[b->len] = '\0';
}

static bool has_control(const struct buf *b)
{
	for (size_t i = 0; i < b->len; i++) {
		unsigned char c = (unsigned char)b->p[i];
		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return true;
	}
	return false;
}

enum phys { PHYS_EOF, PHYS_LINE, PHYS_BAD };

/* Reads one physical line into lx->held, never more than LEX_LINE_MAX bytes. */
static enum phys read_physical(struct lexer *lx)
{
	buf_reset(&lx->held);
	bool any = false, too_long = false;
	int c;
	while ((c = getc(lx->fp)) != EOF && c != '\n') {
		any = true;
		if (lx->held.len < LEX_LINE_MAX)
			buf_putc(&lx->held, (char)c);
		else
			too_long = true;
	}
	if (c == EOF && !any) {
		if (ferror(lx->fp))
			lex_error_at(lx->errors, lx->path, lx->phys + 1, "read error: %s",
				     strerror(errno));
		return PHYS_EOF;
	}
	lx->phys++;
	if (lx->held.len && lx->held.p[lx->held.len - 1] == '\r')
		lx->held.p[--lx->held.len] = '\0';
	if (too_long) {
		lex_error_at(lx->errors, lx->path, lx->phys, "line longer than %d bytes", LEX_LINE_MAX);
		return PHYS_BAD;
	}
	if (has_control(&lx->held)) {
		lex_error_at(lx->errors, lx->path, lx->phys, "control character in line");
		return PHYS_BAD;
	}
	return PHYS_LINE;
}

/* Makes lx->held the next non-blank line; false at end of file. */
static bool fetch(struct lexer *lx)
{
	while (!lx->has_held) {
		enum phys r = read_physical(lx);
		if (r == PHYS_EOF)
			return false;
		if (r == PHYS_BAD)
			continue;
		strip_comment(&lx->held);
		lx->held_line = lx->phys;
		lx->has_held = lx->held.len > 0;
	}
	return true;
}

/* Takes the held line, without its leading blanks, and appends it to the entry. */
static bool take_held(struct lexer *lx)
{
	const char *s = lx->held.p;
	while (is_blank(*s))
		s++;
	size_t n = strlen(s);
	lx->has_held = false;
	size_t sep = lx->entry.len ? 1 : 0;
	if (lx->entry.len + sep + n > LEX_ENTRY_MAX)
		return false;
	if (sep)
		buf_putc(&lx->entry, ' ');
	buf_append(&lx->entry, s, n);
	return true;
}

bool lexer_next(struct lexer *lx)
{
	while (fetch(lx)) {
		lx->line = lx->held_line;
		if (lx->continuation && is_blank(lx->held.p[0])) {
			lx->has_held = false;
			lexer_error(lx, "continuation line without an entry to continue");
			continue;
		}
		buf_reset(&lx->entry);
		bool fits = take_held(lx);
		while (lx->continuation && fetch(lx) && is_blank(lx->held.p[0]))
			fits = take_held(lx) && fits;
		if (fits)
			return true;
		lexer_error(lx, "entry longer than %d bytes", LEX_ENTRY_MAX);
	}
	return false;
}

/* Finds the end of the word at s; false when a quote is left open. */
static bool scan_word(const char *s, const char *seps, const char **end)
{
	bool quoted = false;
	for (; *s && (quoted || !strchr(seps, *s)); s++) {
		if (quoted && *s == '\\' && s[1])
			s++;
		else if (*s == '"')
			quoted = !quoted;
	}
	*end = s;
	return !quoted;
}

/* True when the quoted string opening s[0..n) closes exactly at its end. */
static bool wholly_quoted(const char *s, size_t n)
{
	if (n < 2 || s[0] != '"')
		return false;
	size_t i = 1;
	while (i < n && s[i] != '"')
		i += (s[i] == '\\') ? 2 : 1;
	return i == n - 1;
}

static void add_word(struct strlist *words, const char *s, size_t n)
{
	if (!wholly_quoted(s, n)) {
		strlist_addn(words, s, n);
		return;
	}
	struct buf b = BUF_INIT;
	buf_reserve(&b, n);
	for (size_t i = 1; i + 1 < n; i++) {
		if (s[i] == '\\')
			i++;
		buf_putc(&b, s[i]);
	}
	strlist_addn(words, b.p, b.len);
	buf_free(&b);
}

bool lexer_split(struct lexer *lx, const char *text, const char *seps, struct strlist *words)
{
	const char *p = text;
	for (;;) {
		while (*p && strchr(seps, *p))
			p++;
		if (!*p)
			return true;
		const char *end;
		if (!scan_word(p, seps, &end)) {
			lexer_error(lx, "unterminated quoted string");
			return false;
		}
		add_word(words, p, (size_t)(end - p));
		p = end;
	}
}

void lex_quote(struct buf *out, const char *word)
{
	if (*word && !strpbrk(word, " \t\"\\#")) {
		buf_puts(out, word);
		return;
	}
	buf_putc(out, '"');
	for (; *word; word++) {
		if (*word == '"' || *word == '\\')
			buf_putc(out, '\\');
		buf_putc(out, *word);
	}
	buf_putc(out, '"');
}

static bool is_atext(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c));
}

bool lex_is_local_name(const char *s)
{
	return lex_is_dot_atom(s) && !strchr(s, '/');
}

bool lex_is_dot_atom(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 64 || s[0] == '.' || s[n - 1] == '.')
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '.' ? s[i + 1] == '.' : !is_atext(s[i]))
			return false;
	}
	return true;
}

void lex_lower(char *s)
{
	for (; *s; s++)
		if (*s >= 'A' && *s <= 'Z')
			*s = (char)(*s - 'A' + 'a');
}

enum lex_rcpt lex_recipient(struct lexer *lx, const struct config *cfg, const char *word,
			    char out[LEX_RCPT_MAX])
{
	struct address a;
	if (!strchr(word, '@')) {
		if (!lex_is_local_name(word)) {
			lexer_error(lx, "invalid local name '%s'", word);
			return LEX_RCPT_BAD;
		}
		snprintf(out, LEX_RCPT_MAX, "%s", word);
		lex_lower(out);
		return LEX_RCPT_LOCAL;
	}
	enum addr_status st = addr_parse_mailbox(word, strlen(word), 0, &a);
	if (st != ADDR_OK) {
		lexer_error(lx, "invalid address '%s': %s", word, addr_status_text(st));
		return LEX_RCPT_BAD;
	}
	lex_lower(a.domain);
	if (!config_is_local_domain(cfg, a.domain)) {
		addr_format(&a, out, LEX_RCPT_MAX);
		return LEX_RCPT_REMOTE;
	}
	if (!lex_is_local_name(a.local)) {
		lexer_error(lx, "invalid local name '%s' in '%s'", a.local, word);
		return LEX_RCPT_BAD;
	}
	snprintf(out, LEX_RCPT_MAX, "%s", a.local);
	lex_lower(out);
	return LEX_RCPT_LOCAL;
}

static int cmp_entries(const void *a, const void *b)
{
	const struct lex_key *x = a, *y = b;
	int c = strcmp(x->key, y->key);
	if (c)
		return c;
	return (x->line > y->line) - (x->line < y->line);
}

static int cmp_lookup(const void *key, const void *entry)
{
	return strcmp(key, ((const struct lex_key *)entry)->key);
}

static const struct lex_key *nth_key(const void *base, size_t size, size_t i)
{
	return (const struct lex_key *)(const void *)((const char *)base + i * size);
}

void lex_table_sort(void *base, size_t n, size_t size, const char *path, struct buf *errors,
		    const char *what)
{
	if (n == 0)
		return;
	qsort(base, n, size, cmp_entries);
	size_t first = 0;
	for (size_t i = 1; i < n; i++) {
		const struct lex_key *k = nth_key(base, size, i), *f = nth_key(base, size, first);
		if (strcmp(k->key, f->key) != 0)
			first = i;
		else
			lex_error_at(errors, path, k->line, "duplicate %s '%s' (first at line %u)",
				     what, k->key, f->line);
	}
}

const void *lex_table_find(const void *base, size_t n, size_t size, const char *key)
{
	if (n == 0)
		return NULL;
	return bsearch(key, base, n, size, cmp_lookup);
}
