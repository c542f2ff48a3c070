"""Pure metric functions on lists, arrays and tensors; no models, no files.

The intervals' defaults are set here, apart from ``uncertainty`` (numpy, scipy): the settings of
``unlearn eval`` read them, and reading settings imports nothing heavy.
"""

CONFIDENCE = 0.95  # level of every confidence interval
RESAMPLES = 1000  # bootstrap resamples per interval
