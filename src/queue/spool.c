/*
 * spool - the durable queue: public API, the in-memory index and segment
 * reclamation; see spool.h and docs/spool.md.
 *
 * Everything here runs in the loop thread. Requests are encoded here and
 * handed to the writer (segment.c); the index changes only in
 * spool_dispatch, i.e. only once the records are durable. A segment is
 * removed only when it and every older segment hold no MSG record of an
 * unfinished message, oldest first, and never the newest one.
 */
#include "queue/spool.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "queue/draft.h"
#include "queue/segment.h"
#include "util/fsutil.h"
#include "util/log.h"

/* Compact the oldest segment once the log has more segments than this and
 * is mostly dead space (see relocate()). */
#define RELOCATE_AFTER 8
/* Error texts are diagnostics: longer ones are cut. */
#define MAX_ERROR_TEXT 4096
#define HASH_MIN 1024

/* A message in the index: the public part first, so the two convert. */
struct smsg {
	struct spool_msg m;
	struct smsg *prev_all;
	struct smsg *hnext;
	uint32_t rec_len;  /* length of its MSG record */
	unsigned pending;  /* records about it not yet durable */
};

struct seg {
	uint64_t seq;
	int fd;              /* read-only, opened on demand, or -1 */
	uint64_t size;
	uint64_t live;       /* unfinished messages whose MSG record is here */
	uint64_t live_bytes; /* their records' bytes */
	bool pinned;         /* damaged and not quarantined: never removed */
	unsigned readers;    /* open spool_body pins: neither removed nor closed */
};

struct spool {
	char dir[PATH_MAX];
	char logdir[PATH_MAX];
	int lock_fd;
	struct writer w;
	bool closing;
	struct smsg *head, *tail;
	struct spool_cursor *cursors; /* walks under way: moved on past a removal */
	struct smsg **tab;
	size_t tabsz, count;
	struct seg *segs;
	size_t nsegs, segcap;
	uint64_t log_bytes, live_bytes;
	size_t reloc_inflight;
	uint64_t relocated;
	spool_listener_fn listener;
	void *listener_arg;
};

static struct smsg *to_smsg(struct spool_msg *m)
{
	return (struct smsg *)m;
}

/* ---- index ---- */

static size_t hash_id(const char *id, size_t len, size_t tabsz)
{
	uint64_t h = 1469598103934665603u;
	for (size_t i = 0; i < len; i++)
		h = (h ^ (unsigned char)id[i]) * 1099511628211u;
	return (size_t)(h & (tabsz - 1));
}

static struct smsg *idx_find(const struct spool *sp, const char *id, size_t len)
{
	if (len != QUEUE_ID_LEN)
		return NULL;
	struct smsg *s = sp->tab[hash_id(id, len, sp->tabsz)];
	while (s && memcmp(s->m.id, id, QUEUE_ID_LEN) != 0)
		s = s->hnext;
	return s;
}

static void idx_grow(struct spool *sp)
{
	size_t nsz = sp->tabsz * 2;
	struct smsg **nt = xcalloc(nsz, sizeof *nt);
	for (struct smsg *s = sp->head; s; s = to_smsg(s->m.next_all)) {
		size_t h = hash_id(s->m.id, QUEUE_ID_LEN, nsz);
		s->hnext = nt[h];
		nt[h] = s;
	}
	free(sp->tab);
	sp->tab = nt;
	sp->tabsz = nsz;
}

static void idx_insert(struct spool *sp, struct smsg *s)
{
	s->m.next_all = NULL;
	s->prev_all = sp->tail;
	if (sp->tail)
		sp->tail->m.next_all = &s->m;
	else
		sp->head = s;
	sp->tail = s;
	if (++sp->count > sp->tabsz)
		idx_grow(sp);
	else {
		size_t h = hash_id(s->m.id, QUEUE_ID_LEN, sp->tabsz);
		s->hnext = sp->tab[h];
		sp->tab[h] = s;
	}
}

