/* conv/winograd.cl — Winograd F(2x2,3x3) and F(4x4,3x3) convolution transforms.
 *
 * A 3x3 / stride 1 / dilation 1 convolution is computed on tiles of m x m
 * outputs (m = WINO_M, 2 or 4) from alpha x alpha inputs (alpha = m + 2,
 * T = alpha^2 transform points):
 *     Y_tile = A^T [ sum_c (G g[o,c] G^T) .* (B^T d[c] B) ] A
 * F(2x2) uses the points 0, 1, -1, inf (Lavin & Gray); F(4x4) uses
 * 0, 1, -1, 2, -1/2, inf, which measured ~4x less float32 error than Lavin's
 * 0, +-1, +-2 (fconv/conv/winograd.py declares the bounds).
 *
 * Every kernel works on one "forward-like" sub-problem: an input
 * (WG_N, WG_CIN, WG_HI, WG_WI) cut into WG_TH x WG_TW tiles per image, an
 * output (WG_N, WG_COUT, WG_HO, WG_WO), pads WG_PT / WG_PL (may be negative:
 * tile (th, tw) reads rows th*m - PT .. and columns tw*m - PL ..), groups of
 * WG_CIG input / WG_COG output channels. The strategy maps each direction
 * onto it: forward (x -> y, w), backward-data (dy -> dx with the filters
 * flipped and channel-swapped, pads 2 - pt / 2 - pl), backward-weights (x and
 * dy tiled on the output grid). (Groups need no parameter of their own: the
 * GEMM's batch runs over points x groups.) The 1-D transforms below are
 * generated from exact Toom-Cook matrices (zeros skipped, +-1 without a
 * multiply). The batched GEMM over the T points between the transforms is
 * kernels/gemm/gemm.cl.
 *
 * Tile columns: tile (n, th, tw) is column (n*TH + th)*TWP + tw of the
 * workspaces; TWP >= TW pads each tile row (to whole vectors of 16 for the
 * row kernels) and padding columns hold zeros. The batch is processed in
 * chunks of WG_NT columns starting at column c0 (a kernel argument).
 *
 * Workspaces (of `real`: double for FCONV_F64, else float — half storage keeps its
 * transformed tiles in float), per chunk:
 *   U[p*COUT*WU_LD + co*WU_LD + ci]    transformed filters         (T*COUT*CIG)
 *   V[p*WS_P + c*WS_C + (col-c0)*WS_T] transformed input tiles     (T*CIN*NT)
 *   D[p*WD_P + co*WD_C + col - c0]     transformed dy tiles (backward-weights, T*COUT*NT)
 *   M[p*WO_P + co*WO_C + col - c0]     per-point GEMM results      (T*COUT*NT)
 *
 * Kernels (dim 0 is unit stride in the workspaces: the CPU runtime's
 * vectoriser packs it; work-item ids are kept as long, since truncating them
 * to int made it fall back to gathers and scatters):
 *   wino_weights(w, U)             global (CIG, COUT): U = G g G^T; with
 *                                  -D WINO_FLIP the filters of backward-data
 *                                  (g[co][ci] = w[grp*CIG+ci][co%COG] flipped)
 *   wino_input(x, V, c0)           global (NT, CIN), one tile each: V = B^T d B
 *                                  (-D WINO_CLANES: global (CIN, NT), V^T[p][col][c])
 *   wino_output(M, y, c0 [, epi])  global (NT, COUT), one tile each: y = A^T M A,
 *                                  every value stored through CONV_EPILOGUE(v, idx)
 *                                  (idx: y's linear NCHW index; jit's epilogue hook)
 *   wino_input_rows / wino_output_rows (same arguments), global (NT/16, C):
 *                                  the same for 16 tiles of one tile row with
 *                                  explicit real16 vectors (float32 and half
 *                                  storage only; TWP % 16 == 0, WI >= 16):
 *                                  rows of x are loaded contiguously and
 *                                  de-interleaved with shuffles, output rows
 *                                  interleaved and stored contiguously (no
 *                                  gathers or scatters; CPU)
 *   wino_dy(dy, D, c0)             global (NT, COUT): D = A e A^T for the m x m
 *                                  dy tiles of backward-weights
 *   wino_dy_rows(dy, D, c0)        global (NT/16, COUT): the same with real16 rows (WO >= 16)
 *   wino_dw(M, dw, accumulate)     global (CIG, COUT): dw (+)= G^T M G from
 *                                  M[p][co][ci]: backward-weights is the
 *                                  F(3x3, m x m) dual, dw = G^T[(A e A^T) .* (B^T x B)]G
 *
 * Parameters (-D): WINO_M; WG_N WG_CIN WG_HI WG_WI WG_COUT WG_HO WG_WO WG_PT
 * WG_PL WG_TH WG_TW WG_TWP WG_CIG WG_COG WG_NT; WS_P WS_C WS_T (V layout), WD_P WD_C (D),
 * WO_P WO_C (M) and WU_LD (U), defaulting to the dense [p][c][col] and [p][co][ci];
 * WINO_FLIP; WINO_CLANES;
 * FCONV_F32/F64/F16.
 */
#include "common.cl"

#ifndef WINO_M
#define WINO_M 2
#endif
#define WA (WINO_M + 2)
#define WT (WA * WA)
#ifndef WG_TWP
#define WG_TWP WG_TW
#endif
#define WG_NCOLS (WG_N * WG_TH * WG_TWP)   /* tile columns of the whole batch */
/* workspace row strides (the planner may pad them off powers of two) */
#ifndef WS_C
#define WS_C WG_NT
#endif
#ifndef WS_T
#define WS_T 1
#endif
#ifndef WS_P
#define WS_P ((long)WG_CIN * WS_C)
#endif
#ifndef WD_C
#define WD_C WG_NT
#endif
#ifndef WD_P
#define WD_P ((long)WG_COUT * WD_C)
#endif
#ifndef WO_C
#define WO_C WG_NT
#endif
#ifndef WO_P
#define WO_P ((long)WG_COUT * WO_C)
#endif
#ifndef WU_LD
#define WU_LD WG_CIG
#endif

