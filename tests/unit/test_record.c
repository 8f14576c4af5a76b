/*
 * test_record - spool record encoding: round trips, the exact byte layout,
 * and every kind of damage a reader must reject rather than misparse.
 */
#include "test_util.h"

#include <string.h>
#include <zlib.h>

#include "queue/record.h"

#define SEG 7
#define OFF 4096

/* ---- helpers ---- */

static void tlv(struct buf *b, uint16_t tag, const void *v, uint32_t len)
{
	uint8_t h[6] = {(uint8_t)tag, (uint8_t)(tag >> 8)};
	rec_put_le32(h + 2, len);
	buf_append(b, h, sizeof h);
	buf_append(b, v, len);
}

static void tlv_s(struct buf *b, uint16_t tag, const char *s)
{
	tlv(b, tag, s, (uint32_t)strlen(s));
}

static void tlv_u32(struct buf *b, uint16_t tag, uint32_t v)
{
	uint8_t e[4];
	rec_put_le32(e, v);
	tlv(b, tag, e, 4);
}

static void tlv_i64(struct buf *b, uint16_t tag, int64_t v)
{
	uint8_t e[8];
	for (int i = 0; i < 8; i++)
		e[i] = (uint8_t)((uint64_t)v >> (8 * i));
	tlv(b, tag, e, 8);
}

/* A recipient field holding addr and orig, plus an optional extra field. */
static void tlv_rcpt(struct buf *b, const char *addr, const struct buf *extra)
{
	struct buf in = BUF_INIT;
	tlv_s(&in, TAG_RCPT_ADDR, addr);
	tlv_s(&in, TAG_RCPT_ORIG, addr);
	if (extra)
		buf_append(&in, extra->p, extra->len);
	tlv(b, TAG_MSG_RCPT, in.p, (uint32_t)in.len);
	buf_free(&in);
}

/* The fields a MSG needs, without the body. */
static void msg_fields(struct buf *b)
{
	tlv_s(b, TAG_MSG_ID, "0123456789ABCDEF");
	tlv_i64(b, TAG_MSG_ARRIVAL, 1700000000);
	tlv_s(b, TAG_MSG_SENDER, "a@example.org");
	tlv_rcpt(b, "b@example.net", NULL);
}

/* A complete record of the given type around payload, bound to (SEG, OFF). */
static void frame(struct buf *out, uint8_t type, const struct buf *payload)
{
	uint8_t h[REC_HDR_LEN] = {'P', 'T', 'R', 'L', type};
	buf_reset(out);
	buf_append(out, h, sizeof h);
	buf_append(out, payload->p, payload->len);
	rec_end(out, 0);
	rec_bind((uint8_t *)out->p, SEG, OFF);
}

static enum rec_check check(const struct buf *b, size_t avail, struct rec_hdr *h)
{
	return rec_check((const uint8_t *)b->p, avail, SEG, OFF, h);
}

static const uint8_t *payload_of(const struct buf *b)
{
	return (const uint8_t *)b->p + REC_HDR_LEN;
}

static bool str_is(struct str s, const char *want)
{
	return s.len == strlen(want) && memcmp(s.p, want, s.len) == 0;
}

/* Encodes a two-recipient message with body "body" and binds it. */
static void encode_sample(struct buf *b, const char *sender, bool with_state)
{
	struct rec_rcpt rc[2] = {
		{.addr = STR_LIT("x@example.net"), .orig = STR_LIT("X@Example.NET")},
		{.addr = STR_LIT("y@example.net"), .orig = STR_LIT("y@example.net"),
		 .has_state = with_state, .state = 2, .attempts = 5, .next_try = -3,
		 .has_error = with_state, .error = STR_LIT("550 no\r\nsuch user"),
		 .warned = with_state},
	};
	struct rec_msg m = {
		.id = STR_LIT("0123456789ABCDEF"), .sender = str_from(sender),
		.helo = STR_LIT("client.example"), .client = STR_LIT("192.0.2.1"),
		.arrival = 1700000000123, .flags = 3, .held = with_state, .nrcpt = 2, .rcpt = rc,
	};
	size_t start;
	size_t at = rec_msg_begin(b, &m, 4, &start);
	memcpy(b->p + at, "body", 4);
	rec_end(b, start);
	rec_bind((uint8_t *)b->p + start, SEG, OFF);
}

