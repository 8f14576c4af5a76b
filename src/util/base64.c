/* base64 - RFC 4648 4; see base64.h. */
#include "util/base64.h"

static const char alphabet[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

void base64_encode(struct buf *out, const void *data, size_t len)
{
	const unsigned char *p = data;
	for (size_t i = 0; i < len; i += 3) {
		unsigned v = (unsigned)p[i] << 16;
		if (i + 1 < len)
			v |= (unsigned)p[i + 1] << 8;
		if (i + 2 < len)
			v |= p[i + 2];
		char q[4] = {alphabet[(v >> 18) & 63], alphabet[(v >> 12) & 63],
			     i + 1 < len ? alphabet[(v >> 6) & 63] : '=',
			     i + 2 < len ? alphabet[v & 63] : '='};
		buf_append(out, q, 4);
	}
}

static int value_of(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

bool base64_decode(struct buf *out, const char *s, size_t len)
{
	if (len % 4)
		return false;
	size_t start = out->len;
	for (size_t i = 0; i < len; i += 4) {
		bool last = i + 4 == len;
		int pad = (s[i + 3] == '=') + (s[i + 2] == '=' && s[i + 3] == '=');
		if (pad && !last)
			goto bad;
		unsigned v = 0;
		for (int k = 0; k < 4 - pad; k++) {
			int d = value_of(s[i + k]);
			if (d < 0)
				goto bad;
			v = v << 6 | (unsigned)d;
		}
		v <<= 6 * pad;
		char b[3] = {(char)(v >> 16), (char)(v >> 8), (char)v};
		buf_append(out, b, (size_t)(3 - pad));
	}
	return true;
bad:
	out->len = start;
	if (out->p)
		out->p[start] = '\0';
	return false;
}
