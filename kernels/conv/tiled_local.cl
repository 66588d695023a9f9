/* conv/tiled_local.cl — direct 2-D convolution with local-memory tiles (the
 * GPU-style strategy `tiled_local`): every work-group stages the input patch
 * (with its halo) and a slice of the filters in local memory, one chunk of
 * reduction channels at a time, and each work-item accumulates a register
 * block of outputs from there.
 *
 * Layouts (PyTorch): x (N, C, H, W), w (O, C/G, KH, KW), y (N, O, OH, OW);
 *   y[n,o,oh,ow] = sum_{c<CG,kh,kw} x[n, g*CG+c, oh*SH-PT+kh*DH, ow*SW-PL+kw*DW] * w[o,c,kh,kw],
 *   g = o / OG; taps outside x read zero. Shape constants are the CV_* options
 *   of ConvSpec.defines() (CV_N CV_C CV_H CV_W CV_O CV_KH CV_KW CV_SH CV_SW CV_PT
 *   CV_PL CV_DH CV_DW CV_G CV_CG CV_OG CV_OH CV_OW), the dtype one of
 *   FCONV_F32 / FCONV_F64 / FCONV_F16 (common.cl; local tiles and
 *   accumulators are `real`, so float16 accumulates in float).
 *
 * Kernels (each selected by -D TL_FWD / TL_BWD_DATA / TL_BWD_WEIGHTS; required
 * local size (TL_NP, TL_NTO, 1), resp. (TL_NTK, TL_NTO, 1)):
 *   conv2d_tiled_fwd(x, w, y [, CONV_EPI_PARAMS])
 *       a work-group: output channels [o0, o0+TL_TO) of group g, output rows
 *       [oh0, oh0+TL_TH) x cols [ow0, ow0+TL_TW) of image n. Work-item (p, q):
 *       channels o0 + q*TL_RO + k (k < TL_RO), rows oh0 + ty + i*TL_NTY
 *       (i < TL_RH), cols ow0 + (tx + j*TL_NTX)*TL_VW + l (j < TL_RW, l < TL_VW),
 *       tx = p % TL_NTX, ty = p / TL_NTX (neighbouring work-items take
 *       neighbouring columns: conflict-free local reads, coalesced stores).
 *       Input channels in chunks of TL_CC: x patch (TL_CC x FW_PH x FW_PW,
 *       halo by stride/dilation, zero padding) and w slice (TL_CC*KH*KW rows
 *       of TL_TO, pitch TL_WS) in local memory, a barrier pair per chunk.
 *       NDRange (TL_NP * ceil(OH/TL_TH) * ceil(OW/TL_TW), TL_NTO * G * ceil(OG/TL_TO), N).
 *       Stores y[idx] = CONV_EPILOGUE(acc, idx) (idx: y's linear NCHW index).
 *   conv2d_tiled_bwd_data(dy, w, dx)
 *       dx = the gather (transposed) convolution, split into SH*SW phases:
 *       the dx positions ih = rh + SH*i, iw = rw + SW*j of one phase (rh, rw)
 *       receive the taps kh = kh0 + t*TL_TSH (kh*DH = rh+PT mod SH) from dy row
 *       oh = i + B - t*TL_DDH: a dense stride-1 correlation over a dy patch —
 *       no zero-stuffing, no atomics, no weight copy. A work-group: dx
 *       channels [c0, c0+TL_TO) of group g, a TL_TH x TL_TW tile of one
 *       phase's sub-grid of image n; dy channels in chunks of TL_CC.
 *       NDRange (TL_NP * SH*SW * ceil(ceil(H/SH)/TL_TH) * ceil(ceil(W/SW)/TL_TW),
 *                TL_NTO * G * ceil(CG/TL_TO), N).
 *   conv2d_tiled_bwd_weights(x, dy, out)
 *       dw (O, CG, KH, KW) as a reduction over N*OH*OW: a work-group owns
 *       output channels [o0, o0+TL_TO) x input channels [c0, c0+TL_TC) (all
 *       taps: k = c*KH*KW + kh*KW + kw < TL_TC*KH*KW) of group g and reduces
 *       over its split s of the pixel chunks (TL_TR rows x TL_TP cols of one
 *       image; chunks [s*R/S, (s+1)*R/S) of R = N * ceil(OH/TL_TR) * ceil(OW/TL_TP)),
 *       staging dy (chunk x TL_TO) and the x patch (TL_TC x BW_XR x BW_XC) in
 *       local memory. Work-item (p, q): taps k = p + j*TL_NTK (j < TL_RK),
 *       channels o0 + q*TL_RO + i; with TL_VW > 1 its accumulators are
 *       vectors over TL_VW pixels, summed at the end. With TL_SPLIT > 1, `out`
 *       is a `real` buffer (common.cl's -D FCONV_OUT_REAL) of TL_SPLIT partial
 *       dw's (split-major) that partial_sum (partial_sum.cl) adds in a fixed
 *       order; else `out` is dw.
 *       Deterministic (no atomics).
 *       NDRange (TL_NTK * ceil(OG/TL_TO), TL_NTO * G * ceil(CG/TL_TC), TL_SPLIT).
 *
 * Tunables (-D from fconv/conv/tiled_local.py, chosen from the device):
 *   TL_TO, TL_RO    channels of the work-group tile / of a work-item (TL_NTO = TL_TO/TL_RO)
 *   TL_TH, TL_RH    rows   (TL_NTY = TL_TH/TL_RH)                [fwd, bwd_data]
 *   TL_TW, TL_RW    cols   (TL_NTX = TL_TW/(TL_RW*TL_VW))        [fwd, bwd_data]
 *   TL_VW           1 on GPUs (scalar work-items); 16 (8 for double) on CPUs:
 *                   explicit vectors along the columns (pixels for bwd_weights),
 *                   vec_type_hint off-switching the implicit vectoriser
 *   TL_ROWCOPY      staging by whole rows per work-item (default TL_VW > 1; CPUs:
 *                   element-wise staging with its div/mod was 4x slower there),
 *                   else element per work-item (coalesced; GPUs)
 *   TL_CC           reduction-channel chunk staged per barrier pair [fwd, bwd_data]
 *   TL_XPAD, TL_WPAD  extra local row pitch of the input / filter (dy) tiles; WPAD=4
 *                   keeps rows 16-byte aligned so TL_RO % 4 == 0 loads 128 bits
 *   TL_TSH, TL_TSW, TL_DDH, TL_DDW, TL_MTH, TL_MTW   bwd_data phase geometry:
 *                   SH/gcd(SH,DH), DH/gcd(SH,DH), ceil(KH/TL_TSH) (the same for W)
 *   TL_TC, TL_RK, TL_NTK, TL_TR, TL_TP, TL_SPLIT   bwd_weights
 *
 * Note: remainders are written x - (x/d)*d, never `%` beside a `/` of the same
 * operands: LLVM then inserts a `freeze` that Oclgrind cannot execute, and with
 * it Intel's CPU compiler crashed or dropped stores (found by hypothesis runs).
 */
