#pragma once
/**
 * `avgraph run` over long recordings in bounded memory.
 *
 * A file is decoded block by block (AudioFileStream), converted to the rate the preset's input asks
 * for by a streaming resampler, and pushed through the graph's streaming mode; each output is appended
 * to its .npy as it grows (NpyStreamWriter), so neither the recording nor the result sits in memory.
 * With segments (--segment), the graph streams up to its first offline node and the rest runs on each
 * window (graph/segments.h); the run writes a scene timeline: timeline.csv, the outputs with a leading
 * segment axis, and a plot.
 *
 * Presets that cannot stream to their outputs (a node that only runs offline, a top_db that another
 * node reads) take the offline path of `avgraph run`; `streamingPath` says which and why, and so
 * does `avgraph validate --plan`.
 */
#include "graph/executor.h"
#include "graph/preset.h"
#include "graph/segments.h"
#include "io/audio_stream.h"
#include "io/output_folder.h"

#include <filesystem>
#include <functional>
#include <memory>
#include <string>

namespace avgraph::nodes {
class ResampleStream;
}

namespace avgraph::host {

/** The blocks of one audio file as the preset's audio input takes them. */
class AudioBlocks {
public:
    /** Opens `file`; throws an Error naming it when it cannot be decoded. */
    AudioBlocks(const std::filesystem::path& file, const PresetInput& input, int64_t block_frames = 1 << 16);
    ~AudioBlocks();

    /** The rate and channels of the values `next` returns (the input's rate when it sets one). */
    double sampleRate() const { return rate_; }
    int64_t channels() const { return decoder_.channels(); }
    /**
     * The next block, [1, channel, sample] at sampleRate(); no samples at the end of the file. Throws
     * an Error naming the file and the time for a decoding error or a sample that is not finite.
     */
    Value next();
    /** Seconds of the file decoded so far. */
    double seconds() const;
    const std::filesystem::path& path() const { return decoder_.path(); }

private:
    AudioFileStream decoder_;
    int64_t block_frames_;
    double rate_;
    std::unique_ptr<nodes::ResampleStream> resampler_; ///< when the input asks for another rate
    int64_t resampled_ = 0;                            ///< samples returned at rate_
    bool ended_ = false;
};

/** How `avgraph run` takes a preset: streamed in blocks, or offline on whole files. */
struct RunPath {
    bool streams = false;
    std::string why; ///< the nodes that stand in the way, one per line
};

/** Whether every output streams for audio at `sample_rate` with `channels`. Leaves the executor unprepared.
 */
RunPath streamingPath(Executor& executor, double sample_rate, int64_t channels);

/** Where one streamed file's outputs went. */
struct StreamedOutput {
    std::string name;
    std::filesystem::path path;
    std::vector<int64_t> shape;
    Kind kind = Kind::Tensor;
};

/**
 * Streams one file through the whole graph (streamingPath must allow it) into `out`/`subdir`/<output>.npy.
 * Decibels the nodes deferred are clipped over the written file at the end, against its maximum, as the
 * offline run clips the clip. On an error nothing is written for this file.
 */
std::vector<StreamedOutput> streamFile(Executor& executor, AudioBlocks& audio, OutputFolder& out,
                                       const std::filesystem::path& subdir);

/** What a segmented run of one file wrote. */
struct TimelineFiles {
    int64_t segments = 0;
    std::filesystem::path csv, plot;
    std::vector<StreamedOutput> outputs;
    std::string probabilities; ///< the output the timeline's labels come from
};

/**
 * A scene timeline of one file: every segment through the graph (`segments`, prepared for this
 * file's rate and channels), written to `out`/`subdir`: timeline.csv (start,end,label,confidence, then
 * one column per class), each output as .npy with a leading segment axis, and timeline.png. Throws an
 * Error naming the file when it holds no whole segment or the preset has no probabilities output.
 */
TimelineFiles segmentFile(SegmentedStream& segments, AudioBlocks& audio, OutputFolder& out,
                          const std::filesystem::path& subdir, bool plot);

} // namespace avgraph::host
