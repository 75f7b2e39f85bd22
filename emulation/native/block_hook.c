/* autotiny emulator: native Unicorn basic-block hook.
 *
 * Registered with uc_hook_add(UC_HOOK_BLOCK) through ctypes.  For every basic
 * block Unicorn executes it adds the block's static cost (instructions,
 * cycles) from an open-addressing table, plus a branch penalty chosen by the
 * previous block's outcome (taken = this block is not the previous block's
 * fall-through) and the prediction of a per-block saturating counter (0..pred_max:
 * pred_max 1 = the last outcome, 3 = a 2-bit counter; predicted taken in the upper half).  A block seen for
 * the first time is costed by a Python callback (capstone + cycle tables) once;
 * after that everything stays in C.  Calls into Unicorn (register read, stop)
 * go through function pointers handed over by Python, so this file needs no
 * Unicorn headers or library at link time.
 *
 * Built at first use with the system cc into $AUTOTINY_CACHE/build/emuhook-<hash>/.
 */
#include <stdint.h>
#include <string.h>

typedef struct at_block {
  uint32_t addr;     /* block start */
  uint32_t size;     /* bytes; 0 = empty slot */
  uint32_t insns;    /* instructions in the block */
  uint32_t cycles;   /* static cost of the block, branch not taken */
  int32_t pen[4];    /* extra cycles by (prediction << 1 | outcome), 1 = taken; signed: a block
                        split without a branch carries its join with the next (cycles.block_cost) */
  uint32_t last;     /* predictor counter of this block's branch, 0..pred_max */
  uint32_t end;      /* fall-through address: addr + size */
  uint64_t count;    /* executions (profile) */
  struct at_block *succ[2]; /* lookup cache: last successor, fall-through [0] and taken [1] */
} at_block;          /* 64 bytes: one cache line */

typedef struct {
  uint32_t op, opcode, phase, pad;
  uint64_t cycles, insns;
} at_event;          /* 32 bytes */

typedef int (*at_miss_fn)(uint32_t addr, uint32_t size, at_block *out);
typedef int (*at_reg_read_fn)(void *uc, int regid, void *value);
typedef int (*at_stop_fn)(void *uc);

typedef struct {
  uint64_t cycles;         /* running cycle count (DWT CYCCNT reads it) */
  uint64_t insns;          /* running instruction count */
  uint64_t max_insns;      /* cap: stop when insns exceeds it */
  uint32_t cap_hit;        /* set when the cap stopped the run */
  uint32_t miss_error;     /* set when the cost callback failed or the pool is full */
  uint32_t boundary_addr;  /* address of autotiny_layer_boundary (0 = none) */
  uint32_t n_events, cap_events;
  uint32_t mask;           /* index size - 1 (power of two) */
  uint32_t n_blocks;       /* blocks in the pool */
  uint32_t cap_blocks;     /* pool capacity */
  at_block *prev;          /* previous block (NULL at the start of a run) */
  uint32_t *index;         /* open-addressing hash: pool index + 1, 0 = empty */
  at_block *pool;          /* blocks, densely in order of first execution (hot set stays in L1) */
  at_event *events;
  at_miss_fn miss;
  at_reg_read_fn reg_read;
  at_stop_fn stop;
  int reg_r0;              /* UC_ARM_REG_R0 (R1, R2 follow) */
  uint32_t pred_max;       /* predictor counter maximum: 1 (last outcome) or 3 (2-bit counter) */
} at_state;

static at_block *lookup(at_state *s, uint32_t addr, uint32_t size) {
  uint32_t i = (addr >> 1) * 2654435761u & s->mask;
  for (;;) {
    uint32_t k = s->index[i];
    if (k == 0) {
      at_block *b;
      if (s->n_blocks >= s->cap_blocks || s->n_blocks * 2 >= s->mask) return 0; /* full */
      b = &s->pool[s->n_blocks];
      memset(b, 0, sizeof *b);
      b->addr = addr;
      b->size = size;
      b->end = addr + size;
      if (s->miss(addr, size, b) != 0) return 0;
      s->index[i] = ++s->n_blocks;
      return b;
    }
    if (s->pool[k - 1].addr == addr && s->pool[k - 1].size == size) return &s->pool[k - 1];
    i = (i + 1) & s->mask;
  }
}

