/* Every Cortex-M board: vector table (AT_N_IRQ external vectors, from the board record's n_irq), reset handler (FPU on through CPACR,
 * .data copy, .bss zero), fault handlers.  Every unexpected exception ends in
 * autotiny_fault(), which writes AT_STATUS_FAULT to the mailbox. */
#include <stdint.h>

#ifndef AT_N_IRQ
#error "AT_N_IRQ (external interrupt count) must be defined by the build"
#endif
#define N_IRQ AT_N_IRQ

extern uint32_t __stack_top[];
extern uint32_t __data_load[], __data_start[], __data_end[], __bss_start[], __bss_end[];
extern int main(void);
extern void autotiny_fault(void);

void Reset_Handler(void);
void Default_Handler(void);

typedef void (*at_vector)(void);

__attribute__((section(".isr_vector"), used)) const at_vector at_vectors[16 + N_IRQ] = {
    (at_vector)(uintptr_t)__stack_top, /* initial SP: top of the stack region at the bottom of RAM */
    Reset_Handler,
    Default_Handler, /* NMI */
    Default_Handler, /* HardFault (a stack overflow below RAM lands here or locks up) */
    Default_Handler, /* MemManage */
    Default_Handler, /* BusFault */
    Default_Handler, /* UsageFault */
    [7 ... 15 + N_IRQ] = Default_Handler,
};

#define SCB_CPACR (*(volatile uint32_t *)0xE000ED88u)

#ifdef AT_CORE_M7
#define SCB_CCR (*(volatile uint32_t *)0xE000ED14u)
#define SCB_CCSIDR (*(volatile uint32_t *)0xE000ED80u)
#define SCB_CSSELR (*(volatile uint32_t *)0xE000ED84u)
#define SCB_ICIALLU (*(volatile uint32_t *)0xE000EF50u)
#define SCB_DCISW (*(volatile uint32_t *)0xE000EF60u)

/* The Cortex-M7 runs ~5x slower with its L1 caches off (flash wait states on every fetch);
 * the emulator's cycle model assumes them on, so the firmware must switch them on too. */
static void enable_caches(void) {
  uint32_t ccsidr, sets, ways, way_shift, set, way;
  __asm__ volatile("dsb\n\tisb" ::: "memory");
  SCB_ICIALLU = 0u; /* invalidate the I-cache, then enable it */
  __asm__ volatile("dsb\n\tisb" ::: "memory");
  SCB_CCR |= (1u << 17);
  SCB_CSSELR = 0u; /* level 1 data cache geometry */
  __asm__ volatile("dsb" ::: "memory");
  ccsidr = SCB_CCSIDR;
  sets = ((ccsidr >> 13) & 0x7FFFu) + 1u;
  ways = ((ccsidr >> 3) & 0x3FFu) + 1u;
  way_shift = ways > 1u ? (uint32_t)__builtin_clz(ways - 1u) : 0u;
  for (set = 0; set < sets; set++) /* invalidate every line by set/way (32-byte lines) */
    for (way = 0; way < ways; way++) SCB_DCISW = (way << way_shift) | (set << 5);
  __asm__ volatile("dsb" ::: "memory");
  SCB_CCR |= (1u << 16);
  __asm__ volatile("dsb\n\tisb" ::: "memory");
}
#endif

void Reset_Handler(void) {
  uint32_t *src = __data_load, *dst;
  /* CP10 and CP11 full access: the FPU must be on before any float instruction */
  SCB_CPACR |= (0xFu << 20);
  __asm__ volatile("dsb\n\tisb" ::: "memory");
#ifdef AT_CORE_M7
  enable_caches();
#endif
  for (dst = __data_start; dst < __data_end;) *dst++ = *src++;
  for (dst = __bss_start; dst < __bss_end;) *dst++ = 0;
  main();
  for (;;) {
  }
}

void Default_Handler(void) { autotiny_fault(); }
