/* strlist - a growable array of owned C strings; see strlist.h. */
#include "util/strlist.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/buf.h"

void strlist_addn(struct strlist *l, const char *s, size_t len)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 4;
		l->v = xrealloc(l->v, l->cap * sizeof *l->v);
	}
	l->v[l->n++] = xstrndup(s, len);
}

void strlist_add(struct strlist *l, const char *s)
{
	strlist_addn(l, s, strlen(s));
}

bool strlist_contains(const struct strlist *l, const char *s)
{
	for (size_t i = 0; i < l->n; i++)
		if (strcasecmp(l->v[i], s) == 0)
			return true;
	return false;
}

bool strlist_add_unique(struct strlist *l, const char *s)
{
	if (strlist_contains(l, s))
		return false;
	strlist_add(l, s);
	return true;
}

bool strlist_equal(const struct strlist *a, const struct strlist *b)
{
	if (a->n != b->n)
		return false;
	for (size_t i = 0; i < a->n; i++)
		if (strcmp(a->v[i], b->v[i]) != 0)
			return false;
	return true;
}

void strlist_free(struct strlist *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = l->cap = 0;
}
