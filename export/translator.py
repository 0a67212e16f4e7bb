r"""Exports a trained translator as a SavedModel and a multi-signature TFLite model, verified.

Command (after `python -m pipelines.train_translation --workdir=/tmp/tr`):

    python -m export.translator --model=/tmp/tr/model.keras \
        --tokenizer_dir=/tmp/tr/tokenizers --output=/tmp/tr/export

writes, only once verification has passed,

    /tmp/tr/export/
      saved_model/      signatures `serving_default` (= `translate`: strings ->
                        translation, token_ids, scores, lengths, truncated),
                        `translate_with_attention`, `tokenize`, `encode`,
                        `decode_step`, `detokenize`; with WordPiece tokenizers
                        all in core TF ops (`core_wordpiece`), so it runs under
                        `saved_model_cli run`
      translator.tflite signatures `translate`, `tokenize`, `encode`,
                        `decode_step`, `detokenize` (builtins + tensorflow-text ops)
      report.json       Keras vs SavedModel vs TFLite on held-out sentences

Expected result: for `--quantize=none`, every held-out sentence gets the same
token ids from Keras, the SavedModel and TFLite, and the TFLite logits along
Keras's decoding path are within 1e-4 of Keras's. See `translator_module`
for the signatures and the input rules (truncation, empty strings).

`--quantize=int8` and `full_int8` (calibrated int8 activations) are not
offered for the translator: its strings, while loop and cache stay float.
Use `dynamic_range` or `float16`.
"""

import os

import numpy as np
import tensorflow as tf
from absl import app, flags

from keras_tfm.text import START_ID, load_tokenizer

from . import artifacts, tflite_utils
from .core_wordpiece import CoreWordpieceTokenizer
from . import translator_module as tm

TFLITE_FILENAME = "translator.tflite"
SAVED_MODEL_DIRNAME = "saved_model"
FORMATS = ("saved_model", "tflite")
TFLITE_SIGNATURES = ("translate", "tokenize", "encode", "decode_step", "detokenize")

# Default verification limits per quantization: the largest absolute logit
# difference (TFLite vs Keras, along Keras's decoding path) and the smallest
# share of held-out sentences whose token ids equal Keras's.
TOLERANCES = {
    "none": {"max_abs_diff": 1e-4, "min_sentence_agreement": 1.0},
    "float16": {"max_abs_diff": 1e-2, "min_sentence_agreement": 0.75},
    "dynamic_range": {"max_abs_diff": None, "min_sentence_agreement": 0.5},
}


def load_tokenizers(tokenizer_dir, source_prefix="en_", target_prefix="fr_"):
    """The source and target tokenizers that `Tokenizer.save` wrote with these prefixes."""
    return load_tokenizer(tokenizer_dir, source_prefix), load_tokenizer(tokenizer_dir, target_prefix)


def coref_verification_pairs(count=8, seed=0):
    """Held-out `(english, french)` pairs: the coreference corpus's test split."""
    from keras_tfm.data import coref

    splits = coref.generate_coref_pairs(
        seed=seed, sizes={"train": 2, "validation": 0, "test": count, "test_heldout": 0}
    )
    return [(e.en, e.fr) for e in splits["test"]]


