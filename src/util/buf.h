/*
 * buf - length-counted byte strings.
 *
 * Contract: a struct buf owns a heap block of cap bytes holding len bytes of
 * data, always followed by a NUL (so p is also a C string when the data has
 * no NUL of its own). Allocation failure aborts the process: an MTA that runs
 * out of memory cannot keep its promises, and every caller would otherwise
 * need an error path it cannot test. struct str is a non-owning view.
 */
#ifndef PETREL_UTIL_BUF_H
#define PETREL_UTIL_BUF_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

struct buf {
	char *p;
	size_t len;
	size_t cap;
};

struct str {
	const char *p;
	size_t len;
};

#define BUF_INIT {NULL, 0, 0}
#define STR_LIT(s) ((struct str){(s), sizeof(s) - 1})

void buf_init(struct buf *b);
void buf_free(struct buf *b);
void buf_reset(struct buf *b);
void buf_reserve(struct buf *b, size_t extra);
void buf_append(struct buf *b, const void *p, size_t n);
void buf_puts(struct buf *b, const char *s);
void buf_putc(struct buf *b, char c);
void buf_printf(struct buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void buf_vprintf(struct buf *b, const char *fmt, va_list ap);
/* Removes the first n bytes. */
void buf_consume(struct buf *b, size_t n);
/* Hands the heap block to the caller (NUL-terminated) and empties b. */
char *buf_steal(struct buf *b);

struct str str_from(const char *s);
bool str_eq_nocase(struct str a, const char *b);
/* Whether any of the n octets at p is over 127 (8-bit, RFC 6152). */
bool mem_has_8bit(const void *p, size_t n);

void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t m);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);

#endif
