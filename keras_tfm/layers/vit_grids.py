"""Position codes on a 2-D patch grid: resampling a learned grid, and sine-cosine codes.

Shape legend: Gh, Gw the old patch grid, Gh2, Gw2 the new one, T = Gh * Gw
patches (row-major), Np prefix tokens (the class token), D width.

Resampling is separable: every new row is a fixed weighted sum of old rows
(and likewise for columns), so a whole grid resamples with one constant
`(Gh2 * Gw2, Gh * Gw)` matrix, the Kronecker product of the row and column
matrices. The matrices follow `jax.image.resize` (half-pixel centres, the
Keys cubic with a = -0.5, weights of taps outside the grid dropped and the
rest renormalised); a matmul by a constant converts to TFLite builtins and is
the same on every backend.
"""

import math

import numpy as np

from keras_tfm.layers.validation import check_choice

INTERPOLATIONS = ("bicubic", "bilinear")


def _kernel(x, interpolation):
    x = np.abs(x)
    if interpolation == "bilinear":
        return np.maximum(0.0, 1.0 - x)
    a = -0.5  # Keys (1981); also jax.image.resize and PIL.
    near = ((a + 2) * x - (a + 3)) * x * x + 1
    far = ((a * x - 5 * a) * x + 8 * a) * x - 4 * a
    return np.where(x <= 1, near, np.where(x < 2, far, 0.0))


def interpolation_matrix(old_size, new_size, interpolation="bicubic", antialias=False):
    """`(new_size, old_size)` weights that resample one axis of a grid.

    Args:
        old_size, new_size: number of grid cells along the axis.
        interpolation: `"bicubic"` or `"bilinear"`.
        antialias: widen the kernel by the scale when downsampling.

    Returns:
        float64 NumPy array whose rows sum to 1; the identity when the sizes match.
    """
    check_choice("interpolation", interpolation, INTERPOLATIONS)
    if old_size == new_size:
        return np.eye(old_size)
    scale = old_size / new_size
    kernel_scale = max(scale, 1.0) if antialias else 1.0
    centres = (np.arange(new_size) + 0.5) * scale - 0.5  # (new,)
    weights = _kernel((np.arange(old_size)[None, :] - centres[:, None]) / kernel_scale, interpolation)
    return weights / weights.sum(axis=1, keepdims=True)  # (new, old)


def grid_resampling_matrix(old_grid, new_grid, interpolation="bicubic", antialias=False):
    """`(Gh2 * Gw2, Gh * Gw)` matrix mapping a row-major grid to a new one."""
    rows = interpolation_matrix(old_grid[0], new_grid[0], interpolation, antialias)
    cols = interpolation_matrix(old_grid[1], new_grid[1], interpolation, antialias)
    return np.kron(rows, cols)


def infer_grid(num_patches, name="num_patches"):
    """The square grid of `num_patches` cells; `ValueError` when there is none."""
    side = math.isqrt(int(num_patches))
    if side * side != num_patches:
        raise ValueError(
            f"`{name}` must be a square number to infer the patch grid; pass the grid "
            f"explicitly. Received: {name}={num_patches}"
        )
    return (side, side)


def resample_position_embeddings(
    table, new_grid, old_grid=None, num_prefix_tokens=1, interpolation="bicubic", antialias=False
):
    """Resamples a learned ViT position table to a new patch grid (weight-load time).

    The first `num_prefix_tokens` entries (the class token's) are kept as
    they are; the rest are read as a row-major `(Gh, Gw)` grid and resampled
    to `new_grid`. Resampling to the same grid returns the table unchanged.

    Args:
        table: `(Np + T, D)` or `(1, Np + T, D)` array (NumPy or tensor).
        new_grid: `(Gh2, Gw2)`, or an int for a square grid.
        old_grid: `(Gh, Gw)`; inferred from a square T when `None`.
        num_prefix_tokens: Np, the entries not on the grid.
        interpolation: `"bicubic"` or `"bilinear"`.
        antialias: widen the kernel when downsampling.

    Returns:
        NumPy array `(Np + Gh2 * Gw2, D)`, with the leading 1 if `table` had one.

    References:
        Dosovitskiy et al. 2021, "An Image is Worth 16x16 Words", section 3.2
        ("2D interpolation of the pre-trained position embeddings").
    """
    table = np.asarray(table)
    batched = table.ndim == 3
    if batched:
        table = table[0]
    if table.ndim != 2:
        raise ValueError(
            "`table` must have shape (Np + T, D) or (1, Np + T, D). "
            f"Received: table.shape={table.shape}"
        )
    new_grid = _as_grid("new_grid", new_grid)
    prefix, patches = table[:num_prefix_tokens], table[num_prefix_tokens:]
    old_grid = infer_grid(len(patches)) if old_grid is None else _as_grid("old_grid", old_grid)
    if old_grid[0] * old_grid[1] != len(patches):
        raise ValueError(
            f"`old_grid` must hold the {len(patches)} non-prefix entries of `table`. "
            f"Received: old_grid={old_grid}, table.shape={table.shape}"
        )
    if old_grid != new_grid:
        matrix = grid_resampling_matrix(old_grid, new_grid, interpolation, antialias)
        patches = (matrix @ patches.astype("float64")).astype(table.dtype)  # (Gh2 * Gw2, D)
        table = np.concatenate([prefix, patches], axis=0)
    return table[None] if batched else table


def sincos_2d(grid, width, temperature=10000.0):
    """Fixed 2-D sine-cosine codes `(Gh * Gw, D)` for a row-major patch grid (NumPy).

    A quarter of the width each is `sin(x w)`, `cos(x w)`, `sin(y w)`,
    `cos(y w)` for column x, row y and D/4 frequencies from 1 to
    1/temperature, as in big_vision's `posemb_sincos_2d` (MoCo v3).
    """
    if width % 4 or width < 8:
        raise ValueError(
            "The width of 2-D sine-cosine codes must be a multiple of 4 and at least 8. "
            f"Received: width={width}"
        )
    y, x = np.mgrid[: grid[0], : grid[1]]
    quarter = width // 4
    omega = 1.0 / temperature ** (np.arange(quarter) / (quarter - 1))  # (D/4,)
    x = np.outer(x.reshape(-1), omega)  # (T, D/4)
    y = np.outer(y.reshape(-1), omega)
    return np.concatenate([np.sin(x), np.cos(x), np.sin(y), np.cos(y)], axis=1)


def _as_grid(name, grid):
    if isinstance(grid, (int, np.integer)):
        grid = (grid, grid)
    grid = tuple(int(g) for g in grid)
    if len(grid) != 2 or min(grid) < 1:
        raise ValueError(f"`{name}` must be two positive integers. Received: {name}={grid}")
    return grid
