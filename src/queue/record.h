/*
 * record - encoding and decoding of spool log records (pure: no I/O).
 *
 * A record is a 16-byte header {magic u32, type u8, 3 reserved bytes,
 * payload length u32, crc u32} followed by the payload, a sequence of TLV
 * fields {tag u16, length u32, value}. Integers are little-endian, written
 * byte by byte. The CRC (zlib crc32) covers the record's position (segment
 * number u64, offset u64), the first 12 header bytes and the payload, so a
 * record is valid only at the place it was written: a copy of a record's
 * bytes inside a message body never checks out during resynchronisation.
 * Decoders check every length against what is there and skip unknown tags.
 * The full format is in docs/spool.md.
 */
#ifndef PETREL_QUEUE_RECORD_H
#define PETREL_QUEUE_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

#define REC_MAGIC 0x4C525450u /* "PTRL" on disk */
#define REC_HDR_LEN 16u
#define REC_TLV_HDR_LEN 6u
/* Larger lengths are corruption, never allocation requests. */
#define REC_MAX_PAYLOAD (UINT32_C(1) << 30)

enum rec_type {
	REC_MSG = 1,     /* a message: envelope, recipients, body */
	REC_RCPT = 2,    /* new state of one recipient */
	REC_HOLD = 3,    /* administrator hold */
	REC_RELEASE = 4, /* end of a hold */
};

/* Fields of a MSG record. */
enum rec_msg_tag {
	TAG_MSG_ID = 1,
	TAG_MSG_ARRIVAL = 2, /* i64 */
	TAG_MSG_SENDER = 3,
	TAG_MSG_HELO = 4,
	TAG_MSG_CLIENT = 5,
	TAG_MSG_FLAGS = 6,   /* u32 */
	TAG_MSG_RCPT = 7,    /* nested TLV with TAG_RCPT_ADDR... */
	TAG_MSG_HELD = 8,    /* u8 */
	TAG_MSG_ENVID = 9,   /* DSN ENVID, xtext as given (optional) */
	TAG_MSG_RET = 10,    /* u8, enum dsn_ret (optional) */
	TAG_MSG_BODY = 15,   /* written last */
};

/* Fields of a RCPT record (ID..ERROR, WARNED) and of a MSG's nested
 * recipient (STATE..WARNED); HOLD and RELEASE records carry TAG_RCPT_ID
 * only. */
enum rec_rcpt_tag {
	TAG_RCPT_ID = 1,
	TAG_RCPT_INDEX = 2,    /* u32 */
	TAG_RCPT_STATE = 3,    /* u8, enum rcpt_state */
	TAG_RCPT_ATTEMPTS = 4, /* u32 */
	TAG_RCPT_NEXT_TRY = 5, /* i64 */
	TAG_RCPT_ERROR = 6,
	TAG_RCPT_ADDR = 7,
	TAG_RCPT_ORIG = 8,
	TAG_RCPT_NOTIFY = 9,   /* u8, DSN_NOTIFY_* bits (optional) */
	TAG_RCPT_ORCPT = 10,   /* DSN ORCPT "addr-type;xtext" (optional) */
	TAG_RCPT_WARNED = 11,  /* u8 1: the delay warning was sent (optional) */
};

#define REC_STATE_MAX 3u

struct rec_hdr {
	uint8_t type;
	uint32_t len; /* payload length */
};

enum rec_check {
	REC_VALID,
	REC_TRUNCATED, /* a plausible header whose record runs past avail */
	REC_CORRUPT,
};

/* One recipient. Decoded strings are views into the payload. */
struct rec_rcpt {
	struct str addr, orig;
	bool has_state; /* set when state..error are present */
	uint8_t state;
	uint32_t attempts;
	int64_t next_try;
	bool has_error;
	struct str error;
	uint8_t notify;  /* 0 = absent */
	struct str orcpt; /* len 0 = absent */
	bool warned;     /* with the state: the delay warning was sent */
};

