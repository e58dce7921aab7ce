// HQQ / RTN quantization of one matrix. See hqq.h for the pipeline and how it relates to hqq.
#include "hqq.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include "fp16.h"
#include "localmoe/engine.h"
#include "pack.h"

namespace lm::quant {
namespace {

// Runs fn(begin, end) over [0, n) split into `threads` contiguous chunks.
template <class Fn>
void parallel_rows(int64_t n, int threads, Fn fn) {
  const int t = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(threads, n)));
  if (t == 1) {
    fn(int64_t{0}, n);
    return;
  }
  std::vector<std::thread> pool;
  pool.reserve(t);
  for (int i = 0; i < t; ++i) pool.emplace_back([=] { fn(n * i / t, n * (i + 1) / t); });
  for (auto& th : pool) th.join();
}

// Generalized soft-thresholding: the proximal operator of |x|^p (p < 1), as in hqq's shrink_lp_op:
// sign(x) · max(|x| − |x|^(p−1) / β, 0). At x = 0 the |x|^(p−1) term is infinite: the result is 0.
inline float shrink_lp(float x, float inv_beta, float p_minus_1) {
  const float ax = std::fabs(x);
  if (ax == 0.0f) return 0.0f;
  const float r = ax - inv_beta * std::pow(ax, p_minus_1);
  return r > 0.0f ? std::copysign(r, x) : 0.0f;
}

// Round half to even (as torch.round in the reference) for |v| < 2^22: adding 1.5·2^23 pushes the
// fraction out of the mantissa under the default rounding mode. Unlike std::nearbyint this is two
// adds (no libm call, no FP-environment access), which makes the solver ~5x faster.
inline float round_even(float v) { return (v + 12582912.0f) - 12582912.0f; }

inline float quantize_value(float w, float inv_s, float z, float qmax) {
  // Clamping to [−1, qmax + 1] first keeps the argument in round_even's range and changes nothing.
  return std::clamp(round_even(std::clamp(w * inv_s + z, -1.0f, qmax + 1.0f)), 0.0f, qmax);
}

// HQQ zero-point solver for one group with the scale fixed (see hqq.h). Each iteration evaluates
// the mean |W − Ŵ| of the current zero and, in the same pass, the next zero:
//   z ← mean(Q − (W − W_e)/s),  W_e = shrink_lp(W − Ŵ, β)
// i.e. the zero that makes the dequantized weights match W up to the sparse (shrunk) error term.
float hqq_zero(const float* w, int g, float s, float z0, float qmax, const HqqParams& hp) {
  if (!(s > 0.0f)) return z0;  // constant (or all-zero) group: nothing to fit
  const float inv_s = 1.0f / s;
  const float p_minus_1 = hp.lp_norm - 1.0f;
  float beta = hp.beta;
  float z = z0;
  float best_z = z0;
  double best_err = std::numeric_limits<double>::infinity();
  for (int it = 0; it < hp.iters; ++it) {
    const float inv_beta = 1.0f / beta;
    double err = 0.0, acc = 0.0;
    for (int k = 0; k < g; ++k) {
      const float q = quantize_value(w[k], inv_s, z, qmax);
      const float e = w[k] - s * (q - z);
      err += static_cast<double>(std::fabs(e));
      acc += static_cast<double>(q - (w[k] - shrink_lp(e, inv_beta, p_minus_1)) * inv_s);
    }
    if (!(err < best_err)) break;  // stopped improving: keep the best zero seen
    best_err = err;
    best_z = z;
    z = static_cast<float>(acc / g);
    beta *= hp.kappa;
  }
  return best_z;
}

std::string describe_value(float v) {
  return std::isfinite(v) ? std::to_string(v) : std::string(std::isnan(v) ? "NaN" : "Inf");
}

}  // namespace

void quantize_meta(const float* values, int64_t n, int meta_group, uint8_t* codes, uint16_t* meta) {
  const int64_t n_meta = (n + meta_group - 1) / meta_group;
  for (int64_t m = 0; m < n_meta; ++m) {
    const int64_t b = m * meta_group;
    const int64_t e = std::min<int64_t>(n, b + meta_group);
    float mn = values[b], mx = values[b];
    for (int64_t i = b; i < e; ++i) {
      if (!std::isfinite(values[i]))
        throw Error("quantization produced a non-finite scale/zero (" + describe_value(values[i]) +
                    "): the weights contain Inf/NaN or overflow; check the checkpoint");
      mn = std::min(mn, values[i]);
      mx = std::max(mx, values[i]);
    }
    if (std::fabs(mn) > 65504.0f || std::fabs(mx) > 65504.0f)
      throw Error("scale/zero " + std::to_string(std::max(std::fabs(mn), std::fabs(mx))) +
                  " exceeds the fp16 range of the quantized format; the weights are out of range");
    // Round min to fp16 first and derive the step from the *rounded* min, so that codes are chosen
    // against exactly the values the kernels will reconstruct: |v − v̂| <= step/2 + rounding of step.
    const uint16_t mn_h = float_to_half(mn);
    const float mnf = half_to_float(mn_h);
    const uint16_t step_h = float_to_half(std::max(0.0f, mx - mnf) / 255.0f);
    const float step = half_to_float(step_h);
    meta[2 * m] = mn_h;
    meta[2 * m + 1] = step_h;
    for (int64_t i = b; i < e; ++i) {
      const float c = step > 0.0f ? round_even(std::clamp((values[i] - mnf) / step, -1.0f, 256.0f)) : 0.0f;
      codes[i] = static_cast<uint8_t>(std::clamp(c, 0.0f, 255.0f));
    }
  }
}

