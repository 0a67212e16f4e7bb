"""One training step of keras_tfm's TransformerEncoderBlock vs keras-hub's TransformerEncoder.

Usage: python benchmarks/encoder_block.py [--batch 8 --length 256 --width 512 --heads 8 --rounds 5]
Both blocks (post-norm, ReLU feed-forward of width 4D, no dropout, a padding
mask) are wrapped in the same functional model and trained with
`train_on_batch` (forward, backward and an Adam update; `tf.function` without
XLA on TensorFlow, `jax.jit` on JAX), in interleaved rounds so that machine
noise hits both; the best round counts. Prints ms per step, wall and process
CPU time, and ours/peer (< 1 means ours is faster). Needs `keras-hub` (0.32
measured).
"""

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from keras_tfm.layers import TransformerEncoderBlock  # noqa: E402
from timing import add_size_arguments, interleaved_best  # noqa: E402


def build_models(length, width, heads):
    import keras_hub

    blocks = {
        "keras_tfm": TransformerEncoderBlock(num_heads=heads, intermediate_dim=4 * width),
        "keras_hub": keras_hub.layers.TransformerEncoder(intermediate_dim=4 * width, num_heads=heads),
    }
    models = {}
    for name, block in blocks.items():
        x = keras.Input((length, width))
        mask = keras.Input((length,), dtype="bool")
        model = keras.Model([x, mask], block(x, padding_mask=mask))
        model.compile(optimizer=keras.optimizers.Adam(1e-4), loss="mse", jit_compile=False)
        models[name] = model
    return models


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_size_arguments(parser, steps=5)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    x = rng.normal(size=(args.batch, args.length, args.width)).astype("float32")
    lengths = rng.integers(args.length // 2, args.length + 1, size=(args.batch, 1))
    mask = np.arange(args.length)[None] < lengths  # (B, T)
    y = rng.normal(size=x.shape).astype("float32")
    models = build_models(args.length, args.width, args.heads)
    for model in models.values():
        for _ in range(2):
            model.train_on_batch([x, mask], y)  # Warm-up and compile.
    steps = {name: (lambda model=model: model.train_on_batch([x, mask], y)) for name, model in models.items()}
    best, cpu = interleaved_best(steps, args.rounds, args.steps)
    print(f"backend={keras.backend.backend()} B={args.batch} T={args.length} D={args.width} "
          f"N={args.heads} (train step, best of {args.rounds} rounds)")
    for name in models:
        print(f"  {name:10s} {1000 * best[name]:8.2f} ms/step wall, {1000 * cpu[name]:8.2f} ms/step CPU")
    print(f"ratio keras_tfm/keras_hub = {best['keras_tfm'] / best['keras_hub']:.3f} wall, "
          f"{cpu['keras_tfm'] / cpu['keras_hub']:.3f} CPU time")


if __name__ == "__main__":
    main()