void at_block_hook(void *uc, uint64_t address, uint32_t size, void *user) {
  at_state *s = (at_state *)user;
  uint32_t addr = (uint32_t)address;
  at_block *p = s->prev, *b;
  if (p) {
    uint32_t taken = addr != p->end, c = p->last;
    s->cycles += (uint64_t)(int64_t)p->pen[((c << 1 > s->pred_max) << 1) | taken];
    p->last = taken ? c + (c < s->pred_max) : c - (c > 0);
    b = p->succ[taken];
    if (__builtin_expect(!b || b->addr != addr || b->size != size, 0)) b = p->succ[taken] = lookup(s, addr, size);
  } else {
    b = lookup(s, addr, size);
  }
  if (__builtin_expect(addr == s->boundary_addr, 0) && s->n_events < s->cap_events) {
    at_event *e = &s->events[s->n_events++];
    uint32_t r[3] = {0, 0, 0};
    s->reg_read(uc, s->reg_r0, &r[0]);
    s->reg_read(uc, s->reg_r0 + 1, &r[1]);
    s->reg_read(uc, s->reg_r0 + 2, &r[2]);
    e->op = r[0];
    e->opcode = r[1];
    e->phase = r[2];
    e->cycles = s->cycles;
    e->insns = s->insns;
  }
  if (__builtin_expect(!b, 0)) {
    s->miss_error = 1;
    s->prev = 0;
    s->stop(uc);
    return;
  }
  s->cycles += b->cycles;
  s->insns += b->insns;
  b->count++;
  s->prev = b;
  if (__builtin_expect(s->insns > s->max_insns, 0) && !s->cap_hit) {
    s->cap_hit = 1;
    s->stop(uc);
  }
}

uint32_t at_state_size(void) { return (uint32_t)sizeof(at_state); }
uint32_t at_block_size(void) { return (uint32_t)sizeof(at_block); }

/* Unicorn UC_HOOK_TLB_FILL callback (virtual TLB, uc_ctl_tlb_mode UC_TLB_VIRTUAL): one page's
 * permissions.  Unicorn 2.1 keeps every store to a page whose TLB entry is executable on its slow
 * path (store helper, memory-region lookup, translated-code invalidation), and with the CPU TLB the
 * Armv7-M default memory map makes SRAM executable.  So: the default map's permissions (execute
 * never at 0x40000000-0x5FFFFFFF and from 0xA0000000), except that RAM pages are executable only
 * when the access is an instruction fetch (firmware that runs code from RAM still runs).
 *
 * Unicorn restores the guest state (PC and the IT-block state) from the translated block before it
 * calls this hook, also when the fill is no fault.  QEMU keeps the IT state in the CPU at 0 while a
 * block runs (a block that ends inside an IT block writes it back): a state restored in the middle of
 * an IT block would survive the block and make the next block run as if inside one.  So the hook
 * clears the IT bits again (xPSR IT[1:0] bits 25-26, IT[7:2] bits 10-15). */
typedef struct { uint64_t paddr; int perms; } at_tlb_entry; /* uc_tlb_entry */
typedef struct {
  uint32_t ram_lo, ram_hi; /* RAM: [ram_lo, ram_hi) */
  int reg_xpsr;            /* UC_ARM_REG_XPSR */
  int pad;
  at_reg_read_fn reg_read;
  at_reg_read_fn reg_write; /* same signature: (uc, regid, const void *value) */
} at_memmap;

enum { AT_PROT_READ = 1, AT_PROT_WRITE = 2, AT_PROT_EXEC = 4, AT_MEM_FETCH = 18 };
#define AT_XPSR_IT 0x0600FC00u

/* Armv7-M default memory map: Peripheral, Device and System regions are execute-never */
int at_execute_never(uint32_t a) { return (a >= 0x40000000u && a < 0x60000000u) || a >= 0xA0000000u; }

int at_tlb_fill(void *uc, uint64_t vaddr, int type, at_tlb_entry *e, void *user) {
  const at_memmap *m = (const at_memmap *)user;
  uint32_t a = (uint32_t)vaddr, xpsr = 0;
  if (m->reg_read(uc, m->reg_xpsr, &xpsr) == 0 && (xpsr & AT_XPSR_IT)) {
    xpsr &= ~AT_XPSR_IT;
    m->reg_write(uc, m->reg_xpsr, &xpsr);
  }
  e->paddr = vaddr;
  e->perms = AT_PROT_READ | AT_PROT_WRITE | (at_execute_never(a) ? 0 : AT_PROT_EXEC);
  if (a >= m->ram_lo && a < m->ram_hi && type != AT_MEM_FETCH) e->perms &= ~AT_PROT_EXEC;
  return 1;
}
