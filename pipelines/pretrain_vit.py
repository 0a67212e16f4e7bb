"""Pretrains a ViT on Fashion-MNIST (the "large" dataset that ships offline) under any strategy.

Example:
  python -m pipelines.pretrain_vit --workdir=workdir/vit_pretrain
Writes WORKDIR/model.keras and WORKDIR/results.json (Fashion-MNIST test top-1).
"""

from absl import app, flags

from . import program_flags, vision


def main(argv):
    del argv
    results = vision.pretrain(program_flags.config("pretrain_steps"), flags.FLAGS.workdir,
                              **program_flags.trainer_kwargs())
    print({k: v for k, v in results.items() if k != "model"})


def run():
    program_flags.define("vit_transfer")
    app.run(main)


if __name__ == "__main__":
    run()
