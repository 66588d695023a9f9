/* conv/depthwise.cl — channel-vectorised direct kernels for depthwise convolutions
 * (groups == C, one input channel per group, channel multiplier OG = O / C >= 1).
 *
 * Layouts (PyTorch): x (N, C, H, W), w (O, 1, KH, KW), y (N, O, OH, OW), c(o) = o / OG:
 *   y[n,o,oh,ow] = sum_{kh,kw} x[n, c(o), oh*SH-PT+kh*DH, ow*SW-PL+kw*DW] * w[o,0,kh,kw]
 *   (taps outside x read zero; a negative bottom/right pad crops x).
 *
 * Every kernel works on whole rows: a work-item owns one output row (or a few) of
 * one channel of one sample and walks it in column tiles of DW_TW = DW_VW * DW_NCH
 * outputs, held as DW_NCH vector accumulators of DW_VW lanes. Each tap of a chunk
 * of DW_VW outputs is one unaligned vector load of the source row (the row is in
 * L1 after its first tap; two loads and an even-lane pick for stride 2, a gather
 * for larger strides); chunks that reach past a border instead shift the vector
 * at the row's start or end by a lane shuffle and zero the outside lanes, so no
 * load ever leaves the row. No plain scalar copy/fill loops: Intel's compiler
 * turns those into memcpy/memset calls (a call, spills and vzeroupper per row).
 *
 * Kernels:
 *   dw_fwd(x, w, y [, CONV_EPI_PARAMS])      global (ceil(OH/DW_ROWS), O, N)
 *       y; stores through CONV_EPILOGUE(v, idx) (idx = y's linear NCHW index).
 *   dw_bwd_data(dy, w, dx)                   global (ceil(H/DW_ROWS), C, N)
 *       dx as a gather: for the stride phase p = iw mod SW, the dx columns
 *       iw = p + t*SW form a dense 1-D conv over dy rows with the taps kw for
 *       which (p + PL - kw*DW) is a multiple of SW (no zero-stuffing); rows kh
 *       likewise only where (ih + PT - kh*DH) is a multiple of SH; sums over the
 *       OG output channels of the group.
 *   dw_bwd_weights_part(x, dy, part)         global (NRC, O, N), NRC = ceil(OH/DW_WROWS)
 *       part[(o*KH*KW + tap)*N*NRC + n*NRC + rc] = the tap's sum over the DW_WROWS
 *       output rows of chunk rc of sample n (lane sums in a fixed order).
 *   then partial_sum (partial_sum.cl, element-major: PS_LAYOUT=1) adds each (o, tap)'s
 *   N*NRC partials in index order into dw[o, 0, kh, kw].
 *   Deterministic, no atomics. `part` is a temporary of `real` (float for F16).
 *
 * Parameters (-D): ConvSpec.defines() (CV_*), FCONV_F32/F64/F16 (common.cl) and
 * the tunables below (the planner, fconv/conv/depthwise.py, sets them all):
 *   DW_VW     lanes per vector: 2, 4, 8 or 16 (16 for float/half, 8 for double,
 *             less for rows narrower than that)
 *   DW_NCH    vectors per column tile (tile = DW_VW*DW_NCH outputs)
 *   DW_SPLIT  accumulator sets (dw_fwd, dw_bwd_data): tap kw adds into set kw % DW_SPLIT,
 *             the sets summed at the end — more independent FMA chains for few vectors
 *   DW_ROWS   output rows per work-item (dw_fwd, dw_bwd_data)
 *   DW_WROWS  output rows per partial sum (dw_bwd_weights_part)
 *   DW_WKH_OUTER  1: dw_bwd_weights_part loops over kernel rows outermost (KW
 *             accumulators; for large kernels), 0: all KH*KW accumulators at once
 *   DW_ONLY   1, 2 or 3: build only the forward, backward-data or backward-weights
 *             kernels (a third of the build time); unset builds all
 */
#include "common.cl"

#ifndef DW_VW
#define DW_VW 16
#endif
#ifndef DW_NCH
#define DW_NCH 4
#endif
#ifndef DW_ROWS
#define DW_ROWS 1
#endif
#ifndef DW_WROWS
#define DW_WROWS 8
#endif
#ifndef DW_SPLIT
#define DW_SPLIT 1
#endif
#ifndef DW_WKH_OUTER
#define DW_WKH_OUTER 0
#endif

