/*
 * fuzz_log - the JSON log line (src/util/log.c), which carries hostile text
 * (envelope addresses, HELO names, AUTH user names, remote replies).
 *
 * Input: one byte of output room for log_json_escape, then the message (up
 * to the first NUL, at most LOG_LINE_MAX - 1 bytes). Checked:
 * - log_format_json fits LOG_JSON_MAX, is one flat JSON object of string
 *   and integer members with no raw control byte, and its "msg" member
 *   decodes back to the message exactly (bytes that are not UTF-8 travel
 *   as \u00XX);
 * - log_json_escape never writes past its room, always terminates, and
 *   never ends inside an escape sequence.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "util/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* One escape at s (just after the backslash) as a byte; advances *s past
 * it. \u escapes above 0xFF never appear in our output. */
static unsigned char unescape(const char **s)
{
	static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
	const char *e = **s ? strchr(from, **s) : NULL;
	if (**s == 'u') {
		const char *h = *s + 1;
		if (h[0] != '0' || h[1] != '0' || hexval(h[2]) < 0 || hexval(h[3]) < 0)
			abort();
		*s += 5;
		return (unsigned char)(hexval(h[2]) * 16 + hexval(h[3]));
	}
	if (!e)
		abort();
	*s += 1;
	return (unsigned char)to[e - from];
}

/* Decodes the JSON string whose opening quote is just before *p into out
 * (room for cap bytes, or NULL); leaves *p after the closing quote. Aborts
 * on bad syntax or overflow. */
static size_t json_string(const char **p, char *out, size_t cap)
{
	size_t n = 0;
	const char *s = *p;
	while (*s != '"') {
		unsigned char c = (unsigned char)*s;
		if (c < 0x20)
			abort();
		s++;
		if (c == '\\')
			c = unescape(&s);
		if (out && n >= cap)
			abort();
		if (out)
			out[n] = (char)c;
		n++;
	}
	*p = s + 1;
	return n;
}

/* {"key":"string" or integer, ...}; returns the decoded "msg" length. */
static size_t check_object(const char *line, char *msg, size_t cap)
{
	const char *p = line;
	size_t msglen = SIZE_MAX;
	if (*p++ != '{')
		abort();
	for (;;) {
		char key[64];
		if (*p++ != '"')
			abort();
		size_t klen = json_string(&p, key, sizeof key - 1);
		key[klen] = '\0';
		bool is_msg = strcmp(key, "msg") == 0;
		if (*p++ != ':')
			abort();
		if (*p == '"') {
			p++;
			size_t n = json_string(&p, is_msg ? msg : NULL, cap);
			if (is_msg)
				msglen = n;
		} else {
			p += *p == '-';
			if (*p < '0' || *p > '9')
				abort();
			while (*p >= '0' && *p <= '9')
				p++;
		}
		if (*p == '}')
			break;
		if (*p++ != ',')
			abort();
	}
	if (p[1] != '\0' || msglen == SIZE_MAX)
		abort();
	return msglen;
}

/* Every escape in s is whole: a cut one would corrupt the line. */
static void check_escapes_whole(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (s[i] != '\\')
			continue;
		if (i + 1 >= n || (s[i + 1] == 'u' && i + 5 >= n))
			abort();
		i += s[i + 1] == 'u' ? 5 : 1;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	size_t room = data[0];
	char msg[LOG_LINE_MAX];
	size_t len = strnlen((const char *)data + 1, size - 1);
	if (len >= sizeof msg)
		len = sizeof msg - 1;
	memcpy(msg, data + 1, len);
	msg[len] = '\0';

	static char line[LOG_JSON_MAX + 1], back[LOG_LINE_MAX];
	struct timeval tv = {1700000000, 123456};
	size_t n = log_format_json(line, sizeof line, &tv, LOG_LVL_INFO, 4242, msg);
	if (n >= LOG_JSON_MAX || strlen(line) != n)
		abort();
	if (check_object(line, back, sizeof back) != len || memcmp(back, msg, len) != 0)
		abort();

	if (room) {
		char *small = malloc(room);
		size_t m = log_json_escape(small, room, msg, len);
		if (m >= room || small[m] != '\0')
			abort();
		check_escapes_whole(small, m);
		free(small);
	}
	return 0;
}
