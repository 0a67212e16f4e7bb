"""Forward+backward of blockwise attention over a long sequence: time and peak memory.

Usage: python benchmarks/long_attention.py [--length 16384 --heads 8 --head_size 64 --block_size 512]
One batch element of N heads attends over T = S = `--length` tokens, forward
and backward (gradients of query, key and value), compiled (`tf.function` on
TensorFlow, `jax.jit` on JAX). The naive float32 score tensor alone would take
`N * T^2 * 4` bytes (8.6 GB at 16,384 tokens); the target is a peak resident
memory of the whole process under 4 GiB. Each configuration runs in a fresh
subprocess so that `ru_maxrss` is its own peak. On a shared 2-core CPU the
causal 16,384-token run takes about 2 minutes (`make bench` runs it once). With `--check_length` (default
512) the blockwise result is also compared with the plain one at that length.
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET_GIB = 4.0


def measure(length, heads, head_size, block_size, causal, check_length, calls):
    import keras
    import numpy as np

    from keras_tfm.layers.blockwise_attention import blockwise_attention

    def attention(q, k, v, block):
        return blockwise_attention(q, k, v, use_causal_mask=causal, block_size=block)

    def plain(q, k, v, block):
        scores = keras.ops.matmul(q, keras.ops.swapaxes(k, -1, -2)) / np.sqrt(head_size)
        if causal:
            t = q.shape[2]
            scores = keras.ops.where(np.tril(np.ones((t, t), bool)), scores, -1e9)
        return keras.ops.matmul(keras.ops.softmax(scores, axis=-1), v)

    grads = _grad_fn(keras.backend.backend())
    rng = np.random.default_rng(0)
    if check_length:
        q, k, v = (rng.normal(size=(1, heads, check_length, head_size)).astype("float32") for _ in range(3))
        block = max(1, check_length // 3)
        ours = grads(attention, q, k, v, block)
        ref = grads(plain, q, k, v, block)
        check = max(float(np.max(np.abs(np.asarray(a) - np.asarray(b)))) for a, b in zip(ours, ref))
    q, k, v = (rng.normal(size=(1, heads, length, head_size)).astype("float32") for _ in range(3))
    for _ in range(calls):  # The first call includes tracing (about a second).
        start = time.perf_counter()
        grads(attention, q, k, v, block_size)
        seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB.
    result = dict(backend=keras.backend.backend(), length=length, causal=causal, seconds=round(seconds, 2),
                  peak_gib=round(peak / 2**30, 3),
                  naive_scores_gib=round(heads * length**2 * 4 / 2**30, 2))
    if check_length:
        result["max_abs_diff_vs_plain"] = check
    return result


def _grad_fn(backend):
    if backend == "tensorflow":
        import tensorflow as tf

        def grads(fn, q, k, v, block):
            @tf.function(jit_compile=False)
            def step(q, k, v):
                with tf.GradientTape() as tape:
                    tape.watch([q, k, v])
                    loss = tf.reduce_sum(fn(q, k, v, block) ** 2)
                return tape.gradient(loss, [q, k, v])

            return [g.numpy() for g in step(tf.constant(q), tf.constant(k), tf.constant(v))]

        return grads
    if backend == "jax":
        import jax

        def grads(fn, q, k, v, block):
            step = jax.jit(jax.grad(lambda q, k, v: (fn(q, k, v, block) ** 2).sum(), argnums=(0, 1, 2)))
            return jax.block_until_ready(step(q, k, v))

        return grads
    raise SystemExit(f"unsupported backend {backend}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--length", type=int, default=16384)
    parser.add_argument("--heads", type=int, default=8)
    parser.add_argument("--head_size", type=int, default=64)
    parser.add_argument("--block_size", type=int, default=512)
    parser.add_argument("--causal", type=int, nargs="+", default=[1], help="1 causal, 0 full; one run each")
    parser.add_argument("--check_length", type=int, default=512)
    parser.add_argument("--calls", type=int, default=1, help="timed calls; the last one is reported")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        result = measure(args.length, args.heads, args.head_size, args.block_size, bool(args.causal[0]),
                         args.check_length, args.calls)
        print("RESULT " + json.dumps(result), flush=True)
        return
    for causal in args.causal:
        command = [sys.executable, os.path.abspath(__file__), "--child", "--length", str(args.length),
                   "--heads", str(args.heads), "--head_size", str(args.head_size),
                   "--block_size", str(args.block_size), "--causal", str(causal),
                   "--check_length", str(args.check_length), "--calls", str(args.calls)]
        lines = subprocess.run(command, cwd=ROOT, check=True, capture_output=True, text=True).stdout
        result = json.loads(lines.split("RESULT ", 1)[1])
        verdict = "met" if result["peak_gib"] <= TARGET_GIB else "NOT met"
        print(f"backend={result['backend']} B=1 N={args.heads} H={args.head_size} T=S={args.length} "
              f"{'causal' if causal else 'full'} block={args.block_size}: fwd+bwd {result['seconds']:.1f} s "
              f"(call {args.calls}), peak RSS {result['peak_gib']:.2f} GiB "
              f"(target <= {TARGET_GIB} GiB: {verdict}; naive scores alone {result['naive_scores_gib']} GiB)"
              + (f", max |blockwise - plain| at {args.check_length} tokens "
                 f"{result['max_abs_diff_vs_plain']:.1e}" if args.check_length else ""))


if __name__ == "__main__":
    main()
