/* conv/implicit_gemm.cl — implicit-GEMM convolution: im2col folded into the GEMM's loads.
 *
 * No patch matrix is ever stored: the k loop of each register-blocked work-item
 * gathers the input on the fly. Layouts (PyTorch): x (N, C, H, W), w (O, C/G, KH, KW),
 * y (N, O, OH, OW). The 1x1 stride-1 convs that are plain GEMMs go to gemm/gemm.cl
 * (fconv/conv/implicit_gemm.py); everything else runs here.
 *
 * Kernels
 *   pack_weights(w, wp)        global (JP, I, G*KH*KW). Repacks w (O, CG, KH, KW) for
 *       ig_conv as wp[g][kh][kw][i][JP] (type real, zero-padded j < JP):
 *         PK_TRANS=0 (forward):        i = c < CG, j = o < OG:  w[g*OG+o][c][kh][kw]
 *         PK_TRANS=1 (backward-data):  i = o < OG, j = c < CG:  w[g*OG+o][c][kh][kw]
 *       (-D IG_PACK, CV_* of the forward ConvSpec, PK_TRANS, PK_JP).
 *   ig_conv(in, wp, out, KH, KW, KH0, KHS, KW0, KWS, DH, DW, PT, PL, OH, OW, YOH, YOW
 *           [, CONV_EPI_PARAMS])          global (ceil(OW/MWI), OH, N*G*OB)
 *       A forward convolution with generic placement of its output:
 *         out[n, g*OG+o, oh*YSH+YOH, ow*YSW+YOW] =
 *             sum_{kh<KH, kw<KW, c<CG} in[n, g*CG+c, oh*SH-PT+kh*DH, ow*SW-PL+kw*DW]
 *                                      * wp[g][KH0+kh*KHS][KW0+kw*KWS][c][o]
 *       (taps outside `in` read zero; PT/PL may be negative). The forward conv is
 *       the identity placement; backward-data with stride 1 is a forward conv of dy
 *       with the flipped, transposed filter (KH0 = KH-1, KHS = -1); backward-data
 *       with stride s is s^2 such launches, one per phase (rh, rw) of dx, each a
 *       dense conv of dy with its flipped sub-filter (taps kh = KH0 + j*KHS), its
 *       output placed at dx[.., rh + s*i, rw + s*j] — never a zero-stuffed dy.
 *       A phase with no taps (KH or KW = 0) stores zeros.
 *       Work-item: MWI consecutive output positions of one output row x NWI = VW*NWV
 *       output channels (realV accumulators acc[MWI][NWV]); per k = (kh, kw, c) it
 *       loads NWV vectors of wp and broadcasts MWI scalars of `in`. The padding test
 *       is hoisted out of the c loop: kh by loop bounds, kw per (kh, kw) as an
 *       unguarded fast loop when the MWI taps are all inside the row, else a
 *       guarded one. Stores through CONV_EPILOGUE(v, idx), idx = out's linear index.
 *       Compile-time (-D IG_CONV and): IG_N IG_CI IG_CG IG_G IG_H IG_W (input), IG_CO
 *       IG_OG IG_OGP IG_OB (output channels, per group, padded per group, blocks per
 *       group), IG_KHF IG_KWF (packed filter size), IG_SH IG_SW (strides), IG_YH IG_YW
 *       IG_YSH IG_YSW (output buffer size and placement strides). The int arguments
 *       (taps, their indices in the packed filter, dilation, padding, output grid,
 *       placement offsets) vary between the phases of one backward-data, so all
 *       phases share one program build.
 *   ig_conv_pv(in, wp, out, <ig_conv's ints>[, CONV_EPI_PARAMS])   global (ceil(OW/NWI), OH, N*G*OB)
 *       ig_conv with the vector along output positions, for few output channels per
 *       group: a work-item is NWI positions of one output row x MWI output channels
 *       (IG_OGP a multiple of MWI, IG_OB = IG_OGP / MWI); per k it loads NWV vectors
 *       of `in` (vloads when SW == 1 and inside the row, else a guarded gather) and
 *       broadcasts MWI packed weights. -D IG_CONV_PV and ig_conv's constants.
 *   to_nhwc(dy, dyt)           global (ceil(OH*OW/16), N): dyt[n][p][g][OGP] = dy[n][g*OG+o][p]
 *       (type real, zero for o >= OG). -D IG_BWD_W, CV_*, IG_OGP.
 *   ig_bwd_weights(x, dyt, dw) global (ceil(K/MWI), G*OB, S), K = CG*KH*KW:
 *       dw[s][g*OG+o][c][kh][kw] = sum_{(n, oh) in chunk s, ow} dyt[n][oh*OW+ow][g][o]
 *                                 * x[n, g*CG+c, oh*SH-PT+kh*DH, ow*SW-PL+kw*DW]
 *       chunk s: rows [s*BW_ROWS, (s+1)*BW_ROWS) of the N*OH rows (n, oh), so the
 *       chunk of dyt is reused from cache by every k block; with S > 1, dw is a
 *       temporary of S partial sums (type real: common.cl's -D FCONV_OUT_REAL) that
 *       partial_sum (partial_sum.cl) adds in a fixed order.
 *       Work-item: MWI consecutive k rows x NWI output channels, reducing over
 *       its chunk in a fixed order (deterministic, no atomics). Rows are numbered
 *       k = (kh*KW + kw)*CG + c with BW_ORDER=1 (rows share their tap: no per-row
 *       bounds) or k = (c*KH + kh)*KW + kw with BW_ORDER=0. Per position the
 *       padding test is hoisted into ranges of (oh, ow) valid for all rows (fast
 *       loop) and guarded edges. -D IG_BWD_W, CV_*, IG_OGP, IG_OB, BW_ORDER, BW_ROWS.
 *   (the partial dw of ig_bwd_weights chunks, and the 1x1 backward-weights GEMM's
 *   per-sample products, are added by partial_sum.cl)
 *
 * Tunables (-D): MWI (positions, channels or k rows per work-item), VW (vector width:
 * 4, 8, 16), NWV (vectors per work-item), BW_ORDER, BW_ROWS (backward-weights rows
 * and chunk). Accumulation in `real` (float for float16 storage).
 *
 * Measured (Intel OpenCL CPU runtime 2026.22, 2-core Zen 5 VM shared with other jobs,
 * float32, batch 8): the ig_conv inner loop compiles to 2 vmovups + 8 vbroadcastss +
 * 16 zmm FMAs per k, like gemm.cl, and reaches ~185 GFLOP/s per CPU-second on the
 * 3x3 64->64 56x56 conv (gemm.cl: ~190-200 at large sizes). 8x32 blocks: 14x32, 4x64,
 * 14x16 and explicit work-group sizes were not measurably better under the load.
 * Position vectors (ig_conv_pv) beat 4-wide channel vectors ~1.7x on the stem's
 * backward-data (3 outputs per group) but lose on grouped convs with 4 channels per
 * group (the inner c loop is too short), hence the planner's rule. Chunking the
 * backward-weights reduction (BW_ROWS) halved the stem's time (dy^T stays in L2).
 */
