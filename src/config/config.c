/*
 * config - petrel.conf into one validated snapshot; see config.h.
 *
 * Contract: the file is read entry by entry through the shared lexer; every
 * keyword is described once in the keyword table (arguments, repeatability,
 * range) and stored by a small setter. Settings that depend on each other
 * (the aliases file needs the domains and mailboxes, which may come later in
 * the file) are checked in finish() after the whole file has been read. Any
 * error anywhere refuses the whole configuration, after all were reported.
 */
#include "config/config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "config/aliases.h"
#include "config/keyword.h"
#include "config/lexer.h"
#include "config/relocated.h"
#include "smtp/address.h"
#include "util/log.h"

#define FULLNAME_MAX 128

/* State of one config_load: the snapshot being filled (its settings say
 * where each keyword was first seen, for duplicates and later checks) and
 * the directory relative paths are taken from. */
struct loader {
	struct config *cfg;
	struct lexer lx;
	struct buf *errors;
	char *dir;
	unsigned submissions_line;  /* the first listener of its mode, for errors */
	unsigned submission_line;   /* the first that needs a login (either mode) */
};

static void *field(struct loader *ld, const struct keyword *kw)
{
	return (char *)ld->cfg + kw->off;
}

static bool parse_digits(const char **s, uint64_t *out)
{
	const char *p = *s;
	uint64_t v = 0;
	for (; *p >= '0' && *p <= '9'; p++) {
		unsigned d = (unsigned)(*p - '0');
		if (v > (UINT64_MAX - d) / 10)
			return false;
		v = v * 10 + d;
	}
	if (p == *s)
		return false;
	*s = p;
	*out = v;
	return true;
}

/* Multiplies n by the unit named by s (if any) and checks the result fits max. */
static bool apply_unit(const char *s, const char *units, const uint64_t *factors, uint64_t n,
		       uint64_t max, uint64_t *out)
{
	uint64_t f = 1;
	if (*s) {
		const char *u = strchr(units, *s);
		if (!u || s[1] != '\0')
			return false;
		f = factors[u - units];
	}
	if (n > max / f)
		return false;
	*out = n * f;
	return true;
}

bool config_parse_duration(const char *s, unsigned *out)
{
	static const uint64_t factors[] = {1, 60, 3600, 86400};
	uint64_t n, v;
	if (!parse_digits(&s, &n) || !apply_unit(s, "smhd", factors, n, UINT_MAX, &v))
		return false;
	*out = (unsigned)v;
	return true;
}

bool config_parse_size(const char *s, uint64_t *out)
{
	static const uint64_t factors[] = {1024, 1024, 1 << 20, 1 << 20, 1 << 30, 1 << 30};
	uint64_t n;
	return parse_digits(&s, &n) && apply_unit(s, "kKmMgG", factors, n, UINT64_MAX, out);
}

bool config_is_local_domain(const struct config *cfg, const char *domain)
{
	return strlist_contains(&cfg->local_domains, domain);
}

const struct mailbox_user *config_find_user(const struct config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->nusers; i++)
		if (strcasecmp(cfg->users[i].name, name) == 0)
			return &cfg->users[i];
	return NULL;
}

