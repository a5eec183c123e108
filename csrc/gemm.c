/* petagrad GEMM: C[b] = A[b] @ B[b] in float32 / float64, any element strides.
 *
 * Blocking scheme (GotoBLAS/BLIS style).  One thread computing one (sub)matrix runs
 *
 *   for jc in N step NC
 *     for pc in K step KC
 *       pack B[pc:+KC, jc:+NC]  -> Bp: NR-wide column panels, each row of a panel contiguous
 *       for ic in M step MC
 *         pack A[ic:+MC, pc:+KC] -> Ap: MR-tall row panels, each column of a panel contiguous
 *         for jr in NC step NR            one B micro-panel (KC x NR) stays hot in L1
 *           for ir in MC step MR          A micro-panels (MR x KC) stream from L2
 *             C[ir:+MR, jr:+NR] (=|+=) Ap_panel @ Bp_panel      <- register-blocked microkernel
 *
 * Why: the microkernel keeps an MR x NR tile of C in vector registers (MR*NV accumulators)
 * and per k only loads NV vectors of B and MR broadcasts of A, so it is FMA-bound rather
 * than load-bound.  KC is chosen so a B micro-panel fits in L1 next to streaming A, MC so the
 * packed A block (MC x KC) fits in L2, NC so the packed B block is a fraction of L3.
 * Packing copies every operand into contiguous, aligned, zero-padded buffers, which is
 * also where arbitrary strides (transposed, broadcast, negative) are absorbed: the
 * microkernel only ever sees unit-stride packed panels.  C is written with its own strides
 * (vector stores when its rows are contiguous and the tile is full).
 *
 * Threads: the (batch x M x N) work is cut into independent tasks (whole matrices when the
 * batch is large, otherwise strips of M and/or N), each run by one thread with its own
 * thread-local pack buffers; there is no synchronisation inside a task.
 *
 * Code organisation: the driver (blocking loops, threading) is type-agnostic and works on
 * bytes; the type-specific parts (microkernel, packing, tiny-matrix loop) are generated
 * once per dtype by PG_DEFINE_TYPE below.  Vectors use GCC vector extensions, so the same
 * code compiles on any target; FMA goes through intrinsics where the ISA has them.
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
/* PG_VBYTES: vector width; PG_MR x PG_NV: microkernel tile (rows x vectors).
   Accumulators MR*NV + NV B vectors + 1 broadcast must fit the register file.
   PG_BCAST_* / PG_FMA_*: broadcast a scalar / fused multiply-add on whole vectors. */
#if defined(__AVX512F__)
#define PG_VBYTES 64 /* 32 zmm registers: 14x2 accumulators + 2 B + 1 broadcast */
#ifndef PG_MR
#define PG_MR 14
#endif
#ifndef PG_NV
#define PG_NV 2
#endif
#define PG_BCAST_F32(x) _mm512_set1_ps(x)
#define PG_BCAST_F64(x) _mm512_set1_pd(x)
#define PG_FMA_F32(a, b, c) _mm512_fmadd_ps((a), (b), (c))
#define PG_FMA_F64(a, b, c) _mm512_fmadd_pd((a), (b), (c))

#elif defined(__AVX__)
#define PG_VBYTES 32 /* 16 ymm registers: 6x2 accumulators + 2 B + 1 broadcast */
#define PG_MR 6
#define PG_NV 2
#define PG_BCAST_F32(x) _mm256_set1_ps(x)
#define PG_BCAST_F64(x) _mm256_set1_pd(x)
#ifdef __FMA__
#define PG_FMA_F32(a, b, c) _mm256_fmadd_ps((a), (b), (c))
#define PG_FMA_F64(a, b, c) _mm256_fmadd_pd((a), (b), (c))
#endif

#else
#define PG_VBYTES 16 /* SSE2 / NEON / scalar-emulated vectors: plain GCC vector code */
#define PG_MR 4
#define PG_NV 2
#define PG_BCAST_F32(x) pg_bcast_f32(x)
#define PG_BCAST_F64(x) pg_bcast_f64(x)
#endif

#ifndef PG_FMA_F32 /* gcc contracts these into FMAs where the target has them */
#define PG_FMA_F32(a, b, c) ((a) * (b) + (c))
#define PG_FMA_F64(a, b, c) ((a) * (b) + (c))
#endif

/* Cache blocking, expressed in bytes so float32 and float64 share it.
   KC: depth of a k block; one B micro-panel is KC*NR*esz = KC*NV*VBYTES bytes.
   MC: rows of A per packed block (MC*KC*esz ~ half of L2).  NC: columns of B per block. */
