"""``epcsim trace``: analyse a page trace before any timing simulation.

For a trace file (.npy, .npz, .csv, or a Valgrind lackey log) or a scenario (its first
enclave's page trace, generated with ``--accesses N`` touches from the operation mix), print the
working-set size (pages and MiB), the miss ratio of each replacement policy at one EPC size
(``--epc 93MiB``; Version Array pages are not counted, so the policies compare as caches), the
exact LRU miss-ratio curve's knee (see :func:`epcsim.epc.mrc.knee`) and the LRU miss ratio read
off that curve. Page numbers of a real trace are renumbered 0, 1, ... in order of first touch.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np

from epcsim.cli import options
from epcsim.errors import EpcsimError

PAGE_BYTES = 4096
_SCENARIO_SUFFIXES = (".yaml", ".yml")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("trace", help="working set, miss ratios and EPC knee of a page trace",
                       description=__doc__)
    p.add_argument("source", help="trace file (.npy, .npz, .csv, .lackey) or scenario (.yaml)")
    p.add_argument("--epc", default=options.epc_pages("93 MiB"), type=options.epc_pages,
                   help="EPC size for the per-policy miss ratios: bytes with a unit (93MiB) "
                        "or a number of pages (default: 93 MiB)")
    p.add_argument("--policy", action="append", choices=["lru", "fifo", "clock", "linux",
                                                         "random"],
                   help="policy to replay (repeatable; default: all)")
    p.add_argument("--values", choices=["pages", "addresses"],
                   help="what the numbers in the file are (default: from the CSV header or "
                        ".npz name, else pages)")
    p.add_argument("--lackey", action="store_true",
                   help="the file is a Valgrind lackey log (valgrind --tool=lackey "
                        "--trace-mem=yes)")
    p.add_argument("--include-instructions", action="store_true",
                   help="lackey: count instruction fetches too")
    p.add_argument("--accesses", type=options.int_in(1, options.MAX_TRACE_ACCESSES),
                   default=1_000_000,
                   help="scenario input: page touches to generate (default 1000000, at most "
                        f"{options.MAX_TRACE_ACCESSES:,})")
    p.add_argument("--seed", type=options.int_in(0, 2**63 - 1), default=None,
                   help="scenario input: root seed (default: the scenario's)")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    from epcsim.scenario.overrides import add_set_argument

    add_set_argument(p)  # --set key.path=value, for scenario input
    p.set_defaults(func=main)


def scenario_trace(path: Path, accesses: int, seed: int | None,
                   overrides: list[str] | tuple[str, ...] = ()) -> tuple[np.ndarray, int, str]:
    """The first enclave's page offsets for ``accesses`` touches of a scenario file's mix
    (see :func:`epcsim.study.page_trace.scenario_page_trace`)."""
    from epcsim.scenario import load_scenario
    from epcsim.study.page_trace import scenario_page_trace

    return scenario_page_trace(load_scenario(path, overrides), accesses, seed)


def analyse(pages: np.ndarray, n_pages: int, epc_pages: int,
            policies: list[str]) -> dict[str, Any]:
    """Working set, per-policy miss ratios at ``epc_pages`` and the LRU MRC knee."""
    from epcsim.epc import replay
    from epcsim.epc.mrc import knee, lru_miss_ratio_curve

    caps, mr = lru_miss_ratio_curve(pages, n_pages)
    working_set = int(caps[-1])
    knee_pages = knee(caps, mr)
    out: dict[str, Any] = {
        "accesses": int(pages.shape[0]),
        "working_set_pages": working_set,
        "working_set_mib": working_set * PAGE_BYTES / 2**20,
        "epc_pages": epc_pages,
        "epc_mib": epc_pages * PAGE_BYTES / 2**20,
        "knee_pages": knee_pages,
        "knee_mib": knee_pages * PAGE_BYTES / 2**20,
        "lru_mrc_miss_ratio_at_epc": float(mr[min(epc_pages, working_set)]),
        "cold_miss_ratio": float(mr[-1]),
        "miss_ratio": {},
    }
    for policy in policies:
        stats = replay(pages, epc_pages, policy, enclave_pages=n_pages)
        out["miss_ratio"][policy] = stats.miss_ratio
    return out


def main(args: argparse.Namespace) -> int:
    from epcsim.traces import dense_pages, load_page_trace, read_lackey

    path = Path(args.source)
    epc_pages = int(args.epc)
    policies = args.policy or ["lru", "fifo", "clock", "linux", "random"]
    source: dict[str, Any] = {"file": str(path)}
    if path.suffix.lower() in _SCENARIO_SUFFIXES:
        pages, n_pages, enclave = scenario_trace(path, args.accesses, args.seed, args.set)
        source.update(kind="scenario", enclave=enclave, enclave_pages=n_pages)
    else:
        if args.set:
            raise EpcsimError("--set: overrides apply to a scenario (.yaml), not to a trace "
                              f"file ({path.name})")
        if args.lackey:
            raw = read_lackey(path, include_instructions=args.include_instructions)
        else:
            raw = load_page_trace(path, values=args.values)
        pages, _ = dense_pages(raw)
        n_pages = int(pages.max()) + 1
        source.update(kind="trace")
    result = {"source": source, **analyse(pages, n_pages, epc_pages, policies)}
    if args.json:
        from epcsim.cli.jsonout import emit, stream

        emit({"format": "epcsim.trace/1", **result}, stream(args))
        return 0
    print(f"trace:        {path} ({result['accesses']:,} touches"
          + (f", enclave {source['enclave']}" if "enclave" in source else "") + ")")
    print(f"working set:  {result['working_set_pages']:,} pages "
          f"({result['working_set_mib']:.1f} MiB)")
    print(f"LRU knee:     {result['knee_pages']:,} pages ({result['knee_mib']:.1f} MiB)")
    print(f"EPC:          {epc_pages:,} pages ({result['epc_mib']:.1f} MiB)")
    print("miss ratio at this EPC (first touches included; VA pages not counted):")
    for policy, value in result["miss_ratio"].items():
        print(f"  {policy:<7} {value:8.4f}")
    print(f"  (LRU from the exact miss-ratio curve: {result['lru_mrc_miss_ratio_at_epc']:.4f}; "
          f"first touches alone: {result['cold_miss_ratio']:.4f})")
    return 0
