// UrbanSound8K: metadata/UrbanSound8K.csv, audio in audio/fold1 ... audio/fold10.
#include "host/datasets/readers.h"

#include <set>

namespace avgraph::host::datasets {

namespace fs = std::filesystem;

Dataset readUrbanSound8K(const fs::path& root, AudioCheck audio) {
    Dataset ds;
    ds.format = DatasetFormat::urbansound8k;
    ds.root = root;
    ds.metadata = root / "metadata" / "UrbanSound8K.csv";
    MetadataTable table = MetadataTable::read(ds.metadata);
    const int c_file = table.require("slice_file_name"), c_fsid = table.require("fsID"),
              c_fold = table.require("fold"), c_id = table.require("classID"),
              c_class = table.require("class");

    std::map<int, std::pair<std::string, int>> names; // classID -> name, first line
    for (const auto& row : table.rows()) {
        int id = positiveInteger(table, row, c_id, 0);
        const std::string& name = table.field(row, c_class);
        auto [it, inserted] = names.emplace(id, std::make_pair(name, row.line));
        if (!inserted && it->second.first != name)
            throw table.errorAt(row, c_class,
                                "classID " + std::to_string(id) + " is '" + it->second.first + "' on line " +
                                    std::to_string(it->second.second) + ", here '" + name + "'");
    }
    std::map<int, int> index;
    for (const auto& [id, name] : names) {
        index[id] = static_cast<int>(ds.classes.size());
        ds.classes.push_back(name.first);
    }

    ClipCollector collector(ds, table, c_file, audio);
    std::set<int> folds;
    for (const auto& row : table.rows()) {
        Clip clip;
        clip.fold = positiveInteger(table, row, c_fold);
        const std::string& name = table.field(row, c_file);
        clip.path = root / "audio" / ("fold" + std::to_string(clip.fold)) / name;
        clip.label = index.at(std::stoi(table.field(row, c_id)));
        clip.source = table.field(row, c_fsid);
        // fsID-classID-occurrenceID-sliceID.wav
        std::string stem = fs::path(name).stem().string();
        auto second = stem.find('-', stem.find('-') + 1);
        if (second != std::string::npos)
            clip.segment = stem.substr(second + 1);
        folds.insert(clip.fold);
        collector.add(row, std::move(clip));
    }
    collector.finish();
    ds.folds.assign(folds.begin(), folds.end());
    if (ds.clips.empty())
        throw fileError(ds.metadata, "the file lists no clips");
    return ds;
}

} // namespace avgraph::host::datasets
