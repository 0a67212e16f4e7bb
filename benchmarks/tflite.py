"""TFLite on the CPU with the LiteRT interpreter: ViT latency per precision, int8 accuracy, translator tokens/s.

Usage: python benchmarks/tflite.py [--threads 1 --runs 20 --rounds 3 --fashion_epochs 2
       --parts vit,fashion,translator --precisions none,float16,dynamic_range,int8,full_int8]

1. ViT-Ti/16 at 224, batch 1: keras_tfm's backbone and keras-hub's
   `ViTBackbone` of the same size (12 pre-norm blocks, width 192, 3 heads;
   output `(1, 197, 192)`), each converted by `export.tflite_utils.convert`
   (builtin ops only) in float32, float16, dynamic-range int8, int8 (int8
   but for attention's batched matmuls and softmax and LayerNorm's
   statistics, `tflite_utils.INT8_FLOAT_OPS`) and full-integer int8
   (calibrated on 8 random images; only the latency counts here).
   Beside them, in each precision, the matmul floor: a network of the same
   size that does only ViT-Ti's matrix products (the patch convolution and
   every FULLY_CONNECTED and BATCH_MATMUL of the 12 blocks, with the
   reshapes and transposes between heads), and no normalisation, softmax,
   GELU or residual. Any ViT-Ti/16 needs at least these products, so no
   implementation converted by this converter and run by this interpreter
   can be much faster than the floor; it bounds what the targets can ask.
   Interleaved rounds, the best round's median counts, as wall-clock ms and
   as the calling thread's CPU ms (steadier on a shared machine; LiteRT runs
   one thread in the caller). Prints ms and ours/keras-hub (< 1: ours
   faster), each model over the floor, and our float32/int8 speed-ups next
   to the floor's.
   Targets: float32 <= 0.9x keras-hub's latency; int8 >= 1.5x faster than
   our float32.
2. Top-1 on Fashion-MNIST: a small ViT (28x28, patch 4, 4 blocks of width
   64) trained for `--fashion_epochs` epochs (or `--fashion_model`, a .keras
   file), exported by `export.vit` in float32, dynamic-range int8, int8 and
   full-integer int8 (both calibrated on 200 training images), scored on the
   10,000 test images. Target: int8 loses <= 1 point of top-1.
3. Translator tokens/s through `decode_step`: a 3+3-layer width-256
   Transformer (8,000-token vocabularies), source and target length 64,
   greedy steps driven from Python as an app would, at batch 1 and 8,
   TFLite float32 vs the same step as a TF `tf.function`.
"""

import argparse
import itertools
import os
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from export import tflite_utils, vit  # noqa: E402
from export.translator_module import TranslatorModule  # noqa: E402
from keras_tfm.models import Transformer, VisionTransformer  # noqa: E402

TI16 = dict(patch_size=16, num_layers=12, hidden_dim=192, num_heads=3, intermediate_dim=768)
PRECISIONS = tflite_utils.QUANTIZATIONS


class Backbone(tf.Module):
    """A Keras model's forward as one concrete function, its weights listed."""

    def __init__(self, model, shape):
        super().__init__()
        self.model = model
        self.weights = [v.value for v in model.variables]
        self.forward = tf.function(lambda x: model(x, training=False), input_signature=[tf.TensorSpec(shape)])


def vit_backbones():
    import keras_hub

    ours = VisionTransformer(image_size=224, include_top=False, **TI16)
    ours.build((None, 224, 224, 3))
    peer = keras_hub.models.ViTBackbone(
        image_shape=(224, 224, 3), patch_size=16, num_layers=12, num_heads=3, hidden_dim=192, mlp_dim=768,
    )
    return {"keras_tfm": ours, "keras_hub": peer}


