/*
 * privilege - giving up root after start-up.
 *
 * Started as root, Petrel binds its listeners and reads its key and password
 * files as root, then becomes the configured user ("user", default petrel)
 * before it reads a byte from the network; the spool and mailbox trees are
 * handed to that user first. It refuses to go on as root: the configured
 * user may not be uid 0, and a drop that can be undone is treated as failed.
 * Started as any other user, Petrel runs as that user and changes nothing.
 */
#ifndef PETREL_SERVER_PRIVILEGE_H
#define PETREL_SERVER_PRIVILEGE_H

#include <stdbool.h>
#include <sys/types.h>

#include "config/config.h"

struct privilege {
	bool drop;         /* started as root: there is something to give up */
	uid_t uid;
	gid_t gid;
	char user[64];
};

/* Resolves the user and hands it the spool and mailbox trees; false (logged)
 * when the user is unknown or root, or a directory cannot be prepared. */
bool privilege_prepare(const struct config *cfg, struct privilege *p);
/* Becomes the user for good (supplementary groups, gid, uid); false (logged)
 * when any step fails or root could be regained. */
bool privilege_drop(const struct privilege *p);

#endif
