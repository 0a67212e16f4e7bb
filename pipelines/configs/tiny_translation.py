"""A translator small enough for a test: a few steps in seconds, no dropout."""

from .translation import TranslationConfig


def get_config():
    return TranslationConfig(
        train_size=256, eval_size=16, vocab_size=200, max_length=20, num_layers=1, hidden_dim=32,
        num_heads=2, intermediate_dim=64, dropout=0.0, batch_size=16, train_steps=20,
        checkpoint_every=10, log_every=5, warmup_steps=10, learning_rate_scale=0.5,
        # A larger epsilon keeps Adam from turning float noise in near-zero
        # gradients into full-size steps, so strategies can be compared.
        adam_epsilon=1e-6,
    )
