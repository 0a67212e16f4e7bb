"""The shared layer test, in the manner of keras-hub's `TestCase.run_layer_test`.

`run_layer_test` builds a layer, calls it eagerly and symbolically, trains it
for one step, round-trips its config, its Keras serialization and a `.keras`
file, and runs it under mixed precision. Backend-agnostic: it runs on every
Keras backend.
"""

import os
import tempfile

import keras
import numpy as np
from keras import ops


def _first(outputs):
    return outputs[0] if isinstance(outputs, (tuple, list)) else outputs


def _as_kwargs(input_data):
    return dict(input_data) if isinstance(input_data, dict) else {"inputs": input_data}


def _call(layer, input_data, call_kwargs, **extra):
    if isinstance(input_data, dict):
        return layer(**input_data, **call_kwargs, **extra)
    return layer(input_data, **call_kwargs, **extra)


def _symbolic_inputs(input_data):
    def spec(x):
        x = np.asarray(x)
        return keras.Input(shape=x.shape[1:], batch_size=None, dtype=str(x.dtype))

    if isinstance(input_data, dict):
        return {k: spec(v) for k, v in input_data.items()}
    return spec(input_data)


def assert_allclose(actual, expected, atol=1e-6, rtol=1e-6):
    np.testing.assert_allclose(
        ops.convert_to_numpy(actual), ops.convert_to_numpy(expected), atol=atol, rtol=rtol
    )


def _functional_model(layer, input_data, call_kwargs):
    inputs = _symbolic_inputs(input_data)
    outputs = _first(_call(layer, inputs, call_kwargs))
    return keras.Model(inputs, outputs)


def run_layer_test(
    layer_cls,
    init_kwargs,
    input_data,
    expected_output_shape,
    call_kwargs=None,
    run_training=True,
    run_mixed_precision=True,
    run_saving=True,
):
    """Checks one layer end to end; raises `AssertionError` on the first failure."""
    call_kwargs = dict(call_kwargs or {})

    # Eager call and shape.
    layer = layer_cls(**init_kwargs)
    output = _first(_call(layer, input_data, call_kwargs))
    assert tuple(output.shape) == tuple(expected_output_shape), (output.shape, expected_output_shape)

    # Symbolic call gives the same shape (batch left open).
    symbolic = _first(_call(layer_cls(**init_kwargs), _symbolic_inputs(input_data), call_kwargs))
    assert tuple(symbolic.shape)[1:] == tuple(expected_output_shape)[1:], symbolic.shape

    # Config round-trip: same config, same outputs with the same weights.
    config = layer.get_config()
    clone = layer_cls.from_config(config)
    assert clone.get_config() == config
    _call(clone, input_data, call_kwargs)
    clone.set_weights(layer.get_weights())
    assert_allclose(_first(_call(clone, input_data, call_kwargs)), output)

    # Keras serialization round-trip.
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert type(restored) is layer_cls and restored.get_config() == config

    if run_saving:
        model = _functional_model(layer_cls(**init_kwargs), input_data, call_kwargs)
        before = model(input_data, training=False)
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "model.keras")
            model.save(path)
            loaded = keras.saving.load_model(path)
        assert_allclose(loaded(input_data, training=False), before, atol=1e-6)

    if run_training and layer.trainable_weights:
        model = _functional_model(layer_cls(**init_kwargs), input_data, call_kwargs)
        initial = [ops.convert_to_numpy(w) for w in model.trainable_weights]
        model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
        target = np.random.default_rng(0).normal(size=expected_output_shape).astype("float32")
        model.fit(input_data, target, batch_size=expected_output_shape[0], epochs=1, verbose=0)
        changed = [
            not np.allclose(a, ops.convert_to_numpy(b)) for a, b in zip(initial, model.trainable_weights)
        ]
        assert any(changed), "one fit step changed no trainable weight"

    if run_mixed_precision:
        for policy in ("mixed_float16", "mixed_bfloat16"):
            mixed = layer_cls(**init_kwargs, dtype=policy)
            out = _first(_call(mixed, input_data, call_kwargs))
            values = ops.convert_to_numpy(ops.cast(out, "float32"))
            assert np.all(np.isfinite(values)), f"non-finite output under {policy}"
            for w in mixed.weights:
                assert w.dtype == "float32", f"{w.path} is {w.dtype} under {policy}"
