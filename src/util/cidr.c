/*
 * cidr - IPv4/IPv6 network lists; see cidr.h.
 *
 * Contract: an entry is stored as (family, network bytes, prefix). Host bits
 * below the prefix must be zero: "192.168.1.10/16" is refused rather than
 * silently widened, because relay-from is a security boundary and that typo
 * would open the relay to 65536 hosts. IPv4-mapped IPv6 entries with a
 * prefix of at least 96 are stored as IPv4, and mapped peer addresses are
 * matched as IPv4, so one entry covers both ways a v4 client can appear.
 */
#include "util/cidr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"

/* Longest textual address inet_pton accepts, with room to spare. */
#define CIDR_TEXT_MAX 64

static const uint8_t v4mapped_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

static bool parse_prefix(const char *s, unsigned max, unsigned *out)
{
	unsigned v = 0;
	size_t i = 0;
	for (; s[i] >= '0' && s[i] <= '9'; i++) {
		if (i == 3)
			return false;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	if (i == 0 || s[i] != '\0' || v > max)
		return false;
	*out = v;
	return true;
}

/* True when every bit of addr from bit `prefix` on is zero. */
static bool host_bits_clear(const uint8_t *addr, size_t nbytes, unsigned prefix)
{
	for (size_t i = prefix / 8; i < nbytes; i++) {
		unsigned keep = (i == prefix / 8) ? prefix % 8 : 0;
		uint8_t mask = (uint8_t)(0xffu >> keep);
		if (addr[i] & mask)
			return false;
	}
	return true;
}

static void demote_v4mapped(struct cidr *c)
{
	if (c->family != AF_INET6 || c->prefix < 96 ||
	    memcmp(c->addr, v4mapped_prefix, sizeof v4mapped_prefix) != 0)
		return;
	memmove(c->addr, c->addr + 12, 4);
	memset(c->addr + 4, 0, 12);
	c->family = AF_INET;
	c->prefix -= 96;
}

bool cidr_parse(const char *s, struct cidr *out)
{
	char text[CIDR_TEXT_MAX];
	const char *slash = strchr(s, '/');
	size_t alen = slash ? (size_t)(slash - s) : strlen(s);
	if (alen == 0 || alen >= sizeof text)
		return false;
	memcpy(text, s, alen);
	text[alen] = '\0';

	struct cidr c;
	memset(&c, 0, sizeof c);
	size_t nbytes;
	if (inet_pton(AF_INET, text, c.addr) == 1) {
		c.family = AF_INET;
		nbytes = 4;
	} else if (inet_pton(AF_INET6, text, c.addr) == 1) {
		c.family = AF_INET6;
		nbytes = 16;
	} else {
		return false;
	}
	c.prefix = (unsigned)nbytes * 8;
	if (slash && !parse_prefix(slash + 1, c.prefix, &c.prefix))
		return false;
	if (!host_bits_clear(c.addr, nbytes, c.prefix))
		return false;
	demote_v4mapped(&c);
	*out = c;
	return true;
}

void cidr_list_add(struct cidr_list *l, const struct cidr *c)
{
	l->v = xrealloc(l->v, (l->n + 1) * sizeof *l->v);
	l->v[l->n++] = *c;
}

void cidr_list_free(struct cidr_list *l)
{
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

static bool prefix_equal(const uint8_t *a, const uint8_t *b, unsigned prefix)
{
	size_t whole = prefix / 8;
	if (memcmp(a, b, whole) != 0)
		return false;
	if (prefix % 8 == 0)
		return true;
	uint8_t mask = (uint8_t)(0xffu << (8 - prefix % 8));
	return ((a[whole] ^ b[whole]) & mask) == 0;
}

bool cidr_list_match(const struct cidr_list *l, const struct sockaddr *sa)
{
	int family = sa->sa_family;
	uint8_t addr[16] = {0};
	if (family == AF_INET) {
		memcpy(addr, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, 4);
	} else if (family == AF_INET6) {
		memcpy(addr, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, 16);
		if (memcmp(addr, v4mapped_prefix, sizeof v4mapped_prefix) == 0) {
			memmove(addr, addr + 12, 4);
			family = AF_INET;
		}
	} else {
		return false;
	}
	for (size_t i = 0; i < l->n; i++)
		if (l->v[i].family == family && prefix_equal(l->v[i].addr, addr, l->v[i].prefix))
			return true;
	return false;
}
