"""Vision Transformer weights to and from the original ViT, big_vision and timm layouts.

Shape legend: P patch size, C channels, D model width, N heads, H head size
(D / N), F MLP width, T patches, Np prefix tokens, R pre-logits width, K classes.

Layouts (names of one block shown for block i):

| ours | `"vit"` (google-research/vision_transformer) | `"big_vision"` | `"timm"` (PyTorch state dict) |
|---|---|---|---|
| patch kernel (P, P, C, D) | `embedding/kernel` same | same | `patch_embed.proj.weight` (D, C, P, P) |
| class token (D,) | `cls` (1, 1, D) | `cls` + posemb[0] | `cls_token` (1, 1, D) |
| positions (Np + T, D) | `Transformer/posembed_input/pos_embedding` (1, Np + T, D) | `pos_embedding` (1, T, D) | `pos_embed` (1, Np + T, D) |
| pre-attention norm | `.../encoderblock_i/LayerNorm_0/{scale,bias}` | same | `blocks.i.norm1.{weight,bias}` |
| q, k, v kernels (D, N, H) | `.../MultiHeadDotProductAttention_1/{query,key,value}/kernel` same | `..._0/...` | `blocks.i.attn.qkv.weight` (3D, D) |
| output kernel (N, H, D) | `.../out/kernel` same | same | `blocks.i.attn.proj.weight` (D, D) |
| pre-MLP norm | `.../LayerNorm_2` | `.../LayerNorm_1` | `blocks.i.norm2` |
| MLP kernels (D, F), (F, D) | `.../MlpBlock_3/Dense_{0,1}/kernel` same | `.../MlpBlock_0/...` | `blocks.i.mlp.fc{1,2}.weight` transposed |
| final norm | `Transformer/encoder_norm` | same | `norm` |
| pre-logits, head | `pre_logits`, `head` (in, out) | same | `pre_logits.fc`, `head` (out, in) |

big_vision adds position embeddings before prepending the class token, so
its class token absorbs our position entry 0 (`cls + pos[0]`), and loading
sets our entry 0 to zero: the same function either way. big_vision's
scanned checkpoints (`Transformer/encoderblock/...` with a leading layer
axis) are unstacked on loading, and older ones whose `pos_embedding` has
the class entry are folded as big_vision does. timm models whose average pooling
normalises after pooling (`fc_norm`) have no equivalent here.
"""

import math
import os

import numpy as np
from keras import ops

LAYOUTS = ("vit", "big_vision", "timm")


class _Rule:
    """One foreign tensor: the model variables it comes from and the two conversions."""

    def __init__(self, name, variables, to_foreign, from_foreign, prefix_tokens=None, head=False):
        self.name = name
        self.variables = variables  # Model variables; a `None` target in from_foreign is left alone.
        self.to_foreign = to_foreign
        self.from_foreign = from_foreign
        self.prefix_tokens = prefix_tokens  # Set on position tables, which may be resampled.
        self.head = head


def _same(x):
    return x


def _dense_rules(name, layer, layout, head=False):
    if layout == "timm":
        kernel = _Rule(f"{name}.weight", [layer.kernel], lambda k: k.T, lambda a: [a.T], head=head)
        bias = _Rule(f"{name}.bias", [layer.bias], _same, lambda a: [a], head=head)
    else:
        kernel = _Rule(f"{name}/kernel", [layer.kernel], _same, lambda a: [a], head=head)
        bias = _Rule(f"{name}/bias", [layer.bias], _same, lambda a: [a], head=head)
    return [kernel, bias]


def _norm_rules(name, norm, layout):
    scale, bias = ("weight", "bias") if layout == "timm" else ("scale", "bias")
    sep = "." if layout == "timm" else "/"
    return [
        _Rule(f"{name}{sep}{scale}", [norm.gamma], _same, lambda a: [a]),
        _Rule(f"{name}{sep}{bias}", [norm.beta], _same, lambda a: [a]),
    ]


