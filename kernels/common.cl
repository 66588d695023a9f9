/* common.cl — types and helpers shared by every fconv kernel.
 *
 * Each program is built with exactly one of the storage-type options:
 *   -D FCONV_F32   (default)  storage float,  arithmetic float
 *   -D FCONV_F64              storage double, arithmetic double (needs cl_khr_fp64)
 *   -D FCONV_F16              storage half,   arithmetic float  (vload_half/vstore_half, core OpenCL)
 *   -D FCONV_I32              storage int,    arithmetic int    (integer kernels: reductions)
 *   -D FCONV_BOOL             storage uchar,  arithmetic int    (bool as one byte, 0 or 1)
 * and gets:
 *   storage_t          the element type of global buffers
 *   real, real2..16    the arithmetic type and its vectors (also the type of `real`
 *                      temporaries: packed weights, partial sums; float for half storage)
 *   LOAD(p, i)         p[i] as real
 *   STORE(p, i, v)     p[i] = v (rounded to storage)
 *   LOADN(n, p, i)     n consecutive elements p[i*n .. i*n+n-1] as realn (vloadn index semantics)
 *   STOREN(n, p, i, v) the same for stores
 *   FCONV_FLOAT        defined for the three floating families
 *   REAL_MAX           the largest finite real
 *   REAL_C(x)          the floating literal x as a real (x or x##f)
 *   REAL_INT, REAL_UINT  the integer types of real's width (select / shuffle masks: int
 *                      or long), as macros so that they paste into vector names
 *
 * A kernel whose output is stored in another type than its input (a reduction of
 * half data into float partials, int32 random bits, a bool mask) picks it with at
 * most one of
 *   -D FCONV_OUT_F32 | FCONV_OUT_F64 | FCONV_OUT_F16 | FCONV_OUT_I32 | FCONV_OUT_BOOL
 *   -D FCONV_OUT_REAL         the arithmetic type (`real` temporaries: partial sums)
 * (none: the storage type) and gets, with v a real (or realn) converted / rounded:
 *   out_t                     the element type of the output buffer
 *   LOAD_OUT(p, i)            p[i] as real
 *   STORE_OUT(p, i, v)        p[i] = v
 *   STOREN_OUT(n, p, i, v)    n consecutive elements (vstoren index semantics)
 * The rule everywhere: the storage family names what a kernel reads, FCONV_OUT_*
 * what it writes when that differs.
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
  #define REAL_C(x) x
  #define REAL_INT long
  #define REAL_UINT ulong
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
  #define REAL_C(x) x##f
  #define REAL_INT int
  #define REAL_UINT uint
#elif defined(FCONV_I32)
  typedef int storage_t;
  typedef int real;
  typedef int2 real2;
  typedef int4 real4;
  typedef int8 real8;
  typedef int16 real16;
  #define LOAD(p, i) ((p)[i])
  #define STORE(p, i, v) ((p)[i] = (v))
  #define LOADN(n, p, i) vload##n((i), (p))
  #define STOREN(n, p, i, v) vstore##n((v), (i), (p))
  #define REAL_MAX INT_MAX
  #define REAL_INT int
  #define REAL_UINT uint
#elif defined(FCONV_BOOL)
  typedef uchar storage_t;
  typedef int real;
  typedef int2 real2;
  typedef int4 real4;
  typedef int8 real8;
  typedef int16 real16;
  #define LOAD(p, i) ((int)(p)[i])
  #define STORE(p, i, v) ((p)[i] = (uchar)(v))
  #define LOADN(n, p, i) convert_int##n(vload##n((i), (p)))
  #define STOREN(n, p, i, v) vstore##n(convert_uchar##n(v), (i), (p))
  #define REAL_MAX INT_MAX
  #define REAL_INT int
  #define REAL_UINT uint
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
  #define REAL_C(x) x##f
  #define REAL_INT int
  #define REAL_UINT uint
#endif
#if defined(FCONV_F32) || defined(FCONV_F64) || defined(FCONV_F16)
  #define FCONV_FLOAT
#endif

/* the output family (see the header) */
#if defined(FCONV_OUT_F64)
  #pragma OPENCL EXTENSION cl_khr_fp64 : enable
  typedef double out_t;
  #define LOAD_OUT(p, i) ((real)(p)[i])
  #define STORE_OUT(p, i, v) ((p)[i] = (double)(v))
  #define STOREN_OUT(n, p, i, v) vstore##n(convert_double##n(v), (i), (p))
#elif defined(FCONV_OUT_F32)
  typedef float out_t;
  #define LOAD_OUT(p, i) ((real)(p)[i])
  #define STORE_OUT(p, i, v) ((p)[i] = (float)(v))
  #define STOREN_OUT(n, p, i, v) vstore##n(convert_float##n(v), (i), (p))
#elif defined(FCONV_OUT_F16)
  typedef half out_t;
  #define LOAD_OUT(p, i) ((real)vload_half((i), (p)))
  #define STORE_OUT(p, i, v) vstore_half_rte((float)(v), (i), (p))
  #define STOREN_OUT(n, p, i, v) vstore_half##n##_rte(convert_float##n(v), (i), (p))
#elif defined(FCONV_OUT_I32)
  typedef int out_t;
  #define LOAD_OUT(p, i) ((real)(p)[i])
  #define STORE_OUT(p, i, v) ((p)[i] = (int)(v))
  #define STOREN_OUT(n, p, i, v) vstore##n(convert_int##n(v), (i), (p))
#elif defined(FCONV_OUT_BOOL)
  typedef uchar out_t;
  #define LOAD_OUT(p, i) ((real)(p)[i])
  #define STORE_OUT(p, i, v) ((p)[i] = (uchar)(v))
  #define STOREN_OUT(n, p, i, v) vstore##n(convert_uchar##n(v), (i), (p))
#elif defined(FCONV_OUT_REAL)
  typedef real out_t;
  #define LOAD_OUT(p, i) ((p)[i])
  #define STORE_OUT(p, i, v) ((p)[i] = (v))
  #define STOREN_OUT(n, p, i, v) vstore##n((v), (i), (p))
#else
  typedef storage_t out_t;
  #define LOAD_OUT(p, i) LOAD(p, i)
  #define STORE_OUT(p, i, v) STORE(p, i, v)
  #define STOREN_OUT(n, p, i, v) STOREN(n, p, i, v)
#endif

#define CEIL_DIV(a, b) (((a) + (b) - 1) / (b))

#endif /* FCONV_COMMON_CL */
