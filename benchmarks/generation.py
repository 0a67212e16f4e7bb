"""Decoding speed: keras_tfm's cached greedy search vs uncached decoding vs keras-hub.

Usage: python benchmarks/generation.py [--lengths 32,128,512 --layers 6 --width 512]

One process, CPU, TensorFlow backend by default, batch 1 (with `--batch`
ms per token is per decoding step of the whole batch), random weights.
On TensorFlow every decoder runs twice, compiled by `tf.function` for the
graph executor and with `jit_compile=True` for XLA (rows `*_xla`), and the
targets compare each decoder's faster one; under KERAS_BACKEND=jax
everything is `jax.jit` (how `benchmarks/gpu/decode.py` runs it on the lent
GPU). All of them generate exactly N tokens (no end id):
  * keras_tfm cached: `greedy_search` over the preallocated key/value cache;
  * keras_tfm uncached: the same compiled loop, but each step reruns the
    full model over the whole (fixed-size) prefix buffer, as without a cache
    (graph executor only: one run takes minutes);
  * keras-hub: the same translation with keras-hub's layers: a 6-layer
    `keras_hub.layers.TransformerEncoder` stack over the source, then a 6-layer
    `TransformerDecoder` stack with its self- and cross-attention caches driven
    by `keras_hub.samplers.GreedySampler`;
  * floor: only the matrix-vector products one token needs, with the
    model's own weights (each decoder layer's self-attention, cross-attention
    query and output, and feed-forward kernels, then the tied output
    embedding) in the same compiled `while_loop`: no attention, no norms, no
    bookkeeping. At batch 1 this streams every weight from memory once per
    token, which bounds what any float32 decoder of this size can do here
    (the faster of its two compilations is the floor).
Prints ms per generated token and the ratios of the targets: cached at 512
vs at 32 (<= 1.5), uncached/cached at 512 (>= 5) and keras-hub/keras_tfm
ms per token (>= 1.5), each decoder's time over the floor, and how far
above the floor 1.5x keras-hub's speed lies (below 1.0x: faster than the
matmuls alone, which no decoder of this size can be). Both
translate the same 32-token source: encoder pass included. keras-hub is a benchmark-only dependency (`make bench`).
"""

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from keras import ops  # noqa: E402

from keras_tfm import generation  # noqa: E402
from keras_tfm.models import Transformer  # noqa: E402

VOCAB, SOURCE_LENGTH, NEVER = 8000, 32, -1


def compiled(function, xla=False):
    """`tf.function(jit_compile=xla)` on TensorFlow, `jax.jit` on JAX (always XLA)."""
    if keras.backend.backend() == "jax":
        import jax

        return jax.jit(function)
    import tensorflow as tf

    return tf.function(function, jit_compile=xla)


def ours(layers, width, heads):
    model = Transformer(VOCAB, num_layers=layers, hidden_dim=width, num_heads=heads,
                        intermediate_dim=4 * width, dropout=0.0)
    model((np.ones((1, 2), "int32"), np.ones((1, 2), "int32")))
    return model


def cached_runner(model, length, xla=False):
    def run(source):
        return generation.greedy_search(model, source, length, end_id=NEVER)["token_ids"]
    return compiled(run, xla)


def uncached_runner(model, length):
    @compiled
    def run(source):
        batch = ops.shape(source)[0]
        buffer = ops.concatenate([ops.ones((batch, 1), "int32"), ops.zeros((batch, length), "int32")], 1)

        def body(index, buffer):
            logits = model((source, buffer[:, :length]), training=False)  # The whole prefix again.
            logits = generation.logits_processing.forbid(ops.take(logits, index, axis=1), 0)
            token = ops.cast(ops.argmax(logits, -1), "int32")[:, None]
            return index + 1, ops.slice_update(buffer, (0, index + 1), token)

        _, buffer = ops.while_loop(lambda i, b: i < length, body, (ops.zeros((), "int32"), buffer))
        return buffer[:, 1:]
    return run


