#ifndef CSPATE_SNAPPY_SHIM_H
#define CSPATE_SNAPPY_SHIM_H

#include <stddef.h>
#include <snappy-c.h>

#endif
