/*
 * address - the RFC 5321 path grammar; see address.h.
 *
 * Contract: pure functions over untrusted, non-NUL-terminated byte ranges.
 * No byte at or past len is ever read, every copy into struct address is
 * bounded by the RFC 5321 4.5.3.1 limits checked beforehand, and a path
 * longer than 256 octets is rejected after looking at 256 bytes at most.
 *
 * Implements RFC 5321 4.1.2 (Path, A-d-l, Mailbox, Dot-string, Quoted-string,
 * Domain), 4.1.3 (address literals), 4.5.1 (<Postmaster>) and 4.5.3.1
 * (limits), plus the UTF8-non-ascii extensions of RFC 6531 3.3 / RFC 6532 3.2
 * when the caller allows them.
 */
#include "smtp/address.h"

#include <arpa/inet.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* RFC 1035 2.3.4: a label is at most 63 octets. */
#define LABEL_MAX 63

typedef bool (*char_class)(unsigned char c);

static bool is_alpha(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

/* RFC 5321 4.1.2: Let-dig = ALPHA / DIGIT */
static bool is_let_dig(unsigned char c)
{
	return is_alpha(c) || is_digit(c);
}

/* RFC 5321 4.1.2: Ldh-str characters. */
static bool is_ldh(unsigned char c)
{
	return is_let_dig(c) || c == '-';
}

/* RFC 5322 3.2.3: atext, the characters of a Dot-string Atom. */
static bool is_atext(unsigned char c)
{
	return is_let_dig(c) || (c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c));
}

/* RFC 5321 4.1.2: qtextSMTP = %d32-33 / %d35-91 / %d93-126 */
static bool is_qtext(unsigned char c)
{
	return c >= 32 && c <= 126 && c != '"' && c != '\\';
}

/*
 * Length of the well-formed UTF-8 sequence (RFC 3629 4) of a non-ASCII
 * character at p, or 0. Overlong forms, surrogates and code points above
 * U+10FFFF are refused, and so are the C1 controls U+0080-U+009F: control
 * characters are no more welcome in an address as UTF-8 than as ASCII.
 */
static size_t utf8_len(const unsigned char *p, size_t avail)
{
	unsigned char lo = 0x80, hi = 0xbf;
	size_t n;

	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		n = 2;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		n = 3;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		n = 4;
	else
		return 0;
	if (p[0] == 0xc2 || p[0] == 0xe0)
		lo = 0xa0;
	else if (p[0] == 0xed)
		hi = 0x9f;
	else if (p[0] == 0xf0)
		lo = 0x90;
	else if (p[0] == 0xf4)
		hi = 0x8f;
	if (avail < n || p[1] < lo || p[1] > hi)
		return 0;
	for (size_t i = 2; i < n; i++)
		if ((p[i] & 0xc0) != 0x80)
			return 0;
	return n;
}

/*
 * Length of one character at s: 1 for an ASCII byte in cls, the sequence
 * length for a UTF-8 character when utf8 is allowed (RFC 6531 3.3 adds
 * UTF8-non-ascii to atext, qtextSMTP and sub-domain), otherwise 0.
 */
static size_t char_len(const char *s, size_t avail, char_class cls, bool utf8)
{
	const unsigned char *p = (const unsigned char *)s;

	if (p[0] < 0x80)
		return cls(p[0]) ? 1 : 0;
	return utf8 ? utf8_len(p, avail) : 0;
}

/*
 * RFC 5321 4.1.2: Dot-string = Atom *("." Atom). Scans the longest prefix
 * of s made of atext and dots, then insists on non-empty atoms. The scan
 * stops one octet past the 4.5.3.1.1 limit so a long run costs nothing.
 */
static enum addr_status scan_dot_string(const char *s, size_t n, bool utf8,
					size_t *len)
{
	bool after_dot = true; /* a leading dot is an empty first atom */
	size_t i = 0;

	while (i < n && i <= ADDR_LOCAL_MAX) {
		size_t cl;

		if (s[i] == '.') {
			if (after_dot)
				return ADDR_ERR_MAILBOX;
			after_dot = true;
			i++;
			continue;
		}
		cl = char_len(s + i, n - i, is_atext, utf8);
		if (cl == 0)
			break;
		after_dot = false;
		i += cl;
	}
	if (i > ADDR_LOCAL_MAX)
		return ADDR_ERR_LOCAL_TOO_LONG;
	if (after_dot)
		return ADDR_ERR_MAILBOX;
	*len = i;
	return ADDR_OK;
}

