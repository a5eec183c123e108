/* petagrad GEMM: C[b] = A[b] @ B[b] in float32 / float64, any element strides.
 *
 * Blocking scheme (GotoBLAS/BLIS style).  One thread computing one (sub)matrix runs
 *
 *   for jc in N step NC
 *     for pc in K step KC                     (first k block writes C, later ones add to it)
 *       for ic in M step MC
 *         for jr in NC step NR                [ic == first: pack B micro-panel jr]
 *           for ir in MC step MR              [jr == first: pack A micro-panel ir]
 *             C[ir:+MR, jr:+NR] (=|+=) Ap[ir] @ Bp[jr]       <- register-blocked microkernel
 *
 * The microkernel keeps an MR x NR tile of C in vector registers (MR x NV accumulators,
 * NR = NV vectors) and per k loads only NV vectors of B and MR broadcasts of A, so it is
 * bound by FMA throughput rather than by loads.  Packing copies A into MR-row panels (the MR
 * values of one k contiguous) and B into NR-column panels (the NR values of one k
 * contiguous), in aligned per-thread buffers; this is also where every stride (transposed,
 * broadcast, negative) is absorbed, so the microkernel only sees unit-stride panels.
 * Panels are packed lazily, right before their first use, so a freshly packed panel is
 * still in L1/L2 when the kernel reads it (this matters when M is small).
 *
 * Block sizes (tuned on Zen 4: 32 KB L1d, 1 MB L2 per core): a deep KC (1024) amortises
 * the C-tile load/store over many FMAs; an A micro-panel (MR x KC) and a B micro-panel
 * (KC x NR) then live in L2, which on current x86 cores feeds the kernel fast enough.
 * MC keeps the packed A block (MC x KC) at ~256 KB of L2; NC keeps the packed B block
 * (KC x NC) at a few MB of L3.  All sizes are in bytes, so float64 shares them.
 *
 * Edges: sizes need not be multiples of anything.  A partial row panel runs the kernel on
 * 8 + 4 + 2 + 1-row pieces (five unrolled kernel variants instead of MR); a partial column
 * panel is zero-padded in Bp and its C columns are written with masked stores.
 *
 * Special cases: M == 1 or N == 1 (matrix-vector) use a dedicated unpacked loop, since
 * they are memory-bound; products of under PG_TINY_FMA multiply-adds use a plain loop.
 *
 * Threads: the (batch x M x N) work is cut into independent tasks (whole matrices when the
 * batch is large, otherwise strips of M and/or N), each run by one thread with its own
 * thread-local pack buffers; there is no synchronisation inside a task.
 *
 * Code organisation: the driver (blocking loops, threading) is type-agnostic and works on
 * bytes; the type-specific parts (microkernel, packing, gemv, tiny loop) are generated once
 * per dtype by PG_DEFINE_TYPE.  Vectors use GCC vector extensions, so the code compiles on
 * any target; broadcasts, FMAs, masked edge loads/stores and the transposing pack use
 * intrinsics where the ISA has them (AVX-512, AVX/FMA), with portable fallbacks otherwise.
 */
#if defined(_OPENMP) && !defined(_GNU_SOURCE)
#define _GNU_SOURCE /* dladdr, RTLD_NODELETE (see pg_pin_library) */
#endif
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#if defined(__has_include)
#if __has_include(<dlfcn.h>)
#include <dlfcn.h>
#endif
#endif
#endif
#if defined(__AVX__)
#include <immintrin.h>
#endif

/* ---------------------------------------------------------------- ISA choice -- */
/* PG_VBYTES: vector width.  PG_MR x PG_NV: microkernel tile (rows x vectors); the
   accumulators MR*NV + NV B vectors + 1 broadcast must fit in the vector registers. */
#if defined(__AVX512F__)
#define PG_VBYTES 64 /* 32 zmm registers: 14x2 accumulators + 2 B + 1 broadcast */
#ifndef PG_MR
#define PG_MR 14
#endif
#ifndef PG_NV
#define PG_NV 2
#endif
#elif defined(__AVX__)
#define PG_VBYTES 32 /* 16 ymm registers: 6x2 accumulators + 2 B + 1 broadcast */
#define PG_MR 6
#define PG_NV 2
#else
#define PG_VBYTES 16 /* SSE2 / NEON / anything else: plain GCC vector code */
#define PG_MR 4
#define PG_NV 2
#endif

/* ----------------------------------------------------------------- tunables -- */
#ifndef PG_KC
#define PG_KC 1024 /* depth of a k block */
#endif
#ifndef PG_A_BYTES
#define PG_A_BYTES (256 * 1024) /* packed A block, MC x KC */
#endif
#ifndef PG_B_BYTES
#define PG_B_BYTES (4 * 1024 * 1024) /* packed B block, KC x NC */
#endif
#ifndef PG_MIN_FMA_PER_THREAD /* less work than this per thread: use fewer threads */
#define PG_MIN_FMA_PER_THREAD (32 * 32 * 32)
#endif
#ifndef PG_PACK_COST /* cost of packing one element, in multiply-adds (thread split) */
#define PG_PACK_COST 8
#endif
#ifndef PG_TINY_FMA /* products this small skip packing entirely */
#define PG_TINY_FMA (8 * 8 * 8)
#endif

#if PG_MR > 16
#error "edge panels are split into 8 + 4 + 2 + 1 rows: PG_MR must be <= 16"
#endif
#define PG_PART(n) ((n) < PG_MR ? (n) : 1) /* an edge-panel part size that can occur */

#define PG_ALIGN 64
#define PG_INLINE static inline __attribute__((always_inline))

static inline int64_t pg_min(int64_t a, int64_t b) { return a < b ? a : b; }
static inline int64_t pg_cdiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