static void idx_remove(struct spool *sp, struct smsg *s)
{
	struct smsg **pp = &sp->tab[hash_id(s->m.id, QUEUE_ID_LEN, sp->tabsz)];
	while (*pp != s)
		pp = &(*pp)->hnext;
	*pp = s->hnext;
	struct smsg *next = to_smsg(s->m.next_all);
	for (struct spool_cursor *c = sp->cursors; c; c = c->next)
		if (c->at == &s->m)
			c->at = s->m.next_all;
	if (s->prev_all)
		s->prev_all->m.next_all = s->m.next_all;
	else
		sp->head = next;
	if (next)
		next->prev_all = s->prev_all;
	else
		sp->tail = s->prev_all;
	sp->count--;
}

static void msg_free(struct smsg *s)
{
	for (size_t i = 0; i < s->m.nrcpt; i++) {
		rcpt_free(&s->m.rcpt[i].to);
		free(s->m.rcpt[i].last_error);
	}
	free(s->m.rcpt);
	free(s->m.envid);
	free(s->m.sender);
	free(s->m.helo);
	free(s->m.client);
	free(s);
}

static bool finished(const struct smsg *s)
{
	for (size_t i = 0; i < s->m.nrcpt; i++)
		if (s->m.rcpt[i].state == RCPT_PENDING)
			return false;
	return true;
}

/* ---- segments as the loop sees them ---- */

static struct seg *seg_find(struct spool *sp, uint64_t seq)
{
	size_t lo = 0, hi = sp->nsegs;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (sp->segs[mid].seq < seq)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < sp->nsegs && sp->segs[lo].seq == seq ? &sp->segs[lo] : NULL;
}

static void seg_add(struct spool *sp, uint64_t seq, uint64_t size, bool pinned)
{
	if (sp->nsegs == sp->segcap) {
		sp->segcap = sp->segcap ? sp->segcap * 2 : 16;
		sp->segs = xrealloc(sp->segs, sp->segcap * sizeof *sp->segs);
	}
	sp->segs[sp->nsegs++] = (struct seg){seq, -1, size, 0, 0, pinned, 0};
	sp->log_bytes += size;
}

/* A record became durable in seq up to end: the writer may have moved on. */
static void seg_note(struct spool *sp, uint64_t seq, uint64_t end)
{
	struct seg *g = seg_find(sp, seq);
	if (!g && (sp->nsegs == 0 || seq > sp->segs[sp->nsegs - 1].seq)) {
		seg_add(sp, seq, 0, false);
		g = &sp->segs[sp->nsegs - 1];
	}
	if (g && end > g->size) {
		sp->log_bytes += end - g->size;
		g->size = end;
	}
}

/* Counts s as living in (dir > 0) or leaving (dir < 0) its segment. */
static void seg_account(struct spool *sp, const struct smsg *s, int dir)
{
	struct seg *g = seg_find(sp, s->m.seg);
	if (!g)
		return;
	if (dir > 0) {
		g->live++;
		g->live_bytes += s->rec_len;
		sp->live_bytes += s->rec_len;
	} else {
		g->live--;
		g->live_bytes -= s->rec_len;
		sp->live_bytes -= s->rec_len;
	}
}

static int seg_fd(struct spool *sp, uint64_t seq)
{
	struct seg *g = seg_find(sp, seq);
	if (!g) {
		errno = ENOENT;
		return -1;
	}
	if (g->fd < 0) {
		char path[PATH_MAX];
		if (!seg_path(path, sizeof path, sp->logdir, seq)) {
			errno = ENAMETOOLONG;
			return -1;
		}
		g->fd = open(path, O_RDONLY | O_CLOEXEC);
	}
	return g->fd;
}

/* ---- requests ---- */

static struct wreq *new_req(enum wreq_kind kind, struct spool_msg *msg, spool_done_fn done,
			    void *arg)
{
	struct wreq *r = xcalloc(1, sizeof *r);
	r->kind = kind;
	r->msg = msg;
	r->done = done;
	r->arg = arg;
	return r;
}

static void free_req(struct wreq *r)
{
	wreq_free(r);
}

static void complete(struct spool *sp, struct wreq *r);

/* Requests keep their order through the writer even when they fail before
 * being written (r->err preset), so callbacks run in submission order. */
static void enqueue(struct spool *sp, struct wreq *r)
{
	if (r->msg && r->kind != WREQ_MSG)
		to_smsg(r->msg)->pending++;
	if (sp->closing) {
		r->err = ECANCELED;
		complete(sp, r);
		return;
	}
	writer_enqueue(&sp->w, r);
}

/* ---- spool_submit ---- */

