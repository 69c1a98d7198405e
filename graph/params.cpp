#include "graph/params.h"

#include "graph/node_spec.h"

#include <cmath>

namespace avgraph {

const nlohmann::json& Params::at(const std::string& name) const {
    auto it = values_.find(name);
    if (it == values_.end())
        throw std::logic_error("parameter '" + name + "' is not declared in the node's spec");
    return *it;
}

int64_t Params::integer(const std::string& name) const { return at(name).get<int64_t>(); }
double Params::real(const std::string& name) const { return at(name).get<double>(); }
bool Params::flag(const std::string& name) const { return at(name).get<bool>(); }
std::string Params::text(const std::string& name) const { return at(name).get<std::string>(); }
std::filesystem::path Params::path(const std::string& name) const { return at(name).get<std::string>(); }
bool Params::isNull(const std::string& name) const { return at(name).is_null(); }
std::optional<double> Params::optionalReal(const std::string& name) const {
    const auto& v = at(name);
    if (v.is_null())
        return std::nullopt;
    return v.get<double>();
}

namespace {

std::string shown(const nlohmann::json& v) {
    std::string s = v.dump();
    return s.size() > 60 ? s.substr(0, 57) + "..." : s;
}

// Returns the checked value, or throws with what was expected.
nlohmann::json checked(const ParamSpec& spec, const nlohmann::json& v, const ParamSource& source) {
    auto fail = [&](const std::string& why) {
        return Error(source.locate(spec.name), "parameter '" + spec.name + "': expected " + spec.describe() +
                                                   ", got " + shown(v) +
                                                   (why.empty() ? "" : " (" + why + ")"));
    };
    if (v.is_null()) {
        if (spec.nullable)
            return v;
        throw fail("");
    }
    double numeric = 0.0;
    switch (spec.type) {
    case ParamType::Int:
        if (v.is_number_integer()) {
            numeric = static_cast<double>(v.get<int64_t>());
            break;
        }
        // 1024.0 is written by tools that print every number as a float; accept exact integers.
        if (v.is_number_float() && std::floor(v.get<double>()) == v.get<double>()) {
            numeric = v.get<double>();
            break;
        }
        throw fail("");
    case ParamType::Float:
        if (!v.is_number())
            throw fail("");
        numeric = v.get<double>();
        if (!std::isfinite(numeric))
            throw fail("not finite");
        break;
    case ParamType::Bool:
        if (!v.is_boolean())
            throw fail("");
        return v;
    case ParamType::String:
        if (!v.is_string())
            throw fail("");
        return v;
    case ParamType::Choice:
        if (!v.is_string())
            throw fail("");
        for (const auto& c : spec.choices)
            if (c == v.get<std::string>())
                return v;
        throw fail("");
    case ParamType::Path: {
        if (!v.is_string() || v.get<std::string>().empty())
            throw fail("");
        std::filesystem::path p = v.get<std::string>();
        if (p.is_relative())
            p = source.base_dir(spec.name) / p;
        p = p.lexically_normal();
        if (!std::filesystem::exists(p))
            throw Error(source.locate(spec.name),
                        "parameter '" + spec.name + "': file not found: " + p.string());
        return p.string();
    }
    }
    bool low = spec.min && (spec.min_exclusive ? numeric <= *spec.min : numeric < *spec.min);
    bool high = spec.max && numeric > *spec.max;
    if (low || high)
        throw fail("out of range");
    if (spec.type == ParamType::Int)
        return static_cast<int64_t>(numeric);
    return numeric;
}

} // namespace

Params validateParams(const NodeSpec& spec, const nlohmann::json& given, const ParamSource& source) {
    if (!given.is_null() && !given.is_object())
        throw Error(source.locate(""), "\"params\" must be an object of name: value, got " + shown(given));
    if (given.is_object()) {
        for (const auto& [name, value] : given.items()) {
            if (spec.param(name))
                continue;
            std::string known;
            for (const auto& p : spec.params)
                known += (known.empty() ? "" : ", ") + p.name;
            throw Error(source.locate(name), "unknown parameter '" + name + "' for " + spec.type +
                                                 " (its parameters: " + (known.empty() ? "none" : known) +
                                                 ")");
        }
    }
    nlohmann::json values = nlohmann::json::object();
    for (const auto& p : spec.params) {
        if (given.is_object() && given.contains(p.name)) {
            values[p.name] = checked(p, given.at(p.name), source);
        } else if (p.required) {
            throw Error(source.locate(""),
                        "missing parameter '" + p.name + "' (" + p.describe() + "): " + p.doc);
        } else {
            values[p.name] = p.default_value;
        }
    }
    return Params(std::move(values));
}

} // namespace avgraph
