/*
 * local - the local delivery agent: every due local recipient of one queued
 * message into its Maildir. The job is prepared in the loop thread
 * (local_job_new), runs in a worker (local_job_run: blocking file I/O only,
 * through its own descriptor of the spooled body, touching no shared state),
 * and its results are read back in the loop thread.
 */
#ifndef PETREL_DELIVER_LOCAL_H
#define PETREL_DELIVER_LOCAL_H

#include "config/config.h"
#include "deliver/maildir.h"
#include "queue/spool.h"

struct local_result {
	size_t rcpt;               /* index into msg->rcpt */
	char *addr;                /* copy of the recipient address */
	char *user;                /* mailbox name */
	enum maildir_result res;
	char err[256];
};

struct local_job {
	struct spool_msg *msg;     /* loop thread only */
	int body_fd;               /* the worker reads the body through these */
	uint64_t body_off;
	uint64_t body_len;
	const struct config *cfg;
	char id[QUEUE_ID_LEN + 1];
	char *sender;
	size_t n;
	struct local_result *r;
	void *owner;               /* the scheduler's bookkeeping */
	unsigned updates_pending;  /* outcome records not yet durable */
};

/* The local mailbox name for addr when its domain is ours, else NULL. */
char *local_mailbox_of(const struct config *cfg, const char *addr);
/* NULL (errno set) when the body cannot be opened. */
struct local_job *local_job_new(struct spool *sp, struct spool_msg *msg, const struct config *cfg);
void local_job_add(struct local_job *j, size_t rcpt, const char *user);
void local_job_run(void *job);
void local_job_free(struct local_job *j);

#endif
