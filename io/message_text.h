#pragma once
/** Pieces of what the host writes: CSV fields; names and shapes come from graph/message_text.h. */
#include "graph/message_text.h"

#include <string>
#include <vector>

namespace avgraph::host {

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
