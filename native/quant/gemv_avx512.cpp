// AVX-512F row kernels for the packed HQQ layout. Compiled with -mavx512f -mfma only (see gemv_abi.h).
//
// Design: a block is one 64-byte register; slot i of every lane is (v >> bits·i) & mask, i.e. 16
// codes of 16 contiguous inputs, converted to fp32 and multiplied with one unaligned load of x. Per
// group the partial sums t are scaled once (acc += s·t), so the inner loop is shift, and, convert, FMA.
// The zero-point term is one multiply-add per group, vectorized over groups at the end of the row
// (y = Σ s·Σ Q·x − Σ s·z·Σ x, with Σ x per group computed once per x by the caller), so Ŵ is never
// formed. Templates on (bits, slots per group) let the compiler unroll a block and
// place the group flushes at compile time. That per-row kernel (row_dot) is the reference the fast
// multi-row path further down (gemv_rows, what packed_matmul runs for T <= 8) matches bit for bit.
#include <immintrin.h>

#include "gemv_abi.h"

namespace lm::quant {
namespace {

template <int BITS>
struct Blk {
  static constexpr int kSlots = BITS == 3 ? 16 : 32 / BITS;  // slots per block
  static constexpr int kBytes = BITS == 3 ? 96 : 64;
  static constexpr int kLow = BITS == 3 ? 2 : BITS;          // bits in the 32-bit words
};

// Decoder state of one block: the words (shifted as slots are consumed) and, for 3-bit, the
// third-bit plane widened to 32-bit lanes.
template <int BITS>
struct Decoder {
  __m512i v, hv;
  explicit Decoder(const uint8_t* blk) {
    v = _mm512_loadu_si512(blk);
    if constexpr (BITS == 3)
      hv = _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + 64)));
    else
      hv = _mm512_setzero_si512();
  }
  __m512 next() {
    const __m512i mask = _mm512_set1_epi32((1 << Blk<BITS>::kLow) - 1);
    __m512i q = _mm512_and_si512(v, mask);
    v = _mm512_srli_epi32(v, Blk<BITS>::kLow);
    if constexpr (BITS == 3) {
      q = _mm512_or_si512(q, _mm512_slli_epi32(_mm512_and_si512(hv, _mm512_set1_epi32(1)), 2));
      hv = _mm512_srli_epi32(hv, 1);
    }
    return _mm512_cvtepi32_ps(q);
  }
};

// Latency, not bandwidth, limits a single FMA chain (4 cycles per 16 weights), so partial sums
// alternate between two registers by slot parity and group sums between four accumulators.
template <int SPG>
inline void slot_fma(__m512 q, const float* xs, int64_t slot, const float* s, __m512 (&t)[2],
                     __m512 (&acc)[4]) {
  const int p = static_cast<int>(slot & 1);
  t[p] = _mm512_fmadd_ps(q, _mm512_loadu_ps(xs), t[p]);
  if ((slot + 1) % SPG == 0) {
    const __m512 tt = SPG == 1 ? t[p] : _mm512_add_ps(t[0], t[1]);
    const int a = static_cast<int>((slot / SPG) & 3);
    acc[a] = _mm512_fmadd_ps(_mm512_set1_ps(s[slot / SPG]), tt, acc[a]);
    t[0] = t[1] = _mm512_setzero_ps();
  }
}

