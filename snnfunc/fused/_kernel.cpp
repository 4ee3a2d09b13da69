// snnfunc fused LIF / synaptic / IF scan: forward and BPTT backward on CPU.
// Work items are chunks of neurons, each taken through all T steps; chunks are handed out
// dynamically so that a thread the OS preempts (a busy shared machine) delays no one.
// Plain C ABI (loaded with ctypes: no torch or pybind headers, so it builds in about a second).
// The recurrence and the backward are documented in snnfunc/fused/_torch.py, which this mirrors
// line by line. Built with -ffp-contract=off so that `b * v + x` rounds like torch's eager ops
// (no fused multiply-add) and the spikes equal the reference exactly.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <type_traits>
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

// The spike H(u) = 1[u > 0] with the NaN policy of snnfunc.surrogate.step: H(nan) = nan,
// H(inf) = 1, H(-inf) = H(-0.0) = 0. (A plain `u > 0` maps NaN to 0: a broken membrane would
// look like a silent neuron and its gradient terms would drop the NaN.)
template <typename S>
inline S step(S u) {
  return u > S(0) ? S(1) : (u == u ? S(0) : u);
}

template <typename S, int RESET>
inline S reset_of(S h, S z, S th) {
  // Exactly snnfunc.reset.apply_reset: h - z * thr, h * (1 - z), h.
  if constexpr (RESET == SUBTRACT) return h - z * th;
  if constexpr (RESET == ZERO) return h * (S(1) - z);
  return h;
}

// One time step of the forward over n neurons (all loop-invariant choices are template
// arguments, so that the loop vectorizes). With REC (the backward's recompute), record h, v and
// i instead of writing spikes.
template <typename S, bool HAS_I, bool DELAY, int RESET, bool REC>
inline void forward_step(int64_t n, const S* __restrict__ xt, S* __restrict__ zt,
                         S* __restrict__ v, S* __restrict__ i, const S* __restrict__ al,
                         const S* __restrict__ be, const S* __restrict__ th, S* __restrict__ Ht,
                         S* __restrict__ Vt, S* __restrict__ It) {
#pragma omp simd
  for (int64_t k = 0; k < n; ++k) {
    S cur = xt[k];
    if constexpr (HAS_I) {
      const S ii = al[k] * i[k] + cur;
      i[k] = ii;
      cur = ii;
    }
    const S h = be[k] * v[k] + cur;
    S z, vn;
    if constexpr (DELAY) {
      const S r = step(v[k] - th[k]);
      vn = reset_of<S, RESET>(h, r, th[k]);
      z = step(vn - th[k]);
    } else {
      z = step(h - th[k]);
      vn = reset_of<S, RESET>(h, z, th[k]);
    }
    v[k] = vn;
    if constexpr (REC) {
      Ht[k] = h;
      Vt[k] = vn;
      if constexpr (HAS_I) It[k] = i[k];
    } else {
      zt[k] = z;
    }
  }
}

// One chunk of neurons [j0, j0 + n) through all T steps. With REC (the backward's recompute)
// record H[t], V[t + 1] (V[0] = v0) and I[t + 1] (I[0] = i0) instead of writing spikes; V and I
// advance by vs/is per step (0: one dummy row, when the backward does not need them).
template <typename S, bool HAS_I, bool DELAY, int RESET, bool REC>
void run_chunk(const Args& a, const S* x, const S* v0, const S* i0, const S* pa, const S* pb,
               const S* pt, double sa, double sb, double st, S* spikes, S* vT, S* iT, int64_t j0,
               int64_t n, S* H, S* V, S* I, int64_t vs, int64_t is) {
  std::vector<S> buf(5 * n);
  S *v = buf.data(), *i = v + n, *al = i + n, *be = al + n, *th = be + n;
  load_param(al, pa, sa, j0, n);
  load_param(be, pb, sb, j0, n);
  load_param(th, pt, st, j0, n);
  for (int64_t k = 0; k < n; ++k) {
    v[k] = v0[j0 + k];
    i[k] = HAS_I ? i0[j0 + k] : S(0);
  }
  if constexpr (REC) {
    for (int64_t k = 0; k < n; ++k) {
      V[k] = v[k];
      if constexpr (HAS_I) I[k] = i[k];
    }
  }
  for (int64_t t = 0; t < a.T; ++t) {
    const S* xt = x + t * a.x_tstride + j0;
    if constexpr (REC) {
      forward_step<S, HAS_I, DELAY, RESET, true>(n, xt, nullptr, v, i, al, be, th, H + t * n,
                                                  V + (t + 1) * vs, I + (t + 1) * is);
    } else {
      forward_step<S, HAS_I, DELAY, RESET, false>(n, xt, spikes + t * a.M + j0, v, i, al, be, th,
                                                   nullptr, nullptr, nullptr);
    }
  }
  if (vT)
    for (int64_t k = 0; k < n; ++k) vT[j0 + k] = v[k];
  if (HAS_I && iT)
    for (int64_t k = 0; k < n; ++k) iT[j0 + k] = i[k];
}

