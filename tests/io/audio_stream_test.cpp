// Streaming decode, checked against readAudio (itself checked against SoX and closed forms in
// audio_file_test.cpp): the blocks of a file, whatever their sizes, must be exactly its samples, and a
// file that breaks off must say where.
#include "io/audio_stream.h"

#include "io/audio_file.h"

#include "tests/host/host_test_support.h"

#include <catch2/catch.hpp>

#include <fstream>
#include <random>

using namespace avgraph;
namespace fs = std::filesystem;

namespace {

void shell(const std::string& command) {
    auto r = test::runShell(command);
    INFO(command << "\n" << r.output);
    REQUIRE(r.exit_code == 0);
}

/** What a stream delivered: its blocks concatenated, and the message it stopped with (if it did). */
struct Streamed {
    torch::Tensor samples;
    std::string error;
};

/**
 * Reads a stream to its end (or its error) in blocks of random sizes from [1, max_block], checking every
 * block's layout and that only the last block before the end is short.
 */
Streamed streamAll(host::AudioFileStream& stream, std::mt19937& rng, int64_t max_block) {
    std::uniform_int_distribution<int64_t> size(1, max_block);
    std::vector<torch::Tensor> blocks;
    Streamed out;
    bool short_block = false;
    while (true) {
        const int64_t ask = size(rng);
        torch::Tensor block;
        try {
            block = stream.read(ask);
        } catch (const std::runtime_error& e) {
            out.error = e.what();
            break;
        }
        REQUIRE(block.dim() == 2);
        REQUIRE(block.size(0) == stream.channels());
        REQUIRE(block.scalar_type() == torch::kFloat32);
        REQUIRE(block.is_contiguous());
        REQUIRE(block.size(1) <= ask);
        if (block.size(1) == 0)
            break;
        REQUIRE_FALSE(short_block); // a short block came before this one: only the last may be short
        short_block = block.size(1) < ask;
        blocks.push_back(block);
    }
    out.samples = blocks.empty() ? torch::empty({stream.channels(), 0}) : torch::cat(blocks, 1);
    CHECK(stream.position() == out.samples.size(1));
    return out;
}

/** The files a stream must decode exactly as readAudio does, made or found once per test case. */
std::vector<fs::path> referenceFiles(const test::ScratchDir& dir) {
    std::vector<fs::path> files = {test::esc10Clip()};
    for (const auto& entry : fs::directory_iterator(test::sourceDir() / "examples/audio"))
        if (entry.path().extension() == ".ogg")
            files.push_back(entry.path());
    // libsndfile's integer, float and multichannel paths, and FLAC.
    const std::string source = "-n -r 22050 -c 2 ";
    const std::string signal = " synth 3 sine 440 pinknoise gain -3";
    test::sox(source + "-b 16 " + test::shellQuote((dir / "pcm16 mono.wav").string()) + signal + " remix 1");
    test::sox(source + "-b 24 " + test::shellQuote((dir / "pcm24 stereo.wav").string()) + signal);
    test::sox(source + "-e floating-point -b 32 " + test::shellQuote((dir / "float stereo.wav").string()) +
              signal);
    test::sox(source + "-b 16 " + test::shellQuote((dir / "stereo.flac").string()) + signal);
    // FFmpeg's path: the videos' soundtracks (Vorbis in WebM, AAC in MP4, MP2 in MOV), and two audio
    // formats libsndfile does not read (WavPack, AMR-NB), made by SoX.
    for (const char* video : {"oa4_launch.webm", "VID_20191220_170832.mp4", "diver.mov"})
        files.push_back(test::sharedDir() / "data/av" / video);
    test::sox("-n -r 16000 -c 2 -b 16 " + test::shellQuote((dir / "stereo.wv").string()) + signal);
    test::sox("-n -r 8000 -c 1 " + test::shellQuote((dir / "speech.amr-nb").string()) +
              " synth 3 sine 300 pinknoise");
    for (const char* made : {"pcm16 mono.wav", "pcm24 stereo.wav", "float stereo.wav", "stereo.flac",
                             "stereo.wv", "speech.amr-nb"})
        files.push_back(dir / made);
    return files;
}

/** Resident memory of this process in bytes (Linux). */
int64_t residentBytes() {
    std::ifstream status("/proc/self/status");
    std::string line;
    while (std::getline(status, line))
        if (line.rfind("VmRSS:", 0) == 0)
            return std::stoll(line.substr(6)) * 1024;
    return -1;
}

} // namespace