#ifdef CONV_EPILOGUE
#define CONV_HAS_EPILOGUE 1
#else
#define CONV_HAS_EPILOGUE 0
#define CONV_EPILOGUE(v, idx) (v)
#endif

/* ---- 1-D transforms: BEGIN generated by fconv.conv.winograd.transforms_source() ---- */
#if WINO_M == 2  /* points 0, 1, -1, inf */
/* out[0..3] = B^T in[0..3]  (input tile) */
inline void wino_in_1d(const real *in, const int is, real *out, const int os)
{
    const real i0 = in[0 * is];
    const real i1 = in[1 * is];
    const real i2 = in[2 * is];
    const real i3 = in[3 * is];
    out[0 * os] = i0 - i2;
    out[1 * os] = i1 + i2;
    out[2 * os] = -i1 + i2;
    out[3 * os] = -i1 + i3;
}
/* out[0..3] = G in[0..2]  (filter) */
inline void wino_w_1d(const real *in, const int is, real *out, const int os)
{
    const real i0 = in[0 * is];
    const real i1 = in[1 * is];
    const real i2 = in[2 * is];
    out[0 * os] = i0;
    out[1 * os] = REAL_C(0.5) * i0 + REAL_C(0.5) * i1 + REAL_C(0.5) * i2;
    out[2 * os] = REAL_C(0.5) * i0 - REAL_C(0.5) * i1 + REAL_C(0.5) * i2;
    out[3 * os] = i2;
}
/* out[0..1] = A^T in[0..3]  (output tile) */
inline void wino_out_1d(const real *in, const int is, real *out, const int os)
{
    const real i0 = in[0 * is];
    const real i1 = in[1 * is];
    const real i2 = in[2 * is];
    const real i3 = in[3 * is];
    out[0 * os] = i0 + i1 + i2;
    out[1 * os] = i1 - i2 + i3;
}
/* out[0..3] = A in[0..1]  (dy tile, backward-weights) */
inline void wino_dy_1d(const real *in, const int is, real *out, const int os)
{
    const real i0 = in[0 * is];
    const real i1 = in[1 * is];
    out[0 * os] = i0;
    out[1 * os] = i0 + i1;
    out[2 * os] = i0 - i1;
    out[3 * os] = i1;
}
/* out[0..2] = G^T in[0..3]  (weight gradient, backward-weights) */
inline void wino_dw_1d(const real *in, const int is, real *out, const int os)
{
    const real i0 = in[0 * is];
    const real i1 = in[1 * is];
    const real i2 = in[2 * is];
    const real i3 = in[3 * is];
    out[0 * os] = i0 + REAL_C(0.5) * i1 + REAL_C(0.5) * i2;
    out[1 * os] = REAL_C(0.5) * i1 - REAL_C(0.5) * i2;
    out[2 * os] = REAL_C(0.5) * i1 + REAL_C(0.5) * i2 + i3;
}
/* the same on vectors of 16 tiles (the explicit-vector row kernels) */
/* B^T on real16 */
inline void wino_in_1d_v(const real16 *in, const int is, real16 *out, const int os)
{
    const real16 i0 = in[0 * is];
    const real16 i1 = in[1 * is];
    const real16 i2 = in[2 * is];
    const real16 i3 = in[3 * is];
    out[0 * os] = i0 - i2;
    out[1 * os] = i1 + i2;
    out[2 * os] = -i1 + i2;
    out[3 * os] = -i1 + i3;
}
/* A^T on real16 */
inline void wino_out_1d_v(const real16 *in, const int is, real16 *out, const int os)
{
    const real16 i0 = in[0 * is];
    const real16 i1 = in[1 * is];
    const real16 i2 = in[2 * is];
    const real16 i3 = in[3 * is];
    out[0 * os] = i0 + i1 + i2;
    out[1 * os] = i1 - i2 + i3;
}
/* A on real16 */
inline void wino_dy_1d_v(const real16 *in, const int is, real16 *out, const int os)
{
    const real16 i0 = in[0 * is];
    const real16 i1 = in[1 * is];
    out[0 * os] = i0;
    out[1 * os] = i0 + i1;
    out[2 * os] = i0 - i1;
    out[3 * os] = i1;
}
#endif
#if WINO_M == 4  /* points 0, 1, -1, 2, -1/2, inf */
/* out[0..5] = B^T in[0..5]  (input tile) */
inline void wino_in_1d(const real *in, const int is, real *out, const int os)
{
    const real i0 = in[0 * is];
    const real i1 = in[1 * is];
    const real i2 = in[2 * is];
    const real i3 = in[3 * is];
    const real i4 = in[4 * is];
    const real i5 = in[5 * is];
    out[0 * os] = i0 + REAL_C(1.5) * i1 - REAL_C(2.0) * i2 - REAL_C(1.5) * i3 + i4;
    out[1 * os] = -i1 - REAL_C(2.5) * i2 - REAL_C(0.5) * i3 + i4;
    out[2 * os] = i1 + REAL_C(0.5) * i2 - REAL_C(2.5) * i3 + i4;
    out[3 * os] = -REAL_C(0.5) * i1 - i2 + REAL_C(0.5) * i3 + i4;
    out[4 * os] = REAL_C(2.0) * i1 - i2 - REAL_C(2.0) * i3 + i4;
    out[5 * os] = i1 + REAL_C(1.5) * i2 - REAL_C(2.0) * i3 - REAL_C(1.5) * i4 + i5;
}
/* out[0..5] = G in[0..2]  (filter) */
inline void wino_w_1d(const real *in, const int is, real *out, const int os)
{
    const real i0 = in[0 * is];
    const real i1 = in[1 * is];
    const real i2 = in[2 * is];
    out[0 * os] = i0;
    out[1 * os] = -REAL_C(0.33333333333333331) * i0 - REAL_C(0.33333333333333331) * i1 - REAL_C(0.33333333333333331) * i2;
    out[2 * os] = REAL_C(0.33333333333333331) * i0 - REAL_C(0.33333333333333331) * i1 + REAL_C(0.33333333333333331) * i2;
    out[3 * os] = REAL_C(0.066666666666666666) * i0 + REAL_C(0.13333333333333333) * i1 + REAL_C(0.26666666666666666) * i2;
    out[4 * os] = -REAL_C(1.0666666666666667) * i0 + REAL_C(0.53333333333333333) * i1 - REAL_C(0.26666666666666666) * i2;
    out[5 * os] = i2;
}
/* out[0..3] = A^T in[0..5]  (output tile) */
inline void wino_out_1d(const real *in, const int is, real *out, const int os)
{
    const real i0 = in[0 * is];
    const real i1 = in[1 * is];
    const real i2 = in[2 * is];
    const real i3 = in[3 * is];
    const real i4 = in[4 * is];
    const real i5 = in[5 * is];
    out[0 * os] = i0 + i1 + i2 + i3 + i4;
    out[1 * os] = i1 - i2 + REAL_C(2.0) * i3 - REAL_C(0.5) * i4;
    out[2 * os] = i1 + i2 + REAL_C(4.0) * i3 + REAL_C(0.25) * i4;
    out[3 * os] = i1 - i2 + REAL_C(8.0) * i3 - REAL_C(0.125) * i4 + i5;
}
/* out[0..5] = A in[0..3]  (dy tile, backward-weights) */
inline void wino_dy_1d(const real *in, const int is, real *out, const int os)
{
    const real i0 = in[0 * is];
    const real i1 = in[1 * is];
    const real i2 = in[2 * is];
    const real i3 = in[3 * is];
    out[0 * os] = i0;
    out[1 * os] = i0 + i1 + i2 + i3;
    out[2 * os] = i0 - i1 + i2 - i3;
    out[3 * os] = i0 + REAL_C(2.0) * i1 + REAL_C(4.0) * i2 + REAL_C(8.0) * i3;
    out[4 * os] = i0 - REAL_C(0.5) * i1 + REAL_C(0.25) * i2 - REAL_C(0.125) * i3;
    out[5 * os] = i3;
}
/* out[0..2] = G^T in[0..5]  (weight gradient, backward-weights) */
inline void wino_dw_1d(const real *in, const int is, real *out, const int os)
{
    const real i0 = in[0 * is];
    const real i1 = in[1 * is];
    const real i2 = in[2 * is];
    const real i3 = in[3 * is];
    const real i4 = in[4 * is];
    const real i5 = in[5 * is];
    out[0 * os] = i0 - REAL_C(0.33333333333333331) * i1 + REAL_C(0.33333333333333331) * i2 + REAL_C(0.066666666666666666) * i3 - REAL_C(1.0666666666666667) * i4;
    out[1 * os] = -REAL_C(0.33333333333333331) * i1 - REAL_C(0.33333333333333331) * i2 + REAL_C(0.13333333333333333) * i3 + REAL_C(0.53333333333333333) * i4;
    out[2 * os] = -REAL_C(0.33333333333333331) * i1 + REAL_C(0.33333333333333331) * i2 + REAL_C(0.26666666666666666) * i3 - REAL_C(0.26666666666666666) * i4 + i5;
}
/* the same on vectors of 16 tiles (the explicit-vector row kernels) */
/* B^T on real16 */
inline void wino_in_1d_v(const real16 *in, const int is, real16 *out, const int os)
{
    const real16 i0 = in[0 * is];
    const real16 i1 = in[1 * is];
    const real16 i2 = in[2 * is];
    const real16 i3 = in[3 * is];
    const real16 i4 = in[4 * is];
    const real16 i5 = in[5 * is];
    out[0 * os] = i0 + REAL_C(1.5) * i1 - REAL_C(2.0) * i2 - REAL_C(1.5) * i3 + i4;
    out[1 * os] = -i1 - REAL_C(2.5) * i2 - REAL_C(0.5) * i3 + i4;
    out[2 * os] = i1 + REAL_C(0.5) * i2 - REAL_C(2.5) * i3 + i4;
    out[3 * os] = -REAL_C(0.5) * i1 - i2 + REAL_C(0.5) * i3 + i4;
    out[4 * os] = REAL_C(2.0) * i1 - i2 - REAL_C(2.0) * i3 + i4;
    out[5 * os] = i1 + REAL_C(1.5) * i2 - REAL_C(2.0) * i3 - REAL_C(1.5) * i4 + i5;
}
/* A^T on real16 */
inline void wino_out_1d_v(const real16 *in, const int is, real16 *out, const int os)
{
    const real16 i0 = in[0 * is];
    const real16 i1 = in[1 * is];
    const real16 i2 = in[2 * is];
    const real16 i3 = in[3 * is];
    const real16 i4 = in[4 * is];
    const real16 i5 = in[5 * is];
    out[0 * os] = i0 + i1 + i2 + i3 + i4;
    out[1 * os] = i1 - i2 + REAL_C(2.0) * i3 - REAL_C(0.5) * i4;
    out[2 * os] = i1 + i2 + REAL_C(4.0) * i3 + REAL_C(0.25) * i4;
    out[3 * os] = i1 - i2 + REAL_C(8.0) * i3 - REAL_C(0.125) * i4 + i5;
}
/* A on real16 */
inline void wino_dy_1d_v(const real16 *in, const int is, real16 *out, const int os)
{
    const real16 i0 = in[0 * is];
    const real16 i1 = in[1 * is];
    const real16 i2 = in[2 * is];
    const real16 i3 = in[3 * is];
    out[0 * os] = i0;
    out[1 * os] = i0 + i1 + i2 + i3;
    out[2 * os] = i0 - i1 + i2 - i3;
    out[3 * os] = i0 + REAL_C(2.0) * i1 + REAL_C(4.0) * i2 + REAL_C(8.0) * i3;
    out[4 * os] = i0 - REAL_C(0.5) * i1 + REAL_C(0.25) * i2 - REAL_C(0.125) * i3;
    out[5 * os] = i3;
}
#endif
/* ---- END generated ---- */

