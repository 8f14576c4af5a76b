/*
 * segment - segment files and the spool writer thread; see segment.h.
 *
 * The writer takes everything queued at once and writes it with pwritev at
 * the durable end of the current segment, then calls fdatasync once for the
 * whole batch. Past the end the file holds zeros, written ahead in
 * SEG_PREFILL steps, so most batches overwrite allocated blocks and their
 * sync carries no metadata; the zeros read as a clean end to recovery, and
 * are cut off when the writer moves to the next segment or stops. On any
 * error it cuts the file back to its durable end, so a failed batch leaves
 * nothing a reader could take for a record, and fails every request not yet
 * durable; later batches are tried afresh, so service resumes by itself
 * once the disk has room again.
 *
 * A batch made only of lazy records (delivery outcomes) is written but not
 * synced: its records are parked until the next batch that syncs, or until
 * WRITER_LAZY_MS pass without one, and complete then. A lost outcome only
 * means a duplicate delivery (docs/spool.md, invariant 3), and sparing that
 * sync halves the syncs per relayed message, so a new message no longer
 * waits behind the previous one's outcome.
 */
#include "queue/segment.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "util/fsutil.h"
#include "util/log.h"

void seg_name(char out[SEG_NAME_LEN + 1], uint64_t seq)
{
	snprintf(out, SEG_NAME_LEN + 1, "%016" PRIx64 ".seg", seq);
}

bool seg_parse_name(const char *name, uint64_t *seq)
{
	if (strlen(name) != SEG_NAME_LEN || strcmp(name + 16, ".seg") != 0)
		return false;
	uint64_t v = 0;
	for (int i = 0; i < 16; i++) {
		char c = name[i];
		if (c >= '0' && c <= '9')
			v = v << 4 | (uint64_t)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v = v << 4 | (uint64_t)(c - 'a' + 10);
		else
			return false;
	}
	*seq = v;
	return true;
}

bool seg_path(char *out, size_t outsz, const char *logdir, uint64_t seq)
{
	char name[SEG_NAME_LEN + 1];
	seg_name(name, seq);
	int n = snprintf(out, outsz, "%s/%s", logdir, name);
	return n > 0 && (size_t)n < outsz;
}

/* An empty file left by an earlier failed attempt may be taken over. */
static int open_new_segment(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd >= 0 || errno != EEXIST)
		return fd;
	fd = open(path, O_WRONLY | O_CLOEXEC);
	struct stat st;
	if (fd >= 0 && (fstat(fd, &st) < 0 || st.st_size != 0)) {
		close(fd);
		errno = EEXIST;
		return -1;
	}
	return fd;
}

