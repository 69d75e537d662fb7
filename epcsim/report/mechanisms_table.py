"""The table of ``epcsim mechanisms``: capacity per VM size with every issue-14 mechanism on,
and with each one off in turn (:class:`epcsim.sizing.mechanisms.MechanismEffects`)."""
from __future__ import annotations

import math

from epcsim.report.format import compact
from epcsim.report.tables import Table
from epcsim.sizing.mechanisms import BASELINE, MechanismEffects


def _cell(effects: MechanismEffects, label: str, size: str) -> str:
    cap = effects.capacity(label, size)
    text = compact(cap) if cap > 0 else "none"
    if label == BASELINE:
        lower = effects.baseline[size].capacity_is_lower_bound
        return ("≥ " if lower and cap > 0 else "") + text
    if size in effects.unchanged.get(label, ()):
        return f"{text} (same model)"
    change = effects.change(label, size)
    if change is None:
        return text
    if math.isinf(change):
        return f"{text} (meets)"
    return f"{text} ({change:+.0%})"


def mechanism_table(effects: MechanismEffects) -> Table:
    """Rows: all on, then each case; columns: one per VM size, capacity in ops/s and its
    change against all on."""
    assert effects.vm_sizes, "no VM size"
    header = ["case", *[s.removeprefix("Standard_") for s in effects.vm_sizes]]
    rows = [[label, *[_cell(effects, label, s) for s in effects.vm_sizes]]
            for label in [BASELINE, *effects.cases]]
    notes = [f"(capacity in ops/s: highest load meeting the SLO, within {effects.rel_tol:.0%} "
             "of the value shown, from short runs; a change within about that is no change. "
             "'same model': the switch leaves this size's simulated run unchanged (start-up "
             "and teardown aside), so it was not simulated again; "
             "'none': cannot meet the SLO at any load)",
             "(binding resource with all on: " + "; ".join(
                 f"{s.removeprefix('Standard_')} {effects.baseline[s].binding_resource}"
                 for s in effects.vm_sizes) + ")", *effects.notes]
    return Table.of(header, rows, align="l" + "r" * len(effects.vm_sizes),
                    title="Capacity per VM size, with one mechanism off at a time",
                    notes=notes)
