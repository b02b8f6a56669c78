// peft.cpp — see peft.h.
#include "peft.h"

#include "synthetic_init.h"

#include <algorithm>
#include <cmath>
#include <set>
#include <sstream>
#include <stdexcept>

namespace ftplan {

namespace {

std::string leaf(const std::string& path) {
  const auto dot = path.rfind('.');
  return dot == std::string::npos ? path : path.substr(dot + 1);
}
bool starts_with(const std::string& s, const std::string& prefix) { return s.compare(0, prefix.size(), prefix) == 0; }
std::string num(double x) {
  std::ostringstream o;
  o << x;
  return o.str();
}

}  // namespace

const char* method_name(Method m) {
  switch (m) {
    case Method::lora: return "lora";
    case Method::qlora: return "qlora";
    case Method::head: return "head";
    default: return "full";
  }
}

void validate(const PeftOptions& o) {
  if (o.lora_r < 1) throw std::invalid_argument("loraR (--lora-r) must be a whole number >= 1, got " + std::to_string(o.lora_r));
  if (!(o.lora_alpha > 0) || !std::isfinite(o.lora_alpha)) throw std::invalid_argument("loraAlpha (--lora-alpha) must be a finite number > 0, got " + num(o.lora_alpha));
  if (!(o.lora_dropout >= 0 && o.lora_dropout < 1)) throw std::invalid_argument("loraDropout (--lora-dropout) must be in [0, 1), got " + num(o.lora_dropout));
  if (o.unfreeze_last < 0) throw std::invalid_argument("unfreezeLast (--unfreeze-last) must be >= 0, got " + std::to_string(o.unfreeze_last));
}

std::vector<std::pair<std::string, std::shared_ptr<LinearImpl>>> linear_modules(Model& model) {
  std::vector<std::pair<std::string, std::shared_ptr<LinearImpl>>> out;
  for (const auto& item : model.module().named_modules())
    if (auto lin = std::dynamic_pointer_cast<LinearImpl>(item.value())) out.emplace_back(item.key(), lin);
  return out;
}

std::vector<std::string> apply_peft(Model& model, const PeftOptions& o) {
  validate(o);
  const auto& spec = model.spec();
  auto& m = model.module();
  const auto linears = linear_modules(model);
  std::set<std::string> names;  // the leaf names a target can be
  for (const auto& [path, lin] : linears) names.insert(leaf(path));
  std::vector<std::string> adapted;
  if (o.method == Method::full) {
    model.set_gradient_checkpointing(o.gradient_checkpointing);
    return adapted;
  }
  const bool causal_lm = spec.task() == Task::causal_lm;
  if (o.method == Method::head) {
    if (o.unfreeze_last > spec.layers())
      throw std::invalid_argument("unfreezeLast (--unfreeze-last) is " + std::to_string(o.unfreeze_last) + " but the model has " +
                                  std::to_string(spec.layers()) + " layers");
    if (causal_lm && spec.decoder.tie_word_embeddings)
      throw std::invalid_argument("method head on a causal-lm model whose lm_head is tied to its embeddings (tie_word_embeddings): "
                                  "training the head would train the embeddings; use lora, or full");
  }
  std::set<std::string> targets;
  if (o.adapters()) {
    const bool all = o.lora_targets.empty() ||
                     std::find(o.lora_targets.begin(), o.lora_targets.end(), "all-linear") != o.lora_targets.end();
    for (const auto& t : o.lora_targets) {
      if (t == "all-linear") continue;
      if (!names.count(t)) {
        std::string list;
        for (const auto& n : names) list += (list.empty() ? "" : ", ") + n;
        throw std::invalid_argument("lora target '" + t + "' (--lora-target) is not a linear module of this " + spec.model_type() +
                                    " model; its linear modules: " + list + " (or all-linear)");
      }
    }
    targets = all ? names : std::set<std::string>(o.lora_targets.begin(), o.lora_targets.end());
  }

  for (auto& p : m.parameters()) p.set_requires_grad(false);
  const auto held = o.base_dtype == Dtype::bf16 ? torch::kBFloat16 : torch::kFloat32;
  const std::string blocks = spec.is_gpt2() ? "transformer.h." : "model.layers.";
  if (o.adapters()) {
    for (const auto& [path, lin] : linears) {
      const bool target = targets.count(leaf(path)) > 0;
      if (target && o.method == Method::qlora) lin->quantize_nf4(o.nf4_double_quant, held);
      else lin->freeze(held);
      if (!target) continue;
      lin->add_lora(o.lora_r, o.lora_alpha, o.lora_dropout);
      adapted.push_back(path);
    }
    // The frozen embeddings and a causal-LM head are held in base_dtype too (their lookups and
    // products cast back to the fp32 stream / compute dtype where they are used).
    {
      torch::NoGradGuard no_grad;
      for (auto& item : m.named_parameters()) {
        const auto& name = item.key();
        const bool embedding = name == "model.embed_tokens.weight" || name == "transformer.wte.weight" || name == "transformer.wpe.weight";
        if ((embedding || (causal_lm && name == "lm_head.weight")) && item.value().scalar_type() != held) item.value().set_data(synthetic_to(item.value(), held));
      }
    }
    for (auto& item : m.named_parameters())
      if (item.key().find(".lora_A.") != std::string::npos || item.key().find(".lora_B.") != std::string::npos ||
          (!causal_lm && starts_with(item.key(), "score.")))
        item.value().set_requires_grad(true);
  } else {
    const int64_t first = spec.layers() - o.unfreeze_last;
    for (auto& item : m.named_parameters()) {
      const auto& name = item.key();
      bool train = starts_with(name, causal_lm ? "lm_head." : "score.");
      if (starts_with(name, blocks)) train = std::stoll(name.substr(blocks.size())) >= first;
      if (train) item.value().set_requires_grad(true);
    }
  }
  model.set_gradient_checkpointing(o.gradient_checkpointing);
  return adapted;
}

std::vector<torch::Tensor> trainable_parameters(Model& model) {
  std::vector<torch::Tensor> out;
  for (const auto& p : model.module().parameters())
    if (p.requires_grad()) out.push_back(p);
  return out;
}

ParameterInfo parameter_info(Model& model) {
  ParameterInfo r;
  std::set<std::string> nf4;
  for (const auto& [path, lin] : linear_modules(model)) {
    if (lin->has_lora()) r.lora_modules.push_back(path);
    if (!lin->is_nf4()) continue;
    nf4.insert(path + ".weight");
    r.total += lin->weight_numel();
    r.frozen_bytes += lin->weight_bytes();
  }
  for (const auto& item : model.module().named_parameters()) {
    if (nf4.count(item.key())) continue;  // the placeholder; counted above
    const auto& p = item.value();
    const int64_t bytes = p.numel() * static_cast<int64_t>(p.element_size());
    r.total += p.numel();
    if (p.requires_grad()) {
      r.trainable += p.numel();
      r.trainable_bytes += bytes;
    } else {
      r.frozen_bytes += bytes;
    }
  }
  return r;
}

}  // namespace ftplan
