// The part of a graph that training runs every step (host/training/trained_part.h).
#include "host/training/trained_part.h"

#include "graph/error.h"
#include "host/training/class_columns.h"
#include "io/message_text.h"

#include <torch/torch.h>

#include <algorithm>
#include <stdexcept>

namespace avgraph::host::training {

namespace {

bool contains(const std::vector<std::string>& ids, const std::string& id) {
    return std::find(ids.begin(), ids.end(), id) != ids.end();
}

/** Whether a node turns images into something else (a visual encoder): with image augmentation it runs
 *  every step, after the augmentation, instead of once into the feature cache. */
bool encodesImages(const Graph& graph, size_t v) {
    if (graph.vertex(v).is_input)
        return false;
    const NodeSpec& spec = *graph.vertex(v).spec;
    bool reads = false;
    for (const auto& in : spec.inputs)
        reads = reads || in.accepts(Kind::Image);
    for (const auto& out : spec.outputs)
        if (out.accepts(Kind::Image))
            return false;
    return reads;
}

void setRequiresGrad(torch::nn::Module& module, bool on) {
    for (auto& p : module.parameters())
        p.set_requires_grad(on);
}

/** Every trainable node of the graph, in the order it runs them; an Error when there is none. */
std::vector<std::string> trainableNodesOf(const Graph& graph) {
    std::vector<std::string> all;
    for (size_t v : graph.topologicalOrder())
        if (!graph.vertex(v).is_input && graph.vertex(v).spec->trainable)
            all.push_back(graph.vertex(v).id);
    if (all.empty())
        throw Error(graph.preset().locate("/nodes"),
                    "`avgraph train` needs a trainable node (e.g. models.cnn9); this preset has none");
    return all;
}

/** The nodes the config trains (checked; default: all of them), in the order the graph runs them. */
std::vector<std::string> chosenTrainable(const Graph& graph, const TrainConfig& config,
                                         const std::vector<std::string>& all) {
    for (size_t i = 0; i < config.trainable.size(); ++i)
        if (!contains(all, config.trainable[i]))
            throw Error(graph.preset().locate("/train/trainable/" + std::to_string(i)),
                        "\"" + config.trainable[i] +
                            "\" is not a trainable node of this preset; its trainable nodes are " +
                            joinNames(all));
    std::vector<std::string> ordered;
    for (const auto& id : all)
        if (config.trainable.empty() || contains(config.trainable, id))
            ordered.push_back(id);
    return ordered;
}

/** in[v]: whether v runs every step: a trainable node (or, with `images`, an image encoder) the logits
 *  need, or a node the logits need downstream of one. */
std::vector<char> trainedVertices(const Graph& graph, const std::vector<bool>& needed,
                                  const std::vector<std::string>& trainable, bool images) {
    std::vector<char> in(graph.size(), 0);
    for (size_t v : graph.topologicalOrder()) {
        if (!needed[v])
            continue;
        bool t = contains(trainable, graph.vertex(v).id) || (images && encodesImages(graph, v));
        for (const auto& c : graph.incoming(v))
            t = t || in[c.from];
        in[v] = t;
    }
    return in;
}

/** The port a classifier's logits come out of: "logits", else the only output. */
const Value& logitsOf(const Ports& ports, const Node& node) {
    auto it = ports.find("logits");
    if (it != ports.end())
        return it->second;
    if (ports.size() == 1)
        return ports.begin()->second;
    throw node.error("training reads logits from the output port \"logits\" or the node's only output");
}

} // namespace

TrainedPart::TrainedPart(Graph& graph, Executor& executor, const TrainConfig& config)
    : graph_(graph), executor_(executor) {
    const Preset& preset = graph_.preset();
    trainable_ = chosenTrainable(graph_, config, trainableNodesOf(graph_));
    logits_ = config.logits.empty() ? trainable_.back() : config.logits;
    try {
        if (graph_.vertex(graph_.find(logits_)).is_input)
            throw std::out_of_range(logits_);
    } catch (const std::out_of_range&) {
        throw Error(preset.locate("/train/logits"), "\"" + logits_ + "\" is not a node of this preset");
    }
    const auto needed = graph_.ancestors({graph_.find(logits_)});
    for (const auto& id : trainable_)
        if (!needed[graph_.find(id)])
            throw Error(preset.locate(config.trainable.empty() ? "/train" : "/train/trainable"),
                        "trainable node \"" + id + "\" does not feed the logits node \"" + logits_ +
                            "\" (set /train/logits or /train/trainable)");
    const bool images = config.augment.images();
    const auto in_trained = trainedVertices(graph_, needed, trainable_, images);
    bool encoder = false;
    for (size_t v = 0; v < graph_.size(); ++v)
        encoder = encoder || (in_trained[v] && encodesImages(graph_, v));
    if (images && !encoder)
        throw Error(preset.locate(config.pointer + "/augment"),
                    "image_crop, image_flip and color_jitter work on the images a node such as "
                    "models.visual_encoder reads; the trained part of this preset reads none");
    for (size_t v = 0; v < graph_.size(); ++v) {
        if (!in_trained[v])
            continue;
        for (const auto& c : graph_.incoming(v)) {
            if (in_trained[c.from])
                continue;
            auto& ports = boundary_[graph_.vertex(c.from).id];
            if (!contains(ports, c.from_port))
                ports.push_back(c.from_port);
        }
        const auto& id = graph_.vertex(v).id;
        if (!graph_.vertex(v).is_input && graph_.node(v).module() && !contains(trainable_, id))
            frozen_modules_.push_back(id);
    }
    for (auto* m : trainableModules())
        setRequiresGrad(*m, true);
    for (const auto& id : frozen_modules_)
        setRequiresGrad(*graph_.node(graph_.find(id)).module(), false);
}

std::vector<std::string> TrainedPart::networks() const {
    std::vector<std::string> ids = trainable_;
    ids.insert(ids.end(), frozen_modules_.begin(), frozen_modules_.end());
    return ids;
}

std::vector<torch::nn::Module*> TrainedPart::trainableModules() const {
    std::vector<torch::nn::Module*> modules;
    for (const auto& id : trainable_)
        modules.push_back(graph_.node(graph_.find(id)).module());
    return modules;
}

std::vector<torch::Tensor> TrainedPart::parameters() const {
    std::vector<torch::Tensor> params;
    for (auto* m : trainableModules())
        for (auto& p : m->parameters())
            params.push_back(p);
    return params;
}

void TrainedPart::setTraining(bool training) {
    for (auto* m : trainableModules())
        m->train(training);
    for (const auto& id : frozen_modules_) // frozen networks keep their batch-norm statistics
        graph_.node(graph_.find(id)).module()->eval();
}

torch::Tensor TrainedPart::logits(const TrainingBatch& batch, bool training,
                                  const std::vector<std::string>& classes) {
    RunOptions options;
    options.concurrent = false;
    options.training = training;
    auto out = executor_.runPart({}, batch.given, {logits_}, options);
    const Node& node = graph_.node(graph_.find(logits_));
    const Value& v = logitsOf(out.at(logits_), node);
    if (v.tensor.dim() < 2 || v.tensor.size(0) != batch.targets.size(0))
        throw node.error("training needs logits [batch, classes] or [batch, ..., classes]; got a value of " +
                         std::to_string(v.tensor.dim()) + " axes for a batch of " +
                         std::to_string(batch.targets.size(0)));
    if (v.tensor.size(-1) != batch.targets.size(1))
        throw node.error("gives " + std::to_string(v.tensor.size(-1)) + " classes, the dataset has " +
                         std::to_string(batch.targets.size(1)) + " (set its n_classes)");
    // Patches or frames between batch and class: one axis of positions, each scored on its own.
    torch::Tensor logits =
        v.tensor.dim() == 2 ? v.tensor : v.tensor.reshape({v.tensor.size(0), -1, v.tensor.size(-1)});
    if (classes != classes_) {
        classes_ = classes;
        columns_ = torch::Tensor();
    }
    if (!v.class_names.empty() && !columns_.defined()) {
        try {
            columns_ = torch::tensor(classColumns(classes_, v.class_names), torch::kLong);
        } catch (const std::invalid_argument& e) {
            throw node.error(e.what());
        }
    }
    return columns_.defined() ? logits.index_select(-1, columns_.to(logits.device())) : logits;
}

} // namespace avgraph::host::training
