/* Bare-metal start-up and output for the QEMU Cortex-M boards, in C:
 * the vector table, a reset handler that sets up .data/.bss (and the FPU on
 * cores that have one) and calls main(), fault handlers that exit with
 * failure, and Arm semihosting for text output and the exit status.
 * No C library is needed: libmyelin.a brings memcpy/memset/memcmp. */
#include <stddef.h>
#include <stdint.h>

#include "board.h"

extern uint32_t __data_load, __data_start, __data_end, __bss_start, __bss_end;
extern uint32_t __stack_top, __stack_bottom;
int main(void);

/* Semihosting call `op` with argument `arg` (BKPT 0xAB on M profile). */
static uint32_t semihost(uint32_t op, const void *arg) {
    register uint32_t r0 __asm__("r0") = op;
    register const void *r1 __asm__("r1") = arg;
    __asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

void board_write(const char *s) {
    semihost(0x04 /* SYS_WRITE0 */, s);
}

void board_exit(int failed) {
    /* SYS_EXIT: ADP_Stopped_ApplicationExit (status 0) or RunTimeErrorUnknown (1). */
    semihost(0x18, (const void *)(uintptr_t)(failed ? 0x20023u : 0x20026u));
    for (;;) {
    }
}

/* What libmyelin's panic handler calls (a bug, never a bad input). */
void abort(void) {
    board_write("ERROR abort\n");
    board_exit(1);
}

static void fault(void) {
    board_write("ERROR fault\n");
    board_exit(1);
}

#define STACK_PAINT 0xA5A5A5A5u

size_t board_stack_used(void) {
    const uint32_t *p = &__stack_bottom;
    while (p < &__stack_top && *p == STACK_PAINT) {
        p++;
    }
    return (size_t)((const uint8_t *)&__stack_top - (const uint8_t *)p);
}

void reset(void) {
    uint32_t *src = &__data_load, *dst = &__data_start;
    uint32_t *sp;
    while (dst < &__data_end) {
        *dst++ = *src++;
    }
    for (dst = &__bss_start; dst < &__bss_end; dst++) {
        *dst = 0;
    }
#if defined(__ARM_FP)
    /* CP10 and CP11 full access before any floating-point instruction. */
    *(volatile uint32_t *)0xE000ED88u |= 0xFu << 20;
    __asm__ volatile("dsb\n\tisb" ::: "memory");
#endif
    /* Paint the unused stack below the current frame, for board_stack_used. */
    __asm__ volatile("mov %0, sp" : "=r"(sp));
    for (dst = &__stack_bottom; dst < sp - 16; dst++) {
        *dst = STACK_PAINT;
    }
    board_exit(main() != 0);
}

typedef void (*vector)(void);

__attribute__((section(".vectors"), used)) static const vector vectors[16] = {
    (vector)(uintptr_t)&__stack_top,
    reset,
    fault, /* NMI */
    fault, /* HardFault */
    fault, /* MemManage */
    fault, /* BusFault */
    fault, /* UsageFault */
    fault, /* SecureFault (v8-M) */
    0,     0, 0,
    fault, /* SVCall */
    fault, /* DebugMonitor */
    0,
    fault, /* PendSV */
    fault, /* SysTick */
};
