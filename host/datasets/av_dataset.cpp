// Audio-visual datasets (video folders, TAU Urban Audio-Visual Scenes 2021) and their frame/audio pairs.
#include "host/datasets/av_dataset.h"

#include "graph/error.h"
#include "host/datasets/metadata_table.h"
#include "host/datasets/readers.h"
#include "io/audio_file.h"
#include "io/input_files.h"
#include "io/media/media_file.h"

#include <torch/torch.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <functional>
#include <map>
#include <set>
#include <sstream>

namespace avgraph::host {

namespace fs = std::filesystem;
using datasets::allDigits;
using datasets::splitDashes;

namespace {

/** Regular files (symbolic links followed) under root whose names are wanted, sorted by path. */
std::vector<fs::path> filesUnder(const fs::path& root, const std::function<bool(const fs::path&)>& wanted) {
    std::vector<fs::path> found;
    std::error_code ec;
    for (auto it =
             fs::recursive_directory_iterator(root, fs::directory_options::follow_directory_symlink, ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec))
        if (wanted(it->path()) && fs::is_regular_file(it->path()))
            found.push_back(it->path());
    if (ec)
        throw fileError(root, "cannot list the folder: " + ec.message());
    std::sort(found.begin(), found.end());
    return found;
}

AvDataset readVideoFolder(const fs::path& root) {
    AvDataset ds;
    ds.format = "video-folder";
    ds.root = root;
    std::vector<fs::path> videos = filesUnder(root, isVideoFileName);
    if (videos.empty())
        throw fileError(root,
                        "holds no video file (.mp4, .mov, .webm, .mkv, .avi, ...); expected a folder of "
                        "videos, in class folders or not");
    // Class folders: every video sits in a first-level folder, none at the top.
    bool labelled = std::none_of(videos.begin(), videos.end(),
                                 [&](const fs::path& v) { return v.parent_path() == root; });
    std::set<std::string> classes;
    for (const auto& v : videos)
        if (labelled)
            classes.insert(v.lexically_relative(root).begin()->string());
    ds.classes.assign(classes.begin(), classes.end());
    for (const auto& v : videos) {
        AvClip clip;
        clip.video = clip.audio = v;
        fs::path relative = v.lexically_relative(root);
        clip.group = relative.parent_path().empty()
                         ? relative.stem().string()
                         : (relative.parent_path() / relative.stem()).generic_string();
        if (labelled)
            clip.label =
                int(std::lower_bound(ds.classes.begin(), ds.classes.end(), relative.begin()->string()) -
                    ds.classes.begin());
        ds.train.push_back(ds.clips.size());
        ds.clips.push_back(std::move(clip));
    }
    return ds;
}

std::string knownLabels(const std::vector<std::string>& classes) {
    std::string s;
    for (const auto& c : classes)
        s += (s.empty() ? "" : ", ") + c;
    return s;
}

/** foldK_{train,evaluate}.csv against meta.csv: rows name clips of meta.csv, with the same label. */
std::vector<size_t> readFoldList(const fs::path& file, const AvDataset& ds,
                                 const std::map<std::string, size_t>& by_audio,
                                 const std::map<std::string, std::string>& video_of) {
    MetadataTable table = MetadataTable::read(file);
    const int c_audio = table.require("filename_audio");
    const int c_scene = table.require("scene_label");
    const int c_video = table.find("filename_video");
    std::vector<size_t> list;
    std::set<size_t> seen;
    for (const auto& row : table.rows()) {
        const std::string& name = table.field(row, c_audio);
        auto it = by_audio.find(name);
        if (it == by_audio.end())
            throw table.errorAt(row, c_audio, "'" + name + "' is not in " + (ds.root / "meta.csv").string());
        const std::string& label = table.field(row, c_scene);
        if (std::find(ds.classes.begin(), ds.classes.end(), label) == ds.classes.end())
            throw table.errorAt(row, c_scene,
                                "unknown label '" + label + "' (meta.csv has: " + knownLabels(ds.classes) +
                                    ")");
        const AvClip& clip = ds.clips[it->second];
        if (label != ds.classes[size_t(clip.label)])
            throw table.errorAt(row, c_scene,
                                "label '" + label + "' differs from meta.csv's '" +
                                    ds.classes[size_t(clip.label)] + "' for " + name);
        if (c_video >= 0 && table.field(row, c_video) != video_of.at(name))
            throw table.errorAt(row, c_video,
                                "'" + table.field(row, c_video) + "' but meta.csv pairs " + name + " with '" +
                                    video_of.at(name) + "'");
        if (seen.insert(it->second).second)
            list.push_back(it->second);
    }
    return list;
}

AvDataset readTauAv2021(const fs::path& root, int fold) {
    AvDataset ds;
    ds.format = "tau-av-2021";
    ds.root = root;
    const fs::path meta = root / "meta.csv";
    if (!fs::is_regular_file(meta))
        throw fileError(meta,
                        "not found; a TAU Urban Audio-Visual Scenes 2021 development folder has meta.csv");
    MetadataTable table = MetadataTable::read(meta);
    const int c_audio = table.require("filename_audio"), c_video = table.require("filename_video");
    const int c_scene = table.require("scene_label"), c_id = table.find("identifier");

    std::set<std::string> scenes;
    for (const auto& row : table.rows()) {
        if (table.field(row, c_scene).empty())
            throw table.errorAt(row, c_scene, "empty scene label");
        scenes.insert(table.field(row, c_scene));
    }
    ds.classes.assign(scenes.begin(), scenes.end()); // sorted, as the DCASE baseline orders them
    if (table.rows().empty())
        throw fileError(meta, "lists no clips");

    std::map<std::string, size_t> by_audio;
    std::map<std::string, std::string> video_of;
    std::map<std::string, int> line_of;
    for (const auto& row : table.rows()) {
        const std::string& audio = table.field(row, c_audio);
        const std::string& video = table.field(row, c_video);
        const std::string& label = table.field(row, c_scene);
        // audio/scene-city-location-segment.wav beside video/scene-city-location-segment.mp4
        const std::string stem = fs::path(audio).stem().string();
        auto parts = splitDashes(stem);
        bool ok = parts.size() == 4 && !parts[0].empty() && !parts[1].empty() && allDigits(parts[2]) &&
                  allDigits(parts[3]);
        if (!ok)
            throw table.errorAt(row, c_audio,
                                "'" + audio +
                                    "' is not a TAU Audio-Visual 2021 file name: expected "
                                    "audio/scene-city-location-segment.wav (e.g. "
                                    "audio/airport-lisbon-1175-44106.wav)");
        if (fs::path(video).stem().string() != stem)
            throw table.errorAt(row, c_video,
                                "'" + video + "' is not the video of '" + audio +
                                    "': expected the same name, " + stem + ".mp4");
        if (parts[0] != label)
            throw table.errorAt(row, c_scene, "'" + label + "' but the file name says '" + parts[0] + "'");
        const std::string recording = parts[1] + "-" + parts[2];
        if (c_id >= 0 && table.field(row, c_id) != recording)
            throw table.errorAt(
                row, c_id, "'" + table.field(row, c_id) + "' but the file name says '" + recording + "'");
        auto [first, inserted] = line_of.emplace(audio, row.line);
        if (!inserted)
            throw table.errorAt(row, c_audio,
                                "'" + audio + "' is listed twice (first on line " +
                                    std::to_string(first->second) + ")");
        AvClip clip;
        clip.audio = root / audio;
        clip.video = root / video;
        for (auto [column, path] :
             {std::pair<int, const fs::path*>{c_audio, &clip.audio}, {c_video, &clip.video}})
            if (!fs::is_regular_file(*path))
                throw table.errorAt(row, column, "file not found: " + path->string());
        clip.label = int(std::lower_bound(ds.classes.begin(), ds.classes.end(), label) - ds.classes.begin());
        clip.group = recording;
        clip.city = parts[1];
        by_audio[audio] = ds.clips.size();
        video_of[audio] = video;
        ds.clips.push_back(std::move(clip));
    }

    const fs::path setup = root / "evaluation_setup";
    if (!fs::is_directory(setup)) {
        for (size_t i = 0; i < ds.clips.size(); ++i)
            ds.train.push_back(i);
        return ds;
    }
    const std::string k = "fold" + std::to_string(fold);
    const fs::path train = setup / (k + "_train.csv"), evaluate = setup / (k + "_evaluate.csv");
    for (const auto& f : {train, evaluate})
        if (!fs::is_regular_file(f))
            throw fileError(f, "not found: fold " + std::to_string(fold) + " needs " +
                                   train.filename().string() + " and " + evaluate.filename().string() +
                                   " in " + setup.string());
    ds.train = readFoldList(train, ds, by_audio, video_of);
    ds.test = readFoldList(evaluate, ds, by_audio, video_of);
    std::set<size_t> in_train(ds.train.begin(), ds.train.end());
    for (size_t i : ds.test)
        if (in_train.count(i))
            throw fileError(evaluate, "'" + ds.clips[i].audio.lexically_relative(root).generic_string() +
                                          "' is in both " + train.filename().string() + " and " +
                                          evaluate.filename().string());
    return ds;
}

} // namespace

std::vector<std::string> avFormatNames() { return {"video-folder", "tau-av-2021"}; }

AvDataset readAvDataset(const fs::path& root, const std::string& format, int fold) {
    if (!fs::is_directory(root))
        throw fileError(root, fs::exists(root) ? "is not a folder; expected an audio-visual dataset folder"
                                               : "no such folder; expected an audio-visual dataset folder");
    std::string chosen = format;
    if (chosen.empty()) {
        chosen = "video-folder";
        if (fs::is_regular_file(root / "meta.csv") &&
            MetadataTable::read(root / "meta.csv").find("filename_video") >= 0)
            chosen = "tau-av-2021";
    }
    if (chosen == "video-folder")
        return readVideoFolder(root);
    if (chosen == "tau-av-2021")
        return readTauAv2021(root, fold);
    throw fileError(root, "unknown audio-visual dataset format '" + format +
                              "'; expected video-folder or tau-av-2021");
}

std::string detectAvFormat(const fs::path& root) {
    std::error_code ec;
    if (!fs::is_directory(root, ec))
        return "";
    if (fs::is_regular_file(root / "meta.csv")) {
        try {
            if (MetadataTable::read(root / "meta.csv").find("filename_video") >= 0)
                return "tau-av-2021";
        } catch (const std::exception&) {
            return ""; // not ours to judge: the audio readers report a broken meta.csv
        }
        return "";
    }
    bool videos = false;
    for (auto it =
             fs::recursive_directory_iterator(root, fs::directory_options::follow_directory_symlink, ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
        if (it.depth() > 1)
            it.disable_recursion_pending();
        if (!it->is_regular_file(ec))
            continue;
        if (isAudioFileName(it->path()))
            return "";
        videos = videos || isVideoFileName(it->path());
    }
    return videos ? "video-folder" : "";
}

Dataset segmentDataset(const AvDataset& av, double seconds) {
    if (!(std::isfinite(seconds) && seconds > 0))
        throw fileError(av.root,
                        "segments must last a positive number of seconds, got " + std::to_string(seconds));
    if (av.classes.empty())
        throw fileError(av.root,
                        "holds videos without labels: put each class's videos in a folder named after "
                        "the class (or use the TAU Audio-Visual 2021 layout)");
    Dataset ds;
    ds.format = av.format == "tau-av-2021" ? DatasetFormat::tau_av2021 : DatasetFormat::video_folder;
    ds.root = av.root;
    if (av.format == "tau-av-2021")
        ds.metadata = av.root / "meta.csv";
    ds.classes = av.classes;
    const bool has_setup = !av.test.empty();
    std::set<size_t> test_clips(av.test.begin(), av.test.end()),
        train_clips(av.train.begin(), av.train.end());
    SetupFold fold;
    auto text = [](double x) {
        std::ostringstream s;
        s << x;
        return s.str();
    };
    for (size_t r = 0; r < av.clips.size(); ++r) {
        const AvClip& rec = av.clips[r];
        if (has_setup && !test_clips.count(r) && !train_clips.count(r))
            continue;
        double duration = 0.0;
        try {
            duration = videoDuration(rec.video);
        } catch (const std::exception& e) {
            throw fileError(rec.video, e.what());
        }
        const auto n = std::max<int64_t>(1, static_cast<int64_t>(std::floor(duration / seconds + 1e-9)));
        const int64_t n_test = has_setup ? 0 : n < 2 ? 0 : (n + 3) / 4;
        const std::string name = rec.video.lexically_relative(av.root).generic_string();
        for (int64_t k = 0; k < n; ++k) {
            Clip c;
            c.path = rec.audio;
            c.video = rec.video;
            c.start = static_cast<double>(k) * seconds;
            c.duration = seconds;
            c.file = name + "#t=" + text(c.start) + "," + text(c.start + seconds);
            c.label = rec.label;
            c.subsegment = static_cast<int>(k);
            c.recording = c.source = rec.group.empty() ? name : rec.group;
            c.city = rec.city;
            const bool test = has_setup ? test_clips.count(r) > 0 : k >= n - n_test;
            (test ? fold.evaluate : fold.train).push_back(ds.clips.size());
            ds.clips.push_back(std::move(c));
        }
    }
    if (!fold.evaluate.empty())
        ds.setup[1] = fold;
    ds.notes.push_back("recordings cut into " + text(seconds) +
                       "-s segments with the video frame at the middle of each");
    if (!has_setup)
        ds.notes.push_back(
            "no evaluation setup: the last quarter of each recording's segments test, the rest "
            "train (neighbouring seconds of one recording sit on both sides)");
    return ds;
}

std::vector<fs::path> listImages(const fs::path& root) {
    if (!fs::is_directory(root))
        throw fileError(root, "no such folder; expected a folder of images");
    auto images = filesUnder(root, isImageFileName);
    if (images.empty())
        throw fileError(root, "holds no image (.jpg, .jpeg, .png, .bmp, .webp)");
    return images;
}

std::vector<AvPair> listPairs(const AvDataset& dataset, const std::vector<size_t>& clips, double fps) {
    std::vector<AvPair> pairs;
    for (size_t i : clips) {
        const double duration = videoDuration(dataset.clips.at(i).video);
        for (int64_t k = 0; (double(k) + 0.5) / fps < duration; ++k)
            pairs.push_back({i, (double(k) + 0.5) / fps});
    }
    return pairs;
}

std::vector<AvSample> pairClip(const AvClip& clip, double fps, int64_t width, int64_t height,
                               double audio_seconds) {
    if (!(std::isfinite(audio_seconds) && audio_seconds > 0))
        throw std::invalid_argument("pairClip: audio_seconds must be finite and positive, got " +
                                    std::to_string(audio_seconds));
    VideoFrames video = readVideoFrames(clip.video, fps, width, height);
    DecodedAudio audio = readAudio(clip.audio);
    const torch::Tensor& samples = audio.samples; // [channels, total]
    const int64_t total = samples.size(1);
    const int64_t n = std::max<int64_t>(1, std::llround(audio_seconds * audio.sample_rate));
    std::vector<AvSample> pairs;
    for (size_t k = 0; k < video.times.size(); ++k) {
        const double t = video.times[k];
        const int64_t start = std::llround(t * audio.sample_rate) - n / 2;
        torch::Tensor window = torch::zeros({samples.size(0), n}, torch::kFloat32);
        const int64_t from = std::max<int64_t>(start, 0), to = std::min<int64_t>(start + n, total);
        if (to > from)
            window.narrow(1, from - start, to - from).copy_(samples.narrow(1, from, to - from));
        AvSample s;
        s.frame = video.frames[int64_t(k)];
        s.audio.tensor = window.unsqueeze(0);
        s.audio.kind = Kind::Audio;
        s.audio.sample_rate = audio.sample_rate;
        s.audio.axes = {"batch", "channel", "sample"};
        s.time = t;
        pairs.push_back(std::move(s));
    }
    return pairs;
}

} // namespace avgraph::host
