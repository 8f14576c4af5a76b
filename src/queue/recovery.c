/*
 * recovery - rebuilds the spool's state from the log at start-up; see
 * segment.h and docs/spool.md.
 *
 * Contract: every record that checks out is handed to the sink in log order.
 * Nothing that fails to parse is lost: a damaged segment is copied whole into
 * quarantine/ before the scan resynchronises past the damage, and bytes cut
 * off the end of the last segment are saved there first (except zeros). Only
 * a segment that cannot be read at all makes recovery fail.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "queue/segment.h"
#include "util/fsutil.h"
#include "util/log.h"

/* The segment being scanned. */
struct scan {
	const struct recovery_sink *sink;
	const char *qdir;
	char name[SEG_NAME_LEN + 1];
	uint64_t seq;
	const uint8_t *p;
	size_t size;
	bool last;
	bool quarantined; /* copied during this scan */
	bool pinned;
	size_t unknown;   /* records about messages no longer queued */
};

/* ---- quarantine ---- */

static bool same_contents(const char *path, const uint8_t *p, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	struct stat st;
	bool same = false;
	if (fstat(fd, &st) == 0 && (uint64_t)st.st_size == size && size > 0) {
		void *q = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
		if (q != MAP_FAILED) {
			same = memcmp(p, q, size) == 0;
			munmap(q, size);
		}
	}
	close(fd);
	return same;
}

/* True when qdir already holds "<prefix>.*" with exactly these bytes, so a
 * damaged segment is not copied again at every start. */
static bool already_saved(const char *qdir, const char *prefix, const uint8_t *p, size_t size)
{
	DIR *d = opendir(qdir);
	if (!d)
		return false;
	size_t plen = strlen(prefix);
	bool found = false;
	struct dirent *e;
	while (!found && (e = readdir(d))) {
		char path[PATH_MAX];
		if (strncmp(e->d_name, prefix, plen) != 0 || e->d_name[plen] != '.')
			continue;
		int n = snprintf(path, sizeof path, "%s/%s", qdir, e->d_name);
		found = n > 0 && (size_t)n < sizeof path && same_contents(path, p, size);
	}
	closedir(d);
	return found;
}

/* Writes p[0..size) to "<qdir>/<prefix>.<UTC time>[.N]"; false on failure. */
static bool save_copy(const char *qdir, const char *prefix, const uint8_t *p, size_t size)
{
	if (already_saved(qdir, prefix, p, size))
		return true;
	char stamp[32], path[PATH_MAX];
	struct tm tm;
	time_t now = time(NULL);
	gmtime_r(&now, &tm);
	strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tm);
	for (unsigned i = 0; i < 1000; i++) {
		int n = i ? snprintf(path, sizeof path, "%s/%s.%s.%u", qdir, prefix, stamp, i)
			  : snprintf(path, sizeof path, "%s/%s.%s", qdir, prefix, stamp);
		if (n < 0 || (size_t)n >= sizeof path)
			break;
		if (access(path, F_OK) == 0)
			continue;
		if (fsutil_write_atomic(path, p, size, 0600) == 0) {
			log_warn("spool: saved a copy as %s", path);
			return true;
		}
		log_error("spool: cannot write %s: %s", path, strerror(errno));
		break;
	}
	return false;
}

/* Notes damage at off: the segment is copied once, and pinned if it cannot be. */
static void damaged(struct scan *sc, size_t off, const char *why)
{
	log_warn("spool: segment %s: %s at offset %zu", sc->name, why, off);
	if (sc->quarantined || sc->pinned)
		return;
	sc->quarantined = save_copy(sc->qdir, sc->name, sc->p, sc->size);
	if (!sc->quarantined) {
		log_error("spool: segment %s could not be quarantined; it is kept in place",
			  sc->name);
		sc->pinned = true;
	}
}

/* ---- the scan ---- */

/* Offset of the next record at or after from that checks out, or size. */
static size_t resync(const struct scan *sc, size_t from)
{
	uint8_t magic[4];
	rec_put_le32(magic, REC_MAGIC);
	size_t pos = from;
	while (pos < sc->size) {
		const uint8_t *m = memmem(sc->p + pos, sc->size - pos, magic, sizeof magic);
		if (!m)
			break;
		pos = (size_t)(m - sc->p);
		struct rec_hdr h;
		if (rec_check(m, sc->size - pos, sc->seq, pos, &h) == REC_VALID)
			return pos;
		pos++;
	}
	return sc->size;
}

/* Hands a checked record to the sink; false when its fields are malformed. */
static bool apply(struct scan *sc, size_t off, const struct rec_hdr *h)
{
	const uint8_t *payload = sc->p + off + REC_HDR_LEN;
	struct rec_update u;
	switch (h->type) {
	case REC_MSG: {
		struct rec_msg m;
		if (!rec_decode_msg(payload, h->len, &m))
			return false;
		bool ok = sc->sink->msg(sc->sink->ctx, &m, sc->seq, off, REC_HDR_LEN + h->len);
		rec_msg_free(&m);
		return ok;
	}
	case REC_RCPT:
		if (!rec_decode_update(payload, h->len, &u))
			return false;
		break;
	case REC_HOLD:
	case REC_RELEASE:
		memset(&u, 0, sizeof u);
		if (!rec_decode_hold(payload, h->len, &u.id))
			return false;
		break;
	default:
		log_warn("spool: segment %s: unknown record type %u at offset %zu skipped",
			 sc->name, h->type, off);
		return true;
	}
	if (!sc->sink->update(sc->sink->ctx, h->type, &u))
		sc->unknown++;
	return true;
}

static bool all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

/* Nothing valid follows off in the last segment: the tail of a write that
 * was never acknowledged (or damage). Returns where the file should end. */
