/*
 * mime7bit - the 8-bit to 7-bit MIME downgrade; see mime7bit.h.
 * RFC 6152 3, RFC 2045 5-6 (Content-Type, Content-Transfer-Encoding,
 * quoted-printable), RFC 2046 5 (multipart, message), RFC 1428.
 *
 * Both passes run the same walker over the same octets, so they see the
 * same structure: each header section (the message, a part, a nested
 * message) gets the next number, under which the scan files what the
 * conversion is to do with it. Lines are read in two steps: their first
 * HEAD_MAX octets are collected, enough to tell a boundary delimiter, a
 * header field's name or the end of a header section; the rest of a line,
 * however long, streams through in whatever mode that start chose.
 */
#include "deliver/mime7bit.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum {
	HEAD_MAX = 2 + MIME7_BOUNDARY_MAX + 2, /* "--" boundary "--" */
	FIELD_MAX = 2048,                      /* Content-Type value kept for parsing */
	CTE_MAX = 64,
	QP_COL_MAX = 75,                       /* RFC 2045 6.7 (5): 76 with the soft "=" */
};

/* What the conversion does to a header section's entity. */
enum plan {
	P_QP = 1,        /* leaf: quoted-printable */
	P_7BIT = 2,      /* composite: declared 8bit or binary, now 7bit */
	P_NOT_UTF8 = 4,  /* its 8-bit octets are not UTF-8 */
};

enum field { F_OTHER, F_CT, F_CTE, F_MV };
enum mode { L_PASS, L_DROP, L_QP };
enum cte { CTE_7BIT, CTE_8BIT, CTE_ENCODED };
enum ctype { CT_LEAF, CT_MULTIPART, CT_RFC822, CT_MESSAGE_OTHER };

struct frame {
	char b[MIME7_BOUNDARY_MAX];
	size_t len;
	unsigned depth;           /* of the multipart entity */
	bool digest;              /* RFC 2046 5.1.5: parts default to message/rfc822 */
};

/* The walker: everything a pass starts afresh. */
struct walk {
	struct frame frame[MIME7_DEPTH_MAX];
	size_t nframes;
	size_t ent, next_ent;     /* current header section's number, the next one */
	unsigned depth;
	bool msg_level;           /* the entity is a message: the top or message/rfc822 */
	bool default_rfc822;
	bool in_header;
	bool leaf;                /* in the body of a leaf entity */
	enum mime7_result body_err; /* what 8-bit octets in the body are; OK: convertible */
	/* the header section being read */
	enum field field;
	bool has_ct, has_cte, has_mv;
	char ct[FIELD_MAX];
	size_t ctlen;
	char cte[CTE_MAX];
	size_t ctelen;
	char *acc;                /* where the current field's value goes, or NULL */
	size_t *acclen, acccap, accskip;
	/* the current line */
	char head[HEAD_MAX];
	size_t headlen;
	bool in_line;             /* past the head, before the LF */
	bool open;                /* output holds a line not yet ended */
	enum mode mode;
	enum mime7_result line_err;
	/* UTF-8 check of the current leaf (continuation octets still due) */
	unsigned utf8_need;
	/* quoted-printable */
	unsigned col;
	char ws;                  /* a space or tab held back until we know it is not last */
	bool cr;                  /* a CR held back until we know whether LF follows */
	bool soft;                /* the output line began at a soft line break */
};

struct mime7 {
	bool converting;
	struct buf *out;
	enum mime7_result err;
	unsigned char plan[MIME7_PARTS_MAX];
	struct walk w;
};

static void put(struct mime7 *m, const void *p, size_t n)
{
	if (m->converting) {
		buf_append(m->out, p, n);
		m->w.open = n ? ((const char *)p)[n - 1] != '\n' : m->w.open;
	}
}

static void put_str(struct mime7 *m, const char *s)
{
	put(m, s, strlen(s));
}

static void fail(struct mime7 *m, enum mime7_result r)
{
	if (!m->err)
		m->err = r;
}

static unsigned plan_of(const struct mime7 *m)
{
	return m->w.ent < MIME7_PARTS_MAX ? m->plan[m->w.ent] : 0;
}

