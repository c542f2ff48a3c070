"""The benchmarks, one module each, registered in ``registry.py`` (see there)."""
