"""Pure metric functions on lists, arrays and tensors; no models, no files."""