static uint64_t iov_total(const struct iovec *iov, size_t n)
{
	uint64_t t = 0;
	for (size_t i = 0; i < n; i++)
		t += iov[i].iov_len;
	return t;
}

static char *dup_or_null(const char *s)
{
	return s && *s ? xstrdup(s) : NULL;
}

/* 0, or the errno with which the submission fails without being written. */
static int check_new(const struct spool *sp, const struct spool_new_msg *m, uint64_t body_len)
{
	if (!m->id || !queue_id_valid(m->id) || !m->sender || !m->helo || !m->client ||
	    m->nrcpt == 0 || !m->rcpt)
		return EINVAL;
	if (idx_find(sp, m->id, QUEUE_ID_LEN))
		return EEXIST;
	/* An upper bound of the record's size (field headers included), so no
	 * length can overflow its 32-bit field. */
	if (m->nrcpt > REC_MAX_PAYLOAD / 64 || body_len > REC_MAX_PAYLOAD)
		return EFBIG;
	uint64_t size = 160 + body_len + strlen(m->sender) + strlen(m->helo) + strlen(m->client) +
			(m->envid ? strlen(m->envid) : 0);
	for (size_t i = 0; i < m->nrcpt && size <= REC_MAX_PAYLOAD; i++) {
		const struct rcpt *r = &m->rcpt[i];
		if (!r->addr)
			return EINVAL;
		size += 48 + strlen(r->addr) + strlen(r->orig ? r->orig : r->addr) +
			(r->orcpt ? strlen(r->orcpt) : 0);
	}
	return size > REC_MAX_PAYLOAD ? EFBIG : 0;
}

static struct smsg *msg_from_new(const struct spool_new_msg *m, uint64_t body_len)
{
	struct smsg *s = xcalloc(1, sizeof *s);
	memcpy(s->m.id, m->id, QUEUE_ID_LEN + 1);
	s->m.arrival = m->arrival;
	s->m.sender = xstrdup(m->sender);
	s->m.helo = xstrdup(m->helo);
	s->m.client = xstrdup(m->client);
	s->m.flags = m->flags;
	s->m.envid = dup_or_null(m->envid);
	s->m.ret = m->ret;
	s->m.nrcpt = m->nrcpt;
	s->m.rcpt = xcalloc(m->nrcpt, sizeof *s->m.rcpt);
	for (size_t i = 0; i < m->nrcpt; i++)
		rcpt_copy(&s->m.rcpt[i].to, &m->rcpt[i]);
	s->m.body_len = body_len;
	return s;
}

/* Encodes the MSG record of s (with recipient states when with_state), its
 * last tail body octets left out, and returns where its body goes in r->rec. */
static size_t encode_msg(struct wreq *r, const struct smsg *s, bool with_state, uint64_t tail)
{
	struct rec_msg rm = {
		.id = {s->m.id, QUEUE_ID_LEN},
		.sender = str_from(s->m.sender),
		.helo = str_from(s->m.helo),
		.client = str_from(s->m.client),
		.arrival = s->m.arrival,
		.flags = s->m.flags,
		.held = s->m.held,
		.envid = s->m.envid ? str_from(s->m.envid) : STR_LIT(""),
		.ret = s->m.ret,
		.nrcpt = s->m.nrcpt,
	};
	rm.rcpt = xcalloc(s->m.nrcpt, sizeof *rm.rcpt);
	for (size_t i = 0; i < s->m.nrcpt; i++) {
		const struct spool_rcpt *c = &s->m.rcpt[i];
		rm.rcpt[i] = (struct rec_rcpt){
			.addr = str_from(c->to.addr), .orig = str_from(c->to.orig),
			.has_state = with_state, .state = (uint8_t)c->state,
			.attempts = c->attempts, .next_try = c->next_try,
			.has_error = c->last_error != NULL,
			.error = c->last_error ? str_from(c->last_error) : STR_LIT(""),
			.warned = c->warned,
			.notify = c->to.notify,
			.orcpt = c->to.orcpt ? str_from(c->to.orcpt) : STR_LIT(""),
		};
	}
	size_t start;
	size_t body_at = rec_msg_begin_tail(&r->rec, &rm, s->m.body_len, tail, &start);
	free(rm.rcpt);
	r->body_rel = body_at - start;
	return body_at;
}

