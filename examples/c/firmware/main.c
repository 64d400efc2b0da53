/* The C firmware program: runs the exported model `net` (net.h, net.c from
 * `myelin export --c MODEL --out DIR --name net --samples-from ... --samples N`)
 * through libmyelin on every embedded sample, prints each sample's output
 * codes, and checks them against the host's. The last line is
 * `C firmware: K/N outputs equal to the host's`; exit status 1 on any
 * difference or error. */
#include <stdint.h>
#include <string.h>

#include "board.h"
#include "myelin.h"
#include "net.h"

static uint8_t arena[NET_ARENA_SIZE];

/* Stores to this word bracket the measured inference for `cargo xtask
 * report`'s instruction-count plugin (found by name in the ELF). */
__attribute__((section(".uninit.INSN_MARK"))) volatile uint32_t INSN_MARK;

/* `v` in decimal at `p`; returns the end. */
static char *put_int(char *p, long v) {
    char tmp[12];
    int n = 0;
    unsigned long u = v < 0 ? 0ul - (unsigned long)v : (unsigned long)v;
    if (v < 0) {
        *p++ = '-';
    }
    do {
        tmp[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    while (n) {
        *p++ = tmp[--n];
    }
    return p;
}

static char *put_str(char *p, const char *s) {
    while (*s) {
        *p++ = *s++;
    }
    return p;
}

int main(void) {
    static char line[128 + 5 * NET_OUTPUT_SIZE];
    int8_t y[NET_OUTPUT_SIZE];
    unsigned k, i, same = 0;
    for (k = 0; k < NET_SAMPLES; k++) {
        enum myelin_status s;
        char *p = line;
        if (k == 0) {
            INSN_MARK = 1;
        }
        s = myelin_run_int8(net_model, NET_MODEL_SIZE, net_sample_inputs[k], NET_INPUT_SIZE, y,
                            NET_OUTPUT_SIZE, arena, sizeof arena);
        if (k == 0) {
            INSN_MARK = 1;
        }
        if (s != MYELIN_OK) {
            p = put_str(p, "ERROR myelin_run_int8: ");
            p = put_str(p, myelin_status_name(s));
            put_str(p, "\n")[0] = 0;
            board_write(line);
            return 1;
        }
        p = put_str(p, "sample ");
        p = put_int(p, (long)k);
        p = put_str(p, ":");
        for (i = 0; i < NET_OUTPUT_SIZE; i++) {
            p = put_str(p, " ");
            p = put_int(p, y[i]);
        }
        put_str(p, "\n")[0] = 0;
        board_write(line);
        same += memcmp(y, net_sample_outputs[k], sizeof y) == 0;
    }
    {
        char *p = put_str(line, "C firmware: ");
        p = put_int(p, (long)same);
        p = put_str(p, "/");
        p = put_int(p, NET_SAMPLES);
        p = put_str(p, " outputs equal to the host's; arena ");
        p = put_int(p, (long)sizeof arena);
        p = put_str(p, " B, stack ");
        p = put_int(p, (long)board_stack_used());
        put_str(p, " B\n")[0] = 0;
        board_write(line);
        /* The first inference, for `cargo xtask report`: weights = the model
         * file, data = the embedded samples. */
        p = put_str(line, "report model=" NET_MODEL_NAME " dtype=int8 macs=");
        p = put_int(p, NET_MACS);
        p = put_str(p, " weights_bytes=");
        p = put_int(p, NET_MODEL_SIZE);
        p = put_str(p, " data_bytes=");
        p = put_int(p, (long)(sizeof net_sample_inputs + sizeof net_sample_outputs));
        p = put_str(p, " stack_bytes=");
        p = put_int(p, (long)board_stack_used());
        p = put_str(p, " arena_bytes=");
        p = put_int(p, (long)sizeof arena);
        put_str(p, "\n")[0] = 0;
        board_write(line);
    }
    return same == NET_SAMPLES ? 0 : 1;
}
