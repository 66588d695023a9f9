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
 *   IN_T, ACC_T, OUT_T   storage type of the input, accumulation type, storage of the output
 *   ACCV_T, OUTV_T       VEC-wide vector types of ACC_T and OUT_T (reduce_rows/cols)
 *   IN_HALF / OUT_HALF   the input / output is float16 (vload_half / vstore_half_rte)
 *   OP_SUM | OP_MAX | OP_MIN | OP_ARGMAX
 *   IS_FLOAT             ACC_T is floating point (NaN rules, compensated sums)
 *   IDX_IN               argmax combine pass
 *   USE_FP64             enable cl_khr_fp64
 *   BLK                  elements (vectors) summed plainly before a compensated (Kahan) add
 * NaN: max/min propagate NaN; argmax takes the first NaN, else the first maximum.
 */
#ifdef USE_FP64
#pragma OPENCL EXTENSION cl_khr_fp64 : enable
#endif

#ifndef IN_T
#define IN_T float
#endif
#ifndef ACC_T
#define ACC_T float
#endif
#ifndef OUT_T
#define OUT_T float
#endif
#ifndef BLK
#define BLK 64
#endif

#ifndef ACCV_T
#define ACCV_T float16
#endif
#ifndef OUTV_T
#define OUTV_T float16
#endif
#define VEC 16
#define CAT_(a, b) a##b
#define CAT(a, b) CAT_(a, b)

#ifdef IN_HALF
#define LOAD_IN(p, i) vload_half((i), (p))
#define LOADV_IN(p, i) vload_half16((i), (p))
#else
#define LOAD_IN(p, i) ((ACC_T)((p)[i]))
#define LOADV_IN(p, i) CAT(convert_, ACCV_T)(vload16((i), (p)))
#endif

#ifdef OUT_HALF
#define STORE_OUT(p, i, v) vstore_half_rte((float)(v), (i), (p))
#define STOREV_OUT(p, i, v) vstore_half16_rte((v), (i), (p))
#else
#define STORE_OUT(p, i, v) ((p)[i] = (OUT_T)(v))
#define STOREV_OUT(p, i, v) vstore16(CAT(convert_, OUTV_T)(v), (i), (p))
#endif

/* COMBINE works on scalars, VCOMBINE on ACCV_T vectors */
#if defined(OP_SUM)
  #define IDENTITY ((ACC_T)0)
  #define COMBINE(x, y) ((x) + (y))
  #define VCOMBINE(x, y) ((x) + (y))
#elif defined(OP_MAX)
  #ifdef IS_FLOAT
    #define IDENTITY ((ACC_T)(-INFINITY))
    #define COMBINE(x, y) ((isnan(x) || (x) > (y)) ? (x) : (y))
    #define VCOMBINE(x, y) select((y), (x), isnan(x) | isgreater((x), (y)))
  #else
    #define IDENTITY ((ACC_T)INT_MIN)
    #define COMBINE(x, y) max((x), (y))
    #define VCOMBINE(x, y) max((x), (y))
  #endif
#elif defined(OP_MIN)
  #ifdef IS_FLOAT
    #define IDENTITY ((ACC_T)INFINITY)
    #define COMBINE(x, y) ((isnan(x) || (x) < (y)) ? (x) : (y))
    #define VCOMBINE(x, y) select((y), (x), isnan(x) | isless((x), (y)))
  #else
    #define IDENTITY ((ACC_T)INT_MAX)
    #define COMBINE(x, y) min((x), (y))
    #define VCOMBINE(x, y) min((x), (y))
  #endif
#endif

/* acc (+)= blk: Kahan-compensated for float sums (comp carries the lost low part;
 * reset where the sum is not finite so infinities survive), plain COMBINE otherwise */
#if defined(OP_SUM) && defined(IS_FLOAT)
  #define KAHAN 1
  #define ACCUM(acc, comp, blk) do { \
      const ACC_T y_ = (blk) - (comp); const ACC_T t_ = (acc) + y_; \
      (comp) = isfinite(t_) ? (t_ - (acc)) - y_ : (ACC_T)0; (acc) = t_; } while (0)
  #define VACCUM(acc, comp, blk) do { \
      const ACCV_T y_ = (blk) - (comp); const ACCV_T t_ = (acc) + y_; \
      (comp) = select((ACCV_T)0, (t_ - (acc)) - y_, isfinite(t_)); (acc) = t_; } while (0)
#else
  #define ACCUM(acc, comp, blk) ((acc) = COMBINE((acc), (blk)))
  #define VACCUM(acc, comp, blk) ((acc) = VCOMBINE((acc), (blk)))
#endif

#ifndef OP_ARGMAX
__kernel void reduce_strip(__global const IN_T *restrict in, __global OUT_T *restrict out,
                           const int L, const int W, const int n)
{
  const int gid = get_global_id(0);
  if (gid >= n) return;
  const int a = gid / W;
  const int j = gid - a * W;
  __global const IN_T *restrict row = in + (size_t)a * (size_t)L;
  ACC_T acc = IDENTITY, comp = (ACC_T)0;
  const int step = W * BLK;
  for (int i0 = j; i0 < L; i0 += step) {
    const int iend = min(L, i0 + step);
    ACC_T blk = IDENTITY;
    for (int i = i0; i < iend; i += W)
      blk = COMBINE(blk, LOAD_IN(row, i));
    ACCUM(acc, comp, blk);
  }
  STORE_OUT(out, gid, acc);
}

