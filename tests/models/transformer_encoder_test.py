import numpy as np
import pytest
from keras import ops

from keras_tfm.models import TransformerDecoder, TransformerEncoder
from tests.test_case import assert_allclose, run_layer_test

SRC = np.array([[4, 5, 6, 7, 0], [8, 9, 3, 0, 0]], "int32")
STACK = dict(vocabulary_size=12, num_layers=2, hidden_dim=16, num_heads=2, intermediate_dim=32)


@pytest.mark.parametrize(
    "extra",
    [dict(), dict(normalize_first=True, position_encoding="learned", max_length=8),
     dict(merge="concat", position_encoding="binary", position_dim=4)],
)
def test_encoder(extra):
    run_layer_test(TransformerEncoder, dict(STACK, **extra), SRC, (2, 5, 16))


def test_decoder():
    enc = np.random.default_rng(0).normal(size=(2, 5, 16)).astype("float32")
    run_layer_test(
        TransformerDecoder, STACK, {"token_ids": SRC[:, :4], "encoder_output": enc}, (2, 4, 16)
    )


def test_appending_padding_leaves_real_positions_unchanged():
    encoder = TransformerEncoder(**STACK)
    base = ops.convert_to_numpy(encoder(SRC))
    padded = ops.convert_to_numpy(encoder(np.pad(SRC, ((0, 0), (0, 4)))))
    real = SRC != 0
    assert_allclose(padded[:, :5][real], base[real], atol=1e-5)


def test_bad_arguments():
    with pytest.raises(ValueError, match="hidden_dim=16, num_heads=3"):
        TransformerEncoder(**dict(STACK, num_heads=3))
    with pytest.raises(ValueError, match="position_dim=None"):
        TransformerEncoder(**dict(STACK, merge="concat"))
    with pytest.raises(ValueError, match=r"longer than `max_length=4`.*\(2, 5\)"):
        TransformerEncoder(**dict(STACK, position_encoding="learned", max_length=4))(SRC)
