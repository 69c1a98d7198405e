#include "host/metrics/training_log.h"

#include "graph/error.h"

#include <cmath>
#include <fstream>

namespace avgraph::metrics {

namespace fs = std::filesystem;

void forEachLogRecord(const fs::path& path, MalformedLines malformed,
                      const std::function<void(const LogRecord&)>& visit) {
    std::ifstream in(path);
    if (!in)
        throw fileError(path, "cannot open the training log");
    std::string text;
    int line = 0;
    while (std::getline(in, text)) {
        ++line;
        if (text.find_first_not_of(" \t\r") == std::string::npos)
            continue;
        nlohmann::json j;
        std::string problem;
        try {
            j = nlohmann::json::parse(text);
            if (!j.is_object())
                problem = "expected a JSON object, one per epoch";
        } catch (const nlohmann::json::parse_error& e) {
            problem = std::string("not a JSON object: ") + e.what();
        }
        if (problem.empty())
            visit({std::move(j), text, line});
        else if (malformed == MalformedLines::fail)
            throw Error({path.string(), "", "", line, 1}, problem);
    }
}

std::vector<LogRecord> readLogRecords(const fs::path& path, MalformedLines malformed) {
    std::vector<LogRecord> records;
    forEachLogRecord(path, malformed, [&](const LogRecord& r) { records.push_back(r); });
    return records;
}

void appendLogRecord(const fs::path& path, const nlohmann::json& record) {
    std::ofstream(path, std::ios::app) << record.dump() << "\n";
}

nlohmann::json logNumber(const std::optional<double>& x) {
    return x && std::isfinite(*x) ? nlohmann::json(*x) : nlohmann::json(nullptr);
}

void keepLogEpochsUpTo(const fs::path& path, int last_epoch) {
    if (!fs::exists(path))
        return;
    std::string kept;
    for (const auto& r : readLogRecords(path, MalformedLines::skip)) {
        const auto& j = r.json;
        if (j.contains("epoch") && j["epoch"].is_number_integer() && j["epoch"].get<int>() <= last_epoch)
            kept += r.text + "\n";
    }
    std::ofstream(path, std::ios::trunc) << kept;
}

double loggedSeconds(const fs::path& path) {
    double seconds = 0.0;
    forEachLogRecord(path, MalformedLines::skip, [&](const LogRecord& r) {
        if (r.json.contains("seconds") && r.json["seconds"].is_number())
            seconds += r.json["seconds"].get<double>();
    });
    return seconds;
}

namespace {

/** One record of a classifier's log, checked; an Error at the record's line and key otherwise. */
EpochRecord epochRecord(const fs::path& path, const LogRecord& record, const EpochRecord* previous) {
    const auto& j = record.json;
    auto fail = [&](const std::string& pointer, const std::string& message) {
        throw Error({path.string(), pointer, "", record.line, 1}, message);
    };
    EpochRecord r;
    if (!j.contains("epoch") || !j["epoch"].is_number_integer() || j["epoch"].get<long long>() < 1)
        fail("/epoch", "expected \"epoch\": an integer >= 1");
    r.epoch = j["epoch"].get<int>();
    if (previous && r.epoch <= previous->epoch)
        fail("/epoch", "epoch " + std::to_string(r.epoch) + " does not follow epoch " +
                           std::to_string(previous->epoch));
    auto number = [&](const char* key, bool fraction) -> std::optional<double> {
        if (!j.contains(key) || j[key].is_null())
            return std::nullopt;
        if (!j[key].is_number() || !std::isfinite(j[key].get<double>()))
            fail(std::string("/") + key, std::string("expected a finite number or null for \"") + key + "\"");
        double v = j[key].get<double>();
        if (fraction && (v < 0.0 || v > 1.0))
            fail(std::string("/") + key, std::string("\"") + key + "\" is an accuracy in [0, 1]");
        return v;
    };
    r.train_loss = number("train_loss", false);
    r.train_accuracy = number("train_accuracy", true);
    r.val_loss = number("val_loss", false);
    r.val_accuracy = number("val_accuracy", true);
    return r;
}

} // namespace

std::vector<EpochRecord> readTrainingLog(const fs::path& path) {
    std::vector<EpochRecord> records; // checked line by line: the first problem is the one reported
    forEachLogRecord(path, MalformedLines::fail, [&](const LogRecord& record) {
        records.push_back(epochRecord(path, record, records.empty() ? nullptr : &records.back()));
    });
    if (records.empty())
        throw fileError(path, "the training log has no epochs");
    return records;
}

} // namespace avgraph::metrics