def export_translator(
    model, source_tokenizer, target_tokenizer, output, *,
    formats=FORMATS, quantize="none", overwrite=False, batch_size=None,
    max_source_length=64, max_length=None, decoding="greedy", beam_width=4,
    length_penalty_alpha=0.6, verification_pairs=None, tolerances=None,
):
    """Exports, verifies and only then publishes `output/` (see the module docstring).

    Args:
        model: a built `keras_tfm.models.Transformer`, or the path of its `.keras` file.
        source_tokenizer, target_tokenizer: `keras_tfm.text` tokenizers.
        output: the export directory; must not exist unless `overwrite`.
        formats: any of "saved_model", "tflite".
        quantize: "none", "float16" or "dynamic_range" (TFLite weights).
        overwrite: replace an existing `output`.
        batch_size: static batch size of the TFLite signatures; None for
            any (SentencePiece's TFLite detokenizer needs a static one).
        max_source_length: S; longer inputs are truncated (keeping [END]).
        max_length: L, most generated tokens; defaults to the model's
            `max_length`, else 2 * S.
        decoding, beam_width, length_penalty_alpha: "greedy" or "beam" search.
        verification_pairs: held-out `(source, reference)` pairs; defaults to
            8 of the coreference test split.
        tolerances: overrides of `TOLERANCES[quantize]`.

    Returns:
        The report dict (also written to `output/report.json`).

    Raises:
        FileExistsError: `output` exists and `overwrite` is False.
        artifacts.VerificationError: outputs differ beyond the tolerances;
            nothing is written to `output`.
    """
    artifacts.check_output(output, overwrite)
    formats = tuple(formats)
    if not formats or set(formats) - set(FORMATS):
        raise ValueError(
            f"`formats` must be a non-empty subset of {list(FORMATS)}. Received: formats={formats!r}"
        )
    tflite_utils.check_quantize(quantize)
    if quantize not in TOLERANCES:
        raise ValueError(
            "`quantize` must be one of ['none', 'float16', 'dynamic_range'] for the translator: "
            "int8 and full_int8 (calibrated int8 activations) are for the ViT (strings, the while "
            f"loop and the cache stay float). Received: quantize={quantize!r}"
        )
    if isinstance(model, str):
        model = artifacts.load_keras_model(model)
    limits = dict(TOLERANCES[quantize], **(tolerances or {}))
    max_length = max_length or model.max_length or 2 * max_source_length
    config = dict(
        max_source_length=max_source_length, max_length=max_length, decoding=decoding,
        beam_width=beam_width, length_penalty_alpha=length_penalty_alpha,
    )
    module = tm.TranslatorModule(
        model, source_tokenizer, target_tokenizer, batch_size=batch_size, **config
    )
    pairs = verification_pairs or coref_verification_pairs()
    texts = [s for s, _ in pairs]
    references = [r for _, r in pairs]
    report = dict(config, quantize=quantize, batch_size=batch_size, formats=list(formats),
                  examples=len(texts), tolerances=limits)

    with artifacts.staged_output(output, overwrite) as staging:
        keras_out = _keras_outputs(model, module, texts, target_tokenizer)
        report["keras"] = {"bleu": _bleu(keras_out["translation"], references)}
        checks = []
        if "saved_model" in formats:
            path = os.path.join(staging, SAVED_MODEL_DIRNAME)
            report["saved_model"] = _export_saved_model(
                model, source_tokenizer, target_tokenizer, config, path
            )
            report["saved_model"].update(_compare_translations(
                keras_out, _saved_model_outputs(path, texts, batch_size), references
            ))
            agreement = report["saved_model"]["sentence_agreement"]
            checks.append(("saved_model.sentence_agreement", agreement, 1.0, agreement >= 1.0))
        if "tflite" in formats:
            path = os.path.join(staging, TFLITE_FILENAME)
            report["tflite"] = _export_tflite(model, module, quantize, path, keras_out, texts, references)
            diff, agreement = report["tflite"]["max_abs_logit_diff"], report["tflite"]["sentence_agreement"]
            if limits["max_abs_diff"] is not None:
                checks.append(("tflite.max_abs_logit_diff", diff, limits["max_abs_diff"],
                               diff <= limits["max_abs_diff"]))
            checks.append(("tflite.sentence_agreement", agreement, limits["min_sentence_agreement"],
                           agreement >= limits["min_sentence_agreement"]))
        artifacts.check_report(checks)
        report["passed"] = True
        artifacts.write_report(staging, report)
    return report


def _export_saved_model(model, source_tokenizer, target_tokenizer, config, path):
    """Writes the SavedModel; its tokenizers use core TF ops when they can.

    With WordPiece tokenizers (default normalisation) every signature runs on
    plain TensorFlow, so `saved_model_cli run` serves it; SentencePiece keeps
    tensorflow-text ops, and the process must `import tensorflow_text` first.
    """
    source = CoreWordpieceTokenizer.from_tokenizer(source_tokenizer)
    target = CoreWordpieceTokenizer.from_tokenizer(target_tokenizer)
    core = source is not None and target is not None
    if not core:
        source, target = source_tokenizer, target_tokenizer
    module = tm.TranslatorModule(model, source, target, **config)
    tf.saved_model.save(module, path, signatures=module.saved_model_signatures())
    return {
        "tokenizer_ops": "core TensorFlow" if core else "tensorflow-text (import tensorflow_text to load)",
        "size_bytes": artifacts.directory_size(path),
    }


