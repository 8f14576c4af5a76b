/*
 * sender_check - may mail from this sender's domain be taken, that is,
 * could a bounce ever reach it? The shell's half of SESSION_EV_SENDER: the
 * domain's MX (or, without one, its own address) is looked up on the event
 * loop with the resolver delivery uses (dns/resolver.c), so a domain counts
 * as unknown exactly when a bounce to it would fail for want of a place to
 * go. Each lookup is bounded by SENDER_CHECK_TIMEOUT_MS; nothing is cached.
 */
#ifndef PETREL_SERVER_SENDER_CHECK_H
#define PETREL_SERVER_SENDER_CHECK_H

#include <event2/event.h>

#include "smtp/session.h"
#include "util/strlist.h"

/* The whole lookup, MX and addresses, after which it counts as failed for
 * now (450): a client waits this long at most for its MAIL reply. */
#define SENDER_CHECK_TIMEOUT_MS 5000

struct sender_check;
struct sender_lookup;

/* r, and for a refusal a one-line reason for the log. */
typedef void (*sender_done_fn)(void *arg, enum sender_result r, const char *reason);

/* dns_servers: "IP:PORT" strings, empty for the system's resolv.conf.
 * NULL (logged) when the resolver cannot start. */
struct sender_check *sender_check_new(struct event_base *base, const struct strlist *dns_servers);
/* Lookups not yet answered or cancelled are answered (SENDER_TEMPFAIL)
 * inside this call. */
void sender_check_free(struct sender_check *sc);
/* Looks domain up; done runs once, later, from the loop, unless the lookup
 * is cancelled first. The handle is the caller's until then. */
struct sender_lookup *sender_check_start(struct sender_check *sc, const char *domain,
					 sender_done_fn done, void *arg);
/* done will not run; the lookup is freed once the resolver lets go of it. */
void sender_check_cancel(struct sender_lookup *lk);

#endif
