// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), as used by Kafka record batches v2.
//
// Two implementations share one contract: `crc` is the finished CRC of the bytes seen so far (0 before any), and the
// pre/post inversion happens inside, so `f(f(0, a), b) == f(0, a ++ b)`.
//
// - `spate_crc32c_portable`: slicing-by-8 over generated tables (`crc32c_tables.h`).
// - `spate_crc32c`: on x86-64 CPUs with SSE4.2, the `crc32` instruction over three interleaved streams, whose partial
//   CRCs are combined by extending them over the zero bytes of the later streams with the `long`/`short` operator
//   tables (the zero-extension approach of Mark Adler's crc32c.c); elsewhere, the portable implementation.

#include "CSpateCRC32C.h"

#include <string.h>

#include "crc32c_tables.h"

static inline uint32_t spate_load32le(const unsigned char *p) {
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

uint32_t spate_crc32c_portable(uint32_t crc, const void *data, size_t length) {
    const unsigned char *next = (const unsigned char *)data;
    uint32_t c = ~crc;
    if (length == 0 || next == NULL) {
        return crc;
    }
    while (length >= 8) {
        uint32_t lo = c ^ spate_load32le(next);
        uint32_t hi = spate_load32le(next + 4);
        c = spate_crc32c_table[7][lo & 0xff] ^ spate_crc32c_table[6][(lo >> 8) & 0xff] ^
            spate_crc32c_table[5][(lo >> 16) & 0xff] ^ spate_crc32c_table[4][lo >> 24] ^
            spate_crc32c_table[3][hi & 0xff] ^ spate_crc32c_table[2][(hi >> 8) & 0xff] ^
            spate_crc32c_table[1][(hi >> 16) & 0xff] ^ spate_crc32c_table[0][hi >> 24];
        next += 8;
        length -= 8;
    }
    while (length > 0) {
        c = (c >> 8) ^ spate_crc32c_table[0][(c ^ *next) & 0xff];
        next++;
        length--;
    }
    return ~c;
}

#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))

#include <nmmintrin.h>

/// Extends a raw CRC register over the zero bytes that `zeros` was generated for.
static inline uint32_t spate_crc32c_shift(const uint32_t zeros[4][256], uint32_t crc) {
    return zeros[0][crc & 0xff] ^ zeros[1][(crc >> 8) & 0xff] ^ zeros[2][(crc >> 16) & 0xff] ^ zeros[3][crc >> 24];
}

static inline uint64_t spate_load64(const unsigned char *p) {
    uint64_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

__attribute__((target("sse4.2"))) static uint32_t spate_crc32c_sse42(uint32_t crc, const void *data, size_t length) {
    const unsigned char *next = (const unsigned char *)data;
    uint64_t crc0 = (uint32_t)~crc;

    // Align to 8 bytes so that the 64-bit loads do not straddle cache lines.
    while (length > 0 && ((uintptr_t)next & 7) != 0) {
        crc0 = _mm_crc32_u8((uint32_t)crc0, *next);
        next++;
        length--;
    }

    // Three streams of LONG bytes each: the instruction's 3-cycle latency is hidden behind 1-cycle throughput.
    while (length >= (size_t)SPATE_CRC32C_LONG * 3) {
        uint64_t crc1 = 0;
        uint64_t crc2 = 0;
        const unsigned char *end = next + SPATE_CRC32C_LONG;
        do {
            crc0 = _mm_crc32_u64(crc0, spate_load64(next));
            crc1 = _mm_crc32_u64(crc1, spate_load64(next + SPATE_CRC32C_LONG));
            crc2 = _mm_crc32_u64(crc2, spate_load64(next + SPATE_CRC32C_LONG * 2));
            next += 8;
        } while (next < end);
        crc0 = spate_crc32c_shift(spate_crc32c_long, (uint32_t)crc0) ^ crc1;
        crc0 = spate_crc32c_shift(spate_crc32c_long, (uint32_t)crc0) ^ crc2;
        next += SPATE_CRC32C_LONG * 2;
        length -= (size_t)SPATE_CRC32C_LONG * 3;
    }

    // The same with SHORT-byte streams.
    while (length >= (size_t)SPATE_CRC32C_SHORT * 3) {
        uint64_t crc1 = 0;
        uint64_t crc2 = 0;
        const unsigned char *end = next + SPATE_CRC32C_SHORT;
        do {
            crc0 = _mm_crc32_u64(crc0, spate_load64(next));
            crc1 = _mm_crc32_u64(crc1, spate_load64(next + SPATE_CRC32C_SHORT));
            crc2 = _mm_crc32_u64(crc2, spate_load64(next + SPATE_CRC32C_SHORT * 2));
            next += 8;
        } while (next < end);
        crc0 = spate_crc32c_shift(spate_crc32c_short, (uint32_t)crc0) ^ crc1;
        crc0 = spate_crc32c_shift(spate_crc32c_short, (uint32_t)crc0) ^ crc2;
        next += SPATE_CRC32C_SHORT * 2;
        length -= (size_t)SPATE_CRC32C_SHORT * 3;
    }

    // The rest, eight bytes and then one byte at a time.
    while (length >= 8) {
        crc0 = _mm_crc32_u64(crc0, spate_load64(next));
        next += 8;
        length -= 8;
    }
    while (length > 0) {
        crc0 = _mm_crc32_u8((uint32_t)crc0, *next);
        next++;
        length--;
    }
    return ~(uint32_t)crc0;
}

uint32_t spate_crc32c(uint32_t crc, const void *data, size_t length) {
    if (length == 0 || data == NULL) {
        return crc;
    }
    if (__builtin_cpu_supports("sse4.2")) {
        return spate_crc32c_sse42(crc, data, length);
    }
    return spate_crc32c_portable(crc, data, length);
}

#else

uint32_t spate_crc32c(uint32_t crc, const void *data, size_t length) {
    return spate_crc32c_portable(crc, data, length);
}

#endif
