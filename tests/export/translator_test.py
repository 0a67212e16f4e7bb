"""The translator export: Keras vs SavedModel vs TFLite on coreference sentences.

One tiny untrained translator (1 layer, width 16, WordPiece, greedy) is
exported once for the module, and again in float16 and dynamic-range TFLite;
a second one with SentencePiece tokenizers is exported with beam search at a
static batch size. Agreement of token ids is what is asserted.
"""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

if keras.backend.backend() != "tensorflow":
    pytest.skip("export needs the TensorFlow backend", allow_module_level=True)

import tensorflow as tf  # noqa: E402

from export import artifacts, tflite_utils, translator  # noqa: E402
from export import translator_module as tm  # noqa: E402
from export.litert_client import LiteRTTranslator  # noqa: E402
from keras_tfm.data import coref  # noqa: E402
from keras_tfm.models import Transformer  # noqa: E402
from keras_tfm.text import START_ID, learn_translation_tokenizers  # noqa: E402

S, L = 20, 16


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    splits = coref.generate_coref_pairs(seed=0, sizes={"train": 60, "validation": 0, "test": 6, "test_heldout": 0})
    source_tok, target_tok = learn_translation_tokenizers([(e.en, e.fr) for e in splits["train"]], 160)
    keras.utils.set_random_seed(0)
    model = Transformer(
        source_tok.vocab_size, target_tok.vocab_size, num_layers=1, hidden_dim=16, num_heads=2,
        intermediate_dim=32, dropout=0.0, tie_embeddings=False,
    )
    model((np.ones((1, 3), "int32"), np.ones((1, 3), "int32")))
    pairs = [(e.en, e.fr) for e in splits["test"]]
    output = str(tmp_path_factory.mktemp("translator") / "export")
    report = translator.export_translator(
        model, source_tok, target_tok, output, max_source_length=S, max_length=L,
        verification_pairs=pairs[:4],
    )
    return dict(model=model, source=source_tok, target=target_tok, output=output, report=report,
                texts=[s for s, _ in pairs])


@pytest.fixture(scope="module")
def saved_model(setup):
    return tf.saved_model.load(os.path.join(setup["output"], translator.SAVED_MODEL_DIRNAME))


def keras_tokens(setup, texts, decoding="greedy", beam_width=4, with_scores=False):
    source, truncated = tm.source_ids(setup["source"], tf.constant(texts), S)
    token_ids, scores, _ = tm.generate(setup["model"], source, L, decoding, beam_width, 0.6)
    if with_scores:
        return np.asarray(token_ids), np.asarray(scores)
    return np.asarray(token_ids), np.asarray(truncated)


def test_export_is_verified_and_published(setup):
    output, report = setup["output"], setup["report"]
    assert sorted(os.listdir(output)) == ["report.json", "saved_model", "translator.tflite"]
    assert json.load(open(os.path.join(output, "report.json")))["passed"]
    for fmt in ("saved_model", "tflite"):
        assert report[fmt]["sentence_agreement"] == 1.0
        assert report[fmt]["bleu_change"] == 0.0
        assert report[fmt]["size_bytes"] > 0
    assert report["tflite"]["max_abs_logit_diff"] <= 1e-4
    assert report["saved_model"]["tokenizer_ops"] == "core TensorFlow"
    assert not [p for p in os.listdir(os.path.dirname(output)) if ".tmp-" in p]


def test_tflite_holds_builtin_ops_and_tf_text_ops_only(setup):
    with open(os.path.join(setup["output"], translator.TFLITE_FILENAME), "rb") as f:
        names = tflite_utils.operator_names(f.read())
    assert not [n for n in names if "Flex" in n]
    custom = {n[len("CUSTOM:"):] for n in names if n.startswith("CUSTOM:")}
    assert custom and custom <= tflite_utils.TF_TEXT_CUSTOM_OPS
    assert {"WHILE", "DYNAMIC_UPDATE_SLICE", "TOPK_V2"} <= set(names)