/* --------------------------------------------------- vector types and primitives -- */
/* P##_v: aligned vector (packed buffers); P##_u: unaligned, aliasing-safe (user memory).
   P##_bcast: scalar -> all lanes.  P##_fma: a*b + c.
   P##_store_part: C[0:n] (+)= x[0:n] for the n < VL trailing columns of a tile row.
   P##_load_part: x[0:n] = p[0:n], other lanes 0 (never reads past p[n-1]). */
typedef float pg_f32_v __attribute__((vector_size(PG_VBYTES)));
typedef double pg_f64_v __attribute__((vector_size(PG_VBYTES)));
typedef float pg_f32_u __attribute__((vector_size(PG_VBYTES), aligned(4), may_alias));
typedef double pg_f64_u __attribute__((vector_size(PG_VBYTES), aligned(8), may_alias));

#define PG_GENERIC_BCAST(T, P)                                                              \
    PG_INLINE P##_v P##_bcast(T x)                                                          \
    {                                                                                       \
        P##_v r; /* element-wise fill; gcc turns it into a broadcast */                     \
        for (int l = 0; l < (int)(PG_VBYTES / sizeof(T)); l++) r[l] = x;                   \
        return r;                                                                           \
    }
#define PG_GENERIC_FMA(T, P) /* gcc contracts it to an FMA where the target has one */   \
    PG_INLINE P##_v P##_fma(P##_v a, P##_v b, P##_v c) { return a * b + c; }
#define PG_GENERIC_PARTIAL(T, P)                                                            \
    PG_INLINE P##_v P##_load_part(const T *p, int n)                                        \
    {                                                                                       \
        T t[PG_VBYTES / sizeof(T)] = {0};                                                   \
        P##_v x;                                                                            \
        memcpy(t, p, n * sizeof(T));                                                        \
        memcpy(&x, t, sizeof x);                                                            \
        return x;                                                                           \
    }                                                                                       \
    PG_INLINE void P##_store_part(T *p, P##_v x, int n, int beta)                           \
    {                                                                                       \
        T t[PG_VBYTES / sizeof(T)];                                                         \
        memcpy(t, &x, sizeof x);                                                            \
        for (int j = 0; j < n; j++) p[j] = beta ? p[j] + t[j] : t[j];                       \
    }

/* P##_pack_t: transposing copy d[k*ld + i] = s[i*si + k] for i < n, k < kc, and zeros
   for n <= i < ld. */
#define PG_GENERIC_PACK_T(T, P)                                                             \
    static void P##_pack_t(T *restrict d, int64_t ld, const T *s, int64_t si, int64_t n,    \
                           int64_t kc)                                                      \
    {                                                                                       \
        for (int64_t i = 0; i < ld; i++)                                                    \
            for (int64_t k = 0; k < kc; k++) d[k * ld + i] = i < n ? s[i * si + k] : (T)0;  \
    }

#if defined(__AVX512F__)
PG_INLINE pg_f32_v pg_f32_bcast(float x) { return _mm512_set1_ps(x); }
PG_INLINE pg_f64_v pg_f64_bcast(double x) { return _mm512_set1_pd(x); }
PG_INLINE pg_f32_v pg_f32_fma(pg_f32_v a, pg_f32_v b, pg_f32_v c)
{
    return _mm512_fmadd_ps(a, b, c);
}
PG_INLINE pg_f64_v pg_f64_fma(pg_f64_v a, pg_f64_v b, pg_f64_v c)
{
    return _mm512_fmadd_pd(a, b, c);
}
PG_INLINE pg_f32_v pg_f32_load_part(const float *p, int n)
{
    return _mm512_maskz_loadu_ps((__mmask16)((1u << n) - 1), p);
}
PG_INLINE pg_f64_v pg_f64_load_part(const double *p, int n)
{
    return _mm512_maskz_loadu_pd((__mmask8)((1u << n) - 1), p);
}
PG_INLINE void pg_f32_store_part(float *p, pg_f32_v x, int n, int beta)
{
    __mmask16 m = (__mmask16)((1u << n) - 1);
    if (beta) x += _mm512_maskz_loadu_ps(m, p);
    _mm512_mask_storeu_ps(p, m, x);
}
PG_INLINE void pg_f64_store_part(double *p, pg_f64_v x, int n, int beta)
{
    __mmask8 m = (__mmask8)((1u << n) - 1);
    if (beta) x += _mm512_maskz_loadu_pd(m, p);
    _mm512_mask_storeu_pd(p, m, x);
}

/* P##_pack_t with in-register transposes of 16 x 16 floats / 8 x 8 doubles (unpack within
   128-bit lanes, then pg_lanes4 gathers lane j of four vectors into one).  Masked loads and
   stores handle the ragged edges, so nothing outside the operands is ever touched. */
PG_INLINE void pg_lanes4_ps(__m512 *o, __m512 u0, __m512 u1, __m512 u2, __m512 u3)
{
    __m512 x = _mm512_shuffle_f32x4(u0, u1, 0x44), y = _mm512_shuffle_f32x4(u0, u1, 0xEE);
    __m512 x2 = _mm512_shuffle_f32x4(u2, u3, 0x44), y2 = _mm512_shuffle_f32x4(u2, u3, 0xEE);
    o[0] = _mm512_shuffle_f32x4(x, x2, 0x88); /* lane 0 of u0, u1, u2, u3 */
    o[1] = _mm512_shuffle_f32x4(x, x2, 0xDD); /* lane 1 of ... */
    o[2] = _mm512_shuffle_f32x4(y, y2, 0x88);
    o[3] = _mm512_shuffle_f32x4(y, y2, 0xDD);
}

