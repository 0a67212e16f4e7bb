"""One Transformer decoder block: causal self-attention, cross-attention, feed-forward.

Shape legend: B batch, T target length, S source length, D model width,
N heads, H head size, L cache length.
"""

import keras

from keras_tfm.layers.block_config import BlockArgs
from keras_tfm.layers.feed_forward import FeedForward
from keras_tfm.layers.multi_head_attention import MultiHeadAttention
from keras_tfm.layers.validation import check_rank


@keras.saving.register_keras_serializable(package="keras_tfm")
class TransformerDecoderBlock(BlockArgs, keras.layers.Layer):
    """Masked (causal) self-attention, attention to the encoder, and a feed-forward network.

    The self-attention is always causal: position t sees targets `<= t` only,
    so every position can be trained in parallel from the shifted target
    (teacher forcing). Built without an encoder output, the block has no
    cross-attention (a decoder-only block).

    For sequential decoding pass `self_attention_cache` `(2, B, N, L, H)` and
    `cache_update_index`: the new step's keys/values are written into the
    cache at that index and the updated cache is returned. Pass
    `cross_attention_cache` (from `compute_cross_attention_cache`) to reuse
    the encoder's projected keys/values at every step.

    Args:
        Same as `TransformerEncoderBlock`.

    Call arguments:
        inputs: `(B, T, D)`, the embedded shifted targets.
        encoder_output: `(B, S, D)`, or `None` for a decoder-only block.
        padding_mask: boolean `(B, T)` for the targets.
        encoder_padding_mask: boolean `(B, S)` for the source.
        self_attention_mask: extra boolean `(B, T, T)` (or `(B, T, L)` with a cache).
        cross_attention_mask: boolean `(B, T, S)`.
        self_attention_cache: `(2, B, N, L, H)`.
        cache_update_index: where this step's keys/values are written.
        cross_attention_cache: `(2, B, N, S, H)`; replaces `encoder_output`.
        return_attention_scores: also return `{"self": (B, N, T, T|L), "cross": (B, N, T, S)}`.
        training: enables dropout.

    Returns:
        `(B, T, D)`; then the updated self-attention cache if one was given;
        then the attention weights if asked.

    References:
        Vaswani et al., "Attention Is All You Need", 2017, sections 3.1 and 3.2.3.
    """

    def __init__(
        self,
        num_heads,
        intermediate_dim,
        dropout=0.0,
        attention_dropout=None,
        activation="relu",
        normalize_first=False,
        layer_norm_epsilon=1e-5,
        key_dim=None,
        drop_path_rate=0.0,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self._set_block_args(
            num_heads, intermediate_dim, dropout, attention_dropout, activation,
            normalize_first, layer_norm_epsilon, key_dim, drop_path_rate,
            kernel_initializer, bias_initializer,
        )
        self.supports_masking = True

    def _attention(self, name, head_size):
        return MultiHeadAttention(
            self.num_heads,
            head_size,
            dropout=self.attention_dropout,
            kernel_initializer=self.kernel_initializer,
            bias_initializer=self.bias_initializer,
            dtype=self.dtype_policy,
            name=name,
        )

    def build(self, inputs_shape, encoder_output_shape=None):
        check_rank("inputs", inputs_shape, 3)
        hidden_dim = inputs_shape[-1]
        head_size = self._head_size(hidden_dim)
        self.self_attention = self._attention("self_attention", head_size)
        self.self_attention.build(inputs_shape)
        self.self_attention_residual = self._residual("self_attention_residual")
        self.self_attention_residual.build(inputs_shape)
        self.cross_attention = None
        if encoder_output_shape is not None:
            check_rank("encoder_output", encoder_output_shape, 3)
            self.cross_attention = self._attention("cross_attention", head_size)
            self.cross_attention.build(inputs_shape, encoder_output_shape)
            self.cross_attention_residual = self._residual("cross_attention_residual")
            self.cross_attention_residual.build(inputs_shape)
        self.feed_forward = FeedForward(
            self.intermediate_dim,
            activation=self.activation,
            dropout=self.dropout,
            kernel_initializer=self.kernel_initializer,
            bias_initializer=self.bias_initializer,
            dtype=self.dtype_policy,
            name="feed_forward",
        )
        self.feed_forward.build(inputs_shape)
        self.feed_forward_residual = self._residual("feed_forward_residual")
        self.feed_forward_residual.build(inputs_shape)
        self.built = True

    def compute_cross_attention_cache(self, encoder_output):
        """The encoder's keys/values for this block, `(2, B, N, S, H)`, computed once."""
        return self.cross_attention.compute_key_value(encoder_output)

    def call(
        self,
        inputs,
        encoder_output=None,
        padding_mask=None,
        encoder_padding_mask=None,
        self_attention_mask=None,
        cross_attention_mask=None,
        self_attention_cache=None,
        cache_update_index=None,
        cross_attention_cache=None,
        return_attention_scores=False,
        training=None,
    ):
        has_source = encoder_output is not None or cross_attention_cache is not None
        if has_source and self.cross_attention is None:
            raise ValueError(
                "This decoder block was built without an encoder output, so it has no "
                "cross-attention. Received: encoder_output or cross_attention_cache"
            )
        if self.cross_attention is not None and not has_source:
            raise ValueError(
                "`encoder_output` (or `cross_attention_cache`) is required by a block "
                "built with cross-attention. Received: encoder_output=None"
            )
        scores = {}

        # Causal self-attention.
        x = self.self_attention_residual.normalize(inputs)
        outputs = self.self_attention(
            x,
            padding_mask=None if self_attention_cache is not None else padding_mask,
            attention_mask=self_attention_mask,
            use_causal_mask=True,
            return_attention_scores=return_attention_scores,
            training=training,
            cache=self_attention_cache,
            cache_update_index=cache_update_index,
        )
        outputs = outputs if isinstance(outputs, tuple) else (outputs,)
        attention = outputs[0]
        if self_attention_cache is not None:
            self_attention_cache = outputs[1]
        if return_attention_scores:
            scores["self"] = outputs[-1]
        x = self.self_attention_residual(inputs, attention, training=training)

        # Cross-attention to the encoder.
        if self.cross_attention is not None:
            if encoder_padding_mask is None and encoder_output is not None:
                encoder_padding_mask = getattr(encoder_output, "_keras_mask", None)
            outputs = self.cross_attention(
                self.cross_attention_residual.normalize(x),
                value=encoder_output if encoder_output is not None else x,
                padding_mask=encoder_padding_mask,
                attention_mask=cross_attention_mask,
                return_attention_scores=return_attention_scores,
                training=training,
                cache=cross_attention_cache,
            )
            outputs = outputs if isinstance(outputs, tuple) else (outputs,)
            if return_attention_scores:
                scores["cross"] = outputs[-1]
            x = self.cross_attention_residual(x, outputs[0], training=training)

        y = self.feed_forward(self.feed_forward_residual.normalize(x), training=training)
        x = self.feed_forward_residual(x, y, training=training)
        results = (x,)
        if self_attention_cache is not None:
            results += (self_attention_cache,)
        if return_attention_scores:
            results += (scores,)
        return results[0] if len(results) == 1 else results

    def compute_output_shape(self, inputs_shape, encoder_output_shape=None):
        return inputs_shape

    def get_config(self):
        config = super().get_config()
        config.update(self._block_config())
        return config
