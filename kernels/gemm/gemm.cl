/* gemm.cl — batched GEMM  C[b] = op(A[b]) @ op(B[b])  (row-major).
 *
 * HEADER-PLACEHOLDER
 */
#include "common.cl"

#ifndef MWI
#define MWI 8          /* rows of C per register tile */
#endif
#ifndef VW
#define VW 16          /* vector width along N (2, 4, 8 or 16) */
#endif
#ifndef NWV
#define NWV 2          /* vectors along N per work-item: NWI = VW * NWV columns */
#endif
#ifndef RT
#define RT 1           /* register tiles (of MWI rows) per work-item, stacked along M */
#endif
#ifndef KB
#define KB 0           /* k block (0 = whole K); used when RT > 1 */
#endif
#ifdef GEMM_EPILOGUE
#define GEMM_HAS_EPILOGUE 1
#else
#define GEMM_HAS_EPILOGUE 0
#define GEMM_EPILOGUE(v, b, row, col) (v)
#endif

#define NWI (VW * NWV)
#define CAT_(a, b) a##b
#define CAT(a, b) CAT_(a, b)
#define realV CAT(real, VW)
#define LOADN_(n, p, i) LOADN(n, p, i)
#define STOREN_(n, p, i, v) STOREN(n, p, i, v)
#define LOADV(p) LOADN_(VW, p, 0)                 /* VW storage elements at p */
#define STOREV(p, v) STOREN_(VW, p, 0, v)
#define VLOADR(p) CAT(vload, VW)(0, p)            /* VW reals from a private array */
#define VSTORER(p, v) CAT(vstore, VW)(v, 0, p)

#ifdef TRANS_A
#define A_IDX(i, k) ((long)(k) * lda + (i))
#else
#define A_IDX(i, k) ((long)(i) * lda + (k))
#endif
#ifdef TRANS_B
#define B_IDX(k, j) ((long)(j) * ldb + (k))
#else
#define B_IDX(k, j) ((long)(k) * ldb + (j))
#endif

/* VW consecutive columns j0.. of row k of op(B) as a vector. */
#ifdef TRANS_B
#define LOAD_BV(dst, k, j0) do { real t_[VW];                                  \
        _Pragma("unroll") for (int e_ = 0; e_ < VW; ++e_)                      \
            t_[e_] = LOAD(b, B_IDX(k, (j0) + e_));                             \
        dst = VLOADR(t_); } while (0)
#else
#define LOAD_BV(dst, k, j0) dst = LOADV(b + B_IDX(k, j0))
#endif

/* acc (MWI x NWV vectors) += op(A)[row0.., k0..k1) @ op(B)[k0..k1), col0..) */
#define MICRO_KERNEL(acc, row0, k0, k1) do {                                   \
    for (int k = (k0); k < (k1); ++k) {                                        \
        realV bv[NWV];                                                         \
        _Pragma("unroll") for (int v = 0; v < NWV; ++v)                        \
            LOAD_BV(bv[v], k, col0 + v * VW);                                  \
        _Pragma("unroll") for (int r = 0; r < MWI; ++r) {                      \
            const real av = LOAD(a, A_IDX((row0) + r, k));                     \
            _Pragma("unroll") for (int v = 0; v < NWV; ++v)                    \
                acc[r][v] = fma((realV)(av), bv[v], acc[r][v]);                \
        }                                                                      \
    } } while (0)

/* store a full MWI x NWI tile (with the epilogue) */
#define STORE_TILE(acc, row0) do {                                             \
    _Pragma("unroll") for (int r = 0; r < MWI; ++r)                            \
    _Pragma("unroll") for (int v = 0; v < NWV; ++v) {                          \
        realV o_ = acc[r][v];                                                  \
        if (GEMM_HAS_EPILOGUE) {                                               \
            real t_[VW];                                                       \
            VSTORER(t_, o_);                                                   \
            _Pragma("unroll") for (int e_ = 0; e_ < VW; ++e_)                  \
                t_[e_] = GEMM_EPILOGUE(t_[e_], bt, (row0) + r, col0 + v * VW + e_); \
            o_ = VLOADR(t_);                                                   \
        }                                                                      \
        STOREV(c + (long)((row0) + r) * ldc + col0 + v * VW, o_);              \
    } } while (0)

