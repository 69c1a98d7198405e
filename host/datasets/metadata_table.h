#pragma once
/**
 * A metadata file read as a table: CSV (comma, RFC 4180 quoting) or TSV (tab), with a header row.
 *
 * Dataset metadata comes from many tools: CRLF line ends, a UTF-8 byte-order mark, no newline
 * after the last row, blank lines at the end. This reader takes all of those and keeps, for each
 * row, its line number and the character column of each field, so that a problem found later in
 * a reader is reported as "file:line:column: column 'scene_label': ..." pointing at the cell.
 */
#include "graph/error.h"

#include <filesystem>
#include <string>
#include <vector>

namespace avgraph::host {

struct MetadataRow {
    int line = 0;                    ///< 1-based line in the file
    std::vector<std::string> fields; ///< unquoted field text
    std::vector<int> columns;        ///< 1-based character column where each field starts
};

class MetadataTable {
public:
    /** Reads the file; the separator is a tab when the header line has one, else a comma. Throws
     *  avgraph::Error naming the file and line for an unreadable file or a broken quoted field. */
    static MetadataTable read(const std::filesystem::path& file);

    const std::filesystem::path& file() const { return file_; }
    const std::vector<std::string>& header() const { return header_; }
    const std::vector<MetadataRow>& rows() const { return rows_; }
    char separator() const { return separator_; }

    /** Index of a column named in the header; -1 when absent. */
    int find(const std::string& name) const;
    /** Index of a column that must be there; else an Error at line 1 naming the column and the header. */
    int require(const std::string& name) const;
    /** The first of several accepted names that is there; else an Error listing them. */
    int requireAny(const std::vector<std::string>& names) const;

    /** A row's field; an Error naming the line and the column when the row is too short. */
    const std::string& field(const MetadataRow& row, int column) const;
    /** An Error pointing at one cell: "file:line:col: column 'name': message". */
    Error errorAt(const MetadataRow& row, int column, const std::string& message) const;
    /** An Error pointing at a row. */
    Error errorAt(const MetadataRow& row, const std::string& message) const;

private:
    std::filesystem::path file_;
    std::vector<std::string> header_;
    std::vector<MetadataRow> rows_;
    char separator_ = ',';
};

} // namespace avgraph::host
