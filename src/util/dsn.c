/* dsn - DSN parameter values and xtext (RFC 3461); see dsn.h. */
#include "util/dsn.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

static int hex_upper(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* RFC 3461 4: xchar is any printable ASCII character but "+" and "=". */
static bool is_xchar(char c)
{
	return c >= '!' && c <= '~' && c != '+' && c != '=';
}

bool xtext_decode(const char *in, size_t len, char *out, size_t cap, size_t *n)
{
	size_t k = 0;
	for (size_t i = 0; i < len; i++, k++) {
		int c = (unsigned char)in[i];
		if (in[i] == '+') {
			/* RFC 3461 4: hexchar = "+" 2(upper-case hex digit) */
			int hi = i + 2 < len ? hex_upper(in[i + 1]) : -1;
			int lo = hi >= 0 ? hex_upper(in[i + 2]) : -1;
			if (lo < 0)
				return false;
			c = hi << 4 | lo;
			i += 2;
		} else if (!is_xchar(in[i])) {
			return false;
		}
		if (out && k + 1 >= cap)
			return false;
		if (out)
			out[k] = (char)c;
	}
	if (out)
		out[k] = '\0';
	*n = k;
	return true;
}

bool xtext_encode(const char *in, size_t len, char *out, size_t cap)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t k = 0;
	if (cap == 0)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)in[i];
		bool plain = is_xchar(in[i]);
		if (k + (plain ? 1 : 3) >= cap)
			return false;
		if (plain) {
			out[k++] = (char)c;
		} else {
			out[k++] = '+';
			out[k++] = hex[c >> 4];
			out[k++] = hex[c & 15];
		}
	}
	out[k] = '\0';
	return true;
}

bool dsn_envid_valid(const char *v, size_t len)
{
	char dec[DSN_ENVID_MAX + 1];
	size_t n;
	if (len == 0 || !xtext_decode(v, len, dec, sizeof dec, &n))
		return false;
	/* RFC 3461 4.4: printable (graphic and space) US-ASCII only. */
	for (size_t i = 0; i < n; i++)
		if (dec[i] < ' ' || dec[i] > '~')
			return false;
	return true;
}

/* RFC 5322 3.2.3 atext: what an atom (the addr-type) may hold. */
static bool is_atext(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c && strchr("!#$%&'*+-/=?^_`{|}~", c));
}

bool dsn_orcpt_valid(const char *v, size_t len, bool utf8)
{
	const char *semi = memchr(v, ';', len);
	size_t n;
	if (len > DSN_ORCPT_MAX || !semi || semi == v || semi + 1 == v + len)
		return false;
	size_t tlen = (size_t)(semi - v);
	for (size_t i = 0; i < tlen; i++)
		if (!is_atext(v[i]))
			return false;
	/* RFC 6533 3: the "utf-8" address type belongs to SMTPUTF8 transactions. */
	if (!utf8 && tlen == 5 && strncasecmp(v, "utf-8", 5) == 0)
		return false;
	return xtext_decode(semi + 1, len - tlen - 1, NULL, 0, &n);
}

static const struct {
	const char *name;
	uint8_t bit;
} notify_names[] = {
	{"SUCCESS", DSN_NOTIFY_SUCCESS},
	{"FAILURE", DSN_NOTIFY_FAILURE},
	{"DELAY", DSN_NOTIFY_DELAY},
	{"NEVER", DSN_NOTIFY_NEVER},
};

static uint8_t notify_bit(const char *w, size_t len)
{
	for (size_t i = 0; i < sizeof notify_names / sizeof notify_names[0]; i++)
		if (strlen(notify_names[i].name) == len &&
		    strncasecmp(notify_names[i].name, w, len) == 0)
			return notify_names[i].bit;
	return 0;
}

bool dsn_notify_parse(const char *v, size_t len, uint8_t *flags)
{
	uint8_t f = 0;
	const char *end = v + len;
	for (const char *p = v; p <= end;) {
		const char *comma = memchr(p, ',', (size_t)(end - p));
		const char *w_end = comma ? comma : end;
		uint8_t bit = notify_bit(p, (size_t)(w_end - p));
		if (!bit || (f & bit))
			return false;
		f |= bit;
		p = w_end + 1;
	}
	/* RFC 3461 4.1: NEVER must appear by itself. */
	if ((f & DSN_NOTIFY_NEVER) && f != DSN_NOTIFY_NEVER)
		return false;
	*flags = f;
	return true;
}

void dsn_notify_text(uint8_t flags, char *out, size_t cap)
{
	size_t len = 0;
	if (cap)
		out[0] = '\0';
	for (size_t i = 0; i < sizeof notify_names / sizeof notify_names[0]; i++) {
		if (!(flags & notify_names[i].bit))
			continue;
		int w = snprintf(out + len, cap - len, "%s%s", len ? "," : "",
				 notify_names[i].name);
		if (w < 0 || (size_t)w >= cap - len)
			return;
		len += (size_t)w;
	}
}

bool dsn_wants(uint8_t flags, unsigned kind)
{
	if (flags == 0)
		return kind == DSN_NOTIFY_FAILURE || kind == DSN_NOTIFY_DELAY;
	return (flags & kind) != 0;
}