static size_t cut_tail(struct scan *sc, size_t off, enum rec_check c)
{
	size_t n = sc->size - off;
	if (!all_zero(sc->p + off, n)) {
		char prefix[SEG_NAME_LEN + 40];
		snprintf(prefix, sizeof prefix, "%s.tail-%zu", sc->name, off);
		if (!save_copy(sc->qdir, prefix, sc->p + off, n)) {
			log_error("spool: segment %s: tail at offset %zu kept in place", sc->name, off);
			sc->pinned = true;
			return sc->size;
		}
	}
	if (all_zero(sc->p + off, n))
		log_info("spool: segment %s: cutting off %zu bytes of zeros (written ahead, or "
			 "a write that never reached the disk) at offset %zu", sc->name, n, off);
	else if (c == REC_TRUNCATED)
		log_info("spool: segment %s: cutting off a torn write of %zu bytes at offset %zu",
			 sc->name, n, off);
	else
		log_warn("spool: segment %s: cutting off %zu damaged bytes at offset %zu",
			 sc->name, n, off);
	return off;
}

/* Walks the records; returns the length the segment should have. */
static size_t walk(struct scan *sc)
{
	size_t off = 0;
	while (off < sc->size) {
		struct rec_hdr h;
		enum rec_check c = rec_check(sc->p + off, sc->size - off, sc->seq, off, &h);
		if (c == REC_VALID) {
			if (!apply(sc, off, &h))
				damaged(sc, off, "malformed record");
			off += REC_HDR_LEN + h.len;
			continue;
		}
		size_t next = resync(sc, off + 1);
		if (next == sc->size && sc->last)
			return cut_tail(sc, off, c);
		damaged(sc, off, c == REC_TRUNCATED ? "record runs past the end" : "bad record");
		log_warn("spool: segment %s: skipped %zu bytes, resuming at offset %zu", sc->name,
			 next - off, next);
		off = next;
	}
	return sc->size;
}

static int cut_file(int fd, const char *name, size_t len)
{
	if (ftruncate(fd, (off_t)len) == 0 && fsync(fd) == 0)
		return 0;
	log_error("spool: cannot truncate segment %s: %s", name, strerror(errno));
	return -1;
}

static int scan_segment(struct scan *sc, const char *logdir, struct seg_info *info)
{
	char path[PATH_MAX];
	if (!seg_path(path, sizeof path, logdir, sc->seq)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	seg_name(sc->name, sc->seq);
	int fd = open(path, (sc->last ? O_RDWR : O_RDONLY) | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0) {
		int saved = errno;
		if (fd >= 0)
			close(fd);
		errno = saved;
		return -1;
	}
	sc->size = (size_t)st.st_size;
	size_t end = sc->size;
	if (sc->size > 0) {
		void *p = mmap(NULL, sc->size, PROT_READ, MAP_SHARED, fd, 0);
		if (p == MAP_FAILED) {
			int saved = errno;
			close(fd);
			errno = saved;
			return -1;
		}
		sc->p = p;
		end = walk(sc);
		munmap(p, sc->size);
	}
	if (end < sc->size && cut_file(fd, sc->name, end) < 0)
		end = sc->size;
	close(fd);
	*info = (struct seg_info){sc->seq, end, sc->pinned};
	return 0;
}

static int cmp_seq(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* The segment numbers in logdir, ascending. */
static int list_segments(const char *logdir, uint64_t **seqs, size_t *n)
{
	DIR *d = opendir(logdir);
	if (!d)
		return -1;
	size_t cap = 16;
	*seqs = xmalloc(cap * sizeof **seqs);
	*n = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		uint64_t seq;
		if (e->d_name[0] == '.')
			continue;
		if (!seg_parse_name(e->d_name, &seq)) {
			char safe[80];
			log_warn("spool: ignoring unexpected file %s/%s", logdir,
				 log_safe(safe, sizeof safe, e->d_name, strlen(e->d_name)));
			continue;
		}
		if (*n == cap) {
			cap *= 2;
			*seqs = xrealloc(*seqs, cap * sizeof **seqs);
		}
		(*seqs)[(*n)++] = seq;
	}
	closedir(d);
	qsort(*seqs, *n, sizeof **seqs, cmp_seq);
	return 0;
}

int recover_log(const char *spooldir, const struct recovery_sink *sink, struct seg_info **segs,
		size_t *nsegs)
{
	char logdir[PATH_MAX], qdir[PATH_MAX];
	int a = snprintf(logdir, sizeof logdir, "%s/log", spooldir);
	int b = snprintf(qdir, sizeof qdir, "%s/quarantine", spooldir);
	if (a < 0 || (size_t)a >= sizeof logdir || b < 0 || (size_t)b >= sizeof qdir) {
		errno = ENAMETOOLONG;
		return -1;
	}
	uint64_t *seqs;
	size_t n;
	if (list_segments(logdir, &seqs, &n) < 0)
		return -1;
	*segs = xcalloc(n, sizeof **segs);
	*nsegs = n;
	for (size_t i = 0; i < n; i++) {
		struct scan sc = {.sink = sink, .qdir = qdir, .seq = seqs[i], .last = i + 1 == n};
		if (scan_segment(&sc, logdir, &(*segs)[i]) < 0) {
			int saved = errno;
			log_error("spool: cannot read segment %s/%016" PRIx64 ".seg: %s", logdir,
				  seqs[i], strerror(saved));
			free(seqs);
			free(*segs);
			*segs = NULL;
			errno = saved;
			return -1;
		}
		if (sc.unknown)
			log_info("spool: segment %s: %zu records about messages no longer queued "
				 "ignored", sc.name, sc.unknown);
	}
	free(seqs);
	return 0;
}
