"""epcsim: predict Intel SGX enclave performance on Azure confidential VMs.

A scenario YAML file describes a confidential workload; epcsim simulates it on one or many VM
sizes with a two-stage model (numpy/numba memory stage for EPC residency, SimPy timing stage
for transitions, paging and queueing) and reports throughput, latency, where the time goes and
the cheapest VM size that meets a target. See docs/ and ../DESIGN.md for the model.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("epcsim")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0+unknown"

__all__ = ["__version__"]
