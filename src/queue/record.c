/*
 * record - spool log record encoding and decoding; see record.h.
 *
 * Nothing here trusts a length it has not checked against the bytes that are
 * actually there: the frame check bounds the payload by REC_MAX_PAYLOAD and
 * by the data available, and every TLV field must fit inside its container.
 */
#include "queue/record.h"

#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "util/dsn.h"

/* Header layout: magic 0-3, type 4, reserved 5-7, length 8-11, crc 12-15. */
#define HDR_TYPE 4
#define HDR_LEN 8
#define HDR_CRC 12

/* One TLV field as found in a payload. */
struct tlv {
	uint16_t tag;
	uint32_t len;
	const uint8_t *v;
};

void rec_put_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

uint32_t rec_get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put_le64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

/* ---- encoding ---- */

static size_t put_tlv_hdr(struct buf *b, uint16_t tag, uint32_t len)
{
	uint8_t h[REC_TLV_HDR_LEN] = {(uint8_t)tag, (uint8_t)(tag >> 8)};
	rec_put_le32(h + 2, len);
	size_t at = b->len;
	buf_append(b, h, sizeof h);
	return at;
}

static void put_field(struct buf *b, uint16_t tag, const void *v, size_t n)
{
	put_tlv_hdr(b, tag, (uint32_t)n);
	buf_append(b, v, n);
}

static void put_str(struct buf *b, uint16_t tag, struct str s)
{
	put_field(b, tag, s.p, s.len);
}

static void put_u8(struct buf *b, uint16_t tag, uint8_t v)
{
	put_field(b, tag, &v, 1);
}

static void put_u32(struct buf *b, uint16_t tag, uint32_t v)
{
	uint8_t e[4];
	rec_put_le32(e, v);
	put_field(b, tag, e, sizeof e);
}

static void put_i64(struct buf *b, uint16_t tag, int64_t v)
{
	uint8_t e[8];
	put_le64(e, (uint64_t)v);
	put_field(b, tag, e, sizeof e);
}

static size_t rec_begin(struct buf *b, enum rec_type type)
{
	uint8_t h[REC_HDR_LEN] = {0};
	rec_put_le32(h, REC_MAGIC);
	h[HDR_TYPE] = (uint8_t)type;
	size_t start = b->len;
	buf_append(b, h, sizeof h);
	return start;
}

void rec_end(struct buf *b, size_t start)
{
	rec_end_tail(b, start, 0, 0);
}

void rec_end_tail(struct buf *b, size_t start, uint64_t tail_len, uint32_t tail_crc)
{
	uint8_t *r = (uint8_t *)b->p + start;
	size_t len = b->len - start - REC_HDR_LEN;
	rec_put_le32(r + HDR_LEN, (uint32_t)(len + tail_len));
	uLong crc = crc32_z(0, r, HDR_CRC);
	crc = crc32_z(crc, r + REC_HDR_LEN, len);
	/* The tail was summed as it was written; crc32_combine appends it. */
	crc = crc32_combine(crc, tail_crc, (z_off_t)tail_len);
	rec_put_le32(r + HDR_CRC, (uint32_t)crc);
}

static uLong pos_crc(uint64_t seg, uint64_t off)
{
	uint8_t pos[16];
	put_le64(pos, seg);
	put_le64(pos + 8, off);
	return crc32_z(0, pos, sizeof pos);
}

uint32_t rec_crc_start(const uint8_t *rec, uint64_t seg, uint64_t off)
{
	return (uint32_t)crc32_z(pos_crc(seg, off), rec, HDR_CRC);
}

uint32_t rec_tail_crc(const uint8_t *rec, size_t head_len, uint64_t seg, uint64_t off,
		      uint64_t tail_len)
{
	/* crc32_combine is linear: crc(A || B) = M(crc A) ^ crc B, where
	 * M(crc A) = crc32_combine(crc A, 0, len B). */
	uLong a = crc32_z(pos_crc(seg, off), rec, HDR_CRC);
	a = crc32_z(a, rec + REC_HDR_LEN, head_len - REC_HDR_LEN);
	return rec_get_le32(rec + HDR_CRC) ^ (uint32_t)crc32_combine(a, 0, (z_off_t)tail_len);
}

