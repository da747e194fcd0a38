// A program on tapegrad::data: zlib's header and library both reachable through that one target.
// Writes a gzipped IDX file of 2 x 3 unsigned bytes with zlib, reads it back with read_idx.
#include <zlib.h>

#include <cstdio>
#include <tapegrad/data/idx.hpp>

int main() {
  const char* path = "consumer_data.idx.gz";
  const unsigned char file[] = {0, 0, 0x08, 2, 0, 0, 0, 2, 0, 0, 0, 3, 1, 2, 3, 4, 5, 6};
  gzFile out = gzopen(path, "wb");
  if (!out || gzwrite(out, file, sizeof file) != static_cast<int>(sizeof file) || gzclose(out) != Z_OK) return 2;
  const tapegrad::Tensor<float> t = tapegrad::data::read_idx<float>(path);
  std::remove(path);
  std::printf("read_idx: shape [%lld, %lld], last value %g\n", static_cast<long long>(t.size(0)),
              static_cast<long long>(t.size(1)), static_cast<double>(t.data()[5]));
  return t.dim() == 2 && t.size(0) == 2 && t.size(1) == 3 && t.data()[5] == 6.0f ? 0 : 1;
}
