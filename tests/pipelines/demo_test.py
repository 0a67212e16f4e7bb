"""`make demo`'s code path, small: every step runs and every picture exists and is not blank."""

import json
import os

from pipelines import demo, pictures


def test_fast_demo_runs_every_step(tmp_path):
    summary = demo.run_demo(str(tmp_path), fast=True)
    assert summary["corpus"]["train"] > 0 and "test_heldout" in summary["corpus"]
    assert os.path.exists(tmp_path / "export" / "translator.tflite")
    assert [t["en"] for t in summary["translations"]] == [s for s, _ in demo.SEED_SENTENCES]
    assert all(isinstance(t["fr"], str) for t in summary["translations"])
    names = sorted(os.path.basename(p) for p in summary["pictures"])
    assert names == sorted([
        "attention_it_tired.png", "attention_it_wide.png", "binary_position_encoding.png",
        "sinusoidal_position_encoding.png", "vit_attention_rollout.png", "comparison.png",
    ])
    for path in summary["pictures"]:
        assert os.path.getsize(path) > 0 and not pictures.is_blank(path), path
    assert json.load(open(tmp_path / "summary.json"))["translations"] == summary["translations"]