@pytest.mark.parametrize("batch", [1, 3])
def test_tflite_translate_and_decode_step_give_keras_tokens(setup, batch):
    client = LiteRTTranslator(os.path.join(setup["output"], translator.TFLITE_FILENAME))
    texts = setup["texts"][:batch]
    expected, _ = keras_tokens(setup, texts)
    runner = client.interpreter.get_signature_runner("translate")
    np.testing.assert_array_equal(runner(texts=np.array(texts, dtype=object))["token_ids"], expected)
    translations, ids = client.translate_stepwise(texts)
    np.testing.assert_array_equal(ids, expected)
    assert translations == client.translate(texts)
    assert translations == [t.decode() for t in setup["target"].detokenize(expected).numpy()]


@pytest.mark.parametrize("batch", [1, 3])
def test_saved_model_gives_keras_tokens_and_attention(setup, saved_model, batch):
    loaded = saved_model
    texts = setup["texts"][-batch:]
    expected, _ = keras_tokens(setup, texts)
    out = loaded.signatures["serving_default"](texts=tf.constant(texts))
    np.testing.assert_array_equal(out["token_ids"].numpy(), expected)
    attention = loaded.signatures["translate_with_attention"](texts=tf.constant(texts))
    np.testing.assert_array_equal(attention["token_ids"].numpy(), expected)
    assert attention["cross_attention"].shape == (batch, 1, 2, L, S)
    assert attention["encoder_attention"].shape == (batch, 1, 2, S, S)
    np.testing.assert_allclose(tf.reduce_sum(attention["cross_attention"], -1).numpy(), 1.0, atol=1e-5)


def test_saved_model_runs_under_saved_model_cli(setup):
    cli = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
    result = subprocess.run(
        [cli, "run", "--dir", os.path.join(setup["output"], "saved_model"), "--tag_set", "serve",
         "--signature_def", "serving_default", "--input_exprs", f"texts={setup['texts'][:2]!r}"],
        capture_output=True, text=True, timeout=120, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"),
    )
    assert result.returncode == 0, result.stderr[-2000:]
    expected, _ = keras_tokens(setup, setup["texts"][:2])
    translation = setup["target"].detokenize(expected).numpy()[0]
    assert "Result for output key translation" in result.stdout
    assert repr(translation) in result.stdout


def test_empty_and_overlong_strings(setup, saved_model):
    texts = ["", "   ", " ".join(["The dog didn't cross the street"] * 6), setup["texts"][0]]
    expected, truncated = keras_tokens(setup, texts)
    assert truncated[:3].tolist() == [False, False, True]
    assert not expected[:2].any()
    served = saved_model.signatures["serving_default"](texts=tf.constant(texts))
    client = LiteRTTranslator(os.path.join(setup["output"], translator.TFLITE_FILENAME))
    lite = client.interpreter.get_signature_runner("translate")(texts=np.array(texts, dtype=object))
    for out in (served, lite):
        np.testing.assert_array_equal(np.asarray(out["token_ids"]), expected)
        assert np.asarray(out["truncated"]).tolist() == truncated.tolist()
        assert [bytes(t) for t in np.asarray(out["translation"])[:2]] == [b"", b""]
        assert np.asarray(out["scores"])[:2].tolist() == [0.0, 0.0]


def test_existing_output_without_overwrite_is_refused(setup, tmp_path):
    existing = tmp_path / "export"
    existing.mkdir()
    (existing / "keep.txt").write_text("old")
    with pytest.raises(FileExistsError, match="Pass --overwrite"):
        translator.export_translator(setup["model"], setup["source"], setup["target"], str(existing))
    assert os.listdir(existing) == ["keep.txt"]


