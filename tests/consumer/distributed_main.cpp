// A program on tapegrad::distributed: MPI's header and library both reachable through that one
// target. Run alone it is an MPI singleton (world size 1). Only the process group's header, to
// keep the consumer builds short (distributed_test covers the rest).
#include <cstdio>
#include <tapegrad/core/factories.hpp>
#include <tapegrad/distributed/process_group.hpp>

namespace tg = tapegrad;

int main() {
  tg::distributed::init_process_group();
  tg::Tensor<float> t = tg::ones<float>({3});
  tg::distributed::all_reduce(t, tg::distributed::ReduceOp::SUM);
  const int world = tg::distributed::get_world_size();
  const bool ok = world == 1 && t.data()[2] == 1.0f;
  std::printf("distributed: world size %d, all_reduce %g\n", world, static_cast<double>(t.data()[2]));
  tg::distributed::destroy_process_group();
  return ok ? 0 : 1;
}
