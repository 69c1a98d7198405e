#pragma once
/**
 * The part of a graph that training runs every step, with autograd on.
 *
 * The trainable nodes (the train section's `trainable`, by default every trainable node) and every
 * node between them and the logits node (`logits`, by default the last trainable node). With image
 * augmentation, the nodes that turn images into something else (a frozen visual encoder) belong to it
 * too, so that they see the augmented images. Everything it reads from the rest of the graph is the
 * boundary: the front end's outputs, which the FeatureCache keeps. Nodes of the part that have a
 * network but are not trained (frozen networks) run in eval mode and keep their weights and
 * batch-norm statistics.
 */
#include "graph/executor.h"
#include "graph/graph.h"
#include "host/training/augmentation.h"
#include "host/training/train_config.h"

#include <torch/nn/module.h>

#include <map>
#include <string>
#include <vector>

namespace avgraph::host::training {

class TrainedPart {
public:
    /**
     * Checks the config against the graph: trainable and logits nodes exist and are trainable, the
     * logits node depends on them. Errors name the preset's /train key. Turns gradients on for the
     * trainable nodes' parameters and off for the frozen networks'.
     */
    TrainedPart(Graph& graph, Executor& executor, const TrainConfig& config);

    /** The trainable nodes, in the order the graph runs them. */
    const std::vector<std::string>& trainable() const { return trainable_; }
    /** The front-end nodes whose outputs the part reads, and the ports it reads. */
    const std::map<std::string, std::vector<std::string>>& boundary() const { return boundary_; }
    /** The nodes with a network that run every step: the trainable ones, then the frozen ones. */
    std::vector<std::string> networks() const;
    /** The trainable nodes' networks, in trainable() order. */
    std::vector<torch::nn::Module*> trainableModules() const;
    /** Their parameters, in that order. */
    std::vector<torch::Tensor> parameters() const;

    /** Training mode for the trainable networks (dropout, batch statistics); eval mode for the frozen. */
    void setTraining(bool training);

    /**
     * The batch's logits: [batch, classes], or [batch, positions, classes] when the logits node gives
     * patches or frames between batch and class, with the columns in the order of `classes` (the
     * dataset's; host/training/class_columns.h, matched once per `classes`). Errors at the logits node
     * when its output is not logits of the dataset's classes.
     */
    torch::Tensor logits(const TrainingBatch& batch, bool training, const std::vector<std::string>& classes);

private:
    Graph& graph_;
    Executor& executor_;
    std::vector<std::string> trainable_;
    std::string logits_;
    std::map<std::string, std::vector<std::string>> boundary_;
    std::vector<std::string> frozen_modules_; ///< nodes with networks that run each step but do not learn
    std::vector<std::string> classes_;        ///< the classes the columns were matched for
    torch::Tensor columns_; ///< logits column of each of classes_ (undefined: in order, or not yet matched)
};

} // namespace avgraph::host::training
