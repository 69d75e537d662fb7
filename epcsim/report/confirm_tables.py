"""``epcsim check``'s tables of resolved numbers (:func:`epcsim.scenario.confirm.resolved_numbers`)
laid out with the shared formatter (:mod:`epcsim.report.tables`) and number formats
(:mod:`epcsim.report.format`): the objective and run settings, each enclave's footprint, each
operation, and each VM size's vCPUs, clock, EPC, EPC left for enclave pages, price and
availability. Nothing here prints.
"""

from __future__ import annotations

from typing import Any

from epcsim.report.format import compact, duration, pct, usd
from epcsim.report.tables import Table


def _rate(x: Any) -> str:
    return "-" if x is None else f"{compact(x)}/s"


def _mib(x: Any) -> str:
    """MiB with one decimal and separators (``8,191.8``): the EPC left for enclave pages
    differs from the EPC by a fraction of a MiB, which a rounded figure would hide."""
    return f"{float(x):,.1f}"


def _time(seconds: Any) -> str:
    return "0" if not seconds else duration(seconds)


def settings_table(n: dict[str, Any]) -> Table:
    """One row per setting: the SLO (with its decision date, region, pricing), the run
    length and warm-up, the arrivals."""
    slo, sim, arr = n["slo"], n["simulation"], n["arrival"]
    bound = slo["latency_bound_s"]
    objective = ("-" if slo["target_load_per_s"] is None or bound is None else
                 f"{_rate(slo['target_load_per_s'])} with p{slo['latency_percentile']:g} "
                 f"latency <= {duration(bound)}")
    rows = [
        ("SLO", objective),
        ("headroom kept", pct(slo["headroom_fraction"])),
        ("budget", "-" if slo["budget_usd_per_month"] is None
         else f"{usd(slo['budget_usd_per_month'])}/month"),
        ("decision date", slo["as_of"] + (" (today: slo.as_of not set)"
                                          if slo["as_of_is_default"] else "")),
        ("prices", f"{slo['pricing']} in {slo['region']} ({slo['subscription']} "
                   "subscription)"),
        ("run length", f"{duration(sim['duration_s'])}, warm-up {duration(sim['warmup_s'])}, "
                       f"measured {duration(sim['measured_s'])}"),
        ("replications", "varying" if sim["replications"] is None else str(sim["replications"])),
        ("clock, EPC policy", f"{sim['clock']}, {sim['epc_policy']}"),
    ]
    if arr["kind"] == "poisson":
        arrivals = f"poisson, {_rate(arr['rate_per_s'])}"
        if arr["expected_operations_per_run"] is not None:
            arrivals += (f" (~{compact(arr['expected_operations_per_run'])} operations per "
                         f"run, ~{compact(arr['expected_measured_operations_per_run'])} "
                         "measured)")
    elif arr["kind"] == "closed":
        arrivals = (f"closed loop, {arr['clients']} clients, think time "
                    f"{_time(arr['think_time_s'])}")
    else:
        arrivals = "trace" + (f" (~{compact(arr['expected_operations_per_run'])} operations "
                              "per run)" if arr["expected_operations_per_run"] else "")
    if arr["phases"]:
        arrivals += f"; {arr['phases']} phases (each may set its own)"
    rows.append(("arrivals", arrivals))
    return Table.of(("setting", "resolved value"), rows, align="ll")


def enclave_table(n: dict[str, Any]) -> Table:
    """Per enclave: threads, committed pages/MiB, touched pages/MiB, touches per operation."""
    rows = [(e["name"], str(e["threads"]), f"{e['committed_pages']:,}",
             _mib(e["committed_mib"]), f"{e['touched_pages']:,}", _mib(e["touched_mib"]),
             compact(e["page_touches_per_op"]))
            for e in n["enclaves"]]
    return Table.of(("enclave", "threads", "committed pages", "MiB", "touched pages", "MiB",
                     "page touches/op"), rows, align="lrrrrrr",
                    notes=("(touched: the in-enclave regions some operation touches, an "
                           "upper bound of the working set)",))


def operation_table(n: dict[str, Any]) -> Table:
    """Per operation: share of the mix, ECALLs, OCALLs with host time, compute, touches."""
    rows = []
    for op in n["operations"]:
        compute = [f"{compact(op['compute_cycles'])} cycles"] if op["compute_cycles"] else []
        if op["compute_time_s"]:
            compute.append(duration(op["compute_time_s"]))
        rows.append((op["name"], pct(op["share"]), op["enclave"] or "-", str(op["ecalls"]),
                     str(op["ocalls"]) + (f" x {duration(op['ocall_host_time_s'])}"
                                          if op["ocalls"] and op["ocall_host_time_s"] else ""),
                     " + ".join(compute) or "0", compact(op["page_touches"])))
    return Table.of(("operation", "share", "enclave", "ECALLs", "OCALLs", "compute",
                     "page touches"), rows, align="lrlrrrr")


def vm_table(n: dict[str, Any]) -> Table:
    """Per VM size: vCPUs, clock, EPC, EPC left for enclave pages, price, availability."""
    rows = []
    for vm in n["vm_sizes"]:
        price = usd(vm["usd_per_hour"]) if vm["usd_per_hour"] is not None else "no price"
        rows.append((vm["vm_size"], str(vm["vcpus"]), f"{vm['clock_ghz']:g} GHz",
                     f"SGX{vm['sgx_generation']}", _mib(vm["epc_mib"]),
                     _mib(vm["epc_usable_mib"]),
                     "yes" if vm["enclaves_fit_in_epc"] else "no (pages)",
                     price, vm["availability"]))
    slo = n["slo"]
    return Table.of(("VM size", "vCPUs", "clock", "SGX", "EPC MiB", "usable MiB", "fits",
                     "USD/h", f"on {slo['as_of']}"), rows, align="lrrlrrlrl",
                    notes=("(usable: EPC left for enclave pages after SECS/TCS/SSA, Version "
                           "Array and platform-enclave pages; fits: the committed enclaves "
                           f"fit without paging; USD/h: {slo['pricing']} in {slo['region']})",))


def confirm_tables(numbers: dict[str, Any]) -> list[Table]:
    """The four tables ``epcsim check`` prints, in order."""
    return [settings_table(numbers), enclave_table(numbers), operation_table(numbers),
            vm_table(numbers)]
