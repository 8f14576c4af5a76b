/* local - the local delivery agent; see local.h. */
#include "deliver/local.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "util/buf.h"

char *local_mailbox_of(const struct config *cfg, const char *addr)
{
	const char *at = strrchr(addr, '@');
	if (!at || !config_is_local_domain(cfg, at + 1))
		return NULL;
	char *user = xstrndup(addr, (size_t)(at - addr));
	for (char *p = user; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	return user;
}

struct local_job *local_job_new(struct spool *sp, struct spool_msg *msg, const struct config *cfg)
{
	uint64_t off;
	int fd = spool_body_fd(sp, msg, &off);
	if (fd < 0)
		return NULL;
	struct local_job *j = xcalloc(1, sizeof *j);
	j->msg = msg;
	j->body_fd = fd;
	j->body_off = off;
	j->body_len = msg->body_len;
	j->cfg = cfg;
	memcpy(j->id, msg->id, sizeof j->id);
	j->sender = xstrdup(msg->sender);
	return j;
}

void local_job_add(struct local_job *j, size_t rcpt, const char *user)
{
	j->r = xrealloc(j->r, (j->n + 1) * sizeof *j->r);
	j->r[j->n] = (struct local_result){
		.rcpt = rcpt, .addr = xstrdup(j->msg->rcpt[rcpt].addr), .user = xstrdup(user)};
	j->n++;
}

static ssize_t read_body(void *ctx, void *dst, size_t len, uint64_t off)
{
	struct local_job *j = ctx;
	if (off >= j->body_len)
		return 0;
	if (len > j->body_len - off)
		len = (size_t)(j->body_len - off);
	return pread(j->body_fd, dst, len, (off_t)(j->body_off + off));
}

void local_job_run(void *arg)
{
	struct local_job *j = arg;
	for (size_t i = 0; i < j->n; i++) {
		struct local_result *r = &j->r[i];
		struct maildir_msg m = {
			.return_path = j->sender, .delivered_to = r->addr,
			.size = j->body_len, .read = read_body, .read_ctx = j,
		};
		r->res = maildir_deliver(j->cfg->maildir_root, r->user, j->cfg->hostname, &m,
					 r->err, sizeof r->err);
	}
}

void local_job_free(struct local_job *j)
{
	for (size_t i = 0; i < j->n; i++) {
		free(j->r[i].addr);
		free(j->r[i].user);
	}
	free(j->r);
	free(j->sender);
	close(j->body_fd);
	free(j);
}
