#include "host/datasets/metadata_table.h"

#include <fstream>

namespace avgraph::host {

namespace fs = std::filesystem;

namespace {

/** Splits one line into fields. Quotes are honoured only with a comma separator (TSV metadata of
 *  DCASE never quotes); a quoted field may hold the separator and doubled quotes. */
MetadataRow splitLine(const fs::path& file, const std::string& line, int number, char sep) {
    MetadataRow row;
    row.line = number;
    size_t i = 0;
    while (true) {
        row.columns.push_back(static_cast<int>(i) + 1);
        std::string field;
        if (sep == ',' && i < line.size() && line[i] == '"') {
            ++i;
            while (true) {
                if (i >= line.size())
                    throw Error({file.string(), "", "", number, row.columns.back()},
                                "a quoted field is not closed on its line");
                if (line[i] == '"') {
                    if (i + 1 < line.size() && line[i + 1] == '"') {
                        field += '"';
                        i += 2;
                        continue;
                    }
                    ++i;
                    break;
                }
                field += line[i++];
            }
            if (i < line.size() && line[i] != sep)
                throw Error({file.string(), "", "", number, static_cast<int>(i) + 1},
                            "text after a closing quote; expected '" + std::string(1, sep) + "'");
        } else {
            size_t end = line.find(sep, i);
            if (end == std::string::npos)
                end = line.size();
            field = line.substr(i, end - i);
            i = end;
        }
        row.fields.push_back(field);
        if (i >= line.size())
            break;
        ++i; // the separator
    }
    return row;
}

} // namespace

MetadataTable MetadataTable::read(const fs::path& file) {
    std::ifstream in(file, std::ios::binary);
    if (!in)
        throw fileError(file, "cannot read the metadata file");
    MetadataTable table;
    table.file_ = file;
    std::string line;
    int number = 0;
    bool have_header = false;
    while (std::getline(in, line)) {
        ++number;
        if (!line.empty() && line.back() == '\r')
            line.pop_back();
        if (number == 1 && line.compare(0, 3, "\xEF\xBB\xBF") == 0)
            line.erase(0, 3);
        if (line.find_first_not_of(" \t") == std::string::npos)
            continue;
        if (!have_header) {
            table.separator_ = line.find('\t') != std::string::npos ? '\t' : ',';
            MetadataRow header = splitLine(file, line, number, table.separator_);
            for (auto& name : header.fields) {
                // header names are compared without surrounding blanks
                auto a = name.find_first_not_of(' '), b = name.find_last_not_of(' ');
                table.header_.push_back(a == std::string::npos ? "" : name.substr(a, b - a + 1));
            }
            have_header = true;
            continue;
        }
        table.rows_.push_back(splitLine(file, line, number, table.separator_));
    }
    if (!have_header)
        throw fileError(file, "the metadata file is empty (expected a header row)");
    return table;
}

int MetadataTable::find(const std::string& name) const {
    for (size_t c = 0; c < header_.size(); ++c)
        if (header_[c] == name)
            return static_cast<int>(c);
    return -1;
}

int MetadataTable::require(const std::string& name) const { return requireAny({name}); }

int MetadataTable::requireAny(const std::vector<std::string>& names) const {
    for (const auto& n : names)
        if (int c = find(n); c >= 0)
            return c;
    std::string wanted, have;
    for (const auto& n : names)
        wanted += (wanted.empty() ? "'" : "' or '") + n;
    for (const auto& h : header_)
        have += (have.empty() ? "" : ", ") + h;
    std::string sep = separator_ == '\t' ? "tab" : "comma";
    throw Error({file_.string(), "", "", 1, 1}, "missing column " + wanted + "' in the header (" + sep +
                                                    "-separated; the header has: " + have + ")");
}

const std::string& MetadataTable::field(const MetadataRow& row, int column) const {
    if (column < 0 || static_cast<size_t>(column) >= row.fields.size())
        throw Error(
            {file_.string(), "", "", row.line, 1},
            "column '" +
                (column >= 0 && static_cast<size_t>(column) < header_.size() ? header_[column] : "?") +
                "' is missing on this line (it has " + std::to_string(row.fields.size()) +
                " fields, the header " + std::to_string(header_.size()) + ")");
    return row.fields[column];
}

Error MetadataTable::errorAt(const MetadataRow& row, int column, const std::string& message) const {
    std::string name =
        static_cast<size_t>(column) < header_.size() ? header_[column] : std::to_string(column + 1);
    int col = static_cast<size_t>(column) < row.columns.size() ? row.columns[column] : 0;
    return Error({file_.string(), "", "", row.line, col}, "column '" + name + "': " + message);
}

Error MetadataTable::errorAt(const MetadataRow& row, const std::string& message) const {
    return Error({file_.string(), "", "", row.line, 1}, message);
}

} // namespace avgraph::host
