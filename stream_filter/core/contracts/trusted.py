"""Models from values that were validated where they came from, without pydantic's per-call work.

Why: `model_construct` walks every field's aliases on each call (about 7 us for a three-field
model), and the hot paths build several models per listing from checked values: a decision, the
reasons a policy renders, the origin and reasons of a listing state read back. `trusted` sets the
same attributes `model_construct` sets, with each model's field layout worked out once.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any, TypeVar

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

M = TypeVar("M", bound=BaseModel)
_set = object.__setattr__


@cache
def _layout(cls: type[BaseModel]) -> tuple[tuple[str, ...], dict[str, Any], dict[str, Callable[[], Any]]]:
    """Field names in definition order, static defaults, default factories. Only for the plain models
    this module serves: no extra fields kept, no post-init, not a root model."""
    if cls.model_config.get("extra") == "allow" or cls.__pydantic_post_init__ or cls.__pydantic_root_model__:
        raise TypeError(f"{cls.__name__} needs model_construct")
    static: dict[str, Any] = {}
    factories: dict[str, Callable[[], Any]] = {}
    for name, field in cls.__pydantic_fields__.items():
        if field.default_factory is not None:
            factories[name] = field.default_factory  # type: ignore[assignment]
        elif field.default is not PydanticUndefined:
            static[name] = field.default
    return tuple(cls.__pydantic_fields__), static, factories


def trusted(cls: type[M], **values: Any) -> M:
    """`cls.model_construct(**values)` for values given by field name; a required field missing is a
    KeyError (model_construct would leave it out silently)."""
    names, static, factories = _layout(cls)
    if tuple(values) == names:  # every field, in order: the values are the model's dict
        data = values
    else:
        data = {}
        for name in names:
            if name in values:
                data[name] = values[name]
            elif name in static:
                data[name] = static[name]
            else:
                data[name] = factories[name]()
    model = cls.__new__(cls)
    _set(model, "__dict__", data)
    _set(model, "__pydantic_fields_set__", set(values))
    _set(model, "__pydantic_extra__", None)
    _set(model, "__pydantic_private__", None)
    return model
