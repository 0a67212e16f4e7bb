"""Decoding speed: keras_tfm's cached greedy search vs uncached decoding vs keras-hub.

Usage: python benchmarks/generation.py [--lengths 32,128,512 --layers 6 --width 512]

One process, CPU, TensorFlow backend, batch 1, random weights, every loop
compiled with `tf.function`. All three generate exactly N tokens (no end id):
  * keras_tfm cached: `greedy_search` over the preallocated key/value cache;
  * keras_tfm uncached: the same compiled loop, but each step reruns the
    full model over the whole (fixed-size) prefix buffer, as without a cache;
  * keras-hub: the same translation with keras-hub's layers: a 6-layer
    `keras_hub.layers.TransformerEncoder` stack over the source, then a 6-layer
    `TransformerDecoder` stack with its self- and cross-attention caches driven
    by `keras_hub.samplers.GreedySampler`.
Prints ms per generated token and the ratios of the targets: cached at 512
vs at 32 (<= 1.5), uncached/cached at 512 (>= 5) and keras-hub/keras_tfm
ms per token (>= 1.5). Both translate the same 32-token source: encoder pass
included. keras-hub is a benchmark-only dependency (`make bench`).
"""

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from keras import ops  # noqa: E402

from keras_tfm import generation  # noqa: E402
from keras_tfm.models import Transformer  # noqa: E402

VOCAB, SOURCE_LENGTH, NEVER = 8000, 32, -1


def ours(layers, width, heads):
    model = Transformer(VOCAB, num_layers=layers, hidden_dim=width, num_heads=heads,
                        intermediate_dim=4 * width, dropout=0.0)
    model((np.ones((1, 2), "int32"), np.ones((1, 2), "int32")))
    return model


def cached_runner(model, length):
    @tf.function
    def run(source):
        return generation.greedy_search(model, source, length, end_id=NEVER)["token_ids"]
    return run


def uncached_runner(model, length):
    @tf.function
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


def keras_hub_runner(layers, width, heads, length):
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

    @tf.function
    def run(source):
        encoder_output = encode(source)
        self_caches, cross_caches = [], []
        step = embed(ops.ones((1, 1), "int32"))
        for block in blocks:  # Fill the cross-attention caches once.
            self_cache = ops.zeros((1, 2, length + 1, heads, head_size))
            cross = ops.zeros((1, 2, SOURCE_LENGTH, heads, head_size))
            _, self_cache, cross = block(
                step, encoder_output, self_attention_cache=self_cache,
                self_attention_cache_update_index=0, cross_attention_cache=cross,
                cross_attention_cache_update_index=0,
            )
            self_caches.append(ops.zeros_like(self_cache))
            cross_caches.append(cross)

        def next(prompt, cache, index):
            token = ops.slice(prompt, (0, index - 1), (1, 1))
            x = embed.token_embedding(token) + ops.slice(
                embed.position_embedding.position_embeddings, (index - 1, 0), (1, width))
            caches = []
            for block, self_cache, cross in zip(blocks, cache, cross_caches):
                x, self_cache, _ = block(
                    x, encoder_output, self_attention_cache=self_cache,
                    self_attention_cache_update_index=index - 1,
                    cross_attention_cache=cross, cross_attention_cache_update_index=None,
                )
                caches.append(self_cache)
            return head(x)[:, 0], None, tuple(caches)

        prompt = ops.concatenate([ops.ones((1, 1), "int32"), ops.zeros((1, length), "int32")], 1)
        mask = ops.arange(length + 1)[None] < 1
        return keras_hub.samplers.GreedySampler()(next, prompt, tuple(self_caches), index=1, mask=mask)
    return run


def ms_per_token(run, source, length, repeats):
    run(source)  # Trace and warm up.
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        ops.convert_to_numpy(run(source))
        best = min(best, time.perf_counter() - start)
    return 1000 * best / length


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lengths", default="32,128,512")
    parser.add_argument("--layers", type=int, default=6)
    parser.add_argument("--width", type=int, default=512)
    parser.add_argument("--heads", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip_keras_hub", action="store_true")
    args = parser.parse_args()
    lengths = [int(n) for n in args.lengths.split(",")]
    model = ours(args.layers, args.width, args.heads)
    source = ops.convert_to_tensor(np.random.default_rng(0).integers(3, VOCAB, (1, SOURCE_LENGTH)), "int32")
    rows = {}
    for n in lengths:
        row = {
            "cached": ms_per_token(cached_runner(model, n), source, n, args.repeats),
            "uncached": ms_per_token(uncached_runner(model, n), source, n, 1),
        }
        if not args.skip_keras_hub:
            row["keras_hub"] = ms_per_token(
                keras_hub_runner(args.layers, args.width, args.heads, n), source, n, args.repeats)
        rows[n] = row
        print(f"N={n:4d} " + "  ".join(f"{k}={v:7.2f} ms/token" for k, v in row.items()), flush=True)
    first, last = rows[lengths[0]], rows[lengths[-1]]
    print(f"cached ms/token at {lengths[-1]} / at {lengths[0]} = {last['cached'] / first['cached']:.2f} (target <= 1.5)")
    print(f"uncached / cached at {lengths[-1]} = {last['uncached'] / last['cached']:.2f} (target >= 5)")
    if "keras_hub" in last:
        for n in lengths:
            print(f"keras-hub / keras_tfm ms/token at {n} = {rows[n]['keras_hub'] / rows[n]['cached']:.2f} (target >= 1.5)")


if __name__ == "__main__":
    main()