// Surrogate derivative, in place over a buffer (the formulas of snnfunc.surrogate).
template <typename S>
void derivative(S* __restrict__ u, int64_t len, int64_t kind, double hyper) {
  const S c = static_cast<S>(hyper);
  switch (kind) {
    case ATAN: {
      const S half = c / S(2), k = static_cast<S>(M_PI / 2 * hyper);
#pragma omp simd
      for (int64_t q = 0; q < len; ++q) {
        const S y = k * u[q];
        u[q] = half / (S(1) + y * y);
      }
      break;
    }
    case FAST_SIGMOID:
#pragma omp simd
      for (int64_t q = 0; q < len; ++q) {
        const S y = c * std::abs(u[q]) + S(1);
        u[q] = S(1) / (y * y);
      }
      break;
    case SIGMOID:
#pragma omp simd
      for (int64_t q = 0; q < len; ++q) {
        const S s = S(1) / (S(1) + std::exp(-c * u[q]));
        u[q] = c * s * (S(1) - s);
      }
      break;
    case TRIANGLE:
#pragma omp simd
      for (int64_t q = 0; q < len; ++q) u[q] = std::max(S(1) - std::abs(u[q]) / c, S(0)) / c;
      break;
    case BOXCAR:
#pragma omp simd
      for (int64_t q = 0; q < len; ++q) u[q] = std::abs(u[q]) < c ? S(1) / (S(2) * c) : S(0);
      break;
    case STRAIGHT:
#pragma omp simd
      for (int64_t q = 0; q < len; ++q) u[q] = S(1);
      break;
    default:  // HEAVI: the spike itself, NaN included
#pragma omp simd
      for (int64_t q = 0; q < len; ++q) u[q] = step(u[q]);
  }
}

// D[r][k] = S'(X[r][k] - th[k]) for rows x n values (the subtraction is the forward's, so the
// surrogate's argument is bit-identical to the reference's).
template <typename S>
void derivative_rows(const S* __restrict__ X, const S* __restrict__ th, S* __restrict__ D,
                     int64_t rows, int64_t n, int64_t kind, double hyper) {
  for (int64_t r = 0; r < rows; ++r)
#pragma omp simd
    for (int64_t k = 0; k < n; ++k) D[r * n + k] = X[r * n + k] - th[k];
  derivative(D, rows * n, kind, hyper);
}

// Per-neuron gradient accumulators and carried gradients of one chunk.
template <typename S>
struct Grads {
  S *gv, *gi, *gr, *ga, *gb, *gt;
};