/* Scan only. A part past the table cannot be converted. */
static void plan_add(struct mime7 *m, unsigned bits)
{
	if (m->converting)
		return;
	if (m->w.ent < MIME7_PARTS_MAX)
		m->plan[m->w.ent] |= (unsigned char)bits;
	else if (bits & P_QP)
		fail(m, MIME7_TOO_MANY_PARTS);
}

static void start_entity(struct mime7 *m, unsigned depth, bool msg_level, bool default_rfc822)
{
	struct walk *w = &m->w;
	w->ent = w->next_ent++;
	w->depth = depth;
	w->msg_level = msg_level;
	w->default_rfc822 = default_rfc822;
	w->in_header = true;
	w->leaf = false;
	w->field = F_OTHER;
	w->has_ct = w->has_cte = w->has_mv = false;
	w->ctlen = w->ctelen = 0;
	w->acc = NULL;
	w->utf8_need = 0;
}

static void walk_start(struct mime7 *m)
{
	memset(&m->w, 0, sizeof m->w);
	start_entity(m, 0, true, false);
}

/* ---- Content-Type and Content-Transfer-Encoding (RFC 2045 5.1, 6.1) ---- */

/* Skips white space and (nested) comments. */
static size_t skip_cfws(const char *v, size_t n, size_t i)
{
	unsigned nest = 0;
	for (; i < n; i++) {
		if (nest && v[i] == '\\')
			i++;
		else if (v[i] == '(')
			nest++;
		else if (nest && v[i] == ')')
			nest--;
		else if (!nest && v[i] != ' ' && v[i] != '\t')
			break;
	}
	return i < n ? i : n;
}

/* RFC 2045 5.1: token := 1*<any CHAR except SPACE, CTLs, or tspecials>. */
static size_t token_end(const char *v, size_t n, size_t i)
{
	while (i < n && (unsigned char)v[i] > ' ' && (unsigned char)v[i] < 0x7f &&
	       !strchr("()<>@,;:\\\"/[]?=", v[i]))
		i++;
	return i;
}

static bool token_is(const char *v, size_t a, size_t b, const char *word)
{
	return b - a == strlen(word) && strncasecmp(v + a, word, b - a) == 0;
}

/* A parameter value, token or quoted-string, into val (cut at cap; *len
 * says how long it really is). Returns the index after it. */
static size_t param_value(const char *v, size_t n, size_t i, char *val, size_t cap, size_t *len)
{
	*len = 0;
	if (i < n && v[i] == '"') {
		for (i++; i < n && v[i] != '"'; i++) {
			if (v[i] == '\\' && i + 1 < n)
				i++;
			if (*len < cap)
				val[*len] = v[i];
			++*len;
		}
		return i < n ? i + 1 : n;
	}
	size_t e = token_end(v, n, i);
	for (; i < e; i++, ++*len)
		if (*len < cap)
			val[*len] = v[i];
	return e;
}

/* The media type of the current entity and, for a multipart, its boundary
 * in f (f->len 0: none usable). No or a broken Content-Type is the default:
 * text/plain, or message/rfc822 in a digest (RFC 2045 5.2, RFC 2046 5.1.5). */
static enum ctype parse_ct(const struct walk *w, struct frame *f)
{
	const char *v = w->ct;
	size_t n = w->ctlen, t0, t1, s0, s1, i;
	f->len = 0;
	f->digest = false;
	if (!w->has_ct)
		return w->default_rfc822 ? CT_RFC822 : CT_LEAF;
	t0 = skip_cfws(v, n, 0);
	t1 = token_end(v, n, t0);
	i = skip_cfws(v, n, t1);
	if (t1 == t0 || i >= n || v[i] != '/')
		return CT_LEAF;
	s0 = skip_cfws(v, n, i + 1);
	s1 = token_end(v, n, s0);
	if (token_is(v, t0, t1, "message"))
		return token_is(v, s0, s1, "rfc822") ? CT_RFC822
		       : token_is(v, s0, s1, "global") ? CT_LEAF /* RFC 6532 3.7: may be encoded */
						      : CT_MESSAGE_OTHER;
	if (!token_is(v, t0, t1, "multipart"))
		return CT_LEAF;
	f->digest = token_is(v, s0, s1, "digest");
	for (i = skip_cfws(v, n, s1); i < n && v[i] == ';'; i = skip_cfws(v, n, i)) {
		size_t p0 = skip_cfws(v, n, i + 1), p1 = token_end(v, n, p0), len;
		i = skip_cfws(v, n, p1);
		if (i >= n || v[i] != '=')
			break;
		i = param_value(v, n, skip_cfws(v, n, i + 1), f->b, sizeof f->b, &len);
		if (token_is(v, p0, p1, "boundary")) {
			f->len = len <= sizeof f->b ? len : 0;
			break;
		}
	}
	return CT_MULTIPART;
}

