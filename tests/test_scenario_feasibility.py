"""Check before run: every error the model can raise on a scenario's input is refused first
by the scenario layer (``epcsim check`` exit 2), never by a run (exit 1 after "ok").

:data:`MODEL_ERRORS` pairs each error message the timing model and the EPC engine can raise
(read from their source with :mod:`ast`, so a new model check without a scenario check fails
:func:`test_every_model_error_has_a_row`) with a scenario mutation that would provoke it, and
the key path the scenario layer must name instead; or with the reason no scenario can
provoke it (a setting the format does not expose, an engine API contract).
"""

from __future__ import annotations

import ast
import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from epcsim.errors import ScenarioError
from epcsim.scenario import load_scenario, plan_study

ROOT = Path(__file__).parent.parent
DATA = Path(__file__).parent / "bad_scenarios" / "data"
SOURCES = [ROOT / "epcsim" / "model" / "config.py", ROOT / "epcsim" / "model" / "startup.py",
           ROOT / "epcsim" / "model" / "simulate.py", ROOT / "epcsim" / "epc" / "engine.py"]


def base() -> dict[str, Any]:
    return {
        "name": "feasible",
        "vm": {"sizes": ["DC4s_v2"]},
        "enclaves": [{"name": "kv", "size": "64 MiB", "threads": 2,
                      "regions": [{"name": "table", "size": "32 MiB"}]}],
        "workload": {
            "arrival": {"kind": "poisson", "rate": "1k/s"},
            "operations": [
                {"name": "get", "weight": 0.9,
                 "memory": [{"region": "table", "pages": 2, "pattern": "uniform"}]},
                {"name": "set", "weight": 0.1, "ocalls": 1, "ocall_host_time": "5 us"}]},
        "simulation": {"duration": "2 s", "warmup": "0.5 s", "replications": 1},
    }


Mutation = Callable[[dict[str, Any]], None]


def setter(path: str, value: Any) -> Mutation:
    def apply(d: dict[str, Any]) -> None:
        node: Any = d
        keys = path.split(".")
        for k in keys[:-1]:
            node = node[int(k)] if isinstance(node, list) else node.setdefault(k, {})
        if isinstance(node, list):
            node[int(keys[-1])] = value
        else:
            node[keys[-1]] = value
    return apply


def both(*ms: Mutation) -> Mutation:
    def apply(d: dict[str, Any]) -> None:
        for m in ms:
            m(d)
    return apply


def custom_vm(**fields: Any) -> Mutation:
    return setter("vm", {"sizes": ["lab"], "custom": [{"size": "lab", "based_on": "DC4s_v2",
                                                       **fields}]})


def second_enclave(name: str = "aux") -> Mutation:
    def apply(d: dict[str, Any]) -> None:
        d["enclaves"].append({"name": name, "size": "8 MiB", "threads": 1,
                              "regions": [{"name": "r", "size": "4 MiB"}]})
    return apply


def ops(n: int) -> Mutation:
    return setter("workload.operations", [{"name": f"op{i}"} for i in range(n)])


GET = "workload.operations.0"
GET_MEM = f"{GET}.memory.0"
NOT_A_SCENARIO_FIELD = "not expressible: the scenario format has no such setting"
ENGINE_API = "engine API contract: the model passes in-range 1-D offsets by construction"

