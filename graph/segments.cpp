#include "graph/segments.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <set>

namespace avgraph {

namespace {

std::string secondsText(double s) {
    char text[32];
    std::snprintf(text, sizeof text, "%g", s);
    return text;
}

/** Frames per second of the input that a value's frames stand for: its rate over its hop (audio: 1). */
double frameRate(const Value& v) {
    if (v.sample_rate <= 0.0)
        return 0.0;
    if (v.kind == Kind::Audio)
        return v.sample_rate;
    return v.hop > 0 ? v.sample_rate / static_cast<double>(v.hop) : 0.0;
}

/** Appends `piece` to `buffer` along the last (frame) axis. */
void append(torch::Tensor& buffer, const torch::Tensor& piece) {
    buffer = buffer.defined() ? torch::cat({buffer, piece.to(buffer.device())}, -1) : piece;
}

} // namespace

SegmentedStream::SegmentedStream(Executor& executor, const SegmentSpec& spec, const StreamSpec& stream)
    : executor_(executor), spec_(spec), stream_(stream) {
    const Graph& graph = executor_.graph();
    const Preset& preset = graph.preset();
    if (!(spec_.length > 0.0) || !std::isfinite(spec_.length))
        throw Error(preset.locate(""), "a segment must last more than 0 s, got " + secondsText(spec_.length));
    if (!(spec_.hop > 0.0) || !std::isfinite(spec_.hop))
        throw Error(preset.locate(""),
                    "segments must be more than 0 s apart, got a hop of " + secondsText(spec_.hop));
    if (spec_.batch < 1)
        throw Error(preset.locate(""), "a batch of segments must hold at least one");
    if (preset.inputs().size() != 1)
        throw Error(preset.locate("/inputs"), "segments are cut from one audio input; this preset has " +
                                                  std::to_string(preset.inputs().size()) + " inputs");
    input_ = preset.inputs()[0].name;
    stream_.defer_top_db = true; // a window clips its own decibels, as the cut-out would

    // How far the graph streams.
    const Plan& plan = executor_.plan();
    const auto& steps = plan.steps();
    auto streaming = executor_.streamingSteps(stream_);
    std::set<std::string> cut_ids;
    for (size_t s = 0; s < steps.size(); ++s) {
        if (!streaming[s]) {
            offline_ids_.push_back(graph.vertex(steps[s].vertex).id);
            continue;
        }
        for (const auto& c : graph.outgoing(steps[s].vertex)) {
            const int to = plan.stepOf(c.to);
            if (to >= 0 && !streaming[static_cast<size_t>(to)])
                cut_ids.insert(graph.vertex(steps[s].vertex).id);
        }
    }
    if (offline_ids_.empty())
        throw Error(
            preset.locate("/outputs"),
            "every output of this preset streams, so there is nothing to run per segment; segments are "
            "for presets that end in a classifier (a probabilities output); stream it whole instead");
    // An output read from a streaming node is windowed too: it gets a segment axis like the others.
    std::vector<std::string> wanted;
    for (const auto& o : graph.outputs()) {
        const auto& id = graph.vertex(o.vertex).id;
        if (streaming[static_cast<size_t>(plan.stepOf(o.vertex))])
            cut_ids.insert(id);
        if (std::find(wanted.begin(), wanted.end(), id) == wanted.end())
            wanted.push_back(id);
    }

    // The ports each cut hands on, and what one segment's window holds: the values of a segment of
    // silence run offline, the frames that `avgraph run` on a cut-out segment gives.
    const auto samples = static_cast<int64_t>(std::llround(spec_.length * stream_.sample_rate));
    Value silence;
    silence.tensor = torch::zeros({1, stream_.channels, samples});
    silence.kind = Kind::Audio;
    silence.sample_rate = stream_.sample_rate;
    silence.axes = {"batch", "channel", "sample"};
    std::vector<std::string> ids(cut_ids.begin(), cut_ids.end());
    auto probed = ids;
    probed.insert(probed.end(), wanted.begin(), wanted.end());
    std::map<std::string, Ports> probe;
    try {
        probe = executor_.runPart({{input_, silence}}, {}, probed);
    } catch (const Error& e) {
        throw Error(e.where(),
                    "a segment of " + secondsText(spec_.length) + " s cannot be analysed: " + e.message());
    }
    for (const auto& o : graph.outputs()) {
        const Value& value = probe.at(graph.vertex(o.vertex).id).at(o.port);
        probe_outputs_.emplace_back(o.name, value.withTensor(value.tensor.detach().to(torch::kCPU)));
    }
    for (const auto& id : ids) {
        Cut cut;
        cut.id = id;
        const size_t v = graph.find(id);
        const auto& vx = graph.vertex(v);
        std::set<std::string> ports;
        for (const auto& c : graph.outgoing(v))
            if (plan.stepOf(c.to) >= 0 && !streaming[static_cast<size_t>(plan.stepOf(c.to))])
                ports.insert(c.from_port);
        for (const auto& o : graph.outputs())
            if (o.vertex == v)
                ports.insert(o.port);
        if (vx.is_input)
            ports = {""};
        for (const auto& port : ports) {
            const Value& value = probe.at(id).at(port);
            const double rate = frameRate(value);
            if (rate <= 0.0)
                throw Error(preset.locate(""), "cannot cut segments from node '" + id + "': its output '" +
                                                   port + "' has no frame rate (no sample rate or hop)");
            if (cut.ports.empty()) {
                cut.frame_rate = rate;
                cut.frames = value.tensor.size(-1);
            } else if (rate != cut.frame_rate || value.tensor.size(-1) != cut.frames) {
                throw Error(preset.locate(""), "cannot cut segments from node '" + id +
                                                   "': its outputs run at different frame rates");
            }
            Value like = value.withTensor(torch::Tensor());
            cut.like[port] = like;
            cut.ports.push_back(port);
        }
        cuts_.push_back(std::move(cut));
    }
    // A cut read by nothing but a SegmentTrunk node, which reads nothing else: its trunk runs over the
    // stream and the windows hold trunk frames.
    if (spec_.share_trunk) {
        for (auto& cut : cuts_) {
            const size_t v = graph.find(cut.id);
            std::vector<Graph::Connection> readers;
            for (const auto& c : graph.outgoing(v))
                if (plan.stepOf(c.to) >= 0)
                    readers.push_back(c);
            bool is_output = false;
            for (const auto& o : graph.outputs())
                is_output = is_output || o.vertex == v;
            if (readers.size() != 1 || is_output || cut.ports.size() != 1 ||
                graph.incoming(readers[0].to).size() != 1)
                continue;
            auto* trunk = dynamic_cast<SegmentTrunk*>(graph.vertex(readers[0].to).node.get());
            if (!trunk || trunk->trunkStride() <= 0)
                continue;
            cut.trunk = trunk;
            cut.trunk_node = graph.vertex(readers[0].to).node.get();
            cut.trunk_id = graph.vertex(readers[0].to).id;
            cut.stride = trunk->trunkStride();
            cut.margin = (trunk->trunkMargin() + cut.stride - 1) / cut.stride * cut.stride;
            cut.input_like = cut.like.at(cut.ports.front());
            cut.frame_rate /= static_cast<double>(cut.stride);
            cut.frames /= cut.stride; // the cut-out's trunk: every pooling floors
            cut.ports = {""};
            cut.like = {{"", cut.input_like}};
        }
    }
    // The first cut's frames give the segments' times: take the one with the finest frames.
    std::stable_sort(cuts_.begin(), cuts_.end(),
                     [](const Cut& a, const Cut& b) { return a.frame_rate > b.frame_rate; });
    wanted_ = std::move(wanted);
    start();
}

void SegmentedStream::start() {
    std::vector<std::string> ids;
    for (auto& cut : cuts_) {
        ids.push_back(cut.id);
        cut.buffer.clear();
        cut.buffer_start = 0;
        cut.received = 0;
        cut.input = torch::Tensor();
        cut.input_start = cut.input_received = 0;
    }
    executor_.prepareStreamTo(stream_, ids);
    next_ = 0;
    input_samples_ = 0;
    ready_.clear();
    windows_.clear();
}

int64_t SegmentedStream::segmentsIn(double seconds) const {
    if (seconds + 1e-9 < spec_.length)
        return 0;
    return static_cast<int64_t>(std::floor((seconds - spec_.length) / spec_.hop + 1e-9)) + 1;
}

int64_t SegmentedStream::firstFrame(const Cut& cut, int64_t k) const {
    return static_cast<int64_t>(std::llround(static_cast<double>(k) * spec_.hop * cut.frame_rate));
}

void SegmentedStream::pushTrunk(Cut& cut, const Value& frames, bool final) {
    // Deferred decibels stay unclipped here: a trunk frame serves several segments, each of which would
    // clip against its own maximum. top_db's floor (80 dB below a clip's loudest frame in the shipped
    // presets) only touches near-silence; on ESC-10 fold 5 joined end to end, the unclipped trunk
    // agreed with the clips run alone a little more often than one clipped below the stream's running
    // maximum (76 against 75 of 80).
    const torch::Tensor& x = frames.tensor;
    append(cut.input, x);
    cut.input_received += x.size(-1);
    const int64_t s = cut.stride, m = cut.margin;
    const int64_t done = cut.received; // trunk frames so far
    // Trunk frame u needs the input frames up to (u + 1) * s + m, or the end.
    const int64_t end = final ? cut.input_received / s : std::max<int64_t>(0, (cut.input_received - m) / s);
    if (end > done && (final || (end - done) * s >= spec_.trunk_chunk)) {
        const int64_t from = std::max<int64_t>(0, done * s - m); // a multiple of the stride
        const int64_t to = final ? cut.input_received : end * s + m;
        Value chunk = cut.input_like.withTensor(cut.input.narrow(-1, from - cut.input_start, to - from));
        chunk.pending_top_db.reset();
        auto t = cut.trunk_node->tensorInPrecision([&] { return cut.trunk->trunk(chunk); });
        append(cut.buffer[""], t.narrow(-1, done - from / s, end - done));
        cut.received = end;
    }
    // Keep the input the next trunk frames need: from (received * s - m) on.
    const int64_t keep_from = std::max<int64_t>(cut.input_start, cut.received * s - m);
    const int64_t drop = std::min(keep_from - cut.input_start, cut.input.size(-1));
    cut.input = cut.input.narrow(-1, drop, cut.input.size(-1) - drop);
    cut.input_start += drop;
}

void SegmentedStream::take(const std::map<std::string, Ports>& values, bool final) {
    for (auto& cut : cuts_) {
        const Ports& ports = values.at(cut.id);
        if (cut.trunk) {
            const Value& v = ports.begin()->second;
            cut.input_like.pending_top_db = v.pending_top_db; // the probe ran offline: only the stream says
            pushTrunk(cut, v, final);
            continue;
        }
        for (const auto& port : cut.ports)
            cut.like.at(port).pending_top_db = ports.at(port).pending_top_db;
        int64_t frames = -1;
        for (const auto& port : cut.ports) {
            const auto& t = ports.at(port).tensor;
            append(cut.buffer[port], t);
            if (frames < 0)
                frames = t.size(-1);
        }
        cut.received += std::max<int64_t>(frames, 0);
    }
}

SegmentBatch SegmentedStream::push(const Value& block) {
    input_samples_ += block.tensor.size(-1);
    take(executor_.processBlockTo({{input_, block}}), false);
    return emit(false);
}

SegmentBatch SegmentedStream::finish(const Value& last) {
    input_samples_ += last.tensor.size(-1);
    take(executor_.processBlockTo({{input_, last}}, /*finish=*/true), true);
    return emit(true);
}

SegmentBatch SegmentedStream::emit(bool final) {
    SegmentBatch result;
    auto gather = [&](SegmentBatch part) {
        result.segments.insert(result.segments.end(), part.segments.begin(), part.segments.end());
        for (auto& [name, value] : part.outputs) {
            auto it = result.outputs.find(name);
            if (it == result.outputs.end())
                result.outputs[name] = value;
            else
                it->second.tensor = torch::cat({it->second.tensor, value.tensor}, 0);
        }
    };
    const int64_t total = final ? segmentsIn(static_cast<double>(input_samples_) / stream_.sample_rate) : -1;
    for (;; ++next_) {
        if (final && next_ >= total)
            break;
        bool whole = true;
        for (const auto& cut : cuts_)
            whole = whole && cut.received >= firstFrame(cut, next_) + cut.frames;
        if (!whole)
            break;
        for (auto& cut : cuts_) {
            const int64_t first = firstFrame(cut, next_);
            for (const auto& port : cut.ports) {
                auto window = cut.buffer.at(port).narrow(-1, first - cut.buffer_start, cut.frames).clone();
                // Decibels clipped against this window's own maximum, as on the cut-out segment.
                if (const auto& top_db = cut.like.at(port).pending_top_db; top_db && !cut.trunk)
                    window = torch::max(window, window.max() - *top_db);
                windows_[cut.id][port].push_back(window);
            }
        }
        const Cut& timing = cuts_.front();
        const double start = static_cast<double>(firstFrame(timing, next_)) / timing.frame_rate;
        ready_.push_back({next_, start, start + spec_.length});
        // Drop the frames that no later segment needs.
        for (auto& cut : cuts_) {
            const int64_t keep_from = std::min(firstFrame(cut, next_ + 1), cut.received);
            const int64_t drop = std::max<int64_t>(0, keep_from - cut.buffer_start);
            for (auto& [port, buffer] : cut.buffer)
                buffer = buffer.narrow(-1, drop, buffer.size(-1) - drop);
            cut.buffer_start += drop;
        }
        if (static_cast<int64_t>(ready_.size()) >= spec_.batch)
            gather(runWindows());
    }
    if (final && !ready_.empty())
        gather(runWindows());
    return result;
}

SegmentBatch SegmentedStream::runWindows() {
    const Graph& graph = executor_.graph();
    std::map<std::string, Ports> given;
    for (const auto& cut : cuts_) {
        if (cut.trunk) { // the head on the windows of trunk frames gives the split node's outputs
            given[cut.trunk_id] = cut.trunk_node->portsInPrecision(
                [&] { return cut.trunk->head(torch::cat(windows_[cut.id][""], 0), cut.input_like); });
            continue;
        }
        for (const auto& port : cut.ports) {
            Value v = cut.like.at(port).withTensor(torch::cat(windows_[cut.id][port], 0));
            v.pending_top_db.reset();
            given[cut.id][port] = v;
        }
    }
    auto produced = executor_.runPart({}, given, wanted_);
    SegmentBatch batch;
    batch.segments = std::move(ready_);
    for (const auto& o : graph.outputs())
        batch.outputs[o.name] = produced.at(graph.vertex(o.vertex).id).at(o.port);
    ready_.clear();
    windows_.clear();
    return batch;
}

std::string SegmentedStream::probabilitiesOutput() const {
    for (const auto& [name, value] : probe_outputs_)
        if (value.kind == Kind::Probabilities && value.tensor.dim() == 2)
            return name;
    return "";
}

std::string SegmentedStream::outputList() const {
    std::string text;
    for (const auto& [name, value] : probe_outputs_)
        text += (text.empty() ? "" : ", ") + name + " (" + std::string(kindName(value.kind)) + ")";
    return text;
}

std::string SegmentedStream::lengthText() const { return secondsText(spec_.length) + " s"; }

std::string SegmentedStream::describe() const {
    std::string text = "segments of " + secondsText(spec_.length) + " s every " + secondsText(spec_.hop) +
                       " s: streams up to ";
    for (size_t i = 0; i < cuts_.size(); ++i) {
        const auto& cut = cuts_[i];
        text += (i ? ", " : "") + cut.id;
        if (cut.trunk)
            text += " and " + cut.trunk_id + "'s trunk, once over the stream (" + std::to_string(cut.frames) +
                    " trunk frames a segment, " + secondsText(cut.frame_rate) + " a second)";
        else
            text += " (" + std::to_string(cut.frames) + " frames a segment, " + secondsText(cut.frame_rate) +
                    " a second)";
    }
    text += "; runs ";
    for (size_t i = 0; i < offline_ids_.size(); ++i) {
        bool split = false;
        for (const auto& cut : cuts_)
            split = split || cut.trunk_id == offline_ids_[i];
        text += (i ? ", " : "") + offline_ids_[i] + (split ? "'s head" : "");
    }
    return text + " on each segment's window";
}

} // namespace avgraph