static void kw_error(struct loader *ld, const struct keyword *kw, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void kw_error(struct loader *ld, const struct keyword *kw, const char *fmt, ...)
{
	struct buf msg = BUF_INIT;
	buf_printf(&msg, "%s: ", kw->name);
	va_list ap;
	va_start(ap, fmt);
	buf_vprintf(&msg, fmt, ap);
	va_end(ap);
	lexer_error(&ld->lx, "%s", msg.p);
	buf_free(&msg);
}

/* path as it is meant from dir: an absolute path stays as it is. */
static char *join_path(const char *dir, const char *path)
{
	if (path[0] == '/')
		return xstrdup(path);
	struct buf b = BUF_INIT;
	buf_printf(&b, "%s/%s", strcmp(dir, "/") == 0 ? "" : dir, path);
	return buf_steal(&b);
}

/* The directory of an absolute path: "/etc" for "/etc/petrel.conf". */
static char *dir_of(const char *path)
{
	const char *slash = strrchr(path, '/');
	return slash == path ? xstrdup("/") : xstrndup(path, (size_t)(slash - path));
}

/* A relative path in the file is taken from the file's own directory, so
 * the file means the same from wherever it is read (an installed example,
 * a command run elsewhere), and is stored absolute. */
static char *absolute_path(struct loader *ld, const char *path)
{
	return join_path(ld->dir, path);
}

static void set_path(struct loader *ld, const struct keyword *kw, char **argv, size_t argc)
{
	(void)argc;
	char **dst = field(ld, kw);
	if (argv[0][0] == '\0')
		kw_error(ld, kw, "empty path");
	else
		*dst = absolute_path(ld, argv[0]);
}

static bool in_range(struct loader *ld, const struct keyword *kw, const char *arg, uint64_t v)
{
	if (v >= kw->lo && v <= kw->hi)
		return true;
	kw_error(ld, kw, "'%s' is out of range (%llu to %llu)", arg, (unsigned long long)kw->lo,
		 (unsigned long long)kw->hi);
	return false;
}

static void set_count(struct loader *ld, const struct keyword *kw, char **argv, size_t argc)
{
	(void)argc;
	const char *p = argv[0];
	uint64_t v;
	if (!parse_digits(&p, &v) || *p) {
		kw_error(ld, kw, "'%s' is not a whole number", argv[0]);
		return;
	}
	if (in_range(ld, kw, argv[0], v))
		*(unsigned *)field(ld, kw) = (unsigned)v;
}

static void set_duration(struct loader *ld, const struct keyword *kw, char **argv, size_t argc)
{
	(void)argc;
	unsigned v;
	if (!config_parse_duration(argv[0], &v)) {
		kw_error(ld, kw, "'%s' is not a duration (such as 90s, 5m, 2h or 1d)", argv[0]);
		return;
	}
	if (in_range(ld, kw, argv[0], v))
		*(unsigned *)field(ld, kw) = v;
}

static void set_size(struct loader *ld, const struct keyword *kw, char **argv, size_t argc)
{
	(void)argc;
	uint64_t v;
	if (!config_parse_size(argv[0], &v)) {
		kw_error(ld, kw, "'%s' is not a size (such as 512k, 10M or 1G)", argv[0]);
		return;
	}
	if (in_range(ld, kw, argv[0], v))
		*(uint64_t *)field(ld, kw) = v;
}

static void set_switch(struct loader *ld, const struct keyword *kw, char **argv, size_t argc)
{
	(void)argc;
	bool *dst = field(ld, kw);
	if (strcmp(argv[0], "on") == 0)
		*dst = true;
	else if (strcmp(argv[0], "off") == 0)
		*dst = false;
	else
		kw_error(ld, kw, "expected on or off, not '%s'", argv[0]);
}

static void set_log_level(struct loader *ld, const struct keyword *kw, char **argv, size_t argc)
{
	static const char *const names[] = {"debug", "info", "warning", "error"};
	static const int levels[] = {LOG_LVL_DEBUG, LOG_LVL_INFO, LOG_LVL_WARN, LOG_LVL_ERROR};
	(void)argc;
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		if (strcmp(argv[0], names[i]) == 0) {
			ld->cfg->log_level = levels[i];
			return;
		}
	}
	kw_error(ld, kw, "expected debug, info, warning or error, not '%s'", argv[0]);
}

static void set_hostname(struct loader *ld, const struct keyword *kw, char **argv, size_t argc)
{
	(void)argc;
	if (!addr_valid_domain(argv[0], strlen(argv[0]), false)) {
		kw_error(ld, kw, "'%s' is not a valid domain name", argv[0]);
		return;
	}
	ld->cfg->hostname = xstrdup(argv[0]);
	lex_lower(ld->cfg->hostname);
}

static bool valid_port(const char *s)
{
	uint64_t v;
	return strlen(s) <= 5 && parse_digits(&s, &v) && *s == '\0' && v >= 1 && v <= 65535;
}

/* "host:port" with an IPv4 address or (names_ok) a host name, or "[v6]:port". */
static bool valid_hostport(const char *s, bool names_ok)
{
	char host[ADDR_DOMAIN_MAX + 1];
	const char *colon = s[0] == '[' ? strstr(s, "]:") : strrchr(s, ':');
	if (!colon)
		return false;
	const char *h = s[0] == '[' ? s + 1 : s;
	size_t hlen = (size_t)(colon - h);
	if (hlen == 0 || hlen >= sizeof host || !valid_port(colon + (s[0] == '[' ? 2 : 1)))
		return false;
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	unsigned char addr[16];
	if (s[0] == '[')
		return inet_pton(AF_INET6, host, addr) == 1;
	return inet_pton(AF_INET, host, addr) == 1 || (names_ok && addr_valid_domain(host, hlen, false));
}

static bool parse_listen_mode(const char *s, enum listen_mode *mode)
{
	static const char *const names[] = {"smtp", "submission", "submissions"};
	for (unsigned i = 0; i < 3; i++)
		if (strcmp(s, names[i]) == 0) {
			*mode = (enum listen_mode)i;
			return true;
		}
	return false;
}

/* "listen ADDR... [smtp|submission|submissions]" */
static void add_listen(struct loader *ld, const struct keyword *kw, char **argv, size_t argc)
{
	struct config *cfg = ld->cfg;
	enum listen_mode mode = LISTEN_SMTP;
	if (argc > 1 && parse_listen_mode(argv[argc - 1], &mode))
		argc--;
	if (mode == LISTEN_SUBMISSIONS && !ld->submissions_line)
		ld->submissions_line = ld->lx.line;
	if (mode != LISTEN_SMTP && !ld->submission_line)
		ld->submission_line = ld->lx.line;
	for (size_t i = 0; i < argc; i++) {
		/* Bound as given, never resolved: a name could mean any address. */
		if (!valid_hostport(argv[i], false)) {
			kw_error(ld, kw, "'%s' is not IPv4:port or [IPv6]:port", argv[i]);
		} else if (!strlist_add_unique(&cfg->listen, argv[i])) {
			kw_error(ld, kw, "'%s' is listed twice", argv[i]);
		} else {
			cfg->listen_mode = xrealloc(cfg->listen_mode,
						    cfg->listen.n * sizeof *cfg->listen_mode);
			cfg->listen_mode[cfg->listen.n - 1] = mode;
		}
	}
}

