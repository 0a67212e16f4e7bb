"""Helpers shared by the position encodings.

Shape legend: B batch, T sequence length, P encoding width.
"""

from keras import ops


def positions(inputs, start_index=0, dtype="float32"):
    """Absolute positions `start_index + [0, T)` of `inputs` `(B, T, ...)`."""
    length = ops.shape(inputs)[1]
    pos = ops.arange(length, dtype="int32") + ops.cast(start_index, "int32")  # (T,)
    return ops.cast(pos, dtype)


def broadcast_to_batch(encoding, inputs):
    """`(T, P)` -> `(B, T, P)` with the batch size of `inputs`."""
    shape = ops.shape(encoding)
    return ops.broadcast_to(
        ops.expand_dims(encoding, 0), (ops.shape(inputs)[0], shape[0], shape[1])
    )


def resolve_width(name, output_dim, inputs_shape):
    """The encoding width: `output_dim`, or the last axis of rank-3 inputs."""
    if output_dim is not None:
        return output_dim
    if len(inputs_shape) != 3 or inputs_shape[-1] is None:
        raise ValueError(
            f"`output_dim` must be set for {name} unless the inputs are (B, T, D) "
            f"with a known D. Received: inputs.shape={tuple(inputs_shape)}"
        )
    return inputs_shape[-1]
