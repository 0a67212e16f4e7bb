import math
import os
import tempfile

import numpy as np
import pytest
from keras import ops

from keras_tfm.models import VisionTransformer, export_weights, fine_tuning_model, load_weights, save_weights
from tests.test_case import assert_allclose

TINY = dict(image_size=32, patch_size=8, num_layers=2, hidden_dim=32, num_heads=2, intermediate_dim=64,
            num_classes=5, head_initializer="glorot_uniform")
IMAGES = np.random.default_rng(0).normal(size=(2, 32, 32, 3)).astype("float32")
_erf = np.vectorize(math.erf)


def model_with_random_weights(**extra):
    model = VisionTransformer(**TINY, **extra)
    model(IMAGES)
    rng = np.random.default_rng(1)
    for w in model.weights:  # Non-zero everywhere (class token, biases, norms) so that no mapping hides.
        w.assign(rng.normal(0, 0.2, w.shape).astype("float32") + (1.0 if "gamma" in w.path else 0.0))
    return model


# NumPy references of the foreign models, written from their code ----------------


def _layer_norm(x, scale, bias):
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + 1e-6) * scale + bias


def _gelu(x):
    return 0.5 * x * (1 + _erf(x / np.sqrt(2)))


def _softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def timm_forward(sd, images, patch, heads):
    """timm's VisionTransformer.forward (class token, pos_embed after it, fused qkv)."""
    b, h, w, c = images.shape
    x = images.transpose(0, 3, 1, 2).reshape(b, c, h // patch, patch, w // patch, patch)
    x = x.transpose(0, 2, 4, 1, 3, 5).reshape(b, -1, c * patch * patch)  # Conv2d + flatten(2).T
    width = sd["patch_embed.proj.bias"].shape[0]
    x = x @ sd["patch_embed.proj.weight"].reshape(width, -1).T + sd["patch_embed.proj.bias"]
    x = np.concatenate([np.broadcast_to(sd["cls_token"], (b, 1, width)), x], 1) + sd["pos_embed"]
    i = 0
    while f"blocks.{i}.norm1.weight" in sd:
        p = f"blocks.{i}."
        y = _layer_norm(x, sd[p + "norm1.weight"], sd[p + "norm1.bias"])
        qkv = (y @ sd[p + "attn.qkv.weight"].T + sd[p + "attn.qkv.bias"])
        qkv = qkv.reshape(b, -1, 3, heads, width // heads).transpose(2, 0, 3, 1, 4)
        q, k, v = qkv
        attn = _softmax(q @ k.transpose(0, 1, 3, 2) * (width // heads) ** -0.5)
        y = (attn @ v).transpose(0, 2, 1, 3).reshape(b, -1, width)
        x = x + y @ sd[p + "attn.proj.weight"].T + sd[p + "attn.proj.bias"]
        y = _layer_norm(x, sd[p + "norm2.weight"], sd[p + "norm2.bias"])
        y = _gelu(y @ sd[p + "mlp.fc1.weight"].T + sd[p + "mlp.fc1.bias"])
        x = x + y @ sd[p + "mlp.fc2.weight"].T + sd[p + "mlp.fc2.bias"]
        i += 1
    x = _layer_norm(x, sd["norm.weight"], sd["norm.bias"])[:, 0]
    return x @ sd["head.weight"].T + sd["head.bias"]


def flax_forward(params, images, patch, big_vision):
    """The Flax ViT: the original (posemb after the class token) or big_vision (before it)."""
    b, h, w, c = images.shape
    x = images.reshape(b, h // patch, patch, w // patch, patch, c).transpose(0, 1, 3, 2, 4, 5)
    x = x.reshape(b, -1, patch * patch * c)
    width = params["embedding/bias"].shape[0]
    x = x @ params["embedding/kernel"].reshape(-1, width) + params["embedding/bias"]
    if big_vision:
        x = x + params["pos_embedding"]
    x = np.concatenate([np.broadcast_to(params["cls"], (b, 1, width)), x], 1)
    if not big_vision:
        x = x + params["Transformer/posembed_input/pos_embedding"]
    names = ("LayerNorm_0", "MultiHeadDotProductAttention_0", "LayerNorm_1", "MlpBlock_0") if big_vision \
        else ("LayerNorm_0", "MultiHeadDotProductAttention_1", "LayerNorm_2", "MlpBlock_3")
    i = 0
    while f"Transformer/encoderblock_{i}/LayerNorm_0/scale" in params:
        ln0, mha, ln1, mlp = (f"Transformer/encoderblock_{i}/{n}/" for n in names)
        y = _layer_norm(x, params[ln0 + "scale"], params[ln0 + "bias"])
        q, k, v = (np.einsum("btd,dnh->btnh", y, params[mha + n + "/kernel"]) + params[mha + n + "/bias"]
                   for n in ("query", "key", "value"))
        attn = _softmax(np.einsum("btnh,bsnh->bnts", q, k) / np.sqrt(q.shape[-1]))
        y = np.einsum("bnts,bsnh->btnh", attn, v)
        x = x + np.einsum("btnh,nhd->btd", y, params[mha + "out/kernel"]) + params[mha + "out/bias"]
        y = _layer_norm(x, params[ln1 + "scale"], params[ln1 + "bias"])
        y = _gelu(y @ params[mlp + "Dense_0/kernel"] + params[mlp + "Dense_0/bias"])
        x = x + y @ params[mlp + "Dense_1/kernel"] + params[mlp + "Dense_1/bias"]
        i += 1
    x = _layer_norm(x, params["Transformer/encoder_norm/scale"], params["Transformer/encoder_norm/bias"])
    x = np.tanh(x[:, 0] @ params["pre_logits/kernel"] + params["pre_logits/bias"])
    return x @ params["head/kernel"] + params["head/bias"]


# Tests ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "layout, extension",
    [("vit", ".npz"), ("big_vision", ".npz"), ("timm", ".npz"), ("timm", ".safetensors")],
)
@pytest.mark.parametrize("extra", [dict(), dict(pooling="gap", representation_size=16)])
def test_round_trip_through_each_foreign_layout(layout, extension, extra):
    model = model_with_random_weights(**extra)
    fresh = VisionTransformer(**TINY, **extra)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "weights" + extension)
        save_weights(model, path, layout)
        load_weights(fresh, path)  # Layout detected from the names.
    assert_allclose(fresh(IMAGES), model(IMAGES), atol=0, rtol=0)


def test_timm_layout_runs_like_timm():
    model = model_with_random_weights()
    state_dict = export_weights(model, "timm")
    assert state_dict["blocks.0.attn.qkv.weight"].shape == (96, 32)
    assert state_dict["patch_embed.proj.weight"].shape == (32, 3, 8, 8)
    assert_allclose(timm_forward(state_dict, IMAGES, 8, 2), model(IMAGES), atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("layout", ["vit", "big_vision"])
def test_flax_layouts_run_like_flax(layout):
    model = model_with_random_weights(representation_size=16)
    params = export_weights(model, layout)
    out = flax_forward(params, IMAGES, 8, big_vision=layout == "big_vision")
    assert_allclose(out, model(IMAGES), atol=1e-4, rtol=1e-4)


def test_big_vision_scanned_checkpoints_load():
    model = model_with_random_weights()
    params = export_weights(model, "big_vision")
    scanned = {k: v for k, v in params.items() if "encoderblock_" not in k}
    for name in [k for k in params if k.startswith("Transformer/encoderblock_0/")]:
        rest = name.split("/", 2)[2]
        scanned["Transformer/encoderblock/" + rest] = np.stack(
            [params[f"Transformer/encoderblock_{i}/{rest}"] for i in range(2)]
        )
    fresh = load_weights(VisionTransformer(**TINY), scanned)
    assert_allclose(fresh(IMAGES), model(IMAGES), atol=0, rtol=0)


def test_older_big_vision_checkpoints_with_the_class_position_load():
    model = model_with_random_weights()
    params = export_weights(model, "vit")
    params["pos_embedding"] = params.pop("Transformer/posembed_input/pos_embedding")  # (1, 1 + T, D)
    for name in list(params):
        for old, new in [("MultiHeadDotProductAttention_1", "MultiHeadDotProductAttention_0"),
                         ("LayerNorm_2", "LayerNorm_1"), ("MlpBlock_3", "MlpBlock_0")]:
            if old in name:
                params[name.replace(old, new)] = params.pop(name)
    fresh = load_weights(VisionTransformer(**TINY), params, layout="big_vision")
    assert_allclose(fresh(IMAGES), model(IMAGES), atol=1e-6)


def test_position_table_resampled_on_load_and_head_skipped():
    model = model_with_random_weights()
    state_dict = export_weights(model, "timm")
    bigger = VisionTransformer(**dict(TINY, image_size=48, num_classes=3))
    load_weights(bigger, state_dict, skip_head=True)
    reference = fine_tuning_model(model, image_size=48, num_classes=3)
    images = np.random.default_rng(2).normal(size=(1, 48, 48, 3)).astype("float32")
    assert_allclose(bigger.encode(images), reference.encode(images), atol=1e-5)


def test_errors_name_the_tensors():
    model = model_with_random_weights()
    state_dict = export_weights(model, "timm")
    fresh = VisionTransformer(**TINY)
    fresh(IMAGES)
    initial = [ops.convert_to_numpy(w) for w in fresh.weights]
    broken = dict(state_dict)
    del broken["blocks.1.mlp.fc2.bias"]
    broken["blocks.0.attn.qkv.weight"] = np.zeros((3, 4), "float32")
    with pytest.raises(ValueError, match=r"missing tensors: 'blocks.1.mlp.fc2.bias'.*"
                       r"'blocks.0.attn.qkv.weight' has shape \(3, 4\), the model expects \(96, 32\)"):
        load_weights(fresh, broken)
    with pytest.raises(ValueError, match="no place for: 'fc_norm.weight'"):
        load_weights(fresh, dict(state_dict, **{"fc_norm.weight": np.ones(32, "float32")}))
    with pytest.raises(ValueError, match=r"'head.weight' has shape \(5, 32\), the model expects \(7, 32\)"):
        load_weights(VisionTransformer(**dict(TINY, num_classes=7)), state_dict)
    with pytest.raises(ValueError, match="Cannot tell the checkpoint layout"):
        load_weights(fresh, {"weight": np.ones(3)})
    with pytest.raises(ValueError, match="`layout` must be one of.*layout='keras'"):
        export_weights(model, "keras")
    with pytest.raises(ValueError, match="must end in .npz or .safetensors. Received: path='w.h5'"):
        save_weights(model, "w.h5", "timm")
    for before, after in zip(initial, fresh.weights):  # The failed loads assigned nothing.
        np.testing.assert_array_equal(before, ops.convert_to_numpy(after))