static void add_send_as(struct loader *ld, const struct keyword *kw, char **argv, size_t argc)
{
	if (argc < 2) {
		kw_error(ld, kw, "usage: send-as USER ADDRESS...");
		return;
	}
	struct config *cfg = ld->cfg;
	cfg->send_as = xrealloc(cfg->send_as, (cfg->nsend_as + 1) * sizeof *cfg->send_as);
	struct send_as *sa = &cfg->send_as[cfg->nsend_as++];
	*sa = (struct send_as){xstrdup(argv[0]), STRLIST_INIT};
	for (size_t i = 1; i < argc; i++)
		strlist_add(&sa->addrs, argv[i]);
}

bool config_may_send_as(const struct config *cfg, const char *user, const char *addr)
{
	const char *at = strrchr(addr, '@');
	if (at && (size_t)(at - addr) == strlen(user) && strncasecmp(addr, user, strlen(user)) == 0 &&
	    config_is_local_domain(cfg, at + 1))
		return true;
	for (size_t i = 0; i < cfg->nsend_as; i++)
		if (strcmp(cfg->send_as[i].user, user) == 0 &&
		    (strlist_contains(&cfg->send_as[i].addrs, addr) ||
		     strlist_contains(&cfg->send_as[i].addrs, "*")))
			return true;
	return false;
}

static void add_domain(struct loader *ld, const struct keyword *kw, char **argv, size_t argc)
{
	for (size_t i = 0; i < argc; i++) {
		lex_lower(argv[i]);
		if (!addr_valid_domain(argv[i], strlen(argv[i]), false))
			kw_error(ld, kw, "'%s' is not a valid domain name", argv[i]);
		else if (!strlist_add_unique(&ld->cfg->local_domains, argv[i]))
			kw_error(ld, kw, "'%s' is listed twice", argv[i]);
	}
}

static bool printable_ascii(const char *s)
{
	for (; *s; s++)
		if (*s < 0x20 || *s > 0x7e)
			return false;
	return true;
}

/* Mailbox names become directory names under maildir-root, so they are
 * dot-atoms without '/': no "..", no leading '.', no path separators. */
static void add_mailbox(struct loader *ld, const struct keyword *kw, char **argv, size_t argc)
{
	struct config *cfg = ld->cfg;
	const char *full = argc > 1 && argv[1][0] ? argv[1] : NULL;
	lex_lower(argv[0]);
	if (!lex_is_local_name(argv[0])) {
		kw_error(ld, kw, "'%s' is not a valid mailbox name (letters, digits, "
			 "dots between words, no '/')", argv[0]);
	} else if (config_find_user(cfg, argv[0])) {
		kw_error(ld, kw, "'%s' is defined twice", argv[0]);
	} else if (full && (strlen(full) > FULLNAME_MAX || !printable_ascii(full))) {
		kw_error(ld, kw, "full name '%s' must be printable ASCII of at most 128 bytes", full);
	} else {
		cfg->users = xrealloc(cfg->users, (cfg->nusers + 1) * sizeof *cfg->users);
		cfg->users[cfg->nusers++] = (struct mailbox_user){
			xstrdup(argv[0]), full ? xstrdup(full) : NULL};
	}
}

static void add_relay_from(struct loader *ld, const struct keyword *kw, char **argv, size_t argc)
{
	for (size_t i = 0; i < argc; i++) {
		struct cidr c;
		if (cidr_parse(argv[i], &c))
			cidr_list_add(&ld->cfg->relay_from, &c);
		else
			kw_error(ld, kw, "'%s' is not an address or network with zero host bits "
				 "(such as 192.0.2.0/24 or 2001:db8::/32)", argv[i]);
	}
}

static void add_strings(struct loader *ld, const struct keyword *kw, char **argv, size_t argc,
			struct strlist *dst, bool (*valid)(const char *), const char *what)
{
	for (size_t i = 0; i < argc; i++) {
		if (!valid(argv[i]))
			kw_error(ld, kw, "'%s' is not %s", argv[i], what);
		else if (!strlist_add_unique(dst, argv[i]))
			kw_error(ld, kw, "'%s' is listed twice", argv[i]);
	}
}

static bool valid_domain_arg(const char *s)
{
	return addr_valid_domain(s, strlen(s), false);
}

static void add_relay_domain(struct loader *ld, const struct keyword *kw, char **argv,
			     size_t argc)
{
	for (size_t i = 0; i < argc; i++)
		lex_lower(argv[i]);
	add_strings(ld, kw, argv, argc, &ld->cfg->relay_domains, valid_domain_arg, "a domain");
}

static bool valid_ip_port(const char *s)
{
	return valid_hostport(s, false);
}

static void add_dns_server(struct loader *ld, const struct keyword *kw, char **argv, size_t argc)
{
	add_strings(ld, kw, argv, argc, &ld->cfg->dns_servers, valid_ip_port,
		    "an IP address and port (1.2.3.4:53 or [::1]:53)");
}

