"""Transfer learning: a fine-tuning Vision Transformer built from a trained one.

Shape legend: Gh, Gw the patch grid, Np prefix tokens, D model width, K classes.
"""

import keras
import numpy as np

from keras_tfm.layers.validation import check_positive_int
from keras_tfm.layers.vit_grids import resample_position_embeddings
from keras_tfm.models.vision_transformer import VisionTransformer


def fine_tuning_model(
    model,
    num_classes=None,
    image_size=None,
    freeze_backbone=False,
    interpolation=None,
    keep_pre_logits=False,
    **overrides,
):
    """A new `VisionTransformer` carrying a trained model's weights, for fine-tuning.

    With `num_classes`, the pre-trained head (and, unless `keep_pre_logits`,
    the pre-logits layer) is replaced by a single zero-initialised `D x K`
    layer. With `image_size`, the learned position embeddings are resampled
    from the old patch grid to the new one (the class-token entry kept), so
    that the patch size, and hence the sequence length, follows the
    resolution. Everything else is copied. The trained model is unchanged.

    Args:
        model: a built `VisionTransformer`.
        num_classes: K of the new head; `None` keeps the trained head (for
            evaluating at a new resolution).
        image_size: new training resolution, an int or `(Hi, Wi)`; `None` keeps it.
        freeze_backbone: make everything but the pre-logits and the head
            non-trainable (linear probing or head-only fine-tuning).
        interpolation: `"bicubic"` or `"bilinear"` for the position
            embeddings; defaults to the model's.
        keep_pre_logits: keep the trained pre-logits layer under a new head.
        **overrides: other constructor arguments to change (`dropout`,
            `drop_path_rate`, `dynamic_image_size`, `dtype`, ...).

    Returns:
        The new, built `VisionTransformer`. Compile it before training (and
        after changing `trainable` flags).

    Example:
    >>> tuned = fine_tuning_model(pretrained, num_classes=10, image_size=384)

    References:
        Dosovitskiy et al. 2021, "An Image is Worth 16x16 Words", section 3.2
        ("Fine-tuning and higher resolution").
    """
    if not isinstance(model, VisionTransformer):
        raise ValueError(
            f"`model` must be a VisionTransformer. Received: model={type(model).__name__}"
        )
    if not model.built:
        raise ValueError("`model` must be built (call it once or load its weights) before transfer.")
    config = model.get_config()
    config.update(overrides)
    new_head = num_classes is not None
    if new_head:
        config.update(
            num_classes=check_positive_int("num_classes", num_classes),
            include_top=True,
            head_initializer="zeros",
        )
        if not keep_pre_logits:
            config["representation_size"] = None
    if image_size is not None:
        config["image_size"] = image_size
    if interpolation is not None:
        config["interpolation"] = interpolation
    tuned = VisionTransformer.from_config(config)
    tuned.build((None,) + tuned.image_size + (tuned.num_channels,))

    for old, new in zip(model.backbone_layers, tuned.backbone_layers):
        if new is tuned.position_embedding:
            continue
        new.set_weights(old.get_weights())
    if tuned.position_embedding_type == "learned":
        table = keras.ops.convert_to_numpy(model.position_embedding.embeddings)
        table = resample_position_embeddings(
            table,
            new_grid=tuned.grid_size,
            old_grid=model.grid_size,
            num_prefix_tokens=model.num_prefix_tokens,
            interpolation=tuned.interpolation,
        )
        tuned.position_embedding.embeddings.assign(np.asarray(table, "float32"))
    copy_head_layers = [] if new_head else ["pre_logits", "head"]
    if new_head and keep_pre_logits:
        copy_head_layers = ["pre_logits"]
    for name in copy_head_layers:
        old, new = getattr(model, name), getattr(tuned, name)
        if old is not None and new is not None:
            new.set_weights(old.get_weights())

    if freeze_backbone:
        for layer in tuned.backbone_layers:
            layer.trainable = False
    return tuned