template <int BITS, int SPG>
float row_dot_t(const uint8_t* row, int64_t cols, const float* x, const float* s, const float* z,
                const float* xsum) {
  using B = Blk<BITS>;
  const int64_t n_slots = cols / 16;
  const int64_t full = n_slots / B::kSlots;
  __m512 acc[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
  __m512 t[2] = {_mm512_setzero_ps(), _mm512_setzero_ps()};
  for (int64_t j = 0; j < full; ++j) {
    Decoder<BITS> d(row + j * B::kBytes);
#pragma GCC unroll 16
    for (int i = 0; i < B::kSlots; ++i) {
      const int64_t slot = j * B::kSlots + i;
      slot_fma<SPG>(d.next(), x + slot * 16, slot, s, t, acc);
    }
  }
  const int rem = static_cast<int>(n_slots - full * B::kSlots);
  if (rem > 0) {
    Decoder<BITS> d(row + full * B::kBytes);
    for (int i = 0; i < rem; ++i) {
      const int64_t slot = full * B::kSlots + i;
      slot_fma<SPG>(d.next(), x + slot * 16, slot, s, t, acc);
    }
  }
  const __m512 sum = _mm512_add_ps(_mm512_add_ps(acc[0], acc[1]), _mm512_add_ps(acc[2], acc[3]));
  // Zero-point term Σ_g s·z·xsum, vectorized over the row's cols/group groups.
  const int64_t n_groups = n_slots / SPG;
  __m512 bv = _mm512_setzero_ps();
  int64_t gi = 0;
  for (; gi + 16 <= n_groups; gi += 16)
    bv = _mm512_fmadd_ps(_mm512_mul_ps(_mm512_loadu_ps(s + gi), _mm512_loadu_ps(z + gi)), _mm512_loadu_ps(xsum + gi), bv);
  float bias = _mm512_reduce_add_ps(bv);
  for (; gi < n_groups; ++gi) bias += s[gi] * z[gi] * xsum[gi];
  return _mm512_reduce_add_ps(sum) - bias;
}

template <int BITS>
float row_dot_bits(const uint8_t* row, int64_t cols, int group, const float* x, const float* s,
                   const float* z, const float* xsum) {
  switch (group) {
    case 16: return row_dot_t<BITS, 1>(row, cols, x, s, z, xsum);
    case 32: return row_dot_t<BITS, 2>(row, cols, x, s, z, xsum);
    case 64: return row_dot_t<BITS, 4>(row, cols, x, s, z, xsum);
    default: return row_dot_t<BITS, 8>(row, cols, x, s, z, xsum);  // 128 (validated by the caller)
  }
}

float row_dot(const uint8_t* row, int64_t cols, int bits, int group, const float* x,
              const float* s, const float* z, const float* xsum) {
  switch (bits) {
    case 2: return row_dot_bits<2>(row, cols, group, x, s, z, xsum);
    case 3: return row_dot_bits<3>(row, cols, group, x, s, z, xsum);
    case 4: return row_dot_bits<4>(row, cols, group, x, s, z, xsum);
    default: return row_dot_bits<8>(row, cols, group, x, s, z, xsum);
  }
}

template <int BITS>
void row_dequant_t(const uint8_t* row, int64_t cols, int group, const float* s, const float* z,
                   float* out) {
  using B = Blk<BITS>;
  const int64_t n_slots = cols / 16;
  const int spg = group / 16;
  for (int64_t j = 0; j * B::kSlots < n_slots; ++j) {
    Decoder<BITS> d(row + j * B::kBytes);
    for (int i = 0; i < B::kSlots && j * B::kSlots + i < n_slots; ++i) {
      const int64_t slot = j * B::kSlots + i;
      const int64_t g = slot / spg;
      const __m512 w = _mm512_mul_ps(_mm512_set1_ps(s[g]), _mm512_sub_ps(d.next(), _mm512_set1_ps(z[g])));
      _mm512_storeu_ps(out + slot * 16, w);
    }
  }
}

void row_dequant(const uint8_t* row, int64_t cols, int bits, int group, const float* s,
                 const float* z, float* out) {
  switch (bits) {
    case 2: return row_dequant_t<2>(row, cols, group, s, z, out);
    case 3: return row_dequant_t<3>(row, cols, group, s, z, out);
    case 4: return row_dequant_t<4>(row, cols, group, s, z, out);
    default: return row_dequant_t<8>(row, cols, group, s, z, out);
  }
}

float dot(const float* a, const float* b, int64_t n) {
  __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    acc0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), acc0);
    acc1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16), acc1);
  }
  for (; i < n; i += 16) acc0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), acc0);
  return _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
}

