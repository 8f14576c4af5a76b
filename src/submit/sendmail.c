/*
 * sendmail - local submission through the maildrop; see sendmail.h.
 * RFC 5322 (header fields, address lists, Date, Message-ID, From, Bcc),
 * RFC 2047 (a non-ASCII full name in From:), RFC 5321 4.5.3.1 (address
 * limits, via smtp/address.c), RFC 5321 6.3 (the hop count, max-hops).
 *
 * Contract: nothing from the command line or the message reaches a shell
 * or a format string; every address is checked with the same grammar as
 * SMTP's before it is queued; the process exits 0 only after
 * maildrop_write() has made the file durable and the daemon's user can
 * read it.
 */
#include "submit/sendmail.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "config/config.h"
#include "config/lexer.h"
#include "queue/pickup.h"
#include "queue/queue_id.h"
#include "smtp/address.h"
#include "smtp/headers.h"
#include "smtp/received.h"
#include "util/base64.h"
#include "util/dsn.h"
#include "util/log.h"
#include "util/usage.h"

#define EX_OK 0
#define EX_USAGE 64
#define EX_DATAERR 65
#define EX_CANTCREAT 73
#define EX_IOERR 74
#define EX_TEMPFAIL 75

#define FULLNAME_MAX 200

struct opts {
	const char *config;
	const char *from;      /* -f / -r, or NULL */
	const char *fullname;  /* -F, or NULL */
	bool extract;          /* -t */
	bool ignore_dots;      /* -i / -oi */
	uint8_t notify;        /* -N, DSN_NOTIFY_* bits; 0 when not given */
	uint8_t ret;           /* -R, enum dsn_ret */
	char envid[3 * DSN_ENVID_MAX + 1]; /* -V as xtext; "" when not given */
};

/* What is known about the message being built. */
struct submission {
	const struct opts *o;
	const struct config *cfg;
	char user_addr[ADDR_MAILBOX_MAX + 1]; /* the invoking user's own address */
	char sender[ADDR_MAILBOX_MAX + 1];    /* envelope sender; "" for <> */
	char gecos[FULLNAME_MAX + 1];
	struct strlist rcpts;
	bool has_date, has_msgid, has_from;
};

