// FFmpeg decoding of the real photos and videos in shared/data, checked against facts known without
// FFmpeg: the JPEG headers' sizes (`file`), the videos' documented sizes and lengths, libsndfile's decode
// of the same audio, and libjpeg's (djpeg) decode of the same photos.
#include "io/audio_file.h"
#include "io/media/media_file.h"
#include "tests/test_support.h"

#include <catch2/catch.hpp>
#include <torch/torch.h>

#include <chrono>
#include <fstream>
#include <map>

namespace host = avgraph::host;
namespace test = avgraph::test;
namespace fs = std::filesystem;

namespace {

fs::path photo(const std::string& name) { return test::sharedDir() / "data/photos" / name; }
fs::path video(const std::string& name) { return test::sharedDir() / "data/av" / name; }

/** Reads a binary PPM (P6, maxval 255) as [3, H, W] uint8. */
torch::Tensor readPpm(const fs::path& file) {
    std::ifstream in(file, std::ios::binary);
    std::string magic;
    int w = 0, h = 0, maxval = 0;
    in >> magic >> w >> h >> maxval;
    in.get(); // the single whitespace before the pixels
    REQUIRE(magic == "P6");
    REQUIRE(maxval == 255);
    torch::Tensor hwc = torch::empty({h, w, 3}, torch::kUInt8);
    in.read(reinterpret_cast<char*>(hwc.data_ptr<uint8_t>()), std::streamsize(h) * w * 3);
    REQUIRE(in.gcount() == std::streamsize(h) * w * 3);
    return hwc.permute({2, 0, 1}).contiguous();
}

struct KnownVideo {
    const char* name;
    int64_t width, height; ///< stored frame size (data/README.md)
    double seconds;        ///< documented length
    double tolerance;      ///< of the documented length, which is rounded
    double sample_rate;    ///< of the soundtrack
};

const KnownVideo kVideos[] = {
    {"oa4_launch.webm", 640, 360, 8.0, 0.5, 48000},
    {"diver.mov", 640, 480, 14.0, 0.5, 44100},
    // The README's 1.6 s is the container's (the soundtrack's); the H.264 stream itself ends at 1.52 s.
    {"VID_20191220_170832.mp4", 1920, 1080, 1.6, 0.1, 48000},
};

int64_t expectedFrames(double duration, double fps) {
    int64_t n = 0;
    while ((double(n) + 0.5) / fps < duration)
        ++n;
    return n;
}

} // namespace

TEST_CASE("readImage: the real photos at the sizes their JPEG headers give", "[host][media]") {
    // Width x height from `file` (the JPEG SOF header), not from FFmpeg.
    const std::map<std::string, std::pair<int64_t, int64_t>> sizes = {
        {"darknet__dog.jpg", {512, 384}},
        {"darknet__eagle.jpg", {512, 339}},
        {"darknet__horses.jpg", {512, 339}},
        {"darknet__kite.jpg", {512, 341}},
        {"darknet__person.jpg", {512, 339}},
        {"lomiri-wallpapers-16.04__Bridge_by_Sander_Klootwijk.jpg", {512, 288}},
        {"lomiri-wallpapers-16.04__aitzgorri_by_Aitzol_Berasategi.jpg", {512, 341}},
        {"lomiri-wallpapers-16.04__friends_by_Aitzol_Berasategi.jpg", {341, 512}},
        {"lomiri-wallpapers-16.04__greentock_by_Peter_Nerlich.jpg", {512, 384}},
        {"lomiri-wallpapers-16.04__picosdeeuropa_by_Aitzol_Berasategi.jpg", {512, 384}},
        {"lomiri-wallpapers-16.04__sunset_by_Aitzol_Berasategi.jpg", {512, 341}},
        {"plasma-workspace-wallpapers__Autumn.jpg", {512, 320}},
        {"plasma-workspace-wallpapers__BytheWater.jpg", {512, 320}},
        {"plasma-workspace-wallpapers__Kite.jpg", {512, 320}},
        {"plasma-workspace-wallpapers__Path.jpg", {512, 320}},
        {"python3-sklearn__china.jpg", {512, 342}},
    };
    for (const auto& [name, size] : sizes) {
        INFO(name);
        torch::Tensor image = host::readImage(photo(name));
        CHECK(image.scalar_type() == torch::kUInt8);
        REQUIRE(image.sizes() == torch::IntArrayRef({3, size.second, size.first}));
        CHECK(image.to(torch::kFloat).std().item<double>() > 10); // a picture, not a flat fill
    }
}