#define DW_TW (DW_VW * DW_NCH)
/* acc[0][ch] += acc[a][ch] for a = 1..DW_SPLIT-1 (taps kw accumulate into set kw % DW_SPLIT) */
#define DW_JOIN_SPLIT(acc) \
    _Pragma("unroll") for (int a_ = 1; a_ < DW_SPLIT; ++a_) \
        _Pragma("unroll") for (int c_ = 0; c_ < DW_NCH; ++c_) (acc)[0][c_] += (acc)[a_][c_]
#define DW_KT (CV_KH * CV_KW)

#define DW_CAT_(a, b) a##b
#define DW_CAT(a, b) DW_CAT_(a, b)
typedef DW_CAT(real, DW_VW) realv;
/* vectors from/to private `real` arrays */
#define PLOADV(p) DW_CAT(vload, DW_VW)(0, (p))
#define PSTOREV(v, p) DW_CAT(vstore, DW_VW)((v), 0, (p))
/* vectors from/to global storage (LOADN/STOREN expand DW_VW before pasting) */
#define DW_GLOADV_(n, p) LOADN(n, p, 0)
#define GLOADV(p) DW_GLOADV_(DW_VW, p)
#define DW_GSTOREV_(n, p, v) STOREN(n, p, 0, v)
#define GSTOREV(p, v) DW_GSTOREV_(DW_VW, p, v)

/* integer vectors with the lanes' width (select and shuffle masks), lane numbers */
typedef DW_CAT(REAL_INT, DW_VW) ivecv;
typedef DW_CAT(REAL_UINT, DW_VW) uvecv;
#define DW_AS_UVEC(v) DW_CAT(DW_CAT(as_, REAL_UINT), DW_VW)(v)
/* DW_LANES(F) = F(0), F(1), ..., F(DW_VW - 1): a vector built lane by lane, in registers */
#if DW_VW == 16
#define DW_LANES(F) F(0), F(1), F(2), F(3), F(4), F(5), F(6), F(7), \
                    F(8), F(9), F(10), F(11), F(12), F(13), F(14), F(15)
#elif DW_VW == 8
#define DW_LANES(F) F(0), F(1), F(2), F(3), F(4), F(5), F(6), F(7)
#elif DW_VW == 4
#define DW_LANES(F) F(0), F(1), F(2), F(3)
#else
#define DW_LANES(F) F(0), F(1)
#endif
#define DW_ID(l) l
#define DW_IOTA ((ivecv)(DW_LANES(DW_ID)))

/* floor(a / b) for b > 0 and any a */
#define DW_FLOOR_DIV(a, b) (((a) >= 0) ? (a) / (b) : -((-(a) + (b) - 1) / (b)))

#ifdef CONV_EPILOGUE
#define DW_HAS_EPILOGUE 1
#else
#define CONV_EPILOGUE(v, idx) (v)
#endif

/* row[g + l] for lanes l < DW_VW, zero where g + l is outside [0, len), for a
 * vector that is not wholly inside the row. No loads outside the row: the vector
 * at the row's start or end moved by a lane shuffle, or (rows narrower than a
 * vector) per-lane clamped loads. */
inline realv dw_load_edge(const __global storage_t *restrict row, const int g, const int len)
{
    const ivecv col = DW_IOTA + (ivecv)g;
    const ivecv inside = (col >= (ivecv)0) & (col < (ivecv)len);
    realv v;
    if (g >= len || g + DW_VW <= 0) {
        return (realv)0;
    } else if (len >= DW_VW && g < 0) {
        v = shuffle(GLOADV(row), DW_AS_UVEC(col));
    } else if (len >= DW_VW) {
        v = shuffle(GLOADV(row + len - DW_VW), DW_AS_UVEC(col - (ivecv)(len - DW_VW)));
    } else {
#define DW_NARROW(l) LOAD(row, clamp(g + (l), 0, len - 1))
        v = (realv)(DW_LANES(DW_NARROW));
#undef DW_NARROW
    }
    return select((realv)0, v, inside);
}

/* lanes l: row[g + l], zero outside [0, len) (one unaligned load inside the row) */
inline realv dw_vec1(const __global storage_t *restrict row, const int g, const int len)
{
    return (g >= 0 && g + DW_VW <= len) ? GLOADV(row + g) : dw_load_edge(row, g, len);
}

