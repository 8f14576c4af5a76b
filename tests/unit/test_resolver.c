/*
 * Unit tests for dns/resolver.c against a real DNS server: tests/dnsserver.py
 * (run from the repo root) on a free loopback port, serving a zone written to
 * a temporary directory. Each test runs a libevent loop until the callback
 * fires, bounded by a guard timer; the server is found ready by reading the
 * line it prints once bound, with poll() and a deadline, never by sleeping.
 * The resolver is configured with 300 ms x 2 tries so timeouts stay short.
 */
#include "test_util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "dns/resolver.h"

#define SCRIPT "tests/dnsserver.py"
#define START_MS 15000
#define GUARD_MS 10000
#define TIMEOUT_MS 300
#define TRIES 2

static const char ZONE[] =
	"{\n"
	" \"example.org\": {\"MX\": [[20, \"mx2.example.org\"], [10, \"MX1.example.org.\"]]},\n"
	" \"mx1.example.org\": {\"A\": [\"127.0.0.2\"], \"AAAA\": [\"::1\"]},\n"
	" \"mx2.example.org\": {\"A\": [\"127.0.0.3\"]},\n"
	" \"www.example.org\": {\"CNAME\": \"mx1.example.org\"},\n"
	" \"alias.test\": {\"CNAME\": \"example.org\"},\n"
	" \"implicit.test\": {\"A\": [\"127.0.0.4\"]},\n"
	" \"empty.test\": {\"TXT\": \"nothing for mail\"},\n"
	" \"null.test\": {\"MX\": [[0, \".\"]]},\n"
	" \"broken.test\": {\"SERVFAIL\": true},\n"
	" \"refused.test\": {\"REFUSED\": true},\n"
	" \"slow.test\": {\"DROP\": true},\n"
	" \"partial.test\": {\"MX\": [[10, \"empty.test\"], [20, \"mx2.example.org\"]]},\n"
	" \"nowhere.test\": {\"MX\": [[10, \"empty.test\"], [20, \"missing.test\"]]},\n"
	" \"stuck.test\": {\"MX\": [[10, \"empty.test\"], [20, \"slowmx.test\"]]},\n"
	" \"slowmx.test\": {\"DROP\": true},\n"
	" \"half.test\": {\"MX\": [[10, \"v4only.test\"]]},\n"
	" \"v4only.test\": {\"A\": [\"127.0.0.5\"], \"SERVFAIL\": [\"AAAA\"]},\n"
	" \"wide.test\": {\"A\": [\"127.0.1.1\", \"127.0.1.2\", \"127.0.1.3\", \"127.0.1.4\",\n"
	"   \"127.0.1.5\", \"127.0.1.6\", \"127.0.1.7\", \"127.0.1.8\", \"127.0.1.9\",\n"
	"   \"127.0.1.10\", \"127.0.1.11\", \"127.0.1.12\", \"127.0.1.13\", \"127.0.1.14\",\n"
	"   \"127.0.1.15\", \"127.0.1.16\", \"127.0.1.17\", \"127.0.1.18\", \"127.0.1.19\"]}\n"
	"}\n";

static char tmpdir[64];
static char zone_path[128];
static char server_addr[64];
static pid_t server_pid = -1;

static long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* ---- the DNS server ---- */

static bool write_zone(void)
{
	if (!mkdtemp(strcpy(tmpdir, "/tmp/petrel-dns-XXXXXX")))
		return false;
	snprintf(zone_path, sizeof zone_path, "%s/zone.json", tmpdir);
	FILE *f = fopen(zone_path, "w");
	if (!f)
		return false;
	bool ok = fputs(ZONE, f) >= 0;
	return fclose(f) == 0 && ok;
}

static void exec_server(int out_fd)
{
	/* The server must not outlive a crashed test. */
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	dup2(out_fd, STDOUT_FILENO);
	execlp("python3", "python3", SCRIPT, "--listen", "127.0.0.1:0", "--zone", zone_path,
	       (char *)NULL);
	_exit(127);
}

