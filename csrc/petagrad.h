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

/* Integer x ** y by repeated squaring, wrapping on overflow like NumPy.
 * A negative exponent gives 1 / x ** -y truncated: 1 for x == 1, +-1 for x == -1, else 0. */
#define PG_IPOW(T, NAME)                                            \
  static inline T pg_ipow_##NAME(T base, T exp) {                   \
    if (exp < 0) return base == 1 ? 1 : (base == (T)-1 ? ((exp & 1) ? (T)-1 : 1) : 0); \
    T result = 1;                                                   \
    while (exp) {                                                   \
      if (exp & 1) result = (T)(result * base);                     \
      base = (T)(base * base);                                      \
      exp >>= 1;                                                    \
    }                                                               \
    return result;                                                  \
  }
PG_IPOW(int8_t, int8) PG_IPOW(int16_t, int16) PG_IPOW(int32_t, int32) PG_IPOW(int64_t, int64)
PG_IPOW(uint8_t, uint8) PG_IPOW(uint16_t, uint16) PG_IPOW(uint32_t, uint32)
PG_IPOW(uint64_t, uint64)
