"""Reference data the model starts from, packaged with its sources.

- :mod:`epcsim.reference.catalog`: the Azure SGX VM sizes (``data/vm_sizes.csv``): vCPUs,
  memory, EPC, clock, SGX generation, prices, retirement dates.
- :mod:`epcsim.reference.cost_parameters`: every SGX cost parameter's default, plausible range,
  unit, source and confidence (``data/cost_parameters.csv``).

Both are data with a thin typed reader; nothing here imports another stage of epcsim.
"""