def matmul_floor(image_size=224, patch_size=16, num_layers=12, hidden_dim=192, num_heads=3, intermediate_dim=768):
    """ViT-Ti/16's matrix products alone: `(1, 197, 192)` out, like the backbones.

    Per block: query, key and value projections, the two attention matmuls
    per head, the output projection and the two MLP layers. Without
    normalisation the activations would decay to zero or overflow (attention
    is cubic in its input's scale), which no real model feeds its matmuls:
    every layer here outputs `relu6(x W + 3)` (ReLU6 and the bias are fused
    into TFLite's matmul at no cost), which stays within [0, 6] and near 3
    whatever the image.
    """
    width, heads, head = hidden_dim, num_heads, hidden_dim // num_heads
    seeds = itertools.count()

    def initializers():
        # A seed per layer: the converter merges layers with equal weights
        # and inputs (query, key and value would become one matmul).
        kernel = keras.initializers.VarianceScaling(1.0, "fan_in", "untruncated_normal", seed=next(seeds))
        return dict(activation="relu6", kernel_initializer=kernel, bias_initializer=keras.initializers.Constant(3.0))

    def dense(units):
        return keras.layers.Dense(units, **initializers())

    images = keras.Input((image_size, image_size, 3), batch_size=1)
    x = keras.layers.Conv2D(width, patch_size, strides=patch_size, **initializers())(images)
    x = keras.ops.reshape(x, (1, -1, width))
    x = keras.ops.concatenate([keras.ops.zeros((1, 1, width)), x], axis=1)  # Where the class token goes.
    tokens = x.shape[1]

    def heads_first(y):
        return keras.ops.transpose(keras.ops.reshape(y, (1, tokens, heads, head)), (0, 2, 1, 3))

    for _ in range(num_layers):
        q, k, v = (heads_first(dense(width)(x)) for _ in range(3))
        scores = keras.ops.matmul(q, keras.ops.swapaxes(k, -1, -2))  # No softmax: products only.
        attended = keras.ops.transpose(keras.ops.matmul(scores, v), (0, 2, 1, 3))
        x = dense(width)(keras.ops.reshape(attended, (1, tokens, width)))
        x = dense(width)(dense(intermediate_dim)(x))
    return keras.Model(images, x, name="matmul_floor")


def convert_backbone(model, quantize, image_size=224):
    shape = (1, image_size, image_size, 3)
    module = Backbone(model, shape)
    rng = np.random.default_rng(0)

    def representative_dataset():
        for _ in range(8):
            yield [rng.uniform(-1, 1, shape).astype(np.float32)]

    return tflite_utils.convert(
        [module.forward.get_concrete_function()], module, quantize,
        representative_dataset if quantize in tflite_utils.CALIBRATED else None,
    )


def latency_ms(runner, inputs, runs, cpu=False):
    """Median ms of `runs` calls: wall clock, or the calling thread's CPU time if `cpu`."""
    clock = time.thread_time if cpu else time.perf_counter
    runner(**inputs)  # Warm-up (allocation, XNNPACK packing).
    times = []
    for _ in range(runs):
        start = clock()
        runner(**inputs)
        times.append(clock() - start)
    return 1000 * float(np.median(times))


def runner_of(flatbuffer, threads):
    interpreter = tflite_utils.interpreter(model_content=flatbuffer, num_threads=threads)
    return interpreter.get_signature_runner()


