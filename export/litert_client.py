r"""Translates strings with the translator's `.tflite` file alone, on `ai_edge_litert`.

Command:

    python -m export.litert_client --model=/tmp/tr/export/translator.tflite \
        "The animal didn't cross the street because it was too tired"

Needs only `ai_edge_litert` and `tensorflow_text` (whose op registrar runs the
tokenizer ops inside the file); not Keras, not this package. The file holds
everything else: the vocabularies, the model and the decoding loop.

Two ways through the file, giving the same tokens:
* `translate(texts)`: the `translate` signature, strings in and strings out,
  the decoding loop inside TFLite.
* `translate_stepwise(texts)`: `tokenize`, `encode`, then greedy decoding
  here in NumPy, one `decode_step` call per token, then `detokenize`; the
  way an app drives decoding itself (to stream tokens, stop early or plug in
  its own search).

Shape legend: B batch, S source length, L most generated tokens, Ly decoder
layers, N heads, H head size, V target vocabulary.
"""

import numpy as np

# The special ids of every keras_tfm vocabulary.
PAD_ID, START_ID, END_ID = 0, 1, 2
_NEG = -1e9


class LiteRTTranslator:
    """A translator `.tflite` (signatures `translate`, `tokenize`, `encode`,
    `decode_step`, `detokenize`) behind a list-of-strings interface.

    Args:
        model_path: the `.tflite` file written by `export.translator`.
        num_threads: interpreter threads (None: LiteRT's default).
    """

    def __init__(self, model_path, num_threads=None):
        import tensorflow_text as tf_text
        from ai_edge_litert import interpreter as litert

        self.interpreter = litert.InterpreterWithCustomOps(
            custom_op_registerers=tf_text.tflite_registrar.SELECT_TFTEXT_OPS,
            model_path=model_path,
            num_threads=num_threads,
        )
        signatures = self.interpreter.get_signature_list()
        missing = {"translate", "tokenize", "encode", "decode_step", "detokenize"} - set(signatures)
        if missing:
            raise ValueError(
                f"`model_path` must be a translator exported by export.translator; {model_path} "
                f"lacks the signatures {sorted(missing)}. Received signatures: {sorted(signatures)}"
            )
        self._runners = {name: self.interpreter.get_signature_runner(name) for name in signatures}
        cache = self._runners["decode_step"].get_input_details()["self_attention"]
        self.cache_shape = tuple(cache["shape_signature"])  # (Ly, 2, B, N, L, H); B is -1 if any
        self.cache_dtype = cache["dtype"]
        self.max_length = int(self.cache_shape[4])
        batch = int(self._runners["translate"].get_input_details()["texts"]["shape_signature"][0])
        self.batch_size = batch if batch > 0 else None  # The file's static batch size, if any.

    def _chunks(self, texts):
        """Yields (chunk padded to the static batch size, number of real rows)."""
        texts = [t.encode("utf-8") if isinstance(t, str) else bytes(t) for t in texts]
        step = self.batch_size or max(len(texts), 1)
        for i in range(0, len(texts), step):
            chunk = texts[i : i + step]
            real = len(chunk)
            chunk += [b""] * (step - real) if self.batch_size else []
            yield np.array(chunk, dtype=object), real

    def translate(self, texts):
        """Strings -> translated strings, decoded inside TFLite (`translate` signature)."""
        out = []
        for chunk, real in self._chunks(texts):
            result = self._runners["translate"](texts=chunk)
            out += [t.decode("utf-8") for t in result["translation"][:real]]
        return out

    def translate_stepwise(self, texts):
        """Strings -> (translations, token ids `(B, L)`), greedy over `decode_step` in NumPy."""
        translations, all_ids = [], []
        for chunk, real in self._chunks(texts):
            source_ids = self._runners["tokenize"](texts=chunk)["source_ids"]  # (B, S)
            token_ids = self.generate_ids(source_ids)
            text = self._runners["detokenize"](token_ids=token_ids)["translation"]
            translations += [t.decode("utf-8") for t in text[:real]]
            all_ids.append(token_ids[:real])
        return translations, np.concatenate(all_ids) if all_ids else np.zeros((0, self.max_length), np.int32)

    def generate_ids(self, source_ids):
        """Greedy decoding of int32 `(B, S)` source ids -> int32 `(B, L)`, as `greedy_search` does.

        [PAD] is never picked; after [END] a row gets [PAD]; decoding stops
        when every row has ended. A source of just [START] [END] (empty
        text) gets no tokens, as in the other signatures.
        """
        source_ids = np.asarray(source_ids, np.int32)
        batch = len(source_ids)
        encoded = self._runners["encode"](source_ids=source_ids)
        shape = self.cache_shape[:2] + (batch,) + self.cache_shape[3:]
        cache = np.zeros(shape, self.cache_dtype)  # (Ly, 2, B, N, L, H)
        tokens = np.zeros((batch, self.max_length), np.int32)
        previous = np.full((batch, 1), START_ID, np.int32)
        finished = np.zeros(batch, bool)
        for step in range(self.max_length):
            out = self._runners["decode_step"](
                token_ids=previous, step=np.array(step, np.int32), self_attention=cache,
                cross_attention=encoded["cross_attention"], source_mask=encoded["source_mask"],
            )
            cache = out["self_attention"]
            logits = out["logits"].copy()  # (B, V)
            logits[:, PAD_ID] = _NEG
            token = np.where(finished, PAD_ID, logits.argmax(axis=-1)).astype(np.int32)
            tokens[:, step] = token
            finished |= token == END_ID
            previous = token[:, None]
            if finished.all():
                break
        empty = (source_ids != PAD_ID).sum(axis=1) <= 2
        tokens[empty] = PAD_ID
        return tokens


