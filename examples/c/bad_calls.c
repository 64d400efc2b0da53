/* Every bad call of the C API returns its error code, from C: null
 * pointers, short or corrupt or foreign blobs, wrong lengths, small or
 * misaligned or overlapping buffers, the wrong arithmetic. Needs two
 * exported models with embedded samples: `net` (int8) and `fnet` (float).
 * Prints one line per failed check and `N passed, N failed`; exits 1 on any
 * failure. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "fnet.h"
#include "myelin.h"
#include "net.h"

static unsigned passed, failed;

static void expect(int line, enum myelin_status got, enum myelin_status want) {
    if (got == want) {
        passed++;
    } else {
        failed++;
        printf("bad_calls.c:%d: got %s, expected %s\n", line, myelin_status_name(got),
               myelin_status_name(want));
    }
}

static void truth(int line, int ok, const char *what) {
    if (ok) {
        passed++;
    } else {
        failed++;
        printf("bad_calls.c:%d: %s\n", line, what);
    }
}

#define EXPECT(call, want) expect(__LINE__, (call), (want))
#define TRUTH(cond) truth(__LINE__, (cond), #cond)

/* Room for a copy of the larger model and a misaligned start. */
#define COPY_SIZE (FNET_MODEL_SIZE > NET_MODEL_SIZE ? FNET_MODEL_SIZE : NET_MODEL_SIZE)
static uint8_t copy[COPY_SIZE + 32];
static uint8_t arena[(NET_ARENA_SIZE > FNET_ARENA_SIZE ? NET_ARENA_SIZE : FNET_ARENA_SIZE) + 8];

/* A fresh copy of the int8 model at copy + at. */
static uint8_t *fresh(size_t at) {
    memcpy(copy + at, net_model, NET_MODEL_SIZE);
    return copy + at;
}

static void blobs(void) {
    const uint8_t *m = net_model;
    const size_t n = NET_MODEL_SIZE;
    static const uint8_t foreign[64] = {0x18, 0, 0, 0, 'T', 'F', 'L', '3'};
    uint8_t *c;

    EXPECT(myelin_check(m, n), MYELIN_OK);
    EXPECT(myelin_check(NULL, n), MYELIN_NULL_POINTER);
    EXPECT(myelin_check(m, 0), MYELIN_TRUNCATED);
    EXPECT(myelin_check(m, 7), MYELIN_TRUNCATED);
    EXPECT(myelin_check(m, n - 1), MYELIN_TRUNCATED);
    EXPECT(myelin_check(foreign, sizeof foreign), MYELIN_NOT_A_MODEL);
    c = fresh(0);
    c[n / 2] ^= 0x40;
    EXPECT(myelin_check(c, n), MYELIN_CORRUPT_MODEL);
    c = fresh(0);
    c[8] = 0x63; /* format version 99 */
    EXPECT(myelin_check(c, n), MYELIN_UNSUPPORTED_VERSION);
    c = fresh(0);
    memset(c + n, 0, 16);
    EXPECT(myelin_check(c, n + 16), MYELIN_BAD_MODEL); /* bytes past the file */
    c = fresh(1);
    EXPECT(myelin_check(c, n), MYELIN_OK); /* any alignment */
}

