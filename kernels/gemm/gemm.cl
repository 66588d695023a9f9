/* gemm.cl — batched GEMM  C[b] = op(A[b]) @ op(B[b])  (row-major).
 *
 * Kernel `gemm`, NDRange (dim0: column blocks of NWI, dim1: row blocks of
 * MWI*RT, dim2: batch b).  op(A) is M x K, op(B) is K x N, C is M x N:
 *   A[b](i,k) = A[a_off + b*a_bstride + i*lda + k]      (-D TRANS_A: ... + k*lda + i)
 *   B[b](k,j) = B[b_off + b*b_bstride + k*ldb + j]      (-D TRANS_B: ... + j*ldb + k)
 *   C[b](i,j) = C[c_off + b*c_bstride + i*ldc + j] = GEMM_EPILOGUE(sum, b, i, j)
 * Arguments: (A, B, C, M, N, K, lda, ldb, ldc, a_off, b_off, c_off,
 *             a_bstride, b_bstride, c_bstride), all ints in elements.
 * dtype via common.cl: FCONV_F32 / FCONV_F64 / FCONV_F16 (half storage,
 * float accumulation).  Correct for any M, N, K >= 1: full tiles take the
 * vector path, partial tiles at the bottom/right edges a guarded scalar path;
 * no temporaries, no padding.  Work-items past the edges exit, so the grid
 * may be rounded up to whole work-groups.
 *
 * Paths
 *   NN, TN (TRANS_A): each work-item holds MWI rows x NWV vectors of VW
 *     columns of C in registers; per k it loads NWV vectors of B's row k and
 *     broadcasts MWI scalars of A (no local memory, no barriers: CPU style).
 *     With RT > 1 a work-item owns RT such tiles stacked along M and applies
 *     k in blocks of KB to all of them in turn (partial sums in private
 *     memory), so the KB x NWI panel of B stays in L1/L2 and its pages in
 *     the TLB — this is what keeps 4096^3 fast.
 *   NT (TRANS_B only): rows of A and of stored B are both contiguous in k,
 *     so the tile is done as NT_R x NT_C sub-blocks of dot products with
 *     vectors of KV along k, reduced at the end.
 *   TT: computed as (B_s A_s)^T, i.e. the NN path on the stored matrices
 *     with A and B swapped and C stored transposed; the planner then sizes
 *     dims 0/1 of the grid for the swapped problem (N x M).
 *
 * Tunables (-D NAME=value): MWI, VW (2/4/8/16), NWV, RT, KB, and for NT
 * NT_R, NT_C, KV.  GEMM_EPILOGUE(v, b, row, col) maps each value at its
 * store (default identity; jit fuses bias / ReLU through it, defining it in a
 * generated prelude together with GEMM_EPI_PARAMS, extra kernel parameters
 * appended after c_bstride that the epilogue reads: bias, residual, ...).
 *
 * Measured (Intel OpenCL CPU runtime 2024, 2-core Zen 5 VM, float32; NumPy
 * with OPENBLAS_CORETYPE=SkylakeX reached ~190-200 GFLOP/s on this VM, not
 * 440; the machine was shared with other jobs, so numbers are best-of runs):
 *   8x32 tile, RT=1, local (1,16):           1024^3 ~180-200, 4096^3 ~125
 *   same, local (16,1) without vec_type_hint: ~55 / ~40 (the implicit
 *     vectorizer packs work-items and wrecks the explicit float16 code;
 *     vec_type_hint(realV) switches it off)
 *   8x32, RT=4, KB=256, local (1,4):         1024^3 ~200, 4096^3 ~150
 *   8x32, RT=8, KB=256/512, local (1,2):     4096^3 ~140-150
 *   KB=512 with RT=4 and KB=128 were slower at 4096; 12x32, 6x64, 4x64
 *   tiles were not clearly better than 8x32 at 1024.
 *   CPU-time-normalised under load (flops / (process CPU s / 2)) at 4096^3:
 *   RT=4 KB=256 ~140, RT=1 ~95, NumPy ~185.
 *   Planner choice (fconv/codegen/gemm.py): 8x32, RT=1, local (1,16) in
 *   general; RT=4, KB=256, local (1,4) when M >= 256 and K >= 512.
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
#endif
#ifndef GEMM_EPILOGUE
#define GEMM_EPILOGUE(v, b, row, col) (v)
#endif
#ifndef GEMM_HAS_EPILOGUE
#define GEMM_HAS_EPILOGUE 0
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

/* A^T B^T is computed as (B_s A_s)^T: an NN product of the stored matrices
 * with roles swapped and C written transposed (grid dims 0/1 then cover M/N). */
#if defined(TRANS_A) && defined(TRANS_B)
#define SWAP_AB
#undef TRANS_A
#undef TRANS_B
#define C_IDX(r, q) ((long)(q) * ldc + (r))
#define C_ROW(r, q) (q)
#define C_COL(r, q) (r)
#else
#define C_IDX(r, q) ((long)(r) * ldc + (q))
#define C_ROW(r, q) (r)
#define C_COL(r, q) (q)
#endif

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
#ifdef SWAP_AB
#define STORE_TILE(acc, row0) do {                                             \
    _Pragma("unroll") for (int r = 0; r < MWI; ++r)                            \
    _Pragma("unroll") for (int v = 0; v < NWV; ++v) {                          \
        real t_[VW];                                                           \
        VSTORER(t_, acc[r][v]);                                                \
        _Pragma("unroll") for (int e_ = 0; e_ < VW; ++e_) {                    \
            const int i_ = (row0) + r, j_ = col0 + v * VW + e_;                \
            STORE(c, C_IDX(i_, j_),                                            \
                  GEMM_EPILOGUE(t_[e_], bt, C_ROW(i_, j_), C_COL(i_, j_)));    \
        }                                                                      \
    } } while (0)
