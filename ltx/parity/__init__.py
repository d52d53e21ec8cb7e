"""Tensor-by-tensor comparison against the official implementations (PARITY.md)."""
