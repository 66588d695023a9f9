/* pad.cl — padding of the last two axes by reflection, replication or wrapping
 * (PyTorch's padding modes "reflect", "replicate", "circular"), and its gradient.
 *
 * x (P, H, W) -> y (P, HP, WP), HP = PD_PT + H + PD_PB, WP = PD_PL + W + PD_PR:
 *   pad2d_fwd(x, y)    y[p, oh, ow] = x[p, src(oh - PT, H), src(ow - PL, W)], where
 *                      src(i, n) is, for PD_MODE
 *                        1 reflect   -i below 0, 2(n-1) - i past n-1 (pads < n)
 *                        2 replicate clamp(i, 0, n-1)
 *                        3 circular  i mod n (pads <= n)
 *   pad2d_bwd(dy, dx)  dx[p, ih, iw] = sum of dy over the padded cells that read
 *                      x[p, ih, iw]; a gather over at most three runs of padded
 *                      positions per axis (see runs()), no atomics
 * One work-item per element of the written array, global size PD_TOTAL.
 *
 * Parameters (-D): PD_MODE PD_H PD_W PD_PT PD_PB PD_PL PD_PR PD_TOTAL, one of
 * FCONV_F32 / FCONV_F64 / FCONV_F16.
 */
#include "common.cl"

#define PD_HP (PD_PT + PD_H + PD_PB)
#define PD_WP (PD_PL + PD_W + PD_PR)

inline int src(int i, int n)
{
#if PD_MODE == 1
    return i < 0 ? -i : (i >= n ? 2 * (n - 1) - i : i);
#elif PD_MODE == 2
    return clamp(i, 0, n - 1);
#else
    return ((i % n) + n) % n;
#endif
}

__kernel void pad2d_fwd(__global const storage_t *restrict x, __global storage_t *restrict y)
{
    const long gid = get_global_id(0);
    if (gid >= PD_TOTAL) return;
    const int ow = (int)(gid % PD_WP);
    const int oh = (int)((gid / PD_WP) % PD_HP);
    const long p = gid / ((long)PD_WP * PD_HP);
    const int ih = src(oh - PD_PT, PD_H), iw = src(ow - PD_PL, PD_W);
    y[gid] = x[(p * PD_H + ih) * PD_W + iw];
}

/* The padded positions (along one axis of n input cells, lo before, np in all)
 * that read input i: up to three runs start[r], start[r] + step[r], ... of
 * count[r] positions. */
inline void runs(int i, int n, int lo, int np, int *start, int *count, int *step)
{
    for (int r = 0; r < 3; ++r) { start[r] = 0; count[r] = 0; step[r] = 1; }
    start[0] = lo + i;
    count[0] = 1;
#if PD_MODE == 1
    if (i >= 1 && lo - i >= 0) { start[1] = lo - i; count[1] = 1; }
    if (i <= n - 2 && lo + 2 * (n - 1) - i < np) { start[2] = lo + 2 * (n - 1) - i; count[2] = 1; }
#elif PD_MODE == 2
    if (i == 0) { start[1] = 0; count[1] = lo; }
    if (i == n - 1) { start[2] = lo + n; count[2] = np - lo - n; }
#else
    /* lo + i + k*n for every k with the position in [0, np) */
    int first = (lo + i) % n;
    start[0] = first;
    count[0] = (np - 1 - first) / n + 1;
    step[0] = n;
#endif
}

__kernel void pad2d_bwd(__global const storage_t *restrict dy, __global storage_t *restrict dx)
{
    const long gid = get_global_id(0);
    if (gid >= PD_TOTAL) return;
    const int iw = (int)(gid % PD_W);
    const int ih = (int)((gid / PD_W) % PD_H);
    const long p = gid / ((long)PD_W * PD_H);
    const __global storage_t *dyp = dy + p * PD_HP * PD_WP;
    int hs[3], hc[3], hst[3], ws[3], wc[3], wst[3];
    runs(ih, PD_H, PD_PT, PD_HP, hs, hc, hst);
    runs(iw, PD_W, PD_PL, PD_WP, ws, wc, wst);
    real acc = (real)0;
    for (int a = 0; a < 3; ++a)
        for (int u = 0; u < hc[a]; ++u) {
            const int oh = hs[a] + u * hst[a];
            for (int b = 0; b < 3; ++b)
                for (int v = 0; v < wc[b]; ++v)
                    acc += LOAD(dyp, oh * PD_WP + ws[b] + v * wst[b]);
        }
    STORE(dx, gid, acc);
}
