/* petagrad's runtime header for generated CPU kernels.
 * Every generated C kernel starts with this text, so it is part of each kernel's cache key.
 * It holds what a generated expression cannot say inline: fixed-width types, math, and
 * exact integer powers. Keep it small: every byte is compiled with every kernel. */
#include <stdint.h>
#include <string.h>
#include <math.h>
#ifdef _OPENMP
#include <omp.h>
#define PG_THREAD_ID() omp_get_thread_num()
#define PG_NUM_THREADS() omp_get_num_threads()
#else
#define PG_THREAD_ID() 0
#define PG_NUM_THREADS() 1
#endif

/* Integer x ** y by repeated squaring, wrapping on overflow like NumPy (the products are
 * done in the unsigned type U, where C defines wrap-around).
 * A negative exponent gives 1 / x ** -y truncated: 1 for x == 1, +-1 for x == -1, else 0. */
#define PG_IPOW(T, U, NAME)                                                               \
  static inline T pg_ipow_##NAME(T base, T exp) {                                         \
    if (exp < 0) return base == 1 ? 1 : (base == (T)-1 ? ((exp & 1) ? (T)-1 : 1) : 0);   \
    U result = 1, b = (U)base;                                                            \
    while (exp) {                                                                         \
      if (exp & 1) result *= b;                                                           \
      b *= b;                                                                             \
      exp >>= 1;                                                                          \
    }                                                                                     \
    return (T)result;                                                                     \
  }
PG_IPOW(int8_t, uint32_t, int8) PG_IPOW(int16_t, uint32_t, int16)
PG_IPOW(int32_t, uint32_t, int32) PG_IPOW(int64_t, uint64_t, int64)
PG_IPOW(uint8_t, uint32_t, uint8) PG_IPOW(uint16_t, uint32_t, uint16)
PG_IPOW(uint32_t, uint32_t, uint32) PG_IPOW(uint64_t, uint64_t, uint64)

/* Vectorizable float32 exp2 and log2. glibc only offers SIMD variants of its math under
 * -ffast-math, which petagrad avoids (NaN/inf must behave like NumPy), so these are our own:
 * branch-free, `omp declare simd` so gcc vectorizes loops that call them, accurate to
 * about 1 ulp, with inf/NaN/zero/subnormal handled like the C library. */
/* union punning (defined in C, unlike pointer casts) keeps values in registers */
typedef union { float f; int32_t i; } pg_f32_bits;
static inline float pg_bits_to_float(int32_t bits) { pg_f32_bits u = {.i = bits}; return u.f; }
static inline int32_t pg_float_to_bits(float f) { pg_f32_bits u = {.f = f}; return u.i; }

/* bfloat16 is held as its 16 bits (the top half of a float32) and computed in float.
 * float -> bfloat16 rounds to nearest even; NaN stays a quiet NaN, infinities stay. */
static inline uint16_t pg_f32_to_bf16(float x) {
  uint32_t u = (uint32_t)pg_float_to_bits(x);
  if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40u);
  return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}
static inline float pg_bf16_to_f32(uint16_t h) {
  return pg_bits_to_float((int32_t)((uint32_t)h << 16));
}
static inline float pg_bf16_round(float x) { return pg_bf16_to_f32(pg_f32_to_bf16(x)); }

#pragma omp declare simd notinbranch
static inline float pg_exp2f(float x) {
  /* compare-selects, not fminf/fmaxf: their NaN rules stop gcc from vectorizing */
  float xl = x > -151.0f ? x : -151.0f;
  float xc = xl < 129.0f ? xl : 129.0f;
  float n = rintf(xc);
  float f = xc - n;                       /* f in [-0.5, 0.5] */
  /* 2^f = e^(f ln 2), Taylor to degree 7: error < 1e-8 relative on [-0.5, 0.5] */
  float p = 1.5252733804059841e-05f;
  p = fmaf(p, f, 1.5403530393381609e-04f);
  p = fmaf(p, f, 1.3333558146428443e-03f);
  p = fmaf(p, f, 9.6181291076284772e-03f);
  p = fmaf(p, f, 5.5504108664821580e-02f);
  p = fmaf(p, f, 2.4022650695910071e-01f);
  p = fmaf(p, f, 6.9314718055994531e-01f);
  p = fmaf(p, f, 1.0f);
  /* scale by 2^n in two steps so subnormal results and overflow round correctly */
  int32_t ni = (int32_t)n;
  int32_t n1 = ni >> 1, n2 = ni - n1;
  float r = p * pg_bits_to_float((n1 + 127) << 23) * pg_bits_to_float((n2 + 127) << 23);
  return x != x ? x : r;
}

