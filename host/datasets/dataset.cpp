// Format names, layout detection, and the splits of a dataset.
#include "host/datasets/dataset.h"

#include "graph/error.h"
#include "host/datasets/av_dataset.h"
#include "host/datasets/readers.h"
#include "io/input_files.h"

#include <algorithm>
#include <random>
#include <regex>
#include <set>

namespace avgraph::host {

namespace fs = std::filesystem;
using namespace datasets;

namespace {

const std::vector<std::pair<DatasetFormat, std::string>>& formatTable() {
    static const std::vector<std::pair<DatasetFormat, std::string>> table{
        {DatasetFormat::esc50, "esc50"},
        {DatasetFormat::esc10, "esc10"},
        {DatasetFormat::urbansound8k, "urbansound8k"},
        {DatasetFormat::tau2019, "tau2019"},
        {DatasetFormat::tau2020mobile, "tau2020mobile"},
        {DatasetFormat::tau2022mobile, "tau2022mobile"},
        {DatasetFormat::folders, "folders"},
        {DatasetFormat::csv, "csv"},
        {DatasetFormat::video_folder, "video-folder"},
        {DatasetFormat::tau_av2021, "tau-av-2021"}};
    return table;
}

bool isTau(DatasetFormat f) {
    return f == DatasetFormat::tau2019 || f == DatasetFormat::tau2020mobile ||
           f == DatasetFormat::tau2022mobile;
}

bool isTauFolder(const fs::path& dir) {
    return fs::is_regular_file(dir / "meta.csv") ||
           fs::is_regular_file(dir / "evaluation_setup/fold1_test.csv") ||
           fs::is_regular_file(dir / "evaluation_setup/test.csv");
}

/** The TAU edition a folder name states ("TAU-urban-acoustic-scenes-2020-mobile-development"). */
std::optional<DatasetFormat> tauFormatFromName(const fs::path& dir) {
    static const std::regex year(R"(acoustic[-_]scenes[-_](2019|2020|2021|2022|2023))", std::regex::icase);
    std::smatch m;
    std::string name = fs::absolute(dir).lexically_normal().filename().string();
    if (name.empty())
        name = fs::absolute(dir).lexically_normal().parent_path().filename().string();
    if (!std::regex_search(name, m, year))
        return std::nullopt;
    std::string y = m[1];
    if (y == "2019")
        return DatasetFormat::tau2019;
    if (y == "2020" || y == "2021")
        return DatasetFormat::tau2020mobile;
    return DatasetFormat::tau2022mobile; // 2023 evaluated on the 2022 development set's format
}

/** A TAU folder whose name says nothing of the edition: 2022 if file names carry the 1-s index,
 *  else 2020 Mobile if a device other than a, b, c recorded, else 2019. */
Dataset readTauByContent(const fs::path& root, AudioCheck audio, std::string& how) {
    if (!fs::is_regular_file(root / "meta.csv")) {
        how = "evaluation_setup (edition unknown: name it with --format)";
        return readTau(root, DatasetFormat::tau2020mobile, audio);
    }
    MetadataTable table = MetadataTable::read(root / "meta.csv");
    int c_file = table.require("filename");
    bool one_second = false;
    if (!table.rows().empty()) {
        std::string stem = fs::path(table.field(table.rows().front(), c_file)).stem().string();
        one_second = std::count(stem.begin(), stem.end(), '-') == 5;
    }
    if (one_second) {
        how = "meta.csv (file names with a 1-s segment index)";
        return readTau(root, DatasetFormat::tau2022mobile, audio);
    }
    Dataset ds = readTau(root, DatasetFormat::tau2020mobile, audio);
    bool abc = std::all_of(ds.clips.begin(), ds.clips.end(), [](const Clip& c) {
        return c.device == "a" || c.device == "b" || c.device == "c";
    });
    if (abc)
        ds.format = DatasetFormat::tau2019;
    how = abc ? "meta.csv (devices a, b, c only)" : "meta.csv (devices beyond a, b, c)";
    return ds;
}

Dataset readTauFolder(fs::path root, std::optional<DatasetFormat> format, AudioCheck audio,
                      std::string& how) {
    std::vector<std::string> notes;
    if (!isTauFolder(root)) {
        // A folder holding the editions' folders side by side: take the development one.
        std::vector<fs::path> dev, others;
        for (const auto& entry : fs::directory_iterator(root))
            if (entry.is_directory() && isTauFolder(entry.path()))
                (fs::is_regular_file(entry.path() / "meta.csv") ? dev : others).push_back(entry.path());
        if (dev.size() != 1)
            throw fileError(root,
                            dev.empty()
                                ? "not a TAU folder: no meta.csv or evaluation_setup here or one level below"
                                : "holds several TAU development folders; name one");
        std::sort(others.begin(), others.end());
        for (const auto& o : others)
            notes.push_back("also here: " + o.string() + " (an evaluation set: open it by its own path)");
        root = dev.front();
    }
    Dataset ds;
    if (format) {
        ds = readTau(root, *format, audio);
        how = "--format";
    } else if (auto named = tauFormatFromName(root)) {
        ds = readTau(root, *named, audio);
        how = "folder name " + fs::absolute(root).lexically_normal().filename().string();
    } else {
        ds = readTauByContent(root, audio, how);
    }
    ds.notes.insert(ds.notes.begin(), notes.begin(), notes.end());
    return ds;
}

/** Class folders whose every audio file is named like ESC-10's "F-SOURCE-TAKE.ogg". */
bool looksLikeEsc10(const fs::path& root) {
    size_t files = 0;
    for (const auto& dir : fs::directory_iterator(root)) {
        if (!dir.is_directory())
            continue;
        for (const auto& entry : fs::recursive_directory_iterator(dir.path())) {
            if (!entry.is_regular_file() || !isAudioFileName(entry.path()))
                continue;
            int fold;
            std::string source, take;
            if (!parseEsc10Name(entry.path().filename().string(), fold, source, take))
                return false;
            ++files;
        }
    }
    return files > 0;
}

Dataset openFolder(const fs::path& root, const DatasetOptions& options, std::string& how) {
    // Audio-visual layouts first: a TAU Audio-Visual meta.csv would otherwise read as an audio one.
    const bool av_named =
        options.format == DatasetFormat::video_folder || options.format == DatasetFormat::tau_av2021;
    const std::string av_format = av_named         ? formatName(*options.format)
                                  : options.format ? ""
                                                   : detectAvFormat(root);
    if (!av_format.empty()) {
        how = av_named                     ? "--format"
              : av_format == "tau-av-2021" ? "meta.csv with filename_video"
                                           : "folders of videos";
        return segmentDataset(readAvDataset(root, av_format, 1), options.segment_seconds);
    }
    const bool esc50 = fs::is_regular_file(root / "meta/esc50.csv");
    const bool us8k = fs::is_regular_file(root / "metadata/UrbanSound8K.csv");
    if (options.format) {
        DatasetFormat f = *options.format;
        how = "--format";
        switch (f) {
        case DatasetFormat::esc50:
        case DatasetFormat::esc10:
            if (esc50)
                return readEsc50(root, f == DatasetFormat::esc10, options.audio);
            if (f == DatasetFormat::esc10)
                return readEsc10Folders(root);
            throw fileError(root, "not an ESC-50 folder: expected meta/esc50.csv");
        case DatasetFormat::urbansound8k:
            if (!us8k)
                throw fileError(root, "not an UrbanSound8K folder: expected metadata/UrbanSound8K.csv");
            return readUrbanSound8K(root, options.audio);
        case DatasetFormat::tau2019:
        case DatasetFormat::tau2020mobile:
        case DatasetFormat::tau2022mobile:
            return readTauFolder(root, f, options.audio, how);
        case DatasetFormat::folders:
            return readClassFolders(root);
        case DatasetFormat::csv:
            throw fileError(root, "--format csv reads a list file: give the .csv file's path");
        case DatasetFormat::video_folder:
        case DatasetFormat::tau_av2021:
            break; // read above
        }
    }
    if (esc50) {
        how = "meta/esc50.csv";
        return readEsc50(root, false, options.audio);
    }
    if (us8k) {
        how = "metadata/UrbanSound8K.csv";
        return readUrbanSound8K(root, options.audio);
    }
    bool tau = isTauFolder(root);
    for (const auto& entry : fs::directory_iterator(root))
        tau = tau || (entry.is_directory() && fs::is_regular_file(entry.path() / "meta.csv"));
    if (tau)
        return readTauFolder(root, std::nullopt, options.audio, how);
    if (looksLikeEsc10(root)) {
        how = "class folders of FOLD-SOURCE-TAKE files";
        return readEsc10Folders(root);
    }
    how = "class folders";
    return readClassFolders(root);
}

} // namespace

std::string formatName(DatasetFormat format) {
    for (const auto& [f, name] : formatTable())
        if (f == format)
            return name;
    return "?";
}

std::vector<std::string> formatNames() {
    std::vector<std::string> names;
    for (const auto& entry : formatTable())
        names.push_back(entry.second);
    return names;
}

DatasetFormat parseFormatName(const std::string& name) {
    std::string known;
    for (const auto& [f, n] : formatTable()) {
        if (n == name)
            return f;
        known += (known.empty() ? "" : ", ") + n;
    }
    throw Error({}, "unknown dataset format '" + name + "' (known: " + known + ")");
}

std::vector<size_t> Dataset::classCounts() const {
    std::vector<size_t> counts(classes.size(), 0);
    for (const auto& clip : clips)
        if (clip.label >= 0)
            ++counts[clip.label];
    return counts;
}

Dataset openDataset(const fs::path& path, const DatasetOptions& options) {
    std::error_code ec;
    if (!fs::exists(path, ec))
        throw fileError(path, "no such dataset folder or file");
    Dataset ds;
    std::string how;
    if (fs::is_directory(path)) {
        ds = openFolder(path, options, how);
    } else {
        std::string name = path.filename().string();
        fs::path parent = path.parent_path().empty() ? fs::path(".") : path.parent_path();
        auto want = [&](DatasetFormat f) { return !options.format || *options.format == f; };
        if (name == "esc50.csv" && (want(DatasetFormat::esc50) || want(DatasetFormat::esc10))) {
            ds = readEsc50(parent.parent_path().empty() ? fs::path(".") : parent.parent_path(),
                           options.format == DatasetFormat::esc10, options.audio);
            how = options.format ? "--format" : name;
        } else if (name == "UrbanSound8K.csv" && want(DatasetFormat::urbansound8k)) {
            ds = readUrbanSound8K(parent.parent_path().empty() ? fs::path(".") : parent.parent_path(),
                                  options.audio);
            how = options.format ? "--format" : name;
        } else if (name == "meta.csv" && !detectAvFormat(parent).empty()) {
            ds = openFolder(parent, options, how);
        } else if (name == "meta.csv" && (!options.format || isTau(*options.format))) {
            ds = readTauFolder(parent, options.format, options.audio, how);
        } else if (want(DatasetFormat::csv)) {
            ds = readCsvList(path, options.audio);
            how = options.format ? "--format" : "a list file";
        } else {
            throw fileError(path, "--format " + formatName(*options.format) +
                                      " reads a folder; give the dataset's folder");
        }
    }
    ds.detected_from = how;
    return ds;
}

int defaultFold(const Dataset& dataset) {
    if (!dataset.folds.empty())
        return dataset.folds.front();
    if (!dataset.setup.empty())
        return dataset.setup.begin()->first;
    return 0;
}

Split splitFold(const Dataset& ds, int fold) {
    Split split;
    std::string where = ds.metadata.empty() ? ds.root.string() : ds.metadata.string();
    auto listFolds = [&] {
        std::string s;
        if (!ds.folds.empty())
            for (int f : ds.folds)
                s += (s.empty() ? "" : ", ") + std::to_string(f);
        else
            for (const auto& [k, unused] : ds.setup)
                s += (s.empty() ? "" : ", ") + std::to_string(k);
        return s;
    };
    if (!ds.folds.empty()) {
        if (!std::count(ds.folds.begin(), ds.folds.end(), fold))
            throw fileError(where, "no fold " + std::to_string(fold) + " in this " + formatName(ds.format) +
                                       " dataset (folds: " + listFolds() + ")");
        for (size_t i = 0; i < ds.clips.size(); ++i)
            (ds.clips[i].fold == fold ? split.test : split.train).push_back(i);
        return split;
    }
    if (!ds.setup.empty()) {
        auto it = ds.setup.find(fold);
        if (it == ds.setup.end())
            throw fileError(where, "no fold " + std::to_string(fold) +
                                       " in evaluation_setup (folds: " + listFolds() + ")");
        if (it->second.train.empty() || it->second.evaluate.empty())
            throw Error({(ds.root / "evaluation_setup").string(), "", "", 0, 0},
                        "fold " + std::to_string(fold) + " needs fold" + std::to_string(fold) +
                            "_train.csv and fold" + std::to_string(fold) + "_evaluate.csv with rows");
        split.train = it->second.train;
        split.test = it->second.evaluate;
        return split;
    }
    if (fold != 0)
        throw fileError(where, "this " + formatName(ds.format) + " dataset has no folds; leave out --fold");
    for (size_t i = 0; i < ds.clips.size(); ++i) {
        Subset s = ds.clips[i].subset;
        (s == Subset::test         ? split.test
         : s == Subset::validation ? split.validation
                                   : split.train)
            .push_back(i);
    }
    return split;
}

Split holdOutValidation(const Dataset& ds, Split split, double fraction, unsigned seed) {
    if (!(fraction >= 0.0 && fraction < 1.0))
        throw Error({}, "the validation fraction must be in [0, 1), not " + std::to_string(fraction));
    auto groupOf = [&](size_t i) {
        const Clip& c = ds.clips[i];
        return !c.recording.empty() ? "r:" + c.recording
               : !c.source.empty()  ? "s:" + c.source
                                    : "f:" + c.file;
    };
    std::map<std::string, std::vector<size_t>> groups;
    std::vector<std::string> order; // first-seen order, so the shuffle does not depend on map order
    for (size_t i : split.train) {
        auto key = groupOf(i);
        auto& g = groups[key];
        if (g.empty())
            order.push_back(key);
        g.push_back(i);
    }
    std::map<int, std::vector<std::string>> by_class;
    std::map<int, size_t> class_total;
    for (const auto& key : order)
        by_class[ds.clips[groups[key].front()].label].push_back(key);
    for (size_t i : split.train)
        ++class_total[ds.clips[i].label];
    std::mt19937 rng(seed);
    std::set<size_t> held;
    for (auto& [label, keys] : by_class) {
        std::shuffle(keys.begin(), keys.end(), rng);
        size_t want = static_cast<size_t>(fraction * class_total[label] + 0.5), taken = 0;
        for (const auto& key : keys) {
            if (taken >= want)
                break;
            for (size_t i : groups[key])
                held.insert(i);
            taken += groups[key].size();
        }
    }
    std::vector<size_t> train;
    for (size_t i : split.train)
        (held.count(i) ? split.validation : train).push_back(i);
    split.train = std::move(train);
    return split;
}

} // namespace avgraph::host