/* ---- round trips ---- */

static void test_msg_round_trip(void **state)
{
	(void)state;
	/* Envelope text with CR LF inside must come back byte for byte. */
	const char *sender = "evil@example.org\r\nRCPT TO:<victim@example.com>";
	struct buf b = BUF_INIT;
	encode_sample(&b, sender, false);
	struct rec_hdr h;
	assert_int_equal(check(&b, b.len, &h), REC_VALID);
	assert_int_equal(h.type, REC_MSG);
	assert_int_equal(h.len, b.len - REC_HDR_LEN);
	struct rec_msg m;
	assert_true(rec_decode_msg(payload_of(&b), h.len, &m));
	assert_true(str_is(m.id, "0123456789ABCDEF"));
	assert_true(str_is(m.sender, sender));
	assert_true(str_is(m.helo, "client.example"));
	assert_true(str_is(m.client, "192.0.2.1"));
	assert_int_equal(m.arrival, 1700000000123);
	assert_int_equal(m.flags, 3);
	assert_false(m.held);
	assert_int_equal(m.nrcpt, 2);
	assert_true(str_is(m.rcpt[0].addr, "x@example.net"));
	assert_true(str_is(m.rcpt[0].orig, "X@Example.NET"));
	assert_false(m.rcpt[1].has_state);
	assert_int_equal(m.body_len, 4);
	assert_memory_equal(payload_of(&b) + m.body_off, "body", 4);
	/* The body is the last field. */
	assert_int_equal(m.body_off + m.body_len, h.len);
	rec_msg_free(&m);
	buf_free(&b);
}

static void test_msg_with_state_round_trip(void **state)
{
	(void)state;
	struct buf b = BUF_INIT;
	encode_sample(&b, "", true);
	struct rec_hdr h;
	assert_int_equal(check(&b, b.len, &h), REC_VALID);
	struct rec_msg m;
	assert_true(rec_decode_msg(payload_of(&b), h.len, &m));
	assert_int_equal(m.sender.len, 0);
	assert_true(m.held);
	assert_true(m.rcpt[1].has_state);
	assert_int_equal(m.rcpt[1].state, 2);
	assert_int_equal(m.rcpt[1].attempts, 5);
	assert_int_equal(m.rcpt[1].next_try, -3);
	assert_true(m.rcpt[1].warned);
	assert_false(m.rcpt[0].warned);
	assert_true(m.rcpt[1].has_error);
	assert_true(str_is(m.rcpt[1].error, "550 no\r\nsuch user"));
	rec_msg_free(&m);
	buf_free(&b);
}

static void test_update_round_trip(void **state)
{
	(void)state;
	struct rec_update u = {.id = STR_LIT("0123456789ABCDEF"), .index = 70000, .state = 1,
			       .attempts = 9, .next_try = INT64_C(1) << 40};
	/* Bit 0: with an error text; bit 1: the delay warning was sent. */
	for (int v = 0; v < 4; v++) {
		bool with_error = v & 1;
		struct buf b = BUF_INIT;
		u.has_error = with_error;
		u.error = STR_LIT("421 busy");
		u.warned = v & 2;
		rec_encode_update(&b, &u);
		rec_bind((uint8_t *)b.p, SEG, OFF);
		struct rec_hdr h;
		assert_int_equal(check(&b, b.len, &h), REC_VALID);
		assert_int_equal(h.type, REC_RCPT);
		struct rec_update d;
		assert_true(rec_decode_update(payload_of(&b), h.len, &d));
		assert_true(str_is(d.id, "0123456789ABCDEF"));
		assert_int_equal(d.index, 70000);
		assert_int_equal(d.state, 1);
		assert_int_equal(d.attempts, 9);
		assert_int_equal(d.next_try, INT64_C(1) << 40);
		assert_int_equal(d.has_error, with_error);
		assert_int_equal(d.warned, (v & 2) != 0);
		if (with_error)
			assert_true(str_is(d.error, "421 busy"));
		buf_free(&b);
	}
}

