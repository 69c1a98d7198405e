#include "nodes/fusion/fusion_nodes.h"

#include <stdexcept>

namespace avgraph::nodes {

std::vector<Value> variadicInputs(const Ports& inputs, const std::string& port) {
    std::vector<Value> values;
    for (size_t i = 0;; ++i) {
        auto it = inputs.find(port + std::to_string(i));
        if (it == inputs.end() || !it->second.tensor.defined())
            break;
        values.push_back(it->second);
    }
    if (values.empty())
        throw std::invalid_argument("no inputs: connect " + port + "0, " + port + "1, ...");
    return values;
}

void registerFusionNodes(Registry& registry) {
    registry.add(lateFusionNodeSpec());
    registry.add(embeddingConcatNodeSpec());
}

} // namespace avgraph::nodes
