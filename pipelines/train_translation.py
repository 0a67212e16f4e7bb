"""Trains the seq2seq Transformer on a translation corpus under any tf.distribute strategy.

Example:
  python -m pipelines.train_translation --config=coref_translation --workdir=workdir/coref
  python -m pipelines.train_translation --config=coref_translation --set=train_steps=100 \\
      --strategy=mirrored --workdir=/tmp/coref
"""

from absl import app, flags

from . import program_flags, translation


def main(argv):
    del argv
    results = translation.train_and_evaluate(
        program_flags.config(), flags.FLAGS.workdir, **program_flags.trainer_kwargs()
    )
    for split, metrics in results.get("evaluation", {}).items():
        shown = {k: round(v, 4) for k, v in metrics.items() if isinstance(v, float)}
        print(split, shown)


def run():
    program_flags.define("coref_translation")
    app.run(main)


if __name__ == "__main__":
    run()
