"""Cached decoding against full forward passes, and the decoders against each other."""

import itertools

import keras
import numpy as np
import pytest
from keras import ops

from keras_tfm import generation
from keras_tfm.generation import logits_processing
from keras_tfm.models import Transformer
from tests.test_case import assert_allclose

PAD, START, END = 0, 1, 2


def tiny_model(vocabulary=9, sharpen=1.0, seed=0, **kwargs):
    keras.utils.set_random_seed(seed)
    config = dict(num_layers=2, hidden_dim=16, num_heads=2, intermediate_dim=32, dropout=0.0)
    config.update(kwargs)
    model = Transformer(vocabulary, tie_embeddings=False, **config)
    model((np.ones((1, 3), "int32"), np.ones((1, 3), "int32")))
    kernel, bias = model.output_projection.get_weights()
    model.output_projection.set_weights([kernel * sharpen, bias])
    return model


SOURCE = np.array([[3, 4, 5, 6, 0, 0], [7, 3, 8, 4, 5, 6], [5, 5, 0, 0, 0, 0]], "int32")


def constrained_log_probs(model, source, prefix):
    """Log-probabilities of the next token by a full uncached pass, pad forbidden."""
    logits = generation.uncached_logits(model, source, prefix)
    logits = logits_processing.constrain(logits, 0, PAD, END, 0)
    return ops.convert_to_numpy(ops.log_softmax(logits, axis=-1))


def test_cached_logits_equal_uncached_at_every_step():
    model = tiny_model()
    targets = np.random.default_rng(1).integers(3, 9, (3, 7)).astype("int32")
    targets[:, 0] = START
    cache = generation.DecoderCache.create(model, SOURCE, max_length=7)
    self_cache = cache.self_attention
    for t in range(7):
        logits, self_cache = generation.decode_step(
            model, targets[:, t : t + 1], t, self_cache, cache.cross_attention, cache.source_mask
        )
        expected = generation.uncached_logits(model, SOURCE, targets[:, : t + 1])
        assert_allclose(logits, expected, atol=1e-5, rtol=1e-5)


def test_per_layer_and_stacked_caches_agree():
    model = tiny_model()
    cache = generation.DecoderCache.create(model, SOURCE, max_length=5)
    stacked, layers = cache.self_attention, cache.layers_self_attention
    for t, token in enumerate([START, 4, 5]):
        ids = np.full((3, 1), token, "int32")
        stacked_logits, stacked = generation.decode_step(
            model, ids, t, stacked, cache.cross_attention, cache.source_mask
        )
        layer_logits, layers = generation.decode_step(
            model, ids, t, layers, cache.layers_cross_attention, cache.source_mask
        )
        assert isinstance(layers, tuple) and len(layers) == 2
        assert_allclose(layer_logits, stacked_logits, atol=0, rtol=0)
    assert_allclose(ops.stack(layers), stacked, atol=0, rtol=0)
    with pytest.raises(ValueError, match="one tensor per decoder layer"):
        generation.decode_step(model, ids, 3, layers[:1], cache.layers_cross_attention, cache.source_mask)


def test_beam_width_one_is_greedy():
    model = tiny_model(sharpen=3.0)
    greedy = model.generate(SOURCE, max_length=8)
    beam = model.generate(SOURCE, max_length=8, method="beam", beam_width=1)
    np.testing.assert_array_equal(ops.convert_to_numpy(beam), ops.convert_to_numpy(greedy))


def test_top_k_one_is_greedy():
    model = tiny_model(sharpen=3.0)
    greedy = model.generate(SOURCE, max_length=8)
    sampled = model.generate(SOURCE, max_length=8, method="sample", top_k=1, seed=5)
    np.testing.assert_array_equal(ops.convert_to_numpy(sampled), ops.convert_to_numpy(greedy))


