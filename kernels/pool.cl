/* pool.cl — 2-D max and average pooling, their gradients, max-pool indices and
 * max-unpooling (PyTorch semantics).
 *
 * x (N, C, H, W) -> y (N, C, OH, OW), window KH x KW, stride SH x SW,
 * dilation DH x DW (max pooling), top/left padding PT/PL, bottom/right padding
 * PB/PR (OH/OW may hold one more row/column with ceil_mode: such a window runs
 * past the padding and is clipped):
 *   max_pool2d_fwd(x, y)        y = max over the window's in-bounds cells
 *                               (padding acts as -inf; NaN propagates)
 *   max_pool2d_idx(x, idx)      idx = ih*W + iw of that maximum (int), the
 *                               FIRST argmax in row-major window order; -1
 *                               for a window with no in-bounds cell
 *   max_pool2d_bwd(x, dy, dx)   dx = sum of dy over the windows whose first
 *                               argmax is this cell; a gather, no atomics
 *   avg_pool2d_fwd(x, y)        y = window sum / divisor, where the divisor is
 *                               PL_DIVISOR when nonzero, else with PL_COUNT_PAD the
 *                               window clipped to the padded bounds, else its
 *                               in-bounds cell count (0 cells: y = 0)
 *   avg_pool2d_bwd(dy, dx)      dx = sum of dy / divisor over windows covering it
 *   max_unpool2d_zero(y)        y = 0 (first launch of an unpool)
 *   max_unpool2d_fwd(x, idx, y) y[plane, idx] = x (indices outside the plane
 *                               are dropped; duplicates from max pooling
 *                               carry equal values)
 *   max_unpool2d_bwd(dy, idx, dx)  dx = dy[plane, idx] (0 outside the plane)
 * One work-item per element of the written array, global size PL_TOTAL.
 *
 * Parameters (-D): PL_H PL_W PL_OH PL_OW PL_KH PL_KW PL_SH PL_SW PL_DH PL_DW
 * PL_PT PL_PB PL_PL PL_PR PL_COUNT_PAD PL_DIVISOR PL_TOTAL, one of
 * FCONV_F32 / FCONV_F64 / FCONV_F16. For the unpool kernels PL_H/PL_W are
 * the unpooled (output) plane and PL_OH/PL_OW the pooled (input) plane.
 */
#include "common.cl"

#ifndef PL_DH
#define PL_DH 1
#endif
#ifndef PL_DW
#define PL_DW 1
#endif
#ifndef PL_COUNT_PAD
#define PL_COUNT_PAD 1
#endif
#ifndef PL_DIVISOR
#define PL_DIVISOR 0
#endif

/* First argmax of window (oh, ow) of plane xc: returns ih*W+iw, or -1 when
 * no cell of the window is in bounds (then *best = -inf). */
inline int window_argmax(const __global storage_t *xc, int oh, int ow, real *best)
{
    const int h0 = oh * PL_SH - PL_PT, w0 = ow * PL_SW - PL_PL;
    int idx = -1;
    real m = -INFINITY;
    for (int kh = 0; kh < PL_KH; ++kh) {
        const int ih = h0 + kh * PL_DH;
        if (ih < 0 || ih >= PL_H) continue;
        for (int kw = 0; kw < PL_KW; ++kw) {
            const int iw = w0 + kw * PL_DW;
            if (iw < 0 || iw >= PL_W) continue;
            const real v = LOAD(xc, ih * PL_W + iw);
            if (idx < 0 || v > m || (isnan(v) && !isnan(m))) {
                m = v;
                idx = ih * PL_W + iw;
            }
        }
    }
    *best = m;
    return idx;
}

__kernel void max_pool2d_fwd(__global const storage_t *restrict x,
                             __global storage_t *restrict y)
{
    const long gid = get_global_id(0);
    if (gid >= PL_TOTAL) return;
    const int ow = (int)(gid % PL_OW);
    const int oh = (int)((gid / PL_OW) % PL_OH);
    const long nc = gid / ((long)PL_OW * PL_OH);
    real m;
    window_argmax(x + nc * PL_H * PL_W, oh, ow, &m);
    STORE(y, gid, m);
}

__kernel void max_pool2d_idx(__global const storage_t *restrict x,
                             __global int *restrict idx)
{
    const long gid = get_global_id(0);
    if (gid >= PL_TOTAL) return;
    const int ow = (int)(gid % PL_OW);
    const int oh = (int)((gid / PL_OW) % PL_OH);
    const long nc = gid / ((long)PL_OW * PL_OH);
    real m;
    idx[gid] = window_argmax(x + nc * PL_H * PL_W, oh, ow, &m);
}

/* Output position o (along one axis) of the window whose tap k covers input i,
 * or -1: i = o*S - P + k*D. */
inline int tap_output(int i, int k, int S, int P, int D, int OUT)
{
    const int t = i + P - k * D;
    if (t < 0 || t % S != 0) return -1;
    const int o = t / S;
    return o < OUT ? o : -1;
}