def bench_vit(args):
    precisions = args.precisions.split(",")
    models = vit_backbones()
    models["floor"] = matmul_floor(**TI16)
    runners = {}
    for name, model in models.items():
        for quantize in precisions:
            flatbuffer = convert_backbone(model, quantize)
            runners[name, quantize] = (runner_of(flatbuffer, args.threads), len(flatbuffer))
    best = {}
    x = np.random.default_rng(1).uniform(-1, 1, (1, 224, 224, 3)).astype(np.float32)
    for _ in range(args.rounds):
        for key, (runner, _) in runners.items():
            inputs = {next(iter(runner.get_input_details())): x}
            for clock in ("wall", "cpu"):
                ms = latency_ms(runner, inputs, args.runs, cpu=clock == "cpu")
                best[key + (clock,)] = min(best.get(key + (clock,), np.inf), ms)
    print(f"\nViT-Ti/16, 224x224, batch 1, {args.threads} thread(s): median ms per forward "
          f"(best of {args.rounds} rounds), wall clock / calling thread's CPU time")
    print(f"{'precision':>14} {'keras_tfm':>13} {'keras_hub':>13} {'floor':>13} {'ours/peer':>10} "
          f"{'ours/floor':>10} {'peer/floor':>10} {'ours MB':>8} {'peer MB':>8}")
    for quantize in precisions:
        ours, peer, floor = (
            [best[name, quantize, clock] for clock in ("wall", "cpu")] for name in ("keras_tfm", "keras_hub", "floor")
        )
        print(f"{quantize:>14} {ours[0]:6.1f}/{ours[1]:6.1f} {peer[0]:6.1f}/{peer[1]:6.1f} "
              f"{floor[0]:6.1f}/{floor[1]:6.1f} {ours[1] / peer[1]:10.3f} {ours[1] / floor[1]:10.3f} "
              f"{peer[1] / floor[1]:10.3f} {runners['keras_tfm', quantize][1] / 1e6:8.2f} "
              f"{runners['keras_hub', quantize][1] / 1e6:8.2f}")
    print("(ratios from CPU time)")
    if "none" in precisions:
        needed = 0.9 * best["keras_hub", "none", "cpu"]
        print(f"float32 <= 0.9x keras-hub needs <= {needed:.1f} ms: "
              f"{needed / best['floor', 'none', 'cpu']:.2f}x the float32 matmul floor")
    for quantize in precisions:
        if "none" in precisions and quantize != "none":
            wall, cpu = (best["keras_tfm", "none", c] / best["keras_tfm", quantize, c] for c in ("wall", "cpu"))
            floor = best["floor", "none", "cpu"] / best["floor", quantize, "cpu"]
            print(f"our float32 / our {quantize}: {wall:.2f}x wall, {cpu:.2f}x CPU "
                  f"(the floor's float32 / {quantize}: {floor:.2f}x CPU)")


