"""Outputs and gradients on the current backend, for the attention parity tests."""

import keras
import numpy as np


def value_and_grads(fn, *inputs, cotangent=None):
    """`fn(*inputs)` and the gradients of `sum(fn(*inputs) * cotangent)`, compiled.

    Returns numpy arrays: the output, then one gradient per input.
    """
    inputs = [np.asarray(x) for x in inputs]
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        @tf.function
        def run(*xs):
            with tf.GradientTape() as tape:
                tape.watch(xs)
                out = fn(*xs)
                loss = tf.reduce_sum(out * cotangent)
            return [out] + tape.gradient(loss, list(xs))

        return [np.asarray(y) for y in run(*[tf.constant(x) for x in inputs])]
    import jax

    def run(*xs):
        out, vjp = jax.vjp(fn, *xs)
        return [out] + list(vjp(jax.numpy.asarray(cotangent, out.dtype)))

    return [np.asarray(y) for y in jax.jit(run)(*inputs)]


def layer_value_and_grads(layer, cotangent, *args, **kwargs):
    """`layer(*args, **kwargs)` and the gradients of `sum(output * cotangent)`
    with respect to the layer's trainable weights, in their order."""
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            out = layer(*args, **kwargs)
            loss = tf.reduce_sum(out * cotangent)
        grads = tape.gradient(loss, layer.trainable_variables)
        return [np.asarray(out)] + [np.asarray(g) for g in grads]
    import jax

    def loss(params):
        out, _ = layer.stateless_call(params, [], *args, **kwargs)
        return (out * cotangent).sum(), out

    params = [v.value for v in layer.trainable_variables]
    grads, out = jax.grad(loss, has_aux=True)(params)
    return [np.asarray(out)] + [np.asarray(g) for g in grads]