static void test_hold_round_trip(void **state)
{
	(void)state;
	for (int hold = 0; hold < 2; hold++) {
		struct buf b = BUF_INIT;
		rec_encode_hold(&b, STR_LIT("0123456789ABCDEF"), hold);
		rec_bind((uint8_t *)b.p, SEG, OFF);
		struct rec_hdr h;
		assert_int_equal(check(&b, b.len, &h), REC_VALID);
		assert_int_equal(h.type, hold ? REC_HOLD : REC_RELEASE);
		struct str id;
		assert_true(rec_decode_hold(payload_of(&b), h.len, &id));
		assert_true(str_is(id, "0123456789ABCDEF"));
		buf_free(&b);
	}
}

/* The layout is explicit little-endian, independent of struct layout. */
static void test_byte_layout(void **state)
{
	(void)state;
	struct buf b = BUF_INIT;
	rec_encode_hold(&b, STR_LIT("ABC"), true);
	const uint8_t *p = (const uint8_t *)b.p;
	assert_memory_equal(p, "PTRL", 4);
	assert_int_equal(p[4], REC_HOLD);
	assert_int_equal(p[5] | p[6] | p[7], 0);
	assert_int_equal(rec_get_le32(p + 8), 9);
	const uint8_t want[9] = {1, 0, 3, 0, 0, 0, 'A', 'B', 'C'};
	assert_memory_equal(p + 16, want, sizeof want);
	assert_int_equal(b.len, 25);
	buf_free(&b);
}

/* ---- frame damage ---- */

/* A record is valid only where it was written. */
static void test_position_bound(void **state)
{
	(void)state;
	struct buf b = BUF_INIT;
	encode_sample(&b, "a@b", false);
	struct rec_hdr h;
	const uint8_t *p = (const uint8_t *)b.p;
	assert_int_equal(rec_check(p, b.len, SEG, OFF, &h), REC_VALID);
	assert_int_equal(rec_check(p, b.len, SEG, OFF + 1, &h), REC_CORRUPT);
	assert_int_equal(rec_check(p, b.len, SEG + 1, OFF, &h), REC_CORRUPT);
	buf_free(&b);
}

static void test_bad_magic(void **state)
{
	(void)state;
	struct buf b = BUF_INIT;
	encode_sample(&b, "a@b", false);
	struct rec_hdr h;
	b.p[1] ^= 0x20;
	assert_int_equal(check(&b, b.len, &h), REC_CORRUPT);
	/* Even two bytes are enough to tell garbage from a torn header. */
	assert_int_equal(check(&b, 2, &h), REC_CORRUPT);
	buf_free(&b);
}

static void test_bad_crc(void **state)
{
	(void)state;
	/* One flipped bit anywhere (header, reserved bytes, payload, body,
	 * the CRC itself) is detected. */
	struct buf b = BUF_INIT;
	encode_sample(&b, "a@b", false);
	const size_t where[] = {4, 5, 7, 12, 15, 16, 40, b.len - 1};
	for (size_t i = 0; i < sizeof where / sizeof *where; i++) {
		struct rec_hdr h;
		b.p[where[i]] ^= 0x01;
		assert_int_equal(check(&b, b.len, &h), REC_CORRUPT);
		b.p[where[i]] ^= 0x01;
		assert_int_equal(check(&b, b.len, &h), REC_VALID);
	}
	buf_free(&b);
}

