/*
 * keyword - the table of petrel.conf keywords, shared inside src/config/ by
 * the loader (config.c) and `petrel config` (show.c).
 *
 * The table is the one place a keyword is described: its arguments, its
 * default (written as in the file, and applied by the keyword's own setter
 * before the file is read), a one-line description, and how it is read and
 * shown. petrel.conf(5) and etc/petrel.conf are checked against what
 * `petrel config -a` prints from it (tests/integration/test_docs.py).
 */
#ifndef PETREL_CONFIG_KEYWORD_H
#define PETREL_CONFIG_KEYWORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "util/strlist.h"

struct loader;
struct keyword;

typedef void kw_setter(struct loader *ld, const struct keyword *kw, char **argv, size_t argc);

/* How `petrel config` shows a value: from the field it was stored in, or,
 * for the keywords with rules of their own, as it was given. */
enum kw_show {
	SHOW_GIVEN,     /* the arguments of each line, or the default */
	SHOW_COUNT,     /* unsigned */
	SHOW_DURATION,  /* unsigned seconds, as 90s, 5m, 4h, 5d */
	SHOW_SIZE,      /* uint64_t bytes, as 512k, 10M, 1G */
	SHOW_SWITCH,    /* bool, as on or off */
	SHOW_TEXT,      /* char *; nothing when NULL */
};

struct keyword {
	const char *name;
	const char *usage;      /* its arguments, as petrel.conf(5) writes them */
	const char *dflt;       /* in the file's syntax; NULL: none (or computed) */
	const char *doc;        /* one line for `petrel config -a` */
	kw_setter *set;
	enum kw_show show;
	size_t off;             /* the field in struct config (not SHOW_GIVEN) */
	uint64_t lo, hi;        /* accepted range, for numbers, durations and sizes */
	size_t max_args;        /* every keyword takes at least one */
	bool repeatable;
};

/* Where and how a keyword was set in the file: per keyword of the table. */
struct setting {
	unsigned line;          /* first line setting it; 0 = not set */
	struct strlist given;   /* SHOW_GIVEN: each line's arguments, requoted */
};

extern const struct keyword config_keywords[];
extern const size_t config_nkeywords;

/* A snapshot holding the defaults only, as config_load starts from. */
struct config *config_defaults(void);

#endif