/*
 * RFC 5321 4.1.2: Quoted-string = DQUOTE *QcontentSMTP DQUOTE, with
 * quoted-pairSMTP = "\" %d32-126. s[0] is the opening quote; *len covers
 * both quotes, which count towards the 64-octet limit (4.5.3.1.1).
 */
static enum addr_status scan_quoted(const char *s, size_t n, bool utf8,
				    size_t *len)
{
	size_t i = 1;

	while (i < n && i < ADDR_LOCAL_MAX) {
		unsigned char c = (unsigned char)s[i];
		size_t cl;

		if (c == '"') {
			*len = i + 1;
			return ADDR_OK;
		}
		if (c == '\\') {
			if (i + 1 >= n || s[i + 1] < 32 || s[i + 1] > 126)
				return ADDR_ERR_MAILBOX;
			i += 2;
			continue;
		}
		cl = char_len(s + i, n - i, is_qtext, utf8);
		if (cl == 0)
			return ADDR_ERR_MAILBOX;
		i += cl;
	}
	return i < n ? ADDR_ERR_LOCAL_TOO_LONG : ADDR_ERR_MAILBOX;
}

/*
 * RFC 5321 4.1.2: sub-domain = Let-dig [Ldh-str], so no leading or trailing
 * '-'; RFC 6531 3.3 lets a U-label stand in. Returns the label's length
 * (it ends at '.' or at n) or 0 when it is empty, malformed or too long.
 */
static size_t label_len(const char *s, size_t n, bool utf8)
{
	size_t i = 0;

	while (i < n && s[i] != '.') {
		size_t cl = char_len(s + i, n - i, is_ldh, utf8);

		if (cl == 0 || i + cl > LABEL_MAX)
			return 0;
		i += cl;
	}
	if (i == 0 || s[0] == '-' || s[i - 1] == '-')
		return 0;
	return i;
}

/* RFC 5321 4.1.2: Domain = sub-domain *("." sub-domain); no trailing dot. */
bool addr_valid_domain(const char *s, size_t len, bool allow_utf8)
{
	size_t i = 0;

	if (len == 0 || len > ADDR_DOMAIN_MAX)
		return false;
	for (;;) {
		size_t ll = label_len(s + i, len - i, allow_utf8);

		if (ll == 0)
			return false;
		i += ll;
		if (i == len)
			return true;
		i++; /* the '.' that ended the label */
	}
}

/*
 * RFC 5321 4.1.3: Snum = 1*3DIGIT, a decimal 0-255. A leading zero is
 * refused: "010" is decimal 10 to RFC 5321 but octal 8 to inet_aton(), and
 * an address whose meaning depends on who reads it has no place in a relay.
 */
static size_t snum_len(const char *s, size_t n)
{
	unsigned value = 0;
	size_t i = 0;

	while (i < n && i < 3 && is_digit((unsigned char)s[i]))
		value = value * 10 + (unsigned)(s[i++] - '0');
	if (i == 0 || value > 255 || (i > 1 && s[0] == '0'))
		return 0;
	return i;
}

/* RFC 5321 4.1.3: IPv4-address-literal = Snum 3("." Snum) */
static bool valid_ipv4(const char *s, size_t n)
{
	size_t i = 0;

	for (int part = 0; part < 4; part++) {
		size_t sl;

		if (part > 0) {
			if (i >= n || s[i] != '.')
				return false;
			i++;
		}
		sl = snum_len(s + i, n - i);
		if (sl == 0)
			return false;
		i += sl;
	}
	return i == n;
}

/* RFC 5321 4.1.3: IPv6-addr uses only hex digits, ':' and '.' (IPv6v4). */
static bool is_ipv6_char(unsigned char c)
{
	return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') ||
	       c == ':' || c == '.';
}

/*
 * RFC 5321 4.1.3: IPv6-addr, whose every form inet_pton() understands. The
 * characters are checked first: inet_pton() sees a C string, so a NUL in
 * the literal would otherwise hide whatever follows it.
 */
static bool valid_ipv6(const char *s, size_t n)
{
	char text[INET6_ADDRSTRLEN];
	struct in6_addr addr;

	if (n == 0 || n >= sizeof(text))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!is_ipv6_char((unsigned char)s[i]))
			return false;
	memcpy(text, s, n);
	text[n] = '\0';
	return inet_pton(AF_INET6, text, &addr) == 1;
}

/*
 * RFC 5321 4.1.3: address-literal = "[" ( IPv4-address-literal /
 * IPv6-address-literal / General-address-literal ) "]". A General-address-
 * literal's tag MUST be registered with IANA, and the only registered tag
 * is "IPv6", so any other tag is refused rather than passed on unroutable.
 */