#: Model error (message text with ``{}`` for formatted parts) -> (mutation, key path the
#: scenario must name) or a string saying why no scenario can provoke it.
MODEL_ERRORS: dict[str, tuple[Mutation, str] | str] = {
    "a VM needs at least one vCPU": (custom_vm(vcpus=0), "vm.custom"),
    "clock must be positive": (custom_vm(base_ghz=0), "vm.custom"),
    "unknown SGX generation": (custom_vm(sgx_generation=3), "vm.custom"),
    "at least one enclave is needed": (setter("enclaves", []), "enclaves"),
    "switchless workers leave no vCPU for enclave threads": (
        both(setter("vm", ["DC2s_v2"]), setter("enclaves.0.switchless_workers", 2)),
        "enclaves.kv.switchless_workers"),
    "unknown runtime": (setter("enclaves.0.runtime", "sgx-lkl"), "enclaves.kv.runtime"),
    "unknown LVI hardening": (setter("enclaves.0.lvi_hardening", "some"),
                              "enclaves.kv.lvi_hardening"),
    "trusted workers need a TCS each and leave one for callers": (
        setter("enclaves.0.trusted_workers", 2), "enclaves.kv.trusted_workers"),
    "{} ECALLs need trusted worker threads": (setter(f"{GET}.ecall_mode", "switchless"),
                                              "workload.operations.get.ecall_mode"),
    "lock hold shares must be in 0..1 and sum to at most 1": (
        setter(f"{GET}.locks", [{"name": "a", "hold": "70%"}, {"name": "b", "hold": "70%"}]),
        "workload.operations.get.locks"),
    "at least one operation is needed": (setter("workload.operations", []),
                                         "workload.operations"),
    "too many operation types": (ops(257), "workload.operations"),
    "duration must be positive": (setter("simulation.duration", 0), "simulation.duration"),
    "warm-up must be >= 0 and shorter than the duration": (
        setter("simulation.warmup", "5 s"), "simulation.warmup"),
    "memory-level parallelism must be >= 1": NOT_A_SCENARIO_FIELD,
    "unknown timer interrupt mode": NOT_A_SCENARIO_FIELD + " (timer_interrupts is a bool)",
    "max_in_system must be >= 1": NOT_A_SCENARIO_FIELD,
    "the mix needs a positive weight": (
        both(setter(f"{GET}.weight", 0), setter("workload.operations.1.weight", 0)),
        "workload.operations"),
    "Poisson arrivals need a positive rate": (setter("workload.arrival.rate", 0),
                                              "workload.arrival.rate"),
    "unknown cost parameter": (setter("costs", {"ecall_cycle": 1}), "costs.ecall_cycle"),
    "duplicate enclave name": (second_enclave("kv"), "enclaves"),
    "an enclave needs at least one thread (TCS)": (setter("enclaves.0.threads", 0),
                                                   "enclaves.kv.threads"),
    "unknown paging kind": (setter("enclaves.0.paging", "lazy"), "enclaves.kv.paging"),
    "regions need at least one page": (setter("enclaves.0.regions.0.size", 0),
                                       "enclaves.kv.regions.table.size"),
    "duplicate region name": (setter("enclaves.0.regions", [{"name": "t", "size": "1 MiB"},
                                                            {"name": "t", "size": "1 MiB"}]),
                              "enclaves.kv.regions"),
    "enclave size is smaller than its regions": (setter("enclaves.0.regions.0.size",
                                                        "128 MiB"), "enclaves.kv"),
    "switchless_workers must be >= 0": (setter("enclaves.0.switchless_workers", -1),
                                        "enclaves.kv.switchless_workers"),
    "duplicate operation name": (setter("workload.operations.1.name", "get"),
                                 "workload.operations"),
    "several enclaves: say which one the operation runs in": (second_enclave(),
                                                              "workload.operations"),
    "unknown enclave": (setter(f"{GET}.enclave", "kvv"), "workload.operations.get.enclave"),
    "weight must be >= 0": (setter(f"{GET}.weight", -1), "workload.operations.get.weight"),
    "unknown distribution": (setter(f"{GET}.compute_distribution", "normal"),
                             "workload.operations.get.compute_distribution"),
    "unknown call mode": (setter(f"{GET}.call_mode", "fast"),
                          "workload.operations.get.call_mode"),
    "{} OCALLs need worker threads": (setter("workload.operations.1.call_mode", "hotcall"),
                                      "workload.operations.set.call_mode"),
    "too many memory accesses": (setter(f"{GET}.memory", [{"region": "table", "pages": 1}]
                                        * 65), "workload.operations.get.memory"),
    "only the last phase may omit its duration": (
        setter("workload.phases", [{"name": "a"}, {"name": "b"}]), "workload.phases"),
    "phase duration must be positive": (
        setter("workload.phases", [{"name": "a", "duration": 0}]), "workload.phases"),
    "closed-loop arrivals need clients": (
        setter("workload.arrival", {"kind": "closed", "clients": 0}),
        "workload.arrival.clients"),
    "think time must not be negative": (
        setter("workload.arrival", {"kind": "closed", "clients": 2, "think_time": "-1 s"}),
        "workload.arrival.think_time"),
    "unknown arrival kind": (setter("workload.arrival", {"kind": "burst"}),
                             "workload.arrival"),
    "cost must be a finite number >= 0": (setter("costs", {"ecall_cycles": -5}),
                                          "costs.ecall_cycles"),
    "must be >= 0": (setter(f"{GET}.ecalls", -1), "workload.operations.get.ecalls"),
    "must be a finite number >= 0": (setter(f"{GET}.compute", -5),
                                     "workload.operations.get.compute"),
    "unknown region": (setter(f"{GET_MEM}.region", "tabel"),
                       "workload.operations.get.memory.0.region"),
    "pages must be >= 0": (setter(f"{GET_MEM}.pages", -1),
                           "workload.operations.get.memory.0.pages"),
    "cache lines per page out of range": (setter(f"{GET_MEM}.cache_lines_per_page", 65),
                                          "workload.operations.get.memory.0"),
    "fraction out of range": (setter(f"{GET_MEM}.llc_miss_fraction", 1.5),
                              "workload.operations.get.memory.0.llc_miss_fraction"),
    "trace arrivals need timestamps": (
        setter("workload.arrival", {"kind": "trace", "file": str(DATA / "empty_arrivals.csv")}),
        "workload.arrival.file"),
    "unknown operation in mix": (
        setter("workload.phases", [{"name": "a", "mix": {"gett": 1}}]), "workload.phases"),
    "arrival timestamps must be >= 0 and non-decreasing": (
        setter("workload.arrival", {"kind": "trace",
                                    "file": str(DATA / "decreasing_arrivals.csv")}),
        "workload.arrival.file"),
    "{}: enclave {} cannot be built: its Version Array pages alone fill the EPC ({} pages "
    "free)": (both(custom_vm(epc_mib=1, memory_gib=64), setter("enclaves.0.size", "32 GiB")),
              "vm.custom"),
    "{}: the EPC left for enclave pages ({} pages after SECS/TCS/SSA/VA/platform pages) is too "
    "small for the reclaimer (needs more than {})": (custom_vm(epc_mib=0.25), "vm.custom"),
    "unknown SGX driver": (setter("simulation.sgx_driver", "dcap"), "simulation.sgx_driver"),
    "unknown host kind": (setter("simulation.host", "cloud"), "simulation.host"),
    "platform enclave pages must be >= 0": (setter("simulation.platform_enclaves", "-1 MiB"),
                                            "simulation.platform_enclaves"),
    "EPC size and evicted pages must be >= 0 (found {}, {})": (custom_vm(epc_mib=-1),
                                                               "vm.custom"),
    "thread count must be >= 0 (found {})": (setter("enclaves.0.threads", -1),
                                            "enclaves.kv.threads"),
    "unknown EPC replacement policy {} (expected one of {})": (
        setter("simulation.epc_policy", "lfu"), "simulation.epc_policy"),
    "EPC capacity must be at least 1 page (found {})": (custom_vm(epc_mib=0), "vm.custom"),
    "every enclave needs at least 1 page (found {})": (setter("enclaves.0.size", 0),
                                                       "enclaves.kv.size"),
    "need reclaim_batch_pages >= 1 and 0 <= low <= high watermark (found {}, {}, {})": (
        setter("costs", {"reclaim_low_watermark_pages": 100}),
        "costs.reclaim_low_watermark_pages"),
    "enclaves too large for the engine ({} pages)": (
        both(custom_vm(memory_gib=20000, epc_mib=2**20),
             setter("enclaves", [{"name": f"e{i}", "size": "1 TiB", "threads": 1,
                                  "regions": [{"name": "table", "size": "1 MiB"}]}
                                 for i in range(9)]),
             setter(f"{GET}.enclave", "e0"), setter("workload.operations.1.enclave", "e0")),
        "enclaves"),
    "no enclave {} (have {})": ENGINE_API,
    "pages must be a 1-D array (found shape {})": ENGINE_API,
    "page offset {} at index {} is outside enclave {}'s {} pages": ENGINE_API,
    "a page trace must be 1-D (found shape {})": ENGINE_API + " (trace files are flattened "
                                                 "or refused by epcsim.traces.io)",
    "the EPC ({} pages) is exhausted by Version Array pages; use a larger EPC": (
        both(custom_vm(epc_mib=1, memory_gib=64), setter("enclaves.0.size", "32 GiB")),
        "vm.custom"),
    "page {} at index {} is outside the enclave's {} pages": ENGINE_API,
    "replay of a chunked trace needs enclave_pages": ENGINE_API,
}