TEST_CASE("clockTime: times as people read them", "[host][audio_stream]") {
    CHECK(host::clockTime(0) == "0:00.000");
    CHECK(host::clockTime(12.48) == "0:12.480");
    CHECK(host::clockTime(62.0005) == "1:02.001"); // halves round away from zero
    CHECK(host::clockTime(599.25) == "9:59.250");
    CHECK(host::clockTime(3723.25) == "1:02:03.250");
    CHECK(host::clockTime(36000) == "10:00:00.000");
    // Rounded once, so a carry never shows as 60 seconds or 60 minutes.
    CHECK(host::clockTime(59.9996) == "1:00.000");
    CHECK(host::clockTime(3599.9996) == "1:00:00.000");
    CHECK(host::clockTime(-1.5) == "-0:01.500");
    CHECK(host::clockTime(std::numeric_limits<double>::infinity()) == "inf");
    CHECK(host::clockTime(std::nan("")) == "nan");
}

TEST_CASE("AudioFileStream: blocks of any size concatenate to readAudio's samples", "[host][audio_stream]") {
    test::ScratchDir dir;
    std::mt19937 rng(2024);
    for (const fs::path& file : referenceFiles(dir)) {
        INFO(file);
        const host::DecodedAudio whole = host::readAudio(file);
        // Single frames, odd small blocks, blocks around a codec's frame size, and more than the file.
        for (int64_t max_block : {int64_t(1), int64_t(7), int64_t(5000), int64_t(1) << 20}) {
            INFO("blocks of 1 to " << max_block << " frames");
            if (max_block == 1 && whole.samples.size(1) > 50000)
                continue; // frame by frame through a whole clip only where it is short enough to be quick
            host::AudioFileStream stream(file);
            CHECK(stream.path() == file);
            CHECK(stream.sampleRate() == whole.sample_rate);
            CHECK(stream.channels() == whole.samples.size(0));
            CHECK(stream.format() == whole.format);
            if (whole.format.rfind("FFMPEG/", 0) == 0)
                CHECK_FALSE(stream.frames().has_value());
            else
                CHECK(stream.frames() == std::optional<int64_t>(whole.samples.size(1)));
            Streamed got = streamAll(stream, rng, max_block);
            CHECK(got.error.empty());
            REQUIRE(got.samples.sizes() == whole.samples.sizes());
            CHECK(got.samples.equal(whole.samples));
            // The end stays the end.
            CHECK(stream.read(100).size(1) == 0);
            CHECK(stream.read(1).size(1) == 0);
        }
    }
}

