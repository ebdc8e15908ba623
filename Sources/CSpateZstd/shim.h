#ifndef CSPATE_ZSTD_SHIM_H
#define CSPATE_ZSTD_SHIM_H

#include <zstd.h>
#include <zstd_errors.h>

#endif