__kernel __attribute__((vec_type_hint(realV)))
void gemm(__global const storage_t *restrict A,
          __global const storage_t *restrict B,
          __global storage_t *restrict C,
          int M, int N, int K, int lda, int ldb, int ldc,
          int a_off, int b_off, int c_off,
          int a_bstride, int b_bstride, int c_bstride)
{
    const int bt = get_global_id(2);
    const int col0 = get_global_id(0) * NWI;
    const int rowbase = get_global_id(1) * (MWI * RT);
    if (col0 >= N || rowbase >= M) return;
    __global const storage_t *a = A + a_off + (long)bt * a_bstride;
    __global const storage_t *b = B + b_off + (long)bt * b_bstride;
    __global storage_t *c = C + c_off + (long)bt * c_bstride;

    /* fast path: the full MWI x NWI tiles of this work-item */
    int nfull = 0;
    if (col0 + NWI <= N) {
        nfull = min(RT, (M - rowbase) / MWI);
#if RT == 1
        if (nfull == 1) {
            realV acc[MWI][NWV];
            _Pragma("unroll") for (int r = 0; r < MWI; ++r)
            _Pragma("unroll") for (int v = 0; v < NWV; ++v) acc[r][v] = (realV)(0);
            MICRO_KERNEL(acc, rowbase, 0, K);
            STORE_TILE(acc, rowbase);
        }
#else
        /* k-blocked: every k block is applied to all RT tiles before the next,
         * so op(B)[kblock, cols] stays in cache; partial sums live in `part`. */
        realV part[RT][MWI][NWV];
        const int kstep = KB > 0 ? KB : K;
        for (int k0 = 0; k0 < K; k0 += kstep) {
            const int k1 = min(K, k0 + kstep);
            for (int t = 0; t < nfull; ++t) {
                realV acc[MWI][NWV];
                _Pragma("unroll") for (int r = 0; r < MWI; ++r)
                _Pragma("unroll") for (int v = 0; v < NWV; ++v)
                    acc[r][v] = k0 == 0 ? (realV)(0) : part[t][r][v];
                MICRO_KERNEL(acc, rowbase + t * MWI, k0, k1);
                _Pragma("unroll") for (int r = 0; r < MWI; ++r)
                _Pragma("unroll") for (int v = 0; v < NWV; ++v) part[t][r][v] = acc[r][v];
            }
        }
        for (int t = 0; t < nfull; ++t) {
            realV acc[MWI][NWV];
            _Pragma("unroll") for (int r = 0; r < MWI; ++r)
            _Pragma("unroll") for (int v = 0; v < NWV; ++v) acc[r][v] = part[t][r][v];
            STORE_TILE(acc, rowbase + t * MWI);
        }
#endif
    }

    /* guarded edge path (scalar): partial tiles at the bottom / right edges */
    for (int t = nfull; t < RT; ++t) {
        const int row0 = rowbase + t * MWI;
        if (row0 >= M) break;
        const int mr = min(MWI, M - row0);
        const int nc = min(NWI, N - col0);
        real acc[MWI][NWI];
        for (int r = 0; r < MWI; ++r)
            for (int j = 0; j < NWI; ++j) acc[r][j] = 0;
        for (int k = 0; k < K; ++k)
            for (int r = 0; r < mr; ++r) {
                const real av = LOAD(a, A_IDX(row0 + r, k));
                for (int j = 0; j < nc; ++j)
                    acc[r][j] = fma(av, LOAD(b, B_IDX(k, col0 + j)), acc[r][j]);
            }
        for (int r = 0; r < mr; ++r)
            for (int j = 0; j < nc; ++j)
                STORE(c, (long)(row0 + r) * ldc + col0 + j,
                      GEMM_EPILOGUE(acc[r][j], bt, row0 + r, col0 + j));
    }
}
