// state.cpp — see state.h.
#include "state.h"

#include <map>
#include <set>
#include <stdexcept>

#include "peft.h"

namespace ftplan {

namespace {

// `<path>.weight` -> its linear layer, for the linears whose weight is not a plain parameter (NF4)
// or is merged (LoRA).
std::map<std::string, std::shared_ptr<LinearImpl>> special_weights(Model& model) {
  std::map<std::string, std::shared_ptr<LinearImpl>> out;
  for (const auto& [path, lin] : linear_modules(model))
    if (lin->is_nf4() || lin->has_lora()) out.emplace(path + ".weight", lin);
  return out;
}

torch::Tensor on_cpu(const torch::Tensor& t) { return t.detach().to(torch::kCPU, torch::kFloat32).contiguous().clone(); }

bool is_adapter(const std::string& name) { return name.find(".lora_A.") != std::string::npos || name.find(".lora_B.") != std::string::npos; }

}  // namespace

StateLoadReport load_parameters(Model& model, const NamedTensors& tensors) {
  torch::NoGradGuard no_grad;
  StateLoadReport r;
  auto params = model.module().named_parameters();
  const auto special = special_weights(model);
  std::set<std::string> loaded;
  for (const auto& [name, t] : tensors) {
    auto* p = params.find(name);
    if (p == nullptr) {
      r.unexpected.push_back(name);
      continue;
    }
    const auto lin = special.find(name);
    const bool nf4 = lin != special.end() && lin->second->is_nf4();
    const auto want = nf4 ? std::vector<int64_t>{lin->second->out_features(), lin->second->in_features()} : p->sizes().vec();
    if (t.sizes().vec() != want)
      throw std::invalid_argument("tensor '" + name + "' has shape " + c10::str(t.sizes()) + " but the model's is " + c10::str(c10::IntArrayRef(want)));
    if (!torch::isfinite(t).all().item<bool>()) throw std::invalid_argument("tensor '" + name + "' contains NaN or infinite values");
    if (nf4) lin->second->set_weight(t);
    else p->copy_(t);
    r.loaded.push_back(name);
    loaded.insert(name);
  }
  for (const auto& item : params)
    if (!loaded.count(item.key())) r.missing.push_back(item.key());
  return r;
}

NamedTensors model_state(Model& model, StateKind kind) {
  torch::NoGradGuard no_grad;
  const auto special = special_weights(model);
  NamedTensors out;
  for (const auto& item : model.module().named_parameters()) {
    const auto& name = item.key();
    const auto& p = item.value();
    if (kind == StateKind::trainable) {
      if (p.requires_grad()) out.emplace_back(name, on_cpu(p));
      continue;
    }
    if (kind == StateKind::merged && is_adapter(name)) continue;
    const auto lin = special.find(name);
    if (lin == special.end()) out.emplace_back(name, on_cpu(p));
    else if (kind == StateKind::merged) out.emplace_back(name, on_cpu(lin->second->merged_weight()));
    else out.emplace_back(name, on_cpu(lin->second->dense_weight()));
  }
  return out;
}

}  // namespace ftplan