static enum cte parse_cte(const struct walk *w)
{
	size_t a = skip_cfws(w->cte, w->ctelen, 0), b = token_end(w->cte, w->ctelen, a);
	if (!w->has_cte || a == b || token_is(w->cte, a, b, "7bit"))
		return CTE_7BIT;
	if (token_is(w->cte, a, b, "8bit") || token_is(w->cte, a, b, "binary"))
		return CTE_8BIT;
	return CTE_ENCODED; /* base64, quoted-printable, or a kind we do not know */
}

/* ---- the end of a header section ---- */

/* The fields the conversion adds, before the section's end. */
static void add_fields(struct mime7 *m, bool blank)
{
	struct walk *w = &m->w;
	unsigned plan = plan_of(m);
	if (!m->converting || !(plan & (P_QP | P_7BIT)))
		return;
	if (w->open)
		put_str(m, "\r\n");
	if (w->msg_level && !w->has_mv)
		put_str(m, "MIME-Version: 1.0\r\n");
	if ((plan & P_QP) && !w->has_ct)
		put_str(m, plan & P_NOT_UTF8 ? "Content-Type: text/plain; charset=unknown-8bit\r\n"
					     : "Content-Type: text/plain; charset=utf-8\r\n");
	put_str(m, plan & P_QP ? "Content-Transfer-Encoding: quoted-printable\r\n"
			       : "Content-Transfer-Encoding: 7bit\r\n");
	/* A section ended by a line that is no header field: the added
	 * fields must not swallow it. */
	if (blank)
		put_str(m, "\r\n");
}

/* The body that follows: a leaf, the preamble of a multipart, a nested
 * message, or content that is only passed on (and must then be 7-bit). */
static void header_end(struct mime7 *m, bool blank)
{
	struct walk *w = &m->w;
	struct frame f;
	enum ctype ct = parse_ct(w, &f);
	enum cte cte = parse_cte(w);
	bool composite = cte != CTE_ENCODED && ct != CT_LEAF;
	/* A label alone is no reason to refuse: past the table it stays. */
	if (cte == CTE_8BIT && w->ent < MIME7_PARTS_MAX)
		plan_add(m, composite ? P_7BIT : P_QP);
	add_fields(m, blank);
	w->in_header = false;
	w->acc = NULL;
	w->leaf = !composite;
	w->body_err = cte == CTE_ENCODED ? MIME7_8BIT_ENCODED : MIME7_OK;
	if (!composite)
		return;
	w->body_err = ct == CT_MESSAGE_OTHER ? MIME7_8BIT_OUTSIDE
		      : w->depth >= MIME7_DEPTH_MAX ? MIME7_TOO_DEEP
		      : ct == CT_MULTIPART && !f.len ? MIME7_BAD_MULTIPART
						     : MIME7_OK;
	if (w->body_err)
		return;
	if (ct == CT_RFC822) {
		start_entity(m, w->depth + 1, true, false);
		return;
	}
	f.depth = w->depth;
	w->frame[w->nframes++] = f;
	w->body_err = MIME7_8BIT_OUTSIDE; /* the preamble */
}

/* ---- classifying a line by its head ---- */

static bool is_blank(const char *h, size_t n)
{
	return (n == 1 && h[0] == '\n') || (n == 2 && h[0] == '\r' && h[1] == '\n');
}

/* The innermost multipart whose delimiter h starts with (RFC 2046 5.1.1;
 * like most readers we take any line it begins), or -1. */