def bench_fashion(args):
    from keras_tfm.data import load_fashion_mnist

    train_x, train_y = load_fashion_mnist("train")
    test_x, test_y = load_fashion_mnist("test")
    if args.fashion_model:
        model = keras.saving.load_model(args.fashion_model, compile=False)
    else:
        keras.utils.set_random_seed(0)
        model = VisionTransformer(
            image_size=28, patch_size=4, num_channels=1, num_layers=4, hidden_dim=64, num_heads=4,
            intermediate_dim=128, num_classes=10, head_initializer="glorot_uniform",
        )
        model.compile(keras.optimizers.AdamW(1e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        start = time.perf_counter()
        model.fit(train_x[..., None].astype("float32") / 127.5 - 1, train_y, batch_size=128,
                  epochs=args.fashion_epochs, verbose=0)
        print(f"\ntrained a 4-block width-64 ViT on Fashion-MNIST for {args.fashion_epochs} epoch(s) "
              f"in {time.perf_counter() - start:.0f} s")
    calibration = train_x[:200, :, :, None]
    images = np.concatenate([calibration, test_x[:, :, :, None]])
    labels = np.concatenate([train_y[:200], test_y])
    reports, latencies = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        for quantize in ("none", "dynamic_range", "int8", "full_int8"):
            output = os.path.join(tmp, quantize)
            calibrated = quantize in tflite_utils.CALIBRATED  # These take the 200 training images first.
            reports[quantize] = vit.export_vit(
                model, output, formats=["tflite"], quantize=quantize,
                images=images if calibrated else images[200:],
                image_labels=labels if calibrated else labels[200:], num_calibration=200, batch_size=1,
                tolerances={"min_top1_agreement": 0.0},
            )
            runner = tflite_utils.interpreter(
                model_path=os.path.join(output, vit.TFLITE_FILENAME), num_threads=args.threads
            ).get_signature_runner()
            latencies[quantize] = latency_ms(runner, {"images": images[:1]}, args.runs)
    print("Fashion-MNIST test set (10,000 images), TFLite, batch 1:")
    base = reports["none"]["tflite"]
    for quantize, report in reports.items():
        result = report["tflite"]
        print(f"  {quantize:>13} top-1 {100 * result['accuracy']:.2f}% "
              f"(loss {100 * (base['accuracy'] - result['accuracy']):+.2f} points, target <= 1), "
              f"{latencies[quantize]:.2f} ms ({latencies['none'] / latencies[quantize]:.2f}x float32), "
              f"{result['size_bytes'] / 1e3:.0f} kB, agreement with Keras {100 * result['top1_agreement']:.2f}%")


def bench_translator(args):
    keras.utils.set_random_seed(0)
    model = Transformer(8000, num_layers=3, hidden_dim=256, num_heads=4, intermediate_dim=1024, dropout=0.0)
    model((np.ones((1, 4), "int32"), np.ones((1, 4), "int32")))
    length = 64
    print(f"\nTranslator decode_step: 3+3 layers, width 256, vocabulary 8000, S = L = {length}, "
          f"{args.threads} thread(s)")
    print(f"{'batch':>6} {'TFLite tok/s':>13} {'TF tok/s':>10} {'TFLite/TF':>10}")
    for batch in (1, 8):
        module = TranslatorModule(model, None, None, length, length, batch_size=batch)
        steps = tf.Module()  # Only encode and decode_step: no tokenizers to trace.
        steps.weights, steps.encode, steps.decode_step = module.weights, module.encode, module.decode_step
        flatbuffer = tflite_utils.convert(
            [module.encode.get_concrete_function(), module.decode_step.get_concrete_function()], steps
        )
        interpreter = tflite_utils.interpreter(model_content=flatbuffer, num_threads=args.threads)
        encode, step = interpreter.get_signature_runner("encode"), interpreter.get_signature_runner("decode_step")
        source = np.random.default_rng(0).integers(3, 8000, (batch, length)).astype(np.int32)

        def lite_decode():
            encoded = encode(source_ids=source)
            cache = np.zeros(module.cache_shape, np.float32)  # (Ly, 2, B, N, L, H)
            token = np.ones((batch, 1), np.int32)
            for t in range(length):
                out = step(token_ids=token, step=np.array(t, np.int32), self_attention=cache,
                           cross_attention=encoded["cross_attention"], source_mask=encoded["source_mask"])
                cache = out["self_attention"]
                token = out["logits"].argmax(-1).astype(np.int32)[:, None]

        def tf_decode():
            encoded = module.encode(tf.constant(source))
            cache = tf.zeros(module.cache_shape)
            token = tf.ones((batch, 1), tf.int32)
            for t in range(length):
                out = module.decode_step(token, tf.constant(t), cache, encoded["cross_attention"],
                                         encoded["source_mask"])
                cache = out["self_attention"]
                token = tf.cast(tf.argmax(out["logits"], -1), tf.int32)[:, None]

        best = {}
        for _ in range(args.rounds):
            for name, decode in (("tflite", lite_decode), ("tf", tf_decode)):
                decode()  # Warm-up.
                start = time.perf_counter()
                decode()
                best[name] = min(best.get(name, np.inf), time.perf_counter() - start)
        lite, reference = batch * length / best["tflite"], batch * length / best["tf"]
        print(f"{batch:>6} {lite:13.0f} {reference:10.0f} {lite / reference:10.2f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--fashion_epochs", type=int, default=2)
    parser.add_argument("--fashion_model", default=None)
    parser.add_argument("--parts", default="vit,fashion,translator")
    parser.add_argument("--precisions", default=",".join(PRECISIONS), help="ViT-Ti part only.")
    args = parser.parse_args()
    parts = args.parts.split(",")
    if "vit" in parts:
        bench_vit(args)
    if "fashion" in parts:
        bench_fashion(args)
    if "translator" in parts:
        bench_translator(args)


if __name__ == "__main__":
    main()
