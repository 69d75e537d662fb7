"""Generate docs/scenarios.md, the scenario reference, from the specs' field help.

``epcsim schema --markdown > docs/scenarios.md`` (or ``make docs``). The page is built
from the ``description=`` of every field in :mod:`epcsim.scenario.spec`, the cost parameter
table (:mod:`epcsim.reference.cost_parameters`), the unit tables (:mod:`epcsim.units`) and the
limits, so it
cannot drift from the code; a test checks that the committed file equals this output. The
complete annotated example (:data:`EXAMPLE_YAML`) is validated by the tests too.
"""

from __future__ import annotations

import re
import textwrap
import types
import typing
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from epcsim import units
from epcsim.reference.cost_parameters import cost_parameters
from epcsim.scenario import checks, spec
from epcsim.scenario.mechanisms import Mechanisms
from epcsim.scenario.yamlload import MAX_DEPTH, MAX_FILE_BYTES, MAX_NODES

_KIND_TEXT = {
    "bytes": "size", "time": "time", "cycles": "cycles", "rate": "rate",
    "frequency": "frequency", "fraction": "fraction", "pages": "pages", "count": "count",
}

#: Sections of the reference: (heading, spec class, YAML location).
SECTIONS: list[tuple[str, type[BaseModel], str]] = [
    ("Top level", spec.Scenario, ""),
    ("`vm`", spec.VmSection, "vm"),
    ("`vm.custom[]` and `vm.overrides.<size>`", spec.CustomVm, "vm.custom[]"),
    ("`enclaves[]`", spec.Enclave, "enclaves[]"),
    ("`enclaves[].regions[]`", spec.Region, "enclaves[].regions[]"),
    ("`workload`", spec.Workload, "workload"),
    ("`workload.arrival` (`kind: poisson`)", spec.PoissonArrival, "workload.arrival"),
    ("`workload.arrival` (`kind: closed`)", spec.ClosedArrival, "workload.arrival"),
    ("`workload.arrival` (`kind: trace`)", spec.TraceArrival, "workload.arrival"),
    ("`workload.operations[]`", spec.Operation, "workload.operations[]"),
    ("`workload.operations[].compute` (mapping form)", spec.Work, ""),
    ("`workload.operations[].memory[]`", spec.MemoryAccess, ""),
    ("`memory[].pages` (mapping form)", spec.PageCount, ""),
    ("Pattern `kind: uniform`", spec.UniformPattern, ""),
    ("Pattern `kind: zipf`", spec.ZipfPattern, ""),
    ("Pattern `kind: hotset`", spec.HotsetPattern, ""),
    ("Pattern `kind: sequential`", spec.SequentialPattern, ""),
    ("Pattern `kind: strided`", spec.StridedPattern, ""),
    ("Pattern `kind: shifting`", spec.ShiftingPattern, ""),
    ("Pattern `kind: mixture`", spec.MixturePattern, ""),
    ("Pattern mixture `components[]`", spec.MixtureComponent, ""),
    ("Pattern `kind: trace`", spec.TracePattern, ""),
    ("`workload.phases[]`", spec.Phase, "workload.phases[]"),
    ("`simulation`", spec.Simulation, "simulation"),
    ("`simulation.mechanisms`", Mechanisms, "simulation.mechanisms"),
    ("`slo`", spec.Slo, "slo"),
]