/* e^x for float32: 2^k e^r with k = rint(x log2 e) and r = x - k ln 2, the product k ln 2
   in two parts (Cody and Waite: k * hi is exact) so r carries no rounding of x log2 e;
   e^r on |r| <= ln 2 / 2 by its Taylor series to degree 7 (error < 1e-8 relative). x is
   clamped where e^x is already inf or 0; 2^k is applied in two steps so overflow and
   subnormal results round once. NaN stays NaN. */
#pragma omp declare simd notinbranch
static inline float pg_expf(float x) {
  float xl = x > -104.0f ? x : -104.0f;
  float xc = xl < 89.0f ? xl : 89.0f;
  float k = rintf(xc * 1.44269504088896341f);
  float r = fmaf(k, -0.693145751953125f, xc);
  r = fmaf(k, -1.428606765330187045e-06f, r);
  float p = 1.0f / 5040.0f;
  p = fmaf(p, r, 1.0f / 720.0f);
  p = fmaf(p, r, 1.0f / 120.0f);
  p = fmaf(p, r, 1.0f / 24.0f);
  p = fmaf(p, r, 1.0f / 6.0f);
  p = fmaf(p, r, 0.5f);
  p = fmaf(p, r, 1.0f);
  p = fmaf(p, r, 1.0f);
  int32_t ki = (int32_t)k;
  int32_t n1 = ki >> 1, n2 = ki - n1;
  float out = p * pg_bits_to_float((n1 + 127) << 23) * pg_bits_to_float((n2 + 127) << 23);
  return x != x ? x : out;
}

/* tanh for float32: sign(x) (1 - e) / (1 + e) with e = e^(-2|x|) <= 1, so nothing
   overflows; below |x| = 0.1, where 1 - e cancels, the odd Taylor series to x^9 (relative
   error < 1e-9 there). +-inf give +-1, NaN stays NaN, -0.0 stays -0.0. */
#pragma omp declare simd notinbranch
static inline float pg_tanhf(float x) {
  float a = x < 0.0f ? -x : x;
  float e = pg_expf(-2.0f * a);
  float far = (1.0f - e) / (1.0f + e);
  far = x < 0.0f ? -far : far;
  float x2 = x * x;
  float s = fmaf(x2, 62.0f / 2835.0f, -17.0f / 315.0f);
  s = fmaf(s, x2, 2.0f / 15.0f);
  s = fmaf(s, x2, -1.0f / 3.0f);
  s = fmaf(s, x2, 1.0f);
  return a < 0.1f ? s * x : far;
}

#pragma omp declare simd notinbranch
static inline float pg_log2f(float x) {
  int sub = x < 1.17549435e-38f;          /* subnormal (or <= 0): rescale by 2^23 first */
  float xs = sub ? x * 8388608.0f : x;
  int32_t bits = pg_float_to_bits(xs);
  int32_t e = ((bits >> 23) & 0xff) - 127 - (sub ? 23 : 0);
  float m = pg_bits_to_float((bits & 0x7fffff) | 0x3f800000);   /* m in [1, 2) */
  int big = m > 1.41421356f;
  m = big ? m * 0.5f : m;                 /* m in [sqrt(1/2), sqrt(2)) */
  e += big;
  float t = (m - 1.0f) / (m + 1.0f), t2 = t * t;
  /* ln m = 2 atanh t = 2 (t + t^3/3 + ...), |t| < 0.172 */
  float p = fmaf(t2, 1.0f / 11.0f, 1.0f / 9.0f);
  p = fmaf(p, t2, 1.0f / 7.0f);
  p = fmaf(p, t2, 1.0f / 5.0f);
  p = fmaf(p, t2, 1.0f / 3.0f);
  p = fmaf(p, t2, 1.0f);
  float r = fmaf(2.0f * t * p, 1.44269504088896341f, (float)e);
  r = x == 0.0f ? -INFINITY : r;
  r = x < 0.0f ? NAN : r;
  r = x == INFINITY ? INFINITY : r;
  return x != x ? x : r;
}
