/* cidr - IPv4/IPv6 network lists ("127.0.0.0/8", "::1/128", "10.1.2.3"). */
#ifndef PETREL_UTIL_CIDR_H
#define PETREL_UTIL_CIDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct cidr {
	int family;          /* AF_INET or AF_INET6 */
	uint8_t addr[16];    /* network byte order; IPv4 in the first 4 bytes */
	unsigned prefix;     /* 0..32 or 0..128 */
};

struct cidr_list {
	struct cidr *v;
	size_t n;
};

/* Parses one "addr[/prefix]"; false on junk or a prefix out of range. */
bool cidr_parse(const char *s, struct cidr *out);
void cidr_list_add(struct cidr_list *l, const struct cidr *c);
void cidr_list_free(struct cidr_list *l);
/* True when sa (AF_INET or AF_INET6; IPv4-mapped IPv6 counts as IPv4) is in the list. */
bool cidr_list_match(const struct cidr_list *l, const struct sockaddr *sa);

#endif
