/* The few CMSIS-Core compiler macros CMSIS-DSP's headers use (arm_math_types.h includes
 * "cmsis_compiler.h"; the PyPI sdist ships CMSIS-DSP without CMSIS-Core).  GCC only; written
 * from GCC's attribute syntax.  The f32 MFCC path needs no DSP-extension intrinsics. */
#ifndef AT_CMSIS_COMPILER_H
#define AT_CMSIS_COMPILER_H
#include <stdint.h>
#ifndef __ASM
#define __ASM __asm
#endif
#define __INLINE inline
#define __STATIC_INLINE static inline
#define __STATIC_FORCEINLINE __attribute__((always_inline)) static inline
#define __ALIGNED(x) __attribute__((aligned(x)))
#define __WEAK __attribute__((weak))
#define __PACKED __attribute__((packed))
#define __USED __attribute__((used))
#define __RESTRICT __restrict
#define __NO_RETURN __attribute__((__noreturn__))
__STATIC_FORCEINLINE uint8_t __CLZ(uint32_t x) { return x == 0u ? 32u : (uint8_t)__builtin_clz(x); }
#endif
