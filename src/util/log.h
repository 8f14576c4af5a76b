/*
 * log - one line per event, greppable, to stderr (or a file).
 *
 * Format: "2026-11-23T19:40:00.123Z petrel[1234]: info: QUEUEID: key=value, ..."
 * Every message-related line starts with the queue ID so a postmaster can
 * follow one message with grep. Text that came from the network must be passed
 * through log_safe() first so a peer cannot forge log lines.
 *
 * With log_set_json(true) ("log-format json") each line is instead one JSON
 * object (RFC 8259): {"ts":"...","level":"info","pid":1234,"msg":"..."}.
 * A message that starts with a queue ID also carries "queue_id", and when
 * the rest of it is a list of key=value pairs (the queued and delivery lines)
 * each pair becomes a field too: <...> and [...] lose their brackets, digits
 * become numbers, "status=sent (text)" becomes "status":"sent" and
 * "detail":"text". The pairs are a convenience for log processors; "msg"
 * always holds the whole text, and when the pairs do not parse without
 * ambiguity the line has no such fields. Every string is escaped: control
 * characters, quotes and backslashes as JSON escapes, bytes that are not
 * UTF-8 as \u00XX (their Latin-1 reading), so no text can break the line.
 */
#ifndef PETREL_UTIL_LOG_H
#define PETREL_UTIL_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/time.h>
#include <time.h>

enum log_level { LOG_LVL_DEBUG, LOG_LVL_INFO, LOG_LVL_WARN, LOG_LVL_ERROR };

void log_set_level(enum log_level lvl);
/* Text lines (false, the default) or JSON lines (true); set before threads start. */
void log_set_json(bool on);
void log_msg(enum log_level lvl, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define log_debug(...) log_msg(LOG_LVL_DEBUG, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_LVL_ERROR, __VA_ARGS__)

/* One error that may repeat for every message (a descriptor shortage, a
 * disk error): the first occurrence is written at once, identical ones
 * within LOG_REPEAT_WINDOW seconds are only counted, and the count is
 * written with the text when another text comes or log_repeat_tick() finds
 * the window over. So a storm costs a line a minute, not a line a message.
 * One struct per kind of error; one thread. */
#define LOG_REPEAT_WINDOW 60
struct log_repeat {
	char text[512];
	unsigned long count;   /* repeats not written yet */
	time_t since;          /* when text was last written */
	enum log_level lvl;
};
void log_repeated(struct log_repeat *lr, enum log_level lvl, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Writes the count of repeats not written yet once the window is over. */
void log_repeat_tick(struct log_repeat *lr, time_t now);

/* Deferred writing, for the event-loop thread, which logs several lines
 * per message: from log_defer(arm, arg) on, that thread's debug and info
 * lines collect in a buffer (up to 64 KiB) and arm(arg) is called when the
 * first one arrives; the caller then calls log_flush() soon, from that
 * thread (the daemon: once per loop turn). A warning or an error is written
 * at once, after what is buffered. log_defer(NULL, NULL) flushes and ends
 * it. Other threads always write at once. */
void log_defer(void (*arm)(void *), void *arg);
void log_flush(void);

/* Copies at most outsz-1 bytes of s into out, replacing control and non-ASCII
 * bytes with '?' so network text cannot break a log line. Returns out. */
char *log_safe(char *out, size_t outsz, const char *s, size_t len);

/* The line format itself, for tests. LOG_LINE_MAX bounds the message text;
 * LOG_JSON_MAX is room for any JSON line made from such a message. */
#define LOG_LINE_MAX 2048
#define LOG_JSON_MAX (8 * LOG_LINE_MAX)
/* Writes len bytes of s escaped as the inside of a JSON string into out
 * (NUL-terminated); stops before an escape that would not fit. Returns the
 * length written. */
size_t log_json_escape(char *out, size_t outsz, const char *s, size_t len);
/* Formats one JSON line (no newline) for msg into out (LOG_JSON_MAX bytes
 * are always enough). Returns the length. */
size_t log_format_json(char *out, size_t outsz, const struct timeval *tv,
		       enum log_level lvl, long pid, const char *msg);

#endif