static void add_route(struct loader *ld, const struct keyword *kw, char **argv, size_t argc)
{
	if (argc != 2) {
		kw_error(ld, kw, "usage: route DOMAIN HOST:PORT");
		return;
	}
	lex_lower(argv[0]);
	if (!valid_domain_arg(argv[0]) || !valid_hostport(argv[1], true)) {
		kw_error(ld, kw, "'%s %s' is not DOMAIN HOST:PORT", argv[0], argv[1]);
		return;
	}
	if (config_find_route(ld->cfg, argv[0])) {
		kw_error(ld, kw, "a route for %s is already set", argv[0]);
		return;
	}
	struct config *cfg = ld->cfg;
	cfg->routes = xrealloc(cfg->routes, (cfg->nroutes + 1) * sizeof *cfg->routes);
	cfg->routes[cfg->nroutes++] = (struct route){xstrdup(argv[0]), xstrdup(argv[1])};
}

static void set_relay_host(struct loader *ld, const struct keyword *kw, char **argv, size_t argc)
{
	(void)argc;
	if (!valid_hostport(argv[0], true))
		kw_error(ld, kw, "'%s' is not HOST:PORT", argv[0]);
	else
		ld->cfg->relay_host = xstrdup(argv[0]);
}

/* The password lives in its own file (mode 0600) so the config stays readable. */
static void set_relay_auth(struct loader *ld, const struct keyword *kw, char **argv, size_t argc)
{
	if (argc != 2) {
		kw_error(ld, kw, "usage: relay-auth USER PASSWORD-FILE");
		return;
	}
	char *path = absolute_path(ld, argv[1]);
	FILE *f = path ? fopen(path, "r") : NULL;
	char pass[512];
	ld->cfg->relay_auth_user = xstrdup(argv[0]);
	ld->cfg->relay_auth_file = path;
	if (f && fgets(pass, sizeof pass, f)) {
		pass[strcspn(pass, "\r\n")] = '\0';
		ld->cfg->relay_auth_pass = xstrdup(pass);
	} else if (f || errno != EACCES) {
		kw_error(ld, kw, "cannot read the password file %s", argv[1]);
	}
	/* EACCES: a local user's sendmail or queue command may not read the
	 * secret and has no use for it; the daemon checks (config_check_secrets). */
	explicit_bzero(pass, sizeof pass);
	if (f)
		fclose(f);
}

bool config_check_secrets(const struct config *cfg, struct buf *err)
{
	if (!cfg->relay_auth_user || cfg->relay_auth_pass)
		return true;
	config_error(cfg, err, "relay-auth", "cannot read the password file %s: %s",
		     cfg->relay_auth_file, strerror(EACCES));
	return false;
}

static void set_word(struct loader *ld, const struct keyword *kw, char **argv, size_t argc)
{
	(void)argc;
	char **dst = field(ld, kw);
	free(*dst);
	*dst = xstrdup(argv[0]);
}

/* Metrics are for the local scraper only: never served beyond loopback. */
static void set_metrics_listen(struct loader *ld, const struct keyword *kw, char **argv,
			       size_t argc)
{
	(void)argc;
	const char *s = argv[0];
	/* Numeric only: a name could resolve anywhere ("127.example.com"). */
	bool loopback = strncmp(s, "127.", 4) == 0 || strncmp(s, "[::1]:", 6) == 0;
	if (!valid_hostport(s, false))
		kw_error(ld, kw, "'%s' is not IPv4:port or [IPv6]:port", s);
	else if (!loopback)
		kw_error(ld, kw, "'%s' is not a loopback address (127.0.0.0/8, [::1])", s);
	else
		ld->cfg->metrics_listen = xstrdup(s);
}

static void set_log_format(struct loader *ld, const struct keyword *kw, char **argv, size_t argc)
{
	(void)argc;
	if (strcmp(argv[0], "text") == 0 || strcmp(argv[0], "json") == 0)
		ld->cfg->log_json = argv[0][0] == 'j';
	else
		kw_error(ld, kw, "expected text or json, not '%s'", argv[0]);
}

/* "local-delivery maildir" or "local-delivery lmtp HOST:PORT|unix:PATH" */
static void set_local_delivery(struct loader *ld, const struct keyword *kw, char **argv,
			       size_t argc)
{
	if (argc == 1 && strcmp(argv[0], "maildir") == 0)
		return;
	if (argc != 2 || strcmp(argv[0], "lmtp") != 0) {
		kw_error(ld, kw, "usage: local-delivery maildir | lmtp HOST:PORT | lmtp unix:PATH");
		return;
	}
	if (strncmp(argv[1], "unix:", 5) == 0 && argv[1][5]) {
		char *path = absolute_path(ld, argv[1] + 5);
		struct buf b = BUF_INIT;
		buf_printf(&b, "unix:%s", path);
		ld->cfg->lmtp_target = b.p;
		free(path);
	} else if (valid_hostport(argv[1], true)) {
		ld->cfg->lmtp_target = xstrdup(argv[1]);
	} else {
		kw_error(ld, kw, "'%s' is not HOST:PORT or unix:PATH", argv[1]);
	}
}

const struct route *config_find_route(const struct config *cfg, const char *domain)
{
	for (size_t i = 0; i < cfg->nroutes; i++)
		if (strcasecmp(cfg->routes[i].domain, domain) == 0)
			return &cfg->routes[i];
	return NULL;
}