EXAMPLE_YAML = """\
# A complete scenario using every section (docs/scenarios.md; checked by the tests).
name: example-tls-kv               # results/example-tls-kv/
description: TLS terminator and key-value store in two enclaves on one VM.

vm:
  sizes: [DC4s_v2, DC4s_v3, DC8s_v3, onprem-e2388g]   # sizes (or a series: DCsv3), our server
  custom:
    - size: onprem-e2388g          # an on-premises SGX1 server
      series: on-prem
      vcpus: 8
      memory_gib: 64 GiB           # units work in catalogue fields too
      epc_mib: 256 MiB
      base_ghz: 3.2 GHz
      turbo_ghz: 5.1 GHz
      llc_mib: 16
      sgx_generation: 1
      linux_usd_per_hour: 0.25     # amortised hardware + power
    - size: DC4s_v3-reserved       # a catalogue size at a reserved-instance price
      based_on: DC4s_v3
      linux_usd_per_hour: 0.24
  overrides:
    DC4s_v2: {linux_usd_per_hour: 0.35}   # negotiated price

costs:                             # cost parameter overrides (units converted)
  ecall_cycles: 9000 cycles
  mee_miss_penalty_ns: 0.15 us     # stored as 150 (ns)

enclaves:
  - name: tls                      # terminates TLS, forwards requests
    size: 64 MiB
    threads: 4
    switchless_workers: 2          # for switchless network OCALLs
    regions:
      - {name: sessions, size: 32 MiB}
  - name: kv
    size: 512 MiB
    threads: 8
    edmm: true                     # SGX2 sizes add pages lazily
    regions:
      - {name: index, size: 64 MiB}
      - {name: table, size: 400 MiB}

workload:
  arrival: {kind: closed, clients: 64, think_time: 2 ms}
  operations:
    - name: handshake
      weight: 5%
      enclave: tls
      ocalls: 4
      ocall_host_time: 10 us
      call_mode: switchless
      compute: 2 Mcycles           # public-key crypto
      memory:
        - {region: sessions, pages: 4, pattern: uniform}
    - name: get
      weight: 80%
      enclave: kv
      compute: 4000 cycles
      memory:
        - region: index
          pages: {distribution: geometric, mean: 1.5}
          pattern: {kind: hotset, hot_pages_fraction: 10%, hot_touches_fraction: 90%}
          llc_miss_fraction: model         # let the LLC model decide
          dependent_fraction: 0.9
        - region: table
          pages: 2
          pattern:
            kind: mixture
            components:
              - {weight: 0.7, pattern: {kind: zipf, s: 0.99}}
              - {weight: 0.3, pattern: {kind: shifting, window_fraction: 0.2,
                                        shift_pages: 64, shift_every_touches: 100k}}
          cache_lines_per_page: 16
          llc_miss_fraction: 0.5
    - name: scan
      weight: 15%
      enclave: kv
      ocalls: 1
      ocall_host_time: 50 us
      ocall_blocking: true         # waits for the disk, releases the vCPU
      compute: 20 us
      memory:
        - {region: table, pages: {distribution: uniform, min: 16, max: 64},
           pattern: {kind: strided, stride_pages: 8}, llc_miss_fraction: 1.0}
  phases:
    - {name: load, duration: 2 s, mix: {get: 0, scan: 1, handshake: 0}}
    - {name: run}                  # the rest of the run, with the operations' weights

simulation:
  duration: 10 s
  warmup: 3 s
  replications: 3
  seed: 7
  clock: turbo
  native_baseline: true
  timer_interrupts: true
  epc_policy: linux
  llc: 32 MiB                      # what-if: a bigger LLC

slo:
  target_load: 20k/s
  latency_percentile: p99.9
  latency_bound: 5 ms
  budget_usd_per_month: 1500
  headroom: 20%

sweep:                             # 3 x 2 = 6 sweep points
  enclaves.kv.regions.table.size: [200 MiB, 300 MiB, 400 MiB]
  workload.arrival.clients: [32, 64]
"""


def _type_text(annotation: Any, metadata: list[Any]) -> str:
    for m in metadata:
        if isinstance(m, spec.Quantity):
            text = _KIND_TEXT[m.kind]
            if m.unit is not None:
                text = f"number in {m.unit}, or {text} with unit"
            bounds = []
            if m.gt is not None:
                bounds.append(f"> {m.fmt(m.gt)}")
            if m.ge is not None and m.ge != 0:
                bounds.append(f">= {m.fmt(m.ge)}")
            if m.le is not None:
                bounds.append(f"<= {m.fmt(m.le)}")
            return text + (f" ({', '.join(bounds)})" if bounds else "")
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Annotated:
        return _type_text(args[0], list(args[1:]))
    if origin in (typing.Union, types.UnionType):
        parts = [_type_text(a, []) for a in args if a is not type(None)]
        text = " or ".join(dict.fromkeys(parts))
        return text + (" or null" if type(None) in args else "")
    if origin is typing.Literal:
        return " \\| ".join(f"`{a}`" for a in args)
    if origin in (tuple, list):
        return f"list of {_type_text(args[0], [])}" if args else "list"
    if origin is dict:
        return f"mapping of name to {_type_text(args[1], [])}"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "mapping"
    if annotation in (int, float, str, bool):
        return {int: "integer", float: "number", str: "text", bool: "true/false"}[annotation]
    if annotation is Any:
        return "values"
    return str(annotation).replace("typing.", "")


def _bounds(info: FieldInfo) -> str:
    out = []
    for m in info.metadata:
        for attr, sym in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<")):
            v = getattr(m, attr, None)
            if v is not None and not isinstance(m, spec.Quantity):
                out.append(f"{sym} {v:g}" if isinstance(v, float) else f"{sym} {v}")
    return f" ({', '.join(out)})" if out else ""


