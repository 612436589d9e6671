/*
 * store/crc32c.h - CRC-32C (Castagnoli), the checksum of the fs store's
 * records.
 *
 * Software, table driven, reentrant.  Not exported (wr__ prefix).
 */
#ifndef WR_CRC32C_H
#define WR_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* Continues a CRC-32C over buf[0..n): pass crc = 0 for the first chunk and
 * the previous result for the next ones.  crc("123456789") == 0xe3069283. */
uint32_t wr__crc32c(uint32_t crc, const void *buf, size_t n);

#endif /* WR_CRC32C_H */
