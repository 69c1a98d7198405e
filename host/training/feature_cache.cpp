// The frozen front end's outputs per clip (host/training/feature_cache.h).
#include "host/training/feature_cache.h"

#include "graph/error.h"
#include "host/datasets/clip_inputs.h"
#include "host/progress_bar.h"
#include "host/training/batcher.h"
#include "host/training/checkpoint.h"
#include "io/audio_input.h"

#include <torch/serialize/input-archive.h>
#include <torch/serialize/output-archive.h>

#include <nlohmann/json.hpp>

#include <fstream>
#include <iomanip>
#include <sstream>

namespace avgraph::host::training {

namespace fs = std::filesystem;

namespace {

constexpr size_t kFeatureBatch = 16;

} // namespace

FeatureCache::FeatureCache(Executor& executor, const std::vector<PresetInput>& inputs,
                           std::map<std::string, std::vector<std::string>> boundary, std::string mode,
                           fs::path folder)
    : executor_(executor), inputs_(inputs), boundary_(std::move(boundary)), mode_(std::move(mode)),
      folder_(std::move(folder)) {
    if (mode_ == "disk") {
        // The folder is keyed by what the front end is, so a changed preset never reads stale features.
        nlohmann::json key;
        const auto& graph = executor_.graph();
        for (size_t v = 0; v < graph.size(); ++v)
            if (executor_.plan().stepOf(v) >= 0 && !graph.vertex(v).is_input) {
                const auto& doc = graph.preset().document();
                const auto& id = graph.vertex(v).id;
                key["nodes"][id] = doc["nodes"].contains(id) ? doc["nodes"][id] : nlohmann::json();
            }
        for (const auto& input : inputs_)
            key["inputs"].push_back({{"name", input.name},
                                     {"kind", std::string(kindName(input.kind))},
                                     {"rate", input.sample_rate ? *input.sample_rate : 0.0}});
        key["boundary"] = boundary_;
        std::ostringstream hex;
        hex << std::hex << std::setw(16) << std::setfill('0') << std::hash<std::string>{}(key.dump());
        folder_ /= hex.str();
        fs::create_directories(folder_);
        std::ofstream(folder_ / "front-end.json") << key.dump(2) << "\n";
    }
}

fs::path FeatureCache::fileFor(const Dataset& ds, size_t clip) const {
    return folder_ / (std::to_string(clip) + "-" + ds.clips[clip].path.stem().string() + ".pt");
}

namespace {
std::string fileKey(const fs::path& file) {
    std::error_code ec;
    auto size = fs::file_size(file, ec);
    auto time = fs::last_write_time(file, ec).time_since_epoch().count();
    return fs::absolute(file).string() + "|" + std::to_string(size) + "|" + std::to_string(time);
}

/** What a clip's cached features were computed from: its files, and the stretch of an audio-visual segment.
 */
std::string sourceKey(const Clip& clip) {
    std::string key = fileKey(clip.path);
    if (!clip.video.empty() || clip.duration > 0.0)
        key += "|" + fileKey(clip.video) + "|" + std::to_string(clip.start) + "|" +
               std::to_string(clip.duration);
    return key;
}

} // namespace

bool FeatureCache::readDisk(const Dataset& ds, size_t clip, std::map<std::string, Ports>& out) {
    fs::path file = fileFor(ds, clip);
    if (!fs::exists(file))
        return false;
    try {
        torch::serialize::InputArchive archive;
        archive.load_from(file.string());
        c10::IValue source;
        archive.read("source", source);
        if (source.toStringRef() != sourceKey(ds.clips[clip]))
            return false;
        for (const auto& [id, ports] : boundary_)
            for (const auto& port : ports) {
                torch::Tensor t;
                archive.read(id + "." + port, t);
                c10::IValue meta;
                archive.read(id + "." + port + ".meta", meta);
                auto m = nlohmann::json::parse(meta.toStringRef());
                Value v;
                v.tensor = t;
                v.kind = *kindFromName(m["kind"].get<std::string>());
                v.sample_rate = m["sample_rate"];
                v.hop = m["hop"];
                v.axes = m["axes"].get<std::vector<std::string>>();
                v.class_names = m["class_names"].get<std::vector<std::string>>();
                out[id][port] = std::move(v);
            }
        return true;
    } catch (const std::exception&) {
        return false; // unreadable: computed again and rewritten
    }
}

void FeatureCache::writeDisk(const Dataset& ds, size_t clip, const std::map<std::string, Ports>& features) {
    torch::serialize::OutputArchive archive;
    archive.write("source", c10::IValue(sourceKey(ds.clips[clip])));
    for (const auto& [id, ports] : features)
        for (const auto& [port, v] : ports) {
            archive.write(id + "." + port, v.tensor.cpu());
            nlohmann::json m = {{"kind", std::string(kindName(v.kind))},
                                {"sample_rate", v.sample_rate},
                                {"hop", v.hop},
                                {"axes", v.axes},
                                {"class_names", v.class_names}};
            archive.write(id + "." + port + ".meta", c10::IValue(m.dump()));
        }
    atomicSave(archive, fileFor(ds, clip));
}

void FeatureCache::compute(const std::vector<size_t>& clips,
                           const std::vector<std::map<std::string, Value>>& inputs, const Dataset& ds,
                           std::vector<std::map<std::string, Ports>>* each) {
    std::vector<std::string> ids;
    for (const auto& [id, ports] : boundary_)
        ids.push_back(id);
    std::map<std::string, Ports> out;
    try {
        out = executor_.runPart(stackClipInputs(inputs), {}, ids);
    } catch (const Error& e) {
        std::string names;
        for (size_t i : clips)
            names += (names.empty() ? "" : ", ") + ds.clips[i].path.string();
        throw Error(e.where(), e.message() + " (clips " + names + ")");
    }
    each->assign(clips.size(), {});
    for (const auto& [id, ports] : boundary_)
        for (const auto& port : ports) {
            auto it = out.at(id).find(port);
            if (it == out.at(id).end())
                throw executor_.graph()
                    .vertex(executor_.graph().find(id))
                    .node->error("produced no value on output '" + port + "'");
            for (size_t b = 0; b < clips.size(); ++b)
                (*each)[b][id][port] = it->second.withTensor(
                    it->second.tensor.narrow(0, static_cast<int64_t>(b), 1).contiguous().clone());
        }
}

void FeatureCache::prepare(const Dataset& ds, const std::vector<size_t>& clips, bool progress) {
    if (mode_ == "none")
        return;
    std::vector<size_t> todo;
    for (size_t i : clips)
        if (!memory_.count(i))
            todo.push_back(i);
    if (todo.empty())
        return;
    ProgressBar bar(todo.size(), progress && stderrIsTerminal());
    size_t done = 0;
    using Loaded = std::pair<size_t, std::map<std::string, Value>>; // a clip and its graph inputs
    ShapeBatcher<Loaded> batcher(kFeatureBatch, [&](const std::vector<Loaded>& batch) {
        std::vector<size_t> batch_clips;
        std::vector<std::map<std::string, Value>> inputs;
        for (const auto& [clip, values] : batch) {
            batch_clips.push_back(clip);
            inputs.push_back(values);
        }
        std::vector<std::map<std::string, Ports>> each;
        compute(batch_clips, inputs, ds, &each);
        for (size_t b = 0; b < batch_clips.size(); ++b) {
            if (mode_ == "disk")
                writeDisk(ds, batch_clips[b], each[b]);
            memory_[batch_clips[b]] = std::move(each[b]);
        }
        done += batch_clips.size();
        bar.update(done, "features " + ds.clips[batch_clips.back()].path.filename().string());
    });
    for (size_t i : todo) {
        std::map<std::string, Ports> cached;
        if (mode_ == "disk" && readDisk(ds, i, cached)) {
            memory_[i] = std::move(cached);
            bar.update(++done, "features (cached)");
            continue;
        }
        auto values = loadClipInputs(ds.clips[i], inputs_);
        auto shape = shapeKey(values); // a batch holds clips of one length (and frames of one size)
        batcher.add({i, std::move(values)}, std::move(shape));
    }
    batcher.flush();
    bar.finish();
}

std::map<std::string, Ports> FeatureCache::get(const Dataset& ds, size_t clip) {
    auto it = memory_.find(clip);
    if (it != memory_.end())
        return it->second;
    std::vector<std::map<std::string, Ports>> each;
    compute({clip}, {loadClipInputs(ds.clips[clip], inputs_)}, ds, &each);
    if (mode_ != "none")
        memory_[clip] = each[0];
    return each[0];
}

} // namespace avgraph::host::training