def test_failed_verification_leaves_nothing(setup, tmp_path, monkeypatch):
    # A converter that returns another model's file (here: the exported one,
    # checked against a differently initialised Keras model) must be caught.
    keras.utils.set_random_seed(1)
    other = Transformer.from_config(setup["model"].get_config())
    other((np.ones((1, 3), "int32"), np.ones((1, 3), "int32")))
    with open(os.path.join(setup["output"], translator.TFLITE_FILENAME), "rb") as f:
        flatbuffer = f.read()
    monkeypatch.setattr(tflite_utils, "convert", lambda *args, **kwargs: flatbuffer)
    output = tmp_path / "export"
    with pytest.raises(artifacts.VerificationError, match="tflite.sentence_agreement"):
        translator.export_translator(
            other, setup["source"], setup["target"], str(output), formats=["tflite"],
            max_source_length=S, max_length=L, verification_pairs=[(t, "") for t in setup["texts"][:2]],
        )
    assert os.listdir(tmp_path) == []


def test_bad_arguments_are_named(setup, tmp_path):
    args = (setup["model"], setup["source"], setup["target"], str(tmp_path / "x"))
    for quantize in ("int8", "full_int8"):
        with pytest.raises(ValueError, match=f"int8 and full_int8 .* are for the ViT.*quantize='{quantize}'"):
            translator.export_translator(*args, quantize=quantize)
    with pytest.raises(ValueError, match="`formats` must be"):
        translator.export_translator(*args, formats=["onnx"])
    with pytest.raises(ValueError, match="`max_source_length` must be an integer >= 2"):
        tm.TranslatorModule(setup["model"], setup["source"], setup["target"], 1, L)
    assert os.listdir(tmp_path) == []


# Quantized, beam-search and SentencePiece exports ------------------------------


def lite_tokens(path, texts):
    """`translate`'s (token ids, scores) from a translator `.tflite`, in chunks of its static batch size if any."""
    client = LiteRTTranslator(path)
    runner = client.interpreter.get_signature_runner("translate")
    parts = [(out["token_ids"][:real], out["scores"][:real])
             for chunk, real in client._chunks(texts) for out in [runner(texts=chunk)]]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


@pytest.fixture(scope="module")
def quantized(setup, tmp_path_factory):
    """A dynamic-range export, and `encode` + `decode_step` alone in float16
    (converting the whole translator again would add its tokenizers and
    while loop, which float16 does not touch, to the test time)."""
    output = str(tmp_path_factory.mktemp("quantized") / "dynamic_range")
    report = translator.export_translator(
        setup["model"], setup["source"], setup["target"], output, formats=["tflite"],
        quantize="dynamic_range", max_source_length=S, max_length=L,
        verification_pairs=[(t, "") for t in setup["texts"][:4]],
    )
    module = tm.TranslatorModule(setup["model"], None, None, S, L)
    steps = tf.Module()
    steps.weights, steps.encode, steps.decode_step = module.weights, module.encode, module.decode_step
    float16 = tflite_utils.convert(
        [module.encode.get_concrete_function(), module.decode_step.get_concrete_function()], steps, "float16"
    )
    return dict(report=report, path=os.path.join(output, translator.TFLITE_FILENAME), float16=float16)


@pytest.mark.parametrize("batch", [1, 3])
def test_float16_and_dynamic_range_tflite_stay_close_to_keras(setup, quantized, batch):
    texts = setup["texts"][-batch:]
    expected, _ = keras_tokens(setup, texts)
    # float16 weights: encoder output and every step's logits along Keras's
    # greedy path within 1e-2 of Keras's.
    assert "DEQUANTIZE" in tflite_utils.operator_names(quantized["float16"])
    source, _ = tm.source_ids(setup["source"], tf.constant(texts), S)
    path_ids = np.concatenate([np.full((batch, 1), START_ID, np.int32), expected[:, :-1]], axis=1)
    interpreter = tflite_utils.interpreter(model_content=quantized["float16"])
    encoder_diff, logit_diff = translator._step_differences(
        interpreter, setup["model"], L, source.numpy(), path_ids
    )
    assert encoder_diff <= 1e-2 and logit_diff <= 1e-2
    # int8 weights, float activations: verified on export, and the tokens of
    # `translate` at this batch size mostly Keras's.
    report = quantized["report"]["tflite"]
    assert report["max_abs_logit_diff"] <= 0.1 and report["sentence_agreement"] >= 0.5
    assert report["size_bytes"] < setup["report"]["tflite"]["size_bytes"]
    assert np.mean(lite_tokens(quantized["path"], texts)[0] == expected) >= 0.9