def _export_tflite(model, module, quantize, path, keras_out, texts, references):
    flatbuffer = tflite_utils.convert(
        [getattr(module, name).get_concrete_function() for name in TFLITE_SIGNATURES],
        module, quantize, allow_tf_text=True,
    )
    with open(path, "wb") as f:
        f.write(flatbuffer)
    result = _verify_tflite(path, model, module, keras_out, texts, references, module.batch_size)
    result["ops"] = tflite_utils.check_builtins_only(flatbuffer, allow_tf_text=True)
    return result


def _keras_outputs(model, module, texts, target_tokenizer):
    """The Keras model's own `generate`, eagerly, with the module's input rules."""
    source, _ = tm.source_ids(module.source_tokenizer, tf.constant(texts), module.max_source_length)
    token_ids, scores, _ = tm.generate(
        model, source, module.max_length, module.decoding, module.beam_width, module.length_penalty_alpha
    )
    return {
        "source_ids": source.numpy(),
        "token_ids": np.asarray(token_ids),
        "scores": np.asarray(scores),
        "translation": _decode(target_tokenizer.detokenize(token_ids).numpy()),
    }


def _decode(strings):
    return [s.decode("utf-8") for s in strings]


def _batches(count, batch_size):
    step = batch_size or count
    return [slice(i, i + step) for i in range(0, count, step)]


def _pad(rows, batch_size):
    """Pads `rows` (an array, or a list of strings) to a static batch size with empty rows."""
    missing = (batch_size or len(rows)) - len(rows)
    if isinstance(rows, list):
        return np.array(rows + [""] * missing, dtype=object)
    return np.concatenate([rows, np.zeros((missing,) + rows.shape[1:], rows.dtype)])


def _saved_model_outputs(saved_model_dir, texts, batch_size):
    serve = tf.saved_model.load(saved_model_dir).signatures["serving_default"]
    parts = [serve(texts=tf.constant(texts[s])) for s in _batches(len(texts), batch_size)]
    return {
        "token_ids": np.concatenate([p["token_ids"].numpy() for p in parts]),
        "scores": np.concatenate([p["scores"].numpy() for p in parts]),
        "translation": [t for p in parts for t in _decode(p["translation"].numpy())],
    }


def _verify_tflite(path, model, module, keras_out, texts, references, batch_size):
    """`translate` against Keras's tokens, and `encode` + `decode_step` against
    Keras's logits along Keras's own decoding path."""
    interpreter = tflite_utils.interpreter(model_path=path)
    translate = interpreter.get_signature_runner("translate")
    parts = []
    for s in _batches(len(texts), batch_size):
        out = translate(texts=_pad(texts[s], batch_size))
        parts.append({k: v[: len(texts[s])] for k, v in out.items()})
    served = {
        "token_ids": np.concatenate([p["token_ids"] for p in parts]),
        "scores": np.concatenate([p["scores"] for p in parts]),
        "translation": [t for p in parts for t in _decode(p["translation"])],
    }
    result = _compare_translations(keras_out, served, references)
    logit_diff = encoder_diff = 0.0
    for s in _batches(len(texts), batch_size):
        source = _pad(keras_out["source_ids"][s], batch_size)  # (B, S)
        start = np.full((len(source), 1), START_ID, np.int32)
        path_ids = np.concatenate([start, _pad(keras_out["token_ids"][s], batch_size)[:, :-1]], axis=1)
        path_ids[len(texts[s]):] = 0  # Padding rows are not compared.
        diffs = _step_differences(interpreter, model, module.max_length, source, path_ids)
        encoder_diff, logit_diff = max(encoder_diff, diffs[0]), max(logit_diff, diffs[1])
    result.update(max_abs_logit_diff=logit_diff, max_abs_encoder_diff=encoder_diff, size_bytes=os.path.getsize(path))
    return result


