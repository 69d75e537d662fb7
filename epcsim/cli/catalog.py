"""``epcsim catalog``: print the VM catalogue as a table or JSON."""

from __future__ import annotations

import argparse

from epcsim.cli import options
from epcsim.errors import EpcsimError
from epcsim.reference.catalog import load_catalog
from epcsim.report.tables import Table, text_table


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg,unused-ignore]
    p = sub.add_parser("catalog", help="list the SGX VM sizes epcsim knows")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--series", type=options.text(64),
                   help="only this series (DCsv2, DCsv3, DCdsv3)")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    sizes = [
        vm for vm in load_catalog()
        if not args.series or vm.series.lower() == args.series.lower()
    ]
    if args.series and not sizes:
        import difflib

        known = sorted({vm.series for vm in load_catalog()})
        close = difflib.get_close_matches(args.series, known, n=1)
        raise EpcsimError(f"--series: no series {args.series!r} (expected one of "
                          f"{', '.join(known)})" + (f"; did you mean {close[0]!r}?"
                                                    if close else ""))
    if args.json:
        rows = []
        for vm in sizes:
            row = vm.to_dict()
            row["retired"] = vm.is_retired()
            rows.append(row)
        from epcsim.cli.jsonout import emit, stream

        emit(rows, stream(args))
        return 0
    header = ("size", "series", "vCPUs", "mem GiB", "EPC MiB", "SGX", "clock GHz",
              "USD/h", "status")
    table_rows = []
    for vm in sizes:
        status = f"retired {vm.retires_on}" if vm.is_retired() else (
            f"retires {vm.retires_on}" if vm.retires_on else "")
        table_rows.append((vm.size, vm.series, str(vm.vcpus), f"{vm.memory_gib:g}",
                           f"{vm.epc_mib:g}", str(vm.sgx_generation),
                           f"{vm.base_ghz:g}/{vm.turbo_ghz:g}",
                           f"{vm.linux_usd_per_hour:.3f}", status))
    print(text_table(Table.of(header, table_rows, align="llrrrrrrl")))
    print("\nPrices: Linux pay-as-you-go USD/hour as of 2023-06-26 (mostly unverified; see "
          "`epcsim catalog --json` for each row's sources and confidence).")
    return 0
