/* strlist - a growable array of owned C strings. */
#ifndef PETREL_UTIL_STRLIST_H
#define PETREL_UTIL_STRLIST_H

#include <stdbool.h>
#include <stddef.h>

struct strlist {
	char **v;
	size_t n;
	size_t cap;
};

#define STRLIST_INIT {NULL, 0, 0}

void strlist_add(struct strlist *l, const char *s);
void strlist_addn(struct strlist *l, const char *s, size_t len);
/* Adds s unless an equal string (ASCII case-insensitive) is present; returns true if added. */
bool strlist_add_unique(struct strlist *l, const char *s);
bool strlist_contains(const struct strlist *l, const char *s);
/* True when a and b hold the same strings (exactly) in the same order. */
bool strlist_equal(const struct strlist *a, const struct strlist *b);
void strlist_free(struct strlist *l);

#endif
