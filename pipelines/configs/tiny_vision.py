"""A ViT experiment small enough for a test: synthetic images, a few steps."""

from .vision import VisionConfig


def get_config():
    return VisionConfig(
        image_size=16, patch_size=8, num_layers=1, hidden_dim=16, num_heads=2, intermediate_dim=32,
        batch_size=16, pretrain_steps=12, warmup_steps=2, few_shot=32, eval_digits=32, finetune_steps=6,
        finetune_batch_size=8, cnn_width=8, checkpoint_every=6, log_every=3, synthetic=True,
    )
