"""The seed's pictures: position encodings, attention heatmaps, ViT attention rollout, the comparison.

Shape legend: B batch, N heads, T query length, S key length, P patches,
H x W image size.

Each `plot_*` function writes one PNG and returns its path. Figures are
`matplotlib.figure.Figure` objects rendered by the Agg canvas, so no pyplot
state or display is involved and the functions are safe in any process.
"""

import math
import os

import numpy as np
from keras import ops
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.ticker import NullLocator

from keras_tfm.layers import BinaryPositionEncoding, SinusoidalPositionEncoding

BIT_COLORS = ("#deebf7", "#08519c")  # the colours of a 0 bit and a 1 bit (tests read them back)


def _save(fig, path):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=100)
    return path


def is_blank(png_path):
    """True when the PNG holds a single distinct pixel value (nothing was drawn)."""
    import matplotlib.image

    pixels = matplotlib.image.imread(png_path)
    pixels = pixels.reshape(-1, pixels.shape[-1] if pixels.ndim == 3 else 1)
    return not (pixels != pixels[0]).any()


# Position encodings ------------------------------------------------------------

def plot_binary_encoding(path, num_bits=3):
    """Positions 0 .. 2^P - 1 (rows) by bits (columns, most significant left), as in the seed's table."""
    length = 2**num_bits
    code = ops.convert_to_numpy(BinaryPositionEncoding(num_bits)(np.zeros((1, length, 1))))[0]  # (T, P)
    fig = Figure(figsize=(2.6 + 0.5 * num_bits, 1.4 + 0.3 * length), layout="constrained")
    ax = fig.add_subplot()
    ax.imshow(code, cmap=ListedColormap(BIT_COLORS), vmin=0, vmax=1, interpolation="nearest", aspect="auto")
    ax.set_yticks(range(length), [f"{t}: {t:0{num_bits}b}" for t in range(length)])
    ax.set_xticks(range(num_bits), [f"$2^{num_bits - 1 - j}$" for j in range(num_bits)])
    ax.set(xlabel="dimension (bit)", ylabel="position")
    ax.set_title("Binary position code\n(right-most bit toggles fastest)", fontsize=10)
    return _save(fig, path)


def plot_sinusoidal_encoding(path, num_positions=60, output_dim=32, max_wavelength=10000, columns=(6, 7, 8, 9)):
    """The encoding matrix (positions by dimensions) and a few of its columns as functions of position.

    The defaults follow the book's figure (n = 60, d = 32, columns 6 to 9).
    """
    layer = SinusoidalPositionEncoding(output_dim, max_wavelength=max_wavelength)
    encoding = ops.convert_to_numpy(layer(np.zeros((1, num_positions, 1))))[0]  # (T, P)
    fig = Figure(figsize=(11, 4.5), layout="constrained")
    heat, curves = fig.subplots(1, 2, gridspec_kw=dict(width_ratios=(1.2, 1)))
    image = heat.imshow(encoding, cmap="RdBu", vmin=-1, vmax=1, interpolation="nearest", aspect="auto")
    fig.colorbar(image, ax=heat)
    heat.set(xlabel="dimension", ylabel="position",
             title=f"Sinusoidal encoding, n = {num_positions}, d = {output_dim}\n(left-most columns toggle fastest)")
    for column in columns:
        curves.plot(np.arange(num_positions), encoding[:, column], label=f"column {column}")
    curves.set(xlabel="position", ylabel="value", title="Basis functions")
    curves.legend(loc="lower left", fontsize=8)
    return _save(fig, path)


# Attention -------------------------------------------------------------------

def plot_attention(words_query, words_key, weights, path, title=""):
    """Per-head attention heatmaps and their average.

    Args:
        words_query: T labels of the query positions (e.g. `["it"]`).
        words_key: S labels of the key positions (the source words).
        weights: `(N, T, S)` attention weights of one example.
        path: the PNG to write.
        title: the figure title.
    """
    weights = np.asarray(weights, dtype="float32")
    if weights.ndim != 3:
        raise ValueError(f"`weights` must have shape (N, T, S). Received: weights.shape={weights.shape}")
    heads, length_q, length_k = weights.shape
    if (length_q, length_k) != (len(words_query), len(words_key)):
        raise ValueError(
            "`weights` must have shape (N, len(words_query), len(words_key)). "
            f"Received: weights.shape={weights.shape}, {len(words_query)} query and {len(words_key)} key words"
        )
    panels = [(f"head {i}", weights[i]) for i in range(heads)] + [("average over heads", weights.mean(0))]
    columns = 1 if length_q <= 3 else min(len(panels), 4)  # a few query rows: strips stacked, words once
    rows = math.ceil(len(panels) / columns)
    fig = Figure(figsize=(columns * (1.0 + 0.35 * length_k) + 1.5, rows * (0.6 + 0.3 * length_q) + 1.6),
                 layout="constrained")
    axes = fig.subplots(rows, columns, sharex=True, sharey=True, squeeze=False).ravel()
    vmax = float(weights.max()) or 1.0
    for ax, (name, panel) in zip(axes, panels):
        image = ax.imshow(panel, cmap="viridis", vmin=0, vmax=vmax, interpolation="nearest", aspect="auto")
        ax.set_xticks(range(length_k), words_key, rotation=90, fontsize=8)
        ax.set_yticks(range(length_q), words_query, fontsize=8)
        ax.set_title(name, fontsize=9)
    for ax in axes[len(panels):]:
        ax.set_axis_off()
    fig.colorbar(image, ax=list(axes), shrink=0.9)
    fig.suptitle(title)
    return _save(fig, path)


