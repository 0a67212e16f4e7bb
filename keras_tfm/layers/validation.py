"""Argument checks shared by the layers: each error names the argument, what
was expected and what was received."""

import numbers


def check_positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"`{name}` must be a positive integer. Received: {name}={value!r}")
    return int(value)


def check_rate(name, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 <= value < 1:
        raise ValueError(f"`{name}` must be a float in [0, 1). Received: {name}={value!r}")
    return float(value)


def check_choice(name, value, choices):
    if value not in choices:
        raise ValueError(
            f"`{name}` must be one of {sorted(choices)}. Received: {name}={value!r}"
        )
    return value


def check_rank(name, shape, rank):
    if shape is None:
        return
    if len(shape) != rank:
        raise ValueError(
            f"`{name}` must have rank {rank}. Received: {name}.shape={tuple(shape)}"
        )


def check_divisible(name, value, divisor_name, divisor):
    if value % divisor:
        raise ValueError(
            f"`{name}` must be divisible by `{divisor_name}`. "
            f"Received: {name}={value}, {divisor_name}={divisor}"
        )


def clone_initializer(initializer):
    """A fresh instance of `initializer`.

    Keras initializers are stateless: one unseeded instance used for two
    weights of the same shape gives them identical values. A clone made
    from the config draws its own seed (a seeded one repeats its seed, as
    the user asked).
    """
    return initializer.__class__.from_config(initializer.get_config())
