/* CRC-32 (IEEE 802.3, reflected, poly 0xEDB88320, init/xorout 0xFFFFFFFF),
 * the same as zlib.crc32.  Nibble table: 64 bytes of flash, two lookups a byte. */
#include "at_runtime.h"

static const uint32_t at_crc_nibble[16] = {
    0x00000000u, 0x1DB71064u, 0x3B6E20C8u, 0x26D930ACu, 0x76DC4190u, 0x6B6B51F4u,
    0x4DB26158u, 0x5005713Cu, 0xEDB88320u, 0xF00F9344u, 0xD6D6A3E8u, 0xCB61B38Cu,
    0x9B64C2B0u, 0x86D3D2D4u, 0xA00AE278u, 0xBDBDF21Cu};

uint32_t at_crc32(const uint8_t *data, uint32_t len) {
  uint32_t crc = 0xFFFFFFFFu;
  uint32_t i;
  for (i = 0; i < len; ++i) {
    crc ^= data[i];
    crc = (crc >> 4) ^ at_crc_nibble[crc & 15u];
    crc = (crc >> 4) ^ at_crc_nibble[crc & 15u];
  }
  return crc ^ 0xFFFFFFFFu;
}
