"""Stochastic depth: drop a whole residual branch per example.

Shape legend: B batch, then any feature axes.
"""

import keras
from keras import ops

from keras_tfm.layers.validation import check_rate


@keras.saving.register_keras_serializable(package="keras_tfm")
class StochasticDepth(keras.layers.Layer):
    """Zeroes a residual branch for a random `rate` of the examples while training.

    The kept branches are scaled by `1 / (1 - rate)`, so the expectation is
    unchanged and inference is the identity.

    Args:
        rate: probability of dropping the branch of one example.
        seed: optional int seed.
        **kwargs: base layer arguments.

    Call arguments:
        inputs: the branch `(B, ...)`.
        training: drop only when `True`.

    References:
        Huang et al., "Deep Networks with Stochastic Depth", 2016, section 3.
    """

    def __init__(self, rate=0.0, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.rate = check_rate("rate", rate)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.supports_masking = True

    def call(self, inputs, training=None):
        if not training or self.rate == 0.0:
            return inputs
        keep = 1.0 - self.rate
        shape = (ops.shape(inputs)[0],) + (1,) * (len(inputs.shape) - 1)
        draw = keras.random.uniform(shape, seed=self.seed_generator, dtype=inputs.dtype)
        mask = ops.cast(draw < keep, inputs.dtype)
        return inputs * mask / ops.cast(keep, inputs.dtype)

    def compute_output_shape(self, inputs_shape):
        return inputs_shape

    def get_config(self):
        config = super().get_config()
        config.update(rate=self.rate, seed=self.seed)
        return config
