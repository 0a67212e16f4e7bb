"""Translation training on the JAX backend: `model.fit` under `keras.distribution.DataParallel`.

tf.distribute strategies are TensorFlow's; under `KERAS_BACKEND=jax` the same
program maps `--strategy=mirrored` to Keras's own data parallelism over all
local devices (`default` and `one_device` train on one device). Checkpoints
are `.keras` files holding model and optimizer state, written through a
temporary file every `checkpoint_every` steps; a restarted run loads the
latest one and skips the batches already seen, as the TensorFlow loop does.
"""

import json
import math
import os

import keras
from keras import ops

from . import trainer as trainer_lib

JAX_STRATEGIES = ("default", "one_device", "mirrored")


@keras.saving.register_keras_serializable(package="keras_tfm")
class MaskedTokenLoss(keras.losses.Loss):
    """Label-smoothed token cross-entropy averaged over the non-pad targets of the batch."""

    def __init__(self, label_smoothing, vocabulary_size, name="masked_token_loss", **kwargs):
        super().__init__(name=name, **kwargs)
        self.label_smoothing, self.vocabulary_size = label_smoothing, vocabulary_size

    def call(self, y_true, logits):
        y_true = ops.cast(y_true, "int32")
        mask = ops.cast(ops.not_equal(y_true, 0), "float32")
        labels = ops.one_hot(y_true, self.vocabulary_size)
        labels = labels * (1 - self.label_smoothing) + self.label_smoothing / self.vocabulary_size
        per_token = -ops.sum(labels * ops.log_softmax(ops.cast(logits, "float32"), axis=-1), axis=-1)
        # Scaled so that Keras's mean over (B, T) equals the mean over real tokens.
        return per_token * mask * ops.cast(ops.size(mask), "float32") / ops.maximum(ops.sum(mask), 1.0)

    def get_config(self):
        config = super().get_config()
        config.update(label_smoothing=self.label_smoothing, vocabulary_size=self.vocabulary_size)
        return config


def set_distribution(strategy_name):
    if strategy_name not in JAX_STRATEGIES:
        raise ValueError(
            f"`--strategy` must be one of {list(JAX_STRATEGIES)} under KERAS_BACKEND=jax "
            f"(mirrored = keras.distribution.DataParallel). Received: --strategy={strategy_name!r}"
        )
    if strategy_name == "mirrored":
        keras.distribution.set_distribution(keras.distribution.DataParallel())
    return keras.distribution.distribution()


class _Checkpoint(keras.callbacks.Callback):
    def __init__(self, path, state_path, every, start):
        super().__init__()
        self.path, self.state_path, self.every, self.step = path, state_path, every, start
        self.history = []

    def on_epoch_end(self, epoch, logs=None):
        self.step = min((epoch + 1) * self.every, self.params.get("total_steps", math.inf))
        trainer_lib.save_keras_atomically(self.model, self.path)
        with open(self.state_path, "w") as f:
            json.dump({"step": (epoch + 1) * self.every}, f)
        self.history.append(dict(step=(epoch + 1) * self.every, **{k: float(v) for k, v in (logs or {}).items()}))


def train_and_evaluate(config, workdir, strategy_name="default", tpu=None, mixed_precision="auto", verbose=1):
    from . import strategy as strategy_lib
    from . import translation

    strategy_lib.check_flags(strategy_name, tpu, mixed_precision, config.batch_size)
    trainer_lib.check_workdir(workdir)
    distribution = set_distribution(strategy_name)
    devices = 1 if distribution is None else len(distribution.device_mesh.devices.flatten())
    if config.batch_size % devices:
        raise ValueError(
            f"`--batch_size` must be divisible by the number of devices ({devices}). "
            f"Received: --batch_size={config.batch_size}"
        )
    strategy_lib.set_precision(strategy_lib.resolve_precision(mixed_precision, strategy_name))
    keras.utils.set_random_seed(config.seed)
    source_tok, target_tok, dataset, stats, eval_splits = translation.prepare_data(config, workdir)

    checkpoint = os.path.join(workdir, "checkpoint.keras")
    state_path = os.path.join(workdir, "checkpoint.json")
    start = 0
    if os.path.exists(checkpoint) and os.path.exists(state_path):
        model = keras.saving.load_model(checkpoint, compile=True)
        start = json.load(open(state_path))["step"]
    else:
        model = translation.build_model(config, source_tok.vocab_size, target_tok.vocab_size)
        model((ops.ones((1, config.max_length), "int32"), ops.ones((1, config.max_length), "int32")))
        model.compile(
            optimizer=translation.optimizer_for(config),
            loss=MaskedTokenLoss(config.label_smoothing, target_tok.vocab_size),
        )
    every = config.checkpoint_every
    saver = _Checkpoint(checkpoint, state_path, every, start)
    model.fit(
        dataset.skip(start), epochs=math.ceil(config.train_steps / every), initial_epoch=start // every,
        steps_per_epoch=every, callbacks=[saver], verbose=verbose,
    )
    trainer_lib.save_keras_atomically(model, os.path.join(workdir, "model.keras"))
    results = {"resumed_from_step": start, "history": saver.history,
               "data": None if stats is None else dict(vars(stats)), "backend": "jax",
               "devices": devices}
    results["evaluation"] = translation.evaluate(model, source_tok, target_tok, eval_splits, config)
    with open(os.path.join(workdir, "results.json"), "w") as f:
        json.dump(results, f, indent=2, default=str)
    results["model"] = model
    return results