/* Reduce n contiguous elements at p (vectors, then a scalar tail). */
inline ACC_T reduce_contiguous(__global const IN_T *restrict p, const int n)
{
  const int nv = n / VEC;
  ACCV_T acc = (ACCV_T)IDENTITY, comp = (ACCV_T)0;
  for (int v0 = 0; v0 < nv; v0 += BLK) {
    const int v1 = min(nv, v0 + BLK);
    ACCV_T blk = (ACCV_T)IDENTITY;
    for (int v = v0; v < v1; ++v)
      blk = VCOMBINE(blk, LOADV_IN(p, v));
    VACCUM(acc, comp, blk);
  }
  /* fold the lanes pairwise */
  const CAT(ACC_T, 8) h8 = VCOMBINE(acc.lo, acc.hi);
  const CAT(ACC_T, 4) h4 = VCOMBINE(h8.lo, h8.hi);
  const CAT(ACC_T, 2) h2 = VCOMBINE(h4.lo, h4.hi);
  ACC_T s = COMBINE(h2.x, h2.y);
  for (int i = nv * VEC; i < n; ++i)
    s = COMBINE(s, LOAD_IN(p, i));
  return s;
}

__kernel void reduce_rows(__global const IN_T *restrict in, __global OUT_T *restrict out,
                          const int L, const int C, const int P)
{
  const int p = get_global_id(0), a = get_global_id(1);
  if (p >= P) return;
  const int i0 = p * C;
  const int n = min(L - i0, C);
  STORE_OUT(out, a * P + p, reduce_contiguous(in + (size_t)a * (size_t)L + i0, n));
}

__kernel void reduce_cols(__global const IN_T *restrict in, __global OUT_T *restrict out,
                          const int R, const int B, const int C, const int P)
{
  const int v = get_global_id(0), p = get_global_id(1), a = get_global_id(2);
  const int b0 = v * VEC;
  if (b0 >= B || p >= P) return;
  const int r0 = p * C, r1 = min(R, r0 + C);
  __global const IN_T *restrict base = in + (size_t)a * (size_t)R * (size_t)B;
  const int o = (a * P + p) * B + b0;
  if (b0 + VEC <= B) {
    ACCV_T acc = (ACCV_T)IDENTITY, comp = (ACCV_T)0;
    for (int q0 = r0; q0 < r1; q0 += BLK) {
      const int q1 = min(r1, q0 + BLK);
      ACCV_T blk = (ACCV_T)IDENTITY;
      for (int r = q0; r < q1; ++r)
        blk = VCOMBINE(blk, LOADV_IN(base + (size_t)r * B + b0, 0));
      VACCUM(acc, comp, blk);
    }
    STOREV_OUT(out + o, 0, acc);
  } else {
    for (int b = b0; b < B; ++b) {
      ACC_T acc = IDENTITY, comp = (ACC_T)0;
      for (int q0 = r0; q0 < r1; q0 += BLK) {
        const int q1 = min(r1, q0 + BLK);
        ACC_T blk = IDENTITY;
        for (int r = q0; r < q1; ++r)
          blk = COMBINE(blk, LOAD_IN(base, (size_t)r * B + b));
        ACCUM(acc, comp, blk);
      }
      STORE_OUT(out, o + (b - b0), acc);
    }
  }
}
#endif

#ifdef OP_ARGMAX
#ifdef IS_FLOAT
  #define LOWEST ((ACC_T)(-INFINITY))
  /* (v, k) beats (b, bk): larger, or NaN over non-NaN, or equal (both NaN) with a smaller index */
  #define BETTER(v, k, b, bk) ((v) > (b) || (isnan(v) && !isnan(b)) || \
      ((((v) == (b)) || (isnan(v) && isnan(b))) && (k) < (bk)))
#else
  #define LOWEST ((ACC_T)INT_MIN)
  #define BETTER(v, k, b, bk) ((v) > (b) || ((v) == (b) && (k) < (bk)))
#endif

__kernel void argmax_strip(__global const IN_T *restrict in,
#ifdef IDX_IN
                           __global const int *restrict idx_in,
#endif
                           __global ACC_T *restrict val_out, __global int *restrict idx_out,
                           const int L, const int W, const int B, const int C, const int n)
{
  const int gid = get_global_id(0);
  if (gid >= n) return;
  const int a = gid / W;
  const int j = gid - a * W;
  const size_t base = (size_t)a * (size_t)L;
  ACC_T best = LOWEST;
  int bk = INT_MAX;
  const int p = j / B, b = j - p * B;
  /* interleaved (C == 0): r = p, p + P, ...; chunked: r in [p*C, p*C + C) */
  const int P = W / B;
  const int rstep = C ? 1 : P;
  int r = C ? p * C : p;
  const int iend = C ? min(L, (p * C + C) * B) : L;
  for (int i = r * B + b; i < iend; i += rstep * B, r += rstep) {
    const ACC_T v = LOAD_IN(in + base, i);
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
