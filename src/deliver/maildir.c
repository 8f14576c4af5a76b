/*
 * maildir - local delivery per the qmail maildir specification
 * (https://cr.yp.to/proto/maildir.html); see maildir.h for the contract.
 *
 * Steps, as the spec orders them: create tmp/<unique> exclusively, write the
 * whole message, fsync it, link it to new/<unique>, fsync new/ so the entry
 * survives a crash, and only then unlink tmp/<unique> and report success.
 * link() rather than rename() because link fails on an existing name where
 * rename would silently replace a message already delivered. Unique names are
 * "<sec>.M<usec>P<pid>Q<counter>.<host>"; the counter is process-wide and
 * atomic so worker threads delivering in the same microsecond never collide.
 * The stored message has CRLF line endings; Maildir files use LF, so each CRLF
 * pair (also one split across two reads) becomes LF and every other byte,
 * bare CR and 8-bit bytes included, is copied exactly.
 */
#include "deliver/maildir.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "util/buf.h"
#include "util/fsutil.h"
#include "util/log.h"

#define CHUNK (64 * 1024)
#define HOST_MAX 256 /* a DNS name is at most 255 octets */

static atomic_ulong delivery_counter;

struct delivery {
	char mbox[PATH_MAX];  /* <root>/<user> */
	char tmp[PATH_MAX];   /* <mbox>/tmp/<unique> */
	char new[PATH_MAX];   /* <mbox>/new/<unique> */
	char *err;
	size_t errlen;
};

/* Records "maildir <mbox>: <op>[: <strerror(e)>]"; e == 0 means op says it all. */
static enum maildir_result fail(struct delivery *d, const char *op, int e)
{
	char eb[128];
	if (e)
		snprintf(d->err, d->errlen, "maildir %s: %s: %s", d->mbox, op,
			 strerror_r(e, eb, sizeof eb));
	else
		snprintf(d->err, d->errlen, "maildir %s: %s", d->mbox, op);
	return fsutil_shortage(e) ? MAILDIR_SHORTAGE : MAILDIR_TEMPFAIL;
}

/* A user name is one path component that cannot climb out of the root or
 * name a hidden file. */
static bool valid_user(const char *user)
{
	return user[0] != '\0' && user[0] != '.' && !strchr(user, '/');
}

/* A CR or LF in a header value would let it inject header lines. */
static bool valid_header_value(const char *v)
{
	return !strpbrk(v, "\r\n");
}

/* PERMFAIL with "maildir: <what> "<value>"", value made log-safe. */
static enum maildir_result reject(char *err, size_t errlen, const char *what, const char *value)
{
	char safe[128];
	log_safe(safe, sizeof safe, value, strlen(value));
	snprintf(err, errlen, "maildir: %s \"%s\"", what, safe);
	return MAILDIR_PERMFAIL;
}

static int errno_or(int fallback)
{
	return errno ? errno : fallback;
}

/* snprintf into a PATH_MAX buffer; 0 or ENAMETOOLONG. */
static int path_fmt(char *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int path_fmt(char *out, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(out, PATH_MAX, fmt, ap);
	va_end(ap);
	return n < 0 || n >= PATH_MAX ? ENAMETOOLONG : 0;
}

/* "<sec>.M<usec>P<pid>Q<counter>.<host>", with '/' and ':' in the host name
 * written as "\057" and "\072" as the spec asks (they would break the path or
 * the ":2,flags" info suffix readers append). */
static int unique_name(char *out, size_t outsz, const char *hostname)
{
	char sys[HOST_MAX];
	if (!hostname || !*hostname) {
		if (gethostname(sys, sizeof sys) != 0)
			snprintf(sys, sizeof sys, "localhost");
		sys[sizeof sys - 1] = '\0';
		hostname = sys;
	}
	char host[4 * HOST_MAX];
	size_t h = 0;
	for (const char *s = hostname; *s && h + 5 <= sizeof host; s++) {
		if (*s == '/' || *s == ':') {
			memcpy(host + h, *s == '/' ? "\\057" : "\\072", 4);
			h += 4;
		} else {
			host[h++] = *s;
		}
	}
	host[h] = '\0';
	struct timeval tv;
	gettimeofday(&tv, NULL);
	unsigned long q = atomic_fetch_add(&delivery_counter, 1);
	int n = snprintf(out, outsz, "%lld.M%ldP%ldQ%lu.%s", (long long)tv.tv_sec,
			 (long)tv.tv_usec, (long)getpid(), q, host);
	return n < 0 || (size_t)n >= outsz ? ENAMETOOLONG : 0;
}

/* Converts CRLF to LF in in[0..n) into out, which has room for n + 1 bytes:
 * a CR held back from the previous chunk (*cr) may have to be emitted. */
static size_t crlf_to_lf(const char *in, size_t n, char *out, bool *cr)
{
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		if (*cr && in[i] != '\n')
			out[o++] = '\r';
		*cr = in[i] == '\r';
		if (!*cr)
			out[o++] = in[i];
	}
	return o;
}

static int write_headers(int fd, const struct maildir_msg *m)
{
	struct buf h = BUF_INIT;
	buf_printf(&h, "Return-Path: <%s>\nDelivered-To: %s\n", m->return_path, m->delivered_to);
	int e = fsutil_write_all(fd, h.p, h.len) < 0 ? errno : 0;
	buf_free(&h);
	return e;
}

struct copybuf {
	char in[CHUNK];
	char out[CHUNK + 1];
};

