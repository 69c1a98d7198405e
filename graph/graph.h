#pragma once
/**
 * Graph: a preset's nodes, built and validated, as a Boost.Graph DAG.
 *
 * `Graph::build` checks everything before any tensor moves: unknown node types, parameters
 * against each node's spec, edges between existing ports of compatible kinds, inputs connected
 * once, required inputs connected, no cycle (the nodes on it are named), outputs that exist.
 * Each error names the preset file, the JSON pointer and the node. Then every node is prepared
 * (Node::prepare) with what is known of its inputs, so what depends on a known sample rate or hop
 * is checked here too.
 *
 * Vertices are the graph inputs and the nodes, in the order the preset lists them; an edge carries
 * the ports it joins. Plan (plan.h) turns a Graph into an execution order.
 */
#include "graph/node.h"
#include "graph/preset.h"
#include "graph/registry.h"

#include <boost/graph/adjacency_list.hpp>

#include <memory>
#include <string>
#include <vector>

namespace avgraph {

class Graph {
public:
    struct Vertex {
        std::string id;
        bool is_input = false;
        const NodeSpec* spec = nullptr; ///< null for graph inputs
        std::unique_ptr<Node> node;     ///< null for graph inputs
        std::string device;             ///< as the preset asked ("" when it did not)
        Location where;
        std::map<std::string, Kind> output_kinds; ///< resolved kind of each output port
        std::optional<double> sample_rate;        ///< graph inputs only
        PortInfos output_info;                    ///< each output port as prepared (Node::prepare)
    };
    struct Connection {
        size_t from = 0;
        std::string from_port;
        size_t to = 0;
        std::string to_port;
        std::string pointer; ///< the edge in the preset
    };
    struct Output {
        std::string name;
        size_t vertex = 0;
        std::string port;
    };

    /** Builds and validates; loads the preset's node libraries into the registry first. */
    static Graph build(const Preset& preset, Registry& registry);

    Graph(Graph&&) noexcept;
    Graph& operator=(Graph&&) noexcept;
    ~Graph();

    const Preset& preset() const { return *preset_; }
    size_t size() const { return vertices_.size(); }
    const Vertex& vertex(size_t v) const { return vertices_[v]; }
    Node& node(size_t v) { return *vertices_[v].node; }
    /** Vertex index of a node or input id; throws std::out_of_range when unknown. */
    size_t find(const std::string& id) const;

    std::vector<Connection> incoming(size_t v) const;
    std::vector<Connection> outgoing(size_t v) const;
    const std::vector<Output>& outputs() const { return outputs_; }
    /** Inputs first, then every node after all of its sources (Boost's topological sort). */
    std::vector<size_t> topologicalOrder() const;
    /** Vertices the outputs depend on (the rest of the graph is never run). */
    std::vector<bool> neededForOutputs() const;
    /** Vertices that any of `to` depends on, `to` included: what runs to make them. The walk does not go
     *  past a vertex marked in `given` (itself included), whose value the caller has. */
    std::vector<bool> ancestors(const std::vector<size_t>& to, const std::vector<bool>& given = {}) const;

    /** Graphviz: inputs as ellipses, nodes as boxes with their type, edges labelled with ports. */
    std::string toDot() const;

private:
    struct EdgeProps {
        size_t connection = 0;
    };
    using BoostGraph =
        boost::adjacency_list<boost::vecS, boost::vecS, boost::bidirectionalS, boost::no_property, EdgeProps>;
    Graph() = default;
    void checkAcyclic() const;
    void resolveKinds();
    /** Prepares every node in topological order, propagating ValueInfo from the graph inputs. */
    void prepareNodes();

    std::unique_ptr<Preset> preset_;
    std::vector<Vertex> vertices_;
    std::vector<Connection> connections_;
    std::vector<Output> outputs_;
    BoostGraph graph_;
};

} // namespace avgraph
