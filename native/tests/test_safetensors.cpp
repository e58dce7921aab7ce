// safetensors reader: valid single/sharded checkpoints, every corruption class the parser guards
// against (each must be an lm::Error naming the file, never a crash), and a fuzz loop that mutates
// bytes of a valid image (run under ASan by scripts/test-native.sh, so an out-of-bounds read fails).
#include <cstdio>
#include <random>

#include "check.h"
#include "io/safetensors.h"
#include "test_util.h"

using lm_test::safetensors_image;

namespace {

// Two F32 tensors a [2, 3] and b [4] + metadata: 40 data bytes.
const std::string kHeader =
    R"({"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},)"
    R"("b":{"dtype":"F32","shape":[4],"data_offsets":[24,40]}})";

std::vector<uint8_t> valid_data() {
  return lm_test::floats_bytes({1, 2, 3, 4, 5, 6, 7, 8, 9, 10});
}

lm::SafetensorsHeader parse(const std::vector<uint8_t>& image) {
  return lm::parse_safetensors(image.data(), image.size(), "x.safetensors");
}

lm::SafetensorsHeader parse_header(const std::string& header, size_t data_bytes = 40) {
  std::vector<uint8_t> data(data_bytes, 0);
  return parse(safetensors_image(header, data));
}

void test_valid() {
  const auto image = safetensors_image(kHeader, valid_data());
  const lm::SafetensorsHeader h = parse(image);
  CHECK(h.tensors.size() == 2);
  CHECK(h.metadata.at("format") == "pt");
  CHECK(h.tensors[0].name == "a" && h.tensors[0].shape == std::vector<int64_t>({2, 3}));
  CHECK(h.tensors[1].name == "b" && h.tensors[1].bytes == 16);
  float v = 0;
  std::memcpy(&v, h.tensors[1].data, 4);
  CHECK(v == 7.0f);
  // Zero-size tensor and empty header object are fine.
  CHECK(parse_header(R"({"z":{"dtype":"BF16","shape":[0,4],"data_offsets":[0,0]}})", 0).tensors.size() == 1);
  CHECK(parse_header("{}", 0).tensors.empty());
}

void test_corrupt() {
  const auto image = safetensors_image(kHeader, valid_data());
  // Too short for the length field.
  CHECK_THROWS(parse(std::vector<uint8_t>(image.begin(), image.begin() + 5)), "x.safetensors");
  // Header length past the end / absurd.
  std::vector<uint8_t> bad = image;
  bad[0] = 0xff;
  bad[1] = 0xff;
  CHECK_THROWS(parse(bad), "runs past the end");
  bad = image;
  bad[7] = 0x80;
  CHECK_THROWS(parse(bad), "out of range");
  // Truncated data: offsets then run past the end of the buffer.
  CHECK_THROWS(parse(std::vector<uint8_t>(image.begin(), image.end() - 1)), "run past the end");
  // Truncated inside the header.
  CHECK_THROWS(parse(std::vector<uint8_t>(image.begin(), image.begin() + 20)), "runs past the end");
  // Not JSON / not an object.
  CHECK_THROWS(parse_header("{\"a\": [1, 2"), "not valid JSON");
  CHECK_THROWS(parse_header("[1, 2, 3]"), "not a JSON object");
  // Unsupported dtype: named, with what to do.
  CHECK_THROWS(parse_header(R"({"a":{"dtype":"I8","shape":[4],"data_offsets":[0,4]}})"), "dtype I8");
  CHECK_THROWS(parse_header(R"({"a":{"dtype":"F64","shape":[4],"data_offsets":[0,32]}})"), "supported: BF16, F16, F32");
  // Missing / malformed fields.
  CHECK_THROWS(parse_header(R"({"a":{"shape":[4],"data_offsets":[0,16]}})"), "dtype");
  CHECK_THROWS(parse_header(R"({"a":{"dtype":"F32","data_offsets":[0,16]}})"), "shape");
  CHECK_THROWS(parse_header(R"({"a":{"dtype":"F32","shape":[4]}})"), "data_offsets");
  CHECK_THROWS(parse_header(R"({"a":{"dtype":"F32","shape":[-4],"data_offsets":[0,16]}})"), "invalid dimension");
  CHECK_THROWS(parse_header(R"({"a":{"dtype":"F32","shape":[1.5],"data_offsets":[0,16]}})"), "invalid dimension");
  CHECK_THROWS(parse_header(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[16,0]}})"), "begin <= end");
  CHECK_THROWS(parse_header(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16,3]}})"), "data_offsets");
  CHECK_THROWS(parse_header(R"({"a":3})"), "not an object");
  // Offsets past the end of the data, size mismatch, overlap.
  CHECK_THROWS(parse_header(R"({"a":{"dtype":"F32","shape":[20],"data_offsets":[0,80]}})"), "run past the end");
  CHECK_THROWS(parse_header(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,16]}})"), "needs 12");
  CHECK_THROWS(parse_header(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},)"
                            R"("b":{"dtype":"F32","shape":[4],"data_offsets":[8,24]}})"),
               "overlap");
  // Overflowing shape.
  CHECK_THROWS(parse_header(R"({"a":{"dtype":"F32","shape":[1099511627776,1099511627776],"data_offsets":[0,16]}})"),
               "x.safetensors");
  // Bad metadata.
  CHECK_THROWS(parse_header(R"({"__metadata__":{"k":3}})"), "__metadata__");
  CHECK_THROWS(parse_header(R"({"__metadata__":[1]})"), "__metadata__");
}