PackedTensor quantize(const float* w, int64_t rows, int64_t cols, const QuantSpec& spec,
                      Method method, const HqqParams& params, int threads) {
  if (const std::string why = validate_spec(spec, rows, cols); !why.empty())
    throw Error("cannot quantize a " + std::to_string(rows) + "x" + std::to_string(cols) +
                " matrix: " + why);
  const int g = spec.group;
  const int64_t gpr = cols / g;
  const int64_t n_groups = rows * gpr;
  const float qmax = static_cast<float>((1 << spec.bits) - 1);

  PackedTensor out;
  out.spec = spec;
  out.rows = rows;
  out.cols = cols;
  out.scale_codes.resize(n_groups);
  out.zero_codes.resize(n_groups);
  const int64_t n_meta = (n_groups + spec.meta_group - 1) / spec.meta_group;
  out.scale_meta.resize(2 * n_meta);
  out.zero_meta.resize(2 * n_meta);

  // 1. min-max scales (and the group minimum, needed for the initial zero).
  std::vector<float> scale(n_groups), gmin(n_groups);
  std::atomic<bool> finite{true};
  parallel_rows(rows, threads, [&](int64_t r0, int64_t r1) {
    for (int64_t t = r0 * gpr; t < r1 * gpr; ++t) {
      const float* x = w + t * g;
      float mn = x[0], mx = x[0];
      bool ok = true;
      for (int k = 0; k < g; ++k) {
        ok &= std::isfinite(x[k]);
        mn = std::min(mn, x[k]);
        mx = std::max(mx, x[k]);
      }
      if (!ok) finite.store(false, std::memory_order_relaxed);
      float s = (mx - mn) / qmax;
      // A constant group c != 0 gets s = |c|/qmax so that z = −c/s lands on a grid point
      // (Q = 0 reproduces c); c == 0 gives s = 0 and Ŵ = 0.
      if (s == 0.0f) s = std::fabs(mn) / qmax;
      scale[t] = s;
      gmin[t] = mn;
    }
  });
  if (!finite.load()) throw Error("weights contain Inf or NaN: the checkpoint is corrupt; re-download it");

  // 2. scales -> 8 bit (after the per-tensor power-of-two shift, see packed_tensor.h); continue
  //    with the dequantized scale.
  const float smax = *std::max_element(scale.begin(), scale.end());
  out.scale_shift = smax > 0.0f ? std::clamp(-std::ilogb(smax), -14, 100) : 0;
  {
    std::vector<float> shifted(n_groups);
    for (int64_t t = 0; t < n_groups; ++t) shifted[t] = std::ldexp(scale[t], out.scale_shift);
    quantize_meta(shifted.data(), n_groups, spec.meta_group, out.scale_codes.data(),
                  out.scale_meta.data());
  }
  const PackedView meta_view{spec,    rows, cols, nullptr, out.scale_codes.data(), nullptr,
                             out.scale_meta.data(), nullptr, out.scale_shift};
  for (int64_t t = 0; t < n_groups; ++t) scale[t] = dequant_scale(meta_view, t);

  // 3. zeros.
  std::vector<float> zero(n_groups);
  parallel_rows(rows, threads, [&](int64_t r0, int64_t r1) {
    for (int64_t t = r0 * gpr; t < r1 * gpr; ++t) {
      const float s = scale[t];
      const float z0 = s > 0.0f ? -gmin[t] / s : 0.0f;
      zero[t] = method == Method::Hqq ? hqq_zero(w + t * g, g, s, z0, qmax, params) : z0;
    }
  });

  // 4. zeros -> 8 bit.
  quantize_meta(zero.data(), n_groups, spec.meta_group, out.zero_codes.data(),
                out.zero_meta.data());

  // 5. final codes against the stored (dequantized) scale and zero, then pack row by row.
  const int64_t rb = row_bytes(spec.bits, cols);
  out.codes.resize(rows * rb);
  const PackedView v = out.view();
  parallel_rows(rows, threads, [&](int64_t r0, int64_t r1) {
    std::vector<uint8_t> q(cols);
    for (int64_t r = r0; r < r1; ++r) {
      for (int64_t gi = 0; gi < gpr; ++gi) {
        const int64_t t = r * gpr + gi;
        const float s = dequant_scale(v, t);
        const float z = dequant_zero(v, t);
        const float inv_s = s > 0.0f ? 1.0f / s : 0.0f;
        for (int k = 0; k < g; ++k) {
          const float x = w[r * cols + gi * g + k];
          q[gi * g + k] = static_cast<uint8_t>(quantize_value(x, inv_s, z, qmax));
        }
      }
      pack_codes(q.data(), 1, cols, spec.bits, out.codes.data() + r * rb);
    }
  });
  return out;
}

void dequantize(const PackedView& v, float* out) {
  const int64_t gpr = v.groups_per_row();
  const int g = v.spec.group;
  std::vector<uint8_t> q(v.cols);
  const int64_t rb = row_bytes(v.spec.bits, v.cols);
  for (int64_t r = 0; r < v.rows; ++r) {
    unpack_codes(v.codes + r * rb, 1, v.cols, v.spec.bits, q.data());
    for (int64_t gi = 0; gi < gpr; ++gi) {
      const float s = dequant_scale(v, r * gpr + gi);
      const float z = dequant_zero(v, r * gpr + gi);
      for (int k = 0; k < g; ++k) {
        const int64_t c = gi * g + k;
        out[r * v.cols + c] = s * (static_cast<float>(q[c]) - z);
      }
    }
  }
}

}  // namespace lm::quant
