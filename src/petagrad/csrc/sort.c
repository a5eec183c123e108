/* petagrad's SORT routine for the CPU device: out = payload reordered as the stable sort of
 * keys along each row (rows x n, both row-major).
 *
 * Keys become unsigned integers that order as NumPy sorts: IEEE bits with the sign folded
 * (negative values complemented), -0.0 made +0.0 and every NaN the largest key, so NaNs
 * sort last and equal; signed integers get their sign bit flipped. A descending sort
 * complements the keys, which keeps equal keys in their original order (stable) and puts
 * NaNs first. The integer keys are radix sorted, O(n) a pass: one MSD pass on the top 11
 * of the bits that vary (from the OR and AND of all keys, so small integers in wide keys
 * cost little), then each bucket, small enough for the caches, by LSD passes of 8 or 11
 * bits, and written out while still in cache. Positions ride beside the key (packed as
 * key << 32 | position for keys of up to 4 bytes) and the payload is gathered by them.
 * When the payload is the keys themselves (a plain sort of values) and the key maps back
 * to the value's exact bits (integers always; floats without -0.0 and with one NaN bit
 * pattern), the keys are sorted alone and mapped back: half the memory traffic, no gather.
 * Rows run in parallel over threads; a single long row splits its passes over the threads
 * (per-thread counts over fixed chunks: still stable; buckets taken dynamically).
 * Measured on this 2-core machine, 1M float32: 4.6 ms on 2 threads, 8 ms on one, NumPy's
 * AVX-512 quicksort 3.4 ms; under another process's load the 2-thread time degrades badly
 * (OpenMP threads wait for a descheduled peer), one thread does not.
 * Scratch memory is kept between calls (per calling thread, up to KEEP_SCRATCH): fresh
 * pages cost a fault each.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#define SMALL_ROW 24
#define PARALLEL_ROW 65536 /* one row at least this long splits its passes over threads */
#define PARALLEL_WORK 32768 /* total elements below which rows run on one thread */
#define MAX_THREADS 256
#define KEEP_SCRATCH ((size_t)256 << 20) /* scratch above this is freed after each call */
#define DIGIT_BITS 11
#define BUCKETS (1 << DIGIT_BITS)
#define MAX_PASSES 6 /* 64-bit keys */

enum { KEY_UNSIGNED = 0, KEY_SIGNED = 1, KEY_FLOAT = 2 };

#ifdef _OPENMP
#define THREAD_IDS t = omp_get_thread_num(); nt = omp_get_num_threads();
#else
#define THREAD_IDS
#endif

typedef struct { uint64_t key; uint64_t pos; } wide_item;

static __thread void *scratch_memory = NULL;
static __thread size_t scratch_bytes = 0;

static void *scratch(size_t bytes) {
    if (bytes > scratch_bytes) {
        free(scratch_memory);
        scratch_memory = NULL;
        scratch_bytes = 0;
        /* 2 MiB aligned and huge-paged: the radix scatter writes thousands of streams at
         * once, which misses the TLB on 4 KiB pages */
        if (posix_memalign(&scratch_memory, 1 << 21, bytes) != 0) return NULL;
#ifdef MADV_HUGEPAGE
        madvise(scratch_memory, bytes, MADV_HUGEPAGE);
#endif
        scratch_bytes = bytes;
    }
    return scratch_memory;
}

/* ---- order-preserving keys -------------------------------------------------------- */
typedef struct {
    int kind, bytes;   /* the key dtype */
    uint64_t flip;     /* all ones of the key width for a descending sort, else 0 */
    uint64_t top;      /* all ones of the key width */
} key_format;

static inline uint64_t raw_bits(const void *src, int64_t i, int bytes) {
    switch (bytes) {
    case 1: return ((const uint8_t *)src)[i];
    case 2: return ((const uint16_t *)src)[i];
    case 4: return ((const uint32_t *)src)[i];
    default: return ((const uint64_t *)src)[i];
    }
}

