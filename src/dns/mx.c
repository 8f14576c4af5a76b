/*
 * mx - the pure half of the resolver: from parsed DNS answers to an ordered,
 * bounded list of mail exchangers; see resolver.h.
 *
 * Contract: no I/O, no c-ares, no global state (randomness comes from a PRNG
 * state the caller owns), so every function here can be driven by unit tests
 * and fuzzers. Everything produced is bounded: DNS_MAX_MX exchangers,
 * DNS_MAX_ADDRS addresses each, names of at most DNS_NAME_MAX octets made of
 * letters, digits, '-' and '_' only.
 *
 * RFCs: 5321 5.1 (MX ordering, equal preferences, implicit MX, backup MX
 * pruning), 7505 3 (null MX), 1035 2.3.4 (name limits).
 */
#include "dns/resolver.h"

#include <stdlib.h>
#include <string.h>

#include "util/buf.h"

/* RFC 1035 2.3.4: a label is at most 63 octets. */
#define LABEL_MAX 63

uint64_t dns_rand_next(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15u);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
	return z ^ (z >> 31);
}

/* Letters, digits and '-' (RFC 5321 4.1.2 Ldh-str), plus '_', which real
 * exchanger names sometimes carry; nothing that could break a log line or a
 * reply (no control characters, spaces, backslashes or 8-bit bytes). */
static bool name_char_ok(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '_';
}

bool dns_name_normalize(char out[static DNS_NAME_MAX + 1], const char *name)
{
	size_t len = strnlen(name, DNS_NAME_MAX + 2);
	if (len > 0 && name[len - 1] == '.')
		len--;
	if (len == 0 || len > DNS_NAME_MAX)
		return false;
	size_t label = 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];
		if (c == '.') {
			if (label == 0)
				return false;
			label = 0;
		} else if (!name_char_ok(c) || ++label > LABEL_MAX) {
			return false;
		}
		out[i] = (char)(c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c);
	}
	out[len] = '\0';
	return label > 0;
}

static bool is_root(const char *name)
{
	return name[0] == '\0' || strcmp(name, ".") == 0;
}

bool mx_is_null(const struct mx_record *recs, size_t n)
{
	/* RFC 7505 3: "preference number 0 and a zero-length label". */
	return n == 1 && recs[0].pref == 0 && is_root(recs[0].name);
}

struct mx_cand {
	char name[DNS_NAME_MAX + 1];
	unsigned pref;
	uint64_t key; /* random: orders equal preferences */
};

static int cand_cmp(const void *a, const void *b)
{
	const struct mx_cand *x = a, *y = b;
	if (x->pref != y->pref)
		return x->pref < y->pref ? -1 : 1;
	return x->key < y->key ? -1 : x->key > y->key;
}

static bool list_has(const struct mx_list *mx, const char *name)
{
	for (size_t i = 0; i < mx->n; i++)
		if (strcmp(mx->v[i].name, name) == 0)
			return true;
	return false;
}

void mx_list_from_records(struct mx_list *mx, const struct mx_record *recs, size_t n,
			  uint64_t *rng)
{
	struct mx_cand *c = xcalloc(n, sizeof *c);
	size_t nc = 0;
	for (size_t i = 0; i < n; i++) {
		/* A root target alongside real ones is a broken null MX (RFC 7505
		 * 3: it MUST be the only record): it names no host, so skip it. */
		if (is_root(recs[i].name) || !dns_name_normalize(c[nc].name, recs[i].name))
			continue;
		c[nc].pref = recs[i].pref;
		c[nc].key = dns_rand_next(rng);
		nc++;
	}
	/* RFC 5321 5.1: lowest preference first; equal preferences in random
	 * order so the load spreads over them. Random keys give every
	 * permutation the same chance. Sorting all of them before cutting at
	 * DNS_MAX_MX keeps the best exchangers whatever the answer order. */
	qsort(c, nc, sizeof *c, cand_cmp);
	for (size_t i = 0; i < nc && mx->n < DNS_MAX_MX; i++)
		if (!list_has(mx, c[i].name))
			mx_list_add(mx, c[i].name, c[i].pref);
	free(c);
}