#else
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
#endif


/* ---- trans_b only (B stored N x K): rows of A and B are both contiguous in k,
 * so sub-blocks of NT_R x NT_C outputs are computed as dot products with
 * vectors of KV along k, then reduced. ---- */
#ifndef KV
#define KV VW
#endif
#ifndef NT_R
#if MWI % 4 == 0
#define NT_R 4
#elif MWI % 2 == 0
#define NT_R 2
#else
#define NT_R 1
#endif
#endif
#ifndef NT_C
#if NWI % 4 == 0
#define NT_C 4
#elif NWI % 2 == 0
#define NT_C 2
#else
#define NT_C 1
#endif
#endif
#define realK CAT(real, KV)
#define LOADK(p) LOADN_(KV, p, 0)
#if KV == 16
#define HSUM(v) hsum4_((v).s0123 + (v).s4567 + (v).s89ab + (v).scdef)
#elif KV == 8
#define HSUM(v) hsum4_((v).lo + (v).hi)
#elif KV == 4
#define HSUM(v) hsum4_(v)
#elif KV == 2
#define HSUM(v) ((v).s0 + (v).s1)
#endif
inline real hsum4_(real4 v) { return (v.s0 + v.s1) + (v.s2 + v.s3); }

__kernel __attribute__((vec_type_hint(realV)))
void gemm(__global const storage_t *restrict A,
          __global const storage_t *restrict B,
          __global storage_t *restrict C,
          int M_, int N_, int K, int lda_, int ldb_, int ldc,
          int a_off, int b_off, int c_off,
          int a_bstride, int b_bstride, int c_bstride
#ifdef GEMM_EPI_PARAMS
          , GEMM_EPI_PARAMS
#endif
          )
{
#ifdef SWAP_AB
    const int M = N_, N = M_, lda = ldb_, ldb = lda_;
#else
    const int M = M_, N = N_, lda = lda_, ldb = ldb_;
#endif
    const int bt = get_global_id(2);
    const int col0 = get_global_id(0) * NWI;
    const int rowbase = get_global_id(1) * (MWI * RT);
    if (col0 >= N || rowbase >= M) return;
#ifdef SWAP_AB
    __global const storage_t *a = B + b_off + (long)bt * b_bstride;
    __global const storage_t *b = A + a_off + (long)bt * a_bstride;
#else
    __global const storage_t *a = A + a_off + (long)bt * a_bstride;
    __global const storage_t *b = B + b_off + (long)bt * b_bstride;
#endif
    __global storage_t *c = C + c_off + (long)bt * c_bstride;

    /* fast path: the full MWI x NWI tiles of this work-item */
    int nfull = 0;
    if (col0 + NWI <= N) {
        nfull = min(RT, (M - rowbase) / MWI);
#if defined(TRANS_B) && !defined(TRANS_A)
        const int kvend = K - K % KV;
        for (int t = 0; t < nfull; ++t)
        for (int sr = 0; sr < MWI; sr += NT_R)
        for (int sc = 0; sc < NWI; sc += NT_C) {
            const int i0 = rowbase + t * MWI + sr, j0 = col0 + sc;
            realK acc[NT_R][NT_C];
            _Pragma("unroll") for (int r = 0; r < NT_R; ++r)
            _Pragma("unroll") for (int q = 0; q < NT_C; ++q) acc[r][q] = (realK)(0);
            for (int k = 0; k < kvend; k += KV) {
                realK av[NT_R], bv[NT_C];
                _Pragma("unroll") for (int r = 0; r < NT_R; ++r)
                    av[r] = LOADK(a + A_IDX(i0 + r, k));
                _Pragma("unroll") for (int q = 0; q < NT_C; ++q)
                    bv[q] = LOADK(b + B_IDX(k, j0 + q));
                _Pragma("unroll") for (int r = 0; r < NT_R; ++r)
                _Pragma("unroll") for (int q = 0; q < NT_C; ++q)
                    acc[r][q] = fma(av[r], bv[q], acc[r][q]);
            }
            _Pragma("unroll") for (int r = 0; r < NT_R; ++r)
            _Pragma("unroll") for (int q = 0; q < NT_C; ++q) {
                real sum = HSUM(acc[r][q]);
                for (int k = kvend; k < K; ++k)
                    sum = fma(LOAD(a, A_IDX(i0 + r, k)), LOAD(b, B_IDX(k, j0 + q)), sum);
                STORE(c, C_IDX(i0 + r, j0 + q), GEMM_EPILOGUE(sum, bt, C_ROW(i0 + r, j0 + q), C_COL(i0 + r, j0 + q)));
            }
        }
#elif RT == 1
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
#endif /* RT */
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
                STORE(c, C_IDX(row0 + r, col0 + j), GEMM_EPILOGUE(acc[r][j], bt,
                      C_ROW(row0 + r, col0 + j), C_COL(row0 + r, col0 + j)));
    }
}
