/*
 * pickup - the maildrop file format and its import into the spool; see
 * pickup.h. The trace header is RFC 5321 4.4 / RFC 5322 3.6.7; recipients
 * are resolved with config_resolve, exactly as at SMTP RCPT time.
 *
 * Everything runs in the loop thread. Files are local and were just
 * written, so reading one is a page-cache copy; what must not block the
 * loop — making the message durable — is the spool writer's job.
 */
#include "queue/pickup.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "queue/intake.h"
#include "smtp/address.h"
#include "util/dsn.h"
#include "util/fsutil.h"
#include "util/log.h"
#include "util/metrics.h"

#define SCAN_INTERVAL 1       /* seconds between scans when inotify is quiet */
#define RETRY_PAUSE 10        /* seconds to wait after the spool refused a write */
#define INFLIGHT_MAX 16       /* files handed to the spool at once */
#define SKIP_MAX 256          /* names remembered as not to be tried again */
#define TEMP_MAX_AGE 3600     /* a submitter's temporary file older than this is dead */
#define PIECE (64 << 10)      /* a file is read this much at a time */

/* ---- the file format ---- */

void maildrop_encode(struct buf *out, const struct maildrop_msg *m)
{
	struct rec_rcpt *r = xcalloc(m->nrcpt ? m->nrcpt : 1, sizeof *r);
	for (size_t i = 0; i < m->nrcpt; i++) {
		r[i].addr = r[i].orig = str_from(m->rcpt[i]);
		r[i].notify = m->notify;
	}
	struct rec_msg rm = {
		.id = str_from(m->id), .sender = str_from(m->sender), .helo = STR_LIT(""),
		.client = STR_LIT(""), .arrival = m->arrival, .nrcpt = m->nrcpt, .rcpt = r,
		.envid = str_from(m->envid ? m->envid : ""), .ret = m->ret,
	};
	size_t start;
	size_t at = rec_msg_begin(out, &rm, m->body_len, &start);
	if (m->body_len)
		memcpy(out->p + at, m->body, m->body_len);
	rec_end(out, start);
	rec_bind((uint8_t *)out->p + start, 0, 0);
	free(r);
}

bool maildrop_decode(const uint8_t *p, size_t len, struct rec_msg *out)
{
	struct rec_hdr h;
	memset(out, 0, sizeof *out);
	if (len < REC_HDR_LEN || rec_check(p, len, 0, 0, &h) != REC_VALID || h.type != REC_MSG ||
	    (size_t)h.len != len - REC_HDR_LEN)
		return false;
	return rec_decode_msg(p + REC_HDR_LEN, h.len, out);
}

uint64_t maildrop_max_size(const struct config *cfg)
{
	return cfg->max_message_size + 65536 +
	       (uint64_t)(cfg->max_recipients + 1) * 2 * (ADDR_MAILBOX_MAX + 32);
}

/* <spool_dir>/maildrop into out; creates it (and the spool directory) when
 * missing. The mode is set explicitly: mkdir's is cut by the umask. */
static int maildrop_dir(const char *spool_dir, char *out, size_t outsz)
{
	int n = snprintf(out, outsz, "%s/" MAILDROP_DIR, spool_dir);
	if (n < 0 || (size_t)n >= outsz) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if (access(out, F_OK) == 0)
		return 0;
	if (fsutil_mkdir_p(spool_dir, 0700) < 0)
		return -1;
	if (mkdir(out, 0700) < 0)
		return errno == EEXIST ? 0 : -1;
	if (chmod(out, 01733) < 0)
		return -1;
	return fsutil_fsync_dir(spool_dir);
}