/* Reads "listening HOST PORT\n" within START_MS. */
static bool read_ready_line(int fd, char *line, size_t linesz)
{
	size_t len = 0;
	long deadline = now_ms() + START_MS;
	while (len + 1 < linesz && !memchr(line, '\n', len)) {
		struct pollfd p = {fd, POLLIN, 0};
		long left = deadline - now_ms();
		if (left <= 0 || poll(&p, 1, (int)left) <= 0)
			return false;
		ssize_t n = read(fd, line + len, linesz - 1 - len);
		if (n <= 0)
			return false;
		len += (size_t)n;
		line[len] = '\0';
	}
	return memchr(line, '\n', len) != NULL;
}

static int start_server(void **state)
{
	(void)state;
	if (access(SCRIPT, R_OK) != 0) {
		fprintf(stderr, "test_resolver: run from the repo root (%s not found)\n", SCRIPT);
		return -1;
	}
	int p[2];
	if (!write_zone() || pipe2(p, O_CLOEXEC) != 0)
		return -1;
	server_pid = fork();
	if (server_pid == 0)
		exec_server(p[1]);
	close(p[1]);
	char line[128] = "";
	unsigned port = 0;
	bool ok = server_pid > 0 && read_ready_line(p[0], line, sizeof line) &&
		  sscanf(line, "listening 127.0.0.1 %u", &port) == 1 && port > 0 && port < 65536;
	close(p[0]);
	if (!ok) {
		fprintf(stderr, "test_resolver: DNS server did not start: %s\n", line);
		return -1;
	}
	snprintf(server_addr, sizeof server_addr, "127.0.0.1:%u", port);
	return 0;
}

static int stop_server(void **state)
{
	(void)state;
	if (server_pid > 0) {
		/* Wait for the exit on a pidfd, bounded; then insist. */
		int pfd = pidfd_open(server_pid, 0);
		kill(server_pid, SIGTERM);
		struct pollfd p = {pfd, POLLIN, 0};
		if (pfd < 0 || poll(&p, 1, 5000) != 1)
			kill(server_pid, SIGKILL);
		waitpid(server_pid, NULL, 0);
		if (pfd >= 0)
			close(pfd);
	}
	if (zone_path[0])
		unlink(zone_path);
	if (tmpdir[0])
		rmdir(tmpdir);
	return 0;
}

/* ---- running lookups ---- */

struct result {
	struct event_base *base;
	struct dns_resolver *r;
	int calls;
	enum dns_status status;
	char reason[512];
	struct mx_list mx;
	bool free_resolver; /* the callback frees the resolver */
};

static void result_cb(void *arg, enum dns_status status, const struct mx_list *mx,
		      const char *reason)
{
	struct result *res = arg;
	assert_non_null(mx);
	assert_non_null(reason);
	if (status != DNS_OK)
		assert_int_equal(mx->n, 0);
	if (res->calls++ == 0) {
		res->status = status;
		snprintf(res->reason, sizeof res->reason, "%s", reason);
		mx_list_copy(&res->mx, mx);
	}
	if (res->free_resolver) {
		dns_free(res->r);
		res->r = NULL;
	}
	if (res->base)
		event_base_loopbreak(res->base);
}

static bool guard_fired;

static void guard_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	guard_fired = true;
	event_base_loopbreak(arg);
}

static struct dns_resolver *resolver_new(struct event_base *base)
{
	struct strlist servers = STRLIST_INIT;
	strlist_add(&servers, server_addr);
	struct dns_resolver *r = dns_new(base, &servers, TIMEOUT_MS, TRIES);
	strlist_free(&servers);
	assert_non_null(r);
	return r;
}