static void pg_f32_pack_t(float *restrict d, int64_t ld, const float *s, int64_t si, int64_t n,
                          int64_t kc)
{
    for (int64_t i0 = 0; i0 < ld; i0 += 16) { /* rows i0.. land in columns i0.. of d */
        const int rn = (int)pg_min(16, n - i0); /* rows that exist (<= 0: all padding) */
        const __mmask16 smask = (__mmask16)((1u << pg_min(16, ld - i0)) - 1);
        for (int64_t k0 = 0; k0 < kc; k0 += 16) {
            const int kn = (int)pg_min(16, kc - k0);
            const __mmask16 lmask = (__mmask16)((1u << kn) - 1);
            __m512 r[16], t[16];
#pragma GCC unroll 16
            for (int i = 0; i < 16; i++) /* rows i0+i, columns k0.. (zero past the ends) */
                r[i] = i < rn ? _mm512_maskz_loadu_ps(lmask, s + (i0 + i) * si + k0)
                              : _mm512_setzero_ps();
#pragma GCC unroll 8
            for (int i = 0; i < 16; i += 2) { /* lane j: (r_i[4j], r_i+1[4j], r_i[4j+1], ..) */
                t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
                t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
            }
#pragma GCC unroll 4
            for (int i = 0; i < 16; i += 4) { /* r[i+c] lane j: rows i..i+3 of column 4j+c */
                __m512d a = _mm512_castps_pd(t[i]), b = _mm512_castps_pd(t[i + 1]);
                __m512d c = _mm512_castps_pd(t[i + 2]), e = _mm512_castps_pd(t[i + 3]);
                r[i] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, c));
                r[i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, c));
                r[i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(b, e));
                r[i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(b, e));
            }
#pragma GCC unroll 4
            for (int c = 0; c < 4; c++) { /* columns c, 4+c, 8+c, 12+c: store them */
                __m512 o[4];
                pg_lanes4_ps(o, r[c], r[4 + c], r[8 + c], r[12 + c]);
                for (int j = 0; j < 4; j++)
                    if (4 * j + c < kn)
                        _mm512_mask_storeu_ps(d + (k0 + 4 * j + c) * ld + i0, smask, o[j]);
            }
        }
    }
}

PG_INLINE void pg_lanes4_pd(__m512d *o, __m512d u0, __m512d u1, __m512d u2, __m512d u3)
{
    __m512d x = _mm512_shuffle_f64x2(u0, u1, 0x44), y = _mm512_shuffle_f64x2(u0, u1, 0xEE);
    __m512d x2 = _mm512_shuffle_f64x2(u2, u3, 0x44), y2 = _mm512_shuffle_f64x2(u2, u3, 0xEE);
    o[0] = _mm512_shuffle_f64x2(x, x2, 0x88);
    o[1] = _mm512_shuffle_f64x2(x, x2, 0xDD);
    o[2] = _mm512_shuffle_f64x2(y, y2, 0x88);
    o[3] = _mm512_shuffle_f64x2(y, y2, 0xDD);
}

static void pg_f64_pack_t(double *restrict d, int64_t ld, const double *s, int64_t si, int64_t n,
                          int64_t kc)
{
    for (int64_t i0 = 0; i0 < ld; i0 += 8) { /* rows i0.. land in columns i0.. of d */
        const int rn = (int)pg_min(8, n - i0); /* rows that exist (<= 0: all padding) */
        const __mmask8 smask = (__mmask8)((1u << pg_min(8, ld - i0)) - 1);
        for (int64_t k0 = 0; k0 < kc; k0 += 8) {
            const int kn = (int)pg_min(8, kc - k0);
            const __mmask8 lmask = (__mmask8)((1u << kn) - 1);
            __m512d r[8], t[8];
#pragma GCC unroll 8
            for (int i = 0; i < 8; i++)
                r[i] = i < rn ? _mm512_maskz_loadu_pd(lmask, s + (i0 + i) * si + k0)
                              : _mm512_setzero_pd();
#pragma GCC unroll 4
            for (int i = 0; i < 8; i += 2) { /* t[i+c] lane j: rows i, i+1 of column 2j+c */
                t[i] = _mm512_unpacklo_pd(r[i], r[i + 1]);
                t[i + 1] = _mm512_unpackhi_pd(r[i], r[i + 1]);
            }
#pragma GCC unroll 2
            for (int c = 0; c < 2; c++) { /* columns c, 2+c, 4+c, 6+c */
                __m512d o[4];
                pg_lanes4_pd(o, t[c], t[2 + c], t[4 + c], t[6 + c]);
                for (int j = 0; j < 4; j++)
                    if (2 * j + c < kn)
                        _mm512_mask_storeu_pd(d + (k0 + 2 * j + c) * ld + i0, smask, o[j]);
            }
        }
    }
}
#elif defined(__AVX__)
PG_INLINE pg_f32_v pg_f32_bcast(float x) { return _mm256_set1_ps(x); }
PG_INLINE pg_f64_v pg_f64_bcast(double x) { return _mm256_set1_pd(x); }
#ifdef __FMA__
PG_INLINE pg_f32_v pg_f32_fma(pg_f32_v a, pg_f32_v b, pg_f32_v c)
{
    return _mm256_fmadd_ps(a, b, c);
}
PG_INLINE pg_f64_v pg_f64_fma(pg_f64_v a, pg_f64_v b, pg_f64_v c)
{
    return _mm256_fmadd_pd(a, b, c);
}
#else
PG_GENERIC_FMA(float, pg_f32)
PG_GENERIC_FMA(double, pg_f64)
#endif
PG_GENERIC_PARTIAL(float, pg_f32)
PG_GENERIC_PARTIAL(double, pg_f64)
PG_GENERIC_PACK_T(float, pg_f32)
PG_GENERIC_PACK_T(double, pg_f64)
#else
PG_GENERIC_BCAST(float, pg_f32)
PG_GENERIC_BCAST(double, pg_f64)
PG_GENERIC_FMA(float, pg_f32)
PG_GENERIC_FMA(double, pg_f64)
PG_GENERIC_PARTIAL(float, pg_f32)
PG_GENERIC_PARTIAL(double, pg_f64)
PG_GENERIC_PACK_T(float, pg_f32)
PG_GENERIC_PACK_T(double, pg_f64)
#endif

