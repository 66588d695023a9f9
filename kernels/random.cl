/* random.cl — counter-based random numbers: Threefry-2x32, 20 rounds (Salmon et al.,
 * "Parallel random numbers: as easy as 1, 2, 3", SC'11), the generator JAX uses.
 *
 * Element i of the output (row-major flat index) comes from one block:
 *     (b1, b2) = threefry2x32(key, (hi32(c), lo32(c))),   c = RB_OFFSET + i
 * (this is JAX's "partitionable" counter layout: iota_2x32_shape). What is
 * stored depends on RB_DIST:
 *   0  bits     out (int)   = b1 ^ b2                      (raw 32 bits, as uint)
 *   1  pair     out (int)   = b1, b2 at [2i], [2i+1]        (split / fold_in: new keys)
 *   2  uniform  out (real)  in [0, 1): float32 (b1^b2) >> 9 times 2^-23;
 *                           float64 ((b1 << 32) | b2) >> 12 times 2^-52;
 *                           float16 ((b1^b2) & 0xffff) >> 6 times 2^-10
 *                           (the mantissa-filling construction of jax.random.uniform)
 *   3  normal   out (real)  Box-Muller on the block's two words:
 *                           u1 in (0, 1], u2 in [0, 1),
 *                           z = sqrt(-2 log u1) * cos(2 pi u2)
 *                           (float/half: 24-bit u's in float; float64: 32-bit u's in double)
 *   4  bernoulli out (uchar) = u < RB_P, u the float32 uniform of dist 2 (a bool mask,
 *                           identical to uniform(...) < p in float32)
 * Parameters: key (2 ints, read as uint), out, n (number of elements).
 * Options: -D RB_DIST, -D RB_OFFSET (counter offset, a uint), -D RB_P (bernoulli's
 * probability, an exact float literal), and one of
 * common.cl's -D FCONV_F32/F64/F16 (the real type of uniform/normal). The output's
 * type follows from RB_DIST: common.cl's FCONV_OUT_I32 for bits and pairs, FCONV_OUT_BOOL
 * for bernoulli, else the storage type.
 * Integer arithmetic is on uint: addition wraps modulo 2^32, as the algorithm needs.
 */
#ifndef RB_DIST
#define RB_DIST 0
#endif
#if RB_DIST <= 1
#define FCONV_OUT_I32
#elif RB_DIST == 4
#define FCONV_OUT_BOOL
#endif
#include "common.cl"
#ifndef RB_OFFSET
#define RB_OFFSET 0u
#endif

#define TF_ROUND(r) { x0 += x1; x1 = rotate(x1, (uint)(r)); x1 ^= x0; }
#define TF_ROUNDS_A TF_ROUND(13) TF_ROUND(15) TF_ROUND(26) TF_ROUND(6)
#define TF_ROUNDS_B TF_ROUND(17) TF_ROUND(29) TF_ROUND(16) TF_ROUND(24)

inline uint2 threefry2x32(const uint k0, const uint k1, const uint c0, const uint c1) {
  const uint k2 = k0 ^ k1 ^ 0x1BD11BDAu;
  uint x0 = c0 + k0;
  uint x1 = c1 + k1;
  TF_ROUNDS_A
  x0 += k1; x1 += k2 + 1u;
  TF_ROUNDS_B
  x0 += k2; x1 += k0 + 2u;
  TF_ROUNDS_A
  x0 += k0; x1 += k1 + 3u;
  TF_ROUNDS_B
  x0 += k1; x1 += k2 + 4u;
  TF_ROUNDS_A
  x0 += k2; x1 += k0 + 5u;
  return (uint2)(x0, x1);
}

__kernel void random_bits(__global const int *restrict key, __global out_t *restrict out,
                          const int n) {
  const int i = get_global_id(0);
  if (i >= n) return;
  const uint c = (uint)(RB_OFFSET) + (uint)i;
  /* the high counter word is 0: outputs have fewer than 2^31 elements and the offset is 32-bit */
  const uint2 b = threefry2x32((uint)key[0], (uint)key[1], 0u, c);
#if RB_DIST == 0
  STORE_OUT(out, i, b.x ^ b.y);
#elif RB_DIST == 1
  STORE_OUT(out, 2 * i, b.x);
  STORE_OUT(out, 2 * i + 1, b.y);
#elif RB_DIST == 2
  #if defined(FCONV_F64)
  const ulong w = (((ulong)b.x) << 32) | (ulong)b.y;
  STORE_OUT(out, i, (double)(w >> 12) * 0x1.0p-52);
  #elif defined(FCONV_F16)
  STORE_OUT(out, i, (float)(((b.x ^ b.y) & 0xffffu) >> 6) * 0x1.0p-10f);
  #else
  STORE_OUT(out, i, (float)((b.x ^ b.y) >> 9) * 0x1.0p-23f);
  #endif
#elif RB_DIST == 4
  STORE_OUT(out, i, (float)((b.x ^ b.y) >> 9) * 0x1.0p-23f < (RB_P));
#else
  #if defined(FCONV_F64)
  const double u1 = ((double)b.x + 1.0) * 0x1.0p-32;   /* (0, 1] */
  const double u2 = (double)b.y * 0x1.0p-32;           /* [0, 1) */
  STORE_OUT(out, i, sqrt(-2.0 * log(u1)) * cospi(2.0 * u2));
  #else
  const float u1 = (float)((b.x >> 8) + 1u) * 0x1.0p-24f;  /* (0, 1] */
  const float u2 = (float)(b.y >> 8) * 0x1.0p-24f;         /* [0, 1) */
  STORE_OUT(out, i, sqrt(-2.0f * log(u1)) * cospi(2.0f * u2));
  #endif
#endif
}
