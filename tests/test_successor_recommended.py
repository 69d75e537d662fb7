"""A retired size's cheaper successor is recommended, not only shown (issue 17).

A study of a retired DCsv2 size and one DCsv3 size, decided after DCsv2's retirement: the
successor search looks at every size of the successor series, including ones the scenario did
not list. When one of those can be bought, meets the objectives and costs less than everything
in the study, it is the recommendation (shown beside the study's sizes, with a reason that
says it was not asked for); when the study's own size is the cheapest, nothing changes.
"""

from __future__ import annotations

import datetime as dt

from test_sizing_model import AnalyticEvaluator, AnalyticWorkload

from epcsim.reference.catalog import get_vm
from epcsim.sizing import Slo, recommend

AFTER = dt.date(2026, 11, 30)
SLO = Slo(target_load_ops_s=1_000, latency_bound_s=5e-3)
EVALUATE = AnalyticEvaluator(AnalyticWorkload(working_set_mib=20.0))


def test_a_cheaper_successor_outside_the_study_is_recommended() -> None:
    vms = [get_vm("DC1s_v2"), get_vm("DC8s_v3")]
    r = recommend(EVALUATE, vms, SLO, as_of=AFTER, sensitivity=True, what_ifs=(), knee=False)
    study_option = next(o for o in r.options if o.vm_size == "Standard_DC8s_v3")
    assert study_option.recommendable
    rec = r.recommended
    assert r.successor is not None and rec is not None
    assert rec.vm_size == r.successor.to_size != "Standard_DC8s_v3"
    assert rec.series == "DCsv3" and rec.usd_per_month < study_option.usd_per_month
    assert rec.vm_size in [o.vm_size for o in r.options]  # shown beside the study's sizes
    assert any("not among the scenario's VM sizes" in x for x in r.reasons)
    # the cost sensitivity may choose it too (it is among the sizes phase 2 decides over)
    assert all(c.vm_size is not None for c in r.sensitivity)


def test_when_the_study_holds_the_cheapest_size_it_stays_recommended() -> None:
    vms = [get_vm("DC1s_v2"), get_vm("DC1s_v3")]
    r = recommend(EVALUATE, vms, SLO, as_of=AFTER, sensitivity=False, what_ifs=(), knee=False)
    assert r.recommended is not None and r.recommended.vm_size == "Standard_DC1s_v3"
    assert not any("not among the scenario's VM sizes" in x for x in r.reasons)