TEST_CASE("readImage: agrees with libjpeg's own decoder (djpeg)", "[host][media]") {
    test::ScratchDir dir;
    for (const char* name :
         {"darknet__dog.jpg", "python3-sklearn__china.jpg", "plasma-workspace-wallpapers__Kite.jpg"}) {
        INFO(name);
        fs::path ppm = dir / "reference.ppm";
        auto r = test::runShell("djpeg -ppm -outfile " + test::shellQuote(ppm.string()) + " " +
                                test::shellQuote(photo(name).string()));
        REQUIRE(r.exit_code == 0);
        torch::Tensor ours = host::readImage(photo(name)).to(torch::kFloat);
        torch::Tensor theirs = readPpm(ppm).to(torch::kFloat);
        REQUIRE(ours.sizes() == theirs.sizes());
        // The two decoders upsample the half-resolution chroma differently (libjpeg's "fancy" triangle
        // filter, libswscale's bicubic) and round the IDCT differently, so pixels at colour edges differ by
        // a few levels; a swapped channel order or a wrong YCbCr range would move the means by tens.
        auto diff = (ours - theirs).abs();
        CHECK(diff.mean().item<double>() < 1.0);
        for (int c = 0; c < 3; ++c)
            CHECK(ours[c].mean().item<double>() == Approx(theirs[c].mean().item<double>()).margin(0.25));
    }
}

TEST_CASE("writePng then readImage gives the same pixels", "[host][media]") {
    test::ScratchDir dir;
    SECTION("uint8 noise, odd sizes") {
        torch::manual_seed(7);
        torch::Tensor rgb = torch::randint(0, 256, {3, 37, 53}, torch::kUInt8);
        host::writePng(dir / "noise.png", rgb);
        CHECK(torch::equal(host::readImage(dir / "noise.png"), rgb));
    }
    SECTION("a real photo") {
        torch::Tensor rgb = host::readImage(photo("darknet__horses.jpg"));
        host::writePng(dir / "horses.png", rgb);
        CHECK(torch::equal(host::readImage(dir / "horses.png"), rgb));
    }
    SECTION("float values are clamped to [0, 255] and rounded") {
        torch::Tensor f = torch::tensor({-3.0f, 0.4f, 0.6f, 127.5f, 254.4f, 254.6f, 300.0f, 12.0f, 99.49f})
                              .reshape({3, 1, 3});
        host::writePng(dir / "float.png", f);
        torch::Tensor expected =
            torch::tensor({0, 0, 1, 128, 254, 255, 255, 12, 99}, torch::kUInt8).reshape({3, 1, 3});
        CHECK(torch::equal(host::readImage(dir / "float.png"), expected));
    }
    SECTION("the file is replaced whole, and no temporary file stays behind") {
        host::writePng(dir / "a.png", torch::zeros({3, 4, 4}, torch::kUInt8));
        host::writePng(dir / "a.png", torch::full({3, 2, 5}, 200, torch::kUInt8));
        CHECK(host::readImage(dir / "a.png").sizes() == torch::IntArrayRef({3, 2, 5}));
        size_t files = 0;
        for (const auto& entry : fs::directory_iterator(dir.path()))
            files += entry.path().filename() == "a.png" ? 1 : 100;
        CHECK(files == 1);
    }
    SECTION("a tensor that is not [3, H, W] is refused") {
        CHECK_THROWS_WITH(host::writePng(dir / "bad.png", torch::zeros({4, 4})),
                          Catch::Contains("bad.png") && Catch::Contains("[3, H, W]"));
        CHECK_FALSE(fs::exists(dir / "bad.png"));
    }
}

TEST_CASE("readImage and readMediaAudio: errors name the file and FFmpeg's reason", "[host][media]") {
    test::ScratchDir dir;
    fs::path text = dir / "notes.jpg";
    std::ofstream(text) << "not a picture";
    CHECK_THROWS_WITH(host::readImage(text), Catch::StartsWith(text.string()) && Catch::Contains("FFmpeg:"));
    CHECK_THROWS_WITH(host::readImage(dir / "missing.png"),
                      Catch::StartsWith((dir / "missing.png").string()) && Catch::Contains("no such file"));
    CHECK_THROWS_WITH(host::readMediaAudio(photo("darknet__dog.jpg")),
                      Catch::Contains("darknet__dog.jpg") && Catch::Contains("no audio stream"));
    CHECK_THROWS_WITH(host::readVideoFrames(video("diver.mov"), 0), Catch::Contains("fps"));
    CHECK_THROWS_WITH(host::readVideoFrames(video("diver.mov"), 1, 64, 0),
                      Catch::Contains("width and height"));
}

