#include "graph/error.h"

namespace avgraph {

std::string formatError(const Location& where, const std::string& message) {
    std::string text;
    if (!where.file.empty()) {
        text += where.file;
        if (where.line > 0)
            text += ":" + std::to_string(where.line) + ":" + std::to_string(where.column);
        text += ": ";
    }
    if (!where.pointer.empty())
        text += where.pointer + ": ";
    if (!where.node.empty())
        text += "node '" + where.node + "': ";
    return text + message;
}

Error::Error(Location where, const std::string& message)
    : std::runtime_error(formatError(where, message)), where_(std::move(where)), message_(message) {}

Error fileError(const std::filesystem::path& file, const std::string& message) {
    return Error({file.string(), "", "", 0, 0}, message);
}

} // namespace avgraph