static void queries(void) {
    const uint8_t *m = net_model;
    const size_t n = NET_MODEL_SIZE;
    size_t v = 0;
    float scale = 0;
    int8_t zp = 0;
    enum myelin_dtype d;

    EXPECT(myelin_arena_size(m, n, &v), MYELIN_OK);
    TRUTH(v == NET_ARENA_SIZE);
    EXPECT(myelin_arena_size(m, n, NULL), MYELIN_NULL_POINTER);
    EXPECT(myelin_arena_size(NULL, n, &v), MYELIN_NULL_POINTER);
    EXPECT(myelin_input_size(m, n, &v), MYELIN_OK);
    TRUTH(v == NET_INPUT_SIZE);
    EXPECT(myelin_output_size(m, n, &v), MYELIN_OK);
    TRUTH(v == NET_OUTPUT_SIZE);
    EXPECT(myelin_output_size(m, n - 4, &v), MYELIN_TRUNCATED);
    EXPECT(myelin_input_size(m, n, NULL), MYELIN_NULL_POINTER);
    EXPECT(myelin_model_dtype(m, n, &d), MYELIN_OK);
    TRUTH(d == MYELIN_DTYPE_INT8);
    EXPECT(myelin_model_dtype(fnet_model, FNET_MODEL_SIZE, &d), MYELIN_OK);
    TRUTH(d == MYELIN_DTYPE_F32);
    EXPECT(myelin_model_dtype(m, n, NULL), MYELIN_NULL_POINTER);
    EXPECT(myelin_input_quant(m, n, &scale, &zp), MYELIN_OK);
    TRUTH(scale == NET_INPUT_SCALE && zp == NET_INPUT_ZERO_POINT);
    EXPECT(myelin_output_quant(m, n, &scale, &zp), MYELIN_OK);
    TRUTH(scale == NET_OUTPUT_SCALE && zp == NET_OUTPUT_ZERO_POINT);
    EXPECT(myelin_input_quant(m, n, NULL, &zp), MYELIN_NULL_POINTER);
    EXPECT(myelin_output_quant(m, n, &scale, NULL), MYELIN_NULL_POINTER);
    EXPECT(myelin_input_quant(fnet_model, FNET_MODEL_SIZE, &scale, &zp), MYELIN_WRONG_DTYPE);
    EXPECT(myelin_arena_size(fnet_model, FNET_MODEL_SIZE, &v), MYELIN_OK);
    TRUTH(v == FNET_ARENA_SIZE);
}

static void runs_int8(void) {
    const uint8_t *m = net_model;
    const size_t n = NET_MODEL_SIZE, in = NET_INPUT_SIZE, out = NET_OUTPUT_SIZE;
    const size_t a = NET_ARENA_SIZE;
    const int8_t *x = net_sample_inputs[0];
    int8_t y[NET_OUTPUT_SIZE + 1];
    static int8_t xs[NET_INPUT_SIZE + 1];
    uint8_t *c;

    EXPECT(myelin_run_int8(m, n, x, in, y, out, arena, a), MYELIN_OK);
    TRUTH(memcmp(y, net_sample_outputs[0], out) == 0);
    EXPECT(myelin_run_int8(m, n, x, in, y, out, arena + 1, a), MYELIN_OK); /* odd arena */
    TRUTH(memcmp(y, net_sample_outputs[0], out) == 0);
    memset(y, 0x55, sizeof y);
    EXPECT(myelin_run_int8(NULL, n, x, in, y, out, arena, a), MYELIN_NULL_POINTER);
    EXPECT(myelin_run_int8(m, n, NULL, in, y, out, arena, a), MYELIN_NULL_POINTER);
    EXPECT(myelin_run_int8(m, n, x, in, NULL, out, arena, a), MYELIN_NULL_POINTER);
    EXPECT(myelin_run_int8(m, n, x, in, y, out, NULL, a), MYELIN_NULL_POINTER);
    EXPECT(myelin_run_int8(m, n, x, in - 1, y, out, arena, a), MYELIN_BUFFER_LENGTH);
    EXPECT(myelin_run_int8(m, n, x, in + 1, y, out, arena, a), MYELIN_BUFFER_LENGTH);
    EXPECT(myelin_run_int8(m, n, x, in, y, out - 1, arena, a), MYELIN_BUFFER_LENGTH);
    EXPECT(myelin_run_int8(m, n, x, in, y, out + 1, arena, a), MYELIN_BUFFER_LENGTH);
    EXPECT(myelin_run_int8(m, n, x, in, y, 0, arena, a), MYELIN_BUFFER_LENGTH);
    EXPECT(myelin_run_int8(m, n, x, (size_t)-1, y, out, arena, a), MYELIN_BUFFER_LENGTH);
    EXPECT(myelin_run_int8(m, n, x, in, y, out, arena, a - 1), MYELIN_ARENA_TOO_SMALL);
    EXPECT(myelin_run_int8(m, n, x, in, y, out, arena, 0), MYELIN_ARENA_TOO_SMALL);
    EXPECT(myelin_run_int8(m, n, x, in, (int8_t *)arena, out, arena, a), MYELIN_OVERLAP);
    EXPECT(myelin_run_int8(m, n, (const int8_t *)arena, in, y, out, arena, a), MYELIN_OVERLAP);
    memcpy(xs, x, in);
    EXPECT(myelin_run_int8(m, n, xs, in, xs + 1, out, arena, a), MYELIN_OVERLAP);
    EXPECT(myelin_run_int8(m, n, x, in, y, out, (void *)m, a), MYELIN_OVERLAP);
    EXPECT(myelin_run_int8(m, n - 1, x, in, y, out, arena, a), MYELIN_TRUNCATED);
    c = fresh(0);
    c[n - 100] ^= 1;
    EXPECT(myelin_run_int8(c, n, x, in, y, out, arena, a), MYELIN_CORRUPT_MODEL);
    EXPECT(myelin_run_int8((const uint8_t *)x, in, x, in, y, out, arena, a), MYELIN_NOT_A_MODEL);
    EXPECT(myelin_run_int8(fnet_model, FNET_MODEL_SIZE, x, in, y, out, arena, a),
           MYELIN_WRONG_DTYPE);
    {
        /* Nothing was written by a failed call. */
        size_t i, same = 0;
        for (i = 0; i < sizeof y; i++) {
            same += y[i] == 0x55;
        }
        TRUTH(same == sizeof y);
    }
}

