// TAU Urban Acoustic Scenes 2019, 2020 Mobile and 2022 Mobile: meta.csv, evaluation_setup/foldK_*.csv,
// and the scene, city, location, segment and device that every development file name carries.
#include "host/datasets/readers.h"

#include <algorithm>
#include <regex>
#include <set>

namespace avgraph::host::datasets {

namespace fs = std::filesystem;

namespace {

/** Fills scene, city, recording, segment, subsegment and device from a development file name:
 *  scene-city-location-segment-device.wav (2019, 2020) or scene-city-location-segment-index-device.wav
 *  (2022, 1-s segments). Returns the scene; an Error at the cell if the name has another shape. */
std::string parseTauName(const MetadataTable& table, const MetadataRow& row, int column, DatasetFormat format,
                         Clip& clip) {
    const std::string& file = table.field(row, column);
    auto parts = splitDashes(fs::path(file).stem().string());
    bool one_second = format == DatasetFormat::tau2022mobile;
    size_t want = one_second ? 6 : 5;
    bool ok = parts.size() == want && allDigits(parts[2]) && allDigits(parts[3]) &&
              (!one_second || allDigits(parts[4]));
    for (const auto& p : parts)
        ok = ok && !p.empty();
    if (!ok)
        throw table.errorAt(
            row, column,
            "'" + file + "' is not a " + formatName(format) + " file name: expected " +
                (one_second ? "scene-city-location-segment-index-device.wav"
                            : "scene-city-location-segment-device.wav") +
                " (e.g. " +
                (one_second ? "airport-lisbon-1000-40000-0-a.wav" : "airport-lisbon-1000-40000-a.wav") + ")");
    clip.city = parts[1];
    clip.recording = parts[1] + "-" + parts[2];
    clip.segment = parts[3];
    if (one_second)
        clip.subsegment = std::stoi(parts[4]);
    clip.device = parts.back();
    return parts[0];
}

/** Reads evaluation_setup/foldK_{train,evaluate,test}.csv against the clips of meta.csv. */
void readSetup(Dataset& ds, const std::map<std::string, size_t>& by_file) {
    fs::path setup_dir = ds.root / "evaluation_setup";
    if (!fs::is_directory(setup_dir)) {
        ds.notes.push_back("no evaluation_setup folder: no official split");
        return;
    }
    static const std::regex pattern(R"(fold([0-9]+)_(train|evaluate|test)\.csv)");
    std::vector<std::pair<int, fs::path>> files;
    for (const auto& entry : fs::directory_iterator(setup_dir)) {
        std::smatch m;
        std::string name = entry.path().filename().string();
        if (entry.is_regular_file() && std::regex_match(name, m, pattern))
            files.emplace_back(std::stoi(m[1]), entry.path());
    }
    std::sort(files.begin(), files.end());
    for (const auto& [k, file] : files) {
        MetadataTable table = MetadataTable::read(file);
        std::string kind = file.stem().string().substr(file.stem().string().find('_') + 1);
        const int c_file = table.require("filename");
        const int c_label = kind == "test" ? -1 : table.require("scene_label");
        SetupFold& fold = ds.setup[k];
        auto& list = kind == "train" ? fold.train : kind == "evaluate" ? fold.evaluate : fold.test;
        std::map<std::string, const MetadataRow*> seen;
        size_t merged = 0;
        for (const auto& row : table.rows()) {
            const std::string& name = table.field(row, c_file);
            auto it = by_file.find(name);
            if (it == by_file.end())
                throw table.errorAt(row, c_file, "'" + name + "' is not in " + ds.metadata.string());
            const Clip& clip = ds.clips[it->second];
            if (c_label >= 0) {
                const std::string& label = table.field(row, c_label);
                if (std::find(ds.classes.begin(), ds.classes.end(), label) == ds.classes.end()) {
                    std::string known;
                    for (const auto& c : ds.classes)
                        known += (known.empty() ? "" : ", ") + c;
                    throw table.errorAt(row, c_label,
                                        "unknown label '" + label + "' (meta.csv has: " + known + ")");
                }
                if (label != ds.classes[clip.label])
                    throw table.errorAt(row, c_label,
                                        "label '" + label + "' differs from meta.csv line " +
                                            std::to_string(clip.line) + " ('" + ds.classes[clip.label] +
                                            "')");
            }
            auto [first, inserted] = seen.emplace(name, &row);
            if (!inserted) {
                if (first->second->fields != row.fields)
                    throw table.errorAt(row, c_file,
                                        "'" + name + "' is listed twice, differently (first on line " +
                                            std::to_string(first->second->line) + ")");
                ++merged;
                continue;
            }
            list.push_back(it->second);
        }
        if (merged)
            ds.notes.push_back(file.string() + ": " + std::to_string(merged) +
                               " row(s) repeat an earlier row exactly and were read once");
    }
    for (const auto& [k, fold] : ds.setup) {
        std::set<size_t> train(fold.train.begin(), fold.train.end());
        for (size_t i : fold.evaluate)
            if (train.count(i))
                throw Error(
                    {(setup_dir / ("fold" + std::to_string(k) + "_evaluate.csv")).string(), "", "", 0, 0},
                    "'" + ds.clips[i].file + "' is in both fold" + std::to_string(k) + "_train.csv and fold" +
                        std::to_string(k) + "_evaluate.csv");
    }
}

/** An evaluation set: no meta.csv, only the files to classify (evaluation_setup/fold1_test.csv or test.csv).
 */
Dataset readEvaluationSet(Dataset ds, AudioCheck audio) {
    fs::path list = ds.root / "evaluation_setup" / "fold1_test.csv";
    if (!fs::is_regular_file(list))
        list = ds.root / "evaluation_setup" / "test.csv";
    if (!fs::is_regular_file(list))
        throw fileError(
            ds.root,
            "not a TAU folder: expected meta.csv (development) or evaluation_setup/fold1_test.csv or "
            "evaluation_setup/test.csv (evaluation)");
    ds.metadata = list;
    ds.labelled = false;
    MetadataTable table = MetadataTable::read(list);
    ClipCollector collector(ds, table, table.require("filename"), audio);
    for (const auto& row : table.rows()) {
        Clip clip;
        clip.subset = Subset::test;
        collector.add(row, std::move(clip));
    }
    collector.finish();
    return ds;
}

} // namespace

Dataset readTau(const fs::path& root, DatasetFormat format, AudioCheck audio) {
    Dataset ds;
    ds.format = format;
    ds.root = root;
    if (!fs::is_regular_file(root / "meta.csv"))
        return readEvaluationSet(std::move(ds), audio);
    ds.metadata = root / "meta.csv";
    MetadataTable table = MetadataTable::read(ds.metadata);
    const int c_file = table.require("filename"), c_scene = table.require("scene_label");
    const int c_id = table.find("identifier"), c_source = table.find("source_label");

    std::set<std::string> scenes;
    for (const auto& row : table.rows()) {
        const std::string& scene = table.field(row, c_scene);
        if (scene.empty())
            throw table.errorAt(row, c_scene, "empty scene label");
        scenes.insert(scene);
    }
    ds.classes.assign(scenes.begin(), scenes.end()); // sorted, as the DCASE baselines order them

    ClipCollector collector(ds, table, c_file, audio);
    std::map<std::string, size_t> by_file;
    for (const auto& row : table.rows()) {
        Clip clip;
        std::string scene = parseTauName(table, row, c_file, format, clip);
        const std::string& label = table.field(row, c_scene);
        if (scene != label)
            throw table.errorAt(row, c_scene, "'" + label + "' but the file name says '" + scene + "'");
        if (c_id >= 0 && table.field(row, c_id) != clip.recording)
            throw table.errorAt(row, c_id,
                                "'" + table.field(row, c_id) + "' but the file name says '" + clip.recording +
                                    "'");
        if (c_source >= 0 && table.field(row, c_source) != clip.device)
            throw table.errorAt(row, c_source,
                                "'" + table.field(row, c_source) + "' but the file name says '" +
                                    clip.device + "'");
        clip.label = static_cast<int>(std::lower_bound(ds.classes.begin(), ds.classes.end(), label) -
                                      ds.classes.begin());
        if (collector.add(row, std::move(clip)))
            by_file[ds.clips.back().file] = ds.clips.size() - 1;
    }
    collector.finish();
    if (ds.clips.empty())
        throw fileError(ds.metadata, "the file lists no clips");
    readSetup(ds, by_file);
    return ds;
}

} // namespace avgraph::host::datasets