def test_wide_beam_equals_exhaustive_enumeration():
    # Ids 1 and 3 continue, 2 ends; pad (0) is never generated.
    vocabulary, max_length, alpha = 4, 4, 0.6
    model = tiny_model(vocabulary=vocabulary, sharpen=4.0, seed=3)
    source = SOURCE[:2] % vocabulary
    candidates = []
    for length in range(1, max_length + 1):
        for body in itertools.product([1, 3], repeat=length - 1):
            candidates.append(body + (END,))
        if length == max_length:
            candidates += list(itertools.product([1, 3], repeat=length))
    best = []
    for b in range(2):
        scored = []
        for sequence in candidates:
            prefix = np.array([[START] + list(sequence)], "int32")
            log_p = sum(
                constrained_log_probs(model, source[b : b + 1], prefix[:, : t + 1])[0, sequence[t]]
                for t in range(len(sequence))
            )
            scored.append((log_p / ((5 + len(sequence)) / 6) ** alpha, sequence))
        best.append(max(scored))
    result = model.generate(
        source, max_length=max_length, method="beam", beam_width=len(candidates), return_dict=True,
        length_penalty_alpha=alpha,
    )
    for b, (score, sequence) in enumerate(best):
        tokens = list(ops.convert_to_numpy(result["token_ids"])[b])
        assert tokens[: len(sequence)] == list(sequence) and not any(tokens[len(sequence):])
        np.testing.assert_allclose(ops.convert_to_numpy(result["scores"])[b], score, atol=1e-5)
    nbest = ops.convert_to_numpy(result["nbest_scores"])
    assert np.all(np.diff(nbest, axis=1) <= 1e-6)  # Best first.


def fixed_distribution_model():
    """A model whose every step has the same, known next-token distribution.

    The output kernel is zero and its bias holds the logits, so the test
    does not depend on how random initialisation falls on a backend.
    """
    model = tiny_model()
    kernel, _ = model.output_projection.get_weights()
    logits = np.log([1e-3, 0.28, 0.22, 0.17, 0.12, 0.09, 0.06, 0.04, 0.02]).astype("float32")
    model.output_projection.set_weights([np.zeros_like(kernel), logits])
    return model


def first_token_frequencies(model, draws, **kwargs):
    source = np.repeat(SOURCE[:1], draws, axis=0)
    tokens = ops.convert_to_numpy(model.generate(source, max_length=1, method="sample", **kwargs))
    return np.bincount(tokens[:, 0], minlength=model.target_vocabulary_size) / draws


@pytest.mark.parametrize("top_p", [0.5, 0.8])
def test_top_p_frequencies_match_the_nucleus(top_p):
    model = fixed_distribution_model()
    probs = np.exp(constrained_log_probs(model, SOURCE[:1], np.array([[START]], "int32"))[0])
    order = np.argsort(-probs)
    before = np.cumsum(probs[order]) - probs[order]
    nucleus = np.zeros_like(probs)
    nucleus[order[before < top_p]] = probs[order[before < top_p]]
    nucleus /= nucleus.sum()
    assert 1 < (nucleus > 0).sum() < len(probs) - 1, "the nucleus should cut something"
    frequencies = first_token_frequencies(model, 4000, top_p=top_p, seed=11)
    np.testing.assert_allclose(frequencies, nucleus, atol=0.03)


@pytest.mark.parametrize("temperature", [0.5, 2.0])
def test_temperature_scales_the_logits(temperature):
    model = fixed_distribution_model()
    log_probs = constrained_log_probs(model, SOURCE[:1], np.array([[START]], "int32"))[0]
    expected = np.exp(log_probs / temperature)
    expected /= expected.sum()
    frequencies = first_token_frequencies(model, 4000, temperature=temperature, seed=3)
    np.testing.assert_allclose(frequencies, expected, atol=0.03)


def test_seeded_sampling_is_reproducible():
    model = tiny_model()
    a = model.generate(SOURCE, max_length=6, method="sample", seed=7)
    b = model.generate(SOURCE, max_length=6, method="sample", seed=7)
    np.testing.assert_array_equal(ops.convert_to_numpy(a), ops.convert_to_numpy(b))


@pytest.mark.parametrize("method", ["greedy", "beam", "sample"])
def test_ended_sequences_are_padded_and_min_length_holds(method):
    model = tiny_model(sharpen=3.0)
    kwargs = dict(seed=1) if method == "sample" else {}
    result = model.generate(SOURCE, max_length=10, method=method, return_dict=True, min_length=3, **kwargs)
    tokens = ops.convert_to_numpy(result["token_ids"])
    lengths = ops.convert_to_numpy(result["lengths"])
    for row, length in zip(tokens, lengths):
        assert length >= 3 and PAD not in row[:length] and not row[length:].any()
        assert END not in row[: length - 1]
        assert row[length - 1] == END or length == 10
    if method != "beam":  # Stops as soon as every sequence has ended.
        assert int(ops.convert_to_numpy(result["steps"])) == lengths.max()


