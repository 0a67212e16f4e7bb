"""Export directories that appear only once they are verified.

Every exporter in `export/` writes into a staging directory next to the
target (`<output>.tmp-<pid>`), verifies what it wrote, writes the JSON report
into it, and only then renames it to `<output>`: a failed conversion or a
failed verification leaves nothing at the target path, and a reader never
sees a half-written export.
"""

import contextlib
import json
import os
import shutil

import keras
import numpy as np

REPORT_FILENAME = "report.json"


class VerificationError(RuntimeError):
    """An export whose outputs differ from the Keras model's beyond tolerance."""


def check_output(output, overwrite):
    """Fails early, before any work, when `output` exists and may not be replaced."""
    if not output:
        raise ValueError(f"`--output` must be a directory path. Received: --output={output!r}")
    if os.path.lexists(output) and not overwrite:
        raise FileExistsError(
            f"`--output` already exists: {output}. Pass --overwrite to replace it. "
            "Nothing was written."
        )


@contextlib.contextmanager
def staged_output(output, overwrite):
    """Yields a fresh staging directory that becomes `output` when the block succeeds.

    On any exception the staging directory is removed and `output` is left as
    it was (absent, or the previous export when `overwrite`).
    """
    check_output(output, overwrite)
    output = os.path.abspath(output)
    parent = os.path.dirname(output)
    os.makedirs(parent, exist_ok=True)
    staging = f"{output}.tmp-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    os.makedirs(staging)
    try:
        yield staging
        if os.path.lexists(output):  # Only reached with `overwrite`.
            check_output(output, overwrite)
            old = f"{output}.old-{os.getpid()}"
            os.replace(output, old)
            os.replace(staging, output)
            _remove(old)
        else:
            os.replace(staging, output)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _remove(path):
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    else:
        os.remove(path)


def directory_size(path):
    """Bytes of a file, or of every file under a directory."""
    if os.path.isfile(path):
        return os.path.getsize(path)
    return sum(
        os.path.getsize(os.path.join(root, name))
        for root, _, names in os.walk(path)
        for name in names
    )


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value


def write_report(directory, report):
    """Writes `report` (a dict) as `directory/report.json` and returns its path."""
    path = os.path.join(directory, REPORT_FILENAME)
    with open(path, "w") as f:
        json.dump(_jsonable(report), f, indent=2, sort_keys=True)
    return path


def check_report(checks):
    """Raises `VerificationError` listing every failed check.

    Args:
        checks: list of `(name, value, limit, passed)`.
    """
    failed = [f"{name}={value!r} (limit {limit})" for name, value, limit, passed in checks if not passed]
    if failed:
        raise VerificationError(
            "Verification failed; nothing was written to the output path: " + "; ".join(failed)
        )


def load_keras_model(path):
    """Loads a `.keras` model to export (registering keras_tfm's classes first)."""
    import keras_tfm.models  # noqa: F401  Registers the serializable classes.

    if not os.path.exists(path):
        raise ValueError(f"`--model` must be a .keras file. Received: --model={path!r} (no such file)")
    return keras.saving.load_model(path, compile=False)
