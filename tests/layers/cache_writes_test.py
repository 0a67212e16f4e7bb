import numpy as np
import pytest
from keras import ops

from keras_tfm.layers.cache_writes import portable_cache_writes, write_step

rng = np.random.default_rng(0)
CACHE = rng.normal(size=(2, 2, 3, 7, 4)).astype("float32")  # (2, B, N, L, H)


def expected(cache, index, new, axis):
    out = cache.copy()
    where = [slice(None)] * cache.ndim
    where[axis] = slice(index, index + new.shape[axis])
    out[tuple(where)] = new
    return out


@pytest.mark.parametrize("axis,index,width", [(3, 0, 1), (3, 5, 2), (3, 6, 1), (1, 1, 1), (0, 1, 1)])
def test_write_step_writes_only_the_slice(axis, index, width):
    shape = list(CACHE.shape)
    shape[axis] = width
    new = rng.normal(size=shape).astype("float32")
    want = expected(CACHE, index, new, axis)
    got = write_step(ops.convert_to_tensor(CACHE), ops.convert_to_tensor(index, "int32"), new, axis)
    np.testing.assert_array_equal(ops.convert_to_numpy(got), want)
    with portable_cache_writes():
        portable = write_step(ops.convert_to_tensor(CACHE), index, new, axis)
    np.testing.assert_array_equal(ops.convert_to_numpy(portable), want)


def _traced_ops(function, *args):
    import tensorflow as tf

    graph = tf.function(function).get_concrete_function(*args).graph
    return {node.type for node in graph.get_operations()}


@pytest.mark.tf_only
def test_tensorflow_writes_in_place_unless_portable_or_xla():
    import tensorflow as tf

    new = np.ones((2, 2, 3, 1, 4), "float32")
    index = tf.constant(4)

    def write(cache, index):
        return write_step(cache, index, new, axis=3)

    def write_portable(cache, index):
        with portable_cache_writes():
            return write_step(cache, index, new, axis=3)

    cache = tf.constant(CACHE)
    assert "TensorStridedSliceUpdate" in _traced_ops(write, cache, index)
    portable_ops = _traced_ops(write_portable, cache, index)
    assert "TensorStridedSliceUpdate" not in portable_ops
    assert "XlaDynamicUpdateSlice" in portable_ops
    # Under XLA the write must stay a dynamic-update-slice (static slice bounds).
    compiled = tf.function(write, jit_compile=True)
    np.testing.assert_array_equal(compiled(cache, index).numpy(), expected(CACHE, 4, new, 3))


def test_portable_mode_is_restored_after_an_error():
    from keras_tfm.layers import cache_writes

    with pytest.raises(RuntimeError):
        with portable_cache_writes():
            assert cache_writes._state.portable
            raise RuntimeError("boom")
    assert not cache_writes._state.portable


@pytest.mark.tf_only
def test_traced_by_xla_on_tensorflow():
    import tensorflow as tf

    from keras_tfm.layers.cache_writes import traced_by_xla

    seen = []

    def probe(x):
        seen.append(traced_by_xla())
        return x + 1

    probe(tf.constant(1.0))
    tf.function(probe)(tf.constant(1.0))
    tf.function(probe, jit_compile=True)(tf.constant(1.0))
    assert seen == [False, False, True]


@pytest.mark.jax_only
def test_traced_by_xla_on_jax():
    from keras_tfm.layers.cache_writes import traced_by_xla

    assert traced_by_xla() is True
