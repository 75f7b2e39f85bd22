/* Blob validation and the op loop.  Knows no op by name: every op code goes
 * through the op table (op_table.c) for its record check and its kernel. */
#include <string.h>

#include "kernel_util.h"
#include "op_table.h"

static uint32_t at_rd32(const uint8_t *p) {
  return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

const char *at_status_name(int status) {
  switch (status) {
    case AT_OK: return "ok";
    case AT_ERR_BAD_MAGIC: return "bad magic";
    case AT_ERR_BAD_VERSION: return "unsupported format version";
    case AT_ERR_BAD_SIZE: return "truncated blob or bad total size";
    case AT_ERR_BAD_CRC: return "CRC-32 mismatch";
    case AT_ERR_BAD_TABLE: return "tensor or op table out of bounds";
    case AT_ERR_UNSUPPORTED_OP: return "unsupported op code";
    case AT_ERR_BAD_PARAMS: return "op parameters inconsistent with tensor shapes";
    case AT_ERR_ARENA_TOO_SMALL: return "arena too small";
    case AT_ERR_BAD_IO: return "input/output size mismatch";
    case AT_ERR_OUTPUT_TOO_LARGE: return "output larger than the output buffer";
    case AT_ERR_BAD_ALIGNMENT: return "blob or arena not aligned";
    default: return "unknown status";
  }
}

/* Checks that depend only on the blob: every tensor in its region, sizes
 * consistent with the shapes, alignment for word loads. */
static int at_check_tensors(const at_model *m) {
  const at_header *h = m->hdr;
  uint32_t i;
  int d;
  for (i = 0; i < h->n_tensors; ++i) {
    const at_tensor *t = &m->tensors[i];
    uint32_t esize = at_dtype_size(t->dtype);
    uint64_t n = 1, end;
    if (esize == 0 || t->ndim > AT_MAX_DIMS) return AT_ERR_BAD_TABLE;
    for (d = 0; d < t->ndim; ++d) {
      if (t->dims[d] <= 0 || t->dims[d] > 0x1000000) return AT_ERR_BAD_TABLE;
      n *= (uint64_t)t->dims[d];
    }
    if (n * esize != t->nbytes) return AT_ERR_BAD_TABLE;
    if (t->offset % esize) return AT_ERR_BAD_TABLE;
    end = (uint64_t)t->offset + t->nbytes;
    if (t->storage == AT_STORE_BLOB) {
      if (t->offset < h->data_offset || end > h->total_size) return AT_ERR_BAD_TABLE;
    } else if (t->storage == AT_STORE_ARENA) {
      if (end > h->arena_size) return AT_ERR_BAD_TABLE;
    } else {
      return AT_ERR_BAD_TABLE;
    }
  }
  return AT_OK;
}

static int at_check_io(const at_model *m, const at_io_desc *io) {
  const at_tensor *t;
  int d;
  if (io->tensor >= m->hdr->n_tensors) return AT_ERR_BAD_TABLE;
  t = &m->tensors[io->tensor];
  if (t->storage != AT_STORE_ARENA || t->dtype != io->dtype || t->ndim != io->ndim)
    return AT_ERR_BAD_TABLE;
  for (d = 0; d < t->ndim; ++d)
    if (t->dims[d] != io->dims[d]) return AT_ERR_BAD_TABLE;
  return AT_OK;
}

static int at_op_check(const at_model *m, uint32_t opcode, uint32_t n_words, const int32_t *w) {
  const at_op *op = at_op_find(opcode);
  return op ? op->check(m, w, n_words) : AT_ERR_UNSUPPORTED_OP;
}

int at_model_load(at_model *m, const void *blob, uint32_t len) {
  return at_model_load_flags(m, blob, len, 0);
}

int at_model_load_flags(at_model *m, const void *blob, uint32_t len, uint32_t flags) {
  const uint8_t *b = (const uint8_t *)blob;
  const at_header *h = (const at_header *)blob;
  uint32_t total, pos, end, i;
  int st;
  memset(m, 0, sizeof(*m));
  if (len < 16) return AT_ERR_BAD_SIZE;
  if (((uintptr_t)blob & 3u) != 0) return AT_ERR_BAD_ALIGNMENT;
  if (at_rd32(b) != AT_BLOB_MAGIC) return AT_ERR_BAD_MAGIC;
  if (h->version != AT_BLOB_VERSION) return AT_ERR_BAD_VERSION;
  total = h->total_size;
  if (h->header_size != AT_HEADER_SIZE || total < AT_HEADER_SIZE || total > len || (total & 3u))
    return AT_ERR_BAD_SIZE;
  if (!(flags & AT_LOAD_SKIP_CRC) && at_crc32(b + AT_CRC_START, total - AT_CRC_START) != h->crc32)
    return AT_ERR_BAD_CRC;
  /* table bounds */
  if (h->tensors_offset & 3u || h->ops_offset & 3u || h->data_offset & 3u) return AT_ERR_BAD_TABLE;
  if (h->tensors_offset < AT_HEADER_SIZE ||
      (uint64_t)h->tensors_offset + (uint64_t)h->n_tensors * sizeof(at_tensor) > h->ops_offset ||
      (uint64_t)h->ops_offset + h->ops_size > h->data_offset || h->data_offset > total)
    return AT_ERR_BAD_TABLE;
  m->blob = b;
  m->hdr = h;
  m->tensors = (const at_tensor *)(const void *)(b + h->tensors_offset);
  m->ops = b + h->ops_offset;
  st = at_check_tensors(m);
  if (st != AT_OK) return st;
  st = at_check_io(m, &h->input);
  if (st != AT_OK) return st;
  st = at_check_io(m, &h->output);
  if (st != AT_OK) return st;
  /* walk the op records */
  pos = 0;
  end = h->ops_size;
  for (i = 0; i < h->n_ops; ++i) {
    uint32_t word, opcode, n_words;
    if (pos + 4 > end) return AT_ERR_BAD_TABLE;
    word = at_rd32(m->ops + pos);
    opcode = word & 0xFFFFu;
    n_words = word >> 16;
    if (pos + 4 + 4 * n_words > end) return AT_ERR_BAD_TABLE;
    st = at_op_check(m, opcode, n_words, (const int32_t *)(const void *)(m->ops + pos + 4));
    if (st != AT_OK) return st;
    pos += 4 + 4 * n_words;
  }
  if (pos != end) return AT_ERR_BAD_TABLE;
  return AT_OK;
}

int at_model_invoke(at_model *m, uint8_t *arena, uint32_t arena_len, at_layer_hook hook) {
  uint32_t i, pos = 0;
  if (m->hdr == 0) return AT_ERR_BAD_TABLE;
  if (((uintptr_t)arena & 15u) != 0) return AT_ERR_BAD_ALIGNMENT;
  if (arena_len < m->hdr->arena_size) return AT_ERR_ARENA_TOO_SMALL;
  m->arena = arena;
  for (i = 0; i < m->hdr->n_ops; ++i) {
    const uint32_t word = at_rd32(m->ops + pos);
    const uint32_t opcode = word & 0xFFFFu;
    const void *w = m->ops + pos + 4;
    if (hook) hook(i, opcode, 0);
    at_op_find(opcode)->eval(m, w); /* at_model_load checked every op code */
    if (hook) hook(i, opcode, 1);
    pos += 4 + 4 * (word >> 16);
  }
  return AT_OK;
}
