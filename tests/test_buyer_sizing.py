"""Issue 17 part A: a sizing a buyer can act on. The decision date decides what can be bought
(DCsv2 retired on 2026-06-30; DCsv3/DCdsv3 closed to new subscriptions from 2026-11-01), the
price is the region's and the pricing's (never a filled-in guess), and a study of retired
sizes leads with the move to a successor, both shown."""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path

import pytest
from test_sizing_model import AnalyticEvaluator

from epcsim.errors import EpcsimError
from epcsim.reference.catalog import get_vm, load_catalog, sizes_in_series
from epcsim.reference.market import availability, price_of, price_table, regions
from epcsim.sizing import SizingResult, Slo, recommend

BEFORE = dt.date(2026, 6, 1)
AFTER = dt.date(2026, 11, 30)


def _slo(**kw: object) -> Slo:
    return Slo(target_load_ops_s=20_000, latency_bound_s=5e-3, headroom_fraction=0.2,
               **kw)  # type: ignore[arg-type]


def test_prices_are_per_vcpu_rates_and_east_us_matches_the_catalogue() -> None:
    # Azure prices each series at one rate per vCPU in a region: every row must agree.
    rates: dict[tuple[str, str], set[float]] = {}
    for (size, region), row in price_table().items():
        vm = get_vm(size)
        rates.setdefault((vm.series, region), set()).add(
            round(float(row["payg_usd_per_hour"]) / vm.vcpus, 6))
        assert row["source"] and row["confidence"] and row["price_as_of"]
    assert all(len(r) == 1 for r in rates.values()), rates
    for vm in load_catalog():
        assert price_of(vm, "eastus").usd_per_hour == pytest.approx(vm.linux_usd_per_hour)
    assert set(regions()) >= {"eastus", "westus", "westeurope"}


def test_reserved_prices_are_only_those_azure_published() -> None:
    dc48 = get_vm("DC48s_v3")
    assert price_of(dc48, "westus", "reserved-1y").usd_per_hour == pytest.approx(37675 / 8760)
    assert price_of(dc48, "westus", "reserved-3y").usd_per_hour == pytest.approx(84769 / 26280)
    missing = price_of(get_vm("DC4s_v3"), "eastus", "reserved-1y")
    assert missing.usd_per_hour is None and "no price is assumed" in missing.reason
    assert price_of(get_vm("DC4s_v2"), "eastus2").usd_per_hour is None  # not offered there


def test_purchase_windows() -> None:
    dc4v2, dc4v3 = get_vm("DC4s_v2"), get_vm("DC4s_v3")
    assert availability(dc4v2, BEFORE).purchasable
    assert not availability(dc4v2, BEFORE, "new").purchasable  # closed since 2025-07-01
    assert not availability(dc4v2, AFTER).purchasable
    assert availability(dc4v3, AFTER).purchasable  # an existing subscription may deploy it
    assert not availability(dc4v3, AFTER, "new").purchasable
    assert not availability(get_vm("DC4ds_v3"), dt.date(2029, 10, 31)).purchasable


def test_before_retirement_a_dcsv2_size_may_be_recommended() -> None:
    r = recommend(AnalyticEvaluator(), sizes_in_series("DCsv2"), _slo(), as_of=BEFORE,
                  sensitivity=False, what_ifs=(), knee=False)
    assert r.recommended is not None and r.recommended.series == "DCsv2"


def test_after_retirement_a_dcsv2_study_moves_to_a_successor_both_shown() -> None:
    for how in ({"as_of": AFTER}, {"slo": _slo(as_of=AFTER.isoformat())}):
        slo = how.get("slo", _slo())
        r = recommend(AnalyticEvaluator(), sizes_in_series("DCsv2"), slo,  # type: ignore[arg-type]
                      as_of=how.get("as_of"), sensitivity=False, what_ifs=(), knee=False)  # type: ignore[arg-type]
        assert r.as_of == AFTER.isoformat()
        rec = r.recommended
        assert rec is not None and rec.series in ("DCsv3", "DCdsv3") and rec.purchasable
        assert r.reasons[0].startswith("DCsv2 retired on 2026-06-30: move to")
        succ = r.successor
        assert succ is not None and succ.retired and succ.to_size == rec.vm_size
        assert succ.from_size.endswith("_v2") and succ.from_vm_count >= 1
        assert succ.from_usd_per_month is not None and math.isfinite(succ.from_usd_per_month)
        # The retired sizes are still shown, with their reason, never recommended.
        for opt in r.options:
            if opt.series == "DCsv2":
                assert not opt.recommendable and "retired on 2026-06-30" in \
                    opt.unavailable_reason
        assert rec.metrics_at_target and rec.metrics_at_target["latency_p99_s"] <= 5e-3
        back = SizingResult.from_json(r.to_json())
        assert back.successor == succ and back.recommended == rec


