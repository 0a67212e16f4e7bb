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


def test_pretrain_and_finetune_programs(tmp_path):
    import subprocess
    import sys

    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    common = ["--config=tiny_vision", "--steps_per_execution=2"]
    for program, extra in (
        ("pipelines.pretrain_vit", [f"--workdir={tmp_path / 'pre'}", "--train_steps=6"]),
        ("pipelines.finetune_vit", [f"--workdir={tmp_path / 'fine'}", f"--pretrained={tmp_path / 'pre' / 'model.keras'}"]),
    ):
        done = subprocess.run([sys.executable, "-m", program] + common + extra, cwd=root,
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-3000:]
    assert tf.train.latest_checkpoint(str(tmp_path / "pre" / "checkpoints")).endswith("ckpt-6")
    assert os.path.exists(tmp_path / "fine" / "model.keras")
    assert "mnist_top1" in open(tmp_path / "fine" / "results.json").read()


def test_bad_flags_fail_before_training(tmp_path):
    import pytest

    config = configs.get_config("tiny_vision")
    with pytest.raises(ValueError, match="--strategy='tpus'"):
        vision.pretrain(config, str(tmp_path), strategy_name="tpus")
    assert not os.path.exists(tmp_path / "checkpoints")
