/* gemm/tiled.cl — local-memory tiled GEMM for GPUs, its operands optionally gathered
 * from a convolution's tensors on the fly (implicit GEMM), on SIMT cores or on the
 * tensor cores through inline PTX mma.sync.
 *
 * One kernel, `tgemm`, computes for each batch b < TG_BATCH (group, or GEMM batch)
 *     C_b(m, n) = sum_{k < TG_K} A_b(m, k) * B_b(k, n),   m < TG_M, n < TG_N
 * in tiles of BM x BN per work-group, stepping k by BK through two local-memory
 * buffers (the global loads of tile t+1 are issued into registers before tile t is
 * computed, then stored to the other buffer: one barrier per tile). With SPLITS > 1
 * the k range is cut into SPLITS chunks of KCH (a multiple of BK), each work-group
 * writing a partial C to `part` [SPLITS][TG_BATCH][TG_M][TG_N] (type real) that
 * partial_sum (partial_sum.cl; for a conv with its scatter into the output layout and
 * the epilogue hook) adds in a fixed order: deterministic, no atomics.
 *
 * The operands, by TG_MODE (all sizes are build constants):
 *   0 GEMM     A stored M x K (row stride LDA) or K x M with TRANS_A; B stored K x N
 *              (LDB) or N x K with TRANS_B; C M x N (LDC); batch b of X starts at
 *              X_OFF + b * X_BS. Stores GEMM_EPILOGUE(v, b, m, n) (GEMM_EPI_PARAMS).
 *   1 CONV     a convolution with generic taps and output placement (the forward conv,
 *              and each phase of a backward-data): b = group g, m = output channel of
 *              the group (OGOUT), n = (nb, oh, ow) over NB x OH x OW, k = (c, jh, jw)
 *              over CGIN x JH x JW, kh = KH0 + jh*KHS, kw = KW0 + jw*KWS:
 *                A(m, k) = w[(g*OGOUT + m)*CGIN + c][kh][kw]        (WTRANS 0, forward)
 *                        = w[(g*CGIN + c)*OGOUT + m][kh][kw]        (WTRANS 1, backward-data)
 *                B(k, n) = in[nb][g*CGIN + c][oh*SH - PT + jh*DH][ow*SW - PL + jw*DW]
 *                          (0 outside in), in (NB, CI, H, W)
 *                C(m, n) -> out[nb][g*OGOUT + m][oh*YSH + YOH][ow*YSW + YOW], out
 *                          (NB, CO, YH, YW), stored through CONV_EPILOGUE(v, idx)
 *              (w (., ., KHF, KWF)). JH or JW = 0 (a phase without taps) stores zeros.
 *   2 BWD_W    backward-weights: b = g, m = o < OG, n = (c, kh, kw) over CG x KH x KW,
 *              k = (nb, oh, ow) over NB x OH x OW:
 *                A(m, k) = dy[nb][g*OG + m][oh][ow]
 *                B(k, n) = x[nb][g*CG + c][oh*SH - PT + kh*DH][ow*SW - PL + kw*DW]
 *                C(m, n) -> dw[(g*OG + m)][c][kh][kw]  (or the partials)
 *
 * The shape constants above are passed as D_<name> (-D D_H=56 ...).
 *
 * Compute, by TG_MMA:
 *   0 SIMT     (BM/TM) x (BN/TN) work-items, each a TM x TN register tile made of 4x4
 *              blocks spread over the work-group tile (conflict-free vector reads of
 *              local memory). Any `real` (float, double; float for half storage).
 *   1 TF32     32 * WM * WN work-items: a WM x WN grid of warps, each a (BM/WM) x
 *              (BN/WN) tile of m16n8k8 mma.sync (TF32 inputs rounded with cvt.rna,
 *              float accumulation). NVIDIA only (inline PTX).
 *   2 F16      as TF32 with m16n8k16 (half inputs packed in pairs along k, float
 *              accumulation); for half storage. NVIDIA only.
 *   Work-items are numbered along dimension 0 only, so lane = id % 32 is the
 *   hardware lane on NVIDIA (warps are formed from consecutive linear ids).
 *
 * Global loads: each operand tile is read by the work-group with consecutive
 * work-items along the operand's contiguous axis (A_KFAST / B_NFAST), and every
 * index decode that does not change along the k loop is hoisted out of it.
 * Launch: global (NTHR * ceil(N/BN), ceil(M/BM), TG_BATCH * SPLITS), local (NTHR, 1, 1).
 */
