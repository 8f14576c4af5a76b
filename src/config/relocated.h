/*
 * relocated - the table of users who have moved: "user  new-address".
 *
 * Contract: a key is a local name ("carol") or an address in one of our
 * domains ("carol@example.test"), which means the same: like mailboxes and
 * aliases, local names are shared by all local domains. The value is the
 * address the sender should use instead, given back in the 551 reply
 * (RFC 5321 3.4). Keys are matched case-insensitively.
 */
#ifndef PETREL_CONFIG_RELOCATED_H
#define PETREL_CONFIG_RELOCATED_H

#include "config/config.h"
#include "util/buf.h"

/*
 * Reads path; cfg supplies the local domains keys are checked against.
 * Returns NULL with errno set only when the file cannot be opened; every
 * other problem is appended to errors as "file:line: reason\n".
 */
struct relocated *relocated_load(const char *path, const struct config *cfg, struct buf *errors);
/* The table of a config without a relocated file. */
struct relocated *relocated_empty(void);
void relocated_free(struct relocated *r);

/* The new address of local name `local` (lower case), or NULL when that user
 * has not moved. */
const char *relocated_lookup(const struct relocated *r, const char *local);

#endif