// ---- Fast path (gemv_rows, T <= 8): the same arithmetic as row_dot, fewer instructions and loads
// per byte. What limits a batch-1 row here is the loads and the vector ALU work per 16 weights, so:
//
// - Shift-free decode: slot i's code is masked in place, (v & (mask << p_i)) = Q·2^p_i, and
//   converted to fp32 exactly (vcvtudq2ps; at most 4 significant bits at positions < 32). The power
//   of two is undone for free on the x side: prepare_x stores xs = x·2^(K − p_i) (K = the largest
//   p_i), so every product Q·2^p_i · x·2^(K − p_i) is the exact product Q·x·2^K, and the group scale
//   carries 2^−K (s' = (min + step·c)·(2^−shift·2^−K)). Power-of-two scalings are exact (x and the
//   scales are far from fp32's range limits), so each row's partial sums, flushes and zero-point term
//   are bit-identical to row_dot's (same order, same roundings): per slot, and + convert + FMA
//   instead of and + shift + convert + FMA. The masks walk with one shift per slot, shared by rows.
// - 3-bit: the third-bit plane (bit i of a 16-bit lane word) is spread once per block to bit 2i + 2
//   and merged with the low word into two words holding the even / odd slots' whole codes, so a
//   slot is one mask too.
// - Four rows at once, each slot's xs loaded once for all of them (the load was the bottleneck),
//   rows cut into 4096-input chunks so xs stays in L1; software prefetch 2 KB ahead per row.
// - The 8-bit scale / zero codes are dequantized 16 groups per instruction (same fp32 expression as
//   row_prelude, so bit-identical); the fp16 meta pairs with vcvtph2ps.
// - T <= 8 tokens: the codes of a slot are decoded once and used for up to 4 tokens at a time.

template <int BITS>
struct Fast {
  static constexpr int kSlots = Blk<BITS>::kSlots;
  static constexpr int kBytes = Blk<BITS>::kBytes;
  // Bit position of slot i's code after decoding (its value is Q·2^pos).
  static constexpr int pos(int i) { return BITS == 3 ? (i == 15 ? 28 : 2 * i) : BITS * i; }
  static constexpr int kTop = pos(kSlots - 1);  // K
};

// Slot i's mask, ((1 << bits) − 1) << pos(i). The hot loop walks them with one shift per slot
// (mask(i + 1) = mask(i) << (pos(i + 1) − pos(i))), shared by the rows it computes at once: a
// constant per slot would cost a load or a broadcast each (GCC materializes set1 constants as
// mov + vpbroadcastd), and loads are what limits this loop (x is read once per slot).
template <int BITS>
inline __m512i first_mask() {
  return _mm512_set1_epi32(BITS == 8 ? 0xFF : (1 << BITS) - 1);
}
template <int BITS>
inline __m512i next_mask(__m512i m, int i) {  // mask(i + 1) from mask(i)
  constexpr int step = BITS == 3 ? 2 : BITS;
  if (BITS == 3 && i == 14) return m;  // pos(15) == pos(14) == 28
  m = _mm512_slli_epi32(m, step);
  asm("" : "+v"(m));  // keep the shift: GCC would fold it back into per-slot constants
  return m;
}

inline float pow2f(int e) {  // 2^e for |e| < 127, exact
  return _mm_cvtss_f32(_mm_castsi128_ps(_mm_cvtsi32_si128((e + 127) << 23)));
}

// fp16 -> fp32, exact (the same values as fp16.h's half_to_float, including subnormals).
inline float half_to_f32(uint16_t h) {
  return _mm512_cvtss_f32(_mm512_cvtph_ps(_mm256_castsi128_si256(_mm_cvtsi32_si128(h))));
}

template <int BITS>
void prepare_x_t(const float* x, const float* xsum, int64_t cols, int group, float* xs, float* xsum_out) {
  using F = Fast<BITS>;
  const int64_t n_slots = cols / 16;
  for (int64_t slot = 0; slot < n_slots; ++slot) {
    const __m512 f = _mm512_set1_ps(pow2f(F::kTop - F::pos(static_cast<int>(slot % F::kSlots))));
    _mm512_storeu_ps(xs + slot * 16, _mm512_mul_ps(_mm512_loadu_ps(x + slot * 16), f));
  }
  const float top = pow2f(F::kTop);
  for (int64_t g = 0; g < cols / group; ++g) xsum_out[g] = xsum[g] * top;
}

