"""The residual connection shared by the encoder and decoder blocks.

Pre-norm: `x + drop(f(norm(x)))`. Post-norm (Vaswani et al.): `norm(x + drop(f(x)))`.
Shape legend: B batch, T length, D model width.
"""

import keras

from keras_tfm.layers.stochastic_depth import StochasticDepth
from keras_tfm.layers.validation import check_rate


@keras.saving.register_keras_serializable(package="keras_tfm")
class Residual(keras.layers.Layer):
    """Norm, dropout and stochastic depth around one sublayer `f`.

    Use as `y = residual(x, f(residual.normalize(x)), training=training)`:
    `normalize` is the identity for post-norm, and `call` applies the norm
    after the sum in that case.

    Args:
        dropout: dropout rate on the branch.
        drop_path_rate: stochastic depth rate on the branch.
        normalize_first: pre-norm (`True`) or post-norm (`False`).
        layer_norm_epsilon: epsilon of the layer normalization.
        **kwargs: base layer arguments.

    Call arguments:
        residual: `(B, T, D)`, the sublayer's input.
        branch: `(B, T, D)`, the sublayer's output.
        training: enables dropout and stochastic depth.
    """

    def __init__(self, dropout=0.0, drop_path_rate=0.0, normalize_first=False, layer_norm_epsilon=1e-5, **kwargs):
        super().__init__(**kwargs)
        self.dropout = check_rate("dropout", dropout)
        self.drop_path_rate = check_rate("drop_path_rate", drop_path_rate)
        self.normalize_first = bool(normalize_first)
        self.layer_norm_epsilon = float(layer_norm_epsilon)
        self.supports_masking = True

    def build(self, residual_shape, branch_shape=None):
        self.norm = keras.layers.LayerNormalization(
            epsilon=self.layer_norm_epsilon, dtype=self.dtype_policy, name="norm"
        )
        self.norm.build(residual_shape)
        self.dropout_layer = keras.layers.Dropout(self.dropout, dtype=self.dtype_policy)
        self.drop_path = StochasticDepth(self.drop_path_rate, dtype=self.dtype_policy)
        self.built = True

    def normalize(self, x):
        return self.norm(x) if self.normalize_first else x

    def call(self, residual, branch, training=None):
        x = residual + self.drop_path(self.dropout_layer(branch, training=training), training=training)
        return x if self.normalize_first else self.norm(x)

    def compute_output_shape(self, residual_shape, branch_shape=None):
        return residual_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            dropout=self.dropout,
            drop_path_rate=self.drop_path_rate,
            normalize_first=self.normalize_first,
            layer_norm_epsilon=self.layer_norm_epsilon,
        )
        return config
