// Audio-visual datasets built in scratch folders from the real videos in shared/data/av: a video folder
// (class folders of symbolic links) and a TAU Urban Audio-Visual Scenes 2021 layout whose WAVs are the
// videos' decoded soundtracks written with libsndfile.
#include "graph/error.h"
#include "io/audio_file.h"
#include "io/audio_input.h"
#include "host/datasets/clip_inputs.h"
#include "host/datasets/av_dataset.h"
#include "io/media/media_file.h"
#include "tests/test_support.h"

#include <catch2/catch.hpp>
#include <sndfile.h>
#include <torch/torch.h>

#include <fstream>

namespace host = avgraph::host;
namespace test = avgraph::test;
namespace fs = std::filesystem;

namespace {

fs::path video(const std::string& name) { return test::sharedDir() / "data/av" / name; }

void link(const fs::path& target, const fs::path& at) {
    fs::create_directories(at.parent_path());
    fs::create_symlink(target, at);
}

/** Writes [channels, frames] float as a 32-bit float WAV with libsndfile. */
void writeWav(const fs::path& file, const torch::Tensor& samples, int rate) {
    SF_INFO info{};
    info.channels = int(samples.size(0));
    info.samplerate = rate;
    info.format = SF_FORMAT_WAV | SF_FORMAT_FLOAT;
    SNDFILE* sf = sf_open(file.c_str(), SFM_WRITE, &info);
    REQUIRE(sf != nullptr);
    torch::Tensor interleaved = samples.t().contiguous();
    REQUIRE(sf_writef_float(sf, interleaved.data_ptr<float>(), samples.size(1)) == samples.size(1));
    sf_close(sf);
}

/** A TAU AV 2021 development folder with three real clips: two train, one evaluate. */
struct TauAvFolder {
    test::ScratchDir dir;
    // name (scene-city-location-segment), source video
    const std::vector<std::pair<std::string, std::string>> clips = {
        {"airport-lisbon-1175-44106", "oa4_launch.webm"},
        {"park-helsinki-1000-2000", "diver.mov"},
        {"street_traffic-lyon-1001-3000", "VID_20191220_170832.mp4"},
    };

    TauAvFolder() {
        fs::create_directories(dir / "audio");
        for (const auto& [name, source] : clips) {
            host::MediaAudio a = host::readMediaAudio(video(source));
            writeWav(dir / ("audio/" + name + ".wav"), a.samples, int(a.sample_rate));
            link(video(source), dir / ("video/" + name + ".mp4"));
        }
        std::ofstream meta(dir / "meta.csv");
        meta << "filename_audio\tfilename_video\tscene_label\tidentifier\n";
        for (const auto& [name, source] : clips) {
            const std::string scene = name.substr(0, name.find('-'));
            std::string rest = name.substr(name.find('-') + 1);
            const std::string id = rest.substr(0, rest.rfind('-'));
            meta << "audio/" << name << ".wav\tvideo/" << name << ".mp4\t" << scene << "\t" << id << "\n";
        }
        meta.close();
        fs::create_directories(dir / "evaluation_setup");
        writeFold("fold1_train.csv", {0, 1});
        writeFold("fold1_evaluate.csv", {2});
    }

    void writeFold(const std::string& file, const std::vector<size_t>& which, const std::string& label = "") {
        std::ofstream out(dir / "evaluation_setup" / file);
        out << "filename_audio\tfilename_video\tscene_label\n";
        for (size_t i : which) {
            const std::string& name = clips[i].first;
            out << "audio/" << name << ".wav\tvideo/" << name << ".mp4\t"
                << (label.empty() ? name.substr(0, name.find('-')) : label) << "\n";
        }
    }
};

} // namespace