static inline uint64_t order_key(uint64_t b, const key_format *f) {
    uint64_t sign = (f->top >> 1) + 1, key;
    if (f->kind == KEY_FLOAT) {
        uint64_t inf = f->bytes == 2 ? 0x7c00u : f->bytes == 4 ? 0x7f800000u
                                                               : 0x7ff0000000000000ull;
        uint64_t m = b & (sign - 1);
        if (m > inf) {
            key = f->top;
        } else {
            if (m == 0) b = 0;
            key = (b & sign) ? (~b & f->top) : (b | sign);
        }
    } else if (f->kind == KEY_SIGNED) {
        key = b ^ sign;
    } else {
        key = b;
    }
    return key ^ f->flip;
}

/* the bits of the value a key came from (only when the map is one-to-one: see pg_sort) */
static inline uint64_t value_bits(uint64_t key, const key_format *f, uint64_t nan_bits) {
    uint64_t sign = (f->top >> 1) + 1;
    key ^= f->flip;
    if (f->kind == KEY_FLOAT) {
        if (key == f->top) return nan_bits;
        return (key & sign) ? (key ^ sign) : (~key & f->top);
    }
    return f->kind == KEY_SIGNED ? key ^ sign : key;
}

/* whether every key maps back to its value's bits: no -0.0, at most one NaN pattern */
static int invertible(const void *src, int64_t count, const key_format *f,
                      uint64_t *nan_bits, int threads) {
    if (f->kind != KEY_FLOAT) return 1;
    uint64_t sign = (f->top >> 1) + 1;
    uint64_t inf = f->bytes == 2 ? 0x7c00u : f->bytes == 4 ? 0x7f800000u
                                                           : 0x7ff0000000000000ull;
    uint64_t low = ~0ull, high = 0; /* the smallest and largest NaN bit pattern */
    int ok = 1;
    (void)threads; /* measured: an OpenMP reduction here cost more than it saved */
    for (int64_t i = 0; i < count; i++) {
        uint64_t b = raw_bits(src, i, f->bytes), m = b & (sign - 1);
        ok &= b != sign;
        if (m > inf) {
            low = b < low ? b : low;
            high = b > high ? b : high;
        }
    }
    *nan_bits = low;
    return ok && (high == 0 || low == high);
}

/* ---- the radix sort, generic over the item type ------------------------------------ */
/* One MSD pass on the top MSD_BITS of the bits that vary (found from the OR and AND of all
 * keys, so small integers in wide keys cost few passes), then each bucket, now small enough
 * for the caches, by LSD passes of 8 or 11 bits. The buckets are independent: threads take
 * them with no barrier (measured: a pass-by-pass parallel LSD with a barrier per pass ran
 * 3x slower than one thread on this 2-core machine under load). KEYOF(item): its key. */
#define MSD_BITS 11
#define SORT_ITEMS(T, NAME, KEYOF, GREATER)                                               \
static T *NAME##_lsd(T *a, T *b, int64_t n, int bits) {                                   \
    int64_t i;                                                                            \
    if (n <= SMALL_ROW) {                                                                 \
        for (i = 1; i < n; i++) {                                                         \
            T item = a[i];                                                                \
            int64_t j = i;                                                                \
            while (j > 0 && GREATER(a[j - 1], item)) {                                    \
                a[j] = a[j - 1];                                                          \
                j--;                                                                      \
            }                                                                             \
            a[j] = item;                                                                  \
        }                                                                                 \
        return a;                                                                         \
    }                                                                                     \
    int digit = n < 16384 ? 8 : 11;                                                       \
    uint32_t mask = (1u << digit) - 1;                                                    \
    int passes = (bits + digit - 1) / digit;                                              \
    uint32_t hist[MAX_PASSES * 2 * BUCKETS], width = mask + 1;                            \
    memset(hist, 0, sizeof(uint32_t) * width * passes);                                   \
    for (i = 0; i < n; i++) {                                                             \
        uint64_t key = KEYOF(a[i]);                                                       \
        for (int d = 0; d < passes; d++) hist[d * width + ((key >> (d * digit)) & mask)]++; \
    }                                                                                     \
    for (int d = 0; d < passes; d++) {                                                    \
        uint32_t *h = hist + d * width, sum = 0;                                          \
        int shift = d * digit;                                                            \
        if (h[(KEYOF(a[0]) >> shift) & mask] == (uint32_t)n) continue;                    \
        for (uint32_t c = 0; c <= mask; c++) {                                            \
            uint32_t count = h[c];                                                        \
            h[c] = sum;                                                                   \
            sum += count;                                                                 \
        }                                                                                 \
        for (i = 0; i < n; i++) {                                                         \
            T item = a[i];                                                                \
            b[h[(KEYOF(item) >> shift) & mask]++] = item;                                 \
        }                                                                                 \
        T *t = a; a = b; b = t;                                                           \
    }                                                                                     \
    return a;                                                                             \
}                                                                                         \
                                                                                          \
