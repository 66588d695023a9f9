/* reduce.cl — reductions of the contiguous form [A, R, B] -> [A, P, B] (P = 1: the result).
 *
 * The input is A rows of L = R*B elements: a reduced axis of length R followed
 * by B kept elements. Three kernels compute the same thing with access
 * patterns for different devices; all are correct everywhere.
 *
 * reduce_strip(in, out, L, W, n)            GPUs. W = P*B, n = A*W, 1-D range over n.
 *     Work-item (a, j), j < W, reduces in[a*L + j], in[a*L + j + W], ... (< L) into
 *     out[a*W + j]: r = p, p + P, ... interleaved, so adjacent work-items read
 *     adjacent elements (coalesced). P = 1 is the whole reduction.
 * reduce_rows(in, out, L, C, P)             CPUs, B == 1. Range (P, A).
 *     Work-item (p, a) reduces the contiguous chunk [p*C, p*C + C) of row a with
 *     VEC-wide vector loads into out[a*P + p].
 * reduce_cols(in, out, R, B, C, P)          CPUs, B > 1. Range (ceil(B/VEC), P, A).
 *     Work-item (v, p, a) reduces rows [p*C, p*C + C) of columns [v*VEC, v*VEC + VEC)
 *     with vector loads (scalar for a partial last vector) into out[(a*P + p)*B + b].
 * argmax_strip(in, [idx_in,] val_out, idx_out, L, W, B, C, n)   every device.
 *     As reduce_strip with value and int32 index outputs; C == 0 interleaves r
 *     (r = p, p + P, ...), C > 0 takes the chunk r in [p*C, p*C + C). With IDX_IN
 *     the candidates' indices come from idx_in (a combine pass over partials).
 *
 * Build options (all -D):
 *   FCONV_F32 | F64 | F16 | I32 | BOOL   the input's storage family (common.cl); the
 *                        accumulation type is its `real` (float for half, int for bool)
 *   FCONV_OUT_*          the output's storage (common.cl; default: the input's), e.g.
 *                        FCONV_OUT_F32 for the float partials of half data, FCONV_OUT_I32
 *                        for the sum of bools. argmax's values are `real`, its indices int.
 *   OP_SUM | OP_MAX | OP_MIN | OP_PROD | OP_ARGMAX
 *   IDX_IN               argmax combine pass
 *   BLK                  elements (vectors) summed plainly before a compensated (Kahan) add
 * Floating inputs (FCONV_FLOAT) get the NaN rules and compensated sums.
 * NaN: max/min propagate NaN; argmax takes the first NaN, else the first maximum.
 */
#include "common.cl"

#ifndef BLK
#define BLK 64
#endif

#define VEC 16   /* lanes of the vector loads of reduce_rows / reduce_cols (real16) */

/* COMBINE works on scalars, VCOMBINE on real16 vectors */
#if defined(OP_SUM)
  #define IDENTITY ((real)0)
  #define COMBINE(x, y) ((x) + (y))
  #define VCOMBINE(x, y) ((x) + (y))
#elif defined(OP_MAX)
  #ifdef FCONV_FLOAT
    #define IDENTITY ((real)(-INFINITY))
    #define COMBINE(x, y) ((isnan(x) || (x) > (y)) ? (x) : (y))
    #define VCOMBINE(x, y) select((y), (x), isnan(x) | isgreater((x), (y)))
  #else
    #define IDENTITY ((real)INT_MIN)
    #define COMBINE(x, y) max((x), (y))
    #define VCOMBINE(x, y) max((x), (y))
  #endif
#elif defined(OP_MIN)
  #ifdef FCONV_FLOAT
    #define IDENTITY ((real)INFINITY)
    #define COMBINE(x, y) ((isnan(x) || (x) < (y)) ? (x) : (y))
    #define VCOMBINE(x, y) select((y), (x), isnan(x) | isless((x), (y)))
  #else
    #define IDENTITY ((real)INT_MAX)
    #define COMBINE(x, y) min((x), (y))
    #define VCOMBINE(x, y) min((x), (y))
  #endif
#elif defined(OP_PROD)
  #define IDENTITY ((real)1)
  #define COMBINE(x, y) ((x) * (y))
  #define VCOMBINE(x, y) ((x) * (y))
#endif

/* acc (+)= blk: Kahan-compensated for float sums (comp carries the lost low part;
 * reset where the sum is not finite so infinities survive), plain COMBINE otherwise */
#if defined(OP_SUM) && defined(FCONV_FLOAT)
  #define KAHAN 1
  #define ACCUM(acc, comp, blk) do { \
      const real y_ = (blk) - (comp); const real t_ = (acc) + y_; \
      (comp) = isfinite(t_) ? (t_ - (acc)) - y_ : (real)0; (acc) = t_; } while (0)
  #define VACCUM(acc, comp, blk) do { \
      const real16 y_ = (blk) - (comp); const real16 t_ = (acc) + y_; \
      (comp) = select((real16)0, (t_ - (acc)) - y_, isfinite(t_)); (acc) = t_; } while (0)
#else
  #define ACCUM(acc, comp, blk) ((acc) = COMBINE((acc), (blk)))
  #define VACCUM(acc, comp, blk) ((acc) = VCOMBINE((acc), (blk)))
#endif

