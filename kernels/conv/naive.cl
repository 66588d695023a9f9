/* conv/naive.cl — direct 2-D convolution, the reference strategy (any shape).
 *
 * Layouts (PyTorch): x (N, C, H, W), w (O, C/G, KH, KW), y (N, O, OH, OW).
 *   y[n,o,oh,ow] = sum_{c<CG,kh,kw} x[n, g*CG+c, oh*SH-PT+kh*DH, ow*SW-PL+kw*DW] * w[o,c,kh,kw]
 *   with g = o / OG; taps outside [0,H) x [0,W) read zero.
 *
 * Kernels (one work-item per output element, global size = element count):
 *   conv2d_fwd(x, w, y)            y  (N*O*OH*OW items)
 *   conv2d_bwd_data(dy, w, dx)     dx (N*C*H*W items): a gather over the
 *                                  (o, kh, kw) that reach each dx element —
 *                                  no atomics, no zero-stuffed input.
 *   conv2d_bwd_weights(x, dy, dw)  dw (O*CG*KH*KW items): each reduces over
 *                                  N, OH, OW in a fixed order (deterministic).
 *
 * Parameters (-D, from ConvSpec.defines()): CV_N CV_C CV_H CV_W CV_O CV_KH CV_KW
 * CV_SH CV_SW CV_PT CV_PL CV_DH CV_DW CV_G CV_CG CV_OG CV_OH CV_OW, and one of
 * FCONV_F32 / FCONV_F64 / FCONV_F16 (common.cl). Accumulation is in `real`, one explicit
 * fma per term (the compiler's own contraction differed between kernels, and so did
 * inf/NaN results where products overflow; winograd.cl's fix-up mirrors these loops).
 */
#include "common.cl"

/* floor(a / b) for b > 0 and any a */
#define FLOOR_DIV_POS(a, b) (((a) >= 0) ? (a) / (b) : -((-(a) + (b) - 1) / (b)))

/* Epilogue hook of the forward kernel (jit fuses bias, activations, residual adds):
 * CONV_EPILOGUE(v, idx) maps the value stored at y[idx]; CONV_EPI_PARAMS are
 * extra kernel parameters it reads. Both come from a generated prelude. */
#ifndef CONV_EPILOGUE
#define CONV_EPILOGUE(v, idx) (v)
#endif

__kernel void conv2d_fwd(__global const storage_t *restrict x,
                         __global const storage_t *restrict w,
                         __global storage_t *restrict y
#ifdef CONV_EPI_PARAMS
                         , CONV_EPI_PARAMS
#endif
                         )
{
    const long gid = get_global_id(0);
    if (gid >= (long)CV_N * CV_O * CV_OH * CV_OW) return;
    const int ow = (int)(gid % CV_OW);
    long t = gid / CV_OW;
    const int oh = (int)(t % CV_OH);
    t /= CV_OH;
    const int o = (int)(t % CV_O);
    const int n = (int)(t / CV_O);
    const int g = o / CV_OG;

    /* taps inside x as loop bounds (no `continue`: see conv2d_bwd_weights) */
    const int kh0 = max(0, FLOOR_DIV_POS(CV_PT - oh * CV_SH + CV_DH - 1, CV_DH));
    const int kh1 = min(CV_KH, FLOOR_DIV_POS(CV_H - 1 + CV_PT - oh * CV_SH, CV_DH) + 1);
    const int kw0 = max(0, FLOOR_DIV_POS(CV_PL - ow * CV_SW + CV_DW - 1, CV_DW));
    const int kw1 = min(CV_KW, FLOOR_DIV_POS(CV_W - 1 + CV_PL - ow * CV_SW, CV_DW) + 1);
    real acc = (real)0;
    for (int c = 0; c < CV_CG; ++c) {
        const __global storage_t *xc = x + ((long)n * CV_C + g * CV_CG + c) * CV_H * CV_W;
        const __global storage_t *wc = w + ((long)o * CV_CG + c) * CV_KH * CV_KW;
        for (int kh = kh0; kh < kh1; ++kh) {
            const int ih = oh * CV_SH - CV_PT + kh * CV_DH;
            for (int kw = kw0; kw < kw1; ++kw) {
                const int iw = ow * CV_SW - CV_PL + kw * CV_DW;
                acc = fma(LOAD(xc, ih * CV_W + iw), LOAD(wc, kh * CV_KW + kw), acc);
            }
        }
    }
    STORE(y, gid, CONV_EPILOGUE(acc, gid));
}

