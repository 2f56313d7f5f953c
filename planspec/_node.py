"""Small frozen, validated records: the base of the plan IR, without pydantic.

:class:`Node` gives the plan's classes the part of pydantic's ``BaseModel`` API planspec uses
(keyword construction that validates, ``model_validate``, ``model_construct``, ``model_copy``,
``model_dump``, ``model_dump_json``, ``model_fields``), with pydantic's lax coercions, its error
types, locations and messages (so :mod:`planspec._shape` reads them as it read pydantic's).
Importing pydantic and building its validators cost more than all of `planspec validate`'s
start-up budget; this module is the standard library only. Field metadata are markers in
``Annotated[...]``; a class resolves its annotations when first used and compiles one
validator per field, so building a node is a few function calls.

>>> class Point(Node):
...     x: Annotated[int, Ge(0)]
...     label: str = ""
>>> Point(x="3")
Point(x=3, label='')
>>> try:
...     Point.model_validate({"x": -1, "y": 0})
... except ValidationError as e:
...     print([(err["type"], err["loc"]) for err in e.errors()])
[('greater_than_equal', ('x',)), ('extra_forbidden', ('y',))]
"""

from __future__ import annotations

import datetime
import math
import re
import sys
import types
from collections.abc import Callable, Iterator, Mapping
from typing import (
    Annotated,
    Any,
    ClassVar,
    Literal,
    TypeVar,
    Union,
    dataclass_transform,
    get_args,
    get_origin,
    get_type_hints,
)

_N = TypeVar("_N", bound="Node")
Loc = tuple[str | int, ...]
ErrorDict = dict[str, Any]
Validator = Callable[[Any], Any]


# -------------------------------------------------------------------------------- markers


class _Marker:
    """A field's metadata in ``Annotated[...]`` (plain classes: a dataclass costs a
    millisecond to define, and these load on every command)."""

    __slots__: tuple[str, ...] = ()

    def __repr__(self) -> str:
        args = ", ".join(repr(getattr(self, name)) for name in self.__slots__)
        return f"{type(self).__name__}({args})"