def attention_rollout_matrices(attention_weights):
    """Attention rollout (Abnar & Zuidema 2020, section 3): `(B, T, T)` input-to-output attention.

    Each layer's weights `(B, N, T, T)` are averaged over heads, the identity
    is added for the residual connection and rows are renormalised; the layers
    are then multiplied through, later layers on the left.
    """
    rollout = None
    for layer_weights in attention_weights:
        layer_weights = np.asarray(layer_weights, dtype="float64")
        if layer_weights.ndim != 4 or layer_weights.shape[-1] != layer_weights.shape[-2]:
            raise ValueError(
                "Each layer's attention weights must have shape (B, N, T, T). "
                f"Received: shape={layer_weights.shape}"
            )
        a = layer_weights.mean(axis=1) + np.eye(layer_weights.shape[-1])  # (B, T, T)
        a /= a.sum(axis=-1, keepdims=True)
        rollout = a if rollout is None else a @ rollout
    if rollout is None:
        raise ValueError("`attention_weights` must hold at least one layer. Received: an empty list")
    return rollout


def attention_rollout(attention_weights):
    """The class token's rollout row over the patch tokens: `(B, P)` for weights of T = P + 1 tokens."""
    return attention_rollout_matrices(attention_weights)[:, 0, 1:]


def plot_attention_rollout(images, rollouts, path, titles=None):
    """Each image above the same image with its attention rollout overlaid.

    Args:
        images: `(B, H, W)` or `(B, H, W, C)` with C in {1, 3}.
        rollouts: `(B, P)` with P a square number of patches, or `(B, g, g)`.
        path: the PNG to write.
        titles: optional B strings (e.g. the class names).
    """
    images = np.asarray(images, dtype="float32")
    rollouts = np.asarray(rollouts, dtype="float32")
    if images.ndim == 4 and images.shape[-1] == 1:
        images = images[..., 0]
    if rollouts.ndim == 2:
        grid = math.isqrt(rollouts.shape[1])
        if grid * grid != rollouts.shape[1]:
            raise ValueError(f"`rollouts` must cover a square grid of patches. Received: {rollouts.shape[1]} patches")
        rollouts = rollouts.reshape(-1, grid, grid)
    if len(images) != len(rollouts):
        raise ValueError(f"`images` and `rollouts` must have the same batch. Received: {len(images)} and {len(rollouts)}")
    count = len(images)
    fig = Figure(figsize=(1.8 * count, 4.0), layout="constrained")
    axes = fig.subplots(2, count, squeeze=False)
    for i, (image, rollout) in enumerate(zip(images, rollouts)):
        height, width = image.shape[:2]
        cmap = "gray" if image.ndim == 2 else None
        for ax in axes[:, i]:
            ax.imshow(image, cmap=cmap)
            ax.set_axis_off()
        span = rollout.max() - rollout.min()
        heat = (rollout - rollout.min()) / span if span > 0 else np.zeros_like(rollout)
        axes[1, i].imshow(heat, cmap="inferno", alpha=0.55, extent=(-0.5, width - 0.5, height - 0.5, -0.5),
                          interpolation="bilinear")
        if titles is not None:
            axes[0, i].set_title(str(titles[i]), fontsize=8)
    fig.suptitle("Attention rollout of the class token (Abnar & Zuidema 2020)", fontsize=10)
    return _save(fig, path)


# The comparison ------------------------------------------------------------------

def plot_comparison(results, path):
    """The six panels of `pipelines.compare`: time and FLOPs over n and d, sequential steps, path length."""
    fig = Figure(figsize=(15, 8.5), layout="constrained")
    axes = fig.subplots(2, 3)
    c = results["config"]
    panels = [
        ("n_sweep", "n", "time_s", f"CPU time per layer (s), d = {c['fixed_width']}"),
        ("n_sweep", "n", "flops_counted", f"FLOPs per layer, d = {c['fixed_width']}"),
        ("n_sweep", "n", "sequential_steps", "sequential steps (counted loop iterations)"),
        ("d_sweep", "d", "time_s", f"CPU time per layer (s), n = {c['fixed_length']}"),
        ("d_sweep", "d", "flops_counted", f"FLOPs per layer, n = {c['fixed_length']}"),
        ("path_length", "n", "measured", f"maximum path length (gradient reachability), k = {c['kernel_size']}"),
    ]
    for ax, (sweep, axis, quantity, title) in zip(axes.ravel(), panels):
        for i, kind in enumerate(results["layers"]):
            rows = results["layers"][kind][sweep]
            xs = [r[axis] for r in rows]
            if quantity == "flops_counted":  # the analytic formula underneath, wide and pale
                ax.plot(xs, [r["flops_analytic"] for r in rows], "-", color=f"C{i}", lw=6, alpha=0.25)
            ax.plot(xs, [r[quantity] for r in rows], "o-", color=f"C{i}", label=kind)
        if quantity == "flops_counted":
            title += " (pale: analytic)"
        ax.set(xscale="log", yscale="log", xlabel=axis, title=title)
        ax.set_xticks(xs, [str(x) for x in xs])
        ax.xaxis.set_minor_locator(NullLocator())
        ax.grid(True, which="both", alpha=0.3)
    axes[0, 0].legend()
    fig.suptitle("Transformer vs RNN vs CNN, measured (Vaswani et al. 2017, Table 1)")
    return _save(fig, path)