struct mx_host *mx_list_add(struct mx_list *mx, const char *name, unsigned pref)
{
	mx->v = xrealloc(mx->v, (mx->n + 1) * sizeof *mx->v);
	struct mx_host *h = &mx->v[mx->n++];
	h->name = xstrdup(name);
	h->pref = pref;
	h->addrs = NULL;
	h->naddrs = 0;
	return h;
}

static size_t min_size(size_t a, size_t b)
{
	return a < b ? a : b;
}

void mx_host_set_addrs(struct mx_host *h, const struct in6_addr *v6, size_t n6,
		       const struct in_addr *v4, size_t n4)
{
	/* IPv6 goes first, but a host with many IPv6 addresses must not push
	 * out all its IPv4 ones: when IPv6 is broken on our side, those are
	 * what delivers. So half the slots stay for IPv4 if it can fill them. */
	size_t use6 = min_size(n6, DNS_MAX_ADDRS - min_size(n4, DNS_MAX_ADDRS / 2));
	size_t use4 = min_size(n4, DNS_MAX_ADDRS - use6);
	free(h->addrs);
	h->addrs = xcalloc(use6 + use4, sizeof *h->addrs);
	h->naddrs = 0;
	for (size_t i = 0; i < use6; i++) {
		struct sockaddr_in6 *sa = (struct sockaddr_in6 *)&h->addrs[h->naddrs++];
		sa->sin6_family = AF_INET6;
		sa->sin6_addr = v6[i];
	}
	for (size_t i = 0; i < use4; i++) {
		struct sockaddr_in *sa = (struct sockaddr_in *)&h->addrs[h->naddrs++];
		sa->sin_family = AF_INET;
		sa->sin_addr = v4[i];
	}
}

static void host_free(struct mx_host *h)
{
	free(h->name);
	free(h->addrs);
}

size_t mx_list_drop_unreachable(struct mx_list *mx)
{
	size_t k = 0;
	for (size_t i = 0; i < mx->n; i++) {
		if (mx->v[i].naddrs == 0)
			host_free(&mx->v[i]);
		else
			mx->v[k++] = mx->v[i];
	}
	mx->n = k;
	return k;
}

bool mx_prune_self(struct mx_list *mx, const struct strlist *self)
{
	bool found = false;
	unsigned own = 0;
	for (size_t i = 0; i < mx->n; i++) {
		if (strlist_contains(self, mx->v[i].name) && (!found || mx->v[i].pref < own)) {
			own = mx->v[i].pref;
			found = true;
		}
	}
	if (!found)
		return false;
	/* RFC 5321 5.1: a backup MX delivers only to exchangers strictly
	 * better than itself; equal or worse ones would loop the mail. */
	size_t k = 0;
	for (size_t i = 0; i < mx->n; i++) {
		if (mx->v[i].pref < own)
			mx->v[k++] = mx->v[i];
		else
			host_free(&mx->v[i]);
	}
	mx->n = k;
	return true;
}

void mx_list_free(struct mx_list *mx)
{
	for (size_t i = 0; i < mx->n; i++)
		host_free(&mx->v[i]);
	free(mx->v);
	mx->v = NULL;
	mx->n = 0;
	mx->implicit = false;
}

void mx_list_copy(struct mx_list *dst, const struct mx_list *src)
{
	dst->v = src->n ? xcalloc(src->n, sizeof *dst->v) : NULL;
	dst->n = src->n;
	dst->implicit = src->implicit;
	for (size_t i = 0; i < src->n; i++) {
		const struct mx_host *s = &src->v[i];
		struct mx_host *d = &dst->v[i];
		d->name = xstrdup(s->name);
		d->pref = s->pref;
		d->naddrs = s->naddrs;
		d->addrs = xcalloc(s->naddrs, sizeof *d->addrs);
		if (s->naddrs)
			memcpy(d->addrs, s->addrs, s->naddrs * sizeof *d->addrs);
	}
}
