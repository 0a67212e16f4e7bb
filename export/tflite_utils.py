"""TFLite conversion with builtin ops only, the op list of a flatbuffer, and its interpreter.

The Python LiteRT runtimes of TF 2.21 have no Flex delegate, so every model
here converts with `OpsSet.TFLITE_BUILTINS` alone; the only custom ops
allowed are tensorflow-text's, which run through its op registrar
(`tf_text.tflite_registrar.SELECT_TFTEXT_OPS`). `operator_names` reads the
op list from the flatbuffer itself (`operator_counts` how often each op
occurs), so tests assert on what the file holds.
"""

import collections

import tensorflow as tf

from keras_tfm.generation import portable_cache_writes

QUANTIZATIONS = ("none", "float16", "dynamic_range", "int8", "full_int8")
CALIBRATED = ("int8", "full_int8")  # Quantizations that need a representative dataset.

# TFLite ops that `quantize="int8"` keeps in float32. In int8 they have no fast
# kernel on the CPU: LiteRT runs an int8 BATCH_MATMUL of two activations
# (attention's q k^T and weights v) and an int8 SQUARED_DIFFERENCE with a
# broadcast (LayerNorm's variance) with its reference kernels, outside
# XNNPACK, which made the full-integer ViT-Ti/16 2-3x slower than float32.
# MEAN, RSQRT and NEG complete LayerNorm's statistics; SOFTMAX sits between
# the two float BATCH_MATMULs (float in, float out, no requantisation).
INT8_FLOAT_OPS = ("BATCH_MATMUL", "SOFTMAX", "SQUARED_DIFFERENCE", "MEAN", "RSQRT", "NEG")

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
    It is traced with portable cache writes, which TFLite converts to builtins.
    """

    def function(*args):
        with portable_cache_writes():
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
            "dynamic_range" (int8 weights, float activations), "int8" (int8
            weights and activations calibrated on `representative_dataset`,
            except the ops of `INT8_FLOAT_OPS`, which stay float32 between
            DEQUANTIZE and QUANTIZE) or "full_int8" (every op that has an
            int8 kernel in int8; with static shapes attention's batched
            matmuls are unrolled into per-head FULLY_CONNECTED ops).
        representative_dataset: for "int8" and "full_int8": a callable
            yielding lists of input arrays, as
            `TFLiteConverter.representative_dataset`.
        allow_tf_text: keep tensorflow-text ops as custom ops.
        uint8_input: for "int8" and "full_int8", make the float inputs uint8
            (quantized with the calibrated scale and zero point); outputs
            stay float.

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
    # Functions called from several places (the tokenizers' `tf.function`s)
    # make the converter fail once, print an "error: ... will retry with
    # `guarantee_all_funcs_used_once`" line and convert again with this flag;
    # setting it up front gives the same file in about half the time.
    converter._experimental_guarantee_all_funcs_one_use = True
    if quantize == "float16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif quantize == "dynamic_range":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    elif quantize in CALIBRATED:
        if representative_dataset is None:
            raise ValueError(f"`quantize={quantize!r}` needs a `representative_dataset`. Received: None")
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = representative_dataset
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        if uint8_input:
            converter.inference_input_type = tf.uint8
        if quantize == "full_int8":
            # An int8 BATCH_MATMUL runs on LiteRT's reference kernel; per-head
            # FULLY_CONNECTED ops with an activation as weights are faster.
            # (The converter unrolls only batch dimensions it knows.)
            converter.unfold_batchmatmul = True
        else:
            return _check(_selective_int8(converter, uint8_input), allow_tf_text)
    return _check(converter.convert(), allow_tf_text)


def _selective_int8(converter, uint8_input):
    """Calibrates, then quantizes every op but those of `INT8_FLOAT_OPS`.

    The same two steps as `converter.convert()` for full-integer int8 (and as
    `tf.lite.experimental.QuantizationDebugger`, whose `denylisted_ops` this
    is), with the MLIR quantizer told which ops to leave in float.
    """
    from tensorflow.lite.python import convert as lite_convert

    converter._experimental_calibrate_only = True
    calibrated = converter.convert()
    return lite_convert.mlir_quantize(
        calibrated,
        input_data_type=tf.uint8 if uint8_input else tf.float32,
        output_data_type=tf.float32,
        denylisted_ops=list(INT8_FLOAT_OPS),
    )


def _check(flatbuffer, allow_tf_text):
    check_builtins_only(flatbuffer, allow_tf_text=allow_tf_text)
    return flatbuffer


def _opcode_names(model, schema):
    """Each operator code's name: the builtin name, or "CUSTOM:<code>"."""
    builtin_names = {
        value: name for name, value in vars(schema.BuiltinOperator).items() if not name.startswith("_")
    }
    names = []
    for i in range(model.OperatorCodesLength()):
        code = model.OperatorCodes(i)
        # Codes above 127 live in `BuiltinCode`; `DeprecatedBuiltinCode` caps at 127.
        builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
        if builtin == schema.BuiltinOperator.CUSTOM:
            names.append("CUSTOM:" + code.CustomCode().decode())
        else:
            names.append(builtin_names[builtin])
    return names


def operator_names(flatbuffer):
    """The sorted op names of a flatbuffer: builtin names, custom codes as "CUSTOM:<code>"."""
    from ai_edge_litert import schema_py_generated as schema

    return sorted(set(_opcode_names(schema.Model.GetRootAs(flatbuffer, 0), schema)))


def _operators(model, schema):
    """`(name, operator, subgraph)` for every operator of every subgraph of a parsed model."""
    names = _opcode_names(model, schema)
    for g in range(model.SubgraphsLength()):
        graph = model.Subgraphs(g)
        for i in range(graph.OperatorsLength()):
            op = graph.Operators(i)
            yield names[op.OpcodeIndex()], op, graph


def operator_counts(flatbuffer):
    """How many times each op name occurs in the flatbuffer, over all subgraphs (a `Counter`)."""
    from ai_edge_litert import schema_py_generated as schema

    model = schema.Model.GetRootAs(flatbuffer, 0)
    return collections.Counter(name for name, _, _ in _operators(model, schema))


def float_operator_names(flatbuffer):
    """The sorted names of the ops that compute in float32 (a float32 first
    input), QUANTIZE and DEQUANTIZE aside: what a quantized file leaves in float."""
    from ai_edge_litert import schema_py_generated as schema

    found = set()
    for name, op, graph in _operators(schema.Model.GetRootAs(flatbuffer, 0), schema):
        if name in ("QUANTIZE", "DEQUANTIZE") or op.InputsLength() == 0 or op.Inputs(0) < 0:
            continue
        if graph.Tensors(op.Inputs(0)).Type() == schema.TensorType.FLOAT32:
            found.add(name)
    return sorted(found)


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