int seg_create(const char *logdir, uint64_t seq)
{
	char path[PATH_MAX];
	if (!seg_path(path, sizeof path, logdir, seq)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	int fd = open_new_segment(path);
	if (fd < 0)
		return -1;
	/* The name must be durable before any record in the file is acknowledged. */
	if (fsync(fd) < 0 || fsutil_fsync_dir(logdir) < 0) {
		int saved = errno;
		close(fd);
		unlink(path);
		errno = saved;
		return -1;
	}
	return fd;
}

uint64_t wreq_len(const struct wreq *r)
{
	return r->rec.len + r->tail_len;
}

/* A request has a tail exactly when tail_len > 0. */
static void close_tail(struct wreq *r)
{
	if (r->tail_len && r->tail_fd >= 0)
		close(r->tail_fd);
	r->tail_fd = -1;
}

void wreq_free(struct wreq *r)
{
	close_tail(r);
	buf_free(&r->rec);
	free(r->error);
	free(r);
}

/* ---- writing one batch ---- */

static int pwritev_all(int fd, struct iovec *iov, size_t cnt, uint64_t off)
{
	size_t i = 0;
	while (i < cnt) {
		int n = cnt - i > IOV_MAX ? IOV_MAX : (int)(cnt - i);
		ssize_t k = pwritev(fd, iov + i, n, (off_t)off);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return errno;
		if (k == 0)
			return EIO;
		off += (uint64_t)k;
		size_t left = (size_t)k;
		while (i < cnt && left >= iov[i].iov_len)
			left -= iov[i++].iov_len;
		if (left) {
			iov[i].iov_base = (char *)iov[i].iov_base + left;
			iov[i].iov_len -= left;
		}
	}
	return 0;
}

/* Writes zeros from upto (the end of the batch just written) to the next
 * SEG_PREFILL boundary, unless the file has them already. They are synced
 * with the batch. A failure (a full disk) is no error: later batches then
 * append, or overwrite the part of the zeros that did get written; filled
 * still moves, since it bounds what may need cutting off, not what is
 * certainly there. */
static void prefill(struct writer *w, uint64_t upto)
{
	static uint8_t zeros[64 * 1024];
	if (upto <= w->filled)
		return;
	uint64_t from = upto, to = (upto / SEG_PREFILL + 1) * SEG_PREFILL;
	struct iovec iov[SEG_PREFILL / sizeof zeros + 1];
	size_t n = 0;
	for (uint64_t at = from; at < to; at += sizeof zeros) {
		size_t len = to - at < sizeof zeros ? (size_t)(to - at) : sizeof zeros;
		iov[n++] = (struct iovec){zeros, len};
	}
	(void)pwritev_all(w->fd, iov, n, from);
	w->filled = to;
}

/* Cuts the file back to the durable end, zeros included; false (logged)
 * on error. */
static bool cut_to_size(struct writer *w)
{
	w->end = w->size;
	w->filled = w->size;
	if (ftruncate(w->fd, (off_t)w->size) == 0 && fdatasync(w->fd) == 0)
		return true;
	log_error("spool: cannot cut segment %016" PRIx64 " back to %" PRIu64 ": %s", w->seq,
		  w->size, strerror(errno));
	return false;
}

/* Cuts a failed batch off the file; if that fails, later batches retry it
 * first (w->dirty) rather than append behind records nobody acknowledged. */
static void cut_back(struct writer *w, struct spool_stats *d)
{
	d->syncs++;
	w->dirty = !cut_to_size(w);
}

static void roll_segment(struct writer *w, uint64_t seg_max, struct spool_stats *d)
{
	if (w->dirty || w->size == 0 || w->size < seg_max)
		return;
	/* Recovery reads zeros inside any segment but the last as damage. */
	if (w->filled > w->size && !cut_to_size(w))
		return;
	int fd = seg_create(w->logdir, w->seq + 1);
	if (fd < 0) {
		/* Not fatal: the current segment simply grows past the threshold. */
		log_warn("spool: cannot create segment %016" PRIx64 ": %s", w->seq + 1,
			 strerror(errno));
		return;
	}
	close(w->fd);
	w->fd = fd;
	w->seq++;
	w->size = 0;
	w->end = 0;
	w->filled = 0;
	d->segments++;
}

static void fail_list(struct wreq *list, int err)
{
	for (struct wreq *r = list; r; r = r->next)
		if (r->kind != WREQ_UNLINK && r->err == 0)
			r->err = err;
}

/* The batch and the parked records fail: none of them is durable. */
static void fail_batch(struct writer *w, struct wreq *batch, size_t n, int err,
		       struct spool_stats *d)
{
	n += w->nparked;
	log_error("spool: writing %zu records to segment %016" PRIx64 " failed: %s", n, w->seq,
		  strerror(err));
	if (!w->dirty)
		cut_back(w, d);
	w->end = w->size;
	fail_list(w->parked, err);
	fail_list(batch, err);
	d->failed += n;
}

/* A batch may go unsynced only when every record in it is lazy (UNLINKs
 * aside): anything else completes now, and since callbacks run in
 * submission order, the parked records must then be durable too. No batch
 * (the deadline passed, or the writer stops) means: sync what is parked. */
static bool may_park(const struct wreq *batch)
{
	if (!batch)
		return false;
	for (const struct wreq *r = batch; r; r = r->next)
		if (r->kind != WREQ_UNLINK && !(r->lazy && r->err == 0))
			return false;
	return true;
}

/* Parked records past their deadline: a steady stream of lazy batches must
 * not postpone their sync forever. */
static bool park_expired(const struct writer *w)
{
	if (!w->parked)
		return false;
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return now.tv_sec > w->park_until.tv_sec ||
	       (now.tv_sec == w->park_until.tv_sec && now.tv_nsec >= w->park_until.tv_nsec);
}

/* Copies len octets from src at in to dst at out through a bounded buffer:
 * where copy_file_range cannot (another file system, an old kernel). */
static int copy_through_buffer(int src, uint64_t in, int dst, uint64_t out, uint64_t len)
{
	char b[64 * 1024];
	while (len) {
		ssize_t k = pread(src, b, len < sizeof b ? (size_t)len : sizeof b, (off_t)in);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return k < 0 ? errno : EIO;
		struct iovec v = {b, (size_t)k};
		int err = pwritev_all(dst, &v, 1, out);
		if (err)
			return err;
		in += (uint64_t)k;
		out += (uint64_t)k;
		len -= (uint64_t)k;
	}
	return 0;
}

/* Copies a record's tail to off in the segment: in the kernel, the octets
 * never pass through this process. */
static int copy_tail(const struct wreq *r, int dst, uint64_t off)
{
	loff_t in = (loff_t)r->tail_off, out = (loff_t)off;
	uint64_t left = r->tail_len;
	while (left) {
		size_t want = left < (UINT64_C(1) << 30) ? (size_t)left : (size_t)1 << 30;
		ssize_t k = copy_file_range(r->tail_fd, &in, dst, &out, want, 0);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0 && (errno == EXDEV || errno == ENOSYS || errno == EINVAL ||
			      errno == EOPNOTSUPP))
			return copy_through_buffer(r->tail_fd, (uint64_t)in, dst, (uint64_t)out, left);
		if (k <= 0)
			return k < 0 ? errno : EIO; /* 0: the file is shorter than its draft said */
		left -= (uint64_t)k;
	}
	return 0;
}

