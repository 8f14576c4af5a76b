/*
 * resolver - c-ares glue: MX, A and AAAA queries on the libevent loop; the
 * answer handling itself is in mx.c. See resolver.h.
 *
 * Contract: no threads and no blocking. c-ares tells us which sockets it
 * wants watched (ARES_OPT_SOCK_STATE_CB): one persistent event per socket,
 * plus one timer set from ares_timeout() after every call into c-ares. A
 * lookup lives until every query it started has called back (c-ares calls
 * each callback exactly once, with ARES_EDESTRUCTION at ares_destroy), so no
 * callback ever sees freed memory. The user callback is then run from a
 * separate event, never from inside c-ares or dns_resolve_*.
 *
 * RFCs: 5321 5.1 (MX, implicit MX via A/AAAA), 7505 (null MX), 1035 (rcodes:
 * NXDOMAIN is permanent, SERVFAIL/REFUSED and timeouts are temporary).
 */
#include "dns/resolver.h"

#include <ares.h>
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "util/buf.h"
#include "util/fsutil.h"
#include "util/log.h"

/* Longest server entry ("[v6]:port") and the longest reason we build. */
#define SERVER_TEXT_MAX 64
#define REASON_MAX 384

struct sockev {
	struct dns_resolver *r;
	ares_socket_t fd;
	struct event *ev;
	struct sockev *next;
};

struct lookup;

/* One AAAA or A query for one exchanger; results wait here until all the
 * queries of the lookup are back, then mx.c assembles them. */
struct addr_query {
	struct lookup *lk;
	size_t host;
	int family;
	size_t n;
	struct in6_addr v6[DNS_MAX_ADDRS];
	struct in_addr v4[DNS_MAX_ADDRS];
};

struct lookup {
	struct dns_resolver *r;
	struct lookup *prev, *next;
	dns_mx_fn cb;
	void *arg;
	char name[DNS_NAME_MAX + 1];
	unsigned pending;        /* c-ares queries not yet called back */
	struct mx_list mx;
	struct addr_query *aq;   /* two per exchanger: AAAA, then A */
	bool host_only;          /* dns_resolve_host: no MX step */
	bool tempfail;           /* some query failed temporarily: reason says which */
	bool local;              /* one failed for want of a socket or memory of ours */
	unsigned long shortages; /* the resolver's count when the lookup began */
	enum dns_status status;
	char reason[REASON_MAX];
	struct event *done_ev;   /* runs the user callback from the loop */
};

struct dns_resolver {
	struct event_base *base;
	ares_channel ch;
	struct event *timer;
	struct sockev *socks;
	struct lookup *lookups;  /* every lookup not yet delivered */
	unsigned long shortages; /* sockets c-ares could not open for want of ours */
	int short_err;           /* the errno of the last of them */
	uint64_t rng;
	bool closing;
};

/* ---- loop integration ---- */

static void timer_update(struct dns_resolver *r)
{
	struct timeval tv;
	if (r->closing)
		return;
	if (ares_timeout(r->ch, NULL, &tv))
		evtimer_add(r->timer, &tv);
	else
		evtimer_del(r->timer);
}

static void timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct dns_resolver *r = arg;
	(void)fd;
	(void)what;
	ares_process_fd(r->ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
	timer_update(r);
}

static void sock_cb(evutil_socket_t fd, short what, void *arg)
{
	/* ares_process_fd may close this socket and free s: read r first. */
	struct dns_resolver *r = ((struct sockev *)arg)->r;
	ares_process_fd(r->ch, (what & EV_READ) ? fd : ARES_SOCKET_BAD,
			(what & EV_WRITE) ? fd : ARES_SOCKET_BAD);
	timer_update(r);
}

static struct sockev **sock_find(struct dns_resolver *r, ares_socket_t fd)
{
	struct sockev **pp = &r->socks;
	while (*pp && (*pp)->fd != fd)
		pp = &(*pp)->next;
	return pp;
}

static void sock_state_cb(void *data, ares_socket_t fd, int readable, int writable)
{
	struct dns_resolver *r = data;
	struct sockev **pp = sock_find(r, fd), *s = *pp;
	if (s) {
		if (s->ev)
			event_free(s->ev);
		if (!readable && !writable) {
			*pp = s->next;
			free(s);
			return;
		}
	} else {
		if (!readable && !writable)
			return;
		s = xcalloc(1, sizeof *s);
		s->r = r;
		s->fd = fd;
		s->next = r->socks;
		r->socks = s;
	}
	short what = (short)(EV_PERSIST | (readable ? EV_READ : 0) | (writable ? EV_WRITE : 0));
	s->ev = event_new(r->base, fd, what, sock_cb, s);
	if (!s->ev || event_add(s->ev, NULL) != 0)
		log_error("dns: cannot watch resolver socket %d", (int)fd);
}

