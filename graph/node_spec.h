#pragma once
/**
 * NodeSpec: the one declaration of a node type.
 *
 * Like Essentia's declareInput/declareParameter, a node type states in one place its name, its
 * typed ports, its parameters (type, default, range, choices, doc), whether it is trainable and
 * whether it streams. The registry turns that declaration into preset validation, the
 * `avgraph nodes` listing and the generated node reference (docs/nodes.md), so the three never
 * disagree.
 *
 *     NodeSpec spec;
 *     spec.type = "features.logmel";
 *     spec.inputs = {PortSpec::of("audio", {Kind::Audio}, "mono or multichannel signal")};
 *     spec.params = {ParamSpec::integer("n_mels", 128, "number of mel bands").range(1, 2048)};
 *     spec.make = [](const NodeContext& ctx) { return std::make_unique<LogMelNode>(ctx); };
 */
#include "graph/error.h"
#include "graph/value.h"

#include <nlohmann/json.hpp>

#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace avgraph {

class Node;
struct NodeContext;
class Params;

enum class ParamType { Int, Float, Bool, String, Choice, Path };

std::string_view paramTypeName(ParamType type);

/** One parameter: built with the named constructors and refined with the chained setters. */
struct ParamSpec {
    std::string name;
    ParamType type = ParamType::Float;
    nlohmann::json default_value; ///< null with `nullable` means "not set" (librosa's None)
    std::optional<double> min, max;
    bool min_exclusive = false;
    std::vector<std::string> choices;
    bool nullable = false;
    bool required = false; ///< no default: the preset must set it
    std::string doc;

    static ParamSpec integer(std::string name, int64_t default_value, std::string doc);
    static ParamSpec real(std::string name, double default_value, std::string doc);
    static ParamSpec flag(std::string name, bool default_value, std::string doc);
    static ParamSpec text(std::string name, std::string default_value, std::string doc);
    static ParamSpec choice(std::string name, std::string default_value, std::vector<std::string> choices,
                            std::string doc);
    /** A file, resolved relative to the preset that names it; it must exist. */
    static ParamSpec path(std::string name, std::string doc);

    ParamSpec& range(double lo, double hi);
    ParamSpec& above(double lo); ///< exclusive lower bound, no upper bound
    ParamSpec& atLeast(double lo);
    ParamSpec& orNull(); ///< null is accepted and is the default
    ParamSpec& mandatory();

    /** "integer in [1, 2048]", "one of constant, reflect", ...: used in errors and docs. */
    std::string describe() const;
};

/** One port. Inputs list the kinds they accept; an output with Kind::Any has its first input's kind. */
struct PortSpec {
    std::string name;
    std::vector<Kind> kinds;
    std::string doc;
    bool required = true;
    /** A variadic input "in" is connected as "in0", "in1", ...; at least one is required. */
    bool variadic = false;

    static PortSpec of(std::string name, std::vector<Kind> kinds, std::string doc);
    PortSpec& optional();
    PortSpec& many();

    bool accepts(Kind kind) const;
};

struct NodeSpec {
    std::string type;    ///< "family.name", e.g. "features.logmel"
    std::string summary; ///< one line
    std::string doc;     ///< longer notes for the reference: conventions, what it matches
    std::vector<PortSpec> inputs;
    std::vector<PortSpec> outputs;
    std::vector<ParamSpec> params;
    bool trainable = false; ///< owns a torch::nn::Module whose parameters training may update
    bool streams = false;   ///< implements block processing (Node::processBlock)

    /** Builds a node from its validated parameters. */
    std::function<std::unique_ptr<Node>(const NodeContext&)> make;
    /** Optional checks across parameters (e.g. fmin < fmax); throw avgraph::Error via ctx. */
    std::function<void(const NodeContext&)> check;

    const ParamSpec* param(std::string_view name) const;
    const PortSpec* input(std::string_view name) const;
    const PortSpec* output(std::string_view name) const;
};

} // namespace avgraph
