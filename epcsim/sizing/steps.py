"""Searches as step generators, so that independent searches share batches of evaluations.

A search (one size's capacity, a whole decision over sizes, the EPC knee) is written as a
generator that yields the list of evaluations it needs next and receives their outcomes (in
the same order), until it returns its result::

    def search() -> Steps[float]:
        low, high = yield [(vm, 100.0, {}), (vm, 200.0, {})]
        ...
        return capacity

:func:`drive` runs one search against a :class:`~epcsim.sizing.evaluator.CachedEvaluator`;
:func:`gather` runs several in lockstep (each round, every unfinished search asks for its
next points, and all of them form one batch). A search's result depends only on the outcomes
it receives, never on how a batch was split or in which order its evaluations finished, so
the answer is the same with one worker or many.
"""
from __future__ import annotations

from collections.abc import Callable, Generator, Sequence
from typing import Any, TypeVar

from epcsim.sizing.evaluator import CachedEvaluator, Outcome, Request

T = TypeVar("T")
#: A search: yields requests, receives their outcomes, returns its result.
Steps = Generator[list[Request], list[Outcome], T]


def drive(steps: Steps[T], ev: CachedEvaluator) -> T:
    """Run ``steps`` to its end, answering each batch with ``ev.evaluate_many``."""
    try:
        requests = next(steps)
        while True:
            requests = steps.send(ev.evaluate_many(requests))
    except StopIteration as stop:
        return stop.value


def gather(searches: Sequence[Steps[Any]],
           on_round: Callable[[dict[int, Any]], Sequence[int]] | None = None,
           ) -> Steps[list[Any]]:
    """Run ``searches`` in lockstep; return their results in order.

    ``on_round(finished)``, called after every round with {index: result} of the searches
    finished so far, returns the indices of unfinished searches to stop (their result is
    None): the pruning of a decision over sizes.
    """
    active = dict(enumerate(searches))
    results: dict[int, Any] = {}
    pending: dict[int, list[Request]] = {}
    for i, search in list(active.items()):
        try:
            pending[i] = next(search)
        except StopIteration as stop:
            results[i] = stop.value
    while pending:
        if on_round is not None:
            for i in on_round(dict(results)):
                if i in pending:
                    active[i].close()
                    del pending[i]
                    results[i] = None
            if not pending:
                break
        order = sorted(pending)
        outcomes = yield [r for i in order for r in pending[i]]
        pos = 0
        after: dict[int, list[Request]] = {}
        for i in order:
            n = len(pending[i])
            try:
                after[i] = active[i].send(outcomes[pos:pos + n])
            except StopIteration as stop:
                results[i] = stop.value
            pos += n
        pending = after
    return [results.get(i) for i in range(len(searches))]


def done(value: T) -> Steps[T]:
    """A search that needs no evaluation and returns ``value``."""
    return value
    yield []  # pragma: no cover - makes this a generator
