/* rcpt - one recipient, end to end; see rcpt.h. */
#include "util/rcpt.h"

#include <stdlib.h>
#include <strings.h>

#include "util/buf.h"

void rcpt_set(struct rcpt *r, const char *addr, const char *orig, uint8_t notify,
	      const char *orcpt)
{
	*r = (struct rcpt){
		.addr = xstrdup(addr), .orig = xstrdup(orig ? orig : addr), .notify = notify,
		.orcpt = orcpt && *orcpt ? xstrdup(orcpt) : NULL,
	};
}

void rcpt_copy(struct rcpt *dst, const struct rcpt *src)
{
	rcpt_set(dst, src->addr, src->orig, src->notify, src->orcpt);
}

void rcpt_free(struct rcpt *r)
{
	free(r->addr);
	free(r->orig);
	free(r->orcpt);
	*r = (struct rcpt){0};
}

struct rcpt *rcpt_list_add(struct rcpt_list *l, const char *addr, const char *orig,
			   uint8_t notify, const char *orcpt)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 4;
		l->v = xrealloc(l->v, l->cap * sizeof *l->v);
	}
	struct rcpt *r = &l->v[l->n++];
	rcpt_set(r, addr, orig, notify, orcpt);
	return r;
}

const struct rcpt *rcpt_list_find(const struct rcpt_list *l, const char *addr)
{
	for (size_t i = 0; i < l->n; i++)
		if (strcasecmp(l->v[i].addr, addr) == 0)
			return &l->v[i];
	return NULL;
}

void rcpt_list_free(struct rcpt_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		rcpt_free(&l->v[i]);
	free(l->v);
	*l = (struct rcpt_list)RCPT_LIST_INIT;
}
