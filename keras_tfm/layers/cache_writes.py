"""Writing a decoding step's keys/values into a preallocated cache, in place where possible.

`ops.slice_update` is the portable write: XLA's dynamic-update-slice, which
TFLite converts to its builtin DYNAMIC_UPDATE_SLICE and which JAX updates in
place under `jit`. On TensorFlow without XLA, though, each call compiles to a
small XLA program that copies the whole cache: at 512 cached positions the
copies cost about a tenth of a decoding step. There, `write_step` uses
`TensorStridedSliceUpdate`, which writes into the loop's cache buffer without
a copy, but which neither TFLite nor XLA takes: graphs meant for TFLite are
traced inside `portable_cache_writes()` (the export module does this), and
XLA-compiled functions (`jit_compile=True`) are detected and stay portable.
"""

import contextlib
import threading

import keras
from keras import ops

_state = threading.local()


@contextlib.contextmanager
def portable_cache_writes():
    """Within this block, traced cache writes use `ops.slice_update` on every backend."""
    previous = getattr(_state, "portable", False)
    _state.portable = True
    try:
        yield
    finally:
        _state.portable = previous


def write_step(cache, index, new, axis):
    """`cache` with `new` written at `index` along `axis` (all other axes whole).

    Args:
        cache: the preallocated tensor, e.g. `(2, B, N, L, H)`.
        index: int scalar (may be a tensor), the first position written.
        new: the values, `cache`'s shape except `new.shape[axis]` positions.
        axis: the position axis (non-negative).

    Returns:
        The updated cache, same shape and dtype.
    """
    index = ops.cast(index, "int32")
    if not _in_place_on_tensorflow():
        start = [ops.zeros((), "int32")] * len(cache.shape)
        start[axis] = index
        return ops.slice_update(cache, tuple(start), new)
    import tensorflow as tf

    rank = len(cache.shape)
    whole = sum(1 << i for i in range(rank) if i != axis)  # Mask bits: take these axes whole.
    width = new.shape[axis]
    stop = index + (width if isinstance(width, int) else tf.shape(new)[axis])
    begin = tf.stack([index if i == axis else 0 for i in range(rank)])
    end = tf.stack([stop if i == axis else 0 for i in range(rank)])
    return tf.raw_ops.TensorStridedSliceUpdate(
        input=cache, begin=begin, end=end, strides=tf.ones((rank,), tf.int32), value=new,
        begin_mask=whole, end_mask=whole,
    )


def _in_place_on_tensorflow():
    """Whether this trace may use `TensorStridedSliceUpdate`.

    Not on other backends, not inside `portable_cache_writes()`, and not under
    XLA (`jit_compile=True`), which needs static slice bounds and already
    updates in place.
    """
    if keras.backend.backend() != "tensorflow" or getattr(_state, "portable", False):
        return False
    return traced_by_xla() is False  # Unknown: stay portable.


def traced_by_xla():
    """Whether XLA compiles the code being traced: `True`, `False`, or `None` if unknown.

    Always on JAX; on TensorFlow inside `tf.function(jit_compile=True)` (or
    another XLA context); never on the other backends.
    """
    backend = keras.backend.backend()
    if backend == "jax":
        return True
    if backend != "tensorflow":
        return False
    try:  # A private TensorFlow helper.
        from tensorflow.python.framework import ops as tf_ops
        from tensorflow.python.ops import control_flow_util
    except ImportError:
        return None
    return bool(control_flow_util.GraphOrParentsInXlaContext(tf_ops.get_default_graph()))
