/* pool.cl — 2-D max and average pooling and their gradients (PyTorch semantics).
 *
 * x (N, C, H, W) -> y (N, C, OH, OW), window KH x KW, stride SH x SW, top/left
 * padding PT/PL (bottom/right padding is implied by OH/OW):
 *   max_pool2d_fwd(x, y)        y = max over the window's in-bounds cells
 *                               (padding acts as -inf)
 *   max_pool2d_bwd(x, dy, dx)   dx = sum of dy over the windows whose FIRST
 *                               argmax (row-major in the window) is this cell;
 *                               a gather per dx element, no atomics
 *   avg_pool2d_fwd(x, y)        y = window sum / (KH*KW)  (count_include_pad)
 *   avg_pool2d_bwd(dy, dx)      dx = sum of dy / (KH*KW) over windows covering it
 * One work-item per output element, global size = its element count.
 *
 * Parameters (-D): PL_H PL_W PL_OH PL_OW PL_KH PL_KW PL_SH PL_SW PL_PT PL_PL
 * PL_TOTAL (N*C*OH*OW for forward, N*C*H*W for backward), one of
 * FCONV_F32 / FCONV_F64 / FCONV_F16.
 */
#include "common.cl"

/* First argmax of window (oh, ow) of plane xc: returns ih*W+iw. Windows
 * always hold at least one in-bounds cell (the planner checks padding). */
inline int window_argmax(const __global storage_t *xc, int oh, int ow, real *best)
{
    const int h0 = oh * PL_SH - PL_PT, w0 = ow * PL_SW - PL_PL;
    const int hs = max(h0, 0), he = min(h0 + PL_KH, PL_H);
    const int ws = max(w0, 0), we = min(w0 + PL_KW, PL_W);
    int idx = hs * PL_W + ws;
    real m = -INFINITY;
    for (int ih = hs; ih < he; ++ih)
        for (int iw = ws; iw < we; ++iw) {
            const real v = LOAD(xc, ih * PL_W + iw);
            if (v > m || (isnan(v) && !isnan(m))) {
                m = v;
                idx = ih * PL_W + iw;
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

/* the output rows oh whose window [oh*S - P, oh*S - P + K) contains i */
#define OUT_RANGE(i, S, P, K, OUT, lo, hi)                         \
    const int lo = max(0, ((i) + (P) - (K) + (S)) / (S));            \
    const int hi = min((OUT) - 1, ((i) + (P)) / (S));

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
    OUT_RANGE(ih, PL_SH, PL_PT, PL_KH, PL_OH, oh0, oh1)
    OUT_RANGE(iw, PL_SW, PL_PL, PL_KW, PL_OW, ow0, ow1)
    real acc = (real)0;
    for (int oh = oh0; oh <= oh1; ++oh)
        for (int ow = ow0; ow <= ow1; ++ow) {
            real m;
            if (window_argmax(xc, oh, ow, &m) == me) acc += LOAD(dyc, oh * PL_OW + ow);
        }
    STORE(dx, gid, acc);
}

__kernel void avg_pool2d_fwd(__global const storage_t *restrict x,
                             __global storage_t *restrict y)
{
    const long gid = get_global_id(0);
    if (gid >= PL_TOTAL) return;
    const int ow = (int)(gid % PL_OW);
    const int oh = (int)((gid / PL_OW) % PL_OH);
    const __global storage_t *xc = x + (gid / ((long)PL_OW * PL_OH)) * PL_H * PL_W;
    const int h0 = oh * PL_SH - PL_PT, w0 = ow * PL_SW - PL_PL;
    real acc = (real)0;
    for (int ih = max(h0, 0); ih < min(h0 + PL_KH, PL_H); ++ih)
        for (int iw = max(w0, 0); iw < min(w0 + PL_KW, PL_W); ++iw)
            acc += LOAD(xc, ih * PL_W + iw);
    STORE(y, gid, acc / (real)(PL_KH * PL_KW));
}

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
        for (int ow = ow0; ow <= ow1; ++ow)
            acc += LOAD(dyc, oh * PL_OW + ow);
    STORE(dx, gid, acc / (real)(PL_KH * PL_KW));
}
