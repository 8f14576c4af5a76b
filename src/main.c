/*
 * petrel - the one program: daemon and admin command.
 *
 *   petrel serve -c FILE          run the mail server in the foreground
 *   petrel check-config -c FILE   validate FILE; errors as file:line: reason
 *   petrel queue / flush          the queue commands (control/admin.c); mailq
 */
#include <errno.h>
#include <event2/event.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth/passwd.h"
#include "config/config.h"
#include "control/admin.h"
#include "control/control.h"
#include "schedule/scheduler.h"
#include "auth/ratelimit.h"
#include "queue/pickup.h"
#include "server/auth_check.h"
#include "server/server.h"
#include "server/tls.h"
#include "submit/sendmail.h"
#include "util/log.h"

#define DEFAULT_CONFIG "/etc/petrel/petrel.conf"

static int usage(void)
{
	fputs("usage: petrel serve [-c FILE]\n"
	      "       petrel check-config [-c FILE]\n"
	      "       petrel queue [show|delete|hold|release ID] [-c FILE]   (also: mailq)\n"
	      "       petrel flush [-c FILE]\n"
	      "       petrel passwd [-d] USER [-c FILE]\n"
	      "       petrel sendmail [-t] [-i] [-f SENDER] [-F NAME] [RCPT...]   (also: sendmail)\n",
	      stderr);
	return 2;
}

static struct config *load(const char *path)
{
	struct buf errs = BUF_INIT;
	struct config *cfg = config_load(path, &errs);
	if (!cfg)
		fprintf(stderr, "%s", errs.p ? errs.p : "petrel: cannot load config\n");
	buf_free(&errs);
	return cfg;
}

static void pickup_queued(void *arg, const char *id)
{
	scheduler_enqueue(arg, id);
}

static void on_spool(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	spool_dispatch(arg);
}

/* Once stopping: exit the loop when no session and no delivery is left. */
static void on_drain(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct server *srv = arg;
	if (srv->nconns == 0 && scheduler_idle(srv->sched))
		event_base_loopbreak(srv->base);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	(void)what;
	struct server *srv = arg;
	log_info("signal %d: stopping", (int)sig);
	server_stop(srv);
	struct timeval tick = {0, 50000};
	event_add(srv->drain, &tick);
	/* Bound the wait: sessions in the middle of DATA get 10 seconds. */
	struct timeval bound = {10, 0};
	event_base_loopexit(srv->base, &bound);
}

/* TLS and AUTH, when configured; false (logged) if the files are unusable. */
static bool setup_tls_and_auth(struct server *srv)
{
	const struct config *cfg = srv->cfg;
	struct buf err = BUF_INIT;
	if (cfg->tls_cert && !(srv->tls = tls_server_context(cfg->tls_cert, cfg->tls_key, &err)))
		log_error("%s", err.p);
	else if (cfg->passwd_file && !(srv->auth = auth_check_new(srv->base, cfg, &err)))
		log_error("%s", err.p);
	bool ok = err.len == 0;
	buf_free(&err);
	srv->msg_rate = ratelimit_new(cfg->max_msgs_per_client, cfg->msg_rate_window);
	for (int m = LISTEN_SMTP; m <= LISTEN_SUBMISSIONS; m++)
		server_limits(srv, (enum listen_mode)m, &srv->lim[m]);
	return ok;
}

static int serve(const char *path)
{
	struct config *cfg = load(path);
	if (!cfg)
		return 1;
	log_set_level((enum log_level)cfg->log_level);
	signal(SIGPIPE, SIG_IGN);
	struct server srv = {.cfg = cfg};
	srv.spool = spool_open(cfg->spool_dir);
	if (!srv.spool) {
		log_error("spool %s: %s", cfg->spool_dir, strerror(errno));
		return 1;
	}
	srv.base = event_base_new();
	srv.sched = scheduler_new(srv.base, srv.spool, cfg);
	if (!srv.base || !srv.sched || !setup_tls_and_auth(&srv) || !server_listen(&srv))
		return 1;
	struct event *spool_ev = event_new(srv.base, spool_notify_fd(srv.spool),
					   EV_READ | EV_PERSIST, on_spool, srv.spool);
	event_add(spool_ev, NULL);
	struct event *sigterm = evsignal_new(srv.base, SIGTERM, on_signal, &srv);
	struct event *sigint = evsignal_new(srv.base, SIGINT, on_signal, &srv);
	event_add(sigterm, NULL);
	event_add(sigint, NULL);
	struct control *ctl = control_start(srv.base, srv.spool, srv.sched, cfg);
	if (!ctl)
		return 1;
	struct pickup *pk = pickup_start(srv.base, srv.spool, cfg, pickup_queued, srv.sched);
	if (!pk)
		return 1;
	log_info("petrel started: %zu queued message(s) recovered", spool_count(srv.spool));
	scheduler_start(srv.sched);
	srv.drain = event_new(srv.base, -1, EV_PERSIST, on_drain, &srv);
	event_base_dispatch(srv.base);
	control_stop(ctl);
	pickup_stop(pk);
	server_stop(&srv);
	/* Order matters: finished deliveries record their outcomes, the spool
	 * then runs every pending callback (sessions included), and only then
	 * can the connections go. */
	scheduler_stop(srv.sched);
	spool_close(srv.spool);
	conn_free_all(&srv);
	scheduler_free(srv.sched);
	auth_check_free(srv.auth);
	ratelimit_free(srv.msg_rate);
	SSL_CTX_free(srv.tls);
	event_free(srv.drain);
	event_free(spool_ev);
	event_free(sigterm);
	event_free(sigint);
	event_base_free(srv.base);
	config_free(cfg);
	log_info("petrel stopped");
	return 0;
}

int main(int argc, char **argv)
{
	const char *prog = argc > 0 ? strrchr(argv[0], '/') : NULL;
	prog = argc > 0 ? (prog ? prog + 1 : argv[0]) : "petrel";
	/* Installed links: mailq and sendmail behave as their namesakes. */
	if (strcmp(prog, "mailq") == 0)
		return admin_main("mailq", argc - 1, argv + 1);
	if (strcmp(prog, "sendmail") == 0)
		return sendmail_main(argc, argv);
	if (argc < 2)
		return usage();
	const char *cmd = argv[1];
	if (strcmp(cmd, "queue") == 0 || strcmp(cmd, "flush") == 0)
		return admin_main(cmd, argc - 2, argv + 2);
	if (strcmp(cmd, "sendmail") == 0)
		return sendmail_main(argc - 1, argv + 1);
	if (strcmp(cmd, "passwd") == 0)
		return passwd_main(argc - 1, argv + 1);
	const char *path = DEFAULT_CONFIG;
	int opt;
	optind = 2;
	while ((opt = getopt(argc, argv, "c:")) != -1) {
		if (opt != 'c')
			return usage();
		path = optarg;
	}
	if (strcmp(cmd, "serve") == 0)
		return serve(path);
	if (strcmp(cmd, "check-config") == 0) {
		struct config *cfg = load(path);
		if (!cfg)
			return 1;
		printf("%s: ok\n", path);
		config_free(cfg);
		return 0;
	}
	return usage();
}