static void test_truncated_header(void **state)
{
	(void)state;
	struct buf b = BUF_INIT;
	encode_sample(&b, "a@b", false);
	struct rec_hdr h;
	for (size_t avail = 1; avail < REC_HDR_LEN; avail++)
		assert_int_equal(check(&b, avail, &h), REC_TRUNCATED);
	buf_free(&b);
}

static void test_truncated_payload(void **state)
{
	(void)state;
	struct buf b = BUF_INIT;
	encode_sample(&b, "a@b", false);
	struct rec_hdr h;
	assert_int_equal(check(&b, REC_HDR_LEN, &h), REC_TRUNCATED);
	assert_int_equal(check(&b, b.len - 1, &h), REC_TRUNCATED);
	assert_int_equal(check(&b, b.len, &h), REC_VALID);
	buf_free(&b);
}

/* Lengths are checked against the data and the bound, never trusted. */
static void test_length_past_end(void **state)
{
	(void)state;
	struct buf b = BUF_INIT;
	encode_sample(&b, "a@b", false);
	struct rec_hdr h;
	rec_put_le32((uint8_t *)b.p + 8, REC_MAX_PAYLOAD + 1);
	assert_int_equal(check(&b, b.len, &h), REC_CORRUPT);
	rec_put_le32((uint8_t *)b.p + 8, UINT32_MAX);
	assert_int_equal(check(&b, b.len, &h), REC_CORRUPT);
	rec_put_le32((uint8_t *)b.p + 8, (uint32_t)b.len);
	assert_int_equal(check(&b, b.len, &h), REC_TRUNCATED);
	rec_put_le32((uint8_t *)b.p + 8, (uint32_t)b.len - REC_HDR_LEN - 1);
	assert_int_equal(check(&b, b.len, &h), REC_CORRUPT);
	buf_free(&b);
}

/* ---- payload damage (CRC-valid records a broken writer could make) ---- */

static void test_tlv_overrun(void **state)
{
	(void)state;
	struct buf p = BUF_INIT;
	msg_fields(&p);
	tlv_s(&p, TAG_MSG_BODY, "xy");
	struct rec_msg m;
	assert_true(rec_decode_msg((const uint8_t *)p.p, p.len, &m));
	rec_msg_free(&m);
	/* The body claims one byte more than there is. */
	rec_put_le32((uint8_t *)p.p + p.len - 2 - 4, 3);
	assert_false(rec_decode_msg((const uint8_t *)p.p, p.len, &m));
	/* A huge length must not wrap around the bounds check. */
	rec_put_le32((uint8_t *)p.p + p.len - 2 - 4, UINT32_MAX);
	assert_false(rec_decode_msg((const uint8_t *)p.p, p.len, &m));
	buf_free(&p);
}

static void test_tlv_truncated_field_header(void **state)
{
	(void)state;
	struct buf p = BUF_INIT;
	msg_fields(&p);
	tlv_s(&p, TAG_MSG_BODY, "xy");
	buf_append(&p, "\x09\x00\x01", 3);
	struct rec_msg m;
	assert_false(rec_decode_msg((const uint8_t *)p.p, p.len, &m));
	struct rec_update u;
	assert_false(rec_decode_update((const uint8_t *)"\x01\x00", 2, &u));
	struct str id;
	assert_false(rec_decode_hold((const uint8_t *)"\x01\x00\x05\x00\x00\x00" "AB", 8, &id));
	buf_free(&p);
}

static void test_nested_rcpt_overrun(void **state)
{
	(void)state;
	struct buf extra = BUF_INIT, p = BUF_INIT;
	/* Inside the recipient, a field claims more than the recipient holds. */
	buf_append(&extra, "\x03\x00\x05\x00\x00\x00\x01", 7);
	msg_fields(&p);
	tlv_rcpt(&p, "c@example.net", &extra);
	tlv_s(&p, TAG_MSG_BODY, "xy");
	struct rec_msg m;
	assert_false(rec_decode_msg((const uint8_t *)p.p, p.len, &m));
	buf_free(&extra);
	buf_free(&p);
}