#include "common.cl"

#ifndef CONV_EPILOGUE
#define CONV_EPILOGUE(v, idx) (v)
#endif

#ifndef TL_TO
#define TL_TO 16
#endif
#ifndef TL_RO
#define TL_RO 4
#endif
#ifndef TL_TH
#define TL_TH 4
#endif
#ifndef TL_RH
#define TL_RH 1
#endif
#ifndef TL_TW
#define TL_TW 16
#endif
#ifndef TL_RW
#define TL_RW 1
#endif
#ifndef TL_CC
#define TL_CC 4
#endif
#ifndef TL_XPAD
#define TL_XPAD 0
#endif
#ifndef TL_WPAD
#define TL_WPAD 0
#endif

#ifndef TL_VW
#define TL_VW 1
#endif

#define TL_NTO (TL_TO / TL_RO)
#define TL_NTX (TL_TW / (TL_RW * TL_VW))
#define TL_NTY (TL_TH / TL_RH)
#define TL_WS (TL_TO + TL_WPAD)          /* local pitch of one filter row (TL_TO channels) */
#define CV_KK (CV_KH * CV_KW)

/* TL_VW > 1 (CPUs): each work-item holds vectors of TL_VW consecutive output
 * columns (explicit vectors; vec_type_hint switches the implicit
 * cross-work-item vectoriser off). TL_VW == 1 (GPUs): plain scalars. */
#define TL_CAT_(a, b) a##b
#define TL_CAT(a, b) TL_CAT_(a, b)
#if TL_VW == 1
typedef real vreal;
#define TL_HINT
#define VLOADL(p) (*(p))
#define VLOADL_S(p, s) (*(p))
#define VSTORE_PRIV(v, t) ((t)[0] = (v))
#else
typedef TL_CAT(real, TL_VW) vreal;
#define TL_HINT __attribute__((vec_type_hint(vreal)))
#define VLOADL(p) TL_CAT(vload, TL_VW)(0, p)
#define VSTORE_PRIV(v, t) TL_CAT(vstore, TL_VW)((v), 0, (t))
/* TL_VW reals at p, p+s, p+2s, ... of local memory */
#define VLOADL_S(p, s) ((s) == 1 ? VLOADL(p) : (s) == 2 \
        ? (vreal)(TL_CAT(vload, TL_VW)(0, p).even, TL_CAT(vload, TL_VW)(1, p).even) \
        : vload_strided(p, s))
