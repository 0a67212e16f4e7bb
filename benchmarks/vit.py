"""CPU forward latency of keras_tfm's ViT-Ti/16 vs keras-hub's `ViTBackbone` of the same size.

Usage: python benchmarks/vit.py [--batches 1 32 --image_size 224 --rounds 3]
Both backbones (patch embedding, class token, 12 pre-norm blocks of width
192 with 3 heads, final LayerNorm; output `(B, 197, 192)`) run in one process
on the current backend (TensorFlow by default), each forward compiled the
same way (`tf.function` on TensorFlow, `jax.jit` on JAX), in interleaved
rounds so that machine noise hits both; the best round counts. Prints
ms per forward and ours/peer as a ratio (< 1 means ours is faster).
Needs `keras-hub` (0.32 measured).
"""

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from keras_tfm.models import VisionTransformer  # noqa: E402

TI16 = dict(patch_size=16, num_layers=12, hidden_dim=192, num_heads=3, intermediate_dim=768)


def build_models(image_size):
    import keras_hub

    ours = VisionTransformer(image_size=image_size, include_top=False, **TI16)
    ours.build((None, image_size, image_size, 3))
    peer = keras_hub.models.ViTBackbone(
        image_shape=(image_size, image_size, 3), patch_size=16, num_layers=12, num_heads=3,
        hidden_dim=192, mlp_dim=768,
    )
    return {"keras_tfm": ours, "keras_hub": peer}


def make_forward(model, x):
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        forward = tf.function(lambda x: model(x, training=False), jit_compile=False)
        return lambda: forward(x).numpy()
    if backend == "jax":
        import jax

        trainable = [v.value for v in model.trainable_variables]
        frozen = [v.value for v in model.non_trainable_variables]
        forward = jax.jit(lambda t, f, x: model.stateless_call(t, f, x, training=False)[0])
        return lambda: jax.block_until_ready(forward(trainable, frozen, x))
    raise SystemExit(f"unsupported backend {backend}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 32])
    parser.add_argument("--image_size", type=int, default=224)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=2.0, help="time per model per round")
    args = parser.parse_args()
    models = build_models(args.image_size)
    params = {name: model.count_params() for name, model in models.items()}
    print(f"backend={keras.backend.backend()} ViT-Ti/16 at {args.image_size}px, forward only, "
          f"best of {args.rounds} interleaved rounds; parameters {params}")
    for batch in args.batches:
        x = np.random.default_rng(0).normal(size=(batch, args.image_size, args.image_size, 3))
        x = keras.ops.convert_to_tensor(x.astype("float32"))
        forwards = {name: make_forward(model, x) for name, model in models.items()}
        repeats = {}
        for name, forward in forwards.items():
            forward()  # Compile.
            start = time.perf_counter()
            forward()
            repeats[name] = max(1, int(args.seconds / (time.perf_counter() - start)))
        best = {name: float("inf") for name in models}
        for _ in range(args.rounds):
            for name, forward in forwards.items():
                start = time.perf_counter()
                for _ in range(repeats[name]):
                    forward()
                best[name] = min(best[name], (time.perf_counter() - start) / repeats[name])
        line = "  ".join(f"{name} {1000 * s:8.2f} ms" for name, s in best.items())
        print(f"batch {batch:3d}: {line}  ours/peer {best['keras_tfm'] / best['keras_hub']:.3f}")


if __name__ == "__main__":
    main()
