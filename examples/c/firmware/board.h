/* What the QEMU boards offer the firmware program (board.c). */
#ifndef BOARD_H
#define BOARD_H

#include <stddef.h>

/* Writes a NUL-terminated string to the host's stdout. */
void board_write(const char *s);
/* Ends the program: QEMU exits 0, or 1 when `failed`. */
void board_exit(int failed);
/* Bytes of stack used so far (highest mark since reset). */
size_t board_stack_used(void);

#endif
