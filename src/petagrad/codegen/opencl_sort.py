"""Codegen layer: the SORT primitive in OpenCL C, as a bitonic sorting network.

Each row is padded to a power of two P. Three kernels:
- `<name>_keys` turns each key into a 64-bit unsigned integer that orders as NumPy sorts
  (IEEE bits with the sign folded, -0.0 as +0.0, every NaN the largest; signed integers
  with the sign bit flipped; complemented for a descending sort) and pairs it with its
  position; padding gets the largest key and a position past the row, so it sorts last;
- `<name>_step` is one compare-exchange stage (k, j) of the network over global memory;
  `<name>_local` runs every stage with j below a work-group's block (2 * LOCAL elements) in
  local memory, so of the log2(P) * (log2(P) + 1) / 2 stages only those with a long j
  touch global memory one launch each. Pairs compare as (key, position), a total order, so
  the network's result is the stable sort although the network itself is not stable;
- `<name>_gather` writes the payload in the sorted order.
Keys and payloads are read as unsigned integers of their width (bits, never arithmetic),
so float16 and float64 need no extension here. O(n log^2 n) work, O(log^2 n) launches.
Imports: petagrad.dtypes.
"""
from __future__ import annotations

from petagrad.dtypes import DType

_UNSIGNED = {1: "uchar", 2: "ushort", 4: "uint", 8: "ulong"}
# (sign bit, exponent-all-ones) of each float width: larger magnitudes are NaN
_FLOAT_BITS = {2: ("0x8000UL", "0x7c00UL"), 4: ("0x80000000UL", "0x7f800000UL"),
               8: ("0x8000000000000000UL", "0x7ff0000000000000UL")}


def _key_expression(dtype: DType) -> list[str]:
    """Statements that set `ulong key` from `ulong b`, the raw bits of one key."""
    bits = 8 * dtype.itemsize
    top = "0xffffffffffffffffUL" if bits == 64 else f"0x{(1 << bits) - 1:x}UL"
    if dtype.is_float:
        sign, inf = _FLOAT_BITS[dtype.itemsize]
        return [f"ulong m = b & ({sign} - 1UL);",
                f"if (m > {inf}) key = {top};",
                "else {",
                "  if (m == 0) b = 0;",
                f"  key = (b & {sign}) ? (~b & {top}) : (b | {sign});",
                "}"]
    if dtype.kind == "i":
        return [f"key = b ^ (1UL << {bits - 1});"]
    return ["key = b;"]


def render_sort(name: str, key: DType, payload: DType, descending: bool, local: int) -> str:
    """OpenCL C source of the kernels `<name>_keys`, `<name>_step`, `<name>_local` (the
    stages with j < 2 * local run in one work-group's local memory, `local` work-items each
    holding two elements) and `<name>_gather`."""
    bits = 8 * key.itemsize
    top = "0xffffffffffffffffUL" if bits == 64 else f"0x{(1 << bits) - 1:x}UL"
    key_type, payload_type = _UNSIGNED[key.itemsize], _UNSIGNED[payload.itemsize]
    flip = f"key ^= {top};" if descending else ""
    body = "\n    ".join(_key_expression(key))
    return f"""#define LOCAL {local}
__kernel void {name}_keys(__global ulong *keys, __global uint *pos,
                          __global const {key_type} *src, long n, long padded) {{
  long gid = get_global_id(0);
  long row = gid / padded, j = gid - row * padded;
  ulong key = 0xffffffffffffffffUL;
  if (j < n) {{
    ulong b = (ulong)src[row * n + j];
    {body}
    {flip}
  }}
  keys[gid] = key;
  pos[gid] = (uint)j;
}}

__kernel void {name}_step(__global ulong *keys, __global uint *pos, long padded, long k,
                          long j) {{
  long gid = get_global_id(0);
  long row = gid / padded, i = gid - row * padded;
  long partner = i ^ j;
  if (partner <= i) return;
  long a = row * padded + i, b = row * padded + partner;
  ulong ka = keys[a], kb = keys[b];
  uint pa = pos[a], pb = pos[b];
  int a_after = ka > kb || (ka == kb && pa > pb);
  int up = (i & k) == 0;
  if (a_after == up) {{
    keys[a] = kb; keys[b] = ka;
    pos[a] = pb; pos[b] = pa;
  }}
}}

__kernel void {name}_local(__global ulong *keys, __global uint *pos, long padded,
                           long kfirst, long klast, long jfirst) {{
  __local ulong lk[2 * LOCAL];
  __local uint lp[2 * LOCAL];
  long t = get_local_id(0), base = get_group_id(0) * 2 * LOCAL;
  long row_base = base % padded;
  lk[t] = keys[base + t]; lp[t] = pos[base + t];
  lk[t + LOCAL] = keys[base + t + LOCAL]; lp[t + LOCAL] = pos[base + t + LOCAL];
  barrier(CLK_LOCAL_MEM_FENCE);
  for (long k = kfirst; k <= klast; k <<= 1) {{
    for (long j = k == kfirst ? jfirst : k >> 1; j >= 1; j >>= 1) {{
      long i = 2 * j * (t / j) + (t % j), partner = i + j;
      ulong ka = lk[i], kb = lk[partner];
      uint pa = lp[i], pb = lp[partner];
      int a_after = ka > kb || (ka == kb && pa > pb);
      int up = ((row_base + i) & k) == 0;
      if (a_after == up) {{
        lk[i] = kb; lk[partner] = ka;
        lp[i] = pb; lp[partner] = pa;
      }}
      barrier(CLK_LOCAL_MEM_FENCE);
    }}
  }}
  keys[base + t] = lk[t]; pos[base + t] = lp[t];
  keys[base + t + LOCAL] = lk[t + LOCAL]; pos[base + t + LOCAL] = lp[t + LOCAL];
}}

__kernel void {name}_gather(__global {payload_type} *out, __global const uint *pos,
                            __global const {payload_type} *payload, long n, long padded) {{
  long gid = get_global_id(0);
  long row = gid / n, j = gid - row * n;
  out[gid] = payload[row * n + pos[row * padded + j]];
}}
"""
