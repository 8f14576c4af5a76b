/* log - one line per event; see log.h. */
#include "util/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static enum log_level min_level = LOG_LVL_INFO;

void log_set_level(enum log_level lvl)
{
	min_level = lvl;
}

void log_msg(enum log_level lvl, const char *fmt, ...)
{
	static const char *const names[] = {"debug", "info", "warning", "error"};
	if (lvl < min_level)
		return;
	struct timeval tv;
	gettimeofday(&tv, NULL);
	struct tm tm;
	gmtime_r(&tv.tv_sec, &tm);
	char line[2048];
	int n = snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ petrel[%d]: %s: ",
			 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
			 tm.tm_sec, (int)(tv.tv_usec / 1000), (int)getpid(), names[lvl]);
	va_list ap;
	va_start(ap, fmt);
	if (n > 0 && (size_t)n < sizeof line)
		vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
	va_end(ap);
	/* One fputs per line keeps lines whole even with several threads logging. */
	fprintf(stderr, "%s\n", line);
}

char *log_safe(char *out, size_t outsz, const char *s, size_t len)
{
	size_t j = 0;
	for (size_t i = 0; i < len && j + 1 < outsz; i++) {
		unsigned char c = (unsigned char)s[i];
		out[j++] = (c < 0x20 || c >= 0x7f) ? '?' : (char)c;
	}
	if (outsz)
		out[j] = '\0';
	return out;
}
