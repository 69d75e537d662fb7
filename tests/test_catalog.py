"""The VM catalogue: packaged data equal to the shared reference, look-ups, `epcsim catalog`."""

from __future__ import annotations

import csv
import datetime as dt
import json
from pathlib import Path

import pytest

from epcsim.cli import main
from epcsim.errors import EpcsimError
from epcsim.reference.catalog import canonical_name, get_vm, load_catalog, sizes_in_series, suggest

REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference" / "azure-sgx-vm-sizes.csv"


def test_catalog_json_lists_the_20_sizes_of_the_reference(capsys: pytest.CaptureFixture[str]
                                                          ) -> None:
    assert main(["catalog", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 20
    assert {r["series"] for r in rows} == {"DCsv2", "DCsv3", "DCdsv3"}
    by_size = {r["size"]: r for r in rows}
    assert by_size["Standard_DC4s_v2"]["epc_mib"] == 112
    assert by_size["Standard_DC4s_v2"]["retires_on"] == "2026-06-30"
    assert by_size["Standard_DC48ds_v3"]["epc_mib"] == 262144
    for r in rows:
        assert r["sources"] and r["confidence"]
    if not REFERENCE.is_file():
        pytest.skip(f"{REFERENCE} not present (checked on machines that have shared/)")
    with REFERENCE.open(encoding="utf-8") as fh:
        reference = list(csv.DictReader(fh))
    assert [r["size"] for r in reference] == [r["size"] for r in rows]
    for ref in reference:
        row = by_size[ref["size"]]
        assert row["vcpus"] == int(ref["vcpus"])
        assert row["epc_mib"] == float(ref["epc_mib"])
        assert row["memory_gib"] == float(ref["memory_gib"])
        assert row["linux_usd_per_hour"] == float(ref["linux_usd_per_hour"])
        assert row["base_ghz"] == float(ref["base_ghz"])
        assert row["sgx_generation"] == int(ref["sgx_generation"])
        assert row["price_as_of"] == ref["price_as_of"]
        assert (row["retires_on"] or "") == ref["retires_on"]
        assert row["confidence"] == ref["confidence"]


def test_dcsv2_is_retired_after_2026_06_30() -> None:
    dc4 = get_vm("DC4s_v2")
    assert not dc4.is_retired(dt.date(2026, 6, 29))
    assert dc4.is_retired(dt.date(2026, 6, 30))
    assert all(vm.is_retired(dt.date(2026, 11, 29)) for vm in sizes_in_series("DCsv2"))
    assert not any(vm.is_retired(dt.date(2026, 11, 29)) for vm in sizes_in_series("DCdsv3"))


def test_lookups_accept_short_and_case_insensitive_names_and_suggest() -> None:
    assert canonical_name("dc2S_V3") == "Standard_DC2s_v3"
    assert get_vm("Standard_DC8_v2").vcpus == 8
    assert suggest("DC4sv2", [vm.size for vm in load_catalog()]) == "Standard_DC4s_v2"
    with pytest.raises(EpcsimError, match="did you mean 'Standard_DC4s_v3'"):
        get_vm("DC4s_v4")


def test_catalog_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["catalog", "--series", "dcsv2"]) == 0
    out = capsys.readouterr().out
    assert "Standard_DC1s_v2" in out and "retired 2026-06-30" in out
    assert "Standard_DC2s_v3" not in out