/* ---- delivery ---- */

static void deliver(struct lookup *lk)
{
	struct dns_resolver *r = lk->r;
	if (lk->prev)
		lk->prev->next = lk->next;
	else
		r->lookups = lk->next;
	if (lk->next)
		lk->next->prev = lk->prev;
	/* r may be freed by the callback: only lk is touched afterwards. */
	lk->cb(lk->arg, lk->status, &lk->mx, lk->status == DNS_OK ? "" : lk->reason);
	mx_list_free(&lk->mx);
	free(lk->aq);
	event_free(lk->done_ev);
	free(lk);
}

static void done_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	deliver(arg);
}

/* Called once no query of lk is outstanding: the result is final. */
static void finish(struct lookup *lk, enum dns_status st)
{
	lk->status = st;
	if (st != DNS_OK)
		mx_list_free(&lk->mx);
	if (lk->r->closing)
		deliver(lk);
	else
		event_active(lk->done_ev, EV_TIMEOUT, 1);
}

static void fail(struct lookup *lk, enum dns_status st, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void fail(struct lookup *lk, enum dns_status st, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(lk->reason, sizeof lk->reason, fmt, ap);
	va_end(ap);
	finish(lk, st);
}

static struct lookup *lookup_new(struct dns_resolver *r, dns_mx_fn cb, void *arg)
{
	struct lookup *lk = xcalloc(1, sizeof *lk);
	lk->r = r;
	lk->cb = cb;
	lk->arg = arg;
	lk->shortages = r->shortages;
	lk->next = r->lookups;
	if (r->lookups)
		r->lookups->prev = lk;
	r->lookups = lk;
	lk->done_ev = event_new(r->base, -1, 0, done_cb, lk);
	if (!lk->done_ev) {
		/* Same policy as xmalloc: out of memory is not recoverable. */
		log_error("dns: out of memory");
		abort();
	}
	return lk;
}

/* ---- answers ---- */

/* Short, stable words for the reason line (ares_strerror is wordier). */
static const char *status_text(int status)
{
	switch (status) {
	case ARES_ETIMEOUT:
		return "timeout";
	case ARES_ESERVFAIL:
		return "server failure";
	case ARES_EREFUSED:
		return "query refused";
	case ARES_ECONNREFUSED:
		/* Also what c-ares 1.18 reports once every server has answered
		 * SERVFAIL, REFUSED or NOTIMP (it retries the others first). */
		return "servers failed or refused the query";
	case ARES_EDESTRUCTION:
	case ARES_ECANCELLED:
		return "resolver shut down";
	case ARES_ENOTFOUND:
		return "domain not found";
	case ARES_ENODATA:
		return "no records";
	default:
		return ares_strerror(status);
	}
}

/* NXDOMAIN and NODATA are answers; everything else says nothing about the
 * name and may go away (RFC 5321 4.4.3 "defer"). */
static bool status_is_answer(int status)
{
	return status == ARES_SUCCESS || status == ARES_ENOTFOUND || status == ARES_ENODATA;
}

/* A query that got no answer failed for want of something of ours: memory,
 * or a socket c-ares could not open since the lookup began (c-ares 1.18
 * reports that as ECONNREFUSED, like servers that refuse, so it is seen
 * where the socket is made: open_socket). */
static bool local_failure(const struct lookup *lk, int status)
{
	return status == ARES_ENOMEM || lk->r->shortages != lk->shortages;
}

static const char *failure_text(const struct lookup *lk, int status)
{
	if (status != ARES_ENOMEM && local_failure(lk, status))
		return strerror(lk->r->short_err);
	return status_text(status);
}

static void note_tempfail(struct lookup *lk, const char *type, const char *name, int status)
{
	lk->local |= local_failure(lk, status);
	if (lk->tempfail)
		return;
	lk->tempfail = true;
	snprintf(lk->reason, sizeof lk->reason, "dns: %s %s: %s", type, name,
		 failure_text(lk, status));
}

/* Copies at most DNS_MAX_ADDRS addresses of an A or AAAA answer into q. */
static int parse_addrs(struct addr_query *q, const unsigned char *abuf, int alen)
{
	int n = DNS_MAX_ADDRS, rc;
	if (q->family == AF_INET6) {
		struct ares_addr6ttl t[DNS_MAX_ADDRS];
		rc = ares_parse_aaaa_reply(abuf, alen, NULL, t, &n);
		for (int i = 0; rc == ARES_SUCCESS && i < n && i < DNS_MAX_ADDRS; i++)
			memcpy(&q->v6[q->n++], &t[i].ip6addr, sizeof q->v6[0]);
	} else {
		struct ares_addrttl t[DNS_MAX_ADDRS];
		rc = ares_parse_a_reply(abuf, alen, NULL, t, &n);
		for (int i = 0; rc == ARES_SUCCESS && i < n && i < DNS_MAX_ADDRS; i++)
			q->v4[q->n++] = t[i].ipaddr;
	}
	return rc;
}

static void addrs_done(struct lookup *lk)
{
	for (size_t i = 0; i < lk->mx.n; i++)
		mx_host_set_addrs(&lk->mx.v[i], lk->aq[2 * i].v6, lk->aq[2 * i].n,
				  lk->aq[2 * i + 1].v4, lk->aq[2 * i + 1].n);
	free(lk->aq);
	lk->aq = NULL;
	if (mx_list_drop_unreachable(&lk->mx) > 0)
		finish(lk, DNS_OK);
	else if (lk->tempfail) /* reason: the first failed query */
		finish(lk, lk->local ? DNS_LOCAL : DNS_TEMPFAIL);
	else if (lk->host_only)
		fail(lk, DNS_NOT_FOUND, "dns: host %s: no A or AAAA records", lk->name);
	else if (lk->mx.implicit)
		fail(lk, DNS_NOT_FOUND, "dns: %s: no MX, A or AAAA records", lk->name);
	else
		fail(lk, DNS_NOT_FOUND, "dns: MX %s: no exchanger has an address", lk->name);
}

static void addr_cb(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
	struct addr_query *q = arg;
	struct lookup *lk = q->lk;
	const char *type = q->family == AF_INET6 ? "AAAA" : "A";
	(void)timeouts;
	if (status == ARES_SUCCESS)
		status = parse_addrs(q, abuf, alen);
	if (!status_is_answer(status))
		note_tempfail(lk, type, lk->mx.v[q->host].name, status);
	if (--lk->pending == 0)
		addrs_done(lk);
}

static void query(struct lookup *lk, const char *name, int type, ares_callback cb, void *arg)
{
	lk->pending++;
	ares_query(lk->r->ch, name, ns_c_in, type, cb, arg);
}

/* Looks up AAAA and A of every exchanger at once. */
static void start_addrs(struct lookup *lk)
{
	lk->aq = xcalloc(2 * lk->mx.n, sizeof *lk->aq);
	/* Held while starting: a query may call back before ares_query returns. */
	lk->pending++;
	for (size_t i = 0; i < lk->mx.n; i++) {
		for (size_t k = 0; k < 2; k++) {
			struct addr_query *q = &lk->aq[2 * i + k];
			q->lk = lk;
			q->host = i;
			q->family = k == 0 ? AF_INET6 : AF_INET;
			query(lk, lk->mx.v[i].name, k == 0 ? ns_t_aaaa : ns_t_a, addr_cb, q);
		}
	}
	if (--lk->pending == 0)
		addrs_done(lk);
	else
		timer_update(lk->r);
}

/* Turns a successful MX answer into exchangers; false if it held no MX. */
static bool mx_answer(struct lookup *lk, const unsigned char *abuf, int alen, int *status)
{
	struct ares_mx_reply *replies = NULL;
	*status = ares_parse_mx_reply(abuf, alen, &replies);
	if (*status != ARES_SUCCESS)
		return false;
	size_t n = 0;
	for (struct ares_mx_reply *p = replies; p; p = p->next)
		n++;
	struct mx_record *recs = xcalloc(n, sizeof *recs);
	n = 0;
	for (struct ares_mx_reply *p = replies; p; p = p->next)
		recs[n++] = (struct mx_record){p->host, p->priority};
	bool null_mx = mx_is_null(recs, n);
	if (!null_mx)
		mx_list_from_records(&lk->mx, recs, n, &lk->r->rng);
	free(recs);
	ares_free_data(replies);
	if (null_mx)
		fail(lk, DNS_NULL_MX, "dns: %s: null MX (RFC 7505), domain accepts no mail",
		     lk->name);
	else if (lk->mx.n == 0)
		fail(lk, DNS_NOT_FOUND, "dns: MX %s: no valid exchanger name", lk->name);
	else
		start_addrs(lk);
	return true;
}

/* RFC 5321 5.1: no MX records at all: the domain itself is the exchanger. */
static void implicit_mx(struct lookup *lk)
{
	lk->mx.implicit = true;
	mx_list_add(&lk->mx, lk->name, 0);
	start_addrs(lk);
}

static void mx_cb(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
	struct lookup *lk = arg;
	(void)timeouts;
	lk->pending--;
	/* A CNAME-only answer parses as ARES_ENODATA: NODATA for MX too. */
	if (status == ARES_SUCCESS && mx_answer(lk, abuf, alen, &status))
		return;
	if (status == ARES_ENODATA)
		implicit_mx(lk);
	else if (status == ARES_ENOTFOUND)
		fail(lk, DNS_NOT_FOUND, "dns: MX %s: domain not found", lk->name);
	else
		fail(lk, local_failure(lk, status) ? DNS_LOCAL : DNS_TEMPFAIL, "dns: MX %s: %s",
		     lk->name, failure_text(lk, status));
}

/* ---- public ---- */

/* Validates name into lk->name; otherwise the lookup fails permanently:
 * no DNS server could ever answer for it. */
static bool take_name(struct lookup *lk, const char *what, const char *name)
{
	if (dns_name_normalize(lk->name, name))
		return true;
	char safe[DNS_NAME_MAX + 1];
	log_safe(safe, sizeof safe, name, strnlen(name, DNS_NAME_MAX));
	fail(lk, DNS_NOT_FOUND, "dns: %s \"%s\": invalid domain name", what, safe);
	return false;
}

void dns_resolve_mx(struct dns_resolver *r, const char *domain, dns_mx_fn cb, void *arg)
{
	struct lookup *lk = lookup_new(r, cb, arg);
	if (r->closing) {
		fail(lk, DNS_TEMPFAIL, "dns: resolver shut down");
		return;
	}
	if (!take_name(lk, "MX", domain))
		return;
	query(lk, lk->name, ns_t_mx, mx_cb, lk);
	timer_update(r);
}

/* RFC 5321 4.1.3 address literals: "1.2.3.4", "::1", "[1.2.3.4]", "[::1]",
 * "[IPv6:::1]". Fills one address; false if host is not a literal. */
static bool parse_literal(const char *host, char *text, size_t textsz,
			  struct sockaddr_storage *ss)
{
	size_t len = strnlen(host, textsz);
	if (len >= textsz)
		return false;
	if (host[0] == '[') {
		if (len < 2 || host[len - 1] != ']')
			return false;
		host++;
		len -= 2;
		if (len > 5 && strncasecmp(host, "IPv6:", 5) == 0) {
			host += 5;
			len -= 5;
		}
	}
	memcpy(text, host, len);
	text[len] = '\0';
	memset(ss, 0, sizeof *ss);
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
	if (inet_pton(AF_INET6, text, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		return true;
	}
	if (inet_pton(AF_INET, text, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		return true;
	}
	return false;
}

void dns_resolve_host(struct dns_resolver *r, const char *host, dns_mx_fn cb, void *arg)
{
	struct lookup *lk = lookup_new(r, cb, arg);
	char text[INET6_ADDRSTRLEN + 8];
	struct sockaddr_storage ss;
	lk->mx.implicit = true;
	lk->host_only = true;
	if (parse_literal(host, text, sizeof text, &ss)) {
		struct mx_host *h = mx_list_add(&lk->mx, text, 0);
		h->addrs = xmalloc(sizeof *h->addrs);
		h->addrs[0] = ss;
		h->naddrs = 1;
		finish(lk, DNS_OK);
		return;
	}
	if (r->closing) {
		fail(lk, DNS_TEMPFAIL, "dns: resolver shut down");
		return;
	}
	if (!take_name(lk, "host", host))
		return;
	mx_list_add(&lk->mx, lk->name, 0);
	start_addrs(lk);
}

/* "IP:PORT" and "[v6]:PORT" entries joined for ares_set_servers_ports_csv. */
static bool servers_csv(const struct strlist *servers, struct buf *csv)
{
	for (size_t i = 0; i < servers->n; i++) {
		const char *s = servers->v[i];
		size_t len = strnlen(s, SERVER_TEXT_MAX);
		if (len == 0 || len == SERVER_TEXT_MAX || strchr(s, ',')) {
			char safe[SERVER_TEXT_MAX];
			log_error("dns: bad server address \"%s\"",
				  log_safe(safe, sizeof safe, s, len));
			return false;
		}
		if (i > 0)
			buf_putc(csv, ',');
		buf_append(csv, s, len);
	}
	return true;
}

/* c-ares's sockets are made here so that a socket refused for want of
 * descriptors or buffers is seen as ours (local_failure); the rest are
 * the plain calls. c-ares leaves sockets it did not make as they come, so
 * they are made non-blocking here: the loop must never wait on one. */
static ares_socket_t open_socket(int family, int type, int protocol, void *arg)
{
	struct dns_resolver *r = arg;
	int fd = socket(family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol);
	if (fd < 0 && fsutil_shortage(errno)) {
		r->shortages++;
		r->short_err = errno;
	}
	return fd;
}

static int close_socket(ares_socket_t fd, void *arg)
{
	(void)arg;
	return close(fd);
}

static int connect_socket(ares_socket_t fd, const struct sockaddr *sa, ares_socklen_t len,
			  void *arg)
{
	(void)arg;
	return connect(fd, sa, len);
}

static ares_ssize_t recvfrom_socket(ares_socket_t fd, void *buf, size_t len, int flags,
				    struct sockaddr *from, ares_socklen_t *fromlen, void *arg)
{
	(void)arg;
	return recvfrom(fd, buf, len, flags, from, fromlen);
}

static ares_ssize_t sendv_socket(ares_socket_t fd, const struct iovec *iov, int n, void *arg)
{
	(void)arg;
	return writev(fd, iov, n);
}

static const struct ares_socket_functions socket_functions = {
	open_socket, close_socket, connect_socket, recvfrom_socket, sendv_socket,
};

static bool channel_init(struct dns_resolver *r, const struct strlist *servers,
			 unsigned timeout_ms, unsigned tries)
{
	struct ares_options o;
	memset(&o, 0, sizeof o);
	o.timeout = (int)timeout_ms;
	o.tries = (int)tries;
	o.sock_state_cb = sock_state_cb;
	o.sock_state_cb_data = r;
	int rc = ares_init_options(&r->ch, &o,
				   ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_SOCK_STATE_CB);
	if (rc != ARES_SUCCESS) {
		log_error("dns: cannot start resolver: %s", ares_strerror(rc));
		return false;
	}
	ares_set_socket_functions(r->ch, &socket_functions, r);
	if (servers->n == 0)
		return true;
	struct buf csv = BUF_INIT;
	bool ok = servers_csv(servers, &csv);
	if (ok && (rc = ares_set_servers_ports_csv(r->ch, csv.p)) != ARES_SUCCESS) {
		log_error("dns: bad server list \"%s\": %s", csv.p, ares_strerror(rc));
		ok = false;
	}
	buf_free(&csv);
	if (!ok)
		ares_destroy(r->ch);
	return ok;
}

struct dns_resolver *dns_new(struct event_base *base, const struct strlist *servers,
			     unsigned timeout_ms, unsigned tries)
{
	if (timeout_ms == 0 || timeout_ms > 600000 || tries == 0 || tries > 100) {
		log_error("dns: timeout %u ms and %u tries out of range", timeout_ms, tries);
		return NULL;
	}
	if (ares_library_init(ARES_LIB_INIT_ALL) != ARES_SUCCESS)
		return NULL;
	struct dns_resolver *r = xcalloc(1, sizeof *r);
	r->base = base;
	/* Only shuffles equal preferences: unpredictability is nice, not vital. */
	if (getrandom(&r->rng, sizeof r->rng, GRND_NONBLOCK) != sizeof r->rng)
		r->rng = (uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)r;
	r->timer = evtimer_new(base, timer_cb, r);
	if (!r->timer || !channel_init(r, servers, timeout_ms, tries)) {
		if (r->timer)
			event_free(r->timer);
		free(r);
		ares_library_cleanup();
		return NULL;
	}
	return r;
}

void dns_free(struct dns_resolver *r)
{
	/* A callback run from here calling dns_free again: the outer call
	 * finishes the job. */
	if (!r || r->closing)
		return;
	r->closing = true;
	/* Every outstanding query calls back with ARES_EDESTRUCTION, so each
	 * lookup finishes (DNS_TEMPFAIL) and is delivered here and now. */
	ares_destroy(r->ch);
	/* Left: lookups finished earlier whose delivery event has not run. */
	while (r->lookups)
		deliver(r->lookups);
	while (r->socks) {
		struct sockev *s = r->socks;
		r->socks = s->next;
		if (s->ev)
			event_free(s->ev);
		free(s);
	}
	event_free(r->timer);
	free(r);
	ares_library_cleanup();
}
