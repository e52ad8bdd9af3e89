"""Pure metric maths on numpy arrays and torch tensors: no files, no downloads, no printing."""