inline vreal vload_strided(const __local real *p, const int s)
{
    real t[TL_VW];
    for (int l = 0; l < TL_VW; ++l) t[l] = p[l * s];
    return TL_CAT(vload, TL_VW)(0, t);
}
#endif

#ifndef TL_ROWCOPY
#define TL_ROWCOPY (TL_VW > 1)
#endif

/* Stage a zero-padded patch: dst[(c*PH + r)*PITCH + col] = src[c][row0 + r][col0 + col]
 * for c < CC (channels >= nc read zero), r < PH, col < PW; src is (.., H, W).
 * TL_ROWCOPY (CPUs): a work-item copies whole rows (no div/mod per element, bounds
 * per row); else consecutive work-items take consecutive elements (coalesced). */
#if TL_ROWCOPY
#define STAGE_PATCH(dst, src, nc, H_, W_, row0, col0, CC_, PH_, PW_, PITCH) do {           \
    for (int rr_ = lid; rr_ < (CC_) * (PH_); rr_ += TL_LS) {                               \
        const int c_ = rr_ / (PH_), ih_ = (row0) + rr_ - c_ * (PH_);                      \
        __local real *d_ = (dst) + (c_ * (PH_) + rr_ - c_ * (PH_)) * (PITCH);             \
        const int ok_ = c_ < (nc) && ih_ >= 0 && ih_ < (H_);                              \
        const int lo_ = ok_ ? clamp(-(col0), 0, (PW_)) : (PW_);                           \
        const int hi_ = ok_ ? clamp((W_) - (col0), lo_, (PW_)) : (PW_);                   \
        const __global storage_t *s_ = (src) + ((long)c_ * (H_) + (ok_ ? ih_ : 0)) * (W_) \
                                       + (col0);                                          \
        for (int q_ = 0; q_ < lo_; ++q_) d_[q_] = (real)0;                                \
        for (int q_ = lo_; q_ < hi_; ++q_) d_[q_] = LOAD(s_, q_);                         \
        for (int q_ = hi_; q_ < (PW_); ++q_) d_[q_] = (real)0;                            \
    } } while (0)
#else
#define STAGE_PATCH(dst, src, nc, H_, W_, row0, col0, CC_, PH_, PW_, PITCH) do {           \
    for (int e_ = lid; e_ < (CC_) * (PH_) * (PW_); e_ += TL_LS) {                          \
        const int c_ = e_ / ((PH_) * (PW_));                                              \
        const int r_ = e_ - c_ * ((PH_) * (PW_));                                         \
        const int ph_ = r_ / (PW_), pw_ = r_ - ph_ * (PW_);                      \
        const int ih_ = (row0) + ph_, iw_ = (col0) + pw_;                                 \
        real v_ = (real)0;                                                                \
        if (c_ < (nc) && ih_ >= 0 && ih_ < (H_) && iw_ >= 0 && iw_ < (W_))                \
            v_ = LOAD(src, ((long)c_ * (H_) + ih_) * (W_) + iw_);                          \
        (dst)[(c_ * (PH_) + ph_) * (PITCH) + pw_] = v_;                                   \
    } } while (0)
#endif

/* dst[0..TL_RO) = ptr[0..TL_RO) from local memory; ptr is 4-real aligned when
 * TL_RO and the pitch TL_WS are multiples of 4 (then 128-bit loads on GPUs). */
#if TL_RO % 4 == 0 && TL_WS % 4 == 0
#define LOAD_RO(dst, ptr) do {                                                    \
    _Pragma("unroll") for (int k4_ = 0; k4_ < TL_RO / 4; ++k4_) {                \
        const real4 v4_ = ((const __local real4 *)(ptr))[k4_];                    \
        (dst)[4 * k4_] = v4_.s0; (dst)[4 * k4_ + 1] = v4_.s1;                     \
        (dst)[4 * k4_ + 2] = v4_.s2; (dst)[4 * k4_ + 3] = v4_.s3;                 \
    } } while (0)
#else
#define LOAD_RO(dst, ptr) do {                                                    \
    _Pragma("unroll") for (int k_ = 0; k_ < TL_RO; ++k_) (dst)[k_] = (ptr)[k_];  \
    } while (0)
