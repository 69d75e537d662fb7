"""Issue 6's acceptance on the real simulator: a bundled scenario whose working set exceeds
DC2s_v2's EPC but fits DC4s_v2's (scenarios/inference-dcsv2.yaml: 89 MiB touched; EPCs 28,
56, 112 and 168 MiB) is recommended neither DC1s_v2 nor DC2s_v2, the EPC is named as the
reason they fail, and the DCsv3/DCdsv3 successor is named (DCsv2 retires on 2026-06-30; on
2026-06-01 its sizes are still sold to existing subscriptions)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from epcsim.api import recommend
from epcsim.scenario import load_scenario
from epcsim.sizing import BIND_EPC

SCENARIO = Path(__file__).resolve().parents[1] / "scenarios" / "inference-dcsv2.yaml"


def test_epc_bound_sizes_are_ruled_out_and_a_successor_is_named() -> None:
    scn = load_scenario(SCENARIO)
    result = recommend(scn, sensitivity=False, what_ifs=False, knee=False,
                       as_of=dt.date(2026, 6, 1))
    assert result.recommended is not None
    assert result.recommended.vm_size not in ("Standard_DC1s_v2", "Standard_DC2s_v2")
    for small in ("Standard_DC1s_v2", "Standard_DC2s_v2"):
        cap = result.capacity_of(small)
        assert cap is not None and cap.capacity_ops_s == 0
        assert cap.binding_resource == BIND_EPC
        assert any(small in r and "EPC" in r for r in result.reasons)
    succ = result.successor
    assert succ is not None and not succ.retired
    assert succ.from_size == result.recommended.vm_size
    assert succ.to_series in ("DCsv3", "DCdsv3")
    assert any("retires on 2026-06-30" in r and succ.to_size in r for r in result.reasons)
