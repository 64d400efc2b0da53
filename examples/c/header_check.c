/* myelin.h and an exported model's header compile warning-free as C99:
 *   cc -std=c99 -Wall -Wextra -Werror -pedantic -c header_check.c */
#include "myelin.h"
#include "net.h"

/* Every function called with the types a C caller has, so that a wrong
 * prototype or a missing declaration is an error. */
int header_check(void);
int header_check(void) {
    static uint8_t arena[NET_ARENA_SIZE];
    static int8_t x[NET_INPUT_SIZE], y[NET_OUTPUT_SIZE];
    static float fx[NET_INPUT_SIZE], fy[NET_OUTPUT_SIZE];
    size_t v = 0;
    float scale = 0.0f;
    int8_t zp = 0;
    enum myelin_dtype d = NET_DTYPE;
    int sum = MYELIN_ABI_VERSION;
    sum += myelin_check(net_model, NET_MODEL_SIZE);
    sum += myelin_arena_size(net_model, NET_MODEL_SIZE, &v);
    sum += myelin_input_size(net_model, NET_MODEL_SIZE, &v);
    sum += myelin_output_size(net_model, NET_MODEL_SIZE, &v);
    sum += myelin_model_dtype(net_model, NET_MODEL_SIZE, &d);
    sum += myelin_input_quant(net_model, NET_MODEL_SIZE, &scale, &zp);
    sum += myelin_output_quant(net_model, NET_MODEL_SIZE, &scale, &zp);
    sum += myelin_run_int8(net_model, NET_MODEL_SIZE, x, NET_INPUT_SIZE, y, NET_OUTPUT_SIZE,
                           arena, sizeof arena);
    sum += myelin_run_f32(net_model, NET_MODEL_SIZE, fx, NET_INPUT_SIZE, fy, NET_OUTPUT_SIZE,
                          arena, sizeof arena);
    sum += myelin_status_name(MYELIN_OK)[0];
    return sum + (int)d + (int)v + zp;
}