def floor_runner(model, length, xla=False):
    kernels = []
    for variable in model.decoder.trainable_variables:
        path = variable.path
        if "kernel" not in path or "embedding" in path:
            continue
        if "cross_attention/" in path and ("key_kernel" in path or "value_kernel" in path):
            continue  # Projected once per sentence, not per token.
        shape = tuple(variable.shape)
        rows = shape[0] if "output_kernel" not in path else shape[0] * shape[1]
        kernels.append((variable, rows))
    embeddings = model.decoder.embedding.token_embedding.embeddings
    width = embeddings.shape[1]

    def matrices():
        return [ops.reshape(variable, (rows, -1)) for variable, rows in kernels]

    def run(source):
        # Under XLA the 3-D kernels are reshaped outside the loop, as
        # `greedy_search` does (see `multi_head_attention.loop_invariant_kernels`).
        hoisted = matrices() if xla else None

        def body(index, x):
            for (_, rows), kernel in zip(kernels, hoisted or matrices()):
                inputs = x if rows == width else ops.tile(x, (1, rows // width))
                x = ops.matmul(inputs, kernel)[:, :width]
            logits = ops.matmul(x, ops.transpose(embeddings))  # (1, V)
            return index + 1, x + 1e-6 * logits[:, :width]

        x = ops.ones((ops.shape(source)[0], width))
        return ops.while_loop(lambda i, x: i < length, body, (ops.zeros((), "int32"), x))[1]
    return compiled(run, xla)


def keras_hub_runner(layers, width, heads, length, xla=False):
    import keras_hub

    source_embed = keras_hub.layers.TokenAndPositionEmbedding(VOCAB, 1024, width)
    encoders = [keras_hub.layers.TransformerEncoder(4 * width, heads) for _ in range(layers)]
    embed = keras_hub.layers.TokenAndPositionEmbedding(VOCAB, 1024, width)
    blocks = [keras_hub.layers.TransformerDecoder(4 * width, heads) for _ in range(layers)]
    head = keras.layers.Dense(VOCAB)
    head_size = width // heads

    def encode(source):
        x = source_embed(source)
        for block in encoders:
            x = block(x)
        return x

    encoder_output = encode(np.ones((1, SOURCE_LENGTH), "int32"))
    x = embed(np.ones((1, 1), "int32"))
    for block in blocks:
        block(x, encoder_output)
    head(x)

    def run(source):
        encoder_output = encode(source)
        self_caches, cross_caches = [], []
        batch = ops.shape(source)[0]
        step = embed(ops.ones((batch, 1), "int32"))
        for block in blocks:  # Fill the cross-attention caches once.
            self_cache = ops.zeros((batch, 2, length + 1, heads, head_size))
            cross = ops.zeros((batch, 2, SOURCE_LENGTH, heads, head_size))
            _, self_cache, cross = block(
                step, encoder_output, self_attention_cache=self_cache,
                self_attention_cache_update_index=0, cross_attention_cache=cross,
                cross_attention_cache_update_index=0,
            )
            self_caches.append(ops.zeros_like(self_cache))
            cross_caches.append(cross)

        def next(prompt, cache, index):
            token = ops.slice(prompt, (0, index - 1), (batch, 1))
            positions = ops.convert_to_tensor(embed.position_embedding.position_embeddings)
            x = embed.token_embedding(token) + ops.slice(positions, (index - 1, 0), (1, width))
            caches = []
            for block, self_cache, cross in zip(blocks, cache, cross_caches):
                x, self_cache, _ = block(
                    x, encoder_output, self_attention_cache=self_cache,
                    self_attention_cache_update_index=index - 1,
                    cross_attention_cache=cross, cross_attention_cache_update_index=None,
                )
                caches.append(self_cache)
            return head(x)[:, 0], None, tuple(caches)

        prompt = ops.concatenate([ops.ones((batch, 1), "int32"), ops.zeros((batch, length), "int32")], 1)
        mask = ops.broadcast_to(ops.arange(length + 1)[None] < 1, (batch, length + 1))
        return keras_hub.samplers.GreedySampler()(next, prompt, tuple(self_caches), index=1, mask=mask)
    return compiled(run, xla)


def ms_per_token(runners, source, length, repeats):
    """Best-of-`repeats` ms per step of each runner, interleaved so that load hits all alike."""
    for name, run in runners.items():
        if name == "uncached" and hasattr(run, "get_concrete_function"):
            run.get_concrete_function(source)  # Trace only: one run of it takes minutes.
            continue
        for _ in range(2):  # Trace, then warm up (JAX's second call is still slow).
            ops.convert_to_numpy(run(source))
    best = {name: float("inf") for name in runners}
    for round in range(repeats):
        for name, run in runners.items():
            if name == "uncached" and round > 0:
                continue  # Slow enough that one run is precise.
            start = time.perf_counter()
            ops.convert_to_numpy(run(source))
            best[name] = min(best[name], time.perf_counter() - start)
    return {name: 1000 * seconds / length for name, seconds in best.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lengths", default="32,128,512")
    parser.add_argument("--layers", type=int, default=6)
    parser.add_argument("--width", type=int, default=512)
    parser.add_argument("--heads", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch", type=int, default=1, help="sentences decoded together")
    parser.add_argument("--skip_keras_hub", action="store_true")
    parser.add_argument("--skip_uncached", action="store_true")
    parser.add_argument("--inter_op_threads", type=int, default=0,
                        help="TensorFlow's inter-op threads for every decoder (0: its default)")
    parser.add_argument("--intra_op_threads", type=int, default=0,
                        help="TensorFlow's intra-op threads for every decoder (0: its default)")
    args = parser.parse_args()
    if args.inter_op_threads or args.intra_op_threads:
        if keras.backend.backend() != "tensorflow":
            raise ValueError(
                "`--inter_op_threads`/`--intra_op_threads` set TensorFlow's thread pools. "
                f"Received: backend={keras.backend.backend()!r}"
            )
        import tensorflow as tf

        tf.config.threading.set_inter_op_parallelism_threads(args.inter_op_threads)
        tf.config.threading.set_intra_op_parallelism_threads(args.intra_op_threads)
    lengths = [int(n) for n in args.lengths.split(",")]
    model = ours(args.layers, args.width, args.heads)
    source = ops.convert_to_tensor(np.random.default_rng(0).integers(3, VOCAB, (args.batch, SOURCE_LENGTH)), "int32")
    modes = [False] if keras.backend.backend() == "jax" else [False, True]
    rows = {}
    for n in lengths:
        runners = {}
        for xla in modes:
            suffix = "_xla" if xla else ""
            runners["cached" + suffix] = cached_runner(model, n, xla)
            runners["floor" + suffix] = floor_runner(model, n, xla)
            if not args.skip_keras_hub:
                runners["keras_hub" + suffix] = keras_hub_runner(args.layers, args.width, args.heads, n, xla)
        if not args.skip_uncached:
            runners["uncached"] = uncached_runner(model, n)
        row = ms_per_token(runners, source, n, args.repeats)
        rows[n] = row
        print(f"N={n:4d} " + "  ".join(f"{k}={v:7.2f} ms/token" for k, v in row.items()), flush=True)
    best, winners = {}, {}
    for n, row in rows.items():
        best[n], winners[n] = _best_of_modes(row)
    print("Each decoder's faster compilation: " + "; ".join(
        f"N={n} " + ", ".join(f"{name} {mode}" for name, mode in winners[n].items()) for n in lengths))
    first, last = best[lengths[0]], best[lengths[-1]]
    print(f"cached ms/token at {lengths[-1]} / at {lengths[0]} = {last['cached'] / first['cached']:.2f} (target <= 1.5)")
    if "uncached" in last:
        print(f"uncached / cached at {lengths[-1]} = {last['uncached'] / last['cached']:.2f} (target >= 5)")
    if "keras_hub" in last:
        for n in lengths:
            print(f"keras-hub / keras_tfm ms/token at {n} = {best[n]['keras_hub'] / best[n]['cached']:.2f} (target >= 1.5)")
        for n in lengths:
            needed = best[n]["keras_hub"] / 1.5
            print(f"1.5x keras-hub at {n} needs <= {needed:.2f} ms/token: {needed / best[n]['floor']:.2f}x the floor")
    for n in lengths:
        peers = ["cached"] + (["keras_hub"] if "keras_hub" in best[n] else [])
        print(f"over the weight-streaming floor at {n}: " + ", ".join(
            f"{name} {best[n][name] / best[n]['floor']:.2f}x" for name in peers))


def _best_of_modes(row):
    """`({decoder: ms}, {decoder: "graph" or "XLA"})`: each decoder's faster compilation in `row`."""
    plain = "XLA" if keras.backend.backend() == "jax" else "graph"
    best, modes = {}, {}
    for key, ms in row.items():
        name, mode = (key[:-4], "XLA") if key.endswith("_xla") else (key, plain)
        if ms < best.get(name, float("inf")):
            best[name], modes[name] = ms, mode
    return best, modes


if __name__ == "__main__":
    main()
