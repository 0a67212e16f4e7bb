"""Forward+backward time of keras_tfm's MultiHeadAttention vs keras.layers.MultiHeadAttention.

Usage: python benchmarks/attention.py [--batch 8 --length 256 --width 512 --heads 8 --steps 20]
Runs both in one process on the current backend (TensorFlow by default), each
step compiled (`tf.function` on TensorFlow, `jax.jit` on JAX), interleaved
rounds so that machine noise hits both, and prints ours/peer as a ratio
(< 1 means ours is faster; the target is <= 0.8). On a shared machine the
process CPU time is printed too: it is less sensitive to other jobs taking
the cores than wall time.
"""

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from keras_tfm.layers import MultiHeadAttention  # noqa: E402
from timing import add_size_arguments, interleaved_best  # noqa: E402


def make_step(layer, x, mask):
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        @tf.function(jit_compile=False)
        def step(x):
            with tf.GradientTape() as tape:
                tape.watch(x)
                loss = keras.ops.sum(layer(x, x, attention_mask=mask) ** 2)
            return tape.gradient(loss, [x] + layer.trainable_variables)

        return lambda: [g.numpy() for g in step(x)][0]
    if backend == "jax":
        import jax

        params = [v.value for v in layer.trainable_variables]

        def loss(params, x):
            out, _ = layer.stateless_call(params, [], x, x, attention_mask=mask)
            return (out**2).sum()

        grad = jax.jit(jax.grad(loss, argnums=(0, 1)))
        return lambda: jax.block_until_ready(grad(params, x))
    raise SystemExit(f"unsupported backend {backend}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_size_arguments(parser, steps=20)
    args = parser.parse_args()
    b, t, d, n = args.batch, args.length, args.width, args.heads
    x = keras.ops.convert_to_tensor(np.random.default_rng(0).normal(size=(b, t, d)).astype("float32"))
    mask = keras.ops.convert_to_tensor(np.tril(np.ones((t, t), bool))[None].repeat(b, 0))
    layers = {
        "keras_tfm": MultiHeadAttention(n, d // n),
        "keras": keras.layers.MultiHeadAttention(n, d // n),
    }
    steps = {}
    for name, layer in layers.items():
        layer(x, x)
        steps[name] = make_step(layer, x, mask)
        for _ in range(3):
            steps[name]()  # Warm-up and compile.
    best, cpu = interleaved_best(steps, args.rounds, args.steps)
    print(f"backend={keras.backend.backend()} B={b} T={t} D={d} N={n} (fwd+bwd, best of {args.rounds} rounds)")
    for name, seconds in best.items():
        print(f"  {name:10s} {1000 * seconds:8.2f} ms/step wall, {1000 * cpu[name]:8.2f} ms/step CPU")
    print(f"ratio keras_tfm/keras = {best['keras_tfm'] / best['keras']:.3f} wall, "
          f"{cpu['keras_tfm'] / cpu['keras']:.3f} CPU time (target <= 0.8)")


if __name__ == "__main__":
    main()