TEST_CASE("readVideoFrames: the three real videos at 1 and 4 frames a second", "[host][media]") {
    for (const auto& v : kVideos) {
        INFO(v.name);
        // The length independently: the soundtrack's samples over its rate.
        host::MediaAudio audio = host::readMediaAudio(video(v.name));
        const double audio_seconds = double(audio.samples.size(1)) / audio.sample_rate;
        for (double fps : {1.0, 4.0}) {
            INFO("fps " << fps);
            host::VideoFrames native = host::readVideoFrames(video(v.name), fps);
            CHECK(native.duration == Approx(v.seconds).margin(v.tolerance));
            CHECK(native.duration == Approx(audio_seconds).margin(0.1));
            const int64_t n = expectedFrames(native.duration, fps);
            CHECK(n == expectedFrames(v.seconds, fps)); // the documented length gives the same count
            REQUIRE(native.frames.sizes() == torch::IntArrayRef({n, 3, v.height, v.width}));
            REQUIRE(native.times.size() == size_t(n));
            for (int64_t k = 0; k < n; ++k) {
                CHECK(native.times[size_t(k)] == Approx((double(k) + 0.5) / fps).margin(1e-12));
                CHECK(native.times[size_t(k)] < native.duration);
            }
            auto f = native.frames.to(torch::kFloat);
            CHECK(f.std().item<double>() > 10);
            if (n > 1) // the scenes move: first and last frames differ
                CHECK((f[0] - f[n - 1]).abs().mean().item<double>() > 2);

            host::VideoFrames small = host::readVideoFrames(video(v.name), fps, 96, 64);
            REQUIRE(small.frames.sizes() == torch::IntArrayRef({n, 3, 64, 96}));
            CHECK(small.frames.scalar_type() == torch::kUInt8);
            // The resize is a faithful downscale: the average colour of each frame is kept.
            auto means_native = f.mean({2, 3});
            auto means_small = small.frames.to(torch::kFloat).mean({2, 3});
            CHECK((means_native - means_small).abs().max().item<double>() < 2.0);
        }
    }
}

TEST_CASE("readVideoFrames: resizing by two equals a 2x2 average of the native frame", "[host][media]") {
    host::VideoFrames native = host::readVideoFrames(video("oa4_launch.webm"), 1);
    host::VideoFrames half = host::readVideoFrames(video("oa4_launch.webm"), 1, 320, 180);
    auto pooled = torch::avg_pool2d(native.frames.to(torch::kFloat), 2);
    auto diff = (pooled - half.frames.to(torch::kFloat)).abs();
    // Bicubic is sharper than a box average, so edges differ by some levels; a shifted, mirrored or
    // channel-swapped image would differ by tens on average.
    CHECK(diff.mean().item<double>() < 3.0);
}

TEST_CASE("readMediaAudio: the real videos' soundtracks", "[host][media]") {
    for (const auto& v : kVideos) {
        INFO(v.name);
        host::MediaAudio a = host::readMediaAudio(video(v.name));
        CHECK(a.sample_rate == v.sample_rate);
        CHECK(a.samples.scalar_type() == torch::kFloat32);
        CHECK(a.samples.is_contiguous());
        REQUIRE(a.samples.dim() == 2);
        CHECK(a.samples.size(0) >= 1);
        CHECK(a.samples.size(0) <= 2);
        CHECK(a.samples.pow(2).mean().sqrt().item<double>() > 1e-3); // sound, not silence
        CHECK(a.samples.abs().max().item<double>() <= 1.5);          // decoded float, not raw integers
        host::MediaAudio again = host::readMediaAudio(video(v.name));
        CHECK(torch::equal(a.samples, again.samples));
    }
    CHECK(host::readMediaAudio(video("oa4_launch.webm")).samples.size(0) == 2); // Vorbis stereo (README)
}

