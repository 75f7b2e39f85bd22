/* Blob validation and the op dispatcher. */
#include <string.h>

#include "kernels.h"

#define AT_N_WORDS(T) ((uint16_t)(sizeof(T) / sizeof(int32_t)))

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

static uint32_t at_dtype_size(int dtype) {
  return dtype == AT_INT8 ? 1u : (dtype == AT_INT32 || dtype == AT_FLOAT32) ? 4u : 0u;
}

int32_t at_elem_count(const at_tensor *t) {
  int32_t n = 1;
  int i;
  for (i = 0; i < t->ndim; ++i) n *= t->dims[i];
  return n;
}

void at_dims6(const at_tensor *t, int32_t out[6]) {
  int i, k = t->ndim - 1;
  for (i = 5; i >= 0; --i) out[i] = k >= 0 ? t->dims[k--] : 1;
}

void *at_tensor_ptr(const at_model *m, uint32_t index) {
  const at_tensor *t = &m->tensors[index];
  if (t->storage == AT_STORE_BLOB) return (void *)(m->blob + t->offset);
  return m->arena + t->offset;
}

const at_tensor *at_tensor_checked(const at_model *m, int32_t index, int dtype, int min_ndim,
                                   int max_ndim) {
  const at_tensor *t;
  if (index < 0 || index >= (int32_t)m->hdr->n_tensors) return 0;
  t = &m->tensors[index];
  if (dtype && t->dtype != dtype) return 0;
  if (t->ndim < min_ndim || t->ndim > max_ndim) return 0;
  return t;
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
#define AT_CHECK(T, fn)                                       \
  do {                                                        \
    if (n_words != AT_N_WORDS(T)) return AT_ERR_BAD_TABLE;    \
    return fn(m, (const T *)(const void *)w);                 \
  } while (0)
  switch (opcode) {
    case AT_OP_CONV_2D: AT_CHECK(at_conv_params, at_conv_check);
    case AT_OP_DEPTHWISE_CONV_2D: AT_CHECK(at_dwconv_params, at_dwconv_check);
    case AT_OP_FULLY_CONNECTED: AT_CHECK(at_fc_params, at_fc_check);
    case AT_OP_AVERAGE_POOL_2D:
    case AT_OP_MAX_POOL_2D: AT_CHECK(at_pool_params, at_pool_check);
    case AT_OP_ADD: AT_CHECK(at_add_params, at_add_check);
    case AT_OP_MEAN: AT_CHECK(at_mean_params, at_mean_check);
    case AT_OP_PAD: AT_CHECK(at_pad_params, at_pad_check);
    case AT_OP_RESHAPE: AT_CHECK(at_reshape_params, at_reshape_check);
    case AT_OP_SOFTMAX: AT_CHECK(at_softmax_params, at_softmax_check);
    case AT_OP_QUANTIZE: AT_CHECK(at_quantize_params, at_quantize_check);
    case AT_OP_DEQUANTIZE: AT_CHECK(at_quantize_params, at_dequantize_check);
    case AT_OP_REQUANTIZE: AT_CHECK(at_requantize_params, at_requantize_check);
    case AT_OP_CONCATENATION: return at_concat_check(m, (const at_concat_params *)(const void *)w, n_words);
    default: return AT_ERR_UNSUPPORTED_OP;
  }
#undef AT_CHECK
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
    switch (opcode) {
      case AT_OP_CONV_2D: at_conv_eval(m, (const at_conv_params *)w); break;
      case AT_OP_DEPTHWISE_CONV_2D: at_dwconv_eval(m, (const at_dwconv_params *)w); break;
      case AT_OP_FULLY_CONNECTED: at_fc_eval(m, (const at_fc_params *)w); break;
      case AT_OP_AVERAGE_POOL_2D: at_avgpool_eval(m, (const at_pool_params *)w); break;
      case AT_OP_MAX_POOL_2D: at_maxpool_eval(m, (const at_pool_params *)w); break;
      case AT_OP_ADD: at_add_eval(m, (const at_add_params *)w); break;
      case AT_OP_MEAN: at_mean_eval(m, (const at_mean_params *)w); break;
      case AT_OP_PAD: at_pad_eval(m, (const at_pad_params *)w); break;
      case AT_OP_RESHAPE: at_reshape_eval(m, (const at_reshape_params *)w); break;
      case AT_OP_SOFTMAX: at_softmax_eval(m, (const at_softmax_params *)w); break;
      case AT_OP_QUANTIZE: at_quantize_eval(m, (const at_quantize_params *)w); break;
      case AT_OP_DEQUANTIZE: at_dequantize_eval(m, (const at_quantize_params *)w); break;
      case AT_OP_REQUANTIZE: at_requantize_eval(m, (const at_requantize_params *)w); break;
      case AT_OP_CONCATENATION: at_concat_eval(m, (const at_concat_params *)w); break;
      default: return AT_ERR_UNSUPPORTED_OP; /* unreachable after at_model_load */
    }
    if (hook) hook(i, opcode, 1);
    pos += 4 + 4 * (word >> 16);
  }
  return AT_OK;
}

