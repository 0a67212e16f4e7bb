"""The translation config type shared by the translation configs."""

import dataclasses


@dataclasses.dataclass(frozen=True)
class TranslationConfig:
    dataset: str = "coref_translation"  # "coref_translation" or "bible_en_fr".
    seed: int = 0  # Data order, initialisation and the corpus itself.
    train_size: int = 6000  # Training pairs drawn from the coreference grammar.
    eval_size: int = 500  # Pairs in each of test and test_heldout.
    vocab_size: int = 1000  # WordPiece vocabulary per language.
    max_length: int = 24  # Longest source / target in tokens (longer pairs are dropped).
    num_layers: int = 2  # Encoder and decoder blocks.
    hidden_dim: int = 128  # Model width d.
    num_heads: int = 4  # Attention heads.
    intermediate_dim: int = 256  # Feed-forward width.
    dropout: float = 0.1  # Residual / attention dropout.
    label_smoothing: float = 0.1  # Vaswani et al. 5.4.
    learning_rate_scale: float = 0.3  # Multiplies the Transformer schedule (peak ~2e-3 at d=128).
    optimizer: str = "adam"  # "adam" (Vaswani et al. 5.3) or "sgd" (for exact strategy comparisons).
    adam_epsilon: float = 1e-9  # Vaswani et al. 5.3.
    warmup_steps: int = 200  # 4000 in the paper; shorter for small CPU runs.
    batch_size: int = 64  # Global batch (split over replicas).
    train_steps: int = 1500  # Optimizer steps.
    checkpoint_every: int = 250  # Steps between checkpoints.
    log_every: int = 50  # Steps between logged metrics.
    beam_width: int = 1  # 1: greedy evaluation; > 1: beam search with alpha 0.6.
