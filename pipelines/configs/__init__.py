"""Named configs: `get_config("coref_translation")` imports `pipelines.configs.coref_translation`.

Each config module defines `get_config()` returning a frozen dataclass whose
fields all carry a comment; `--set field=value` flags override them.
"""

import dataclasses
import importlib


def get_config(name):
    try:
        module = importlib.import_module(f"{__name__}.{name}")
    except ModuleNotFoundError:
        raise ValueError(f"`--config` must name a module of pipelines/configs. Received: --config={name!r}") from None
    return module.get_config()


def apply_overrides(config, overrides):
    """`["train_steps=100", "dropout=0.0"]` -> a new config; types follow the fields."""
    fields = {f.name: f for f in dataclasses.fields(config)}
    changes = {}
    for item in overrides or []:
        key, sep, value = item.partition("=")
        if not sep or key not in fields:
            raise ValueError(
                f"`--set` takes field=value with a field of {type(config).__name__}: {sorted(fields)}. Received: --set={item!r}"
            )
        current = getattr(config, key)
        if isinstance(current, bool):
            parsed = value.lower() in ("1", "true", "yes")
        elif isinstance(current, int):
            parsed = int(value)
        elif isinstance(current, float):
            parsed = float(value)
        else:
            parsed = value
        changes[key] = parsed
    return dataclasses.replace(config, **changes)
