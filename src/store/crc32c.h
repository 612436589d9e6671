/*
 * store/crc32c.h - CRC-32C (Castagnoli), the checksum of the fs store's
 * records.
 *
 * Hardware (SSE4.2, x86-64, chosen at run time) or software (table
 * driven); both reentrant.  Not exported (wr__ prefix).
 */
#ifndef WR_CRC32C_H
#define WR_CRC32C_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Continues a CRC-32C over buf[0..n): pass crc = 0 for the first chunk and
 * the previous result for the next ones.  crc("123456789") == 0xe3069283. */
uint32_t wr__crc32c(uint32_t crc, const void *buf, size_t n);

/* The same CRC, always the table-driven code (the fallback; tests compare
 * it with wr__crc32c). */
uint32_t wr__crc32c_portable(uint32_t crc, const void *buf, size_t n);

/* True if wr__crc32c uses the CPU's CRC32 instruction here. */
bool wr__crc32c_hw_available(void);

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define WR_CRC32C_HW 1
#else
#define WR_CRC32C_HW 0
#endif

#endif /* WR_CRC32C_H */