void rec_bind(uint8_t *rec, uint64_t seg, uint64_t off)
{
	/* crc32_combine turns crc(content) into crc(position || content)
	 * without reading the content again. */
	uint32_t len = rec_get_le32(rec + HDR_LEN);
	uLong crc = crc32_combine(pos_crc(seg, off), rec_get_le32(rec + HDR_CRC),
				  (z_off_t)HDR_CRC + (z_off_t)len);
	rec_put_le32(rec + HDR_CRC, (uint32_t)crc);
}

static void put_rcpt(struct buf *b, const struct rec_rcpt *r)
{
	size_t at = put_tlv_hdr(b, TAG_MSG_RCPT, 0);
	put_str(b, TAG_RCPT_ADDR, r->addr);
	put_str(b, TAG_RCPT_ORIG, r->orig);
	if (r->has_state) {
		put_u8(b, TAG_RCPT_STATE, r->state);
		put_u32(b, TAG_RCPT_ATTEMPTS, r->attempts);
		put_i64(b, TAG_RCPT_NEXT_TRY, r->next_try);
		if (r->has_error)
			put_str(b, TAG_RCPT_ERROR, r->error);
		if (r->warned)
			put_u8(b, TAG_RCPT_WARNED, 1);
	}
	/* DSN fields only when given: older files simply lack them. */
	if (r->notify)
		put_u8(b, TAG_RCPT_NOTIFY, r->notify);
	if (r->orcpt.len)
		put_str(b, TAG_RCPT_ORCPT, r->orcpt);
	rec_put_le32((uint8_t *)b->p + at + 2, (uint32_t)(b->len - at - REC_TLV_HDR_LEN));
}

size_t rec_msg_begin(struct buf *b, const struct rec_msg *m, uint64_t body_len, size_t *start)
{
	return rec_msg_begin_tail(b, m, body_len, 0, start);
}

size_t rec_msg_begin_tail(struct buf *b, const struct rec_msg *m, uint64_t body_len,
			  uint64_t tail_len, size_t *start)
{
	*start = rec_begin(b, REC_MSG);
	put_str(b, TAG_MSG_ID, m->id);
	put_i64(b, TAG_MSG_ARRIVAL, m->arrival);
	put_str(b, TAG_MSG_SENDER, m->sender);
	put_str(b, TAG_MSG_HELO, m->helo);
	put_str(b, TAG_MSG_CLIENT, m->client);
	put_u32(b, TAG_MSG_FLAGS, m->flags);
	for (size_t i = 0; i < m->nrcpt; i++)
		put_rcpt(b, &m->rcpt[i]);
	if (m->held)
		put_u8(b, TAG_MSG_HELD, 1);
	if (m->envid.len)
		put_str(b, TAG_MSG_ENVID, m->envid);
	if (m->ret)
		put_u8(b, TAG_MSG_RET, m->ret);
	put_tlv_hdr(b, TAG_MSG_BODY, (uint32_t)body_len);
	size_t body_at = b->len;
	buf_reserve(b, (size_t)(body_len - tail_len));
	b->len += (size_t)(body_len - tail_len);
	b->p[b->len] = '\0';
	return body_at;
}

void rec_encode_update(struct buf *b, const struct rec_update *u)
{
	size_t start = rec_begin(b, REC_RCPT);
	put_str(b, TAG_RCPT_ID, u->id);
	put_u32(b, TAG_RCPT_INDEX, u->index);
	put_u8(b, TAG_RCPT_STATE, u->state);
	put_u32(b, TAG_RCPT_ATTEMPTS, u->attempts);
	put_i64(b, TAG_RCPT_NEXT_TRY, u->next_try);
	if (u->has_error)
		put_str(b, TAG_RCPT_ERROR, u->error);
	/* Only when set: files from before the mark simply lack it. */
	if (u->warned)
		put_u8(b, TAG_RCPT_WARNED, 1);
	rec_end(b, start);
}

