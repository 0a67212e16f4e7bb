"""Runs the tiny translator in a fresh process (logical CPUs and TF_CONFIG need one).

Usage: python -m tests.pipelines.translation_worker WORKDIR STRATEGY CPUS [field=value ...]
Writes WORKDIR/weights.npz and WORKDIR/losses.json.
"""

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def main(workdir, strategy, cpus=1, overrides=()):
    from pipelines import strategy as strategy_lib

    if cpus > 1:
        strategy_lib.split_cpu(cpus)
    import numpy as np

    from pipelines import configs, translation

    config = configs.get_config("tiny_translation")
    config = configs.apply_overrides(config, ["eval_size=2"] + list(overrides))
    results = translation.train_and_evaluate(config, workdir, strategy_name=strategy, verbose=0)
    weights = results["model"].get_weights()
    np.savez(os.path.join(workdir, f"weights-{os.getpid()}.npz"), *weights)
    with open(os.path.join(workdir, f"losses-{os.getpid()}.json"), "w") as f:
        json.dump([h["loss"] for h in results["history"]], f)


if __name__ == "__main__":
    args = sys.argv[1:]
    main(args[0], args[1], int(args[2]), args[3:])
