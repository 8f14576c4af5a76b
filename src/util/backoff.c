/* backoff - exponential retry delays; see backoff.h. */
#include "util/backoff.h"

unsigned backoff_delay(unsigned initial, unsigned max, uint32_t attempts)
{
	uint64_t d = initial ? initial : 1;
	for (uint32_t i = 1; i < attempts && d < max; i++)
		d *= 2;
	return d > max ? max : (unsigned)d;
}