/* Per-thread scratch buffer, grown on demand and kept for the thread's lifetime
   (OpenMP threads persist, so repeated calls pay for neither malloc nor page faults).
   With OpenMP (hence pthreads) a thread-specific key frees it when its thread exits. */
static _Thread_local char *pg_buf;
static _Thread_local size_t pg_buf_cap;

#if defined(_OPENMP) && defined(__has_include)
#if __has_include(<pthread.h>)
#include <pthread.h>
#define PG_BUF_KEY 1
static pthread_key_t pg_buf_key;
static int pg_buf_key_ok;
__attribute__((constructor)) static void pg_buf_key_init(void)
{
    pg_buf_key_ok = pthread_key_create(&pg_buf_key, free) == 0;
}
__attribute__((destructor)) static void pg_buf_key_fini(void)
{
    if (pg_buf_key_ok) pthread_key_delete(pg_buf_key); /* no destructor calls after unload */
}
#endif
#endif

static char *pg_scratch(size_t bytes)
{
    bytes = (bytes + PG_ALIGN - 1) / PG_ALIGN * PG_ALIGN;
    if (bytes > pg_buf_cap) {
        free(pg_buf);
        pg_buf = aligned_alloc(PG_ALIGN, bytes);
        pg_buf_cap = pg_buf ? bytes : 0;
#ifdef PG_BUF_KEY
        if (pg_buf_key_ok) pthread_setspecific(pg_buf_key, pg_buf);
#endif
    }
    return pg_buf;
}

/* ------------------------------------------------------- type-specific parts -- */
/* PG_DEFINE_TYPE(T, P) defines, for element type T and the primitives P##_v/_u/_bcast/...:
     P##_kernel : C tile of rows x cols (rows <= MR, cols <= NR) from one A and one B panel
     P##_pack   : copy an n x kc strided block into a panel, dst[k*ld + i] = src[i*si + k*sk]
     P##_gemv   : y = X v (matrix-vector, no packing)
     P##_tiny   : plain triple loop for very small products                               */
