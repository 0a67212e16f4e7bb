"""Trains the seq2seq Transformer on a translation corpus under any tf.distribute strategy.

Example:
  python -m pipelines.train_translation --config=coref_translation --workdir=workdir/coref
  python -m pipelines.train_translation --config=coref_translation --set=train_steps=100 \\
      --strategy=mirrored --workdir=/tmp/coref
"""

from absl import app, flags

from . import configs, translation
from .strategy import PRECISIONS, STRATEGIES

FLAGS = flags.FLAGS
flags.DEFINE_string("config", "coref_translation", "Config module in pipelines/configs.")
flags.DEFINE_multi_string("set", [], "Config overrides, field=value.")
flags.DEFINE_string("workdir", None, "Checkpoints, TensorBoard, model and results.", required=True)
flags.DEFINE_string("strategy", "default", f"One of {STRATEGIES}.")
flags.DEFINE_string("tpu", None, "TPU name or address (with --strategy=tpu).")
flags.DEFINE_string("mixed_precision", "auto", f"One of {PRECISIONS}.")
flags.DEFINE_bool("jit_compile", False, "XLA-compile each replica's step.")
flags.DEFINE_integer("steps_per_execution", 1, "Optimizer steps per graph call.")
flags.DEFINE_integer("train_steps", None, "Overrides the config's train_steps.")
flags.DEFINE_integer("batch_size", None, "Global batch size; overrides the config's.")


def main(argv):
    del argv
    overrides = list(FLAGS.set)
    if FLAGS.train_steps is not None:
        overrides.append(f"train_steps={FLAGS.train_steps}")
    if FLAGS.batch_size is not None:
        overrides.append(f"batch_size={FLAGS.batch_size}")
    config = configs.apply_overrides(configs.get_config(FLAGS.config), overrides)
    results = translation.train_and_evaluate(
        config, FLAGS.workdir, FLAGS.strategy, FLAGS.tpu, FLAGS.mixed_precision,
        FLAGS.jit_compile, FLAGS.steps_per_execution,
    )
    for split, metrics in results.get("evaluation", {}).items():
        shown = {k: round(v, 4) for k, v in metrics.items() if isinstance(v, float)}
        print(split, shown)


def run():
    app.run(main)


if __name__ == "__main__":
    run()