/* lanes l: row[g + l * CV_SW], zero outside [0, len) (the strided taps) */
inline realv dw_vecs(const __global storage_t *restrict row, const int g, const int len)
{
#if CV_SW == 1
    return dw_vec1(row, g, len);
#elif CV_SW == 2
    const uvecv evens = DW_AS_UVEC(DW_IOTA * (ivecv)2);
    if (g >= 0 && g + 2 * DW_VW <= len)
        return shuffle2(GLOADV(row + g), GLOADV(row + g + DW_VW), evens);
    return shuffle2(dw_vec1(row, g, len), dw_vec1(row, g + DW_VW, len), evens);
#else
    const ivecv col = DW_IOTA * (ivecv)CV_SW + (ivecv)g;
#define DW_STRIDED(l) LOAD(row, clamp(g + (l) * CV_SW, 0, len - 1))
    const realv v = (realv)(DW_LANES(DW_STRIDED));
#undef DW_STRIDED
    return select((realv)0, v, (col >= (ivecv)0) & (col < (ivecv)len));
#endif
}

/* the sum of v's lanes as a fixed pairwise tree (halves added lane-wise; through a
 * private array: Oclgrind's uninitialised-value checker crashes on .lo/.hi here) */
inline real dw_hsum(const realv v)
{
    real t[DW_VW];
    PSTOREV(v, t);
    #pragma unroll
    for (int h = DW_VW / 2; h >= 1; h /= 2)
        #pragma unroll
        for (int l = 0; l < h; ++l) t[l] += t[l + h];
    return t[0];
}

/* lanes [0, m) of v to dst[0, m) (m may be <= 0 or >= DW_VW) */
inline void dw_store_lanes(__global storage_t *restrict dst, const realv v, const int m)
{
    if (m >= DW_VW) {
        GSTOREV(dst, v);
    } else {
        real t[DW_VW];
        PSTOREV(v, t);
        #pragma unroll
        for (int l = 0; l < DW_VW; ++l)
            if (l < m) STORE(dst, l, t[l]);
    }
}

#if !defined(DW_ONLY) || DW_ONLY == 1
__kernel __attribute__((vec_type_hint(realv)))
void dw_fwd(__global const storage_t *restrict x,
            __global const storage_t *restrict w,
            __global storage_t *restrict y
#ifdef CONV_EPI_PARAMS
            , CONV_EPI_PARAMS
#endif
            )
{
    const int rb = get_global_id(0);
    const int o = get_global_id(1);
    const int n = get_global_id(2);
    const int c = o / CV_OG;
    const __global storage_t *xc = x + ((long)n * CV_C + c) * CV_H * CV_W;
    real wt[DW_KT];
    #pragma unroll
    for (int t = 0; t < DW_KT; ++t) wt[t] = LOAD(w, (long)o * DW_KT + t);
    const int oh_end = min(CV_OH, (rb + 1) * DW_ROWS);
    for (int oh = rb * DW_ROWS; oh < oh_end; ++oh) {
        /* taps inside x as loop bounds */
        const int kh0 = max(0, DW_FLOOR_DIV(CV_PT - oh * CV_SH + CV_DH - 1, CV_DH));
        const int kh1 = min(CV_KH, DW_FLOOR_DIV(CV_H - 1 + CV_PT - oh * CV_SH, CV_DH) + 1);
        const long ybase = (((long)n * CV_O + o) * CV_OH + oh) * CV_OW;
        for (int ow0 = 0; ow0 < CV_OW; ow0 += DW_TW) {
            realv acc[DW_SPLIT][DW_NCH];
            #pragma unroll
            for (int a = 0; a < DW_SPLIT; ++a)
                #pragma unroll
                for (int ch = 0; ch < DW_NCH; ++ch) acc[a][ch] = (realv)0;
            const int s = ow0 * CV_SW - CV_PL;
            for (int kh = kh0; kh < kh1; ++kh) {
                const __global storage_t *row = xc + (long)(oh * CV_SH - CV_PT + kh * CV_DH) * CV_W;
                #pragma unroll
                for (int kw = 0; kw < CV_KW; ++kw) {
                    const realv wv = (realv)wt[kh * CV_KW + kw];
                    #pragma unroll
                    for (int ch = 0; ch < DW_NCH; ++ch)
                        acc[kw % DW_SPLIT][ch] +=
                            dw_vecs(row, s + ch * DW_VW * CV_SW + kw * CV_DW, CV_W) * wv;
                }
            }
            DW_JOIN_SPLIT(acc);
            #pragma unroll
            for (int ch = 0; ch < DW_NCH; ++ch) {
                const int ow = ow0 + ch * DW_VW;
#ifdef DW_HAS_EPILOGUE
                real t[DW_VW];
                PSTOREV(acc[0][ch], t);
                #pragma unroll
                for (int l = 0; l < DW_VW; ++l)
                    if (ow + l < CV_OW)
                        STORE(y, ybase + ow + l, CONV_EPILOGUE(t[l], ybase + ow + l));
#else
                dw_store_lanes(y + ybase + ow, acc[0][ch], CV_OW - ow);
#endif
            }
        }
    }
}

