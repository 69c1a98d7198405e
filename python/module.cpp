// avgraph._avgraph: the engine, its nodes and io for Python (pybind11). The public API, the
// librosa-compatible functions and the docs live in python/avgraph/*.py; this file only moves values
// between numpy and the engine and keeps the interpreter safe: every avgraph error becomes
// avgraph.Error (a ValueError), no bad array reaches a node, and the GIL is released while a graph runs.
#include "graph/error.h"
#include "graph/executor.h"
#include "graph/graph.h"
#include "graph/message_text.h"
#include "graph/node_spec.h"
#include "graph/plan.h"
#include "graph/preset.h"
#include "graph/registry.h"
#include "io/audio_file.h"
#include "io/audio_input.h"
#include "io/output_folder.h"
#include "io/runtime.h"

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>
#include <pybind11/stl/filesystem.h>

#include <cmath>
#include <mutex>

namespace py = pybind11;
namespace fs = std::filesystem;

namespace avgraph::python {

namespace {

/** The registry every graph of the process builds from: the built-in nodes, made once, and the node
 *  libraries presets name (loaded while the GIL is held, so one at a time). */
Registry& registry() {
    static const std::unique_ptr<Registry> built = host::makeRegistry({});
    return *built;
}

/**
 * A numpy array as a tensor sharing its memory: float32 C-contiguous arrays are not copied (the tensor
 * holds a reference to the array), float64 and non-contiguous views are converted to float32 first.
 * Integer and other arrays are refused, naming `what`.
 */
torch::Tensor tensorOf(const py::handle& object, const std::string& what) {
    py::array array = py::array::ensure(object);
    if (!array)
        throw Error({}, what + ": expected a numpy array of samples, got " +
                            std::string(py::str(py::type::handle_of(object).attr("__name__"))));
    const char kind = array.dtype().kind();
    if (kind != 'f')
        throw Error(
            {}, what + ": expected floating-point samples (float32 or float64 in [-1, 1]), got dtype " +
                    std::string(py::str(array.dtype())) +
                    (kind == 'i' || kind == 'u' ? "; divide integer PCM by its full scale (32768 for int16)"
                                                : ""));
    auto floats = py::array_t<float, py::array::c_style | py::array::forcecast>::ensure(array);
    if (!floats)
        throw Error({}, what + ": cannot convert the array to float32");
    std::vector<int64_t> sizes(floats.shape(), floats.shape() + floats.ndim());
    // The tensor keeps the (possibly converted) array alive; its deleter runs with or without the GIL.
    auto* owner = new py::object(floats);
    return torch::from_blob(
        const_cast<float*>(floats.data()), sizes,
        [owner](void*) {
            py::gil_scoped_acquire gil;
            delete owner;
        },
        torch::TensorOptions().dtype(torch::kFloat32));
}

/**
 * Audio samples as [channels, samples], as io's audioValue takes them: mono [n], or 2-D channels first
 * ([channels, n], librosa's layout) or channels last ([n, channels], soundfile's), told apart by which axis
 * is short.
 */
torch::Tensor audioTensor(const py::handle& object, const std::string& what) {
    torch::Tensor t = tensorOf(object, what);
    if (t.dim() == 1) {
        t = t.unsqueeze(0);
    } else if (t.dim() == 2) {
        const bool channels_last = t.size(1) <= 16 && t.size(0) > t.size(1);
        if (channels_last)
            t = t.t().contiguous();
        else if (t.size(0) > 16)
            throw Error({},
                        what + ": a 2-D array of audio is [channels, samples] or [samples, channels], got " +
                            "shape [" + std::to_string(t.size(0)) + ", " + std::to_string(t.size(1)) + "]");
    } else {
        throw Error({}, what + ": expected mono [samples] or [channels, samples] audio, got a " +
                            std::to_string(t.dim()) + "-D array");
    }
    if (t.size(1) == 0)
        throw Error({}, what + ": the array holds no samples");
    // One pass without a temporary: a NaN or Inf makes the sum non-finite (so may a huge finite signal,
    // which the exact check then lets through).
    if (std::isfinite(t.sum().item<float>()))
        return t;
    auto bad = torch::logical_not(torch::isfinite(t));
    if (!bad.any().item<bool>())
        return t;
    const auto first = bad.nonzero()[0];
    throw Error({}, what + ": sample " + std::to_string(first[1].item<int64_t>()) + " of channel " +
                        std::to_string(first[0].item<int64_t>()) + " is not finite (NaN or Inf)");
}

/** A tensor as a numpy array sharing its memory (the array keeps the tensor alive). */
py::array arrayOf(torch::Tensor t) {
    t = t.detach().to(torch::kCPU).contiguous();
    if (c10::isFloatingType(t.scalar_type()))
        t = t.to(torch::kFloat32); // the layouts and dtype `avgraph run` writes
    py::dtype dtype = t.scalar_type() == torch::kFloat32 ? py::dtype::of<float>()
                      : t.scalar_type() == torch::kInt64 ? py::dtype::of<int64_t>()
                      : t.scalar_type() == torch::kBool  ? py::dtype::of<bool>()
                                                         : py::dtype::of<int32_t>();
    if (t.scalar_type() != torch::kFloat32 && t.scalar_type() != torch::kInt64 &&
        t.scalar_type() != torch::kBool)
        t = t.to(torch::kInt32);
    std::vector<py::ssize_t> shape(t.sizes().begin(), t.sizes().end());
    std::vector<py::ssize_t> strides;
    for (auto s : t.strides())
        strides.push_back(static_cast<py::ssize_t>(s * t.element_size()));
    auto* keep = new torch::Tensor(t);
    py::capsule owner(keep, [](void* p) { delete static_cast<torch::Tensor*>(p); });
    return py::array(dtype, shape, strides, t.data_ptr(), owner);
}

/** What travels with a value besides its numbers. */
py::dict infoOf(const Value& v) {
    py::dict info;
    info["kind"] = std::string(kindName(v.kind));
    info["sample_rate"] = v.sample_rate > 0 ? py::object(py::float_(v.sample_rate)) : py::none();
    info["hop"] = v.hop > 0 ? py::object(py::int_(v.hop)) : py::none();
    info["axes"] = v.axes;
    info["class_names"] = v.class_names;
    return info;
}

/** Outputs as (arrays, infos): one clip in the layout `avgraph run` writes (batch and a lone channel axis
 *  dropped). */
py::tuple outputsOf(const std::map<std::string, Value>& values) {
    py::dict arrays, infos;
    for (const auto& [name, value] : values) {
        arrays[py::str(name)] = arrayOf(host::clipOf(value, 0));
        infos[py::str(name)] = infoOf(value);
    }
    return py::make_tuple(arrays, infos);
}

/** A preset, its graph and executor; one run (or stream) at a time. */
class GraphHandle {
public:
    GraphHandle(const std::string& preset, bool is_text, const std::string& base,
                const std::vector<std::string>& set, const std::string& device, int threads,
                const std::string& precision) {
        if (threads > 0)
            host::configureThreads(threads);
        preset_ = std::make_unique<Preset>(is_text ? Preset::parse(preset, base, set, "set")
                                                   : Preset::load(preset, set, "set"));
        graph_ = std::make_unique<Graph>(Graph::build(*preset_, registry()));
        executor_ = std::make_unique<Executor>(*graph_,
                                               Plan::make(*graph_, device, Location{"device", "", "", 0, 0}));
        precision_ = executor_->setPrecision(precision, Location{"precision", "", "", 0, 0});
    }

