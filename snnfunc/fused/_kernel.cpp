// snnfunc fused LIF / synaptic / IF scan: forward and BPTT backward on CPU.
// Plain C ABI (loaded with ctypes: no torch or pybind headers, so it builds in about a second).
// The recurrence and the backward are documented in snnfunc/fused/_torch.py, which this mirrors
// line by line. Built with -ffp-contract=off so that `b * v + x` rounds like torch's eager ops
// (no fused multiply-add) and the spikes equal the reference exactly.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

namespace {

enum { SUBTRACT = 0, ZERO = 1, NONE = 2 };
enum { ATAN = 0, FAST_SIGMOID = 1, SIGMOID = 2, TRIANGLE = 3, BOXCAR = 4, STRAIGHT = 5, HEAVI = 6 };

struct Args {  // int64 arguments, in this order, from Python
  int64_t T, M, x_tstride, has_i, reset, delay, detach, surrogate, chunk, nthreads;
  int64_t need_alpha, need_beta, need_thr, has_gz, has_gv, has_gi;
};

template <typename S>
inline void load_param(S* dst, const S* src, double scalar, int64_t j0, int64_t n) {
  if (src) {
    for (int64_t k = 0; k < n; ++k) dst[k] = src[j0 + k];
  } else {
    const S s = static_cast<S>(scalar);
    for (int64_t k = 0; k < n; ++k) dst[k] = s;
  }
}

template <typename S>
inline S reset_of(S h, S z, S th, int64_t reset) {
  // Exactly snnfunc.reset.apply_reset: h - z * thr, h * (1 - z), h.
  if (reset == SUBTRACT) return h - z * th;
  if (reset == ZERO) return h * (S(1) - z);
  return h;
}

// One chunk of neurons [j0, j0 + n) through all T steps. With rec != nullptr also record
// H[t], V[t + 1] (V[0] = v0), I[t + 1] (I[0] = i0) and U[t + 1] = the surrogate's argument.
template <typename S>
void run_chunk(const Args& a, const S* x, const S* v0, const S* i0, const S* pa, const S* pb,
               const S* pt, double sa, double sb, double st, S* spikes, S* vT, S* iT, int64_t j0,
               int64_t n, S* H, S* V, S* I, S* U) {
  std::vector<S> buf(5 * n);
  S *v = buf.data(), *i = v + n, *al = i + n, *be = al + n, *th = be + n;
  load_param(al, pa, sa, j0, n);
  load_param(be, pb, sb, j0, n);
  load_param(th, pt, st, j0, n);
  for (int64_t k = 0; k < n; ++k) {
    v[k] = v0[j0 + k];
    i[k] = a.has_i ? i0[j0 + k] : S(0);
  }
  const bool rec = H != nullptr;
  if (rec) {
    for (int64_t k = 0; k < n; ++k) {
      V[k] = v[k];
      if (a.has_i) I[k] = i[k];
      U[k] = v[k] - th[k];
    }
  }
  for (int64_t t = 0; t < a.T; ++t) {
    const S* xt = x + t * a.x_tstride + j0;
    S* zt = spikes ? spikes + t * a.M + j0 : nullptr;
    S *Ht = rec ? H + t * n : nullptr, *Vt = rec ? V + (t + 1) * n : nullptr;
    S *It = rec ? I + (t + 1) * n : nullptr, *Ut = rec ? U + (t + 1) * n : nullptr;
    for (int64_t k = 0; k < n; ++k) {
      S cur = xt[k];
      if (a.has_i) {
        i[k] = al[k] * i[k] + cur;
        cur = i[k];
      }
      const S h = be[k] * v[k] + cur;
      S z, vn, u;
      if (a.delay) {
        const S r = (v[k] - th[k]) > S(0) ? S(1) : S(0);
        vn = reset_of(h, r, th[k], a.reset);
        u = vn - th[k];
        z = u > S(0) ? S(1) : S(0);
      } else {
        u = h - th[k];
        z = u > S(0) ? S(1) : S(0);
        vn = reset_of(h, z, th[k], a.reset);
      }
      v[k] = vn;
      if (zt) zt[k] = z;
      if (rec) {
        Ht[k] = h;
        Vt[k] = vn;
        if (a.has_i) It[k] = i[k];
        Ut[k] = u;
      }
    }
  }
  if (vT)
    for (int64_t k = 0; k < n; ++k) vT[j0 + k] = v[k];
  if (iT && a.has_i)
    for (int64_t k = 0; k < n; ++k) iT[j0 + k] = i[k];
}

// Surrogate derivative, in place over a buffer (formulas of snnfunc.surrogate).
template <typename S>
void derivative(S* u, int64_t len, int64_t kind, double hyper) {
  const S c = static_cast<S>(hyper);
  switch (kind) {
    case ATAN: {
      const S half = c / S(2), k = static_cast<S>(M_PI / 2 * hyper);
      for (int64_t q = 0; q < len; ++q) {
        const S y = k * u[q];
        u[q] = half / (S(1) + y * y);
      }
      break;
    }
    case FAST_SIGMOID:
      for (int64_t q = 0; q < len; ++q) {
        const S y = c * std::abs(u[q]) + S(1);
        u[q] = S(1) / (y * y);
      }
      break;
    case SIGMOID:
      for (int64_t q = 0; q < len; ++q) {
        const S s = S(1) / (S(1) + std::exp(-c * u[q]));
        u[q] = c * s * (S(1) - s);
      }
      break;
    case TRIANGLE:
      for (int64_t q = 0; q < len; ++q) u[q] = std::max(S(1) - std::abs(u[q]) / c, S(0)) / c;
      break;
    case BOXCAR:
      for (int64_t q = 0; q < len; ++q) u[q] = std::abs(u[q]) < c ? S(1) / (S(2) * c) : S(0);
      break;
    case STRAIGHT:
      for (int64_t q = 0; q < len; ++q) u[q] = S(1);
      break;
    default:  // HEAVI: the spike itself
      for (int64_t q = 0; q < len; ++q) u[q] = u[q] > S(0) ? S(1) : S(0);
  }
}

template <typename S>
void backward_chunk(const Args& a, const S* x, const S* v0, const S* i0, const S* pa,
                    const S* pb, const S* pt, double sa, double sb, double st, double hyper,
                    const S* gz_all, const S* gvT, const S* giT, S* gx, S* gv0, S* gi0, S* ga_out,
                    S* gb_out, S* gt_out, int64_t j0, int64_t n, S* scratch) {
  const int64_t T = a.T;
  S* H = scratch;
  S* V = H + T * n;
  S* U = V + (T + 1) * n;
  S* I = U + (T + 1) * n;  // (T + 1) * n more, only for the synaptic model
  run_chunk<S>(a, x, v0, i0, pa, pb, pt, sa, sb, st, nullptr, nullptr, nullptr, j0, n, H, V,
               a.has_i ? I : nullptr, U);
  derivative<S>(U, (T + 1) * n, a.surrogate, hyper);  // U becomes D = S'(argument)
  const S* D = U;
  std::vector<S> buf(10 * n);
  S *al = buf.data(), *be = al + n, *th = be + n, *gv = th + n, *gi = gv + n, *gr = gi + n;
  S *ga = gr + n, *gb = ga + n, *gt = gb + n, *gxs = gt + n;
  load_param(al, pa, sa, j0, n);
  load_param(be, pb, sb, j0, n);
  load_param(th, pt, st, j0, n);
  for (int64_t k = 0; k < n; ++k) {
    gv[k] = a.has_gv ? gvT[j0 + k] : S(0);
    gi[k] = (a.has_i && a.has_gi) ? giT[j0 + k] : S(0);
    gr[k] = ga[k] = gb[k] = gt[k] = gxs[k] = S(0);
  }
  const bool detach = a.detach, subtract = a.reset == SUBTRACT, zero = a.reset == ZERO;
  const bool none = a.reset == NONE, static_x = a.x_tstride == 0;
  for (int64_t t = T - 1; t >= 0; --t) {
    const S* Ht = H + t * n;
    const S* Vp = V + t * n;  // v_{t-1}
    const S* Vt = V + (t + 1) * n;
    const S* Dt = D + (t + 1) * n;
    const S* Ip = I + t * n;  // i_{t-1}
    const S* gzt = a.has_gz ? gz_all + t * a.M + j0 : nullptr;
    S* gxt = static_x ? nullptr : gx + t * a.M + j0;
    for (int64_t k = 0; k < n; ++k) {
      const S gz = gzt ? gzt[k] : S(0);
      const S h = Ht[k], d = Dt[k], thk = th[k];
      S gh, gtk = S(0);
      if (a.delay) {
        const S s = gz + gr[k];
        const S gvv = gv[k] + s * d;
        const S r = (Vp[k] - thk) > S(0) ? S(1) : S(0);
        gtk = -s * d - (subtract ? r * gvv : S(0));
        gh = zero ? gvv * (S(1) - r) : gvv;
        if (!detach) gr[k] = gvv * (subtract ? -thk : zero ? -h : S(0));
      } else {
        const S z = (h - thk) > S(0) ? S(1) : S(0);
        S gzz = gz;
        if (!detach && !none) gzz = gz + gv[k] * (subtract ? -thk : -h);
        gh = (zero ? gv[k] * (S(1) - z) : gv[k]) + gzz * d;
        gtk = -gzz * d - (subtract ? z * gv[k] : S(0));
      }
      (void)Vt;
      gt[k] += gtk;
      gb[k] += gh * Vp[k];
      gv[k] = gh * be[k];
      S g = gh;
      if (a.has_i) {
        g = gi[k] + gh;
        ga[k] += g * Ip[k];
        gi[k] = g * al[k];
      }
      if (static_x)
        gxs[k] += g;
      else
        gxt[k] = g;
    }
  }
  if (a.delay && !detach) {
    for (int64_t k = 0; k < n; ++k) {
      gv[k] += gr[k] * D[k];
      gt[k] -= gr[k] * D[k];
    }
  }
  for (int64_t k = 0; k < n; ++k) {
    if (static_x) gx[j0 + k] = gxs[k];
    gv0[j0 + k] = gv[k];
    if (a.has_i) gi0[j0 + k] = gi[k];
    if (a.need_alpha) ga_out[j0 + k] = ga[k];
    if (a.need_beta) gb_out[j0 + k] = gb[k];
    if (a.need_thr) gt_out[j0 + k] = gt[k];
  }
}

template <typename S>
void forward_impl(const int64_t* ia, const void* x, const void* v0, const void* i0,
                  const void* pa, const void* pb, const void* pt, double sa, double sb, double st,
                  void* spikes, void* vT, void* iT) {
  const Args& a = *reinterpret_cast<const Args*>(ia);
  const int64_t nchunks = (a.M + a.chunk - 1) / a.chunk;
#pragma omp parallel for schedule(static) num_threads(a.nthreads)
  for (int64_t c = 0; c < nchunks; ++c) {
    const int64_t j0 = c * a.chunk, n = std::min(a.chunk, a.M - j0);
    run_chunk<S>(a, (const S*)x, (const S*)v0, (const S*)i0, (const S*)pa, (const S*)pb,
                 (const S*)pt, sa, sb, st, (S*)spikes, (S*)vT, (S*)iT, j0, n, nullptr, nullptr,
                 nullptr, nullptr);
  }
}

template <typename S>
void backward_impl(const int64_t* ia, const void* x, const void* v0, const void* i0,
                   const void* pa, const void* pb, const void* pt, double sa, double sb,
                   double st, double hyper, const void* gz, const void* gvT, const void* giT,
                   void* gx, void* gv0, void* gi0, void* ga, void* gb, void* gt) {
  const Args& a = *reinterpret_cast<const Args*>(ia);
  const int64_t nchunks = (a.M + a.chunk - 1) / a.chunk;
#pragma omp parallel num_threads(a.nthreads)
  {
    std::vector<S> scratch((4 * a.T + 3) * a.chunk);
#pragma omp for schedule(static)
    for (int64_t c = 0; c < nchunks; ++c) {
      const int64_t j0 = c * a.chunk, n = std::min(a.chunk, a.M - j0);
      backward_chunk<S>(a, (const S*)x, (const S*)v0, (const S*)i0, (const S*)pa,
                        (const S*)pb, (const S*)pt, sa, sb, st, hyper, (const S*)gz,
                        (const S*)gvT, (const S*)giT, (S*)gx, (S*)gv0, (S*)gi0, (S*)ga, (S*)gb,
                        (S*)gt, j0, n, scratch.data());
    }
  }
}

}  // namespace

