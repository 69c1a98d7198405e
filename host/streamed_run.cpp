#include "host/streamed_run.h"

#include "graph/error.h"
#include "host/metrics/plots.h"
#include "io/atomic_file.h"
#include "io/audio_input.h"
#include "io/message_text.h"
#include "io/npy_stream.h"
#include "nodes/signal/soxr_resampler.h"

#include <cmath>
#include <cstdio>

namespace avgraph::host {

namespace fs = std::filesystem;

namespace {

/** The first sample of `block` that is not finite, as an error naming the file and the time. */
void requireFinite(const fs::path& file, const torch::Tensor& block, int64_t first_frame, double rate) {
    auto bad = torch::logical_not(torch::isfinite(block));
    if (!bad.any().item<bool>())
        return;
    // The earliest frame with a bad sample in any channel, then the first such channel.
    const int64_t frame = bad.any(0).nonzero()[0][0].item<int64_t>();
    const int64_t channel = bad.select(1, frame).nonzero()[0][0].item<int64_t>();
    const double value = block[channel][frame].item<double>();
    const int64_t at = first_frame + frame;
    throw fileError(file, std::string(std::isnan(value) ? "NaN"
                                      : value > 0       ? "+inf"
                                                        : "-inf") +
                              " at " + clockTime(static_cast<double>(at) / rate) + " (frame " +
                              std::to_string(at) + ", channel " + std::to_string(channel) +
                              "): expected finite samples (repair the file, or cut that stretch out)");
}

/** A value's tensor for one input in its natural layout: the batch axis goes, and a channel axis of one. */
torch::Tensor naturalLayout(const Value& value) {
    torch::Tensor t = value.tensor;
    if (value.axes.size() > 1 && value.axes[1] == "channel" && t.dim() > 1 && t.size(1) == 1)
        t = t.squeeze(1);
    return t.detach().to(torch::kCPU);
}

/** The axis of a streamed output's clip (host::clipOf layout) along which it grows. */
int64_t growingAxis(const Value& value, const torch::Tensor& clip) {
    const int64_t patch = value.axis("patch");
    if (patch > 0)
        return patch - 1;  // patches come right after the batch axis, before any channel axis
    return clip.dim() - 1; // frames and samples are last
}

/** "%.6f" of a probability, as the timeline writes it: the label's confidence is the same text. */
std::string fixed(double v, int digits) {
    char text[40];
    std::snprintf(text, sizeof text, "%.*f", digits, v);
    return text;
}

} // namespace

// ---------------------------------------------------------------------------------------------
// AudioBlocks

AudioBlocks::AudioBlocks(const fs::path& file, const PresetInput& input, int64_t block_frames)
    : decoder_([&]() -> AudioFileStream {
          if (input.kind != Kind::Audio)
              throw Error({file.string(), "", input.name, 0, 0},
                          "the preset's input '" + input.name + "' takes " +
                              std::string(kindName(input.kind)) + ", not audio files");
          try {
              return AudioFileStream(file);
          } catch (const Error&) {
              throw;
          } catch (const std::exception& e) {
              throw Error({}, e.what()); // the decoder's messages start with the file
          }
      }()),
      block_frames_(block_frames), rate_(decoder_.sampleRate()) {
    if (input.sample_rate && *input.sample_rate != rate_) {
        resampler_ = std::make_unique<nodes::ResampleStream>(
            rate_, *input.sample_rate, nodes::ResampleQuality::High, decoder_.channels(), torch::kFloat32);
        rate_ = *input.sample_rate;
    }
}

AudioBlocks::~AudioBlocks() = default;

double AudioBlocks::seconds() const {
    return static_cast<double>(decoder_.position()) / decoder_.sampleRate();
}

Value AudioBlocks::next() {
    // A block with no samples means the end: a resampler that holds back its first output is read past.
    for (;;) {
        if (ended_)
            return audioValue(torch::zeros({channels(), 0}), rate_);
        const int64_t before = decoder_.position();
        torch::Tensor x;
        try {
            x = decoder_.read(block_frames_);
        } catch (const Error&) {
            throw;
        } catch (const std::exception& e) {
            throw Error({}, e.what()); // names the file and the time
        }
        requireFinite(path(), x, before, decoder_.sampleRate());
        if (x.size(1) == 0)
            ended_ = true;
        if (!resampler_)
            return audioValue(x, rate_);
        if (!ended_) {
            x = resampler_->push(x);
        } else {
            // The end, flushed; as the offline path (host::resample), round(n * ratio) samples in all.
            x = resampler_->finish();
            const auto total = static_cast<int64_t>(
                std::floor(static_cast<double>(decoder_.position()) * rate_ / decoder_.sampleRate() + 0.5));
            const int64_t keep = std::clamp<int64_t>(total - resampled_, 0, x.size(1));
            x = x.narrow(1, 0, keep);
        }
        resampled_ += x.size(1);
        if (x.size(1) > 0 || ended_)
            return audioValue(x, rate_);
    }
}

// ---------------------------------------------------------------------------------------------
// Whole-graph streaming

RunPath streamingPath(Executor& executor, double sample_rate, int64_t channels) {
    StreamSpec spec;
    spec.sample_rate = sample_rate;
    spec.channels = channels;
    spec.defer_top_db = true; // the file runner clips over the written file
    std::map<size_t, std::string> why;
    auto streams = executor.streamingSteps(spec, &why);
    RunPath path;
    path.streams = true;
    const Graph& graph = executor.graph();
    for (const auto& o : graph.outputs())
        if (!streams[static_cast<size_t>(executor.plan().stepOf(o.vertex))])
            path.streams = false;
    for (const auto& [step, reason] : why) {
        const auto& vx = graph.vertex(executor.plan().steps()[step].vertex);
        path.why += "  " + vx.id + " (" + (vx.is_input ? std::string("input") : vx.spec->type) +
                    "): " + reason + "\n";
    }
    return path;
}

std::vector<StreamedOutput> streamFile(Executor& executor, AudioBlocks& audio, OutputFolder& out,
                                       const fs::path& subdir) {
    const Preset& preset = executor.graph().preset();
    const std::string input = preset.inputs().at(0).name;
    StreamSpec spec;
    spec.sample_rate = audio.sampleRate();
    spec.channels = audio.channels();
    spec.defer_top_db = true;
    executor.prepareStream(spec);

    struct Output {
        std::unique_ptr<NpyStreamWriter> writer;
        fs::path relative;
        std::optional<double> top_db;
        Kind kind = Kind::Tensor;
        std::vector<int64_t> shape;
        int64_t axis = 0;
    };
    std::map<std::string, Output> outputs;
    auto take = [&](const std::map<std::string, Value>& values) {
        for (const auto& [name, value] : values) {
            torch::Tensor clip = clipOf(value, 0);
            auto& o = outputs[name];
            if (!o.writer) {
                o.relative = subdir / (name + ".npy");
                o.axis = growingAxis(value, clip);
                o.shape = clip.sizes().vec();
                o.writer = std::make_unique<NpyStreamWriter>(out.prepare(o.relative), o.shape, o.axis);
                o.top_db = value.pending_top_db;
                o.kind = value.kind;
            }
            o.writer->append(clip);
        }
    };
    for (;;) {
        Value block = audio.next();
        if (block.tensor.size(-1) == 0) {
            take(executor.finishStream({{input, block}}));
            break;
        }
        take(executor.processBlock({{input, block}}));
    }
    executor.resetStream();

    std::vector<StreamedOutput> written;
    for (auto& [name, o] : outputs) {
        std::function<void(torch::Tensor&)> clip_db;
        if (o.top_db) { // as the offline run: top_db below the maximum of the whole clip
            const double floor = o.writer->maximum() - *o.top_db;
            clip_db = [floor](torch::Tensor& values) { values.clamp_min_(floor); };
        }
        o.writer->finish(clip_db);
        out.record(o.relative);
        StreamedOutput s;
        s.name = name;
        s.path = o.writer->path();
        s.kind = o.kind;
        s.shape = o.shape;
        s.shape[static_cast<size_t>(o.axis)] = o.writer->length();
        written.push_back(s);
    }
    return written;
}

// ---------------------------------------------------------------------------------------------
// Segments

TimelineFiles segmentFile(SegmentedStream& segments, AudioBlocks& audio, OutputFolder& out,
                          const fs::path& subdir, bool plot) {
    const Preset& preset = segments.preset();
    const std::string probabilities = segments.probabilitiesOutput();
    if (probabilities.empty())
        throw Error(preset.locate("/outputs"),
                    "--segment writes a timeline of class probabilities, and no output of this preset gives "
                    "probabilities (outputs: " +
                        segments.outputList() + "); run it without --segment");
    segments.start();

    TimelineFiles files;
    files.probabilities = probabilities;
    const fs::path csv_relative = subdir / "timeline.csv";
    files.csv = out.prepare(csv_relative);
    struct Output {
        std::unique_ptr<NpyStreamWriter> writer;
        fs::path relative;
        std::vector<int64_t> shape;
    };
    std::map<std::string, Output> outputs;
    std::vector<std::string> classes;
    bool header = false;

    // The timeline is written as the segments come, and put in place only once the file is done.
    writeAtomically(files.csv, [&](std::ostream& csv) {
        auto take = [&](const SegmentBatch& batch) {
            if (batch.empty())
                return;
            for (const auto& [name, value] : batch.outputs) {
                auto t = naturalLayout(value);
                auto& o = outputs[name];
                if (!o.writer) {
                    o.relative = subdir / (name + ".npy");
                    o.shape = t.sizes().vec();
                    o.writer = std::make_unique<NpyStreamWriter>(out.prepare(o.relative), o.shape, 0);
                }
                o.writer->append(t);
            }
            const Value& p = batch.outputs.at(probabilities);
            auto probs = p.tensor.detach().to(torch::kCPU, torch::kDouble).reshape({p.tensor.size(0), -1});
            if (!header) {
                for (int64_t c = 0; c < probs.size(1); ++c)
                    classes.push_back(static_cast<size_t>(c) < p.class_names.size()
                                          ? p.class_names[c]
                                          : "class " + std::to_string(c));
                csv << "start,end,label,confidence";
                for (const auto& c : classes)
                    csv << "," << csvField(c);
                csv << "\n";
                header = true;
            }
            auto rows = probs.accessor<double, 2>();
            for (size_t i = 0; i < batch.segments.size(); ++i) {
                const auto& seg = batch.segments[i];
                int64_t top = 0;
                for (int64_t c = 1; c < probs.size(1); ++c)
                    if (rows[i][c] > rows[i][top])
                        top = c;
                csv << fixed(seg.start, 3) << "," << fixed(seg.end, 3) << "," << csvField(classes[top]) << ","
                    << fixed(rows[i][top], 6);
                for (int64_t c = 0; c < probs.size(1); ++c)
                    csv << "," << fixed(rows[i][c], 6);
                csv << "\n";
            }
            files.segments += static_cast<int64_t>(batch.segments.size());
        };
        for (;;) {
            Value block = audio.next();
            if (block.tensor.size(-1) == 0) {
                take(segments.finish(block));
                break;
            }
            take(segments.push(block));
        }
        if (files.segments == 0)
            throw fileError(audio.path(), "lasts " + clockTime(audio.seconds()) +
                                              ", shorter than one segment of " + segments.lengthText() +
                                              ": there is nothing to classify (use a shorter --segment)");
    });
    out.record(csv_relative);
    for (auto& [name, o] : outputs) {
        o.writer->finish();
        out.record(o.relative);
        StreamedOutput s;
        s.name = name;
        s.path = o.writer->path();
        s.shape = o.shape;
        s.shape[0] = o.writer->length();
        files.outputs.push_back(s);
    }
    if (plot) {
        const fs::path plot_relative = subdir / "timeline.png";
        out.prepare(plot_relative);
        out.prepare(subdir / "timeline.gp");
        files.plot = metrics::plotTimeline(files.csv.parent_path(), files.csv.filename().string(), classes,
                                           segments.hop(), metrics::PlotFormat::png);
        out.record(plot_relative);
        out.record(subdir / "timeline.gp");
    }
    return files;
}

} // namespace avgraph::host
