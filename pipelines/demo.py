"""`make demo`: the seed's acceptance cases, end to end, offline, on the CPU.

1. builds the coreference corpus (the tfds builder `coref_translation`);
2. trains the English->French Transformer on it (pipelines/translation.py);
3. exports it to SavedModel and TFLite, verified against Keras (export/translator.py);
4. translates the seed's two sentences with the `.tflite` file alone and checks
   the pronoun: "il" for the tired animal, "elle" for the wide street;
5. draws the pictures: encoder self-attention from "it" (per head and averaged),
   the binary and sinusoidal position codes, ViT attention rollout over
   Fashion-MNIST, and the Transformer / CNN / RNN comparison (small sizes);
6. says where everything is.

Command: python -m pipelines.demo [--output_dir outputs/demo] [--fast]
Re-running resumes: a trained translator in the output folder is reused.
"""

import json
import os
import time

import numpy as np
from absl import app, flags

SEED_SENTENCES = (
    ("The animal didn't cross the street because it was too tired", "il"),
    ("The animal didn't cross the street because it was too wide", "elle"),
)


def _step(message):
    print(f"\n==> {message}", flush=True)


def build_corpus(output_dir, fast):
    import tensorflow_datasets as tfds

    from keras_tfm.data import CorefTranslation  # noqa: F401  (registers the builder)

    name = "coref_translation/tiny" if fast else "coref_translation"
    builder = tfds.builder(name, data_dir=os.path.join(output_dir, "tfds"))
    builder.download_and_prepare()
    return {split: info.num_examples for split, info in builder.info.splits.items()}


def train_translator(output_dir, fast):
    from . import configs, translation

    config = configs.get_config("tiny_translation" if fast else "coref_translation")
    if fast:
        config = configs.apply_overrides(config, ["train_steps=10", "eval_size=4"])
    else:  # Token accuracy reaches 100% by about step 450 (README); 800 leaves a margin.
        config = configs.apply_overrides(config, ["train_steps=800"])
    workdir = os.path.join(output_dir, "translator")
    results = translation.train_and_evaluate(config, workdir, verbose=1)
    return config, workdir, results


def export(workdir, output_dir, config, fast):
    from keras_tfm.export.translator import export_translator, load_tokenizers

    source, target = load_tokenizers(os.path.join(workdir, "tokenizers"))
    target_dir = os.path.join(output_dir, "export")
    return target_dir, export_translator(
        os.path.join(workdir, "model.keras"), source, target, target_dir, overwrite=True,
        max_source_length=config.max_length, max_length=config.max_length,
        tolerances={"token_agreement": 0.0} if fast else None,
    )


def translate_with_tflite(export_dir):
    from keras_tfm.export.litert_client import LiteRTTranslator

    translator = LiteRTTranslator(os.path.join(export_dir, "translator.tflite"))
    return translator.translate([s for s, _ in SEED_SENTENCES])


def attention_pictures(model, source_tokenizer, pictures_dir):
    import tensorflow as tf

    from keras_tfm.text.tokenizer import fit_to_length

    from . import pictures

    paths = []
    for sentence, _ in SEED_SENTENCES:
        ids = fit_to_length(source_tokenizer.tokenize_to_tensor(tf.constant([sentence])), model.max_length or 32)
        _, _, scores = model.encode(ids, return_attention_scores=True)
        length = int(tf.reduce_sum(tf.cast(ids[0] != 0, "int32")))
        words = [source_tokenizer.id_to_token(int(i)) for i in ids[0, :length]]
        it = words.index("it")
        weights = np.asarray(scores[-1][0, :, it : it + 1, :length])  # (N, 1, S): the row of "it"
        tag = sentence.split()[-1]
        paths.append(pictures.plot_attention(
            ["it"], words, weights, os.path.join(pictures_dir, f"attention_it_{tag}.png"),
            title=f'Encoder self-attention from "it" (last layer): "... too {tag}"',
        ))
    return paths


def vit_rollout_picture(output_dir, pictures_dir, fast):
    import tensorflow as tf

    from . import configs, pictures, vision

    config = configs.get_config("tiny_vision" if fast else "vit_transfer")
    if not fast:
        config = configs.apply_overrides(config, ["pretrain_steps=300", "warmup_steps=30"])
    data = vision.load_data(config)
    model, _ = vision.train(
        config, os.path.join(output_dir, "vit"), lambda: vision.vit(config), data["pretrain"],
        config.pretrain_steps, config.batch_size, vision.pretraining_optimizer(config),
        tf.distribute.get_strategy(), verbose=1,
    )
    images = data["pretrain_test"][0][:6]
    _, scores = model.encode(images, return_attention_scores=True)
    rollouts = pictures.attention_rollout(scores)
    return pictures.plot_attention_rollout(
        (images[..., 0] + 1.0) / 2.0, rollouts, os.path.join(pictures_dir, "vit_attention_rollout.png")
    )


