"""The Transformer encoder: embedding + position encoding, then N encoder blocks.

Shape legend: B batch, S source length, D model width, N heads.
"""

import keras

from keras_tfm.layers.masks import padding_mask_from_ids
from keras_tfm.layers.transformer_encoder_block import TransformerEncoderBlock
from keras_tfm.models.stack import TransformerStack


@keras.saving.register_keras_serializable(package="keras_tfm")
class TransformerEncoder(TransformerStack):
    """Embeds source token ids, adds where they stand, and applies N self-attention blocks.

    Token id 0 is padding: it is masked out of every attention and its
    output positions carry no information into real ones.

    Args:
        vocabulary_size: number of source token ids.
        num_layers: N, the number of blocks.
        hidden_dim: D, the model width.
        num_heads: attention heads per block; must divide `hidden_dim`.
        intermediate_dim: feed-forward width.
        dropout: residual, embedding and feed-forward dropout.
        attention_dropout: dropout on attention weights (defaults to `dropout`).
        activation: feed-forward activation.
        normalize_first: pre-norm blocks plus a final layer norm.
        layer_norm_epsilon: epsilon of every layer norm.
        position_encoding: `"sinusoidal"`, `"learned"`, `"binary"` or `"none"`.
        merge: `"add"` or `"concat"` the position code.
        position_dim: width of a concatenated code.
        max_length: longest sequence (needed by learned embeddings).
        scale_embeddings: multiply token vectors by sqrt(width).
        **kwargs: base layer arguments.

    Call arguments:
        token_ids: int `(B, S)`, 0 for padding.
        return_attention_scores: also return a list of `(B, N, S, S)`, one per block.
        training: enables dropout.

    Returns:
        `(B, S, D)` (and the attention weights if asked).

    References:
        Vaswani et al., "Attention Is All You Need", 2017, section 3.1.
    """

    block_class = TransformerEncoderBlock

    def build(self, token_ids_shape):
        self.embedding.build(token_ids_shape)
        shape = tuple(token_ids_shape) + (self.hidden_dim,)
        for block in self.blocks:
            block.build(shape)
        if self.final_norm is not None:
            self.final_norm.build(shape)
        self.built = True

    def call(self, token_ids, return_attention_scores=False, training=None):
        self._check_length(token_ids)
        padding_mask = padding_mask_from_ids(token_ids)  # (B, S)
        x = self._embed(token_ids, training=training)
        scores = []
        for block in self.blocks:
            x = block(
                x, padding_mask=padding_mask,
                return_attention_scores=return_attention_scores, training=training,
            )
            if return_attention_scores:
                x, block_scores = x
                scores.append(block_scores)
        x = self._finish(x)
        return (x, scores) if return_attention_scores else x

    def compute_output_shape(self, token_ids_shape):
        return tuple(token_ids_shape) + (self.hidden_dim,)
