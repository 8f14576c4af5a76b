/* job - one delivery attempt; see job.h. */
#include "deliver/job.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/buf.h"

static char *dup_or_null(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

struct job *job_new(struct spool *sp, const struct spool_msg *msg)
{
	struct spool_body body;
	if (spool_body_open(sp, msg, &body) < 0)
		return NULL;
	struct job *j = xcalloc(1, sizeof *j);
	memcpy(j->id, msg->id, sizeof j->id);
	j->sender = xstrdup(msg->sender);
	j->envid = dup_or_null(msg->envid);
	j->ret = msg->ret;
	j->flags = msg->flags;
	j->sp = sp;
	j->body = body;
	return j;
}

void job_add(struct job *j, const struct spool_msg *msg, size_t rcpt, const char *user)
{
	const struct spool_rcpt *rc = &msg->rcpt[rcpt];
	j->r = xrealloc(j->r, (j->n + 1) * sizeof *j->r);
	j->r[j->n] = (struct job_rcpt){.rcpt = rcpt, .user = dup_or_null(user), .res = JOB_TEMP};
	rcpt_copy(&j->r[j->n].to, &rc->to);
	j->n++;
}

void job_set_all(struct job *j, enum job_result res, const char *status, const char *text)
{
	for (size_t i = 0; i < j->n; i++) {
		j->r[i].res = res;
		j->r[i].remote = false;
		snprintf(j->r[i].status, sizeof j->r[i].status, "%s", status);
		snprintf(j->r[i].text, sizeof j->r[i].text, "%s", text);
	}
}

/* "550 5.1.1 text" -> "5.1.1" when the code's class matches (RFC 3463 2). */
static bool enhanced_code(const char *text, int cls, char *out, size_t outsz)
{
	const char *p = text;
	if (strlen(p) < 4 || p[3] != ' ')
		return false;
	p += 4;
	size_t n = strspn(p, "0123456789.");
	if (n < 5 || n > 11 || p[0] - '0' != cls || p[1] != '.')
		return false;
	snprintf(out, outsz, "%.*s", (int)n, p);
	return true;
}

void job_set_reply(struct job_rcpt *r, int code, const char *text, bool remote)
{
	r->remote = remote && code != 0;
	if (code == 0) {
		/* No answer for this one: the connection broke or timed out. */
		r->res = JOB_TEMP;
		snprintf(r->status, sizeof r->status, "4.4.2");
		snprintf(r->text, sizeof r->text, "%s", text);
		return;
	}
	int cls = code / 100;
	r->res = cls == 2 ? JOB_OK : cls == 5 ? JOB_PERM : JOB_TEMP;
	snprintf(r->text, sizeof r->text, "%s", text);
	if (!enhanced_code(text, cls, r->status, sizeof r->status))
		snprintf(r->status, sizeof r->status, "%d.0.0", cls == 2 || cls == 5 ? cls : 4);
}

ssize_t job_read_body(const struct job *j, void *dst, size_t len, uint64_t off)
{
	if (off >= j->body.len)
		return 0;
	if (len > j->body.len - off)
		len = (size_t)(j->body.len - off);
	return pread(j->body.fd, dst, len, (off_t)(j->body.off + off));
}

void job_free(struct job *j)
{
	for (size_t i = 0; i < j->n; i++) {
		rcpt_free(&j->r[i].to);
		free(j->r[i].user);
	}
	free(j->r);
	free(j->sender);
	free(j->envid);
	spool_body_close(j->sp, &j->body);
	free(j);
}