/* out = M in M^T for a transform applied along both axes of a tile stored
 * row-major in `in` (rows_in x rows_in), written row-major to `out`. */
#define TRANSFORM_2D(F, T, in, rows_in, out, rows_out) do {                  \
    T t_[(rows_out) * (rows_in)];                                            \
    _Pragma("unroll") for (int i_ = 0; i_ < (rows_in); ++i_)                 \
        F((in) + i_ * (rows_in), 1, t_ + i_, (rows_in));                     \
    _Pragma("unroll") for (int q_ = 0; q_ < (rows_out); ++q_)                \
        F(t_ + q_ * (rows_in), 1, (out) + q_, (rows_out));                   \
    } while (0)

/* column col of the padded tile space -> sample n, tile row th, tile column tw */
#define TILE_OF(col, n, th, tw) do {                                         \
    const int r_ = (col) / WG_TWP;                                           \
    tw = (col) - r_ * WG_TWP;                                                \
    n = r_ / WG_TH;                                                          \
    th = r_ - n * WG_TH; } while (0)

/* ---- non-finite and huge values (fconv/conv/winograd.py's docstring derives the rule) ----
 * WINO_BIG2 = B^2 (float32/float64 only; the host passes it): operands of magnitude above
 * B could overflow a transform, the GEMM or direct convolution's partial sums, so a filter
 * or input tile whose sum of squares exceeds B^2 (one fma per value, half the cost of a
 * max |value|; stricter, and inf or NaN fail it too) has its transform poisoned with NaN.
 * Non-finite operands make their transforms non-finite by themselves anyway.
 * Poison and non-finite values spread through the GEMM and the output transforms to every
 * output that depends on them; an output that comes out non-finite (or, for half storage,
 * at least WINO_RMAX, where rounding to half may overflow) is recomputed by direct
 * convolution in conv/naive.cl's order of summation: the same inf and NaN positions.
 * -D WINO_NO_FIX drops the checks (the cost measurement's baseline). */