#include "common.cl"

#ifndef TG_MODE
#define TG_MODE 0
#endif
#ifndef TG_MMA
#define TG_MMA 0
#endif
#ifndef BM
#define BM 64
#endif
#ifndef BN
#define BN 64
#endif
#ifndef BK
#define BK 16
#endif
#ifndef TM
#define TM 4
#endif
#ifndef TN
#define TN 4
#endif
#ifndef WM
#define WM 2
#endif
#ifndef WN
#define WN 2
#endif
#ifndef SPLITS
#define SPLITS 1
#endif
#ifndef KCH
#define KCH TG_K
#endif
#ifndef TG_BATCH
#define TG_BATCH 1
#endif
/* measurement probes (benchmarks/gpu_probe.py): 0 leaves out the global loads, the
 * arithmetic, or the stores (a store then happens only for an impossible value) */
#ifndef TG_PROBE_LOAD
#define TG_PROBE_LOAD 1
#endif
#ifndef TG_PROBE_COMPUTE
#define TG_PROBE_COMPUTE 1
#endif
#ifndef TG_PROBE_STORE
#define TG_PROBE_STORE 1
#endif
#if TG_PROBE_STORE
#define STORE_OK(v) 1
#else
#define STORE_OK(v) ((v) == (real)-1234567.0f)
#endif

#if TG_MMA
  #define NTHR (32 * WM * WN)
  #define KE (TG_MMA == 2 ? 2 : 1)   /* k values per local element */
  typedef uint lelem_t;
  #define PADL 8                     /* row pad: fragment reads hit 32 distinct banks */
#else
  #define NTHR ((BM / TM) * (BN / TN))
  #define KE 1
  typedef real lelem_t;
  #define PADL 4
#endif
#define BKE (BK / KE)
#define LDAL (BM + PADL)
#define LDBL (BN + PADL)
/* output staging in As's space: rows of LDCL, CR rows (a multiple of 8) per round */
#define LDCL (BN + 4)
#define CR_FIT ((2 * BKE * LDAL * (int)sizeof(lelem_t)) / ((int)sizeof(real) * LDCL) / 8 * 8)
#define CR (CR_FIT < BM ? CR_FIT : BM)

/* which axis of each operand's tile consecutive work-items walk */
#if TG_MODE == 0
  #ifdef TRANS_A
    #define A_KFAST 0
  #else
    #define A_KFAST 1
  #endif
  #ifdef TRANS_B
    #define B_NFAST 0
  #else
    #define B_NFAST 1
  #endif
#elif TG_MODE == 1
  #define A_KFAST 1
  #define B_NFAST 1
#else
  #define A_KFAST 1
  #define B_NFAST 0
#endif

#define A_SLOTS (BM * BKE / NTHR)
#define B_SLOTS (BN * BKE / NTHR)
#if A_KFAST
  #define A_STEP (NTHR / BKE)        /* m rows between a work-item's slots */
#else
  #define A_STEP (NTHR / BM)         /* local k rows between slots */
#endif
#if B_NFAST
  #define B_STEP (NTHR / BN)         /* local k rows between slots */
#else
  #define B_STEP (NTHR / BKE)        /* n columns between slots */
#endif

#ifndef CONV_EPILOGUE
#define CONV_EPILOGUE(v, idx) (v)
#endif
#ifndef GEMM_EPILOGUE
#define GEMM_EPILOGUE(v, b, row, col) (v)
#endif

/* ---------------------------------------------------------------- conversions */
#if TG_MMA == 1
inline uint to_tf32(float v)
{
    uint r;
    asm("cvt.rna.tf32.f32 %0, %1;" : "=r"(r) : "f"(v));
    return r;
}
#elif TG_MMA == 2
inline uint pack_f16x2(float lo, float hi)
{
    uint r;
    asm("cvt.rn.f16x2.f32 %0, %1, %2;" : "=r"(r) : "f"(hi), "f"(lo));
    return r;
}
#endif