/* Runs the loop until every result in res[0..n) has its callback. */
static void run_until_done(struct event_base *base, struct result *res, size_t n)
{
	struct event *guard = evtimer_new(base, guard_cb, base);
	struct timeval tv = {GUARD_MS / 1000, 0};
	guard_fired = false;
	evtimer_add(guard, &tv);
	for (size_t i = 0; i < n && !guard_fired; i++)
		while (res[i].calls == 0 && !guard_fired)
			event_base_loop(base, EVLOOP_ONCE);
	event_free(guard);
	if (guard_fired)
		fail_msg("no answer within %d ms", GUARD_MS);
}

/* One lookup on a fresh loop and resolver; mx or host. Returns elapsed ms. */
static long resolve(bool mx, const char *name, struct result *res)
{
	memset(res, 0, sizeof *res);
	res->base = event_base_new();
	struct dns_resolver *r = resolver_new(res->base);
	long t0 = now_ms();
	if (mx)
		dns_resolve_mx(r, name, result_cb, res);
	else
		dns_resolve_host(r, name, result_cb, res);
	assert_int_equal(res->calls, 0); /* never from inside dns_resolve_* */
	run_until_done(res->base, res, 1);
	long elapsed = now_ms() - t0;
	dns_free(r);
	assert_int_equal(res->calls, 1);
	return elapsed;
}

static void result_free(struct result *res)
{
	mx_list_free(&res->mx);
	if (res->base)
		event_base_free(res->base);
	res->base = NULL;
}

static void check_addr(const struct mx_host *h, size_t i, const char *want)
{
	char text[INET6_ADDRSTRLEN];
	const struct sockaddr_storage *ss = &h->addrs[i];
	const void *a = ss->ss_family == AF_INET6
				? (const void *)&((const struct sockaddr_in6 *)ss)->sin6_addr
				: (const void *)&((const struct sockaddr_in *)ss)->sin_addr;
	assert_true(i < h->naddrs);
	assert_non_null(inet_ntop(ss->ss_family, a, text, sizeof text));
	assert_string_equal(text, want);
}

static void expect_fail(bool mx, const char *name, enum dns_status st, const char *reason)
{
	struct result res;
	resolve(mx, name, &res);
	assert_int_equal(res.status, st);
	assert_int_equal(res.mx.n, 0);
	if (!strstr(res.reason, reason))
		fail_msg("reason \"%s\" lacks \"%s\"", res.reason, reason);
	result_free(&res);
}

/* ---- tests ---- */

static void test_mx_two_hosts_in_order(void **state)
{
	(void)state;
	struct result res;
	resolve(true, "Example.ORG.", &res);
	assert_int_equal(res.status, DNS_OK);
	assert_string_equal(res.reason, "");
	assert_false(res.mx.implicit);
	assert_int_equal(res.mx.n, 2);
	assert_string_equal(res.mx.v[0].name, "mx1.example.org");
	assert_int_equal(res.mx.v[0].pref, 10);
	assert_int_equal(res.mx.v[0].naddrs, 2);
	check_addr(&res.mx.v[0], 0, "::1"); /* IPv6 first */
	check_addr(&res.mx.v[0], 1, "127.0.0.2");
	assert_string_equal(res.mx.v[1].name, "mx2.example.org");
	assert_int_equal(res.mx.v[1].pref, 20);
	assert_int_equal(res.mx.v[1].naddrs, 1);
	check_addr(&res.mx.v[1], 0, "127.0.0.3");
	result_free(&res);
}

static void test_mx_through_cname(void **state)
{
	(void)state;
	struct result res;
	resolve(true, "alias.test", &res);
	assert_int_equal(res.status, DNS_OK);
	assert_int_equal(res.mx.n, 2);
	assert_string_equal(res.mx.v[0].name, "mx1.example.org");
	result_free(&res);
}

static void test_implicit_mx(void **state)
{
	(void)state;
	struct result res;
	resolve(true, "implicit.test", &res);
	assert_int_equal(res.status, DNS_OK);
	assert_true(res.mx.implicit);
	assert_int_equal(res.mx.n, 1);
	assert_string_equal(res.mx.v[0].name, "implicit.test");
	assert_int_equal(res.mx.v[0].pref, 0);
	assert_int_equal(res.mx.v[0].naddrs, 1);
	check_addr(&res.mx.v[0], 0, "127.0.0.4");
	result_free(&res);
}