static void test_unknown_tags_skipped(void **state)
{
	(void)state;
	struct buf extra = BUF_INIT, p = BUF_INIT, rec = BUF_INIT;
	tlv_s(&extra, 200, "a newer recipient field");
	tlv_s(&p, 300, "a newer message field");
	msg_fields(&p);
	tlv_rcpt(&p, "c@example.net", &extra);
	tlv(&p, 0, "", 0);
	tlv_s(&p, TAG_MSG_BODY, "xy");
	tlv_s(&p, 0xffff, "after the body");
	frame(&rec, REC_MSG, &p);
	struct rec_hdr h;
	assert_int_equal(check(&rec, rec.len, &h), REC_VALID);
	struct rec_msg m;
	assert_true(rec_decode_msg(payload_of(&rec), h.len, &m));
	assert_int_equal(m.nrcpt, 2);
	assert_true(str_is(m.rcpt[1].addr, "c@example.net"));
	assert_memory_equal(payload_of(&rec) + m.body_off, "xy", 2);
	rec_msg_free(&m);

	struct rec_update u;
	buf_reset(&p);
	tlv_s(&p, 77, "?");
	tlv_s(&p, TAG_RCPT_ID, "0123456789ABCDEF");
	tlv_u32(&p, TAG_RCPT_INDEX, 1);
	tlv(&p, TAG_RCPT_STATE, "\x01", 1);
	assert_true(rec_decode_update((const uint8_t *)p.p, p.len, &u));
	assert_int_equal(u.index, 1);
	assert_int_equal(u.attempts, 0);
	buf_free(&extra);
	buf_free(&p);
	buf_free(&rec);
}

static void test_missing_fields(void **state)
{
	(void)state;
	struct rec_msg m;
	struct buf p = BUF_INIT;
	/* No body. */
	msg_fields(&p);
	assert_false(rec_decode_msg((const uint8_t *)p.p, p.len, &m));
	/* No recipient. */
	buf_reset(&p);
	tlv_s(&p, TAG_MSG_ID, "0123456789ABCDEF");
	tlv_i64(&p, TAG_MSG_ARRIVAL, 1);
	tlv_s(&p, TAG_MSG_SENDER, "");
	tlv_s(&p, TAG_MSG_BODY, "");
	assert_false(rec_decode_msg((const uint8_t *)p.p, p.len, &m));
	/* Empty payload. */
	assert_false(rec_decode_msg((const uint8_t *)"", 0, &m));
	/* Update without a state. */
	struct rec_update u;
	buf_reset(&p);
	tlv_s(&p, TAG_RCPT_ID, "0123456789ABCDEF");
	tlv_u32(&p, TAG_RCPT_INDEX, 1);
	assert_false(rec_decode_update((const uint8_t *)p.p, p.len, &u));
	struct str id;
	assert_false(rec_decode_hold((const uint8_t *)"", 0, &id));
	buf_free(&p);
}

