// A program on tapegrad::io: the file-format headers and nlohmann_json both reachable through
// that one target (no include path of its own).
#include <cstdio>

#include <nlohmann/json.hpp>
#include <tapegrad/io/record.hpp>
#include <tapegrad/version.hpp>

int main() {
  nlohmann::json header = {{"tapegrad", TAPEGRAD_VERSION},
                           {"dtype", tapegrad::io::dtype_name(tapegrad::io::DType::F32)},
                           {"bytes", tapegrad::io::dtype_size(tapegrad::io::DType::F32)}};
  const std::string text = header.dump();
  std::printf("%s\n", text.c_str());
  return nlohmann::json::parse(text)["bytes"].get<int>() == 4 ? 0 : 1;
}