static void test_not_found(void **state)
{
	(void)state;
	expect_fail(true, "nxdomain.test", DNS_NOT_FOUND, "dns: MX nxdomain.test: domain not found");
	expect_fail(true, "empty.test", DNS_NOT_FOUND, "empty.test: no MX, A or AAAA");
	expect_fail(true, "nowhere.test", DNS_NOT_FOUND, "no exchanger has an address");
	expect_fail(true, "bad\x01.test", DNS_NOT_FOUND, "invalid domain name");
	expect_fail(true, "", DNS_NOT_FOUND, "invalid domain name");
}

static void test_null_mx(void **state)
{
	(void)state;
	expect_fail(true, "null.test", DNS_NULL_MX, "null MX");
}

static void test_servfail_and_refused(void **state)
{
	(void)state;
	/* The words depend on the c-ares version: 1.18 folds both into "servers
	 * failed or refused", later ones say "server failure" / "query refused". */
	expect_fail(true, "broken.test", DNS_TEMPFAIL, "dns: MX broken.test: ");
	expect_fail(true, "refused.test", DNS_TEMPFAIL, "dns: MX refused.test: ");
	/* An exchanger whose AAAA fails is kept with its IPv4 address (below),
	 * but one whose lookups all fail makes a temporary failure. */
	expect_fail(false, "broken.test", DNS_TEMPFAIL, "broken.test: ");
}

static void test_server_unreachable(void **state)
{
	(void)state;
	/* A loopback port nobody listens on: ICMP port unreachable. */
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof sa;
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	close(fd);
	char saved[sizeof server_addr];
	memcpy(saved, server_addr, sizeof saved);
	snprintf(server_addr, sizeof server_addr, "127.0.0.1:%u", ntohs(sa.sin_port));
	struct result res;
	long ms = resolve(true, "example.org", &res);
	memcpy(server_addr, saved, sizeof saved);
	assert_int_equal(res.status, DNS_TEMPFAIL);
	assert_non_null(strstr(res.reason, "dns: MX example.org: "));
	assert_true(ms < 3000);
	result_free(&res);
}

static void test_dropped_query_times_out(void **state)
{
	(void)state;
	struct result res;
	long ms = resolve(true, "slow.test", &res);
	assert_int_equal(res.status, DNS_TEMPFAIL);
	assert_string_equal(res.reason, "dns: MX slow.test: timeout");
	/* Two tries of 300 ms (c-ares doubles the second): well under 3 s. */
	assert_true(ms >= TIMEOUT_MS);
	assert_true(ms < 3000);
	result_free(&res);
}

static void test_exchanger_without_address_dropped(void **state)
{
	(void)state;
	struct result res;
	resolve(true, "partial.test", &res);
	assert_int_equal(res.status, DNS_OK);
	assert_int_equal(res.mx.n, 1);
	assert_string_equal(res.mx.v[0].name, "mx2.example.org");
	result_free(&res);

	/* AAAA fails, A answers: the host stays, IPv4 only. */
	resolve(true, "half.test", &res);
	assert_int_equal(res.status, DNS_OK);
	assert_int_equal(res.mx.n, 1);
	assert_int_equal(res.mx.v[0].naddrs, 1);
	check_addr(&res.mx.v[0], 0, "127.0.0.5");
	result_free(&res);
}

/* Out of descriptors, c-ares cannot open a socket to ask: that is our
 * shortage, not the domain's or the servers' (which would mark the
 * destination unreachable for minutes). */
