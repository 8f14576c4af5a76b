/*
 * lmtp - local delivery over LMTP (RFC 2033) to a mailbox server such as
 * Dovecot, instead of writing Maildirs ourselves.
 *
 * One blocking connection per job, made in a workq worker thread: connect
 * (TCP "host:port", "[v6]:port", or a unix socket "unix:/path") within the
 * connect timeout, then LHLO, MAIL, one RCPT per recipient, DATA, the body,
 * and one reply per accepted recipient, every wait bounded by the I/O
 * timeout. The protocol itself is smtp/client.c in LMTP mode; this module
 * only moves its bytes. Buffers are bounded: the body goes out in chunks.
 */
#ifndef PETREL_DELIVER_LMTP_H
#define PETREL_DELIVER_LMTP_H

#include "deliver/maildir.h"
#include "smtp/client.h"

struct lmtp_msg {
	const char *target;         /* "unix:/abs/path", "host:port" or "[v6]:port" */
	const char *helo_name;      /* our name for LHLO */
	unsigned connect_timeout;   /* seconds */
	unsigned io_timeout;        /* seconds per wait for the server */
	struct client_txn *txn;     /* envelope in; one result per recipient out */
	maildir_read_fn read;       /* the stored message (CRLF lines), as for Maildir */
	void *read_ctx;
};

/*
 * Delivers m and fills every m->txn->result[i]: the server's own reply for
 * that recipient (to RCPT, to DATA, or to the final dot), or code 0 with the
 * reason when it got none (connection refused or lost, timeout, a session
 * failure such as a refused LHLO). False when the server was never reached
 * for want of a descriptor, buffers or memory of ours (EMFILE, ENFILE,
 * ENOBUFS, ENOMEM): nothing was attempted and the server is not to blame.
 * Blocks: run it in a worker thread.
 */
bool lmtp_deliver(const struct lmtp_msg *m);

#endif
