#pragma once
/** The optimizer a train section names (Adam, AdamW or SGD with its settings), for the trainer and the
 * stages. */
#include "host/training/train_config.h"

#include <torch/optim/optimizer.h>

#include <memory>
#include <vector>

namespace avgraph::host::training {

/** The optimizer `config` names, over these parameters. */
std::unique_ptr<torch::optim::Optimizer> makeOptimizer(const std::vector<torch::Tensor>& params,
                                                       const OptimizerConfig& config);

} // namespace avgraph::host::training