static void test_resolver_out_of_descriptors_is_a_local_shortage(void **state)
{
	(void)state;
	struct result res = {.base = event_base_new()};
	struct dns_resolver *r = resolver_new(res.base);
	struct drought dr;
	descriptors_gone(&dr);
	dns_resolve_mx(r, "example.org", result_cb, &res);
	run_until_done(res.base, &res, 1);
	descriptors_back(&dr);
	assert_int_equal(res.status, DNS_LOCAL);
	if (!strstr(res.reason, "dns: MX example.org: Too many open files"))
		fail_msg("reason \"%s\"", res.reason);
	/* Descriptors back, the same resolver answers. */
	struct result again = {.base = res.base};
	dns_resolve_mx(r, "example.org", result_cb, &again);
	run_until_done(res.base, &again, 1);
	assert_int_equal(again.status, DNS_OK);
	mx_list_free(&again.mx);
	dns_free(r);
	result_free(&res);
}

static void test_exchanger_lookup_timeout(void **state)
{
	(void)state;
	/* Nothing usable, and one lookup failed temporarily: defer, not bounce. */
	expect_fail(true, "stuck.test", DNS_TEMPFAIL, "slowmx.test: timeout");
}

static void test_addresses_bounded(void **state)
{
	(void)state;
	struct result res;
	resolve(true, "wide.test", &res);
	assert_int_equal(res.status, DNS_OK);
	assert_int_equal(res.mx.n, 1);
	assert_int_equal(res.mx.v[0].naddrs, DNS_MAX_ADDRS);
	check_addr(&res.mx.v[0], 0, "127.0.1.1");
	check_addr(&res.mx.v[0], DNS_MAX_ADDRS - 1, "127.0.1.16");
	result_free(&res);
}

static void test_host_literal(void **state)
{
	(void)state;
	const char *in[] = {"127.0.0.9", "::1", "[127.0.0.9]", "[::1]", "[IPv6:::1]"};
	const char *out[] = {"127.0.0.9", "::1", "127.0.0.9", "::1", "::1"};
	for (size_t i = 0; i < sizeof in / sizeof in[0]; i++) {
		struct result res;
		resolve(false, in[i], &res);
		assert_int_equal(res.status, DNS_OK);
		assert_true(res.mx.implicit);
		assert_int_equal(res.mx.n, 1);
		assert_string_equal(res.mx.v[0].name, out[i]);
		assert_int_equal(res.mx.v[0].naddrs, 1);
		check_addr(&res.mx.v[0], 0, out[i]);
		result_free(&res);
	}
}

static void test_host_name(void **state)
{
	(void)state;
	struct result res;
	resolve(false, "WWW.example.org", &res); /* a CNAME to mx1 */
	assert_int_equal(res.status, DNS_OK);
	assert_true(res.mx.implicit);
	assert_int_equal(res.mx.n, 1);
	assert_string_equal(res.mx.v[0].name, "www.example.org");
	assert_int_equal(res.mx.v[0].naddrs, 2);
	check_addr(&res.mx.v[0], 0, "::1");
	check_addr(&res.mx.v[0], 1, "127.0.0.2");
	result_free(&res);

	expect_fail(false, "missing.test", DNS_NOT_FOUND, "dns: host missing.test: no A or AAAA");
	expect_fail(false, "[::1", DNS_NOT_FOUND, "invalid domain name");
	expect_fail(false, "slow.test", DNS_TEMPFAIL, "slow.test: timeout");
}

static void test_many_parallel_lookups(void **state)
{
	(void)state;
	enum { N = 40 };
	static struct result res[N];
	struct event_base *base = event_base_new();
	struct dns_resolver *r = resolver_new(base);
	for (size_t i = 0; i < N; i++) {
		memset(&res[i], 0, sizeof res[i]);
		if (i % 2)
			dns_resolve_mx(r, "example.org", result_cb, &res[i]);
		else
			dns_resolve_host(r, "mx2.example.org", result_cb, &res[i]);
	}
	run_until_done(base, res, N);
	for (size_t i = 0; i < N; i++) {
		assert_int_equal(res[i].calls, 1);
		assert_int_equal(res[i].status, DNS_OK);
		assert_int_equal(res[i].mx.n, i % 2 ? 2 : 1);
		mx_list_free(&res[i].mx);
	}
	dns_free(r);
	event_base_free(base);
}