void prepare_x(const float* x, const float* xsum, int64_t cols, int bits, int group, float* xs,
               float* xsum_out) {
  switch (bits) {
    case 2: return prepare_x_t<2>(x, xsum, cols, group, xs, xsum_out);
    case 3: return prepare_x_t<3>(x, xsum, cols, group, xs, xsum_out);
    case 4: return prepare_x_t<4>(x, xsum, cols, group, xs, xsum_out);
    default: return prepare_x_t<8>(x, xsum, cols, group, xs, xsum_out);
  }
}

template <int BITS>
struct FastDecoder {
  // 2/4/8-bit: v = the low words. 3-bit: ev / od hold the even / odd slots' whole 3-bit codes at
  // bits 2i..2i+2 (a 4-bit-like layout: slot 2m at 4m, slot 2m+1 at 4m+2), merged from the low words
  // and the third-bit plane spread to bit 2i+2; slot 15 (whose third bit would land on bit 32)
  // comes from v >> 2 and the plane spread to bit 2i.
  __m512i v, ev, od, s0;
  FastDecoder() = default;
  explicit FastDecoder(const uint8_t* blk) {
    v = _mm512_loadu_si512(blk);
    if constexpr (BITS == 3) {
      __m512i h = _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + 64)));
      // Spread bit i to bit 2i: (h | h << k) & mask, k = 8, 4, 2, 1 (0xA8: (a | b) & c).
      h = _mm512_ternarylogic_epi32(h, _mm512_slli_epi32(h, 8), _mm512_set1_epi32(0x00FF00FF), 0xA8);
      h = _mm512_ternarylogic_epi32(h, _mm512_slli_epi32(h, 4), _mm512_set1_epi32(0x0F0F0F0F), 0xA8);
      h = _mm512_ternarylogic_epi32(h, _mm512_slli_epi32(h, 2), _mm512_set1_epi32(0x33333333), 0xA8);
      h = _mm512_ternarylogic_epi32(h, _mm512_slli_epi32(h, 1), _mm512_set1_epi32(0x55555555), 0xA8);
      s0 = h;
      const __m512i s2 = _mm512_slli_epi32(h, 2);
      // 0xCA: a ? b : c per bit (a = which bits come from the low words).
      ev = _mm512_ternarylogic_epi32(_mm512_set1_epi32(0x33333333), v, s2, 0xCA);
      od = _mm512_ternarylogic_epi32(_mm512_set1_epi32(static_cast<int>(0xCCCCCCCCu)), v, s2, 0xCA);
    } else {
      ev = od = s0 = _mm512_setzero_si512();
    }
  }
  // Q·2^pos(i) of slot i as fp32 (exact); m = slot_mask(i), kept in a register by the caller.
  __m512 get(int i, __m512i m) const {
    if constexpr (BITS == 3) {
      if (i == 15) {
        const __m512i sel = _mm512_ternarylogic_epi32(_mm512_set1_epi32(3 << 28), _mm512_srli_epi32(v, 2), s0, 0xCA);
        return _mm512_cvtepu32_ps(_mm512_and_si512(sel, m));
      }
      return _mm512_cvtepu32_ps(_mm512_and_si512(i % 2 == 0 ? ev : od, m));
    } else {
      return _mm512_cvtepu32_ps(_mm512_and_si512(v, m));
    }
  }
};

// s' (scale · 2^−K) and z of groups [t0, t0 + n) into s, z; returns the zero-point term
// Σ s'·z·xsum' in row_dot's order (16-group chunks, then a scalar tail).
inline float row_bias(const float* s, const float* z, const float* xsum, int64_t n) {
  __m512 bv = _mm512_setzero_ps();
  int64_t gi = 0;
  for (; gi + 16 <= n; gi += 16)
    bv = _mm512_fmadd_ps(_mm512_mul_ps(_mm512_loadu_ps(s + gi), _mm512_loadu_ps(z + gi)), _mm512_loadu_ps(xsum + gi), bv);
  float bias = _mm512_reduce_add_ps(bv);
  for (; gi < n; ++gi) bias += s[gi] * z[gi] * xsum[gi];
  return bias;
}