static int fail(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("sendmail: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	return code;
}

static int usage(const char *why)
{
	fprintf(stderr, "sendmail: %s\n", why);
	usage_print("sendmail", stderr);
	return EX_USAGE;
}

/* -oX: i is -i; the error (e), delivery (d) and "me too" (m) modes of
 * classic sendmail do not apply to a queue-only submission. */
static bool legacy_o(const char *arg, struct opts *o)
{
	if (strcmp(arg, "i") == 0)
		o->ignore_dots = true;
	return strcmp(arg, "i") == 0 || arg[0] == 'e' || arg[0] == 'd' || strcmp(arg, "m") == 0;
}

/* -V: RFC 3461 4.4 allows printable US-ASCII only; stored as xtext, as an
 * ENVID parameter would arrive over SMTP. */
static bool set_envid(const char *v, struct opts *o)
{
	size_t n = strlen(v);
	for (size_t i = 0; i < n; i++)
		if (v[i] < ' ' || v[i] > '~')
			return false;
	return n > 0 && n <= DSN_ENVID_MAX && xtext_encode(v, n, o->envid, sizeof o->envid);
}

/* -N and -R: the values of RCPT NOTIFY= and MAIL RET= (RFC 3461 4.1, 4.3). */
static bool set_dsn(int opt, const char *v, struct opts *o)
{
	if (opt == 'N')
		return dsn_notify_parse(v, strlen(v), &o->notify);
	o->ret = strcasecmp(v, "full") == 0   ? DSN_RET_FULL
		 : strcasecmp(v, "hdrs") == 0 ? DSN_RET_HDRS
					      : DSN_RET_UNSET;
	return o->ret != DSN_RET_UNSET;
}

static bool parse_opts(int argc, char **argv, struct opts *o)
{
	*o = (struct opts){.config = config_default_path()};
	int opt;
	opterr = 0;
	optind = 1;
	while ((opt = getopt(argc, argv, "B:b:c:F:f:iN:o:R:r:tV:v")) != -1) {
		switch (opt) {
		case 'B': case 'v':
			break;
		case 'b':
			if (strcmp(optarg, "m") != 0)
				return false;
			break;
		case 'c': o->config = optarg; break;
		case 'F': o->fullname = optarg; break;
		case 'f': case 'r': o->from = optarg; break;
		case 'i': o->ignore_dots = true; break;
		case 't': o->extract = true; break;
		case 'N': case 'R':
			if (!set_dsn(opt, optarg, o))
				return false;
			break;
		case 'V':
			if (!set_envid(optarg, o))
				return false;
			break;
		case 'o':
			if (!legacy_o(optarg, o))
				return false;
			break;
		default:
			return false;
		}
	}
	return true;
}

/* ---- reading the message ---- */

struct reader {
	struct buf *out;
	size_t line_start;
	bool pending_cr;
	bool done;        /* a lone "." ended the input */
	bool too_big;
	bool ignore_dots;
	uint64_t limit;
};

static void end_line(struct reader *r)
{
	struct buf *b = r->out;
	if (!r->ignore_dots && b->len - r->line_start == 1 && b->p[r->line_start] == '.') {
		b->len = r->line_start;
		b->p[b->len] = '\0';
		r->done = true;
		return;
	}
	buf_append(b, "\r\n", 2);
	r->line_start = b->len;
	r->too_big = b->len > r->limit;
}

/* CRLF, bare CR and bare LF each end a line and are stored as CRLF. */
static void feed(struct reader *r, const char *p, size_t n)
{
	for (size_t i = 0; i < n && !r->done && !r->too_big; i++) {
		char c = p[i];
		if (r->pending_cr) {
			r->pending_cr = false;
			end_line(r);
			if (c == '\n' || r->done)
				continue;
		}
		if (c == '\r')
			r->pending_cr = true;
		else if (c == '\n')
			end_line(r);
		else
			buf_putc(r->out, c);
	}
	if (r->out->len > r->limit)
		r->too_big = true;
}

static int read_message(const struct submission *s, struct buf *out)
{
	struct reader r = {.out = out, .ignore_dots = s->o->ignore_dots,
			   .limit = s->cfg->max_message_size};
	char chunk[65536];
	buf_reserve(out, 0); /* an empty message is still a string */
	while (!r.done && !r.too_big) {
		ssize_t n = read(STDIN_FILENO, chunk, sizeof chunk);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return fail(EX_IOERR, "reading the message: %s", strerror(errno));
		if (n == 0)
			break;
		feed(&r, chunk, (size_t)n);
	}
	/* The last line may lack its line end. */
	if (!r.done && !r.too_big && (r.pending_cr || out->len > r.line_start))
		end_line(&r);
	if (r.too_big)
		return fail(EX_DATAERR, "message too large (limit %llu bytes)",
			    (unsigned long long)r.limit);
	return EX_OK;
}

/* RFC 5321 6.3: the hop limit of SMTP (max-hops) holds here too. A looping
 * message is refused now, where whoever resends it sees the exit code, not
 * later in the daemon where only a bounce could say so. */
static int check_hops(const struct submission *s, const struct buf *raw)
{
	unsigned hops = header_count(raw->p, raw->len, "Received");
	if (hops > s->cfg->max_hops)
		return fail(EX_DATAERR, "too many hops: %u Received: header fields, more than "
			    "max-hops %u; mail loop? Message not queued", hops, s->cfg->max_hops);
	return EX_OK;
}

/* ---- addresses ---- */

/* State of one element of an address list. */
struct alist {
	struct buf cur;     /* outside <> and comments: an addr-spec or a display name */
	struct buf angle;   /* inside <> */
	bool in_angle, had_angle;
	bool gap;           /* words separated by white space outside <>: a phrase */
	bool pending_ws;
};

static void mark(struct alist *a)
{
	if (!a->in_angle && a->pending_ws && a->cur.len)
		a->gap = true;
	a->pending_ws = false;
}

/* Copies a quoted-string or domain literal from s[*i] (the opening quote or
 * bracket) through its end into t, escapes intact. */
static bool copy_delimited(const char *s, size_t len, size_t *i, char close, struct buf *t)
{
	buf_putc(t, s[*i]);
	for ((*i)++; *i < len; (*i)++) {
		if (s[*i] == '\\' && *i + 1 < len) {
			buf_append(t, s + *i, 2);
			(*i)++;
			continue;
		}
		buf_putc(t, s[*i]);
		if (s[*i] == close)
			return true;
	}
	return false;
}

/* RFC 5322 3.2.2: comments nest and may hold quoted pairs. */
static bool skip_comment(const char *s, size_t len, size_t *i)
{
	unsigned depth = 0;
	for (; *i < len; (*i)++) {
		if (s[*i] == '\\')
			(*i)++;
		else if (s[*i] == '(')
			depth++;
		else if (s[*i] == ')' && --depth == 0)
			return true;
	}
	return false;
}

/* Ends one element: its angle-addr if it had one, else the bare addr-spec. */
static bool finish(struct alist *a, struct strlist *out)
{
	const struct buf *src = a->had_angle ? &a->angle : &a->cur;
	bool ok = a->had_angle || !a->gap;
	if (ok && src->len)
		strlist_add_unique(out, src->p);
	buf_reset(&a->cur);
	buf_reset(&a->angle);
	a->had_angle = a->gap = a->pending_ws = false;
	return ok;
}

/* One special character of an address list outside quotes and comments. */
static bool special(struct alist *a, char c, struct strlist *out)
{
	switch (c) {
	case '<':
		if (a->in_angle)
			return false;
		a->in_angle = a->had_angle = true;
		buf_reset(&a->angle);
		return true;
	case '>':
		if (!a->in_angle)
			return false;
		a->in_angle = false;
		return true;
	case ':':
		/* In <>: the end of an obsolete source route; outside: the display
		 * name of a group (RFC 5322 3.4) ends. Either way, not an address. */
		buf_reset(a->in_angle ? &a->angle : &a->cur);
		a->gap = a->pending_ws = false;
		return true;
	default: /* ',' or ';' */
		if (a->in_angle)
			return c == ',';
		return finish(a, out);
	}
}

/* Splits an RFC 5322 3.4 address-list (display names, comments, groups)
 * into addr-specs appended to out. False on a syntax error. */
static bool parse_address_list(const char *s, size_t len, struct strlist *out)
{
	struct alist a = {BUF_INIT, BUF_INIT, false, false, false, false};
	bool ok = true;
	for (size_t i = 0; ok && i < len; i++) {
		struct buf *t = a.in_angle ? &a.angle : &a.cur;
		char c = s[i];
		if (c == '"' || c == '[') {
			mark(&a);
			ok = copy_delimited(s, len, &i, c == '"' ? '"' : ']', t);
		} else if (c == '(') {
			ok = skip_comment(s, len, &i);
			a.pending_ws = true;
		} else if (strchr("<>:,;", c)) {
			ok = special(&a, c, out);
		} else if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
			a.pending_ws = true;
		} else {
			mark(&a);
			buf_putc(t, c);
		}
	}
	ok = ok && !a.in_angle && finish(&a, out);
	buf_free(&a.cur);
	buf_free(&a.angle);
	return ok;
}