static void test_free_cancels_pending(void **state)
{
	(void)state;
	struct event_base *base = event_base_new();
	struct dns_resolver *r = resolver_new(base);
	struct result slow = {0}, lit = {0}, mx = {0};
	dns_resolve_mx(r, "slow.test", result_cb, &slow);
	dns_resolve_host(r, "127.0.0.1", result_cb, &lit); /* known, not yet delivered */
	dns_resolve_mx(r, "example.org", result_cb, &mx);
	dns_free(r);
	assert_int_equal(slow.calls, 1);
	assert_int_equal(slow.status, DNS_TEMPFAIL);
	assert_string_equal(slow.reason, "dns: MX slow.test: resolver shut down");
	assert_int_equal(mx.calls, 1);
	assert_int_equal(mx.status, DNS_TEMPFAIL);
	assert_int_equal(lit.calls, 1);
	assert_int_equal(lit.status, DNS_OK);
	mx_list_free(&lit.mx);
	/* Nothing is left for the loop to run. */
	assert_int_equal(event_base_loop(base, EVLOOP_NONBLOCK), 1);
	event_base_free(base);
}

static void test_callback_frees_resolver(void **state)
{
	(void)state;
	struct event_base *base = event_base_new();
	struct result first = {.base = base, .free_resolver = true}, other = {0};
	first.r = resolver_new(base);
	dns_resolve_host(first.r, "127.0.0.1", result_cb, &first);
	dns_resolve_mx(first.r, "slow.test", result_cb, &other);
	run_until_done(base, &first, 1);
	assert_null(first.r);
	assert_int_equal(first.status, DNS_OK);
	assert_int_equal(other.calls, 1);
	assert_int_equal(other.status, DNS_TEMPFAIL);
	mx_list_free(&first.mx);
	assert_int_equal(event_base_loop(base, EVLOOP_NONBLOCK), 1);
	event_base_free(base);
}

static void test_bad_configuration(void **state)
{
	(void)state;
	struct event_base *base = event_base_new();
	const char *bad[] = {"127.0.0.1:53,127.0.0.2:53", "", "not an address"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct strlist servers = STRLIST_INIT;
		strlist_add(&servers, bad[i]);
		assert_null(dns_new(base, &servers, TIMEOUT_MS, TRIES));
		strlist_free(&servers);
	}
	struct strlist none = STRLIST_INIT;
	assert_null(dns_new(base, &none, 0, TRIES));
	assert_null(dns_new(base, &none, TIMEOUT_MS, 0));
	/* No servers: the system's configuration. */
	struct dns_resolver *r = dns_new(base, &none, TIMEOUT_MS, TRIES);
	assert_non_null(r);
	dns_free(r);
	event_base_free(base);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mx_two_hosts_in_order),
		cmocka_unit_test(test_mx_through_cname),
		cmocka_unit_test(test_implicit_mx),
		cmocka_unit_test(test_not_found),
		cmocka_unit_test(test_null_mx),
		cmocka_unit_test(test_servfail_and_refused),
		cmocka_unit_test(test_server_unreachable),
		cmocka_unit_test(test_dropped_query_times_out),
		cmocka_unit_test(test_exchanger_without_address_dropped),
		cmocka_unit_test(test_exchanger_lookup_timeout),
		cmocka_unit_test(test_resolver_out_of_descriptors_is_a_local_shortage),
		cmocka_unit_test(test_addresses_bounded),
		cmocka_unit_test(test_host_literal),
		cmocka_unit_test(test_host_name),
		cmocka_unit_test(test_many_parallel_lookups),
		cmocka_unit_test(test_free_cancels_pending),
		cmocka_unit_test(test_callback_frees_resolver),
		cmocka_unit_test(test_bad_configuration),
	};
	return cmocka_run_group_tests(tests, start_server, stop_server);
}
