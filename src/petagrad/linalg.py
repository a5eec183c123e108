"""Public surface: `petagrad.linalg`, the Array API 2024.12 linear algebra extension.

The functions live in petagrad.api.linalg_extension (lazy compositions, and factorizations
that run as host steps through NumPy's LAPACK: docs/host_steps.md); this module only names
them. Imports: petagrad.api.linalg_extension, petagrad.errors.
"""
from petagrad.api.linalg_extension import (EighResult, QRResult, SlogdetResult, SVDResult,
                                            cholesky, cross, det, diagonal, eigh, eigvalsh,
                                            inv, matmul, matrix_norm, matrix_power,
                                            matrix_rank, matrix_transpose, outer, pinv, qr,
                                            slogdet, solve, svd, svdvals, tensordot, trace,
                                            vecdot, vector_norm)
from petagrad.errors import LinAlgError

__all__ = ["EighResult", "LinAlgError", "QRResult", "SVDResult", "SlogdetResult",
           "cholesky", "cross", "det", "diagonal", "eigh", "eigvalsh", "inv", "matmul",
           "matrix_norm", "matrix_power", "matrix_rank", "matrix_transpose", "outer", "pinv",
           "qr", "slogdet", "solve", "svd", "svdvals", "tensordot", "trace", "vecdot",
           "vector_norm"]