def _default_text(info: FieldInfo) -> str:
    if info.is_required():
        return "required"
    if info.default_factory is not None:
        value = info.default_factory()  # type: ignore[call-arg]
        if isinstance(value, BaseModel):
            return "see section"
        if isinstance(value, dict):
            return "all defaults" if value else "`{}`"
        return f"`{value!r}`"
    value = info.default
    if value is PydanticUndefined:
        return "required"
    if value is None:
        return "none"
    if value == "":
        return "empty"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, tuple):
        return "`[]`" if not value else "`[" + ", ".join(str(v) for v in value) + "]`"
    return f"`{value}`"


def _rst_to_md(text: str) -> str:
    """Docstring markup to Markdown: ``x`` and :role:`x` become `x`."""
    text = re.sub(r":[a-z]+:`~?([^`]+)`", r"`\1`", text)
    return text.replace("``", "`")


def _escape(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def model_table(model: type[BaseModel]) -> str:
    """Markdown table of one spec's fields: YAML key, Python name, type, default, help."""
    rows = ["| key | type | default | meaning |", "|---|---|---|---|"]
    for name, info in model.model_fields.items():
        key = info.alias or name
        key_text = f"`{key}`" + (f" (`.{name}`)" if key != name else "")
        type_text = _type_text(info.annotation, list(info.metadata)) + _bounds(info)
        rows.append(f"| {key_text} | {_escape(type_text)} | {_escape(_default_text(info))} | "
                    f"{_escape(info.description or '')} |")
    return "\n".join(rows)


def _units_table() -> str:
    rows = ["| kind | write | base unit |", "|---|---|---|"]
    base = {"bytes": "bytes (int)", "time": "seconds", "cycles": "core cycles",
            "rate": "per second", "frequency": "Hz", "fraction": "fraction 0..1",
            "pages": "4 KiB pages (int)", "count": "integer"}
    for kind in units.KINDS:
        rows.append(f"| {kind} | {_escape(units._EXAMPLES[kind])} | {base[kind]} |")
    return "\n".join(rows)


def _costs_table() -> str:
    rows = ["| name | default | unit | plausible range | applies to | confidence | meaning |",
            "|---|---|---|---|---|---|---|"]
    for p in cost_parameters().values():
        rows.append(f"| `{p.name}` | {p.default:g} | {p.unit} | {p.low:g} to {p.high:g} | "
                    f"{p.applies_to} | {p.confidence} | {_escape(p.description)} |")
    return "\n".join(rows)


def _checks_text() -> str:
    """The bullet list of cross-field checks from :mod:`epcsim.scenario.checks`."""
    doc = textwrap.dedent(checks.__doc__ or "").strip()
    paragraphs = doc.split("\n\n")[1:]
    out = []
    for para in paragraphs:
        lines = para.split("\n")
        items: list[str] = []
        for line in lines:
            if line.startswith("- ") or not items:
                items.append(line)
            else:
                items[-1] += " " + line.strip()
        out.append("\n".join(items))
    return _rst_to_md("\n\n".join(out))


def generate() -> str:
    """The whole reference page as Markdown."""
    out: list[str] = []
    w = out.append
    w("# Scenario reference\n")
    w("<!-- Generated by `epcsim schema --markdown > docs/scenarios.md` from the field "
      "help in epcsim/scenario/spec.py. Do not edit by hand; a test compares this file with "
      "the generator's output. -->\n")
    w("A scenario is a YAML file describing what to simulate: the VM sizes to evaluate, the "
      "enclaves in each VM, the workload, simulation settings, a service-level objective and "
      "sweeps. `epcsim check FILE` validates it and prints the study plan; `epcsim schema` "
      "prints its JSON Schema for editors. Specs are typed and validated with pydantic v2; "
      "after validation every quantity is in base units (the Python attribute names, shown "
      "in brackets, carry the unit).\n")
    w("## Quantities and units\n")
    w("Quantities take units as people write them. In a scenario file (and in `--set`), a "
      "time or a byte size must carry its unit: `duration: 10`, `size: 100` and `compute: "
      "5` are refused with the right forms (`10 s`, `100 MiB`, `5 cycles` or `5 us`), "
      "because a bare number's unit would be a guess; zero needs no unit, and a key that "
      "names its unit (`ecall_bytes_in`, the `costs` names such as `ewb_cycles`) takes a "
      "bare number. Elsewhere a bare number is in the base unit: rates (`20000` is per "
      "second), page counts (`pages: 2`), fractions, and scenarios given as a mapping from "
      "Python (seconds, bytes, cycles). "
      "Decimal prefixes (`KB`, `MB`, `GB`) are powers of 1000, binary prefixes (`KiB`, `MiB`, "
      "`GiB`) powers of 1024; units are case-sensitive, and near misses (`Mib`, `mb`) are "
      "refused with a suggestion. Nothing is rounded silently: a size must be a whole number "
      f"of bytes and a page count a whole number of {units.PAGE_BYTES}-byte pages.\n")
    w(_units_table() + "\n")
    w("## Overrides and key paths\n")
    w("Every command that takes a scenario accepts `--set KEY.PATH=VALUE` (repeatable); the "
      "value is parsed as YAML (`--set workload.arrival.rate=30k/s`, "
      "`--set vm=[DC4s_v2]`). Key paths are dotted; list items are addressed by `name` where "
      "they have one, else by index: `enclaves.kv.regions.table.size`, "
      "`workload.operations.get.memory.0.pages`. Sweeps use the same paths. A shorter run "
      "for a first try is `--set simulation.duration=1s`: without a `--set` of "
      "`simulation.warmup` the warm-up keeps its share of the run (the file's 2 s of 12 s "
      "becomes 167 ms of 1 s), and `epcsim check` prints both.\n")
    for heading, model, _where in SECTIONS:
        w(f"## {heading}\n")
        doc = _rst_to_md(" ".join((model.__doc__ or "").split()))
        if doc:
            w(doc + "\n")
        w(model_table(model) + "\n")
    w("## `sweep`\n")
    w("A mapping from key path to a list of values. The study is the cartesian product of "
      "the lists (the last key varies fastest), times the selected VM sizes, times "
      "`simulation.replications`. Each value is written into the scenario and the whole "
      "scenario is validated again, so `[64 MiB, 128 MiB]` is parsed and checked like a "
      "written value. A path that names no field is refused with a did-you-mean. At most "
      f"{spec.MAX_SWEEP_POINTS} sweep points.\n")
    w("## `costs`: cost parameters\n")
    w("Override any of these by name; a value with a unit is converted to the parameter's "
      "unit (`mee_miss_penalty_ns: 0.15 us` is 150 ns). The defaults and sources live in "
      "`epcsim/reference/data/cost_parameters.csv`.\n")
    w(_costs_table() + "\n")
    w("## Checks across fields\n")
    w(_checks_text() + "\n")
    w("## Limits\n")
    w(f"- Enclave and region sizes: at most {units.format_bytes(spec.MAX_SIZE_BYTES)} "
      "(larger values are refused with a clear message, not attempted).")
    w(f"- Threads per enclave: at most {spec.MAX_THREADS}; enclave threads per vCPU of a "
      f"selected size: at most {spec.MAX_THREADS_PER_VCPU} (error). More threads than vCPUs "
      "is allowed and noted by `epcsim check`.")
    w(f"- Simulated duration: at most {units.format_time(spec.MAX_DURATION_S)}; arrival "
      f"rate: at most {spec.MAX_RATE_PER_S:g}/s; replications: at most "
      f"{spec.MAX_REPLICATIONS}.")
    w(f"- Scenario files: at most {MAX_FILE_BYTES // 1024} KiB, {MAX_NODES} YAML nodes after "
      f"alias expansion (alias bombs are refused), {MAX_DEPTH} levels of nesting; only plain "
      "YAML (no tags); duplicate keys are errors.")
    w("- `name` must be a safe file-name component (results go to `results/<name>/`): "
      "1-64 letters, digits, `.`, `_`, `-`, starting with a letter or digit.\n")
    w("## Errors\n")
    w("Every problem is reported with the file, the line where known, the key path, what was "
      "expected, what was found and, for misspelt keys, kinds, units and VM sizes, a "
      "did-you-mean; all problems of a file are reported together, one line each, and "
      "`epcsim` exits with status 2 (no traceback unless `epcsim --debug`):\n")
    w("```\nscenario.yaml:9: enclaves.kv.size: unknown unit 'Mib' for bytes (expected a size "
      "such as 4096, '4 KiB', '93 MiB' or '2 GB', found '93 Mib'; did you mean 'MiB'? units "
      "are case-sensitive)\n```\n")
    w("## Complete annotated example\n")
    w("See also `scenarios/quickstart.yaml`, commented line by line.\n")
    w("```yaml\n" + EXAMPLE_YAML + "```")
    return "\n".join(out) + "\n"