static const char *primary_domain(const struct config *cfg)
{
	return cfg->local_domains.n ? cfg->local_domains.v[0] : cfg->hostname;
}

/* Checks addr (qualifying a bare name with the primary domain) and writes
 * it to out[ADDR_MAILBOX_MAX + 1]. */
static bool check_address(const struct config *cfg, const char *addr, char *out)
{
	struct buf b = BUF_INIT;
	buf_puts(&b, addr);
	if (!strchr(addr, '@'))
		buf_printf(&b, "@%s", primary_domain(cfg));
	struct address a;
	bool ok = b.len <= ADDR_MAILBOX_MAX &&
		  addr_parse_mailbox(b.p, b.len, ADDR_ALLOW_UTF8, &a) == ADDR_OK;
	if (ok)
		memcpy(out, b.p, b.len + 1);
	buf_free(&b);
	return ok;
}

/* Parses an address list and adds its checked addresses to s->rcpts. */
static int add_recipients(struct submission *s, const char *text, size_t len, const char *where)
{
	struct strlist found = STRLIST_INIT;
	int rc = EX_OK;
	char addr[ADDR_MAILBOX_MAX + 1], safe[128];
	if (!parse_address_list(text, len, &found))
		rc = fail(EX_USAGE, "%s: cannot parse the address list '%s'", where,
			  log_safe(safe, sizeof safe, text, len));
	for (size_t i = 0; rc == EX_OK && i < found.n; i++) {
		if (check_address(s->cfg, found.v[i], addr))
			strlist_add_unique(&s->rcpts, addr);
		else
			rc = fail(EX_USAGE, "%s: bad recipient address '%s'", where,
				  log_safe(safe, sizeof safe, found.v[i], strlen(found.v[i])));
	}
	strlist_free(&found);
	return rc;
}