/* Writes the records of batch in order at w->end: runs of records in
 * memory with one pwritev, each tail copied after its record. 0 or an
 * errno. */
static int put_records(struct writer *w, struct wreq *batch, struct iovec *iov, uint64_t *endp)
{
	uint64_t off = w->end, from = off;
	size_t i = 0;
	int err = 0;
	for (struct wreq *r = batch; r && !err; r = r->next) {
		if (r->kind == WREQ_UNLINK || r->err)
			continue;
		rec_bind((uint8_t *)r->rec.p, w->seq, off);
		r->seg = w->seq;
		r->off = off;
		iov[i++] = (struct iovec){r->rec.p, r->rec.len};
		off += r->rec.len;
		if (r->tail_len) {
			err = pwritev_all(w->fd, iov, i, from);
			if (!err)
				err = copy_tail(r, w->fd, off);
			i = 0;
			off += r->tail_len;
			from = off;
		}
	}
	if (!err && i)
		err = pwritev_all(w->fd, iov, i, from);
	*endp = off;
	return err;
}

/* Writes the records of batch (those not failed beforehand) and syncs,
 * unless they may be parked; true when they were parked. */
static bool write_records(struct writer *w, struct wreq *batch, uint64_t seg_max,
			  struct spool_stats *d)
{
	size_t n = 0;
	for (struct wreq *r = batch; r; r = r->next)
		n += r->kind != WREQ_UNLINK && r->err == 0;
	bool park = may_park(batch) && !park_expired(w);
	if (n == 0 && (park || !w->parked))
		return park;
	/* Parked records must be synced in the segment they were written to. */
	if (!w->parked)
		roll_segment(w, seg_max, d);
	struct iovec *iov = xcalloc(n ? n : 1, sizeof *iov);
	uint64_t off = w->end;
	int err = w->dirty ? EIO : put_records(w, batch, iov, &off);
	/* After the records: on a nearly full disk they get the room first. */
	if (!err)
		prefill(w, off);
	if (!err && !park) {
		d->syncs++;
		if (fdatasync(w->fd) < 0)
			err = errno;
	}
	free(iov);
	if (err) {
		fail_batch(w, batch, n, err, d);
		return false;
	}
	w->end = off;
	w->nparked += n;
	if (park)
		return true;
	d->bytes += off - w->size;
	w->size = off;
	d->records += w->nparked;
	d->batches++;
	return false;
}

/* Removes a reclaimed segment. Each removal is made durable before the
 * next, so after a crash the segments gone are always the oldest ones. If
 * one fails, no newer segment may go: removals stop until the next start,
 * whose recovery finds the segments again and reclaims them in order. */