inline float row_scales(const GemvRowsArgs& a, int64_t t0, int64_t n, float unshift, float* s, float* z) {
  const int64_t mg = a.meta_group;
  const int64_t t1 = t0 + n;
  int64_t m = t0 / mg;
  for (int64_t t = t0; t < t1; ++m) {
    const int64_t e = (m + 1) * mg < t1 ? (m + 1) * mg : t1;
    const float smin = half_to_f32(a.scale_meta[2 * m]), sstep = half_to_f32(a.scale_meta[2 * m + 1]);
    const float zmin = half_to_f32(a.zero_meta[2 * m]), zstep = half_to_f32(a.zero_meta[2 * m + 1]);
    const __m512 vsmin = _mm512_set1_ps(smin), vsstep = _mm512_set1_ps(sstep), vun = _mm512_set1_ps(unshift);
    const __m512 vzmin = _mm512_set1_ps(zmin), vzstep = _mm512_set1_ps(zstep);
    int64_t u = t;
    for (; u + 16 <= e; u += 16) {
      const __m512 cs = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(a.scale_codes + u))));
      const __m512 cz = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(a.zero_codes + u))));
      _mm512_storeu_ps(s + (u - t0), _mm512_mul_ps(_mm512_add_ps(vsmin, _mm512_mul_ps(vsstep, cs)), vun));
      _mm512_storeu_ps(z + (u - t0), _mm512_add_ps(vzmin, _mm512_mul_ps(vzstep, cz)));
    }
    for (; u < e; ++u) {
      s[u - t0] = (smin + sstep * static_cast<float>(a.scale_codes[u])) * unshift;
      z[u - t0] = zmin + zstep * static_cast<float>(a.zero_codes[u]);
    }
    t = e;
  }
  return row_bias(s, z, a.xsum, n);
}

// Blocks per "accumulator cycle": row_dot rotates group sums over acc[(slot / SPG) & 3], so a run
// of kCycle blocks starting at a multiple of kCycle has a compile-time register for every slot.
template <int BITS, int SPG>
constexpr int kCycle = 4 * SPG > Fast<BITS>::kSlots ? 4 * SPG / Fast<BITS>::kSlots : 1;

// Per-row state of the hot loop: partial sums t (by slot parity) and group sums acc, as in row_dot.
struct RowAcc {
  __m512 t[2], acc[4];
};

// kCycle full blocks from block j (a multiple of kCycle) of R rows at once: each slot's xs is
// loaded once for the R rows (loads limit this loop). Registers only.
template <int BITS, int SPG, int R>
__attribute__((always_inline)) inline void fast_blocks(const uint8_t* const (&rows)[R], int64_t j,
                                                       const float* xs, const float* const (&s)[R],
                                                       RowAcc (&st)[R]) {
  using F = Fast<BITS>;
#pragma GCC unroll 8
  for (int u = 0; u < kCycle<BITS, SPG>; ++u) {
    FastDecoder<BITS> d[R];
#pragma GCC unroll 4
    for (int r = 0; r < R; ++r) {
      d[r] = FastDecoder<BITS>(rows[r] + (j + u) * F::kBytes);
      // Software prefetch 2 KB ahead in each row's stream (measured: +0-35% from DRAM at one
      // thread on a Zen 5 host; prefetches never fault, so running past the tensor is harmless).
      _mm_prefetch(reinterpret_cast<const char*>(rows[r] + (j + u) * F::kBytes + 2048), _MM_HINT_T0);
    }
    __m512i m = first_mask<BITS>();
#pragma GCC unroll 16
    for (int i = 0; i < F::kSlots; ++i) {
      const int cyc = (u * F::kSlots + i) % (4 * SPG);  // slot position in the accumulator cycle
      const int64_t slot = (j + u) * F::kSlots + i;
      const int p = cyc & 1;
      __m512 x = _mm512_loadu_ps(xs + slot * 16);
      asm("" : "+v"(x));  // one load for the R rows (GCC would fold it into each FMA: R loads)
#pragma GCC unroll 4
      for (int r = 0; r < R; ++r) {
        st[r].t[p] = _mm512_fmadd_ps(d[r].get(i, m), x, st[r].t[p]);
        if ((cyc + 1) % SPG == 0) {
          const __m512 tt = SPG == 1 ? st[r].t[p] : _mm512_add_ps(st[r].t[0], st[r].t[1]);
          st[r].acc[cyc / SPG] = _mm512_fmadd_ps(_mm512_set1_ps(s[r][slot / SPG]), tt, st[r].acc[cyc / SPG]);
          st[r].t[0] = st[r].t[1] = _mm512_setzero_ps();
        }
      }
      if (i + 1 < F::kSlots) m = next_mask<BITS>(m, i);
    }
  }
}