def _attention_rules(prefix, attention, layout, width):
    kernels = [attention.query_kernel, attention.key_kernel, attention.value_kernel]
    biases = [attention.query_bias, attention.key_bias, attention.value_bias]
    heads, head_size = attention.query_kernel.shape[1:]
    if layout == "timm":

        def qkv_from(a):  # (3D, D) -> 3 x (D, N, H)
            return [w.T.reshape(width, heads, head_size) for w in np.split(a, 3, axis=0)]

        return [
            _Rule(f"{prefix}.qkv.weight", kernels,
                  lambda *ks: np.concatenate([k.reshape(width, -1).T for k in ks], 0), qkv_from),
            _Rule(f"{prefix}.qkv.bias", biases,
                  lambda *bs: np.concatenate([b.reshape(-1) for b in bs], 0),
                  lambda a: [b.reshape(heads, head_size) for b in np.split(a, 3)]),
            _Rule(f"{prefix}.proj.weight", [attention.output_kernel],
                  lambda k: k.reshape(-1, width).T,  # (N, H, D) -> (D, N * H)
                  lambda a: [a.T.reshape(heads, head_size, width)]),
            _Rule(f"{prefix}.proj.bias", [attention.output_bias], _same, lambda a: [a]),
        ]
    rules = []
    for part, kernel, bias in zip(("query", "key", "value"), kernels, biases):
        rules.append(_Rule(f"{prefix}/{part}/kernel", [kernel], _same, lambda a: [a]))
        rules.append(_Rule(f"{prefix}/{part}/bias", [bias], _same, lambda a: [a]))
    rules.append(_Rule(f"{prefix}/out/kernel", [attention.output_kernel], _same, lambda a: [a]))
    rules.append(_Rule(f"{prefix}/out/bias", [attention.output_bias], _same, lambda a: [a]))
    return rules


def _rules(model, layout):
    """Every foreign tensor of `model` in `layout`."""
    if layout not in LAYOUTS:
        raise ValueError(f"`layout` must be one of {list(LAYOUTS)}. Received: layout={layout!r}")
    width = model.hidden_dim
    timm = layout == "timm"
    projection = model.patch_embedding.projection
    learned = model.position_embedding_type == "learned"
    positions = model.position_embedding.embeddings if learned else None
    prefix_tokens = model.num_prefix_tokens
    rules = []
    if timm:
        rules.append(_Rule("patch_embed.proj.weight", [projection.kernel],
                           lambda k: k.transpose(3, 2, 0, 1), lambda a: [a.transpose(2, 3, 1, 0)]))
        rules.append(_Rule("patch_embed.proj.bias", [projection.bias], _same, lambda a: [a]))
    else:
        rules += _dense_rules("embedding", projection, layout)
    if model.class_token:
        token = model.class_token_layer.token
        name = "cls_token" if timm else "cls"
        if layout == "big_vision" and learned:  # The class token carries its position entry.
            rules.append(_Rule(name, [token, positions],
                               lambda t, p: (t + p[0]).reshape(1, 1, width),
                               lambda a: [a.reshape(width), None]))
        else:
            rules.append(_Rule(name, [token], lambda t: t.reshape(1, 1, width),
                               lambda a: [a.reshape(width)]))
    if learned:
        if layout == "big_vision":
            zeros = np.zeros((prefix_tokens, width), "float32")
            rules.append(_Rule("pos_embedding", [positions], lambda p: p[None, prefix_tokens:],
                               lambda a: [np.concatenate([zeros, a[0]], 0)], prefix_tokens=0))
        else:
            name = "pos_embed" if timm else "Transformer/posembed_input/pos_embedding"
            rules.append(_Rule(name, [positions], lambda p: p[None], lambda a: [a[0]],
                               prefix_tokens=prefix_tokens))

    names = {
        "vit": ("LayerNorm_0", "MultiHeadDotProductAttention_1", "LayerNorm_2", "MlpBlock_3"),
        "big_vision": ("LayerNorm_0", "MultiHeadDotProductAttention_0", "LayerNorm_1", "MlpBlock_0"),
        "timm": ("norm1", "attn", "norm2", "mlp"),
    }[layout]
    for i, block in enumerate(model.blocks):
        base = f"blocks.{i}." if timm else f"Transformer/encoderblock_{i}/"
        norm1, attention, norm2, mlp = (base + n for n in names)
        ff = block.feed_forward
        rules += _norm_rules(norm1, block.attention_residual.norm, layout)
        rules += _attention_rules(attention, block.self_attention, layout, width)
        rules += _norm_rules(norm2, block.feed_forward_residual.norm, layout)
        rules += _dense_rules(mlp + (".fc1" if timm else "/Dense_0"), ff.intermediate, layout)
        rules += _dense_rules(mlp + (".fc2" if timm else "/Dense_1"), ff.projection, layout)
    rules += _norm_rules("norm" if timm else "Transformer/encoder_norm", model.final_norm, layout)
    if model.pre_logits is not None:
        rules += _dense_rules("pre_logits.fc" if timm else "pre_logits", model.pre_logits, layout, True)
    if model.head is not None:
        rules += _dense_rules("head", model.head, layout, head=True)
    return rules