TEST_CASE("readMediaAudio: equals libsndfile on an ESC-10 Vorbis clip and a TAU WAV", "[host][media]") {
    SECTION("Ogg Vorbis: FFmpeg's own Vorbis decoder against libsndfile's libvorbis") {
        host::MediaAudio ff = host::readMediaAudio(test::esc10Clip());
        host::DecodedAudio sf = host::readAudio(test::esc10Clip());
        CHECK(ff.sample_rate == sf.sample_rate);
        REQUIRE(ff.samples.sizes() == sf.samples.sizes());
        CHECK((ff.samples - sf.samples).abs().max().item<double>() < 1e-4);
    }
    SECTION("PCM WAVs (16-bit stereo, 24-bit mono, float): the same values, bit for bit") {
        const fs::path formats = test::sharedDir() / "data/formats";
        for (const char* wav :
             {"tau2019uas/TAU-urban-acoustic-scenes-2019-development/audio/airport-barcelona-0-0-a.wav",
              "tau2022uas_mobile/TAU-urban-acoustic-scenes-2022-mobile-development/audio/"
              "airport-lisbon-1000-40000-0-a.wav",
              "tau2020uas_mobile/TAU-urban-acoustic-scenes-2020-mobile-development/audio/"
              "airport-barcelona-0-0-a.wav"}) {
            INFO(wav);
            host::MediaAudio ff = host::readMediaAudio(formats / wav);
            host::DecodedAudio sf = host::readAudio(formats / wav);
            CHECK(ff.sample_rate == sf.sample_rate);
            REQUIRE(ff.samples.sizes() == sf.samples.sizes());
            CHECK(torch::equal(ff.samples, sf.samples));
        }
    }
}

TEST_CASE("readAudio falls back to FFmpeg for a video's soundtrack", "[host][media][audio]") {
    host::DecodedAudio a = host::readAudio(video("VID_20191220_170832.mp4"));
    host::MediaAudio m = host::readMediaAudio(video("VID_20191220_170832.mp4"));
    CHECK(a.sample_rate == 48000);
    CHECK(a.format.rfind("FFMPEG/", 0) == 0);
    CHECK(a.format.find("aac") != std::string::npos);
    CHECK(torch::equal(a.samples, m.samples));
}

TEST_CASE("readVideoFrames: decode speed of the 1080p H.264 clip", "[host][media][.speed]") {
    // Every frame of the 30 frames/s clip decoded and resized to 224 x 224: what a dataset loader pays.
    auto t0 = std::chrono::steady_clock::now();
    host::VideoFrames v = host::readVideoFrames(video("VID_20191220_170832.mp4"), 30, 224, 224);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    WARN(v.frames.size(0) << " frames of 1080p H.264 decoded and resized in " << s
                          << " s: " << double(v.frames.size(0)) / s << " frames/s");
}

TEST_CASE("avgraph run: an image input, and an image output written as PNG", "[host][media][cli]") {
    // No image node exists in this layer: tensor.concat of one input passes the image through unchanged
    // (it takes any kind and keeps it), which is enough to exercise reading and writing.
    test::ScratchDir dir;
    std::ofstream(dir / "same.json") << R"({
  "avgraph": 1,
  "name": "same-image",
  "inputs": { "image": { "kind": "image" } },
  "nodes": { "same": { "type": "tensor.concat", "params": { "axis": "channel" } } },
  "edges": [["image", "same.in0"]],
  "outputs": { "picture": "same" }
})";
    fs::path input = photo("darknet__kite.jpg");
    auto r = test::runAvgraph("run " + test::shellQuote((dir / "same.json").string()) + " -i " +
                              test::shellQuote(input.string()) + " -o " +
                              test::shellQuote((dir / "out").string()));
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    CHECK_THAT(r.output, Catch::Contains("picture.png"));
    REQUIRE(fs::exists(dir / "out/picture.png"));
    REQUIRE(fs::exists(dir / "out/picture.npy"));
    CHECK(torch::equal(host::readImage(dir / "out/picture.png"), host::readImage(input)));

    SECTION("a folder of images, one PNG each; an audio file is refused") {
        fs::create_directories(dir / "in/sub");
        fs::copy_file(input, dir / "in/kite.jpg");
        host::writePng(dir / "in/sub/noise.png", torch::randint(0, 256, {3, 9, 7}, torch::kUInt8));
        auto many = test::runAvgraph("run " + test::shellQuote((dir / "same.json").string()) + " -i " +
                                     test::shellQuote((dir / "in").string()) + " -o " +
                                     test::shellQuote((dir / "many").string()));
        INFO(many.output);
        REQUIRE(many.exit_code == 0);
        CHECK(torch::equal(host::readImage(dir / "many/kite/picture.png"), host::readImage(input)));
        CHECK(torch::equal(host::readImage(dir / "many/sub/noise/picture.png"),
                           host::readImage(dir / "in/sub/noise.png")));
        auto audio = test::runAvgraph("run " + test::shellQuote((dir / "same.json").string()) + " -i " +
                                      test::shellQuote(test::esc10Clip().string()) + " -o " +
                                      test::shellQuote((dir / "bad").string()));
        CHECK(audio.exit_code == 1);
        CHECK_THAT(audio.output, Catch::Contains("1-100032-A.ogg"));
    }
}
