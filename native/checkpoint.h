// checkpoint.h — activation recomputation (gradient checkpointing) for one block of a model, the
// reentrant scheme of torch.utils.checkpoint:
//
//   forward   runs the block under NoGradGuard: nothing inside it is kept for backward except its
//             input (which the previous block's output already is) and the random generators'
//             states (CPU, and the device's on CUDA) as they were before the block ran;
//   backward  sets the generators back to those states (so every dropout mask is the one forward
//             drew), runs the block again with gradients on from a detached copy of the input,
//             under the autocast state forward had, backpropagates the incoming gradient through it
//             (the block's parameters accumulate their gradients there), puts the generators back
//             as they were, and returns the input's gradient.
//
// The result is the same arithmetic as without checkpointing, op for op; only where the
// parameters' gradients are summed can differ (a parameter the block uses twice), at float
// rounding. A block whose input needs no gradient (a frozen embedding under LoRA) still gets its
// backward: a dummy input that requires a gradient keeps the Function in the graph.
#pragma once

#include <torch/torch.h>

#include <functional>

namespace ftplan {

using BlockFn = std::function<torch::Tensor(const torch::Tensor&)>;

// fn(x) with its activations recomputed in backward. Outside grad mode (evaluation) it is fn(x);
// so it is for a block with no trainable parameter whose input needs no gradient (a frozen trunk
// under `head`): nothing there reaches a gradient, so autograd keeps nothing to recompute.
torch::Tensor checkpoint(const BlockFn& fn, const torch::Tensor& x, const torch::nn::Module& block);

}  // namespace ftplan