#ifdef FCONV_F16
#define WINO_RMAX 32752.0f     /* half of HALF_MAX */
#else
#define WINO_RMAX REAL_MAX
#endif
#if defined(WINO_NO_FIX)
#undef WINO_BIG2
#endif
#define WINO_BAD(v) (!(fabs(v) <= WINO_RMAX))
/* the rare direct recomputation stays out of line: inlined into wino_output it made the
 * half-storage kernel 1.7x slower (Intel CPU compiler) */
#if defined(__clang__)
#define WINO_COLD __attribute__((noinline))
#else
#define WINO_COLD inline
#endif

#ifndef WINO_FLIP
/* output (n, co, oh, ow) of the forward-like problem by direct convolution: conv2d_fwd's
 * loops (channels, then taps inside x) */
WINO_COLD real wino_direct(const __global storage_t *x, const __global storage_t *w,
                        const int n, const int co, const int oh, const int ow)
{
    const int grp = co / WG_COG;
    const int kh0 = max(0, WG_PT - oh), kh1 = min(3, WG_HI + WG_PT - oh);
    const int kw0 = max(0, WG_PL - ow), kw1 = min(3, WG_WI + WG_PL - ow);
    real acc = (real)0;
    for (int c = 0; c < WG_CIG; ++c) {
        const __global storage_t *xc = x + ((long)n * WG_CIN + grp * WG_CIG + c) * (WG_HI * WG_WI);
        const __global storage_t *wc = w + ((long)co * WG_CIG + c) * 9;
        for (int kh = kh0; kh < kh1; ++kh) {
            const int ih = oh - WG_PT + kh;
            for (int kw = kw0; kw < kw1; ++kw) {
                const int iw = ow - WG_PL + kw;
                acc = fma(LOAD(xc, ih * WG_WI + iw), LOAD(wc, kh * 3 + kw), acc);
            }
        }
    }
    return acc;
}
#else
/* the same for backward-data (x: dy, output: dx[n, co, oh, ow]): conv2d_bwd_data's
 * loops (taps of the unflipped filter, then the group's dy channels) */
WINO_COLD real wino_direct(const __global storage_t *x, const __global storage_t *w,
                        const int n, const int co, const int oh, const int ow)
{
    const int grp = co / WG_COG, c = co - grp * WG_COG;
    const int kh0 = max(0, oh + 3 - WG_PT - WG_HI), kh1 = min(3, oh + 3 - WG_PT);
    const int kw0 = max(0, ow + 3 - WG_PL - WG_WI), kw1 = min(3, ow + 3 - WG_PL);
    real acc = (real)0;
    for (int kh = kh0; kh < kh1; ++kh) {
        const int r = oh + 2 - WG_PT - kh;
        for (int kw = kw0; kw < kw1; ++kw) {
            const int s = ow + 2 - WG_PL - kw;
            for (int oo = 0; oo < WG_CIG; ++oo) {
                const int o = grp * WG_CIG + oo;
                acc = fma(LOAD(x, (((long)n * WG_CIN + o) * WG_HI + r) * WG_WI + s),
                          LOAD(w, (((long)o * WG_COG + c) * 3 + kh) * 3 + kw), acc);
            }
        }
    }
    return acc;
}
#endif

