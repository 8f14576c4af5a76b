/* log - one line per event, as text or JSON (RFC 8259); see log.h. */
#include "util/log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define QID_LEN 16
#define FIELDS_MAX 16
#define TS_MAX 64

/* Set by a reload in the loop thread, read by every thread that logs. */
static atomic_int min_level = LOG_LVL_INFO;
static atomic_bool json_mode;
static const char *const level_names[] = {"debug", "info", "warning", "error"};

void log_set_level(enum log_level lvl)
{
	atomic_store_explicit(&min_level, (int)lvl, memory_order_relaxed);
}

void log_set_json(bool on)
{
	atomic_store(&json_mode, on);
}

/* ---- JSON string escaping (RFC 8259 7) ---- */

/* Length of the well-formed UTF-8 sequence at s (RFC 3629 4: no overlong
 * forms, no surrogates, nothing above U+10FFFF), or 0. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	unsigned c = s[0], cp, min;
	size_t len;
	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		len = 2, cp = c & 0x1f, min = 0x80;
	} else if ((c & 0xf0) == 0xe0) {
		len = 3, cp = c & 0x0f, min = 0x800;
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4, cp = c & 0x07, min = 0x10000;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	return cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff) ? 0 : len;
}

/* The escaped form of the character at s into e (at most 7 bytes); *used is
 * how many input bytes it stands for. */
static size_t escape_one(char e[8], const unsigned char *s, size_t n, size_t *used)
{
	unsigned char c = s[0];
	size_t ulen = utf8_len(s, n);
	*used = 1;
	if (c == '"' || c == '\\')
		return (size_t)snprintf(e, 8, "\\%c", c);
	if (c == '\n' || c == '\r' || c == '\t')
		return (size_t)snprintf(e, 8, "\\%c", c == '\n' ? 'n' : c == '\r' ? 'r' : 't');
	if (c < 0x20 || c == 0x7f || ulen == 0)
		return (size_t)snprintf(e, 8, "\\u%04x", c);
	memcpy(e, s, ulen);
	*used = ulen;
	return ulen;
}

/* Escapes as much of s as fits whole into out; *consumed says how much. */
static size_t escape(char *out, size_t outsz, const char *s, size_t len, size_t *consumed)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0, j = 0;
	while (i < len) {
		char e[8];
		size_t used, elen = escape_one(e, u + i, len - i, &used);
		if (j + elen >= outsz)
			break;
		memcpy(out + j, e, elen);
		j += elen;
		i += used;
	}
	if (outsz)
		out[j] = '\0';
	*consumed = i;
	return j;
}

size_t log_json_escape(char *out, size_t outsz, const char *s, size_t len)
{
	size_t consumed;
	return escape(out, outsz, s, len, &consumed);
}

/* ---- a bounded JSON writer: once something does not fit, it is full ---- */

struct jw {
	char *p;
	size_t cap;
	size_t len;
	bool full;
};

static void jw_raw(struct jw *w, const char *s, size_t n)
{
	if (w->full || n >= w->cap - w->len) {
		w->full = true;
		return;
	}
	memcpy(w->p + w->len, s, n);
	w->len += n;
	w->p[w->len] = '\0';
}

static void jw_string(struct jw *w, const char *s, size_t n)
{
	jw_raw(w, "\"", 1);
	if (w->full)
		return;
	size_t consumed;
	w->len += escape(w->p + w->len, w->cap - w->len, s, n, &consumed);
	w->full = consumed < n;
	jw_raw(w, "\"", 1);
}

/* ,"key": */
static void jw_key(struct jw *w, const char *key, size_t n)
{
	jw_raw(w, ",\"", 2);
	jw_raw(w, key, n);
	jw_raw(w, "\":", 2);
}

/* ---- key=value pairs of queue-ID lines ---- */

struct field {
	const char *key, *val;
	size_t klen, vlen;
};

static bool queue_id_prefix(const char *msg)
{
	size_t n = strspn(msg, "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ");
	return n == QID_LEN && msg[n] == ':' && msg[n + 1] == ' ';
}

static bool at_sep(const char *p)
{
	return *p == '\0' || (p[0] == ',' && p[1] == ' ');
}

/* <"quoted local part"@domain>: RFC 5321 4.1.2 Quoted-string, whose
 * content may hold ", " and '>'; the domain holds neither. */
