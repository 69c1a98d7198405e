// Layouts of a user's own data: one folder per class, and a CSV list of files.
#include "host/datasets/readers.h"

#include "io/input_files.h"

#include <algorithm>
#include <set>

namespace avgraph::host::datasets {

namespace fs = std::filesystem;

Dataset readClassFolders(const fs::path& root) {
    Dataset ds;
    ds.format = DatasetFormat::folders;
    ds.root = root;
    std::vector<fs::path> dirs;
    size_t loose = 0;
    for (const auto& entry : fs::directory_iterator(root)) {
        if (entry.path().filename().string().rfind('.', 0) == 0)
            continue; // hidden
        if (entry.is_directory())
            dirs.push_back(entry.path());
        else if (isAudioFileName(entry.path()))
            ++loose;
    }
    std::sort(dirs.begin(), dirs.end());
    for (const auto& dir : dirs) {
        const auto files = audioFilesUnder(dir);
        if (files.empty())
            continue;
        int label = static_cast<int>(ds.classes.size());
        ds.classes.push_back(dir.filename().string());
        for (const auto& file : files) {
            Clip clip;
            clip.path = file;
            clip.file = fs::relative(file, root).generic_string();
            clip.label = label;
            ds.clips.push_back(std::move(clip));
        }
    }
    if (loose)
        ds.notes.push_back(std::to_string(loose) + " audio file(s) directly in " + root.string() +
                           " belong to no class folder and were left out");
    if (ds.clips.empty())
        throw fileError(root,
                        "no class folder holds audio files (expected one folder per class, e.g. dog/1.wav)");
    return ds;
}

Dataset readCsvList(const fs::path& file, AudioCheck audio) {
    Dataset ds;
    ds.format = DatasetFormat::csv;
    ds.root = file.parent_path();
    ds.metadata = file;
    MetadataTable table = MetadataTable::read(file);
    int c_path = table.find("path");
    if (c_path < 0)
        c_path = table.requireAny({"path", "file", "filename"});
    int c_label = table.find("label");
    for (const char* other : {"class", "scene_label", "category"})
        if (c_label < 0)
            c_label = table.find(other);
    const int c_fold = table.find("fold"), c_split = table.find("split");
    if (c_fold >= 0 && c_split >= 0)
        throw Error({file.string(), "", "", 1, 1}, "a list has a fold column or a split column, not both");
    ds.labelled = c_label >= 0;

    std::set<std::string> labels;
    if (ds.labelled)
        for (const auto& row : table.rows()) {
            const std::string& label = table.field(row, c_label);
            if (label.empty())
                throw table.errorAt(row, c_label, "empty label");
            labels.insert(label);
        }
    ds.classes.assign(labels.begin(), labels.end());

    ClipCollector collector(ds, table, c_path, audio);
    std::set<int> folds;
    for (const auto& row : table.rows()) {
        Clip clip;
        const std::string& name = table.field(row, c_path);
        if (name.empty())
            throw table.errorAt(row, c_path, "empty path");
        fs::path p = name;
        clip.path = p.is_absolute() ? p : ds.root / p;
        if (ds.labelled)
            clip.label = static_cast<int>(
                std::lower_bound(ds.classes.begin(), ds.classes.end(), table.field(row, c_label)) -
                ds.classes.begin());
        if (c_fold >= 0) {
            clip.fold = positiveInteger(table, row, c_fold);
            folds.insert(clip.fold);
        }
        if (c_split >= 0) {
            const std::string& s = table.field(row, c_split);
            if (s == "train")
                clip.subset = Subset::train;
            else if (s == "validation" || s == "val")
                clip.subset = Subset::validation;
            else if (s == "test")
                clip.subset = Subset::test;
            else
                throw table.errorAt(row, c_split, "expected train, validation or test, found '" + s + "'");
        }
        collector.add(row, std::move(clip));
    }
    collector.finish();
    ds.folds.assign(folds.begin(), folds.end());
    if (ds.clips.empty())
        throw fileError(file, "the list names no clips");
    return ds;
}

} // namespace avgraph::host::datasets