// One reverse time step of the BPTT recurrence (snnfunc/fused/_torch.py) over n neurons.
// A zero stands in for an absent gradient (_torch.py) only where it is added; backward_all
// arranges that no absent gradient is multiplied (0 * nan would be NaN where the reference has no
// term at all). GR: the reset's spike carries a gradient (not detached, and R reads it).
template <typename S, bool HAS_I, bool DELAY, int RESET, bool DETACH>
inline void backward_step(int64_t n, const S* __restrict__ gz, const S* __restrict__ Ht,
                          const S* __restrict__ Vp, const S* __restrict__ Dt,
                          const S* __restrict__ Ip, const S* __restrict__ al,
                          const S* __restrict__ be, const S* __restrict__ th, S* __restrict__ gv,
                          S* __restrict__ gi, S* __restrict__ gr, S* __restrict__ ga,
                          S* __restrict__ gb, S* __restrict__ gt, S* __restrict__ gx) {
  constexpr bool subtract = RESET == SUBTRACT, zero = RESET == ZERO;
  constexpr bool GR = !DETACH && RESET != NONE;
#pragma omp simd
  for (int64_t k = 0; k < n; ++k) {
    const S h = Ht[k], d = Dt[k], thk = th[k];
    S gh, gtk;
    if constexpr (DELAY) {
      const S s = GR ? gz[k] + gr[k] : gz[k];
      const S gvv = gv[k] + s * d;
      const S r = step(Vp[k] - thk);
      gtk = -s * d - (subtract ? r * gvv : S(0));
      gh = zero ? gvv * (S(1) - r) : gvv;
      if constexpr (GR) gr[k] = gvv * (subtract ? -thk : -h);
    } else {
      const S z = step(h - thk);
      S gzz = gz[k];
      if constexpr (GR) gzz = gz[k] + gv[k] * (subtract ? -thk : -h);
      gh = (zero ? gv[k] * (S(1) - z) : gv[k]) + gzz * d;
      gtk = -gzz * d - (subtract ? z * gv[k] : S(0));
    }
    gt[k] += gtk;
    gb[k] += gh * Vp[k];
    gv[k] = gh * be[k];
    S g = gh;
    if constexpr (HAS_I) {
      g = gi[k] + gh;
      ga[k] += g * Ip[k];
      gi[k] = g * al[k];
    }
    gx[k] = g;
  }
}

struct Ptrs {  // the tensors of one call (data pointers, nullptr where absent)
  const void *x, *v0, *i0, *pa, *pb, *pt, *gz, *gvT, *giT;
  void *spikes, *vT, *iT, *gx, *gv0, *gi0, *ga, *gb, *gt;
  double sa, sb, st, hyper;
};

template <typename S, bool HAS_I, bool DELAY, int RESET>
void forward_all(const Args& a, const Ptrs& p) {
  const int64_t nchunks = (a.M + a.chunk - 1) / a.chunk;
#pragma omp parallel for schedule(dynamic, 1) num_threads(a.nthreads)
  for (int64_t c = 0; c < nchunks; ++c) {
    const int64_t j0 = c * a.chunk, n = std::min(a.chunk, a.M - j0);
    run_chunk<S, HAS_I, DELAY, RESET, false>(
        a, (const S*)p.x, (const S*)p.v0, (const S*)p.i0, (const S*)p.pa, (const S*)p.pb,
        (const S*)p.pt, p.sa, p.sb, p.st, (S*)p.spikes, (S*)p.vT, (S*)p.iT, j0, n, nullptr,
        nullptr, nullptr, 0, 0);
  }
}