/* ----------------------------------------------------- operand value gathers */
#if TG_MODE == 1
  #define TG_M D_OGOUT
  #define TG_N (D_NB * D_OH * D_OW)
  #define TG_K (D_CGIN * D_JH * D_JW)
  #define JHW_D (D_JH * D_JW > 0 ? D_JH * D_JW : 1)   /* divisors of a phase without taps (K = 0) */
  #define JW_D (D_JW > 0 ? D_JW : 1)
  #define KHWF (D_KHF * D_KWF)
  #if D_WTRANS
    #define A_MSTRIDE KHWF
    #define A_CSTRIDE (D_OGOUT * KHWF)
  #else
    #define A_MSTRIDE (D_CGIN * KHWF)
    #define A_CSTRIDE KHWF
  #endif
#elif TG_MODE == 2
  #define TG_M D_OG
  #define TG_N (D_CG * D_KH * D_KW)
  #define TG_K (D_NB * D_OH * D_OW)
#endif

__kernel __attribute__((reqd_work_group_size(NTHR, 1, 1)))
void tgemm(
#if TG_MODE == 0
    __global const storage_t *restrict a, __global const storage_t *restrict b,
    __global storage_t *restrict c
  #if SPLITS > 1
    , __global real *restrict part
  #endif
  #ifdef GEMM_EPI_PARAMS
    , GEMM_EPI_PARAMS
  #endif
#elif TG_MODE == 1
    __global const storage_t *restrict in, __global const storage_t *restrict w,
  #if SPLITS > 1
    __global real *restrict part      /* split-K: partial_sum writes out */
  #else
    __global storage_t *restrict out
    #ifdef CONV_EPI_PARAMS
    , CONV_EPI_PARAMS
    #endif
  #endif
#else
    __global const storage_t *restrict x, __global const storage_t *restrict dy,
    __global storage_t *restrict dw
  #if SPLITS > 1
    , __global real *restrict part
  #endif
#endif
    )
{
    __local lelem_t As[2][BKE][LDAL];
    __local lelem_t Bs[2][BKE][LDBL];

    const int tid = get_local_id(0);
    const int n0 = get_group_id(0) * BN;
    const int m0 = get_group_id(1) * BM;
    const int z = get_group_id(2);
    const int bz = z / SPLITS;
    const int sz = z - bz * SPLITS;
    const int kbeg = sz * KCH;
    const int kend = min(TG_K, kbeg + KCH);
    const int ntiles = kend > kbeg ? (kend - kbeg + BK - 1) / BK : 0;

    /* this work-item's fixed coordinate in each operand tile, and its first slot */
#if A_KFAST
    const int a_kk = tid - (tid / BKE) * BKE;   /* local k row (fixed) */
    const int a_mm = tid / BKE;                 /* m of slot 0, then + i * A_STEP */
#else
    const int a_mm = tid - (tid / BM) * BM;     /* m (fixed) */
    const int a_kk = tid / BM;                  /* local k row of slot 0 */
#endif
#if B_NFAST
    const int bn_fix = tid - (tid / BN) * BN;   /* n (fixed) */
    const int bk_fix = tid / BN;                /* local k row of slot 0, then + i * B_STEP */
#else
    const int b_kk = tid - (tid / BKE) * BKE;   /* local k row (fixed) */
    const int b_nn = tid / BKE;                 /* n of slot 0 */
#endif

    /* ---- hoisted per-work-item setup of the gathers ---- */
#if TG_MODE == 0
    /* the names gemm.cl's parameters have, which a fused GEMM_EPILOGUE may use */
    const int c_off = D_C_OFF, c_bstride = D_C_BS, ldc = D_LDC;
    (void)c_off; (void)c_bstride; (void)ldc;
    const int abase = D_A_OFF + bz * D_A_BS;
    const int bbase = D_B_OFF + bz * D_B_BS;
#elif TG_MODE == 1
    const int g = bz;
    const int abase = g * D_OGOUT * D_CGIN * KHWF;
    /* B: this work-item's column n (fixed) */
    const int bn = n0 + bn_fix;
    const int bn_ok = bn < TG_N;
    int b_off, b_ih0, b_iw0;
    {
        const int nb = bn / (D_OH * D_OW);
        const int p = bn - nb * (D_OH * D_OW);
        const int oh = p / D_OW;
        const int ow = p - oh * D_OW;
        b_off = (nb * D_CI + g * D_CGIN) * (D_H * D_W);
        b_ih0 = oh * D_SH - D_PT;
        b_iw0 = ow * D_SW - D_PL;
    }
#else
    const int g = bz;
    /* B: this work-item's columns n = (c, kh, kw), one per slot (fixed over k) */
    int b_coff[B_SLOTS], b_dh[B_SLOTS], b_dw[B_SLOTS];
    #pragma unroll
    for (int i = 0; i < B_SLOTS; i++) {
        const int n = n0 + b_nn + i * B_STEP;
        const int c = n / (D_KH * D_KW);
        const int r = n - c * (D_KH * D_KW);
        const int kh = r / D_KW;
        const int kw = r - kh * D_KW;
        b_dh[i] = n < TG_N ? kh * D_DH : -(1 << 28);   /* an out-of-range column reads 0 */
        b_dw[i] = kw * D_DW;
        b_coff[i] = (g * D_CG + c) * (D_H * D_W);
    }
#endif

    real ra[A_SLOTS * KE];
    real rb[B_SLOTS * KE];

    /* ---- global -> registers: tile starting at k0 ---- */
#if TG_PROBE_LOAD
#define LOAD_TILE(k0) do {                                                              \
        load_a(k0);                                                                     \
        load_b(k0);                                                                     \
    } while (0)
