/* reply - SMTP reply formatting; see reply.h. RFC 5321 4.2, RFC 3463. */
#include "smtp/reply.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "util/metrics.h"

static void add_line(struct buf *out, int code, const char *ext, const char *text, size_t len,
		     bool last)
{
	char head[32];
	int h = snprintf(head, sizeof head, "%03d%c%s%s", code, last ? ' ' : '-', ext ? ext : "",
			 ext ? " " : "");
	buf_append(out, head, (size_t)h);
	/* RFC 5321 4.5.3.1.5: a reply line is at most 512 octets with its CRLF. */
	size_t room = REPLY_LINE_MAX - 2 - (size_t)h;
	if (len > room)
		len = room;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)text[i];
		buf_putc(out, (c < 0x20 || c == 0x7f) ? '?' : (char)c);
	}
	buf_append(out, "\r\n", 2);
}

void reply_add(struct buf *out, int code, const char *ext, const char *text)
{
	metrics_reply(code);
	for (;;) {
		const char *nl = strchr(text, '\n');
		if (!nl) {
			add_line(out, code, ext, text, strlen(text), true);
			return;
		}
		add_line(out, code, ext, text, (size_t)(nl - text), false);
		text = nl + 1;
	}
}

void reply_addf(struct buf *out, int code, const char *ext, const char *fmt, ...)
{
	char text[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof text, fmt, ap);
	va_end(ap);
	reply_add(out, code, ext, text);
}
