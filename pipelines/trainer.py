"""One custom training loop for every tf.distribute strategy.

Keras 3's `model.fit` fails under MultiWorkerMirroredStrategy (keras issue
20585) and with `jit_compile=True` under MirroredStrategy, so the programs
train with this loop instead, the same code under every strategy:

* the forward and backward pass of each replica is one `tf.function`,
  XLA-compiled when asked (`jit_compile` works under MirroredStrategy because
  the cross-replica all-reduce stays outside the compiled part);
* gradients are of the replica's *summed* loss, divided by the global
  weight count (all-reduced), so every strategy follows the same numerics
  as one device with the global batch;
* checkpoints hold the model, the optimizer (with its step counter) and so
  the data position: the input is a deterministic function of the step;
* TensorBoard scalars (loss, accuracy, learning rate, examples/s) and a
  Keras progress bar; only the chief writes them.
"""

import json
import os
import time

import keras
import tensorflow as tf


def is_chief(strategy):
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return True
    return resolver.task_type in (None, "chief") or (resolver.task_type == "worker" and resolver.task_id == 0)


def check_workdir(workdir):
    """Creates `workdir` or fails with a clear message before any training."""
    try:
        os.makedirs(workdir, exist_ok=True)
        probe = os.path.join(workdir, ".write_test")
        with open(probe, "w") as f:
            f.write("ok")
        os.remove(probe)
    except OSError as error:
        raise ValueError(f"`--workdir` must be a writable directory. Received: --workdir={workdir!r} ({error})") from None


def prepare(workdir, batch_size, strategy_name="default", tpu=None, mixed_precision="auto"):
    """Checks the flags and the workdir, builds the strategy, sets the precision policy.

    Everything that can be wrong with the flags fails here, before training.
    """
    from . import strategy as strategy_lib

    strategy_lib.check_flags(strategy_name, tpu, mixed_precision, batch_size)
    check_workdir(workdir)
    strategy = strategy_lib.make_strategy(strategy_name, tpu)
    strategy_lib.check_batch(batch_size, strategy)
    strategy_lib.set_precision(strategy_lib.resolve_precision(mixed_precision, strategy_name))
    return strategy


