"""Tensor-by-tensor comparison against the official implementations: each module runs one component
through our loader and the official one, on the same file and inputs."""
