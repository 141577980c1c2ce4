// Graph construction: edges from op inputs to their gradient consumers.
#include "framework/autograd/node.h"

#include <limits>

#include "framework/autograd/grad_mode.h"
#include "framework/ops/ops.h"

namespace torus {
namespace {
std::atomic<uint64_t> next_sequence{0};
}

Node::Node(std::string name, const std::vector<Tensor>& inputs, const Tensor& output)
    : name_(std::move(name)),
      sequence_(next_sequence.fetch_add(1, std::memory_order_relaxed)),
      output_shape_(output.shape()),
      output_dtype_(output.dtype()) {
  next_.reserve(inputs.size());
  for (const Tensor& input : inputs) next_.push_back(gradient_edge(input));
}

Node::~Node() {
  std::vector<std::shared_ptr<Node>> orphans;
  auto adopt = [&orphans](std::vector<std::shared_ptr<Node>>& edges) {
    for (auto& edge : edges)
      if (edge && edge.use_count() == 1) orphans.push_back(std::move(edge));
  };
  adopt(next_);
  while (!orphans.empty()) {
    std::shared_ptr<Node> node = std::move(orphans.back());
    orphans.pop_back();
    adopt(node->next_);
  }  // each node is destroyed here with no children left to recurse into
}

AccumulateGrad::AccumulateGrad(const std::shared_ptr<TensorImpl>& leaf)
    : Node("accumulate_grad", std::numeric_limits<uint64_t>::max()), leaf_(leaf) {}

std::vector<Tensor> AccumulateGrad::apply(const Tensor& grad_output) {
  std::shared_ptr<TensorImpl> impl = leaf_.lock();
  if (!impl) return {};  // the leaf is gone; nobody can read its gradient
  Tensor leaf(impl);
  if (impl->grad) {
    add_(Tensor(impl->grad), grad_output);
  } else if (grad_output.impl_ptr().use_count() == 1 && grad_output.storage().use_count() == 1 &&
             grad_output.dtype() == leaf.dtype() && grad_output.is_contiguous()) {
    // The engine holds the only reference to this buffer: keep it, no copy. (Later
    // passes add into it in place, so it must not be shared.)
    impl->grad = grad_output.impl_ptr();
  } else {
    // A fresh contiguous buffer: grad_output is a broadcast view, shared with another
    // input's gradient or saved by a backward closure.
    Tensor grad = grad_output.to(leaf.dtype()).contiguous();
    if (grad.storage() == grad_output.storage()) grad = grad.clone();
    impl->grad = grad.impl_ptr();
  }
  for (const GradReadyHook& hook : hooks_) hook(leaf);
  return {};
}

std::shared_ptr<Node> gradient_edge(const Tensor& t) {
  if (!t.defined() || !t.requires_grad()) return nullptr;
  TensorImpl& impl = t.impl();
  if (impl.grad_fn) return impl.grad_fn;
  if (!impl.grad_accumulator) impl.grad_accumulator = std::make_shared<AccumulateGrad>(t.impl_ptr());
  return impl.grad_accumulator;
}

Tensor record(std::string name, Tensor output, const std::vector<Tensor>& inputs,
              BackwardFn backward) {
  if (!GradMode::enabled()) return output;
  bool any = false;
  for (const Tensor& input : inputs) any |= input.defined() && input.requires_grad();
  if (!any) return output;
  auto node = std::make_shared<FunctionNode>(std::move(name), inputs, output, std::move(backward));
  output.impl().requires_grad = true;
  output.impl().grad_fn = std::move(node);
  return output;
}

void Tensor::register_grad_ready_hook(GradReadyHook hook) const {
  TORUS_CHECK(is_leaf() && requires_grad(),
              "register_grad_ready_hook: only leaves that require grad have a final gradient");
  std::static_pointer_cast<AccumulateGrad>(gradient_edge(*this))->add_hook(std::move(hook));
}

}  // namespace torus