static long match_boundary(const struct walk *w, const char *h, size_t n, bool *close)
{
	for (size_t k = w->nframes; k-- > 0;) {
		const struct frame *f = &w->frame[k];
		if (n >= 2 + f->len && h[0] == '-' && h[1] == '-' &&
		    memcmp(h + 2, f->b, f->len) == 0) {
			*close = n >= 4 + f->len && h[2 + f->len] == '-' && h[3 + f->len] == '-';
			return (long)k;
		}
	}
	return -1;
}

static void end_leaf(struct mime7 *m)
{
	if (m->w.leaf && m->w.utf8_need)
		plan_add(m, P_NOT_UTF8);
	m->w.leaf = false;
}

static void boundary(struct mime7 *m, size_t k, bool close)
{
	struct walk *w = &m->w;
	end_leaf(m);
	w->nframes = k + 1;
	w->in_header = false;
	w->mode = L_PASS;
	w->line_err = MIME7_8BIT_OUTSIDE;
	if (close) {
		w->nframes = k;
		w->body_err = MIME7_8BIT_OUTSIDE; /* the epilogue */
		return;
	}
	start_entity(m, w->frame[k].depth + 1, false, w->frame[k].digest);
}

/* RFC 5322 2.2: a field name is printable ASCII but ':', then (obsolete
 * syntax) maybe white space, then ':'. Returns the name's length, 0 when h
 * is no field. A head filled with name octets is a field with a long name. */
static size_t field_name(const char *h, size_t n, size_t *colon)
{
	const unsigned char *u = (const unsigned char *)h;
	size_t i = 0, e;
	while (i < n && u[i] > ' ' && u[i] < 0x7f && u[i] != ':')
		i++;
	for (e = i; e < n && (h[e] == ' ' || h[e] == '\t');)
		e++;
	*colon = e + 1;
	if (i > 0 && e < n && h[e] == ':')
		return i;
	*colon = n;
	return i == n && n == HEAD_MAX ? n : 0;
}

static void collect(struct walk *w, char *into, size_t *len, size_t cap, size_t skip)
{
	w->acc = into;
	w->acclen = len;
	w->acccap = cap;
	w->accskip = skip;
}

/* A header line; false when it is none and so ends the section. */
static bool header_line(struct mime7 *m, const char *h, size_t n)
{
	struct walk *w = &m->w;
	size_t colon, len;
	w->line_err = MIME7_8BIT_HEADER;
	w->mode = L_PASS;
	if (h[0] == ' ' || h[0] == '\t') {
		/* A continuation: the field's mode and value go on. */
		w->mode = w->field == F_CTE && m->converting && (plan_of(m) & (P_QP | P_7BIT))
				  ? L_DROP
				  : L_PASS;
		w->accskip = 0;
		return true;
	}
	if (!(len = field_name(h, n, &colon)))
		return false;
	w->acc = NULL;
	w->field = token_is(h, 0, len, "Content-Type")		    ? F_CT
		   : token_is(h, 0, len, "Content-Transfer-Encoding") ? F_CTE
		   : token_is(h, 0, len, "MIME-Version")		    ? F_MV
									    : F_OTHER;
	if (w->field == F_CT && !w->has_ct)
		collect(w, w->ct, &w->ctlen, sizeof w->ct, colon);
	if (w->field == F_CTE && !w->has_cte)
		collect(w, w->cte, &w->ctelen, sizeof w->cte, colon);
	w->has_ct |= w->field == F_CT;
	w->has_cte |= w->field == F_CTE;
	w->has_mv |= w->field == F_MV;
	/* The old encoding goes; add_fields writes the new one. */
	if (w->field == F_CTE && m->converting && (plan_of(m) & (P_QP | P_7BIT)))
		w->mode = L_DROP;
	return true;
}