TEST_CASE("AudioFileStream: a cut-off WAV delivers what is there, then says where it stopped",
          "[host][audio_stream]") {
    test::ScratchDir dir;
    std::mt19937 rng(7);
    SECTION("16-bit mono cut on a frame boundary") {
        // 30 s at 16 kHz: 480000 frames in 960000 bytes after sox's 44-byte header.
        fs::path full = dir / "thirty seconds.wav";
        test::sox("-n -r 16000 -c 1 -b 16 " + test::shellQuote(full.string()) + " synth 30 sine 440");
        REQUIRE(fs::file_size(full) == 44 + 960000);
        fs::path cut = dir / "cut off.wav";
        shell("head -c " + std::to_string(44 + 400000) + " " + test::shellQuote(full.string()) + " > " +
              test::shellQuote(cut.string()));

        host::AudioFileStream stream(cut);
        CHECK(stream.frames() == std::optional<int64_t>(480000));
        Streamed got = streamAll(stream, rng, 4096);
        CHECK(got.samples.equal(host::readAudio(full).samples.slice(1, 0, 200000)));
        CHECK_THAT(got.error,
                   Catch::StartsWith(cut.string() + ": decoding stopped at 0:12.500 (sample 200000 of "
                                                    "480000 the header announces)") &&
                       Catch::EndsWith("the file is truncated or damaged"));
        // Every later read repeats the error rather than pretending the file ended.
        CHECK_THROWS_WITH(stream.read(10), got.error);
    }
    SECTION("24-bit stereo cut inside a frame") {
        fs::path full = dir / "stereo24.wav";
        test::sox("-n -r 48000 -c 2 -b 24 " + test::shellQuote(full.string()) +
                  " synth 10 sine 440 sine 1000");
        const std::string bytes = test::readBytes(full);
        const size_t data = bytes.find("data") + 8; // sox writes WAVE_FORMAT_EXTENSIBLE: a longer header
        fs::path cut = dir / "stereo24 cut.wav";
        std::ofstream(cut, std::ios::binary) << bytes.substr(0, data + 6 * 123457 + 4);

        host::AudioFileStream stream(cut);
        CHECK(stream.frames() == std::optional<int64_t>(480000));
        Streamed got = streamAll(stream, rng, 30000);
        CHECK(got.samples.equal(host::readAudio(full).samples.slice(1, 0, 123457)));
        CHECK_THAT(got.error,
                   Catch::StartsWith(cut.string() + ": decoding stopped at 0:02.572 (sample 123457 of "
                                                    "480000 the header announces)"));
    }
    SECTION("FLAC, whose STREAMINFO announces the length") {
        fs::path full = dir / "ten seconds.flac";
        test::sox("-n -r 16000 -c 1 -b 16 " + test::shellQuote(full.string()) + " synth 10 sine 440");
        fs::path cut = dir / "cut off.flac";
        shell("head -c " + std::to_string(fs::file_size(full) / 2) + " " + test::shellQuote(full.string()) +
              " > " + test::shellQuote(cut.string()));
        host::AudioFileStream stream(cut);
        Streamed got = streamAll(stream, rng, 10000);
        const int64_t delivered = got.samples.size(1);
        CHECK(delivered > 0);
        CHECK(got.samples.equal(host::readAudio(full).samples.slice(1, 0, delivered)));
        CHECK_THAT(got.error,
                   Catch::StartsWith(cut.string() + ": decoding stopped at " +
                                     host::clockTime(double(delivered) / 16000) + " (sample " +
                                     std::to_string(delivered) + " of 160000 the header announces") &&
                       Catch::Contains("; libsndfile: ")); // its own reason ("flac decoder lost sync")
    }
    SECTION("a header with no data after it") {
        fs::path full = dir / "full.wav";
        test::sox("-n -r 16000 -c 1 -b 16 " + test::shellQuote(full.string()) + " synth 1 sine 440");
        fs::path cut = dir / "header only.wav";
        shell("head -c 44 " + test::shellQuote(full.string()) + " > " + test::shellQuote(cut.string()));
        CHECK_THROWS_WITH(host::AudioFileStream(cut),
                          Catch::StartsWith(cut.string() + ": contains no audio frames of the 16000 its "
                                                           "header announces"));
    }
}

TEST_CASE("AudioFileStream: a cut-off or damaged Ogg Vorbis says where it stopped", "[host][audio_stream]") {
    test::ScratchDir dir;
    std::mt19937 rng(11);
    const fs::path original = test::sourceDir() / "examples/audio/rain-5-188655-A.ogg";
    const std::string bytes = test::readBytes(original);
    const torch::Tensor reference = host::readAudio(original).samples; // [1, 220544]
    REQUIRE(reference.size(1) == 220544);

    SECTION("cut in half") {
        // libsndfile finds no last page, so it cannot tell the length, and decodes up to the cut without
        // an error: only its log says "File ended unexpectedly without an End-Of-Stream flag set".
        fs::path cut = dir / "rain cut.ogg";
        std::ofstream(cut, std::ios::binary) << bytes.substr(0, bytes.size() / 2);
        host::AudioFileStream stream(cut);
        CHECK_FALSE(stream.frames().has_value());
        Streamed got = streamAll(stream, rng, 3000);
        const int64_t delivered = got.samples.size(1);
        CHECK(delivered > 44100);
        CHECK(delivered < 220544 * 2 / 3);
        CHECK(got.samples.equal(reference.slice(1, 0, delivered))); // what was there decodes unchanged
        CHECK_THAT(got.error, Catch::StartsWith(cut.string() + ": decoding stopped at " +
                                                host::clockTime(double(delivered) / 44100) + " (sample " +
                                                std::to_string(delivered) + "; libsndfile: ") &&
                                  Catch::Contains("ended unexpectedly") &&
                                  Catch::EndsWith("the file is truncated or damaged"));
    }
    SECTION("garbage over a third of the way in") {
        // The last page is intact, so the header's length is known; libsndfile skips the damaged pages and
        // runs out of samples before it.
        std::string damaged = bytes;
        damaged.replace(bytes.size() / 3, 3000, 3000, '\xff');
        fs::path file = dir / "rain damaged.ogg";
        std::ofstream(file, std::ios::binary) << damaged;
        host::AudioFileStream stream(file);
        CHECK(stream.frames() == std::optional<int64_t>(220544));
        Streamed got = streamAll(stream, rng, 3000);
        const int64_t delivered = got.samples.size(1);
        CHECK(delivered < 220544);
        CHECK(got.samples.slice(1, 0, 22050).equal(reference.slice(1, 0, 22050))); // before the damage
        CHECK_THAT(got.error,
                   Catch::StartsWith(file.string() + ": decoding stopped at " +
                                     host::clockTime(double(delivered) / 44100) + " (sample " +
                                     std::to_string(delivered) + " of 220544 the header announces"));
        // readAudio rejects it too, for the same reason.
        CHECK_THROWS_WITH(host::readAudio(file),
                          Catch::Contains("of the 220544 frames its header announces"));
    }
}

