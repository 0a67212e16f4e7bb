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
