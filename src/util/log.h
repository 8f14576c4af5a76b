/*
 * log - one line per event, greppable, to stderr (or a file).
 *
 * Format: "2026-11-23T19:40:00.123Z petrel[1234]: info: QUEUEID: key=value, ..."
 * Every message-related line starts with the queue ID so a postmaster can
 * follow one message with grep. Text that came from the network must be passed
 * through log_safe() first so a peer cannot forge log lines.
 */
#ifndef PETREL_UTIL_LOG_H
#define PETREL_UTIL_LOG_H

#include <stddef.h>

enum log_level { LOG_LVL_DEBUG, LOG_LVL_INFO, LOG_LVL_WARN, LOG_LVL_ERROR };

void log_set_level(enum log_level lvl);
void log_msg(enum log_level lvl, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define log_debug(...) log_msg(LOG_LVL_DEBUG, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_LVL_ERROR, __VA_ARGS__)

/* Copies at most outsz-1 bytes of s into out, replacing control and non-ASCII
 * bytes with '?' so network text cannot break a log line. Returns out. */
char *log_safe(char *out, size_t outsz, const char *s, size_t len);

#endif
