/*
 * policy - the receiving side's answers to RCPT, VRFY and EXPN, from the
 * configuration: local users, aliases, relocations, and relay control
 * (mail for other domains only from trusted networks, so Petrel is never
 * an open relay). RFC 5321 3.4 (251/551), 3.5 (VRFY/EXPN), 3.6.2 (relay).
 */
#ifndef PETREL_SERVER_POLICY_H
#define PETREL_SERVER_POLICY_H

#include <sys/socket.h>

#include "config/config.h"
#include "smtp/session.h"

struct policy_ctx {
	const struct config *cfg;
	const struct sockaddr *peer; /* the client's address */
	char *login;                 /* the authenticated user, or NULL */
	const char *peer_text;       /* the client's address as text */
	struct ratelimit *msg_rate;  /* messages per client address, or NULL */
};

extern const struct smtp_policy receive_policy;

#endif