#include "common.cl"

#ifndef MWI
#define MWI 8
#endif
#ifndef VW
#define VW 16
#endif
#ifndef NWV
#define NWV 2
#endif
#ifndef CONV_EPILOGUE
#define CONV_EPILOGUE(v, idx) (v)
#endif

#define NWI (VW * NWV)
#define CAT_(a, b) a##b
#define CAT(a, b) CAT_(a, b)
#define realV CAT(real, VW)
#define VLOADR(p) CAT(vload, VW)(0, p)
#define VSTORER(p, v) CAT(vstore, VW)(v, 0, p)
#define LOADN_(n, p, i) LOADN(n, p, i)
/* floor(a / b) for b > 0 and any a */
#define FLOOR_DIV(a, b) (((a) >= 0) ? (a) / (b) : -((-(a) + (b) - 1) / (b)))

/* ------------------------------------------------------------------ weights */
#ifdef IG_PACK
#if !defined(FCONV_ONE_KERNEL) || defined(FCONV_KERNEL_pack_weights)
__kernel void pack_weights(__global const storage_t *restrict w, __global real *restrict wp)
{
    const int j = get_global_id(0);
    const int i = get_global_id(1);
    const int t = get_global_id(2);   /* (g*KH + kh)*KW + kw */
    const int t1 = t / CV_KW, g = t1 / CV_KH;
    const int kw = t - t1 * CV_KW, kh = t1 - g * CV_KH;
#if PK_TRANS
    const int o = i, c = j, ni = CV_OG, nj = CV_CG;
#else
    const int o = j, c = i, ni = CV_CG, nj = CV_OG;
#endif
    if (i >= ni || j >= PK_JP) return;
    real v = (real)0;
    if (j < nj)
        v = LOAD(w, (((long)(g * CV_OG + o) * CV_CG + c) * CV_KH + kh) * CV_KW + kw);
    wp[((long)t * ni + i) * PK_JP + j] = v;
}
#endif
#endif