static void NAME(T *a, T *b, int64_t n, int threads, int64_t (*counts)[BUCKETS],          \
                 uint64_t any, uint64_t all, void (*emit)(const T *, int64_t, int64_t,    \
                                                          const void *), const void *ctx) {\
    uint64_t varies = any ^ all;                                                          \
    int width = varies ? 64 - __builtin_clzll(varies) : 0;                                \
    if (n <= SMALL_ROW || width <= MSD_BITS + 5 || n < 4096) {                            \
        T *sorted = varies ? NAME##_lsd(a, b, n, n <= SMALL_ROW ? 64 : width) : a;        \
        emit(sorted, 0, n, ctx);                                                          \
        return;                                                                           \
    }                                                                                     \
    int shift = width - MSD_BITS;                                                         \
    int64_t start[BUCKETS + 1];                                                           \
    /* per-thread counts over the same static chunks in both regions, so still stable */  \
    int used = threads;                                                                   \
    memset(counts, 0, sizeof(int64_t) * BUCKETS * threads);                               \
    _Pragma("omp parallel num_threads(threads) if(threads > 1)")                          \
    {                                                                                     \
        int t = 0, nt = 1;                                                                \
        THREAD_IDS                                                                        \
        if (t == 0) used = nt;                                                            \
        int64_t lo = n * t / nt, hi = n * (t + 1) / nt, j;                                \
        int64_t *h = counts[t];                                                           \
        for (j = lo; j < hi; j++) h[(KEYOF(a[j]) >> shift) & (BUCKETS - 1)]++;            \
    }                                                                                     \
    int64_t sum = 0;                                                                      \
    for (int c = 0; c < BUCKETS; c++) {                                                   \
        start[c] = sum;                                                                   \
        for (int u = 0; u < used; u++) {                                                  \
            int64_t count = counts[u][c];                                                 \
            counts[u][c] = sum;                                                           \
            sum += count;                                                                 \
        }                                                                                 \
    }                                                                                     \
    start[BUCKETS] = n;                                                                   \
    _Pragma("omp parallel num_threads(used) if(used > 1)")                                \
    {                                                                                     \
        int t = 0, nt = 1;                                                                \
        THREAD_IDS                                                                        \
        int64_t lo = n * t / nt, hi = n * (t + 1) / nt, j;                                \
        int64_t *at = counts[t];                                                          \
        for (j = lo; j < hi; j++) {                                                       \
            T item = a[j];                                                                \
            b[at[(KEYOF(item) >> shift) & (BUCKETS - 1)]++] = item;                       \
        }                                                                                 \
    }                                                                                     \
    /* each bucket sorted while in cache and written out at once; dynamic, so a thread    \
     * slowed by another process's work takes fewer buckets */                            \
    int c;                                                                                \
    _Pragma("omp parallel for num_threads(threads) schedule(dynamic, 4) if(threads > 1)") \
    for (c = 0; c < BUCKETS; c++) {                                                       \
        int64_t lo = start[c], count = start[c + 1] - lo;                                 \
        if (count == 0) continue;                                                         \
        T *sorted = count < 2 ? b + lo : NAME##_lsd(b + lo, a + lo, count, shift);        \
        emit(sorted, lo, count, ctx);                                                     \
    }                                                                                     \
}

#define PAIR_KEY(item) ((item) >> 32) /* narrow keys (<= 4 bytes): key << 32 | position */
#define PLAIN_KEY(item) (item)        /* keys alone (the values path), any width */
#define WIDE_KEY(item) ((item).key)   /* wide keys with positions */
#define PLAIN_GREATER(x, y) ((x) > (y))
#define WIDE_GREATER(x, y) ((x).key > (y).key)