def _numpy(variable):
    return np.asarray(ops.convert_to_numpy(variable), "float32")


def export_weights(model, layout):
    """The weights of a built `VisionTransformer` as `{name: float32 array}` in `layout`."""
    out = {}
    for rule in _rules(model, layout):
        out[rule.name] = np.ascontiguousarray(rule.to_foreign(*[_numpy(v) for v in rule.variables]))
    return out


def save_weights(model, path, layout):
    """Writes `export_weights(model, layout)` to a `.npz` or `.safetensors` file."""
    tensors = export_weights(model, layout)
    if str(path).endswith(".safetensors"):
        from safetensors.numpy import save_file

        save_file(tensors, str(path))
    elif str(path).endswith(".npz"):
        np.savez(path, **tensors)
    else:
        raise ValueError(f"`path` must end in .npz or .safetensors. Received: path={str(path)!r}")


def read_checkpoint(path):
    """`{name: array}` from a `.npz` or `.safetensors` file (prefix `opt/target/` dropped)."""
    path = os.fspath(path)
    if path.endswith(".safetensors"):
        from safetensors.numpy import load_file

        tensors = load_file(path)
    elif path.endswith(".npz"):
        with np.load(path, allow_pickle=False) as data:
            tensors = {k: data[k] for k in data.files}
    else:
        raise ValueError(f"`path` must end in .npz or .safetensors. Received: path={path!r}")
    return {k.removeprefix("opt/target/"): v for k, v in tensors.items()}


def detect_layout(names):
    """`"vit"`, `"big_vision"` or `"timm"` from the tensor names of a checkpoint."""
    names = set(names)
    if "patch_embed.proj.weight" in names:
        return "timm"
    if "Transformer/posembed_input/pos_embedding" in names or any(
        "MultiHeadDotProductAttention_1/" in n for n in names
    ):
        return "vit"
    if "embedding/kernel" in names:
        return "big_vision"
    raise ValueError(
        "Cannot tell the checkpoint layout: it has none of 'patch_embed.proj.weight' (timm) "
        "or 'embedding/kernel' (ViT, big_vision); pass `layout`. Received tensor names: "
        f"{sorted(names)[:8]}{' ...' if len(names) > 8 else ''}"
    )


def _unstack_scanned(tensors):
    """big_vision `scan=True` checkpoints stack the blocks on a leading axis."""
    out = {}
    for name, value in tensors.items():
        if name.startswith("Transformer/encoderblock/"):
            rest = name[len("Transformer/encoderblock/") :]
            for i, layer_value in enumerate(value):
                out[f"Transformer/encoderblock_{i}/{rest}"] = layer_value
        else:
            out[name] = value
    return out