def _step_differences(interpreter, model, max_length, source, path_ids):
    """Largest |TFLite - Keras| of the encoder output and of the logits of every step of `path_ids`."""
    from keras_tfm import generation

    encode = interpreter.get_signature_runner("encode")
    decode_step = interpreter.get_signature_runner("decode_step")
    lite = encode(source_ids=source)
    encoder_output, _ = model.encode(source, training=False)
    encoder_diff = float(np.max(np.abs(lite["encoder_output"] - np.asarray(encoder_output))))
    cache = generation.DecoderCache.create(model, source, max_length)
    keras_cache = cache.self_attention  # (Ly, 2, B, N, L, H)
    lite_cache = np.zeros(tuple(keras_cache.shape), lite["cross_attention"].dtype)
    logit_diff = 0.0
    for step in range(max_length):
        live = path_ids[:, step] != 0  # Rows still decoding at this step.
        if not live.any():
            break
        token = path_ids[:, step : step + 1]
        logits, keras_cache = generation.decode_step(
            model, token, step, keras_cache, cache.cross_attention, cache.source_mask
        )
        out = decode_step(
            token_ids=token, step=np.array(step, np.int32), self_attention=lite_cache,
            cross_attention=lite["cross_attention"], source_mask=lite["source_mask"],
        )
        lite_cache = out["self_attention"]
        logit_diff = max(logit_diff, float(np.abs(out["logits"] - np.asarray(logits))[live].max()))
    return encoder_diff, logit_diff


def _compare_translations(keras_out, served, references):
    expected, got = keras_out["token_ids"], served["token_ids"]
    bleu = _bleu(served["translation"], references)
    return {
        "sentence_agreement": float(np.mean(np.all(expected == got, axis=1))),
        "token_agreement": float(np.mean(expected == got)),
        "max_abs_score_diff": float(np.max(np.abs(keras_out["scores"] - served["scores"]))),
        "bleu": bleu,
        "bleu_change": bleu - _bleu(keras_out["translation"], references),
        "samples": [dict(source_tokens=int(np.sum(k > 0)), translation=t)
                    for k, t in zip(keras_out["source_ids"][:2], served["translation"][:2])],
    }


def _bleu(hypotheses, references):
    import sacrebleu

    return float(sacrebleu.corpus_bleu(hypotheses, [references]).score)


def _define_flags():
    flags.DEFINE_string("model", None, "The translator's .keras file.", required=True)
    flags.DEFINE_string("tokenizer_dir", None, "Folder of the tokenizers (Tokenizer.save).", required=True)
    flags.DEFINE_string("source_prefix", "en_", "File prefix of the source tokenizer.")
    flags.DEFINE_string("target_prefix", "fr_", "File prefix of the target tokenizer.")
    flags.DEFINE_string("output", None, "Export directory (written only after verification).", required=True)
    flags.DEFINE_list("formats", list(FORMATS), "Any of saved_model, tflite.")
    flags.DEFINE_enum("quantize", "none", list(tflite_utils.QUANTIZATIONS), "TFLite weight precision.")
    flags.DEFINE_bool("overwrite", False, "Replace an existing --output.")
    flags.DEFINE_integer("batch_size", None, "Static TFLite batch size; unset for any.")
    flags.DEFINE_integer("max_source_length", 64, "Source tokens kept (longer input is truncated).")
    flags.DEFINE_integer("max_length", None, "Most generated tokens; default the model's max_length or 2*S.")
    flags.DEFINE_enum("decoding", "greedy", list(tm.DECODINGS), "Decoding in the graph.")
    flags.DEFINE_integer("beam_width", 4, "Beam width for --decoding=beam.")
    flags.DEFINE_float("length_penalty_alpha", 0.6, "GNMT length penalty for --decoding=beam.")


def main(argv):
    del argv
    f = flags.FLAGS
    artifacts.check_output(f.output, f.overwrite)  # Before any loading.
    source, target = load_tokenizers(f.tokenizer_dir, f.source_prefix, f.target_prefix)
    report = export_translator(
        f.model, source, target, f.output, formats=f.formats, quantize=f.quantize,
        overwrite=f.overwrite, batch_size=f.batch_size, max_source_length=f.max_source_length,
        max_length=f.max_length, decoding=f.decoding, beam_width=f.beam_width,
        length_penalty_alpha=f.length_penalty_alpha,
    )
    print(f"Wrote {f.output}: " + ", ".join(
        f"{k} agreement {report[k]['sentence_agreement']:.3f}" for k in FORMATS if k in report
    ))


if __name__ == "__main__":
    _define_flags()
    app.run(main)
