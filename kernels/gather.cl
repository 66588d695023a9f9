/* gather.cl — take along one axis, and its scatter (set / add) transpose.
 *
 * The operand is viewed as [A, N, B] (A: the axes before `axis`, N: the indexed axis,
 * B: the axes after it); the indices are a flat int32 array of S entries.
 *
 *   gather:   out[a, s, b] = x[a, clamp(wrap(idx[s])), b]            (out: [A, S, B])
 *   scatter:  out[a, i, b] = x[a, i, b] (+)= upd[a, s, b] for every s with wrap(idx[s]) == i
 *                                                                  (out: [A, N, B])
 * wrap(j) = j < 0 ? j + N : j (NumPy's negative indices); gather clamps what is still out
 * of range to [0, N) (JAX's rule for gathers), scatter drops it (JAX's rule for scatters).
 * The scatter gives each work-item one output element and walks the S indices in order:
 * no atomics, a fixed summation order (deterministic), and for SCATTER_SET the last
 * matching update wins. Cost O(A * N * B * S) index reads (they are shared by all
 * work-items and stay in cache).
 *
 * Build options (all -D):
 *   FCONV_F32 | F64 | F16 | I32 | BOOL   the storage family (common.cl)
 *   GATHER | SCATTER_SET | SCATTER_ADD   which kernel
 *   A, N, B, S                           the sizes above
 */
#include "common.cl"

#if defined(GATHER)
__kernel void gather(__global const storage_t *restrict x, __global const int *restrict idx,
                     __global storage_t *restrict out) {
  const int o = get_global_id(0);
  if (o >= A * S * B) return;
  const int b = o % B;
  const int s = (o / B) % S;
  const int a = o / (B * S);
  int j = idx[s];
  j = j < 0 ? j + N : j;
  j = clamp(j, 0, N - 1);
  STORE(out, o, LOAD(x, (a * N + j) * B + b));
}
#endif

#if defined(SCATTER_SET) || defined(SCATTER_ADD)
__kernel void scatter(__global const storage_t *restrict x, __global const int *restrict idx,
                      __global const storage_t *restrict upd, __global storage_t *restrict out) {
  const int o = get_global_id(0);
  if (o >= A * N * B) return;
  const int b = o % B;
  const int i = (o / B) % N;
  const int a = o / (B * N);
  real v = LOAD(x, o);
  for (int s = 0; s < S; ++s) {
    int j = idx[s];
    j = j < 0 ? j + N : j;
    if (j == i) {
#if defined(SCATTER_ADD)
      v += LOAD(upd, (a * S + s) * B + b);
#else
      v = LOAD(upd, (a * S + s) * B + b);
#endif
    }
  }
  STORE(out, o, v);
}
#endif
