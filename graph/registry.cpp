#include "graph/registry.h"

#include "graph/node_library.h"

#include <dlfcn.h>

#include <algorithm>
#include <stdexcept>

namespace avgraph {

Registry::Registry() = default;

Registry::~Registry() {
    // Specs hold std::function objects whose code lives in the libraries: drop them first.
    specs_.clear();
    for (void* h : handles_)
        dlclose(h);
}

void Registry::add(NodeSpec spec) {
    if (spec.type.empty() || spec.type.find('.') == std::string::npos)
        throw std::invalid_argument("node type '" + spec.type + "' must be named family.name");
    if (!spec.make)
        throw std::invalid_argument("node type '" + spec.type + "' has no factory");
    if (spec.outputs.empty())
        throw std::invalid_argument("node type '" + spec.type + "' declares no output");
    if (specs_.count(spec.type))
        throw std::invalid_argument("node type '" + spec.type + "' is registered twice");
    std::string name = spec.type;
    specs_.emplace(std::move(name), std::move(spec));
}

const NodeSpec* Registry::find(std::string_view type) const {
    auto it = specs_.find(type);
    return it == specs_.end() ? nullptr : &it->second;
}

std::vector<const NodeSpec*> Registry::all() const {
    std::vector<const NodeSpec*> out;
    for (const auto& [name, spec] : specs_)
        out.push_back(&spec);
    return out;
}

namespace {
size_t editDistance(std::string_view a, std::string_view b) {
    std::vector<size_t> row(b.size() + 1);
    for (size_t j = 0; j <= b.size(); ++j)
        row[j] = j;
    for (size_t i = 1; i <= a.size(); ++i) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= b.size(); ++j) {
            size_t up = row[j];
            row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
            diag = up;
        }
    }
    return row[b.size()];
}

std::string_view shortName(std::string_view type) {
    auto dot = type.find('.');
    return dot == std::string_view::npos ? type : type.substr(dot + 1);
}
} // namespace

std::vector<std::string> Registry::suggest(std::string_view type) const {
    std::vector<std::string> out;
    for (const auto& [name, spec] : specs_)
        if (editDistance(name, type) <= 3 || shortName(name) == shortName(type))
            out.push_back(name);
    return out;
}

void Registry::loadLibrary(const std::filesystem::path& file) {
    std::error_code ec;
    auto canonical = std::filesystem::weakly_canonical(file, ec);
    if (ec)
        canonical = file;
    if (std::find(loaded_.begin(), loaded_.end(), canonical) != loaded_.end())
        return;
    Location where{file.string(), "", "", 0, 0};
    if (!std::filesystem::exists(file))
        throw Error(where, "node library not found");
    // RTLD_GLOBAL is not needed: the library links libavgraph_graph itself. RTLD_NOW reports
    // missing symbols here rather than at a node's first call.
    void* handle = dlopen(canonical.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!handle)
        throw Error(where, std::string("cannot load node library: ") + dlerror());
    using AbiFn = const char* (*)();
    using RegisterFn = void (*)(Registry&);
    auto abi = reinterpret_cast<AbiFn>(dlsym(handle, "avgraph_node_abi"));
    auto reg = reinterpret_cast<RegisterFn>(dlsym(handle, "avgraph_register_nodes"));
    if (!abi || !reg) {
        dlclose(handle);
        throw Error(where, "not an avgraph node library: it lacks avgraph_node_abi/avgraph_register_nodes "
                           "(define them with AVGRAPH_NODE_LIBRARY from graph/node_library.h)");
    }
    std::string theirs = abi();
    if (theirs != AVGRAPH_NODE_ABI) {
        dlclose(handle);
        throw Error(where, "node library built for \"" + theirs + "\", this avgraph needs \"" +
                               std::string(AVGRAPH_NODE_ABI) +
                               "\"; rebuild the library against this avgraph");
    }
    handles_.push_back(handle);
    loaded_.push_back(canonical);
    try {
        reg(*this);
    } catch (const std::exception& e) {
        throw Error(where, std::string("registering its nodes failed: ") + e.what());
    }
}

} // namespace avgraph
