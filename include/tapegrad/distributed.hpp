#pragma once
// tapegrad's distributed data parallelism on MPI, the one header to include: tg::distributed's
// process group and collectives (init_process_group, get_rank, get_world_size, barrier,
// all_reduce, broadcast, all_gather, destroy_process_group) and
// nn::parallel::DistributedDataParallel, with the rest of tapegrad (data::DistributedSampler
// included). Needs MPI's headers and library: link the CMake target tapegrad::distributed, or
// compile with mpicxx; run with mpirun -np <ranks>.
#include "tapegrad.hpp"
#include "distributed/process_group.hpp"
#include "distributed/data_parallel.hpp"
