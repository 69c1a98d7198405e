#include "host/metrics/predictions.h"
#include "io/message_text.h"

#include "graph/error.h"
#include "io/atomic_file.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>

namespace avgraph::metrics {

namespace fs = std::filesystem;

namespace {

using avgraph::joinNames;

constexpr const char* kFile = "filename";
constexpr const char* kPredicted = "scene_label";
constexpr const char* kTruth = "true_label";
constexpr const char* kCity = "city";
constexpr const char* kDevice = "device";

bool isReserved(const std::string& name) {
    return name == kFile || name == kPredicted || name == kTruth || name == kCity || name == kDevice;
}

std::vector<std::string> splitTabs(const std::string& line) {
    std::vector<std::string> fields;
    size_t start = 0;
    for (;;) {
        size_t tab = line.find('\t', start);
        fields.push_back(line.substr(start, tab == std::string::npos ? std::string::npos : tab - start));
        if (tab == std::string::npos)
            return fields;
        start = tab + 1;
    }
}

/** 1-based character column where each tab-separated field starts. */
std::vector<int> fieldColumns(const std::vector<std::string>& fields) {
    std::vector<int> columns;
    int at = 1;
    for (const auto& f : fields) {
        columns.push_back(at);
        at += static_cast<int>(f.size()) + 1;
    }
    return columns;
}

std::string formatProbability(double p) {
    char buffer[32];
    std::snprintf(buffer, sizeof buffer, "%.9g", p);
    return buffer;
}

} // namespace

int argmax(const std::vector<double>& values) {
    int best = 0;
    for (size_t i = 1; i < values.size(); ++i)
        if (values[i] > values[best])
            best = static_cast<int>(i);
    return best;
}

void Predictions::add(std::string file, int label, std::vector<double> probabilities, std::string city,
                      std::string device) {
    ClipPrediction clip;
    clip.file = std::move(file);
    clip.label = label;
    clip.predicted = argmax(probabilities);
    clip.probabilities = std::move(probabilities);
    clip.city = std::move(city);
    clip.device = std::move(device);
    clips.push_back(std::move(clip));
}

void Predictions::validate(const std::string& source) const {
    Location where{source, "", "", 0, 0};
    if (classes.empty())
        throw Error(where, "no classes");
    if (clips.empty())
        throw Error(where, "no clips to evaluate");
    const int k = static_cast<int>(classes.size());
    std::set<std::string> seen;
    for (const auto& c : clips) {
        std::string clip = "clip '" + c.file + "': ";
        if (!seen.insert(c.file).second)
            throw Error(where, clip + "appears twice");
        if (c.label < 0 || c.label >= k)
            throw Error(where, clip + "true class " + std::to_string(c.label) + " is not in [0, " +
                                   std::to_string(k) + ")");
        if (c.predicted < 0 || c.predicted >= k)
            throw Error(where, clip + "predicted class " + std::to_string(c.predicted) + " is not in [0, " +
                                   std::to_string(k) + ")");
        if (static_cast<int>(c.probabilities.size()) != k)
            throw Error(where, clip + std::to_string(c.probabilities.size()) + " probabilities for " +
                                   std::to_string(k) + " classes");
        double sum = 0.0;
        for (int j = 0; j < k; ++j) {
            double p = c.probabilities[j];
            if (!std::isfinite(p) || p < 0.0 || p > 1.0)
                throw Error(where, clip + "the probability of '" + classes[j] + "' is " +
                                       formatProbability(p) + ", expected a number in [0, 1]");
            sum += p;
        }
        if (std::abs(sum - 1.0) > kSumTolerance)
            throw Error(where, clip + "the probabilities sum to " + formatProbability(sum) +
                                   ", expected 1 (within " + formatProbability(kSumTolerance) + ")");
    }
}

Predictions readPredictionsCsv(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in)
        throw fileError(path, "cannot open the prediction CSV");
    // Locations are line:column, the column being the 1-based character where the field starts.
    auto fail = [&](int line, const std::string& message, int column = 1) {
        throw Error({path.string(), "", "", line, column}, message);
    };

    std::string text;
    int line_no = 0;
    if (!std::getline(in, text))
        fail(1, "the file is empty; expected a header row: filename, scene_label, one column per class, "
                "true_label");
    ++line_no;
    if (!text.empty() && text.back() == '\r')
        text.pop_back();
    if (text.rfind("\xEF\xBB\xBF", 0) == 0) // a UTF-8 byte order mark
        text.erase(0, 3);
    std::vector<std::string> header = splitTabs(text);
    if (header.size() == 1 && text.find(',') != std::string::npos)
        fail(1, "the header has no tab; the prediction CSV is tab-separated as DCASE's system output");
    std::map<std::string, int> column;
    Predictions p;
    std::vector<int> class_column;
    for (size_t i = 0; i < header.size(); ++i) {
        const std::string& name = header[i];
        if (name.empty())
            fail(1, "column " + std::to_string(i + 1) + " has no name");
        if (!column.emplace(name, static_cast<int>(i)).second)
            fail(1, "column '" + name + "' appears twice");
        if (!isReserved(name)) {
            p.classes.push_back(name);
            class_column.push_back(static_cast<int>(i));
        }
    }
    for (const char* required : {kFile, kPredicted, kTruth})
        if (!column.count(required))
            fail(1, std::string("missing column '") + required +
                        "'; expected filename, scene_label, one probability column per class, true_label "
                        "(and optionally city, device)");
    if (p.classes.empty())
        fail(1, "no class probability columns: every column other than filename, scene_label, true_label, "
                "city and device is a class");