bool config_is_relay_domain(const struct config *cfg, const char *domain)
{
	return strlist_contains(&cfg->relay_domains, domain);
}

#define CFG(f) offsetof(struct config, f)
#define DAY 86400u

/* How each kind of keyword is read and shown; a keyword with rules of its
 * own names its setter and how many arguments it takes. */
#define COUNT(f, l, h)    set_count, SHOW_COUNT, CFG(f), l, h, 1
#define DURATION(f, l, h) set_duration, SHOW_DURATION, CFG(f), l, h, 1
#define SIZE(f, l, h)     set_size, SHOW_SIZE, CFG(f), l, h, 1
#define SWITCH(f)         set_switch, SHOW_SWITCH, CFG(f), 0, 0, 1
#define PATH(f)           set_path, SHOW_TEXT, CFG(f), 0, 0, 1
#define TEXT(set, f)      set, SHOW_TEXT, CFG(f), 0, 0, 1
#define OWN(set, nargs)   set, SHOW_GIVEN, 0, 0, 0, nargs
#define ONCE              false
#define REPEAT            true
#define ANY               SIZE_MAX

/* keyword, its arguments, its default (as written in the file; one word),
 * one line on what it does; then how it is read; then whether it may be
 * repeated. petrel.conf(5) says the rest. */
const struct keyword config_keywords[] = {
	{"hostname", "NAME", NULL, "our name in the banner, the EHLO reply and Received: "
	 "fields; the machine's host name when not set", TEXT(set_hostname, hostname), ONCE},
	{"listen", "HOST:PORT... [smtp|submission|submissions]", NULL,
	 "an IP address and port to accept connections on, and the listener's mode",
	 OWN(add_listen, ANY), REPEAT},
	{"spool", "DIR", NULL, "the queue directory (required)", PATH(spool_dir), ONCE},
	{"maildir-root", "DIR", NULL, "the directory of one Maildir per mailbox",
	 PATH(maildir_root), ONCE},
	{"domain", "DOMAIN...", NULL, "a mail domain we deliver for ourselves",
	 OWN(add_domain, ANY), REPEAT},
	{"mailbox", "NAME [\"Full Name\"]", NULL, "a mailbox, and the full name VRFY shows",
	 OWN(add_mailbox, 2), REPEAT},
	{"aliases", "FILE", NULL, "the aliases table (name: member, member...)",
	 PATH(aliases_file), ONCE},
	{"relocated", "FILE", NULL, "the users who have moved, refused with their new address",
	 PATH(relocated_file), ONCE},
	{"relay-from", "CIDR...", NULL, "the clients that may relay through us without a login",
	 OWN(add_relay_from, ANY), REPEAT},
	{"max-message-size", "SIZE", "10M", "the largest message accepted",
	 SIZE(max_message_size, 1, (uint64_t)1 << 40), ONCE},
	{"max-recipients", "N", "100", "the most recipients of one message",
	 COUNT(max_recipients, 1, 100000), ONCE},
	{"max-hops", "N", "100", "the most Received: fields before mail is refused as a loop",
	 COUNT(max_hops, 1, 100000), ONCE},
	{"max-connections", "N", "1000", "the most client connections open at once",
	 COUNT(max_connections, 1, 1000000), ONCE},
	{"max-connections-per-client", "N", "20", "the most connections of one client address",
	 COUNT(max_per_client, 1, 1000000), ONCE},
	{"max-no-progress", "N", "30", "commands bringing no mail closer before a disconnect",
	 COUNT(max_no_progress, 1, 1000000), ONCE},
	{"max-messages-per-client", "N", "100", "messages per client address and rate window",
	 COUNT(max_msgs_per_client, 1, 100000000), ONCE},
	{"message-rate-window", "DURATION", "1m", "the window of max-messages-per-client",
	 DURATION(msg_rate_window, 1, DAY), ONCE},
	{"command-timeout", "DURATION", "5m", "how long to wait for a client's next command",
	 DURATION(command_timeout, 1, DAY), ONCE},
	{"data-timeout", "DURATION", "10m", "how long to wait for the next piece of a message",
	 DURATION(data_timeout, 1, DAY), ONCE},
	{"vrfy", "on|off", "on", "whether VRFY says whether a user exists", SWITCH(vrfy), ONCE},
	{"expn", "on|off", "on", "whether EXPN lists the members of an alias", SWITCH(expn),
	 ONCE},
	{"reject-unknown-sender-domain", "on|off", "on",
	 "refuse a sender whose domain could take no bounce (NXDOMAIN, no MX, null MX)",
	 SWITCH(reject_unknown_sender_domain), ONCE},
	{"retry-initial", "DURATION", "1m", "the wait before the first retry of a delivery",
	 DURATION(retry_initial, 1, DAY), ONCE},
	{"retry-max", "DURATION", "15m", "the longest wait between two retries",
	 DURATION(retry_max, 1, 30 * DAY), ONCE},
	{"delivery-workers", "N", "4", "how many local deliveries run at once",
	 COUNT(delivery_workers, 1, 1024), ONCE},
	{"log-level", "debug|info|warning|error", "info", "how much to log",
	 OWN(set_log_level, 1), ONCE},
	{"relay-domain", "DOMAIN...", NULL, "a domain we are a backup MX for",
	 OWN(add_relay_domain, ANY), REPEAT},
	{"dns-server", "IP:PORT...", NULL, "the DNS resolvers to ask; resolv.conf's when not set",
	 OWN(add_dns_server, ANY), REPEAT},
	{"smtp-port", "PORT", "25", "the port of the mail exchangers found in DNS",
	 COUNT(smtp_port, 1, 65535), ONCE},
	{"route", "DOMAIN HOST:PORT", NULL, "send the domain's mail to this host, not its MX",
	 OWN(add_route, 2), REPEAT},
	{"relay-host", "HOST:PORT", NULL, "send all mail for other domains through this host",
	 TEXT(set_relay_host, relay_host), ONCE},
	{"relay-auth", "USER PASSWORD-FILE", NULL, "the login at the relay-host",
	 OWN(set_relay_auth, 2), ONCE},
	{"warn-after", "DURATION", "4h", "the time in the queue after which the sender is warned",
	 DURATION(warn_after, 1, 30 * DAY), ONCE},
	{"bounce-after", "DURATION", "5d", "the time in the queue after which mail is returned",
	 DURATION(bounce_after, 1, 365 * DAY), ONCE},
	{"dest-concurrency", "N", "20", "the most connections to one destination",
	 COUNT(dest_concurrency, 1, 10000), ONCE},
	{"max-outbound", "N", "100", "the most outbound connections in all",
	 COUNT(max_outbound, 1, 100000), ONCE},
	{"max-jobs", "N", "2000", "the most delivery jobs under way at once; the rest wait their turn",
	 COUNT(max_jobs, 1, 1000000), ONCE},
	{"connect-timeout", "DURATION", "30s", "how long an exchanger may take to accept",
	 DURATION(connect_timeout, 1, DAY), ONCE},
	{"smtp-timeout", "DURATION", "5m", "how long to wait for each reply of another server",
	 DURATION(smtp_timeout, 1, DAY), ONCE},
	{"tls-cert", "FILE", NULL, "the certificate chain (PEM) for STARTTLS and implicit TLS",
	 PATH(tls_cert), ONCE},
	{"tls-key", "FILE", NULL, "the certificate's private key (PEM)", PATH(tls_key), ONCE},
	{"passwd-file", "FILE", NULL, "the users who may log in, with their password hashes",
	 PATH(passwd_file), ONCE},
	{"send-as", "USER ADDRESS...", NULL, "more sender addresses a logged-in user may use",
	 OWN(add_send_as, ANY), REPEAT},
	{"auth-max-failures", "N", "5", "failed logins of a client address per window",
	 COUNT(auth_max_failures, 1, 100000), ONCE},
	{"auth-failure-window", "DURATION", "5m", "the window of auth-max-failures",
	 DURATION(auth_failure_window, 1, DAY), ONCE},
	{"user", "NAME", "petrel", "the user the daemon becomes when started as root",
	 TEXT(set_word, run_user), ONCE},
	{"shutdown-timeout", "DURATION", "30s", "on SIGTERM, the time a message may take to finish",
	 DURATION(shutdown_timeout, 1, DAY), ONCE},
	{"metrics-listen", "HOST:PORT", NULL, "serve Prometheus metrics on this loopback address",
	 TEXT(set_metrics_listen, metrics_listen), ONCE},
	{"log-format", "text|json", "text", "log lines as text or as JSON objects",
	 OWN(set_log_format, 1), ONCE},
	{"local-delivery", "maildir | lmtp HOST:PORT | lmtp unix:PATH", "maildir",
	 "write Maildirs, or hand local mail to an LMTP server", OWN(set_local_delivery, 2), ONCE},
};