// The first n slots of block j of one row (a row's partial last block, or blocks past the last
// whole accumulator cycle of a chunk).
template <int BITS, int SPG>
__attribute__((noinline)) void fast_block_tail(const uint8_t* row, int64_t j, int n, const float* xs,
                                               const float* s, RowAcc& st) {
  using F = Fast<BITS>;
  const FastDecoder<BITS> d(row + j * F::kBytes);
  __m512i m = first_mask<BITS>();
  for (int i = 0; i < n; ++i) {
    const int64_t slot = j * F::kSlots + i;
    slot_fma<SPG>(d.get(i, m), xs + slot * 16, slot, s, st.t, st.acc);
    m = next_mask<BITS>(m, i);
  }
}

// Rows are computed in tiles of up to kTile rows, and long rows in chunks of kChunkCols inputs: all
// rows of a tile consume one chunk of xs before the next chunk, two rows at a time in registers, so
// xs is read from L1 (a 14336-input xs is 56 KB, more than L1; streaming it from L2 once per row
// cost ~20% at w2's shape). Each row keeps its own partial sums between chunks, so its arithmetic (order and
// roundings) is that of one pass of row_dot over the row.
constexpr int kTile = 4;
constexpr int64_t kChunkCols = 4096;

template <int BITS, int SPG, int R>
inline void chunk_rows(const uint8_t* const (&rows)[R], const float* const (&s)[R], RowAcc (&st)[R],
                       int64_t c0, int64_t c1, int64_t full, int rem, const float* xs) {
  constexpr int U = kCycle<BITS, SPG>;
  const int64_t c_full = c1 < full ? c1 : full;
  const int64_t c_cyc = c0 + (c_full - c0) / U * U;  // c0 is a multiple of U (chunks are)
  for (int64_t j = c0; j < c_cyc; j += U) fast_blocks<BITS, SPG, R>(rows, j, xs, s, st);
  for (int r = 0; r < R; ++r) {
    for (int64_t j = c_cyc; j < c_full; ++j) fast_block_tail<BITS, SPG>(rows[r], j, Fast<BITS>::kSlots, xs, s[r], st[r]);
    if (c_full < c1) fast_block_tail<BITS, SPG>(rows[r], full, rem, xs, s[r], st[r]);  // partial last block
  }
}

