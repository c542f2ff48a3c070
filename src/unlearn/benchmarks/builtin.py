"""The benchmarks that ship, registered in the order ``unlearn data`` lists them and ``unlearn eval``
runs their suites (and the report shows their tables)."""

from unlearn.benchmarks import choice, fictitious, lm_eval, muse, rwku, wmdp
from unlearn.benchmarks.registry import register

for _module in (fictitious, muse, rwku, wmdp, choice, lm_eval):
    register(_module.BENCHMARK)
