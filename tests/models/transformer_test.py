import os
import tempfile

import keras
import numpy as np
import pytest
from keras import ops

from keras_tfm.models import TRANSFORMER_PRESETS, Transformer
from tests.test_case import assert_allclose

TINY = dict(vocabulary_size=20, num_layers=2, hidden_dim=16, num_heads=2, intermediate_dim=32, dropout=0.1)
rng = np.random.default_rng(0)
SRC = rng.integers(1, 20, (3, 6)).astype("int32")
SRC[1, 4:] = 0
TGT = rng.integers(1, 20, (3, 5)).astype("int32")


@pytest.mark.parametrize(
    "extra",
    [dict(), dict(target_vocabulary_size=13, tie_embeddings=False),
     dict(merge="concat", position_dim=4, tie_embeddings=False, normalize_first=True)],
)
def test_config_and_keras_file_round_trip(extra):
    model = Transformer(**TINY, **extra)
    target = TGT % model.target_vocabulary_size
    logits = model((SRC, target))
    assert tuple(logits.shape) == (3, 5, model.target_vocabulary_size)
    clone = Transformer.from_config(model.get_config())
    clone((SRC, target))
    clone.set_weights(model.get_weights())
    assert_allclose(clone((SRC, target)), logits, atol=1e-6)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "t.keras")
        model.save(path)
        loaded = keras.saving.load_model(path)
    assert_allclose(loaded((SRC, target)), logits, atol=1e-6)
    assert len(loaded.weights) == len(model.weights)


def test_dict_inputs_and_shared_embeddings():
    model = Transformer(**TINY)
    out = model({"source_ids": SRC, "target_ids": TGT})
    assert_allclose(out, model((SRC, TGT)))
    assert model.decoder.embedding.token_embedding is model.encoder.embedding.token_embedding


def test_changing_later_targets_changes_no_earlier_output():
    model = Transformer(**TINY)
    base = ops.convert_to_numpy(model((SRC, TGT)))
    for t in range(4):
        changed = TGT.copy()
        changed[:, t + 1 :] = (changed[:, t + 1 :] + 7) % 19 + 1
        out = ops.convert_to_numpy(model((SRC, changed)))
        assert_allclose(out[:, : t + 1], base[:, : t + 1], atol=1e-5)
        assert not np.allclose(out[:, t + 1 :], base[:, t + 1 :], atol=1e-4)


def test_source_padding_changes_nothing():
    model = Transformer(**TINY)
    base = model((SRC, TGT))
    padded = model((np.pad(SRC, ((0, 0), (0, 5))), TGT))
    assert_allclose(padded, base, atol=1e-5)


@pytest.mark.parametrize("preset, paper", [("transformer-base", 65e6), ("transformer-big", 213e6)])
def test_preset_parameter_counts(preset, paper):
    assert TRANSFORMER_PRESETS[preset]["expected_params"] == paper
    model = Transformer.from_preset(preset, vocabulary_size=37000)
    model((np.ones((1, 2), "int32"), np.ones((1, 2), "int32")))
    assert abs(model.count_params() - paper) / paper < 0.05, model.count_params()


def reversal_data(n, length=6, vocabulary=12, seed=0):
    """Sequences of ids 3..vocabulary-1; start id 1, end id 2, pad id 0."""
    r = np.random.default_rng(seed)
    source = r.integers(3, vocabulary, (n, length)).astype("int32")
    target = source[:, ::-1]
    target_in = np.concatenate([np.ones((n, 1), "int32"), target], 1)
    target_out = np.concatenate([target, np.full((n, 1), 2, "int32")], 1)
    return (source, target_in), target_out


def test_learns_to_reverse_sequences_with_fit():
    keras.utils.set_random_seed(0)
    model = Transformer(12, num_layers=2, hidden_dim=64, num_heads=4, intermediate_dim=128, dropout=0.0)
    model.compile(
        optimizer=keras.optimizers.Adam(3e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=0),
        metrics=["accuracy"],
    )
    x, y = reversal_data(4000)
    model.fit(x, y, batch_size=64, epochs=4, verbose=0)
    x_test, y_test = reversal_data(500, seed=1)
    predicted = np.argmax(ops.convert_to_numpy(model.predict(x_test, verbose=0)), -1)
    assert (predicted == y_test).mean() >= 0.99


def test_bad_arguments():
    with pytest.raises(ValueError, match="vocabulary_size=0"):
        Transformer(vocabulary_size=0)
    with pytest.raises(ValueError, match="`merge` must be one of.*merge='sum'"):
        Transformer(**dict(TINY, merge="sum", tie_embeddings=False))
    with pytest.raises(ValueError, match="merge='concat'"):
        Transformer(**dict(TINY, merge="concat", position_dim=4))
    with pytest.raises(ValueError, match="share_embeddings=True"):
        Transformer(**dict(TINY, target_vocabulary_size=9, share_embeddings=True))
    with pytest.raises(ValueError, match="preset='tiny'"):
        Transformer.from_preset("tiny", vocabulary_size=10)
    with pytest.raises(ValueError, match="source_ids"):
        Transformer(**TINY)({"source": SRC})