#else   /* measurement probe: no global loads */
#define LOAD_TILE(k0) do {                                                              \
        for (int i_ = 0; i_ < A_SLOTS * KE; i_++) ra[i_] = (real)((k0) + i_);           \
        for (int i_ = 0; i_ < B_SLOTS * KE; i_++) rb[i_] = (real)(tid + i_);            \
    } while (0)
#endif

#if TG_MODE == 0
  #if A_KFAST
    #define load_a(k0) do {                                                             \
        for (int i = 0; i < A_SLOTS; i++) {                           \
          for (int e = 0; e < KE; e++) {                              \
            const int k = (k0) + a_kk * KE + e;                                         \
            const int m = m0 + a_mm + i * A_STEP;                                       \
            ra[i * KE + e] = (m < TG_M && k < kend) ? LOAD(a, abase + m * D_LDA + k) : (real)0; \
          } }                                                                           \
    } while (0)
  #else
    #define load_a(k0) do {                                                             \
        for (int i = 0; i < A_SLOTS; i++) {                           \
          for (int e = 0; e < KE; e++) {                              \
            const int k = (k0) + (a_kk + i * A_STEP) * KE + e;                          \
            const int m = m0 + a_mm;                                                    \
            ra[i * KE + e] = (m < TG_M && k < kend) ? LOAD(a, abase + k * D_LDA + m) : (real)0; \
          } }                                                                           \
    } while (0)
  #endif
  #if B_NFAST
    #define load_b(k0) do {                                                             \
        for (int i = 0; i < B_SLOTS; i++) {                           \
          for (int e = 0; e < KE; e++) {                              \
            const int k = (k0) + (bk_fix + i * B_STEP) * KE + e;                        \
            const int n = n0 + bn_fix;                                                  \
            rb[i * KE + e] = (n < TG_N && k < kend) ? LOAD(b, bbase + k * D_LDB + n) : (real)0; \
          } }                                                                           \
    } while (0)
  #else
    #define load_b(k0) do {                                                             \
        for (int i = 0; i < B_SLOTS; i++) {                           \
          for (int e = 0; e < KE; e++) {                              \
            const int k = (k0) + b_kk * KE + e;                                         \
            const int n = n0 + b_nn + i * B_STEP;                                       \
            rb[i * KE + e] = (n < TG_N && k < kend) ? LOAD(b, bbase + n * D_LDB + k) : (real)0; \
          } }                                                                           \
    } while (0)
  #endif