/* ---- the header section (RFC 5322 2.2) ---- */

static size_t line_len(const char *p, const char *end)
{
	const char *nl = memchr(p, '\n', (size_t)(end - p));
	return nl ? (size_t)(nl + 1 - p) : (size_t)(end - p);
}

/* Length of the field name when the line starts a header field, else 0. */
static size_t field_name_len(const char *p, size_t len)
{
	size_t i = 0;
	while (i < len && p[i] > ' ' && p[i] <= '~' && p[i] != ':')
		i++;
	return i > 0 && i < len && p[i] == ':' ? i : 0;
}

static bool name_is(const char *p, size_t n, const char *name)
{
	return strlen(name) == n && strncasecmp(p, name, n) == 0;
}

/* One header field: the whole field (continuation lines included) is
 * f[0..len); the name is its first nlen bytes. */
static int one_field(struct submission *s, const char *f, size_t len, size_t nlen,
		     struct buf *out)
{
	bool bcc = name_is(f, nlen, "Bcc");
	s->has_date |= name_is(f, nlen, "Date");
	s->has_msgid |= name_is(f, nlen, "Message-ID");
	s->has_from |= name_is(f, nlen, "From");
	if (s->o->extract && (bcc || name_is(f, nlen, "To") || name_is(f, nlen, "Cc"))) {
		char where[16];
		snprintf(where, sizeof where, "%.*s", (int)nlen, f);
		int rc = add_recipients(s, f + nlen + 1, len - nlen - 1, where);
		if (rc != EX_OK)
			return rc;
	}
	if (!bcc && !name_is(f, nlen, "Return-Path"))
		buf_append(out, f, len);
	return EX_OK;
}

/* Copies the header fields of raw to out (see one_field); *body is where
 * the body starts: after the empty line, or at the first line that is no
 * header field when the empty line is missing. */
static int scan_headers(struct submission *s, const struct buf *raw, struct buf *out,
			size_t *body)
{
	const char *end = raw->p + raw->len;
	size_t pos = 0;
	while (pos < raw->len) {
		const char *line = raw->p + pos;
		size_t n = line_len(line, end);
		size_t nlen = field_name_len(line, n);
		if (n == 2 && line[0] == '\r') {
			pos += 2;
			break;
		}
		if (!nlen)
			break;
		size_t fend = pos + n;
		while (fend < raw->len && (raw->p[fend] == ' ' || raw->p[fend] == '\t'))
			fend += line_len(raw->p + fend, end);
		int rc = one_field(s, line, fend - pos, nlen, out);
		if (rc != EX_OK)
			return rc;
		pos = fend;
	}
	*body = pos;
	return EX_OK;
}

/* ---- added fields ---- */

/* A display name as a quoted-string, or as RFC 2047 encoded-words when it
 * is not ASCII; control characters become spaces. */
static void display_name(struct buf *out, const char *name)
{
	char clean[FULLNAME_MAX + 1];
	size_t n = 0;
	bool ascii = true;
	for (const char *p = name; *p && n < FULLNAME_MAX; p++) {
		unsigned char c = (unsigned char)*p;
		clean[n++] = c < 0x20 || c == 0x7f ? ' ' : (char)c;
		ascii &= c < 0x80;
	}
	/* A long name is cut, but never inside a UTF-8 sequence. */
	while (n > 0 && name[n] && ((unsigned char)name[n] & 0xc0) == 0x80)
		n--;
	clean[n] = '\0';
	if (ascii) {
		buf_putc(out, '"');
		for (size_t i = 0; i < n; i++) {
			if (clean[i] == '"' || clean[i] == '\\')
				buf_putc(out, '\\');
			buf_putc(out, clean[i]);
		}
		buf_putc(out, '"');
		return;
	}
	/* 45 octets make 60 base64 characters: each word stays under 75. */
	for (size_t i = 0; i < n;) {
		size_t k = n - i < 45 ? n - i : 45;
		while (i + k < n && k > 1 && ((unsigned char)clean[i + k] & 0xc0) == 0x80)
			k--;
		buf_puts(out, i ? " =?UTF-8?B?" : "=?UTF-8?B?");
		base64_encode(out, clean + i, k);
		buf_puts(out, "?=");
		i += k;
	}
}

