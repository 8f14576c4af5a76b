/*
 * fuzz_address - the RFC 5321 path grammar (src/smtp/address.c).
 *
 * The input is one candidate path / mailbox, tried with every combination of
 * the ADDR_* flags. Checked on every call:
 * - consumed <= len, and on ADDR_OK the path ends with the '>' at consumed-1
 *   within the 256-octet path limit; on failure consumed is 0 and the
 *   address is cleared;
 * - on ADDR_OK, addr_format() fits the documented buffer size and its output
 *   parses again, as a path ("<" text ">") and as a bare mailbox, to the
 *   very same address (a format/parse round trip: what Petrel stores and
 *   passes on is read back identically);
 * - the local part and domain respect the 64/255-octet limits;
 * - the helper predicates (addr_valid_domain, addr_valid_helo) do not read
 *   past len (ASan catches that: the input buffer is exactly len bytes).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smtp/address.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool same_address(const struct address *a, const struct address *b)
{
	return a->is_null == b->is_null && strcmp(a->local, b->local) == 0 &&
	       strcmp(a->domain, b->domain) == 0;
}

static bool is_cleared(const struct address *a)
{
	return !a->is_null && a->local[0] == '\0' && a->domain[0] == '\0';
}

static void check_limits(const struct address *a)
{
	if (strnlen(a->local, sizeof a->local) > ADDR_LOCAL_MAX ||
	    strnlen(a->domain, sizeof a->domain) > ADDR_DOMAIN_MAX)
		abort();
}

/* A parsed address, formatted and parsed again with the same flags, must come
 * back unchanged, through both entry points where they apply. */
static void check_round_trip(const struct address *a, unsigned flags, size_t outsz)
{
	char text[ADDR_MAILBOX_MAX + 2];
	int n = addr_format(a, text, outsz);
	if (n < 0 || (size_t)n >= outsz || strlen(text) != (size_t)n)
		abort();

	char path[ADDR_MAILBOX_MAX + 4];
	path[0] = '<';
	memcpy(path + 1, text, (size_t)n);
	path[n + 1] = '>';
	struct address b;
	size_t used = 0;
	/* A bare mailbox may exceed the path limit; only shorter ones must fit. */
	if ((size_t)n + 2 <= ADDR_PATH_MAX) {
		if (addr_parse_path(path, (size_t)n + 2, flags, &b, &used) != ADDR_OK ||
		    used != (size_t)n + 2 || !same_address(a, &b))
			abort();
	}
	if (a->is_null || a->domain[0] == '\0')
		return;
	if (addr_parse_mailbox(text, (size_t)n, flags, &b) != ADDR_OK || !same_address(a, &b))
		abort();
}

static void try_path(const char *s, size_t len, unsigned flags)
{
	struct address a;
	size_t used = 12345;
	enum addr_status st = addr_parse_path(s, len, flags, &a, &used);
	if (st != ADDR_OK) {
		if (used != 0 || !is_cleared(&a) || !addr_status_text(st))
			abort();
		return;
	}
	if (used == 0 || used > len || used > ADDR_PATH_MAX || s[0] != '<' || s[used - 1] != '>')
		abort();
	if (a.is_null && !(flags & ADDR_ALLOW_NULL))
		abort();
	check_limits(&a);
	/* address.h: a path's mailbox fits in ADDR_PATH_MAX - 1 octets. */
	check_round_trip(&a, flags, ADDR_PATH_MAX);
}

static void try_mailbox(const char *s, size_t len, unsigned flags)
{
	struct address a;
	enum addr_status st = addr_parse_mailbox(s, len, flags, &a);
	if (st != ADDR_OK) {
		if (!is_cleared(&a) || st == ADDR_ERR_SYNTAX || st == ADDR_ERR_PATH_TOO_LONG ||
		    st == ADDR_ERR_NULL_NOT_ALLOWED)
			abort();
		return;
	}
	if (a.is_null)
		abort();
	check_limits(&a);
	check_round_trip(&a, flags & ~(unsigned)ADDR_ALLOW_NULL, ADDR_MAILBOX_MAX + 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* An exact-size heap copy, so reading one byte too far is an ASan error. */
	char *s = malloc(size ? size : 1);
	if (size)
		memcpy(s, data, size);
	for (unsigned flags = 0; flags < 8; flags++) {
		try_path(s, size, flags);
		try_mailbox(s, size, flags);
	}
	bool helo = addr_valid_helo(s, size);
	bool dom = addr_valid_domain(s, size, false);
	bool dom8 = addr_valid_domain(s, size, true);
	/* An ASCII domain is valid with or without UTF-8 allowed; a HELO name
	 * that is a plain domain is one. */
	if ((dom && !dom8) || (dom && !helo))
		abort();
	free(s);
	return 0;
}