/* Float outputs agree with the host's to 1e-4 relative: the host may use
 * other SIMD kernels (FMA) than this build of the core. */
static int close_to(const float *y, const float *want, size_t n) {
    size_t i;
    for (i = 0; i < n; i++) {
        float d = fabsf(y[i] - want[i]), scale = fabsf(want[i]) > 1.0f ? fabsf(want[i]) : 1.0f;
        if (!(d <= 1e-4f * scale)) {
            return 0;
        }
    }
    return 1;
}

static void runs_f32(void) {
    const uint8_t *m = fnet_model;
    const size_t n = FNET_MODEL_SIZE, in = FNET_INPUT_SIZE, out = FNET_OUTPUT_SIZE;
    const size_t a = FNET_ARENA_SIZE;
    static float x[FNET_INPUT_SIZE + 1];
    float y[FNET_OUTPUT_SIZE + 1];
    float z[NET_OUTPUT_SIZE];

    memcpy(x, fnet_sample_inputs[0], sizeof fnet_sample_inputs[0]);
    EXPECT(myelin_run_f32(m, n, x, in, y, out, arena, a), MYELIN_OK);
    TRUTH(close_to(y, fnet_sample_outputs[0], out));
    EXPECT(myelin_run_f32(m, n, x, in, y, out, arena + 3, a), MYELIN_OK); /* odd arena */
    TRUTH(close_to(y, fnet_sample_outputs[0], out));
    EXPECT(myelin_run_f32(m, n, x, in, y, out, arena, a - 1), MYELIN_ARENA_TOO_SMALL);
    EXPECT(myelin_run_f32(m, n, (const float *)((const uint8_t *)x + 1), in, y, out, arena, a),
           MYELIN_MISALIGNED);
    EXPECT(myelin_run_f32(m, n, x, in, (float *)((uint8_t *)y + 2), out, arena, a),
           MYELIN_MISALIGNED);
    EXPECT(myelin_run_f32(m, n, x, in, y, out + 1, arena, a), MYELIN_BUFFER_LENGTH);
    EXPECT(myelin_run_f32(m, n, x, in, NULL, out, arena, a), MYELIN_NULL_POINTER);
    EXPECT(myelin_run_f32(net_model, NET_MODEL_SIZE, x, NET_INPUT_SIZE, z, NET_OUTPUT_SIZE,
                          arena, a),
           MYELIN_WRONG_DTYPE);
    x[5] = INFINITY;
    EXPECT(myelin_run_f32(m, n, x, in, y, out, arena, a), MYELIN_NON_FINITE);
}

static void names(void) {
    TRUTH(strcmp(myelin_status_name(MYELIN_OK), "MYELIN_OK") == 0);
    TRUTH(strcmp(myelin_status_name(MYELIN_ARENA_TOO_SMALL), "MYELIN_ARENA_TOO_SMALL") == 0);
    TRUTH(strcmp(myelin_status_name(MYELIN_NON_FINITE), "MYELIN_NON_FINITE") == 0);
    TRUTH(strcmp(myelin_status_name(-1), "MYELIN_UNKNOWN_STATUS") == 0);
    TRUTH(strcmp(myelin_status_name(1000), "MYELIN_UNKNOWN_STATUS") == 0);
}

int main(void) {
    blobs();
    queries();
    runs_int8();
    runs_f32();
    names();
    printf("%u passed, %u failed\n", passed, failed);
    return failed != 0;
}