static void begin_line(struct mime7 *m)
{
	struct walk *w = &m->w;
	const char *h = w->head;
	size_t n = w->headlen;
	bool blank = is_blank(h, n), close;
	w->in_line = true;
	/* A line that is no header field ends the section and is looked at
	 * again: it may now be a delimiter of the multipart the section
	 * declared, or open the nested message of a message/rfc822 part. */
	for (;;) {
		long k = blank ? -1 : match_boundary(w, h, n, &close);
		if (k >= 0) {
			if (w->in_header)
				header_end(m, false);
			boundary(m, (size_t)k, close);
			return;
		}
		if (!w->in_header)
			break;
		if (blank) {
			header_end(m, false);
			w->mode = L_PASS;
			w->line_err = MIME7_8BIT_HEADER;
			return;
		}
		if (header_line(m, h, n))
			return;
		header_end(m, true);
	}
	w->line_err = w->body_err;
	w->mode = m->converting && w->leaf && (plan_of(m) & P_QP) ? L_QP : L_PASS;
}

/* ---- the octets of a line ---- */

/* The leaf's octets: 8-bit ones mark it for conversion; UTF-8 is checked
 * for the charset label (RFC 3629 structure; enough to pick a label). */
static void scan_leaf(struct mime7 *m, const unsigned char *p, size_t n)
{
	struct walk *w = &m->w;
	bool eight = false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = p[i];
		eight |= c >= 0x80;
		if (w->utf8_need) {
			if ((c & 0xc0) == 0x80) {
				w->utf8_need--;
				continue;
			}
			w->utf8_need = 0;
			plan_add(m, P_NOT_UTF8);
		}
		if (c < 0x80)
			continue;
		w->utf8_need = c >= 0xc2 && c <= 0xdf ? 1 : c >= 0xe0 && c <= 0xef ? 2
			       : c >= 0xf0 && c <= 0xf4 ? 3 : 0;
		if (!w->utf8_need)
			plan_add(m, P_NOT_UTF8);
	}
	if (eight)
		plan_add(m, P_QP);
}

static void scan_bytes(struct mime7 *m, const char *p, size_t n)
{
	const unsigned char *u = (const unsigned char *)p;
	if (m->w.line_err == MIME7_OK) {
		scan_leaf(m, u, n);
		return;
	}
	for (size_t i = 0; i < n; i++)
		if (u[i] >= 0x80) {
			fail(m, m->w.line_err);
			return;
		}
}

static void soft_break(struct mime7 *m)
{
	put(m, "=\r\n", 3);
	m->w.col = 0;
	m->w.soft = true;
}

static void qp_put(struct mime7 *m, const char *s, unsigned w)
{
	if (m->w.col + w > QP_COL_MAX)
		soft_break(m);
	put(m, s, w);
	m->w.col += w;
}

static void qp_hex(struct mime7 *m, unsigned char c)
{
	static const char hex[] = "0123456789ABCDEF";
	char t[3] = {'=', hex[c >> 4], hex[c & 15]};
	qp_put(m, t, 3);
}

/* RFC 2045 6.7 rules (1)-(3): printable ASCII but "=" as it is, white
 * space as it is unless last on the line, everything else =XX. */
static void qp_char(struct mime7 *m, unsigned char c)
{
	struct walk *w = &m->w;
	if (w->ws) {
		char ws = w->ws;
		w->ws = 0;
		qp_put(m, &ws, 1);
	}
	if (c == ' ' || c == '\t') {
		w->ws = (char)c;
		return;
	}
	if (c < 33 || c > 126 || c == '=') {
		qp_hex(m, c);
		return;
	}
	if (w->col + 1 > QP_COL_MAX)
		soft_break(m);
	/* A line made by a soft break must not start a boundary delimiter
	 * the original line only held further on (RFC 2046 5.1.1). */
	if (c == '-' && w->col == 0 && w->soft)
		qp_hex(m, c);
	else
		qp_put(m, (const char *)&c, 1);
}

/* What is held back goes out encoded: it ends the line (rule 3). */
static void qp_flush(struct mime7 *m)
{
	struct walk *w = &m->w;
	if (w->cr)
		qp_char(m, '\r');
	w->cr = false;
	if (w->ws)
		qp_hex(m, (unsigned char)w->ws);
	w->ws = 0;
}

static void qp_bytes(struct mime7 *m, const char *p, size_t n)
{
	struct walk *w = &m->w;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];
		if (w->cr && c != '\n')
			qp_flush(m); /* a bare CR is data: =0D */
		w->cr = false;
		if (c == '\r') {
			w->cr = true;
		} else if (c == '\n') {
			qp_flush(m);
			put(m, "\r\n", 2);
			w->col = 0;
			w->soft = false;
		} else {
			qp_char(m, c);
		}
	}
}