#ifndef OP_ARGMAX
__kernel void reduce_strip(__global const storage_t *restrict in, __global out_t *restrict out,
                           const int L, const int W, const int n)
{
  const int gid = get_global_id(0);
  if (gid >= n) return;
  const int a = gid / W;
  const int j = gid - a * W;
  __global const storage_t *restrict row = in + (size_t)a * (size_t)L;
  real acc = IDENTITY, comp = (real)0;
  const int step = W * BLK;
  for (int i0 = j; i0 < L; i0 += step) {
    const int iend = min(L, i0 + step);
    real blk = IDENTITY;
    for (int i = i0; i < iend; i += W)
      blk = COMBINE(blk, LOAD(row, i));
    ACCUM(acc, comp, blk);
  }
  STORE_OUT(out, gid, acc);
}

/* Reduce n contiguous elements at p (vectors, then a scalar tail). */
inline real reduce_contiguous(__global const storage_t *restrict p, const int n)
{
  const int nv = n / VEC;
  real16 acc = (real16)IDENTITY, comp = (real16)0;
  for (int v0 = 0; v0 < nv; v0 += BLK) {
    const int v1 = min(nv, v0 + BLK);
    real16 blk = (real16)IDENTITY;
    for (int v = v0; v < v1; ++v)
      blk = VCOMBINE(blk, LOADN(16, p, v));
    VACCUM(acc, comp, blk);
  }
  /* fold the lanes pairwise */
  const real8 h8 = VCOMBINE(acc.lo, acc.hi);
  const real4 h4 = VCOMBINE(h8.lo, h8.hi);
  const real2 h2 = VCOMBINE(h4.lo, h4.hi);
  real s = COMBINE(h2.x, h2.y);
  for (int i = nv * VEC; i < n; ++i)
    s = COMBINE(s, LOAD(p, i));
  return s;
}

__kernel void reduce_rows(__global const storage_t *restrict in, __global out_t *restrict out,
                          const int L, const int C, const int P)
{
  const int p = get_global_id(0), a = get_global_id(1);
  if (p >= P) return;
  const int i0 = p * C;
  const int n = min(L - i0, C);
  STORE_OUT(out, a * P + p, reduce_contiguous(in + (size_t)a * (size_t)L + i0, n));
}

__kernel void reduce_cols(__global const storage_t *restrict in, __global out_t *restrict out,
                          const int R, const int B, const int C, const int P)
{
  const int v = get_global_id(0), p = get_global_id(1), a = get_global_id(2);
  const int b0 = v * VEC;
  if (b0 >= B || p >= P) return;
  const int r0 = p * C, r1 = min(R, r0 + C);
  __global const storage_t *restrict base = in + (size_t)a * (size_t)R * (size_t)B;
  const int o = (a * P + p) * B + b0;
  if (b0 + VEC <= B) {
    real16 acc = (real16)IDENTITY, comp = (real16)0;
    for (int q0 = r0; q0 < r1; q0 += BLK) {
      const int q1 = min(r1, q0 + BLK);
      real16 blk = (real16)IDENTITY;
      for (int r = q0; r < q1; ++r)
        blk = VCOMBINE(blk, LOADN(16, base + (size_t)r * B + b0, 0));
      VACCUM(acc, comp, blk);
    }
    STOREN_OUT(16, out + o, 0, acc);
  } else {
    for (int b = b0; b < B; ++b) {
      real acc = IDENTITY, comp = (real)0;
      for (int q0 = r0; q0 < r1; q0 += BLK) {
        const int q1 = min(r1, q0 + BLK);
        real blk = IDENTITY;
        for (int r = q0; r < q1; ++r)
          blk = COMBINE(blk, LOAD(base, (size_t)r * B + b));
        ACCUM(acc, comp, blk);
      }
      STORE_OUT(out, o + (b - b0), acc);
    }
  }
}
#endif

#ifdef OP_ARGMAX
#ifdef FCONV_FLOAT
  #define LOWEST ((real)(-INFINITY))
  /* (v, k) beats (b, bk): larger, or NaN over non-NaN, or equal (both NaN) with a smaller index */
  #define BETTER(v, k, b, bk) ((v) > (b) || (isnan(v) && !isnan(b)) || \
      ((((v) == (b)) || (isnan(v) && isnan(b))) && (k) < (bk)))
#else
  #define LOWEST ((real)INT_MIN)
  #define BETTER(v, k, b, bk) ((v) > (b) || ((v) == (b) && (k) < (bk)))
#endif

__kernel void argmax_strip(__global const storage_t *restrict in,
#ifdef IDX_IN
                           __global const int *restrict idx_in,
#endif
                           __global real *restrict val_out, __global int *restrict idx_out,
                           const int L, const int W, const int B, const int C, const int n)
{
  const int gid = get_global_id(0);
  if (gid >= n) return;
  const int a = gid / W;
  const int j = gid - a * W;
  const size_t base = (size_t)a * (size_t)L;
  real best = LOWEST;
  int bk = INT_MAX;
  const int p = j / B, b = j - p * B;
  /* interleaved (C == 0): r = p, p + P, ...; chunked: r in [p*C, p*C + C) */
  const int P = W / B;
  const int rstep = C ? 1 : P;
  int r = C ? p * C : p;
  const int iend = C ? min(L, (p * C + C) * B) : L;
  for (int i = r * B + b; i < iend; i += rstep * B, r += rstep) {
    const real v = LOAD(in + base, i);
#ifdef IDX_IN
    const int k = idx_in[base + i];
#else
    const int k = r;
#endif
    if (BETTER(v, k, best, bk)) { best = v; bk = k; }
  }
  val_out[gid] = best;
  idx_out[gid] = bk;
}
#endif
