/*
 * runtime - a configuration file and everything it brings with it: the
 * snapshot, the relay-auth secret, the TLS context, the AUTH users. One
 * function loads them for `petrel serve`, for a reload (SIGHUP) and for
 * `petrel check-config`, so a file check-config passes is one serve starts
 * with, and one it refuses serve refuses for the same reasons.
 */
#ifndef PETREL_SERVER_RUNTIME_H
#define PETREL_SERVER_RUNTIME_H

#include <openssl/ssl.h>

#include "auth/passwd.h"
#include "config/config.h"

struct runtime {
	struct config *cfg;
	SSL_CTX *tls;             /* NULL without tls-cert */
	struct passwd_db *users;  /* NULL without passwd-file */
};

/* Loads path and every file it names. False, with every error in errors
 * (as "file:line: reason\n") and nothing held, when any part fails. */
bool runtime_load(const char *path, struct runtime *rt, struct buf *errors);
/* Frees what rt still holds; a part taken over by its user is set NULL. */
void runtime_free(struct runtime *rt);

#endif