static void put_bytes(struct buf *rec, size_t *at, const void *p, size_t n)
{
	if (n)
		memcpy(rec->p + *at, p, n);
	*at += n;
}

/* The record holds the envelope, the pieces in memory and the draft's
 * memory part; the draft's file part becomes the request's tail, which the
 * writer copies after it (its CRC is folded in here, unread). */
void spool_submit(struct spool *sp, const struct spool_new_msg *m, spool_done_fn done, void *arg)
{
	uint64_t tail = m->draft ? draft_file_len(m->draft) : 0;
	uint64_t body_len = iov_total(m->body, m->nbody) + (m->draft ? draft_len(m->draft) : 0);
	struct wreq *r = new_req(WREQ_MSG, NULL, done, arg);
	r->err = m->draft ? draft_error(m->draft) : 0;
	if (!r->err)
		r->err = check_new(sp, m, body_len);
	if (!r->err) {
		struct smsg *s = msg_from_new(m, body_len);
		r->msg = &s->m;
		size_t at = encode_msg(r, s, false, tail);
		for (size_t i = 0; i < m->nbody; i++)
			put_bytes(&r->rec, &at, m->body[i].iov_base, m->body[i].iov_len);
		if (m->draft) {
			put_bytes(&r->rec, &at, draft_mem(m->draft)->p, draft_mem(m->draft)->len);
			r->tail_fd = draft_take_fd(m->draft);
			r->tail_len = tail;
		}
		rec_end_tail(&r->rec, 0, tail, m->draft ? draft_file_crc(m->draft) : 0);
		s->rec_len = (uint32_t)wreq_len(r);
	}
	draft_free(m->draft);
	enqueue(sp, r);
}

/* ---- updates ---- */

void spool_update_rcpt(struct spool *sp, struct spool_msg *msg, size_t i, enum rcpt_state state,
		       uint32_t attempts, int64_t next_try, const char *error, bool warned,
		       spool_done_fn done, void *arg)
{
	struct wreq *r = new_req(WREQ_RCPT, msg, done, arg);
	if (i >= msg->nrcpt || (unsigned)state > REC_STATE_MAX) {
		r->err = EINVAL;
		enqueue(sp, r);
		return;
	}
	r->idx = i;
	/* A delivery outcome lost in a crash means a retry (a duplicate at
	 * worst): it rides the next sync. The administrator's deletion does not. */
	r->lazy = state != RCPT_DELETED;
	r->state = state;
	r->attempts = attempts;
	r->next_try = next_try;
	r->warned = warned;
	if (error)
		r->error = xstrndup(error, strnlen(error, MAX_ERROR_TEXT));
	struct rec_update u = {
		.id = {msg->id, QUEUE_ID_LEN}, .index = (uint32_t)i, .state = (uint8_t)state,
		.attempts = attempts, .next_try = next_try,
		.has_error = r->error != NULL, .error = r->error ? str_from(r->error) : STR_LIT(""),
		.warned = warned,
	};
	rec_encode_update(&r->rec, &u);
	enqueue(sp, r);
}

void spool_set_held(struct spool *sp, struct spool_msg *msg, bool held, spool_done_fn done,
		    void *arg)
{
	struct wreq *r = new_req(WREQ_HOLD, msg, done, arg);
	r->held = held;
	rec_encode_hold(&r->rec, (struct str){msg->id, QUEUE_ID_LEN}, held);
	enqueue(sp, r);
}

/* ---- completion ---- */

static void apply_rcpt(struct smsg *s, struct wreq *r)
{
	struct spool_rcpt *c = &s->m.rcpt[r->idx];
	c->state = r->state;
	c->attempts = r->attempts;
	c->next_try = r->next_try;
	c->warned = r->warned;
	free(c->last_error);
	c->last_error = r->error;
	r->error = NULL;
}

static void finish_relocation(struct spool *sp, struct smsg *s, const struct wreq *r)
{
	sp->reloc_inflight--;
	if (r->err)
		return;
	seg_account(sp, s, -1);
	s->m.seg = r->seg;
	s->m.body_off = r->off + r->body_rel;
	s->rec_len = (uint32_t)wreq_len(r);
	seg_account(sp, s, +1);
	sp->relocated++;
	log_debug("%s: spool: moved to segment %016" PRIx64, s->m.id, r->seg);
}

