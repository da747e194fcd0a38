// The compile-time floor: a file that includes only <Eigen/Dense> and does one GEMM.
#include <Eigen/Dense>
#include <cstdio>

int main() {
  Eigen::MatrixXf a = Eigen::MatrixXf::Random(64, 64), b = Eigen::MatrixXf::Random(64, 64);
  Eigen::MatrixXf c = a * b;
  std::printf("%f\n", c.sum());
}