TEST_CASE("readAvDataset: a folder of class folders of real videos", "[host][datasets][av]") {
    test::ScratchDir dir;
    link(video("oa4_launch.webm"), dir / "launch/oa4_launch.webm");
    link(video("diver.mov"), dir / "sea/deep/diver.mov"); // anywhere below the class folder
    link(video("VID_20191220_170832.mp4"), dir / "dog/VID_20191220_170832.mp4");
    std::ofstream(dir / "dog/notes.txt") << "not a video";

    host::AvDataset ds = host::readAvDataset(dir.path());
    CHECK(ds.format == "video-folder");
    CHECK(ds.classes == std::vector<std::string>{"dog", "launch", "sea"});
    REQUIRE(ds.clips.size() == 3);
    // sorted by path: dog/..., launch/..., sea/...
    CHECK(ds.clips[0].video == dir / "dog/VID_20191220_170832.mp4");
    CHECK(ds.clips[0].label == 0);
    CHECK(ds.clips[1].label == 1);
    CHECK(ds.clips[2].label == 2);
    CHECK(ds.clips[2].group == "sea/deep/diver");
    for (const auto& c : ds.clips)
        CHECK(c.audio == c.video);
    CHECK(ds.train == std::vector<size_t>{0, 1, 2});
    CHECK(ds.test.empty());

    SECTION("videos at the top are unlabelled") {
        test::ScratchDir flat;
        link(video("diver.mov"), flat / "diver.mov");
        link(video("oa4_launch.webm"), flat / "launch/oa4_launch.webm");
        host::AvDataset u = host::readAvDataset(flat.path(), "video-folder");
        CHECK(u.classes.empty());
        REQUIRE(u.clips.size() == 2);
        CHECK(u.clips[0].label == -1);
        CHECK(u.clips[1].label == -1);
    }
    SECTION("a folder without videos, a missing folder and an unknown format are errors") {
        test::ScratchDir empty;
        CHECK_THROWS_WITH(host::readAvDataset(empty.path()), Catch::Contains("holds no video file"));
        CHECK_THROWS_WITH(host::readAvDataset(dir / "nothing"), Catch::Contains("no such folder"));
        CHECK_THROWS_WITH(host::readAvDataset(dir.path(), "youtube8m"),
                          Catch::Contains("youtube8m") && Catch::Contains("tau-av-2021"));
    }
}

TEST_CASE("readAvDataset: a TAU Urban Audio-Visual Scenes 2021 layout", "[host][datasets][av]") {
    TauAvFolder tau;
    host::AvDataset ds = host::readAvDataset(tau.dir.path());
    CHECK(ds.format == "tau-av-2021");
    CHECK(ds.classes == std::vector<std::string>{"airport", "park", "street_traffic"});
    REQUIRE(ds.clips.size() == 3);
    CHECK(ds.clips[0].audio == tau.dir / "audio/airport-lisbon-1175-44106.wav");
    CHECK(ds.clips[0].video == tau.dir / "video/airport-lisbon-1175-44106.mp4");
    CHECK(ds.clips[0].label == 0);
    CHECK(ds.clips[0].city == "lisbon");
    CHECK(ds.clips[0].group == "lisbon-1175");
    CHECK(ds.clips[1].city == "helsinki");
    CHECK(ds.clips[2].label == 2);
    CHECK(ds.clips[2].group == "lyon-1001");
    CHECK(ds.train == std::vector<size_t>{0, 1});
    CHECK(ds.test == std::vector<size_t>{2});

    SECTION("without evaluation_setup every clip trains") {
        fs::remove_all(tau.dir / "evaluation_setup");
        host::AvDataset all = host::readAvDataset(tau.dir.path(), "tau-av-2021");
        CHECK(all.train == std::vector<size_t>{0, 1, 2});
        CHECK(all.test.empty());
    }
    SECTION("a fold that is not there names the missing file") {
        CHECK_THROWS_WITH(host::readAvDataset(tau.dir.path(), "", 2), Catch::Contains("fold2_train.csv"));
    }
    SECTION("meta.csv without filename_video is read as a video folder only when asked") {
        std::ofstream(tau.dir / "meta.csv") << "filename_audio\tscene_label\n"
                                               "audio/airport-lisbon-1175-44106.wav\tairport\n";
        try {
            host::readAvDataset(tau.dir.path(), "tau-av-2021");
            FAIL("a meta.csv without filename_video was accepted");
        } catch (const avgraph::Error& e) {
            CHECK(e.where().file == (tau.dir / "meta.csv").string());
            CHECK(e.where().line == 1);
            CHECK_THAT(e.message(), Catch::Contains("filename_video"));
        }
    }
    SECTION("a fold file's unknown label names the file, line and column") {
        tau.writeFold("fold1_train.csv", {0, 1}, "beach");
        try {
            host::readAvDataset(tau.dir.path());
            FAIL("an unknown label was accepted");
        } catch (const avgraph::Error& e) {
            CHECK(e.where().file == (tau.dir / "evaluation_setup/fold1_train.csv").string());
            CHECK(e.where().line == 2);
            CHECK_THAT(e.message(),
                       Catch::Contains("unknown label 'beach'") && Catch::Contains("scene_label"));
        }
    }
    SECTION("a missing video names the meta.csv line") {
        fs::remove(tau.dir / "video/park-helsinki-1000-2000.mp4");
        try {
            host::readAvDataset(tau.dir.path());
            FAIL("a missing video was accepted");
        } catch (const avgraph::Error& e) {
            CHECK(e.where().file == (tau.dir / "meta.csv").string());
            CHECK(e.where().line == 3);
            CHECK_THAT(e.message(), Catch::Contains("file not found") &&
                                        Catch::Contains("video/park-helsinki-1000-2000.mp4"));
        }
    }
    SECTION("a scene label that contradicts the file name") {
        std::string text;
        {
            std::ifstream in(tau.dir / "meta.csv");
            text.assign(std::istreambuf_iterator<char>(in), {});
        }
        text.replace(text.find("mp4\tpark"), 8, "mp4\tairport");
        std::ofstream(tau.dir / "meta.csv") << text;
        CHECK_THROWS_WITH(host::readAvDataset(tau.dir.path()),
                          Catch::Contains("meta.csv:3") && Catch::Contains("the file name says 'park'"));
    }
}

