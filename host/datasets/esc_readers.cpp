// ESC-50 (meta/esc50.csv), its ESC-10 subset, and ESC-10 as distributed (a folder per class).
#include "host/datasets/readers.h"

#include "io/input_files.h"

#include <algorithm>
#include <set>

namespace avgraph::host::datasets {

namespace fs = std::filesystem;

Dataset readEsc50(const fs::path& root, bool esc10_only, AudioCheck audio) {
    Dataset ds;
    ds.format = esc10_only ? DatasetFormat::esc10 : DatasetFormat::esc50;
    ds.root = root;
    ds.metadata = root / "meta" / "esc50.csv";
    MetadataTable table = MetadataTable::read(ds.metadata);
    const int c_file = table.require("filename"), c_fold = table.require("fold"),
              c_target = table.require("target"), c_category = table.require("category"),
              c_esc10 = table.require("esc10"), c_src = table.require("src_file"),
              c_take = table.require("take");

    // Class names by target number; ESC-10 keeps ESC-50's target order.
    std::map<int, std::pair<std::string, const MetadataRow*>> names;
    std::vector<const MetadataRow*> rows;
    for (const auto& row : table.rows()) {
        const std::string& flag = table.field(row, c_esc10);
        if (flag != "True" && flag != "False")
            throw table.errorAt(row, c_esc10, "expected True or False, found '" + flag + "'");
        int target = positiveInteger(table, row, c_target, 0);
        const std::string& category = table.field(row, c_category);
        if (category.empty())
            throw table.errorAt(row, c_category, "empty class name");
        auto [it, inserted] = names.emplace(target, std::make_pair(category, &row));
        if (!inserted && it->second.first != category)
            throw table.errorAt(row, c_category,
                                "target " + std::to_string(target) + " is '" + it->second.first +
                                    "' on line " + std::to_string(it->second.second->line) + ", here '" +
                                    category + "'");
        if (!esc10_only || flag == "True")
            rows.push_back(&row);
    }
    std::map<int, int> index; // target -> class index
    std::set<std::string> used;
    for (const MetadataRow* row : rows)
        used.insert(table.field(*row, c_category));
    for (const auto& [target, name] : names) {
        if (!used.count(name.first))
            continue;
        if (std::find(ds.classes.begin(), ds.classes.end(), name.first) != ds.classes.end())
            throw table.errorAt(*name.second, c_category, "class '" + name.first + "' has two targets");
        index[target] = static_cast<int>(ds.classes.size());
        ds.classes.push_back(name.first);
    }

    ClipCollector collector(ds, table, c_file, audio);
    std::set<int> folds;
    for (const MetadataRow* row : rows) {
        Clip clip;
        clip.path = root / "audio" / table.field(*row, c_file);
        clip.fold = positiveInteger(table, *row, c_fold);
        clip.label = index.at(std::stoi(table.field(*row, c_target)));
        clip.source = table.field(*row, c_src);
        clip.take = table.field(*row, c_take);
        folds.insert(clip.fold);
        collector.add(*row, std::move(clip));
    }
    collector.finish();
    ds.folds.assign(folds.begin(), folds.end());
    if (ds.clips.empty())
        throw fileError(ds.metadata, esc10_only ? "no row has esc10 = True" : "the file lists no clips");
    return ds;
}

Dataset readEsc10Folders(const fs::path& root) {
    Dataset ds;
    ds.format = DatasetFormat::esc10;
    ds.root = root;
    std::vector<fs::path> class_dirs;
    for (const auto& entry : fs::directory_iterator(root))
        if (entry.is_directory())
            class_dirs.push_back(entry.path());
    std::sort(class_dirs.begin(), class_dirs.end());
    std::set<int> folds;
    for (const auto& dir : class_dirs) {
        // "001 - Dog bark" -> "Dog bark"
        std::string name = dir.filename().string();
        auto dash = name.find(" - ");
        if (dash != std::string::npos && dash > 0 &&
            std::all_of(name.begin(), name.begin() + dash, [](unsigned char c) { return std::isdigit(c); }))
            name = name.substr(dash + 3);
        const auto files = audioFilesUnder(dir);
        if (files.empty())
            continue;
        int label = static_cast<int>(ds.classes.size());
        ds.classes.push_back(name);
        for (const auto& file : files) {
            Clip clip;
            if (!parseEsc10Name(file.filename().string(), clip.fold, clip.source, clip.take))
                throw fileError(
                    file,
                    "an ESC-10 file name is FOLD-SOURCE-TAKE.ogg (e.g. 1-100032-A.ogg); this one is not");
            clip.path = file;
            clip.file = fs::relative(file, root).generic_string();
            clip.label = label;
            folds.insert(clip.fold);
            ds.clips.push_back(std::move(clip));
        }
    }
    // ESC keeps the clips of one source recording in one fold.
    std::map<std::string, std::pair<int, const Clip*>> fold_of;
    for (const auto& clip : ds.clips) {
        auto [it, inserted] = fold_of.emplace(clip.source, std::make_pair(clip.fold, &clip));
        if (!inserted && it->second.first != clip.fold)
            throw fileError(clip.path, "source " + clip.source + " is in fold " + std::to_string(clip.fold) +
                                           " here but in fold " + std::to_string(it->second.first) + " in " +
                                           it->second.second->file +
                                           " (ESC keeps a source recording in one fold)");
    }
    if (ds.clips.empty())
        throw fileError(root, "no class folder holds audio files");
    ds.folds.assign(folds.begin(), folds.end());
    return ds;
}

} // namespace avgraph::host::datasets
