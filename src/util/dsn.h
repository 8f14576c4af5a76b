/*
 * dsn - the values of the Delivery Status Notification parameters of
 * RFC 3461 (NOTIFY, RET, ENVID, ORCPT) and their xtext encoding (RFC 3461 4),
 * shared by the SMTP session (parsing), the spool (storing) and the reports
 * (honouring them). Pure: no I/O, no allocation.
 *
 * ENVID and ORCPT are kept in their wire form (xtext as the client sent it),
 * so the SMTP client can pass them on unchanged; reports decode them.
 */
#ifndef PETREL_UTIL_DSN_H
#define PETREL_UTIL_DSN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* NOTIFY (RFC 3461 4.1) as bits; 0 means the parameter was not given, which
 * RFC 3461 4.1 makes FAILURE,DELAY. NEVER is only ever alone. */
#define DSN_NOTIFY_SUCCESS 1u
#define DSN_NOTIFY_FAILURE 2u
#define DSN_NOTIFY_DELAY 4u
#define DSN_NOTIFY_NEVER 8u
#define DSN_NOTIFY_ALL 15u
/* Room for the longest NOTIFY text, "SUCCESS,FAILURE,DELAY". */
#define DSN_NOTIFY_TEXT_MAX 24

/* RET (RFC 3461 4.3); values as stored in the spool. */
enum dsn_ret { DSN_RET_UNSET = 0, DSN_RET_FULL = 1, DSN_RET_HDRS = 2 };

#define DSN_ENVID_MAX 100 /* RFC 3461 4.4: characters, after decoding */
#define DSN_ORCPT_MAX 500 /* RFC 3461 4.2: the whole parameter value */

/*
 * Decodes xtext: xchar ("!".."~" but "+" and "=") stands for itself,
 * "+" and two upper-case hex digits for that octet. *n receives the decoded
 * length. With out, the result is written there NUL-terminated and must fit
 * in cap. False when in is not xtext (or does not fit).
 */
bool xtext_decode(const char *in, size_t len, char *out, size_t cap, size_t *n);

/* Encodes len bytes of in as xtext into out (NUL-terminated); false when
 * it does not fit in cap. */
bool xtext_encode(const char *in, size_t len, char *out, size_t cap);

/* ENVID: xtext of at most DSN_ENVID_MAX printable US-ASCII characters
 * (RFC 3461 4.4). */
bool dsn_envid_valid(const char *v, size_t len);

/* ORCPT: addr-type ";" xtext, at most DSN_ORCPT_MAX characters (RFC 3461
 * 4.2); the RFC 6533 "utf-8" type only when utf8 (SMTPUTF8) is allowed. */
bool dsn_orcpt_valid(const char *v, size_t len, bool utf8);

/* NOTIFY: "NEVER" or a comma list of SUCCESS, FAILURE, DELAY, each at most
 * once (any case). False when malformed. */
bool dsn_notify_parse(const char *v, size_t len, uint8_t *flags);
/* The NOTIFY value for flags ("" when unset), as it goes on the wire. */
void dsn_notify_text(uint8_t flags, char *out, size_t cap);
/* Whether a recipient with these flags wants a report of kind (one
 * DSN_NOTIFY_* bit): an unset NOTIFY wants FAILURE and DELAY. */
bool dsn_wants(uint8_t flags, unsigned kind);

#endif
