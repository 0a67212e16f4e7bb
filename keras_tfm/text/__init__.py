"""In-graph subword tokenizers (TensorFlow and tensorflow-text only).

- `WordpieceTokenizer` and `learn_wordpiece_vocabulary`: WordPiece learned
  with tensorflow-text's BERT vocabulary learner, tokenized with
  `FastWordpieceTokenizer`; text is split on whitespace, so detokenization is
  exact ("parce qu'il était trop fatigué" comes back as is).
- `SentencepieceTokenizer` and `train_sentencepiece_model`: SentencePiece
  trained with the `sentencepiece` package, run with
  `FastSentencepieceTokenizer`.
- `learn_translation_tokenizers`: both sides of a corpus, shared or separate.
- `Tokenizer.save(directory, prefix)` / `load_tokenizer(directory, prefix)`:
  the vocabulary file next to a model (and as a SavedModel asset).

Every vocabulary has [PAD]=0, [START]=1, [END]=2, [UNK]=3. The methods
`tokenize`, `tokenize_to_tensor`, `detokenize` and `normalize` are
`tf.function`s that work in `tf.data`, SavedModel and (the dense ones) TFLite
with `tf_text.tflite_registrar.SELECT_TFTEXT_OPS`; see
`keras_tfm.text.tokenizer`.
"""

from keras_tfm.text.sentencepiece_tokenizer import SentencepieceTokenizer
from keras_tfm.text.sentencepiece_tokenizer import train_sentencepiece_model
from keras_tfm.text.tokenizer import END_ID
from keras_tfm.text.tokenizer import PAD_ID
from keras_tfm.text.tokenizer import RESERVED_TOKENS
from keras_tfm.text.tokenizer import START_ID
from keras_tfm.text.tokenizer import UNK_ID
from keras_tfm.text.tokenizer import Tokenizer
from keras_tfm.text.tokenizer import fit_to_length
from keras_tfm.text.tokenizer import load_tokenizer
from keras_tfm.text.tokenizer import strip_special_tokens
from keras_tfm.text.translation_tokenizers import learn_translation_tokenizers
from keras_tfm.text.wordpiece_tokenizer import WordpieceTokenizer
from keras_tfm.text.wordpiece_tokenizer import learn_wordpiece_vocabulary

__all__ = [
    "END_ID",
    "PAD_ID",
    "RESERVED_TOKENS",
    "START_ID",
    "UNK_ID",
    "SentencepieceTokenizer",
    "Tokenizer",
    "WordpieceTokenizer",
    "fit_to_length",
    "learn_translation_tokenizers",
    "learn_wordpiece_vocabulary",
    "load_tokenizer",
    "strip_special_tokens",
    "train_sentencepiece_model",
]