SORT_ITEMS(uint64_t, radix_pairs, PAIR_KEY, PLAIN_GREATER)
SORT_ITEMS(uint64_t, radix_keys64, PLAIN_KEY, PLAIN_GREATER)
SORT_ITEMS(uint32_t, radix_keys32, PLAIN_KEY, PLAIN_GREATER)
SORT_ITEMS(wide_item, radix_wide, WIDE_KEY, WIDE_GREATER)

static inline void put(char *out, int64_t i, int bytes, uint64_t bits) {
    switch (bytes) {
    case 1: ((uint8_t *)out)[i] = (uint8_t)bits; break;
    case 2: ((uint16_t *)out)[i] = (uint16_t)bits; break;
    case 4: ((uint32_t *)out)[i] = (uint32_t)bits; break;
    default: ((uint64_t *)out)[i] = bits;
    }
}

/* How one row is sorted and written out. */
typedef struct {
    key_format f;
    int mode; /* 0: narrow pairs, 1: wide pairs, 2: keys alone (values) */
    int pay_bytes;
    uint64_t nan_bits;
} plan;

static size_t item_bytes(const plan *p) {
    return p->mode == 0 ? 8 : p->mode == 1 ? sizeof(wide_item) : (p->f.bytes > 4 ? 8 : 4);
}

/* where one row's sorted items go */
typedef struct {
    const plan *p;
    const char *payload;
    char *out;
} row_output;

static void emit_pairs(const uint64_t *s, int64_t lo, int64_t count, const void *ctx) {
    const row_output *o = (const row_output *)ctx;
    int bytes = o->p->pay_bytes;
    for (int64_t i = 0; i < count; i++)
        put(o->out, lo + i, bytes, raw_bits(o->payload, (uint32_t)s[i], bytes));
}

static void emit_wide(const wide_item *s, int64_t lo, int64_t count, const void *ctx) {
    const row_output *o = (const row_output *)ctx;
    int bytes = o->p->pay_bytes;
    for (int64_t i = 0; i < count; i++)
        put(o->out, lo + i, bytes, raw_bits(o->payload, (int64_t)s[i].pos, bytes));
}

static void emit_keys64(const uint64_t *s, int64_t lo, int64_t count, const void *ctx) {
    const row_output *o = (const row_output *)ctx;
    for (int64_t i = 0; i < count; i++)
        put(o->out, lo + i, 8, value_bits(s[i], &o->p->f, o->p->nan_bits));
}

static void emit_keys32(const uint32_t *s, int64_t lo, int64_t count, const void *ctx) {
    const row_output *o = (const row_output *)ctx;
    int bytes = o->p->f.bytes;
    for (int64_t i = 0; i < count; i++)
        put(o->out, lo + i, bytes, value_bits(s[i], &o->p->f, o->p->nan_bits));
}

/* sort one row (src keys, payload) into out; memory holds two item buffers of n. The keys
 * are made with the OR and AND of all of them, which tell the sort which bits vary. */
