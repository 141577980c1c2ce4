// Nodes of the autograd graph. Each op result holds the node that computes the
// gradients of the op's inputs from the gradient of its output (define-by-run tape).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "framework/tensor/tensor.h"

namespace torus {

class Node {
 public:
  Node(std::string name, const std::vector<Tensor>& inputs, const Tensor& output);
  // Releases long chains iteratively: a recursive release of a graph with 100k nodes
  // would overflow the stack.
  virtual ~Node();
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;

  // Gradients for each input, in order; an undefined tensor where an input gets none.
  virtual std::vector<Tensor> apply(const Tensor& grad_output) = 0;

  const std::string& name() const { return name_; }
  // The nodes that receive each input's gradient; null for inputs that need none.
  const std::vector<std::shared_ptr<Node>>& next() const { return next_; }
  // Creation order; backward runs later nodes first, as PyTorch does, so that the
  // last layers' gradients are ready first (data parallelism overlaps on it).
  uint64_t sequence() const { return sequence_; }
  const Shape& output_shape() const { return output_shape_; }
  DType output_dtype() const { return output_dtype_; }

 protected:
  Node(std::string name, uint64_t sequence) : name_(std::move(name)), sequence_(sequence) {}

 private:
  std::string name_;
  std::vector<std::shared_ptr<Node>> next_;
  uint64_t sequence_;
  Shape output_shape_;
  DType output_dtype_ = DType::f32;
};

using BackwardFn = std::function<std::vector<Tensor>(const Tensor& grad_output)>;

// A node whose backward is a closure written beside the op's forward.
class FunctionNode final : public Node {
 public:
  FunctionNode(std::string name, const std::vector<Tensor>& inputs, const Tensor& output,
               BackwardFn backward)
      : Node(std::move(name), inputs, output), backward_(std::move(backward)) {}
  std::vector<Tensor> apply(const Tensor& grad_output) override { return backward_(grad_output); }

 private:
  BackwardFn backward_;
};

// The sink of a leaf: adds incoming gradients into leaf.grad, then fires the leaf's
// hooks. The engine runs it only after every path to the leaf has delivered, so the
// hooks see the final gradient of this pass.
class AccumulateGrad final : public Node {
 public:
  explicit AccumulateGrad(const std::shared_ptr<TensorImpl>& leaf);
  std::vector<Tensor> apply(const Tensor& grad_output) override;
  void add_hook(GradReadyHook hook) { hooks_.push_back(std::move(hook)); }

 private:
  std::weak_ptr<TensorImpl> leaf_;
  std::vector<GradReadyHook> hooks_;
};

// Where input `t`'s gradient goes: its grad_fn, its leaf accumulator, or null.
std::shared_ptr<Node> gradient_edge(const Tensor& t);

// Attaches `backward` to `output` when grad mode is on and any input requires grad.
// Closures must capture outputs through detach(): the output owns the node, so
// capturing it whole would make a reference cycle.
Tensor record(std::string name, Tensor output, const std::vector<Tensor>& inputs,
              BackwardFn backward);

// Runs backward from `root` with seed gradient `grad` (the engine).
void run_backward(const Tensor& root, const Tensor& grad);

}  // namespace torus
