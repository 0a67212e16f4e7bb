"""Translation training and evaluation: data, model, loss, decoding, metrics.

`train_and_evaluate(config, workdir, ...)` is what `train_translation.py`'s
absl main calls, and what the tests and the demo call in-process.
"""

import json
import os

import keras
import numpy as np
import tensorflow as tf

from keras_tfm.data import coref
from keras_tfm.data.text_pipeline import make_translation_dataset
from keras_tfm.models import Transformer
from keras_tfm.text import learn_translation_tokenizers, load_tokenizer
from keras_tfm.text.tokenizer import fit_to_length

from . import schedules, trainer as trainer_lib


def load_pairs(config):
    """(train, evaluation splits) as lists of dicts with at least `en` and `fr`."""
    if config.dataset == "coref_translation":
        splits = coref.generate_coref_pairs(
            seed=config.seed,
            sizes={"train": config.train_size, "validation": config.eval_size,
                   "test": config.eval_size, "test_heldout": config.eval_size},
        )
        as_dicts = {k: [e.as_dict() for e in v] for k, v in splits.items()}
        return as_dicts["train"], {k: as_dicts[k] for k in ("test", "test_heldout")}
    if config.dataset == "bible_en_fr":
        from keras_tfm.data.bible import bible_splits

        pairs = bible_splits()
        return pairs["train"], {"test": pairs["test"][: config.eval_size]}
    raise ValueError(
        f"`dataset` must be 'coref_translation' or 'bible_en_fr'. Received: dataset={config.dataset!r}"
    )


def masked_loss(label_smoothing):
    """Token cross-entropy summed over non-pad targets, with the count and hits."""

    def loss_fn(y, logits):
        weights = tf.cast(tf.not_equal(y, 0), "float32")
        vocabulary = tf.shape(logits)[-1]
        labels = tf.one_hot(y, vocabulary)
        if label_smoothing:
            labels = labels * (1 - label_smoothing) + label_smoothing / tf.cast(vocabulary, "float32")
        per_token = tf.nn.softmax_cross_entropy_with_logits(labels, tf.cast(logits, "float32"))
        correct = tf.cast(tf.equal(tf.argmax(logits, -1, output_type=tf.int32), y), "float32")
        return tf.reduce_sum(per_token * weights), tf.reduce_sum(weights), tf.reduce_sum(correct * weights)

    return loss_fn


def build_model(config, vocabulary_size, target_vocabulary_size):
    return Transformer(
        vocabulary_size,
        target_vocabulary_size=target_vocabulary_size,
        num_layers=config.num_layers,
        hidden_dim=config.hidden_dim,
        num_heads=config.num_heads,
        intermediate_dim=config.intermediate_dim,
        dropout=config.dropout,
        max_length=config.max_length,
        share_embeddings=False,
        tie_embeddings=True,
    )


def translate(model, source_tokenizer, target_tokenizer, sentences, max_length, beam_width=1, batch_size=64):
    """Strings in, strings out, decoding with the key/value cache in a compiled loop."""
    method = "beam" if beam_width > 1 else "greedy"
    kwargs = dict(beam_width=beam_width) if beam_width > 1 else {}

    def generate(source_ids):
        return model.generate(source_ids, max_length=max_length, method=method, **kwargs)

    if keras.backend.backend() == "jax":
        import jax

        compiled = jax.jit(generate)
        run = lambda ids: np.asarray(compiled(ids.numpy()))  # noqa: E731
    else:
        run = tf.function(generate)

    outputs = []
    for start in range(0, len(sentences), batch_size):
        chunk = tf.constant(sentences[start : start + batch_size])
        ids = fit_to_length(source_tokenizer.tokenize_to_tensor(chunk), max_length)  # (B, S) static
        tokens = tf.convert_to_tensor(run(ids), tf.int32)
        # The decoder's output has no start id; the tokenizer strips from [END] on.
        text = target_tokenizer.detokenize(tokens)
        outputs += [t.decode("utf-8") for t in text.numpy()]
    return outputs


