/*
 * lexer - the text layer shared by petrel.conf, the aliases file and the
 * relocated table, so the three formats agree on what a line, a comment, a
 * quoted word and an error message are.
 *
 * Contract: a file is read as entries. An entry is one line, or, when the
 * reader was opened with continuation on, one line plus every following line
 * that begins with whitespace. '#' at the start of a line or after whitespace
 * (outside double quotes) starts a comment; blank and comment-only lines are
 * skipped. Physical lines are limited to LEX_LINE_MAX bytes and entries to
 * LEX_ENTRY_MAX; control characters other than tab are refused. Every problem
 * is appended to the caller's error buffer as "file:line: reason\n" and
 * reading goes on, so one run reports every error in the file. Also shared:
 * what a local name and a recipient word are, and sorted keyed tables.
 */
#ifndef PETREL_CONFIG_LEXER_H
#define PETREL_CONFIG_LEXER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "config/config.h"
#include "smtp/address.h"
#include "util/buf.h"
#include "util/strlist.h"

#define LEX_LINE_MAX 4096
#define LEX_ENTRY_MAX 65536

struct lexer {
	FILE *fp;
	const char *path;    /* as reported in errors; not owned */
	struct buf *errors;  /* not owned */
	bool continuation;
	unsigned phys;       /* physical lines read so far */
	unsigned line;       /* first line of the current entry */
	struct buf entry;    /* the current entry, comments removed */
	struct buf held;     /* the next non-blank line, read ahead */
	unsigned held_line;
	bool has_held;
};

/* Opens path for reading. False (errno set) when it cannot be opened or is
 * not a regular file; nothing is reported, the caller knows the context. */
bool lexer_open(struct lexer *lx, const char *path, bool continuation, struct buf *errors);
void lexer_close(struct lexer *lx);
/* Advances to the next entry (text in lx->entry.p, line in lx->line);
 * false at end of file. */
bool lexer_next(struct lexer *lx);

void lexer_error(struct lexer *lx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void lex_error_at(struct buf *errors, const char *path, unsigned line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/*
 * Splits text into words at runs of the bytes in seps. A word written wholly
 * in double quotes ("Alice Liddell") loses its quotes and backslash escapes;
 * quotes inside a word ("john doe"@example.org) are kept, so a quoted local
 * part reaches the address parser intact. False, after reporting, on an
 * unterminated quote.
 */
bool lexer_split(struct lexer *lx, const char *text, const char *seps, struct strlist *words);

/* Appends word so that lexer_split reads it back as it is: in double quotes
 * when it is empty or holds a blank, a quote, a backslash or a '#'. */
void lex_quote(struct buf *out, const char *word);

/* True when s is an RFC 5322 dot-atom of at most 64 octets: a local part
 * that needs no quotes. */
bool lex_is_dot_atom(const char *s);
/* A dot-atom without '/': the names of mailboxes and aliases, which also
 * become directory names. */
bool lex_is_local_name(const char *s);
void lex_lower(char *s);

/*
 * Reads a word naming a recipient in the aliases or relocated file: a local
 * name, or "user@domain". An address in one of cfg's local domains is the
 * same recipient as its local name, so it is given back as that name. out
 * receives the lower-cased local name, or the remote address as written with
 * its domain lower-cased. LEX_RCPT_BAD after reporting the problem.
 */
enum lex_rcpt { LEX_RCPT_BAD, LEX_RCPT_LOCAL, LEX_RCPT_REMOTE };
#define LEX_RCPT_MAX (ADDR_MAILBOX_MAX + 1)
enum lex_rcpt lex_recipient(struct lexer *lx, const struct config *cfg, const char *word,
			    char out[LEX_RCPT_MAX]);

/*
 * Keyed tables: arrays of structs whose first member is a struct lex_key.
 * Sorting reports every repeated key as "file:line: duplicate WHAT 'key'";
 * lookups are binary searches on the exact (already lower-cased) key.
 */
struct lex_key {
	char *key;
	unsigned line;
};

void lex_table_sort(void *base, size_t n, size_t size, const char *path, struct buf *errors,
		    const char *what);
const void *lex_table_find(const void *base, size_t n, size_t size, const char *key);

#endif