static const char *quoted_addr_end(const char *v)
{
	const char *p = v + 2;
	for (; *p && *p != '"'; p++) {
		if (*p == '\\' && p[1])
			p++;
	}
	if (*p != '"' || p[1] != '@')
		return NULL;
	p += 2 + strcspn(p + 2, " \"<>");
	return *p == '>' && at_sep(p + 1) ? p + 1 : NULL;
}

/* One past the value starting at v, or NULL when it does not parse. A
 * bracketed value ends at the first closing bracket before ", " or the end:
 * what goes inside (HELO argument, unquoted address, IP) holds no space. */
static const char *value_end(const char *v)
{
	if (v[0] == '<' && v[1] == '"')
		return quoted_addr_end(v);
	if (v[0] == '<' || v[0] == '[') {
		char close = v[0] == '<' ? '>' : ']';
		for (const char *p = strchr(v, close); p; p = strchr(p + 1, close)) {
			if (at_sep(p + 1))
				return p + 1;
		}
		return NULL;
	}
	const char *sep = strstr(v, ", ");
	return sep ? sep : v + strlen(v);
}

static bool is_key(const struct field *f, const char *key)
{
	return f->klen == strlen(key) && memcmp(f->key, key, f->klen) == 0;
}

/* Names the line itself uses, and names seen already, are refused. */
static bool key_taken(const struct field *f, size_t n)
{
	static const char *const own[] = {"ts", "level", "pid", "msg", "queue_id", "detail"};
	for (size_t i = 0; i < sizeof own / sizeof own[0]; i++) {
		if (is_key(&f[n], own[i]))
			return true;
	}
	for (size_t i = 0; i < n; i++) {
		if (f[i].klen == f[n].klen && memcmp(f[i].key, f[n].key, f[n].klen) == 0)
			return true;
	}
	return false;
}

/* "key=value, key=value, status=free text": all or nothing. status takes
 * the rest of the line, since its text may come from a remote server. */
static size_t parse_fields(const char *s, struct field f[FIELDS_MAX])
{
	size_t n = 0;
	while (*s) {
		size_t klen = strspn(s, "abcdefghijklmnopqrstuvwxyz_");
		if (klen == 0 || s[klen] != '=' || n == FIELDS_MAX)
			return 0;
		f[n].key = s;
		f[n].klen = klen;
		if (key_taken(f, n))
			return 0;
		const char *v = s + klen + 1;
		const char *end = is_key(&f[n], "status") ? v + strlen(v) : value_end(v);
		if (!end)
			return 0;
		f[n].val = v;
		f[n++].vlen = (size_t)(end - v);
		s = *end ? end + 2 : end;
	}
	return n;
}

static bool is_number(const char *v, size_t n)
{
	return n > 0 && n < 16 && strspn(v, "0123456789") >= n && (v[0] != '0' || n == 1);
}

/* "sent (delivered to maildir)" -> "status":"sent","detail":"delivered..." */
static void put_status(struct jw *w, const char *v, size_t n)
{
	size_t word = strspn(v, "abcdefghijklmnopqrstuvwxyz");
	if (word > n)
		word = n;
	if (word && n > word + 2 && v[word] == ' ' && v[word + 1] == '(' && v[n - 1] == ')') {
		jw_string(w, v, word);
		jw_key(w, "detail", 6);
		jw_string(w, v + word + 2, n - word - 3);
	} else {
		jw_string(w, v, n);
	}
}

static void put_field(struct jw *w, const struct field *f)
{
	const char *v = f->val;
	size_t n = f->vlen;
	jw_key(w, f->key, f->klen);
	if (is_key(f, "status")) {
		put_status(w, v, n);
		return;
	}
	if (n >= 2 && (v[0] == '<' || v[0] == '[')) {
		v++;
		n -= 2;
	}
	if (is_number(v, n))
		jw_raw(w, v, n);
	else
		jw_string(w, v, n);
}

/* ---- lines ---- */

static void format_ts(char ts[TS_MAX], const struct timeval *tv)
{
	struct tm tm;
	time_t sec = tv->tv_sec;
	gmtime_r(&sec, &tm);
	snprintf(ts, TS_MAX, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
		 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(tv->tv_usec / 1000));
}

