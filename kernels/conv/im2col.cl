/* conv/im2col.cl — the data-movement kernels of the im2col + GEMM strategy.
 *
 * Shapes as in conv/naive.cl: x (N, C, H, W), w (O, CG, KH, KW), y (N, O, OH, OW),
 * CG = C/G, OG = O/G, K = CG*KH*KW (GEMM depth per group), P = OH*OW.
 * A "cols" matrix holds, for sample n (of a chunk starting at sample n0) and
 * group g, the K x P patch matrix
 *     cols[n, g][k = (c*KH + kh)*KW + kw][p = oh*OW + ow]
 *         = x[n0+n, g*CG+c, oh*SH-PT+kh*DH, ow*SW-PL+kw*DW]   (0 outside x)
 * stored at  n*s_n + g*s_g + k*s_k + p  (strides are kernel arguments, so one
 * build serves both the per-sample layout [n][g][k][p] of the forward and
 * backward-data GEMMs and the [g][k][n*P + p] layout of backward-weights).
 *
 * Kernels:
 *   im2col(x, cols, n0, s_n, s_g, s_k)     global (OH, K, nb*G): one row of OW cols elements each
 *   col2im(dcols, dx, n0, s_n, s_g, s_k)   global (H*W, C, nb): dx[n0+n] as a gather
 *                                          over the (kh, kw) taps reaching each
 *                                          element (no atomics)
 *   nchw_to_gonp(dy, dyt, n0, nb)          global (P, O, nb):
 *                                          dyt[o][n*P + p] = dy[n0+n, o, p]
 * (Batch chunks of backward-weights add their dw into the first through
 * partial_sum.cl's PS_ACCUMULATE.)
 *
 * Parameters (-D): ConvSpec.defines() (CV_*) and FCONV_F32/F64/F16.
 */
#include "common.cl"

#define CV_P (CV_OH * CV_OW)
#define CV_K (CV_CG * CV_KH * CV_KW)

__kernel void im2col(__global const storage_t *restrict x,
                     __global storage_t *restrict cols,
                     long n0, long s_n, long s_g, long s_k)
{
    /* one work-item per (output row oh, k, sample*group): a contiguous run of OW
     * stores. One element per work-item was 10x slower on CPU runtimes. */
    const int oh = get_global_id(0);
    const int k = get_global_id(1);
    const int ng = get_global_id(2);
    if (oh >= CV_OH || k >= CV_K) return;
    const int g = ng % CV_G;
    const int n = ng / CV_G;
    const int kw = k % CV_KW;
    const int kh = (k / CV_KW) % CV_KH;
    const int c = k / (CV_KW * CV_KH);
    const int ih = oh * CV_SH - CV_PT + kh * CV_DH;
    __global storage_t *dst = cols + n * s_n + g * s_g + k * s_k + (long)oh * CV_OW;
    if (ih < 0 || ih >= CV_H) {
        for (int ow = 0; ow < CV_OW; ++ow)
            STORE(dst, ow, (real)0);
        return;
    }
    const __global storage_t *src = x + (((n0 + n) * CV_C + g * CV_CG + c) * CV_H + ih) * (long)CV_W;
    for (int ow = 0; ow < CV_OW; ++ow) {
        const int iw = ow * CV_SW - CV_PL + kw * CV_DW;
        STORE(dst, ow, (iw >= 0 && iw < CV_W) ? LOAD(src, iw) : (real)0);
    }
}

__kernel void col2im(__global const storage_t *restrict dcols,
                     __global storage_t *restrict dx,
                     long n0, long s_n, long s_g, long s_k)
{
    const int hw = get_global_id(0);
    const int ci = get_global_id(1);
    const int n = get_global_id(2);
    if (hw >= CV_H * CV_W) return;
    const int iw = hw % CV_W, ih = hw / CV_W;
    const int g = ci / CV_CG, c = ci - g * CV_CG;
    const __global storage_t *col = dcols + n * s_n + g * s_g;
    real acc = (real)0;
    for (int kh = 0; kh < CV_KH; ++kh) {
        const int th = ih + CV_PT - kh * CV_DH;
        if (th < 0 || th % CV_SH != 0) continue;
        const int oh = th / CV_SH;
        if (oh >= CV_OH) continue;
        for (int kw = 0; kw < CV_KW; ++kw) {
            const int tw = iw + CV_PL - kw * CV_DW;
            if (tw < 0 || tw % CV_SW != 0) continue;
            const int ow = tw / CV_SW;
            if (ow >= CV_OW) continue;
            acc += LOAD(col, ((c * CV_KH + kh) * CV_KW + kw) * s_k + oh * CV_OW + ow);
        }
    }
    STORE(dx, (((n0 + n) * CV_C + ci) * CV_H) * CV_W + hw, acc);
}

__kernel void nchw_to_gonp(__global const storage_t *restrict dy,
                           __global storage_t *restrict dyt,
                           long n0, long nb)
{
    const int p = get_global_id(0);
    const int o = get_global_id(1);
    const int n = get_global_id(2);
    if (p >= CV_P) return;
    STORE(dyt, (o * nb + n) * CV_P + p, LOAD(dy, ((n0 + n) * CV_O + o) * CV_P + p));
}
