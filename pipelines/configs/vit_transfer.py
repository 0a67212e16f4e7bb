"""The seed's ViT story on data that ships offline: pretrain on Fashion-MNIST, fine-tune on 300 MNIST digits.

Command: python -m pipelines.vit_transfer --workdir=workdir/vit_transfer
Prints the table (pretrained+fine-tuned ViT vs scratch ViT vs CNNs) that README quotes.
"""

from .vision import VisionConfig


def get_config():
    return VisionConfig()
