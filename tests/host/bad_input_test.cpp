// Audio a user may well feed the runner: empty, tiny, broken, silent or unusual files. Each gives a
// result that can be checked in closed form, or a clear error naming the file, never a crash.
#include "io/npy.h"
#include "tests/test_support.h"

#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

using namespace avgraph;
using test::runAvgraph;
namespace fs = std::filesystem;
using avgraph::test::q;

namespace {

std::string featurePreset(const std::string& name) {
    return q(test::sourceDir() / "presets" / "features" / name);
}

void put(std::ofstream& out, uint32_t value, int bytes) {
    for (int i = 0; i < bytes; ++i)
        out.put(static_cast<char>((value >> (8 * i)) & 0xff));
}

/**
 * A canonical RIFF/WAVE file: `format` 1 (PCM) or 3 (IEEE float), `frames` x `channels` samples, each
 * `sample(frame, channel)` in [-1, 1] stored with `bits` bits (8 unsigned, 16/24/32 signed, 32 float).
 */
void writeWav(const fs::path& path, int format, int bits, int channels, int frames, int rate,
              const std::function<double(int, int)>& sample) {
    std::ofstream out(path, std::ios::binary);
    const int bytes = bits / 8;
    const uint32_t data = static_cast<uint32_t>(frames * channels * bytes);
    out << "RIFF";
    put(out, 36 + data, 4);
    out << "WAVEfmt ";
    put(out, 16, 4);
    put(out, static_cast<uint32_t>(format), 2);
    put(out, static_cast<uint32_t>(channels), 2);
    put(out, static_cast<uint32_t>(rate), 4);
    put(out, static_cast<uint32_t>(rate * channels * bytes), 4);
    put(out, static_cast<uint32_t>(channels * bytes), 2);
    put(out, static_cast<uint32_t>(bits), 2);
    out << "data";
    put(out, data, 4);
    for (int f = 0; f < frames; ++f) {
        for (int c = 0; c < channels; ++c) {
            const double x = sample(f, c);
            if (format == 3) {
                float v = static_cast<float>(x);
                uint32_t u;
                std::memcpy(&u, &v, 4);
                put(out, u, 4);
            } else if (bits == 8) {
                put(out, static_cast<uint32_t>(std::lround(128.0 + 127.0 * x)), 1);
            } else {
                const double full = std::ldexp(1.0, bits - 1) - 1.0;
                put(out, static_cast<uint32_t>(static_cast<int32_t>(std::lround(full * x))), bytes);
            }
        }
    }
}

/** 440 Hz at 16 kHz, amplitude 0.5, for one second. */
double tone(int frame, int) { return 0.5 * std::sin(2.0 * M_PI * 440.0 * frame / 16000.0); }

struct Run {
    test::CommandResult result;
    torch::Tensor output; ///< the preset's single output, when it ran
};

Run run(const std::string& preset_file, const std::string& output, const fs::path& input,
        const std::string& extra = "") {
    test::ScratchDir out;
    Run r;
    r.result = runAvgraph("run " + featurePreset(preset_file) + " --input " + q(input) + " --output " +
                          q(out.path()) + " " + extra);
    if (r.result.exit_code == 0)
        r.output = host::readNpy(out / (output + ".npy"));
    return r;
}

} // namespace

