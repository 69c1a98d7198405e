#include "nodes/builtin_nodes.h"

#include "nodes/features/features.h"
#include "nodes/fusion/fusion_nodes.h"
#include "nodes/image/image_nodes.h"
#include "nodes/models/model_nodes.h"
#include "nodes/signal/signal_nodes.h"
#include "nodes/tensor/tensor_nodes.h"

namespace avgraph::nodes {

void registerBuiltinNodes(Registry& registry) {
    registerFeatureNodes(registry);
    registerTensorNodes(registry);
    registerSignalNodes(registry);
    registerModelNodes(registry);
    registerImageNodes(registry);
    registerFusionNodes(registry);
}

} // namespace avgraph::nodes
