"""Sizing: which VM size meets the service-level objectives, and at what cost.

The question a team brings is "which size should we deploy, and what will it cost?". This
module answers it from an injected evaluation function, so the same logic runs on the SimPy
model (the lead plugs it in), on an analytic model (the tests do) or on anything else that
predicts a metrics dict for a VM size at an offered load::

    evaluate(vm: VmSize, load_ops_s: float, variant: dict) -> dict[str, float]

The metrics dict uses the summary column names (:data:`REQUIRED_METRICS`): latency at the SLO
percentile (``latency_p99_s`` for p99, ``latency_p99.9_s`` for p99.9; see
:func:`latency_key`), ``throughput_ops_s`` (completions per second), the time shares
``share_compute``, ``share_memory``, ``share_transitions``, ``share_paging``,
``share_queueing`` (fractions of the mean latency, summing to about 1), ``epc_faults_per_s``
and ``vcpu_utilisation`` (0..1). Optional keys that sharpen the explanation:
``working_set_mib`` (needed for the EPC knee), ``ksgxd_utilisation`` (fraction of time the
reclaimer thread is busy), ``enclave_thread_utilisation`` (fraction of TCS slots busy).

``variant`` is a plain JSON-able dict that the evaluator applies on top of the scenario. The
keys this module uses (the evaluator must honour them; an empty dict means "as written"):

- ``"costs"``: ``{cost_parameter_name: value}`` overrides, in each parameter's own unit
  (:mod:`epcsim.reference.cost_parameters`); used by the sensitivity analysis;
- ``"ocall_mode"``: ``"switchless"`` makes every operation's OCALLs switchless;
- ``"ocalls_per_op_scale"``: multiply every operation's OCALL count (batching: 0.5 = half);
- ``"working_set_scale"``: multiply the size of every enclave and of each of its regions
  (the distinct pages an operation touches stay as written; the EPC knee search and the
  smaller-working-set what-if);
- ``"enclave_threads_scale"``: multiply every enclave's thread (TCS) count.

:func:`apply_variant` writes a variant and an offered load into a loaded
:class:`~epcsim.scenario.spec.Scenario` (through the scenario's own key paths and validation),
so an evaluator over the simulator is: apply the variant, build the model config for the VM,
simulate, return the summary metrics. For example (the run function and adapter live
elsewhere; this module never imports the model)::

    def evaluate(vm, load_ops_s, variant):
        scn = apply_variant(scenario, load_ops_s, variant)
        metrics = dict(simulate(model_config(scn, vm), 0, scn.simulation.seed).metrics)
        metrics["working_set_mib"] = working_set_bytes(scn) / 2**20
        return metrics

    result = recommend(CachedEvaluator(evaluate, namespace=scenario_hash), vms,
                       Slo.from_spec(scenario.slo))
    (results_dir / "sizing.json").write_text(result.to_json())

Capacity search (one VM size): the highest offered load at which the size *meets* the latency
objective, where meeting means ``latency_pN_s <= latency_bound_s`` and the size keeps up
(``throughput_ops_s >= SUSTAIN_FRACTION * load``, the load being the arrival rate the run
actually saw when the evaluator reports ``arrival_rate_ops_s``; an open-loop run that falls
behind is overloaded whatever its latency says). Assumption: meeting is monotone in load (true below
the capacity, false above). The search (:mod:`epcsim.sizing.capacity`) jumps to where each
evaluation's own requests, replayed in a queue at other loads, say the bound is reached
(:mod:`epcsim.sizing.replay`), and closes a bracket around it; the earlier search (doubling or
halving from the target load, then bisecting) is kept as ``analytic=False``. Either stops when
the bracket is narrower than ``rel_tol`` (default 2 %) of its lower end; the reported
capacity is the lower end of the final bracket (a load shown to meet the objective), so it
errs on the safe side. A size that fails even at
``MIN_LOAD_FRACTION * target``, or fails on service time alone (it kept up with the load and
queued for less than ``NEGLIGIBLE_QUEUEING_SHARE`` of its latency, so no lower load can
help), "cannot meet the SLO at any load", and the binding resource at
that load says why. Simulation noise can break monotonicity near the capacity; with common
random numbers (same seed at every load) the error stays within the bracket in practice.
Every evaluation is cached by a SHA-256 hash of (VM size fields, load, variant), so repeated
decisions (sensitivity, what-ifs, successor search) never rerun a point.

Decision without capacities (:mod:`epcsim.sizing.decision`): a sensitivity case or a what-if
only needs the cheapest option. ``n`` VMs of a size serve the target within the headroom when
one VM meets the objective at ``target / (n (1 - headroom))``, so by the same monotonicity
assumption one evaluation at that load decides ``n`` exactly. Sizes are walked in price
order; a size that could beat the best option so far only with at most ``n_max`` VMs is
evaluated at ``n_max``'s load first (a failure rules it out in one evaluation), then the
fewest VMs that meet is found by integer search from the count of its capacity before the
change. The option is the one exact capacities would give; its record
(:class:`~epcsim.sizing.decision.DecisionBound`) holds the highest per-VM load shown to meet,
a lower bound of the capacity, never shown as a capacity.

Scaling out: load is assumed to split evenly across identical VMs (each with its own EPC and
vCPUs), so ``n`` VMs of a size sustain ``n`` times its capacity. The headroom objective keeps
``headroom_fraction`` of every VM's capacity unused at the target load.
"""