class Alias(_Marker):
    """The key a field is written with in plans (``for`` for the field ``for_``)."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name


class Ge(_Marker):
    """The value (a number) is at least ``bound``."""

    __slots__ = ("bound",)

    def __init__(self, bound: float) -> None:
        self.bound = bound


class Le(_Marker):
    """The value (a number) is at most ``bound``."""

    __slots__ = ("bound",)

    def __init__(self, bound: float) -> None:
        self.bound = bound


class MinLen(_Marker):
    """The value (a tuple or a mapping) has at least ``length`` items."""

    __slots__ = ("length",)

    def __init__(self, length: int) -> None:
        self.length = length


class MaxLen(_Marker):
    """The value (a string) has at most ``length`` characters."""

    __slots__ = ("length",)

    def __init__(self, length: int) -> None:
        self.length = length


class Pattern(_Marker):
    """The value (a string) matches ``regex``."""

    __slots__ = ("regex",)

    def __init__(self, regex: str) -> None:
        self.regex = regex


class Finite(_Marker):
    """The value (a number) is neither infinite nor NaN."""

    __slots__ = ()


class Before(_Marker):
    """``fn`` runs on the raw input before the type's own validation (pydantic's
    ``BeforeValidator``); ``keeps_nodes``: it returns a node (an instance of :class:`Node`)
    as it is, unchanged."""

    __slots__ = ("fn", "keeps_nodes")

    def __init__(self, fn: Callable[[Any], Any], keeps_nodes: bool = False) -> None:
        self.fn = fn
        self.keeps_nodes = keeps_nodes


class After(_Marker):
    """``fn`` runs on the validated value (pydantic's ``AfterValidator``)."""

    __slots__ = ("fn",)

    def __init__(self, fn: Callable[[Any], Any]) -> None:
        self.fn = fn


class Serialize(_Marker):
    """``fn`` turns a (non-None) value into what dumps hold (pydantic's ``PlainSerializer``)."""

    __slots__ = ("fn",)

    def __init__(self, fn: Callable[[Any], Any]) -> None:
        self.fn = fn


class JsonSchema(_Marker):
    """The JSON Schema of the field, used instead of the one its type would give."""

    __slots__ = ("schema",)

    def __init__(self, schema: dict[str, Any]) -> None:
        self.schema = schema


class Tag(_Marker):
    """A union of node classes told apart by the value of their field ``field``."""

    __slots__ = ("field",)

    def __init__(self, field: str) -> None:
        self.field = field


# --------------------------------------------------------------------------------- errors


class CustomError(Exception):
    """An error a validator raises with its own type, message and context (pydantic's
    ``PydanticCustomError``): the message is ``template`` formatted with ``context``."""

    def __init__(self, type: str, template: str, context: dict[str, Any] | None = None):
        super().__init__(type, template, context)
        self.type, self.template, self.context = type, template, context or {}

    def message(self) -> str:
        """The message: the template filled in from the context."""
        return self.template.format(**self.context)

    def __str__(self) -> str:
        return self.message()


class _Invalid(Exception):
    """Errors found below a point, located relative to it (internal; never escapes)."""

    def __init__(self, errors: list[ErrorDict]):
        self.errors = errors


def _error(type: str, msg: str, value: Any, ctx: dict[str, Any] | None = None) -> _Invalid:
    err: ErrorDict = {"type": type, "loc": (), "msg": msg, "input": value}
    if ctx is not None:
        err["ctx"] = ctx
    return _Invalid([err])


def _under(prefix: str | int, errors: list[ErrorDict]) -> list[ErrorDict]:
    for err in errors:
        err["loc"] = (prefix, *err["loc"])
    return errors


def _raised(e: Exception, value: Any) -> _Invalid:
    """A validator function's exception as a located error (pydantic's wording)."""
    if isinstance(e, _Invalid):
        return e
    if isinstance(e, CustomError):
        return _error(e.type, e.message(), value, dict(e.context))
    if isinstance(e, AssertionError):
        return _error("assertion_error", f"Assertion failed, {e}", value, {"error": e})
    return _error("value_error", f"Value error, {e}", value, {"error": e})


class ValidationError(ValueError):
    """Every error found validating one input, each a dict with `type`, `loc`, `msg`, `input`
    and (for some types) `ctx`, as pydantic's ``ValidationError.errors()`` gives them."""

    def __init__(self, title: str, errors: list[ErrorDict]):
        super().__init__(title, errors)
        self.title, self._errors = title, errors

    def errors(self, *, include_url: bool = True, include_context: bool = True,
               include_input: bool = True) -> list[ErrorDict]:
        """The errors, in the order found (``include_url`` is accepted and ignored)."""
        out = []
        for err in self._errors:
            e = dict(err)
            if not include_context:
                e.pop("ctx", None)
            if not include_input:
                e.pop("input", None)
            out.append(e)
        return out

    def error_count(self) -> int:
        """How many errors."""
        return len(self._errors)

    def __str__(self) -> str:
        n = len(self._errors)
        lines = [f"{n} validation error{'s' if n != 1 else ''} for {self.title}"]
        for err in self._errors:
            lines.append(".".join(str(p) for p in err["loc"]) or self.title)
            value = err["input"]
            lines.append(f"  {err['msg']} [type={err['type']}, input_value={value!r}, "
                         f"input_type={type(value).__name__}]")
        return "\n".join(lines)


# ------------------------------------------------------------------------------ scalars


def _str(v: Any) -> str:
    if type(v) is str:
        return v
    if isinstance(v, str):
        return str(v)
    if isinstance(v, (bytes, bytearray)):
        try:
            return bytes(v).decode()
        except UnicodeDecodeError:
            raise _error("string_unicode", "Input should be a valid string, unable to parse raw "
                         "data as a unicode string", v) from None
    raise _error("string_type", "Input should be a valid string", v)


def _int_size(v: Any) -> _Invalid:
    return _error("int_parsing_size", "Unable to parse input string as an integer, exceeded "
                  "maximum size", v)


_INT_TEXT = re.compile(r"[+-]?[0-9](?:_?[0-9])*(?:\.0*)?")


def _int(v: Any) -> int:
    if type(v) is int:
        return v
    if isinstance(v, int):  # bool and other int subclasses
        return int(v)
    if isinstance(v, float):
        if not math.isfinite(v):
            raise _error("finite_number", "Input should be a finite number", v)
        if not v.is_integer():
            raise _error("int_from_float", "Input should be a valid integer, got a number with a "
                         "fractional part", v)
        if not -(2**63) <= v < 2**63:  # pydantic reads a float as a 64-bit integer
            raise _int_size(v)
        return int(v)
    if isinstance(v, (str, bytes, bytearray)):
        text = v.decode(errors="replace") if isinstance(v, (bytes, bytearray)) else v
        text = text.strip()
        if _INT_TEXT.fullmatch(text):
            digits = text.split(".")[0]
            if len(digits.lstrip("+-")) > 4300:  # Python's (and pydantic's) limit
                raise _int_size(v)
            return int(digits)
        raise _error("int_parsing", "Input should be a valid integer, unable to parse string as "
                     "an integer", v)
    raise _error("int_type", "Input should be a valid integer", v)


def _float(v: Any) -> float:
    if type(v) is float:
        return v
    if isinstance(v, (int, float)):
        try:
            return float(v)
        except OverflowError:
            raise _error("float_type", "Input should be a valid number", v) from None
    if isinstance(v, (str, bytes, bytearray)):
        text = v.decode(errors="replace") if isinstance(v, (bytes, bytearray)) else v
        text = text.strip()
        if text.isascii():
            try:
                return float(text)
            except ValueError:
                pass
        raise _error("float_parsing", "Input should be a valid number, unable to parse string "
                     "as a number", v)
    raise _error("float_type", "Input should be a valid number", v)


def _finite(v: Any) -> float:
    out = _float(v)
    if not math.isfinite(out):
        raise _error("finite_number", "Input should be a finite number", v)
    return out


_TRUE = frozenset(("1", "on", "t", "true", "y", "yes"))
_FALSE = frozenset(("0", "off", "f", "false", "n", "no"))


def _bool(v: Any) -> bool:
    if type(v) is bool:
        return v
    if isinstance(v, int):
        if v in (0, 1):
            return bool(v)
        raise _error("bool_parsing", "Input should be a valid boolean, unable to interpret input",
                     v)
    if isinstance(v, float) and v in (0.0, 1.0):
        return bool(v)
    if isinstance(v, (str, bytes, bytearray)):
        text = (v.decode(errors="replace") if isinstance(v, (bytes, bytearray)) else v).lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise _error("bool_parsing", "Input should be a valid boolean, unable to interpret input",
                     v)
    raise _error("bool_type", "Input should be a valid boolean", v)


_DATE_TEXT = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")
_TIME_TEXT = re.compile(r"([0-9]{2}):([0-9]{2})(?::([0-9]{2})(?:\.([0-9]+))?)?"
                        r"(Z|[+-][0-9]{2}:?[0-9]{2})?")


def _date_text_error(text: str) -> str:
    """What pydantic (speedate) says of a date that does not parse."""
    if len(text) < 10:
        return "input is too short"
    checks = ((range(0, 4), "invalid character in year"), (range(4, 5), None),
              (range(5, 7), "invalid character in month"), (range(7, 8), None),
              (range(8, 10), "invalid character in day"))
    for positions, what in checks:
        for i in positions:
            if what is None and text[i] != "-":
                return "invalid date separator, expected `-`"
            if what is not None and not text[i].isdigit():
                return what
    if not 1 <= int(text[5:7]) <= 12:
        return "month value is outside expected range of 1-12"
    return "day value is outside expected range"


def _date(v: Any) -> datetime.date:
    if type(v) is datetime.date:
        return v
    inexact = _error("date_from_datetime_inexact", "Datetimes provided to dates should have zero "
                     "time - e.g. be exact dates", v)
    if isinstance(v, datetime.datetime):
        if v.time() != datetime.time():
            raise inexact
        return v.date()
    if isinstance(v, datetime.date):
        return datetime.date(v.year, v.month, v.day)
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        seconds = v / 1000 if abs(v) > 2e10 else v
        if seconds % 86400:
            raise inexact
        return datetime.date(1970, 1, 1) + datetime.timedelta(days=int(seconds // 86400))
    if isinstance(v, (str, bytes, bytearray)):
        text = v.decode(errors="replace") if isinstance(v, (bytes, bytearray)) else v
        m = _DATE_TEXT.match(text)
        if m:
            try:
                day = datetime.date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
            except ValueError:
                day = None
            if day is not None:
                rest = text[10:]
                if not rest:
                    return day
                if rest[0] not in "Tt_ ":
                    msg = "invalid datetime separator, expected `T`, `t`, `_` or space"
                else:
                    t = _TIME_TEXT.fullmatch(rest[1:])
                    if t is None:
                        msg = "invalid character in hour" if not rest[1:3].isdigit() else \
                            "invalid time separator, expected `:`"
                    elif any(int(g) for g in t.groups()[:3] if g) or \
                            any(c != "0" for c in (t.group(4) or "")):
                        raise inexact
                    else:
                        return day
                raise _error("date_from_datetime_parsing", f"Input should be a valid date or "
                             f"datetime, {msg}", v, {"error": msg})
        if text.isdigit() and len(text) < 10:
            raise _error("date_from_datetime_parsing", "Input should be a valid date or datetime, "
                         "input is too short", v, {"error": "input is too short"})
        if text.isdigit():
            seconds = int(text) / 1000 if int(text) > 2e10 else int(text)
            if seconds % 86400:
                raise inexact
            return datetime.date(1970, 1, 1) + datetime.timedelta(days=int(seconds // 86400))
        msg = _date_text_error(text)
        raise _error("date_from_datetime_parsing", f"Input should be a valid date or datetime, "
                     f"{msg}", v, {"error": msg})
    raise _error("date_type", "Input should be a valid date", v)


_SCALARS: dict[Any, Validator] = {str: _str, int: _int, float: _float, bool: _bool,
                                  datetime.date: _date}


def _any(v: Any) -> Any:
    return v


# ---------------------------------------------------------------------------- compounds


def _literal(values: tuple[Any, ...]) -> Validator:
    shown = [repr(v) for v in values]
    expected = shown[0] if len(shown) == 1 else f"{', '.join(shown[:-1])} or {shown[-1]}"
    allowed = frozenset(values)
    texts = all(type(x) is str for x in values)

    def literal(v: Any) -> Any:
        if texts:
            if type(v) is str and v in allowed:
                return v
        elif any(v == x and type(v) is type(x) for x in values):
            return v
        raise _error("literal_error", f"Input should be {expected}", v, {"expected": expected})
    return literal


_SEQUENCES = (list, tuple, set, frozenset, types.GeneratorType)


def _items(v: Any) -> list[Any] | tuple[Any, ...]:
    if type(v) is list or type(v) is tuple:
        return v
    if isinstance(v, _SEQUENCES) or type(v).__name__ in ("dict_keys", "dict_values"):
        return list(v)
    raise _error("tuple_type", "Input should be a valid tuple", v)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _too_short(kind: str, n: int, valid: int, v: Any) -> list[ErrorDict]:
    """pydantic's error for a tuple or mapping with fewer than ``n`` valid items."""
    return _error("too_short", f"{kind} should have at least {_plural(n, 'item')} after "
                  f"validation, not {valid}", v,
                  {"field_type": kind, "min_length": n, "actual_length": valid}).errors


def _tuple_of(item: Validator, min_length: int = 0) -> Validator:
    def tuple_of(v: Any) -> tuple[Any, ...]:
        values = _items(v)
        out = []
        errors: list[ErrorDict] = []
        for i, x in enumerate(values):
            try:
                out.append(item(x))
            except _Invalid as e:
                errors += _under(i, e.errors)
        if len(out) < min_length:
            errors += _too_short("Tuple", min_length, len(out), v)
        if errors:
            raise _Invalid(errors)
        return tuple(out)
    return tuple_of


def _fixed_tuple(items: list[Validator]) -> Validator:
    n = len(items)

    def fixed(v: Any) -> tuple[Any, ...]:
        values = _items(v)
        if len(values) > n:
            raise _error("too_long", f"Tuple should have at most {_plural(n, 'item')} after "
                         f"validation, not {len(values)}", v,
                         {"field_type": "Tuple", "max_length": n, "actual_length": len(values)})
        out = []
        errors: list[ErrorDict] = []
        for i, validate in enumerate(items):
            if i >= len(values):
                errors.append({"type": "missing", "loc": (i,), "msg": "Field required",
                               "input": v})
                continue
            try:
                out.append(validate(values[i]))
            except _Invalid as e:
                errors += _under(i, e.errors)
        if errors:
            raise _Invalid(errors)
        return tuple(out)
    return fixed


def _dict_of(value: Validator, min_length: int = 0) -> Validator:
    def dict_of(v: Any) -> dict[str, Any]:
        if type(v) is not dict and not isinstance(v, Mapping):
            raise _error("dict_type", "Input should be a valid dictionary", v)
        out = {}
        errors: list[ErrorDict] = []
        for k, x in v.items():
            try:
                key = _str(k)
            except _Invalid as e:
                errors += _under(k, _under("[key]", e.errors))
                key = None
            try:
                validated = value(x)
            except _Invalid as e:
                errors += _under(k, e.errors)
                continue
            if key is not None:
                out[key] = validated
        if len(out) < min_length and not errors:  # (pydantic counts a tuple's valid items)
            errors += _too_short("Dictionary", min_length, len(out), v)
        if errors:
            raise _Invalid(errors)
        return out
    return dict_of


def _nullable(inner: Validator) -> Validator:
    def nullable(v: Any) -> Any:
        return None if v is None else inner(v)
    return nullable


def _tag_of(t: Any) -> str:
    """How pydantic names a union member in an error's location."""
    while get_origin(t) is Annotated:
        t = get_args(t)[0]
    if isinstance(t, type):
        return "date" if t is datetime.date else t.__name__
    origin = get_origin(t)
    if origin is tuple:
        args = get_args(t)
        inner = ", ".join(_tag_of(a) for a in args if a is not Ellipsis)
        return f"tuple[{inner}, ...]" if args and args[-1] is Ellipsis else f"tuple[{inner}]"
    if origin is Literal:
        return "literal[" + ",".join(repr(a) for a in get_args(t)) + "]"
    return str(t)


def _exact(t: Any) -> Callable[[Any], bool]:
    """Whether a value is of a union member's own type (pydantic's smart unions take the first
    such member before trying the lax coercions in order)."""
    while get_origin(t) is Annotated:
        t = get_args(t)[0]
    if t is float:
        return lambda v: type(v) is float or type(v) is int
    if isinstance(t, type) and issubclass(t, Node):
        return lambda v: isinstance(v, t)
    if isinstance(t, type):
        return lambda v: type(v) is t
    if get_origin(t) is tuple:
        return lambda v: type(v) is tuple
    if get_origin(t) is Literal:
        return lambda v: any(v == a and type(v) is type(a) for a in get_args(t))
    return lambda v: False


def _smart_union(members: list[Any], owner: type[Node]) -> Validator:
    compiled = [(_tag_of(m), _compile(m, owner), _exact(m)) for m in members]

    def union(v: Any) -> Any:
        for _, validate, exact in compiled:
            if exact(v):
                try:
                    return validate(v)
                except _Invalid:
                    break
        errors: list[ErrorDict] = []
        for tag, validate, _ in compiled:
            try:
                return validate(v)
            except _Invalid as e:
                errors += _under(tag, e.errors)
        raise _Invalid(errors)
    return union


def _tagged_union(members: list[Any], field: str) -> Validator:
    bases = tuple(members)
    classes: dict[Any, type[Node]] = {}  # filled on first use: the members may be building

    def tagged(v: Any) -> Any:
        if isinstance(v, bases):
            return v
        if not classes:
            for m in members:
                (tag,) = get_args(m.model_fields[field].annotation)
                classes[tag] = m
        expected = ", ".join(repr(t) for t in classes)
        if type(v) is dict or isinstance(v, Mapping):
            if field not in v:
                raise _error("union_tag_not_found", f"Unable to extract tag using discriminator "
                             f"'{field}'", v, {"discriminator": f"'{field}'"})
            tag = v[field]
        elif isinstance(v, Node):
            tag = getattr(v, field, None)
        else:
            raise _error("model_attributes_type", "Input should be a valid dictionary or object "
                         "to extract fields from", v)
        try:
            cls = classes.get(tag)
        except TypeError:
            cls = None
        if cls is None:
            raise _error("union_tag_invalid", f"Input tag '{tag}' found using '{field}' does not "
                         f"match any of the expected tags: {expected}", v,
                         {"discriminator": f"'{field}'", "tag": str(tag),
                          "expected_tags": expected})
        try:
            return cls._validate_input(v)
        except _Invalid as e:
            raise _Invalid(_under(str(tag), e.errors)) from None
    return tagged


def _constrained(inner: Validator, checks: list[Any]) -> Validator:
    tests: list[Callable[[Any], None]] = []
    for c in checks:
        if isinstance(c, Ge):
            def ge(v: Any, bound: float = c.bound) -> None:
                if v < bound:
                    raise _error("greater_than_equal", f"Input should be greater than or equal "
                                 f"to {_number(bound)}", v, {"ge": bound})
            tests.append(ge)
        elif isinstance(c, Le):
            def le(v: Any, bound: float = c.bound) -> None:
                if v > bound:
                    raise _error("less_than_equal", f"Input should be less than or equal to "
                                 f"{_number(bound)}", v, {"le": bound})
            tests.append(le)
        elif isinstance(c, MaxLen):
            def max_len(v: Any, n: int = c.length) -> None:
                if len(v) > n:
                    raise _error("string_too_long", f"String should have at most "
                                 f"{_plural(n, 'character')}", v, {"max_length": n})
            tests.append(max_len)
        elif isinstance(c, Pattern):
            # `$` ends the text, as in pydantic's (Rust) regexes
            search = re.compile(re.sub(r"\$$", r"\\Z", c.regex)).search

            def pattern(v: Any, rx: str = c.regex, search: Any = search) -> None:
                if search(v) is None:
                    raise _error("string_pattern_mismatch", f"String should match pattern "
                                 f"'{rx}'", v, {"pattern": rx})
            tests.append(pattern)

    if len(tests) == 1:  # (most fields: one bound, without a loop per value)
        test = tests[0]

        def constrained_once(v: Any) -> Any:
            out = inner(v)
            if out is not None:
                test(out)
            return out
        return constrained_once

    def constrained(v: Any) -> Any:
        out = inner(v)
        if out is not None:
            for test in tests:
                test(out)
        return out
    return constrained


def _number(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def _with_hooks(inner: Validator, before: list[Callable[[Any], Any]],
                after: list[Callable[[Any], Any]]) -> Validator:
    if len(before) == 1 and not after:  # (conditions, durations, shares: one parser before)
        first = before[0]

        def hooked_before(v: Any) -> Any:
            try:
                v = first(v)
            except (ValueError, AssertionError, CustomError) as e:
                raise _raised(e, v) from None
            return inner(v)
        return hooked_before
    before = before[::-1]

    def hooked(v: Any) -> Any:
        for fn in before:
            try:
                v = fn(v)
            except (ValueError, AssertionError, CustomError) as e:
                raise _raised(e, v) from None
        v = inner(v)
        for fn in after:
            try:
                v = fn(v)
            except (ValueError, AssertionError, CustomError) as e:
                raise _raised(e, v) from None
        return v
    return hooked


def _compile(t: Any, owner: type[Node]) -> Validator:
    """One validator function for the annotation ``t`` (of a field of ``owner``)."""
    origin = get_origin(t)
    if origin is Annotated:
        base, *meta = get_args(t)
        tag = next((m.field for m in meta if isinstance(m, Tag)), None)
        if tag is not None:
            inner = _tagged_union([a for a in get_args(base)], tag)
        elif any(isinstance(m, Finite) for m in meta):
            inner = _finite_of(base, owner)
        elif any(isinstance(m, MinLen) for m in meta):  # counted after validation, as pydantic
            n = next(m.length for m in meta if isinstance(m, MinLen))
            args = get_args(base)
            if get_origin(base) is dict:
                inner = _dict_of(_compile(args[1], owner), n)
            elif get_origin(base) is tuple and len(args) == 2 and args[1] is Ellipsis:
                inner = _tuple_of(_compile(args[0], owner), n)
            else:
                raise TypeError(f"{owner.__name__}: MinLen applies to tuple[X, ...] and dict")
        else:
            inner = _compile(base, owner)
        checks = [m for m in meta if isinstance(m, (Ge, Le, MaxLen, Pattern))]
        if checks:
            inner = _constrained(inner, checks)
        before = [m.fn for m in meta if isinstance(m, Before)]
        after = [m.fn for m in meta if isinstance(m, After)]
        return _with_hooks(inner, before, after) if before or after else inner
    if t in _SCALARS:
        return _SCALARS[t]
    if t is Any:
        return _any
    if isinstance(t, type) and issubclass(t, Node):
        return t._validate_input
    if origin is Literal:
        return _literal(get_args(t))
    if origin in (Union, types.UnionType):
        members = [a for a in get_args(t) if a is not type(None)]
        inner = _compile(members[0], owner) if len(members) == 1 else \
            _smart_union(members, owner)
        return _nullable(inner) if len(members) < len(get_args(t)) else inner
    if origin is tuple:
        args = get_args(t)
        if len(args) == 2 and args[1] is Ellipsis:
            return _tuple_of(_compile(args[0], owner))
        return _fixed_tuple([_compile(a, owner) for a in args])
    if origin is dict:
        return _dict_of(_compile(get_args(t)[1], owner))
    raise TypeError(f"{owner.__name__}: no validator for the annotation {t!r}")


def _kept(t: Any) -> frozenset[type]:
    """The types of value that the validator of the annotation ``t`` returns as they are (the
    same object): such a value needs no call to it. Empty where that is not plain."""
    origin = get_origin(t)
    if origin is Annotated:
        base, *meta = get_args(t)
        tag = next((m for m in meta if isinstance(m, Tag)), None)
        kept = frozenset(get_args(base)) if tag is not None else _kept(base)
        for m in meta:
            if isinstance(m, Before) and m.keeps_nodes:
                kept = frozenset(k for k in kept if issubclass(k, Node))
            elif not isinstance(m, (Alias, Serialize, JsonSchema, Tag)):
                return frozenset()  # bounds, patterns, hooks: the value is looked at
        return kept
    if t in (str, int, bool, float, datetime.date):  # (each returns its exact type as it is)
        return frozenset((t,))
    if isinstance(t, type) and issubclass(t, Node):
        return frozenset((t,))  # (an instance of the class is never validated again)
    if origin in (Union, types.UnionType):
        members = [a for a in get_args(t) if a is not type(None)]
        if len(members) == 1 and len(members) < len(get_args(t)):  # X | None
            return _kept(members[0]) | {type(None)}
    return frozenset()  # smart unions (which member takes a value), tuples, literals, …


def _finite_of(t: Any, owner: type[Node]) -> Validator:
    """A float (or optional float) that must be finite."""
    if t is float:
        return _finite
    members = [a for a in get_args(t) if a is not type(None)]
    if members == [float]:
        return _nullable(_finite)
    return _compile(t, owner)


# ------------------------------------------------------------------------- serializers


def _serializer(t: Any) -> Callable[[Any], Any] | None:
    """The field's own serializer (a ``Serialize`` marker), if it has one."""
    if get_origin(t) is Annotated:
        for m in get_args(t)[1:]:
            if isinstance(m, Serialize):
                return m.fn
        t = get_args(t)[0]
    if get_origin(t) in (Union, types.UnionType):
        for a in get_args(t):
            found = _serializer(a) if a is not type(None) else None
            if found is not None:
                return found
    return None


def _dump(v: Any, json_mode: bool, by_alias: bool, exclude_none: bool,
          exclude_defaults: bool) -> Any:
    if isinstance(v, Node):
        return v.model_dump(mode="json" if json_mode else "python", by_alias=by_alias,
                            exclude_none=exclude_none, exclude_defaults=exclude_defaults)
    if isinstance(v, (tuple, list)):
        items = [_dump(x, json_mode, by_alias, exclude_none, exclude_defaults) for x in v]
        return items if json_mode or isinstance(v, list) else tuple(items)
    if isinstance(v, dict):
        return {k: _dump(x, json_mode, by_alias, exclude_none, exclude_defaults)
                for k, x in v.items()}
    if json_mode and isinstance(v, datetime.date):
        return v.isoformat()
    return v


# ------------------------------------------------------------------------------ the base


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


#: The default of a required field.
MISSING: Any = _Missing()


class FieldInfo:
    """A field of a node class: its name, the key it is written with, its full annotation
    (with its markers) and its default (:data:`MISSING` when required)."""

    __slots__ = ("alias", "annotation", "default", "json_schema", "name", "serialize", "validate")

    def __init__(self, name: str, annotation: Any, default: Any, owner: type[Node]):
        self.name, self.annotation, self.default = name, annotation, default
        meta = get_args(annotation)[1:] if get_origin(annotation) is Annotated else ()
        self.alias: str | None = next((m.name for m in meta if isinstance(m, Alias)), None)
        self.validate = _compile(annotation, owner)
        self.serialize = _serializer(annotation)

    def is_required(self) -> bool:
        """Whether the field has no default."""
        return self.default is MISSING

    def get_default(self, *, call_default_factory: bool = False) -> Any:
        """The default (:data:`MISSING` when required), as pydantic's ``FieldInfo`` gives it."""
        return self.default

    def __repr__(self) -> str:
        return f"FieldInfo(annotation={self.annotation!r}, default={self.default!r})"


class _Spec:
    """What a node class validates with, built when the class is first used."""

    __slots__ = ("aliased", "by_key", "fields", "keys", "mutable", "plan", "required",
                 "template")

    def __init__(self, cls: type[Node]):
        hints = get_type_hints(cls, vars(sys.modules[cls.__module__]), include_extras=True)
        self.fields: dict[str, FieldInfo] = {}
        for name, annotation in hints.items():
            if get_origin(annotation) is ClassVar or name.startswith("_") or \
                    name.startswith("model_"):
                continue
            default = cls.__dict__.get(name, MISSING) if name in cls.__dict__ else \
                next((vars(b)[name] for b in cls.__mro__ if name in vars(b)), MISSING)
            self.fields[name] = FieldInfo(name, annotation, default, cls)
        self.plan = tuple((f.name, f.alias, f.validate, f.default, f.default is MISSING,
                           isinstance(f.default, (dict, list)))
                          for f in self.fields.values())
        self.keys = frozenset(self.fields) | {f.alias for f in self.fields.values() if f.alias}
        # What a plain dict is validated with (:func:`_validate_fields`): the fields' defaults
        # in their order (MISSING for the required ones), each key's field and validator.
        self.template = {f.name: f.default for f in self.fields.values()}
        self.by_key: dict[Any, tuple[str, Validator, frozenset[type]]] = {}
        for f in self.fields.values():
            self.by_key[f.name] = (f.name, f.validate, _kept(f.annotation))
            if f.alias is not None:
                self.by_key[f.alias] = self.by_key[f.name]
        self.required = tuple(f.name for f in self.fields.values() if f.default is MISSING)
        self.aliased = tuple((f.alias, f.name) for f in self.fields.values() if f.alias)
        self.mutable = tuple((f.name, f.default) for f in self.fields.values()
                             if isinstance(f.default, (dict, list)))


class _NodeMeta(type):
    @property
    def model_fields(cls) -> dict[str, FieldInfo]:
        """The fields, by name, in the order they are declared."""
        return _spec(cls).fields  # type: ignore[arg-type]


def _spec(cls: type[Node]) -> _Spec:
    spec: _Spec | None = cls.__dict__.get("_spec_")
    if spec is None:
        spec = _Spec(cls)
        type.__setattr__(cls, "_spec_", spec)
    return spec


@dataclass_transform(kw_only_default=True, frozen_default=True)
class Node(metaclass=_NodeMeta):
    """A small frozen record with validated fields (subclass it, annotate the fields)."""

    def __init__(self, **data: Any) -> None:
        try:
            values = _validate_fields(type(self), data)
        except _Invalid as e:
            raise ValidationError(type(self).__name__, e.errors) from None
        object.__setattr__(self, "__dict__", values)

    # ------------------------------------------------------------------ pydantic's API

    @classmethod
    def model_validate(cls: type[_N], obj: Any) -> _N:
        """``obj`` (a mapping of field names or aliases, or a node of this class) validated."""
        try:
            return cls._validate_input(obj)
        except _Invalid as e:
            raise ValidationError(cls.__name__, e.errors) from None

    @classmethod
    def _validate_input(cls: type[_N], obj: Any) -> _N:
        if isinstance(obj, cls):
            return obj
        if type(obj) is not dict and not isinstance(obj, Mapping):
            raise _error("model_type", f"Input should be a valid dictionary or instance of "
                         f"{cls.__name__}", obj, {"class_name": cls.__name__})
        node = object.__new__(cls)
        object.__setattr__(node, "__dict__", _validate_fields(cls, obj))
        return node

    @classmethod
    def model_construct(cls: type[_N], **values: Any) -> _N:
        """A node of these values, not validated (defaults fill the fields not given)."""
        node = object.__new__(cls)
        data = {}
        for name, f in _spec(cls).fields.items():
            if name in values:
                data[name] = values[name]
            elif f.alias is not None and f.alias in values:
                data[name] = values[f.alias]
            elif f.default is not MISSING:
                data[name] = f.default
        object.__setattr__(node, "__dict__", data)
        return node

    def model_copy(self: _N, *, update: Mapping[str, Any] | None = None, deep: bool = False
                   ) -> _N:
        """A copy with the fields in ``update`` replaced (not validated, as pydantic's)."""
        import copy

        node = object.__new__(type(self))
        data = copy.deepcopy(self.__dict__) if deep else dict(self.__dict__)
        if update:
            data.update(update)
        object.__setattr__(node, "__dict__", data)
        return node

    def model_dump(self, *, mode: Literal["python", "json"] | str = "python",
                   by_alias: bool = False, exclude_none: bool = False,
                   exclude_defaults: bool = False) -> dict[str, Any]:
        """The node as plain data: nested nodes as dicts, serializers applied; in ``json``
        mode tuples as lists and dates as ISO text."""
        json_mode = mode == "json"
        out = {}
        fields = _spec(type(self)).fields
        for name, value in self.__dict__.items():
            f = fields.get(name)
            if exclude_none and value is None:
                continue
            if exclude_defaults and f is not None and f.default is not MISSING and \
                    value == f.default:
                continue
            key = (f.alias or name) if by_alias and f is not None else name
            if f is not None and f.serialize is not None and value is not None:
                out[key] = f.serialize(value)
            else:
                out[key] = _dump(value, json_mode, by_alias, exclude_none, exclude_defaults)
        return out

    def model_dump_json(self, *, by_alias: bool = False, indent: int | None = None,
                        exclude_none: bool = False, exclude_defaults: bool = False) -> str:
        """The node as JSON text (compact, unless ``indent``)."""
        import json

        data = self.model_dump(mode="json", by_alias=by_alias, exclude_none=exclude_none,
                               exclude_defaults=exclude_defaults)
        if indent is None:
            return json.dumps(data, ensure_ascii=False, separators=(",", ":"))
        return json.dumps(data, ensure_ascii=False, indent=indent)

    # ------------------------------------------------------------------ value semantics

    def __setattr__(self, name: str, value: Any) -> None:
        raise ValidationError(type(self).__name__, [{
            "type": "frozen_instance", "loc": (name,), "msg": "Instance is frozen",
            "input": value}])

    def __delattr__(self, name: str) -> None:
        raise ValidationError(type(self).__name__, [{
            "type": "frozen_instance", "loc": (name,), "msg": "Instance is frozen",
            "input": None}])

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented if not isinstance(other, Node) else False
        return self.__dict__ == other.__dict__

    def __hash__(self) -> int:
        return hash((type(self), *self.__dict__.values()))

    def __iter__(self) -> Iterator[tuple[str, Any]]:
        yield from self.__dict__.items()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.__repr_fields__(', ')})"

    def __str__(self) -> str:
        return self.__repr_fields__(" ")

    def __repr_fields__(self, sep: str) -> str:
        return sep.join(f"{k}={v!r}" for k, v in self.__dict__.items())

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), self.__dict__))


def _rebuild(cls: type[_N], values: dict[str, Any]) -> _N:
    """A node from pickled values (not validated again)."""
    node = object.__new__(cls)
    object.__setattr__(node, "__dict__", values)
    return node


def trusted(cls: type[_N], values: dict[str, Any]) -> _N:
    """A node of ``cls`` holding ``values`` as they are, not validated: for a caller that has
    made each value exactly what validating it would give. ``values`` holds every field, in the
    order the class declares them (the order dumps keep); it becomes the node's own.

    >>> class Point(Node):
    ...     x: int
    ...     label: str = ""
    >>> trusted(Point, {"x": 3, "label": ""}) == Point(x=3)
    True
    """
    node = _new(cls)
    _set(node, "__dict__", values)
    return node


_new = object.__new__
_set = object.__setattr__


def _validate_fields(cls: type[Node], data: Mapping[str, Any]) -> dict[str, Any]:
    """The validated fields of ``cls`` from ``data``; :class:`_Invalid` with every error, in
    pydantic's order (the fields' order, then the keys no field takes)."""
    spec = cls.__dict__.get("_spec_") or _spec(cls)
    if type(data) is not dict:
        return _validate_in_order(spec, data)
    for alias, name in spec.aliased:
        if alias in data and name in data:
            return _validate_in_order(spec, data)
    # A plain dict whose keys are all fields': each value validated as it comes (the defaults
    # are in place already), the errors then put in the fields' order.
    out = spec.template.copy()
    by_key = spec.by_key
    failed: dict[str, tuple[Any, list[ErrorDict]]] | None = None
    for key, value in data.items():
        field = by_key.get(key)
        if field is None:  # a key no field takes: an error, reported in its place below
            return _validate_in_order(spec, data)
        name, validate, kept = field
        if type(value) in kept:  # what validating it would return: the value itself
            out[name] = value
            continue
        try:
            out[name] = validate(value)
        except _Invalid as e:
            if failed is None:
                failed = {}
            failed[name] = (key, e.errors)
    missing = False
    for name in spec.required:
        if out[name] is MISSING:
            missing = True
    if failed is None and not missing:
        for name, default in spec.mutable:
            if out[name] is default:
                out[name] = default.copy()
        return out
    errors: list[ErrorDict] = []
    for name, alias, _, _, required, _ in spec.plan:
        got = failed.get(name) if failed is not None else None
        if got is not None:
            errors += _under(got[0], got[1])
        elif required and out[name] is MISSING:
            errors.append({"type": "missing", "loc": (alias or name,), "msg": "Field required",
                           "input": data})
    raise _Invalid(errors)


def _validate_in_order(spec: _Spec, data: Mapping[str, Any]) -> dict[str, Any]:
    """:func:`_validate_fields` of any mapping, field by field."""
    out: dict[str, Any] = {}
    errors: list[ErrorDict] | None = None
    found = 0
    shadowed: tuple[str, ...] = ()  # a name beside its alias: the alias is read, the name extra
    for name, alias, validate, default, required, mutable in spec.plan:
        if alias is not None and alias in data:
            key: str = alias
            if name in data:
                shadowed += (name,)
        elif name in data:
            key = name
        else:
            if required:
                errors = errors or []
                errors.append({"type": "missing", "loc": (alias or name,), "msg": "Field required",
                               "input": data})
            else:
                out[name] = default.copy() if mutable else default
            continue
        found += 1
        try:
            out[name] = validate(data[key])
        except _Invalid as e:
            errors = (errors or []) + _under(key, e.errors)
    if found != len(data):
        for key in data:
            if key not in spec.keys or key in shadowed:
                errors = errors or []
                errors.append({"type": "extra_forbidden", "loc": (key,),
                               "msg": "Extra inputs are not permitted", "input": data[key]})
    if errors:
        raise _Invalid(errors)
    return out