    std::map<std::string, int> class_index;
    for (size_t j = 0; j < p.classes.size(); ++j)
        class_index[p.classes[j]] = static_cast<int>(j);
    auto classOf = [&](int line, const std::string& value, const char* what, int at) {
        auto it = class_index.find(value);
        if (it == class_index.end())
            fail(line,
                 std::string("unknown class '") + value + "' in column " + what +
                     "; the classes are the header's probability columns: " + joinNames(p.classes),
                 at);
        return it->second;
    };
    int city_col = column.count(kCity) ? column[kCity] : -1;
    int device_col = column.count(kDevice) ? column[kDevice] : -1;
    std::map<std::string, int> first_line;

    while (std::getline(in, text)) {
        ++line_no;
        if (!text.empty() && text.back() == '\r')
            text.pop_back();
        if (text.empty())
            continue;
        auto fields = splitTabs(text);
        if (fields.size() != header.size())
            fail(line_no, "expected " + std::to_string(header.size()) +
                              " tab-separated fields as in the header, found " +
                              std::to_string(fields.size()));
        auto at = fieldColumns(fields);
        ClipPrediction clip;
        clip.file = fields[column[kFile]];
        if (clip.file.empty())
            fail(line_no, "empty filename");
        auto [it, fresh] = first_line.emplace(clip.file, line_no);
        if (!fresh)
            fail(line_no, "'" + clip.file + "' already appeared on line " + std::to_string(it->second),
                 at[column[kFile]]);
        clip.predicted = classOf(line_no, fields[column[kPredicted]], kPredicted, at[column[kPredicted]]);
        clip.label = classOf(line_no, fields[column[kTruth]], kTruth, at[column[kTruth]]);
        double sum = 0.0;
        for (size_t j = 0; j < p.classes.size(); ++j) {
            const std::string& field = fields[class_column[j]];
            const char* begin = field.c_str();
            char* end = nullptr;
            double v = std::strtod(begin, &end);
            if (field.empty() || end != begin + field.size())
                fail(line_no, "column '" + p.classes[j] + "': '" + field + "' is not a number",
                     at[class_column[j]]);
            if (!std::isfinite(v) || v < 0.0 || v > 1.0)
                fail(line_no, "column '" + p.classes[j] + "': " + field + " is not a probability in [0, 1]",
                     at[class_column[j]]);
            sum += v;
            clip.probabilities.push_back(v);
        }
        if (std::abs(sum - 1.0) > kSumTolerance)
            fail(line_no, "the class probabilities sum to " + formatProbability(sum) +
                              ", expected 1 (within " + formatProbability(kSumTolerance) + ")");
        if (city_col >= 0)
            clip.city = fields[city_col];
        if (device_col >= 0)
            clip.device = fields[device_col];
        p.clips.push_back(std::move(clip));
    }
    if (p.clips.empty())
        fail(line_no, "no clips: the file has a header and no rows");
    return p;
}

std::string predictionsCsvText(const Predictions& p) {
    bool cities = false, devices = false;
    for (const auto& c : p.clips) {
        cities = cities || !c.city.empty();
        devices = devices || !c.device.empty();
    }
    std::ostringstream out;
    out << kFile << '\t' << kPredicted;
    for (const auto& name : p.classes)
        out << '\t' << name;
    out << '\t' << kTruth;
    if (cities)
        out << '\t' << kCity;
    if (devices)
        out << '\t' << kDevice;
    out << '\n';
    for (const auto& c : p.clips) {
        out << c.file << '\t' << p.classes.at(c.predicted);
        for (double v : c.probabilities)
            out << '\t' << formatProbability(v);
        out << '\t' << p.classes.at(c.label);
        if (cities)
            out << '\t' << c.city;
        if (devices)
            out << '\t' << c.device;
        out << '\n';
    }
    return out.str();
}

void writePredictionsCsv(const fs::path& path, const Predictions& p) {
    for (const auto& name : p.classes)
        if (isReserved(name) || name.find_first_of("\t\n\r") != std::string::npos)
            throw fileError(path, "class name '" + name +
                                      "' cannot be a prediction CSV column (reserved or has a tab)");
    host::writeFileAtomically(path, predictionsCsvText(p));
}

std::set<std::string> splitList(const std::string& list) {
    std::set<std::string> items;
    std::stringstream in(list);
    std::string item;
    while (std::getline(in, item, ','))
        if (!item.empty())
            items.insert(item);
    return items;
}

} // namespace avgraph::metrics
