/*
 * show - `petrel config`: a snapshot's settings written back in the file's
 * own syntax, from the keyword table (keyword.h); see config.h.
 *
 * A value is shown from the field it was stored in, so what is printed is
 * what the daemon uses: a duration or a size with the largest unit that
 * divides it (300 as 5m), a path made absolute. Lists and keywords with
 * rules of their own are shown as they were given, word by word.
 */

#include "config/keyword.h"
#include "config/lexer.h"

/* v with the first of units that divides it; the last unit's factor is 1. */
static void with_unit(struct buf *b, uint64_t v, const char *const *units,
		      const uint64_t *factors)
{
	size_t i = 0;
	while (factors[i] != 1 && (v == 0 || v % factors[i] != 0))
		i++;
	buf_printf(b, "%llu%s", (unsigned long long)(v / factors[i]), units[i]);
}

static void show_given(const struct config *cfg, const struct keyword *kw, size_t i,
		       struct strlist *out)
{
	const struct strlist *given = &cfg->settings[i].given;
	for (size_t j = 0; j < given->n; j++)
		strlist_add(out, given->v[j]);
	if (!given->n && kw->dflt)
		strlist_add(out, kw->dflt);
}

/* The value lines of keyword i in cfg; none for a keyword without a value. */
static void show_values(const struct config *cfg, size_t i, struct strlist *out)
{
	static const char *const time_units[] = {"d", "h", "m", "s"};
	static const uint64_t time_factors[] = {86400, 3600, 60, 1};
	static const char *const size_units[] = {"G", "M", "k", ""};
	static const uint64_t size_factors[] = {1 << 30, 1 << 20, 1 << 10, 1};
	const struct keyword *kw = &config_keywords[i];
	const void *field = (const char *)cfg + kw->off;
	struct buf b = BUF_INIT;
	switch (kw->show) {
	case SHOW_GIVEN:
		show_given(cfg, kw, i, out);
		return;
	case SHOW_COUNT:
		buf_printf(&b, "%u", *(const unsigned *)field);
		break;
	case SHOW_DURATION:
		with_unit(&b, *(const unsigned *)field, time_units, time_factors);
		break;
	case SHOW_SIZE:
		with_unit(&b, *(const uint64_t *)field, size_units, size_factors);
		break;
	case SHOW_SWITCH:
		buf_puts(&b, *(const bool *)field ? "on" : "off");
		break;
	case SHOW_TEXT:
		if (!*(char *const *)field)
			return;
		lex_quote(&b, *(char *const *)field);
		break;
	}
	strlist_add(out, b.p);
	buf_free(&b);
}

/* A keyword not in the file has its default; one in the file differs when
 * its value does, however it was written ("600" is the default "10m"). */
static bool differs(const struct config *cfg, const struct config *def, size_t i,
		    const struct strlist *now)
{
	if (!cfg->settings[i].line)
		return false;
	struct strlist was = STRLIST_INIT;
	show_values(def, i, &was);
	bool same = strlist_equal(now, &was);
	strlist_free(&was);
	return !same;
}

void config_print(const struct config *cfg, bool all, FILE *out)
{
	struct config *def = config_defaults();
	for (size_t i = 0; i < config_nkeywords; i++) {
		const struct keyword *kw = &config_keywords[i];
		struct strlist now = STRLIST_INIT;
		show_values(cfg, i, &now);
		if (all) {
			fprintf(out, "%s# %s %s: %s", i ? "\n" : "", kw->name, kw->usage, kw->doc);
			if (kw->dflt)
				fprintf(out, " (default %s)", kw->dflt);
			fputc('\n', out);
		}
		if (all || differs(cfg, def, i, &now))
			for (size_t j = 0; j < now.n; j++)
				fprintf(out, "%s %s\n", kw->name, now.v[j]);
		strlist_free(&now);
	}
	config_free(def);
}
