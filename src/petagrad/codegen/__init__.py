"""Codegen layer: lower scheduled kernels to source text (C, OpenCL C)."""
