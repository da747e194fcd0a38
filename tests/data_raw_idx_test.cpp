// read_idx without zlib: this test links tapegrad::tapegrad only (no TAPEGRAD_WITH_ZLIB, no -lz),
// so it also shows raw IDX files need no zlib at all and that linking the core alone never fails.

#include <cstdint>
#include <string>
#include <vector>

#include "support/helpers.hpp"

namespace tg = tapegrad;
using namespace tapegrad_test;

static_assert(TAPEGRAD_IDX_GZIP == 0, "without TAPEGRAD_WITH_ZLIB idx.hpp must stay off zlib");

TEST_CASE("without zlib, read_idx reads raw IDX files and refuses gzipped ones by name") {
  TempFile f("raw_idx_test.idx");
  write_bytes(f.path, {0, 0, 0x0B, 1, 0, 0, 0, 2, 0xFF, 0xFE, 0x01, 0x02});
  const tg::Tensor<double> t = tg::data::read_idx<double>(f.path);
  REQUIRE(t.shape() == tg::Shape{2});
  CHECK(t.data()[0] == -2.0);
  CHECK(t.data()[1] == 258.0);
  write_bytes(f.path, {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3});
  CHECK_THROWS_WITH(tg::data::read_idx<float>(f.path),
                    "read_idx: raw_idx_test.idx: gzip-compressed, and this program was built without zlib (link "
                    "tapegrad::data, or define TAPEGRAD_WITH_ZLIB and link -lz): gunzip the file first");
  CHECK_THROWS_WITH(tg::data::MNIST<float>("no_such_mnist"),
                    "MNIST: no_such_mnist: has neither train-images-idx3-ubyte nor train-images-idx3-ubyte.gz");
}
