/*
 * fuzz_record - the spool record codec (src/queue/record.c) on raw bytes.
 *
 * The input is used twice: as a would-be record (frame check at a position
 * derived from its size) and as a payload handed straight to the three
 * decoders, so the TLV parsers see every byte pattern without first having
 * to forge a CRC. Checked:
 * - rec_check never reads past avail (exact-size heap copies), and a VALID
 *   frame's payload lies within avail;
 * - framing round trip: the input wrapped in a header by rec_end + rec_bind
 *   checks out as VALID at its own position with the right type and length,
 *   and every prefix of it is TRUNCATED, never VALID;
 * - decode/encode round trips: a payload that decodes as MSG, RCPT or HOLD
 *   is re-encoded with the encoders the writer uses, framed, checked and
 *   decoded again to the same fields and body (what recovery reads is what
 *   the spool wrote); a decoded MSG's body lies within the payload.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "queue/record.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool same_str(struct str a, struct str b)
{
	return a.len == b.len && (a.len == 0 || memcmp(a.p, b.p, a.len) == 0);
}

/* rec_check on an exact-size copy, so any over-read is an ASan error. */
static enum rec_check check_copy(const uint8_t *p, size_t avail, uint64_t seg, uint64_t off,
				 struct rec_hdr *h)
{
	uint8_t *q = malloc(avail ? avail : 1);
	if (avail)
		memcpy(q, p, avail);
	enum rec_check c = rec_check(q, avail, seg, off, h);
	free(q);
	return c;
}

/* Binds the ended record at rec->p + start to (seg, off) and decodes its
 * frame back, which must check out. Returns the payload. */
static const uint8_t *frame_back(struct buf *rec, size_t start, uint64_t seg, uint64_t off,
				 uint8_t type, struct rec_hdr *h)
{
	rec_end(rec, start);
	uint8_t *r = (uint8_t *)rec->p + start;
	rec_bind(r, seg, off);
	size_t total = rec->len - start;
	if (check_copy(r, total, seg, off, h) != REC_VALID || h->type != type ||
	    h->len != total - REC_HDR_LEN)
		abort();
	/* Prefixes: a record cut anywhere is torn, not valid. */
	struct rec_hdr t;
	if (check_copy(r, total - 1, seg, off, &t) != REC_TRUNCATED ||
	    check_copy(r, REC_HDR_LEN - 1, seg, off, &t) != REC_TRUNCATED)
		abort();
	return r + REC_HDR_LEN;
}

static void check_frame(const uint8_t *data, size_t size, uint64_t seg, uint64_t off)
{
	struct rec_hdr h;
	if (check_copy(data, size, seg, off, &h) == REC_VALID &&
	    (size < REC_HDR_LEN || h.len > size - REC_HDR_LEN))
		abort();
	/* Any payload, framed by hand the way rec_begin does it. */
	struct buf rec = BUF_INIT;
	uint8_t hdr[REC_HDR_LEN] = {0};
	rec_put_le32(hdr, REC_MAGIC);
	hdr[4] = (uint8_t)(size & 0xff);
	buf_append(&rec, hdr, sizeof hdr);
	buf_append(&rec, data, size);
	frame_back(&rec, 0, seg, off, (uint8_t)(size & 0xff), &h);
	buf_free(&rec);
}

static bool same_rcpt(const struct rec_rcpt *a, const struct rec_rcpt *b)
{
	if (!same_str(a->addr, b->addr) || !same_str(a->orig, b->orig) ||
	    a->has_state != b->has_state)
		return false;
	if (!a->has_state)
		return true;
	return a->state == b->state && a->attempts == b->attempts && a->next_try == b->next_try &&
	       a->has_error == b->has_error && (!a->has_error || same_str(a->error, b->error));
}

static bool same_msg(const struct rec_msg *a, const struct rec_msg *b)
{
	if (!same_str(a->id, b->id) || !same_str(a->sender, b->sender) ||
	    !same_str(a->helo, b->helo) || !same_str(a->client, b->client) ||
	    a->arrival != b->arrival || a->flags != b->flags || a->held != b->held ||
	    a->nrcpt != b->nrcpt || a->body_len != b->body_len)
		return false;
	for (size_t i = 0; i < a->nrcpt; i++)
		if (!same_rcpt(&a->rcpt[i], &b->rcpt[i]))
			return false;
	return true;
}

static void check_msg(const uint8_t *data, size_t size, uint64_t seg, uint64_t off)
{
	struct rec_msg m;
	if (!rec_decode_msg(data, size, &m))
		return;
	if (m.nrcpt == 0 || m.body_off > size || m.body_len > size - m.body_off)
		abort();
	struct buf rec = BUF_INIT;
	size_t start;
	size_t body_at = rec_msg_begin(&rec, &m, m.body_len, &start);
	if (m.body_len)
		memcpy(rec.p + body_at, data + m.body_off, m.body_len);
	struct rec_hdr h;
	const uint8_t *payload = frame_back(&rec, start, seg, off, REC_MSG, &h);
	struct rec_msg again;
	if (!rec_decode_msg(payload, h.len, &again) || !same_msg(&m, &again) ||
	    (m.body_len && memcmp(payload + again.body_off, data + m.body_off, m.body_len) != 0))
		abort();
	rec_msg_free(&again);
	rec_msg_free(&m);
	buf_free(&rec);
}

static void check_update(const uint8_t *data, size_t size, uint64_t seg, uint64_t off)
{
	struct rec_update u;
	if (!rec_decode_update(data, size, &u))
		return;
	if (u.id.len == 0 || u.state > REC_STATE_MAX)
		abort();
	struct buf rec = BUF_INIT;
	rec_encode_update(&rec, &u);
	struct rec_hdr h;
	const uint8_t *payload = frame_back(&rec, 0, seg, off, REC_RCPT, &h);
	struct rec_update v;
	if (!rec_decode_update(payload, h.len, &v) || !same_str(u.id, v.id) ||
	    u.index != v.index || u.state != v.state || u.attempts != v.attempts ||
	    u.next_try != v.next_try || u.has_error != v.has_error ||
	    (u.has_error && !same_str(u.error, v.error)))
		abort();
	buf_free(&rec);
}

static void check_hold(const uint8_t *data, size_t size, uint64_t seg, uint64_t off)
{
	struct str id;
	if (!rec_decode_hold(data, size, &id))
		return;
	if (id.len == 0 || memchr(id.p, '\0', id.len))
		abort();
	for (int hold = 0; hold < 2; hold++) {
		struct buf rec = BUF_INIT;
		rec_encode_hold(&rec, id, hold);
		struct rec_hdr h;
		const uint8_t *payload =
			frame_back(&rec, 0, seg, off, hold ? REC_HOLD : REC_RELEASE, &h);
		struct str again;
		if (!rec_decode_hold(payload, h.len, &again) || !same_str(id, again))
			abort();
		buf_free(&rec);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* Positions vary with the input so the position-bound CRC varies too. */
	uint64_t seg = 1 + size % 7;
	uint64_t off = (uint64_t)size * 3;
	check_frame(data, size, seg, off);
	check_msg(data, size, seg, off);
	check_update(data, size, seg, off);
	check_hold(data, size, seg, off);
	return 0;
}