TEST_CASE("pairClip: one pair per frame with the audio centred on it", "[host][datasets][av]") {
    host::AvClip clip;
    clip.video = clip.audio = video("oa4_launch.webm");
    const double fps = 2.0;
    std::vector<host::AvSample> pairs = host::pairClip(clip, fps, 64, 48, 1.0);
    host::VideoFrames frames = host::readVideoFrames(clip.video, fps, 64, 48);
    host::MediaAudio audio = host::readMediaAudio(clip.audio);
    REQUIRE(pairs.size() == size_t(frames.frames.size(0)));
    REQUIRE(pairs.size() == 16); // 8 s at 2 frames/s

    host::AvDataset ds;
    ds.clips = {clip};
    CHECK(host::listPairs(ds, {0}, fps).size() == pairs.size());

    const int64_t rate = 48000, n = 48000; // 1 s at the soundtrack's rate
    for (size_t k = 0; k < pairs.size(); ++k) {
        INFO("pair " << k);
        const auto& p = pairs[k];
        CHECK(p.time == frames.times[k]);
        CHECK(torch::equal(p.frame, frames.frames[int64_t(k)]));
        CHECK(p.audio.kind == avgraph::Kind::Audio);
        CHECK(p.audio.sample_rate == rate);
        REQUIRE(p.audio.tensor.sizes() == torch::IntArrayRef({1, 2, n}));
        // samples [t * rate - n/2, t * rate + n/2) of the soundtrack, zeros outside it
        const int64_t start = std::llround(p.time * rate) - n / 2;
        const int64_t total = audio.samples.size(1);
        torch::Tensor expected = torch::zeros({2, n});
        for (int64_t i = 0; i < n; i += 997) // a sparse grid of positions, each checked by hand
            if (start + i >= 0 && start + i < total)
                expected.select(1, i).copy_(audio.samples.select(1, start + i));
        CHECK(torch::equal(p.audio.tensor[0].slice(1, 0, n, 997), expected.slice(1, 0, n, 997)));
    }
    // the first window (t = 0.25 s) starts 0.25 s before the recording: its first quarter second is silent
    CHECK(pairs[0].audio.tensor[0].slice(1, 0, 12000).abs().max().item<float>() == 0.0f);
    CHECK(pairs[0].audio.tensor[0].slice(1, 12000).abs().max().item<float>() > 0.0f);

    SECTION("a TAU clip takes its audio from the WAV") {
        TauAvFolder tau;
        host::AvDataset t = host::readAvDataset(tau.dir.path());
        auto tau_pairs = host::pairClip(t.clips[0], fps, 64, 48, 1.0);
        REQUIRE(tau_pairs.size() == pairs.size());
        for (size_t k = 0; k < pairs.size(); ++k)
            CHECK(torch::equal(tau_pairs[k].audio.tensor, pairs[k].audio.tensor)); // float WAV: lossless
    }
}

TEST_CASE("listImages: the photos, sorted; image names in any case, anywhere below", "[host][datasets][av]") {
    auto photos = host::listImages(test::sharedDir() / "data/photos");
    REQUIRE(photos.size() == 16);
    CHECK(std::is_sorted(photos.begin(), photos.end()));
    CHECK(photos.front().filename() == "darknet__dog.jpg");

    test::ScratchDir dir;
    fs::create_directories(dir / "b/deep");
    host::writePng(dir / "b/deep/x.PNG", torch::zeros({3, 2, 2}, torch::kUInt8));
    link(photos.front(), dir / "a.jpeg");
    std::ofstream(dir / "b/readme.txt") << "no";
    CHECK(host::listImages(dir.path()) == std::vector<fs::path>{dir / "a.jpeg", dir / "b/deep/x.PNG"});
    test::ScratchDir empty;
    CHECK_THROWS_WITH(host::listImages(empty.path()), Catch::Contains("holds no image"));
}

