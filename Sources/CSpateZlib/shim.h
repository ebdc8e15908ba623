#ifndef CSPATE_ZLIB_SHIM_H
#define CSPATE_ZLIB_SHIM_H

#include <zlib.h>

/* deflateInit2/inflateInit2 are macros (they pass ZLIB_VERSION and sizeof(z_stream)), which Swift cannot import. */

static inline int cspate_deflateInit2(z_streamp strm, int level, int method, int windowBits, int memLevel,
                                      int strategy) {
    return deflateInit2(strm, level, method, windowBits, memLevel, strategy);
}

static inline int cspate_inflateInit2(z_streamp strm, int windowBits) {
    return inflateInit2(strm, windowBits);
}

#endif
