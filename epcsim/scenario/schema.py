"""The JSON Schema of the scenario format, for editors (validation and completion).

Generated from the same specs that validate scenarios (:mod:`epcsim.scenario.spec`), in
pydantic's validation mode with the YAML keys (aliases). Quantities accept a number in the
base unit or a string with a unit (``"93 MiB"``); the ``costs`` section lists every cost
parameter by name. Cross-field rules (regions fit in their enclave...) cannot be expressed in
JSON Schema; ``epcsim check`` applies them.
"""

from __future__ import annotations

from typing import Any

from epcsim.reference.cost_parameters import cost_parameters
from epcsim.scenario.spec import Scenario

SCHEMA_ID = "https://epcsim.invalid/schema/scenario.json"


def scenario_json_schema() -> dict[str, Any]:
    """JSON Schema (draft 2020-12) of a scenario file."""
    schema = Scenario.model_json_schema(by_alias=True, mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = SCHEMA_ID
    schema["title"] = "epcsim scenario"
    costs = schema["properties"]["costs"]
    costs["additionalProperties"] = False
    costs["properties"] = {
        name: {"anyOf": [{"type": "number", "minimum": 0}, {"type": "string"}],
               "description": f"{p.description} Default {p.default:g} {p.unit}."}
        for name, p in cost_parameters().items()
    }
    costs.pop("default", None)
    vm = schema["$defs"]["VmSection"]["properties"]["sizes"]
    vm.pop("default", None)
    schema["properties"]["vm"] = {
        "anyOf": [{"$ref": "#/$defs/VmSection"}, {"type": "array", "items": {"type": "string"}},
                  {"type": "string"}],
        "description": schema["properties"]["vm"].get("description", ""),
    }
    _shorthands(schema)
    return schema


def _shorthands(schema: dict[str, Any]) -> None:
    """Add the short forms that before-validators accept (a bare number, text with a unit,
    a bare pattern kind) next to the mapping forms pydantic describes."""
    defs = schema["$defs"]
    text = {"type": "string"}
    kinds = sorted(d["properties"]["kind"]["const"] for name, d in defs.items()
                   if name.endswith("Pattern") and "const" in d["properties"]["kind"])

    def widen(model: str, field: str, *extra: dict[str, Any]) -> None:
        prop = defs[model]["properties"][field]
        keep = {k: prop.pop(k) for k in ("description", "default", "title") if k in prop}
        defs[model]["properties"][field] = {"anyOf": [*extra, prop], **keep}

    quantity = {"anyOf": [{"type": "number", "minimum": 0}, text]}
    dist = {  # compute / ocall_host_time as a distribution (epcsim.scenario.distributions)
        "type": "object", "additionalProperties": False, "required": ["dist"],
        "properties": {
            "dist": {"enum": ["fixed", "exponential", "lognormal", "gamma", "uniform",
                              "empirical"]},
            "mean": quantity, "low": quantity, "high": quantity,
            "cv": {"type": "number", "exclusiveMinimum": 0, "maximum": 100},
            "file": text, "unit": {"enum": ["s", "ms", "us", "ns", "cycles"]}},
        "description": "A service-time distribution: {dist, mean, cv}, {dist: uniform, low, "
                       "high} or {dist: empirical, file, unit}."}
    widen("Operation", "compute", {"type": "number", "minimum": 0}, text, dist)
    widen("Operation", "ocall_host_time", dist)
    widen("MemoryAccess", "pages", {"type": "integer", "minimum": 0}, text)
    widen("MemoryAccess", "pattern", {"enum": kinds})
    widen("MixtureComponent", "pattern", {"enum": kinds})
    widen("Slo", "latency_percentile", text)
