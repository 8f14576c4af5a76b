/* received - the Received: trace header; see received.h. RFC 5321 4.4. */
#include "smtp/received.h"

void rfc5322_date(struct buf *out, time_t when)
{
	static const char *const days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
	static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
					     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
	struct tm tm;
	gmtime_r(&when, &tm);
	buf_printf(out, "%s, %d %s %04d %02d:%02d:%02d +0000", days[tm.tm_wday], tm.tm_mday,
		   months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

void received_header(struct buf *out, const struct received_info *ri)
{
	/* RFC 5321 4.4: From-domain, By-domain, "with" protocol, "id", "for". The
	 * client's own name goes in first, its address in brackets after it. */
	buf_printf(out, "Received: from %s ([%s])\r\n\tby %s (Petrel) with %s id %s",
		   ri->helo && *ri->helo ? ri->helo : "unknown", ri->client_addr, ri->by,
		   ri->protocol, ri->queue_id);
	if (ri->for_rcpt)
		buf_printf(out, "\r\n\tfor <%s>", ri->for_rcpt);
	buf_puts(out, "; ");
	rfc5322_date(out, ri->when);
	buf_puts(out, "\r\n");
}

const char *received_protocol(bool esmtp, bool tls, bool auth, bool utf8)
{
	static const char *const names[2][4] = {
		{"ESMTP", "ESMTPA", "ESMTPS", "ESMTPSA"},
		{"UTF8SMTP", "UTF8SMTPA", "UTF8SMTPS", "UTF8SMTPSA"},
	};
	if (!esmtp)
		return "SMTP";
	return names[utf8][(tls ? 2 : 0) + (auth ? 1 : 0)];
}