__kernel void conv2d_bwd_data(__global const storage_t *restrict dy,
                              __global const storage_t *restrict w,
                              __global storage_t *restrict dx)
{
    const long gid = get_global_id(0);
    if (gid >= (long)CV_N * CV_C * CV_H * CV_W) return;
    const int iw = (int)(gid % CV_W);
    long t = gid / CV_W;
    const int ih = (int)(t % CV_H);
    t /= CV_H;
    const int ci = (int)(t % CV_C);
    const int n = (int)(t / CV_C);
    const int g = ci / CV_CG;
    const int c = ci - g * CV_CG;

    real acc = (real)0;
    for (int kh = 0; kh < CV_KH; ++kh) {
        const int th = ih + CV_PT - kh * CV_DH;          /* = oh * SH */
        if (th < 0 || th % CV_SH != 0) continue;
        const int oh = th / CV_SH;
        if (oh >= CV_OH) continue;
        for (int kw = 0; kw < CV_KW; ++kw) {
            const int tw = iw + CV_PL - kw * CV_DW;
            if (tw < 0 || tw % CV_SW != 0) continue;
            const int ow = tw / CV_SW;
            if (ow >= CV_OW) continue;
            for (int oo = 0; oo < CV_OG; ++oo) {
                const int o = g * CV_OG + oo;
                acc = fma(LOAD(dy, (((long)n * CV_O + o) * CV_OH + oh) * CV_OW + ow),
                          LOAD(w, (((long)o * CV_CG + c) * CV_KH + kh) * CV_KW + kw), acc);
            }
        }
    }
    STORE(dx, gid, acc);
}

__kernel void conv2d_bwd_weights(__global const storage_t *restrict x,
                                 __global const storage_t *restrict dy,
                                 __global storage_t *restrict dw)
{
    const long gid = get_global_id(0);
    if (gid >= (long)CV_O * CV_CG * CV_KH * CV_KW) return;
    const int kw = (int)(gid % CV_KW);
    long t = gid / CV_KW;
    const int kh = (int)(t % CV_KH);
    t /= CV_KH;
    const int c = (int)(t % CV_CG);
    const int o = (int)(t / CV_CG);
    const int ci = (o / CV_OG) * CV_CG + c;

    /* the output rows/cols whose tap (kh, kw) lands inside x, as loop bounds: Intel's
     * CPU compiler miscompiled the equivalent `continue` tests here (checked against
     * Oclgrind), and bounds are cheaper anyway. */
    const int oh0 = FLOOR_DIV_POS(CV_PT - kh * CV_DH + CV_SH - 1, CV_SH);
    const int oh1 = min(CV_OH, FLOOR_DIV_POS(CV_H - 1 + CV_PT - kh * CV_DH, CV_SH) + 1);
    const int ow0 = FLOOR_DIV_POS(CV_PL - kw * CV_DW + CV_SW - 1, CV_SW);
    const int ow1 = min(CV_OW, FLOOR_DIV_POS(CV_W - 1 + CV_PL - kw * CV_DW, CV_SW) + 1);
    real acc = (real)0;
    for (int n = 0; n < CV_N; ++n) {
        const __global storage_t *xc = x + ((long)n * CV_C + ci) * CV_H * CV_W;
        const __global storage_t *dyo = dy + ((long)n * CV_O + o) * CV_OH * CV_OW;
        for (int oh = max(oh0, 0); oh < oh1; ++oh) {
            const int ih = oh * CV_SH - CV_PT + kh * CV_DH;
            for (int ow = max(ow0, 0); ow < ow1; ++ow) {
                const int iw = ow * CV_SW - CV_PL + kw * CV_DW;
                acc = fma(LOAD(dyo, oh * CV_OW + ow), LOAD(xc, ih * CV_W + iw), acc);
            }
        }
    }
    STORE(dw, gid, acc);
}
