/* myelin C API: run myelin model files from C and C++ (libmyelin.a).
 * Generated from capi/src by `cargo xtask cheader`; do not edit.
 * Names, codes and meanings are stable within MYELIN_ABI_VERSION (docs/c-api.md). */

#ifndef MYELIN_H
#define MYELIN_H

#include <stddef.h>
#include <stdint.h>

/*
 The version of this API (`MYELIN_ABI_VERSION`): raised when a function's
 meaning or a code's value changes, never for additions.
 */
#define MYELIN_ABI_VERSION 1

/*
 What a call of the C API returns: `MYELIN_OK` (0) or what was wrong.
 */
typedef enum myelin_status {
  /*
   Success.
   */
  MYELIN_OK = 0,
  /*
   A pointer argument was null.
   */
  MYELIN_NULL_POINTER = 1,
  /*
   The blob is not a myelin model file (wrong magic bytes).
   */
  MYELIN_NOT_A_MODEL = 2,
  /*
   The model file's format version is not one this library reads.
   */
  MYELIN_UNSUPPORTED_VERSION = 3,
  /*
   The blob is shorter than the model file it starts.
   */
  MYELIN_TRUNCATED = 4,
  /*
   The model file's checksum does not match: it is corrupt.
   */
  MYELIN_CORRUPT_MODEL = 5,
  /*
   A field of the model file is invalid, or its layers do not fit together.
   */
  MYELIN_BAD_MODEL = 6,
  /*
   The model uses a feature this library does not implement.
   */
  MYELIN_UNSUPPORTED = 7,
  /*
   The call does not fit the model's arithmetic (an int8 run of a float
   model, quantization parameters of a float model, ...).
   */
  MYELIN_WRONG_DTYPE = 8,
  /*
   An input or output length is not the model's.
   */
  MYELIN_BUFFER_LENGTH = 9,
  /*
   The arena is smaller than `myelin_arena_size`.
   */
  MYELIN_ARENA_TOO_SMALL = 10,
  /*
   A pointer is not aligned for its element type.
   */
  MYELIN_MISALIGNED = 11,
  /*
   A buffer the call writes overlaps another buffer of the call.
   */
  MYELIN_OVERLAP = 12,
  /*
   An f32 input element is NaN or infinite.
   */
  MYELIN_NON_FINITE = 13,
} myelin_status;

/*
 The arithmetic of a model: which run function it takes.
 */
typedef enum myelin_dtype {
  /*
   Integer-only int8: `myelin_run_int8`, int8 codes in and out.
   */
  MYELIN_DTYPE_INT8 = 1,
  /*
   Float: `myelin_run_f32`, f32 in and out.
   */
  MYELIN_DTYPE_F32 = 2,
} myelin_dtype;

#ifdef __cplusplus
extern "C" {
#endif // __cplusplus

/*
 Checks that the `len` bytes at `blob` are a valid model file.

 # Safety
 `blob` is null or points at `len` readable bytes.
 */
enum myelin_status myelin_check(const uint8_t *blob, size_t len);

/*
 Writes to `*out` the bytes of arena `myelin_run_int8` / `myelin_run_f32`
 need for the model, at any alignment of the arena.

 # Safety
 `blob` is null or points at `len` readable bytes; `out` is null or
 points at a writable `size_t`.
 */
enum myelin_status myelin_arena_size(const uint8_t *blob, size_t len, size_t *out);

/*
 Writes to `*out` the number of input elements of one sample.

 # Safety
 As `myelin_arena_size`.
 */
enum myelin_status myelin_input_size(const uint8_t *blob, size_t len, size_t *out);

/*
 Writes to `*out` the number of output elements of one sample.

 # Safety
 As `myelin_arena_size`.
 */
enum myelin_status myelin_output_size(const uint8_t *blob, size_t len, size_t *out);

/*
 Writes to `*out` the model's arithmetic.

 # Safety
 `blob` as `myelin_arena_size`; `out` is null or points at a writable
 `myelin_dtype`.
 */
enum myelin_status myelin_model_dtype(const uint8_t *blob, size_t len, enum myelin_dtype *out);

/*
 Writes to `*scale` and `*zero_point` the quantization of an int8 model's
 input: the code of real value `x` is `round(x / scale) + zero_point`,
 clamped to [-128, 127]. `MYELIN_WRONG_DTYPE` for a float model.

 # Safety
 `blob` as `myelin_arena_size`; `scale` and `zero_point` are null or
 point at a writable `float` and `int8_t`.
 */
enum myelin_status myelin_input_quant(const uint8_t *blob,
                                      size_t len,
                                      float *scale,
                                      int8_t *zero_point);

/*
 Writes to `*scale` and `*zero_point` the quantization of an int8 model's
 output: output code `q` stands for `(q - zero_point) * scale`.
 `MYELIN_WRONG_DTYPE` for a float model.

 # Safety
 As `myelin_input_quant`.
 */
enum myelin_status myelin_output_quant(const uint8_t *blob,
                                       size_t len,
                                       float *scale,
                                       int8_t *zero_point);

/*
 Runs an int8 model on one sample: `in_len` input codes at `input`,
 `out_len` output codes written to `output`, working memory in the
 `arena_len` bytes at `arena` (at least `myelin_arena_size`, any
 alignment). `output` and `arena` must not overlap each other, `input`
 or `blob`. On any error `output` is left as it was.

 # Safety
 Each pointer is null or points at its length of readable (`blob`,
 `input`) or writable (`output`, `arena`) memory, which nothing else uses
 during the call.
 */
enum myelin_status myelin_run_int8(const uint8_t *blob,
                                   size_t len,
                                   const int8_t *input,
                                   size_t in_len,
                                   int8_t *output,
                                   size_t out_len,
                                   void *arena,
                                   size_t arena_len);

/*
 Runs a float model on one sample: `myelin_run_int8` with `float`s in
 and out (4-byte aligned, `MYELIN_MISALIGNED` otherwise);
 `MYELIN_NON_FINITE` when an input is NaN or infinite.

 # Safety
 As `myelin_run_int8`.
 */
enum myelin_status myelin_run_f32(const uint8_t *blob,
                                  size_t len,
                                  const float *input,
                                  size_t in_len,
                                  float *output,
                                  size_t out_len,
                                  void *arena,
                                  size_t arena_len);

/*
 The C name of status `code` (`"MYELIN_OK"`, ...), or
 `"MYELIN_UNKNOWN_STATUS"` for a value that is no status. The string is
 static and NUL-terminated; never null.
 */
const char *myelin_status_name(int32_t code);

#ifdef __cplusplus
}  // extern "C"
#endif  // __cplusplus

#endif  /* MYELIN_H */