#endif

#if !defined(DW_ONLY) || DW_ONLY == 2
__kernel __attribute__((vec_type_hint(realv)))
void dw_bwd_data(__global const storage_t *restrict dy,
                 __global const storage_t *restrict w,
                 __global storage_t *restrict dx)
{
    const int rb = get_global_id(0);
    const int c = get_global_id(1);
    const int n = get_global_id(2);
    const int ih_end = min(CV_H, (rb + 1) * DW_ROWS);
    for (int ih = rb * DW_ROWS; ih < ih_end; ++ih) {
        __global storage_t *dxr = dx + (((long)n * CV_C + c) * CV_H + ih) * CV_W;
        #pragma unroll
        for (int p = 0; p < CV_SW; ++p) {
            const int tn = (CV_W - p + CV_SW - 1) / CV_SW;  /* dx columns p, p+SW, ... */
            for (int t0 = 0; t0 < tn; t0 += DW_TW) {
                realv acc[DW_SPLIT][DW_NCH];
                #pragma unroll
                for (int a = 0; a < DW_SPLIT; ++a)
                    #pragma unroll
                    for (int ch = 0; ch < DW_NCH; ++ch) acc[a][ch] = (realv)0;
                for (int j = 0; j < CV_OG; ++j) {
                    const int o = c * CV_OG + j;
                    const __global storage_t *dyo = dy + ((long)n * CV_O + o) * CV_OH * CV_OW;
                    const __global storage_t *wo = w + (long)o * DW_KT;
                    for (int kh = 0; kh < CV_KH; ++kh) {
                        const int th = ih + CV_PT - kh * CV_DH;   /* = oh * SH */
                        const int oh = th / CV_SH;
                        if (th >= 0 && th == oh * CV_SH && oh < CV_OH) {
                            const __global storage_t *row = dyo + (long)oh * CV_OW;
                            #pragma unroll
                            for (int kw = 0; kw < CV_KW; ++kw) {
                                const int q = p + CV_PL - kw * CV_DW;
                                const int e = DW_FLOOR_DIV(q, CV_SW);
                                if (q == e * CV_SW) {
                                    const realv wv = (realv)LOAD(wo, kh * CV_KW + kw);
                                    #pragma unroll
                                    for (int ch = 0; ch < DW_NCH; ++ch)
                                        acc[kw % DW_SPLIT][ch] +=
                                            dw_vec1(row, t0 + ch * DW_VW + e, CV_OW) * wv;
                                }
                            }
                        }
                    }
                }
                DW_JOIN_SPLIT(acc);
                #pragma unroll
                for (int ch = 0; ch < DW_NCH; ++ch) {
                    const int t = t0 + ch * DW_VW;
#if CV_SW == 1
                    dw_store_lanes(dxr + t, acc[0][ch], CV_W - t);
#else
                    real v[DW_VW];
                    PSTOREV(acc[0][ch], v);
                    #pragma unroll
                    for (int l = 0; l < DW_VW; ++l)
                        if (t + l < tn) STORE(dxr, p + (t + l) * CV_SW, v[l]);
#endif
                }
            }
        }
    }
}

#endif

#if !defined(DW_ONLY) || DW_ONLY == 3
/* backward-weights: x columns no valid output reads count as zero (lanes past OW
 * then multiply dy's zeros by zeros, never by values outside the convolution) */
#define DW_X_USED min(CV_W, (CV_OW - 1) * CV_SW - CV_PL + (CV_KW - 1) * CV_DW + 1)
#define DW_NRC ((CV_OH + DW_WROWS - 1) / DW_WROWS)

