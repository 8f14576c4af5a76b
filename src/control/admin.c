/* admin - queue commands on the command line; see admin.h. */
#include "control/admin.h"

#include <ctype.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "config/config.h"
#include "control/control.h"
#include "control/queue_view.h"
#include "control/status.h"
#include "queue/spool.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/usage.h"

/* The daemon answers within CONTROL_WAIT_MAX; this leaves room for a busy loop. */
#define ANSWER_TIMEOUT (CONTROL_WAIT_MAX + 20)
#define ID_ARG_MAX 64

struct request {
	const char *verb;        /* control protocol verb, see control.h */
	char id[ID_ARG_MAX];     /* upper-cased argument, "" when none */
	bool has_id;
};

static int usage(const char *cmd)
{
	usage_print(cmd, stderr);
	return 2;
}

/* Splits the arguments into -c FILE, --count and at most two words. */
static bool split_args(int argc, char **argv, const char **path, bool *count,
		       const char *words[2], size_t *nw)
{
	*nw = 0;
	*count = false;
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "-c") == 0) {
			if (++i >= argc)
				return false;
			*path = argv[i];
		} else if (strncmp(argv[i], "-c", 2) == 0) {
			*path = argv[i] + 2;
		} else if (strcmp(argv[i], "--count") == 0) {
			*count = true;
		} else if (argv[i][0] == '-' || *nw == 2) {
			return false;
		} else {
			words[(*nw)++] = argv[i];
		}
	}
	return true;
}

static bool parse(const char *cmd, int argc, char **argv, const char **path, struct request *rq)
{
	static const char *const with_id[] = {"show", "delete", "hold", "release"};
	const char *words[2];
	size_t nw;
	bool count;
	if (!split_args(argc, argv, path, &count, words, &nw))
		return false;
	*rq = (struct request){0};
	if (count) {
		/* The summary only: a queue too long to list. */
		rq->verb = "count";
		return strcmp(cmd, "queue") == 0 && nw == 0;
	}
	if (strcmp(cmd, "flush") == 0)
		rq->verb = "flush";
	else if (strcmp(cmd, "mailq") == 0 || strcmp(cmd, "queue") == 0)
		rq->verb = "list";
	else if (strcmp(cmd, "status") == 0)
		rq->verb = "status";
	else
		return false;
	if (nw == 0)
		return true;
	if (strcmp(cmd, "queue") != 0 || nw != 2)
		return false;
	for (size_t i = 0; i < sizeof with_id / sizeof with_id[0]; i++) {
		if (strcmp(words[0], with_id[i]) == 0)
			rq->verb = with_id[i];
	}
	if (strcmp(rq->verb, "list") == 0)
		return false;
	/* IDs are upper-case base32; accept what a person may type. */
	size_t j = 0;
	for (const char *s = words[1]; *s && j + 1 < sizeof rq->id; s++)
		rq->id[j++] = (char)toupper((unsigned char)*s);
	rq->has_id = true;
	return true;
}

static void print_safe(FILE *f, const char *s)
{
	struct buf b = BUF_INIT;
	queue_view_safe(&b, s, strlen(s));
	fwrite(b.p, 1, b.len, f);
	buf_free(&b);
}

static int no_such_message(const struct request *rq)
{
	fputs("petrel: no such message: ", stderr);
	print_safe(stderr, rq->id);
	fputc('\n', stderr);
	return 1;
}

/* Returns a connected descriptor, or -1 with errno (ECONNREFUSED or ENOENT
 * mean that no daemon is there). */
static int connect_daemon(const char *sockpath)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(sa.sun_path, sizeof sa.sun_path, "%s", sockpath);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	struct timeval tmo = {ANSWER_TIMEOUT, 0};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tmo, sizeof tmo);
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tmo, sizeof tmo);
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
		int err = errno;
		close(fd);
		errno = err;
		return -1;
	}
	return fd;
}