template <typename S, bool HAS_I, bool DELAY, int RESET, bool DETACH>
void backward_all(const Args& a, const Ptrs& p) {
  const int64_t T = a.T, M = a.M, nchunks = (M + a.chunk - 1) / a.chunk;
  const bool static_x = a.x_tstride == 0;
  constexpr bool GR = !DETACH && RESET != NONE;
  // Absent gradients (_torch.py): with neither the spikes' nor the final v's gradient, no
  // membrane term reaches the loss (a synaptic loss on the final i: only i's chain runs); the
  // surrogate derivative multiplies only gz and the reset's gr, so without both it is unused.
  const bool membrane = a.has_gz || a.has_gv, need_d = a.has_gz || GR;
#pragma omp parallel num_threads(a.nthreads)
  {
    const int64_t C = a.chunk;
    std::vector<S> scratch((4 * T + 3) * C + 14 * C);
    // H: h_t; V: v_{t-1} rows (V[0] = v0), kept when the delayed reset or beta's gradient needs
    // them; I: i_{t-1} rows, kept for alpha's gradient; D: the surrogate derivative rows.
    const bool keep_v = DELAY || a.need_beta, keep_i = HAS_I && a.need_alpha;
    S* H = scratch.data();
    S* V = H + T * C;
    S* I = V + (T + 1) * C;
    S* D = I + (T + 1) * C;
    S* w = D + (T + 1) * C;
    S *al = w, *be = w + C, *th = w + 2 * C, *zeros = w + 3 * C, *row = w + 4 * C;
    Grads<S> g{w + 5 * C, w + 6 * C, w + 7 * C, w + 8 * C, w + 9 * C, w + 10 * C};
    S* gxs = w + 11 * C;
#pragma omp for schedule(dynamic, 1)
    for (int64_t c = 0; c < nchunks; ++c) {
      const int64_t j0 = c * C, n = std::min(C, M - j0);
      const int64_t vs = keep_v ? n : 0, is = keep_i ? n : 0;
      run_chunk<S, HAS_I, DELAY, RESET, true>(
          a, (const S*)p.x, (const S*)p.v0, (const S*)p.i0, (const S*)p.pa, (const S*)p.pb,
          (const S*)p.pt, p.sa, p.sb, p.st, nullptr, nullptr, nullptr, j0, n, H, V, I, vs, is);
      load_param(th, (const S*)p.pt, p.st, j0, n);
      if (!need_d)
        std::fill(D, D + (T + 1) * n, S(0));
      else if (DELAY)  // D[t] = S'(v_{t-1} - thr), t = 0..T
        derivative_rows(V, th, D, T + 1, n, a.surrogate, p.hyper);
      else  // D[t + 1] = S'(h_t - thr)
        derivative_rows(H, th, D + n, T, n, a.surrogate, p.hyper);
      // D[T] = S'(v_{T-1} - thr) (delayed) multiplies gz_{T-1} + gr_T, and r_T does not exist
      if (DELAY && !a.has_gz) std::fill(D + T * n, D + (T + 1) * n, S(0));
      load_param(al, (const S*)p.pa, p.sa, j0, n);
      load_param(be, (const S*)p.pb, p.sb, j0, n);
      for (int64_t k = 0; k < n; ++k) {
        g.gv[k] = a.has_gv ? ((const S*)p.gvT)[j0 + k] : S(0);
        g.gi[k] = (HAS_I && a.has_gi) ? ((const S*)p.giT)[j0 + k] : S(0);
        g.gr[k] = g.ga[k] = g.gb[k] = g.gt[k] = gxs[k] = zeros[k] = S(0);
      }
      for (int64_t t = T - 1; t >= 0; --t) {
        const S* gz = a.has_gz ? (const S*)p.gz + t * M + j0 : zeros;
        S* out = static_x ? row : (S*)p.gx + t * M + j0;
        const S* Ip = keep_i ? I + t * n : zeros;
        if (!membrane) {  // gx_t = gi, then gi = alpha * gi
          for (int64_t k = 0; k < n; ++k) {
            const S gik = HAS_I ? g.gi[k] : S(0);
            g.ga[k] += gik * Ip[k];
            g.gi[k] = gik * al[k];
            out[k] = gik;
          }
        } else {
          const S* Vp = keep_v ? V + t * n : zeros;
          const S* tht = th;
          if (!DELAY && !a.has_gv && t == T - 1) {
            // The final v is absent: drop gv * (1 - z), gv * z and gv * (-h) by reading this
            // step's h and thr as 0 (then z = 0, gh = gz * d, gthr = -gz * d; d is computed).
            std::fill(H + t * n, H + (t + 1) * n, S(0));
            tht = zeros;
          }
          backward_step<S, HAS_I, DELAY, RESET, DETACH>(n, gz, H + t * n, Vp, D + (t + 1) * n,
                                                        Ip, al, be, tht, g.gv, g.gi, g.gr, g.ga,
                                                        g.gb, g.gt, out);
        }
        if (static_x)
#pragma omp simd
          for (int64_t k = 0; k < n; ++k) gxs[k] += row[k];
      }
      if (DELAY && GR && membrane) {
        for (int64_t k = 0; k < n; ++k) {
          g.gv[k] += g.gr[k] * D[k];
          g.gt[k] -= g.gr[k] * D[k];
        }
      }
      for (int64_t k = 0; k < n; ++k) {
        if (static_x) ((S*)p.gx)[j0 + k] = gxs[k];
        ((S*)p.gv0)[j0 + k] = g.gv[k];
        if (HAS_I) ((S*)p.gi0)[j0 + k] = g.gi[k];
        if (a.need_alpha) ((S*)p.ga)[j0 + k] = g.ga[k];
        if (a.need_beta) ((S*)p.gb)[j0 + k] = g.gb[k];
        if (a.need_thr) ((S*)p.gt)[j0 + k] = g.gt[k];
      }
    }
  }
}

