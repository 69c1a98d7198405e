#pragma once
// The readers behind openDataset, one per layout, and what they share. Internal to host/datasets.
#include "host/datasets/dataset.h"
#include "host/datasets/metadata_table.h"

#include <map>
#include <vector>

namespace avgraph::host::datasets {

/** ESC-50 from meta/esc50.csv; with esc10_only, the rows whose esc10 column is True. */
Dataset readEsc50(const std::filesystem::path& root, bool esc10_only, AudioCheck audio);
/** ESC-10 as distributed: "NNN - Class name/F-SOURCE-TAKE.ogg", the fold first in the file name. */
Dataset readEsc10Folders(const std::filesystem::path& root);
/** UrbanSound8K from metadata/UrbanSound8K.csv, audio in audio/foldK/. */
Dataset readUrbanSound8K(const std::filesystem::path& root, AudioCheck audio);
/** A TAU Urban Acoustic Scenes development folder (meta.csv) or evaluation folder (no meta.csv). */
Dataset readTau(const std::filesystem::path& root, DatasetFormat format, AudioCheck audio);
/** One folder per class, audio files anywhere below each. */
Dataset readClassFolders(const std::filesystem::path& root);
/** A CSV list: path,label[,fold|split], paths relative to the list. */
Dataset readCsvList(const std::filesystem::path& file, AudioCheck audio);

/** The ESC-10 file name "F-SOURCE-TAKE.ogg": true and the parts when it matches. */
bool parseEsc10Name(const std::string& name, int& fold, std::string& source, std::string& take);

/**
 * Adds clips row by row, refusing a second row for a file already listed: an identical row is
 * merged (a note says how many), a row that differs is an Error naming both lines.
 */
class ClipCollector {
public:
    ClipCollector(Dataset& dataset, const MetadataTable& table, int file_column, AudioCheck audio)
        : dataset_(dataset), table_(table), file_column_(file_column), audio_(audio) {}
    /** Adds the clip of a row (or merges it); returns false when it was merged. */
    bool add(const MetadataRow& row, Clip clip);
    /** Adds the merge note, if any rows were merged. */
    void finish();

private:
    Dataset& dataset_;
    const MetadataTable& table_;
    int file_column_;
    AudioCheck audio_;
    std::map<std::string, const MetadataRow*> seen_;
    size_t merged_ = 0;
};

/** Whether the audio file is there; with AudioCheck::require an Error at the row's file cell. */
bool checkAudio(const MetadataTable& table, const MetadataRow& row, int file_column,
                const std::filesystem::path& path, AudioCheck audio);

/** Parses a positive integer cell (a fold, a class id); an Error at the cell otherwise. */
int positiveInteger(const MetadataTable& table, const MetadataRow& row, int column, int min_value = 1);

/** The parts of a TAU file name between dashes ("airport-lisbon-1000-40000" -> 4 parts). */
std::vector<std::string> splitDashes(const std::string& s);
/** Whether a name part is a non-empty run of decimal digits. */
bool allDigits(const std::string& s);

} // namespace avgraph::host::datasets