int maildrop_write(const char *spool_dir, const struct maildrop_msg *m, char *path,
		   size_t pathsz)
{
	char dir[PATH_MAX];
	if (maildrop_dir(spool_dir, dir, sizeof dir) < 0)
		return -1;
	/* 64 random bits in the name: the pid and the ID's time are visible to
	 * other local users, and the file is readable by all once named. */
	uint64_t rnd;
	if (getrandom(&rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd)
		return -1;
	int n = snprintf(path, pathsz, "%s/%s.%ld.%016" PRIx64, dir, m->id, (long)getpid(), rnd);
	if (n < 0 || (size_t)n >= pathsz) {
		errno = ENAMETOOLONG;
		return -1;
	}
	struct buf rec = BUF_INIT;
	maildrop_encode(&rec, m);
	/* Readable by the daemon, which runs as its own user (as Postfix's
	 * maildrop files are): the directory (1733) cannot be listed and the
	 * name cannot be guessed, so other users cannot find a file to read. */
	int rc = fsutil_write_atomic(path, rec.p, rec.len, 0644);
	int saved = errno;
	buf_free(&rec);
	errno = saved;
	return rc;
}

bool maildrop_readable_by(const struct stat *file, uid_t uid, gid_t gid)
{
	/* The kernel's order: the owner's bits for the owner, else the group's
	 * for the group (the daemon's supplementary groups are not known
	 * here, so a file readable only through one of them counts as not),
	 * else the others'. */
	if (uid == 0)
		return true;
	if (file->st_uid == uid)
		return file->st_mode & S_IRUSR;
	if (file->st_gid == gid)
		return file->st_mode & S_IRGRP;
	return file->st_mode & S_IROTH;
}

int maildrop_check_readable(const char *path, struct stat *st, uid_t *reader)
{
	char dir[PATH_MAX];
	struct stat dst;
	const char *slash = strrchr(path, '/');
	size_t n = slash ? (size_t)(slash - path) : 0;
	if (!slash || n >= sizeof dir) {
		errno = EINVAL;
		return -1;
	}
	memcpy(dir, path, n);
	dir[n] = '\0';
	if (lstat(path, st) < 0)
		return errno == ENOENT ? 0 : -1;
	if (stat(dir, &dst) < 0)
		return -1;
	*reader = dst.st_uid;
	if (S_ISREG(st->st_mode) && maildrop_readable_by(st, dst.st_uid, dst.st_gid))
		return 0;
	errno = EACCES;
	return -1;
}

/* ---- the importer ---- */

struct item {
	struct pickup *p;
	struct item *next;
	char name[MAILDROP_NAME_MAX];
	char id[QUEUE_ID_LEN + 1];
	char sender[ADDR_MAILBOX_MAX + 1];
	uid_t uid;
	uint64_t size;
	size_t nrcpt;
};

struct pickup {
	struct spool *sp;
	const struct config *cfg;
	pickup_queued_fn queued;
	void *arg;
	char dir[PATH_MAX];
	int dirfd;
	int qdirfd;
	int ino_fd;
	struct event *ino_ev;
	struct event *timer;
	struct item *items;           /* handed to the spool, callback not yet run */
	unsigned ninflight;
	struct strlist skip;          /* names not to try again in this run */
	/* Files it cannot read: retried at every scan, logged once, listed. */
	struct maildrop_stuck stuck[MAILDROP_STUCK_MAX];
	size_t nstuck;
	size_t unlisted, unlisted_now; /* more of them: last full scan, this one */
	time_t pause_until;
	/* Scans that fail for want of descriptors or memory (or a maildrop
	 * gone unreadable) repeat every second: logged once, then counted. */
	struct log_repeat scan_trouble;
	bool stopped;
};

/* "<queue ID>.<pid>.<16 hex digits>": what maildrop_write names a finished
 * file ("<queue ID>.<pid>" from an older sendmail is still taken). */
static bool final_name(const char *name)
{
	const char *dot = strchr(name, '.');
	if (!dot || dot - name != QUEUE_ID_LEN)
		return false;
	size_t pid = strspn(dot + 1, "0123456789");
	const char *rest = dot + 1 + pid;
	if (!pid || (*rest && (rest[0] != '.' || strlen(rest + 1) != 16 ||
			       strspn(rest + 1, "0123456789abcdef") != 16)))
		return false;
	char id[QUEUE_ID_LEN + 1];
	memcpy(id, name, QUEUE_ID_LEN);
	id[QUEUE_ID_LEN] = '\0';
	return queue_id_valid(id);
}

static void skip_name(struct pickup *p, const char *name)
{
	/* Bounded: when full, start over (those names are tried, and logged, again). */
	if (p->skip.n >= SKIP_MAX)
		strlist_free(&p->skip);
	strlist_add(&p->skip, name);
}

static void quarantine(struct pickup *p, const char *name, const char *why)
{
	if (renameat(p->dirfd, name, p->qdirfd, name) == 0) {
		log_warn("%s/%s: %s; moved to %s/" MAILDROP_QUARANTINE "/", p->dir, name, why,
			 p->dir);
		return;
	}
	log_error("%s/%s: %s, and it cannot be moved to quarantine: %s; left in place", p->dir,
		  name, why, strerror(errno));
	skip_name(p, name);
}

/* Opens a maildrop file: *fd, its owner and size in st. NULL, or why not;
 * *err is the errno of the call that failed, if one did (ENOENT: the file
 * is gone). */
static const char *open_drop(struct pickup *p, const char *name, int *fd, struct stat *st,
			     int *err)
{
	*err = 0;
	*fd = openat(p->dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	if (*fd < 0) {
		*err = errno;
		return strerror(*err);
	}
	const char *why = NULL;
	if (fstat(*fd, st) < 0) {
		*err = errno;
		why = strerror(*err);
	}
	else if (!S_ISREG(st->st_mode))
		why = "not a regular file";
	else if ((uint64_t)st->st_size > maildrop_max_size(p->cfg))
		why = "larger than the message size limit allows";
	if (why) {
		close(*fd);
		*fd = -1;
	}
	return why;
}

/* Appends up to n octets of fd from offset at to out; NULL, or why not. */
static const char *read_at(int fd, uint64_t at, size_t n, struct buf *out)
{
	buf_reserve(out, n);
	ssize_t k;
	while ((k = pread(fd, out->p + out->len, n, (off_t)at)) < 0 && errno == EINTR)
		continue;
	if (k < 0)
		return strerror(errno);
	if (k == 0)
		return "file changed while being read";
	out->len += (size_t)k;
	out->p[out->len] = '\0';
	return NULL;
}

/*
 * Reads a maildrop file a piece at a time, never whole: head gets the
 * record's header and envelope (the fields before the body, at most the
 * room maildrop_max_size allows them) and rm their decoding, in gets the
 * body, and the record's CRC (bound to position 0, 0) is checked as it
 * goes. NULL, or why the file is unusable.
 */
static const char *read_drop(struct pickup *p, int fd, uint64_t size, struct buf *head,
			     struct rec_msg *rm, struct intake *in)
{
	uint64_t room = maildrop_max_size(p->cfg) - p->cfg->max_message_size + REC_HDR_LEN;
	size_t head_max = (size_t)(size < room ? size : room);
	const char *why = NULL;
	bool decoded = false;
	memset(rm, 0, sizeof *rm);
	while (!why && !decoded && head->len < head_max) {
		size_t want = head_max - head->len < PIECE ? head_max - head->len : PIECE;
		why = read_at(fd, head->len, want, head);
		if (!why && head->len >= REC_HDR_LEN &&
		    (rec_get_le32((const uint8_t *)head->p) != REC_MAGIC ||
		     (uint8_t)head->p[4] != REC_MSG ||
		     rec_get_le32((const uint8_t *)head->p + 8) != size - REC_HDR_LEN))
			return "damaged (not one valid record)";
		if (!why && head->len >= REC_HDR_LEN)
			decoded = rec_decode_msg_head((const uint8_t *)head->p + REC_HDR_LEN,
						      head->len - REC_HDR_LEN,
						      (size_t)(size - REC_HDR_LEN), rm);
	}
	if (why || !decoded)
		return why ? why : "damaged (not one valid record)";
	uint32_t crc = rec_crc_start((const uint8_t *)head->p, 0, 0);
	crc = (uint32_t)crc32_z(crc, (const Bytef *)head->p + REC_HDR_LEN, head->len - REC_HDR_LEN);
	size_t body_at = REC_HDR_LEN + (size_t)rm->body_off;
	intake_write(in, head->p + body_at, head->len - body_at);
	struct buf piece = BUF_INIT;
	for (uint64_t at = head->len; !why && at < size; at += piece.len) {
		buf_reset(&piece);
		why = read_at(fd, at, size - at < PIECE ? (size_t)(size - at) : PIECE, &piece);
		if (!why) {
			crc = (uint32_t)crc32_z(crc, (const Bytef *)piece.p, piece.len);
			intake_write(in, piece.p, piece.len);
		}
	}
	buf_free(&piece);
	if (!why && crc != rec_get_le32((const uint8_t *)head->p + 12))
		why = "damaged (not one valid record)";
	return why;
}

/* A decoded string as a C string in out; false when it does not fit. */
static bool copy_str(struct str s, char *out, size_t outsz)
{
	if (s.len >= outsz)
		return false;
	memcpy(out, s.p, s.len);
	out[s.len] = '\0';
	return true;
}

/* Adds the final recipients of one given address, each with the given one
 * as its original (RFC 3461 ORCPT's sense) and its DSN NOTIFY bits. False
 * when it is no address. */
static bool resolve_one(struct pickup *p, const char *given, uint8_t notify,
			struct rcpt_list *rcpt)
{
	struct address a;
	if (addr_parse_mailbox(given, strlen(given), ADDR_ALLOW_UTF8, &a) != ADDR_OK)
		return false;
	char local[ADDR_LOCAL_MAX + 1], safe[ADDR_MAILBOX_MAX + 1];
	addr_unquote_local(a.local, local, sizeof local);
	struct resolution res = {0};
	config_resolve(p->cfg, local, a.domain, &res);
	if (res.kind == RESOLVE_UNKNOWN || res.kind == RESOLVE_RELOCATED) {
		/* Accepted anyway: the submitter has gone, so the answer SMTP would
		 * give at RCPT time comes back as a bounce from the local agent. */
		log_info("%s: to=<%s>: %s; queued so that delivery returns it to the sender",
			 p->dir, log_safe(safe, sizeof safe, given, strlen(given)),
			 res.kind == RESOLVE_UNKNOWN ? "no such local recipient" : "relocated");
		strlist_add(&res.targets, given);
	}
	for (size_t i = 0; i < res.targets.n; i++)
		if (!rcpt_list_find(rcpt, res.targets.v[i]))
			rcpt_list_add(rcpt, res.targets.v[i], given, notify, NULL);
	resolution_free(&res);
	return true;
}

/* The envelope of a decoded file; NULL, or why it is unusable. */
/* Checks and expands the envelope into its final recipients. */
static const char *envelope(struct pickup *p, const struct rec_msg *rm, struct item *it,
			    struct rcpt_list *rcpt)
{
	struct address a;
	if (!copy_str(rm->sender, it->sender, sizeof it->sender) ||
	    (it->sender[0] && addr_parse_mailbox(it->sender, strlen(it->sender),
						 ADDR_ALLOW_UTF8, &a) != ADDR_OK))
		return "bad sender address";
	for (size_t i = 0; i < rm->nrcpt; i++) {
		char given[ADDR_MAILBOX_MAX + 1];
		if (!copy_str(rm->rcpt[i].addr, given, sizeof given) ||
		    !resolve_one(p, given, rm->rcpt[i].notify, rcpt))
			return "bad recipient address";
	}
	it->nrcpt = rcpt->n;
	return rcpt->n ? NULL : "no recipients";
}

static void free_item(struct item *it)
{
	struct pickup *p = it->p;
	struct item **pp = &p->items;
	while (*pp != it)
		pp = &(*pp)->next;
	*pp = it->next;
	p->ninflight--;
	free(it);
}

static void pickup_free(struct pickup *p)
{
	strlist_free(&p->skip);
	close(p->dirfd);
	close(p->qdirfd);
	config_free(p->cfg);
	free(p);
}

static void imported(void *arg, int err)
{
	struct item *it = arg;
	struct pickup *p = it->p;
	char safe[ADDR_MAILBOX_MAX + 1];
	if (err == EINVAL || err == EFBIG) {
		quarantine(p, it->name, strerror(err));
	} else if (err) {
		log_error("%s/%s: not queued: %s; left in the maildrop, retried in %d s", p->dir,
			  it->name, strerror(err), RETRY_PAUSE);
		p->pause_until = time(NULL) + RETRY_PAUSE;
	} else {
		log_info("%s: uid=%u, from=<%s>, size=%" PRIu64 ", nrcpt=%zu, status=queued "
			 "(maildrop %s)",
			 it->id, (unsigned)it->uid,
			 log_safe(safe, sizeof safe, it->sender, strlen(it->sender)), it->size,
			 it->nrcpt, it->name);
		metrics_received(true, (size_t)it->size);
		if (unlinkat(p->dirfd, it->name, 0) < 0 && errno != ENOENT) {
			log_error("%s/%s: queued as %s but cannot be removed: %s", p->dir, it->name,
				  it->id, strerror(errno));
			skip_name(p, it->name);
		}
		if (!p->stopped && p->queued)
			p->queued(p->arg, it->id);
	}
	free_item(it);
	if (p->stopped && !p->items)
		pickup_free(p);
	else if (!p->stopped)
		event_active(p->timer, EV_TIMEOUT, 0);
}

/* Hands a checked file's message to the spool through the intake, which
 * adds "Received: by HOST (Petrel, from userid UID)" (RFC 5321 4.4 for a
 * message that came from no network peer) with the file owner's uid. */
static void submit(struct pickup *p, struct item *it, struct intake *in, const struct rec_msg *rm,
		   const struct rcpt_list *rcpt)
{
	/* ENVID as the submitter stored it (xtext); one that does not check
	 * out is dropped rather than passed on. */
	char envid[3 * DSN_ENVID_MAX + 1] = "";
	if (rm->envid.len && dsn_envid_valid(rm->envid.p, rm->envid.len))
		copy_str(rm->envid, envid, sizeof envid);
	time_t now = time(NULL);
	bool utf8 = mem_has_8bit(it->sender, strlen(it->sender));
	for (size_t i = 0; i < rcpt->n; i++)
		utf8 |= mem_has_8bit(rcpt->v[i].addr, strlen(rcpt->v[i].addr));
	struct intake_origin o = {.by = p->cfg->hostname, .has_uid = true, .uid = it->uid};
	struct spool_new_msg m = {
		.sender = it->sender, .helo = p->cfg->hostname, .client = "local",
		/* When the user said it was sent; never later than now. */
		.arrival = rm->arrival > 0 && rm->arrival < now ? rm->arrival : now,
		.flags = utf8 ? SPOOL_MSG_SMTPUTF8 : 0,
		.nrcpt = rcpt->n, .rcpt = rcpt->v, .envid = envid[0] ? envid : NULL, .ret = rm->ret,
	};
	it->next = p->items;
	p->items = it;
	p->ninflight++;
	it->size = intake_len(in);
	intake_submit(in, &o, &m, it->id, imported, it);
}

/* ---- files the daemon cannot read ---- */

static struct maildrop_stuck *stuck_find(struct pickup *p, const char *name)
{
	for (size_t i = 0; i < p->nstuck; i++)
		if (strcmp(p->stuck[i].name, name) == 0)
			return &p->stuck[i];
	return NULL;
}

/* A file it cannot read (another user's 0600 file, say) stays where it is:
 * taking it away would lose the message, and the postmaster can mend it.
 * It is logged the first time only, however often the scans retry it, and
 * listed by `petrel queue` meanwhile; past the table's bound it is only
 * counted. */
static void stuck_note(struct pickup *p, const char *name, const char *why)
{
	struct maildrop_stuck *s = stuck_find(p, name);
	if (s) {
		s->seen = true;
		return;
	}
	if (p->nstuck == MAILDROP_STUCK_MAX) {
		p->unlisted_now++;
		return;
	}
	s = &p->stuck[p->nstuck++];
	*s = (struct maildrop_stuck){.seen = true};
	snprintf(s->name, sizeof s->name, "%s", name);
	snprintf(s->why, sizeof s->why, "%s", why);
	struct stat st;
	if (fstatat(p->dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		s->uid = st.st_uid;
		s->mode = st.st_mode & 07777;
		s->since = st.st_mtime;
	}
	log_warn("%s/%s: cannot import: %s (owner uid %u, mode %04o); left in the maildrop, "
		 "retried and listed by petrel queue", p->dir, name, why, (unsigned)s->uid,
		 (unsigned)s->mode);
}

/* The file could be read after all (its mode was mended). */
static void stuck_drop(struct pickup *p, const char *name)
{
	struct maildrop_stuck *s = stuck_find(p, name);
	if (!s)
		return;
	log_info("%s/%s: readable now; importing it", p->dir, name);
	*s = p->stuck[--p->nstuck];
}

/* After a complete scan: files it did not find again are gone. */
static void stuck_settle(struct pickup *p)
{
	for (size_t i = 0; i < p->nstuck;) {
		if (p->stuck[i].seen)
			i++;
		else
			p->stuck[i] = p->stuck[--p->nstuck];
	}
	if (p->unlisted_now && !p->unlisted)
		log_warn("%s: more than %d files cannot be imported; only %d are listed", p->dir,
			 MAILDROP_STUCK_MAX, MAILDROP_STUCK_MAX);
	p->unlisted = p->unlisted_now;
	p->unlisted_now = 0;
	metrics_maildrop_stuck(p->nstuck + p->unlisted);
}

const struct maildrop_stuck *pickup_stuck(const struct pickup *p, size_t *n, size_t *more)
{
	*n = p->nstuck;
	*more = p->unlisted;
	return p->stuck;
}

/* Out of descriptors or memory: our shortage, not the file's, which is
 * neither stuck nor damaged; the next scan tries again. */
static void scan_failed(struct pickup *p, int err)
{
	log_repeated(&p->scan_trouble, LOG_LVL_ERROR, "%s: %s", p->dir, strerror(err));
}

/* Imports one file; false when a local shortage should end the scan. */
static bool import(struct pickup *p, const char *name)
{
	int fd;
	struct stat st;
	int err;
	const char *why = open_drop(p, name, &fd, &st, &err);
	if (why && fsutil_shortage(err)) {
		scan_failed(p, err);
		return false;
	}
	if (why) {
		if (err != ENOENT)
			stuck_note(p, name, why);
		return true;
	}
	stuck_drop(p, name);
	struct item *it = xcalloc(1, sizeof *it);
	*it = (struct item){.p = p, .uid = st.st_uid};
	snprintf(it->name, sizeof it->name, "%s", name);
	struct rcpt_list rcpt = RCPT_LIST_INIT;
	struct buf head = BUF_INIT;
	struct rec_msg rm;
	struct intake *in = intake_new(p->sp);
	why = read_drop(p, fd, (uint64_t)st.st_size, &head, &rm, in);
	close(fd);
	/* The envelope only once the CRC said the file is what was written. */
	if (!why)
		why = envelope(p, &rm, it, &rcpt);
	if (why) {
		quarantine(p, name, why);
		free(it);
		intake_free(in);
	} else {
		submit(p, it, in, &rm, &rcpt);
	}
	rec_msg_free(&rm);
	rcpt_list_free(&rcpt);
	buf_free(&head);
	return true;
}

/* Removes a submitter's temporary file (fsutil's "NAME.tmp.PID.N") that has
 * outlived any write: its writer died before the rename. */
static void reap_temp(struct pickup *p, const char *name)
{
	struct stat st;
	if (fstatat(p->dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
	    time(NULL) - st.st_mtime < TEMP_MAX_AGE)
		return;
	if (unlinkat(p->dirfd, name, 0) == 0)
		log_info("%s/%s: removed an abandoned temporary file", p->dir, name);
	else
		skip_name(p, name);
}

static bool in_flight(const struct pickup *p, const char *name)
{
	for (const struct item *it = p->items; it; it = it->next)
		if (strcmp(it->name, name) == 0)
			return true;
	return false;
}

static void scan(struct pickup *p)
{
	if (p->stopped || time(NULL) < p->pause_until)
		return;
	DIR *d = opendir(p->dir);
	if (!d) {
		scan_failed(p, errno);
		return;
	}
	for (size_t i = 0; i < p->nstuck; i++)
		p->stuck[i].seen = false;
	bool complete = false;
	while (p->ninflight < INFLIGHT_MAX) {
		const struct dirent *de = readdir(d);
		if (!de) {
			complete = true;
			break;
		}
		const char *name = de->d_name;
		if (strlen(name) >= MAILDROP_NAME_MAX || strlist_contains(&p->skip, name))
			continue;
		if (strstr(name, ".tmp."))
			reap_temp(p, name);
		else if (final_name(name) && !in_flight(p, name) && !import(p, name))
			break;
	}
	closedir(d);
	if (complete)
		stuck_settle(p);
	else
		p->unlisted_now = 0;
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct pickup *p = arg;
	log_repeat_tick(&p->scan_trouble, time(NULL));
	scan(p);
}

/* inotify said a name was renamed into the maildrop: drain, then scan. */
static void on_inotify(evutil_socket_t fd, short what, void *arg)
{
	(void)what;
	_Alignas(struct inotify_event) char ev[4096];
	while (read(fd, ev, sizeof ev) > 0)
		continue;
	scan(arg);
}

/* Opens the maildrop and its quarantine; false after a log line. */
static bool open_dirs(struct pickup *p)
{
	if (maildrop_dir(p->cfg->spool_dir, p->dir, sizeof p->dir) < 0) {
		log_error("%s/" MAILDROP_DIR ": %s", p->cfg->spool_dir, strerror(errno));
		return false;
	}
	p->dirfd = open(p->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (p->dirfd < 0 || (mkdirat(p->dirfd, MAILDROP_QUARANTINE, 0700) < 0 && errno != EEXIST)) {
		log_error("%s: %s", p->dir, strerror(errno));
		return false;
	}
	p->qdirfd = openat(p->dirfd, MAILDROP_QUARANTINE, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (p->qdirfd < 0) {
		log_error("%s/" MAILDROP_QUARANTINE ": %s", p->dir, strerror(errno));
		return false;
	}
	return true;
}

/* Without inotify (a full table of watches, an odd file system) the timer
 * alone still finds every file, a second later. */
static void watch(struct pickup *p, struct event_base *base)
{
	p->ino_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (p->ino_fd >= 0 && inotify_add_watch(p->ino_fd, p->dir, IN_MOVED_TO) < 0) {
		close(p->ino_fd);
		p->ino_fd = -1;
	}
	if (p->ino_fd < 0) {
		log_warn("%s: inotify unavailable (%s); scanning every %d s", p->dir,
			 strerror(errno), SCAN_INTERVAL);
		return;
	}
	p->ino_ev = event_new(base, p->ino_fd, EV_READ | EV_PERSIST, on_inotify, p);
	event_add(p->ino_ev, NULL);
}

struct pickup *pickup_start(struct event_base *base, struct spool *sp, const struct config *cfg,
			    pickup_queued_fn queued, void *arg)
{
	struct pickup *p = xcalloc(1, sizeof *p);
	*p = (struct pickup){.sp = sp, .cfg = config_ref(cfg), .queued = queued, .arg = arg,
			     .dirfd = -1, .qdirfd = -1, .ino_fd = -1};
	if (!open_dirs(p)) {
		if (p->dirfd >= 0)
			close(p->dirfd);
		config_free(p->cfg);
		free(p);
		return NULL;
	}
	watch(p, base);
	p->timer = event_new(base, -1, EV_PERSIST, on_timer, p);
	struct timeval tv = {SCAN_INTERVAL, 0};
	event_add(p->timer, &tv);
	scan(p);
	return p;
}

void pickup_set_config(struct pickup *p, const struct config *cfg)
{
	config_replace(&p->cfg, cfg);
}

void pickup_stop(struct pickup *p)
{
	if (!p)
		return;
	p->stopped = true;
	event_free(p->timer);
	p->timer = NULL;
	if (p->ino_ev)
		event_free(p->ino_ev);
	if (p->ino_fd >= 0)
		close(p->ino_fd);
	if (!p->items)
		pickup_free(p);
}
