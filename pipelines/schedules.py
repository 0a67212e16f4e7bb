"""The learning-rate schedules of the papers, as serializable Keras schedules."""

import math

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_tfm")
class TransformerSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """`d^-0.5 * min(step^-0.5, step * warmup^-1.5)` (Vaswani et al. 2017, eq. 3).

    Linear warm-up for `warmup_steps`, then inverse-square-root decay; 4000
    warm-up steps in the paper. `scale` multiplies the whole curve.
    """

    def __init__(self, hidden_dim, warmup_steps=4000, scale=1.0):
        self.hidden_dim = hidden_dim
        self.warmup_steps = warmup_steps
        self.scale = scale

    def __call__(self, step):
        step = ops.cast(step, "float32") + 1.0
        rate = ops.minimum(ops.rsqrt(step), step * self.warmup_steps**-1.5)
        return self.scale * self.hidden_dim**-0.5 * rate

    def get_config(self):
        return dict(hidden_dim=self.hidden_dim, warmup_steps=self.warmup_steps, scale=self.scale)


@keras.saving.register_keras_serializable(package="keras_tfm")
class WarmupDecay(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up to `peak`, then cosine or linear decay to `end` at `total_steps` (ViT recipe)."""

    def __init__(self, peak, total_steps, warmup_steps=0, decay="cosine", end=0.0):
        if decay not in ("cosine", "linear"):
            raise ValueError(f"`decay` must be 'cosine' or 'linear'. Received: decay={decay!r}")
        self.peak, self.total_steps, self.warmup_steps = peak, total_steps, warmup_steps
        self.decay, self.end = decay, end

    def __call__(self, step):
        step = ops.cast(step, "float32")
        warm = self.peak * (step + 1.0) / max(self.warmup_steps, 1)
        progress = ops.clip((step - self.warmup_steps) / max(self.total_steps - self.warmup_steps, 1), 0.0, 1.0)
        if self.decay == "cosine":
            fraction = 0.5 * (1.0 + ops.cos(math.pi * progress))
        else:
            fraction = 1.0 - progress
        decayed = self.end + (self.peak - self.end) * fraction
        return ops.where(step < self.warmup_steps, warm, decayed)

    def get_config(self):
        return dict(peak=self.peak, total_steps=self.total_steps, warmup_steps=self.warmup_steps,
                    decay=self.decay, end=self.end)
