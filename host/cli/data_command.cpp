// avgraph data: what a dataset folder holds, as `avgraph train/eval --data` will read it.
#include "host/cli/commands.h"

#include "graph/error.h"
#include "host/datasets/dataset.h"

#include <nlohmann/json.hpp>

#include <iostream>
#include <map>

namespace avgraph::host {

namespace {

struct DataSettings {
    std::string path;
    std::string format;
    int fold = -1;
    bool allow_missing = false;
    bool json = false;
};

std::map<std::string, size_t> countBy(const Dataset& ds, std::string Clip::*field) {
    std::map<std::string, size_t> counts;
    for (const auto& clip : ds.clips)
        if (!(clip.*field).empty())
            ++counts[clip.*field];
    return counts;
}

std::string joinCounts(const std::map<std::string, size_t>& counts) {
    std::string s;
    for (const auto& [name, n] : counts)
        s += (s.empty() ? "" : ", ") + name + " " + std::to_string(n);
    return s;
}

void dataCommand(const DataSettings& settings) {
    DatasetOptions options;
    if (!settings.format.empty())
        options.format = parseFormatName(settings.format);
    options.audio = settings.allow_missing ? AudioCheck::report : AudioCheck::require;
    Dataset ds = openDataset(settings.path, options);
    int fold = settings.fold >= 0 ? settings.fold : defaultFold(ds);
    Split split = splitFold(ds, fold);

    auto counts = ds.classCounts();
    std::map<int, size_t> fold_sizes;
    for (const auto& clip : ds.clips)
        if (clip.fold)
            ++fold_sizes[clip.fold];
    auto cities = countBy(ds, &Clip::city), devices = countBy(ds, &Clip::device);

    if (settings.json) {
        nlohmann::ordered_json j;
        j["path"] = settings.path;
        j["format"] = formatName(ds.format);
        j["detected_from"] = ds.detected_from;
        j["root"] = ds.root.string();
        j["metadata"] = ds.metadata.string();
        j["clips"] = ds.clips.size();
        j["labelled"] = ds.labelled;
        j["missing_audio"] = ds.missing_audio;
        j["classes"] = nlohmann::ordered_json::array();
        for (size_t c = 0; c < ds.classes.size(); ++c)
            j["classes"].push_back({{"name", ds.classes[c]}, {"clips", counts[c]}});
        j["folds"] = nlohmann::ordered_json::object();
        for (const auto& [k, n] : fold_sizes)
            j["folds"][std::to_string(k)] = n;
        j["setup"] = nlohmann::ordered_json::object();
        for (const auto& [k, s] : ds.setup)
            j["setup"][std::to_string(k)] = {
                {"train", s.train.size()}, {"evaluate", s.evaluate.size()}, {"test", s.test.size()}};
        j["cities"] = cities;
        j["devices"] = devices;
        j["split"] = {{"fold", fold},
                      {"train", split.train.size()},
                      {"validation", split.validation.size()},
                      {"test", split.test.size()}};
        j["notes"] = ds.notes;
        std::cout << j.dump(2) << "\n";
        return;
    }
    std::cout << "dataset: " << settings.path << "\n";
    std::cout << "format:  " << formatName(ds.format) << " (from " << ds.detected_from << ")\n";
    if (!ds.metadata.empty())
        std::cout << "metadata: " << ds.metadata.string() << "\n";
    std::cout << "clips:   " << ds.clips.size() << (ds.labelled ? "" : " (unlabelled)");
    if (ds.missing_audio)
        std::cout << "; audio missing for " << ds.missing_audio << ", present for "
                  << ds.clips.size() - ds.missing_audio;
    std::cout << "\n";
    if (!ds.classes.empty()) {
        std::cout << "classes: " << ds.classes.size() << "\n";
        for (size_t c = 0; c < ds.classes.size(); ++c)
            std::cout << "  " << counts[c] << "\t" << ds.classes[c] << "\n";
    }
    if (!fold_sizes.empty()) {
        std::cout << "folds:  ";
        for (const auto& [k, n] : fold_sizes)
            std::cout << " " << k << ": " << n;
        std::cout << "\n";
    }
    for (const auto& [k, s] : ds.setup)
        std::cout << "evaluation setup fold " << k << ": train " << s.train.size() << ", evaluate "
                  << s.evaluate.size() << ", test " << s.test.size() << "\n";
    if (!cities.empty())
        std::cout << "cities:  " << joinCounts(cities) << "\n";
    if (!devices.empty())
        std::cout << "devices: " << joinCounts(devices) << "\n";
    std::cout << "split" << (fold ? " fold " + std::to_string(fold) : std::string()) << ": train "
              << split.train.size() << ", validation " << split.validation.size() << ", test "
              << split.test.size() << "\n";
    for (const auto& note : ds.notes)
        std::cout << "note: " << note << "\n";
}

} // namespace

void addDataCommand(CLI::App& app, const GlobalOptions&) {
    auto settings = std::make_shared<DataSettings>();
    CLI::App* cmd =
        app.add_subcommand("data", "Show what a dataset holds: format, classes, folds, cities, devices");
    cmd->add_option("path", settings->path, "Dataset folder, or its metadata / list file")->required();
    std::string names;
    for (const auto& n : formatNames())
        names += (names.empty() ? "" : ", ") + n;
    cmd->add_option("--format", settings->format, "Dataset layout (default: detected): " + names)
        ->check(CLI::IsMember(formatNames()));
    cmd->add_option("--fold", settings->fold, "Show the train/validation/test split of this fold")
        ->check(CLI::NonNegativeNumber);
    cmd->add_flag("--allow-missing", settings->allow_missing,
                  "Count missing audio files instead of stopping at the first");
    cmd->add_flag("--json", settings->json, "Print JSON");
    cmd->callback([settings] { dataCommand(*settings); });
}

} // namespace avgraph::host
