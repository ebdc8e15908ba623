#ifndef CSPATE_CRC32C_H
#define CSPATE_CRC32C_H
#include <stddef.h>
#include <stdint.h>

/// Extends `crc` (0 to start) with `length` bytes at `data`, using SSE4.2 when the CPU has it.
uint32_t spate_crc32c(uint32_t crc, const void *data, size_t length);

/// The portable (table) implementation, exposed for tests and benchmarks.
uint32_t spate_crc32c_portable(uint32_t crc, const void *data, size_t length);

#endif