TEST_CASE("bad and unusual audio gives a sensible result or a clear error", "[host][cli][bad-input]") {
    test::ScratchDir dir;

    SECTION("an empty file is an error naming it") {
        writeWav(dir / "empty.wav", 1, 16, 1, 0, 16000, tone);
        auto r = run("logmel.json", "logmel", dir / "empty.wav");
        CHECK(r.result.exit_code == 1);
        CHECK_THAT(r.result.output, Catch::Contains("empty.wav") && Catch::Contains("no audio frames"));
    }
    SECTION("a one-sample file gives the one centred frame librosa gives") {
        // With zero padding the only frame holds the sample at the window's centre, where the periodic Hann
        // window is 1: every bin of the power spectrum is x^2.
        const double x = 1000.0 / 32767.0;
        writeWav(dir / "one.wav", 1, 16, 1, 1, 16000, [&](int, int) { return x; });
        auto r = run("stft.json", "stft", dir / "one.wav");
        INFO(r.result.output);
        REQUIRE(r.result.exit_code == 0);
        REQUIRE(r.output.sizes() == torch::IntArrayRef({513, 1}));
        const double expected = std::pow(std::round(x * 32767.0) / 32768.0, 2); // libsndfile scales by 2^15
        CHECK(r.output.min().item<double>() == Approx(expected).epsilon(1e-5));
        CHECK(r.output.max().item<double>() == Approx(expected).epsilon(1e-5));
    }
    SECTION("n_fft longer than the signal without centring is an error naming the input and n_fft") {
        writeWav(dir / "short.wav", 1, 16, 1, 100, 16000, tone);
        auto r = run("logmel.json", "logmel", dir / "short.wav", "--set logmel.center=false");
        CHECK(r.result.exit_code == 1);
        CHECK_THAT(r.result.output, Catch::Contains("n_fft = 1024 is larger than the signal (100 samples)") &&
                                        Catch::Contains("short.wav") && Catch::Contains("node 'logmel'"));
    }
    SECTION("NaN and infinite samples are refused, naming the first one") {
        writeWav(dir / "nan.wav", 3, 32, 1, 16000, 16000, [](int f, int c) {
            return f == 100 ? std::nan("") : f == 200 ? INFINITY : tone(f, c);
        });
        // Streamed, the run stops at the first one, with its time; offline, the whole file is counted.
        auto r = run("logmel.json", "logmel", dir / "nan.wav");
        CHECK(r.result.exit_code == 1);
        CHECK_THAT(r.result.output, Catch::Contains("nan.wav") && Catch::Contains("NaN at 0:00.006") &&
                                        Catch::Contains("frame 100"));
        r = run("logmel.json", "logmel", dir / "nan.wav", "--offline");
        CHECK(r.result.exit_code == 1);
        CHECK_THAT(r.result.output, Catch::Contains("nan.wav") &&
                                        Catch::Contains("2 sample(s) are not finite") &&
                                        Catch::Contains("frame 100") && Catch::Contains("NaN"));
    }
    SECTION("silence is the floor: 10 log10(amin) = -100 dB everywhere") {
        writeWav(dir / "silence.wav", 1, 16, 1, 16000, 16000, [](int, int) { return 0.0; });
        auto r = run("logmel.json", "logmel", dir / "silence.wav");
        INFO(r.result.output);
        REQUIRE(r.result.exit_code == 0);
        CHECK(r.output.min().item<double>() == Approx(-100.0));
        CHECK(r.output.max().item<double>() == Approx(-100.0));
    }
    SECTION("8-bit and 24-bit WAV decode to the same tone as 16-bit") {
        writeWav(dir / "s16.wav", 1, 16, 1, 16000, 16000, tone);
        writeWav(dir / "u8.wav", 1, 8, 1, 16000, 16000, tone);
        writeWav(dir / "s24.wav", 1, 24, 1, 16000, 16000, tone);
        auto ref = run("logmel.json", "logmel", dir / "s16.wav");
        auto u8 = run("logmel.json", "logmel", dir / "u8.wav");
        auto s24 = run("logmel.json", "logmel", dir / "s24.wav");
        REQUIRE(ref.result.exit_code == 0);
        REQUIRE(u8.result.exit_code == 0);
        REQUIRE(s24.result.exit_code == 0);
        // The band holding 440 Hz: 24 bits agree with 16 to far below 0.01 dB; 8 bits (48 dB of SNR) to
        // a fraction of a dB. 8-bit WAV is unsigned, offset by 128: a decoder that forgot would be 6 dB off.
        auto peak = [](const torch::Tensor& t) { return t.amax(0).median().item<double>(); };
        CHECK(peak(s24.output) == Approx(peak(ref.output)).margin(0.01));
        CHECK(peak(u8.output) == Approx(peak(ref.output)).margin(0.3));
    }
    SECTION("six channels are analysed one by one, each at its own level") {
        writeWav(dir / "six.wav", 1, 16, 6, 16000, 16000,
                 [](int f, int c) { return tone(f, c) * (c + 1) / 6.0; });
        auto r = run("logmel.json", "logmel", dir / "six.wav");
        INFO(r.result.output);
        REQUIRE(r.result.exit_code == 0);
        REQUIRE(r.output.sizes() == torch::IntArrayRef({6, 64, 32}));
        auto peaks = r.output.amax({1, 2});
        for (int c = 1; c < 6; ++c) // amplitude ratio (c + 1): 20 log10(c + 1) dB louder than channel 0
            CHECK(peaks[c].item<double>() - peaks[0].item<double>() ==
                  Approx(20.0 * std::log10(c + 1.0)).margin(0.05));
    }
    SECTION("fmax above Nyquist is an error that says so") {
        writeWav(dir / "tone.wav", 1, 16, 1, 16000, 16000, tone);
        auto r = run("logmel.json", "logmel", dir / "tone.wav", "--set logmel.fmax=9000");
        CHECK(r.result.exit_code == 1);
        CHECK_THAT(r.result.output, Catch::Contains("fmax = 9000 Hz is above the Nyquist frequency 8000 Hz"));
    }
    SECTION("a video's soundtrack is decoded by FFmpeg; a file that is not audio is an error naming it") {
        // A real video: libsndfile does not read MP4/AAC, so the loader falls back to FFmpeg.
        auto video = test::sharedDir() / "data/av/VID_20191220_170832.mp4";
        auto r = run("logmel.json", "logmel", video);
        INFO(r.result.output);
        CHECK(r.result.exit_code == 0);
        REQUIRE(r.output.dim() >= 2); // [n_mels, frames], or [channels, n_mels, frames] for stereo
        CHECK(r.output.size(-2) == 64);
        // about 1.6 s (data/README.md) at 48 kHz with hop 512, centred: 1 + 76800 / 512 = 151 frames
        CHECK(double(r.output.size(-1)) == Approx(151).margin(4));
        std::ofstream(dir / "notes.wav") << "not audio at all";
        auto r2 = run("logmel.json", "logmel", dir / "notes.wav");
        CHECK(r2.result.exit_code == 1);
        CHECK_THAT(r2.result.output, Catch::Contains("notes.wav") &&
                                         Catch::Contains("cannot open as audio") &&
                                         Catch::Contains("libsndfile:") && Catch::Contains("FFmpeg:"));
    }
}
