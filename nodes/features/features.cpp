#include "nodes/features/features.h"

namespace avgraph::nodes {

void registerFeatureNodes(Registry& registry) {
    registry.add(stftNodeSpec());
    registry.add(melNodeSpec());
    registry.add(powerToDbNodeSpec());
    registry.add(logMelNodeSpec());
    registry.add(mfccNodeSpec());
    registry.add(deltaNodeSpec());
    registry.add(cqtNodeSpec());
    registry.add(gammatoneNodeSpec());
}

} // namespace avgraph::nodes
