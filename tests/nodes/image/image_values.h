#pragma once
// Image values for the image and IVF node tests.
#include "graph/value.h"

#include <utility>

namespace avgraph::test {

/** A [batch, 3, H, W] tensor as a graph image value (axes batch, channel, row, col). */
inline Value imageValue(torch::Tensor t) {
    Value v;
    v.tensor = std::move(t);
    v.kind = Kind::Image;
    v.axes = {"batch", "channel", "row", "col"};
    return v;
}

} // namespace avgraph::test