void rec_encode_hold(struct buf *b, struct str id, bool hold)
{
	size_t start = rec_begin(b, hold ? REC_HOLD : REC_RELEASE);
	put_str(b, TAG_RCPT_ID, id);
	rec_end(b, start);
}

/* ---- frame check ---- */

enum rec_check rec_check(const uint8_t *p, size_t avail, uint64_t seg, uint64_t off,
			 struct rec_hdr *h)
{
	uint8_t magic[4];
	rec_put_le32(magic, REC_MAGIC);
	if (memcmp(p, magic, avail < 4 ? avail : 4) != 0)
		return REC_CORRUPT;
	if (avail < REC_HDR_LEN)
		return REC_TRUNCATED;
	uint32_t len = rec_get_le32(p + HDR_LEN);
	if (len > REC_MAX_PAYLOAD)
		return REC_CORRUPT;
	if (len > avail - REC_HDR_LEN)
		return REC_TRUNCATED;
	uLong crc = crc32_z(pos_crc(seg, off), p, HDR_CRC);
	crc = crc32_z(crc, p + REC_HDR_LEN, len);
	if ((uint32_t)crc != rec_get_le32(p + HDR_CRC))
		return REC_CORRUPT;
	h->type = p[HDR_TYPE];
	h->len = len;
	return REC_VALID;
}

/* ---- decoding ---- */

/* Returns 1 with the field at *pos, 0 at the end, -1 when it overruns. */
static int tlv_next(const uint8_t *p, size_t len, size_t *pos, struct tlv *t)
{
	if (*pos == len)
		return 0;
	if (len - *pos < REC_TLV_HDR_LEN)
		return -1;
	const uint8_t *h = p + *pos;
	t->tag = (uint16_t)(h[0] | h[1] << 8);
	t->len = rec_get_le32(h + 2);
	if (t->len > len - *pos - REC_TLV_HDR_LEN)
		return -1;
	t->v = h + REC_TLV_HDR_LEN;
	*pos += REC_TLV_HDR_LEN + t->len;
	return 1;
}

/* Our encoders never write a NUL inside a string, so one means damage. */
static bool get_str(const struct tlv *t, struct str *s)
{
	if (memchr(t->v, '\0', t->len))
		return false;
	s->p = (const char *)t->v;
	s->len = t->len;
	return true;
}

static bool get_u8(const struct tlv *t, uint8_t *v)
{
	if (t->len != 1)
		return false;
	*v = t->v[0];
	return true;
}

static bool get_u32(const struct tlv *t, uint32_t *v)
{
	if (t->len != 4)
		return false;
	*v = rec_get_le32(t->v);
	return true;
}

static bool get_i64(const struct tlv *t, int64_t *v)
{
	if (t->len != 8)
		return false;
	*v = (int64_t)get_le64(t->v);
	return true;
}

/* Records a singular field as seen; false when it was seen before. */
static bool first_seen(uint32_t *seen, uint16_t tag)
{
	uint32_t bit = UINT32_C(1) << (tag & 31);
	if (*seen & bit)
		return false;
	*seen |= bit;
	return true;
}

/* What a session can produce: some of SUCCESS/FAILURE/DELAY, or NEVER alone. */
static bool notify_ok(uint8_t v)
{
	return v != 0 && (v & ~DSN_NOTIFY_ALL) == 0 &&
	       (!(v & DSN_NOTIFY_NEVER) || v == DSN_NOTIFY_NEVER);
}

