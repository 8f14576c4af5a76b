/*
 * fuzz_mx - the pure DNS answer handling (src/dns/mx.c).
 *
 * Input: 8 bytes of PRNG seed, one byte of address counts, one byte picking
 * "our own" names, then MX records, each a 2-byte preference, a length byte
 * and that many name bytes (any bytes: NUL, dots, 8-bit, trailing dots).
 * Checked:
 * - dns_name_normalize only ever yields lower-case letters, digits, '-',
 *   '_' and dots, 1..253 octets, no empty label, no trailing dot, and is
 *   idempotent;
 * - mx_is_null is exactly RFC 7505's "one record, preference 0, root";
 * - mx_list_from_records keeps at most DNS_MAX_MX exchangers, ordered by
 *   preference, each name once, normalised, at its best preference among
 *   the records, and when it has to cut, no dropped name is better than a
 *   kept one; nothing valid is lost when there is room;
 * - mx_host_set_addrs: at most DNS_MAX_ADDRS, IPv6 first, each family in
 *   answer order, half the slots kept for IPv4 when it can fill them;
 * - mx_list_copy is deep and equal; mx_list_drop_unreachable keeps the
 *   order; mx_prune_self leaves only exchangers strictly better than our
 *   best record and says whether we were listed.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dns/resolver.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_RECORDS 128

struct input {
	struct mx_record rec[MAX_RECORDS];
	char *names[MAX_RECORDS];
	size_t n;
	uint64_t seed;
	uint8_t counts;
	uint8_t self;
};

static bool name_ok(const char *s)
{
	size_t len = strlen(s), label = 0;
	if (len == 0 || len > DNS_NAME_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (c == '.') {
			if (label == 0)
				return false;
			label = 0;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_'))
			return false;
		label++;
	}
	return label > 0;
}

static void check_normalize(const char *name)
{
	char out[DNS_NAME_MAX + 1], again[DNS_NAME_MAX + 1];
	if (!dns_name_normalize(out, name))
		return;
	if (!name_ok(out) || !dns_name_normalize(again, out) || strcmp(out, again) != 0)
		abort();
}

static bool parse_input(const uint8_t *data, size_t size, struct input *in)
{
	if (size < 10)
		return false;
	memcpy(&in->seed, data, 8);
	in->counts = data[8];
	in->self = data[9];
	in->n = 0;
	for (size_t i = 10; i + 3 <= size && in->n < MAX_RECORDS;) {
		unsigned pref = (unsigned)data[i] << 8 | data[i + 1];
		size_t len = data[i + 2];
		i += 3;
		if (len > size - i)
			len = size - i;
		char *name = malloc(len + 1);
		memcpy(name, data + i, len);
		name[len] = '\0';
		i += len;
		in->names[in->n] = name;
		in->rec[in->n++] = (struct mx_record){name, pref};
	}
	return true;
}

/* The best preference any record gives the normalised name, or -1. */
static long best_pref(const struct input *in, const char *name)
{
	long best = -1;
	char norm[DNS_NAME_MAX + 1];
	for (size_t i = 0; i < in->n; i++)
		if (dns_name_normalize(norm, in->rec[i].name) && strcmp(norm, name) == 0 &&
		    (best < 0 || in->rec[i].pref < (unsigned long)best))
			best = in->rec[i].pref;
	return best;
}

static bool listed(const struct mx_list *mx, const char *name)
{
	for (size_t i = 0; i < mx->n; i++)
		if (strcmp(mx->v[i].name, name) == 0)
			return true;
	return false;
}

static void check_list(const struct input *in, const struct mx_list *mx)
{
	if (mx->n > DNS_MAX_MX)
		abort();
	for (size_t i = 0; i < mx->n; i++) {
		const struct mx_host *h = &mx->v[i];
		if (!name_ok(h->name) || h->naddrs || best_pref(in, h->name) != (long)h->pref ||
		    (i && mx->v[i - 1].pref > h->pref))
			abort();
		for (size_t j = 0; j < i; j++)
			if (strcmp(mx->v[j].name, h->name) == 0)
				abort();
	}
	/* A valid name left out: only when the list is full of better ones. */
	char norm[DNS_NAME_MAX + 1];
	for (size_t i = 0; i < in->n; i++) {
		if (!dns_name_normalize(norm, in->rec[i].name) || listed(mx, norm))
			continue;
		if (mx->n < DNS_MAX_MX || (long)mx->v[mx->n - 1].pref > best_pref(in, norm))
			abort();
	}
}