template <bool B>
using Bool = std::integral_constant<bool, B>;
template <int R>
using Int = std::integral_constant<int, R>;

// Calls f(S, HAS_I, DELAY, RESET, DETACH) with the run-time choices as compile-time constants.
template <typename F>
void dispatch(int64_t dtype_bytes, const Args& a, F&& f) {
  auto on_reset = [&](auto s, auto hi, auto de, auto dt) {
    if (a.reset == SUBTRACT) f(s, hi, de, Int<SUBTRACT>{}, dt);
    else if (a.reset == ZERO) f(s, hi, de, Int<ZERO>{}, dt);
    else f(s, hi, de, Int<NONE>{}, dt);
  };
  auto on_detach = [&](auto s, auto hi, auto de) {
    if (a.detach) on_reset(s, hi, de, Bool<true>{});
    else on_reset(s, hi, de, Bool<false>{});
  };
  auto on_delay = [&](auto s, auto hi) {
    if (a.delay) on_detach(s, hi, Bool<true>{});
    else on_detach(s, hi, Bool<false>{});
  };
  auto on_i = [&](auto s) {
    if (a.has_i) on_delay(s, Bool<true>{});
    else on_delay(s, Bool<false>{});
  };
  if (dtype_bytes == 4) on_i(float{});
  else on_i(double{});
}

}  // namespace

extern "C" {
int snnfunc_abi_version() { return 3; }

void snnfunc_forward(int64_t dtype_bytes, const int64_t* ia, const void* x, const void* v0,
                     const void* i0, const void* pa, const void* pb, const void* pt, double sa,
                     double sb, double st, void* spikes, void* vT, void* iT) {
  Args a = *reinterpret_cast<const Args*>(ia);
  a.detach = 1;  // the forward does not depend on it: instantiate one
  Ptrs p{x, v0, i0, pa, pb, pt, nullptr, nullptr, nullptr, spikes, vT, iT, nullptr, nullptr,
         nullptr, nullptr, nullptr, nullptr, sa, sb, st, 0.0};
  dispatch(dtype_bytes, a, [&](auto s, auto hi, auto de, auto re, auto dt) {
    if constexpr (decltype(dt)::value)
      forward_all<decltype(s), decltype(hi)::value, decltype(de)::value, decltype(re)::value>(
          a, p);
  });
}

void snnfunc_backward(int64_t dtype_bytes, const int64_t* ia, const void* x, const void* v0,
                      const void* i0, const void* pa, const void* pb, const void* pt, double sa,
                      double sb, double st, double hyper, const void* gz, const void* gvT,
                      const void* giT, void* gx, void* gv0, void* gi0, void* ga, void* gb,
                      void* gt) {
  const Args& a = *reinterpret_cast<const Args*>(ia);
  Ptrs p{x, v0, i0, pa, pb, pt, gz, gvT, giT, nullptr, nullptr, nullptr, gx, gv0,
         gi0, ga, gb, gt, sa, sb, st, hyper};
  dispatch(dtype_bytes, a, [&](auto s, auto hi, auto de, auto re, auto dt) {
    backward_all<decltype(s), decltype(hi)::value, decltype(de)::value, decltype(re)::value,
                 decltype(dt)::value>(a, p);
  });
}
}