__kernel void max_pool2d_bwd(__global const storage_t *restrict x,
                             __global const storage_t *restrict dy,
                             __global storage_t *restrict dx)
{
    const long gid = get_global_id(0);
    if (gid >= PL_TOTAL) return;
    const int iw = (int)(gid % PL_W);
    const int ih = (int)((gid / PL_W) % PL_H);
    const long nc = gid / ((long)PL_W * PL_H);
    const __global storage_t *xc = x + nc * PL_H * PL_W;
    const __global storage_t *dyc = dy + nc * PL_OH * PL_OW;
    const int me = ih * PL_W + iw;
    real acc = (real)0;
    for (int kh = 0; kh < PL_KH; ++kh) {
        const int oh = tap_output(ih, kh, PL_SH, PL_PT, PL_DH, PL_OH);
        if (oh < 0) continue;
        for (int kw = 0; kw < PL_KW; ++kw) {
            const int ow = tap_output(iw, kw, PL_SW, PL_PL, PL_DW, PL_OW);
            if (ow < 0) continue;
            real m;
            if (window_argmax(xc, oh, ow, &m) == me) acc += LOAD(dyc, oh * PL_OW + ow);
        }
    }
    STORE(dx, gid, acc);
}

/* The in-bounds rows [*lo, *hi) of window o along one axis, and its divisor
 * factor along that axis (count_include_pad: clipped to the padded bounds). */
inline int window_span(int o, int S, int P, int PE, int K, int N, int *lo, int *hi)
{
    const int s = o * S - P;
    const int e = min(s + K, N + PE);
    *lo = max(s, 0);
    *hi = min(e, N);
    return PL_COUNT_PAD ? e - s : max(*hi - *lo, 0);
}

inline real avg_divisor(int oh, int ow, int *hs, int *he, int *ws, int *we)
{
    const int dh = window_span(oh, PL_SH, PL_PT, PL_PB, PL_KH, PL_H, hs, he);
    const int dw = window_span(ow, PL_SW, PL_PL, PL_PR, PL_KW, PL_W, ws, we);
    return (real)(PL_DIVISOR != 0 ? PL_DIVISOR : dh * dw);
}

__kernel void avg_pool2d_fwd(__global const storage_t *restrict x,
                             __global storage_t *restrict y)
{
    const long gid = get_global_id(0);
    if (gid >= PL_TOTAL) return;
    const int ow = (int)(gid % PL_OW);
    const int oh = (int)((gid / PL_OW) % PL_OH);
    const __global storage_t *xc = x + (gid / ((long)PL_OW * PL_OH)) * PL_H * PL_W;
    int hs, he, ws, we;
    const real div = avg_divisor(oh, ow, &hs, &he, &ws, &we);
    real acc = (real)0;
    for (int ih = hs; ih < he; ++ih)
        for (int iw = ws; iw < we; ++iw)
            acc += LOAD(xc, ih * PL_W + iw);
    STORE(y, gid, (hs < he && ws < we) ? acc / div : (real)0);
}

/* the output rows o whose window [o*S - P, o*S - P + K) contains i */
#define OUT_RANGE(i, S, P, K, OUT, lo, hi)                         \
    const int lo = max(0, ((i) + (P) - (K) + (S)) / (S));            \
    const int hi = min((OUT) - 1, ((i) + (P)) / (S));

__kernel void avg_pool2d_bwd(__global const storage_t *restrict dy,
                             __global storage_t *restrict dx)
{
    const long gid = get_global_id(0);
    if (gid >= PL_TOTAL) return;
    const int iw = (int)(gid % PL_W);
    const int ih = (int)((gid / PL_W) % PL_H);
    const __global storage_t *dyc = dy + (gid / ((long)PL_W * PL_H)) * PL_OH * PL_OW;
    OUT_RANGE(ih, PL_SH, PL_PT, PL_KH, PL_OH, oh0, oh1)
    OUT_RANGE(iw, PL_SW, PL_PL, PL_KW, PL_OW, ow0, ow1)
    real acc = (real)0;
    for (int oh = oh0; oh <= oh1; ++oh)
        for (int ow = ow0; ow <= ow1; ++ow) {
            int hs, he, ws, we;
            const real div = avg_divisor(oh, ow, &hs, &he, &ws, &we);
            acc += LOAD(dyc, oh * PL_OW + ow) / div;
        }
    STORE(dx, gid, acc);
}

__kernel void max_unpool2d_zero(__global storage_t *restrict y)
{
    const long gid = get_global_id(0);
    if (gid >= PL_TOTAL) return;
    STORE(y, gid, (real)0);
}

__kernel void max_unpool2d_fwd(__global const storage_t *restrict x,
                               __global const int *restrict idx,
                               __global storage_t *restrict y)
{
    const long gid = get_global_id(0);  /* over x: N*C*OH*OW */
    if (gid >= PL_TOTAL) return;
    const long nc = gid / ((long)PL_OW * PL_OH);
    const int i = idx[gid];
    if (i >= 0 && i < PL_H * PL_W) y[nc * PL_H * PL_W + i] = x[gid];
}

__kernel void max_unpool2d_bwd(__global const storage_t *restrict dy,
                               __global const int *restrict idx,
                               __global storage_t *restrict dx)
{
    const long gid = get_global_id(0);  /* over dx: N*C*OH*OW */
    if (gid >= PL_TOTAL) return;
    const long nc = gid / ((long)PL_OW * PL_OH);
    const int i = idx[gid];
    STORE(dx, gid, (i >= 0 && i < PL_H * PL_W) ? LOAD(dy, nc * PL_H * PL_W + i) : (real)0);
}