static void unlink_segment(struct writer *w, uint64_t seq)
{
	char path[PATH_MAX];
	if (w->unlink_stopped || !seg_path(path, sizeof path, w->logdir, seq))
		return;
	if ((unlink(path) < 0 && errno != ENOENT) || fsutil_fsync_dir(w->logdir) < 0) {
		log_error("spool: cannot remove %s durably: %s; segments are kept until restart",
			  path, strerror(errno));
		w->unlink_stopped = true;
		return;
	}
	log_debug("spool: removed segment %016" PRIx64, seq);
}

static void park_until_deadline(struct writer *w, struct wreq *list, struct wreq **tail,
				unsigned lazy_ms)
{
	if (!list)
		return;
	if (!w->parked) {
		clock_gettime(CLOCK_MONOTONIC, &w->park_until);
		w->park_until.tv_sec += lazy_ms / 1000;
		w->park_until.tv_nsec += (long)(lazy_ms % 1000) * 1000000L;
		if (w->park_until.tv_nsec >= 1000000000L) {
			w->park_until.tv_sec++;
			w->park_until.tv_nsec -= 1000000000L;
		}
	}
	*w->parked_tail = list;
	w->parked_tail = tail;
}

/* Handles one batch (NULL: sync the parked records); returns the requests
 * that completed, parked ones first, without the UNLINKs, which are freed. */
static struct wreq *write_batch(struct writer *w, struct wreq *batch, uint64_t seg_max,
				unsigned lazy_ms, struct spool_stats *d)
{
	if (w->dirty)
		cut_back(w, d);
	bool parked = write_records(w, batch, seg_max, d);
	struct wreq *keep = NULL, **tail = &keep;
	while (batch) {
		struct wreq *r = batch;
		batch = r->next;
		if (r->kind == WREQ_UNLINK) {
			unlink_segment(w, r->unlink_seq);
			free(r);
			continue;
		}
		/* Written or failed: the draft's file is of no more use. */
		close_tail(r);
		r->next = NULL;
		*tail = r;
		tail = &r->next;
	}
	if (parked) {
		park_until_deadline(w, keep, tail, lazy_ms);
		return NULL;
	}
	struct wreq *done = keep;
	if (w->parked) {
		*w->parked_tail = keep;
		done = w->parked;
	}
	w->parked = NULL;
	w->parked_tail = &w->parked;
	w->nparked = 0;
	return done;
}

/* ---- the thread ---- */

static void add_stats(struct spool_stats *s, const struct spool_stats *d)
{
	s->records += d->records;
	s->batches += d->batches;
	s->syncs += d->syncs;
	s->bytes += d->bytes;
	s->failed += d->failed;
	s->segments += d->segments;
}

/* Under w->lock: waits for requests, for the stop, or until the parked
 * records are due. */
static void wait_work(struct writer *w)
{
	while (!w->queue && !w->stopping) {
		int rc = 0;
		if (!w->parked) {
			w->state = WRITER_SLEEPS;
			pthread_cond_wait(&w->cond, &w->lock);
		} else {
			w->state = WRITER_WAITS_DEADLINE;
			rc = pthread_cond_timedwait(&w->cond, &w->lock, &w->park_until);
		}
		w->state = WRITER_BUSY;
		if (rc == ETIMEDOUT)
			return;
	}
}