def test_padded_source_gives_the_same_output():
    model = tiny_model(sharpen=3.0)
    batch = ops.convert_to_numpy(model.generate(SOURCE, max_length=8, method="beam", beam_width=3))
    alone = ops.convert_to_numpy(model.generate(SOURCE[2:, :2], max_length=8, method="beam", beam_width=3))
    np.testing.assert_array_equal(batch[2], alone[0])


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(max_length=0), "max_length=0"),
        (dict(method="beam", beam_width=0), "beam_width=0"),
        (dict(method="sample", top_p=0.0), "top_p=0.0"),
        (dict(method="sample", top_p=1.5), "top_p=1.5"),
        (dict(method="sample", temperature=0.0), "temperature=0.0"),
        (dict(method="viterbi"), "method='viterbi'"),
        (dict(max_length=5, min_length=6), "min_length=6"),
    ],
)
def test_bad_arguments(kwargs, message):
    model = tiny_model()
    kwargs.setdefault("max_length", 4)
    with pytest.raises(ValueError, match=message):
        model.generate(SOURCE, **kwargs)


def test_source_longer_than_the_model_allows():
    model = tiny_model(position_encoding="learned", max_length=4)
    with pytest.raises(ValueError, match=r"`source_ids` is longer.*max_length=4.*\(3, 6\)"):
        model.generate(SOURCE, max_length=4)
    with pytest.raises(ValueError, match="max_length=9"):
        model.generate(SOURCE[:, :4], max_length=9)


@pytest.fixture(scope="module")
def reverser():
    from tests.models.transformer_test import reversal_data

    keras.utils.set_random_seed(0)
    model = Transformer(12, num_layers=2, hidden_dim=64, num_heads=4, intermediate_dim=128, dropout=0.0)
    model.compile(
        optimizer=keras.optimizers.Adam(3e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=0),
    )
    x, y = reversal_data(4000)
    model.fit(x, y, batch_size=64, epochs=4, verbose=0)
    return model


@pytest.mark.parametrize(
    "method, kwargs",
    [("greedy", {}), ("beam", dict(beam_width=4)), ("sample", dict(top_p=0.9, seed=0))],
)
def test_trained_reverser_decodes_held_out_inputs(reverser, method, kwargs):
    from tests.models.transformer_test import reversal_data

    (source, _), target = reversal_data(200, seed=7)
    result = reverser.generate(source, max_length=12, method=method, return_dict=True, **kwargs)
    tokens = ops.convert_to_numpy(result["token_ids"])
    correct = np.all(tokens[:, :7] == target, axis=1) & np.all(tokens[:, 7:] == 0, axis=1)
    assert correct.mean() >= 0.98
    assert int(ops.convert_to_numpy(result["steps"])) < 12  # Stopped before max_length.


def eager_and_xla(model, method, **kwargs):
    """`model.generate` run eagerly and XLA-compiled (`jit_compile=True` or `jax.jit`), tokens equal."""

    def run(source):
        return model.generate(source, max_length=8, method=method, return_dict=True, **kwargs)

    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        compiled = tf.function(run, jit_compile=True)
    else:
        import jax

        compiled = jax.jit(run)
    eager, xla = run(SOURCE), compiled(ops.convert_to_tensor(SOURCE))
    np.testing.assert_array_equal(
        ops.convert_to_numpy(xla["token_ids"]), ops.convert_to_numpy(eager["token_ids"])
    )
    return eager, xla


@pytest.mark.parametrize("method", ["greedy", "beam", "sample"])
def test_loop_compiles_with_xla_and_matches_eager(method):
    model = tiny_model(sharpen=3.0)
    kwargs = dict(seed=4, top_k=4, top_p=0.9) if method == "sample" else {}
    if method == "beam":
        kwargs = dict(beam_width=3)
    eager, xla = eager_and_xla(model, method, **kwargs)
    assert_allclose(xla["scores"], eager["scores"], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("method", ["greedy", "beam"])
def test_mixed_precision_decoding_compiles_and_matches_eager(method):
    # The caches hold the compute dtype (bfloat16) while the weights stay float32.
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        model = tiny_model(sharpen=3.0)
    finally:
        keras.config.set_dtype_policy(previous)
    eager, _ = eager_and_xla(model, method, **(dict(beam_width=3) if method == "beam" else {}))
    scores = ops.convert_to_numpy(eager["scores"])
    assert scores.dtype == np.float32 and np.all(np.isfinite(scores)) and np.all(scores <= 0)
