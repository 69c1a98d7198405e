#include "nodes/models/model_nodes.h"

namespace avgraph::nodes {

void registerModelNodes(Registry& registry) {
    registry.add(cnn9NodeSpec());
    registry.add(vgg14NodeSpec());
    registry.add(embeddingMlpNodeSpec());
    registry.add(softmaxNodeSpec());
    registry.add(argmaxNodeSpec());
    registry.add(torchscriptNodeSpec());
    registry.add(vqvaeEncoderNodeSpec());
    registry.add(vqCodebookNodeSpec());
    registry.add(vqvaeDecoderNodeSpec());
    registry.add(codebookLookupNodeSpec());
    registry.add(transformationNetworkNodeSpec());
    registry.add(criticNodeSpec());
    registry.add(resDcnnNodeSpec());
    registry.add(visualEncoderNodeSpec());
}

} // namespace avgraph::nodes