def evaluate(model, source_tokenizer, target_tokenizer, splits, config):
    """BLEU (sacrebleu) and, for the coreference corpus, pronoun accuracy per split."""
    import sacrebleu

    results = {}
    for name, examples in splits.items():
        hypotheses = translate(
            model, source_tokenizer, target_tokenizer, [e["en"] for e in examples],
            config.max_length, config.beam_width,
        )
        references = [e["fr"] for e in examples]
        split = {"bleu": sacrebleu.corpus_bleu(hypotheses, [references]).score, "examples": len(examples)}
        if "gender" in examples[0]:
            expected = ["il" if e["gender"] == "masculine" else "elle" for e in examples]
            found = [coref.french_pronoun(h) for h in hypotheses]
            split["pronoun_accuracy"] = float(np.mean([a == b for a, b in zip(found, expected)]))
            adjectives = [e["fr_adjective"] for e in examples]
            split["adjective_accuracy"] = float(np.mean([h.split()[-1:] == [a] for h, a in zip(hypotheses, adjectives)]))
        split["samples"] = [dict(en=e["en"], reference=r, hypothesis=h)
                            for e, r, h in list(zip(examples, references, hypotheses))[:3]]
        results[name] = split
    return results


def prepare_data(config, workdir):
    """Tokenizers (learned once, then loaded from `workdir/tokenizers`), the training dataset and eval splits."""
    train_pairs, eval_splits = load_pairs(config)
    tokenizer_dir = os.path.join(workdir, "tokenizers")
    if os.path.exists(os.path.join(tokenizer_dir, "en_tokenizer.json")):
        source_tok, target_tok = load_tokenizer(tokenizer_dir, "en_"), load_tokenizer(tokenizer_dir, "fr_")
    else:
        source_tok, target_tok = learn_translation_tokenizers(train_pairs, config.vocab_size)
        source_tok.save(tokenizer_dir, "en_")
        target_tok.save(tokenizer_dir, "fr_")
    dataset, stats = make_translation_dataset(
        train_pairs, source_tok, target_tok, batch_size=config.batch_size,
        max_source_length=config.max_length, max_target_length=config.max_length,
        batching="pad", drop_remainder=True, shuffle_buffer=len(train_pairs), seed=config.seed,
        repeat=True, cache=True,
    )
    return source_tok, target_tok, dataset, stats, eval_splits


def optimizer_for(config):
    schedule = schedules.TransformerSchedule(config.hidden_dim, config.warmup_steps, config.learning_rate_scale)
    if config.optimizer == "sgd":
        return keras.optimizers.SGD(schedule)
    if config.optimizer != "adam":
        raise ValueError(f"`optimizer` must be 'adam' or 'sgd'. Received: optimizer={config.optimizer!r}")
    return keras.optimizers.Adam(schedule, beta_1=0.9, beta_2=0.98, epsilon=config.adam_epsilon)


def train_and_evaluate(config, workdir, strategy_name="default", tpu=None, mixed_precision="auto",
                       jit_compile=False, steps_per_execution=1, verbose=1):
    """Trains the translator of `config` in `workdir`, resuming from its last checkpoint.

    Writes `workdir/model.keras`, `workdir/tokenizers/` and `workdir/results.json`;
    returns the results dict (training history and evaluation).
    """
    if keras.backend.backend() == "jax":
        from . import jax_training

        return jax_training.train_and_evaluate(config, workdir, strategy_name, tpu, mixed_precision, verbose)
    strategy = trainer_lib.prepare(workdir, config.batch_size, strategy_name, tpu, mixed_precision)
    keras.utils.set_random_seed(config.seed)
    source_tok, target_tok, dataset, stats, eval_splits = prepare_data(config, workdir)

    def build():
        model = build_model(config, source_tok.vocab_size, target_tok.vocab_size)
        model((tf.ones((1, config.max_length), "int32"), tf.ones((1, config.max_length), "int32")))
        return model

    trainer = trainer_lib.Trainer(
        strategy, build, lambda: optimizer_for(config), masked_loss(config.label_smoothing), workdir,
        jit_compile=jit_compile, steps_per_execution=steps_per_execution,
        checkpoint_every=config.checkpoint_every,
    )
    start = trainer.restore()
    history = trainer.train(
        trainer_lib.resume_dataset(dataset, start), config.train_steps,
        log_every=config.log_every, examples_per_step=config.batch_size, verbose=verbose,
    )
    results = {"resumed_from_step": start, "history": history,
               "data": None if stats is None else dict(vars(stats))}
    if trainer.chief:
        trainer_lib.save_keras_atomically(trainer.model, os.path.join(workdir, "model.keras"))
        results["evaluation"] = evaluate(trainer.model, source_tok, target_tok, eval_splits, config)
        with open(os.path.join(workdir, "results.json"), "w") as f:
            json.dump(results, f, indent=2, default=str)
    results["model"] = trainer.model
    return results
