"""The translation program: a few real steps, every strategy, resume after SIGKILL, bad flags."""

import glob
import json
import os
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf

from pipelines import configs, strategy as strategy_lib, translation

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TINY = configs.apply_overrides(configs.get_config("tiny_translation"), ["eval_size=4"])


def worker(workdir, strategy, cpus=1, overrides=(), env=None, wait=True):
    command = [sys.executable, "-m", "tests.pipelines.translation_worker", str(workdir), strategy, str(cpus)]
    command += list(overrides)
    process = subprocess.Popen(
        command, cwd=ROOT, env=dict(os.environ, **(env or {})),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    if wait:
        output, _ = process.communicate(timeout=300)
        assert process.returncode == 0, output[-3000:]
    return process


def outputs(workdir):
    weights = [np.load(p) for p in sorted(glob.glob(os.path.join(workdir, "weights-*.npz")))]
    losses = [json.load(open(p)) for p in sorted(glob.glob(os.path.join(workdir, "losses-*.json")))]
    return [[w[k] for k in sorted(w.files, key=lambda k: int(k.split("_")[1]))] for w in weights], losses


def assert_same_weights(a, b, atol):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        np.testing.assert_allclose(x, y, atol=atol)


def test_a_few_steps_lower_the_loss_and_write_a_checkpoint(tmp_path):
    results = translation.train_and_evaluate(TINY, str(tmp_path), verbose=0)
    losses = [h["loss"] for h in results["history"]]
    assert losses[-1] < losses[0]
    assert tf.train.latest_checkpoint(str(tmp_path / "checkpoints")).endswith("ckpt-20")
    assert os.path.exists(tmp_path / "model.keras") and os.path.exists(tmp_path / "results.json")
    assert set(results["evaluation"]) == {"test", "test_heldout"}
    assert 0.0 <= results["evaluation"]["test"]["pronoun_accuracy"] <= 1.0


def test_mirrored_over_two_cpus_follows_the_default_strategy(tmp_path):
    # SGD: the update is linear in the all-reduced gradient, so any error in
    # the reduction shows; Adam would amplify float noise in rare tokens' rows.
    worker(tmp_path / "default", "default", overrides=["optimizer=sgd"])
    worker(tmp_path / "mirrored", "mirrored", cpus=2, overrides=["optimizer=sgd"])
    (default_weights,), (default_losses,) = outputs(tmp_path / "default")
    (mirrored_weights,), (mirrored_losses,) = outputs(tmp_path / "mirrored")
    np.testing.assert_allclose(mirrored_losses, default_losses, rtol=1e-5)
    assert_same_weights(mirrored_weights, default_weights, atol=1e-5)


def free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def test_multi_worker_mirrored_two_processes_end_with_identical_weights(tmp_path):
    workers = [f"127.0.0.1:{p}" for p in free_ports(2)]
    processes = []
    for index in range(2):
        tf_config = {"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}}
        processes.append(worker(tmp_path, "multi_worker_mirrored", overrides=["train_steps=10"], wait=False,
                                env={"TF_CONFIG": json.dumps(tf_config)}))
    for process in processes:
        output, _ = process.communicate(timeout=300)
        assert process.returncode == 0, output[-3000:]
    weights, losses = outputs(tmp_path)
    assert len(weights) == 2 and losses[0] == losses[1]
    assert_same_weights(weights[0], weights[1], atol=0)


def test_resumes_after_sigkill_and_matches_an_uninterrupted_run(tmp_path):
    worker(tmp_path / "straight", "default", overrides=["train_steps=40"])
    killed = tmp_path / "killed"
    process = worker(killed, "default", overrides=["train_steps=40"], wait=False)
    deadline = time.time() + 240
    while not tf.train.latest_checkpoint(str(killed / "checkpoints")) and time.time() < deadline:
        time.sleep(0.2)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    first = tf.train.latest_checkpoint(str(killed / "checkpoints"))
    assert first is not None and not os.path.exists(killed / "model.keras"), "killed too late"
    worker(killed, "default", overrides=["train_steps=40"])
    (straight,), _ = outputs(tmp_path / "straight")
    (resumed,), _ = outputs(killed)
    results = json.load(open(killed / "results.json"))
    assert results["resumed_from_step"] == int(first.rsplit("-", 1)[1]) > 0
    assert_same_weights(resumed, straight, atol=1e-4)


def test_tpu_strategy_passes_the_flag_to_the_resolver(monkeypatch):
    seen = {}

    class FakeResolver:
        def __init__(self, tpu=None, **kwargs):
            seen["tpu"] = tpu
            raise RuntimeError("no TPU here")

    monkeypatch.setattr(tf.distribute.cluster_resolver, "TPUClusterResolver", FakeResolver)
    with pytest.raises(RuntimeError, match="no TPU here"):
        strategy_lib.make_strategy("tpu", tpu="grpc://10.0.0.2:8470")
    assert seen["tpu"] == "grpc://10.0.0.2:8470"


def test_tpu_ready_static_shapes_and_xla_train_step(tmp_path):
    # What TPUStrategy needs, checked on the CPU: every batch has a fully
    # static shape and the replica step compiles with XLA.
    from keras_tfm.data.text_pipeline import make_translation_dataset
    from keras_tfm.text import learn_translation_tokenizers

    train, _ = translation.load_pairs(TINY)
    source, target = learn_translation_tokenizers(train, TINY.vocab_size)
    dataset, _ = make_translation_dataset(train, source, target, batch_size=8, max_source_length=20,
                                          max_target_length=20, batching="pad", drop_remainder=True, repeat=True)
    for spec in tf.nest.flatten(dataset.element_spec):
        assert spec.shape.is_fully_defined(), spec
    results = translation.train_and_evaluate(
        configs.apply_overrides(TINY, ["train_steps=4", "eval_size=2"]), str(tmp_path), jit_compile=True, verbose=0
    )
    assert np.isfinite(results["history"][-1]["loss"])


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(strategy_name="gpus"), "--strategy='gpus'"),
        (dict(tpu="my-tpu"), "--tpu='my-tpu'"),
        (dict(mixed_precision="float8"), "--mixed_precision='float8'"),
    ],
)
def test_bad_flags_fail_before_training(tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message):
        translation.train_and_evaluate(TINY, str(tmp_path), **kwargs)
    assert not os.path.exists(tmp_path / "checkpoints")


def test_batch_not_divisible_by_replicas_and_unwritable_workdir(tmp_path):
    strategy = tf.distribute.get_strategy()

    class TwoReplicas:
        num_replicas_in_sync = 2

    with pytest.raises(ValueError, match="divisible by the number of replicas.*--batch_size=15"):
        strategy_lib.check_batch(15, TwoReplicas())
    assert strategy_lib.check_batch(16, strategy) == 16
    blocked = tmp_path / "file"
    blocked.write_text("not a directory")
    with pytest.raises(ValueError, match="--workdir"):
        translation.train_and_evaluate(TINY, str(blocked / "run"), verbose=0)
