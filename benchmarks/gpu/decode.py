"""Decoding tokens/s on the lent GPU: keras_tfm's cached greedy search vs keras-hub, JAX backend.

Usage, on the device machine (no TensorFlow there; see ../shared/device/README.md
for carrying the Keras wheels, and add keras-hub's to compare against it):

    python3 benchmarks/gpu/decode.py [--batches 1,32 --lengths 32,128,512]

Runs `benchmarks/generation.py` (6 layers, d=512, vocabulary 8000, 32-token
source) once per batch size in a subprocess with KERAS_BACKEND=jax, so every
decoding loop is one `jax.jit` program, and prints its lines followed by
tokens/s (batch x 1000 / ms per step) of each decoder. Without keras-hub the
peer is skipped and only ours, uncached and the weight-streaming floor print.
"""

import argparse
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def has_keras_hub():
    try:
        import keras_hub  # noqa: F401
    except ImportError:
        return False
    return True


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", default="1,32")
    parser.add_argument("--lengths", default="32,128,512")
    parser.add_argument("--repeats", type=int, default=3)
    args, extra = parser.parse_known_args()
    env = dict(os.environ, KERAS_BACKEND="jax", PYTHONPATH=os.pathsep.join(
        [ROOT] + [p for p in [os.environ.get("PYTHONPATH")] if p]))
    peer = [] if has_keras_hub() else ["--skip_keras_hub"]
    for batch in args.batches.split(","):
        command = [sys.executable, os.path.join(ROOT, "benchmarks", "generation.py"), "--batch", batch,
                   "--lengths", args.lengths, "--repeats", str(args.repeats)] + peer + extra
        print(f"$ KERAS_BACKEND=jax {' '.join(command[1:])}", flush=True)
        output = subprocess.run(command, env=env, check=True, capture_output=True, text=True).stdout
        print(output, end="")
        for line in output.splitlines():
            if line.startswith("N="):
                length = re.match(r"N=\s*(\d+)", line).group(1)
                rates = {name: int(batch) * 1000 / float(ms)
                         for name, ms in re.findall(r"(\w+)=\s*([\d.]+) ms/token", line)}
                print(f"tokens/s batch={batch} N={length}: " + ", ".join(
                    f"{name} {rate:.0f}" for name, rate in rates.items()), flush=True)


if __name__ == "__main__":
    main()