extern "C" {
int snnfunc_abi_version() { return 1; }

void snnfunc_forward(int64_t dtype_bytes, const int64_t* ia, const void* x, const void* v0,
                     const void* i0, const void* pa, const void* pb, const void* pt, double sa,
                     double sb, double st, void* spikes, void* vT, void* iT) {
  if (dtype_bytes == 4)
    forward_impl<float>(ia, x, v0, i0, pa, pb, pt, sa, sb, st, spikes, vT, iT);
  else
    forward_impl<double>(ia, x, v0, i0, pa, pb, pt, sa, sb, st, spikes, vT, iT);
}

void snnfunc_backward(int64_t dtype_bytes, const int64_t* ia, const void* x, const void* v0,
                      const void* i0, const void* pa, const void* pb, const void* pt, double sa,
                      double sb, double st, double hyper, const void* gz, const void* gvT,
                      const void* giT, void* gx, void* gv0, void* gi0, void* ga, void* gb,
                      void* gt) {
  if (dtype_bytes == 4)
    backward_impl<float>(ia, x, v0, i0, pa, pb, pt, sa, sb, st, hyper, gz, gvT, giT, gx, gv0,
                         gi0, ga, gb, gt);
  else
    backward_impl<double>(ia, x, v0, i0, pa, pb, pt, sa, sb, st, hyper, gz, gvT, giT, gx, gv0,
                          gi0, ga, gb, gt);
}
}