/* Reads up to want bytes at off. Returns the count, or -1 with *op and *e set
 * (a reader that fails without errno counts as an I/O error). */
static ssize_t read_chunk(const struct maildir_msg *m, char *dst, size_t want, uint64_t off,
			  const char **op, int *e)
{
	errno = 0;
	ssize_t n = m->read(m->read_ctx, dst, want, off);
	if (n < 0 || (size_t)n > want) {
		*op = "read";
		*e = errno_or(EIO);
		return -1;
	}
	if (n == 0) {
		*op = "read: message ends before its recorded size";
		*e = 0;
		return -1;
	}
	return n;
}

/* Streams the body into fd with CRLF -> LF. Returns 0, or -1 with *op and
 * *e describing the failure. */
static int copy_body(int fd, const struct maildir_msg *m, const char **op, int *e)
{
	struct copybuf *c = xmalloc(sizeof *c);
	bool cr = false;
	uint64_t off = 0;
	int rc = 0;
	while (rc == 0 && off < m->size) {
		size_t want = m->size - off < CHUNK ? (size_t)(m->size - off) : CHUNK;
		ssize_t n = read_chunk(m, c->in, want, off, op, e);
		if (n < 0) {
			rc = -1;
			break;
		}
		off += (uint64_t)n;
		size_t o = crlf_to_lf(c->in, (size_t)n, c->out, &cr);
		/* A held CR was not counted in o, so o <= n and it fits. */
		if (off == m->size && cr)
			c->out[o++] = '\r';
		if (fsutil_write_all(fd, c->out, o) < 0) {
			*e = errno;
			*op = "write";
			rc = -1;
		}
	}
	free(c);
	return rc;
}

/* Writes the whole message to d->tmp and makes it durable. On failure the
 * file is removed again. */
static enum maildir_result write_tmp(struct delivery *d, const struct maildir_msg *m)
{
	int fd = open(d->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return fail(d, "open tmp", errno);
	const char *op = "write";
	int e = write_headers(fd, m);
	bool ok = e == 0 && copy_body(fd, m, &op, &e) == 0;
	if (ok && fsync(fd) < 0) {
		op = "fsync";
		e = errno;
		ok = false;
	}
	/* close() can report a deferred write error (NFS, quota). */
	if (close(fd) < 0 && ok) {
		op = "close";
		e = errno;
		ok = false;
	}
	if (!ok) {
		unlink(d->tmp);
		return fail(d, op, e);
	}
	return MAILDIR_OK;
}

/* mkdir -p <mbox>/{tmp,new,cur}; fsutil makes each created directory durable,
 * or a crash could lose new/ together with the message in it. Returns 0 or an
 * errno value. */
static int make_dirs(const struct delivery *d)
{
	static const char *const subdirs[] = {"tmp", "new", "cur"};
	for (size_t i = 0; i < sizeof subdirs / sizeof subdirs[0]; i++) {
		char p[PATH_MAX];
		int e = path_fmt(p, "%s/%s", d->mbox, subdirs[i]);
		if (e)
			return e;
		if (fsutil_mkdir_p(p, 0700) < 0)
			return errno;
	}
	return 0;
}

/* Links the durable tmp file into new/ and makes that entry durable. */
static enum maildir_result publish(struct delivery *d)
{
	if (link(d->tmp, d->new) < 0) {
		int e = errno;
		unlink(d->tmp);
		return fail(d, "link", e);
	}
	char dir[PATH_MAX];
	int e = path_fmt(dir, "%s/new", d->mbox);
	if (!e && fsutil_fsync_dir(dir) < 0)
		e = errno;
	if (e) {
		/* Not known to be durable: withdraw it, the retry delivers the copy. */
		unlink(d->new);
		unlink(d->tmp);
		return fail(d, "fsync new", e);
	}
	/* The message is delivered; a stale tmp/ file is only clutter that
	 * Maildir readers clean up after 36 hours. */
	if (unlink(d->tmp) < 0) {
		char eb[128];
		log_warn("maildir %s: unlink %s: %s", d->mbox, d->tmp,
			 strerror_r(errno, eb, sizeof eb));
	}
	return MAILDIR_OK;
}

enum maildir_result maildir_deliver(const char *root, const char *user, const char *hostname,
				    const struct maildir_msg *m, char *err, size_t errlen)
{
	if (errlen)
		err[0] = '\0';
	if (!valid_user(user))
		return reject(err, errlen, "invalid mailbox name", user);
	if (!valid_header_value(m->return_path))
		return reject(err, errlen, "CR or LF in Return-Path", m->return_path);
	if (!valid_header_value(m->delivered_to))
		return reject(err, errlen, "CR or LF in Delivered-To", m->delivered_to);
	struct delivery d = {.err = err, .errlen = errlen};
	size_t rl = strlen(root);
	while (rl > 1 && root[rl - 1] == '/')
		rl--;
	int e = path_fmt(d.mbox, "%.*s/%s", (int)rl, root, user);
	if (e)
		return fail(&d, "path", e);
	e = make_dirs(&d);
	if (e)
		return fail(&d, "mkdir", e);
	char name[NAME_MAX + 1];
	e = unique_name(name, sizeof name, hostname);
	if (!e)
		e = path_fmt(d.tmp, "%s/tmp/%s", d.mbox, name);
	if (!e)
		e = path_fmt(d.new, "%s/new/%s", d.mbox, name);
	if (e)
		return fail(&d, "file name", e);
	enum maildir_result r = write_tmp(&d, m);
	return r == MAILDIR_OK ? publish(&d) : r;
}
