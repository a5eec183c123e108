"""Front end: reading a tensor's values on the host for a documented host step (LAPACK
factorizations in linalg, numpy.fft), without a copy where the device allows it.
Imports: engine.realize, ir.ops, runtime.device, tensor.
"""
from __future__ import annotations

from typing import Callable, Optional

import numpy as np

from petagrad.engine.realize import read_listeners
from petagrad.ir.ops import Op
from petagrad.runtime.device import get_device
from petagrad.tensor import Tensor


def host_input(x: Tensor, dtype: np.dtype) -> np.ndarray:
    """x's values as a host array of `dtype`: the device buffer itself (read only, no copy)
    when x is a realized plain buffer on a host device, else a copy. A zero-copy read is
    reported to read_listeners, as x.numpy() does, so the step JIT sees the dependence."""
    x.realize()
    node = x.node
    host_array: Optional[Callable] = getattr(get_device(x.device), "host_array", None)
    if node.op is Op.BUFFER and host_array is not None and node.dtype.np == dtype and \
            node.dtype.storage_np is None:  # a bfloat16 buffer holds bits, not its values
        for listener in read_listeners:
            listener(node)
        return host_array(node.buffer, node.dtype, node.size).reshape(node.shape)
    return x._host().astype(dtype, copy=False)