from __future__ import annotations

from epcsim.sizing.capacity import (
    SizeCapacity,
    binding_resource,
    capacity_search,
)
from epcsim.sizing.evaluator import (
    CachedEvaluator,
    Probe,
    evaluation_key,
)
from epcsim.sizing.knee import (
    KNEE_EPC_MULTIPLES,
    Knee,
    find_knee,
    knee_from_curve,
)
from epcsim.sizing.options import (
    SizingOption,
    size_option,
)
from epcsim.sizing.recommend import (
    recommend,
)
from epcsim.sizing.result import (
    SensitivityCase,
    SizingResult,
    Successor,
    WhatIfResult,
)
from epcsim.sizing.slo import (
    BIND_CONFIG,
    BIND_EPC,
    BIND_KSGXD,
    BIND_SERVICE,
    BIND_THREADS,
    BIND_TRANSITIONS,
    BIND_VCPUS,
    DEFAULT_REL_TOL,
    DEFAULT_WHAT_IFS,
    MAX_LOAD_MULTIPLE,
    MIN_LOAD_FRACTION,
    NEGLIGIBLE_QUEUEING_SHARE,
    REQUIRED_METRICS,
    SATURATED_UTILISATION,
    SENSITIVITY_GROUPS,
    SUSTAIN_FRACTION,
    Evaluate,
    Slo,
    WhatIf,
    latency_key,
)
from epcsim.sizing.variants import (
    apply_variant,
    variant_assignments,
)

__all__ = [
    "BIND_CONFIG",
    "BIND_EPC",
    "BIND_KSGXD",
    "BIND_SERVICE",
    "BIND_THREADS",
    "BIND_TRANSITIONS",
    "BIND_VCPUS",
    "DEFAULT_REL_TOL",
    "DEFAULT_WHAT_IFS",
    "KNEE_EPC_MULTIPLES",
    "MAX_LOAD_MULTIPLE",
    "MIN_LOAD_FRACTION",
    "NEGLIGIBLE_QUEUEING_SHARE",
    "REQUIRED_METRICS",
    "SATURATED_UTILISATION",
    "SENSITIVITY_GROUPS",
    "SUSTAIN_FRACTION",
    "CachedEvaluator",
    "Evaluate",
    "Knee",
    "Probe",
    "SensitivityCase",
    "SizeCapacity",
    "SizingOption",
    "SizingResult",
    "Slo",
    "Successor",
    "WhatIf",
    "WhatIfResult",
    "apply_variant",
    "binding_resource",
    "capacity_search",
    "evaluation_key",
    "find_knee",
    "knee_from_curve",
    "latency_key",
    "recommend",
    "size_option",
    "variant_assignments",
]