template <int BITS, int SPG>
void gemv_rows_t(const GemvRowsArgs& a) {
  using F = Fast<BITS>;
  const int64_t n_slots = a.cols / 16;
  const int64_t n_blocks = (n_slots + F::kSlots - 1) / F::kSlots;
  const int64_t full = n_slots / F::kSlots;
  const int rem = static_cast<int>(n_slots - full * F::kSlots);
  const int64_t chunk_blocks = kChunkCols / (16 * F::kSlots);
  const int64_t gpr = n_slots / SPG;
  const float unshift = a.unshift * pow2f(-F::kTop);
  const float* xs = a.xs;
  for (int64_t r0 = 0; r0 < a.rows; r0 += kTile) {
    const int nr = static_cast<int>(a.rows - r0 < kTile ? a.rows - r0 : kTile);
    float bias[kTile];
    RowAcc st[kTile];
    const uint8_t* rows[kTile];
    const float* s[kTile];
    for (int rr = 0; rr < nr; ++rr) {
      float* sr = a.scratch + 2 * rr * gpr;
      bias[rr] = row_scales(a, a.group0 + (r0 + rr) * gpr, gpr, unshift, sr, sr + gpr);
      s[rr] = sr;
      rows[rr] = a.codes + (r0 + rr) * a.row_stride;
      for (int i = 0; i < 4; ++i) st[rr].acc[i] = _mm512_setzero_ps();
      st[rr].t[0] = st[rr].t[1] = _mm512_setzero_ps();
    }
    for (int64_t c0 = 0; c0 < n_blocks; c0 += chunk_blocks) {
      const int64_t c1 = c0 + chunk_blocks < n_blocks ? c0 + chunk_blocks : n_blocks;
      int rr = 0;
      if (nr == 4) {
        const uint8_t* const r4[4] = {rows[0], rows[1], rows[2], rows[3]};
        const float* const s4[4] = {s[0], s[1], s[2], s[3]};
        RowAcc st4[4] = {st[0], st[1], st[2], st[3]};
        chunk_rows<BITS, SPG, 4>(r4, s4, st4, c0, c1, full, rem, xs);
        for (int q = 0; q < 4; ++q) st[q] = st4[q];
        rr = 4;
      }
      for (; rr + 2 <= nr; rr += 2) {
        const uint8_t* const r2[2] = {rows[rr], rows[rr + 1]};
        const float* const s2[2] = {s[rr], s[rr + 1]};
        RowAcc st2[2] = {st[rr], st[rr + 1]};
        chunk_rows<BITS, SPG, 2>(r2, s2, st2, c0, c1, full, rem, xs);
        st[rr] = st2[0];
        st[rr + 1] = st2[1];
      }
      if (rr < nr) {
        const uint8_t* const r1[1] = {rows[rr]};
        const float* const s1[1] = {s[rr]};
        RowAcc st1[1] = {st[rr]};
        chunk_rows<BITS, SPG, 1>(r1, s1, st1, c0, c1, full, rem, xs);
        st[rr] = st1[0];
      }
    }
    for (int rr = 0; rr < nr; ++rr) {
      const __m512 sum = _mm512_add_ps(_mm512_add_ps(st[rr].acc[0], st[rr].acc[1]), _mm512_add_ps(st[rr].acc[2], st[rr].acc[3]));
      const float v = _mm512_reduce_add_ps(sum) - bias[rr];
      float* y = a.y + r0 + rr;
      *y = a.accumulate ? *y + v : v;
    }
  }
}

// A few tokens at once (T <= 8, prefill chunks and experts with several tokens): each slot's codes
// are decoded once per row and used for NT tokens (up to 4 at a time); every (row, token) goes
// through the exact operation sequence of the T = 1 path, so results equal T single-token calls
// bit for bit.
template <int BITS, int SPG, int NT>
__attribute__((always_inline)) inline void multi_blocks(const uint8_t* row, int64_t j, const float* const (&xs)[NT],
                                                        const float* s, RowAcc (&st)[NT]) {
  using F = Fast<BITS>;
#pragma GCC unroll 8
  for (int u = 0; u < kCycle<BITS, SPG>; ++u) {
    const FastDecoder<BITS> d(row + (j + u) * F::kBytes);
    __m512i m = first_mask<BITS>();
#pragma GCC unroll 16
    for (int i = 0; i < F::kSlots; ++i) {
      const int cyc = (u * F::kSlots + i) % (4 * SPG);
      const int64_t slot = (j + u) * F::kSlots + i;
      const int p = cyc & 1;
      __m512 q = d.get(i, m);
      asm("" : "+v"(q));  // decoded once for the NT tokens
#pragma GCC unroll 4
      for (int k = 0; k < NT; ++k) {
        st[k].t[p] = _mm512_fmadd_ps(q, _mm512_loadu_ps(xs[k] + slot * 16), st[k].t[p]);
        if ((cyc + 1) % SPG == 0) {
          const __m512 tt = SPG == 1 ? st[k].t[p] : _mm512_add_ps(st[k].t[0], st[k].t[1]);
          st[k].acc[cyc / SPG] = _mm512_fmadd_ps(_mm512_set1_ps(s[slot / SPG]), tt, st[k].acc[cyc / SPG]);
          st[k].t[0] = st[k].t[1] = _mm512_setzero_ps();
        }
      }
      if (i + 1 < F::kSlots) m = next_mask<BITS>(m, i);
    }
  }
}