static bool rcpt_field(const struct tlv *t, struct rec_rcpt *r)
{
	switch (t->tag) {
	case TAG_RCPT_ADDR:
		return get_str(t, &r->addr);
	case TAG_RCPT_ORIG:
		return get_str(t, &r->orig);
	case TAG_RCPT_STATE:
		r->has_state = true;
		return get_u8(t, &r->state) && r->state <= REC_STATE_MAX;
	case TAG_RCPT_ATTEMPTS:
		return get_u32(t, &r->attempts);
	case TAG_RCPT_NEXT_TRY:
		return get_i64(t, &r->next_try);
	case TAG_RCPT_ERROR:
		r->has_error = true;
		return get_str(t, &r->error);
	case TAG_RCPT_NOTIFY:
		return get_u8(t, &r->notify) && notify_ok(r->notify);
	case TAG_RCPT_ORCPT:
		return get_str(t, &r->orcpt) && r->orcpt.len > 0;
	case TAG_RCPT_WARNED: {
		uint8_t v = 0;
		r->warned = true;
		return get_u8(t, &v) && v == 1;
	}
	default:
		return true; /* a newer field: skipped */
	}
}

static bool known_rcpt_tag(uint16_t tag)
{
	return tag >= TAG_RCPT_ID && tag <= TAG_RCPT_WARNED;
}

static bool decode_rcpt(const uint8_t *p, size_t len, struct rec_rcpt *r)
{
	uint32_t seen = 0;
	size_t pos = 0;
	struct tlv t;
	int rc;
	while ((rc = tlv_next(p, len, &pos, &t)) > 0) {
		if (known_rcpt_tag(t.tag) && !first_seen(&seen, t.tag))
			return false;
		if (!rcpt_field(&t, r))
			return false;
	}
	uint32_t need = 1u << TAG_RCPT_ADDR | 1u << TAG_RCPT_ORIG;
	return rc == 0 && (seen & need) == need;
}

/* Counts the recipients, checking on the way that the fields are well-formed. */
static bool count_rcpts(const uint8_t *p, size_t len, size_t *n)
{
	size_t pos = 0;
	struct tlv t;
	int rc;
	*n = 0;
	while ((rc = tlv_next(p, len, &pos, &t)) > 0)
		*n += t.tag == TAG_MSG_RCPT;
	return rc == 0;
}

static bool msg_field(const uint8_t *payload, const struct tlv *t, struct rec_msg *m)
{
	switch (t->tag) {
	case TAG_MSG_ID:
		return get_str(t, &m->id) && m->id.len > 0;
	case TAG_MSG_ARRIVAL:
		return get_i64(t, &m->arrival);
	case TAG_MSG_SENDER:
		return get_str(t, &m->sender);
	case TAG_MSG_HELO:
		return get_str(t, &m->helo);
	case TAG_MSG_CLIENT:
		return get_str(t, &m->client);
	case TAG_MSG_FLAGS:
		return get_u32(t, &m->flags);
	case TAG_MSG_HELD: {
		uint8_t v = 0;
		bool ok = get_u8(t, &v);
		m->held = v != 0;
		return ok;
	}
	case TAG_MSG_ENVID:
		return get_str(t, &m->envid) && m->envid.len > 0;
	case TAG_MSG_RET:
		return get_u8(t, &m->ret) && (m->ret == DSN_RET_FULL || m->ret == DSN_RET_HDRS);
	case TAG_MSG_RCPT:
		return decode_rcpt(t->v, t->len, &m->rcpt[m->nrcpt++]);
	case TAG_MSG_BODY:
		m->body_off = (uint64_t)(t->v - payload);
		m->body_len = t->len;
		return true;
	default:
		return true;
	}
}

/* Decodes the fields of payload[0..len) into out; seen gets their tags. */
static bool decode_fields(const uint8_t *payload, size_t len, struct rec_msg *out,
			  uint32_t *seen)
{
	size_t n;
	if (!count_rcpts(payload, len, &n) || n == 0)
		return false;
	out->rcpt = xcalloc(n, sizeof *out->rcpt);
	size_t pos = 0;
	struct tlv t;
	while (tlv_next(payload, len, &pos, &t) > 0) {
		bool singular = t.tag >= TAG_MSG_ID && t.tag <= TAG_MSG_BODY && t.tag != TAG_MSG_RCPT;
		if ((singular && !first_seen(seen, t.tag)) || !msg_field(payload, &t, out))
			return false;
	}
	return true;
}