#endif
#define TL_ALIGNED __attribute__((aligned(4 * sizeof(real))))

/* ------------------------------------------------------------------ forward */
#ifdef TL_FWD
#define TL_NP (TL_NTX * TL_NTY)
#define TL_LS (TL_NP * TL_NTO)
#define FW_PH ((TL_TH - 1) * CV_SH + (CV_KH - 1) * CV_DH + 1)
#define FW_PW ((TL_TW - 1) * CV_SW + (CV_KW - 1) * CV_DW + 1)
#define FW_PWP (FW_PW + TL_XPAD)
#define FW_TILES_W CEIL_DIV(CV_OW, TL_TW)
#define FW_OBLK CEIL_DIV(CV_OG, TL_TO)

__kernel __attribute__((reqd_work_group_size(TL_NP, TL_NTO, 1))) TL_HINT
void conv2d_tiled_fwd(__global const storage_t *restrict x,
                      __global const storage_t *restrict w,
                      __global storage_t *restrict y
#ifdef CONV_EPI_PARAMS
                      , CONV_EPI_PARAMS
#endif
                      )
{
    __local real xl[TL_CC * FW_PH * FW_PWP];
    __local real wl[TL_CC * CV_KK * TL_WS] TL_ALIGNED;

    /* remainders are written x - (x/d)*d throughout: LLVM turns `/` and `%` pairs into a
     * `freeze` that Oclgrind cannot run */
    const int p = get_local_id(0), q = get_local_id(1);
    const int lid = q * TL_NP + p;
    const int tile = get_group_id(0), gb = get_group_id(1), n = get_group_id(2);
    const int th_ = tile / FW_TILES_W, g = gb / FW_OBLK, ty = p / TL_NTX;
    const int oh0 = th_ * TL_TH, ow0 = (tile - th_ * FW_TILES_W) * TL_TW;
    const int o0 = (gb - g * FW_OBLK) * TL_TO;
    const int tx = p - ty * TL_NTX;
    const int ih0 = oh0 * CV_SH - CV_PT, iw0 = ow0 * CV_SW - CV_PL;

    const __global storage_t *xg = x + ((long)n * CV_C + (long)g * CV_CG) * CV_H * CV_W;
    const __global storage_t *wg = w + (long)(g * CV_OG + o0) * CV_CG * CV_KK;

    vreal acc[TL_RO][TL_RH][TL_RW];
#pragma unroll
    for (int k = 0; k < TL_RO; ++k)
#pragma unroll
        for (int i = 0; i < TL_RH; ++i)
#pragma unroll
            for (int j = 0; j < TL_RW; ++j) acc[k][i][j] = (vreal)0;

    for (int c0 = 0; c0 < CV_CG; c0 += TL_CC) {
        /* input patch: channels c0.., rows ih0.., cols iw0.. (zero outside x) */
        STAGE_PATCH(xl, xg + (long)c0 * CV_H * CV_W, CV_CG - c0, CV_H, CV_W, ih0, iw0,
                    TL_CC, FW_PH, FW_PW, FW_PWP);
        /* filters: wl[(c*KK + kk) * TL_WS + o] = w[o0+o, c0+c, kk] (zero outside) */
#if TL_ROWCOPY
        for (int o = lid; o < TL_TO; o += TL_LS) {
            const int m = (o0 + o < CV_OG) ? min(TL_CC, CV_CG - c0) * CV_KK : 0;
            const __global storage_t *src = wg + (long)o * CV_CG * CV_KK + c0 * CV_KK;
            for (int r = 0; r < m; ++r) wl[r * TL_WS + o] = LOAD(src, r);
            for (int r = m; r < TL_CC * CV_KK; ++r) wl[r * TL_WS + o] = (real)0;
        }
#else
        for (int e = lid; e < TL_TO * TL_CC * CV_KK; e += TL_LS) {
            const int o = e / (TL_CC * CV_KK);
            const int r = e - o * (TL_CC * CV_KK);
            real v = (real)0;
            if (o0 + o < CV_OG && c0 + r / CV_KK < CV_CG)
                v = LOAD(wg, (long)o * CV_CG * CV_KK + c0 * CV_KK + r);
            wl[r * TL_WS + o] = v;
        }
#endif
        barrier(CLK_LOCAL_MEM_FENCE);

        for (int c = 0; c < TL_CC; ++c) {
            for (int kh = 0; kh < CV_KH; ++kh) {
                const __local real *xr = xl + (c * FW_PH + ty * CV_SH + kh * CV_DH) * FW_PWP
                                            + tx * TL_VW * CV_SW;
                const __local real *wr = wl + (c * CV_KK + kh * CV_KW) * TL_WS + q * TL_RO;
                for (int kw = 0; kw < CV_KW; ++kw) {
                    real wv[TL_RO];
                    vreal xv[TL_RH][TL_RW];
                    LOAD_RO(wv, wr + kw * TL_WS);
#pragma unroll
                    for (int i = 0; i < TL_RH; ++i)
#pragma unroll
                        for (int j = 0; j < TL_RW; ++j)
                            xv[i][j] = VLOADL_S(xr + i * TL_NTY * CV_SH * FW_PWP
                                                + j * TL_NTX * TL_VW * CV_SW + kw * CV_DW, CV_SW);
#pragma unroll
                    for (int k = 0; k < TL_RO; ++k)
#pragma unroll
                        for (int i = 0; i < TL_RH; ++i)
#pragma unroll
                            for (int j = 0; j < TL_RW; ++j)
                                acc[k][i][j] = fma((vreal)wv[k], xv[i][j], acc[k][i][j]);
                }
            }
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }

#pragma unroll
    for (int k = 0; k < TL_RO; ++k) {
        const int o = o0 + q * TL_RO + k;
#pragma unroll
        for (int i = 0; i < TL_RH; ++i) {
            const int oh = oh0 + ty + i * TL_NTY;
#pragma unroll
            for (int j = 0; j < TL_RW; ++j) {
                const int owj = ow0 + (tx + j * TL_NTX) * TL_VW;
                real t[TL_VW];
                VSTORE_PRIV(acc[k][i][j], t);
                for (int l = 0; l < TL_VW; ++l) {
                    const int ow = owj + l;
                    if (o < CV_OG && oh < CV_OH && ow < CV_OW) {
                        const long idx = (((long)n * CV_O + g * CV_OG + o) * CV_OH + oh) * CV_OW + ow;
                        STORE(y, idx, CONV_EPILOGUE(t[l], idx));
                    }
                }
            }
        }
    }
}
#endif /* TL_FWD */

/* ------------------------------------------------------------ backward data */
#ifdef TL_BWD_DATA
#ifndef TL_TSH
#define TL_TSH CV_SH
#endif
#ifndef TL_TSW
#define TL_TSW CV_SW
#endif
#ifndef TL_DDH
#define TL_DDH CV_DH
#endif
#ifndef TL_DDW
#define TL_DDW CV_DW
#endif
#ifndef TL_MTH
#define TL_MTH CEIL_DIV(CV_KH, TL_TSH)
#endif
#ifndef TL_MTW
#define TL_MTW CEIL_DIV(CV_KW, TL_TSW)
#endif
#define TL_NP (TL_NTX * TL_NTY)
#define TL_LS (TL_NP * TL_NTO)
#define BD_HS CEIL_DIV(CV_H, CV_SH)             /* rows of one phase's sub-grid (at most) */
#define BD_WS CEIL_DIV(CV_W, CV_SW)
#define BD_TILES_H CEIL_DIV(BD_HS, TL_TH)
#define BD_TILES_W CEIL_DIV(BD_WS, TL_TW)
#define BD_PH (TL_TH + (TL_MTH - 1) * TL_DDH)   /* dy patch rows (largest phase) */
#define BD_PW (TL_TW + (TL_MTW - 1) * TL_DDW)
#define BD_PWP (BD_PW + TL_XPAD)
#define BD_MT (TL_MTH * TL_MTW)
#define BD_CBLK CEIL_DIV(CV_CG, TL_TO)

__kernel __attribute__((reqd_work_group_size(TL_NP, TL_NTO, 1))) TL_HINT
void conv2d_tiled_bwd_data(__global const storage_t *restrict dy,
                           __global const storage_t *restrict w,
                           __global storage_t *restrict dx)
{
    __local real xl[TL_CC * BD_PH * BD_PWP];
    __local real wl[TL_CC * BD_MT * TL_WS] TL_ALIGNED;

    const int p = get_local_id(0), q = get_local_id(1);   /* x - (x/d)*d: see conv2d_tiled_fwd */
    const int lid = q * TL_NP + p;
    const int tile = get_group_id(0), gb = get_group_id(1), n = get_group_id(2);
    const int t1 = tile / BD_TILES_W, tw_ = tile - t1 * BD_TILES_W;
    const int t2 = t1 / BD_TILES_H, th_ = t1 - t2 * BD_TILES_H;
    const int rh = t2 / CV_SW, rw = t2 - rh * CV_SW;        /* the phase */
    const int i0 = th_ * TL_TH, j0 = tw_ * TL_TW;
    const int g = gb / BD_CBLK, c0 = (gb - g * BD_CBLK) * TL_TO;
    const int ty = p / TL_NTX, tx = p - ty * TL_NTX;

    /* taps of this phase: kh = kh0 + t*TL_TSH (t < nth) reach dy row i + bh - t*TL_DDH */
    int kh0 = CV_KH, kw0 = CV_KW;
    for (int k = TL_TSH - 1; k >= 0; --k)
        if ((rh + CV_PT - k * CV_DH) % CV_SH == 0) kh0 = k;
    for (int k = TL_TSW - 1; k >= 0; --k)
        if ((rw + CV_PL - k * CV_DW) % CV_SW == 0) kw0 = k;
    const int nth = kh0 < CV_KH ? (CV_KH - 1 - kh0) / TL_TSH + 1 : 0;
    const int ntw = kw0 < CV_KW ? (CV_KW - 1 - kw0) / TL_TSW + 1 : 0;
    const int bh = (rh + CV_PT - kh0 * CV_DH) / CV_SH;     /* exact */
    const int bw = (rw + CV_PL - kw0 * CV_DW) / CV_SW;
    const int oh_org = i0 + bh - (nth - 1) * TL_DDH;        /* dy row of patch row 0 */
    const int ow_org = j0 + bw - (ntw - 1) * TL_DDW;

    vreal acc[TL_RO][TL_RH][TL_RW];
#pragma unroll
    for (int k = 0; k < TL_RO; ++k)
#pragma unroll
        for (int i = 0; i < TL_RH; ++i)
#pragma unroll
            for (int j = 0; j < TL_RW; ++j) acc[k][i][j] = (vreal)0;

    const __global storage_t *dyg = dy + ((long)n * CV_O + (long)g * CV_OG) * CV_OH * CV_OW;
    if (nth > 0 && ntw > 0) {   /* uniform over the work-group */
        for (int o0 = 0; o0 < CV_OG; o0 += TL_CC) {
            STAGE_PATCH(xl, dyg + (long)o0 * CV_OH * CV_OW, CV_OG - o0, CV_OH, CV_OW,
                        oh_org, ow_org, TL_CC, BD_PH, BD_PW, BD_PWP);
            /* wl[((o*MTH + t)*MTW + u) * TL_WS + c] = w[g*OG+o0+o, c0+c, kh0+t*TSH, kw0+u*TSW] */
#if TL_ROWCOPY
            for (int e = lid; e < TL_CC * TL_TO; e += TL_LS) {
                const int o = e / TL_TO, c = e - o * TL_TO;
                const int ok = o0 + o < CV_OG && c0 + c < CV_CG;
                const __global storage_t *src =
                    w + (ok ? (((long)g * CV_OG + o0 + o) * CV_CG + c0 + c) * CV_KK : 0);
                for (int t = 0; t < TL_MTH; ++t)
                    for (int u = 0; u < TL_MTW; ++u)
                        wl[((o * TL_MTH + t) * TL_MTW + u) * TL_WS + c] =
                            (ok && t < nth && u < ntw)
                            ? LOAD(src, (kh0 + t * TL_TSH) * CV_KW + kw0 + u * TL_TSW) : (real)0;
            }
#else
            for (int e = lid; e < TL_CC * BD_MT * TL_TO; e += TL_LS) {
                const int r = e / TL_TO, c = e - r * TL_TO;   /* r = (o*MTH + t)*MTW + u */
                const int r2 = r / TL_MTW, u = r - r2 * TL_MTW;
                const int o = r2 / TL_MTH, t = r2 - o * TL_MTH;
                real v = (real)0;
                if (t < nth && u < ntw && o0 + o < CV_OG && c0 + c < CV_CG)
                    v = LOAD(w, ((((long)g * CV_OG + o0 + o) * CV_CG + c0 + c) * CV_KH
                                 + kh0 + t * TL_TSH) * CV_KW + kw0 + u * TL_TSW);
                wl[r * TL_WS + c] = v;
            }
#endif
            barrier(CLK_LOCAL_MEM_FENCE);

            for (int c = 0; c < TL_CC; ++c) {
                for (int t = 0; t < nth; ++t) {
                    const __local real *xr = xl + (c * BD_PH + ty + (nth - 1 - t) * TL_DDH) * BD_PWP
                                                + tx * TL_VW + (ntw - 1) * TL_DDW;
                    const __local real *wr = wl + (c * BD_MT + t * TL_MTW) * TL_WS + q * TL_RO;
                    for (int u = 0; u < ntw; ++u) {
                        real wv[TL_RO];
                        vreal xv[TL_RH][TL_RW];
                        LOAD_RO(wv, wr + u * TL_WS);
#pragma unroll
                        for (int i = 0; i < TL_RH; ++i)
#pragma unroll
                            for (int j = 0; j < TL_RW; ++j)
                                xv[i][j] = VLOADL(xr + i * TL_NTY * BD_PWP + j * TL_NTX * TL_VW
                                                  - u * TL_DDW);
#pragma unroll
                        for (int k = 0; k < TL_RO; ++k)
#pragma unroll
                            for (int i = 0; i < TL_RH; ++i)
#pragma unroll
                                for (int j = 0; j < TL_RW; ++j)
                                    acc[k][i][j] = fma((vreal)wv[k], xv[i][j], acc[k][i][j]);
                    }
                }
            }
            barrier(CLK_LOCAL_MEM_FENCE);
        }
    }

#pragma unroll
    for (int k = 0; k < TL_RO; ++k) {
        const int c = c0 + q * TL_RO + k;
#pragma unroll
        for (int i = 0; i < TL_RH; ++i) {
            const int ih = rh + CV_SH * (i0 + ty + i * TL_NTY);
#pragma unroll
            for (int j = 0; j < TL_RW; ++j) {
                const int jj = j0 + (tx + j * TL_NTX) * TL_VW;
                real t[TL_VW];
                VSTORE_PRIV(acc[k][i][j], t);
                for (int l = 0; l < TL_VW; ++l) {
                    const int iw = rw + CV_SW * (jj + l);
                    if (c < CV_CG && ih < CV_H && iw < CV_W)
                        STORE(dx, (((long)n * CV_C + g * CV_CG + c) * CV_H + ih) * CV_W + iw, t[l]);
                }
            }
        }
    }
}
#endif /* TL_BWD_DATA */

/* -------------------------------------------------------- backward weights */
#ifdef TL_BWD_WEIGHTS
#ifndef TL_TC
#define TL_TC 4
#endif
#ifndef TL_RK
#define TL_RK 4
#endif
#ifndef TL_NTK
#define TL_NTK CEIL_DIV(TL_TC * CV_KK, TL_RK)
#endif
#ifndef TL_TR
#define TL_TR 1
#endif
#ifndef TL_TP
#define TL_TP 16
#endif
#ifndef TL_SPLIT
#define TL_SPLIT 1
#endif
#define TL_LS (TL_NTK * TL_NTO)
#define BW_NP (TL_TR * TL_TP)                                  /* pixels of one chunk */
#define BW_XR ((TL_TR - 1) * CV_SH + (CV_KH - 1) * CV_DH + 1)  /* x patch rows */
#define BW_XC ((TL_TP - 1) * CV_SW + (CV_KW - 1) * CV_DW + 1)  /* x patch cols */
#define BW_XCP (BW_XC + TL_XPAD)
#define BW_CH_W CEIL_DIV(CV_OW, TL_TP)
#define BW_NCH (CEIL_DIV(CV_OH, TL_TR) * BW_CH_W)              /* chunks per image */
#define BW_OBLK CEIL_DIV(CV_OG, TL_TO)
#define BW_CBLK CEIL_DIV(CV_CG, TL_TC)
#define BW_TK (TL_TC * CV_KK)

__kernel __attribute__((reqd_work_group_size(TL_NTK, TL_NTO, 1))) TL_HINT
void conv2d_tiled_bwd_weights(__global const storage_t *restrict x,
                              __global const storage_t *restrict dy,
                              __global out_t *restrict out)
{
    __local real dyl[BW_NP * TL_WS] TL_ALIGNED;
    __local real xl[TL_TC * BW_XR * BW_XCP];

    const int p = get_local_id(0), q = get_local_id(1);
    const int lid = q * TL_NTK + p;
    const int o0 = get_group_id(0) * TL_TO;
    const int gb = get_group_id(1);   /* x - (x/d)*d: see conv2d_tiled_fwd */
    const int g = gb / BW_CBLK, c0 = (gb - g * BW_CBLK) * TL_TC;
    const int s = get_group_id(2);
    const long R = (long)CV_N * BW_NCH;
    const long r0 = R * s / TL_SPLIT, r1 = R * (s + 1) / TL_SPLIT;

    /* local offsets of this work-item's taps k = p + j*TL_NTK in the x patch */
    int off[TL_RK];
#pragma unroll
    for (int j = 0; j < TL_RK; ++j) {
        const int k = min(p + j * TL_NTK, BW_TK - 1);
        const int c = k / CV_KK, kk = k - c * CV_KK;
        const int kh = kk / CV_KW, kw = kk - kh * CV_KW;
        off[j] = (c * BW_XR + kh * CV_DH) * BW_XCP + kw * CV_DW;
    }
    vreal acc[TL_RO][TL_RK];
#pragma unroll
    for (int i = 0; i < TL_RO; ++i)
#pragma unroll
        for (int j = 0; j < TL_RK; ++j) acc[i][j] = (vreal)0;

    for (long rr = r0; rr < r1; ++rr) {
        const int n = (int)(rr / BW_NCH), ch = (int)(rr - (long)n * BW_NCH);
        const int chh = ch / BW_CH_W;
        const int oh0 = chh * TL_TR, ow0 = (ch - chh * BW_CH_W) * TL_TP;
        const __global storage_t *dyg = dy + ((long)n * CV_O + (long)g * CV_OG + o0) * CV_OH * CV_OW;
        const __global storage_t *xg = x + ((long)n * CV_C + (long)g * CV_CG + c0) * CV_H * CV_W;
#if TL_VW == 1
        /* dyl[pix * TL_WS + o] = dy[n, g*OG+o0+o, oh0 + pix/TP, ow0 + pix%TP] */
        for (int e = lid; e < TL_TO * BW_NP; e += TL_LS) {
            const int o = e / BW_NP, pix = e - o * BW_NP;
            const int pr = pix / TL_TP;
            const int oh = oh0 + pr, ow = ow0 + pix - pr * TL_TP;
            real v = (real)0;
            if (o0 + o < CV_OG && oh < CV_OH && ow < CV_OW)
                v = LOAD(dyg, ((long)o * CV_OH + oh) * CV_OW + ow);
            dyl[pix * TL_WS + o] = v;
        }
#else
        /* dyl[o * NP + tr * TP + tp] = dy[n, g*OG+o0+o, oh0 + tr, ow0 + tp] (pixels as vectors) */
        STAGE_PATCH(dyl, dyg, CV_OG - o0, CV_OH, CV_OW, oh0, ow0, TL_TO, TL_TR, TL_TP, TL_TP);
#endif
        STAGE_PATCH(xl, xg, CV_CG - c0, CV_H, CV_W, oh0 * CV_SH - CV_PT, ow0 * CV_SW - CV_PL,
                    TL_TC, BW_XR, BW_XC, BW_XCP);
        barrier(CLK_LOCAL_MEM_FENCE);

        for (int tr = 0; tr < TL_TR; ++tr) {
            for (int tp = 0; tp < TL_TP; tp += TL_VW) {
                const __local real *xr = xl + tr * CV_SH * BW_XCP + tp * CV_SW;
                vreal dv[TL_RO], xv[TL_RK];
#if TL_VW == 1
                LOAD_RO(dv, dyl + (tr * TL_TP + tp) * TL_WS + q * TL_RO);
#else
                const __local real *dr = dyl + q * TL_RO * BW_NP + tr * TL_TP + tp;
#pragma unroll
                for (int i = 0; i < TL_RO; ++i) dv[i] = VLOADL(dr + i * BW_NP);
#endif
#pragma unroll
                for (int j = 0; j < TL_RK; ++j) xv[j] = VLOADL_S(xr + off[j], CV_SW);
#pragma unroll
                for (int i = 0; i < TL_RO; ++i)
#pragma unroll
                    for (int j = 0; j < TL_RK; ++j)
                        acc[i][j] = fma(dv[i], xv[j], acc[i][j]);
            }
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }

    __global out_t *outs = out + (long)s * CV_O * CV_CG * CV_KK;
#pragma unroll
    for (int i = 0; i < TL_RO; ++i) {
        const int o = o0 + q * TL_RO + i;
#pragma unroll
        for (int j = 0; j < TL_RK; ++j) {
            const int k = p + j * TL_NTK;
            real t[TL_VW];
            VSTORE_PRIV(acc[i][j], t);
            real v = (real)0;
            for (int l = 0; l < TL_VW; ++l) v += t[l];
            if (o < CV_OG && k < BW_TK && c0 + k / CV_KK < CV_CG)
                STORE_OUT(outs, ((long)(g * CV_OG + o) * CV_CG + c0) * CV_KK + k, v);
        }
    }
}
#endif /* TL_BWD_WEIGHTS */
