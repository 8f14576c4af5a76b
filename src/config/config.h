/*
 * config - the one configuration file, plus the aliases and relocation tables
 * it names, parsed and validated into one immutable snapshot.
 *
 * File format (see etc/petrel.conf for the annotated example): one setting per
 * line, "keyword value...", '#' starts a comment, blank lines ignored. Relative
 * paths are resolved against the directory of the file itself and stored
 * absolute. Every error is reported as "file:line: reason"; a config with any
 * error is refused as a whole.
 */
#ifndef PETREL_CONFIG_CONFIG_H
#define PETREL_CONFIG_CONFIG_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "util/buf.h"
#include "util/cidr.h"
#include "util/strlist.h"

struct aliases;
struct relocated;
struct setting;

enum listen_mode {
	LISTEN_SMTP,        /* port 25 style: MX, relay for relay-from, STARTTLS offered */
	LISTEN_SUBMISSION,  /* port 587 style (RFC 6409): AUTH required to relay */
	LISTEN_SUBMISSIONS, /* port 465 style (RFC 8314): submission over implicit TLS */
};

struct send_as {
	char *user;             /* login name */
	struct strlist addrs;   /* addresses it may use as sender; "*" = any */
};

struct mailbox_user {
	char *name;      /* local part, lower case */
	char *fullname;  /* for VRFY; may be NULL */
};

/* The values of the keywords; their defaults and ranges are in the keyword
 * table (config.c), the one place they are stated. */
struct config {
	atomic_uint refs;         /* holders of this snapshot: see config_ref() */
	char *path;               /* the config file itself */
	struct setting *settings; /* per keyword: where and as what it was set */
	char *hostname;           /* "hostname": our name in the banner, EHLO, Received */
	struct strlist listen;    /* "listen": "127.0.0.1:2525", "[::1]:2525" */
	enum listen_mode *listen_mode; /* per listen entry: "listen ADDR... [MODE]" */
	char *spool_dir;          /* "spool" */
	char *maildir_root;       /* "maildir-root": mailbox of user u is <root>/<u>/ */
	struct strlist local_domains; /* "domain": lower case */
	struct mailbox_user *users;   /* "mailbox NAME [\"Full Name\"]" */
	size_t nusers;
	char *aliases_file;           /* "aliases FILE" */
	struct aliases *aliases;      /* its table; never NULL (maybe empty) */
	char *relocated_file;         /* "relocated FILE" */
	struct relocated *relocated;  /* its table; never NULL (maybe empty) */
	struct cidr_list relay_from;  /* "relay-from CIDR..." */
	uint64_t max_message_size;    /* "max-message-size" bytes */
	unsigned max_recipients;      /* "max-recipients" */
	unsigned max_hops;            /* "max-hops": Received: fields (RFC 5321 6.3) */
	unsigned max_connections;     /* "max-connections" */
	unsigned max_per_client;      /* "max-connections-per-client"; relay-from exempt */
	unsigned max_no_progress;     /* "max-no-progress" */
	unsigned max_msgs_per_client; /* "max-messages-per-client" per window... */
	unsigned msg_rate_window;     /* "message-rate-window"; relay-from exempt */
	unsigned command_timeout;     /* "command-timeout" seconds (RFC 5321 4.5.3.2.7) */
	unsigned data_timeout;        /* "data-timeout" seconds */
	bool vrfy;                    /* "vrfy on|off" */
	bool expn;                    /* "expn on|off" */
	bool reject_unknown_sender_domain; /* "reject-unknown-sender-domain on|off" */
	unsigned retry_initial;       /* "retry-initial" seconds */
	unsigned retry_max;           /* "retry-max" seconds */
	unsigned delivery_workers;    /* "delivery-workers" */
	int log_level;                /* "log-level debug|info|warning|error" */

	/* Outbound delivery. */
	struct strlist relay_domains; /* "relay-domain": we relay (backup MX) for them, from anyone */
	struct strlist dns_servers;   /* "dns-server HOST:PORT"; none: resolv.conf */
	unsigned smtp_port;           /* "smtp-port", port of mail exchangers */
	struct route *routes;         /* "route DOMAIN HOST:PORT": skip MX for DOMAIN */
	size_t nroutes;
	char *relay_host;             /* "relay-host HOST:PORT": every outbound message goes there */
	char *relay_auth_user;        /* "relay-auth USER PASSWORD-FILE" for the relay host */
	char *relay_auth_pass;        /* NULL when this process may not read the file */
	char *relay_auth_file;
	unsigned warn_after;          /* "warn-after": delay warning to the sender */
	unsigned bounce_after;        /* "bounce-after": give up and return the mail */
	unsigned dest_concurrency;    /* "dest-concurrency" */
	unsigned max_outbound;        /* "max-outbound" */
	unsigned max_jobs;            /* "max-jobs": deliveries handed to agents at once */
	unsigned connect_timeout;     /* "connect-timeout" */
	unsigned smtp_timeout;        /* "smtp-timeout" per reply (RFC 5321 4.5.3.2) */