/* CONCATENATION, int8 (TFLM copies the bytes of each input, no rescaling). */
int at_concat_check(const at_model *m, const at_concat_params *p, uint32_t n_words) {
  const at_tensor *out;
  int64_t chunk_sum = 0;
  int32_t i;
  if (n_words < 3 || p->n_inputs < 1 || n_words != 3u + 2u * (uint32_t)p->n_inputs) return AT_ERR_BAD_TABLE;
  out = at_tensor_checked(m, p->output, AT_INT8, 0, AT_MAX_DIMS);
  if (!out || out->storage != AT_STORE_ARENA || p->outer < 1) return AT_ERR_BAD_PARAMS;
  for (i = 0; i < p->n_inputs; ++i) {
    const at_tensor *in = at_tensor_checked(m, p->inputs[i][0], AT_INT8, 0, AT_MAX_DIMS);
    if (!in || p->inputs[i][1] < 0 || (int64_t)p->inputs[i][1] * p->outer != (int64_t)in->nbytes)
      return AT_ERR_BAD_PARAMS;
    chunk_sum += p->inputs[i][1];
  }
  if (chunk_sum * p->outer != (int64_t)out->nbytes) return AT_ERR_BAD_PARAMS;
  return AT_OK;
}

void at_concat_eval(const at_model *m, const at_concat_params *p) {
  uint8_t *out = (uint8_t *)at_tensor_ptr(m, (uint32_t)p->output);
  int32_t o, i;
  for (o = 0; o < p->outer; ++o) {
    for (i = 0; i < p->n_inputs; ++i) {
      const int32_t chunk = p->inputs[i][1];
      const uint8_t *in = (const uint8_t *)at_tensor_ptr(m, (uint32_t)p->inputs[i][0]);
      memcpy(out, in + (size_t)o * (size_t)chunk, (size_t)chunk);
      out += chunk;
    }
  }
}

/* RESHAPE: same bytes, new shape.  The planner usually aliases input and
 * output, in which case this is a no-op. */
int at_reshape_check(const at_model *m, const at_reshape_params *p) {
  const at_tensor *in = at_tensor_checked(m, p->input, 0, 0, AT_MAX_DIMS);
  const at_tensor *out = at_tensor_checked(m, p->output, 0, 0, AT_MAX_DIMS);
  if (!in || !out || out->storage != AT_STORE_ARENA || in->nbytes != out->nbytes ||
      in->dtype != out->dtype)
    return AT_ERR_BAD_PARAMS;
  return AT_OK;
}

void at_reshape_eval(const at_model *m, const at_reshape_params *p) {
  const void *src = at_tensor_ptr(m, (uint32_t)p->input);
  void *dst = at_tensor_ptr(m, (uint32_t)p->output);
  if (src != dst) memmove(dst, src, m->tensors[p->output].nbytes);
}
