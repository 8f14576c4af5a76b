/*
 * petrel - the one program: daemon and admin command.
 *
 *   petrel serve -c FILE          run the mail server in the foreground
 *   petrel check-config -c FILE   validate FILE; errors as file:line: reason
 *   petrel config [-a] -c FILE    the settings that differ from their defaults (-a: all)
 *   petrel queue / flush          the queue commands (control/admin.c); mailq
 *   petrel status                 the running daemon's figures (control/status.c)
 *   petrel passwd / sendmail      auth/passwd_cmd.c, submit/sendmail.c
 *   petrel help / version         also --help (or -h after any command), --version
 *
 * The synopses are in util/usage.c.
 */
#include <errno.h>
#include <event2/event.h>
#include <signal.h>
#include <sys/resource.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth/passwd.h"
#include "config/config.h"
#include "control/admin.h"
#include "control/control.h"
#include "control/metrics_http.h"
#include "control/status.h"
#include "schedule/scheduler.h"
#include "auth/ratelimit.h"
#include "queue/pickup.h"
#include "server/auth_check.h"
#include "server/privilege.h"
#include "server/runtime.h"
#include "server/sender_check.h"
#include "server/server.h"
#include "submit/sendmail.h"
#include "util/log.h"
#include "util/usage.h"
#include "version.h"


static int usage_error(const char *cmd)
{
	usage_print(cmd, stderr);
	return 2;
}

static void print_errors(struct buf *errs)
{
	fprintf(stderr, "%s", errs->p ? errs->p : "petrel: cannot load config\n");
	buf_free(errs);
}

/* The config and every file it names, as serve, check-config and a reload
 * load them; false after printing every error. */
static bool load(const char *path, struct runtime *rt)
{
	struct buf errs = BUF_INIT;
	if (runtime_load(path, rt, &errs)) {
		buf_free(&errs);
		return true;
	}
	print_errors(&errs);
	return false;
}

static int check_config(const char *path)
{
	struct runtime rt;
	if (!load(path, &rt))
		return 1;
	printf("%s: ok\n", path);
	runtime_free(&rt);
	return 0;
}

/* `petrel config`: the file as read, without the secrets serve also loads. */
static int show_config(const char *path, bool all)
{
	struct buf errs = BUF_INIT;
	struct config *cfg = config_load(path, &errs);
	if (!cfg) {
		print_errors(&errs);
		return 1;
	}
	buf_free(&errs);
	config_print(cfg, all, stdout);
	config_free(cfg);
	return 0;
}

static void on_log_flush(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	log_flush();
}

/* Activated by the first log line of a loop turn; it runs after the
 * callbacks already active, so a busy turn's lines go out in one write
 * instead of one each (4 % of the loop thread's time in the accept
 * benchmark). */
static void arm_log_flush(void *ev)
{
	event_active(ev, EV_TIMEOUT, 0);
}

static void on_spool(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	spool_dispatch(arg);
}

/* Everything serve() sets up, so that one teardown serves every exit. */
struct daemon {
	struct server srv;
	struct passwd_db *users;  /* loaded with the config; AUTH takes it over */
	struct scheduler *sched;
	struct pickup *pickup;    /* the maildrop importer */
	struct event *spool_ev;
	struct event *log_ev;
	struct event *sigs[3];
	struct control *ctl;
	struct metrics_http *metrics;
};

/* Once stopping: exit the loop when no session and no delivery is left. */
static void on_drain(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct daemon *dm = arg;
	if (dm->srv.nconns == 0 && scheduler_idle(dm->sched))
		event_base_loopbreak(dm->srv.base);
}

/* The server's reload hook: what decides and delivers takes the new config. */
static void on_config(void *arg, const struct config *cfg)
{
	struct daemon *dm = arg;
	scheduler_set_config(dm->sched, cfg);
	pickup_set_config(dm->pickup, cfg);
}

static void on_stop_signal(evutil_socket_t sig, short what, void *arg)
{
	(void)what;
	struct server *srv = arg;
	if (srv->stopping) {
		/* A second signal: stop now, cutting off messages still arriving. */
		log_info("signal %d again: stopping at once", (int)sig);
		event_base_loopbreak(srv->base);
		return;
	}
	log_info("signal %d: stopping", (int)sig);
	server_stop(srv);
	struct timeval tick = {0, 50000};
	event_add(srv->drain, &tick);
	/* Bound the wait: sessions in the middle of a message get this long. */
	struct timeval bound = {srv->cfg->shutdown_timeout, 0};
	event_base_loopexit(srv->base, &bound);
}