static void sort_row(const plan *p, const char *src, const char *payload, char *out, int64_t n,
                     char *memory, int threads, int64_t (*counts)[BUCKETS]) {
    int64_t i;
    int par = threads > 1;
    uint64_t any = 0, all = ~0ull;
    row_output o = {p, payload, out};
    if (p->mode == 0) {
        uint64_t *a = (uint64_t *)memory, *b = a + n;
#pragma omp parallel for num_threads(threads) schedule(static) if(par) \
    reduction(|:any) reduction(&:all)
        for (i = 0; i < n; i++) {
            uint64_t key = order_key(raw_bits(src, i, p->f.bytes), &p->f);
            any |= key;
            all &= key;
            a[i] = (key << 32) | (uint64_t)i;
        }
        radix_pairs(a, b, n, threads, counts, any, all, emit_pairs, &o);
    } else if (p->mode == 1) {
        wide_item *a = (wide_item *)memory, *b = a + n;
#pragma omp parallel for num_threads(threads) schedule(static) if(par) \
    reduction(|:any) reduction(&:all)
        for (i = 0; i < n; i++) {
            uint64_t key = order_key(raw_bits(src, i, p->f.bytes), &p->f);
            any |= key;
            all &= key;
            a[i].key = key;
            a[i].pos = (uint64_t)i;
        }
        radix_wide(a, b, n, threads, counts, any, all, emit_wide, &o);
    } else if (p->f.bytes > 4) {
        uint64_t *a = (uint64_t *)memory, *b = a + n;
#pragma omp parallel for num_threads(threads) schedule(static) if(par) \
    reduction(|:any) reduction(&:all)
        for (i = 0; i < n; i++) {
            uint64_t key = order_key(raw_bits(src, i, 8), &p->f);
            any |= key;
            all &= key;
            a[i] = key;
        }
        radix_keys64(a, b, n, threads, counts, any, all, emit_keys64, &o);
    } else {
        uint32_t *a = (uint32_t *)memory, *b = a + n;
#pragma omp parallel for num_threads(threads) schedule(static) if(par) \
    reduction(|:any) reduction(&:all)
        for (i = 0; i < n; i++) {
            uint64_t key = order_key(raw_bits(src, i, p->f.bytes), &p->f);
            any |= key;
            all &= key;
            a[i] = (uint32_t)key;
        }
        radix_keys32(a, b, n, threads, counts, any, all, emit_keys32, &o);
    }
}

/* Sort `rows` rows of `n` keys (kind, key_bytes) and write the payload (pay_bytes each)
 * in that order to out. Returns 0, or -1 when scratch memory could not be allocated. */
int pg_sort(int kind, int key_bytes, const void *keys, int pay_bytes, const void *payload,
            void *out, int64_t rows, int64_t n, int descending, int threads) {
    if (rows <= 0 || n <= 0) return 0;
    if (threads < 1) threads = 1;
    if (threads > MAX_THREADS) threads = MAX_THREADS;
    plan p;
    p.f.kind = kind;
    p.f.bytes = key_bytes;
    p.f.top = key_bytes == 8 ? ~0ull : ((1ull << (8 * key_bytes)) - 1);
    p.f.flip = descending ? p.f.top : 0;
    p.pay_bytes = pay_bytes;
    p.nan_bits = 0;
    if (keys == payload && key_bytes == pay_bytes &&
        invertible(keys, rows * n, &p.f, &p.nan_bits,
                   rows * n >= PARALLEL_WORK ? threads : 1)) {
        p.mode = 2;
    } else {
        p.mode = key_bytes > 4 ? 1 : 0;
    }
    size_t row_bytes = item_bytes(&p) * 2 * (size_t)n;
    size_t out_bytes = (size_t)rows * n * pay_bytes;
    int aliased = out == keys || out == payload;
    int split_rows = rows < threads && n >= PARALLEL_ROW && threads > 1;
    int row_threads = split_rows ? 1 : (rows * n >= PARALLEL_WORK ? threads : 1);
    if (row_threads > rows) row_threads = (int)rows;
    size_t counts_bytes = sizeof(int64_t) * BUCKETS * (split_rows ? threads : 1);
    size_t per_thread = row_bytes + counts_bytes;
    size_t rows_part = per_thread * row_threads;
    char *memory = (char *)scratch(rows_part + (aliased ? out_bytes : 0));
    if (memory == NULL) return -1;
    char *target = aliased ? memory + rows_part : (char *)out;
    int64_t r;
    _Pragma("omp parallel for num_threads(row_threads) schedule(static) if(row_threads > 1)")
    for (r = 0; r < rows; r++) {
        int t = 0;
#ifdef _OPENMP
        if (row_threads > 1) t = omp_get_thread_num();
#endif
        sort_row(&p, (const char *)keys + (size_t)r * n * key_bytes,
                 (const char *)payload + (size_t)r * n * pay_bytes,
                 target + (size_t)r * n * pay_bytes, n, memory + per_thread * t,
                 split_rows ? threads : 1,
                 (int64_t (*)[BUCKETS])(memory + per_thread * t + row_bytes));
    }
    if (aliased) memcpy(out, target, out_bytes);
    if (scratch_bytes > KEEP_SCRATCH) { /* do not hold a huge sort's memory forever */
        free(scratch_memory);
        scratch_memory = NULL;
        scratch_bytes = 0;
    }
    return 0;
}