/* dw[co, ci, kh, kw] of backward-weights by direct convolution: conv2d_bwd_weights' loops */
WINO_COLD real wino_direct_dw(const __global storage_t *x, const __global storage_t *dy,
                           const int co, const int ci, const int kh, const int kw)
{
    const int cx = (co / WG_COG) * WG_CIG + ci;
    const int oh0 = max(0, WG_PT - kh), oh1 = min(WG_HO, WG_HI + WG_PT - kh);
    const int ow0 = max(0, WG_PL - kw), ow1 = min(WG_WO, WG_WI + WG_PL - kw);
    real acc = (real)0;
    for (int n = 0; n < WG_N; ++n) {
        const __global storage_t *xc = x + ((long)n * WG_CIN + cx) * (WG_HI * WG_WI);
        const __global storage_t *dyo = dy + ((long)n * WG_COUT + co) * (WG_HO * WG_WO);
        for (int oh = oh0; oh < oh1; ++oh) {
            const int ih = oh - WG_PT + kh;
            for (int ow = ow0; ow < ow1; ++ow) {
                const int iw = ow - WG_PL + kw;
                acc = fma(LOAD(dyo, oh * WG_WO + ow), LOAD(xc, ih * WG_WI + iw), acc);
            }
        }
    }
    return acc;
}

#if !defined(FCONV_ONE_KERNEL) || defined(FCONV_KERNEL_wino_weights)
__kernel void wino_weights(__global const storage_t *restrict w,
                           __global real *restrict U)
{
    const long ci = get_global_id(0);
    const int co = get_global_id(1);
    real g[9];
#ifdef WINO_FLIP
    const int grp = co / WG_COG;
    const __global storage_t *src = w + ((grp * WG_CIG + ci) * WG_COG + (co - grp * WG_COG)) * 9;
    _Pragma("unroll") for (int k = 0; k < 9; ++k) g[k] = LOAD(src, 8 - k);
#else
    const __global storage_t *src = w + ((long)co * WG_CIG + ci) * 9;
    _Pragma("unroll") for (int k = 0; k < 9; ++k) g[k] = LOAD(src, k);
#endif
    real u[WT];
    TRANSFORM_2D(wino_w_1d, real, g, 3, u, WA);
#ifdef WINO_BIG2
    real ss = (real)0;
    _Pragma("unroll") for (int k = 0; k < 9; ++k) ss = fma(g[k], g[k], ss);
    if (!(ss <= WINO_BIG2))
        _Pragma("unroll") for (int p = 0; p < WT; ++p) u[p] = (real)NAN;
#endif
    __global real *dst = U + (long)co * WU_LD + ci;
    _Pragma("unroll") for (int p = 0; p < WT; ++p)
        dst[(long)p * WG_COUT * WU_LD] = (real)u[p];
}
#endif

#if !defined(FCONV_ONE_KERNEL) || defined(FCONV_KERNEL_wino_input)
__kernel void wino_input(__global const storage_t *restrict x,
                         __global real *restrict V,
                         int c0)
{
#ifdef WINO_CLANES
    /* -D WINO_CLANES: dim 0 runs over channels, for the column-major V^T[p][col][c]
     * (WS_C = 1, WS_T = CIN) that backward-weights' GEMM takes untransposed */
    const long c = get_global_id(0);
    const long cl = get_global_id(1);
#else
    const long cl = get_global_id(0);       /* column within the chunk */
    const int c = get_global_id(1);
#endif
    int n, th, tw;
    TILE_OF(c0 + (int)cl, n, th, tw);
    const bool live = n < WG_N && tw < WG_TW;  /* padding columns store zeros */
    const int ih0 = th * WINO_M - WG_PT, iw0 = tw * WINO_M - WG_PL;
    /* uniform base + int offsets (16-lane dword gathers; N*CIN*HI*WI < 2^31) */
    const __global storage_t *xc = x + (long)c * (WG_HI * WG_WI);
    const int off = min(n, WG_N - 1) * (WG_CIN * WG_HI * WG_WI);
    real d[WT];
    _Pragma("unroll") for (int i = 0; i < WA; ++i) {
        const int ih = ih0 + i;
        const bool rok = live && ih >= 0 && ih < WG_HI;
        const int ihc = clamp(ih, 0, WG_HI - 1);
        _Pragma("unroll") for (int j = 0; j < WA; ++j) {
            const int iw = iw0 + j;
            const bool ok = rok && iw >= 0 && iw < WG_WI;
            const real v = LOAD(xc, off + ihc * WG_WI + clamp(iw, 0, WG_WI - 1));
            d[i * WA + j] = ok ? v : (real)0;
        }
    }
    real v[WT];
    TRANSFORM_2D(wino_in_1d, real, d, WA, v, WA);
#ifdef WINO_BIG2
    real ss = (real)0;
    _Pragma("unroll") for (int k = 0; k < WT; ++k) ss = fma(d[k], d[k], ss);
    if (!(ss <= WINO_BIG2))
        _Pragma("unroll") for (int p = 0; p < WT; ++p) v[p] = (real)NAN;
#endif
    __global real *dst = V + c * WS_C + cl * WS_T;
    _Pragma("unroll") for (int p = 0; p < WT; ++p)
        dst[(long)p * WS_P] = (real)v[p];
}
#endif

