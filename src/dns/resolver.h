/*
 * resolver - where mail for a domain goes: MX records ordered by preference
 * (equal preferences shuffled), each exchanger's IPv6 and IPv4 addresses,
 * the implicit MX of RFC 5321 5.1 (no MX: the domain's own A/AAAA), and the
 * null MX of RFC 7505. Asynchronous, on c-ares, driven by the libevent loop.
 */
#ifndef PETREL_DNS_RESOLVER_H
#define PETREL_DNS_RESOLVER_H

#include <event2/event.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "util/strlist.h"

struct dns_resolver;

enum dns_status {
	DNS_OK,        /* mx->n >= 1 exchangers, each with >= 1 address */
	DNS_NULL_MX,   /* RFC 7505: the domain accepts no mail: bounce now (5.1.10) */
	DNS_NOT_FOUND, /* NXDOMAIN, or no MX and no address: bounce (5.1.2) */
	DNS_TEMPFAIL,  /* timeout, SERVFAIL, refused...: defer (4.4.3) */
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

/* status, the list (valid only during the call) and a one-line reason for
 * logs and bounces when status is not DNS_OK. */
typedef void (*dns_mx_fn)(void *arg, enum dns_status status, const struct mx_list *mx,
			  const char *reason);

/* servers: "IP:PORT" strings; empty = the system's /etc/resolv.conf.
 * timeout_ms per try, tries per server. NULL on failure. */
struct dns_resolver *dns_new(struct event_base *base, const struct strlist *servers,
			     unsigned timeout_ms, unsigned tries);
/* Cancels pending lookups (their callbacks run with DNS_TEMPFAIL). */
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

#endif
