"""Sequential decoding over a key/value cache: greedy, beam search, sampling.

Backend-agnostic (`keras.ops.while_loop`, static shapes): the loops compile
under `tf.function(jit_compile=True)` and `jax.jit`, and export with the model
(trace graphs meant for TFLite inside `portable_cache_writes()`).
"""

from keras_tfm.generation.beam_search import beam_search, length_penalty
from keras_tfm.generation.greedy import greedy_search, sample
from keras_tfm.generation.kv_cache import DecoderCache, decode_step, uncached_logits
from keras_tfm.layers.cache_writes import portable_cache_writes