#elif TG_MODE == 1
    #define load_a(k0) do {                                                             \
        for (int e = 0; e < KE; e++) {                                \
          const int k = (k0) + a_kk * KE + e;                                           \
          const int c = k / JHW_D;                                                  \
          const int r = k - c * JHW_D;                                              \
          const int jh = r / JW_D;                                                        \
          const int jw = r - jh * JW_D;                                                   \
          const int koff = c * A_CSTRIDE + (D_KH0 + jh * D_KHS) * D_KWF + D_KW0 + jw * D_KWS;     \
          const int kok = k < kend;                                                     \
          for (int i = 0; i < A_SLOTS; i++) {                         \
            const int m = m0 + a_mm + i * A_STEP;                                       \
            ra[i * KE + e] = (kok && m < TG_M) ? LOAD(w, abase + m * A_MSTRIDE + koff) : (real)0; \
          } }                                                                           \
    } while (0)
    #define load_b(k0) do {                                                             \
        for (int i = 0; i < B_SLOTS; i++) {                           \
          for (int e = 0; e < KE; e++) {                              \
            const int k = (k0) + (bk_fix + i * B_STEP) * KE + e;                        \
            const int c = k / JHW_D;                                                \
            const int r = k - c * JHW_D;                                            \
            const int jh = r / JW_D;                                                      \
            const int jw = r - jh * JW_D;                                                 \
            const int ih = b_ih0 + jh * D_DH;                                             \
            const int iw = b_iw0 + jw * D_DW;                                             \
            const int ok = bn_ok && k < kend && ih >= 0 && ih < D_H && iw >= 0 && iw < D_W; \
            rb[i * KE + e] = ok ? LOAD(in, b_off + c * (D_H * D_W) + ih * D_W + iw) : (real)0; \
          } }                                                                           \
    } while (0)
#else
    /* A and B share their fixed k (a_kk == b_kk): decode (nb, oh, ow) once per tile */
    #define load_a(k0) do { } while (0)
    #define load_b(k0) do {                                                             \
        for (int e = 0; e < KE; e++) {                                \
          const int k = (k0) + a_kk * KE + e;                                           \
          const int kok = k < kend;                                                     \
          const int nb = k / (D_OH * D_OW);                                                 \
          const int p = k - nb * (D_OH * D_OW);                                             \
          const int oh = p / D_OW;                                                        \
          const int ow = p - oh * D_OW;                                                   \
          const int dyb = nb * (D_O * D_OH * D_OW) + (g * D_OG) * (D_OH * D_OW) + p;                \
          for (int i = 0; i < A_SLOTS; i++) {                         \
            const int m = m0 + a_mm + i * A_STEP;                                       \
            ra[i * KE + e] = (kok && m < TG_M) ? LOAD(dy, dyb + m * (D_OH * D_OW)) : (real)0; \
          }                                                                             \
          const int xb = nb * (D_C * D_H * D_W);                                              \
          const int ih0 = oh * D_SH - D_PT;                                                 \
          const int iw0 = ow * D_SW - D_PL;                                                 \
          for (int i = 0; i < B_SLOTS; i++) {                         \
            const int ih = ih0 + b_dh[i];                                               \
            const int iw = iw0 + b_dw[i];                                               \
            const int ok = kok && ih >= 0 && ih < D_H && iw >= 0 && iw < D_W;               \
            rb[i * KE + e] = ok ? LOAD(x, xb + b_coff[i] + ih * D_W + iw) : (real)0;      \
          } }                                                                           \
    } while (0)
#endif

    /* ---- registers -> local buffer s ---- */
#if TG_MMA == 1
  #define TO_LOCAL(r, i) to_tf32(r[i])
#elif TG_MMA == 2
  #define TO_LOCAL(r, i) pack_f16x2(r[(i) * 2], r[(i) * 2 + 1])
#else
  #define TO_LOCAL(r, i) (r[i])
#endif
#if A_KFAST
  #define A_LOC(i) a_kk][a_mm + (i) * A_STEP
#else
  #define A_LOC(i) a_kk + (i) * A_STEP][a_mm
