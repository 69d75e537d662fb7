"""A study plan's runs as tasks: one :class:`~epcsim.study.RunTask` per run, with its labels
(the VM size's fields, the sweep point, the working set, the offered load, replication and
seed) and its resolved model config (one config per sweep point and size, shared by the
replications).
"""

from __future__ import annotations

import json
from typing import Any

from epcsim.scenario import RunPoint, StudyPlan
from epcsim.study.configure import model_config, offered_load_ops_s, working_set_bytes
from epcsim.study.execute import RunPayload
from epcsim.study.task import RunTask


def _labels(run: RunPoint) -> dict[str, Any]:
    vm = run.vm
    labels: dict[str, Any] = {
        "vm_size": vm.size,
        "series": vm.series,
        "vcpus": vm.vcpus,
        "epc_mib": vm.epc_mib,
        "sgx_generation": vm.sgx_generation,
        "usd_per_hour": vm.linux_usd_per_hour,
    }
    for key, value in run.point_normalised.items():
        labels[key] = value if isinstance(value, str | int | float | bool) or value is None \
            else json.dumps(value, sort_keys=True)
    labels["working_set_mib"] = working_set_bytes(run.scenario) / 2**20
    labels["offered_load_ops_s"] = offered_load_ops_s(run.scenario)
    labels["replication"] = run.replication
    labels["seed"] = run.seed
    return labels


def _task(run: RunPoint, config: Any, keep_detail: bool) -> RunTask:
    payload = RunPayload(config=config, replication=run.replication, seed=run.seed,
                         native_baseline=run.scenario.simulation.native_baseline,
                         keep_detail=keep_detail)
    return RunTask(run_key=run.run_key, fn="epcsim.study.execute:run_point", payload=payload,
                   labels=_labels(run))


def study_tasks(plan: StudyPlan, *, keep_detail: bool = True) -> list[RunTask]:
    """One :class:`RunTask` per run of ``plan``, in plan order."""
    configs: dict[tuple[int, str], Any] = {}
    tasks = []
    for run in plan.runs:
        key = (run.point_index, run.vm.size)
        if key not in configs:
            configs[key] = model_config(run.scenario, run.vm)
        tasks.append(_task(run, configs[key], keep_detail))
    return tasks