size_t log_format_json(char *out, size_t outsz, const struct timeval *tv, enum log_level lvl,
		       long pid, const char *msg)
{
	/* Sized so that the fixed part and msg always fit; only the optional
	 * fields may not, and are then left out. */
	if (outsz < LOG_JSON_MAX || strlen(msg) >= LOG_LINE_MAX) {
		if (outsz)
			out[0] = '\0';
		return 0;
	}
	char head[128];
	format_ts(head, tv);
	struct jw w = {out, outsz - 1, 0, false};
	jw_raw(&w, "{\"ts\":", 6);
	jw_string(&w, head, strlen(head));
	int hn = snprintf(head, sizeof head, ",\"level\":\"%s\",\"pid\":%ld",
			  level_names[lvl], pid);
	jw_raw(&w, head, (size_t)hn);
	bool qid = queue_id_prefix(msg);
	if (qid) {
		jw_key(&w, "queue_id", 8);
		jw_string(&w, msg, QID_LEN);
	}
	jw_key(&w, "msg", 3);
	jw_string(&w, msg, strlen(msg));
	struct field f[FIELDS_MAX];
	size_t nf = qid ? parse_fields(msg + QID_LEN + 2, f) : 0;
	size_t mark = w.len;
	for (size_t i = 0; i < nf; i++)
		put_field(&w, &f[i]);
	if (w.full) {
		w.len = mark;
		w.full = false;
	}
	w.cap = outsz; /* the room kept back is for the closing brace */
	jw_raw(&w, "}", 1);
	return w.len;
}

/* getpid() is a system call every time, and a log line is written for every
 * event; no Petrel process forks, so the first answer stays true. */
static long log_pid(void)
{
	static atomic_long pid;
	long p = atomic_load_explicit(&pid, memory_order_relaxed);
	if (!p) {
		p = (long)getpid();
		atomic_store_explicit(&pid, p, memory_order_relaxed);
	}
	return p;
}

/* The deferring thread's buffer (only that thread touches it). */
static _Thread_local bool defer_on;
static char defer_buf[64 * 1024];
static size_t defer_len;
static void (*defer_arm)(void *);
static void *defer_arg;

void log_flush(void)
{
	if (defer_on && defer_len) {
		fwrite(defer_buf, 1, defer_len, stderr);
		defer_len = 0;
	}
}

void log_defer(void (*arm)(void *), void *arg)
{
	log_flush();
	defer_on = arm != NULL;
	defer_arm = arm;
	defer_arg = arg;
}

/* Buffers a finished line; false when it is too long to buffer. */
static bool defer_add(const char *line, size_t n)
{
	if (n > sizeof defer_buf)
		return false;
	if (defer_len + n > sizeof defer_buf)
		log_flush();
	if (defer_len == 0)
		defer_arm(defer_arg);
	memcpy(defer_buf + defer_len, line, n);
	defer_len += n;
	return true;
}

void log_msg(enum log_level lvl, const char *fmt, ...)
{
	if ((int)lvl < atomic_load_explicit(&min_level, memory_order_relaxed))
		return;
	struct timeval tv;
	gettimeofday(&tv, NULL);
	char msg[LOG_LINE_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	char line[LOG_JSON_MAX + 1];
	size_t n;
	if (atomic_load(&json_mode)) {
		n = log_format_json(line, sizeof line - 1, &tv, lvl, log_pid(), msg);
	} else {
		char ts[TS_MAX];
		format_ts(ts, &tv);
		int t = snprintf(line, sizeof line - 1, "%s petrel[%ld]: %s: %s", ts, log_pid(),
				 level_names[lvl], msg);
		n = t < 0 ? 0 : (size_t)t < sizeof line - 1 ? (size_t)t : sizeof line - 2;
	}
	line[n++] = '\n';
	if (defer_on && lvl < LOG_LVL_WARN && defer_add(line, n))
		return;
	log_flush();
	/* One write per line keeps lines whole even with several threads logging. */
	fwrite(line, 1, n, stderr);
}

static void repeat_report(struct log_repeat *lr, time_t now)
{
	if (lr->count)
		log_msg(lr->lvl, "%s (%lu more times in %lld s)", lr->text, lr->count,
			(long long)(now - lr->since));
	lr->count = 0;
	lr->since = now;
}

void log_repeated(struct log_repeat *lr, enum log_level lvl, const char *fmt, ...)
{
	char msg[sizeof lr->text];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	time_t now = time(NULL);
	if (strcmp(msg, lr->text) == 0 && now - lr->since < LOG_REPEAT_WINDOW) {
		lr->count++;
		return;
	}
	repeat_report(lr, now);
	memcpy(lr->text, msg, sizeof msg);
	lr->lvl = lvl;
	log_msg(lvl, "%s", msg);
}

void log_repeat_tick(struct log_repeat *lr, time_t now)
{
	if (lr->count && now - lr->since >= LOG_REPEAT_WINDOW)
		repeat_report(lr, now);
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