class LiteRTImageClassifier:
    """An image classifier `.tflite` written by `export.vit` (signature
    `serving_default`: uint8 images -> probabilities and top-k labels).

    Args:
        model_path: the `.tflite` file.
        num_threads: interpreter threads (None: LiteRT's default).
    """

    def __init__(self, model_path, num_threads=None):
        from ai_edge_litert import interpreter as litert

        self.interpreter = litert.Interpreter(model_path=model_path, num_threads=num_threads)
        self._runner = self.interpreter.get_signature_runner("serving_default")
        details = self._runner.get_input_details()["images"]
        signature = tuple(int(d) for d in details["shape_signature"])
        self.batch_size = signature[0] if signature[0] > 0 else None
        self.image_shape = signature[1:]  # (Hi, Wi, C)

    def classify(self, images):
        """uint8 images `(B, Hi, Wi, C)` -> dict of `probabilities` `(B, K)`,
        `top_k_indices`, `top_k_probabilities` and `top_k_labels` `(B, k)`."""
        images = np.asarray(images)
        if images.dtype != np.uint8:
            raise ValueError(
                "`images` must be uint8 pixels in [0, 255] (preprocessing is in the model). "
                f"Received: dtype={images.dtype}"
            )
        if images.ndim != 4 or images.shape[1:] != self.image_shape:
            h, w, c = self.image_shape
            raise ValueError(
                f"`images` must have shape (B, {h}, {w}, {c}), the model's input size; resize them "
                f"first. Received: shape={images.shape}"
            )
        step = self.batch_size or max(len(images), 1)
        parts = []
        for start in range(0, len(images), step):
            chunk = images[start : start + step]
            real = len(chunk)
            if self.batch_size and real < step:
                chunk = np.concatenate([chunk, np.zeros((step - real,) + chunk.shape[1:], np.uint8)])
            parts.append({k: v[:real] for k, v in self._runner(images=chunk).items()})
        return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def main(argv):
    from absl import flags

    f = flags.FLAGS
    texts = argv[1:]
    if not texts:
        raise SystemExit("Give the sentences to translate as arguments.")
    translator = LiteRTTranslator(f.model, num_threads=f.num_threads)
    results = translator.translate_stepwise(texts)[0] if f.stepwise else translator.translate(texts)
    for source, target in zip(texts, results):
        print(f"{source}\n  -> {target}")


if __name__ == "__main__":
    from absl import app, flags

    flags.DEFINE_string("model", None, "The translator .tflite file.", required=True)
    flags.DEFINE_integer("num_threads", None, "Interpreter threads.")
    flags.DEFINE_bool("stepwise", False, "Decode with encode + decode_step in NumPy.")
    app.run(main)