/* ------------------------------------------------------------------ forward / backward-data */
#ifdef IG_CONV
#if !defined(FCONV_ONE_KERNEL) || defined(FCONV_KERNEL_ig_conv)
__kernel __attribute__((vec_type_hint(realV)))
void ig_conv(__global const storage_t *restrict in,
             __global const real *restrict wp,
             __global storage_t *restrict out,
             int kh_, int kw_, int kh0_, int khs_, int kw0_, int kws_,  /* taps */
             int dh_, int dw_, int pt_, int pl_,                       /* dilation, padding */
             int oh_, int ow_, int yoh_, int yow_                      /* grid, placement */
#ifdef CONV_EPI_PARAMS
             , CONV_EPI_PARAMS
#endif
             )
{
    const int ow0 = get_global_id(0) * MWI;
    const int oh = get_global_id(1);
    const int z = get_global_id(2);
    /* x - (x/y)*y rather than %: Oclgrind cannot run the `freeze` that LLVM emits
     * for a div/rem pair */
    const int ng = z / IG_OB, n = ng / IG_G;
    const int ob = z - ng * IG_OB, g = ng - n * IG_G;
    if (ow0 >= ow_ || oh >= oh_ || n >= IG_N) return;

    const __global storage_t *xg = in + ((long)n * IG_CI + g * IG_CG) * (IG_H * IG_W);
    const __global real *wg = wp + (long)g * (IG_KHF * IG_KWF * IG_CG * IG_OGP) + ob * NWI;

    realV acc[MWI][NWV];
    _Pragma("unroll") for (int r = 0; r < MWI; ++r)
    _Pragma("unroll") for (int v = 0; v < NWV; ++v) acc[r][v] = (realV)(0);

    const int ihb = oh * IG_SH - pt_;
    /* taps with ih = ihb + kh*DH inside [0, H), as loop bounds */
    const int kh0 = max(0, FLOOR_DIV(-ihb + dh_ - 1, dh_));
    const int kh1 = min(kh_, FLOOR_DIV(IG_H - 1 - ihb, dh_) + 1);
    for (int kh = kh0; kh < kh1; ++kh) {
        const __global storage_t *xrow = xg + (ihb + kh * dh_) * IG_W;
        for (int kw = 0; kw < kw_; ++kw) {
            const int iwb = ow0 * IG_SW - pl_ + kw * dw_;
            const __global real *wk = wg + ((kh0_ + kh * khs_) * IG_KWF + (kw0_ + kw * kws_))
                                           * (IG_CG * IG_OGP);
            if (iwb >= 0 && iwb + (MWI - 1) * IG_SW < IG_W) {
                /* every tap of the MWI positions lies inside the row */
                const __global storage_t *xp = xrow + iwb;
                for (int c = 0; c < IG_CG; ++c) {
                    realV bv[NWV];
                    _Pragma("unroll") for (int v = 0; v < NWV; ++v)
                        bv[v] = VLOADR(wk + c * IG_OGP + v * VW);
                    _Pragma("unroll") for (int r = 0; r < MWI; ++r) {
                        const real av = LOAD(xp, r * IG_SW);
                        _Pragma("unroll") for (int v = 0; v < NWV; ++v)
                            acc[r][v] = fma((realV)(av), bv[v], acc[r][v]);
                    }
                    xp += IG_H * IG_W;
                }
            } else {
                /* row edge: clamped loads, zeroed outside */
                int iwc[MWI];
                real msk[MWI];
                _Pragma("unroll") for (int r = 0; r < MWI; ++r) {
                    const int iw = iwb + r * IG_SW;
                    msk[r] = (iw >= 0 && iw < IG_W) ? (real)1 : (real)0;
                    iwc[r] = clamp(iw, 0, IG_W - 1);
                }
                const __global storage_t *xp = xrow;
                for (int c = 0; c < IG_CG; ++c) {
                    realV bv[NWV];
                    _Pragma("unroll") for (int v = 0; v < NWV; ++v)
                        bv[v] = VLOADR(wk + c * IG_OGP + v * VW);
                    _Pragma("unroll") for (int r = 0; r < MWI; ++r) {
                        const real av = LOAD(xp, iwc[r]) * msk[r];
                        _Pragma("unroll") for (int v = 0; v < NWV; ++v)
                            acc[r][v] = fma((realV)(av), bv[v], acc[r][v]);
                    }
                    xp += IG_H * IG_W;
                }
            }
        }
    }

    /* transpose the block in private memory so each channel's MWI outputs (contiguous
     * in `out` when YSW == 1) are stored together: strided stores were ~2x slower */
    real tb[NWI][MWI];
    _Pragma("unroll") for (int r = 0; r < MWI; ++r)
    _Pragma("unroll") for (int v = 0; v < NWV; ++v) {
        real t[VW];
        VSTORER(t, acc[r][v]);
        _Pragma("unroll") for (int e = 0; e < VW; ++e) tb[v * VW + e][r] = t[e];
    }
    const int nvalid = min(MWI, ow_ - ow0);
    const int nch = min(NWI, IG_OG - ob * NWI);
    const long rowbase = ((long)n * IG_CO + g * IG_OG + ob * NWI) * (IG_YH * IG_YW)
                       + (long)(oh * IG_YSH + yoh_) * IG_YW + ow0 * IG_YSW + yow_;
    for (int o = 0; o < nch; ++o) {
        const long base = rowbase + (long)o * (IG_YH * IG_YW);
        for (int r = 0; r < nvalid; ++r) {
            const long idx = base + r * IG_YSW;
            STORE(out, idx, CONV_EPILOGUE(tb[o][r], idx));
        }
    }
}
#endif
#endif /* IG_CONV */