TEST_CASE("openDataset: a video folder cut into segments, the last quarter of each recording testing",
          "[host][datasets][av]") {
    test::ScratchDir dir;
    link(video("oa4_launch.webm"), dir / "launch/oa4_launch.webm");              // 8 s
    link(video("diver.mov"), dir / "sea/diver.mov");                             // 14 s
    link(video("VID_20191220_170832.mp4"), dir / "dog/VID_20191220_170832.mp4"); // 1.6 s

    host::Dataset ds = host::openDataset(dir.path()); // detected: videos and no audio file
    CHECK(ds.format == host::DatasetFormat::video_folder);
    CHECK(ds.classes == std::vector<std::string>{"dog", "launch", "sea"});
    // ⌊d / 1 s⌋ segments, at least one: 1 + 8 + 14.
    REQUIRE(ds.clips.size() == 23);
    const auto& dog = ds.clips[0];
    CHECK(dog.file == "dog/VID_20191220_170832.mp4#t=0,1");
    CHECK(dog.video == dir / "dog/VID_20191220_170832.mp4");
    CHECK(dog.path == dog.video);
    CHECK(dog.duration == 1.0);
    const auto& launch3 = ds.clips[1 + 3];
    CHECK(launch3.file == "launch/oa4_launch.webm#t=3,4");
    CHECK(launch3.start == 3.0);
    CHECK(launch3.subsegment == 3);
    CHECK(launch3.recording == "launch/oa4_launch");
    CHECK(launch3.label == 1);
    // Test: the last ⌈n / 4⌉ segments of each recording with two or more: launch 6, 7; sea 10 to 13.
    host::Split split = host::splitFold(ds, host::defaultFold(ds));
    std::vector<std::string> test_files;
    for (size_t i : split.test)
        test_files.push_back(ds.clips[i].file);
    CHECK(test_files == std::vector<std::string>{"launch/oa4_launch.webm#t=6,7",
                                                 "launch/oa4_launch.webm#t=7,8", "sea/diver.mov#t=10,11",
                                                 "sea/diver.mov#t=11,12", "sea/diver.mov#t=12,13",
                                                 "sea/diver.mov#t=13,14"});
    CHECK(split.train.size() == 17);

    SECTION("half-second segments, named by --format") {
        host::DatasetOptions options;
        options.format = host::DatasetFormat::video_folder;
        options.segment_seconds = 0.5;
        host::Dataset half = host::openDataset(dir.path(), options);
        CHECK(half.clips.size() == 3 + 16 + 28);
        CHECK(host::splitFold(half, 1).test.size() == 1 + 4 + 7);
    }
    SECTION("segment inputs: the audio stretch and the frame at its middle") {
        avgraph::PresetInput audio{"audio", avgraph::Kind::Audio, 16000.0};
        avgraph::PresetInput image{"image", avgraph::Kind::Image, std::nullopt};
        auto whole = host::loadAudioFor(launch3.path, audio);
        auto values = host::loadClipInputs(launch3, {audio, image});
        const auto& a = values.at("audio").tensor;
        REQUIRE(a.size(-1) == 16000);
        CHECK(torch::equal(a, whole.tensor.narrow(-1, 3 * 16000, 16000)));
        // The frame shown at 3.5 s, as readVideoFrames samples it at one frame a second.
        auto frames = host::readVideoFrames(launch3.video, 1.0);
        CHECK(torch::equal(values.at("image").tensor[0], frames.frames[3].to(torch::kFloat32)));
        // Past the end of the 1.6-s dog video the audio is zeros.
        host::Clip late = dog;
        late.start = 1.0;
        auto tail = host::loadClipInputs(late, {audio}).at("audio").tensor;
        REQUIRE(tail.size(-1) == 16000);
        CHECK(tail.narrow(-1, 12000, 4000).abs().max().item<float>() == 0.0f);
    }
    SECTION("class folders are needed to train") {
        test::ScratchDir flat;
        link(video("diver.mov"), flat / "diver.mov");
        CHECK_THROWS_WITH(host::openDataset(flat.path()), Catch::Contains("without labels"));
    }
}