/* Applies a durable (or failed) request to the index, then runs its callback. */
static void complete(struct spool *sp, struct wreq *r)
{
	struct smsg *s = r->msg ? to_smsg(r->msg) : NULL;
	const struct smsg *announce = NULL;
	if (!r->err && r->kind != WREQ_UNLINK)
		seg_note(sp, r->seg, r->off + wreq_len(r));
	switch (r->kind) {
	case WREQ_MSG:
		if (s && !r->err) {
			s->m.seg = r->seg;
			s->m.body_off = r->off + r->body_rel;
			idx_insert(sp, s);
			seg_account(sp, s, +1);
			announce = s;
		} else if (s) {
			msg_free(s);
		}
		s = NULL; /* new messages are not subject to the removal below */
		break;
	case WREQ_RCPT:
		if (!r->err)
			apply_rcpt(s, r);
		break;
	case WREQ_HOLD:
		if (!r->err)
			s->m.held = r->held;
		break;
	case WREQ_RELOC:
		finish_relocation(sp, s, r);
		break;
	case WREQ_UNLINK:
		break;
	}
	if (s)
		s->pending--;
	if (r->done)
		r->done(r->arg, r->err);
	if (announce && sp->listener)
		sp->listener(sp->listener_arg, announce->m.id);
	/* While closing, callbacks may complete requests re-entrantly: the
	 * messages are then freed by spool_close, not here. */
	if (s && s->pending == 0 && finished(s) && !sp->closing) {
		seg_account(sp, s, -1);
		idx_remove(sp, s);
		msg_free(s);
	}
	free_req(r);
}

/* ---- reclamation and relocation ---- */

/*
 * RCPT records in a segment may concern messages whose MSG record is in an
 * older segment, so a segment may go only when it and all older ones hold
 * no MSG record of an unfinished message: remove from the oldest, stop at
 * the first still needed, and never touch the newest (the writer's). One
 * a reader still has open waits for spool_body_close. (A relocation may
 * move a message being read: its old copy stays, pinned, until then.)
 */
static void reclaim(struct spool *sp)
{
	size_t k = 0;
	while (k + 1 < sp->nsegs && sp->segs[k].live == 0 && !sp->segs[k].pinned &&
	       sp->segs[k].readers == 0) {
		struct seg *g = &sp->segs[k++];
		if (g->fd >= 0)
			close(g->fd);
		sp->log_bytes -= g->size;
		struct wreq *r = new_req(WREQ_UNLINK, NULL, NULL, NULL);
		r->unlink_seq = g->seq;
		writer_enqueue(&sp->w, r);
	}
	if (k) {
		sp->nsegs -= k;
		memmove(sp->segs, sp->segs + k, sp->nsegs * sizeof *sp->segs);
	}
}

/* The body is not read: the writer copies it from the old segment as the
 * new record's tail, under the CRC that the old record's implies for it. */
static void relocate_one(struct spool *sp, struct smsg *s)
{
	size_t head = s->rec_len - (size_t)s->m.body_len; /* the old record up to its body */
	struct buf old = BUF_INIT;
	buf_reserve(&old, head);
	int fd = seg_fd(sp, s->m.seg);
	ssize_t n = fd < 0 ? -1 : pread(fd, old.p, head, (off_t)(s->m.body_off - head));
	int tail_fd = n == (ssize_t)head && s->m.body_len ? fcntl(fd, F_DUPFD_CLOEXEC, 0) : -1;
	struct wreq *r = new_req(WREQ_RELOC, &s->m, NULL, NULL);
	encode_msg(r, s, true, s->m.body_len);
	if (n != (ssize_t)head || (s->m.body_len && tail_fd < 0) ||
	    r->rec.len - REC_HDR_LEN + s->m.body_len > REC_MAX_PAYLOAD) {
		log_error("%s: spool: cannot move out of segment %016" PRIx64 ": %s", s->m.id,
			  s->m.seg, n >= 0 && n < (ssize_t)head ? "record cut short" : strerror(errno));
		if (tail_fd >= 0)
			close(tail_fd);
		buf_free(&old);
		free_req(r);
		return;
	}
	r->tail_fd = tail_fd;
	r->tail_off = s->m.body_off;
	r->tail_len = s->m.body_len;
	rec_end_tail(&r->rec, 0, r->tail_len,
		     rec_tail_crc((const uint8_t *)old.p, head, s->m.seg, s->m.body_off - head,
				  s->m.body_len));
	buf_free(&old);
	sp->reloc_inflight++;
	enqueue(sp, r);
}

