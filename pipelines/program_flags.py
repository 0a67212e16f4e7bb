"""The flags every training program shares, and the config they produce."""

from absl import flags

from . import configs
from .strategy import PRECISIONS, STRATEGIES


def define(default_config):
    flags.DEFINE_string("config", default_config, "Config module in pipelines/configs.")
    flags.DEFINE_multi_string("set", [], "Config overrides, field=value.")
    flags.DEFINE_string("workdir", None, "Checkpoints, TensorBoard, models and results.", required=True)
    flags.DEFINE_string("strategy", "default", f"One of {STRATEGIES}.")
    flags.DEFINE_string("tpu", None, "TPU name or address (with --strategy=tpu).")
    flags.DEFINE_string("mixed_precision", "auto", f"One of {PRECISIONS}.")
    flags.DEFINE_bool("jit_compile", False, "XLA-compile each replica's step.")
    flags.DEFINE_integer("steps_per_execution", 1, "Optimizer steps per graph call.")
    flags.DEFINE_integer("train_steps", None, "Overrides the config's step count.")
    flags.DEFINE_integer("batch_size", None, "Global batch size; overrides the config's.")


def config(steps_field="train_steps", batch_field="batch_size"):
    """The named config with `--set`, `--train_steps` and `--batch_size` applied."""
    FLAGS = flags.FLAGS
    overrides = list(FLAGS.set)
    if FLAGS.train_steps is not None:
        overrides.append(f"{steps_field}={FLAGS.train_steps}")
    if FLAGS.batch_size is not None:
        overrides.append(f"{batch_field}={FLAGS.batch_size}")
    return configs.apply_overrides(configs.get_config(FLAGS.config), overrides)


def trainer_kwargs():
    FLAGS = flags.FLAGS
    return dict(
        strategy_name=FLAGS.strategy, tpu=FLAGS.tpu, mixed_precision=FLAGS.mixed_precision,
        jit_compile=FLAGS.jit_compile, steps_per_execution=FLAGS.steps_per_execution,
    )