static void message_id(struct buf *out, const char *host)
{
	char id[QUEUE_ID_LEN + 1];
	unsigned char rnd[8];
	queue_id_next(id);
	/* The queue ID is unique within this process; the random part makes it
	 * unique across processes that start in the same microsecond. */
	if (getrandom(rnd, sizeof rnd, GRND_NONBLOCK) != (ssize_t)sizeof rnd) {
		uint64_t v = (uint64_t)getpid() << 32 ^ (uint64_t)clock();
		for (size_t i = 0; i < sizeof rnd; i++)
			rnd[i] = (unsigned char)(v >> (8 * i));
	}
	buf_printf(out, "Message-ID: <%s.", id);
	for (size_t i = 0; i < sizeof rnd; i++)
		buf_printf(out, "%02x", rnd[i]);
	buf_printf(out, "@%s>\r\n", host);
}

static void added_fields(const struct submission *s, struct buf *out, time_t now)
{
	if (!s->has_from) {
		const char *name = s->o->fullname ? s->o->fullname : s->gecos;
		buf_puts(out, "From: ");
		if (*name) {
			display_name(out, name);
			buf_putc(out, ' ');
		}
		buf_printf(out, "<%s>\r\n", s->sender[0] ? s->sender : s->user_addr);
	}
	if (!s->has_date) {
		buf_puts(out, "Date: ");
		rfc5322_date(out, now);
		buf_puts(out, "\r\n");
	}
	if (!s->has_msgid)
		message_id(out, s->cfg->hostname);
}

/* ---- envelope and queueing ---- */

/* The invoking user's address and full name (first GECOS field). A uid
 * without a passwd entry (a container's) can still send with -f. */
static int who_am_i(struct submission *s)
{
	const struct passwd *pw = getpwuid(getuid());
	if (!pw || !lex_is_dot_atom(pw->pw_name)) {
		if (!s->o->from)
			return fail(EX_USAGE, "cannot tell who you are (uid %u); give a sender "
				    "with -f", (unsigned)getuid());
		snprintf(s->user_addr, sizeof s->user_addr, "MAILER-DAEMON@%s",
			 primary_domain(s->cfg));
		return EX_OK;
	}
	snprintf(s->user_addr, sizeof s->user_addr, "%s@%s", pw->pw_name,
		 primary_domain(s->cfg));
	if (pw->pw_gecos)
		snprintf(s->gecos, sizeof s->gecos, "%.*s", (int)strcspn(pw->pw_gecos, ","),
			 pw->pw_gecos);
	return EX_OK;
}

/* -f ADDR, "<ADDR>", or "<>" / "" for the null reverse-path. */
static int envelope_sender(struct submission *s)
{
	const char *f = s->o->from;
	if (!f) {
		memcpy(s->sender, s->user_addr, sizeof s->sender);
		return EX_OK;
	}
	size_t n = strlen(f);
	if (n >= 2 && f[0] == '<' && f[n - 1] == '>') {
		f++;
		n -= 2;
	}
	char bare[ADDR_MAILBOX_MAX + 1];
	if (n >= sizeof bare)
		return fail(EX_USAGE, "-f: sender address too long");
	memcpy(bare, f, n);
	bare[n] = '\0';
	if (n == 0) {
		s->sender[0] = '\0';
		return EX_OK;
	}
	char safe[128];
	if (!check_address(s->cfg, bare, s->sender))
		return fail(EX_USAGE, "-f: bad sender address '%s'",
			    log_safe(safe, sizeof safe, bare, n));
	return EX_OK;
}

/* Builds the stored message from what was read: header fields (Bcc and
 * Return-Path removed), the missing ones added, the empty line, the body. */
