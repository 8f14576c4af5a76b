/*
 * aliases - the classic /etc/aliases table: "name: member, member, ...".
 *
 * Contract: names are local names (dot-atoms), matched case-insensitively.
 * A member is a local name (a mailbox user or another alias) or a full
 * address "user@domain"; an address in one of our domains is stored as its
 * local name. Programs ("|cmd"), files ("/path") and ":include:" are refused:
 * Petrel delivers to mailboxes only. Loading also expands every alias once,
 * so a table that loads cleanly can always be expanded at run time within the
 * bounds below.
 */
#ifndef PETREL_CONFIG_ALIASES_H
#define PETREL_CONFIG_ALIASES_H

#include <stdbool.h>

#include "config/config.h"
#include "util/buf.h"
#include "util/strlist.h"

#define ALIAS_MEMBERS_MAX 1000 /* members written on one alias */
#define ALIAS_DEPTH_MAX 16     /* nested aliases followed */
#define ALIAS_EXPAND_MAX 1000  /* members visited while expanding one name */

enum alias_status {
	ALIAS_OK,
	ALIAS_NOT_FOUND,
	ALIAS_TOO_DEEP,
	ALIAS_TOO_BIG,
};

/*
 * Reads path. cfg supplies the local domains and mailbox users members are
 * checked against (its aliases field is not used). Returns NULL with errno
 * set only when the file cannot be opened; every other problem is appended
 * to errors as "file:line: reason\n".
 */
struct aliases *aliases_load(const char *path, const struct config *cfg, struct buf *errors);
/* The table of a config without an aliases file. */
struct aliases *aliases_empty(void);
void aliases_free(struct aliases *al);

/* True when name (lower case) is an alias. */
bool aliases_exists(const struct aliases *al, const char *name);

/*
 * Appends the final addresses of alias name (lower case) to out, without
 * duplicates: local mailboxes as "user@<first local domain>", remote
 * addresses as written. A name met again inside its own expansion is
 * delivered to the mailbox of that name when there is one (so
 * "bob: bob, bob@elsewhere.example" keeps a copy) and otherwise dropped.
 */
enum alias_status aliases_expand(const struct aliases *al, const struct config *cfg,
				 const char *name, struct strlist *out);

#endif
