/* partial_sum.cl — the fixed-order sum of partial results: the one kernel with which
 * every strategy finishes a reduction it cut into parts (split-K of the tiled GEMM,
 * backward-weights chunks of implicit_gemm and tiled_local, per-sample products of
 * a 1x1 backward-weights GEMM, depthwise backward-weights partials, im2col's batch
 * chunks). Deterministic: each output adds its parts in ascending order, no atomics.
 *
 * partial_sum(part, out, count, n [, CONV_EPI_PARAMS])     global (n,)
 *     for each i < n, with j = the output position of i (below):
 *         v = 0 (PS_ACCUMULATE: out[j]);  v += part[at(s, i)] for s = 0, 1, ..., count-1
 *         out[j] = CONV_EPILOGUE(v, j)
 *
 * Parameters (-D):
 *   FCONV_F32 | F64 | F16    the parts' storage family (common.cl): FCONV_F32 for the
 *                            float partial sums of half data; v is its `real`
 *   FCONV_OUT_*              the output's storage when it differs (common.cl), e.g.
 *                            FCONV_OUT_F16 for half dw from float partials
 *   PS_LAYOUT                the parts' layout, at(s, i):
 *                              0 (default) split-major    part[s*n + i]
 *                              1 element-major            part[i*count + s]
 *   PS_ACCUMULATE            add into out's values (v starts at out[j], not 0)
 *   PS_SCATTER               j = i (default), or with PS_SCATTER: i read as the mixed-radix
 *                            number (i4, i3, i2, i1, i0) with digit sizes (-, PS_E3, PS_E2,
 *                            PS_E1, PS_E0), placed at
 *                              j = PS_OFF + i4*PS_S4 + i3*PS_S3 + i2*PS_S2 + i1*PS_S1 + i0*PS_S0
 *                            (int arithmetic, n < 2^31): a split-K convolution's
 *                            C(g, m, (nb, oh, ow)) scattered into y, or into one stride
 *                            phase of dx (unset sizes are 1, unset strides 0)
 *   CONV_EPILOGUE(v, idx), CONV_EPI_PARAMS   the jit's fused-epilogue hook (a generated
 *                            prelude, fconv/jit/epilogue.py; idx = out's linear index),
 *                            identity by default
 * Arguments: count (int, parts per output), n (long, outputs).
 */
#include "common.cl"

#ifndef PS_LAYOUT
#define PS_LAYOUT 0
#endif
#ifndef CONV_EPILOGUE
#define CONV_EPILOGUE(v, idx) (v)
#endif
#ifdef PS_SCATTER
  #ifndef PS_E0
  #define PS_E0 1
  #endif
  #ifndef PS_E1
  #define PS_E1 1
  #endif
  #ifndef PS_E2
  #define PS_E2 1
  #endif
  #ifndef PS_E3
  #define PS_E3 1
  #endif
  #ifndef PS_S0
  #define PS_S0 0
  #endif
  #ifndef PS_S1
  #define PS_S1 0
  #endif
  #ifndef PS_S2
  #define PS_S2 0
  #endif
  #ifndef PS_S3
  #define PS_S3 0
  #endif
  #ifndef PS_S4
  #define PS_S4 0
  #endif
  #ifndef PS_OFF
  #define PS_OFF 0
  #endif
  #define PS_IDX int    /* index arithmetic in int, as the tiled GEMM's own (cheaper on GPUs) */
#else
  #define PS_IDX long
#endif

__kernel void partial_sum(__global const storage_t *restrict part, __global out_t *restrict out,
                          const int count, const long n
#ifdef CONV_EPI_PARAMS
                          , CONV_EPI_PARAMS
#endif
                          )
{
    const PS_IDX i = get_global_id(0), np = (PS_IDX)n;
    if (i >= np) return;
#ifdef PS_SCATTER
    /* x - (x/d)*d rather than %: Oclgrind cannot run the `freeze` LLVM emits for a div/rem pair */
    const int q0 = i / PS_E0, q1 = q0 / PS_E1, q2 = q1 / PS_E2, q3 = q2 / PS_E3;
    const int j = PS_OFF + q3 * PS_S4 + (q2 - q3 * PS_E3) * PS_S3 + (q1 - q2 * PS_E2) * PS_S2
                + (q0 - q1 * PS_E1) * PS_S1 + (i - q0 * PS_E0) * PS_S0;
#else
    const long j = i;
#endif
#ifdef PS_ACCUMULATE
    real v = LOAD_OUT(out, j);
#else
    real v = (real)0;
#endif
#if PS_LAYOUT == 0
    for (int s = 0; s < count; ++s)
        v += LOAD(part, s * np + i);
#else
    const __global storage_t *p = part + i * (PS_IDX)count;
    for (int s = 0; s < count; ++s)
        v += LOAD(p, s);
#endif
    STORE_OUT(out, j, CONV_EPILOGUE(v, j));
}