#define NKEYWORDS (sizeof config_keywords / sizeof config_keywords[0])
const size_t config_nkeywords = NKEYWORDS;

static size_t keyword_index(const char *name)
{
	for (size_t i = 0; i < NKEYWORDS; i++)
		if (strcmp(config_keywords[i].name, name) == 0)
			return i;
	return NKEYWORDS;
}

unsigned config_line(const struct config *cfg, const char *keyword)
{
	size_t i = keyword_index(keyword);
	return i < NKEYWORDS ? cfg->settings[i].line : 0;
}

void config_error(const struct config *cfg, struct buf *errors, const char *keyword,
		  const char *fmt, ...)
{
	buf_printf(errors, "%s:%u: %s: ", cfg->path, config_line(cfg, keyword), keyword);
	va_list ap;
	va_start(ap, fmt);
	buf_vprintf(errors, fmt, ap);
	va_end(ap);
	buf_putc(errors, '\n');
}

static unsigned seen_line(const struct loader *ld, const char *name)
{
	return config_line(ld->cfg, name);
}

/* The arguments as `petrel config` shows them: each word requoted so the
 * line reads back the same. */
static void record_given(struct setting *st, char **argv, size_t argc)
{
	struct buf line = BUF_INIT;
	for (size_t i = 0; i < argc; i++) {
		if (i)
			buf_putc(&line, ' ');
		lex_quote(&line, argv[i]);
	}
	strlist_add(&st->given, line.p);
	buf_free(&line);
}

