// What the dataset readers share: duplicate rows, audio presence, integer cells.
#include "host/datasets/readers.h"

#include <algorithm>
#include <cctype>

namespace avgraph::host::datasets {

namespace fs = std::filesystem;

bool checkAudio(const MetadataTable& table, const MetadataRow& row, int file_column, const fs::path& path,
                AudioCheck audio) {
    std::error_code ec;
    if (fs::is_regular_file(path, ec))
        return true;
    if (audio == AudioCheck::require)
        throw table.errorAt(row, file_column, "audio file not found: " + path.string());
    return false;
}

int positiveInteger(const MetadataTable& table, const MetadataRow& row, int column, int min_value) {
    const std::string& text = table.field(row, column);
    bool digits = !text.empty() && text.size() < 9;
    for (char c : text)
        digits = digits && std::isdigit(static_cast<unsigned char>(c));
    if (!digits || std::stoi(text) < min_value)
        throw table.errorAt(row, column,
                            "expected an integer >= " + std::to_string(min_value) + ", found '" + text + "'");
    return std::stoi(text);
}

bool ClipCollector::add(const MetadataRow& row, Clip clip) {
    const std::string& file = table_.field(row, file_column_);
    auto [it, inserted] = seen_.emplace(file, &row);
    if (!inserted) {
        if (it->second->fields != row.fields)
            throw table_.errorAt(row, file_column_,
                                 "'" + file + "' is listed twice, differently (first on line " +
                                     std::to_string(it->second->line) + ")");
        ++merged_;
        return false;
    }
    clip.file = file;
    clip.line = row.line;
    if (clip.path.empty())
        clip.path = dataset_.root / file;
    clip.present = checkAudio(table_, row, file_column_, clip.path, audio_);
    dataset_.missing_audio += clip.present ? 0 : 1;
    dataset_.clips.push_back(std::move(clip));
    return true;
}

void ClipCollector::finish() {
    if (merged_)
        dataset_.notes.push_back(table_.file().string() + ": " + std::to_string(merged_) +
                                 " row(s) repeat an earlier row exactly and were read once");
}

bool parseEsc10Name(const std::string& name, int& fold, std::string& source, std::string& take) {
    // F-SOURCE-TAKE.ogg: F a fold digit string, SOURCE digits, TAKE letters
    auto stem = fs::path(name).stem().string();
    auto a = stem.find('-');
    auto b = a == std::string::npos ? a : stem.find('-', a + 1);
    if (b == std::string::npos || stem.find('-', b + 1) != std::string::npos)
        return false;
    std::string f = stem.substr(0, a), s = stem.substr(a + 1, b - a - 1), t = stem.substr(b + 1);
    auto all = [](const std::string& x, int (*pred)(int)) {
        if (x.empty())
            return false;
        for (char c : x)
            if (!pred(static_cast<unsigned char>(c)))
                return false;
        return true;
    };
    if (!all(f, isdigit) || f.size() > 3 || !all(s, isdigit) || !all(t, isupper))
        return false;
    fold = std::stoi(f);
    source = s;
    take = t;
    return fold >= 1;
}

std::vector<std::string> splitDashes(const std::string& s) {
    std::vector<std::string> parts;
    size_t start = 0;
    while (true) {
        size_t dash = s.find('-', start);
        parts.push_back(s.substr(start, dash - start));
        if (dash == std::string::npos)
            return parts;
        start = dash + 1;
    }
}

bool allDigits(const std::string& s) {
    return !s.empty() && std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isdigit(c); });
}

} // namespace avgraph::host::datasets
