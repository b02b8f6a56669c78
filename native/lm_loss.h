// lm_loss.h — the causal-LM cross-entropy of hidden states under the LM head, without the logits of
// the whole batch at once. For a 128k vocabulary the fp32 logits of B·T positions are B·T·V·4
// bytes (16 × 2048 × 128256 × 4 = 16.8 GB), several times the model's own activations; here they
// exist one chunk of rows at a time.
//
// Per chunk (Liger-Kernel's fused linear cross-entropy, on LibTorch ops): logits = h·Wᵀ in the
// compute dtype (bf16 under autocast, as autocast's linear would), log-sum-exp and the target's
// logit in fp32, the loss, and — when gradients are wanted — the gradient of the mean loss with
// respect to the logits (softmax − one-hot)/N, turned at once into the chunk's rows of ∂h and its
// share of ∂W; then the chunk's logits are freed. Backward only scales the kept ∂h and ∂W by the
// incoming gradient: the logits are never recomputed, and three matmuls per chunk (one forward,
// two gradient) are what the unchunked forward + backward does too.
//
// Shapes: N rows (the positions whose target counts), C hidden, V vocab.
#pragma once

#include <torch/torch.h>

#include "record.h"

namespace ftplan {

// Mean cross-entropy of targets y [N] (int64 in [0, V)) under logits h·wᵀ: h [N, C], w [V, C]
// (the fp32 master weight: lm_head, or embed_tokens when tied). compute: kFloat or kBFloat16.
// chunk_rows 0 picks lm_chunk_rows(N, C, V). Differentiable in h and w (custom autograd); with
// grad mode off, or neither requiring grad, only the loss is computed.
torch::Tensor lm_cross_entropy(const torch::Tensor& h, const torch::Tensor& w, const torch::Tensor& y, at::ScalarType compute,
                               int64_t chunk_rows = 0);

// Per row of h, no gradients: the cross-entropy of its target and whether the argmax is the target
// -> {loss [N] float64, hit [N] bool}. For evaluation (loss, perplexity, exact match) without the
// [N, V] logits at once.
std::pair<torch::Tensor, torch::Tensor> lm_token_losses(const torch::Tensor& h, const torch::Tensor& w, const torch::Tensor& y,
                                                        at::ScalarType compute, int64_t chunk_rows = 0);

// Rows per chunk: the chunk's fp32 logits take at most as many bytes as the fp32 hidden states of
// all N rows, or 64 MiB, whichever is larger (so a chunk is never so thin that reading W dominates),
// then balanced so the chunks are of equal size.
int64_t lm_chunk_rows(int64_t N, int64_t C, int64_t V);

// Rows per chunk where a caller passes 0 (the models): 0, the default, picks lm_chunk_rows(); tests
// set a few rows so that every batch of a tiny model goes through the head in several chunks.
int64_t lm_chunk_rows_override();
void set_lm_chunk_rows_override(int64_t rows);

// For tests: the chunked loss against the plain one (logits of all rows, cross_entropy, autograd)
// on random h [n, c], w [v, c] and targets: the largest differences of the loss and of the
// gradients of h and w, and each one's peak bytes of tensors during forward + backward (the CPU
// counting allocator), the chunked at chunk_rows (>= 1).
#define FTPLAN_LM_LOSS_CHECK(X)                                                                     \
  X(double, loss_error, lossError, 0)            /* |chunked − plain| */                            \
  X(double, max_hidden_grad_error, maxHiddenGradError, 0) /* max |∂h chunked − ∂h plain| / max |∂h plain| */ \
  X(double, max_weight_grad_error, maxWeightGradError, 0) /* the same for ∂w */                     \
  X(int64_t, chunks, chunks, 0)                                                                     \
  X(int64_t, chunked_peak_bytes, chunkedPeakBytes, 0)                                               \
  X(int64_t, plain_peak_bytes, plainPeakBytes, 0)

struct LmLossCheck {
  FTPLAN_LM_LOSS_CHECK(FTPLAN_FIELD)
};
LmLossCheck lm_loss_check(int64_t n, int64_t c, int64_t v, int64_t chunk_rows, bool bf16);

}  // namespace ftplan