static bool valid_literal(const char *s, size_t n)
{
	static const char tag[] = "IPv6:";
	const size_t tag_len = sizeof(tag) - 1;

	if (n < 3 || s[0] != '[' || s[n - 1] != ']')
		return false;
	s++;
	n -= 2;
	if (!memchr(s, ':', n))
		return valid_ipv4(s, n);
	/* RFC 5234 2.3: ABNF literal strings are case-insensitive. */
	if (n < tag_len || strncasecmp(s, tag, tag_len) != 0)
		return false;
	return valid_ipv6(s + tag_len, n - tag_len);
}

/* RFC 5321 4.1.2: the part of a Mailbox after "@": Domain / address-literal. */
static bool valid_mail_domain(const char *s, size_t n, bool utf8)
{
	if (n > 0 && s[0] == '[')
		return n <= ADDR_DOMAIN_MAX && valid_literal(s, n);
	return addr_valid_domain(s, n, utf8);
}

bool addr_valid_helo(const char *s, size_t len)
{
	/* RFC 5321 4.1.1.1: ehlo = "EHLO" SP ( Domain / address-literal ).
	 * SMTPUTF8 cannot have been negotiated yet, so the Domain is ASCII. */
	return valid_mail_domain(s, len, false);
}

/* RFC 5321 4.5.1: "<Postmaster>" without a domain, case-insensitively. */
static bool is_postmaster(const char *s, size_t n)
{
	static const char name[] = "postmaster";

	return n == sizeof(name) - 1 && strncasecmp(s, name, n) == 0;
}

/* Scans the Local-part at the start of s[0..n) (RFC 5321 4.1.2). */
static enum addr_status scan_local(const char *s, size_t n, bool utf8,
				   size_t *len)
{
	if (n == 0)
		return ADDR_ERR_MAILBOX;
	if (s[0] == '"')
		return scan_quoted(s, n, utf8, len);
	return scan_dot_string(s, n, utf8, len);
}

/*
 * RFC 5321 4.1.2: Mailbox = Local-part "@" ( Domain / address-literal ),
 * spanning all of s[0..n). The domain runs to the end, so its length is
 * known, and checked, before a single octet of it is examined.
 */
static enum addr_status parse_mailbox(const char *s, size_t n, unsigned flags,
				      struct address *out)
{
	bool utf8 = flags & ADDR_ALLOW_UTF8;
	size_t ll = 0, dl;
	enum addr_status st = scan_local(s, n, utf8, &ll);

	if (st != ADDR_OK)
		return st;
	if (ll == n && (flags & ADDR_ALLOW_NO_DOMAIN) && is_postmaster(s, n)) {
		memcpy(out->local, s, ll);
		return ADDR_OK;
	}
	if (ll == n || s[ll] != '@')
		return ADDR_ERR_MAILBOX;
	dl = n - ll - 1;
	if (dl > ADDR_DOMAIN_MAX)
		return ADDR_ERR_DOMAIN_TOO_LONG;
	if (!valid_mail_domain(s + ll + 1, dl, utf8))
		return ADDR_ERR_MAILBOX;
	memcpy(out->local, s, ll);
	memcpy(out->domain, s + ll + 1, dl);
	return ADDR_OK;
}

/*
 * RFC 5321 4.1.2: A-d-l = At-domain *( "," At-domain ) followed by ":",
 * At-domain = "@" Domain. Source routes are obsolete: 4.1.1.3 and
 * appendix C say to accept and ignore them, so only their syntax is
 * checked. Returns the length through the ':' or 0 when malformed.
 */
static size_t skip_route(const char *s, size_t n, bool utf8)
{
	size_t i = 0;

	while (i < n && s[i] == '@') {
		size_t start = ++i;

		while (i < n && s[i] != ',' && s[i] != ':')
			i++;
		if (i == n || !addr_valid_domain(s + start, i - start, utf8))
			return 0;
		if (s[i++] == ':')
			return i;
	}
	return 0;
}

/*
 * Index of the '>' closing the path that s[0] opens, or 0. A '>' inside a
 * Quoted-string (where qtextSMTP allows it) does not count. A Quoted-string
 * can only open the Local-part, right after '<' or after the ':' that ends
 * a source route; a '"' anywhere else is just an invalid octet.
 */
static size_t find_close(const char *s, size_t n)
{
	bool quoted = false;

	for (size_t i = 1; i < n; i++) {
		if (quoted && s[i] == '\\')
			i++;
		else if (s[i] == '"' && (quoted || s[i - 1] == '<' || s[i - 1] == ':'))
			quoted = !quoted;
		else if (s[i] == '>' && !quoted)
			return i;
	}
	return 0;
}