class Trainer:
    """Trains `model` on batches `(x, y)` with a loss that returns sums.

    Args:
        strategy: a `tf.distribute.Strategy`; model and optimizer are built in its scope.
        build_model: () -> a built Keras model.
        build_optimizer: () -> a Keras optimizer.
        loss_fn: (y, outputs) -> (loss_sum, weight_count, correct_count),
            scalars summed over this replica's examples.
        workdir: where `checkpoints/`, `tensorboard/` and `metrics.jsonl` go.
        jit_compile: XLA-compile the per-replica forward/backward pass.
        steps_per_execution: optimizer steps per call into the graph.
        checkpoint_every: steps between checkpoints.
        max_to_keep: checkpoints kept.
    """

    def __init__(
        self, strategy, build_model, build_optimizer, loss_fn, workdir,
        jit_compile=False, steps_per_execution=1, checkpoint_every=100, max_to_keep=3,
    ):
        self.strategy = strategy
        self.loss_fn = loss_fn
        self.workdir = workdir
        self.jit_compile = jit_compile
        self.steps_per_execution = max(1, int(steps_per_execution))
        self.checkpoint_every = max(1, int(checkpoint_every))
        self.chief = is_chief(strategy)
        with strategy.scope():
            self.model = build_model()
            self.optimizer = build_optimizer()
            if keras.mixed_precision.global_policy().name == "mixed_float16":
                self.optimizer = keras.optimizers.LossScaleOptimizer(self.optimizer)
            self.optimizer.build(self.model.trainable_variables)
        checkpoint_dir = os.path.join(workdir, "checkpoints")
        if not self.chief:  # Every worker saves (collectives), only the chief's copy is kept.
            checkpoint_dir = os.path.join(workdir, "tmp_worker_checkpoints", str(strategy.cluster_resolver.task_id))
        self.checkpoint = tf.train.Checkpoint(model=self.model, optimizer=self.optimizer)
        self.manager = tf.train.CheckpointManager(self.checkpoint, checkpoint_dir, max_to_keep=max_to_keep)
        self._train_fn = None

    @property
    def step(self):
        return int(self.optimizer.iterations.numpy())

    def restore(self):
        """Restores the latest checkpoint, if any; returns the step to resume from."""
        if self.manager.latest_checkpoint:
            self.checkpoint.restore(self.manager.latest_checkpoint).expect_partial()
        return self.step

    def _build_train_fn(self):
        model, optimizer, strategy = self.model, self.optimizer, self.strategy

        @tf.function(jit_compile=self.jit_compile)
        def gradients(x, y):
            with tf.GradientTape() as tape:
                outputs = model(x, training=True)
                loss_sum, count, correct = self.loss_fn(y, outputs)
                scaled = loss_sum
                if isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
                    scaled = optimizer.scale_loss(loss_sum)
            return loss_sum, count, correct, tape.gradient(scaled, model.trainable_variables)

        def replica_step(batch):
            x, y = batch
            loss_sum, count, correct, grads = gradients(x, y)
            context = tf.distribute.get_replica_context()
            total = tf.maximum(context.all_reduce("sum", tf.cast(count, "float32")), 1.0)
            grads = [g / tf.cast(total, g.dtype) for g in grads]
            optimizer.apply_gradients(zip(grads, model.trainable_variables))
            return tf.stack([tf.cast(loss_sum, "float32"), tf.cast(count, "float32"), tf.cast(correct, "float32")])

        @tf.function
        def train(iterator):
            sums = tf.zeros((3,))
            for _ in tf.range(self.steps_per_execution):
                per_replica = strategy.run(replica_step, args=(next(iterator),))
                sums += strategy.reduce("sum", per_replica, axis=None)
            return sums

        return train

    def train(self, dataset, total_steps, log_every=10, examples_per_step=None, verbose=1):
        """Trains until `optimizer.iterations == total_steps`.

        `dataset` yields global batches and must already start at the resume
        point (see `resume_dataset`). Returns the list of logged metrics.
        """
        options = tf.data.Options()
        options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
        iterator = iter(self.strategy.experimental_distribute_dataset(dataset.with_options(options)))
        if self._train_fn is None:
            self._train_fn = self._build_train_fn()
        writer = tf.summary.create_file_writer(os.path.join(self.workdir, "tensorboard")) if self.chief else None
        bar = keras.utils.Progbar(total_steps, verbose=verbose if self.chief else 0, stateful_metrics=["loss", "accuracy"])
        history, window, started = [], tf.zeros((3,)), time.perf_counter()
        step = last_log = last_save = self.step
        while step < total_steps:
            window += self._train_fn(iterator)
            step = self.step
            if step - last_log >= log_every or step >= total_steps:
                loss = float(window[0] / tf.maximum(window[1], 1.0))
                accuracy = float(window[2] / tf.maximum(window[1], 1.0))
                elapsed = time.perf_counter() - started
                rate = (examples_per_step or 0) * (step - last_log) / max(elapsed, 1e-9)
                lr = self.optimizer.learning_rate
                lr = float(lr(step) if callable(lr) else lr)
                record = dict(step=step, loss=loss, accuracy=accuracy, learning_rate=lr, examples_per_second=rate)
                history.append(record)
                if writer is not None:
                    with writer.as_default(step=step):
                        for key, value in record.items():
                            if key != "step":
                                tf.summary.scalar(key, value)
                    with open(os.path.join(self.workdir, "metrics.jsonl"), "a") as f:
                        f.write(json.dumps(record) + "\n")
                bar.update(step, [("loss", loss), ("accuracy", accuracy)])
                window, started, last_log = tf.zeros((3,)), time.perf_counter(), step
            if step - last_save >= self.checkpoint_every or step >= total_steps:
                self.manager.save(checkpoint_number=step)
                last_save = step
        if writer is not None:
            writer.flush()
        return history


def resume_dataset(dataset, start_step):
    """Skips the batches already consumed (one per optimizer step), so a resumed run sees the same data."""
    return dataset.skip(start_step)


def save_keras_atomically(model, path):
    """Writes `model` to `path` (.keras) through a temporary file and a rename."""
    tmp = f"{path}.tmp-{os.getpid()}.keras"
    model.save(tmp)
    os.replace(tmp, path)