/*
 * One long-lived message pins its segment and, through reclamation order,
 * every newer one. When the log has many segments and is mostly dead space,
 * the live messages of the oldest segment are rewritten (MSG record with
 * their current recipient states) into the current one; a later MSG record
 * supersedes an earlier one, so the old segment can then go.
 */
static void relocate(struct spool *sp)
{
	if (sp->reloc_inflight || sp->nsegs <= RELOCATE_AFTER)
		return;
	const struct seg *old = &sp->segs[0];
	if (old->pinned || old->live == 0 || sp->live_bytes * 2 >= sp->log_bytes)
		return;
	uint64_t seq = old->seq;
	for (struct smsg *s = sp->head; s; s = to_smsg(s->m.next_all))
		if (s->m.seg == seq && s->pending == 0)
			relocate_one(sp, s);
}

static void run_done(struct spool *sp)
{
	struct wreq *list = writer_take_done(&sp->w);
	while (list) {
		struct wreq *r = list;
		list = r->next;
		complete(sp, r);
	}
}

void spool_dispatch(struct spool *sp)
{
	uint64_t v;
	if (read(sp->w.notify_fd, &v, sizeof v) < 0 && errno != EAGAIN)
		log_error("spool: reading the notification fd: %s", strerror(errno));
	run_done(sp);
	if (!sp->closing) {
		reclaim(sp);
		relocate(sp);
	}
}

int spool_body_open(struct spool *sp, const struct spool_msg *msg, struct spool_body *body)
{
	int fd = seg_fd(sp, msg->seg);
	if (fd < 0)
		return -1;
	seg_find(sp, msg->seg)->readers++;
	*body = (struct spool_body){fd, msg->body_off, msg->body_len, msg->seg};
	return 0;
}

void spool_body_close(struct spool *sp, struct spool_body *body)
{
	if (body->fd < 0)
		return;
	struct seg *g = seg_find(sp, body->seg);
	if (g)
		g->readers--;
	body->fd = -1;
}

