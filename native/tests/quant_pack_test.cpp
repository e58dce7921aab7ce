// Packed layout: bit-exact pack/unpack round trips, the documented bit positions, zeroed padding,
// and the fp16 conversions the scale/zero meta pairs rely on.
#include <cstring>
#include <random>
#include <vector>

#include "quant/fp16.h"
#include "quant/pack.h"
#include "quant/packed_tensor.h"
#include "quant_test_util.h"

using namespace lm::quant;

static void round_trip(int bits, int64_t rows, int64_t cols, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<uint8_t> q(rows * cols), back(rows * cols, 0xff);
  for (auto& v : q) v = static_cast<uint8_t>(rng() & ((1u << bits) - 1u));
  std::vector<uint8_t> packed(rows * row_bytes(bits, cols), 0xaa);
  pack_codes(q.data(), rows, cols, bits, packed.data());
  unpack_codes(packed.data(), rows, cols, bits, back.data());
  for (int64_t i = 0; i < rows * cols; ++i)
    QCHECK(q[i] == back[i], "bits=%d %lldx%lld: code %lld packed %u unpacked %u", bits,
           static_cast<long long>(rows), static_cast<long long>(cols), static_cast<long long>(i), q[i], back[i]);
  // Packed size is exactly bits/8 per value when cols fills whole blocks.
  if (cols % block_values(bits) == 0)
    QCHECK(static_cast<int64_t>(packed.size()) * 8 == rows * cols * bits, "bits=%d: %zu bytes",
           bits, packed.size());
}

// One code set at a time must land on the documented bit (pack.h).
static void bit_positions(int bits) {
  const int64_t cols = block_values(bits);
  const int low = bits == 3 ? 2 : bits;
  for (int64_t k = 0; k < cols; ++k) {
    std::vector<uint8_t> q(cols, 0);
    q[k] = static_cast<uint8_t>((1u << bits) - 1u);  // all ones
    std::vector<uint8_t> p(row_bytes(bits, cols));
    pack_codes(q.data(), 1, cols, bits, p.data());
    const int i = static_cast<int>(k / 16), w = static_cast<int>(k % 16);
    std::vector<uint8_t> expect(p.size(), 0);
    uint32_t word = ((1u << low) - 1u) << (low * i);
    std::memcpy(expect.data() + 4 * w, &word, 4);
    if (bits == 3) {
      uint16_t h = static_cast<uint16_t>(1u << i);
      std::memcpy(expect.data() + 64 + 2 * w, &h, 2);
    }
    QCHECK(p == expect, "bits=%d k=%lld: code not at slot %d of lane %d", bits, static_cast<long long>(k), i, w);
  }
}

// A row ending in a partial block pads with zero bits (deterministic files; kernels may read them).
static void padding_is_zero(int bits) {
  const int64_t cols = 48;  // < every block size
  std::vector<uint8_t> q(cols, static_cast<uint8_t>((1u << bits) - 1u));
  std::vector<uint8_t> p(row_bytes(bits, cols));
  pack_codes(q.data(), 1, cols, bits, p.data());
  std::vector<uint8_t> q2(block_values(bits), 0);
  std::copy(q.begin(), q.end(), q2.begin());
  std::vector<uint8_t> p2(row_bytes(bits, block_values(bits)));
  pack_codes(q2.data(), 1, block_values(bits), bits, p2.data());
  QCHECK(p == p2, "bits=%d: padding of a partial block is not zero", bits);
}

static void fp16_conversions() {
  // Every half value converts to float and back unchanged (NaNs stay NaN).
  for (uint32_t h = 0; h < 65536; ++h) {
    const float f = half_to_float(static_cast<uint16_t>(h));
    const uint16_t back = float_to_half(f);
    if (std::isnan(f)) {
      QCHECK(std::isnan(half_to_float(back)), "NaN 0x%04x lost", h);
      continue;
    }
    QCHECK(back == h, "half 0x%04x -> %g -> 0x%04x", h, f, back);
  }
  // Rounding: relative error <= 2^-11 in the normal range, ties to even.
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> u(-60000.0f, 60000.0f);
  for (int i = 0; i < 100000; ++i) {
    const float f = u(rng) * (i % 2 ? 1.0f : 1e-3f);
    if (std::fabs(f) < 6.2e-5f) continue;
    const float r = round_to_half(f);
    QCHECK(std::fabs(r - f) <= std::ldexp(std::fabs(f), -11), "%g -> %g", f, r);
  }
  QCHECK(float_to_half(1.0f + std::ldexp(1.0f, -11)) == 0x3c00, "tie must round to even (down)");
  QCHECK(float_to_half(1.0f + 3 * std::ldexp(1.0f, -11)) == 0x3c02, "tie must round to even (up)");
  QCHECK(float_to_half(1e6f) == 0x7c00, "overflow must give inf");
  QCHECK(half_to_float(0x0001) == std::ldexp(1.0f, -24), "smallest subnormal");
}

int main() {
  for (int bits : {2, 3, 4, 8}) {
    for (int64_t cols : {16, 48, 64, 160, 256, 272, 4096, 14336}) round_trip(bits, 5, cols, 1234 + bits);
    bit_positions(bits);
    padding_is_zero(bits);
  }
  fp16_conversions();
  std::printf("quant_pack_test: OK (bits 2/3/4/8, round trips, bit positions, padding, fp16)\n");
  return 0;
}