static void test_malformed_fields(void **state)
{
	(void)state;
	struct rec_msg m;
	struct buf p = BUF_INIT;
	/* A duplicated id: which one would be meant? */
	msg_fields(&p);
	tlv_s(&p, TAG_MSG_ID, "FEDCBA9876543210");
	tlv_s(&p, TAG_MSG_BODY, "");
	assert_false(rec_decode_msg((const uint8_t *)p.p, p.len, &m));
	/* An integer of the wrong width. */
	buf_reset(&p);
	msg_fields(&p);
	tlv(&p, TAG_MSG_FLAGS, "\x01\x00", 2);
	tlv_s(&p, TAG_MSG_BODY, "");
	assert_false(rec_decode_msg((const uint8_t *)p.p, p.len, &m));
	/* A NUL inside a string, which no encoder writes. */
	buf_reset(&p);
	msg_fields(&p);
	tlv(&p, TAG_MSG_HELO, "a\0b", 3);
	tlv_s(&p, TAG_MSG_BODY, "");
	assert_false(rec_decode_msg((const uint8_t *)p.p, p.len, &m));
	/* A recipient state out of range. */
	struct rec_update u;
	buf_reset(&p);
	tlv_s(&p, TAG_RCPT_ID, "0123456789ABCDEF");
	tlv_u32(&p, TAG_RCPT_INDEX, 0);
	tlv(&p, TAG_RCPT_STATE, "\x04", 1);
	assert_false(rec_decode_update((const uint8_t *)p.p, p.len, &u));
	/* The delay-warning mark is 1 or absent, and appears once. */
	for (int twice = 0; twice < 2; twice++) {
		buf_reset(&p);
		tlv_s(&p, TAG_RCPT_ID, "0123456789ABCDEF");
		tlv_u32(&p, TAG_RCPT_INDEX, 0);
		tlv(&p, TAG_RCPT_STATE, "\x00", 1);
		tlv(&p, TAG_RCPT_WARNED, twice ? "\x01" : "\x02", 1);
		if (twice)
			tlv(&p, TAG_RCPT_WARNED, "\x01", 1);
		assert_false(rec_decode_update((const uint8_t *)p.p, p.len, &u));
	}
	buf_free(&p);
}

/* DSN (RFC 3461) fields: written only when given, read back verbatim, and
 * absent from older records, which then decode with the defaults. */
static void test_dsn_round_trip(void **state)
{
	(void)state;
	struct rec_rcpt rc[2] = {
		{.addr = STR_LIT("x@example.net"), .orig = STR_LIT("x@example.net"),
		 .notify = 5, .orcpt = STR_LIT("rfc822;x+2Bfoo@example.net")},
		{.addr = STR_LIT("y@example.net"), .orig = STR_LIT("y@example.net"), .notify = 8},
	};
	struct rec_msg m = {
		.id = STR_LIT("0123456789ABCDEF"), .sender = STR_LIT("a@example.org"),
		.arrival = 1, .envid = STR_LIT("QQ+2B314"), .ret = 1, .nrcpt = 2, .rcpt = rc,
	};
	struct buf b = BUF_INIT;
	size_t start;
	size_t at = rec_msg_begin(&b, &m, 2, &start);
	memcpy(b.p + at, "hi", 2);
	rec_end(&b, start);
	rec_bind((uint8_t *)b.p, SEG, OFF);
	struct rec_hdr h;
	assert_int_equal(check(&b, b.len, &h), REC_VALID);
	struct rec_msg d;
	assert_true(rec_decode_msg(payload_of(&b), h.len, &d));
	assert_true(str_is(d.envid, "QQ+2B314"));
	assert_int_equal(d.ret, 1);
	assert_int_equal(d.rcpt[0].notify, 5);
	assert_true(str_is(d.rcpt[0].orcpt, "rfc822;x+2Bfoo@example.net"));
	assert_int_equal(d.rcpt[1].notify, 8);
	assert_int_equal(d.rcpt[1].orcpt.len, 0);
	assert_memory_equal(payload_of(&b) + d.body_off, "hi", 2);
	rec_msg_free(&d);

	/* A record as written before DSN: no such fields, defaults. */
	struct buf p = BUF_INIT;
	msg_fields(&p);
	tlv_s(&p, TAG_MSG_BODY, "");
	assert_true(rec_decode_msg((const uint8_t *)p.p, p.len, &d));
	assert_int_equal(d.envid.len, 0);
	assert_int_equal(d.ret, 0);
	assert_int_equal(d.rcpt[0].notify, 0);
	assert_int_equal(d.rcpt[0].orcpt.len, 0);
	rec_msg_free(&d);
	buf_free(&p);
	buf_free(&b);
}