#define PG_DEFINE_TYPE(T, P)                                                                      \
    enum { P##_VL = PG_VBYTES / sizeof(T), P##_NR = PG_NV * P##_VL };                             \
                                                                                                  \
    static void P##_scatter(T *c, int64_t rsc, int64_t csc, int rows, int cols, const T *t,       \
                            int beta)                                                             \
    {                                                                                             \
        for (int i = 0; i < rows; i++)                                                            \
            for (int j = 0; j < cols; j++) {                                                      \
                T *p = c + i * rsc + j * csc;                                                     \
                *p = beta ? *p + t[i * P##_NR + j] : t[i * P##_NR + j];                           \
            }                                                                                     \
    }                                                                                             \
                                                                                                  \
    /* rows and nv are compile-time constants at every call site, so the loops over them          \
       unroll completely and acc[][] lives in registers. */                                       \
    PG_INLINE void P##_kbody(const int rows, const int nv, int64_t kc, const T *restrict a,       \
                             const T *restrict b, T *restrict c, int64_t rsc, int64_t csc,        \
                             int cols, int beta)                                                  \
    {                                                                                             \
        P##_v acc[PG_MR][PG_NV];                                                                  \
        for (int i = 0; i < rows; i++) { /* C is only touched after the k loop: fetch it now */   \
            __builtin_prefetch(c + i * rsc, 1, 3);                                                \
            __builtin_prefetch(c + i * rsc + (cols - 1) * csc, 1, 3);                             \
        }                                                                                         \
        for (int i = 0; i < rows; i++)                                                            \
            for (int v = 0; v < nv; v++) acc[i][v] = (P##_v){0};                                  \
        for (int64_t k = 0; k < kc; k++) {                                                        \
            P##_v bv[PG_NV];                                                                      \
            for (int v = 0; v < nv; v++) bv[v] = *(const P##_v *)(b + v * P##_VL);                \
            for (int i = 0; i < rows; i++) {                                                      \
                P##_v av = P##_bcast(a[i]);                                                       \
                for (int v = 0; v < nv; v++) acc[i][v] = P##_fma(av, bv[v], acc[i][v]);           \
            }                                                                                     \
            a += PG_MR;                                                                           \
            b += P##_NR;                                                                          \
        }                                                                                         \
        if (csc == 1) { /* contiguous C rows: vector stores, masked for the last columns */       \
            for (int i = 0; i < rows; i++)                                                        \
                for (int v = 0; v < nv; v++) {                                                    \
                    T *p = c + i * rsc + v * P##_VL;                                              \
                    if (cols - v * P##_VL >= P##_VL) {                                            \
                        P##_v r = acc[i][v];                                                      \
                        if (beta) r += *(P##_u *)p;                                               \
                        *(P##_u *)p = r;                                                          \
                    } else {                                                                      \
                        P##_store_part(p, acc[i][v], cols - v * P##_VL, beta);                    \
                    }                                                                             \
                }                                                                                 \
        } else { /* strided C: through a scratch tile */                                          \
            P##_v t[PG_MR][PG_NV];                                                                \
            for (int i = 0; i < rows; i++)                                                        \
                for (int v = 0; v < nv; v++) t[i][v] = acc[i][v];                                 \
            P##_scatter(c, rsc, csc, rows, cols, (const T *)t, beta);                             \
        }                                                                                         \
    }                                                                                             \
                                                                                                  \
    static void P##_kernel(int rows, int cols, int64_t kc, const void *a_, const void *b_,        \
                           void *c_, int64_t rsc, int64_t csc, int beta)                          \
    {                                                                                             \
        const T *a = (const T *)a_, *b = (const T *)b_;                                           \
        T *c = (T *)c_;                                                                           \
        const int wide = cols > P##_VL; /* else one vector covers the columns */                  \
        if (rows == PG_MR) {                                                                      \
            if (wide) P##_kbody(PG_MR, PG_NV, kc, a, b, c, rsc, csc, cols, beta);                 \
            else P##_kbody(PG_MR, 1, kc, a, b, c, rsc, csc, cols, beta);                          \
            return;                                                                               \
        }                                                                                         \
        /* Edge panel: split rows (< MR <= 16) into 8 + 4 + 2 + 1 pieces, so that only five       \
           row counts need an unrolled copy of the kernel. */                                     \
        for (int part = 8; part >= 1; part /= 2) {                                                \
            if (!(rows & part)) continue;                                                         \
            switch (part * 2 + wide) { /* PG_PART: parts >= MR never occur; keep them small */    \
            case 16: P##_kbody(PG_PART(8), 1, kc, a, b, c, rsc, csc, cols, beta); break;          \
            case 17: P##_kbody(PG_PART(8), PG_NV, kc, a, b, c, rsc, csc, cols, beta); break;      \
            case 8: P##_kbody(PG_PART(4), 1, kc, a, b, c, rsc, csc, cols, beta); break;           \
            case 9: P##_kbody(PG_PART(4), PG_NV, kc, a, b, c, rsc, csc, cols, beta); break;       \
            case 4: P##_kbody(PG_PART(2), 1, kc, a, b, c, rsc, csc, cols, beta); break;           \
            case 5: P##_kbody(PG_PART(2), PG_NV, kc, a, b, c, rsc, csc, cols, beta); break;       \
            case 2: P##_kbody(1, 1, kc, a, b, c, rsc, csc, cols, beta); break;                    \
            default: P##_kbody(1, PG_NV, kc, a, b, c, rsc, csc, cols, beta); break;               \
            }                                                                                     \
            a += part; /* the next rows of the same packed panel */                               \
            c += part * rsc;                                                                      \
        }                                                                                         \
    }                                                                                             \
                                                                                                  \
    /* dst[k*ld + i] = src[i*si + k*sk] for i < n, k < kc; columns n..ld-1 are zeroed.            \
       Packs an A panel (ld = MR, si/sk = row/k stride) or a B panel (ld = NR, si/sk =            \
       column/k stride). */                                                                       \
    static void P##_pack(void *dst, int64_t ld, const void *src, int64_t si, int64_t sk,          \
                         int64_t n, int64_t kc)                                                   \
    {                                                                                             \
        T *restrict d = (T *)dst;                                                                 \
        const T *s = (const T *)src;                                                              \
        if (si == 1 && ld == P##_NR) { /* B panel, B row-major: copy (zero-padded) vectors */     \
            for (int64_t k = 0; k < kc; k++)                                                      \
                for (int v = 0; v < PG_NV; v++) {                                                 \
                    const int m = (int)n - v * P##_VL;                                            \
                    const T *p = s + k * sk + v * P##_VL;                                         \
                    P##_v x = {0};                                                                \
                    if (m >= P##_VL) x = *(const P##_u *)p;                                       \
                    else if (m > 0) x = P##_load_part(p, m);                                      \
                    *(P##_v *)(d + k * P##_NR + v * P##_VL) = x;                                  \
                }                                                                                 \
        } else if (sk == 1 && si != 1) { /* k contiguous: a transpose (which also pads) */        \
            P##_pack_t(d, ld, s, si, n, kc);                                                      \
        } else {                                                                                  \
            if (si == 1 && n == PG_MR && ld == PG_MR) /* full A panel, A column-major */          \
                for (int64_t k = 0; k < kc; k++)                                                  \
                    memcpy(d + k * ld, s + k * sk, sizeof(T) * PG_MR); /* constant size */        \
            else if (si == 1)                                                                     \
                for (int64_t k = 0; k < kc; k++) memcpy(d + k * ld, s + k * sk, n * sizeof(T));   \
            else                                                                                  \
                for (int64_t k = 0; k < kc; k++)                                                  \
                    for (int64_t i = 0; i < n; i++) d[k * ld + i] = s[i * si + k * sk];           \
            for (int64_t k = 0; n < ld && k < kc; k++)                                            \
                memset(d + k * ld + n, 0, (ld - n) * sizeof(T));                                  \
        }                                                                                         \
    }                                                                                             \
                                                                                                  \
    PG_INLINE T P##_hsum(P##_v x)                                                                 \
    {                                                                                             \
        T s = 0;                                                                                  \
        for (int l = 0; l < P##_VL; l++) s += x[l];                                               \
        return s;                                                                                 \
    }                                                                                             \
                                                                                                  \
    /* y[i*sy] = sum_k X[i*sxi + k*sxk] * v[k*sv] for i < n.  Memory-bound, so no packing:        \
       rows of X contiguous -> dot products, 4 rows at a time sharing the loads of v;             \
       columns of X contiguous -> column-wise axpy into a contiguous accumulator. */              \
    static void P##_gemv(int64_t n, int64_t K, const void *X_, int64_t sxi, int64_t sxk,          \
                         const void *v_, int64_t sv, void *y_, int64_t sy)                        \
    {                                                                                             \
        const T *X = (const T *)X_, *v = (const T *)v_;                                           \
        T *y = (T *)y_;                                                                           \
        T *buf = (T *)pg_scratch((size_t)(sxk == 1 ? K : n) * sizeof(T));                         \
        if (sxk == 1 && buf) {                                                                    \
            if (sv != 1) { /* make v contiguous */                                                \
                for (int64_t k = 0; k < K; k++) buf[k] = v[k * sv];                               \
                v = buf;                                                                          \
            }                                                                                     \
            int64_t i = 0;                                                                        \
            for (; i + 4 <= n; i += 4) {                                                          \
                const T *r = X + i * sxi;                                                         \
                P##_v a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0};                                     \
                int64_t k = 0;                                                                    \
                for (; k + P##_VL <= K; k += P##_VL) {                                            \
                    P##_v w = *(const P##_u *)(v + k);                                            \
                    a0 = P##_fma(*(const P##_u *)(r + k), w, a0);                                 \
                    a1 = P##_fma(*(const P##_u *)(r + sxi + k), w, a1);                           \
                    a2 = P##_fma(*(const P##_u *)(r + 2 * sxi + k), w, a2);                       \
                    a3 = P##_fma(*(const P##_u *)(r + 3 * sxi + k), w, a3);                       \
                }                                                                                 \
                T s0 = P##_hsum(a0), s1 = P##_hsum(a1), s2 = P##_hsum(a2), s3 = P##_hsum(a3);     \
                for (; k < K; k++) {                                                              \
                    s0 += r[k] * v[k];                                                            \
                    s1 += r[sxi + k] * v[k];                                                      \
                    s2 += r[2 * sxi + k] * v[k];                                                  \
                    s3 += r[3 * sxi + k] * v[k];                                                  \
                }                                                                                 \
                y[i * sy] = s0, y[(i + 1) * sy] = s1, y[(i + 2) * sy] = s2, y[(i + 3) * sy] = s3; \
            }                                                                                     \
            for (; i < n; i++) {                                                                  \
                const T *r = X + i * sxi;                                                         \
                P##_v a0 = {0};                                                                   \
                int64_t k = 0;                                                                    \
                for (; k + P##_VL <= K; k += P##_VL)                                              \
                    a0 = P##_fma(*(const P##_u *)(r + k), *(const P##_u *)(v + k), a0);           \
                T s0 = P##_hsum(a0);                                                              \
                for (; k < K; k++) s0 += r[k] * v[k];                                             \
                y[i * sy] = s0;                                                                   \
            }                                                                                     \
        } else if (sxi == 1 && buf) {                                                             \
            T *acc = sy == 1 ? y : buf;                                                           \
            memset(acc, 0, n * sizeof(T));                                                        \
            int64_t k = 0;                                                                        \
            for (; k + 4 <= K; k += 4) { /* four columns per pass over acc */                     \
                const T *c0 = X + k * sxk, *c1 = c0 + sxk, *c2 = c1 + sxk, *c3 = c2 + sxk;        \
                T w0 = v[k * sv], w1 = v[(k + 1) * sv], w2 = v[(k + 2) * sv];                     \
                T w3 = v[(k + 3) * sv];                                                           \
                P##_v b0 = P##_bcast(w0), b1 = P##_bcast(w1), b2 = P##_bcast(w2);                 \
                P##_v b3 = P##_bcast(w3);                                                         \
                int64_t i = 0;                                                                    \
                for (; i + P##_VL <= n; i += P##_VL) {                                            \
                    P##_v s = *(P##_u *)(acc + i);                                                \
                    s = P##_fma(*(const P##_u *)(c0 + i), b0, s);                                 \
                    s = P##_fma(*(const P##_u *)(c1 + i), b1, s);                                 \
                    s = P##_fma(*(const P##_u *)(c2 + i), b2, s);                                 \
                    s = P##_fma(*(const P##_u *)(c3 + i), b3, s);                                 \
                    *(P##_u *)(acc + i) = s;                                                      \
                }                                                                                 \
                for (; i < n; i++) acc[i] += c0[i] * w0 + c1[i] * w1 + c2[i] * w2 + c3[i] * w3;   \
            }                                                                                     \
            for (; k < K; k++) {                                                                  \
                const T *c0 = X + k * sxk;                                                        \
                const T w0 = v[k * sv];                                                           \
                for (int64_t i = 0; i < n; i++) acc[i] += c0[i] * w0;                             \
            }                                                                                     \
            if (acc != y)                                                                         \
                for (int64_t i = 0; i < n; i++) y[i * sy] = acc[i];                               \
        } else {                                                                                  \
            for (int64_t i = 0; i < n; i++) {                                                     \
                T s = 0;                                                                          \
                for (int64_t k = 0; k < K; k++) s += X[i * sxi + k * sxk] * v[k * sv];            \
                y[i * sy] = s;                                                                    \
            }                                                                                     \
        }                                                                                         \
    }                                                                                             \
                                                                                                  \
    static void P##_tiny(int64_t M, int64_t N, int64_t K, const void *A_, int64_t sam,            \
                         int64_t sak, const void *B_, int64_t sbk, int64_t sbn, void *C_,         \
                         int64_t scm, int64_t scn)                                                \
    {                                                                                             \
        const T *A = (const T *)A_, *B = (const T *)B_;                                           \
        T *C = (T *)C_;                                                                           \
        for (int64_t i = 0; i < M; i++)                                                           \
            for (int64_t j = 0; j < N; j++) {                                                     \
                T s = 0;                                                                          \
                for (int64_t k = 0; k < K; k++) s += A[i * sam + k * sak] * B[k * sbk + j * sbn]; \
                C[i * scm + j * scn] = s;                                                         \
            }                                                                                     \
    }


PG_DEFINE_TYPE(float, pg_f32)
PG_DEFINE_TYPE(double, pg_f64)

/* --------------------------------------------------------- type-agnostic driver -- */
typedef struct {
    int64_t esz, mr, nr;
    void (*kernel)(int, int, int64_t, const void *, const void *, void *, int64_t, int64_t, int);
    void (*pack)(void *, int64_t, const void *, int64_t, int64_t, int64_t, int64_t);
    void (*gemv)(int64_t, int64_t, const void *, int64_t, int64_t, const void *, int64_t, void *,
                 int64_t);
    void (*tiny)(int64_t, int64_t, int64_t, const void *, int64_t, int64_t, const void *, int64_t,
                 int64_t, void *, int64_t, int64_t);
} pg_impl;

static const pg_impl pg_impl_f32 = {sizeof(float), PG_MR, pg_f32_NR, pg_f32_kernel,
                                    pg_f32_pack, pg_f32_gemv, pg_f32_tiny};
static const pg_impl pg_impl_f64 = {sizeof(double), PG_MR, pg_f64_NR, pg_f64_kernel,
                                    pg_f64_pack, pg_f64_gemv, pg_f64_tiny};

/* Block size: at most `cap`, a multiple of `unit`, splitting n into equal-ish blocks
   (so K = 1100 with KC = 1024 becomes 2 x 550 rather than 1024 + 76). */
static int64_t pg_block(int64_t n, int64_t cap, int64_t unit)
{
    int64_t b = pg_cdiv(pg_cdiv(n, pg_cdiv(n, cap)), unit) * unit;
    return b > 0 ? b : unit;
}

/* One matrix product on one thread: C[M,N] = A[M,K] @ B[K,N] (element strides). */
static void pg_gemm_one(const pg_impl *im, int64_t M, int64_t N, int64_t K, const char *A,
                        int64_t sam, int64_t sak, const char *B, int64_t sbk, int64_t sbn, char *C,
                        int64_t scm, int64_t scn)
{
    const int64_t es = im->esz, mr = im->mr, nr = im->nr;
    if (M <= 0 || N <= 0) return;
    if (K <= 0) {
        for (int64_t i = 0; i < M; i++)
            for (int64_t j = 0; j < N; j++) memset(C + (i * scm + j * scn) * es, 0, es);
        return;
    }
    if (M * N * K <= PG_TINY_FMA) {
        im->tiny(M, N, K, A, sam, sak, B, sbk, sbn, C, scm, scn);
        return;
    }
    if (N == 1) { /* C[:, 0] = A @ B[:, 0] */
        im->gemv(M, K, A, sam, sak, B, sbk, C, scm);
        return;
    }
    if (M == 1) { /* C[0, :] = B^T @ A[0, :] */
        im->gemv(N, K, B, sbn, sbk, A, sak, C, scn);
        return;
    }
    const int64_t KC = pg_block(K, PG_KC, 1);
    const int64_t MC = pg_block(M, PG_A_BYTES / (KC * es) / mr * mr + mr, mr);
    const int64_t NC = pg_block(N, PG_B_BYTES / (KC * es) / nr * nr + nr, nr);
    const int64_t abytes = (MC * KC * es + PG_ALIGN - 1) / PG_ALIGN * PG_ALIGN;
    char *abuf = pg_scratch((size_t)(abytes + NC * KC * es));
    if (!abuf) { /* out of memory: still produce the right answer */
        im->tiny(M, N, K, A, sam, sak, B, sbk, sbn, C, scm, scn);
        return;
    }
    char *bbuf = abuf + abytes;

    for (int64_t jc = 0; jc < N; jc += NC) {
        const int64_t nc = pg_min(NC, N - jc);
        for (int64_t pc = 0; pc < K; pc += KC) {
            const int64_t kc = pg_min(KC, K - pc);
            for (int64_t ic = 0; ic < M; ic += MC) {
                const int64_t mc = pg_min(MC, M - ic);
                for (int64_t jr = 0; jr < nc; jr += nr) {
                    const int cols = (int)pg_min(nr, nc - jr);
                    char *bp = bbuf + jr * kc * es;
                    if (ic == 0)
                        im->pack(bp, nr, B + (pc * sbk + (jc + jr) * sbn) * es, sbn, sbk, cols, kc);
                    for (int64_t ir = 0; ir < mc; ir += mr) {
                        const int rows = (int)pg_min(mr, mc - ir);
                        char *ap = abuf + ir * kc * es;
                        if (jr == 0)
                            im->pack(ap, mr, A + ((ic + ir) * sam + pc * sak) * es, sam, sak, rows,
                                     kc);
                        im->kernel(rows, cols, kc, ap, bp,
                                   C + ((ic + ir) * scm + (jc + jr) * scn) * es, scm, scn, pc > 0);
                    }
                }
            }
        }
    }
}

/* Everything pg_gemm's worker threads need. */
typedef struct {
    const pg_impl *im;
    int64_t M, N, K, P, pm, pn;
    const char *A, *B;
    char *C;
    int64_t sab, sam, sak, sbb, sbk, sbn, scb, scm, scn;
} pg_job;

/* Split n into `parts` nearly equal ranges whose bounds are multiples of `unit`. */
static void pg_split(int64_t n, int64_t parts, int64_t idx, int64_t unit, int64_t *lo, int64_t *hi)
{
    int64_t units = pg_cdiv(n, unit);
    *lo = pg_min(n, units * idx / parts * unit);
    *hi = pg_min(n, units * (idx + 1) / parts * unit);
}

/* Run tasks [t0, t1): task t is piece t % P of matrix t / P. */
static void pg_run_tasks(const pg_job *j, int64_t t0, int64_t t1)
{
    const int64_t es = j->im->esz;
    for (int64_t t = t0; t < t1; t++) {
        int64_t b = t / j->P, piece = t % j->P, m0, m1, n0, n1;
        pg_split(j->M, j->pm, piece / j->pn, j->im->mr, &m0, &m1);
        pg_split(j->N, j->pn, piece % j->pn, j->im->nr, &n0, &n1);
        if (m1 <= m0 || n1 <= n0) continue;
        pg_gemm_one(j->im, m1 - m0, n1 - n0, j->K, j->A + (b * j->sab + m0 * j->sam) * es, j->sam,
                    j->sak, j->B + (b * j->sbb + n0 * j->sbn) * es, j->sbk, j->sbn,
                    j->C + (b * j->scb + m0 * j->scm + n0 * j->scn) * es, j->scm, j->scn);
    }
}

static int64_t pg_gcd(int64_t a, int64_t b)
{
    while (b) {
        int64_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

static void pg_gemm(const pg_impl *im, int64_t batch, int64_t M, int64_t N, int64_t K,
                    const void *A, int64_t sab, int64_t sam, int64_t sak, const void *B,
                    int64_t sbb, int64_t sbk, int64_t sbn, void *C, int64_t scb, int64_t scm,
                    int64_t scn, int nthreads)
{
    if (batch <= 0 || M <= 0 || N <= 0) return;
    pg_job j = {im, M, N, K, 1, 1, 1, (const char *)A, (const char *)B, (char *)C,
                sab, sam, sak, sbb, sbk, sbn, scb, scm, scn};

    /* Threads worth using for this much work. */
    double fma = (double)batch * (double)M * (double)N * (double)(K > 0 ? K : 1);
    int64_t nt = nthreads < 1 ? 1 : nthreads;
    if (fma < (double)nt * PG_MIN_FMA_PER_THREAD) nt = (int64_t)(fma / PG_MIN_FMA_PER_THREAD);
    if (nt <= 1) {
        pg_run_tasks(&j, 0, batch);
        return;
    }
    /* Cut each matrix into P = pm x pn pieces so that batch*P tasks divide evenly among the
       threads (P = 1 when the batch alone does).  Of the factorisations of P, take the one
       whose largest piece costs least: its FMAs plus the packing of its A and B strips
       (packing an element costs roughly as much as PG_PACK_COST multiply-adds). */
    j.P = nt / pg_gcd(batch, nt);
    double best = -1;
    for (int64_t d = 1; d <= j.P; d++) {
        if (j.P % d) continue;
        int64_t mp = pg_min(M, pg_cdiv(pg_cdiv(M, im->mr), d) * im->mr); /* largest piece */
        int64_t np = pg_min(N, pg_cdiv(pg_cdiv(N, im->nr), j.P / d) * im->nr);
        double cost = (double)mp * np + PG_PACK_COST * (double)(mp + np);
        if (best < 0 || cost < best) best = cost, j.pm = d, j.pn = j.P / d;
    }
    const int64_t ntasks = batch * j.P;
#ifdef _OPENMP
#pragma omp parallel num_threads((int)nt)
    {
        int64_t tid = omp_get_thread_num(), team = omp_get_num_threads();
        pg_run_tasks(&j, ntasks * tid / team, ntasks * (tid + 1) / team);
    }
#else
    pg_run_tasks(&j, 0, ntasks);
#endif
}

/* -------------------------------------------------------------- library pin -- */
/* cffi dlcloses this library when its handle is garbage-collected (at the latest at
   interpreter exit).  That would also unload the OpenMP runtime while its idle worker
   threads still run inside it, and the process would segfault.  So on load the library
   marks itself RTLD_NODELETE, which keeps it and its dependencies mapped for good.  Weak
   references keep loading working where libdl is not linked in. */
#if defined(_OPENMP) && defined(RTLD_NODELETE) && defined(RTLD_NOLOAD)
#pragma weak dladdr
#pragma weak dlopen
__attribute__((constructor)) static void pg_pin_library(void)
{
    Dl_info info;
    if (dladdr && dlopen && dladdr(&pg_impl_f32, &info) && info.dli_fname) /* any symbol */
        (void)dlopen(info.dli_fname, RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE);
}
#endif

/* ------------------------------------------------------------------ exports -- */
/* C[b, m, n] = sum_k A[b, m, k] * B[b, k, n] for b < batch, m < M, n < N.  All operands
   are addressed by element strides (0 for broadcast, negative allowed) from element
   [0, 0, 0].  C is overwritten (K == 0 gives zeros) and must not overlap A or B.  At most
   nthreads OpenMP threads are used; small products use fewer (see PG_MIN_FMA_PER_THREAD). */
void pg_gemm_f32(int64_t batch, int64_t M, int64_t N, int64_t K, const float *A, int64_t sab,
                 int64_t sam, int64_t sak, const float *B, int64_t sbb, int64_t sbk, int64_t sbn,
                 float *C, int64_t scb, int64_t scm, int64_t scn, int nthreads)
{
    pg_gemm(&pg_impl_f32, batch, M, N, K, A, sab, sam, sak, B, sbb, sbk, sbn, C, scb, scm, scn,
            nthreads);
}

void pg_gemm_f64(int64_t batch, int64_t M, int64_t N, int64_t K, const double *A, int64_t sab,
                 int64_t sam, int64_t sak, const double *B, int64_t sbb, int64_t sbk, int64_t sbn,
                 double *C, int64_t scb, int64_t scm, int64_t scn, int nthreads)
{
    pg_gemm(&pg_impl_f64, batch, M, N, K, A, sab, sam, sak, B, sbb, sbk, sbn, C, scb, scm, scn,
            nthreads);
}