// Mutate bytes / truncate a valid image many times: every outcome must be success or lm::Error.
void test_fuzz() {
  const auto image = safetensors_image(kHeader, valid_data());
  std::mt19937 rng(1234);
  int parsed = 0, rejected = 0;
  for (int iter = 0; iter < 4000; ++iter) {
    std::vector<uint8_t> m = image;
    const int mode = int(rng() % 3);
    if (mode == 0) {  // flip a few bytes anywhere (header length, JSON, data)
      const int n = 1 + int(rng() % 4);
      for (int i = 0; i < n; ++i) m[rng() % m.size()] = uint8_t(rng());
    } else if (mode == 1) {  // change a digit or quote inside the JSON
      const size_t pos = 8 + rng() % kHeader.size();
      const char repl[] = "0123456789\"{}[],:-eE";
      m[pos] = uint8_t(repl[rng() % (sizeof(repl) - 1)]);
    } else {  // truncate
      m.resize(rng() % m.size());
    }
    // Exact-size heap copy so ASan sees any read past the end.
    std::vector<uint8_t> exact(m.begin(), m.end());
    try {
      const lm::SafetensorsHeader h = lm::parse_safetensors(exact.data(), exact.size(), "fuzz.safetensors");
      uint32_t sum = 0;
      for (const lm::TensorInfo& t : h.tensors) {
        CHECK(t.data >= exact.data() && t.data + t.bytes <= exact.data() + exact.size());
        for (size_t i = 0; i < t.bytes; ++i) sum += t.data[i];  // touch every byte
      }
      (void)sum;
      ++parsed;
    } catch (const lm::Error& e) {
      CHECK(std::string(e.what()).find("fuzz.safetensors") != std::string::npos);
      ++rejected;
    }
  }
  std::printf("fuzz: %d parsed, %d rejected\n", parsed, rejected);
  CHECK(rejected > 100 && parsed > 10);  // the loop really exercised both outcomes
}

void test_files_and_checkpoints() {
  lm_test::TempDir dir("st");
  // Single file, with a header length that leaves the F32 data misaligned: values still right.
  std::string odd_header = kHeader;  // pad with spaces until the data starts at an odd offset
  while ((8 + odd_header.size()) % 2 == 0) odd_header += " ";
  CHECK((8 + odd_header.size()) % 4 != 0);
  lm_test::write_file(dir.file("model.safetensors"), safetensors_image(odd_header, valid_data()));
  {
    const lm::Checkpoint ck(dir.path());
    const lm::TensorInfo& b = ck.require("b", {4}, "test");
    CHECK(reinterpret_cast<uintptr_t>(b.data) % 4 == 0);
    CHECK(reinterpret_cast<const float*>(b.data)[3] == 10.0f);
    CHECK_THROWS(ck.require("b", {2, 2}, "hidden_size=2 in config.json"), "[4]");
    CHECK_THROWS(ck.require("nope", {4}, "test"), "'nope' is missing");
    CHECK(ck.all().size() == 2 && ck.total_bytes() == 40);
  }
  // Sharded: index + two files.
  lm_test::TempDir sh("shard");
  lm_test::write_file(sh.file("m-1.safetensors"),
                      safetensors_image(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})",
                                        lm_test::floats_bytes({1, 2})));
  lm_test::write_file(sh.file("m-2.safetensors"),
                      safetensors_image(R"({"b":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})",
                                        lm_test::floats_bytes({3})));
  lm_test::write_text(sh.file("model.safetensors.index.json"),
                      R"({"metadata":{},"weight_map":{"a":"m-1.safetensors","b":"m-2.safetensors"}})");
  {
    const lm::Checkpoint ck(sh.path());
    CHECK(ck.num_files() == 2);
    CHECK(reinterpret_cast<const float*>(ck.require("b", {1}, "t").data)[0] == 3.0f);
  }
  lm_test::write_text(sh.file("model.safetensors.index.json"),
                      R"({"weight_map":{"a":"m-1.safetensors","b":"m-1.safetensors"}})");
  CHECK_THROWS(lm::Checkpoint(sh.path()), "does not hold it");
  lm_test::write_text(sh.file("model.safetensors.index.json"),
                      R"({"weight_map":{"a":"m-1.safetensors","b":"m-3.safetensors"}})");
  CHECK_THROWS(lm::Checkpoint(sh.path()), "m-3.safetensors is listed");
  lm_test::write_text(sh.file("model.safetensors.index.json"), R"({"weight_map":{"a":"../m-1.safetensors"}})");
  CHECK_THROWS(lm::Checkpoint(sh.path()), "not a file in this folder");
  lm_test::write_text(sh.file("model.safetensors.index.json"), R"({"weight_map":)");
  CHECK_THROWS(lm::Checkpoint(sh.path()), "not valid JSON");
  lm_test::write_text(sh.file("model.safetensors.index.json"), R"({"weight_map":{"a":"m-1.safetensors"}})");
  lm_test::write_file(sh.file("m-2.safetensors"),
                      safetensors_image(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})",
                                        lm_test::floats_bytes({3})));
  // m-2 is not referenced by the index now, so it is not opened: loads fine.
  CHECK(lm::Checkpoint(sh.path()).num_files() == 1);
  // Corrupt shard: error names the shard.
  lm_test::write_file(sh.file("m-1.safetensors"), {1, 2, 3});
  CHECK_THROWS(lm::Checkpoint(sh.path()), "m-1.safetensors");
  // Empty folder.
  lm_test::TempDir empty("empty");
  CHECK_THROWS(lm::Checkpoint(empty.path()), "no model.safetensors");
}

}  // namespace

int main() {
  test_valid();
  test_corrupt();
  test_fuzz();
  test_files_and_checkpoints();
  return lm_test::finish("test_safetensors");
}