#ifndef PG_KC
#define PG_KC 1024
#endif
#ifndef PG_A_BYTES
#define PG_A_BYTES (256 * 1024)
#endif
#ifndef PG_B_BYTES
#define PG_B_BYTES (4 * 1024 * 1024)
#endif
/* Below this many multiply-adds per thread, extra threads cost more than they save. */
#ifndef PG_MIN_FMA_PER_THREAD
#define PG_MIN_FMA_PER_THREAD (64 * 64 * 64)
#endif
/* Products with fewer multiply-adds than this skip packing entirely. */
#ifndef PG_TINY_FMA
#define PG_TINY_FMA (8 * 8 * 8)
#endif

#define PG_ALIGN 64
#define PG_INLINE static inline __attribute__((always_inline))

/* Aligned vector (packed buffers) and unaligned, aliasing-safe vector (views of C). */
typedef float pg_vf32 __attribute__((vector_size(PG_VBYTES)));
typedef double pg_vf64 __attribute__((vector_size(PG_VBYTES)));
typedef float pg_uf32 __attribute__((vector_size(PG_VBYTES), aligned(4), may_alias));
typedef double pg_uf64 __attribute__((vector_size(PG_VBYTES), aligned(8), may_alias));

#if !defined(__AVX__) /* element-wise fill, which gcc turns into a broadcast */
static inline pg_vf32 pg_bcast_f32(float x)
{
    pg_vf32 v;
    for (int l = 0; l < (int)(PG_VBYTES / sizeof(float)); l++) v[l] = x;
    return v;
}
static inline pg_vf64 pg_bcast_f64(double x)
{
    pg_vf64 v;
    for (int l = 0; l < (int)(PG_VBYTES / sizeof(double)); l++) v[l] = x;
    return v;
}
#endif

static inline int64_t pg_min(int64_t a, int64_t b) { return a < b ? a : b; }
static inline int64_t pg_cdiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

/* ------------------------------------------------------- type-specific parts -- */
/* PG_DEFINE_TYPE(T, P, V, U, FMA) defines, for element type T with aligned vector V and
   unaligned vector U:
     P##_kernel : rows x cols tile of C (rows <= MR, cols <= NR) from packed panels
     P##_pack_a : MR-row panels of an mc x kc block of A (column k of a panel contiguous)
     P##_pack_b : NR-column panels of a kc x nc block of B (row k of a panel contiguous)
     P##_tiny   : plain triple loop for very small products (no packing)              */
