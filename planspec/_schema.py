"""Pydantic twins of the plan's node classes: the plan's JSON Schema, and an independent
validator to test :mod:`planspec._node` against.

The plan IR is not pydantic (see :mod:`planspec.model`), but pydantic writes its JSON Schema
well and is the reference for how plans have always been validated: :func:`twin` builds, on
demand, a pydantic model from a node class's own annotations (markers translated to pydantic's
``Field`` constraints, validators and serializers), so the schema cannot drift from the model.
Only `planspec schema` and the tests load this module (and pydantic).
"""

from __future__ import annotations

import functools
import types
from collections.abc import Callable
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    WithJsonSchema,
    create_model,
)
from pydantic_core import PydanticCustomError

from planspec._node import (
    After,
    Alias,
    Before,
    CustomError,
    Finite,
    Ge,
    JsonSchema,
    Le,
    MaxLen,
    MinLen,
    Node,
    Pattern,
    Serialize,
    Tag,
)

_CONFIG = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


def _pydantic_error(e: CustomError) -> PydanticCustomError:
    return PydanticCustomError(e.type, e.template, e.context)


def _plain(value: Any) -> Any:
    """A node (or nodes) a hook returned, as plain data for the twin to validate itself."""
    if isinstance(value, Node):
        return {k: _plain(v) for k, v in value.__dict__.items()}
    if isinstance(value, tuple):
        return tuple(_plain(v) for v in value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _hook(fn: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """A node validator function as pydantic's: its errors as pydantic's, its nodes as data."""
    def hook(v: Any) -> Any:
        try:
            return _plain(fn(v))
        except CustomError as e:
            raise _pydantic_error(e) from None
    return hook


def _serializer(fn: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """A node serializer applied to a twin's value (turned back into its node first)."""
    def serialize(v: Any) -> Any:
        return fn(to_node(v))
    return serialize


def to_node(value: Any) -> Any:
    """A twin's value as the node classes hold it (twin instances become their nodes)."""
    if isinstance(value, BaseModel):
        node_cls: type[Node] = vars(type(value))["__node__"]
        return node_cls.model_validate({k: to_node(getattr(value, k))
                                        for k in type(value).model_fields})
    if isinstance(value, tuple):
        return tuple(to_node(v) for v in value)
    if isinstance(value, dict):
        return {k: to_node(v) for k, v in value.items()}
    return value


class _Twins:
    """Builds twins, resolving the classes that refer to themselves (`AllOf` holds conditions)
    by name once all are built."""

    def __init__(self) -> None:
        self.built: dict[type[Node], type[BaseModel]] = {}
        self.building: set[type[Node]] = set()

    def model(self, cls: type[Node]) -> Any:
        if cls in self.built:
            return self.built[cls]
        if cls in self.building:
            return cls.__name__  # a forward reference, resolved by `rebuild`
        self.building.add(cls)
        fields: dict[str, Any] = {}
        for name, info in cls.model_fields.items():
            kwargs: dict[str, Any] = {}
            if info.alias is not None:
                kwargs["alias"] = info.alias
            default = info.default
            if not info.is_required():
                kwargs["default"] = self.value(default)
            fields[name] = (self.type(info.annotation), Field(**kwargs))
        twin = create_model(cls.__name__, __config__=_CONFIG, __doc__=cls.__doc__,
                            __module__=__name__, **fields)
        twin.__node__ = cls  # type: ignore[attr-defined]
        self.building.discard(cls)
        self.built[cls] = twin
        return twin

    def value(self, default: Any) -> Any:
        if isinstance(default, Node):
            return self.model(type(default)).model_validate(_plain(default))
        return default

    def type(self, t: Any) -> Any:
        origin = get_origin(t)
        if origin is Annotated:
            base, *meta = get_args(t)
            out: list[Any] = []
            for m in meta:
                if isinstance(m, Tag):
                    out.append(Field(discriminator=m.field))
                elif isinstance(m, Finite):
                    out.append(Field(allow_inf_nan=False))
                elif isinstance(m, Ge):
                    out.append(Field(ge=m.bound))
                elif isinstance(m, Le):
                    out.append(Field(le=m.bound))
                elif isinstance(m, MinLen):
                    out.append(Field(min_length=m.length))
                elif isinstance(m, MaxLen):
                    out.append(Field(max_length=m.length))
                elif isinstance(m, Pattern):
                    out.append(Field(pattern=m.regex))
                elif isinstance(m, Before):
                    out.append(BeforeValidator(_hook(m.fn)))
                elif isinstance(m, After):
                    out.append(AfterValidator(_hook(m.fn)))
                elif isinstance(m, Serialize):
                    out.append(PlainSerializer(_serializer(m.fn), return_type=str))
                elif isinstance(m, JsonSchema):
                    out.append(WithJsonSchema(m.schema))
                elif not isinstance(m, Alias):
                    raise TypeError(f"no pydantic twin for the marker {m!r}")
            return Annotated[(self.type(base), *out)] if out else self.type(base)
        if isinstance(t, type) and issubclass(t, Node):
            return self.model(t)
        if origin in (Union, types.UnionType):
            return Union[tuple(self.type(a) for a in get_args(t))]  # noqa: UP007 (built)
        if origin is tuple:
            args = tuple(a if a is Ellipsis else self.type(a) for a in get_args(t))
            return tuple[args]  # type: ignore[valid-type]
        if origin is dict:
            key, value = get_args(t)
            return dict[key, self.type(value)]  # type: ignore[misc, valid-type]
        if origin is Literal or isinstance(t, type) or t is Any:
            return t
        raise TypeError(f"no pydantic twin for {t!r}")

    def rebuild(self) -> None:
        names = {cls.__name__: twin for cls, twin in self.built.items()}
        for twin in self.built.values():
            twin.model_rebuild(_types_namespace=names)


@functools.cache
def twin(cls: type[Node]) -> type[BaseModel]:
    """The pydantic model that validates and dumps as the node class ``cls`` does (its nested
    node classes twinned too; ``to_node`` turns its instances back into nodes)."""
    twins = _Twins()
    model = twins.model(cls)
    twins.rebuild()
    return model  # type: ignore[no-any-return]


def pydantic_type(t: Any) -> Any:
    """A pydantic annotation that validates as the plan model's annotated type ``t`` does
    (`DurationText`, `Ratio`), for pydantic models outside the plan; nodes come out as nodes.

    >>> from pydantic import TypeAdapter
    >>> from planspec.model import DurationText
    >>> TypeAdapter(pydantic_type(DurationText)).validate_python("2w").seconds
    1209600
    """
    twins = _Twins()
    out = twins.type(t)
    twins.rebuild()
    return Annotated[out, AfterValidator(to_node)]


def plan_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a plan in its YAML form."""
    from planspec.model import Plan

    schema = twin(Plan).model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "planspec monitoring plan"
    return schema