__kernel __attribute__((vec_type_hint(realv)))
void dw_bwd_weights_part(__global const storage_t *restrict x,
                         __global const storage_t *restrict dy,
                         __global real *restrict part)
{
    const int rc = get_global_id(0);
    const int o = get_global_id(1);
    const int n = get_global_id(2);
    const int c = o / CV_OG;
    const __global storage_t *xc = x + ((long)n * CV_C + c) * CV_H * CV_W;
    const __global storage_t *dyo = dy + ((long)n * CV_O + o) * CV_OH * CV_OW;
#if DW_WKH_OUTER
    const long np = (long)CV_N * DW_NRC;
    const int oh_beg = rc * DW_WROWS, oh_end = min(CV_OH, (rc + 1) * DW_WROWS);
    /* one kernel row at a time: KW accumulators in registers; the chunk's dy and x
     * rows stay in cache across the KH passes */
    for (int kh = 0; kh < CV_KH; ++kh) {
        /* the output rows whose tap row kh lands inside x, as loop bounds */
        const int oh0 = max(oh_beg, DW_FLOOR_DIV(CV_PT - kh * CV_DH + CV_SH - 1, CV_SH));
        const int oh1 = min(oh_end, DW_FLOOR_DIV(CV_H - 1 + CV_PT - kh * CV_DH, CV_SH) + 1);
        realv acc[CV_KW];
        #pragma unroll
        for (int kw = 0; kw < CV_KW; ++kw) acc[kw] = (realv)0;
        for (int oh = oh0; oh < oh1; ++oh) {
            const __global storage_t *row = xc + (long)(oh * CV_SH - CV_PT + kh * CV_DH) * CV_W;
            for (int ow0 = 0; ow0 < CV_OW; ow0 += DW_TW) {
                const int s = ow0 * CV_SW - CV_PL;
                #pragma unroll
                for (int ch = 0; ch < DW_NCH; ++ch) {
                    const realv d = dw_vec1(dyo + (long)oh * CV_OW, ow0 + ch * DW_VW, CV_OW);
                    #pragma unroll
                    for (int kw = 0; kw < CV_KW; ++kw)
                        acc[kw] += d * dw_vecs(row, s + ch * DW_VW * CV_SW + kw * CV_DW, DW_X_USED);
                }
            }
        }
        #pragma unroll
        for (int kw = 0; kw < CV_KW; ++kw)
            part[((long)o * DW_KT + kh * CV_KW + kw) * np + (long)n * DW_NRC + rc] = dw_hsum(acc[kw]);
    }
#else
    /* every tap's accumulator in registers; dy loaded once per row */
    realv acc[DW_KT];
    #pragma unroll
    for (int t = 0; t < DW_KT; ++t) acc[t] = (realv)0;
    const int oh_end = min(CV_OH, (rc + 1) * DW_WROWS);
    for (int oh = rc * DW_WROWS; oh < oh_end; ++oh) {
        for (int ow0 = 0; ow0 < CV_OW; ow0 += DW_TW) {
            realv d[DW_NCH];
            #pragma unroll
            for (int ch = 0; ch < DW_NCH; ++ch)
                d[ch] = dw_vec1(dyo + (long)oh * CV_OW, ow0 + ch * DW_VW, CV_OW);
            const int s = ow0 * CV_SW - CV_PL;
            #pragma unroll
            for (int kh = 0; kh < CV_KH; ++kh) {
                const int ih = oh * CV_SH - CV_PT + kh * CV_DH;
                if (ih >= 0 && ih < CV_H) {
                    const __global storage_t *row = xc + (long)ih * CV_W;
                    #pragma unroll
                    for (int kw = 0; kw < CV_KW; ++kw) {
                        #pragma unroll
                        for (int ch = 0; ch < DW_NCH; ++ch)
                            acc[kh * CV_KW + kw] += d[ch] *
                                dw_vecs(row, s + ch * DW_VW * CV_SW + kw * CV_DW, DW_X_USED);
                    }
                }
            }
        }
    }
    const long np = (long)CV_N * DW_NRC;
    #pragma unroll
    for (int t = 0; t < DW_KT; ++t)
        part[((long)o * DW_KT + t) * np + (long)n * DW_NRC + rc] = dw_hsum(acc[t]);
#endif
}
#endif
