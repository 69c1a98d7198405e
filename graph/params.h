#pragma once
/**
 * Params: a node's parameter values after validation against its spec.
 *
 * Defaults are filled in, types and ranges checked and paths made absolute before a node is
 * constructed, so node code reads values without further checks.
 */
#include "graph/error.h"

#include <nlohmann/json.hpp>

#include <filesystem>
#include <functional>
#include <optional>
#include <string>

namespace avgraph {

struct NodeSpec;

class Params {
public:
    Params() = default;
    explicit Params(nlohmann::json values) : values_(std::move(values)) {}

    int64_t integer(const std::string& name) const;
    double real(const std::string& name) const;
    bool flag(const std::string& name) const;
    std::string text(const std::string& name) const;
    std::filesystem::path path(const std::string& name) const;
    bool isNull(const std::string& name) const;
    std::optional<double> optionalReal(const std::string& name) const;

    const nlohmann::json& json() const { return values_; }

private:
    const nlohmann::json& at(const std::string& name) const;
    nlohmann::json values_;
};

/** Where the JSON of one node's parameters came from, to resolve paths and name errors. */
struct ParamSource {
    /** Location of a parameter (file and pointer of the preset that set it). */
    std::function<Location(const std::string& param)> locate;
    /** Folder against which a relative path parameter is resolved. */
    std::function<std::filesystem::path(const std::string& param)> base_dir;
};

/**
 * Checks `given` (a JSON object, may be null) against the spec: unknown names, types, ranges,
 * choices, missing required values, files that do not exist. Throws avgraph::Error.
 */
Params validateParams(const NodeSpec& spec, const nlohmann::json& given, const ParamSource& source);

} // namespace avgraph
