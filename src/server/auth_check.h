/*
 * auth_check - checking SMTP AUTH credentials for the server shell: the
 * per-client-address failure limit first, then the crypt(3) hash of the
 * passwd file in a worker thread (yescrypt is slow on purpose; the event
 * loop must not wait for it). Results come back in the loop thread.
 */
#ifndef PETREL_SERVER_AUTH_CHECK_H
#define PETREL_SERVER_AUTH_CHECK_H

#include <event2/event.h>

#include "auth/passwd.h"
#include "config/config.h"
#include "smtp/session.h"

struct auth_check;

typedef void (*auth_done_fn)(void *arg, enum auth_result r);

/* Checks against db (the passwd file as runtime_load read it), which it
 * takes over. */
struct auth_check *auth_check_new(struct event_base *base, const struct config *cfg,
				  struct passwd_db *db);
/* The users of a reload, taken over; checks under way finish with the users
 * they began with. */
void auth_check_reload(struct auth_check *ac, struct passwd_db *db);
/* Lets checks under way finish (their callbacks run), then frees. */
void auth_check_free(struct auth_check *ac);
/* client: the address text the limit is kept by. done runs later, never
 * inside this call. */
void auth_check_start(struct auth_check *ac, const char *client, const char *user,
		      const char *pass, auth_done_fn done, void *arg);

#endif
