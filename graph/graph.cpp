#include "graph/graph.h"

#include <boost/graph/strong_components.hpp>
#include <boost/graph/topological_sort.hpp>

#include <algorithm>
#include <set>
#include <sstream>

namespace avgraph {

Graph::Graph(Graph&&) noexcept = default;
Graph& Graph::operator=(Graph&&) noexcept = default;
Graph::~Graph() = default;

namespace {

std::string list(const std::vector<std::string>& names) {
    std::string out;
    for (const auto& n : names)
        out += (out.empty() ? "" : ", ") + n;
    return out.empty() ? "none" : out;
}

std::string portList(const std::vector<PortSpec>& ports) {
    std::vector<std::string> names;
    for (const auto& p : ports)
        names.push_back(p.variadic ? p.name + "0, " + p.name + "1, ..." : p.name);
    return list(names);
}

std::string kindList(const std::vector<Kind>& kinds) {
    std::vector<std::string> names;
    for (Kind k : kinds)
        names.emplace_back(kindName(k));
    return list(names);
}

} // namespace

size_t Graph::find(const std::string& id) const {
    for (size_t v = 0; v < vertices_.size(); ++v)
        if (vertices_[v].id == id)
            return v;
    throw std::out_of_range("no node or input '" + id + "'");
}

Graph Graph::build(const Preset& preset, Registry& registry) {
    for (size_t i = 0; i < preset.nodeLibraries().size(); ++i) {
        try {
            registry.loadLibrary(preset.nodeLibraries()[i]);
        } catch (const Error& e) {
            throw Error(preset.locate("/node_libraries/" + std::to_string(i)), e.what());
        }
    }

    Graph g;
    g.preset_ = std::make_unique<Preset>(preset);
    const Preset& p = *g.preset_;

    for (const auto& in : p.inputs()) {
        Vertex v;
        v.id = in.name;
        v.is_input = true;
        v.where = p.locate("/inputs/" + pointerToken(in.name));
        v.output_kinds[""] = in.kind;
        v.sample_rate = in.sample_rate;
        g.vertices_.push_back(std::move(v));
    }

    for (const auto& n : p.nodes()) {
        std::string ptr = "/nodes/" + pointerToken(n.id);
        const NodeSpec* spec = registry.find(n.type);
        if (!spec) {
            auto close = registry.suggest(n.type);
            throw Error(p.locate(ptr + "/type", n.id),
                        "unknown node type '" + n.type + "'" +
                            (close.empty() ? "" : " (did you mean " + list(close) + "?)") +
                            (registry.unknownTypeHint().empty() ? "" : "; " + registry.unknownTypeHint()));
        }
        NodeContext ctx;
        ctx.id = n.id;
        ctx.spec = spec;
        ctx.where = p.locate(ptr, n.id);
        ctx.preset_dir = p.file().parent_path();
        ParamSource source{
            [&](const std::string& param) {
                return p.locate(ptr + "/params" + (param.empty() ? "" : "/" + pointerToken(param)), n.id);
            },
            [&](const std::string& param) { return p.folderOf(ptr + "/params/" + pointerToken(param)); },
        };
        ctx.params = validateParams(*spec, n.params, source);
        if (spec->check)
            spec->check(ctx);
        Vertex v;
        v.id = n.id;
        v.spec = spec;
        v.device = n.device;
        v.where = ctx.where;
        try {
            v.node = spec->make(ctx);
        } catch (const Error&) {
            throw;
        } catch (const std::exception& e) {
            throw Error(ctx.where, "(" + spec->type + ") cannot be built: " + e.what());
        }
        g.vertices_.push_back(std::move(v));
    }

    g.graph_ = BoostGraph(g.vertices_.size());
    std::map<std::pair<size_t, std::string>, std::string> connected; // (vertex, input port) -> edge pointer
    for (const auto& e : p.edges()) {
        auto endpoint = [&](const Endpoint& end, const std::string& ptr) -> size_t {
            for (size_t v = 0; v < g.vertices_.size(); ++v)
                if (g.vertices_[v].id == end.node)
                    return v;
            std::vector<std::string> ids;
            for (const auto& v : g.vertices_)
                ids.push_back(v.id);
            throw Error(p.locate(ptr),
                        "unknown node '" + end.node + "' (nodes and inputs: " + list(ids) + ")");
        };
        size_t from = endpoint(e.from, e.pointer + "/0");
        size_t to = endpoint(e.to, e.pointer + "/1");
        const Vertex& src = g.vertices_[from];
        const Vertex& dst = g.vertices_[to];
        Connection c{from, e.from.port, to, e.to.port, e.pointer};

        if (src.is_input) {
            if (!c.from_port.empty())
                throw Error(p.locate(e.pointer + "/0"),
                            "graph input '" + src.id + "' has no ports; write \"" + src.id + "\"");
        } else if (c.from_port.empty()) {
            if (src.spec->outputs.size() != 1)
                throw Error(p.locate(e.pointer + "/0", src.id),
                            "node '" + src.id + "' has several outputs (" + portList(src.spec->outputs) +
                                "); write \"" + src.id + ".<output>\"");
            c.from_port = src.spec->outputs[0].name;
        } else if (!src.spec->output(c.from_port) || src.spec->output(c.from_port)->variadic) {
            throw Error(p.locate(e.pointer + "/0", src.id),
                        "node '" + src.id + "' (" + src.spec->type + ") has no output '" + c.from_port +
                            "' (its outputs: " + portList(src.spec->outputs) + ")");
        }

        if (dst.is_input)
            throw Error(p.locate(e.pointer + "/1"),
                        "'" + dst.id + "' is a graph input; it cannot receive an edge");
        if (c.to_port.empty()) {
            if (dst.spec->inputs.empty())
                throw Error(p.locate(e.pointer + "/1", dst.id),
                            "node '" + dst.id + "' (" + dst.spec->type + ") takes no input");
            const PortSpec& first = dst.spec->inputs[0];
            c.to_port = first.name;
            if (first.variadic) { // the next free instance: in0, in1, ...
                int k = 0;
                while (connected.count({to, first.name + std::to_string(k)}))
                    ++k;
                c.to_port = first.name + std::to_string(k);
            }
        } else if (const PortSpec* port = dst.spec->input(c.to_port);
                   !port || (port->variadic && port->name == c.to_port)) { // "in" of in0, in1, ...
            throw Error(p.locate(e.pointer + "/1", dst.id),
                        "node '" + dst.id + "' (" + dst.spec->type + ") has no input '" + c.to_port +
                            "' (its inputs: " + portList(dst.spec->inputs) + ")");
        }
        auto [it, fresh] = connected.emplace(std::make_pair(to, c.to_port), e.pointer);
        if (!fresh)
            throw Error(p.locate(e.pointer + "/1", dst.id), "input '" + c.to_port + "' of node '" + dst.id +
                                                                "' is connected twice (also by " +
                                                                it->second + ")");
        boost::add_edge(from, to, EdgeProps{g.connections_.size()}, g.graph_);
        g.connections_.push_back(std::move(c));
    }

    // Required inputs, and variadic inputs numbered without gaps.
    for (size_t v = 0; v < g.vertices_.size(); ++v) {
        const Vertex& vx = g.vertices_[v];
        if (vx.is_input)
            continue;
        for (const auto& port : vx.spec->inputs) {
            if (port.variadic) {
                int count = 0;
                for (const auto& [key, _] : connected)
                    if (key.first == v && vx.spec->input(key.second) == &port)
                        ++count;
                for (int k = 0; k < count; ++k)
                    if (!connected.count({v, port.name + std::to_string(k)}))
                        throw Error(vx.where, "inputs " + port.name + "0.." + port.name +
                                                  std::to_string(count - 1) + " must all be connected; " +
                                                  port.name + std::to_string(k) + " is not");
                if (port.required && count == 0)
                    throw Error(vx.where, "input '" + port.name + "0' (" + kindList(port.kinds) +
                                              ") is not connected; add an edge [\"<source>\", \"" + vx.id +
                                              "." + port.name + "0\"]");
            } else if (port.required && !connected.count({v, port.name})) {
                throw Error(vx.where, "input '" + port.name + "' (" + kindList(port.kinds) +
                                          ") is not connected; add an edge [\"<source>\", \"" + vx.id + "." +
                                          port.name + "\"]");
            }
        }
    }

    g.checkAcyclic();
    g.resolveKinds();

    for (const auto& out : p.outputs()) {
        std::string ptr = "/outputs/" + pointerToken(out.name);
        size_t v = 0;
        try {
            v = g.find(out.from.node);
        } catch (const std::out_of_range&) {
            throw Error(p.locate(ptr), "unknown node '" + out.from.node + "'");
        }
        const Vertex& vx = g.vertices_[v];
        std::string port = out.from.port;
        if (vx.is_input) {
            if (!port.empty())
                throw Error(p.locate(ptr), "graph input '" + vx.id + "' has no ports");
        } else if (port.empty()) {
            if (vx.spec->outputs.size() != 1)
                throw Error(p.locate(ptr, vx.id), "node '" + vx.id + "' has several outputs (" +
                                                      portList(vx.spec->outputs) + "); write \"" + vx.id +
                                                      ".<output>\"");
            port = vx.spec->outputs[0].name;
        } else if (!vx.spec->output(port)) {
            throw Error(p.locate(ptr, vx.id), "node '" + vx.id + "' (" + vx.spec->type + ") has no output '" +
                                                  port + "' (its outputs: " + portList(vx.spec->outputs) +
                                                  ")");
        }
        g.outputs_.push_back({out.name, v, port});
    }
    g.prepareNodes();
    return g;
}

void Graph::checkAcyclic() const {
    const size_t n = vertices_.size();
    std::vector<int> component(n);
    boost::strong_components(graph_, boost::make_iterator_property_map(
                                         component.begin(), boost::get(boost::vertex_index, graph_)));
    std::map<int, std::vector<size_t>> members;
    for (size_t v = 0; v < n; ++v)
        members[component[v]].push_back(v);
    for (const auto& [comp, vs] : members) {
        bool self_loop = vs.size() == 1 && boost::edge(vs[0], vs[0], graph_).second;
        if (vs.size() < 2 && !self_loop)
            continue;
        // Walk the cycle from its first vertex, staying inside the component, to name it in order.
        std::vector<size_t> path{vs[0]};
        std::set<size_t> seen{vs[0]};
        size_t at = vs[0];
        while (true) {
            size_t next = at;
            bool closed = false;
            for (auto [e, end] = boost::out_edges(at, graph_); e != end; ++e) {
                size_t t = boost::target(*e, graph_);
                if (component[t] != comp)
                    continue;
                if (t == vs[0]) {
                    closed = true;
                    break;
                }
                if (!seen.count(t)) {
                    next = t;
                    break;
                }
            }
            if (closed || next == at)
                break;
            path.push_back(next);
            seen.insert(next);
            at = next;
        }
        std::string cycle;
        for (size_t v : path)
            cycle += vertices_[v].id + " -> ";
        cycle += vertices_[path[0]].id;
        throw Error(preset_->locate("/edges", vertices_[path[0]].id),
                    "the edges form a cycle: " + cycle + "; a graph must be acyclic");
    }
}

std::vector<size_t> Graph::topologicalOrder() const {
    std::vector<size_t> reversed;
    boost::topological_sort(graph_, std::back_inserter(reversed));
    return {reversed.rbegin(), reversed.rend()};
}

void Graph::resolveKinds() {
    for (size_t v : topologicalOrder()) {
        Vertex& vx = vertices_[v];
        auto in = incoming(v);
        for (const auto& c : in) {
            const PortSpec* port = vx.spec->input(c.to_port);
            Kind k = vertices_[c.from].output_kinds.at(c.from_port);
            if (!port->accepts(k))
                throw Error(preset_->locate(c.pointer, vx.id),
                            "input '" + c.to_port + "' of node '" + vx.id + "' (" + vx.spec->type +
                                ") takes " + kindList(port->kinds) + ", but '" + vertices_[c.from].id +
                                (c.from_port.empty() ? "" : "." + c.from_port) + "' gives " +
                                std::string(kindName(k)));
        }
        if (vx.is_input)
            continue;
        // An output declared Any carries the kind of the value on the node's first input.
        Kind first = Kind::Tensor;
        if (!vx.spec->inputs.empty()) {
            const std::string& name = vx.spec->inputs[0].name;
            for (const auto& c : in)
                if (c.to_port == name || c.to_port == name + "0")
                    first = vertices_[c.from].output_kinds.at(c.from_port);
        }
        for (const auto& port : vx.spec->outputs) {
            Kind k = port.kinds.empty() ? Kind::Any : port.kinds[0];
            vx.output_kinds[port.name] = k == Kind::Any ? first : k;
        }
    }
}

void Graph::prepareNodes() {
    for (size_t v : topologicalOrder()) {
        Vertex& vx = vertices_[v];
        if (vx.is_input) {
            vx.output_info[""] = ValueInfo{vx.output_kinds.at(""), vx.sample_rate, std::nullopt};
            continue;
        }
        PortInfos inputs;
        for (const auto& c : incoming(v))
            inputs[c.to_port] = vertices_[c.from].output_info.at(c.from_port);
        // The first input in the spec's order (a variadic one's first connection) gives the defaults.
        const ValueInfo* first = nullptr;
        for (const auto& port : vx.spec->inputs) {
            auto it = inputs.find(port.variadic ? port.name + "0" : port.name);
            if (it != inputs.end()) {
                first = &it->second;
                break;
            }
        }
        PortInfos outputs;
        for (const auto& [port, kind] : vx.output_kinds) {
            ValueInfo info{kind, std::nullopt, std::nullopt};
            if (first) {
                info.sample_rate = first->sample_rate;
                if (first->kind == kind)
                    info.hop = first->hop; // the same kind of value: the same frames
            }
            outputs[port] = info;
        }
        vx.output_info = vx.node->prepare(inputs, std::move(outputs));
    }
}

std::vector<Graph::Connection> Graph::incoming(size_t v) const {
    std::vector<Connection> out;
    for (auto [e, end] = boost::in_edges(v, graph_); e != end; ++e)
        out.push_back(connections_[graph_[*e].connection]);
    return out;
}

std::vector<Graph::Connection> Graph::outgoing(size_t v) const {
    std::vector<Connection> out;
    for (auto [e, end] = boost::out_edges(v, graph_); e != end; ++e)
        out.push_back(connections_[graph_[*e].connection]);
    return out;
}

std::vector<bool> Graph::neededForOutputs() const {
    std::vector<size_t> to;
    for (const auto& o : outputs_)
        to.push_back(o.vertex);
    return ancestors(to);
}

std::vector<bool> Graph::ancestors(const std::vector<size_t>& to, const std::vector<bool>& given) const {
    std::vector<bool> needed(vertices_.size(), false);
    std::vector<size_t> stack = to;
    while (!stack.empty()) {
        size_t v = stack.back();
        stack.pop_back();
        if (needed[v])
            continue;
        needed[v] = true;
        if (v < given.size() && given[v])
            continue;
        for (auto [e, end] = boost::in_edges(v, graph_); e != end; ++e)
            stack.push_back(boost::source(*e, graph_));
    }
    return needed;
}

namespace {
std::string dotEscape(const std::string& s) {
    std::string out;
    for (char c : s) {
        if (c == '"' || c == '\\')
            out += '\\';
        out += c;
    }
    return out;
}
} // namespace

std::string Graph::toDot() const {
    std::ostringstream dot;
    dot << "digraph \"" << dotEscape(preset_->name()) << "\" {\n"
        << "  rankdir=LR;\n  node [fontname=\"Helvetica\", fontsize=11];\n  edge [fontname=\"Helvetica\", "
           "fontsize=9];\n";
    for (size_t v = 0; v < vertices_.size(); ++v) {
        const Vertex& vx = vertices_[v];
        if (vx.is_input) {
            dot << "  \"" << dotEscape(vx.id)
                << "\" [shape=ellipse, style=filled, fillcolor=\"#dde8f7\", label=\"" << dotEscape(vx.id)
                << "\\n(" << kindName(vx.output_kinds.at("")) << ")\"];\n";
        } else {
            std::string detail;
            for (const auto& [key, value] : vx.node->params().json().items()) {
                const ParamSpec* ps = vx.spec->param(key);
                if (ps && value != ps->default_value)
                    detail += "\\n" + key + "=" +
                              dotEscape(value.is_string() ? value.get<std::string>() : value.dump());
            }
            dot << "  \"" << dotEscape(vx.id) << "\" [shape=box, style=rounded, label=\"" << dotEscape(vx.id)
                << "\\n"
                << dotEscape(vx.spec->type) << detail << "\"];\n";
        }
    }
    for (const auto& c : connections_) {
        const Vertex& src = vertices_[c.from];
        const Vertex& dst = vertices_[c.to];
        bool obvious_from = src.is_input || src.spec->outputs.size() == 1;
        bool obvious_to = dst.spec->inputs.size() == 1 && !dst.spec->inputs[0].variadic;
        std::string label = (obvious_from ? "" : c.from_port) + (obvious_from && obvious_to ? "" : " -> ") +
                            (obvious_to ? "" : c.to_port);
        dot << "  \"" << dotEscape(src.id) << "\" -> \"" << dotEscape(dst.id) << "\"";
        if (!(obvious_from && obvious_to))
            dot << " [label=\"" << dotEscape(label) << "\"]";
        dot << ";\n";
    }
    for (const auto& o : outputs_) {
        dot << "  \"out:" << dotEscape(o.name) << "\" [shape=note, label=\"" << dotEscape(o.name) << "\"];\n"
            << "  \"" << dotEscape(vertices_[o.vertex].id) << "\" -> \"out:" << dotEscape(o.name) << "\"";
        const Vertex& vx = vertices_[o.vertex];
        if (!vx.is_input && vx.spec->outputs.size() > 1)
            dot << " [label=\"" << dotEscape(o.port) << "\"]";
        dot << ";\n";
    }
    dot << "}\n";
    return dot.str();
}

} // namespace avgraph
