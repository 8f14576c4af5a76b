/*
 * fuzz_client - the SMTP client's reply parser and state machine
 * (src/smtp/client.c), driven like the delivery shell drives it.
 *
 * Input: byte 0 options (STARTTLS, AUTH, 8BITMIME, a message too big for
 * the server's SIZE, LMTP mode), byte 1 recipients per transaction and transactions per
 * connection, byte 2 the largest piece of server bytes, byte 3 the length of
 * the body source that follows (its CR and LF become CRLF, as the spool
 * stores messages); everything after it is what the server says.
 * The harness answers every event: READY starts a transaction (or QUITs),
 * STARTTLS "handshakes", BODY streams the body in pieces, TXN_DONE moves on;
 * when the server's bytes run out the connection is dropped (client_abort).
 * Checked:
 * - at TXN_DONE every recipient has a reply: a code 200..599, a stage and a
 *   NUL-terminated text; after client_abort none is left looking delivered
 *   (in LMTP mode, but for those with their own 2xx to the final dot);
 * - the body on the wire is transparent: the client's dot-stuffed output
 *   read back by the server's own DATA reader (data_reader.c) is exactly the
 *   body (plus the CRLF the client adds when it lacks one), ending at the
 *   client's ".CRLF";
 * - every command the client writes is one CRLF-terminated line;
 * - nothing crashes, leaks or loops whatever the server sends.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smtp/client.h"
#include "smtp/data_reader.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_RCPT 4
#define MAX_TXNS 3

static const struct rcpt rcpts[MAX_RCPT] = {
	{.addr = "alice@example.org"}, {.addr = "bob@example.org"},
	{.addr = "carol@relay.example"}, {.addr = "dave@example.net"},
};

struct drive {
	struct smtp_client *c;
	uint8_t opts;
	unsigned nrcpt;
	unsigned max_txns;
	unsigned txns;
	struct buf body;
	struct client_reply result[MAX_RCPT];
	struct client_txn txn;
	bool in_txn;
};

/* Commands: CRLF-terminated lines without another CR or LF. */
static void check_commands(const struct buf *out)
{
	size_t start = 0;
	for (size_t i = 0; i < out->len; i++) {
		if (out->p[i] == '\r' && (i + 1 == out->len || out->p[i + 1] != '\n'))
			abort();
		if (out->p[i] == '\n') {
			if (i == start || out->p[i - 1] != '\r')
				abort();
			start = i + 1;
		}
	}
	if (start != out->len)
		abort();
}

static void check_results(const struct drive *d, bool aborted)
{
	bool lmtp = d->opts & 16;
	for (unsigned i = 0; i < d->nrcpt; i++) {
		const struct client_reply *r = &d->result[i];
		if (!r->stage || memchr(r->text, '\0', sizeof r->text) == NULL)
			abort();
		bool delivered = r->code / 100 == 2 &&
				 !(lmtp && strcmp(r->stage, "end of data") == 0);
		if (aborted ? delivered : (r->code < 200 || r->code > 599 || !*r->stage))
			abort();
	}
}

/* The body as the server reads it back from the client's bytes. */
static void check_body_wire(const struct drive *d, const struct buf *wire)
{
	struct data_reader r;
	struct buf got = BUF_INIT;
	bool done = false;
	data_reader_init(&r, UINT64_MAX);
	size_t used = data_reader_feed(&r, wire->p ? wire->p : "", wire->len, &got, &done);
	size_t n = d->body.len;
	bool add_crlf = n && (n < 2 || memcmp(d->body.p + n - 2, "\r\n", 2) != 0);
	if (!done || used != wire->len || r.bare || got.len != n + (add_crlf ? 2 : 0) ||
	    (n && memcmp(got.p, d->body.p, n) != 0) ||
	    (add_crlf && memcmp(got.p + n, "\r\n", 2) != 0))
		abort();
	buf_free(&got);
}

static void send_body(struct drive *d, const uint8_t *pieces)
{
	struct buf *out = client_output(d->c);
	check_commands(out);
	buf_reset(out);
	size_t off = 0;
	for (unsigned k = 0; off < d->body.len; k++) {
		size_t piece = 1 + pieces[k % 4] % 16;
		if (piece > d->body.len - off)
			piece = d->body.len - off;
		client_body_write(d->c, d->body.p + off, piece);
		off += piece;
	}
	client_body_end(d->c);
	check_body_wire(d, out);
	buf_reset(out);
}