static void on_hup(evutil_socket_t sig, short what, void *arg)
{
	(void)sig;
	(void)what;
	struct server *srv = arg;
	if (!srv->stopping)
		server_reload(srv);
}

/* What needs root: the directories handed to the run user and the sockets
 * (the key and passwd files were read with the config). Then root is given
 * up, before any network input. */
static bool start_privileged(struct server *srv)
{
	struct privilege priv;
	return privilege_prepare(srv->cfg, &priv) && server_listen(srv) && privilege_drop(&priv);
}

/* epoll with a change list: the enable/disable pairs a busy connection makes
 * within one loop turn cost one epoll_ctl instead of several. (Its caveat,
 * dup()ed descriptors in one base, does not arise: Petrel never dups.) */
static struct event_base *new_base(void)
{
	struct event_config *ec = event_config_new();
	if (!ec)
		return NULL;
	event_config_set_flag(ec, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
	struct event_base *base = event_base_new_with_config(ec);
	event_config_free(ec);
	return base;
}

/* Every session is a descriptor, two while a big message arrives (its
 * draft's file, queue/draft.h): take all the system allows. */
static void raise_fd_limit(const struct config *cfg)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return;
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
		getrlimit(RLIMIT_NOFILE, &rl);
	/* Beyond sessions: listeners, spool files, deliveries, DNS, logs. */
	rlim_t want = 2 * (rlim_t)cfg->max_connections + cfg->max_outbound + 64;
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < want)
		log_warn("descriptor limit %llu is below what max-connections %u needs (%llu); "
			 "raise it (LimitNOFILE=, ulimit -n)", (unsigned long long)rl.rlim_cur,
			 cfg->max_connections, (unsigned long long)want);
}

static struct event *add_signal(struct server *srv, int sig, event_callback_fn fn)
{
	struct event *ev = evsignal_new(srv->base, sig, fn, srv);
	event_add(ev, NULL);
	return ev;
}

/* Everything up to the event loop; false (logged) on the first failure. */
static bool start(struct daemon *dm)
{
	struct server *srv = &dm->srv;
	const struct config *cfg = srv->cfg;
	raise_fd_limit(cfg);
	if (!(srv->base = new_base()) || !start_privileged(srv))
		return false;
	if (dm->users)
		srv->auth = auth_check_new(srv->base, cfg, dm->users);
	dm->users = NULL;
	srv->msg_rate = ratelimit_new(cfg->max_msgs_per_client, cfg->msg_rate_window);
	if (!(srv->spool = spool_open(cfg->spool_dir))) {
		log_error("spool %s: %s", cfg->spool_dir, strerror(errno));
		return false;
	}
	if (!(dm->sched = scheduler_new(srv->base, srv->spool, cfg)) ||
	    !(srv->senders = sender_check_new(srv->base, &cfg->dns_servers)))
		return false;
	/* Mail flows one way: the spool announces, the scheduler decides. */
	spool_set_listener(srv->spool, scheduler_on_durable, dm->sched);
	dm->spool_ev = event_new(srv->base, spool_notify_fd(srv->spool), EV_READ | EV_PERSIST,
				 on_spool, srv->spool);
	event_add(dm->spool_ev, NULL);
	dm->sigs[0] = add_signal(srv, SIGTERM, on_stop_signal);
	dm->sigs[1] = add_signal(srv, SIGINT, on_stop_signal);
	dm->sigs[2] = add_signal(srv, SIGHUP, on_hup);
	srv->drain = event_new(srv->base, -1, EV_PERSIST, on_drain, dm);
	srv->on_config = on_config;
	srv->on_config_arg = dm;
	return (dm->pickup = pickup_start(srv->base, srv->spool, cfg, NULL, NULL)) &&
	       (dm->ctl = control_start(srv->base, srv->spool, dm->sched, dm->pickup, cfg)) &&
	       (!cfg->metrics_listen ||
		(dm->metrics = metrics_http_start(srv->base, cfg, srv->spool)));
}

static void teardown(struct daemon *dm)
{
	struct server *srv = &dm->srv;
	control_stop(dm->ctl);
	metrics_http_stop(dm->metrics);
	pickup_stop(dm->pickup);
	server_stop(srv);
	server_unlisten(srv);
	/* Order matters: finished deliveries record their outcomes, the spool
	 * then runs every pending callback (sessions included), and only then
	 * can the connections go. */
	/* Credential checks still running finish now, while their sessions
	 * exist (and, with srv->auth gone, cannot start another). */
	server_drop_auth(srv);
	if (dm->sched)
		scheduler_stop(dm->sched);
	spool_close(srv->spool);
	conn_free_all(srv);
	sender_check_free(srv->senders);
	scheduler_free(dm->sched);
	ratelimit_free(srv->msg_rate);
	SSL_CTX_free(srv->tls);
	passwd_free(dm->users);
	struct event *evs[] = {srv->drain, dm->spool_ev, dm->log_ev, dm->sigs[0], dm->sigs[1],
			       dm->sigs[2]};
	for (size_t i = 0; i < sizeof evs / sizeof evs[0]; i++)
		if (evs[i])
			event_free(evs[i]);
	if (srv->base)
		event_base_free(srv->base);
	config_free(srv->cfg);
}