def test_a_size_without_a_price_under_the_pricing_is_shown_not_recommended() -> None:
    vms = [get_vm("DC4s_v3"), get_vm("DC48s_v3")]
    r = recommend(AnalyticEvaluator(), vms, _slo(region="westus", pricing="reserved-1y"),
                  as_of=AFTER, sensitivity=False, what_ifs=(), knee=False)
    assert r.recommended is not None and r.recommended.vm_size == "Standard_DC48s_v3"
    assert r.recommended.usd_per_hour == pytest.approx(37675 / 8760)
    dc4 = next(o for o in r.options if o.vm_size == "Standard_DC4s_v3")
    assert dc4.feasible and dc4.usd_per_hour is None and not dc4.recommendable
    assert any("DC4s_v3 is not recommended" in x and "no price" in x for x in r.reasons)
    none = recommend(AnalyticEvaluator(), [get_vm("DC4s_v3")],
                     _slo(pricing="reserved-3y"), as_of=AFTER, sensitivity=False,
                     what_ifs=(), knee=False)
    assert none.recommended is None and none.advice


def test_slo_market_fields_are_checked() -> None:
    with pytest.raises(EpcsimError, match=r"slo\.region"):
        _slo(region="mars")
    with pytest.raises(EpcsimError, match=r"slo\.pricing"):
        _slo(pricing="spot")
    with pytest.raises(EpcsimError, match=r"slo\.as_of"):
        _slo(as_of="tomorrow")
    assert _slo(as_of="2026-11-30").decision_date() == AFTER


# --------------------------------------------------------------------------- on the simulator

QUICKSTART = Path(__file__).resolve().parents[1] / "scenarios" / "quickstart.yaml"


def test_quickstart_on_2026_11_30_recommends_a_purchasable_size_beside_dcsv2() -> None:
    from epcsim.api import recommend as size_scenario
    from epcsim.scenario import load_scenario

    scn = load_scenario(QUICKSTART, ["slo.as_of=2026-11-30"])
    r = size_scenario(scn, sensitivity=False, what_ifs=False, knee=False, workers=1)
    assert r.as_of == "2026-11-30"
    rec = r.recommended
    assert rec is not None and rec.series in ("DCsv3", "DCdsv3") and rec.purchasable
    retired = [o for o in r.options if o.series == "DCsv2"]
    assert len(retired) == 3 and not any(o.recommendable for o in retired)
    assert r.successor is not None and r.successor.retired
    assert r.successor.from_size.endswith("_v2") and r.successor.to_series in ("DCsv3",
                                                                                "DCdsv3")
    from epcsim.report.sizing_table import sizing_table, successor_table

    table = sizing_table(r)
    assert [row[1] for row in table.rows].count("retired") == 3
    assert "recommended" in [row[1] for row in table.rows]
    assert successor_table(r) is not None


def test_an_infeasible_slo_exits_3_with_what_would_fit(tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]
                                                       ) -> None:
    from epcsim.cli import main

    code = main(["run", str(QUICKSTART), "--out", str(tmp_path / "out"), "--no-progress",
                 "--workers", "1", "--set", "slo.as_of=2026-11-30",
                 "--set", "vm.sizes=[DC2s_v3]", "--set", "slo.latency_bound=8us"])
    out = capsys.readouterr()
    assert code == 3
    assert "What would fit" in out.out and "exit status 3" in out.err
    assert json.loads((tmp_path / "out" / "sizing.json").read_text())["advice"]