static bool decoded(bool ok, uint32_t seen, struct rec_msg *out)
{
	uint32_t need = 1u << TAG_MSG_ID | 1u << TAG_MSG_ARRIVAL | 1u << TAG_MSG_SENDER |
			1u << TAG_MSG_BODY;
	if (ok && (seen & need) == need)
		return true;
	rec_msg_free(out);
	return false;
}

bool rec_decode_msg(const uint8_t *payload, size_t len, struct rec_msg *out)
{
	memset(out, 0, sizeof *out);
	uint32_t seen = 0;
	bool ok = decode_fields(payload, len, out, &seen);
	return decoded(ok, seen, out);
}

bool rec_decode_msg_head(const uint8_t *payload, size_t avail, size_t len, struct rec_msg *out)
{
	memset(out, 0, sizeof *out);
	size_t pos = 0;
	for (;;) {
		if (avail - pos < REC_TLV_HDR_LEN)
			return false;
		uint16_t tag = (uint16_t)(payload[pos] | payload[pos + 1] << 8);
		uint32_t tlen = rec_get_le32(payload + pos + 2);
		if (tag == TAG_MSG_BODY) {
			if (tlen != len - pos - REC_TLV_HDR_LEN)
				return false;
			break;
		}
		if (tlen > avail - pos - REC_TLV_HDR_LEN)
			return false;
		pos += REC_TLV_HDR_LEN + tlen;
	}
	uint32_t seen = 1u << TAG_MSG_BODY;
	bool ok = decode_fields(payload, pos, out, &seen);
	out->body_off = pos + REC_TLV_HDR_LEN;
	out->body_len = len - out->body_off;
	return decoded(ok, seen, out);
}

void rec_msg_free(struct rec_msg *m)
{
	free(m->rcpt);
	memset(m, 0, sizeof *m);
}

/* The state fields go through r so that both record kinds share one parser. */
static bool update_field(const struct tlv *t, struct rec_update *u, struct rec_rcpt *r)
{
	if (t->tag == TAG_RCPT_ID)
		return get_str(t, &u->id) && u->id.len > 0;
	if (t->tag == TAG_RCPT_INDEX)
		return get_u32(t, &u->index);
	return rcpt_field(t, r);
}

bool rec_decode_update(const uint8_t *payload, size_t len, struct rec_update *out)
{
	memset(out, 0, sizeof *out);
	struct rec_rcpt r = {0};
	uint32_t seen = 0;
	size_t pos = 0;
	struct tlv t;
	int rc;
	while ((rc = tlv_next(payload, len, &pos, &t)) > 0) {
		if (known_rcpt_tag(t.tag) && !first_seen(&seen, t.tag))
			return false;
		if (!update_field(&t, out, &r))
			return false;
	}
	uint32_t need = 1u << TAG_RCPT_ID | 1u << TAG_RCPT_INDEX | 1u << TAG_RCPT_STATE;
	if (rc != 0 || (seen & need) != need)
		return false;
	out->state = r.state;
	out->attempts = r.attempts;
	out->next_try = r.next_try;
	out->has_error = r.has_error;
	out->error = r.error;
	out->warned = r.warned;
	return true;
}

bool rec_decode_hold(const uint8_t *payload, size_t len, struct str *id)
{
	bool found = false;
	size_t pos = 0;
	struct tlv t;
	int rc;
	while ((rc = tlv_next(payload, len, &pos, &t)) > 0) {
		if (t.tag != TAG_RCPT_ID)
			continue;
		if (found || !get_str(&t, id) || id->len == 0)
			return false;
		found = true;
	}
	return rc == 0 && found;
}
