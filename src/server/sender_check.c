/* sender_check - the sender's domain in the DNS; see sender_check.h. */
#include "server/sender_check.h"

#include <stdlib.h>

#include "dns/resolver.h"
#include "util/log.h"

/* Each query's own bound, as for delivery: 2 s, doubled for the retry. */
#define QUERY_TIMEOUT_MS 2000
#define QUERY_TRIES 2

struct sender_check {
	struct dns_resolver *dns;
	struct event_base *base;
};

/* Lives until the resolver calls back, which may be after the answer went
 * out (the time ran out) or stopped being wanted (cancelled): done is NULL
 * from then on. A connection has at most one lookup it still wants. */
struct sender_lookup {
	struct event *timer;
	sender_done_fn done;
	void *arg;
};

struct sender_check *sender_check_new(struct event_base *base, const struct strlist *dns_servers)
{
	struct dns_resolver *dns = dns_new(base, dns_servers, QUERY_TIMEOUT_MS, QUERY_TRIES);
	if (!dns)
		return NULL;
	struct sender_check *sc = xcalloc(1, sizeof *sc);
	*sc = (struct sender_check){dns, base};
	return sc;
}

void sender_check_free(struct sender_check *sc)
{
	if (!sc)
		return;
	dns_free(sc->dns);
	free(sc);
}

/* Gives the answer unless it was given or cancelled already. */
static void answer(struct sender_lookup *lk, enum sender_result r, const char *reason)
{
	sender_done_fn done = lk->done;
	lk->done = NULL;
	evtimer_del(lk->timer);
	if (done)
		done(lk->arg, r, reason);
}

/* The same line delivery draws: where a bounce would find no exchanger
 * (NXDOMAIN, no MX and no address, exchangers without addresses) the
 * sender is unknown; where it would be deferred, so is the sender. */
static enum sender_result verdict(enum dns_status st)
{
	switch (st) {
	case DNS_OK:
		return SENDER_OK;
	case DNS_NULL_MX:
		return SENDER_NULL_MX;
	case DNS_NOT_FOUND:
		return SENDER_UNKNOWN;
	default:
		return SENDER_TEMPFAIL;
	}
}

static void resolved(void *arg, enum dns_status st, const struct mx_list *mx, const char *reason)
{
	(void)mx;
	struct sender_lookup *lk = arg;
	answer(lk, verdict(st), reason);
	event_free(lk->timer);
	free(lk);
}

static void timed_out(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct sender_lookup *lk = arg;
	answer(lk, SENDER_TEMPFAIL, "dns: no answer in time");
}

struct sender_lookup *sender_check_start(struct sender_check *sc, const char *domain,
					 sender_done_fn done, void *arg)
{
	struct sender_lookup *lk = xcalloc(1, sizeof *lk);
	*lk = (struct sender_lookup){evtimer_new(sc->base, timed_out, lk), done, arg};
	if (!lk->timer) {
		/* Same policy as xmalloc: out of memory is not recoverable. */
		log_error("sender check: out of memory");
		abort();
	}
	struct timeval tv = {SENDER_CHECK_TIMEOUT_MS / 1000, SENDER_CHECK_TIMEOUT_MS % 1000 * 1000};
	evtimer_add(lk->timer, &tv);
	dns_resolve_mx(sc->dns, domain, resolved, lk);
	return lk;
}

void sender_check_cancel(struct sender_lookup *lk)
{
	lk->done = NULL;
	evtimer_del(lk->timer);
}