static void apply_entry(struct loader *ld, struct strlist *words)
{
	size_t i = keyword_index(words->v[0]);
	if (i == NKEYWORDS) {
		lexer_error(&ld->lx, "unknown keyword '%s'", words->v[0]);
		return;
	}
	const struct keyword *kw = &config_keywords[i];
	struct setting *st = &ld->cfg->settings[i];
	size_t argc = words->n - 1;
	if (argc == 0 || argc > kw->max_args) {
		lexer_error(&ld->lx, "%s: %s (usage: %s %s)", kw->name,
			    argc == 0 ? "missing argument" : "too many arguments",
			    kw->name, kw->usage);
		return;
	}
	if (st->line && !kw->repeatable) {
		lexer_error(&ld->lx, "%s: already set at line %u", kw->name, st->line);
		return;
	}
	if (!st->line)
		st->line = ld->lx.line;
	kw->set(ld, kw, words->v + 1, argc);
	if (kw->show == SHOW_GIVEN)
		record_given(st, words->v + 1, argc);
}

static void read_settings(struct loader *ld)
{
	while (lexer_next(&ld->lx)) {
		struct strlist words = STRLIST_INIT;
		if (lexer_split(&ld->lx, ld->lx.entry.p, " \t", &words))
			apply_entry(ld, &words);
		strlist_free(&words);
	}
}

static struct config *config_new(void)
{
	struct config *cfg = xcalloc(1, sizeof *cfg);
	atomic_init(&cfg->refs, 1);
	cfg->settings = xcalloc(NKEYWORDS, sizeof *cfg->settings);
	return cfg;
}

/* Every default goes through its keyword's own setter, as if it were
 * written in the file: the table is the only place defaults are stated. */
const char *config_default_path(void)
{
	const char *env = getenv("PETREL_CONFIG");
	return env && *env ? env : "/etc/petrel/petrel.conf";
}

struct config *config_defaults(void)
{
	struct config *cfg = config_new();
	struct buf errors = BUF_INIT;
	struct loader ld = {.cfg = cfg, .errors = &errors};
	ld.lx.path = "built-in default";
	ld.lx.errors = &errors;
	for (size_t i = 0; i < NKEYWORDS; i++) {
		const struct keyword *kw = &config_keywords[i];
		char *arg = kw->dflt ? xstrdup(kw->dflt) : NULL;
		if (arg)
			kw->set(&ld, kw, &arg, 1);
		free(arg);
	}
	/* The table itself is wrong: no configuration could be right. */
	if (errors.len) {
		fputs(errors.p, stderr);
		abort();
	}
	return cfg;
}

static void file_error(struct loader *ld, const char *msg)
{
	buf_printf(ld->errors, "%s: %s\n", ld->lx.path, msg);
}

static void default_hostname(struct loader *ld)
{
	char name[HOST_NAME_MAX + 1];
	if (gethostname(name, sizeof name) != 0) {
		file_error(ld, "no 'hostname' set and the system host name is unavailable");
		return;
	}
	name[HOST_NAME_MAX] = '\0';
	if (!addr_valid_domain(name, strlen(name), false)) {
		file_error(ld, "no 'hostname' set and the system host name is not a valid domain");
		return;
	}
	ld->cfg->hostname = xstrdup(name);
	lex_lower(ld->cfg->hostname);
}

/* Implicit TLS needs a certificate; submission needs users to log in. */
static void check_submission(struct loader *ld)
{
	const struct config *cfg = ld->cfg;
	/* With one of the two set, the error below says what is missing. */
	if (ld->submissions_line && !cfg->tls_cert && !cfg->tls_key)
		lex_error_at(ld->errors, ld->lx.path, ld->submissions_line,
			     "listen: 'submissions' (implicit TLS) needs tls-cert and tls-key");
	if (ld->submission_line && !cfg->passwd_file)
		lex_error_at(ld->errors, ld->lx.path, ld->submission_line,
			     "listen: submission needs 'passwd-file' (users who may log in)");
	if (!cfg->tls_cert != !cfg->tls_key)
		lex_error_at(ld->errors, ld->lx.path,
			     seen_line(ld, cfg->tls_cert ? "tls-cert" : "tls-key"),
			     "tls-cert and tls-key go together");
}

static void check_required(struct loader *ld)
{
	const struct config *cfg = ld->cfg;
	if (cfg->listen.n == 0)
		file_error(ld, "missing 'listen': at least one listen address is required");
	if (!cfg->spool_dir)
		file_error(ld, "missing 'spool': the queue directory is required");
	if (cfg->local_domains.n && !cfg->maildir_root)
		file_error(ld, "missing 'maildir-root': required when a domain is configured");
	static const char *const need_domain[] = {"mailbox", "aliases", "relocated"};
	for (size_t i = 0; i < sizeof need_domain / sizeof need_domain[0]; i++) {
		unsigned line = seen_line(ld, need_domain[i]);
		if (line && cfg->local_domains.n == 0)
			lex_error_at(ld->errors, ld->lx.path, line,
				     "%s: needs at least one 'domain' to deliver for", need_domain[i]);
	}
	if (cfg->retry_max < cfg->retry_initial) {
		unsigned line = seen_line(ld, "retry-max");
		lex_error_at(ld->errors, ld->lx.path, line ? line : seen_line(ld, "retry-initial"),
			     "retry-max (%us) is shorter than retry-initial (%us)", cfg->retry_max,
			     cfg->retry_initial);
	}
	check_submission(ld);
}

