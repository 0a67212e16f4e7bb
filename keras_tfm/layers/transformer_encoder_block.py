"""One Transformer encoder block: self-attention, then a feed-forward network.

Shape legend: B batch, T length, D model width, N heads.
"""

import keras

from keras_tfm.layers.block_config import BlockArgs
from keras_tfm.layers.feed_forward import FeedForward
from keras_tfm.layers.multi_head_attention import MultiHeadAttention
from keras_tfm.layers.validation import check_rank


@keras.saving.register_keras_serializable(package="keras_tfm")
class TransformerEncoderBlock(BlockArgs, keras.layers.Layer):
    """Self-attention and a feed-forward network, each in a residual connection.

    Post-norm (`normalize_first=False`) is the original Transformer; pre-norm
    is the ViT and most modern models, and trains deep stacks more stably.

    Args:
        num_heads: N. The width D must be divisible by N unless `key_dim` is set.
        intermediate_dim: feed-forward width.
        dropout: dropout on each residual branch and inside the feed-forward.
        attention_dropout: dropout on the attention weights (defaults to `dropout`).
        activation: feed-forward activation (`"relu"` in the paper, `"gelu"` in ViT).
        normalize_first: pre-norm if `True`.
        layer_norm_epsilon: epsilon of the layer normalizations.
        key_dim: head size; defaults to D / N.
        drop_path_rate: stochastic depth on each residual branch.
        kernel_initializer, bias_initializer: initializers of every projection.
        **kwargs: base layer arguments.

    Call arguments:
        inputs: `(B, T, D)`.
        padding_mask: boolean `(B, T)`, `True` for real tokens.
        attention_mask: boolean `(B, T, T)`.
        return_attention_scores: also return the weights `(B, N, T, T)`.
        training: enables dropout.

    Returns:
        `(B, T, D)`, and the attention weights if asked.

    Example:
    >>> block = TransformerEncoderBlock(num_heads=4, intermediate_dim=64)
    >>> block(keras.random.normal((2, 10, 32))).shape
    (2, 10, 32)

    References:
        Vaswani et al., "Attention Is All You Need", 2017, section 3.1.
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

    def build(self, inputs_shape):
        check_rank("inputs", inputs_shape, 3)
        hidden_dim = inputs_shape[-1]
        self.self_attention = MultiHeadAttention(
            self.num_heads,
            self._head_size(hidden_dim),
            dropout=self.attention_dropout,
            kernel_initializer=self.kernel_initializer,
            bias_initializer=self.bias_initializer,
            dtype=self.dtype_policy,
            name="self_attention",
        )
        self.self_attention.build(inputs_shape)
        self.attention_residual = self._residual("attention_residual")
        self.attention_residual.build(inputs_shape)
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

    def call(
        self, inputs, padding_mask=None, attention_mask=None,
        return_attention_scores=False, training=None,
    ):
        x = self.attention_residual.normalize(inputs)
        outputs = self.self_attention(
            x,
            padding_mask=padding_mask,
            attention_mask=attention_mask,
            return_attention_scores=return_attention_scores,
            training=training,
        )
        attention, scores = outputs if return_attention_scores else (outputs, None)
        x = self.attention_residual(inputs, attention, training=training)
        y = self.feed_forward(self.feed_forward_residual.normalize(x), training=training)
        x = self.feed_forward_residual(x, y, training=training)
        return (x, scores) if return_attention_scores else x

    def compute_output_shape(self, inputs_shape):
        return inputs_shape

    def get_config(self):
        config = super().get_config()
        config.update(self._block_config())
        return config