@pytest.fixture(scope="module")
def sentencepiece_beam(setup, tmp_path_factory):
    """A translator with SentencePiece tokenizers and beam search, exported once."""
    splits = coref.generate_coref_pairs(seed=0, sizes={"train": 60, "validation": 0, "test": 6, "test_heldout": 0})
    source_tok, target_tok = learn_translation_tokenizers(
        [(e.en, e.fr) for e in splits["train"]], 100, kind="sentencepiece"
    )
    keras.utils.set_random_seed(0)
    model = Transformer(
        source_tok.vocab_size, target_tok.vocab_size, num_layers=1, hidden_dim=16, num_heads=2,
        intermediate_dim=32, dropout=0.0, tie_embeddings=False,
    )
    model((np.ones((1, 3), "int32"), np.ones((1, 3), "int32")))
    output = str(tmp_path_factory.mktemp("sentencepiece_beam") / "export")
    # tensorflow-text's TFLite SentencePiece detokenizer needs a static batch size.
    report = translator.export_translator(
        model, source_tok, target_tok, output, batch_size=2, max_source_length=S, max_length=L,
        decoding="beam", beam_width=3, verification_pairs=[(t, "") for t in setup["texts"][:3]],
    )
    loaded = tf.saved_model.load(os.path.join(output, translator.SAVED_MODEL_DIRNAME))
    return dict(setup, model=model, source=source_tok, target=target_tok, output=output, report=report,
                saved_model=loaded, tflite=os.path.join(output, translator.TFLITE_FILENAME))


def test_sentencepiece_beam_export_is_verified_with_tf_text_ops(sentencepiece_beam):
    report = sentencepiece_beam["report"]
    assert report["decoding"] == "beam" and report["beam_width"] == 3 and report["batch_size"] == 2
    assert report["saved_model"]["tokenizer_ops"].startswith("tensorflow-text")
    assert report["tflite"]["sentence_agreement"] == 1.0
    assert report["tflite"]["max_abs_logit_diff"] <= 1e-4
    with open(sentencepiece_beam["tflite"], "rb") as f:
        names = tflite_utils.operator_names(f.read())
    assert {"CUSTOM:TFText>FastSentencepieceTokenize", "CUSTOM:TFText>FastSentencepieceDetokenize"} <= set(names)
    assert not [n for n in names if "Flex" in n]


@pytest.mark.parametrize("batch", [1, 3])
def test_beam_search_in_saved_model_and_tflite_gives_keras_beams(sentencepiece_beam, batch):
    sp = sentencepiece_beam
    texts = sp["texts"][:batch]  # TFLite: 1 text is one padded batch of 2, 3 texts are two batches.
    expected, scores = keras_tokens(sp, texts, decoding="beam", beam_width=3, with_scores=True)
    translations = [t.decode() for t in sp["target"].detokenize(expected).numpy()]
    served = sp["saved_model"].signatures["serving_default"](texts=tf.constant(texts))
    np.testing.assert_array_equal(served["token_ids"].numpy(), expected)
    np.testing.assert_allclose(served["scores"].numpy(), scores, atol=1e-5)
    assert [t.decode() for t in served["translation"].numpy()] == translations
    lite_ids, lite_scores = lite_tokens(sp["tflite"], texts)
    np.testing.assert_array_equal(lite_ids, expected)
    np.testing.assert_allclose(lite_scores, scores, atol=1e-4)
    client = LiteRTTranslator(sp["tflite"])
    assert client.translate(texts) == translations
    # `decode_step` does not depend on the decoding: NumPy greedy over it is Keras's greedy.
    greedy, _ = keras_tokens(sp, texts)
    np.testing.assert_array_equal(client.translate_stepwise(texts)[1], greedy)
