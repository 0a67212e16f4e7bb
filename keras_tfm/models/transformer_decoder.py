"""The Transformer decoder: embedding + position encoding, then N decoder blocks.

Shape legend: B batch, T target length, S source length, D model width,
N heads, H head size, L cache length.
"""

import keras

from keras_tfm.layers.masks import padding_mask_from_ids
from keras_tfm.layers.transformer_decoder_block import TransformerDecoderBlock
from keras_tfm.models.stack import TransformerStack


@keras.saving.register_keras_serializable(package="keras_tfm")
class TransformerDecoder(TransformerStack):
    """Embeds the shifted target ids and applies N causal decoder blocks.

    Every target position is computed in parallel during training (teacher
    forcing). For sequential decoding, `call` takes per-block caches and the
    step index; `keras_tfm.generation` drives it.

    Args:
        Same as `TransformerEncoder` (with target vocabulary).

    Call arguments:
        token_ids: int `(B, T)`, the target shifted right (starting with the
            start token), 0 for padding.
        encoder_output: `(B, S, D)`.
        encoder_padding_mask: boolean `(B, S)`.
        self_attention_caches: list of `(2, B, N, L, H)`, one per block.
        cross_attention_caches: list of `(2, B, N, S, H)`, replacing `encoder_output`.
        cache_update_index: position of `token_ids[:, 0]` when decoding with caches.
        return_attention_scores: also return a list of per-block dicts.
        training: enables dropout.

    Returns:
        `(B, T, D)`; then the updated self-attention caches if given; then
        the attention weights if asked.

    References:
        Vaswani et al., "Attention Is All You Need", 2017, section 3.1.
    """

    block_class = TransformerDecoderBlock

    def build(self, token_ids_shape, encoder_output_shape=None):
        self.embedding.build(token_ids_shape)
        shape = tuple(token_ids_shape) + (self.hidden_dim,)
        if encoder_output_shape is None:
            encoder_output_shape = (token_ids_shape[0], None, self.hidden_dim)
        for block in self.blocks:
            block.build(shape, encoder_output_shape)
        if self.final_norm is not None:
            self.final_norm.build(shape)
        self.built = True

    def call(
        self,
        token_ids,
        encoder_output=None,
        encoder_padding_mask=None,
        self_attention_caches=None,
        cross_attention_caches=None,
        cache_update_index=None,
        return_attention_scores=False,
        training=None,
    ):
        decoding = self_attention_caches is not None
        if not decoding:
            self._check_length(token_ids)
        padding_mask = padding_mask_from_ids(token_ids)  # (B, T)
        start = 0 if cache_update_index is None else cache_update_index
        x = self._embed(token_ids, start_index=start, training=training)
        new_caches, scores = [], []
        for i, block in enumerate(self.blocks):
            outputs = block(
                x,
                encoder_output=encoder_output,
                padding_mask=padding_mask,
                encoder_padding_mask=encoder_padding_mask,
                self_attention_cache=self_attention_caches[i] if decoding else None,
                cache_update_index=cache_update_index,
                cross_attention_cache=(
                    None if cross_attention_caches is None else cross_attention_caches[i]
                ),
                return_attention_scores=return_attention_scores,
                training=training,
            )
            outputs = outputs if isinstance(outputs, tuple) else (outputs,)
            x = outputs[0]
            if decoding:
                new_caches.append(outputs[1])
            if return_attention_scores:
                scores.append(outputs[-1])
        results = (self._finish(x),)
        if decoding:
            results += (new_caches,)
        if return_attention_scores:
            results += (scores,)
        return results[0] if len(results) == 1 else results

    def compute_output_shape(self, token_ids_shape, encoder_output_shape=None):
        return tuple(token_ids_shape) + (self.hidden_dim,)
