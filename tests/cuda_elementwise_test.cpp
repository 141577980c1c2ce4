// GPU: binary elementwise kernels with broadcasting (kernels/cuda/elementwise.h) against a
// CPU reference in double, forward and backward, for the vectorized and the strided paths.
#include <string>
#include <vector>

#include "cuda_test_support.h"
#include "kernels/cuda/elementwise.h"

namespace torus::cuda {
namespace {

using testing::CudaTest;
using testing::DeviceBuffer;
using testing::expect_close;
using testing::random_vector;

double apply(BinaryOp op, double a, double b) {
  switch (op) {
    case BinaryOp::add: return a + b;
    case BinaryOp::sub: return a - b;
    case BinaryOp::mul: return a * b;
    case BinaryOp::div: return a / b;
  }
  return 0;
}

// Offsets of output element i in a and b, by NumPy broadcasting of the unmerged shapes.
struct Indexer {
  std::vector<int64_t> out, a, b;
  int64_t offset(const std::vector<int64_t>& shape, int64_t i) const {
    int64_t off = 0, stride = 1, rest = i;
    for (size_t k = out.size(); k-- > 0;) {
      const int64_t coord = rest % out[k];
      rest /= out[k];
      const size_t rank = shape.size();
      if (k + rank >= out.size()) {
        const int64_t size = shape[k + rank - out.size()];
        if (size != 1) off += coord * stride;
        stride *= size;
      }
    }
    return off;
  }
};

int64_t numel(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t s : shape) n *= s;
  return n;
}

class ElementwiseTest : public CudaTest {
 protected:
  void check(BinaryOp op, std::vector<int64_t> a_shape, std::vector<int64_t> b_shape, size_t misalign = 0) {
    const std::string what = std::string(binary_op_name(op)) + " case " + std::to_string(a_shape.size()) + "x" +
                             std::to_string(b_shape.size()) + (misalign ? " misaligned" : "");
    const BroadcastLayout layout = broadcast_layout(a_shape, b_shape);
    const Indexer index{broadcast_shape(a_shape, b_shape), a_shape, b_shape};
    const int64_t n = layout.numel;
    std::vector<float> a = random_vector(static_cast<size_t>(numel(a_shape)), 1);
    std::vector<float> b = random_vector(static_cast<size_t>(numel(b_shape)), 2, 0.5f, 2.0f);  // no division by ~0
    std::vector<float> g = random_vector(static_cast<size_t>(n), 3);
    DeviceBuffer da(a, misalign), db(b), dout(static_cast<size_t>(n)), dg(g);
    binary_forward(op, da.get(), db.get(), dout.get(), layout, stream_);
    DeviceBuffer dga(a.size()), dgb(b.size());
    binary_backward(op, dg.get(), da.get(), db.get(), dga.get(), dgb.get(), layout, stream_);
    sync();

    std::vector<double> want(static_cast<size_t>(n)), want_ga(a.size(), 0.0), want_gb(b.size(), 0.0);
    for (int64_t i = 0; i < n; ++i) {
      const int64_t ia = index.offset(a_shape, i), ib = index.offset(b_shape, i);
      const double x = a[static_cast<size_t>(ia)], y = b[static_cast<size_t>(ib)], gi = g[static_cast<size_t>(i)];
      want[static_cast<size_t>(i)] = apply(op, x, y);
      const double da_local = op == BinaryOp::mul ? y : op == BinaryOp::div ? 1.0 / y : 1.0;
      const double db_local = op == BinaryOp::mul ? x : op == BinaryOp::div ? -x / (y * y)
                              : op == BinaryOp::sub ? -1.0 : 1.0;
      want_ga[static_cast<size_t>(ia)] += gi * da_local;
      want_gb[static_cast<size_t>(ib)] += gi * db_local;
    }
    expect_close(dout.download(), want, 1e-6, 1e-6, what + " forward");
    // Sums over broadcast dims in f32: the tolerance grows with the number of terms.
    const double terms = static_cast<double>(n) / static_cast<double>(std::min(a.size(), b.size()));
    expect_close(dga.download(), want_ga, 1e-5 * terms, 1e-5, what + " grad_a");
    expect_close(dgb.download(), want_gb, 1e-5 * terms, 1e-5, what + " grad_b");
  }
};

TEST_F(ElementwiseTest, SameShapeVectorizedWithTail) {
  for (BinaryOp op : {BinaryOp::add, BinaryOp::sub, BinaryOp::mul, BinaryOp::div}) {
    check(op, {1003}, {1003});
    check(op, {64, 129}, {64, 129});
  }
}

TEST_F(ElementwiseTest, SameShapeMisalignedTakesTheScalarPath) {
  check(BinaryOp::add, {1001}, {1001}, 1);
  check(BinaryOp::mul, {1001}, {1001}, 3);
}

TEST_F(ElementwiseTest, BiasBroadcastOverRows) {
  check(BinaryOp::add, {32, 17, 48}, {48});
  check(BinaryOp::mul, {32, 17, 48}, {48});
}

TEST_F(ElementwiseTest, BothSidesBroadcast) {
  for (BinaryOp op : {BinaryOp::add, BinaryOp::sub, BinaryOp::mul, BinaryOp::div}) {
    check(op, {4, 1, 5, 3}, {1, 6, 1, 3});
    check(op, {7, 1}, {1, 9});
  }
}

TEST_F(ElementwiseTest, ScalarOperand) {
  check(BinaryOp::mul, {100, 10}, {});
  check(BinaryOp::div, {}, {50});
}

TEST_F(ElementwiseTest, LargeGridStride) {
  check(BinaryOp::add, {1 << 22}, {1 << 22});  // more vectors than kDefaultMaxBlocks * 256
}

}  // namespace
}  // namespace torus::cuda