/* Values no session can produce are damage. */
static void test_dsn_malformed(void **state)
{
	(void)state;
	static const struct {
		bool in_rcpt;
		uint16_t tag;
		const char *v;
		uint32_t len;
	} bad[] = {
		{false, TAG_MSG_RET, "\x03", 1},    /* RET is FULL or HDRS */
		{false, TAG_MSG_RET, "\x00", 1},
		{false, TAG_MSG_RET, "\x01\x00", 2},
		{false, TAG_MSG_ENVID, "", 0},
		{true, TAG_RCPT_NOTIFY, "\x00", 1},
		{true, TAG_RCPT_NOTIFY, "\x10", 1},
		{true, TAG_RCPT_NOTIFY, "\x09", 1}, /* NEVER with SUCCESS */
		{true, TAG_RCPT_ORCPT, "", 0},
		{true, TAG_RCPT_ORCPT, "a\0b", 3},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct buf p = BUF_INIT, extra = BUF_INIT;
		struct rec_msg m;
		msg_fields(&p);
		if (bad[i].in_rcpt) {
			tlv(&extra, bad[i].tag, bad[i].v, bad[i].len);
			tlv_rcpt(&p, "c@example.net", &extra);
		} else {
			tlv(&p, bad[i].tag, bad[i].v, bad[i].len);
		}
		tlv_s(&p, TAG_MSG_BODY, "");
		if (rec_decode_msg((const uint8_t *)p.p, p.len, &m))
			fail_msg("case %zu decoded", i);
		buf_free(&p);
		buf_free(&extra);
	}
	/* A duplicated ENVID, like any singular field. */
	struct buf p = BUF_INIT;
	struct rec_msg m;
	msg_fields(&p);
	tlv_s(&p, TAG_MSG_ENVID, "a");
	tlv_s(&p, TAG_MSG_ENVID, "b");
	tlv_s(&p, TAG_MSG_BODY, "");
	assert_false(rec_decode_msg((const uint8_t *)p.p, p.len, &m));
	buf_free(&p);
}

/* A record's tail (its last body octets) has the CRC its stored CRC
 * implies, whatever the record's place; a tail written from elsewhere
 * (rec_end_tail) makes the same record as one built whole. */
static void test_tail_crc_from_stored_crc(void **state)
{
	(void)state;
	struct buf whole = BUF_INIT, split = BUF_INIT;
	encode_sample(&whole, "a@example.org", false);
	struct rec_hdr h;
	assert_int_equal(check(&whole, whole.len, &h), REC_VALID);
	size_t head = whole.len - 4; /* the body "body" is the last 4 octets */
	assert_int_equal(rec_tail_crc((const uint8_t *)whole.p, head, SEG, OFF, 4),
			 (uint32_t)crc32_z(0, (const Bytef *)"body", 4));
	buf_append(&split, whole.p, head);
	rec_end_tail(&split, 0, 4, (uint32_t)crc32_z(0, (const Bytef *)"body", 4));
	buf_append(&split, "body", 4);
	rec_bind((uint8_t *)split.p, SEG, OFF);
	assert_int_equal(split.len, whole.len);
	assert_memory_equal(split.p, whole.p, whole.len);
	buf_free(&whole);
	buf_free(&split);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_msg_round_trip),
		cmocka_unit_test(test_tail_crc_from_stored_crc),
		cmocka_unit_test(test_msg_with_state_round_trip),
		cmocka_unit_test(test_update_round_trip),
		cmocka_unit_test(test_hold_round_trip),
		cmocka_unit_test(test_byte_layout),
		cmocka_unit_test(test_position_bound),
		cmocka_unit_test(test_bad_magic),
		cmocka_unit_test(test_bad_crc),
		cmocka_unit_test(test_truncated_header),
		cmocka_unit_test(test_truncated_payload),
		cmocka_unit_test(test_length_past_end),
		cmocka_unit_test(test_tlv_overrun),
		cmocka_unit_test(test_tlv_truncated_field_header),
		cmocka_unit_test(test_nested_rcpt_overrun),
		cmocka_unit_test(test_unknown_tags_skipped),
		cmocka_unit_test(test_missing_fields),
		cmocka_unit_test(test_malformed_fields),
		cmocka_unit_test(test_dsn_round_trip),
		cmocka_unit_test(test_dsn_malformed),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
