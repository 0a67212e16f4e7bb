import math
import os
import tempfile

import keras
import numpy as np
import pytest
from keras import ops

from keras_tfm.models import VIT_PRESETS, VisionTransformer
from keras_tfm.models.vision_transformer import count_params
from tests.test_case import assert_allclose

TINY = dict(image_size=32, patch_size=8, num_layers=2, hidden_dim=16, num_heads=2, intermediate_dim=32,
            num_classes=5)
IMAGES = np.random.default_rng(0).normal(size=(2, 32, 32, 3)).astype("float32")


def numpy(x):
    return ops.convert_to_numpy(x)


@pytest.mark.parametrize(
    "extra",
    [dict(representation_size=8, dropout=0.1, attention_dropout=0.1, drop_path_rate=0.1,
          head_initializer="glorot_uniform"),
     dict(include_top=False, pooling="gap", position_embedding="sincos", dynamic_image_size=True)],
)
def test_config_and_keras_file_round_trip(extra):
    model = VisionTransformer(**TINY, **extra)
    out = model(IMAGES)
    clone = VisionTransformer.from_config(model.get_config())
    clone(IMAGES)
    clone.set_weights(model.get_weights())
    assert_allclose(clone(IMAGES), out)
    assert clone.get_config() == model.get_config()
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "vit.keras")
        model.save(path)
        loaded = keras.saving.load_model(path)
    assert_allclose(loaded(IMAGES), out, atol=1e-6)
    assert len(loaded.weights) == len(model.weights)


def test_224_pixels_give_196_patch_tokens_and_the_class_token_first():
    model = VisionTransformer(image_size=224, patch_size=16, num_layers=1, hidden_dim=16, num_heads=2,
                              intermediate_dim=16, include_top=False)
    images = np.random.default_rng(1).normal(size=(1, 224, 224, 3)).astype("float32")
    assert tuple(model(images).shape) == (1, 197, 16)
    assert tuple(model.patch_embedding(images).shape) == (1, 196, 16)
    tokens = model.class_token_layer(model.patch_embedding(images))
    assert_allclose(tokens[:, 0], numpy(model.class_token_layer.token)[None])