#ifdef IG_CONV_PV
/* ig_conv with the vector along output positions (for few output channels per group):
 * each work-item NWI consecutive positions of one output row (NWV vectors of VW) x MWI
 * output channels; per k = (kh, kw, c) it loads NWV vectors of `in` (vload when SW == 1
 * and the taps lie inside the row, else a guarded gather) and broadcasts MWI weights.
 * Same constants and packed weights as ig_conv, with IG_OGP a multiple of MWI and
 * IG_OB = IG_OGP / MWI.  global (ceil(OW/NWI), OH, N*G*OB). */
#if !defined(FCONV_ONE_KERNEL) || defined(FCONV_KERNEL_ig_conv_pv)
__kernel __attribute__((vec_type_hint(realV)))
void ig_conv_pv(__global const storage_t *restrict in,
                __global const real *restrict wp,
                __global storage_t *restrict out,
             int kh_, int kw_, int kh0_, int khs_, int kw0_, int kws_,  /* taps */
             int dh_, int dw_, int pt_, int pl_,                       /* dilation, padding */
             int oh_, int ow_, int yoh_, int yow_                      /* grid, placement */
#ifdef CONV_EPI_PARAMS
                , CONV_EPI_PARAMS
#endif
                )
{
    const int ow0 = get_global_id(0) * NWI;
    const int oh = get_global_id(1);
    const int z = get_global_id(2);
    /* x - (x/y)*y rather than %: Oclgrind cannot run the `freeze` that LLVM emits
     * for a div/rem pair */
    const int ng = z / IG_OB, n = ng / IG_G;
    const int ob = z - ng * IG_OB, g = ng - n * IG_G;
    if (ow0 >= ow_ || oh >= oh_ || n >= IG_N) return;

    const __global storage_t *xg = in + ((long)n * IG_CI + g * IG_CG) * (IG_H * IG_W);
    const __global real *wg = wp + (long)g * (IG_KHF * IG_KWF * IG_CG * IG_OGP) + ob * MWI;

    realV acc[MWI][NWV];
    _Pragma("unroll") for (int r = 0; r < MWI; ++r)
    _Pragma("unroll") for (int v = 0; v < NWV; ++v) acc[r][v] = (realV)(0);

    const int ihb = oh * IG_SH - pt_;
    const int kh0 = max(0, FLOOR_DIV(-ihb + dh_ - 1, dh_));
    const int kh1 = min(kh_, FLOOR_DIV(IG_H - 1 - ihb, dh_) + 1);
    for (int kh = kh0; kh < kh1; ++kh) {
        const __global storage_t *xrow = xg + (ihb + kh * dh_) * IG_W;
        for (int kw = 0; kw < kw_; ++kw) {
            const int iwb = ow0 * IG_SW - pl_ + kw * dw_;
            const __global real *wk = wg + ((kh0_ + kh * khs_) * IG_KWF + (kw0_ + kw * kws_))
                                           * (IG_CG * IG_OGP);
            if (IG_SW == 1 && iwb >= 0 && iwb + NWI - 1 < IG_W) {
                const __global storage_t *xp = xrow + iwb;
                for (int c = 0; c < IG_CG; ++c) {
                    realV av[NWV];
                    _Pragma("unroll") for (int v = 0; v < NWV; ++v)
                        av[v] = LOADN_(VW, xp + v * VW, 0);
                    _Pragma("unroll") for (int r = 0; r < MWI; ++r) {
                        const real wv = wk[c * IG_OGP + r];
                        _Pragma("unroll") for (int v = 0; v < NWV; ++v)
                            acc[r][v] = fma(av[v], (realV)(wv), acc[r][v]);
                    }
                    xp += IG_H * IG_W;
                }
            } else {
                /* per vector: inside the row (vload), outside (zero) or straddling (gather) */
                int mode[NWV];
                _Pragma("unroll") for (int v = 0; v < NWV; ++v) {
                    const int lo = iwb + v * VW * IG_SW, hi = lo + (VW - 1) * IG_SW;
                    mode[v] = (IG_SW == 1 && lo >= 0 && hi < IG_W) ? 0
                            : (hi < 0 || lo >= IG_W) ? 1 : 2;
                }
                const __global storage_t *xp = xrow;
                for (int c = 0; c < IG_CG; ++c) {
                    realV av[NWV];
                    _Pragma("unroll") for (int v = 0; v < NWV; ++v) {
                        if (mode[v] == 0) {
                            av[v] = LOADN_(VW, xp + iwb + v * VW, 0);
                        } else if (mode[v] == 1) {
                            av[v] = (realV)(0);
                        } else {
                            real t[VW];
                            _Pragma("unroll") for (int e = 0; e < VW; ++e) {
                                const int iw = iwb + (v * VW + e) * IG_SW;
                                const bool ok = iw >= 0 && iw < IG_W;
                                t[e] = LOAD(xp, ok ? iw : 0) * (ok ? (real)1 : (real)0);
                            }
                            av[v] = VLOADR(t);
                        }
                    }
                    _Pragma("unroll") for (int r = 0; r < MWI; ++r) {
                        const real wv = wk[c * IG_OGP + r];
                        _Pragma("unroll") for (int v = 0; v < NWV; ++v)
                            acc[r][v] = fma(av[v], (realV)(wv), acc[r][v]);
                    }
                    xp += IG_H * IG_W;
                }
            }
        }
    }

    const int nvalid = min(NWI, ow_ - ow0);
    const int nch = min(MWI, IG_OG - ob * MWI);
    const long rowbase = ((long)n * IG_CO + g * IG_OG + ob * MWI) * (IG_YH * IG_YW)
                       + (long)(oh * IG_YSH + yoh_) * IG_YW + ow0 * IG_YSW + yow_;
    _Pragma("unroll") for (int r = 0; r < MWI; ++r) {
        if (r < nch) {
            _Pragma("unroll") for (int v = 0; v < NWV; ++v) {
                real t[VW];
                VSTORER(t, acc[r][v]);
                const long base = rowbase + (long)r * (IG_YH * IG_YW) + v * VW * IG_YSW;
                for (int e = 0; e < min(VW, nvalid - v * VW); ++e) {
                    const long idx = base + e * IG_YSW;
                    STORE(out, idx, CONV_EPILOGUE(t[e], idx));
                }
            }
        }
    }
}
#endif
#endif /* IG_CONV_PV */

