"""TFLite conversion with builtin ops only, the op list of a flatbuffer, and its interpreter.

The Python LiteRT runtimes of TF 2.21 have no Flex delegate, so every model
here converts with `OpsSet.TFLITE_BUILTINS` alone; the only custom ops
allowed are tensorflow-text's, which run through its op registrar
(`tf_text.tflite_registrar.SELECT_TFTEXT_OPS`). `operator_names` reads the
op list from the flatbuffer itself, so tests assert on what the file holds.
"""

import tensorflow as tf

QUANTIZATIONS = ("none", "float16", "dynamic_range", "int8")

# tensorflow-text ops that `SELECT_TFTEXT_OPS` registers, by their custom code.
TF_TEXT_CUSTOM_OPS = frozenset(
    {
        "FastBertNormalize",
        "FastWordpieceTokenizeWithOffsets",
        "TFText>FastWordpieceDetokenize",
        "TFText>WhitespaceTokenizeWithOffsetsV2",
        "TFText>FastSentencepieceTokenize",
        "TFText>FastSentencepieceDetokenize",
        "RaggedTensorToTensor",
        "TFText>RaggedTensorToTensor",
        "TFText>NgramsStringJoin",
    }
)


def named_function(method, name, input_signature):
    """A `tf.function` of `method` whose graph, and so its TFLite signature, is called `name`.

    With several functions, `TFLiteConverter.from_concrete_functions` keys
    each signature by its graph name, which a bound method `_translate`
    would make "_translate". (With one function the key is "serving_default".)
    """

    def function(*args):
        return method(*args)

    function.__name__ = name
    return tf.function(function, input_signature=input_signature)


def check_quantize(quantize):
    if quantize not in QUANTIZATIONS:
        raise ValueError(
            f"`quantize` must be one of {list(QUANTIZATIONS)}. Received: quantize={quantize!r}"
        )
    return quantize


def convert(
    functions, trackable, quantize="none", representative_dataset=None,
    allow_tf_text=False, uint8_input=False,
):
    """Converts concrete functions (one signature each) to a builtins-only flatbuffer.

    Args:
        functions: concrete functions; each becomes a signature named after
            its Python function.
        trackable: the `tf.Module` that holds their variables. Its
            `variables` must list every weight, or the file holds
            uninitialised ones.
        quantize: "none" (float32), "float16" (weights in float16),
            "dynamic_range" (int8 weights, float activations) or "int8"
            (int8 weights and activations, calibrated on
            `representative_dataset`).
        representative_dataset: for "int8": a callable yielding lists of
            input arrays, as `TFLiteConverter.representative_dataset`.
        allow_tf_text: keep tensorflow-text ops as custom ops.
        uint8_input: for "int8", make the float inputs uint8 (quantized with
            the calibrated scale and zero point); outputs stay float.

    Returns:
        The flatbuffer, `bytes`.
    """
    check_quantize(quantize)
    if not trackable.variables and any(f.captured_inputs for f in functions):
        raise ValueError(
            "`trackable` must list the model's variables (e.g. `module.weights = "
            "[v.value for v in model.variables]`); otherwise TFLite keeps them uninitialised."
        )
    converter = tf.lite.TFLiteConverter.from_concrete_functions(list(functions), trackable)
    return _convert(converter, quantize, representative_dataset, allow_tf_text, uint8_input)


def convert_saved_model(
    saved_model_dir, signature_keys, quantize="none", representative_dataset=None,
    allow_tf_text=False, uint8_input=False,
):
    """As `convert`, from signatures of a SavedModel (the file keeps their keys)."""
    check_quantize(quantize)
    converter = tf.lite.TFLiteConverter.from_saved_model(saved_model_dir, signature_keys=list(signature_keys))
    return _convert(converter, quantize, representative_dataset, allow_tf_text, uint8_input)


def _convert(converter, quantize, representative_dataset, allow_tf_text, uint8_input):
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    converter.allow_custom_ops = allow_tf_text
    if quantize == "float16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif quantize == "dynamic_range":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    elif quantize == "int8":
        if representative_dataset is None:
            raise ValueError("`quantize='int8'` needs a `representative_dataset`. Received: None")
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = representative_dataset
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        if uint8_input:
            converter.inference_input_type = tf.uint8
    flatbuffer = converter.convert()
    check_builtins_only(flatbuffer, allow_tf_text=allow_tf_text)
    return flatbuffer


def operator_names(flatbuffer):
    """The sorted op names of a flatbuffer: builtin names, custom codes as "CUSTOM:<code>"."""
    from ai_edge_litert import schema_py_generated as schema

    model = schema.Model.GetRootAs(flatbuffer, 0)
    builtin_names = {
        value: name for name, value in vars(schema.BuiltinOperator).items() if not name.startswith("_")
    }
    names = set()
    for i in range(model.OperatorCodesLength()):
        code = model.OperatorCodes(i)
        # Codes above 127 live in `BuiltinCode`; `DeprecatedBuiltinCode` caps at 127.
        builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
        if builtin == schema.BuiltinOperator.CUSTOM:
            names.add("CUSTOM:" + code.CustomCode().decode())
        else:
            names.add(builtin_names[builtin])
    return sorted(names)


def check_builtins_only(flatbuffer, allow_tf_text=False):
    """Raises if the flatbuffer holds a Flex op, or a custom op other than tensorflow-text's."""
    names = operator_names(flatbuffer)
    allowed = TF_TEXT_CUSTOM_OPS if allow_tf_text else frozenset()
    bad = [
        n for n in names
        if n.startswith("CUSTOM:") and (n[len("CUSTOM:"):].startswith("Flex") or n[len("CUSTOM:"):] not in allowed)
    ]
    if bad:
        raise ValueError(
            "The TFLite model must hold builtin ops only (plus tensorflow-text's custom ops), "
            f"since the Python runtimes have no Flex delegate. Received ops: {bad}"
        )
    return names


def interpreter(model_path=None, model_content=None, num_threads=None):
    """An allocated LiteRT interpreter with tensorflow-text's ops registered."""
    import tensorflow_text as tf_text
    from ai_edge_litert import interpreter as litert

    runner = litert.InterpreterWithCustomOps(
        custom_op_registerers=tf_text.tflite_registrar.SELECT_TFTEXT_OPS,
        model_path=model_path,
        model_content=model_content,
        num_threads=num_threads,
    )
    runner.allocate_tensors()
    return runner
