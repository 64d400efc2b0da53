/* A host program on libmyelin: runs the exported model `net` (net.h, net.c
 * from `myelin export --c MODEL --out DIR --name net`) on every sample of a
 * raw input file (NET_INPUT_SIZE values per sample: int8 codes, or
 * little-endian floats for a float model) and prints one line of outputs
 * per sample. With embedded samples it first checks them against the
 * host's outputs.
 *
 *   cc -std=c99 -Icapi/include -IDIR examples/c/host.c DIR/net.c libmyelin.a -o host
 *   ./host inputs.bin
 */
#include <stdio.h>
#include <string.h>

#include "myelin.h"
#include "net.h"

static uint8_t arena[NET_ARENA_SIZE];

static int run(const net_value *x, net_value *y) {
#if NET_IS_INT8
    enum myelin_status s = myelin_run_int8(net_model, NET_MODEL_SIZE, x, NET_INPUT_SIZE, y,
                                           NET_OUTPUT_SIZE, arena, sizeof arena);
#else
    enum myelin_status s = myelin_run_f32(net_model, NET_MODEL_SIZE, x, NET_INPUT_SIZE, y,
                                          NET_OUTPUT_SIZE, arena, sizeof arena);
#endif
    if (s != MYELIN_OK) {
        fprintf(stderr, "host: myelin_run: %s\n", myelin_status_name(s));
        return 1;
    }
    return 0;
}

static void print(const net_value *y) {
    size_t i;
    for (i = 0; i < NET_OUTPUT_SIZE; i++) {
#if NET_IS_INT8
        printf(i ? " %d" : "%d", (int)y[i]);
#else
        printf(i ? " %a" : "%a", (double)y[i]);
#endif
    }
    printf("\n");
}

int main(int argc, char **argv) {
    static net_value x[NET_INPUT_SIZE];
    net_value y[NET_OUTPUT_SIZE];
    FILE *f;
    size_t n = 0;
#ifdef NET_SAMPLES
    size_t k;
    for (k = 0; k < NET_SAMPLES; k++) {
        if (run(net_sample_inputs[k], y)) {
            return 1;
        }
        if (memcmp(y, net_sample_outputs[k], sizeof y) != 0) {
            fprintf(stderr, "host: embedded sample %u: outputs differ from the host's\n",
                    (unsigned)k);
            return 1;
        }
    }
    fprintf(stderr, "host: %u embedded samples equal to the host's\n", (unsigned)NET_SAMPLES);
#endif
    if (argc != 2) {
        fprintf(stderr, "usage: host INPUTS.bin\n");
        return 2;
    }
    f = fopen(argv[1], "rb");
    if (!f) {
        perror(argv[1]);
        return 1;
    }
    while (fread(x, sizeof x[0], NET_INPUT_SIZE, f) == NET_INPUT_SIZE) {
        if (run(x, y)) {
            fclose(f);
            return 1;
        }
        print(y);
        n++;
    }
    fclose(f);
    fprintf(stderr, "host: ran %u samples\n", (unsigned)n);
    return 0;
}