#endif
#if B_NFAST
  #define B_LOC(i) bk_fix + (i) * B_STEP][bn_fix
#else
  #define B_LOC(i) b_kk][b_nn + (i) * B_STEP
#endif
#define STORE_TILE(s) do {                                                              \
        for (int i = 0; i < A_SLOTS; i++) As[s][A_LOC(i)] = TO_LOCAL(ra, i); \
        for (int i = 0; i < B_SLOTS; i++) Bs[s][B_LOC(i)] = TO_LOCAL(rb, i); \
    } while (0)

    /* ---- accumulators ---- */
#if TG_MMA
    const int lane = tid & 31;
    const int warp = tid >> 5;
    const int wm = warp - (warp / WM) * WM;
    const int wn = warp / WM;
    const int gq = lane >> 2;
    const int tq = lane & 3;
    #define WTM (BM / WM)
    #define WTN (BN / WN)
    #define MT (WTM / 16)
    #define NT (WTN / 8)
    float acc[MT][NT][4];
    #pragma unroll
    for (int i = 0; i < MT; i++)
        #pragma unroll
        for (int j = 0; j < NT; j++)
            #pragma unroll
            for (int e = 0; e < 4; e++) acc[i][j][e] = 0.0f;
#else
    const int tx = tid - (tid / (BN / TN)) * (BN / TN);
    const int ty = tid / (BN / TN);
    real acc[TM][TN];
    #pragma unroll
    for (int i = 0; i < TM; i++)
        #pragma unroll
        for (int j = 0; j < TN; j++) acc[i][j] = (real)0;
#endif

    if (ntiles > 0) {
        LOAD_TILE(kbeg);
        STORE_TILE(0);
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int t = 0; t < ntiles; t++) {
        const int s = t & 1;
        if (t + 1 < ntiles)
            LOAD_TILE(kbeg + (t + 1) * BK);
#if !TG_PROBE_COMPUTE
  /* keep the tile traffic alive: one local read of each operand per step */
  #if TG_MMA
        acc[0][0][0] += as_float(As[s][tid % BKE][tid % BM]) + as_float(Bs[s][tid % BKE][tid % BN]);
  #else
        acc[0][0] += As[s][tid % BKE][tid % BM] + Bs[s][tid % BKE][tid % BN];
  #endif
#elif TG_MMA
        #pragma unroll
        for (int ks = 0; ks < BKE; ks += 8) {
            uint af[MT][4], bf[NT][2];
            #pragma unroll
            for (int i = 0; i < MT; i++) {
                const int mr = wm * WTM + i * 16 + gq;
                af[i][0] = As[s][ks + tq][mr];
                af[i][1] = As[s][ks + tq][mr + 8];
                af[i][2] = As[s][ks + tq + 4][mr];
                af[i][3] = As[s][ks + tq + 4][mr + 8];
            }
            #pragma unroll
            for (int j = 0; j < NT; j++) {
                const int nc = wn * WTN + j * 8 + gq;
                bf[j][0] = Bs[s][ks + tq][nc];
                bf[j][1] = Bs[s][ks + tq + 4][nc];
            }
            #pragma unroll
            for (int i = 0; i < MT; i++)
                #pragma unroll
                for (int j = 0; j < NT; j++)
  #if TG_MMA == 1
                    asm volatile("mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 "
                                 "{%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};"
  #else
                    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 "
                                 "{%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};"
  #endif
                                 : "+f"(acc[i][j][0]), "+f"(acc[i][j][1]), "+f"(acc[i][j][2]),
                                   "+f"(acc[i][j][3])
                                 : "r"(af[i][0]), "r"(af[i][1]), "r"(af[i][2]), "r"(af[i][3]),
                                   "r"(bf[j][0]), "r"(bf[j][1]));
        }
#else
        #pragma unroll 4
        for (int kk = 0; kk < BK; kk++) {
            real av[TM], bv[TN];
            #pragma unroll
            for (int i = 0; i < TM / 4; i++) {
                const real4 v = vload4(0, &As[s][kk][i * (4 * BM / TM) + ty * 4]);
                av[i * 4] = v.s0; av[i * 4 + 1] = v.s1; av[i * 4 + 2] = v.s2; av[i * 4 + 3] = v.s3;
            }
            #pragma unroll
            for (int j = 0; j < TN / 4; j++) {
                const real4 v = vload4(0, &Bs[s][kk][j * (4 * BN / TN) + tx * 4]);
                bv[j * 4] = v.s0; bv[j * 4 + 1] = v.s1; bv[j * 4 + 2] = v.s2; bv[j * 4 + 3] = v.s3;
            }
            #pragma unroll
            for (int i = 0; i < TM; i++)
                #pragma unroll
                for (int j = 0; j < TN; j++) acc[i][j] = fma(av[i], bv[j], acc[i][j]);
        }
#endif
        if (t + 1 < ntiles)
            STORE_TILE(s ^ 1);
        barrier(CLK_LOCAL_MEM_FENCE);
    }

    /* ---- stores: the register tile as (row, column) pairs ---- */
