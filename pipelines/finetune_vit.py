"""Fine-tunes a pretrained ViT on a few MNIST digits with a fresh zero-initialised head.

Example:
  python -m pipelines.finetune_vit --pretrained=workdir/vit_pretrain/model.keras --workdir=workdir/vit_finetune
Writes WORKDIR/model.keras and WORKDIR/results.json (top-1 on held-out digits).
"""

from absl import app, flags

from . import program_flags, vision


def main(argv):
    del argv
    results = vision.finetune(
        program_flags.config("finetune_steps", "finetune_batch_size"), flags.FLAGS.workdir,
        flags.FLAGS.pretrained, **program_flags.trainer_kwargs(),
    )
    print({k: v for k, v in results.items() if k != "model"})


def run():
    flags.DEFINE_string("pretrained", None, "The pretrained ViT's .keras file.", required=True)
    program_flags.define("vit_transfer")
    app.run(main)


if __name__ == "__main__":
    run()