#define PG_DEFINE_TYPE(T, P, V, U, FMA, BCAST)                                                       \
    enum { P##_VL = PG_VBYTES / sizeof(T), P##_NR = PG_NV * (PG_VBYTES / sizeof(T)) };        \
                                                                                               \
    /* rows is a compile-time constant at every call site, so the loops over rows and     */   \
    /* vectors unroll completely and acc[][] lives in registers.                          */   \
    PG_INLINE void P##_kbody(const int rows, int64_t kc, const T *restrict a,                  \
                             const T *restrict b, T *restrict c, int64_t rsc, int64_t csc,     \
                             int cols, int beta)                                               \
    {                                                                                          \
        V acc[PG_MR][PG_NV];                                                                   \
        /* C is only touched after the k loop: start pulling its lines in now */              \
        for (int i = 0; i < rows; i++) {                                                       \
            __builtin_prefetch(c + i * rsc, 1, 3);                                             \
            __builtin_prefetch(c + i * rsc + (cols - 1) * csc, 1, 3);                         \
        }                                                                                      \
        for (int i = 0; i < rows; i++)                                                         \
            for (int v = 0; v < PG_NV; v++) acc[i][v] = (V){0};                                \
        for (int64_t k = 0; k < kc; k++) {                                                     \
            V bv[PG_NV];                                                                       \
            for (int v = 0; v < PG_NV; v++) bv[v] = *(const V *)(b + v * P##_VL);              \
            for (int i = 0; i < rows; i++) {                                                   \
                V av = BCAST(a[i]);                                                            \
                for (int v = 0; v < PG_NV; v++) acc[i][v] = FMA(av, bv[v], acc[i][v]);         \
            }                                                                                  \
            a += PG_MR;                                                                        \
            b += P##_NR;                                                                       \
        }                                                                                      \
        if (cols == P##_NR && csc == 1) { /* full tile, contiguous C rows: vector stores */    \
            for (int i = 0; i < rows; i++)                                                     \
                for (int v = 0; v < PG_NV; v++) {                                              \
                    U *p = (U *)(c + i * rsc + v * P##_VL);                                    \
                    V r = acc[i][v];                                                           \
                    if (beta) r += *p;                                                         \
                    *p = r;                                                                    \
                }                                                                              \
        } else { /* partial tile or strided C: go through a scratch tile */                    \
            V tmp[PG_MR][PG_NV];                                                               \
            for (int i = 0; i < rows; i++)                                                     \
                for (int v = 0; v < PG_NV; v++) tmp[i][v] = acc[i][v];                         \
            for (int i = 0; i < rows; i++) {                                                   \
                const T *t = (const T *)tmp[i];                                                \
                T *ci = c + i * rsc;                                                           \
                for (int j = 0; j < cols; j++)                                                 \
                    ci[j * csc] = beta ? ci[j * csc] + t[j] : t[j];                            \
            }                                                                                  \
        }                                                                                      \
    }                                                                                          \
                                                                                               \
    static void P##_kernel(int rows, int cols, int64_t kc, const void *a, const void *b,       \
                           void *c, int64_t rsc, int64_t csc, int beta)                        \
    {                                                                                          \
        const T *pa = (const T *)a, *pb = (const T *)b;                                        \
        T *pc = (T *)c;                                                                        \
        switch (rows) { /* one fully unrolled copy per row count (edge panels) */              \
            PG_KCASE(P, 1) PG_KCASE(P, 2) PG_KCASE(P, 3) PG_KCASE(P, 4) PG_KCASE(P, 5)         \
            PG_KCASE(P, 6) PG_KCASE(P, 7) PG_KCASE(P, 8) PG_KCASE(P, 9) PG_KCASE(P, 10)        \
            PG_KCASE(P, 11) PG_KCASE(P, 12) PG_KCASE(P, 13) PG_KCASE(P, 14)                    \
            PG_KCASE(P, 15) PG_KCASE(P, 16)                                                    \
        default: break;                                                                        \
        }                                                                                      \
    }                                                                                          \
                                                                                               \
    static void P##_pack_a(void *dst, const void *src, int64_t sam, int64_t sak, int64_t mc,   \
                           int64_t kc)                                                         \
    {                                                                                          \
        T *restrict d = (T *)dst;                                                              \
        for (int64_t i0 = 0; i0 < mc; i0 += PG_MR) {                                           \
            const T *s = (const T *)src + i0 * sam;                                            \
            int64_t rows = pg_min(PG_MR, mc - i0);                                             \
            if (rows == PG_MR) {                                                               \
                for (int64_t k = 0; k < kc; k++)                                               \
                    for (int i = 0; i < PG_MR; i++) d[k * PG_MR + i] = s[i * sam + k * sak];   \
            } else { /* edge panel: zero the rows the kernel will not use */                   \
                for (int64_t k = 0; k < kc; k++)                                               \
                    for (int i = 0; i < PG_MR; i++)                                            \
                        d[k * PG_MR + i] = i < rows ? s[i * sam + k * sak] : (T)0;             \
            }                                                                                  \
            d += PG_MR * kc;                                                                   \
        }                                                                                      \
    }                                                                                          \
                                                                                               \
    static void P##_pack_b(void *dst, const void *src, int64_t sbk, int64_t sbn, int64_t kc,   \
                           int64_t nc)                                                         \
    {                                                                                          \
        T *restrict d = (T *)dst;                                                              \
        for (int64_t j0 = 0; j0 < nc; j0 += P##_NR) {                                          \
            const T *s = (const T *)src + j0 * sbn;                                            \
            int64_t cols = pg_min(P##_NR, nc - j0);                                            \
            if (cols == P##_NR && sbn == 1) { /* row-major B: copy rows of NR */               \
                for (int64_t k = 0; k < kc; k++)                                               \
                    for (int v = 0; v < PG_NV; v++)                                            \
                        *(V *)(d + k * P##_NR + v * P##_VL) =                                  \
                            *(const U *)(s + k * sbk + v * P##_VL);                            \
            } else if (cols == P##_NR) {                                                       \
                for (int64_t k = 0; k < kc; k++)                                               \
                    for (int j = 0; j < P##_NR; j++) d[k * P##_NR + j] = s[j * sbn + k * sbk]; \
            } else { /* edge panel: zero-pad the missing columns */                            \
                for (int64_t k = 0; k < kc; k++)                                               \
                    for (int j = 0; j < P##_NR; j++)                                           \
                        d[k * P##_NR + j] = j < cols ? s[j * sbn + k * sbk] : (T)0;            \
            }                                                                                  \
            d += P##_NR * kc;                                                                  \
        }                                                                                      \
    }                                                                                          \
                                                                                               \
    static void P##_tiny(int64_t M, int64_t N, int64_t K, const void *A, int64_t sam,          \
                         int64_t sak, const void *B, int64_t sbk, int64_t sbn, void *C,        \
                         int64_t scm, int64_t scn)                                             \
    {                                                                                          \
        const T *a = (const T *)A, *b = (const T *)B;                                          \
        T *c = (T *)C;                                                                         \
        for (int64_t i = 0; i < M; i++)                                                        \
            for (int64_t j = 0; j < N; j++) {                                                  \
                T s = 0;                                                                       \
                for (int64_t k = 0; k < K; k++) s += a[i * sam + k * sak] * b[k * sbk + j * sbn]; \
                c[i * scm + j * scn] = s;                                                      \
            }                                                                                  \
    }

/* Row counts above MR are clamped so the dead cases still compile cleanly. */
#define PG_KCASE(P, n)                                                                         \
    case n:                                                                                    \
        P##_kbody((n) <= PG_MR ? (n) : PG_MR, kc, pa, pb, pc, rsc, csc, cols, beta);           \
        break;

PG_DEFINE_TYPE(float, pg_f32, pg_vf32, pg_uf32, PG_FMA_F32, PG_BCAST_F32)
PG_DEFINE_TYPE(double, pg_f64, pg_vf64, pg_uf64, PG_FMA_F64, PG_BCAST_F64)

/* --------------------------------------------------------- type-agnostic driver -- */
typedef struct {
    int64_t esz, mr, nr;
    void (*kernel)(int, int, int64_t, const void *, const void *, void *, int64_t, int64_t, int);
    void (*pack_a)(void *, const void *, int64_t, int64_t, int64_t, int64_t);
    void (*pack_b)(void *, const void *, int64_t, int64_t, int64_t, int64_t);
    void (*tiny)(int64_t, int64_t, int64_t, const void *, int64_t, int64_t, const void *, int64_t,
                 int64_t, void *, int64_t, int64_t);
} pg_impl;

static const pg_impl pg_impl_f32 = {sizeof(float), PG_MR, pg_f32_NR, pg_f32_kernel,
                                    pg_f32_pack_a, pg_f32_pack_b, pg_f32_tiny};
static const pg_impl pg_impl_f64 = {sizeof(double), PG_MR, pg_f64_NR, pg_f64_kernel,
                                    pg_f64_pack_a, pg_f64_pack_b, pg_f64_tiny};

/* Per-thread packing buffer, grown on demand and kept for the thread's lifetime
   (OpenMP threads persist, so repeated calls do not pay for malloc + page faults). */
static _Thread_local char *pg_buf;
static _Thread_local size_t pg_buf_cap;

static char *pg_scratch(size_t bytes)
{
    bytes = (bytes + PG_ALIGN - 1) / PG_ALIGN * PG_ALIGN;
    if (bytes > pg_buf_cap) {
        free(pg_buf);
        pg_buf = aligned_alloc(PG_ALIGN, bytes);
        pg_buf_cap = pg_buf ? bytes : 0;
    }
    return pg_buf;
}

/* Split n into `parts` nearly equal blocks that are multiples of `unit` (except the last). */
static void pg_split(int64_t n, int64_t parts, int64_t idx, int64_t unit, int64_t *lo, int64_t *hi)
{
    int64_t units = pg_cdiv(n, unit);
    *lo = pg_min(n, units * idx / parts * unit);
    *hi = pg_min(n, units * (idx + 1) / parts * unit);
}

/* Block size: at most `cap`, a multiple of `unit`, and splitting n into equal-ish blocks
   (so K=784 with KC=256 becomes 4 x 196 rather than 3 x 256 + 16). */
static int64_t pg_block(int64_t n, int64_t cap, int64_t unit)
{
    int64_t nblocks = pg_cdiv(n, cap);
    int64_t b = pg_cdiv(pg_cdiv(n, nblocks), unit) * unit;
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
    const int64_t KC = pg_block(K, PG_KC, 1);
    const int64_t MC = pg_block(M, pg_min(PG_A_BYTES / (KC * es) / mr * mr, 4096) + mr, mr);
    const int64_t NC = pg_block(N, pg_min(PG_B_BYTES / (KC * es) / nr * nr, 8192) + nr, nr);
    char *abuf = pg_scratch((size_t)(MC * KC + NC * KC) * es + PG_ALIGN);
    if (!abuf) { /* out of memory: still produce the right answer */
        im->tiny(M, N, K, A, sam, sak, B, sbk, sbn, C, scm, scn);
        return;
    }
    char *bbuf = abuf + (MC * KC * es + PG_ALIGN - 1) / PG_ALIGN * PG_ALIGN;

    for (int64_t jc = 0; jc < N; jc += NC) {
        const int64_t nc = pg_min(NC, N - jc);
        for (int64_t pc = 0; pc < K; pc += KC) {
            const int64_t kc = pg_min(KC, K - pc);
            im->pack_b(bbuf, B + (pc * sbk + jc * sbn) * es, sbk, sbn, kc, nc);
            for (int64_t ic = 0; ic < M; ic += MC) {
                const int64_t mc = pg_min(MC, M - ic);
                im->pack_a(abuf, A + (ic * sam + pc * sak) * es, sam, sak, mc, kc);
                for (int64_t jr = 0; jr < nc; jr += nr) {
                    const int cols = (int)pg_min(nr, nc - jr);
                    for (int64_t ir = 0; ir < mc; ir += mr) {
                        const int rows = (int)pg_min(mr, mc - ir);
                        im->kernel(rows, cols, kc, abuf + ir * kc * es, bbuf + jr * kc * es,
                                   C + ((ic + ir) * scm + (jc + jr) * scn) * es, scm, scn, pc > 0);
                    }
                }
            }
        }
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
                    const void *A_, int64_t sab, int64_t sam, int64_t sak, const void *B_,
                    int64_t sbb, int64_t sbk, int64_t sbn, void *C_, int64_t scb, int64_t scm,
                    int64_t scn, int nthreads)
{
    const char *A = (const char *)A_, *B = (const char *)B_;
    char *C = (char *)C_;
    const int64_t es = im->esz;
    if (batch <= 0 || M <= 0 || N <= 0) return;

    /* Threads actually worth using for this much work. */
    double fma = (double)batch * (double)M * (double)N * (double)(K > 0 ? K : 1);
    int64_t nt = nthreads < 1 ? 1 : nthreads;
    if (fma < (double)nt * PG_MIN_FMA_PER_THREAD) nt = (int64_t)(fma / PG_MIN_FMA_PER_THREAD);
    if (nt < 1) nt = 1;

    /* Cut each matrix into P = pm x pn pieces so that batch*P tasks divide evenly among
       nt threads (P = 1 when the batch alone does).  The grid is chosen so pieces are as
       square as possible, which minimises the re-packing of the shared operand. */
    int64_t P = nt / pg_gcd(batch, nt), pm = 1, pn = P;
    for (int64_t d = 1; d <= P; d++) {
        if (P % d) continue;
        double r = ((double)M / d) / ((double)N / (P / d)); /* aspect ratio of a piece */
        double best = ((double)M / pm) / ((double)N / pn);
        if ((r < 1 ? 1 / r : r) < (best < 1 ? 1 / best : best)) pm = d, pn = P / d;
    }
    const int64_t ntasks = batch * P;

#ifdef _OPENMP
#pragma omp parallel num_threads((int)nt) if (nt > 1)
#endif
    {
        int64_t tid = 0, team = 1;
#ifdef _OPENMP
        tid = omp_get_thread_num();
        team = omp_get_num_threads();
#endif
        for (int64_t t = ntasks * tid / team; t < ntasks * (tid + 1) / team; t++) {
            int64_t b = t / P, piece = t % P, m0, m1, n0, n1;
            pg_split(M, pm, piece / pn, im->mr, &m0, &m1);
            pg_split(N, pn, piece % pn, im->nr, &n0, &n1);
            if (m1 <= m0 || n1 <= n0) continue;
            pg_gemm_one(im, m1 - m0, n1 - n0, K, A + (b * sab + m0 * sam) * es, sam, sak,
                        B + (b * sbb + n0 * sbn) * es, sbk, sbn,
                        C + (b * scb + m0 * scm + n0 * scn) * es, scm, scn);
        }
    }
}

/* -------------------------------------------------------------- library pin -- */
/* cffi dlcloses this library when its handle is garbage-collected (at the latest at
   interpreter exit).  That would also unload the OpenMP runtime while its idle worker
   threads still run inside it, and the process segfaults.  So on load the library marks
   itself RTLD_NODELETE, which keeps it and its dependencies mapped for good.  Weak
   references keep the load working where libdl is not linked in. */
#if defined(_OPENMP) && defined(RTLD_NODELETE) && defined(RTLD_NOLOAD)
#pragma weak dladdr
#pragma weak dlopen
__attribute__((constructor)) static void pg_pin_library(void)
{
    Dl_info info;
    if (dladdr && dlopen && dladdr((void *)&pg_pin_library, &info) && info.dli_fname)
        (void)dlopen(info.dli_fname, RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE);
}
#endif

/* ------------------------------------------------------------------ exports -- */
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