static int compose(struct submission *s, const struct buf *raw, struct buf *msg, time_t now)
{
	size_t body;
	int rc = scan_headers(s, raw, msg, &body);
	if (rc != EX_OK)
		return rc;
	added_fields(s, msg, now);
	buf_append(msg, "\r\n", 2);
	buf_append(msg, raw->p + body, raw->len - body);
	return EX_OK;
}

/* Exit 0 only for a file the daemon will import: it reads as the
 * maildrop's owner, so check the published file's owner and mode (the
 * mode was set explicitly, but a file system may not keep it). A file it
 * could not read is taken back, so the sender knows it was not queued. */
static int check_published(const char *path)
{
	struct stat st;
	uid_t reader = 0;
	if (maildrop_check_readable(path, &st, &reader) == 0)
		return EX_OK;
	int err = errno;
	unlink(path);
	if (err != EACCES)
		return fail(EX_TEMPFAIL, "%s: cannot check the queued file: %s; message not queued",
			    path, strerror(err));
	return fail(EX_CANTCREAT, "%s: the file has owner uid %u and mode %04o, which the daemon "
		    "(uid %u, the maildrop's owner) cannot read; message not queued", path,
		    (unsigned)st.st_uid, (unsigned)(st.st_mode & 07777), (unsigned)reader);
}

static int queue_it(const struct submission *s, const struct buf *msg, time_t now)
{
	char id[QUEUE_ID_LEN + 1];
	queue_id_next(id);
	struct maildrop_msg m = {
		.id = id, .arrival = now, .sender = s->sender, .nrcpt = s->rcpts.n,
		.rcpt = (const char *const *)s->rcpts.v, .body = msg->p ? msg->p : "",
		.body_len = msg->len, .notify = s->o->notify, .ret = s->o->ret,
		.envid = s->o->envid,
	};
	uint64_t size = REC_HDR_LEN + 256 + msg->len;
	for (size_t i = 0; i < s->rcpts.n; i++)
		size += 2 * (strlen(s->rcpts.v[i]) + 32);
	if (size > maildrop_max_size(s->cfg))
		return fail(EX_DATAERR, "message too large for %zu recipients", s->rcpts.n);
	char path[PATH_MAX];
	if (maildrop_write(s->cfg->spool_dir, &m, path, sizeof path) < 0)
		return fail(EX_TEMPFAIL, "cannot queue the message in %s/" MAILDROP_DIR ": %s",
			    s->cfg->spool_dir, strerror(errno));
	return check_published(path);
}

static int run(struct submission *s, int argc, char **argv)
{
	int rc = who_am_i(s);
	if (rc == EX_OK)
		rc = envelope_sender(s);
	for (int i = optind; rc == EX_OK && i < argc; i++)
		rc = add_recipients(s, argv[i], strlen(argv[i]), "recipient");
	struct buf raw = BUF_INIT, msg = BUF_INIT;
	time_t now = time(NULL);
	if (rc == EX_OK)
		rc = read_message(s, &raw);
	if (rc == EX_OK)
		rc = check_hops(s, &raw);
	if (rc == EX_OK)
		rc = compose(s, &raw, &msg, now);
	if (rc == EX_OK && s->rcpts.n == 0)
		rc = fail(EX_USAGE, "no recipients%s", s->o->extract ? " in the arguments or in "
			  "To:, Cc: or Bcc:" : " (give addresses, or -t)");
	if (rc == EX_OK)
		rc = queue_it(s, &msg, now);
	buf_free(&raw);
	buf_free(&msg);
	return rc;
}

int sendmail_main(int argc, char **argv)
{
	struct opts o;
	if (!parse_opts(argc, argv, &o))
		return usage("unknown or unsupported option");
	log_set_level(LOG_LVL_WARN);
	struct buf errs = BUF_INIT;
	struct config *cfg = config_load(o.config, &errs);
	if (!cfg) {
		fprintf(stderr, "%s", errs.p ? errs.p : "");
		buf_free(&errs);
		return fail(EX_TEMPFAIL, "cannot load the config %s; message not queued", o.config);
	}
	buf_free(&errs);
	struct submission s = {.o = &o, .cfg = cfg, .rcpts = STRLIST_INIT};
	int rc = run(&s, argc, argv);
	strlist_free(&s.rcpts);
	config_free(cfg);
	return rc;
}
