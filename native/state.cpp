// state.cpp — see state.h.
#include "state.h"

#include <algorithm>
#include <stdexcept>

namespace ftplan {

StateLoadReport load_parameters(Model& model, const NamedTensors& tensors) {
  torch::NoGradGuard no_grad;
  StateLoadReport r;
  auto params = model.module().named_parameters();
  for (const auto& [name, t] : tensors) {
    auto* p = params.find(name);
    if (p == nullptr) {
      r.unexpected.push_back(name);
      continue;
    }
    if (p->sizes() != t.sizes())
      throw std::invalid_argument("tensor '" + name + "' has shape " + c10::str(t.sizes()) + " but the model's is " + c10::str(p->sizes()));
    if (!torch::isfinite(t).all().item<bool>()) throw std::invalid_argument("tensor '" + name + "' contains NaN or infinite values");
    p->copy_(t);
    r.loaded.push_back(name);
  }
  for (const auto& item : params)
    if (std::find(r.loaded.begin(), r.loaded.end(), item.key()) == r.loaded.end()) r.missing.push_back(item.key());
  return r;
}

NamedTensors parameters_on_cpu(Model& model) {
  NamedTensors out;
  for (const auto& item : model.module().named_parameters())
    out.emplace_back(item.key(), item.value().detach().to(torch::kCPU, torch::kFloat32).contiguous().clone());
  return out;
}

}  // namespace ftplan
