#include "nodes/features/features.h"
#include "nodes/features/scalogram.h"

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
    registry.add(scalogramNodeSpec());
}

} // namespace avgraph::nodes