static bool send_request(int fd, const struct request *rq)
{
	char line[CONTROL_LINE_MAX];
	int n = snprintf(line, sizeof line, "%s%s%s\n", rq->verb, rq->has_id ? " " : "", rq->id);
	if (n < 0 || (size_t)n >= sizeof line)
		return false;
	for (size_t off = 0; off < (size_t)n;) {
		ssize_t w = send(fd, line + off, (size_t)n - off, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return false;
		off += (size_t)w;
	}
	return true;
}

/* Copies the daemon's answer: the text after "ok" to stdout, or the reason
 * after "error: " to stderr. */
static int remote(int fd, const struct request *rq)
{
	FILE *f = fdopen(fd, "r");
	if (!f) {
		close(fd);
		return 1;
	}
	char first[CONTROL_LINE_MAX + 2];
	errno = 0;
	if (!send_request(fd, rq) || !fgets(first, sizeof first, f)) {
		fprintf(stderr, "petrel: no answer from the daemon: %s\n",
			errno ? strerror(errno) : "connection closed");
		fclose(f);
		return 1;
	}
	first[strcspn(first, "\n")] = '\0';
	int rc = strcmp(first, "ok") == 0 ? 0 : 1;
	if (rc) {
		fputs("petrel: ", stderr);
		print_safe(stderr, strncmp(first, "error: ", 7) == 0 ? first + 7 : first);
		fputc('\n', stderr);
	}
	char chunk[4096];
	size_t n;
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
		fwrite(chunk, 1, n, rc ? stderr : stdout);
	if (ferror(f)) {
		fprintf(stderr, "petrel: reading the daemon's answer: %s\n", strerror(errno));
		rc = 1;
	}
	fclose(f);
	return rc;
}

/* Completion bookkeeping for the records this command writes. */
struct waiter {
	unsigned pending;
	int err;
};

static void on_done(void *arg, int err)
{
	struct waiter *w = arg;
	w->pending--;
	if (err && !w->err)
		w->err = err;
}

static int wait_durable(struct spool *sp, struct waiter *w)
{
	while (w->pending) {
		struct pollfd p = {.fd = spool_notify_fd(sp), .events = POLLIN};
		int r = poll(&p, 1, ANSWER_TIMEOUT * 1000);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return r == 0 ? ETIMEDOUT : errno;
		spool_dispatch(sp);
	}
	return w->err;
}

static void print_buf(struct buf *b)
{
	fwrite(b->p, 1, b->len, stdout);
	buf_free(b);
}

/* Acts on the spool directly. The caller closes the spool after this,
 * which also runs any callback still pending, so w must outlive it. */
static int act_offline(struct spool *sp, const struct request *rq, struct waiter *w)
{
	struct buf b = BUF_INIT;
	if (strcmp(rq->verb, "list") == 0 || strcmp(rq->verb, "count") == 0) {
		if (strcmp(rq->verb, "list") == 0)
			queue_view_list(&b, sp, time(NULL));
		else
			queue_view_count(&b, sp, time(NULL));
		print_buf(&b);
		return 0;
	}
	struct spool_msg *m = spool_find(sp, rq->id);
	if (!m)
		return no_such_message(rq);
	if (strcmp(rq->verb, "show") == 0) {
		queue_view_show(&b, sp, m, time(NULL), NULL, NULL);
		print_buf(&b);
		return 0;
	}
	const char *done = "deleted";
	if (strcmp(rq->verb, "delete") == 0) {
		/* m may be freed by the last callback: nothing touches it after. */
		for (size_t i = 0; i < m->nrcpt; i++) {
			const struct spool_rcpt *rc = &m->rcpt[i];
			if (rc->state != RCPT_PENDING)
				continue;
			w->pending++;
			spool_update_rcpt(sp, m, i, RCPT_DELETED, rc->attempts, 0,
					  "deleted by the administrator", rc->warned, on_done, w);
		}
	} else {
		bool hold = strcmp(rq->verb, "hold") == 0;
		done = hold ? "held" : "released";
		w->pending++;
		spool_set_held(sp, m, hold, on_done, w);
	}
	int err = wait_durable(sp, w);
	if (err) {
		fprintf(stderr, "petrel: %s: could not record the change: %s\n", rq->id,
			strerror(err));
		return 1;
	}
	printf("%s: %s\n", rq->id, done);
	return 0;
}

static int offline(const struct config *cfg, const struct request *rq, const char *sockpath)
{
	bool list = strcmp(rq->verb, "list") == 0 || strcmp(rq->verb, "count") == 0;
	if (strcmp(rq->verb, "status") == 0)
		return status_not_running(sockpath);
	if (strcmp(rq->verb, "flush") == 0) {
		puts("the daemon is not running; messages will be tried when it starts");
		return 0;
	}
	struct stat st;
	if (stat(cfg->spool_dir, &st) < 0 && errno == ENOENT) {
		/* Never used: nothing queued, and no reason to create it here. */
		if (list)
			puts("Mail queue is empty");
		return list ? 0 : no_such_message(rq);
	}
	struct spool *sp = spool_open(cfg->spool_dir);
	if (!sp && errno == EWOULDBLOCK) {
		/* A daemon took the lock after our connect failed: ask it. */
		int fd = connect_daemon(sockpath);
		if (fd >= 0)
			return remote(fd, rq);
		fprintf(stderr, "petrel: the spool %s is in use, but nothing answers on %s\n",
			cfg->spool_dir, sockpath);
		return 1;
	}
	if (!sp) {
		fprintf(stderr, "petrel: spool %s: %s\n", cfg->spool_dir, strerror(errno));
		return 1;
	}
	struct waiter w = {0};
	int rc = act_offline(sp, rq, &w);
	spool_close(sp);
	return rc;
}

static int run(const struct config *cfg, const struct request *rq)
{
	char sockpath[sizeof(((struct sockaddr_un *)0)->sun_path)];
	if (!control_socket_path(cfg->spool_dir, sockpath, sizeof sockpath)) {
		fprintf(stderr, "petrel: spool path too long for a control socket: %s\n",
			cfg->spool_dir);
		return 1;
	}
	/* Settled here, so neither path sees anything but a well-formed ID. */
	if (rq->has_id && !queue_id_valid(rq->id))
		return no_such_message(rq);
	int fd = connect_daemon(sockpath);
	if (fd >= 0)
		return remote(fd, rq);
	if (errno == ECONNREFUSED || errno == ENOENT)
		return offline(cfg, rq, sockpath);
	fprintf(stderr, "petrel: cannot reach the daemon on %s: %s\n", sockpath, strerror(errno));
	return 1;
}

int admin_main(const char *cmd, int argc, char **argv)
{
	const char *path = config_default_path();
	struct request rq;
	if (!parse(cmd, argc, argv, &path, &rq))
		return usage(cmd);
	/* Recovery notes are the daemon's business; warnings still show. */
	log_set_level(LOG_LVL_WARN);
	struct buf errs = BUF_INIT;
	struct config *cfg = config_load(path, &errs);
	if (!cfg) {
		fprintf(stderr, "%s", errs.p ? errs.p : "petrel: cannot load the config\n");
		buf_free(&errs);
		return 1;
	}
	buf_free(&errs);
	int rc = run(cfg, &rq);
	config_free(cfg);
	return rc;
}
