/*
 * passwd - the SMTP AUTH password file (config keyword "passwd-file").
 *
 * Format: one "user:hash" per line; blank lines and lines starting with '#'
 * are ignored. The hash is a crypt(3) string from libxcrypt: yescrypt
 * ("$y$", what `petrel passwd` writes) or any other method libxcrypt rates
 * as current (bcrypt "$2b$", sha512crypt "$6$"...); legacy methods (DES,
 * MD5) are refused. A hash starting with '!' or '*' locks the account: it
 * never verifies. User names are 1-255 printable ASCII octets other than
 * ':' and are matched ignoring ASCII case, so two lines may not name the
 * same user in different case.
 *
 * Thread-safety: a loaded database is immutable; passwd_verify() keeps all
 * its state on the heap of the calling thread (crypt_rn), so any number of
 * worker threads may verify at once.
 */
#ifndef PETREL_AUTH_PASSWD_H
#define PETREL_AUTH_PASSWD_H

#include <stdbool.h>
#include <stddef.h>

#include "util/buf.h"

#define PASSWD_USER_MAX 255
/* Longest password passed to crypt (libxcrypt's CRYPT_MAX_PASSPHRASE_SIZE - 1). */
#define PASSWD_PASS_MAX 511

struct passwd_db;

/*
 * Loads path. On success returns the database (possibly with no users); on
 * failure returns NULL and appends "file:line: reason\n" lines (or one
 * "file: reason\n") to errors, except when the file cannot be opened: then
 * errno says why and the caller, who knows what named the file, reports
 * it. A world-writable file is refused; a world-readable one is loaded with
 * a warning in the log.
 */
struct passwd_db *passwd_load(const char *path, struct buf *errors);

/* True when password is user's. Unknown and locked users cost one hash too,
 * and the hashes are compared in constant time, so neither the answer's
 * timing nor its content tells which users exist. Slow by design: call it
 * from a worker thread. */
bool passwd_verify(const struct passwd_db *db, const char *user, const char *password);

size_t passwd_count(const struct passwd_db *db);
void passwd_free(struct passwd_db *db);

/*
 * `petrel passwd [-c CONFIG] [-f FILE] [-d] USER` (passwd_cmd.c): sets USER's
 * password (read twice from the terminal without echo, or as one line from
 * a stdin that is not a terminal) as a fresh yescrypt hash, or with -d
 * removes USER. FILE defaults to the passwd-file of CONFIG (-c, else
 * $PETREL_CONFIG, else /etc/petrel/petrel.conf). argv[0] is the command's
 * name ("passwd"). Returns the exit status.
 */
int passwd_main(int argc, char **argv);

/* The syntax rules of the file, shared with `petrel passwd`. */
bool passwd_valid_user(const char *user, size_t len);
/* NULL when hash is acceptable, else the reason it is not. */
const char *passwd_check_hash(const char *hash);

#endif
