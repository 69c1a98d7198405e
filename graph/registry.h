#pragma once
/**
 * Registry: the node types a host knows, by name.
 *
 * Built-in nodes are added by nodes/builtin_nodes.h; third-party node libraries (shared objects)
 * are loaded with `loadLibrary`. A library is compiled against graph/node_library.h, which gives it
 * the one C entry point and the ABI version the registry checks before calling it.
 */
#include "graph/node.h"
#include "graph/node_spec.h"

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace avgraph {

class Registry {
public:
    Registry();
    ~Registry();
    Registry(const Registry&) = delete;
    Registry& operator=(const Registry&) = delete;

    /** Adds a node type; throws std::invalid_argument if the name is taken or the spec is incomplete. */
    void add(NodeSpec spec);
    const NodeSpec* find(std::string_view type) const;
    /** All node types, sorted by name. */
    std::vector<const NodeSpec*> all() const;

    /**
     * Loads a node library and registers its node types. Throws avgraph::Error naming the file when
     * it cannot be opened, lacks the entry point, or was built for another ABI. Loading the same file
     * twice is a no-op.
     */
    void loadLibrary(const std::filesystem::path& file);

    /** Names close to `type` (same family, or edit distance <= 3), for "did you mean" hints. */
    std::vector<std::string> suggest(std::string_view type) const;

    /** Where the host's users find the node types (the CLI: "`avgraph nodes` lists the known types"),
     *  added to the error for an unknown type; none by default. */
    void setUnknownTypeHint(std::string hint) { unknown_type_hint_ = std::move(hint); }
    const std::string& unknownTypeHint() const { return unknown_type_hint_; }

private:
    std::map<std::string, NodeSpec, std::less<>> specs_;
    std::vector<std::filesystem::path> loaded_;
    std::vector<void*> handles_; // kept open for the registry's lifetime: the specs point into them
    std::string unknown_type_hint_;
};

} // namespace avgraph