def test_outputs_and_one_fit_step():
    model = VisionTransformer(**TINY, representation_size=8, head_initializer="glorot_uniform")
    assert tuple(model(IMAGES).shape) == (2, 5)
    model.compile(optimizer=keras.optimizers.Adam(1e-3),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    before = [numpy(w) for w in model.trainable_weights]
    history = model.fit(IMAGES, np.array([1, 3]), batch_size=2, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    changed = [not np.allclose(a, numpy(b)) for a, b in zip(before, model.trainable_weights)]
    assert all(changed)
    # Zero-initialised head: a new model predicts uniform logits.
    assert_allclose(VisionTransformer(**TINY)(IMAGES), np.zeros((2, 5)))


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_mixed_precision(policy):
    model = VisionTransformer(**TINY, dtype=policy, head_initializer="glorot_uniform")
    out = numpy(ops.cast(model(IMAGES), "float32"))
    assert np.all(np.isfinite(out)) and np.abs(out).max() > 0
    assert all(w.dtype == "float32" for w in model.weights)


def test_grayscale_gap_and_any_image_size():
    model = VisionTransformer(**dict(TINY, num_channels=1), pooling="gap", dynamic_image_size=True)
    assert tuple(model(IMAGES[..., :1]).shape) == (2, 5)
    assert tuple(model(np.ones((2, 48, 24, 1), "float32")).shape) == (2, 5)
    assert tuple(model.encode(np.ones((2, 48, 24, 1), "float32")).shape) == (2, 18, 16)


@pytest.mark.tf_only  # Open image sizes need a TF graph.
def test_open_image_size_graph_matches_eager():
    model = VisionTransformer(**TINY, head_initializer="glorot_uniform", dynamic_image_size=True)
    inputs = keras.Input((None, None, 3))
    functional = keras.Model(inputs, model(inputs))
    images = np.random.default_rng(3).normal(size=(2, 48, 40, 3)).astype("float32")
    assert_allclose(functional.predict(images, verbose=0), model(images), atol=1e-5, rtol=1e-5)


def test_stochastic_depth_grows_linearly_with_depth():
    model = VisionTransformer(**dict(TINY, num_layers=3), drop_path_rate=0.2)
    assert [b.drop_path_rate for b in model.blocks] == pytest.approx([0.0, 0.1, 0.2])


def test_bad_arguments_and_inputs():
    model = VisionTransformer(**TINY)
    with pytest.raises(ValueError, match=r"`image_size` must be divisible by `patch_size`. "
                       r"Received: image_size=30, patch_size=8"):
        VisionTransformer(**dict(TINY, image_size=30))
    with pytest.raises(ValueError, match=r"`images` must be 32x32.*images.shape=\(2, 40, 40, 3\)"):
        model(np.ones((2, 40, 40, 3), "float32"))
    with pytest.raises(ValueError, match=r"divisible by `patch_size`. "
                       r"Received: images.shape=\(1, 36, 32, 3\), patch_size=8"):
        VisionTransformer(**TINY, dynamic_image_size=True)(np.ones((1, 36, 32, 3), "float32"))
    with pytest.raises(ValueError, match=r"num_channels=3 channels.*images.shape=\(2, 32, 32, 1\)"):
        model(IMAGES[..., :1])
    with pytest.raises(ValueError, match="`num_classes` must be a positive integer. Received: num_classes=0"):
        VisionTransformer(**dict(TINY, num_classes=0))
    with pytest.raises(ValueError,
                       match=r"`pooling` must be one of \['gap', 'token'\]. Received: pooling='max'"):
        VisionTransformer(**TINY, pooling="max")
    with pytest.raises(ValueError, match="`class_token` must be True. Received: class_token=False"):
        VisionTransformer(**TINY, class_token=False)
    with pytest.raises(ValueError, match="hidden_dim=16, num_heads=3"):
        VisionTransformer(**dict(TINY, num_heads=3))
    with pytest.raises(ValueError, match="preset='vit-x'"):
        VisionTransformer.from_preset("vit-x")


# The /16 counts of Dosovitskiy et al. Table 1 within 1%; the /32 variants differ from the
# table's /16 figure only by their patch projection and position table (within 3%); DeiT's
# Table 1 (Ti, S) truncates to whole millions.
@pytest.mark.parametrize(
    "preset, paper, tolerance",
    [("vit-b16", 86e6, 0.01), ("vit-l16", 307e6, 0.01), ("vit-h14", 632e6, 0.01),
     ("vit-b32", 86e6, 0.03), ("vit-l32", 307e6, 0.03)],
)
def test_preset_parameter_counts(preset, paper, tolerance):
    assert VIT_PRESETS[preset]["expected_params"] == paper
    count = count_params(preset, num_classes=1000, image_size=224)
    assert abs(count - paper) / paper < tolerance, count


@pytest.mark.parametrize("preset, millions", [("vit-ti16", 5), ("vit-s16", 22)])
def test_deit_parameter_counts(preset, millions):
    assert VIT_PRESETS[preset]["expected_params"] == millions * 1e6
    assert math.floor(count_params(preset) / 1e6) == millions


def test_count_params_matches_a_built_model():
    model = VisionTransformer(**TINY, representation_size=8)
    model(IMAGES)
    assert count_params(**TINY, representation_size=8) == model.count_params()


@pytest.mark.tf_only  # TFLite conversion needs TensorFlow.
@pytest.mark.parametrize("size", [32, 48])  # 48: position embeddings resampled in the graph.
def test_converts_to_tflite_builtins_only(size):
    import tensorflow as tf
    from ai_edge_litert.interpreter import Interpreter

    model = VisionTransformer(**TINY, head_initializer="glorot_uniform", dynamic_image_size=True)
    images = np.random.default_rng(2).normal(size=(2, size, size, 3)).astype("float32")
    inputs = keras.Input((size, size, 3), batch_size=2)
    functional = keras.Model(inputs, model(inputs))
    converter = tf.lite.TFLiteConverter.from_keras_model(functional)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    interpreter = Interpreter(model_content=converter.convert())
    interpreter.allocate_tensors()
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], images)
    interpreter.invoke()
    out = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
    assert_allclose(out, model(images), atol=1e-4, rtol=1e-4)


def test_encode_returns_each_blocks_attention_weights():
    from keras_tfm.models import VisionTransformer

    model = VisionTransformer(image_size=16, patch_size=8, num_channels=1, num_layers=2, hidden_dim=8,
                              num_heads=2, intermediate_dim=16, num_classes=3)
    images = np.random.default_rng(0).normal(size=(2, 16, 16, 1)).astype("float32")
    tokens, scores = model.encode(images, return_attention_scores=True)
    assert len(scores) == 2 and tuple(scores[0].shape) == (2, 2, 5, 5)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(tokens), keras.ops.convert_to_numpy(model.encode(images)), atol=1e-6)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(scores[1]).sum(-1), 1.0, atol=1e-5)