#if !defined(FCONV_ONE_KERNEL) || defined(FCONV_KERNEL_wino_output)
__kernel void wino_output(__global const real *restrict Mb,
                          __global storage_t *restrict y,
                          int c0,
                          __global const storage_t *restrict x,
                          __global const storage_t *restrict w
#ifdef CONV_EPI_PARAMS
                          , CONV_EPI_PARAMS
#endif
                          )
{
    const long cl = get_global_id(0);
    const int co = get_global_id(1);
    int n, th, tw;
    TILE_OF(c0 + (int)cl, n, th, tw);
    /* every work-item computes (M holds the padding columns too) so that the loads
     * stay unmasked vector loads; only the stores are predicated */
    const bool live = n < WG_N && tw < WG_TW;
    const __global real *src = Mb + (long)co * WO_C + cl;
    real m[WT];
    _Pragma("unroll") for (int p = 0; p < WT; ++p)
        m[p] = (real)src[(long)p * WO_P];
    real r[WINO_M * WINO_M];
    TRANSFORM_2D(wino_out_1d, real, m, WA, r, WINO_M);
    const long base = ((long)n * WG_COUT + co) * WG_HO * WG_WO;
    const int oh0 = th * WINO_M, ow0 = tw * WINO_M;
#ifndef WINO_NO_FIX
    bool bad = false;
    _Pragma("unroll") for (int k = 0; k < WINO_M * WINO_M; ++k) bad |= WINO_BAD(r[k]);
    if (bad && live) {
        for (int i = 0; i < WINO_M; ++i)
            for (int j = 0; j < WINO_M; ++j)
                if (oh0 + i < WG_HO && ow0 + j < WG_WO && WINO_BAD(r[i * WINO_M + j]))
                    r[i * WINO_M + j] = wino_direct(x, w, n, co, oh0 + i, ow0 + j);
    }
#endif
    _Pragma("unroll") for (int i = 0; i < WINO_M; ++i)
        _Pragma("unroll") for (int j = 0; j < WINO_M; ++j)
            if (live && oh0 + i < WG_HO && ow0 + j < WG_WO) {
                const long idx = base + (oh0 + i) * WG_WO + ow0 + j;
                STORE(y, idx, CONV_EPILOGUE(r[i * WINO_M + j], idx));
            }
}
#endif

/* ---- explicit-vector row kernels: 16 tiles of one tile row per work-item ----
 * (float32 / half storage: real16 is float16) */
#if !defined(FCONV_F64)

/* x_row[base .. base+15] as a vector, zeros outside [0, WI) (needs WI >= 16): one
 * unaligned load at a clamped position and a lane permutation, no gather. */
inline real16 wino_row_segment(const __global storage_t *xr, const int base, const int wi)
{
    if (base >= 0 && base + 16 <= wi)
        return LOADN(16, xr + base, 0);
    const int at = clamp(base, 0, wi - 16);
    const real16 v = LOADN(16, xr + at, 0);
    const int16 pos = (int16)(base) + (int16)(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    const real16 s = shuffle(v, as_uint16(pos - (int16)(at)) & (uint16)(15));
    return select((real16)(0), s, pos >= (int16)(0) && pos < (int16)(wi));
}

/* d[j][k] = seg[m*k + j] for the 16 tiles k of a row, j < alpha, from the
 * m+1 segments S[q] = seg[16q .. 16q+15] */
#if WINO_M == 2
#define DEINTERLEAVE(S, d) do {                                                              \
    d[0] = shuffle2(S[0], S[1], (uint16)(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30)); \
    d[1] = shuffle2(S[0], S[1], (uint16)(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31)); \
    d[2] = shuffle2(d[0], S[2], (uint16)(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16));    \
    d[3] = shuffle2(d[1], S[2], (uint16)(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 17));    \
    } while (0)
#else
#define DI4_(a, b, j) shuffle2(a, b, (uint16)(j, j + 4, j + 8, j + 12, j + 16, j + 20, j + 24, j + 28, \
                                              0, 0, 0, 0, 0, 0, 0, 0))
#define DEINTERLEAVE(S, d) do {                                                              \
    _Pragma("unroll") for (int j_ = 0; j_ < 4; ++j_)                                         \
        d[j_] = shuffle2(DI4_(S[0], S[1], j_), DI4_(S[2], S[3], j_),                          \
                         (uint16)(0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23));  \
    d[4] = shuffle2(d[0], S[4], (uint16)(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16));    \
    d[5] = shuffle2(d[1], S[4], (uint16)(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 17));    \
    } while (0)
#endif

#if !defined(FCONV_ONE_KERNEL) || defined(FCONV_KERNEL_wino_input_rows)
__kernel __attribute__((vec_type_hint(real16)))
void wino_input_rows(__global const storage_t *restrict x,
                     __global real *restrict V,
                     int c0)
{
    const int cl = get_global_id(0) * 16;   /* first column of the 16 */
    const int c = get_global_id(1);
    int n, th, tw0;
    TILE_OF(c0 + cl, n, th, tw0);
    const int ih0 = th * WINO_M - WG_PT, iw0 = tw0 * WINO_M - WG_PL;
    const __global storage_t *xc = x + ((long)min(n, WG_N - 1) * WG_CIN + c) * (WG_HI * WG_WI);
    real16 r[WA * WA];   /* r[i][q]: the row transform of input row i */
#ifdef WINO_BIG2
    real16 ss = (real16)(0);   /* over the rows' segments: may poison a neighbour too */
#endif
    _Pragma("unroll") for (int i = 0; i < WA; ++i) {
        const int ih = ih0 + i;
        real16 S[WINO_M + 1], d[WA];
        if (n < WG_N && ih >= 0 && ih < WG_HI) {
            _Pragma("unroll") for (int q = 0; q <= WINO_M; ++q)
                S[q] = wino_row_segment(xc + ih * WG_WI, iw0 + 16 * q, WG_WI);
        } else {
            _Pragma("unroll") for (int q = 0; q <= WINO_M; ++q) S[q] = (real16)(0);
        }
#ifdef WINO_BIG2
        _Pragma("unroll") for (int q = 0; q <= WINO_M; ++q) ss = fma(S[q], S[q], ss);
#endif
        DEINTERLEAVE(S, d);
        wino_in_1d_v(d, 1, r + i * WA, 1);
    }
#ifdef WINO_BIG2
    const bool poison = any(!(ss <= (real16)(WINO_BIG2)));
#else
    const bool poison = false;
#endif
    /* tiles past the row's TW (padding columns) must hold zeros */
    const int16 lane = (int16)(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    const int16 live = lane + (int16)(tw0) < (int16)(WG_TW);
    __global real *dst = V + (long)c * WS_C + cl;
    _Pragma("unroll") for (int q = 0; q < WA; ++q) {
        real16 col[WA], v[WA];
        _Pragma("unroll") for (int i = 0; i < WA; ++i) col[i] = r[i * WA + q];
        wino_in_1d_v(col, 1, v, 1);
        _Pragma("unroll") for (int p = 0; p < WA; ++p)
            vstore16(select((real16)(0), poison ? (real16)(NAN) : v[p], live), 0,
                     dst + (long)(p * WA + q) * WS_P);
    }
}
#endif

/* out[q] (16 values) = the outputs of tiles 16/m*q .. of one output row, from
 * r[j] = output column j of the 16 tiles (j < m) */
#if WINO_M == 2
#define INTERLEAVE(r, o) do {                                                                \
    o[0] = shuffle2(r[0], r[1], (uint16)(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23));   \
    o[1] = shuffle2(r[0], r[1], (uint16)(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31)); \
    } while (0)
