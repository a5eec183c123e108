"""Schedule layer: turn the lazy graph into an ordered list of kernels (fusion)."""
