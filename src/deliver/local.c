/* local - the local delivery agent; see local.h. */
#include "deliver/local.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "deliver/maildir.h"
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

static ssize_t read_body(void *ctx, void *dst, size_t len, uint64_t off)
{
	const struct job *j = ctx;
	if (off >= j->body_len)
		return 0;
	if (len > j->body_len - off)
		len = (size_t)(j->body_len - off);
	return pread(j->body_fd, dst, len, (off_t)(j->body_off + off));
}

void local_run(void *arg)
{
	struct local_ctx *lc = arg;
	struct job *j = lc->job;
	for (size_t i = 0; i < j->n; i++) {
		struct job_rcpt *r = &j->r[i];
		if (!config_find_user(lc->cfg, r->user)) {
			/* Recipients were checked at RCPT time; this one came another
			 * way (a bounce, or the config changed since). */
			r->res = JOB_PERM;
			snprintf(r->status, sizeof r->status, "5.1.1");
			snprintf(r->text, sizeof r->text, "no such mailbox: %s", r->user);
			continue;
		}
		struct maildir_msg m = {
			.return_path = lc->sender, .delivered_to = lc->addrs.v[i],
			.size = j->body_len, .read = read_body, .read_ctx = j,
		};
		enum maildir_result res = maildir_deliver(lc->cfg->maildir_root, r->user,
							  lc->cfg->hostname, &m, r->text,
							  sizeof r->text);
		r->res = res == MAILDIR_OK ? JOB_OK : res == MAILDIR_PERMFAIL ? JOB_PERM : JOB_TEMP;
		memcpy(r->status, res == MAILDIR_OK ? "2.0.0" : res == MAILDIR_PERMFAIL ? "5.1.1"
								       : "4.2.0", 6);
		if (res == MAILDIR_OK)
			strcpy(r->text, "delivered to maildir");
	}
}
