"""``ServingView``: states parsed lazily, identifier index, alias chains."""

from __future__ import annotations

import threading

from sink_factory import state

from signalfold.sinks.view import ServingView


def test_state_is_parsed_on_first_read_and_replaced_by_newer_json() -> None:
    view = ServingView()
    view.apply(states=[("c1", state("c1", version=1))])
    first = view.state("c1")
    assert first is not None and first.version == 1
    assert view.state("c1") is first  # parsed once
    view.apply(states=[("c1", state("c1", version=2))])
    second = view.state("c1")
    assert second is not None and second.version == 2


def test_tombstones_delete() -> None:
    view = ServingView()
    view.apply(states=[("c1", state("c1"))], index=[("email:a@b.co", "c1")])
    view.apply(states=[("c1", None)], index=[("email:a@b.co", None)])
    assert view.state("c1") is None
    assert view.lookup("email:a@b.co") is None


def test_alias_chains_resolve_to_the_last_survivor() -> None:
    view = ServingView()
    view.apply(aliases=[("a", "b"), ("b", "c")], index=[("email:x@y.co", "a")])
    assert view.resolve("a") == "c"
    assert view.resolve("c") == "c"
    assert view.resolve("unknown") == "unknown"
    assert view.lookup("email:x@y.co") == "c"
    assert view.members("c") == ["c", "b", "a"]
    assert view.is_alias("a") and not view.is_alias("c")


def test_an_alias_can_move_and_be_removed() -> None:
    view = ServingView()
    view.apply(aliases=[("a", "b")])
    view.apply(aliases=[("a", "c")])
    assert view.members("b") == ["b"]
    assert view.members("c") == ["c", "a"]
    view.apply(aliases=[("a", None)])
    assert view.resolve("a") == "a"
    assert view.members("c") == ["c"]


def test_a_cycle_does_not_hang() -> None:
    view = ServingView()
    view.apply(aliases=[("a", "b"), ("b", "a")])
    assert view.resolve("a") == "b"
    assert sorted(view.members("a")) == ["a", "b"]


def test_a_reader_and_a_writer_can_share_it() -> None:
    view = ServingView()
    stop = threading.Event()
    errors: list[BaseException] = []

    def read() -> None:
        try:
            while not stop.is_set():
                found = view.lookup("email:x@y.co")
                if found is not None:
                    view.state(found)
                    view.members(found)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    reader = threading.Thread(target=read)
    reader.start()
    for n in range(2000):
        view.apply(
            states=[(f"c{n}", state(f"c{n}", version=n))],
            index=[("email:x@y.co", f"c{n}")],
            aliases=[(f"c{n - 1}", f"c{n}")] if n else [],
        )
    stop.set()
    reader.join()
    assert errors == []
    assert view.resolve("c0") == "c1999"
