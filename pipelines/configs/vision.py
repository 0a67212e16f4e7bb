"""The ViT pretraining / fine-tuning config type and the seed's transfer experiment."""

import dataclasses


@dataclasses.dataclass(frozen=True)
class VisionConfig:
    seed: int = 0  # Data order and initialisation.
    image_size: int = 28  # Fashion-MNIST and MNIST are 28 x 28 grey images.
    patch_size: int = 4  # 7 x 7 = 49 patches (the paper's 16 x 16 is for 224 px images).
    num_layers: int = 4  # Encoder blocks.
    hidden_dim: int = 64  # Width D.
    num_heads: int = 4  # Attention heads.
    intermediate_dim: int = 128  # MLP width.
    dropout: float = 0.0  # Residual dropout.
    drop_path_rate: float = 0.1  # Stochastic depth.
    batch_size: int = 128  # Global batch for pretraining.
    pretrain_steps: int = 1500  # Steps on Fashion-MNIST (about 3 epochs).
    pretrain_learning_rate: float = 2e-3  # AdamW peak, linear warm-up then cosine decay.
    weight_decay: float = 0.05  # AdamW weight decay.
    warmup_steps: int = 150  # Linear warm-up.
    few_shot: int = 300  # MNIST digits for fine-tuning (and for the scratch baselines).
    eval_digits: int = 2000  # Held-out MNIST digits to evaluate on.
    finetune_steps: int = 300  # Steps on the few digits.
    finetune_batch_size: int = 32  # Batch for fine-tuning.
    finetune_learning_rate: float = 0.01  # SGD with momentum 0.9 (Dosovitskiy et al. B.1.1).
    cnn_width: int = 32  # Channels of the ResNet-style CNN's first stage.
    checkpoint_every: int = 500  # Steps between checkpoints.
    log_every: int = 100  # Steps between logged metrics.
    synthetic: bool = False  # Random stand-in data (tests); real Fashion-MNIST / MNIST otherwise.
