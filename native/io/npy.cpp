#include "io/npy.h"

#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

#include "common/check.h"

namespace lm {

void write_npy_f32(const std::string& path, const float* data, const std::vector<int64_t>& shape) {
  std::string dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (";
  size_t numel = 1;
  for (size_t i = 0; i < shape.size(); ++i) {
    dict += std::to_string(shape[i]) + (shape.size() == 1 || i + 1 < shape.size() ? ", " : "");
    numel *= size_t(shape[i]);
  }
  if (shape.size() == 1) dict.pop_back();
  dict += "), }";
  // Header (magic 6 + version 2 + length 2 + dict + '\n') padded with spaces to a multiple of 64.
  const size_t unpadded = 10 + dict.size() + 1;
  dict += std::string((64 - unpadded % 64) % 64, ' ') + "\n";
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) fail("cannot write ", tmp, ": check the folder exists and is writable");
    const uint16_t len = uint16_t(dict.size());
    out.write("\x93NUMPY\x01\x00", 8);
    const char len_bytes[2] = {char(len & 0xff), char(len >> 8)};
    out.write(len_bytes, 2);
    out.write(dict.data(), std::streamsize(dict.size()));
    out.write(reinterpret_cast<const char*>(data), std::streamsize(numel * sizeof(float)));
    if (!out) fail("writing ", tmp, " failed (disk full?)");
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) fail("cannot rename ", tmp, " to ", path);
}

NpyArray read_npy_f32(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("cannot open ", path);
  char magic[10];
  in.read(magic, 10);
  if (!in || std::memcmp(magic, "\x93NUMPY", 6) != 0 || magic[6] != 1)
    fail(path, " is not a version-1 .npy file");
  const size_t len = size_t(uint8_t(magic[8])) | (size_t(uint8_t(magic[9])) << 8);
  std::string dict(len, '\0');
  in.read(dict.data(), std::streamsize(len));
  if (!in) fail(path, ": truncated .npy header");
  if (dict.find("'descr': '<f4'") == std::string::npos || dict.find("'fortran_order': False") == std::string::npos)
    fail(path, ": only little-endian float32 C-order .npy files are supported");
  const size_t open = dict.find("'shape': (");
  const size_t close = dict.find(')', open);
  if (open == std::string::npos || close == std::string::npos) fail(path, ": .npy header has no shape");
  NpyArray a;
  std::stringstream dims(dict.substr(open + 10, close - open - 10));
  std::string item;
  size_t numel = 1;
  while (std::getline(dims, item, ',')) {
    if (item.find_first_not_of(' ') == std::string::npos) continue;
    a.shape.push_back(std::stoll(item));
    numel *= size_t(a.shape.back());
  }
  a.data.resize(numel);
  in.read(reinterpret_cast<char*>(a.data.data()), std::streamsize(numel * sizeof(float)));
  if (!in) fail(path, ": .npy data is truncated");
  return a;
}

}  // namespace lm
