#pragma once
/** Pieces of the messages the host prints: lists of names and tensor shapes. */
#include <torch/types.h>

#include <string>
#include <vector>

namespace avgraph::host {

/** "a, b, c". */
inline std::string joinNames(const std::vector<std::string>& names) {
    std::string s;
    for (const auto& n : names)
        s += (s.empty() ? "" : ", ") + n;
    return s;
}

/** "[2, 64, 431]". */
inline std::string shapeText(const torch::Tensor& t) {
    std::string s = "[";
    for (int64_t d = 0; d < t.dim(); ++d)
        s += (d ? ", " : "") + std::to_string(t.size(d));
    return s + "]";
}

} // namespace avgraph::host
