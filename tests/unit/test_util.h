/* Common includes for cmocka unit tests. */
#ifndef PETREL_TEST_UTIL_H
#define PETREL_TEST_UTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#endif
