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

static void guard_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	event_base_loopbreak(arg);
	fail_msg("no answer within %d ms", GUARD_MS);
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
	evtimer_add(guard, &tv);
	for (size_t i = 0; i < n; i++)
		while (res[i].calls == 0)
			event_base_loop(base, EVLOOP_ONCE);
	event_free(guard);
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