def run_demo(output_dir="outputs/demo", fast=False):
    """Runs every step; returns a summary dict (also written to output_dir/summary.json)."""
    from . import compare, pictures

    started = time.time()
    pictures_dir = os.path.join(output_dir, "pictures")
    os.makedirs(pictures_dir, exist_ok=True)
    summary = {}

    _step("1/6 Building the coreference corpus (tfds `coref_translation`, offline)")
    summary["corpus"] = build_corpus(output_dir, fast)
    print(summary["corpus"])

    _step("2/6 Training the English->French Transformer on the CPU")
    config, workdir, results = train_translator(output_dir, fast)
    summary["evaluation"] = {
        split: {k: v for k, v in metrics.items() if k != "samples"}
        for split, metrics in results["evaluation"].items()
    }
    print(json.dumps(summary["evaluation"], indent=1))

    _step("3/6 Exporting SavedModel and TFLite (verified before they are written)")
    export_dir, report = export(workdir, output_dir, config, fast)
    summary["export"] = export_dir

    _step("4/6 Translating the seed's sentences with the .tflite file alone")
    translations = translate_with_tflite(export_dir)
    from keras_tfm.data.coref import french_pronoun

    summary["translations"] = []
    for (sentence, expected), french in zip(SEED_SENTENCES, translations):
        found = french_pronoun(french)
        mark = "correct" if found == expected else f"WRONG (expected {expected})"
        print(f"  EN: {sentence}\n  FR: {french}   [pronoun: {found}, {mark}]")
        summary["translations"].append(dict(en=sentence, fr=french, pronoun=found, expected=expected))

    _step("5/6 Drawing the pictures")
    from keras_tfm.text import load_tokenizer

    model = results["model"]
    source_tokenizer = load_tokenizer(os.path.join(workdir, "tokenizers"), "en_")
    drawn = attention_pictures(model, source_tokenizer, pictures_dir)
    drawn.append(pictures.plot_binary_encoding(os.path.join(pictures_dir, "binary_position_encoding.png")))
    drawn.append(pictures.plot_sinusoidal_encoding(os.path.join(pictures_dir, "sinusoidal_position_encoding.png")))
    drawn.append(vit_rollout_picture(output_dir, pictures_dir, fast))
    # The demo's comparison is small (seconds); README's full-size one is `python -m pipelines.compare`.
    small = compare.TINY if fast else compare.CompareConfig(
        lengths=(64, 128, 256, 512), widths=(64, 128, 256), fixed_length=512, repeats=1)
    comparison = compare.run_comparison(small, output_dir=pictures_dir, log=lambda *a: None)
    drawn.append(comparison["plot"])
    summary["pictures"] = drawn

    _step("6/6 Where everything is")
    summary["seconds"] = round(time.time() - started, 1)
    with open(os.path.join(output_dir, "summary.json"), "w") as f:
        json.dump(summary, f, indent=2, default=str)
    print(f"  translator (Keras):   {os.path.join(workdir, 'model.keras')}")
    print(f"  SavedModel + TFLite:  {export_dir} (report.json holds the verification)")
    print(f"  pictures:             {pictures_dir}")
    for path in drawn:
        print(f"    {path}")
    print(f"  summary:              {os.path.join(output_dir, 'summary.json')}  ({summary['seconds']} s)")
    return summary


def main(argv):
    del argv
    import tensorflow as tf
    from absl import logging

    logging.set_verbosity(logging.WARNING)  # Keep the demo's output to its own lines.
    tf.get_logger().setLevel("ERROR")
    summary = run_demo(flags.FLAGS.output_dir, flags.FLAGS.fast)
    if not flags.FLAGS.fast and any(t["pronoun"] != t["expected"] for t in summary["translations"]):
        raise SystemExit("The translator got a seed pronoun wrong.")


def run():
    flags.DEFINE_string("output_dir", "outputs/demo", "Where the model, exports and pictures go.")
    flags.DEFINE_bool("fast", False, "A tiny run of the same code path (tests).")
    app.run(main)


if __name__ == "__main__":
    run()
