#pragma once
/**
 * Segmented streaming: a graph run over every window of a long input, in bounded memory.
 *
 * A scene classifier answers one set of probabilities per clip; over an hour of field recording people
 * want a timeline, one answer per window of `length` seconds every `hop` seconds. SegmentedStream gives
 * that without holding the recording: the graph streams as far as it can (Executor::streamingSteps:
 * the channel mix, the resampler, the feature nodes), and at the cut, where a value flows from a
 * streaming node into one that only runs offline (a CNN), the frames are gathered into windows, one per
 * segment, which the offline rest of the graph runs on in batches. Memory holds one window per cut
 * and a batch of windows, whatever the input's length.
 *
 * What a segment's answer equals: `avgraph run` on that stretch of the input cut out of the file, except
 *   - the first frames of a window see the audio before the segment where the cut-out sees its own
 *     padding (centred STFT: n_fft/2 samples; a resampler: its filter's edge), and the last frames the
 *     audio after it;
 *   - segment k starts at the frame nearest to k * hop seconds (frames are `hop_length` samples apart;
 *     `Segment::start` is that frame's time), so that its window is whole frames of the stream.
 * Decibels that a feature clips top_db below its maximum are clipped per window, against the window's
 * own maximum, as on the cut-out (the feature streams them unclipped: StreamSpec::defer_top_db).
 *
 * With a shared trunk (SegmentSpec::share_trunk, a SegmentTrunk node such as CNN9 right after the
 * cut), the trunk runs once over the stream in chunks (each with `trunkMargin` frames of context on
 * both sides, so a chunk's trunk frames equal those of the whole stream at once) and each segment's
 * head pools the trunk frames of its stretch. A segment then differs from the cut-out more: its
 * start is the trunk frame nearest to k * hop (CNN9: 8 frames, 128 ms at hop 256 and 16 kHz), the
 * trunk frames near its edges see the audio around it where the cut-out's convolutions see zeros,
 * and deferred decibels are not clipped (a trunk frame serves several segments).
 * A cut at the graph input itself (nothing before the offline nodes streams) windows the audio, and a
 * segment is then exactly the cut-out.
 */
#include "graph/executor.h"

#include <map>
#include <string>
#include <vector>

namespace avgraph {

/**
 * A node that a segmented run may split: a trunk that runs once over the stream's frames, and a head
 * that runs on each segment's window of trunk frames. A network that is convolutional along time and
 * pools over time at its end (CNN9) is one: overlapping segments then share the convolutions instead
 * of repeating them for every window, which is most of the work (segments of 5 s every second would
 * compute every frame five times).
 */
class SegmentTrunk {
public:
    virtual ~SegmentTrunk() = default;
    /** Input frames per trunk frame; 0 when these parameters allow no trunk. */
    virtual int64_t trunkStride() const = 0;
    /** Input frames on each side of a trunk frame's own that it depends on (a multiple of the stride). */
    virtual int64_t trunkMargin() const = 0;
    /** The trunk of a chunk of input frames [batch, ..., frame] that starts on a multiple of the stride:
     *  [batch, width, frames / stride]. */
    virtual torch::Tensor trunk(const Value& frames) = 0;
    /** The head on windows of trunk frames [batch, width, frames]: the node's outputs, as `like` (its
     *  input) would give them. */
    virtual Ports head(const torch::Tensor& trunk_frames, const Value& like) = 0;
};

struct SegmentSpec {
    double length = 0.0; ///< seconds of input per segment
    double hop = 0.0;    ///< seconds between segment starts
    int64_t batch = 16;  ///< segments run through the offline part at once
    /** Split SegmentTrunk nodes: their trunk once over the stream, their head on each segment. */
    bool share_trunk = true;
    /**
     * New input frames the shared trunk waits for before it runs (the end runs whatever is left). Each
     * run also reads the trunk's margin on both sides again (CNN9: 48 frames each), so larger chunks
     * cost less; smaller ones answer sooner (the plugin sets about one hop).
     */
    int64_t trunk_chunk = 2048;
};

/** Where a segment lies in the input. */
struct Segment {
    int64_t index = 0;
    double start = 0.0; ///< seconds: the time of its first frame
    double end = 0.0;   ///< start + length
};

/** Segments completed by a block: their places and the preset's outputs, batch axis = segment. */
struct SegmentBatch {
    std::vector<Segment> segments;
    std::map<std::string, Value> outputs;
    bool empty() const { return segments.empty(); }
};

class SegmentedStream {
public:
    /**
     * Plans the cut for inputs fed as `stream` describes (rate and channels of the graph input).
     * @throws Error located at the preset for a length or hop that is not positive, or a graph that has
     *         no node past the cut (every output streams: there is nothing to run per segment).
     */
    SegmentedStream(Executor& executor, const SegmentSpec& spec, const StreamSpec& stream);