#else
#define INTERLEAVE(r, o) do {                                                                \
    const real16 lo01_ = shuffle2(r[0], r[1], (uint16)(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23)); \
    const real16 lo23_ = shuffle2(r[2], r[3], (uint16)(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23)); \
    const real16 hi01_ = shuffle2(r[0], r[1], (uint16)(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31)); \
    const real16 hi23_ = shuffle2(r[2], r[3], (uint16)(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31)); \
    o[0] = shuffle2(lo01_, lo23_, (uint16)(0, 1, 16, 17, 2, 3, 18, 19, 4, 5, 20, 21, 6, 7, 22, 23));   \
    o[1] = shuffle2(lo01_, lo23_, (uint16)(8, 9, 24, 25, 10, 11, 26, 27, 12, 13, 28, 29, 14, 15, 30, 31)); \
    o[2] = shuffle2(hi01_, hi23_, (uint16)(0, 1, 16, 17, 2, 3, 18, 19, 4, 5, 20, 21, 6, 7, 22, 23));   \
    o[3] = shuffle2(hi01_, hi23_, (uint16)(8, 9, 24, 25, 10, 11, 26, 27, 12, 13, 28, 29, 14, 15, 30, 31)); \
    } while (0)
#endif

#if !defined(FCONV_ONE_KERNEL) || defined(FCONV_KERNEL_wino_output_rows)
__kernel __attribute__((vec_type_hint(real16)))
void wino_output_rows(__global const real *restrict Mb,
                      __global storage_t *restrict y,
                      int c0,
                      __global const storage_t *restrict x,
                      __global const storage_t *restrict w
#ifdef CONV_EPI_PARAMS
                      , CONV_EPI_PARAMS
#endif
                      )
{
    const int cl = get_global_id(0) * 16;
    const int co = get_global_id(1);
    int n, th, tw0;
    TILE_OF(c0 + cl, n, th, tw0);
    if (n >= WG_N) return;
    const __global real *src = Mb + (long)co * WO_C + cl;
    real16 t[WINO_M * WA];   /* t[i][q]: A^T applied along columns */
    _Pragma("unroll") for (int q = 0; q < WA; ++q) {
        real16 col[WA];
        _Pragma("unroll") for (int i = 0; i < WA; ++i)
            col[i] = vload16(0, src + (long)(i * WA + q) * WO_P);
        wino_out_1d_v(col, 1, t + q, WA);
    }
    const long base = ((long)n * WG_COUT + co) * WG_HO * WG_WO;
    _Pragma("unroll") for (int i = 0; i < WINO_M; ++i) {
        const int oh = th * WINO_M + i;
        if (oh >= WG_HO) break;
        real16 r[WINO_M], o[WINO_M];
        wino_out_1d_v(t + i * WA, 1, r, 1);
        INTERLEAVE(r, o);
        _Pragma("unroll") for (int q = 0; q < WINO_M; ++q) {
            const int ow = tw0 * WINO_M + 16 * q;
            const long idx = base + (long)oh * WG_WO + ow;
#ifndef WINO_NO_FIX
            if (any(!(fabs(o[q]) <= (real16)(WINO_RMAX)))) {
                real f_[16];
                vstore16(o[q], 0, f_);
                for (int e = 0; e < 16 && ow + e < WG_WO; ++e)
                    if (WINO_BAD(f_[e]))
                        f_[e] = wino_direct(x, w, n, co, oh, ow + e);
                o[q] = vload16(0, f_);
            }
#endif
            if (ow + 16 <= WG_WO) {
                real16 v = o[q];
                if (CONV_HAS_EPILOGUE) {
                    real e_[16];
                    vstore16(v, 0, e_);
                    _Pragma("unroll") for (int e = 0; e < 16; ++e)
                        e_[e] = CONV_EPILOGUE(e_[e], idx + e);
                    v = vload16(0, e_);
                }
                STOREN(16, y + idx, 0, v);
            } else if (ow < WG_WO) {
                real e_[16];
                vstore16(o[q], 0, e_);
                for (int e = 0; e < WG_WO - ow; ++e)
                    STORE(y, idx + e, CONV_EPILOGUE(e_[e], idx + e));
            }
        }
    }
}
#endif

/* d[j][k] = seg[m*k + j] for j < m (the dy tiles of backward-weights need no overlap) */
#if WINO_M == 2
#define DEINTERLEAVE_M(S, d) do {                                                            \
    d[0] = shuffle2(S[0], S[1], (uint16)(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30)); \
    d[1] = shuffle2(S[0], S[1], (uint16)(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31)); \
    } while (0)
#else
#define DEINTERLEAVE_M(S, d) do {                                                            \
    _Pragma("unroll") for (int j_ = 0; j_ < 4; ++j_)                                         \
        d[j_] = shuffle2(DI4_(S[0], S[1], j_), DI4_(S[2], S[3], j_),                          \
                         (uint16)(0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23));  \
    } while (0)
