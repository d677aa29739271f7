"""syncd/records.py makes classes that behave as the standard @dataclass's (what syncd uses of it)."""

from __future__ import annotations

import dataclasses

import pytest

from syncd import records


def pair(frozen: bool):
    """The same class made by both: records' and the standard one."""

    def make(decorate, field):
        @decorate(frozen=frozen)
        class Sample:
            path: str
            count: int = 0
            tags: list[str] = field(default_factory=list)
            secret: str = field(default="", repr=False)

        return Sample

    return make(records.dataclass, records.field), make(dataclasses.dataclass, dataclasses.field)


@pytest.mark.parametrize("frozen", [False, True])
def test_init_repr_eq_as_dataclasses(frozen):
    ours, theirs = pair(frozen)
    for args, kwargs in (((("a",)), {}), (("a", 2), {"tags": ["x"]}), ((), {"path": "b", "secret": "s"})):
        a, b = ours(*args, **kwargs), theirs(*args, **kwargs)
        assert repr(a) == repr(b)  # the secret field is not shown
        assert [getattr(a, f.name) for f in records.fields(a)] == [
            getattr(b, f.name) for f in dataclasses.fields(b)
        ]
        assert records.asdict(a) == dataclasses.asdict(b)
        assert a == ours(*args, **kwargs) and a != ours("other")
        assert a.__eq__(b) is NotImplemented  # another class is never equal
    assert ours("a").tags is not ours("a").tags  # a default factory per instance
    assert ours.__match_args__ == theirs.__match_args__
    for bad in ((), ("a", 1, [], "s", "extra")):
        with pytest.raises(TypeError):
            ours(*bad)
    with pytest.raises(TypeError):
        ours("a", path="b")
    with pytest.raises(TypeError):
        ours("a", colour="red")


def test_frozen_refuses_assignment_and_hashes_by_value():
    ours, _ = pair(frozen=True)
    a = ours("a", 1, ())  # a tuple instead of the list: hashable
    with pytest.raises(records.FrozenInstanceError, match="cannot assign to field .count."):
        a.count = 2
    with pytest.raises(records.FrozenInstanceError, match="cannot delete field 'count'"):
        del a.count
    assert hash(a) == hash(ours("a", 1, ()))
    assert records.replace(a, count=5) == ours("a", 5, ())


def test_mutable_is_unhashable_and_assignable():
    ours, theirs = pair(frozen=False)
    a = ours("a")
    a.count = 3
    assert a.count == 3
    assert ours.__hash__ is None and theirs.__hash__ is None


def test_what_dataclasses_refuse_is_refused():
    with pytest.raises(ValueError, match="mutable default"):

        @records.dataclass
        class Shared:
            items: list[str] = []

    with pytest.raises(TypeError, match="non-default argument"):

        @records.dataclass
        class Order:
            first: int = 0
            second: int

    @records.dataclass
    class Base:
        a: int

    with pytest.raises(TypeError, match="not inherited"):

        @records.dataclass
        class Child(Base):
            b: int
