/* headers - the header section of a message; see headers.h. RFC 5322 2.2. */
#include "smtp/headers.h"

#include <string.h>
#include <strings.h>

bool header_has(const char *msg, size_t len, const char *name)
{
	size_t n = strlen(name);
	size_t i = 0;
	while (i < len) {
		const char *line = msg + i;
		const char *nl = memchr(line, '\n', len - i);
		size_t llen = nl ? (size_t)(nl - line) : len - i;
		if (llen == 0 || (llen == 1 && line[0] == '\r'))
			return false; /* the empty line ends the header section */
		if (llen > n && line[n] == ':' && strncasecmp(line, name, n) == 0)
			return true;
		i += llen + 1;
	}
	return false;
}
