// The backward engine: counts dependencies over the graph reachable from the root, then
// runs nodes once all their gradient contributions have arrived, latest-created first.
#include <queue>
#include <unordered_map>

#include "framework/autograd/grad_mode.h"
#include "framework/autograd/node.h"
#include "framework/ops/ops.h"
#include "framework/profile/profiler.h"

namespace torus {
namespace {

struct LaterFirst {
  bool operator()(const Node* a, const Node* b) const { return a->sequence() < b->sequence(); }
};

// Number of incoming edges of every node reachable from root (iterative: graphs of a
// long training step are deeper than the stack).
std::unordered_map<Node*, int> count_dependencies(Node* root) {
  std::unordered_map<Node*, int> dependencies{{root, 0}};
  std::vector<Node*> stack{root};
  while (!stack.empty()) {
    Node* node = stack.back();
    stack.pop_back();
    for (const auto& next : node->next()) {
      if (!next) continue;
      auto [it, inserted] = dependencies.try_emplace(next.get(), 0);
      ++it->second;
      if (inserted) stack.push_back(next.get());
    }
  }
  return dependencies;
}

}  // namespace

void run_backward(const Tensor& root, const Tensor& seed) {
  std::shared_ptr<Node> root_node = gradient_edge(root);
  TORUS_CHECK(root_node != nullptr,
              "backward: the tensor does not require grad (no input of the graph has "
              "requires_grad set, or it was computed under NoGradGuard)");
  NoGradGuard no_grad;

  std::unordered_map<Node*, int> dependencies = count_dependencies(root_node.get());
  std::unordered_map<Node*, Tensor> pending{{root_node.get(), seed}};
  std::priority_queue<Node*, std::vector<Node*>, LaterFirst> ready;
  ready.push(root_node.get());

  while (!ready.empty()) {
    Node* node = ready.top();
    ready.pop();
    auto pending_it = pending.find(node);
    Tensor grad = std::move(pending_it->second);
    pending.erase(pending_it);

    std::vector<Tensor> input_grads;
    {
      TORUS_PROFILE_SCOPE(node->name(), "backward");
      input_grads = node->apply(grad);
    }
    const auto& next = node->next();
    TORUS_ASSERT(input_grads.size() == next.size() || next.empty(),
                 "{} returned {} gradients for {} inputs", node->name(), input_grads.size(),
                 next.size());
    for (size_t i = 0; i < next.size(); ++i) {
      Node* target = next[i].get();
      if (target == nullptr) continue;
      const Tensor& g = input_grads[i];
      if (g.defined()) {
        TORUS_ASSERT(g.shape() == target->output_shape() ||
                         dynamic_cast<AccumulateGrad*>(target) != nullptr,
                     "{} produced a gradient of shape {} for an input of shape {}",
                     node->name(), g.shape_str(), shape_str(target->output_shape()));
        auto [slot, inserted] = pending.try_emplace(target, g);
        if (!inserted) slot->second = slot->second.defined() ? add(slot->second, g) : g;
      } else {
        pending.try_emplace(target, Tensor());
      }
      if (--dependencies[target] == 0) {
        if (pending[target].defined()) {
          ready.push(target);
        } else {
          pending.erase(target);  // no gradient flowed here; its inputs get none from it
          // Its own inputs still wait on it: release them without a gradient.
          std::vector<Node*> release{target};
          while (!release.empty()) {
            Node* skipped = release.back();
            release.pop_back();
            for (const auto& edge : skipped->next()) {
              if (!edge) continue;
              if (--dependencies[edge.get()] == 0) {
                if (pending.count(edge.get()) && pending[edge.get()].defined()) ready.push(edge.get());
                else { pending.erase(edge.get()); release.push_back(edge.get()); }
              }
            }
          }
        }
      }
    }
  }
}

void Tensor::backward(const Tensor& gradient) const {
  Tensor seed = gradient;
  if (!seed.defined()) {
    TORUS_CHECK(numel() == 1,
                "backward: a gradient must be given for a non-scalar output of shape {}",
                shape_str());
    seed = Tensor::ones(shape(), dtype(), device());
  }
  TORUS_CHECK(seed.shape() == shape(), "backward: gradient shape {} does not match output {}",
              seed.shape_str(), shape_str());
  run_backward(*this, seed);
}

}  // namespace torus