/* ------------------------------------------------------------------ backward-weights */
#ifdef IG_BWD_W
#if !defined(FCONV_ONE_KERNEL) || defined(FCONV_KERNEL_to_nhwc)
__kernel void to_nhwc(__global const storage_t *restrict dy, __global real *restrict dyt)
{
    /* 16 positions per work-item: contiguous 16-element reads per channel, and a
     * 16 x G*OGP block of dyt written while its lines stay in L1 */
    const int p0 = get_global_id(0) * 16;
    const int n = get_global_id(1);
    if (p0 >= CV_OH * CV_OW) return;
    const int np = min(16, CV_OH * CV_OW - p0);
    const __global storage_t *src = dy + (long)n * CV_O * (CV_OH * CV_OW) + p0;
    __global real *dst = dyt + ((long)n * (CV_OH * CV_OW) + p0) * (CV_G * IG_OGP);
    for (int g = 0; g < CV_G; ++g) {
        for (int o = 0; o < CV_OG; ++o) {
            const __global storage_t *s_ = src + (long)(g * CV_OG + o) * (CV_OH * CV_OW);
            __global real *d_ = dst + g * IG_OGP + o;
            if (np == 16) {
                real t[16];
                vstore16(LOADN(16, s_, 0), 0, t);
                _Pragma("unroll") for (int e = 0; e < 16; ++e) d_[e * (CV_G * IG_OGP)] = t[e];
            } else {
                for (int e = 0; e < np; ++e) d_[e * (CV_G * IG_OGP)] = LOAD(s_, e);
            }
        }
        for (int o = CV_OG; o < IG_OGP; ++o)
            for (int e = 0; e < np; ++e) dst[e * (CV_G * IG_OGP) + g * IG_OGP + o] = (real)0;
    }
}
#endif

