/*
 * address - the RFC 5321 4.1.2 path grammar, pure.
 *
 * Parses "<...>" paths of MAIL FROM / RCPT TO: Mailbox = Local-part "@"
 * ( Domain / address-literal ), Local-part = Dot-string / Quoted-string.
 * Source routes ("<@a,@b:u@c>", RFC 5321 4.1.1.3 / C) are accepted and
 * discarded. "<>" is the null reverse-path. Limits of RFC 5321 4.5.3.1:
 * local part 64 octets, domain 255 octets, path 256 octets (brackets
 * included). UTF-8 in local part and domain is accepted only when the caller
 * says SMTPUTF8 was requested (RFC 6531).
 */
#ifndef PETREL_SMTP_ADDRESS_H
#define PETREL_SMTP_ADDRESS_H

#include <stdbool.h>
#include <stddef.h>

#define ADDR_LOCAL_MAX 64
#define ADDR_DOMAIN_MAX 255
#define ADDR_PATH_MAX 256
/* Longest "local@domain" addr_format() can produce (without the NUL). */
#define ADDR_MAILBOX_MAX (ADDR_LOCAL_MAX + 1 + ADDR_DOMAIN_MAX)

struct address {
	bool is_null;                     /* "<>" */
	char local[ADDR_LOCAL_MAX + 1];   /* as written; a Quoted-string keeps its quotes */
	char domain[ADDR_DOMAIN_MAX + 1]; /* as written: "example.org" or "[192.0.2.1]" */
};

enum addr_status {
	ADDR_OK = 0,
	ADDR_ERR_SYNTAX,        /* not a path at all: missing '<' '>' etc. -> 501 */
	ADDR_ERR_MAILBOX,       /* inside <> but not a valid mailbox -> 553 */
	ADDR_ERR_LOCAL_TOO_LONG,
	ADDR_ERR_DOMAIN_TOO_LONG,
	ADDR_ERR_PATH_TOO_LONG,
	ADDR_ERR_NULL_NOT_ALLOWED, /* "<>" where a forward-path is required -> 553 */
};

enum addr_flags {
	ADDR_ALLOW_NULL = 1,   /* MAIL FROM:<> */
	ADDR_ALLOW_UTF8 = 2,   /* SMTPUTF8 requested */
	ADDR_ALLOW_NO_DOMAIN = 4, /* RCPT TO:<postmaster> (RFC 5321 4.5.1) */
};

/*
 * Parses a path at the start of s[0..len). On success fills *out and sets
 * *consumed to the number of bytes of s used (through the closing '>');
 * on failure *out is cleared and *consumed is 0 (consumed may be NULL).
 * Leading spaces are not skipped: the caller hands the text right after
 * "FROM:" / "TO:" (it may skip one optional space itself).
 */
enum addr_status addr_parse_path(const char *s, size_t len, unsigned flags,
				 struct address *out, size_t *consumed);

/* Parses a bare mailbox "local@domain" (no brackets) spanning all of s[0..len),
 * as found in alias files and VRFY arguments. Same rules as inside a path,
 * but no source route, no null path (ADDR_ALLOW_NULL is ignored) and no path
 * limit: only the local part (64) and domain (255) limits apply. Every failure
 * other than a length limit is ADDR_ERR_MAILBOX. */
enum addr_status addr_parse_mailbox(const char *s, size_t len, unsigned flags,
				    struct address *out);

/* Writes "local@domain" (or "" for the null path, or "local" without a
 * domain) into out; returns the length or -1 when outsz is too small (then
 * out holds "" if outsz > 0). A path's mailbox fits in ADDR_PATH_MAX - 1
 * octets; one from addr_parse_mailbox may need ADDR_MAILBOX_MAX + 1. */
int addr_format(const struct address *a, char *out, size_t outsz);

/* True when domain is a syntactically valid RFC 5321 Domain (not a literal). */
bool addr_valid_domain(const char *s, size_t len, bool allow_utf8);

/* True when s[0..len) is a valid EHLO/HELO argument (RFC 5321 4.1.1.1):
 * a Domain (ASCII only, at most 255 octets) or an address-literal. */
bool addr_valid_helo(const char *s, size_t len);

/* The local part with the quotes of a Quoted-string removed (RFC 5321
 * 4.1.2), so "alice" and alice name the same user; truncated to outsz. */
void addr_unquote_local(const char *in, char *out, size_t outsz);

/* A short human-readable reason for a status, for reply texts. */
const char *addr_status_text(enum addr_status st);

#endif
