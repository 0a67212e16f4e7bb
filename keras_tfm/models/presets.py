"""Named model sizes, each with the paper and table it comes from.

Parameter counts in `expected_params` are the papers' figures; the tests
check our models against them.
"""

TRANSFORMER_PRESETS = {
    # Vaswani et al. 2017, "Attention Is All You Need", Table 3, row "base":
    # N=6, d_model=512, d_ff=2048, h=8, P_drop=0.1, 65M parameters with a
    # shared ~37,000-token byte-pair vocabulary (section 5.1).
    "transformer-base": dict(
        num_layers=6, hidden_dim=512, intermediate_dim=2048, num_heads=8, dropout=0.1,
        expected_params=65e6, reference="Vaswani et al. 2017, Table 3 (base)",
    ),
    # Table 3, row "big": N=6, d_model=1024, d_ff=4096, h=16, P_drop=0.3, 213M.
    "transformer-big": dict(
        num_layers=6, hidden_dim=1024, intermediate_dim=4096, num_heads=16, dropout=0.3,
        expected_params=213e6, reference="Vaswani et al. 2017, Table 3 (big)",
    ),
}

# The keys of a preset that are documentation, not constructor arguments.
PRESET_METADATA = ("expected_params", "reference")


def preset_kwargs(table, name):
    """Constructor arguments of preset `name` from `table`."""
    if name not in table:
        raise ValueError(f"`preset` must be one of {sorted(table)}. Received: preset={name!r}")
    return {k: v for k, v in table[name].items() if k not in PRESET_METADATA}

# Vision Transformers: `image_size` 224, `num_classes` 1000 (ImageNet), as in
# the papers' parameter counts. The counts are those of the /16 models; the
# /32 variants differ only in the patch projection and position table.
VIT_PRESETS = {
    # Touvron et al. 2021, "Training data-efficient image transformers"
    # (DeiT), Table 1: DeiT-Ti, 3 heads of 64, 12 layers, width 192, 5M.
    "vit-ti16": dict(
        patch_size=16, num_layers=12, hidden_dim=192, num_heads=3, intermediate_dim=768,
        expected_params=5e6, reference="Touvron et al. 2021, Table 1 (DeiT-Ti)",
    ),
    # Table 1: DeiT-S, 6 heads, 12 layers, width 384, 22M.
    "vit-s16": dict(
        patch_size=16, num_layers=12, hidden_dim=384, num_heads=6, intermediate_dim=1536,
        expected_params=22e6, reference="Touvron et al. 2021, Table 1 (DeiT-S)",
    ),
    # Dosovitskiy et al. 2021, "An Image is Worth 16x16 Words", Table 1:
    # ViT-Base, 12 layers, D=768, MLP 3072, 12 heads, 86M.
    "vit-b16": dict(
        patch_size=16, num_layers=12, hidden_dim=768, num_heads=12, intermediate_dim=3072,
        expected_params=86e6, reference="Dosovitskiy et al. 2021, Table 1 (ViT-Base)",
    ),
    "vit-b32": dict(
        patch_size=32, num_layers=12, hidden_dim=768, num_heads=12, intermediate_dim=3072,
        expected_params=86e6, reference="Dosovitskiy et al. 2021, Table 1 (ViT-Base)",
    ),
    # Table 1: ViT-Large, 24 layers, D=1024, MLP 4096, 16 heads, 307M.
    "vit-l16": dict(
        patch_size=16, num_layers=24, hidden_dim=1024, num_heads=16, intermediate_dim=4096,
        expected_params=307e6, reference="Dosovitskiy et al. 2021, Table 1 (ViT-Large)",
    ),
    "vit-l32": dict(
        patch_size=32, num_layers=24, hidden_dim=1024, num_heads=16, intermediate_dim=4096,
        expected_params=307e6, reference="Dosovitskiy et al. 2021, Table 1 (ViT-Large)",
    ),
    # Table 1: ViT-Huge, 32 layers, D=1280, MLP 5120, 16 heads, 632M (patch 14).
    "vit-h14": dict(
        patch_size=14, num_layers=32, hidden_dim=1280, num_heads=16, intermediate_dim=5120,
        expected_params=632e6, reference="Dosovitskiy et al. 2021, Table 1 (ViT-Huge)",
    ),
}
