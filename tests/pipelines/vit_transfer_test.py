"""The ViT programs: pretraining and fine-tuning run real steps on a tiny config."""

import os

import numpy as np
import tensorflow as tf

from pipelines import configs, vision


def test_tiny_transfer_experiment_trains_every_model(tmp_path):
    config = configs.get_config("tiny_vision")
    rows = vision.run_experiment(config, str(tmp_path))
    assert [r["model"].split()[0] for r in rows] == ["ViT", "ViT", "CNN", "CNN"]
    for row in rows:
        assert 0.0 <= row["mnist_accuracy"] <= 1.0
    for run in ("vit_pretrain", "vit_finetune", "vit_scratch", "cnn_pretrain", "cnn_finetune", "cnn_scratch"):
        assert tf.train.latest_checkpoint(str(tmp_path / run / "checkpoints")), run
    table = vision.markdown_table(rows, config)
    assert table.count("\n") == 5 and "ViT pretrained" in table
    assert os.path.exists(tmp_path / "transfer_results.json")


def test_pretraining_lowers_the_loss(tmp_path):
    config = configs.apply_overrides(configs.get_config("tiny_vision"), ["pretrain_steps=30", "log_every=10"])
    data = vision.load_data(config)
    model, history = vision.train(
        config, str(tmp_path), lambda: vision.vit(config), data["pretrain"], config.pretrain_steps,
        config.batch_size, vision.pretraining_optimizer(config), tf.distribute.get_strategy(),
    )
    losses = [h["loss"] for h in history]
    assert losses[-1] < losses[0]
    assert np.isfinite(losses).all()