    /** Starts a new input (the constructor starts the first). */
    void start();
    /** The next block of the graph input; returns the segments it completes (maybe none). */
    SegmentBatch push(const Value& block);
    /** The input's last block (may be empty): the segments that remain, those that fit in the input. */
    SegmentBatch finish(const Value& last);

    const Preset& preset() const { return executor_.graph().preset(); }
    /** The first output that gives probabilities [segment, class], or "" when none does. */
    std::string probabilitiesOutput() const;
    /** "probabilities (probabilities), logmel (spectrum)": the outputs and their kinds. */
    std::string outputList() const;
    /** "5 s". */
    std::string lengthText() const;
    double hop() const { return spec_.hop; }

    /** Segments an input of `seconds` holds: those with start + length <= its end. */
    int64_t segmentsIn(double seconds) const;
    /** "streams up to logmel (frames of 256 samples at 16000 Hz); runs cnn9, softmax per segment". */
    std::string describe() const;

private:
    struct Cut {
        std::string id; ///< vertex whose values the offline part reads
        std::vector<std::string> ports;
        double frame_rate = 0.0; ///< frames per second of the input
        int64_t frames = 0;      ///< frames in one segment's window (what the cut-out gives)
        std::map<std::string, torch::Tensor> buffer; ///< frames from `buffer_start` on, per port
        std::map<std::string, Value> like;           ///< metadata of each port's values
        int64_t buffer_start = 0;                    ///< index in the stream of the buffer's first frame
        int64_t received = 0;                        ///< frames that have arrived in all
        // A shared trunk (SegmentTrunk): the buffer then holds trunk frames, under the port "".
        SegmentTrunk* trunk = nullptr;
        Node* trunk_node = nullptr;     ///< the same node, whose precision the trunk and head run in
        std::string trunk_id;           ///< the node split into trunk and head
        int64_t stride = 1, margin = 0; ///< of the trunk, in input frames
        torch::Tensor input;            ///< the cut's frames the next trunk frames need
        int64_t input_start = 0;        ///< index in the stream of input's first frame
        int64_t input_received = 0;     ///< input frames that have arrived in all
        Value input_like;               ///< metadata of the cut's values
    };
    void pushTrunk(Cut& cut, const Value& frames, bool final);
    int64_t firstFrame(const Cut& cut, int64_t k) const;
    void take(const std::map<std::string, Ports>& values, bool final);
    SegmentBatch emit(bool final);
    SegmentBatch runWindows();

    Executor& executor_;
    SegmentSpec spec_;
    StreamSpec stream_;
    std::string input_; ///< the graph input's name
    std::vector<Cut> cuts_;
    std::vector<std::string> offline_ids_;                     ///< the nodes run per segment
    std::vector<std::string> wanted_;                          ///< the output nodes
    std::vector<std::pair<std::string, Value>> probe_outputs_; ///< the outputs for a segment of silence
    int64_t next_ = 0;                                         ///< next segment to emit
    int64_t input_samples_ = 0;                                ///< samples of the input so far
    std::vector<Segment> ready_;                               ///< segments whose windows wait in windows_
    std::map<std::string, std::map<std::string, std::vector<torch::Tensor>>> windows_; ///< cut, port
};

} // namespace avgraph