/* RFC 5321 4.1.2: Path = "<" [ A-d-l ":" ] Mailbox ">", inside the brackets. */
static enum addr_status parse_inside(const char *s, size_t n, unsigned flags,
				     struct address *out)
{
	size_t route = 0;

	/* RFC 5321 4.1.1.2: Reverse-path = Path / "<>" */
	if (n == 0) {
		if (!(flags & ADDR_ALLOW_NULL))
			return ADDR_ERR_NULL_NOT_ALLOWED;
		out->is_null = true;
		return ADDR_OK;
	}
	if (s[0] == '@') {
		route = skip_route(s, n, flags & ADDR_ALLOW_UTF8);
		if (route == 0)
			return ADDR_ERR_MAILBOX;
		/* 4.5.1 names a bare "<Postmaster>", not a routed one. */
		flags &= ~(unsigned)ADDR_ALLOW_NO_DOMAIN;
	}
	return parse_mailbox(s + route, n - route, flags, out);
}

enum addr_status addr_parse_path(const char *s, size_t len, unsigned flags,
				 struct address *out, size_t *consumed)
{
	size_t close;
	enum addr_status st;

	memset(out, 0, sizeof(*out));
	if (consumed)
		*consumed = 0;
	if (len == 0 || s[0] != '<')
		return ADDR_ERR_SYNTAX;
	/* RFC 5321 4.5.3.1.3: the path, brackets included, is at most 256
	 * octets, so the closing '>' must be among the first 256. */
	close = find_close(s, len < ADDR_PATH_MAX ? len : ADDR_PATH_MAX);
	if (close == 0)
		return len > ADDR_PATH_MAX ? ADDR_ERR_PATH_TOO_LONG
					   : ADDR_ERR_SYNTAX;
	st = parse_inside(s + 1, close - 1, flags, out);
	if (st != ADDR_OK) {
		memset(out, 0, sizeof(*out));
		return st;
	}
	if (consumed)
		*consumed = close + 1;
	return ADDR_OK;
}

enum addr_status addr_parse_mailbox(const char *s, size_t len, unsigned flags,
				    struct address *out)
{
	enum addr_status st;

	memset(out, 0, sizeof(*out));
	st = parse_mailbox(s, len, flags, out);
	if (st != ADDR_OK)
		memset(out, 0, sizeof(*out));
	return st;
}

int addr_format(const struct address *a, char *out, size_t outsz)
{
	size_t ll = strnlen(a->local, sizeof(a->local));
	size_t dl = strnlen(a->domain, sizeof(a->domain));
	size_t need;

	if (a->is_null)
		ll = dl = 0;
	need = ll + (dl > 0 ? 1 + dl : 0);
	if (need >= outsz || need > INT_MAX) {
		/* A caller that ignores -1 still gets a string, not garbage. */
		if (outsz > 0)
			out[0] = '\0';
		return -1;
	}
	memcpy(out, a->local, ll);
	if (dl > 0) {
		out[ll] = '@';
		memcpy(out + ll + 1, a->domain, dl);
	}
	out[need] = '\0';
	return (int)need;
}

const char *addr_status_text(enum addr_status st)
{
	switch (st) {
	case ADDR_OK:
		return "valid address";
	case ADDR_ERR_SYNTAX:
		return "syntax error: expected <mailbox> (RFC 5321 4.1.2)";
	case ADDR_ERR_MAILBOX:
		return "invalid mailbox syntax (RFC 5321 4.1.2)";
	case ADDR_ERR_LOCAL_TOO_LONG:
		return "local part exceeds 64 octets (RFC 5321 4.5.3.1.1)";
	case ADDR_ERR_DOMAIN_TOO_LONG:
		return "domain exceeds 255 octets (RFC 5321 4.5.3.1.2)";
	case ADDR_ERR_PATH_TOO_LONG:
		return "path exceeds 256 octets (RFC 5321 4.5.3.1.3)";
	case ADDR_ERR_NULL_NOT_ALLOWED:
		return "null path not allowed here (RFC 5321 4.1.1.3)";
	}
	return "unknown address error";
}

void addr_unquote_local(const char *in, char *out, size_t outsz)
{
	size_t n = strlen(in), j = 0;
	if (n < 2 || in[0] != '"') {
		snprintf(out, outsz, "%s", in);
		return;
	}
	for (size_t i = 1; i + 1 < n && j + 1 < outsz; i++) {
		if (in[i] == '\\' && i + 2 < n)
			i++; /* quoted-pairSMTP: keep the escaped character */
		out[j++] = in[i];
	}
	out[j] = '\0';
}