static void line_bytes(struct mime7 *m, const char *p, size_t n)
{
	struct walk *w = &m->w;
	if (w->acc) {
		size_t skip = w->accskip < n ? w->accskip : n;
		w->accskip -= skip;
		for (size_t i = skip; i < n; i++)
			if (p[i] != '\r' && p[i] != '\n' && *w->acclen < w->acccap)
				w->acc[(*w->acclen)++] = p[i];
	}
	if (!m->converting)
		scan_bytes(m, p, n);
	else if (w->mode == L_PASS)
		put(m, p, n);
	else if (w->mode == L_QP)
		qp_bytes(m, p, n);
}

static void feed(struct mime7 *m, const char *p, size_t n)
{
	struct walk *w = &m->w;
	while (n) {
		size_t room = w->in_line ? n : HEAD_MAX - w->headlen;
		size_t take = room < n ? room : n;
		const char *lf = memchr(p, '\n', take);
		if (lf)
			take = (size_t)(lf - p) + 1;
		if (w->in_line) {
			line_bytes(m, p, take);
		} else {
			memcpy(w->head + w->headlen, p, take);
			w->headlen += take;
			if (lf || w->headlen == HEAD_MAX) {
				begin_line(m);
				line_bytes(m, w->head, w->headlen);
			}
		}
		p += take;
		n -= take;
		if (lf) {
			w->in_line = false;
			w->headlen = 0;
		}
	}
}

/* The end of the message: a last line without its line break, a header
 * section without a body, a leaf's last octets. */
static void finish(struct mime7 *m)
{
	struct walk *w = &m->w;
	if (!w->in_line && w->headlen) {
		begin_line(m);
		line_bytes(m, w->head, w->headlen);
	}
	if (m->converting && w->in_line && w->mode == L_QP)
		qp_flush(m);
	if (w->in_header)
		header_end(m, false);
	end_leaf(m);
}

/* ---- the interface ---- */

struct mime7 *mime7_new(void)
{
	struct mime7 *m = xcalloc(1, sizeof *m);
	walk_start(m);
	return m;
}

void mime7_free(struct mime7 *m)
{
	free(m);
}

void mime7_scan(struct mime7 *m, const char *p, size_t n)
{
	if (!m->converting)
		feed(m, p, n);
}

enum mime7_result mime7_scan_end(struct mime7 *m, bool *needed)
{
	size_t n = m->w.next_ent < MIME7_PARTS_MAX ? m->w.next_ent : MIME7_PARTS_MAX;
	*needed = false;
	if (m->converting)
		return m->err;
	finish(m);
	for (size_t i = 0; i < n; i++)
		*needed |= (m->plan[i] & (P_QP | P_7BIT)) != 0;
	m->converting = true;
	walk_start(m);
	return m->err;
}

const char *mime7_reason(enum mime7_result r)
{
	switch (r) {
	case MIME7_OK:
		return "the message can be sent as 7-bit";
	case MIME7_8BIT_HEADER:
		return "8-bit octets in a header field need SMTPUTF8";
	case MIME7_8BIT_ENCODED:
		return "8-bit octets in a part already declared encoded";
	case MIME7_8BIT_OUTSIDE:
		return "8-bit octets outside any MIME part that may be encoded";
	case MIME7_BAD_MULTIPART:
		return "8-bit octets in a multipart without a usable boundary";
	case MIME7_TOO_DEEP:
		return "8-bit octets in MIME parts nested too deep";
	case MIME7_TOO_MANY_PARTS:
		return "8-bit octets in too many MIME parts";
	}
	return "the message cannot be converted to 7-bit";
}

void mime7_convert(struct mime7 *m, const char *p, size_t n, struct buf *out)
{
	if (!m->converting || m->err)
		return;
	m->out = out;
	feed(m, p, n);
	m->out = NULL;
}

void mime7_convert_end(struct mime7 *m, struct buf *out)
{
	if (!m->converting || m->err)
		return;
	m->out = out;
	finish(m);
	m->out = NULL;
}