#ifndef BW_ORDER
#define BW_ORDER 1
#endif
#define BW_K (CV_CG * CV_KH * CV_KW)
/* with several chunks dw is the temporary of partial sums, in `real` (FCONV_OUT_REAL) */
#define BW_HW (CV_H * CV_W)

#if !defined(FCONV_ONE_KERNEL) || defined(FCONV_KERNEL_ig_bwd_weights)
__kernel __attribute__((vec_type_hint(realV)))
void ig_bwd_weights(__global const storage_t *restrict x,
                    __global const real *restrict dyt,
                    __global out_t *restrict dw)
{
    const int k0 = get_global_id(0) * MWI;
    const int g = get_global_id(1) / IG_OB;
    const int ob = get_global_id(1) - g * IG_OB;
    const int s = get_global_id(2);   /* chunk: rows [s*BW_ROWS, (s+1)*BW_ROWS) of (n, oh) */
    if (k0 >= BW_K || g >= CV_G) return;

    /* per row: tap offsets, x offset, and the output ranges where the tap is inside x */
    int ioff[MWI], joff[MWI], xoff[MWI], dwi[MWI];
    int ohU0 = CV_OH, ohU1 = 0, ohI0 = 0, ohI1 = CV_OH;
    int owU0 = CV_OW, owU1 = 0, owI0 = 0, owI1 = CV_OW;
    _Pragma("unroll") for (int r = 0; r < MWI; ++r) {
        const int k = min(k0 + r, BW_K - 1);
#if BW_ORDER
        const int k1 = k / CV_CG, kh = k1 / CV_KW;
        const int c = k - k1 * CV_CG, kw = k1 - kh * CV_KW;
#else
        const int k1 = k / CV_KW, c = k1 / CV_KH;
        const int kw = k - k1 * CV_KW, kh = k1 - c * CV_KH;
#endif
        dwi[r] = (c * CV_KH + kh) * CV_KW + kw;
        ioff[r] = kh * CV_DH - CV_PT;     /* ih = oh*SH + ioff */
        joff[r] = kw * CV_DW - CV_PL;     /* iw = ow*SW + joff */
        xoff[r] = (g * CV_CG + c) * BW_HW + ioff[r] * CV_W + joff[r];
        const int h0 = max(0, FLOOR_DIV(-ioff[r] + CV_SH - 1, CV_SH));
        const int h1 = min(CV_OH, FLOOR_DIV(CV_H - 1 - ioff[r], CV_SH) + 1);
        const int w0 = max(0, FLOOR_DIV(-joff[r] + CV_SW - 1, CV_SW));
        const int w1 = min(CV_OW, FLOOR_DIV(CV_W - 1 - joff[r], CV_SW) + 1);
        ohU0 = min(ohU0, h0); ohU1 = max(ohU1, h1); ohI0 = max(ohI0, h0); ohI1 = min(ohI1, h1);
        owU0 = min(owU0, w0); owU1 = max(owU1, w1); owI0 = max(owI0, w0); owI1 = min(owI1, w1);
    }

    realV acc[MWI][NWV];
    _Pragma("unroll") for (int r = 0; r < MWI; ++r)
    _Pragma("unroll") for (int v = 0; v < NWV; ++v) acc[r][v] = (realV)(0);

#define BW_GUARDED(ow_a, ow_b) do {                                                   \
        for (int ow = (ow_a); ow < (ow_b); ++ow) {                                    \
            realV dv[NWV];                                                            \
            const __global real *d_ = drow + ow * (CV_G * IG_OGP);                    \
            _Pragma("unroll") for (int v = 0; v < NWV; ++v) dv[v] = VLOADR(d_ + v * VW); \
            _Pragma("unroll") for (int r = 0; r < MWI; ++r) {                         \
                const int ih = oh * CV_SH + ioff[r], iw = ow * CV_SW + joff[r];       \
                const bool ok = ih >= 0 && ih < CV_H && iw >= 0 && iw < CV_W;         \
                const int xi = ok ? xoff[r] + oh * (CV_SH * CV_W) + ow * CV_SW : 0;   \
                const real av = LOAD(xn, xi) * (ok ? (real)1 : (real)0);              \
                _Pragma("unroll") for (int v = 0; v < NWV; ++v)                       \
                    acc[r][v] = fma((realV)(av), dv[v], acc[r][v]);                   \
            }                                                                         \
        } } while (0)

    const int row0 = s * BW_ROWS, row1 = min(CV_N * CV_OH, row0 + BW_ROWS);
    for (int n = row0 / CV_OH; n * CV_OH < row1; ++n) {
        const __global storage_t *xn = x + (long)n * CV_C * BW_HW;
        const __global real *dn = dyt + (long)n * (CV_OH * CV_OW) * (CV_G * IG_OGP)
                                  + g * IG_OGP + ob * NWI;
        const int oha = max(ohU0, row0 - n * CV_OH), ohb = min(ohU1, row1 - n * CV_OH);
        for (int oh = oha; oh < ohb; ++oh) {
            const __global real *drow = dn + (long)oh * CV_OW * (CV_G * IG_OGP);
            const bool hin = oh >= ohI0 && oh < ohI1 && owI0 < owI1;
            const int f0 = hin ? owI0 : owU1;
            const int f1 = hin ? owI1 : owU1;
            BW_GUARDED(owU0, f0);
            {
                int xo[MWI];
                _Pragma("unroll") for (int r = 0; r < MWI; ++r)
                    xo[r] = xoff[r] + oh * (CV_SH * CV_W);
                for (int ow = f0; ow < f1; ++ow) {
                    realV dv[NWV];
                    const __global real *d_ = drow + ow * (CV_G * IG_OGP);
                    _Pragma("unroll") for (int v = 0; v < NWV; ++v) dv[v] = VLOADR(d_ + v * VW);
                    _Pragma("unroll") for (int r = 0; r < MWI; ++r) {
                        const real av = LOAD(xn, xo[r] + ow * CV_SW);
                        _Pragma("unroll") for (int v = 0; v < NWV; ++v)
                            acc[r][v] = fma((realV)(av), dv[v], acc[r][v]);
                    }
                }
            }
            BW_GUARDED(f1, owU1);
        }
    }

    const int nrows = min(MWI, BW_K - k0);
    _Pragma("unroll") for (int v = 0; v < NWV; ++v) {
        const int o0 = ob * NWI + v * VW;
        _Pragma("unroll") for (int r = 0; r < MWI; ++r) {
            real t[VW];
            VSTORER(t, acc[r][v]);
            if (r < nrows) {
                for (int e = 0; e < VW; ++e)
                    if (o0 + e < CV_OG)
                        STORE_OUT(dw, (long)s * (CV_O * BW_K) + (long)(g * CV_OG + o0 + e) * BW_K + dwi[r], t[e]);
            }
        }
    }
}
#endif
#endif /* IG_BWD_W */
