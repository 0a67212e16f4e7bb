"""tf.distribute strategies and mixed-precision policies from flag values.

`make_strategy` builds the strategy before any variable exists; `replicas`
checks that the global batch divides among them.
"""

import json
import os

import keras
import tensorflow as tf

STRATEGIES = ("default", "one_device", "mirrored", "multi_worker_mirrored", "tpu")
PRECISIONS = ("auto", "float32", "mixed_float16", "mixed_bfloat16")


def check_flags(strategy, tpu, mixed_precision, batch_size):
    """Fails on bad flag combinations before anything is built."""
    if strategy not in STRATEGIES:
        raise ValueError(f"`--strategy` must be one of {list(STRATEGIES)}. Received: --strategy={strategy!r}")
    if tpu and strategy != "tpu":
        raise ValueError(f"`--tpu` is only used with `--strategy=tpu`. Received: --tpu={tpu!r}, --strategy={strategy!r}")
    if mixed_precision not in PRECISIONS:
        raise ValueError(
            f"`--mixed_precision` must be one of {list(PRECISIONS)}. Received: --mixed_precision={mixed_precision!r}"
        )
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"`--batch_size` must be a positive integer. Received: --batch_size={batch_size!r}")


def tpu_resolver(tpu):
    """The TPU cluster resolver for `--tpu` (a name, a grpc:// address, or '' for a local TPU VM)."""
    return tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu or "")


def make_strategy(name, tpu=None):
    """Builds the named `tf.distribute.Strategy`.

    * default: no distribution (`tf.distribute.get_strategy()`);
    * one_device: the first GPU, else the CPU;
    * mirrored: all local GPUs (or logical CPUs), all-reduce of gradients;
    * multi_worker_mirrored: workers from `TF_CONFIG`, collective all-reduce;
    * tpu: `TPUClusterResolver(tpu)`, connect, initialise, `TPUStrategy`.
    """
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "one_device":
        gpus = tf.config.list_logical_devices("GPU")
        return tf.distribute.OneDeviceStrategy(gpus[0].name if gpus else "/cpu:0")
    if name == "mirrored":
        gpus = tf.config.list_logical_devices("GPU")
        devices = [d.name for d in gpus] or [d.name for d in tf.config.list_logical_devices("CPU")]
        return tf.distribute.MirroredStrategy(devices)
    if name == "multi_worker_mirrored":
        if "TF_CONFIG" not in os.environ:
            raise ValueError("`--strategy=multi_worker_mirrored` needs the TF_CONFIG environment variable. Received: none")
        json.loads(os.environ["TF_CONFIG"])  # Fails early on malformed JSON.
        return tf.distribute.MultiWorkerMirroredStrategy()
    if name == "tpu":
        resolver = tpu_resolver(tpu)
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        return tf.distribute.TPUStrategy(resolver)
    raise ValueError(f"`--strategy` must be one of {list(STRATEGIES)}. Received: --strategy={name!r}")


def resolve_precision(name, strategy_name):
    """`auto` is bfloat16 on TPU, float16 on GPU and float32 on CPU."""
    if name != "auto":
        return name
    if strategy_name == "tpu":
        return "mixed_bfloat16"
    return "mixed_float16" if tf.config.list_logical_devices("GPU") else "float32"


def set_precision(name):
    keras.mixed_precision.set_global_policy(name)


def check_batch(batch_size, strategy):
    replicas = strategy.num_replicas_in_sync
    if batch_size % replicas:
        raise ValueError(
            f"`--batch_size` must be divisible by the number of replicas ({replicas}). "
            f"Received: --batch_size={batch_size}"
        )
    return batch_size // replicas


def split_cpu(count):
    """Splits the CPU into `count` logical devices (MirroredStrategy without GPUs); call first."""
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * count)