def _fold_class_position(tensors):
    """Older big_vision checkpoints hold the class token's position entry in
    `pos_embedding` (1 + T entries for a square T); fold it into `cls`."""
    table = tensors.get("pos_embedding")
    if table is None or "cls" not in tensors or table.ndim != 3:
        return tensors
    patches = table.shape[1] - 1
    if math.isqrt(patches) ** 2 == patches and math.isqrt(patches + 1) ** 2 != patches + 1:
        tensors = dict(tensors, cls=tensors["cls"] + table[:, :1], pos_embedding=table[:, 1:])
    return tensors


def load_weights(model, source, layout=None, skip_head=False, strict=True):
    """Loads a ViT checkpoint into a `VisionTransformer`, mapping names and layouts.

    A learned position table for another square patch grid is resampled to
    the model's grid (the class-token entry kept), with the model's
    `interpolation`. Every missing or mis-shaped tensor is named in one
    `ValueError` before anything is assigned.

    Args:
        model: a `VisionTransformer` whose configuration matches the checkpoint.
        source: a `.npz` / `.safetensors` path, or a dict `{name: array}`
            (e.g. a timm `state_dict` converted with `.numpy()`).
        layout: `"vit"`, `"big_vision"` or `"timm"`; detected from the names if `None`.
        skip_head: leave the model's pre-logits and head as they are (for a
            new number of classes) and ignore those in the checkpoint.
        strict: raise on checkpoint tensors the model has no place for.

    Returns:
        `model`, with the weights assigned.
    """
    from keras_tfm.layers.vit_grids import resample_position_embeddings

    tensors = read_checkpoint(source) if isinstance(source, (str, os.PathLike)) else dict(source)
    tensors = {k: np.asarray(v) for k, v in _unstack_scanned(tensors).items()}
    layout = layout or detect_layout(tensors)
    if layout == "big_vision":
        tensors = _fold_class_position(tensors)
    if not model.built:
        model.build((None,) + model.image_size + (model.num_channels,))
    rules = _rules(model, layout)
    expected = {r.name: r.to_foreign(*[np.zeros(v.shape, "float32") for v in r.variables]).shape
                for r in rules}

    missing, misshaped, assignments = [], [], []
    for rule in rules:
        if skip_head and rule.head:
            continue
        if rule.name not in tensors:
            missing.append(rule.name)
            continue
        value = tensors[rule.name]
        want = expected[rule.name]
        if rule.prefix_tokens is not None and value.shape != want and value.ndim == 3 \
                and value.shape[-1] == want[-1]:
            value = resample_position_embeddings(
                value, new_grid=model.grid_size, num_prefix_tokens=rule.prefix_tokens,
                interpolation=model.interpolation,
            )
        if tuple(value.shape) != tuple(want):
            variables = ", ".join(v.path for v in rule.variables)
            misshaped.append(f"'{rule.name}' has shape {tuple(value.shape)}, the model expects "
                             f"{tuple(want)} (for {variables})")
            continue
        assignments.append((rule, value))
    problems = []
    if missing:
        problems.append(f"missing tensors: {', '.join(repr(n) for n in missing)}")
    if misshaped:
        problems.append("mis-shaped tensors: " + "; ".join(misshaped))
    if strict:
        head_names = {r.name for r in rules if r.head} if skip_head else set()
        known = set(expected)
        unused = sorted(n for n in tensors if n not in known and n not in head_names
                        and not (skip_head and n.split("/")[0].split(".")[0] in ("head", "pre_logits")))
        if unused:
            problems.append(f"tensors the model has no place for: {', '.join(repr(n) for n in unused)}")
    if problems:
        raise ValueError(
            f"The checkpoint does not fit this VisionTransformer (layout '{layout}'): "
            + ". ".join(problems)
        )
    for rule, value in assignments:
        for variable, array in zip(rule.variables, rule.from_foreign(np.asarray(value, "float32"))):
            if array is not None:
                variable.assign(np.asarray(array, "float32").reshape(variable.shape))
    return model
