#pragma once
/** Pieces of the messages avgraph writes, one way everywhere: lists of names and tensor shapes. */
#include <torch/types.h>

#include <string>
#include <vector>

namespace avgraph {

/** "a, b, c". */
inline std::string joinNames(const std::vector<std::string>& names) {
    std::string s;
    for (const auto& n : names)
        s += (s.empty() ? "" : ", ") + n;
    return s;
}

/** "[2, 64, 431]". */
inline std::string shapeText(c10::IntArrayRef sizes) {
    std::string s = "[";
    for (size_t d = 0; d < sizes.size(); ++d)
        s += (d ? ", " : "") + std::to_string(sizes[d]);
    return s + "]";
}
inline std::string shapeText(const std::vector<int64_t>& sizes) { return shapeText(c10::IntArrayRef(sizes)); }
inline std::string shapeText(const torch::Tensor& t) { return shapeText(t.sizes()); }

} // namespace avgraph