def model_messages() -> set[str]:
    """Every literal message of a Problem or EpcsimError raised in the model and engine."""
    out: set[str] = set()
    for path in SOURCES:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.Call) and node.args
                    and getattr(node.func, "id", None) in ("Problem", "EpcsimError")):
                continue
            arg = node.args[0]
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                out.add(arg.value)
            elif isinstance(arg, ast.JoinedStr):
                out.add("".join(v.value if isinstance(v, ast.Constant) else "{}"
                                for v in arg.values))
    return out


def test_every_model_error_has_a_row() -> None:
    missing = sorted(model_messages() - set(MODEL_ERRORS))
    assert not missing, ("model errors without a scenario check (add a check to "
                         "epcsim/scenario and a row here):\n" + "\n".join(missing))


ROWS = [(msg, row) for msg, row in MODEL_ERRORS.items() if not isinstance(row, str)]


@pytest.mark.parametrize("message, row", ROWS, ids=[m[:40] for m, _ in ROWS])
def test_the_scenario_refuses_first(message: str, row: tuple[Mutation, str]) -> None:
    mutate, key = row
    data = copy.deepcopy(base())
    mutate(data)
    with pytest.raises(ScenarioError) as info:
        plan_study(load_scenario(data))
    keys = [p.key_path or "" for p in info.value.problems]
    assert any(k.startswith(key) for k in keys), (message, str(info.value))


def test_base_is_feasible() -> None:
    assert len(plan_study(load_scenario(base())).runs) == 1
