"""@dataclass for syncd's own classes, without the standard one's start-up cost.

The standard @dataclass writes each class's methods (__init__, __repr__, __eq__, and for a frozen
class __setattr__, __delattr__, __hash__) as source text and compiles them while the module is
imported: about 1 ms per class on a small server, and `dataclasses` imports `inspect` (~10 ms more).
`syncd sync` imports some twenty such classes before its first step (docs/benchmarks.md). Here the
methods are functions that loop over the class's fields, made without compiling anything, so a class
costs microseconds; `typing.dataclass_transform` has mypy check these classes as dataclasses.

    from syncd.records import asdict, dataclass, field, fields, replace   # as from dataclasses

It does what syncd's classes use: fields from the class's annotations, defaults,
field(default=..., default_factory=..., repr=False), frozen=True; fields(), asdict() (of plain
values, lists, tuples, dicts and records) and replace(). No base classes with fields, no
__post_init__, InitVar, order, slots or keyword-only fields: use the standard module for those
(a record class that inherits from another is refused). tests/unit/test_records.py compares both.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, dataclass_transform, overload

C = TypeVar("C", bound=type)


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()  # no default given (dataclasses.MISSING)


class FrozenInstanceError(AttributeError):
    """Assigning to a field of a frozen record (dataclasses.FrozenInstanceError)."""


class Field:
    """One field of a record: its name, default or default factory, and whether repr() shows it."""

    __slots__ = ("name", "default", "default_factory", "repr")

    def __init__(self, default: Any = MISSING, default_factory: Any = MISSING, repr: bool = True) -> None:
        if default is not MISSING and default_factory is not MISSING:
            raise ValueError("cannot specify both default and default_factory")
        self.name = ""
        self.default, self.default_factory, self.repr = default, default_factory, repr

    def __repr__(self) -> str:
        return (
            f"Field(name={self.name!r}, default={self.default!r}, default_factory={self.default_factory!r})"
        )


def field(
    *, default: Any = MISSING, default_factory: Callable[[], Any] | Any = MISSING, repr: bool = True
) -> Any:
    """As dataclasses.field (only these arguments)."""
    return Field(default, default_factory, repr)


@overload
def dataclass(cls: C, /) -> C: ...
@overload
def dataclass(*, frozen: bool = False) -> Callable[[C], C]: ...


@dataclass_transform(field_specifiers=(field, Field))
def dataclass(cls: C | None = None, /, *, frozen: bool = False) -> C | Callable[[C], C]:
    """As dataclasses.dataclass (eq=True, repr=True; frozen as asked)."""
    if cls is None:
        return lambda c: _build(c, frozen)
    return _build(cls, frozen)


def fields(record: Any) -> tuple[Field, ...]:
    """The fields of a record class or instance, in order (dataclasses.fields)."""
    try:
        found: tuple[Field, ...] = record.__record_fields__
    except AttributeError:
        raise TypeError(
            "must be called with a record (syncd.records.dataclass) or an instance of one"
        ) from None
    return found


def asdict(record: Any) -> dict[str, Any]:
    """A record as a dict, records inside it too (dataclasses.asdict, for plain values)."""
    return {f.name: _plain(getattr(record, f.name)) for f in fields(record)}


def replace(record: Any, /, **changes: Any) -> Any:
    """A copy of `record` with `changes` (dataclasses.replace)."""
    values = {f.name: getattr(record, f.name) for f in fields(record)}
    values.update(changes)
    return type(record)(**values)


def _plain(value: Any) -> Any:
    if hasattr(type(value), "__record_fields__"):
        return asdict(value)
    if isinstance(value, (list, tuple)):
        return type(value)(_plain(v) for v in value)
    if isinstance(value, dict):
        return {_plain(k): _plain(v) for k, v in value.items()}
    return value


def _build(cls: C, frozen: bool) -> C:
    if any("__record_fields__" in base.__dict__ for base in cls.__mro__[1:]):
        raise TypeError(f"{cls.__name__}: a record's fields are not inherited here; use dataclasses")
    own = cls.__dict__
    found: list[Field] = []
    for name, annotation in own.get("__annotations__", {}).items():
        if str(annotation).startswith(("ClassVar", "typing.ClassVar")):
            continue  # a class attribute, not a field
        value = own.get(name, MISSING)
        spec = value if isinstance(value, Field) else Field(default=value)
        spec.name = name
        if isinstance(value, Field):  # the class attribute is the default, as with dataclasses
            if spec.default is MISSING:
                delattr(cls, name)
            else:
                setattr(cls, name, spec.default)
        if type(spec.default).__hash__ is None:  # a list, dict or set would be shared by all instances
            raise ValueError(
                f"mutable default {type(spec.default)} for field {name} is not allowed: use default_factory"
            )
        if found and spec.default is MISSING and spec.default_factory is MISSING:
            if any(f.default is not MISSING or f.default_factory is not MISSING for f in found):
                raise TypeError(f"non-default argument {name!r} follows default argument")
        found.append(spec)
    specs = tuple(found)
    names = tuple(f.name for f in specs)
    shown = tuple(f.name for f in specs if f.repr)
    cls.__record_fields__ = specs  # type: ignore[attr-defined]
    cls.__match_args__ = names  # type: ignore[attr-defined,misc]
    methods: dict[str, Any] = {
        "__init__": _init(cls, specs),
        "__repr__": lambda self: (
            f"{type(self).__qualname__}(" + ", ".join(f"{n}={getattr(self, n)!r}" for n in shown) + ")"
        ),
        "__eq__": lambda self, other: (
            tuple(getattr(self, n) for n in names) == tuple(getattr(other, n) for n in names)
            if other.__class__ is self.__class__
            else NotImplemented
        ),
    }
    if frozen:
        methods["__setattr__"] = _refuse_assignment(cls, names)
        methods["__delattr__"] = _refuse_assignment(cls, names)
        methods["__hash__"] = lambda self: hash(tuple(getattr(self, n) for n in names))
    for method, function in methods.items():
        if method in own:
            if frozen and method in ("__setattr__", "__delattr__"):
                raise TypeError(f"cannot overwrite attribute {method} in class {cls.__name__}")
            continue  # the class's own method wins, as with dataclasses
        function.__qualname__ = f"{cls.__qualname__}.{method}"
        setattr(cls, method, function)
    if not frozen and "__hash__" not in own:
        cls.__hash__ = None  # type: ignore[assignment]  # mutable and compared by value: unhashable
    return cls


def _init(cls: type, specs: tuple[Field, ...]) -> Callable[..., None]:
    names = tuple(f.name for f in specs)
    known = frozenset(names)
    assign = object.__setattr__  # also for a frozen record, whose own __setattr__ refuses

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        if len(args) > len(names):
            raise TypeError(
                f"{cls.__qualname__}.__init__() takes {len(names) + 1} positional arguments "
                f"but {len(args) + 1} were given"
            )
        for key in kwargs:
            if key not in known:
                raise TypeError(f"{cls.__qualname__}.__init__() got an unexpected keyword argument {key!r}")
        for spec, value in zip(specs, args):
            if spec.name in kwargs:
                raise TypeError(
                    f"{cls.__qualname__}.__init__() got multiple values for argument {spec.name!r}"
                )
            assign(self, spec.name, value)
        for spec in specs[len(args) :]:
            if spec.name in kwargs:
                assign(self, spec.name, kwargs[spec.name])
            elif spec.default is not MISSING:
                assign(self, spec.name, spec.default)
            elif spec.default_factory is not MISSING:
                assign(self, spec.name, spec.default_factory())
            else:
                raise TypeError(f"{cls.__qualname__}.__init__() missing required argument: {spec.name!r}")

    return __init__


def _refuse_assignment(cls: type, names: tuple[str, ...]) -> Callable[..., None]:
    def refuse(self: Any, name: str, *value: Any) -> None:
        if type(self) is cls or name in names:
            raise FrozenInstanceError(f"cannot {'assign to' if value else 'delete'} field {name!r}")
        parent: Any = cls.__mro__[1]  # a subclass's own attribute
        if value:
            parent.__setattr__(self, name, *value)
        else:
            parent.__delattr__(self, name)

    return refuse
