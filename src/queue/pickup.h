/*
 * pickup - the maildrop: how locally submitted mail (`petrel sendmail`)
 * reaches the spool while the daemon holds the spool's lock, without a
 * network round-trip (the design of Postfix's maildrop and pickup).
 *
 * The submitter writes message and envelope as ONE file into
 * <spool>/maildrop/, named "<queue ID>.<pid>", with fsutil_write_atomic
 * (temporary file, fsync, rename, directory fsync); the file is then
 * durable and complete under its name, or absent. Its contents are one MSG
 * record of the spool's own format (docs/spool.md: length-prefixed fields,
 * CRC-32), bound to position (segment 0, offset 0) — a position no spool
 * segment has, so a maildrop file copied into a message body can never
 * pass for a record of the log. Recipients are stored as the submitter gave
 * them; the body is the message with CRLF line ends, not dot-stuffed,
 * without a Received: header.
 *
 * The daemon (pickup_start) imports every such file, at start and whenever
 * one appears (inotify, with a 1-second scan as the fallback): it resolves
 * the recipients as the SMTP server does (aliases expanded, remote
 * addresses kept; unknown local ones are queued too, so that delivery
 * returns them to the sender with 5.1.1), prepends
 * "Received: by HOST (Petrel, from userid UID)" with the uid of the file's
 * owner (which the submitter cannot forge) and the new queue ID, submits to
 * the spool, and unlinks the file only once the spool has made the message
 * durable. A crash in between imports the file again at the next start: a
 * possible duplicate, never a loss (spool invariant 3's trade). A file that
 * does not decode is moved to <spool>/maildrop/quarantine/ with a log line.
 *
 * Permissions: a maildrop directory created here is mode 01733 (every local
 * user may drop a file, nobody but the owner may list or remove others'),
 * and files are mode 0644 whatever the submitter's umask: the daemon reads
 * them as its own user, the directory's owner. A file it still cannot read
 * (made by another program, or its mode changed) is left in place, logged
 * once, retried at every scan and listed (pickup_stuck) until it can be
 * read or is removed. Local users also need search (x) permission on the
 * spool directory.
 */
#ifndef PETREL_QUEUE_PICKUP_H
#define PETREL_QUEUE_PICKUP_H

#include <event2/event.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "config/config.h"
#include "queue/record.h"
#include "queue/spool.h"

#define MAILDROP_DIR "maildrop"
#define MAILDROP_QUARANTINE "quarantine"
#define MAILDROP_NAME_MAX 64     /* longer names in the maildrop are not ours */
#define MAILDROP_STUCK_MAX 64    /* unreadable files listed (more are counted) */

/* A submission as `petrel sendmail` makes it. */
struct maildrop_msg {
	const char *id;               /* queue_id_next() of the submitting process */
	int64_t arrival;              /* unix seconds */
	const char *sender;           /* "" for the null reverse-path */
	size_t nrcpt;
	const char *const *rcpt;      /* "local@domain", as given */
	const char *body;             /* CRLF line ends, not dot-stuffed */
	size_t body_len;
	/* DSN (RFC 3461), as sendmail -N, -R and -V give them: */
	uint8_t notify;               /* every recipient's NOTIFY; 0 = not given */
	uint8_t ret;                  /* enum dsn_ret */
	const char *envid;            /* xtext; NULL or "" = not given */
};

/* Appends the maildrop file's bytes for m to out. */
void maildrop_encode(struct buf *out, const struct maildrop_msg *m);

/* Decodes a whole maildrop file: exactly one valid MSG record at position
 * (0, 0), nothing after it. Strings in out point into p; the body is
 * p + REC_HDR_LEN + out->body_off. Free out with rec_msg_free. */
bool maildrop_decode(const uint8_t *p, size_t len, struct rec_msg *out);

/* The largest file pickup takes for cfg: the message size limit plus room
 * for the added headers and max-recipients envelope addresses. */
uint64_t maildrop_max_size(const struct config *cfg);

/* Writes <spool_dir>/maildrop/<m->id>.<pid> durably with mode 0644,
 * creating the directory (01733) when it is missing, and puts its path in
 * path[pathsz]. 0, or -1 with errno set; on failure no file is left under
 * the final name. */
int maildrop_write(const char *spool_dir, const struct maildrop_msg *m, char *path,
		   size_t pathsz);

/* Whether the daemon can read a maildrop file: it reads as the maildrop
 * directory's owner (the spool is handed to the run user at start-up), so
 * with uid and gid the directory's. Pure, for the unit tests. */
bool maildrop_readable_by(const struct stat *file, uid_t uid, gid_t gid);

/* Checks that the daemon can read the maildrop file at path (see
 * maildrop_readable_by). 0 when it can, or when the file is already gone
 * (imported); -1 with errno set otherwise: EACCES when it cannot read it,
 * *st then being the file's status and *reader the daemon's uid. */
int maildrop_check_readable(const char *path, struct stat *st, uid_t *reader);

struct pickup;

/* Called in the loop thread with the new queue ID of each message once the
 * spool has made it durable. */
typedef void (*pickup_queued_fn)(void *arg, const char *queue_id);

/* Starts importing <spool>/maildrop (created when missing). NULL, after a
 * log line, when the directory cannot be created or opened. */
struct pickup *pickup_start(struct event_base *base, struct spool *sp, const struct config *cfg,
			    pickup_queued_fn queued, void *arg);

/* After a reload: files imported from now on are routed by cfg. */
void pickup_set_config(struct pickup *p, const struct config *cfg);

/* A maildrop file the daemon cannot import because it cannot read it. */
struct maildrop_stuck {
	char name[MAILDROP_NAME_MAX];
	char why[96];   /* strerror text, "not a regular file", ... */
	uid_t uid;      /* its owner: who submitted it */
	mode_t mode;
	int64_t since;  /* its mtime: when it was written */
	bool seen;      /* private: found again by the current scan */
};

/* The unreadable files the scans found: n of them in the array returned
 * (valid until the next scan), and *more beyond the table's bound. */
const struct maildrop_stuck *pickup_stuck(const struct pickup *p, size_t *n, size_t *more);

/* Stops looking for files. Imports already handed to the spool complete
 * when the spool runs their callbacks (at the latest in spool_close): their
 * files are unlinked then, but queued is no longer called (the scheduler
 * finds those messages at the next start). Call it before scheduler_stop
 * and spool_close; the pickup frees itself once nothing is in flight. */
void pickup_stop(struct pickup *p);

#endif
