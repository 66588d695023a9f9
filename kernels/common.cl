/* common.cl — types and helpers shared by every fconv kernel.
 *
 * Each program is built with exactly one of the storage-type options:
 *   -D FCONV_F32   (default)  storage float,  arithmetic float
 *   -D FCONV_F64              storage double, arithmetic double (needs cl_khr_fp64)
 *   -D FCONV_F16              storage half,   arithmetic float  (vload_half/vstore_half, core OpenCL)
 * and gets:
 *   storage_t          the element type of global buffers
 *   real, real2..16    the arithmetic type and its vectors
 *   LOAD(p, i)         p[i] as real
 *   STORE(p, i, v)     p[i] = v (rounded to storage)
 *   LOADN(n, p, i)     n consecutive elements p[i*n .. i*n+n-1] as realn (vloadn index semantics)
 *   STOREN(n, p, i, v) the same for stores
 * Kernels are specialised with -D constants (shapes, strides, tunables), so
 * each tunable is written `#ifndef NAME / #define NAME default / #endif`.
 */
#ifndef FCONV_COMMON_CL
#define FCONV_COMMON_CL

#if defined(FCONV_F64)
  #pragma OPENCL EXTENSION cl_khr_fp64 : enable
  typedef double storage_t;
  typedef double real;
  typedef double2 real2;
  typedef double4 real4;
  typedef double8 real8;
  typedef double16 real16;
  #define LOAD(p, i) ((p)[i])
  #define STORE(p, i, v) ((p)[i] = (v))
  #define LOADN(n, p, i) vload##n((i), (p))
  #define STOREN(n, p, i, v) vstore##n((v), (i), (p))
  #define REAL_MAX DBL_MAX
#elif defined(FCONV_F16)
  typedef half storage_t;
  typedef float real;
  typedef float2 real2;
  typedef float4 real4;
  typedef float8 real8;
  typedef float16 real16;
  #define LOAD(p, i) vload_half((i), (p))
  #define STORE(p, i, v) vstore_half_rte((v), (i), (p))
  #define LOADN(n, p, i) vload_half##n((i), (p))
  #define STOREN(n, p, i, v) vstore_half##n##_rte((v), (i), (p))
  #define REAL_MAX FLT_MAX
#else
  #ifndef FCONV_F32
  #define FCONV_F32
  #endif
  typedef float storage_t;
  typedef float real;
  typedef float2 real2;
  typedef float4 real4;
  typedef float8 real8;
  typedef float16 real16;
  #define LOAD(p, i) ((p)[i])
  #define STORE(p, i, v) ((p)[i] = (v))
  #define LOADN(n, p, i) vload##n((i), (p))
  #define STOREN(n, p, i, v) vstore##n((v), (i), (p))
  #define REAL_MAX FLT_MAX
#endif

#define CEIL_DIV(a, b) (((a) + (b) - 1) / (b))

#endif /* FCONV_COMMON_CL */
