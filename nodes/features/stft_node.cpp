#include "nodes/features/features.h"
#include "nodes/features/spectral.h"
#include "nodes/features/spectral_params.h"

namespace avgraph::nodes {

namespace {

/** |STFT|^power of every channel of every clip. */
class StftNode : public Node {
public:
    explicit StftNode(const NodeContext& ctx)
        : Node(ctx), settings_(stftSettings(ctx.params)), stream_(settings_) {}

protected:
    void onPrepare(const PortInfos&, PortInfos& out) override { out["spectrum"].hop = settings_.hop_length; }
    Ports run(const Ports& in) override {
        const Value& audio = input(in, "audio");
        const auto& x = audioTensor(audio, "audio");
        return {
            {"spectrum", spectrumValue(audio, spectrogram(x, window(x), settings_), settings_.hop_length)}};
    }

    void onPrepareStream(const StreamSpec&) override { stream_.reset(); }
    Ports runBlock(const Ports& in) override { return block(in, false); }
    Ports runFinish(const Ports& in) override { return block(in, true); }
    Ports block(const Ports& in, bool end) {
        const Value& audio = input(in, "audio");
        const auto& x = audioTensor(audio, "audio");
        auto frames = stream_.push(x, window(x));
        if (end)
            frames = torch::cat({frames, stream_.finish(window(x))}, -1);
        return {{"spectrum", spectrumValue(audio, frames, settings_.hop_length)}};
    }
    void onResetStream() override { stream_.reset(); }
    int64_t latency() const override { return stream_.latency(); }

private:
    const torch::Tensor& window(const torch::Tensor& like) {
        return windows_.get(like.options(), 0.0, settings_.n_fft,
                            [&] { return stftWindow(settings_, torch::kFloat64); });
    }

    StftSettings settings_;
    StftStream stream_;
    ConstantCache windows_;
};

} // namespace

NodeSpec stftNodeSpec() {
    NodeSpec s;
    s.type = "features.stft";
    s.summary = "Power (or magnitude) spectrogram |STFT|^power with a periodic Hann window";
    s.doc =
        "Matches np.abs(librosa.stft(y, n_fft, hop_length, win_length, window='hann', center, "
        "pad_mode))**power of librosa 0.10 within the golden tolerance (1e-6 of the maximum + 1e-4 relative):"
        " an unnormalised FFT, the window zero-padded to n_fft and centred, frame t centred on sample "
        "t*hop_length when center is true, giving 1 + floor(samples / hop_length) frames (for even n_fft). "
        "pad_mode 'reflect' reflects like np.pad, also when the padding is longer than the signal, and "
        "mirrors the tail from the stretch its last frames cover, as librosa does. A signal shorter than "
        "n_fft gives the frames of its padded version when center is true (librosa only warns) and is an "
        "error when center is false. Each channel is analysed on its own, in the audio's dtype. Streams: "
        "frame t is produced once t*hop_length + latency samples have arrived, with a latency of n_fft - "
        "n_fft/2 samples (one more for 'reflect' with even n_fft; n_fft with center false); the last frames, "
        "which need the padding after the end, are not produced by a stream.";
    s.inputs = {PortSpec::of("audio", {Kind::Audio}, "[batch, channel, sample]")};
    s.outputs = {
        PortSpec::of("spectrum", {Kind::Spectrum}, "[batch, channel, 1 + n_fft/2, frame], hop = hop_length")};
    s.params = stftParamSpecs();
    s.streams = true;
    s.check = checkStftParams;
    s.make = [](const NodeContext& ctx) { return std::make_unique<StftNode>(ctx); };
    return s;
}

} // namespace avgraph::nodes