#endif

#if !defined(FCONV_ONE_KERNEL) || defined(FCONV_KERNEL_wino_dy_rows)
__kernel __attribute__((vec_type_hint(real16)))
void wino_dy_rows(__global const storage_t *restrict dy,
                  __global real *restrict D,
                  int c0)
{
    const int cl = get_global_id(0) * 16;
    const int co = get_global_id(1);
    int n, th, tw0;
    TILE_OF(c0 + cl, n, th, tw0);
    const __global storage_t *src = dy + ((long)min(n, WG_N - 1) * WG_COUT + co) * (WG_HO * WG_WO);
    real16 r[WINO_M * WA];   /* r[i][q]: A applied along row i of the dy tiles */
#ifdef WINO_BIG2
    real16 ss = (real16)(0);
#endif
    _Pragma("unroll") for (int i = 0; i < WINO_M; ++i) {
        const int oh = th * WINO_M + i;
        real16 S[WINO_M], e[WINO_M];
        if (n < WG_N && oh < WG_HO) {
            _Pragma("unroll") for (int q = 0; q < WINO_M; ++q)
                S[q] = wino_row_segment(src + oh * WG_WO, tw0 * WINO_M + 16 * q, WG_WO);
        } else {
            _Pragma("unroll") for (int q = 0; q < WINO_M; ++q) S[q] = (real16)(0);
        }
#ifdef WINO_BIG2
        _Pragma("unroll") for (int q = 0; q < WINO_M; ++q) ss = fma(S[q], S[q], ss);
#endif
        DEINTERLEAVE_M(S, e);
        wino_dy_1d_v(e, 1, r + i * WA, 1);
    }
#ifdef WINO_BIG2
    const bool poison = any(!(ss <= (real16)(WINO_BIG2)));
#else
    const bool poison = false;
#endif
    const int16 lane = (int16)(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    const int16 live = lane + (int16)(tw0) < (int16)(WG_TW);
    __global real *dst = D + (long)co * WD_C + cl;
    _Pragma("unroll") for (int q = 0; q < WA; ++q) {
        real16 col[WINO_M], v[WA];
        _Pragma("unroll") for (int i = 0; i < WINO_M; ++i) col[i] = r[i * WA + q];
        wino_dy_1d_v(col, 1, v, 1);
        _Pragma("unroll") for (int p = 0; p < WA; ++p)
            vstore16(select((real16)(0), poison ? (real16)(NAN) : v[p], live), 0,
                     dst + (long)(p * WA + q) * WD_P);
    }
}
#endif
#endif /* !FCONV_F64 */

#if !defined(FCONV_ONE_KERNEL) || defined(FCONV_KERNEL_wino_dy)
__kernel void wino_dy(__global const storage_t *restrict dy,
                      __global real *restrict D,
                      int c0)
{
    const long cl = get_global_id(0);
    const int co = get_global_id(1);
    int n, th, tw;
    TILE_OF(c0 + (int)cl, n, th, tw);
    const bool live = n < WG_N && tw < WG_TW;
    const int oh0 = th * WINO_M, ow0 = tw * WINO_M;
    const __global storage_t *src = dy + (long)co * (WG_HO * WG_WO);
    const int off = min(n, WG_N - 1) * (WG_COUT * WG_HO * WG_WO);
    real e[WINO_M * WINO_M];
    _Pragma("unroll") for (int i = 0; i < WINO_M; ++i) {
        const int oh = oh0 + i;
        const int ohc = min(oh, WG_HO - 1);
        _Pragma("unroll") for (int j = 0; j < WINO_M; ++j) {
            const int ow = ow0 + j;
            const real v = LOAD(src, off + ohc * WG_WO + min(ow, WG_WO - 1));
            e[i * WINO_M + j] = (live && oh < WG_HO && ow < WG_WO) ? v : (real)0;
        }
    }
    real v[WT];
    TRANSFORM_2D(wino_dy_1d, real, e, WINO_M, v, WA);
#ifdef WINO_BIG2
    real ss = (real)0;
    _Pragma("unroll") for (int k = 0; k < WINO_M * WINO_M; ++k) ss = fma(e[k], e[k], ss);
    if (!(ss <= WINO_BIG2))
        _Pragma("unroll") for (int p = 0; p < WT; ++p) v[p] = (real)NAN;
#endif
    __global real *dst = D + (long)co * WD_C + cl;
    _Pragma("unroll") for (int p = 0; p < WT; ++p)
        dst[(long)p * WD_P] = (real)v[p];
}
#endif

#if !defined(FCONV_ONE_KERNEL) || defined(FCONV_KERNEL_wino_dw)
__kernel void wino_dw(__global const real *restrict Mb,
                      __global storage_t *restrict dw,
                      int accumulate,
                      __global const storage_t *restrict x,
                      __global const storage_t *restrict dy,
                      int last)   /* the last chunk: fix up what is non-finite */
{
    const long ci = get_global_id(0);
    const int co = get_global_id(1);
    const __global real *src = Mb + (long)co * WG_CIG + ci;
    real m[WT];
    _Pragma("unroll") for (int p = 0; p < WT; ++p)
        m[p] = (real)src[(long)p * WG_COUT * WG_CIG];
    real r[9];
    TRANSFORM_2D(wino_dw_1d, real, m, WA, r, 3);
    __global storage_t *dst = dw + ((long)co * WG_CIG + ci) * 9;
    _Pragma("unroll") for (int k = 0; k < 9; ++k) {
        real v = accumulate ? LOAD(dst, k) + r[k] : r[k];
#ifndef WINO_NO_FIX
        if (last && WINO_BAD(v))
            v = wino_direct_dw(x, dy, co, (int)ci, k / 3, k % 3);
#endif
        STORE(dst, k, v);
    }
}
#endif