	/* TLS and submission. */
	char *tls_cert;               /* "tls-cert FILE" (PEM chain) */
	char *tls_key;                /* "tls-key FILE" */
	char *passwd_file;            /* "passwd-file FILE": users and crypt(3) hashes */
	struct send_as *send_as;      /* "send-as USER ADDRESS...": extra sender addresses */
	size_t nsend_as;
	unsigned auth_max_failures;   /* "auth-max-failures" per client address... */
	unsigned auth_failure_window; /* "auth-failure-window" ... then 454 */

	/* Running in production. */
	char *run_user;               /* "user NAME": started as root, drop to it */
	unsigned shutdown_timeout;    /* "shutdown-timeout": SIGTERM waits for DATA */
	char *metrics_listen;         /* "metrics-listen HOST:PORT" (loopback only); NULL = off */
	bool log_json;                /* "log-format text|json" */
	char *lmtp_target;            /* "local-delivery lmtp HOST:PORT|unix:PATH"; NULL = maildir */
};

/* True when the authenticated user may use addr as the envelope sender:
 * user@<any local domain>, or an address granted by send-as. */
bool config_may_send_as(const struct config *cfg, const char *user, const char *addr);

struct route {
	char *domain;    /* lower case */
	char *hostport;  /* "host:port" or "[v6]:port" */
};

/* The static route for domain, or NULL. */
const struct route *config_find_route(const struct config *cfg, const char *domain);
/* True when we accept mail for domain from anyone and relay it (backup MX). */
bool config_is_relay_domain(const struct config *cfg, const char *domain);

/*
 * Loads and validates path. On success returns the snapshot; on failure
 * returns NULL and appends one "file:line: reason\n" per error to errors.
 */
struct config *config_load(const char *path, struct buf *errors);

/* The file every command reads when not given -c: $PETREL_CONFIG, else
 * /etc/petrel/petrel.conf. */
const char *config_default_path(void);
/* A snapshot is shared by whoever works under it (the server, each session,
 * each delivery) and outlives a reload until the last of them lets go:
 * config_ref() takes a reference, config_free() drops one and frees the
 * snapshot with the last. config_load() returns it with one reference.
 * Thread-safe: delivery workers hold references too. */
const struct config *config_ref(const struct config *cfg);
void config_free(const struct config *cfg);
/* *slot lets go of its snapshot and holds cfg instead (after a reload). */
void config_replace(const struct config **slot, const struct config *cfg);
/* The line of the file that set keyword first; 0 when it is not set. */
unsigned config_line(const struct config *cfg, const char *keyword);
/* Appends "file:line: keyword: reason\n" to errors: a problem with what
 * keyword names (a certificate, a password file), found after loading. */
void config_error(const struct config *cfg, struct buf *errors, const char *keyword,
		  const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* `petrel config` (show.c): each setting that differs from its default, as
 * "keyword value" lines; with all, every keyword, each under a comment with
 * its arguments, what it does and its default. */
void config_print(const struct config *cfg, bool all, FILE *out);
/* The daemon needs every secret the config names: false, with a line in
 * err, when one could not be read (a password file only root may read,
 * say). Other commands load the config without them; the daemon and
 * check-config load them all with runtime_load (server/runtime.h). */
bool config_check_secrets(const struct config *cfg, struct buf *err);

/* Parses "30", "30s", "5m", "2h", "5d" into seconds; false on junk. */
bool config_parse_duration(const char *s, unsigned *out);
/* Parses "1000", "10k", "10M", "1G" (binary units) into bytes. */
bool config_parse_size(const char *s, uint64_t *out);

bool config_is_local_domain(const struct config *cfg, const char *domain);
const struct mailbox_user *config_find_user(const struct config *cfg, const char *name);

/*
 * Recipient resolution: what becomes of mail for local@domain.
 */
enum resolve_kind {
	RESOLVE_LOCAL,     /* accepted: targets are local mailboxes and/or list members: 250 */
	RESOLVE_FORWARD,   /* an alias whose only target is a remote address: 251 */
	RESOLVE_RELOCATED, /* user moved: 551, relocated_to says where */
	RESOLVE_UNKNOWN,   /* local domain, no such user or alias: 550 5.1.1 */
	RESOLVE_REMOTE,    /* domain is not ours: relay decision is the caller's */
};

struct resolution {
	enum resolve_kind kind;
	/* Final delivery addresses after alias expansion, each "user@domain";
	 * local mailboxes use the first local domain, remote ones stay as written.
	 * For RESOLVE_REMOTE it holds the address itself. Deduplicated. */
	struct strlist targets;
	char *relocated_to;       /* RESOLVE_RELOCATED only */
};

/* local is the local part as written (quotes removed by the caller), domain
 * may be "" for the bare "postmaster" recipient. */
void config_resolve(const struct config *cfg, const char *local, const char *domain,
		    struct resolution *res);
void resolution_free(struct resolution *res);

/* EXPN: the members of list `name` (one alias level expanded fully to final
 * addresses) into out. Returns false when name is not an alias. */
bool config_expand_list(const struct config *cfg, const char *name, struct strlist *out);

#endif
