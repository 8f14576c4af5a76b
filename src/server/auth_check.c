/* auth_check - checking AUTH credentials off the loop thread; see auth_check.h. */
#include "server/auth_check.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth/passwd.h"
#include "auth/ratelimit.h"
#include "util/workq.h"

/* The users as of one load of the passwd file. A reload swaps in a new one;
 * checks under way keep theirs. Counted in the loop thread only. */
struct users {
	struct passwd_db *db;
	unsigned refs;
};

struct auth_check {
	struct users *users;
	struct ratelimit *rl;
	struct workq *wq;
	struct event *wq_ev;
};

struct auth_job {
	struct auth_check *ac;
	struct users *users;
	char *client;
	char *user;
	char *pass;
	bool ok;
	auth_done_fn done;
	void *arg;
};

static void on_workq(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct auth_check *ac = arg;
	workq_dispatch(ac->wq);
}

static struct users *users_new(struct passwd_db *db)
{
	struct users *u = xcalloc(1, sizeof *u);
	*u = (struct users){db, 1};
	return u;
}

static void users_release(struct users *u)
{
	if (--u->refs == 0) {
		passwd_free(u->db);
		free(u);
	}
}

struct auth_check *auth_check_new(struct event_base *base, const struct config *cfg,
				  struct passwd_db *db)
{
	struct auth_check *ac = xcalloc(1, sizeof *ac);
	ac->users = users_new(db);
	ac->rl = ratelimit_new(cfg->auth_max_failures, cfg->auth_failure_window);
	ac->wq = workq_new(2);
	ac->wq_ev = event_new(base, workq_notify_fd(ac->wq), EV_READ | EV_PERSIST, on_workq, ac);
	event_add(ac->wq_ev, NULL);
	return ac;
}

void auth_check_free(struct auth_check *ac)
{
	if (!ac)
		return;
	workq_free(ac->wq);
	event_free(ac->wq_ev);
	ratelimit_free(ac->rl);
	users_release(ac->users);
	free(ac);
}

void auth_check_reload(struct auth_check *ac, struct passwd_db *db)
{
	users_release(ac->users);
	ac->users = users_new(db);
}

static void free_job(struct auth_job *j)
{
	users_release(j->users);
	explicit_bzero(j->pass, strlen(j->pass));
	free(j->pass);
	free(j->user);
	free(j->client);
	free(j);
}

/* Worker thread: the slow hash. */
static void verify(void *arg)
{
	struct auth_job *j = arg;
	j->ok = passwd_verify(j->users->db, j->user, j->pass);
}

static void verified(void *arg)
{
	struct auth_job *j = arg;
	if (!j->ok)
		ratelimit_fail(j->ac->rl, j->client, time(NULL));
	j->done(j->arg, j->ok ? AUTH_OK : AUTH_FAILED);
	free_job(j);
}

/* A blocked client is answered on the next loop turn, as if checked. */
static void blocked(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct auth_job *j = arg;
	j->done(j->arg, AUTH_BLOCKED);
	free_job(j);
}

void auth_check_start(struct auth_check *ac, const char *client, const char *user,
		      const char *pass, auth_done_fn done, void *arg)
{
	struct auth_job *j = xcalloc(1, sizeof *j);
	*j = (struct auth_job){ac, ac->users, xstrdup(client), xstrdup(user), xstrdup(pass), false,
			       done, arg};
	ac->users->refs++;
	if (ratelimit_blocked(ac->rl, client, time(NULL))) {
		struct timeval now = {0, 0};
		event_base_once(event_get_base(ac->wq_ev), -1, EV_TIMEOUT, blocked, j, &now);
		return;
	}
	workq_submit(ac->wq, verify, verified, j);
}