    /** The precision the networks compute in, why, and a warning when it will be slow. */
    py::dict precision() const {
        py::dict d;
        d["precision"] = std::string(precisionName(precision_.precision));
        d["reason"] = precision_.reason;
        d["warning"] = precision_.warning;
        return d;
    }

    std::vector<py::dict> inputs() const {
        std::vector<py::dict> out;
        for (const auto& in : preset_->inputs()) {
            py::dict d;
            d["name"] = in.name;
            d["kind"] = std::string(kindName(in.kind));
            d["sample_rate"] = in.sample_rate ? py::object(py::float_(*in.sample_rate)) : py::none();
            out.push_back(d);
        }
        return out;
    }
    std::vector<std::string> outputs() const {
        std::vector<std::string> out;
        for (const auto& o : graph_->outputs())
            out.push_back(o.name);
        return out;
    }

    /** `given`: input name -> numpy array or file path; `rate`: the arrays' sample rate (0: unknown). */
    py::tuple run(const py::dict& given, double rate) {
        auto values = inputValues(given, rate);
        std::map<std::string, Value> results;
        {
            py::gil_scoped_release free;
            std::lock_guard<std::mutex> one_at_a_time(mutex_);
            results = executor_->run(values);
        }
        return outputsOf(results);
    }

    void prepareStream(double rate, int64_t channels, int64_t max_block) {
        if (!(rate > 0))
            throw Error({}, "stream(): sample_rate must be positive");
        StreamSpec spec;
        spec.sample_rate = rate;
        spec.channels = channels;
        spec.max_block = max_block;
        py::gil_scoped_release free;
        std::lock_guard<std::mutex> one_at_a_time(mutex_);
        executor_->prepareStream(spec);
        stream_rate_ = rate;
        stream_channels_ = channels;
    }
    py::tuple processBlock(const py::handle& block, bool last) {
        if (!(stream_rate_ > 0))
            throw Error({}, "the stream is not prepared: call Graph.stream() first");
        std::map<std::string, Value> blocks;
        const auto& input = preset_->inputs().at(0);
        torch::Tensor samples =
            last && block.is_none() ? torch::zeros({stream_channels_, 0}) : audioTensor(block, "block");
        if (samples.size(0) != stream_channels_)
            throw Error({}, "block: the stream was prepared for " + std::to_string(stream_channels_) +
                                " channel(s), this block has " + std::to_string(samples.size(0)));
        blocks[input.name] = host::audioValue(samples, stream_rate_);
        std::map<std::string, Value> results;
        {
            py::gil_scoped_release free;
            std::lock_guard<std::mutex> one_at_a_time(mutex_);
            results = last ? executor_->finishStream(blocks) : executor_->processBlock(blocks);
        }
        if (last)
            stream_rate_ = 0.0;
        return outputsOf(results);
    }
    int64_t latency() const { return executor_->latencySamples(); }

private:
    std::map<std::string, Value> inputValues(const py::dict& given, double rate) {
        std::map<std::string, Value> values;
        for (const auto& input : preset_->inputs()) {
            if (!given.contains(input.name))
                throw Error(preset_->locate("/inputs"), "no value given for the graph input '" + input.name +
                                                            "' (inputs: " + inputNames() + ")");
            py::handle x = given[py::str(input.name)];
            if (py::isinstance<py::str>(x) || py::hasattr(x, "__fspath__")) {
                const fs::path file =
                    py::str(py::module_::import("os").attr("fspath")(x)).cast<std::string>();
                py::gil_scoped_release free;
                values[input.name] = input.kind == Kind::Image ? host::loadImageFor(file, input)
                                                               : host::loadAudioFor(file, input);
                continue;
            }
            if (input.kind == Kind::Spectrum || input.kind == Kind::Tensor) {
                values[input.name] = arrayValue(x, input, rate);
                continue;
            }
            if (input.kind != Kind::Audio)
                throw Error({}, "input '" + input.name + "' takes " + std::string(kindName(input.kind)) +
                                    "; give it a file path");
            torch::Tensor samples = audioTensor(x, "input '" + input.name + "'");
            double from = rate > 0 ? rate : input.sample_rate.value_or(0.0);
            if (!(from > 0))
                throw Error(preset_->locate("/inputs"), "input '" + input.name +
                                                            "': pass sample_rate= with an array (the preset "
                                                            "declares no rate for this input)");
            if (input.sample_rate && *input.sample_rate != from) {
                py::gil_scoped_release free;
                samples = host::resample(samples, from, *input.sample_rate);
                from = *input.sample_rate;
            }
            values[input.name] = host::audioValue(samples, from);
        }
        for (const auto& [key, value] : given)
            if (!values.count(py::str(key).cast<std::string>()))
                throw Error(preset_->locate("/inputs"),
                            "'" + std::string(py::str(key)) +
                                "' is not an input of this preset (inputs: " + inputNames() + ")");
        return values;
    }
    /** A spectrum ([bins, frames] or [channels, bins, frames]) or any tensor, as one clip of a batch. */
    static Value arrayValue(const py::handle& x, const PresetInput& input, double rate) {
        const std::string what = "input '" + input.name + "'";
        torch::Tensor t = tensorOf(x, what);
        if (t.numel() == 0)
            throw Error({}, what + ": the array is empty");
        Value v;
        v.kind = input.kind;
        v.sample_rate = rate > 0 ? rate : 0.0;
        if (input.kind == Kind::Spectrum) {
            if (t.dim() == 2)
                t = t.unsqueeze(0);
            if (t.dim() != 3)
                throw Error(
                    {}, what + ": expected a spectrum [bins, frames] or [channels, bins, frames], got a " +
                            std::to_string(t.dim()) + "-D array");
            v.axes = {"batch", "channel", "bin", "frame"};
        }
        v.tensor = t.unsqueeze(0);
        return v;
    }
    std::string inputNames() const {
        std::vector<std::string> names;
        for (const auto& in : preset_->inputs())
            names.push_back(in.name);
        return joinNames(names);
    }

