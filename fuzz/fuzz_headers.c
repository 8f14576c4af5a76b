/*
 * fuzz_headers - following a header section as it streams
 * (src/smtp/headers.c: header_scan, the Received: hop count and the values
 * the Delivered-To: loop check compares).
 *
 * Input: byte 0 is the largest piece the message is fed in (0: all at
 * once); the rest is the message.
 * Checked:
 * - every feed consumes at most what it was given, and all of it unless a
 *   field of the name became complete;
 * - chunking does not matter: fed whole and fed in pieces, the same count,
 *   the same values in the same order, the same end of section;
 * - a value is at most HEADER_VALUE_MAX octets, holds no CR or LF, and
 *   neither starts nor ends with white space; one that did not fit is empty;
 * - the count is header_count()'s, and once the section has ended no more
 *   fields come.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smtp/headers.h"
#include "util/buf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_value(const struct header_scan *h)
{
	size_t n = h->value_len;
	if (n > HEADER_VALUE_MAX || (h->value_long && n) || h->value[n] ||
	    memchr(h->value, '\r', n) ||
	    memchr(h->value, '\n', n))
		abort();
	if (n && (h->value[0] == ' ' || h->value[0] == '\t' || h->value[n - 1] == ' ' ||
		  h->value[n - 1] == '\t'))
		abort();
}

static void record(const struct header_scan *h, struct buf *log)
{
	check_value(h);
	buf_printf(log, "%d:%zu:", h->value_long, h->value_len);
	buf_append(log, h->value, h->value_len);
	buf_putc(log, '\n');
}

/* Feeds p[0..n) in pieces of at most piece octets (all at once when 0);
 * logs each complete field and the final count. */
static void run(const char *p, size_t n, size_t piece, const char *name, struct buf *log)
{
	struct header_scan h;
	header_scan_init(&h, name);
	size_t used = 0;
	while (used < n) {
		size_t give = piece && n - used > piece ? piece : n - used;
		bool field;
		bool ended = h.ended;
		size_t k = header_scan_feed(&h, p + used, give, &field);
		if (k > give || (!field && k != give) || (ended && field))
			abort();
		if (field)
			record(&h, log);
		used += k;
	}
	if (header_scan_end(&h))
		record(&h, log);
	if (h.count != header_count(p, n, name))
		abort();
	buf_printf(log, "count %u\n", h.count);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	const char *p = (const char *)data + 1;
	size_t n = size - 1;
	static const char *const names[] = {"Received", "Delivered-To"};
	for (size_t i = 0; i < 2; i++) {
		struct buf whole = BUF_INIT, pieces = BUF_INIT;
		run(p, n, 0, names[i], &whole);
		run(p, n, data[0], names[i], &pieces);
		if (whole.len != pieces.len || memcmp(whole.p, pieces.p, whole.len) != 0)
			abort();
		buf_free(&whole);
		buf_free(&pieces);
	}
	return 0;
}