static void check_addrs(struct mx_host *h, size_t n6, size_t n4)
{
	struct in6_addr v6[24];
	struct in_addr v4[24];
	for (size_t i = 0; i < 24; i++) {
		memset(&v6[i], 0, sizeof v6[i]);
		v6[i].s6_addr[15] = (uint8_t)i;
		v4[i].s_addr = htonl((uint32_t)i);
	}
	mx_host_set_addrs(h, v6, n6, v4, n4);
	size_t total = n6 + n4 < DNS_MAX_ADDRS ? n6 + n4 : DNS_MAX_ADDRS;
	size_t k6 = 0, k4 = 0;
	for (size_t i = 0; i < h->naddrs; i++) {
		const struct sockaddr_storage *a = &h->addrs[i];
		if (a->ss_family == AF_INET6) {
			const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)a;
			if (k4 || s6->sin6_addr.s6_addr[15] != k6++)
				abort();
		} else if (a->ss_family == AF_INET) {
			const struct sockaddr_in *s4 = (const struct sockaddr_in *)a;
			if (ntohl(s4->sin_addr.s_addr) != k4++)
				abort();
		} else {
			abort();
		}
	}
	size_t half = DNS_MAX_ADDRS / 2;
	if (h->naddrs != total || k4 < (n4 < half ? n4 : half) || k6 < (n6 < half ? n6 : half))
		abort();
}

static bool same_list(const struct mx_list *a, const struct mx_list *b)
{
	if (a->n != b->n || a->implicit != b->implicit)
		return false;
	for (size_t i = 0; i < a->n; i++) {
		const struct mx_host *x = &a->v[i], *y = &b->v[i];
		if (x->name == y->name || strcmp(x->name, y->name) != 0 || x->pref != y->pref ||
		    x->naddrs != y->naddrs ||
		    (x->naddrs && memcmp(x->addrs, y->addrs, x->naddrs * sizeof *x->addrs) != 0))
			return false;
	}
	return true;
}

/* Our own names: every record whose bit is set in in->self (mod 8). */
static void make_self(const struct input *in, struct strlist *self)
{
	char norm[DNS_NAME_MAX + 1];
	for (size_t i = 0; i < in->n; i++)
		if ((in->self >> (i % 8)) & 1 && dns_name_normalize(norm, in->rec[i].name))
			strlist_add(self, norm);
}

static void check_prune(struct mx_list *mx, const struct strlist *self)
{
	bool was_listed = false;
	unsigned own = 0;
	for (size_t i = 0; i < mx->n; i++) {
		if (strlist_contains(self, mx->v[i].name) && (!was_listed || mx->v[i].pref < own)) {
			own = mx->v[i].pref;
			was_listed = true;
		}
	}
	size_t before = mx->n;
	if (mx_prune_self(mx, self) != was_listed || (!was_listed && mx->n != before))
		abort();
	for (size_t i = 0; was_listed && i < mx->n; i++)
		if (mx->v[i].pref >= own || strlist_contains(self, mx->v[i].name))
			abort();
}

static void check_drop(struct mx_list *mx)
{
	struct mx_list copy;
	mx_list_copy(&copy, mx);
	size_t left = mx_list_drop_unreachable(mx);
	size_t k = 0;
	for (size_t i = 0; i < copy.n; i++) {
		if (!copy.v[i].naddrs)
			continue;
		if (k >= mx->n || strcmp(copy.v[i].name, mx->v[k].name) != 0)
			abort();
		k++;
	}
	if (k != left || left != mx->n)
		abort();
	mx_list_free(&copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct input in;
	if (!parse_input(data, size, &in))
		return 0;
	for (size_t i = 0; i < in.n; i++)
		check_normalize(in.rec[i].name);
	bool null_mx = in.n == 1 && in.rec[0].pref == 0 &&
		       (in.rec[0].name[0] == '\0' || strcmp(in.rec[0].name, ".") == 0);
	if (mx_is_null(in.rec, in.n) != null_mx)
		abort();

	struct mx_list mx = {0};
	uint64_t rng = in.seed;
	mx_list_from_records(&mx, in.rec, in.n, &rng);
	check_list(&in, &mx);

	/* Addresses for some exchangers (none for others, so some drop out). */
	for (size_t i = 0; i < mx.n; i++) {
		size_t n6 = (in.counts + i * 7) % 21, n4 = (in.counts / 4 + i * 5) % 23;
		if ((in.counts >> (i % 8)) & 1)
			check_addrs(&mx.v[i], n6, n4);
	}
	struct mx_list copy;
	mx_list_copy(&copy, &mx);
	if (!same_list(&mx, &copy))
		abort();
	mx_list_free(&copy);
	mx_list_free(&mx);
	if (mx.n || mx.v)
		abort();

	mx_list_from_records(&mx, in.rec, in.n, &rng);
	struct strlist self = STRLIST_INIT;
	make_self(&in, &self);
	check_prune(&mx, &self);
	for (size_t i = 0; i < mx.n; i++)
		if ((in.counts >> (i % 8)) & 1)
			check_addrs(&mx.v[i], 1 + i % 3, i % 2);
	check_drop(&mx);
	strlist_free(&self);
	mx_list_free(&mx);
	for (size_t i = 0; i < in.n; i++)
		free(in.names[i]);
	return 0;
}