static void start_txn(struct drive *d)
{
	d->txn = (struct client_txn){
		.sender = d->txns % 2 ? "" : "sender@example.com",
		.nrcpt = d->nrcpt,
		.rcpt = rcpts,
		.size = d->opts & 8 ? UINT64_C(1) << 40 : d->body.len,
		.body_8bit = d->opts & 4,
		.result = d->result,
	};
	d->txns++;
	d->in_txn = true;
	client_start(d->c, &d->txn);
}

/* Acts on the pending event; false when the connection is over. */
static bool answer(struct drive *d, const uint8_t *pieces)
{
	switch (client_event(d->c)) {
	case CLIENT_EV_READY:
		if (d->txns < d->max_txns)
			start_txn(d);
		else
			client_quit(d->c);
		return true;
	case CLIENT_EV_STARTTLS:
		client_tls_done(d->c);
		return true;
	case CLIENT_EV_BODY:
		send_body(d, pieces);
		return true;
	case CLIENT_EV_TXN_DONE:
		check_results(d, false);
		d->in_txn = false;
		client_next(d->c);
		return true;
	case CLIENT_EV_FAILED:
	case CLIENT_EV_CLOSED:
		return false;
	default:
		return true;
	}
}

/* The stored form of a body: every CR and LF becomes CRLF. */
static void make_body(struct buf *b, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (p[i] == '\r' || p[i] == '\n') {
			buf_append(b, "\r\n", 2);
			i += p[i] == '\r' && i + 1 < n && p[i + 1] == '\n';
		} else {
			buf_putc(b, (char)p[i]);
		}
	}
}

static uint32_t next_rand(uint32_t *s)
{
	*s = *s * 1103515245u + 12345u;
	return *s >> 16;
}

/* Feeds the server's bytes in pieces and answers events until the
 * connection ends; true when the client is still waiting for the server. */
static bool converse(struct drive *d, const char *p, size_t n, unsigned maxchunk,
		    const uint8_t *pieces)
{
	uint32_t seed = (uint32_t)n;
	size_t off = 0;
	for (;;) {
		struct buf *out = client_output(d->c);
		check_commands(out);
		buf_reset(out);
		if (client_event(d->c) != CLIENT_EV_NONE) {
			if (!answer(d, pieces))
				return false;
			continue;
		}
		/* Replies already buffered come first, as the shell's step() does. */
		if (client_feed(d->c, "", 0) != CLIENT_EV_NONE)
			continue;
		if (off == n)
			return true;
		size_t piece = n - off;
		if (maxchunk) {
			size_t want = 1 + next_rand(&seed) % maxchunk;
			piece = want < piece ? want : piece;
		}
		client_feed(d->c, p + off, piece);
		off += piece;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 4)
		return 0;
	size_t blen = data[3] < size - 4 ? data[3] : size - 4;
	struct drive d = {
		.opts = data[0],
		.nrcpt = 1 + data[1] % MAX_RCPT,
		.max_txns = (data[1] >> 2) % (MAX_TXNS + 1),
	};
	make_body(&d.body, data + 4, blen);
	struct client_opts o = {
		.helo_name = "mx.example.test",
		.starttls = data[0] & 1,
		.auth_user = data[0] & 2 ? "user@example.test" : NULL,
		.auth_pass = "p4ss w0rd",
		.lmtp = data[0] & 16,
	};
	d.c = client_new(&o);
	bool waiting = converse(&d, (const char *)data + 4 + blen, size - 4 - blen, data[2], data);
	/* The connection drops (or the shell gives up on a failed one). */
	if (waiting || (d.in_txn && client_event(d.c) == CLIENT_EV_FAILED)) {
		client_abort(d.c, "connection lost");
		if (client_event(d.c) != CLIENT_EV_FAILED)
			abort();
		if (d.in_txn)
			check_results(&d, true);
	}
	const struct client_reply *f = client_failure(d.c);
	if (memchr(f->text, '\0', sizeof f->text) == NULL)
		abort();
	client_free(d.c);
	buf_free(&d.body);
	return 0;
}