static void report_unreadable(struct loader *ld, const char *kwname, const char *path)
{
	lex_error_at(ld->errors, ld->lx.path, seen_line(ld, kwname), "%s: cannot read '%s': %s",
		     kwname, path, strerror(errno));
}

/* The tables are read last: their members are checked against domains and
 * mailboxes that may be configured below the line naming the file. False
 * when the aliases file named had an error. */
static bool load_tables(struct loader *ld)
{
	struct config *cfg = ld->cfg;
	const char *apath = cfg->aliases_file;
	const char *rpath = cfg->relocated_file;
	size_t before = ld->errors->len;
	if (apath && cfg->local_domains.n) {
		cfg->aliases = aliases_load(apath, cfg, ld->errors);
		if (!cfg->aliases)
			report_unreadable(ld, "aliases", apath);
	}
	bool aliases_ok = ld->errors->len == before;
	if (rpath && cfg->local_domains.n) {
		cfg->relocated = relocated_load(rpath, cfg, ld->errors);
		if (!cfg->relocated)
			report_unreadable(ld, "relocated", rpath);
	}
	if (!cfg->aliases)
		cfg->aliases = aliases_empty();
	if (!cfg->relocated)
		cfg->relocated = relocated_empty();
	return aliases_ok;
}

static void finish(struct loader *ld)
{
	if (!ld->cfg->hostname)
		default_hostname(ld);
	check_required(ld);
	/* RFC 5321 4.5.1: every domain we deliver for must accept postmaster.
	 * Not said when the aliases file could not be read, or not wholly: its
	 * own errors are the ones to fix. */
	if (load_tables(ld) && ld->cfg->local_domains.n &&
	    !config_find_user(ld->cfg, "postmaster") &&
	    !aliases_exists(ld->cfg->aliases, "postmaster"))
		file_error(ld, "no mailbox or alias named 'postmaster' "
			   "(RFC 5321 4.5.1 requires one for the local domains)");
}

struct config *config_load(const char *path, struct buf *errors)
{
	struct config *cfg = config_defaults();
	struct loader ld = {.cfg = cfg, .errors = errors};
	size_t before = errors->len;
	char cwd[PATH_MAX];
	if (!getcwd(cwd, sizeof cwd)) {
		buf_printf(errors, "%s: cannot determine the current directory: %s\n", path,
			   strerror(errno));
	} else if (!lexer_open(&ld.lx, path, false, errors)) {
		buf_printf(errors, "%s: cannot open: %s\n", path, strerror(errno));
	} else {
		cfg->path = join_path(cwd, path);
		ld.dir = dir_of(cfg->path);
		read_settings(&ld);
		lexer_close(&ld.lx);
		finish(&ld);
		free(ld.dir);
	}
	if (errors->len != before) {
		config_free(cfg);
		return NULL;
	}
	return cfg;
}

const struct config *config_ref(const struct config *cfg)
{
	/* The count is bookkeeping beside the snapshot, not part of its value. */
	atomic_fetch_add(&((struct config *)cfg)->refs, 1);
	return cfg;
}

void config_replace(const struct config **slot, const struct config *cfg)
{
	const struct config *old = *slot;
	*slot = config_ref(cfg);
	config_free(old);
}

void config_free(const struct config *ccfg)
{
	struct config *cfg = (struct config *)ccfg;
	if (!cfg || atomic_fetch_sub(&cfg->refs, 1) != 1)
		return;
	free(cfg->path);
	free(cfg->hostname);
	strlist_free(&cfg->listen);
	free(cfg->listen_mode);
	free(cfg->tls_cert);
	free(cfg->tls_key);
	free(cfg->passwd_file);
	free(cfg->aliases_file);
	free(cfg->relocated_file);
	for (size_t i = 0; i < NKEYWORDS; i++)
		strlist_free(&cfg->settings[i].given);
	free(cfg->settings);
	for (size_t i = 0; i < cfg->nsend_as; i++) {
		free(cfg->send_as[i].user);
		strlist_free(&cfg->send_as[i].addrs);
	}
	free(cfg->send_as);
	free(cfg->spool_dir);
	free(cfg->maildir_root);
	strlist_free(&cfg->local_domains);
	for (size_t i = 0; i < cfg->nusers; i++) {
		free(cfg->users[i].name);
		free(cfg->users[i].fullname);
	}
	free(cfg->users);
	aliases_free(cfg->aliases);
	relocated_free(cfg->relocated);
	cidr_list_free(&cfg->relay_from);
	strlist_free(&cfg->relay_domains);
	strlist_free(&cfg->dns_servers);
	for (size_t i = 0; i < cfg->nroutes; i++) {
		free(cfg->routes[i].domain);
		free(cfg->routes[i].hostport);
	}
	free(cfg->routes);
	free(cfg->relay_host);
	free(cfg->relay_auth_user);
	free(cfg->relay_auth_pass);
	free(cfg->relay_auth_file);
	free(cfg->run_user);
	free(cfg->metrics_listen);
	free(cfg->lmtp_target);
	free(cfg);
}
