/*
 * spool - the durable queue: an append-only log of checksummed,
 * length-prefixed records in segment files, written by one writer thread
 * with group commit (one fdatasync per batch), and the in-memory index of
 * every message not yet finished, rebuilt from the log at start-up.
 *
 * Threading contract: every function here is called from the event-loop
 * thread only. The writer thread touches nothing but its own batch. When a
 * batch is durable the writer makes spool_notify_fd() readable; the loop
 * then calls spool_dispatch(), which runs the completion callbacks (in the
 * loop thread). Invariants and on-disk format: docs/spool.md.
 */
#ifndef PETREL_QUEUE_SPOOL_H
#define PETREL_QUEUE_SPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "queue/queue_id.h"
#include "util/rcpt.h"

enum rcpt_state {
	RCPT_PENDING = 0,  /* not yet delivered; retried at next_try */
	RCPT_DELIVERED = 1,
	RCPT_BOUNCED = 2,  /* failed for good (a bounce is, or was, due) */
	RCPT_DELETED = 3,  /* removed by the administrator */
};

/* A recipient as queued (orig is never NULL here) and its delivery state. */
struct spool_rcpt {
	struct rcpt to;
	enum rcpt_state state;
	uint32_t attempts;
	int64_t next_try;  /* unix seconds; 0 = as soon as possible */
	char *last_error;  /* last temporary/permanent error text, or NULL */
	bool warned;       /* the sender has had the delay warning (sent once) */
};

/* What a session hands over when DATA ends. The spool copies what it keeps. */
struct spool_new_msg {
	const char *id;        /* from queue_id_next() */
	int64_t arrival;       /* unix seconds */
	const char *sender;    /* "" for the null reverse-path */
	const char *helo;      /* client's HELO/EHLO argument */
	const char *client;    /* client address text, e.g. "127.0.0.1" */
	uint32_t flags;        /* SPOOL_MSG_* */
	size_t nrcpt;
	const struct rcpt *rcpt;       /* orig NULL: addr; orcpt NULL or "": none */
	/* DSN (RFC 3461): NULL / 0 when not given. */
	const char *envid;             /* ENVID, xtext as given */
	uint8_t ret;                   /* enum dsn_ret */
	/* The message as it is to be stored (Received: header already prepended),
	 * CRLF line endings, not dot-stuffed: the pieces body[0..nbody), then,
	 * when draft is not NULL, the draft's content. The spool takes the
	 * draft (and frees it) whatever the outcome. */
	const struct iovec *body;
	size_t nbody;
	struct draft *draft;
};

#define SPOOL_MSG_8BITMIME 1u
#define SPOOL_MSG_SMTPUTF8 2u
#define SPOOL_MSG_BOUNCE 4u         /* a delivery report we generated */
#define SPOOL_MSG_DOUBLE_BOUNCE 8u  /* a report about a failed report, to postmaster */

/* A queued message in the index. */
struct spool_msg {
	char id[QUEUE_ID_LEN + 1];
	int64_t arrival;
	char *sender;
	char *helo;
	char *client;
	uint32_t flags;
	size_t nrcpt;
	struct spool_rcpt *rcpt;
	uint64_t body_len;
	bool held;             /* administrator hold */
	char *envid;           /* DSN ENVID, xtext as given, or NULL */
	uint8_t ret;           /* DSN RET, enum dsn_ret (util/dsn.h) */
	/* Where the body lives: private to the spool (segment, offset). */
	uint64_t seg;
	uint64_t body_off;
	struct spool_msg *next_all;  /* index list, private */
};

struct spool;
struct draft;

/* err: 0 when the records are durable, else an errno (ENOSPC, EIO...). */
typedef void (*spool_done_fn)(void *arg, int err);

/*
 * Opens (creating if needed) the spool directory, recovers the log (torn
 * tails truncated, corrupt records quarantined with a log line, never fatal)
 * and starts the writer thread. Returns NULL with errno set on a fatal
 * problem (directory unusable; EWOULDBLOCK when another process has it).
 */
struct spool *spool_open(const char *dir);
/* Waits for the writer to finish pending batches, runs their callbacks
 * (requests made from those callbacks fail with ECANCELED), then closes. */
void spool_close(struct spool *sp);

int spool_notify_fd(const struct spool *sp);
/* The spool directory, where drafts (queue/draft.h) keep their file part. */
const char *spool_directory(const struct spool *sp);
/* Runs completion callbacks of batches made durable since the last call. */
void spool_dispatch(struct spool *sp);

