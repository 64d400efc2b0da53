#!/usr/bin/env python3
"""Small fully-int8 .tflite models for the `import_tflite` fuzz target's seeds.

The MLPerf Tiny models in fuzz/seeds/import_tflite/ are 54-277 KB, so each
execution and each mutation of them is slow to reach an op's options; these
models are a few KB each and together hold every op the importer knows, with
both paddings, strides, fused ReLU/ReLU6 and per-channel weights. Written to
fuzz/seeds/import_tflite/small-NAME.tflite. Run once; the outputs are
committed (the fuzz run and CI need no Python).

needs: pip install tensorflow-cpu numpy
usage: tools/tflite-fuzz-seeds/make_seeds.py [OUT_DIR]
"""
import os, sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import numpy as np
import tensorflow as tf

L = tf.keras.layers


def conv_mix():
    x = inp = L.Input((8, 8, 3), batch_size=1)
    x = L.Conv2D(4, 3, padding="same", activation="relu")(x)
    y = L.DepthwiseConv2D(3, strides=2, padding="same", activation="relu6")(x)
    z = L.MaxPooling2D(2)(x)
    x = L.Add()([y, z])
    x = L.AveragePooling2D(2)(x)
    x = L.Flatten()(x)
    x = L.Dense(5)(x)
    return tf.keras.Model(inp, L.Softmax()(x))


def pad_mean_concat():
    x = inp = L.Input((6, 6, 2), batch_size=1)
    a = L.ZeroPadding2D(1)(x)
    a = L.Conv2D(3, 3, strides=2, padding="valid")(a)
    b = L.Conv2D(3, 1, strides=2, padding="same", activation="tanh")(x)
    x = L.Concatenate()([a, b])
    x = L.GlobalAveragePooling2D()(x)
    x = L.Dense(3, activation="sigmoid")(x)
    return tf.keras.Model(inp, x)


def dense_chain():
    x = inp = L.Input((12,), batch_size=1)
    x = L.Dense(6, activation="relu")(x)
    x = L.Reshape((2, 3))(x)
    x = L.Flatten()(x)
    x = L.Dense(4)(x)
    return tf.keras.Model(inp, x)


def convert(model):
    shape = [1, *model.input_shape[1:]]
    rng = np.random.default_rng(0)

    def data():
        for _ in range(16):
            yield [rng.uniform(-1, 1, size=shape).astype(np.float32)]

    c = tf.lite.TFLiteConverter.from_keras_model(model)
    c.optimizations = [tf.lite.Optimize.DEFAULT]
    c.representative_dataset = data
    c.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    c.inference_input_type = tf.int8
    c.inference_output_type = tf.int8
    return c.convert()


def main():
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(root, "fuzz", "seeds", "import_tflite")
    os.makedirs(out, exist_ok=True)
    tf.keras.utils.set_random_seed(1)
    for name, build in [("conv-mix", conv_mix), ("pad-mean-concat", pad_mean_concat),
                        ("dense-chain", dense_chain)]:
        blob = convert(build())
        path = os.path.join(out, f"small-{name}.tflite")
        open(path, "wb").write(blob)
        print(path, len(blob), "bytes")


if __name__ == "__main__":
    main()
