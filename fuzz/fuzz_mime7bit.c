/*
 * fuzz_mime7bit - the 8-bit to 7-bit MIME downgrade (src/deliver/mime7bit.c)
 * on raw bytes. Checked:
 * - pieces do not matter: the scan and the conversion give the same result,
 *   the same decision and the same octets whether the input comes whole or
 *   cut at a point taken from the input itself;
 * - input without 8-bit octets is always convertible;
 * - what a convertible input becomes holds only 7-bit octets, and is itself
 *   convertible with nothing left to change (the conversion is stable: no
 *   new boundary, no label left behind).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "deliver/mime7bit.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void feed(struct mime7 *m, const char *p, size_t n, size_t cut, struct buf *out)
{
	if (cut > n)
		cut = n;
	if (out) {
		mime7_convert(m, p, cut, out);
		mime7_convert(m, p + cut, n - cut, out);
		mime7_convert_end(m, out);
	} else {
		mime7_scan(m, p, cut);
		mime7_scan(m, p + cut, n - cut);
	}
}

static enum mime7_result run(const char *p, size_t n, size_t scan_cut, size_t conv_cut,
			     struct buf *out, bool *needed)
{
	struct mime7 *m = mime7_new();
	feed(m, p, n, scan_cut, NULL);
	enum mime7_result r = mime7_scan_end(m, needed);
	if (r == MIME7_OK && *needed)
		feed(m, p, n, conv_cut, out);
	mime7_free(m);
	return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data;
	size_t cut = size ? data[0] * 37u % size : 0;
	struct buf whole = BUF_INIT, cut_out = BUF_INIT, again = BUF_INIT;
	bool needed, needed2, eight = false;
	for (size_t i = 0; i < size; i++)
		eight |= data[i] >= 0x80;
	enum mime7_result r = run(p, size, size, size, &whole, &needed);
	if (run(p, size, cut, size - cut, &cut_out, &needed2) != r || needed2 != needed ||
	    whole.len != cut_out.len || (whole.len && memcmp(whole.p, cut_out.p, whole.len)))
		abort();
	if (!eight && r != MIME7_OK)
		abort();
	for (size_t i = 0; i < whole.len; i++)
		if ((unsigned char)whole.p[i] >= 0x80)
			abort();
	if (r == MIME7_OK && needed &&
	    (run(whole.p, whole.len, whole.len, whole.len, &again, &needed2) != MIME7_OK ||
	     needed2))
		abort();
	buf_free(&whole);
	buf_free(&cut_out);
	buf_free(&again);
	return 0;
}
