#pragma once
/**
 * Batch normalisation that can see the whole global batch of data-parallel training.
 *
 * When several processes each train on a slice of one global batch, per-process batch statistics
 * would make the result depend on the number of processes. When the running graph has a replica sum
 * (RunOptions::replica_sum, which the executor hands to the nodes it runs: currentReplicaSum();
 * host/training's DataParallel makes one), batchNorm computes the statistics over the global batch as
 * torch.nn.SyncBatchNorm does: per-channel sums and counts summed over processes, then the mean, then
 * the biased variance of (x - mean) summed the same way. The reducer is differentiable (its backward
 * sums the gradients over processes), so input and parameter gradients are those of one process on
 * the whole batch. Every process must call batchNorm on the same layers in the same order, as the
 * networks' forward passes do.
 *
 * Without a reducer, or in eval mode, batchNorm is the module's own forward: one-process training
 * and inference do not change.
 *
 * Under mixed precision (graph/precision.h) a bf16 or fp16 input is normalised in float32 either way:
 * LibTorch's kernel computes a reduced input's statistics in float32 against the float32 parameters,
 * and the synchronised path casts it to float32 first; the output keeps the input's type.
 */
#include "graph/executor.h"

#include <torch/torch.h>

#include <functional>

namespace avgraph::nodes {

/** Sums a tensor over the data-parallel processes, differentiably: its backward sums the gradients the
 * same way. The engine's ReplicaSum. */
using BatchStatsReducer = ReplicaSum;

/**
 * A BatchStatsReducer from a plain (non-differentiable) sum over processes: a custom autograd
 * function whose forward sums the tensor and whose backward sums the incoming gradient with the same
 * `sum`. `sum` gets a contiguous tensor it may overwrite and returns the sum.
 */
BatchStatsReducer differentiableSum(std::function<torch::Tensor(torch::Tensor)> sum);

/**
 * Batch norm of x [N, C, ...] with bn's weight/bias/running stats/eps/momentum: in training with a
 * replica sum (currentReplicaSum()), statistics over the whole global batch (mean, then biased variance of (x
 * - mean), both summed over processes with the reducer, like torch.nn.SyncBatchNorm), running stats updated
 * with the global mean and the unbiased global variance; otherwise bn->forward(x).
 */
torch::Tensor batchNorm(torch::nn::BatchNorm2d& bn, const torch::Tensor& x);
torch::Tensor batchNorm(torch::nn::BatchNorm1d& bn, const torch::Tensor& x);

} // namespace avgraph::nodes
