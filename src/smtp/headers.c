/* headers - the header section of a message; see headers.h. RFC 5322 2.2. */
#include "smtp/headers.h"

#define NO_MATCH SIZE_MAX /* matched: the name being read is not ours */

enum {
	HS_LINE,     /* at the start of a line, no field of our name open */
	HS_NAME,     /* in a field name */
	HS_NAME_WSP, /* white space between a name and its colon (RFC 5322 4.5) */
	HS_VALUE,    /* in the value of a field of our name */
	HS_FOLD,     /* after a line of such a field: a continuation, or its end? */
	HS_SKIP,     /* in any other field, up to the end of the line */
	HS_CR,       /* a CR at the start of a line: the empty line? */
	HS_END,      /* past the header section */
};

static char lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

static bool is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

/* RFC 5322 3.6.8: a field name is printable US-ASCII but the colon. */
static bool is_ftext(char c)
{
	return c > ' ' && c <= '~' && c != ':';
}

void header_scan_init(struct header_scan *h, const char *name)
{
	*h = (struct header_scan){.name = name, .state = HS_LINE};
}

/* The colon: a field begins, of our name when all of it matched. */
static void name_done(struct header_scan *h)
{
	if (h->matched != NO_MATCH && h->name[h->matched] == '\0') {
		h->count++;
		h->value_len = 0;
		h->value_long = false;
		h->state = HS_VALUE;
	} else {
		h->state = HS_SKIP;
	}
}

static void name_char(struct header_scan *h, char c)
{
	if (h->matched == NO_MATCH)
		return;
	if (h->name[h->matched] && lower(h->name[h->matched]) == lower(c))
		h->matched++;
	else
		h->matched = NO_MATCH;
}

/* Unfolding (RFC 5322 2.2.3) drops the line ends and keeps the white space;
 * white space before the value is not part of it. */
static void value_char(struct header_scan *h, char c)
{
	if (c == '\r' || (h->value_len == 0 && is_wsp(c)) || h->value_long)
		return;
	if (h->value_len == HEADER_VALUE_MAX) {
		h->value_long = true;
		h->value_len = 0;
		return;
	}
	h->value[h->value_len++] = c;
}

/* The field of our name is complete: its value, trimmed, into h->value. */
static void field_done(struct header_scan *h)
{
	while (h->value_len > 0 && is_wsp(h->value[h->value_len - 1]))
		h->value_len--;
	h->value[h->value_len] = '\0';
}

/* One octet at the start of a line. */
static void line_start(struct header_scan *h, char c)
{
	if (c == '\r') {
		h->state = HS_CR;
	} else if (is_wsp(c)) {
		h->state = HS_SKIP; /* continues a field that is not ours */
	} else if (is_ftext(c)) {
		h->matched = 0;
		name_char(h, c);
		h->state = HS_NAME;
	} else {
		h->state = HS_END; /* the empty line (bare LF), or no field at all */
	}
}

size_t header_scan_feed(struct header_scan *h, const char *p, size_t n, bool *field)
{
	*field = false;
	for (size_t i = 0; i < n; i++) {
		char c = p[i];
		switch (h->state) {
		case HS_LINE:
			line_start(h, c);
			break;
		case HS_NAME:
			if (c == ':')
				name_done(h);
			else if (is_ftext(c))
				name_char(h, c);
			else
				h->state = is_wsp(c) ? HS_NAME_WSP : HS_END;
			break;
		case HS_NAME_WSP:
			if (c == ':')
				name_done(h);
			else if (!is_wsp(c))
				h->state = HS_END;
			break;
		case HS_VALUE:
			if (c == '\n')
				h->state = HS_FOLD;
			else
				value_char(h, c);
			break;
		case HS_FOLD:
			if (is_wsp(c)) {
				value_char(h, c);
				h->state = HS_VALUE;
				break;
			}
			/* c starts the next line: it is looked at again next call. */
			field_done(h);
			h->state = HS_LINE;
			*field = true;
			return i;
		case HS_SKIP:
			if (c == '\n')
				h->state = HS_LINE;
			break;
		case HS_CR:
			h->state = HS_END; /* CRLF: the empty line; CR alone: no field */
			break;
		default:
			h->ended = true;
			return n;
		}
		if (h->state == HS_END)
			h->ended = true;
	}
	return n;
}

bool header_scan_end(struct header_scan *h)
{
	bool open = h->state == HS_VALUE || h->state == HS_FOLD;
	if (open)
		field_done(h);
	h->state = HS_END;
	h->ended = true;
	return open;
}

unsigned header_count(const char *msg, size_t len, const char *name)
{
	struct header_scan h;
	header_scan_init(&h, name);
	size_t used = 0;
	bool field;
	while (used < len && !h.ended)
		used += header_scan_feed(&h, msg + used, len - used, &field);
	return h.count;
}

bool header_has(const char *msg, size_t len, const char *name)
{
	return header_count(msg, len, name) > 0;
}
