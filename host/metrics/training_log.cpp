#include "host/metrics/training_log.h"

#include "graph/error.h"

#include <nlohmann/json.hpp>

#include <cmath>
#include <fstream>

namespace avgraph::metrics {

std::vector<EpochRecord> readTrainingLog(const std::filesystem::path& path) {
    std::ifstream in(path);
    if (!in)
        throw Error({path.string(), "", "", 0, 0}, "cannot open the training log");
    std::vector<EpochRecord> records;
    std::string text;
    int line = 0;
    while (std::getline(in, text)) {
        ++line;
        if (text.find_first_not_of(" \t\r") == std::string::npos)
            continue;
        auto fail = [&](const std::string& pointer, const std::string& message) {
            throw Error({path.string(), pointer, "", line, 1}, message);
        };
        nlohmann::json j;
        try {
            j = nlohmann::json::parse(text);
        } catch (const nlohmann::json::parse_error& e) {
            fail("", std::string("not a JSON object: ") + e.what());
        }
        if (!j.is_object())
            fail("", "expected a JSON object, one per epoch");
        EpochRecord r;
        if (!j.contains("epoch") || !j["epoch"].is_number_integer() || j["epoch"].get<long long>() < 1)
            fail("/epoch", "expected \"epoch\": an integer >= 1");
        r.epoch = j["epoch"].get<int>();
        if (!records.empty() && r.epoch <= records.back().epoch)
            fail("/epoch", "epoch " + std::to_string(r.epoch) + " does not follow epoch " +
                               std::to_string(records.back().epoch));
        auto number = [&](const char* key, bool fraction) -> std::optional<double> {
            if (!j.contains(key) || j[key].is_null())
                return std::nullopt;
            if (!j[key].is_number() || !std::isfinite(j[key].get<double>()))
                fail(std::string("/") + key,
                     std::string("expected a finite number or null for \"") + key + "\"");
            double v = j[key].get<double>();
            if (fraction && (v < 0.0 || v > 1.0))
                fail(std::string("/") + key, std::string("\"") + key + "\" is an accuracy in [0, 1]");
            return v;
        };
        r.train_loss = number("train_loss", false);
        r.train_accuracy = number("train_accuracy", true);
        r.val_loss = number("val_loss", false);
        r.val_accuracy = number("val_accuracy", true);
        records.push_back(r);
    }
    if (records.empty())
        throw Error({path.string(), "", "", 0, 0}, "the training log has no epochs");
    return records;
}

} // namespace avgraph::metrics