ssize_t spool_read_body(struct spool *sp, const struct spool_msg *msg, void *dst, size_t len,
			uint64_t off)
{
	if (off >= msg->body_len)
		return 0;
	if (len > msg->body_len - off)
		len = (size_t)(msg->body_len - off);
	int fd = seg_fd(sp, msg->seg);
	if (fd < 0)
		return -1;
	size_t got = 0;
	while (got < len) {
		ssize_t n = pread(fd, (char *)dst + got, len - got,
				  (off_t)(msg->body_off + off + got));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

/* ---- recovery into the index ---- */

static struct smsg *msg_from_rec(const struct rec_msg *m)
{
	struct smsg *s = xcalloc(1, sizeof *s);
	memcpy(s->m.id, m->id.p, QUEUE_ID_LEN);
	s->m.arrival = m->arrival;
	s->m.sender = xstrndup(m->sender.p, m->sender.len);
	s->m.helo = xstrndup(m->helo.p ? m->helo.p : "", m->helo.len);
	s->m.client = xstrndup(m->client.p ? m->client.p : "", m->client.len);
	s->m.flags = m->flags;
	s->m.held = m->held;
	s->m.envid = m->envid.len ? xstrndup(m->envid.p, m->envid.len) : NULL;
	s->m.ret = m->ret;
	s->m.nrcpt = m->nrcpt;
	s->m.rcpt = xcalloc(m->nrcpt, sizeof *s->m.rcpt);
	for (size_t i = 0; i < m->nrcpt; i++) {
		const struct rec_rcpt *r = &m->rcpt[i];
		struct spool_rcpt *c = &s->m.rcpt[i];
		c->to = (struct rcpt){
			.addr = xstrndup(r->addr.p, r->addr.len),
			.orig = xstrndup(r->orig.p, r->orig.len), .notify = r->notify,
			.orcpt = r->orcpt.len ? xstrndup(r->orcpt.p, r->orcpt.len) : NULL,
		};
		if (r->has_state) {
			c->state = (enum rcpt_state)r->state;
			c->attempts = r->attempts;
			c->next_try = r->next_try;
			c->warned = r->warned;
		}
		if (r->has_error)
			c->last_error = xstrndup(r->error.p, r->error.len);
	}
	s->m.body_len = m->body_len;
	return s;
}

static bool id_ok(struct str id)
{
	char buf[QUEUE_ID_LEN + 1];
	if (id.len != QUEUE_ID_LEN)
		return false;
	memcpy(buf, id.p, QUEUE_ID_LEN);
	buf[QUEUE_ID_LEN] = '\0';
	return queue_id_valid(buf);
}

/* A later MSG record for the same id supersedes the earlier one. */
static bool rs_msg(void *ctx, const struct rec_msg *m, uint64_t seg, uint64_t off,
		   uint32_t rec_len)
{
	struct spool *sp = ctx;
	if (!id_ok(m->id))
		return false;
	struct smsg *old = idx_find(sp, m->id.p, m->id.len);
	if (old) {
		idx_remove(sp, old);
		msg_free(old);
	}
	struct smsg *s = msg_from_rec(m);
	s->m.seg = seg;
	s->m.body_off = off + REC_HDR_LEN + m->body_off;
	s->rec_len = rec_len;
	idx_insert(sp, s);
	return true;
}

static bool rs_update(void *ctx, uint8_t type, const struct rec_update *u)
{
	struct spool *sp = ctx;
	struct smsg *s = idx_find(sp, u->id.p, u->id.len);
	if (!s) {
		char id[QUEUE_ID_LEN * 2];
		log_debug("spool: record about %s, which is no longer queued, ignored",
			  log_safe(id, sizeof id, u->id.p, u->id.len));
		return false;
	}
	if (type == REC_HOLD || type == REC_RELEASE) {
		s->m.held = type == REC_HOLD;
		return true;
	}
	if (u->index >= s->m.nrcpt) {
		log_warn("%s: spool: record about recipient %" PRIu32 " of %zu ignored", s->m.id,
			 u->index, s->m.nrcpt);
		return true;
	}
	struct spool_rcpt *c = &s->m.rcpt[u->index];
	c->state = (enum rcpt_state)u->state;
	c->attempts = u->attempts;
	c->next_try = u->next_try;
	c->warned = u->warned;
	free(c->last_error);
	c->last_error = u->has_error ? xstrndup(u->error.p, u->error.len) : NULL;
	return true;
}

/* After recovery: finished messages leave, the others count in their segment. */
static void settle_index(struct spool *sp)
{
	struct smsg *s = sp->head;
	while (s) {
		struct smsg *next = to_smsg(s->m.next_all);
		if (finished(s)) {
			idx_remove(sp, s);
			msg_free(s);
		} else {
			seg_account(sp, s, +1);
		}
		s = next;
	}
}

/* ---- open and close ---- */

/* One process per spool: a second writer would interleave records. */
static int lock_spool(struct spool *sp)
{
	char path[PATH_MAX];
	int n = snprintf(path, sizeof path, "%s/lock", sp->dir);
	if (n < 0 || (size_t)n >= sizeof path) {
		errno = ENAMETOOLONG;
		return -1;
	}
	sp->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (sp->lock_fd < 0)
		return -1;
	if (flock(sp->lock_fd, LOCK_EX | LOCK_NB) < 0) {
		log_error("spool: %s is in use by another process", sp->dir);
		return -1;
	}
	return 0;
}

static int make_dirs(struct spool *sp, const char *dir)
{
	char qdir[PATH_MAX];
	int a = snprintf(sp->dir, sizeof sp->dir, "%s", dir);
	int b = snprintf(sp->logdir, sizeof sp->logdir, "%s/log", dir);
	int c = snprintf(qdir, sizeof qdir, "%s/quarantine", dir);
	if (a < 0 || b < 0 || c < 0 || (size_t)a >= sizeof sp->dir ||
	    (size_t)b >= sizeof sp->logdir || (size_t)c >= sizeof qdir) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if (fsutil_mkdir_p(dir, 0700) < 0 || fsutil_mkdir_p(sp->logdir, 0700) < 0 ||
	    fsutil_mkdir_p(qdir, 0700) < 0)
		return -1;
	return 0;
}

/* Rebuilds the index and the segment table; ensures a segment exists. */
static int recover(struct spool *sp)
{
	struct recovery_sink sink = {sp, rs_msg, rs_update};
	struct seg_info *info;
	size_t n;
	if (recover_log(sp->dir, &sink, &info, &n) < 0)
		return -1;
	for (size_t i = 0; i < n; i++)
		seg_add(sp, info[i].seq, info[i].size, info[i].pinned);
	free(info);
	if (n == 0) {
		int fd = seg_create(sp->logdir, SEG_FIRST);
		if (fd < 0)
			return -1;
		close(fd);
		seg_add(sp, SEG_FIRST, 0, false);
	}
	settle_index(sp);
	return 0;
}

static void free_all(struct spool *sp)
{
	while (sp->head) {
		struct smsg *s = sp->head;
		sp->head = to_smsg(s->m.next_all);
		msg_free(s);
	}
	for (size_t i = 0; i < sp->nsegs; i++)
		if (sp->segs[i].fd >= 0)
			close(sp->segs[i].fd);
	free(sp->segs);
	free(sp->tab);
	if (sp->lock_fd >= 0)
		close(sp->lock_fd);
	free(sp);
}

struct spool *spool_open(const char *dir)
{
	struct spool *sp = xcalloc(1, sizeof *sp);
	sp->lock_fd = -1;
	sp->tabsz = HASH_MIN;
	sp->tab = xcalloc(sp->tabsz, sizeof *sp->tab);
	int err = 0;
	if (make_dirs(sp, dir) < 0 || lock_spool(sp) < 0 || recover(sp) < 0)
		err = errno;
	const struct seg *cur = sp->nsegs ? &sp->segs[sp->nsegs - 1] : NULL;
	if (!err && writer_start(&sp->w, sp->logdir, cur->seq, cur->size) < 0)
		err = errno;
	if (err) {
		log_error("spool: cannot open %s: %s", dir, strerror(err));
		free_all(sp);
		errno = err;
		return NULL;
	}
	log_info("spool: %s: %zu messages queued, %zu segments", dir, sp->count, sp->nsegs);
	reclaim(sp);
	return sp;
}

void spool_close(struct spool *sp)
{
	if (!sp)
		return;
	/* Callbacks run below may submit more; those fail with ECANCELED. */
	sp->closing = true;
	writer_stop(&sp->w);
	run_done(sp);
	writer_destroy(&sp->w);
	free_all(sp);
}

/* ---- accessors ---- */

const char *spool_directory(const struct spool *sp)
{
	return sp->dir;
}

int spool_notify_fd(const struct spool *sp)
{
	return sp->w.notify_fd;
}

void spool_set_listener(struct spool *sp, spool_listener_fn fn, void *arg)
{
	sp->listener = fn;
	sp->listener_arg = arg;
}

void spool_set_segment_max(struct spool *sp, uint64_t bytes)
{
	writer_set_seg_max(&sp->w, bytes);
}

void spool_stats(struct spool *sp, struct spool_stats *out)
{
	writer_stats(&sp->w, out);
	out->relocated = sp->relocated;
}

struct spool_msg *spool_first(struct spool *sp)
{
	return sp->head ? &sp->head->m : NULL;
}

struct spool_msg *spool_next(struct spool *sp, struct spool_msg *m)
{
	(void)sp;
	return m->next_all;
}

struct spool_msg *spool_find(struct spool *sp, const char *id)
{
	struct smsg *s = idx_find(sp, id, strnlen(id, QUEUE_ID_LEN + 1));
	return s ? &s->m : NULL;
}

size_t spool_count(const struct spool *sp)
{
	return sp->count;
}

void spool_cursor_open(struct spool *sp, struct spool_cursor *c)
{
	*c = (struct spool_cursor){.at = spool_first(sp), .next = sp->cursors};
	if (sp->cursors)
		sp->cursors->prev = c;
	sp->cursors = c;
}

struct spool_msg *spool_cursor_next(struct spool_cursor *c)
{
	struct spool_msg *m = c->at;
	if (m)
		c->at = m->next_all;
	return m;
}

void spool_cursor_close(struct spool *sp, struct spool_cursor *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else
		sp->cursors = c->next;
	if (c->next)
		c->next->prev = c->prev;
}