    std::unique_ptr<Preset> preset_;
    std::unique_ptr<Graph> graph_;
    std::unique_ptr<Executor> executor_;
    PrecisionChoice precision_;
    std::mutex mutex_;
    double stream_rate_ = 0.0;
    int64_t stream_channels_ = 1;
};

/** librosa.load's decoding: the file's samples [channels, n] as float32 and its rate, resampled to `sr`
 *  with libsoxr when sr > 0. */
py::tuple load(const fs::path& file, double sr) {
    torch::Tensor samples;
    double rate = 0.0;
    {
        py::gil_scoped_release free;
        auto audio = host::readAudio(file);
        samples = audio.samples;
        rate = audio.sample_rate;
        if (sr > 0 && sr != rate) {
            samples = host::resample(samples, rate, sr);
            rate = sr;
        }
    }
    return py::make_tuple(arrayOf(samples), rate);
}

/** The node reference (what `avgraph nodes` lists) as JSON text, for avgraph.nodes(). */
std::string nodesJson() {
    auto ports = [](const std::vector<PortSpec>& list) {
        nlohmann::json out = nlohmann::json::array();
        for (const auto& p : list) {
            nlohmann::json kinds = nlohmann::json::array();
            for (Kind k : p.kinds)
                kinds.push_back(std::string(kindName(k)));
            out.push_back({{"name", p.name}, {"kinds", kinds}, {"doc", p.doc}, {"required", p.required}});
        }
        return out;
    };
    nlohmann::json all = nlohmann::json::array();
    for (const NodeSpec* spec : registry().all()) {
        nlohmann::json params = nlohmann::json::array();
        for (const auto& p : spec->params)
            params.push_back({{"name", p.name},
                              {"type", std::string(paramTypeName(p.type))},
                              {"default", p.default_value},
                              {"required", p.required},
                              {"accepts", p.describe()},
                              {"doc", p.doc}});
        all.push_back({{"type", spec->type},
                       {"summary", spec->summary},
                       {"doc", spec->doc},
                       {"streams", spec->streams},
                       {"trainable", spec->trainable},
                       {"inputs", ports(spec->inputs)},
                       {"outputs", ports(spec->outputs)},
                       {"params", params}});
    }
    return all.dump();
}

} // namespace

} // namespace avgraph::python