struct rec_msg {
	struct str id, sender, helo, client;
	int64_t arrival;
	uint32_t flags;
	bool held;
	struct str envid; /* len 0 = absent */
	uint8_t ret;      /* 0 = absent */
	size_t nrcpt;
	struct rec_rcpt *rcpt; /* decode: allocated, free with rec_msg_free */
	uint64_t body_off;     /* decode: offset of the body in the payload */
	uint64_t body_len;
};

/* A RCPT record (index..error) or a HOLD/RELEASE record (id only). */
struct rec_update {
	struct str id;
	uint32_t index;
	uint8_t state;
	uint32_t attempts;
	int64_t next_try;
	bool has_error;
	struct str error;
	bool warned;
};

/* Little-endian helpers, also used by tests and recovery. */
void rec_put_le32(uint8_t *p, uint32_t v);
uint32_t rec_get_le32(const uint8_t *p);

/*
 * Encoding. rec_msg_begin appends a MSG header and every field of m but the
 * body's bytes, reserves body_len bytes for them and returns their offset in
 * b; *start receives the record's offset. The caller fills the body, then
 * calls rec_end. The other encoders are complete records.
 */
size_t rec_msg_begin(struct buf *b, const struct rec_msg *m, uint64_t body_len, size_t *start);
/* The same for a record whose last tail_len body bytes are not in b but
 * written after it from elsewhere (a spilled draft, queue/draft.h): only
 * body_len - tail_len bytes are reserved; end it with rec_end_tail. */
size_t rec_msg_begin_tail(struct buf *b, const struct rec_msg *m, uint64_t body_len,
			  uint64_t tail_len, size_t *start);
void rec_encode_update(struct buf *b, const struct rec_update *u);
void rec_encode_hold(struct buf *b, struct str id, bool hold);
/* Fills in the payload length and a position-free CRC of the record
 * beginning at start. */
void rec_end(struct buf *b, size_t start);
/* The same for a record followed by tail_len bytes outside b whose CRC-32
 * (zlib crc32 from 0) is tail_crc. */
void rec_end_tail(struct buf *b, size_t start, uint64_t tail_len, uint32_t tail_crc);
/* Rewrites the CRC of an ended record for its place (seg, off) in the log. */
void rec_bind(uint8_t *rec, uint64_t seg, uint64_t off);

/* The CRC of a record written at (seg, off) over its position and header,
 * to be continued with crc32 over its payload and compared with header
 * bytes 12-15: the frame check of a record read a piece at a time. */
uint32_t rec_crc_start(const uint8_t *rec, uint64_t seg, uint64_t off);

/* The CRC-32 (from 0) of the last tail_len octets of the record written at
 * (seg, off) whose first head_len octets are at rec, as its stored CRC
 * implies them: the tail is copied without being read, and damage in it
 * stays as detectable in the copy as it was in the original. */
uint32_t rec_tail_crc(const uint8_t *rec, size_t head_len, uint64_t seg, uint64_t off,
		      uint64_t tail_len);

/* Checks the frame of the record at p (avail bytes there), written at
 * (seg, off): magic, length bound, CRC. Fills h when REC_VALID. */
enum rec_check rec_check(const uint8_t *p, size_t avail, uint64_t seg, uint64_t off,
			 struct rec_hdr *h);

/* Decoders take a checked payload; false when a field is malformed, a
 * required one is missing or the TLV sequence overruns the payload. */
bool rec_decode_msg(const uint8_t *payload, size_t len, struct rec_msg *out);
/* The same for a payload of len octets of which only the first avail are at
 * hand: every field must lie within them but the body, which must be the
 * last field and may run beyond (a maildrop file read a piece at a time). */
bool rec_decode_msg_head(const uint8_t *payload, size_t avail, size_t len, struct rec_msg *out);
void rec_msg_free(struct rec_msg *m);
bool rec_decode_update(const uint8_t *payload, size_t len, struct rec_update *out);
bool rec_decode_hold(const uint8_t *payload, size_t len, struct str *id);

#endif
