"""Cost parameters of one run turned into seconds with the VM's clock.

The model never hard-codes a cost: every number comes from
:func:`epcsim.reference.cost_parameters.default_costs` with the config's ``costs`` overrides applied
(:func:`epcsim.model.config.resolved_costs`).
``*_cycles`` are divided by ``clock_hz``; ``*_ns`` are multiplied by 1e-9; ``*_s`` and
``*_s_per_page`` are seconds already; ``*_hz`` and page counts are used as they are.

Composite costs (the split of the ~40,000-cycle page swap is in
:mod:`epcsim.reference.cost_parameters`):

- fault path (SGX driver): ``aex + fault_handler + eldu + eresume`` (28,000 cycles by default);
- EDMM first touch: ``aex + fault_handler + eaug + eresume + eaccept + edmm_exception``;
- Eleos-style fault: ``eleos_fault`` (no AEX, no kernel path);
- per evicted page (ksgxd): ``eblock + ewb``; per batch and enclave: ``etrack`` (+ ``ipi``
  when threads of the enclave are running, each of which then pays ``aex + eresume``).
"""

from __future__ import annotations

from dataclasses import dataclass

from epcsim.model.config import ModelConfig, resolved_costs


@dataclass(frozen=True)
class RunCosts:
    """Costs of one run in seconds (``*_s``) or plain numbers."""

    ecall_s: float
    ocall_s: float
    syscall_s: float
    hotcall_s: float
    switchless_ocall_s: float
    aex_s: float
    eresume_s: float
    fault_path_s: float
    edmm_fault_s: float
    eleos_fault_s: float
    evict_page_s: float
    etrack_s: float
    ipi_s: float
    dram_s: float
    mee_penalty_s: float
    tme_dependent_penalty_s: float
    build_s_per_page: float
    timer_hz: float
    reclaim_batch_pages: int
    low_watermark_pages: int
    high_watermark_pages: int
    raw: dict[str, float]


def run_costs(config: ModelConfig) -> RunCosts:
    """Resolve the config's costs against its VM clock."""
    c = resolved_costs(config)
    hz = config.vm.clock_hz

    def cyc(name: str) -> float:
        return c[name] / hz

    gen = config.vm.sgx_generation
    build = c["enclave_build_s_per_page_sgx1"] if gen == 1 else c["enclave_build_s_per_page_sgx2"]
    return RunCosts(
        ecall_s=cyc("ecall_cycles"),
        ocall_s=cyc("ocall_cycles"),
        syscall_s=cyc("linux_syscall_cycles"),
        hotcall_s=cyc("hotcall_cycles"),
        switchless_ocall_s=c["switchless_ocall_latency_s"],
        aex_s=cyc("aex_cycles"),
        eresume_s=cyc("eresume_cycles"),
        fault_path_s=cyc("aex_cycles") + cyc("fault_handler_cycles") + cyc("eldu_cycles")
        + cyc("eresume_cycles"),
        edmm_fault_s=cyc("aex_cycles") + cyc("fault_handler_cycles") + cyc("eaug_cycles")
        + cyc("eresume_cycles") + cyc("eaccept_cycles") + cyc("edmm_exception_cycles"),
        eleos_fault_s=cyc("eleos_fault_cycles"),
        evict_page_s=cyc("eblock_cycles") + cyc("ewb_cycles"),
        etrack_s=cyc("etrack_cycles"),
        ipi_s=cyc("ipi_cycles"),
        dram_s=c["dram_latency_ns"] * 1e-9,
        mee_penalty_s=c["mee_miss_penalty_ns"] * 1e-9,
        tme_dependent_penalty_s=c["tme_dependent_miss_penalty_ns"] * 1e-9,
        build_s_per_page=build,
        timer_hz=c["timer_interrupt_hz"],
        reclaim_batch_pages=int(c["reclaim_batch_pages"]),
        low_watermark_pages=int(c["reclaim_low_watermark_pages"]),
        high_watermark_pages=int(c["reclaim_high_watermark_pages"]),
        raw=c,
    )