template <int BITS, int SPG, int NT>
void multi_row(const GemvRowsArgs& a, const uint8_t* row, const float* s, const float* z, int tok0, float* y_row) {
  using F = Fast<BITS>;
  const int64_t n_slots = a.cols / 16;
  const int64_t full = n_slots / F::kSlots;
  const int rem = static_cast<int>(n_slots - full * F::kSlots);
  const int64_t gpr = n_slots / SPG;
  constexpr int U = kCycle<BITS, SPG>;
  const float* xs[NT];
  RowAcc st[NT];
  for (int k = 0; k < NT; ++k) {
    xs[k] = a.xs + (tok0 + k) * a.ldxs;
    for (int i = 0; i < 4; ++i) st[k].acc[i] = _mm512_setzero_ps();
    st[k].t[0] = st[k].t[1] = _mm512_setzero_ps();
  }
  const int64_t f_cyc = full / U * U;
  for (int64_t j = 0; j < f_cyc; j += U) multi_blocks<BITS, SPG, NT>(row, j, xs, s, st);
  for (int k = 0; k < NT; ++k) {
    for (int64_t j = f_cyc; j < full; ++j) fast_block_tail<BITS, SPG>(row, j, F::kSlots, xs[k], s, st[k]);
    if (rem > 0) fast_block_tail<BITS, SPG>(row, full, rem, xs[k], s, st[k]);
    const float bias = row_bias(s, z, a.xsum + (tok0 + k) * gpr, gpr);
    const __m512 sum = _mm512_add_ps(_mm512_add_ps(st[k].acc[0], st[k].acc[1]), _mm512_add_ps(st[k].acc[2], st[k].acc[3]));
    const float v = _mm512_reduce_add_ps(sum) - bias;
    float* y = y_row + (tok0 + k) * a.ldy;
    *y = a.accumulate ? *y + v : v;
  }
}

template <int BITS, int SPG>
void gemv_multi_t(const GemvRowsArgs& a) {
  using F = Fast<BITS>;
  const int64_t gpr = a.cols / 16 / SPG;
  const float unshift = a.unshift * pow2f(-F::kTop);
  float* s = a.scratch;
  float* z = a.scratch + gpr;
  for (int64_t r = 0; r < a.rows; ++r) {
    const uint8_t* row = a.codes + r * a.row_stride;
    row_scales(a, a.group0 + r * gpr, gpr, unshift, s, z);  // its bias (token 0's) is recomputed below
    int k = 0;
    for (; k + 4 <= a.T; k += 4) multi_row<BITS, SPG, 4>(a, row, s, z, k, a.y + r);
    switch (a.T - k) {
      case 3: multi_row<BITS, SPG, 3>(a, row, s, z, k, a.y + r); break;
      case 2: multi_row<BITS, SPG, 2>(a, row, s, z, k, a.y + r); break;
      case 1: multi_row<BITS, SPG, 1>(a, row, s, z, k, a.y + r); break;
      default: break;
    }
  }
}

template <int BITS>
void gemv_rows_bits(const GemvRowsArgs& a) {
  if (a.T > 1) {
    switch (a.group) {
      case 16: return gemv_multi_t<BITS, 1>(a);
      case 32: return gemv_multi_t<BITS, 2>(a);
      case 64: return gemv_multi_t<BITS, 4>(a);
      default: return gemv_multi_t<BITS, 8>(a);
    }
  }
  switch (a.group) {
    case 16: return gemv_rows_t<BITS, 1>(a);
    case 32: return gemv_rows_t<BITS, 2>(a);
    case 64: return gemv_rows_t<BITS, 4>(a);
    default: return gemv_rows_t<BITS, 8>(a);
  }
}

void gemv_rows(const GemvRowsArgs& a) {
  switch (a.bits) {
    case 2: return gemv_rows_bits<2>(a);
    case 3: return gemv_rows_bits<3>(a);
    case 4: return gemv_rows_bits<4>(a);
    default: return gemv_rows_bits<8>(a);
  }
}

}  // namespace

const RowKernels kRowKernelsAvx512{"avx512", row_dot, row_dequant, dot, prepare_x, gemv_rows};

}  // namespace lm::quant