#if TG_MMA
    #define NCOLS (NT * 2)
    #define NROWS (MT * 2)
    #define COL_OF(j) (n0 + wn * WTN + ((j) >> 1) * 8 + 2 * tq + ((j) & 1))
    #define ROW_OF(i) (m0 + wm * WTM + ((i) >> 1) * 16 + gq + ((i) & 1) * 8)
    #define ACC(i, j) acc[(i) >> 1][(j) >> 1][((i) & 1) * 2 + ((j) & 1)]
#else
    #define NCOLS TN
    #define NROWS TM
    #define COL_OF(j) (n0 + ((j) >> 2) * (4 * BN / TN) + tx * 4 + ((j) & 3))
    #define ROW_OF(i) (m0 + ((i) >> 2) * (4 * BM / TM) + ty * 4 + ((i) & 3))
    #define ACC(i, j) acc[i][j]
#endif
    /* The tile goes out through local memory (the k loop's buffers), CR rows at a time:
     * each work-item then writes one column n of consecutive rows, so a warp stores whole
     * runs of consecutive n (full 32-byte sectors) instead of the register tile's
     * scattered 4x4 / 8x8 fragments (measured 5x slower on the H100 for wide outputs). */
    __local real *Cs = (__local real *)&As[0][0][0];
    const int scol = tid - (tid / BN) * BN;
    const int n = n0 + scol;
    const int n_ok = n < TG_N;
#if TG_MODE == 1 && SPLITS == 1
    int obase = 0;
    if (n_ok) {
        const int nb = n / (D_OH * D_OW);
        const int p = n - nb * (D_OH * D_OW);
        const int oh = p / D_OW;
        const int ow = p - oh * D_OW;
        obase = (nb * D_CO + g * D_OGOUT) * (D_YH * D_YW) + (oh * D_YSH + D_YOH) * D_YW + ow * D_YSW + D_YOW;
    }
#endif
    for (int c0 = 0; c0 < BM; c0 += CR) {
        barrier(CLK_LOCAL_MEM_FENCE);
        #pragma unroll
        for (int i = 0; i < NROWS; i++) {
            const int r = ROW_OF(i) - m0 - c0;
            if (r >= 0 && r < CR) {
                #pragma unroll
                for (int j = 0; j < NCOLS; j++)
                    Cs[r * LDCL + COL_OF(j) - n0] = ACC(i, j);
            }
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        for (int r = tid / BN; r < CR; r += NTHR / BN) {
            const int m = m0 + c0 + r;
            if (m < TG_M && n_ok) {
                const real v = Cs[r * LDCL + scol];
#if SPLITS > 1
                part[(sz * TG_BATCH + bz) * (TG_M * TG_N) + m * TG_N + n] = v;
#elif TG_MODE == 0
                STORE(c, D_C_OFF + bz * D_C_BS + m * D_LDC + n, GEMM_EPILOGUE(v, bz, m, n));
#elif TG_MODE == 1
                if (STORE_OK(v)) {
                    const int idx = obase + m * (D_YH * D_YW);
                    STORE(out, idx, CONV_EPILOGUE(v, idx));
                }
#else
                STORE(dw, (g * D_OG + m) * TG_N + n, v);
#endif
            }
        }
    }
}
