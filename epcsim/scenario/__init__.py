"""Scenarios: the YAML format users write, validated into typed, normalised specs.

``load_scenario(path_or_mapping, overrides=())`` returns a frozen :class:`Scenario` with every
quantity in base units (bytes, seconds, cycles, per second, Hz); ``plan_study(scenario)``
expands VM sizes x sweep points x replications into :class:`RunPoint` s;
``resolve_vm_sizes(scenario)`` lists the VM sizes evaluated (catalogue entries with the
scenario's overrides, plus its custom sizes); ``scenario_json_schema()`` is the JSON Schema of
the format for editors. The format is documented in docs/scenarios.md, generated from the
field help by ``python -m epcsim.scenario.docgen``.
"""

from epcsim.scenario.loader import load_scenario
from epcsim.scenario.plan import RunPoint, StudyPlan, apply_point, plan_study
from epcsim.scenario.schema import scenario_json_schema
from epcsim.scenario.spec import Scenario
from epcsim.scenario.vms import resolve_vm_sizes

__all__ = [
    "RunPoint",
    "Scenario",
    "StudyPlan",
    "apply_point",
    "load_scenario",
    "plan_study",
    "resolve_vm_sizes",
    "scenario_json_schema",
]
