#ifndef CSPATE_LZ4_SHIM_H
#define CSPATE_LZ4_SHIM_H

#include <lz4frame.h>
#include <lz4.h>

/* LZ4F_VERSION is a macro; expose it as a function so the Swift side does not depend on macro import rules. */
static inline unsigned cspate_lz4f_version(void) { return LZ4F_VERSION; }

#endif
