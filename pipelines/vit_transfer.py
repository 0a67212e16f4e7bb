"""The seed's transfer-learning experiment: ViT pretrained on Fashion-MNIST, fine-tuned on few MNIST digits.

Example:
  python -m pipelines.vit_transfer --workdir=workdir/vit_transfer
  python -m pipelines.vit_transfer --config=tiny_vision --workdir=/tmp/vit
"""

from absl import app, flags

from . import configs, vision
from .strategy import STRATEGIES

FLAGS = flags.FLAGS
flags.DEFINE_string("config", "vit_transfer", "Config module in pipelines/configs.")
flags.DEFINE_multi_string("set", [], "Config overrides, field=value.")
flags.DEFINE_string("workdir", None, "Checkpoints, TensorBoard and results.", required=True)
flags.DEFINE_string("strategy", "default", f"One of {STRATEGIES}.")


def main(argv):
    del argv
    config = configs.apply_overrides(configs.get_config(FLAGS.config), FLAGS.set)
    rows = vision.run_experiment(config, FLAGS.workdir, FLAGS.strategy, verbose=1)
    print(vision.markdown_table(rows, config))


def run():
    app.run(main)


if __name__ == "__main__":
    run()