static int serve(const char *path)
{
	struct runtime rt;
	if (!load(path, &rt))
		return 1;
	log_set_level((enum log_level)rt.cfg->log_level);
	log_set_json(rt.cfg->log_json);
	signal(SIGPIPE, SIG_IGN);
	struct daemon dm = {.srv = {.cfg = rt.cfg, .tls = rt.tls}, .users = rt.users};
	bool ok = start(&dm);
	if (ok) {
		log_info("petrel started: %zu queued message(s) recovered",
			 spool_count(dm.srv.spool));
		scheduler_start(dm.sched);
		dm.log_ev = event_new(dm.srv.base, -1, 0, on_log_flush, NULL);
		if (dm.log_ev)
			log_defer(arm_log_flush, dm.log_ev);
		event_base_dispatch(dm.srv.base);
		log_defer(NULL, NULL);
	}
	teardown(&dm);
	log_info(ok ? "petrel stopped" : "petrel not started");
	return ok ? 0 : 1;
}

/* --help or -h among a command's arguments (up to a "--"). */
static bool wants_help(int argc, char **argv)
{
	for (int i = 0; i < argc && strcmp(argv[i], "--") != 0; i++)
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
			return true;
	return false;
}

static int help(const char *cmd)
{
	if (cmd && !usage_known(cmd))
		return usage_error(NULL);
	usage_print(cmd, stdout);
	return 0;
}

/* serve, check-config and config: -c FILE, and -a for config. */
static int config_command(const char *cmd, int argc, char **argv)
{
	const char *path = config_default_path();
	bool all = false;
	int opt;
	opterr = 0;
	optind = 1;
	while ((opt = getopt(argc, argv, "ac:")) != -1) {
		if (opt == 'c')
			path = optarg;
		else if (opt == 'a' && strcmp(cmd, "config") == 0)
			all = true;
		else
			return usage_error(cmd);
	}
	if (optind != argc)
		return usage_error(cmd);
	if (strcmp(cmd, "serve") == 0)
		return serve(path);
	if (strcmp(cmd, "check-config") == 0)
		return check_config(path);
	return show_config(path, all);
}

/* argv[0] is the command's name. */
static int command(const char *cmd, int argc, char **argv)
{
	if (wants_help(argc - 1, argv + 1))
		return help(cmd);
	if (strcmp(cmd, "queue") == 0 || strcmp(cmd, "flush") == 0 || strcmp(cmd, "mailq") == 0)
		return admin_main(cmd, argc - 1, argv + 1);
	if (strcmp(cmd, "sendmail") == 0)
		return sendmail_main(argc, argv);
	if (strcmp(cmd, "status") == 0)
		return status_main(argc, argv);
	if (strcmp(cmd, "passwd") == 0)
		return passwd_main(argc, argv);
	if (strcmp(cmd, "help") == 0 && argc <= 2)
		return help(argc == 2 ? argv[1] : NULL);
	if (strcmp(cmd, "version") == 0 && argc == 1) {
		printf("petrel %s\n", PETREL_VERSION);
		return 0;
	}
	if (strcmp(cmd, "serve") == 0 || strcmp(cmd, "check-config") == 0 ||
	    strcmp(cmd, "config") == 0)
		return config_command(cmd, argc, argv);
	if (!usage_known(cmd)) {
		fprintf(stderr, "petrel: unknown command '%s'\n", cmd);
		cmd = NULL;
	}
	return usage_error(cmd);
}

int main(int argc, char **argv)
{
	const char *prog = argc > 0 ? strrchr(argv[0], '/') : NULL;
	prog = argc > 0 ? (prog ? prog + 1 : argv[0]) : "petrel";
	/* Installed links: mailq and sendmail behave as their namesakes. */
	if (strcmp(prog, "mailq") == 0 || strcmp(prog, "sendmail") == 0)
		return command(prog, argc, argv);
	if (argc < 2)
		return usage_error(NULL);
	const char *cmd = argv[1];
	if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0)
		cmd = "help";
	else if (strcmp(cmd, "--version") == 0)
		cmd = "version";
	return command(cmd, argc - 1, argv + 1);
}