TEST_CASE("AudioFileStream: an FFmpeg decoding error says where it stopped", "[host][audio_stream]") {
    // diver.mov's sound is MP2, 44.1 kHz stereo, interleaved with MJPEG video; zeros a third of the way in
    // break an MP2 packet, which the decoder refuses ("Invalid data found when processing input").
    test::ScratchDir dir;
    const fs::path original = test::sharedDir() / "data/av/diver.mov";
    std::string bytes = test::readBytes(original);
    bytes.replace(bytes.size() / 3, 20000, 20000, '\0');
    const fs::path file = dir / "diver damaged.mov";
    std::ofstream(file, std::ios::binary) << bytes;

    host::AudioFileStream stream(file);
    CHECK(stream.format() == "FFMPEG/mov,mp4,m4a,3gp,3g2,mj2/mp2");
    std::mt19937 rng(3);
    Streamed got = streamAll(stream, rng, 20000);
    const int64_t delivered = got.samples.size(1);
    CHECK(delivered > 44100);
    // What came before the damaged packets decodes unchanged (the last MP2 frame of 1152 samples
    // delivered already holds some of the zeros).
    const int64_t intact = delivered - 4 * 1152;
    CHECK(got.samples.slice(1, 0, intact).equal(host::readAudio(original).samples.slice(1, 0, intact)));
    CHECK_THAT(got.error, Catch::StartsWith(file.string() + ": decoding stopped at " +
                                            host::clockTime(double(delivered) / 44100) + " (sample " +
                                            std::to_string(delivered) + "; FFmpeg: ") &&
                              Catch::EndsWith("the file is truncated or damaged"));
    CHECK_THROWS_WITH(stream.read(1), got.error);
}

TEST_CASE("AudioFileStream: files it cannot open fail as readAudio fails", "[host][audio_stream]") {
    test::ScratchDir dir;
    auto sameError = [](const fs::path& file, const std::string& what) {
        std::string read_audio, streamed;
        try {
            host::readAudio(file);
        } catch (const std::runtime_error& e) {
            read_audio = e.what();
        }
        try {
            host::AudioFileStream stream(file);
        } catch (const std::runtime_error& e) {
            streamed = e.what();
        }
        INFO(file);
        CHECK_THAT(streamed, Catch::StartsWith(file.string() + ": ") && Catch::Contains(what));
        CHECK(streamed == read_audio);
    };
    for (const auto& bad : test::notAudioFiles(dir, ".mp4"))
        sameError(bad.file, bad.error);
    // A picture is a file FFmpeg opens, with no audio stream in it.
    fs::path photo;
    for (const auto& entry : fs::directory_iterator(test::sharedDir() / "data/photos"))
        photo = entry.path();
    sameError(photo, "has no audio stream");

    host::AudioFileStream stream(test::esc10Clip());
    CHECK_THROWS_AS(stream.read(0), std::invalid_argument);
    CHECK_THROWS_AS(stream.read(-5), std::invalid_argument);
}

TEST_CASE("AudioFileStream: memory does not grow with the length of the file", "[host][audio_stream]") {
    test::ScratchDir dir;
    // 10 minutes of WavPack, which only FFmpeg decodes here: 9.6 M samples, 38 MB as float32.
    fs::path file = dir / "ten minutes.wv";
    test::sox("-n -r 16000 -c 1 -b 16 " + test::shellQuote(file.string()) + " synth 600 sine 440");
    host::AudioFileStream stream(file);
    REQUIRE(stream.format() == "FFMPEG/wv/wavpack");
    const int64_t before = residentBytes();
    int64_t most = before, total = 0;
    while (true) {
        torch::Tensor block = stream.read(65536);
        if (block.size(1) == 0)
            break;
        total += block.size(1);
        if (total % (65536 * 16) == 0)
            most = std::max(most, residentBytes());
    }
    most = std::max(most, residentBytes());
    CHECK(total == 600 * 16000);
    INFO("resident memory grew by " << (most - before) / 1024 << " KiB while streaming");
    CHECK(most - before < int64_t(16) << 20);
}
