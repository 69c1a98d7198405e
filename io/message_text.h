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
inline std::string shapeText(const std::vector<int64_t>& sizes) {
    std::string s = "[";
    for (size_t d = 0; d < sizes.size(); ++d)
        s += (d ? ", " : "") + std::to_string(sizes[d]);
    return s + "]";
}
inline std::string shapeText(const torch::Tensor& t) { return shapeText(t.sizes().vec()); }

/** A CSV field as RFC 4180 writes it: quoted (quotes doubled) when it holds a comma, a quote or a newline. */
inline std::string csvField(const std::string& s) {
    if (s.find_first_of(",\"\n") == std::string::npos)
        return s;
    std::string out = "\"";
    for (char c : s)
        out += c == '"' ? std::string("\"\"") : std::string(1, c);
    return out + "\"";
}

} // namespace avgraph::host
