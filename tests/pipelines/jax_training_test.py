"""The translation program under KERAS_BACKEND=jax: DataParallel over two host devices, resume, bad flags."""

import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run(workdir, *flags):
    env = dict(os.environ, KERAS_BACKEND="jax", TF_CPP_MIN_LOG_LEVEL="3",
               XLA_FLAGS="--xla_force_host_platform_device_count=2")
    command = [sys.executable, "-m", "pipelines.train_translation", "--config=tiny_translation",
               f"--workdir={workdir}", "--set=eval_size=2", *flags]
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


def test_data_parallel_training_resumes_from_its_checkpoint(tmp_path):
    first = run(tmp_path, "--strategy=mirrored", "--train_steps=10")
    assert first.returncode == 0, first.stderr[-3000:]
    results = json.load(open(tmp_path / "results.json"))
    assert results["backend"] == "jax" and results["devices"] == 2 and results["resumed_from_step"] == 0
    second = run(tmp_path, "--strategy=mirrored", "--train_steps=20")
    assert second.returncode == 0, second.stderr[-3000:]
    resumed = json.load(open(tmp_path / "results.json"))
    assert resumed["resumed_from_step"] == 10
    assert [h["step"] for h in resumed["history"]] == [20]
    assert resumed["history"][0]["loss"] < results["history"][0]["loss"]


def test_tf_only_strategies_are_refused_under_jax(tmp_path):
    done = run(tmp_path, "--strategy=multi_worker_mirrored")
    assert done.returncode != 0 and "under KERAS_BACKEND=jax" in done.stderr
    assert not os.path.exists(tmp_path / "checkpoint.keras")
