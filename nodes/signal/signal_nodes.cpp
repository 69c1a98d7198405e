#include "nodes/signal/signal_nodes.h"

namespace avgraph::nodes {

void registerSignalNodes(Registry& registry) {
    registry.add(resampleNodeSpec());
    registry.add(channelsNodeSpec());
}

} // namespace avgraph::nodes
