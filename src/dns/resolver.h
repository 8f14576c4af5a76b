/*
 * resolver - where mail for a domain goes: MX records ordered by preference
 * (equal preferences shuffled), each exchanger's IPv6 and IPv4 addresses,
 * the implicit MX of RFC 5321 5.1 (no MX: the domain's own A/AAAA), and the
 * null MX of RFC 7505. Asynchronous, on c-ares, driven by the libevent loop.
 */
#ifndef PETREL_DNS_RESOLVER_H
#define PETREL_DNS_RESOLVER_H

#include <event2/event.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "util/strlist.h"

struct dns_resolver;

enum dns_status {
	DNS_OK,        /* mx->n >= 1 exchangers, each with >= 1 address */
	DNS_NULL_MX,   /* RFC 7505: the domain accepts no mail: bounce now (5.1.10) */
	DNS_NOT_FOUND, /* NXDOMAIN, or no MX and no address: bounce (5.1.2) */
	DNS_TEMPFAIL,  /* timeout, SERVFAIL, refused...: defer (4.4.3) */
	/* We could not ask: no socket for want of descriptors or buffers, or
	 * no memory. Says nothing about the domain or the servers: try again
	 * shortly. */
	DNS_LOCAL,
};

struct mx_host {
	char *name;                     /* exchanger name, lower case, no trailing dot */
	unsigned pref;                  /* MX preference (0 for the implicit MX) */
	struct sockaddr_storage *addrs; /* IPv6 first, then IPv4; port left 0 */
	size_t naddrs;
};

struct mx_list {
	struct mx_host *v;              /* ordered: lowest preference first */
	size_t n;
	bool implicit;                  /* no MX records: the domain itself */
};

/* status, the list (valid only during the call; never NULL, empty unless
 * DNS_OK: keep it with mx_list_copy) and a one-line reason for logs and
 * bounces when status is not DNS_OK ("" when it is). Callbacks run from the
 * event loop, never from inside dns_resolve_*, so they may start lookups or
 * call dns_free. Only while dns_free runs do callbacks run inside it, and
 * lookups started from them fail at once with DNS_TEMPFAIL. */
typedef void (*dns_mx_fn)(void *arg, enum dns_status status, const struct mx_list *mx,
			  const char *reason);

/* servers: "IP:PORT" strings; empty = the system's /etc/resolv.conf.
 * timeout_ms per try, tries per server. NULL on failure. */
struct dns_resolver *dns_new(struct event_base *base, const struct strlist *servers,
			     unsigned timeout_ms, unsigned tries);
/* Cancels pending lookups (their callbacks run, inside this call, with
 * DNS_TEMPFAIL, or with their result if it was already known). */
void dns_free(struct dns_resolver *r);

/* Resolves the mail exchangers of domain (RFC 5321 5.1). */
void dns_resolve_mx(struct dns_resolver *r, const char *domain, dns_mx_fn cb, void *arg);
/* Resolves one host's addresses as an implicit single-host list (for static
 * routes and the relay host); a literal IP needs no lookup. */
void dns_resolve_host(struct dns_resolver *r, const char *host, dns_mx_fn cb, void *arg);

/*
 * RFC 5321 5.1: when we are ourselves one of the exchangers (a backup MX),
 * drop every record of equal or worse preference than our own so mail goes
 * only to better ones. self: our host names (lower case). Returns true if we
 * appeared in the list. Pure.
 */
bool mx_prune_self(struct mx_list *mx, const struct strlist *self);
void mx_list_free(struct mx_list *mx);
/* Deep copy of src into dst (dst's old contents are not freed). */
void mx_list_copy(struct mx_list *dst, const struct mx_list *src);

/*
 * Pure answer handling (mx.c): no I/O and no c-ares, so it can be unit-tested
 * and fuzzed without a network. The resolver is glue around these.
 */
#define DNS_MAX_MX 32        /* exchangers used per domain */
#define DNS_MAX_ADDRS 16     /* addresses used per exchanger */
#define DNS_NAME_MAX 253     /* RFC 1035 2.3.4, in text form without the root dot */

/* One MX record as parsed from an answer; the root target is "" or ".". */
struct mx_record {
	const char *name;
	unsigned pref;
};

/* Copies name to out, lower case and without a trailing dot, if it is a host
 * name we will look up: 1..DNS_NAME_MAX octets, labels of 1..63 letters,
 * digits, '-' or '_'. False (out undefined) otherwise. */
bool dns_name_normalize(char out[static DNS_NAME_MAX + 1], const char *name);
/* RFC 7505 3: true if the answer is exactly one MX, preference 0, target root. */
bool mx_is_null(const struct mx_record *recs, size_t n);
/* Fills the empty list mx from an MX answer: invalid or root targets dropped,
 * a name listed twice kept once at its best preference, ordered by preference
 * with equal preferences shuffled (RFC 5321 5.1) using the PRNG state *rng,
 * at most DNS_MAX_MX kept. Exchangers get no addresses yet. */
void mx_list_from_records(struct mx_list *mx, const struct mx_record *recs, size_t n,
			  uint64_t *rng);
/* Appends an exchanger without addresses (name copied as is). */
struct mx_host *mx_list_add(struct mx_list *mx, const char *name, unsigned pref);
/* Sets h's addresses: IPv6 first, then IPv4, each in answer order, at most
 * DNS_MAX_ADDRS in all, half of them kept for IPv4 when there are enough. */
void mx_host_set_addrs(struct mx_host *h, const struct in6_addr *v6, size_t n6,
		       const struct in_addr *v4, size_t n4);
/* Drops exchangers without addresses, keeping the order; returns how many remain. */
size_t mx_list_drop_unreachable(struct mx_list *mx);
/* Next value of the splitmix64 generator with state *s. */
uint64_t dns_rand_next(uint64_t *s);

#endif