PYBIND11_MODULE(_avgraph, m) {
    using namespace avgraph::python;
    m.doc() = "avgraph's engine for Python; use the avgraph package, not this module";
    // LibTorch may default to one intra-op thread: one per core, as the CLI sets, until told otherwise.
    avgraph::host::configureThreads(0);
    // Keep freed memory in the process, as the CLI does (io/runtime.h): the buffers of a long signal's
    // features (tens of megabytes) then come back without page faults on every call.
    avgraph::host::configureAllocator();
    static py::exception<avgraph::Error> error(m, "Error", PyExc_ValueError);
    py::register_exception_translator([](std::exception_ptr p) {
        try {
            if (p)
                std::rethrow_exception(p);
        } catch (const avgraph::Error& e) {
            error(e.what());
        } catch (const c10::Error& e) {
            error(e.what_without_backtrace());
        }
    });
    py::class_<GraphHandle>(m, "GraphHandle")
        .def(py::init<const std::string&, bool, const std::string&, const std::vector<std::string>&,
                      const std::string&, int, const std::string&>())
        .def("precision", &GraphHandle::precision)
        .def("inputs", &GraphHandle::inputs)
        .def("outputs", &GraphHandle::outputs)
        .def("run", &GraphHandle::run)
        .def("prepare_stream", &GraphHandle::prepareStream)
        .def("process_block", &GraphHandle::processBlock)
        .def("latency", &GraphHandle::latency);
    m.def("load", &load);
    m.def("nodes_json", &nodesJson);
    m.def("set_num_threads", [](int threads) { avgraph::host::configureThreads(threads); });
}