static void *writer_main(void *arg)
{
	struct writer *w = arg;
	pthread_mutex_lock(&w->lock);
	for (;;) {
		wait_work(w);
		if (!w->queue && !w->parked)
			break;
		struct wreq *batch = w->queue;
		w->queue = NULL;
		w->queue_tail = &w->queue;
		uint64_t seg_max = w->seg_max;
		unsigned lazy_ms = w->lazy_ms;
		pthread_mutex_unlock(&w->lock);

		struct spool_stats d = {0};
		struct wreq *done = write_batch(w, batch, seg_max, lazy_ms, &d);

		pthread_mutex_lock(&w->lock);
		add_stats(&w->stats, &d);
		w->stats.parked = w->nparked;
		if (done) {
			*w->done_tail = done;
			while (done->next)
				done = done->next;
			w->done_tail = &done->next;
			/* The loop takes the lock as soon as it wakes: signal unlocked. */
			pthread_mutex_unlock(&w->lock);
			uint64_t one = 1;
			if (write(w->notify_fd, &one, sizeof one) < 0)
				log_error("spool: cannot signal completion: %s", strerror(errno));
			pthread_mutex_lock(&w->lock);
		}
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

int writer_start(struct writer *w, const char *logdir, uint64_t seq, uint64_t size)
{
	memset(w, 0, sizeof *w);
	w->queue_tail = &w->queue;
	w->done_tail = &w->done;
	w->seg_max = SPOOL_SEGMENT_MAX;
	w->lazy_ms = WRITER_LAZY_MS;
	w->seq = seq;
	w->size = size;
	w->end = size;
	w->filled = size;
	w->parked_tail = &w->parked;
	snprintf(w->logdir, sizeof w->logdir, "%s", logdir);
	char path[PATH_MAX];
	if (!seg_path(path, sizeof path, logdir, seq)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	w->fd = open(path, O_WRONLY | O_CLOEXEC);
	if (w->fd < 0)
		return -1;
	w->notify_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	int err = w->notify_fd < 0 ? errno : 0;
	if (!err) {
		pthread_condattr_t ca;
		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		pthread_mutex_init(&w->lock, NULL);
		pthread_cond_init(&w->cond, &ca);
		pthread_condattr_destroy(&ca);
		err = pthread_create(&w->thread, NULL, writer_main, w);
		if (err) {
			pthread_mutex_destroy(&w->lock);
			pthread_cond_destroy(&w->cond);
			close(w->notify_fd);
		}
	}
	if (err) {
		close(w->fd);
		errno = err;
		return -1;
	}
	return 0;
}

void writer_enqueue(struct writer *w, struct wreq *r)
{
	r->next = NULL;
	pthread_mutex_lock(&w->lock);
	*w->queue_tail = r;
	w->queue_tail = &r->next;
	/* A wake-up is a futex call and, as the writer then runs on the other
	 * CPU, an inter-processor interrupt: 6 % of the loop thread's time in
	 * the accept benchmark when every message had one. A busy writer finds
	 * the record when it looks at the queue again; one waiting for its
	 * parked records' deadline finds a lazy record then at the latest. */
	bool wake = w->state == WRITER_SLEEPS || (w->state == WRITER_WAITS_DEADLINE && !r->lazy);
	pthread_mutex_unlock(&w->lock);
	/* Signalled after unlocking, so that the writer does not wake only to
	 * block on the mutex still held here (two more futex calls and a
	 * context switch per message). */
	if (wake)
		pthread_cond_signal(&w->cond);
}

struct wreq *writer_take_done(struct writer *w)
{
	pthread_mutex_lock(&w->lock);
	struct wreq *list = w->done;
	w->done = NULL;
	w->done_tail = &w->done;
	pthread_mutex_unlock(&w->lock);
	return list;
}

void writer_set_seg_max(struct writer *w, uint64_t bytes)
{
	pthread_mutex_lock(&w->lock);
	w->seg_max = bytes;
	pthread_mutex_unlock(&w->lock);
}

void writer_set_lazy_ms(struct writer *w, unsigned ms)
{
	pthread_mutex_lock(&w->lock);
	w->lazy_ms = ms;
	pthread_mutex_unlock(&w->lock);
}

void writer_stats(struct writer *w, struct spool_stats *out)
{
	pthread_mutex_lock(&w->lock);
	*out = w->stats;
	pthread_mutex_unlock(&w->lock);
}

void writer_stop(struct writer *w)
{
	pthread_mutex_lock(&w->lock);
	w->stopping = true;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
	pthread_join(w->thread, NULL);
	if (!w->dirty && w->filled > w->size)
		cut_to_size(w);
	close(w->fd);
	w->fd = -1;
}

void writer_destroy(struct writer *w)
{
	while (w->done) {
		struct wreq *r = w->done;
		w->done = r->next;
		wreq_free(r);
	}
	close(w->notify_fd);
	pthread_mutex_destroy(&w->lock);
	pthread_cond_destroy(&w->cond);
}