/* Appends a new message. When durable, the message enters the index and
 * done(arg, 0) runs; on failure nothing enters the index, done(arg, errno)
 * runs, and the log holds no trace a reader would take as a message.
 * Requests the spool refuses without writing fail the same way, in order:
 * EINVAL (malformed id or envelope), EEXIST (id already queued), EFBIG
 * (record over 1 GiB); a draft's write error (ENOSPC...) fails it too. */
void spool_submit(struct spool *sp, const struct spool_new_msg *m, spool_done_fn done, void *arg);

/* The one party told of every new message once it is durable and in the
 * index (the scheduler): listener(arg, id) runs in the loop thread right
 * after the submitter's own callback. Whoever submits - SMTP, pickup,
 * bounces - need not know who delivers. */
typedef void (*spool_listener_fn)(void *arg, const char *id);
void spool_set_listener(struct spool *sp, spool_listener_fn fn, void *arg);

/* Records the new state (and attempts, next_try, error, warned) of
 * recipient i of msg. The index is updated when durable, then done runs.
 * When every recipient is final the message leaves the index and is freed
 * after the callback (once no other record about it is in flight). */
void spool_update_rcpt(struct spool *sp, struct spool_msg *msg, size_t i, enum rcpt_state state,
		       uint32_t attempts, int64_t next_try, const char *error, bool warned,
		       spool_done_fn done, void *arg);

/* Reads len bytes of msg's body from offset off into dst; returns bytes read or -1. */
ssize_t spool_read_body(struct spool *sp, const struct spool_msg *msg, void *dst, size_t len,
			uint64_t off);

/* Records an administrator hold (held=true) or its release; msg->held
 * changes when durable, then done runs. */
void spool_set_held(struct spool *sp, struct spool_msg *msg, bool held, spool_done_fn done,
		    void *arg);

/* Segment size after which the writer starts a new segment (default
 * SPOOL_SEGMENT_MAX); small values are for tests. */
#define SPOOL_SEGMENT_MAX (UINT64_C(16) << 20)
void spool_set_segment_max(struct spool *sp, uint64_t bytes);

/* Writer counters since spool_open: group commit shows as batches < records. */
struct spool_stats {
	uint64_t records;      /* records made durable */
	uint64_t batches;      /* batches made durable, one fdatasync each */
	uint64_t syncs;        /* fdatasync calls, including failed batches */
	uint64_t bytes;        /* bytes made durable */
	uint64_t failed;       /* records whose batch failed */
	uint64_t segments;     /* segments created */
	uint64_t relocated;    /* messages rewritten out of old segments */
	uint64_t parked;       /* now: lazy records written, awaiting a sync */
};
void spool_stats(struct spool *sp, struct spool_stats *out);

/* A message's body for reading off the loop thread: the spool's own
 * read-only descriptor of the segment holding it (shared by every reader of
 * that segment: pread() it, never close it) and where the body lies. While
 * open it pins the segment, which is then neither removed nor closed, so a
 * delete, a relocation or a reclamation meanwhile cannot pull the file from
 * under a reader. One descriptor per segment, not per job. */
struct spool_body {
	int fd;
	uint64_t off;
	uint64_t len;
	uint64_t seg;      /* private */
};
/* 0, or -1 with errno set (the segment file cannot be opened). */
int spool_body_open(struct spool *sp, const struct spool_msg *msg, struct spool_body *body);
/* Unpins (loop thread); body->fd is -1 afterwards. Safe on a closed body. */
void spool_body_close(struct spool *sp, struct spool_body *body);

/* Index access (loop thread). */
struct spool_msg *spool_first(struct spool *sp);
struct spool_msg *spool_next(struct spool *sp, struct spool_msg *m);
struct spool_msg *spool_find(struct spool *sp, const char *id);
size_t spool_count(const struct spool *sp);

/* A walk through the index in steps, with the loop running in between (a
 * listing sent a piece at a time): the message it stands at being removed
 * moves it on to the next, so every message in the index from the walk's
 * start to its end is visited exactly once, and one added meanwhile may be.
 * Close it before spool_close. Loop thread. */
struct spool_cursor {
	struct spool_msg *at;                   /* the next to visit; NULL: done */
	struct spool_cursor *prev, *next;       /* private */
};
void spool_cursor_open(struct spool *sp, struct spool_cursor *c);
/* The next message, or NULL at the end. */
struct spool_msg *spool_cursor_next(struct spool_cursor *c);
void spool_cursor_close(struct spool *sp, struct spool_cursor *c);

#endif
