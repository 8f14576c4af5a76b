/*
 * reload - SIGHUP: read the config again and put it to work without dropping
 * a session or touching the queue.
 *
 * The new file is loaded and checked as a whole, and so are the files it
 * names (certificate, key, passwd file), by the code serve and check-config
 * load them with (runtime.c); anything wrong and the reload is refused with
 * the reasons logged, the running config untouched. Otherwise
 * the new snapshot becomes current: new sessions and deliveries use it, a
 * session already open finishes under the snapshot it began with. Settings
 * that are bound at start-up (sockets, the spool, the user) cannot change
 * this way; a change there is logged as needing a restart.
 */
#include <string.h>

#include "server/auth_check.h"
#include "server/runtime.h"
#include "server/server.h"
#include "util/log.h"

static bool same_text(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static void warn_restart(const char *keyword, bool same)
{
	if (!same)
		log_warn("reload: '%s' changed; it takes effect at the next restart", keyword);
}

static void warn_start_up_settings(const struct config *old, const struct config *cfg)
{
	bool modes = old->listen.n == cfg->listen.n &&
		     memcmp(old->listen_mode, cfg->listen_mode,
			    cfg->listen.n * sizeof *cfg->listen_mode) == 0;
	warn_restart("listen", strlist_equal(&old->listen, &cfg->listen) && modes);
	warn_restart("spool", same_text(old->spool_dir, cfg->spool_dir));
	warn_restart("user", same_text(old->run_user, cfg->run_user));
	warn_restart("metrics-listen", same_text(old->metrics_listen, cfg->metrics_listen));
	warn_restart("dns-server", strlist_equal(&old->dns_servers, &cfg->dns_servers));
	warn_restart("delivery-workers", old->delivery_workers == cfg->delivery_workers);
	warn_restart("auth-max-failures", old->auth_max_failures == cfg->auth_max_failures);
	warn_restart("auth-failure-window", old->auth_failure_window == cfg->auth_failure_window);
	warn_restart("max-messages-per-client", old->max_msgs_per_client == cfg->max_msgs_per_client);
	warn_restart("message-rate-window", old->msg_rate_window == cfg->msg_rate_window);
}

static void log_refusal(const char *path, const struct buf *why)
{
	log_error("reload of %s refused; the running config stays", path);
	const char *p = why->p ? why->p : "";
	while (*p) {
		size_t n = strcspn(p, "\n");
		log_error("reload: %.*s", (int)n, p);
		p += n + (p[n] == '\n');
	}
}

/* The users of a new config: swapped in, or the checker made or dropped. */
static void set_users(struct server *srv, struct runtime *rt)
{
	if (!rt->users)
		server_drop_auth(srv);
	else if (srv->auth)
		auth_check_reload(srv->auth, rt->users);
	else
		srv->auth = auth_check_new(srv->base, rt->cfg, rt->users);
	rt->users = NULL;
}

void server_reload(struct server *srv)
{
	const char *path = srv->cfg->path;
	struct buf err = BUF_INIT;
	struct runtime rt;
	if (!runtime_load(path, &rt, &err)) {
		log_refusal(path, &err);
		buf_free(&err);
		return;
	}
	buf_free(&err);
	/* Nothing can fail from here on: the new config is taken whole. */
	struct config *cfg = rt.cfg;
	warn_start_up_settings(srv->cfg, cfg);
	/* Sessions took their own references to the old context at accept. */
	SSL_CTX_free(srv->tls);
	srv->tls = rt.tls;
	set_users(srv, &rt);
	log_set_level((enum log_level)cfg->log_level);
	log_set_json(cfg->log_json);
	if (srv->on_config)
		srv->on_config(srv->on_config_arg, cfg);
	config_free(srv->cfg);
	srv->cfg = cfg;
	log_info("reloaded %s", cfg->path);
}
