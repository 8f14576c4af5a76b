/*
 * maildir - local delivery of one message into <root>/<user>/, following the
 * qmail maildir specification (https://cr.yp.to/proto/maildir.html).
 *
 * Contract: MAILDIR_OK is returned only once the message is complete and
 * durable in new/ (file and directory entry fsynced). On any other result no
 * part of the message is visible in new/ and nothing is left in tmp/. The
 * call blocks on disk I/O: run it in a workq worker, not in the loop thread.
 * It is thread-safe: concurrent deliveries get distinct file names.
 */
#ifndef PETREL_DELIVER_MAILDIR_H
#define PETREL_DELIVER_MAILDIR_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Reads up to len bytes of the message at offset off into dst. Returns the
 * bytes read (short reads are fine, 0 means end of data) or -1 on error. */
typedef ssize_t (*maildir_read_fn)(void *ctx, void *dst, size_t len, uint64_t off);

struct maildir_msg {
	const char *return_path;   /* reverse-path without <>; "" for the null sender */
	const char *delivered_to;  /* the recipient address, for Delivered-To: */
	uint64_t size;             /* bytes the reader will provide */
	maildir_read_fn read;      /* the stored message: CRLF line endings */
	void *read_ctx;
};

enum maildir_result {
	MAILDIR_OK,
	MAILDIR_TEMPFAIL,  /* disk full, I/O error, mailbox unusable...: retry later */
	MAILDIR_PERMFAIL,  /* invalid user name or header value: retrying cannot help */
	MAILDIR_SHORTAGE,  /* we ran out of descriptors or memory: nothing was written */
};

/*
 * Delivers m into the Maildir <root>/<user>/, creating it (and tmp/, new/,
 * cur/) with mode 0700 when missing. The file gets "Return-Path: <sender>"
 * and "Delivered-To: address" prepended (RFC 5321 4.4) and LF line endings
 * (the Maildir convention: each CRLF becomes LF, other bytes are kept as
 * they are). hostname goes into the unique file name; NULL or "" means
 * gethostname(). On failure err receives a one-line reason such as
 * "maildir var/mail/alice: write: No space left on device".
 */
enum maildir_result maildir_deliver(const char *root, const char *user, const char *hostname,
				    const struct maildir_msg *m, char *err, size_t errlen);

#endif
