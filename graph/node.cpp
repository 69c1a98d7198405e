#include "graph/node.h"

namespace avgraph {

Error paramError(const NodeContext& ctx, const std::string& param, const std::string& message) {
    Location at = ctx.where;
    at.pointer += "/params/" + param;
    return Error(at, "(" + ctx.spec->type + ") parameter '" + param + "': " + message);
}

Node::Node(const NodeContext& context) : context_(context) {}
Node::~Node() = default;

Error Node::error(const std::string& message) const {
    return Error(context_.where, "(" + context_.spec->type + ") " + message);
}

template <typename F> auto Node::guarded(const char* what, F&& body) const -> decltype(body()) {
    try {
        return body();
    } catch (const Error&) {
        throw;
    } catch (const c10::Error& e) {
        // LibTorch messages carry a C++ backtrace after the first line; the user needs the first.
        std::string msg = e.what_without_backtrace();
        throw error(std::string(what) + ": " + msg.substr(0, msg.find('\n')));
    } catch (const std::exception& e) {
        throw error(std::string(what) + ": " + e.what());
    }
}

PortInfos Node::prepare(const PortInfos& inputs, PortInfos outputs) {
    guarded("while preparing", [&] { onPrepare(inputs, outputs); });
    return outputs;
}

namespace {
/** What follows a network (softmax, fusion, losses, files) sees float32. */
torch::Tensor backToFloat(torch::Tensor t) {
    return t.defined() && (t.scalar_type() == torch::kBFloat16 || t.scalar_type() == torch::kHalf)
               ? t.to(torch::kFloat)
               : t;
}
} // namespace

Ports Node::portsInPrecision(const std::function<Ports()>& body) {
    if (precision_ == Precision::fp32 || !module())
        return body();
    Ports out;
    {
        AutocastScope autocast(precision_, device_.type());
        out = body();
    }
    for (auto& [port, value] : out)
        value.tensor = backToFloat(std::move(value.tensor));
    return out;
}

torch::Tensor Node::tensorInPrecision(const std::function<torch::Tensor()>& body) {
    if (precision_ == Precision::fp32 || !module())
        return body();
    AutocastScope autocast(precision_, device_.type());
    return backToFloat(body());
}

Ports Node::process(const Ports& inputs) {
    return guarded("while processing", [&] { return portsInPrecision([&] { return run(inputs); }); });
}

void Node::prepareStream(const StreamSpec& spec) {
    guarded("while preparing to stream", [&] { onPrepareStream(spec); });
}

Ports Node::processBlock(const Ports& inputs) {
    return guarded("while processing a block",
                   [&] { return portsInPrecision([&] { return runBlock(inputs); }); });
}

Ports Node::finishStream(const Ports& last) {
    return guarded("while finishing a stream",
                   [&] { return portsInPrecision([&] { return runFinish(last); }); });
}

void Node::resetStream() { onResetStream(); }
int64_t Node::latencySamples() const { return latency(); }
torch::nn::Module* Node::module() { return trainableModule(); }

void Node::to(const torch::Device& device) {
    guarded("while moving to a device", [&] { moveTo(device); });
    device_ = device;
}

void Node::onPrepareStream(const StreamSpec&) {
    throw error("does not stream; run the graph offline, or use a streaming node in its place");
}

Ports Node::runBlock(const Ports&) {
    throw error("does not stream; run the graph offline, or use a streaming node in its place");
}

void Node::moveTo(const torch::Device& device) {
    if (auto* m = trainableModule())
        m->to(device);
}

const Value& Node::input(const Ports& inputs, const std::string& port) const {
    auto it = inputs.find(port);
    if (it == inputs.end() || !it->second.tensor.defined())
        throw error("input '" + port + "' has no value");
    return it->second;
}

} // namespace avgraph
