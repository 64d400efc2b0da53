#!/usr/bin/env python3
"""Small int8 TFLite models with op mixes the importer was not tuned on.

Each model is a Keras network with seeded random weights, converted by
TFLiteConverter with full-integer int8 quantization from a seeded
representative dataset. Some keep float input and output (the converter adds
QUANTIZE and DEQUANTIZE at the edges), the others are int8 end to end:

    pad_conv_pools  ZeroPadding2D, conv, max pool, conv, average pool,
                    Dense; float in and out (QUANTIZE, PAD, DEQUANTIZE)
    concat_heads    two conv branches concatenated, conv + tanh, Dense +
                    sigmoid; int8 in and out
    mlp_tanh        Dense (per-tensor weights) + tanh, Dense + tanh, Dense;
                    float in, int8 out
    tanh_sweep,     TANH or LOGISTIC alone on 256 int8 inputs, so that the
    sigmoid_sweep   golden inputs reach (nearly) every code of their tables

Usage (from the repository root), then make the goldens:

    pip install tensorflow-cpu ai-edge-litert numpy
    python3 tools/tflite-goldens/make_models.py models/tflite-tests
    python3 tools/tflite-goldens/make_goldens.py models/tflite-tests/goldens \
        models/tflite-tests/*.tflite
"""
import argparse
import os

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import tensorflow as tf  # noqa: E402

keras = tf.keras
L = keras.layers

def B():
    """Non-zero biases, so that the int32 bias path is exercised; a fresh
    initializer per layer draws its seed after `set_random_seed`."""
    return {"bias_initializer": keras.initializers.RandomNormal(stddev=0.2)}



def pad_conv_pools():
    x = keras.Input((16, 16, 3), batch_size=1)
    y = L.ZeroPadding2D(((1, 2), (2, 1)))(x)
    y = L.Conv2D(8, 3, activation="relu", **B())(y)
    y = L.MaxPooling2D(2)(y)
    y = L.ZeroPadding2D(1)(y)
    y = L.DepthwiseConv2D(3, strides=2, **B())(y)
    y = L.Conv2D(12, 1, activation="relu", **B())(y)
    y = L.AveragePooling2D(2)(y)
    y = L.Flatten()(y)
    y = L.Dense(6, **B())(y)
    return keras.Model(x, y), (16, 16, 3), (True, True)


def concat_heads():
    x = keras.Input((12, 12, 4), batch_size=1)
    a = L.Conv2D(6, 3, padding="same", activation="relu", **B())(x)
    b = L.Conv2D(5, 1, activation="relu", **B())(x)
    y = L.Concatenate()([a, b])
    y = L.Conv2D(8, 3, strides=2, padding="same", **B())(y)
    y = L.Activation("tanh")(y)
    y = L.MaxPooling2D(2)(y)
    y = L.Flatten()(y)
    y = L.Dense(5, activation="sigmoid", **B())(y)
    return keras.Model(x, y), (12, 12, 4), (False, False)


def mlp_tanh():
    x = keras.Input((20,), batch_size=1)
    y = L.Dense(32, activation="tanh", **B())(x)
    y = L.Dense(16, activation="tanh", **B())(y)
    y = L.Dense(4, **B())(y)
    return keras.Model(x, y), (20,), (True, False)


def sweep(activation):
    x = keras.Input((256,), batch_size=1)
    return keras.Model(x, L.Activation(activation)(x)), (256,), (False, False)


def tanh_sweep():
    return sweep("tanh")


def sigmoid_sweep():
    return sweep("sigmoid")


MODELS = [pad_conv_pools, concat_heads, mlp_tanh, tanh_sweep, sigmoid_sweep]


def convert(model, shape, float_io, seed):
    rng = np.random.default_rng(seed)

    def representative():
        for _ in range(64):
            yield [rng.normal(0.0, 1.0, size=(1, *shape)).astype(np.float32)]

    c = tf.lite.TFLiteConverter.from_keras_model(model)
    c.optimizations = [tf.lite.Optimize.DEFAULT]
    c.representative_dataset = representative
    c.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    if len(shape) == 1 and shape[0] == 256:
        # The sweeps: a wide input range, past both saturations.
        c.representative_dataset = lambda: (
            [rng.normal(0.0, 3.0, size=(1, *shape)).astype(np.float32)] for _ in range(64)
        )
    # Dense layers with one weight scale (TFLite's classic int8 FULLY_CONNECTED).
    c._experimental_disable_per_channel_quantization_for_dense_layers = True
    float_in, float_out = float_io
    c.inference_input_type = tf.float32 if float_in else tf.int8
    c.inference_output_type = tf.float32 if float_out else tf.int8
    return c.convert()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--seed", type=int, default=7)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    for k, make in enumerate(MODELS):
        keras.utils.set_random_seed(a.seed + k)
        model, shape, float_io = make()
        blob = convert(model, shape, float_io, a.seed + 100 + k)
        path = os.path.join(a.out, f"{make.__name__}.tflite")
        with open(path, "wb") as f:
            f.write(blob)
        print(path, len(blob), "bytes")


if __name__ == "__main__":
    main()
