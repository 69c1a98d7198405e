// log.jsonl's one writer and one reader: records written come back, malformed lines are an error naming
// the file and line (or skipped where a killed run may have cut one short), a resumed run keeps the
// epochs up to its checkpoint, and the seconds add up.
#include "graph/error.h"
#include "host/metrics/training_log.h"
#include "tests/test_support.h"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <cmath>
#include <fstream>
#include <limits>

using namespace avgraph;
using namespace avgraph::metrics;
namespace fs = std::filesystem;

TEST_CASE("log records written are read back, in order, with their lines", "[training][log]") {
    test::ScratchDir dir;
    const fs::path log = dir / "log.jsonl";
    appendLogRecord(log, {{"epoch", 1}, {"train_loss", 2.5}, {"val_loss", logNumber(std::nullopt)}});
    appendLogRecord(log, {{"epoch", 2}, {"train_loss", 1.25}, {"val_loss", logNumber(0.75)}});
    appendLogRecord(log, {{"epoch", 3}, {"train_loss", 0.5}, {"val_loss", logNumber(std::nan(""))}});
    // One JSON object a line, as nlohmann::json writes it (keys sorted, no spaces).
    CHECK(test::readBytes(log) == "{\"epoch\":1,\"train_loss\":2.5,\"val_loss\":null}\n"
                                  "{\"epoch\":2,\"train_loss\":1.25,\"val_loss\":0.75}\n"
                                  "{\"epoch\":3,\"train_loss\":0.5,\"val_loss\":null}\n");

    const auto records = readLogRecords(log, MalformedLines::fail);
    REQUIRE(records.size() == 3);
    for (int i = 0; i < 3; ++i) {
        CHECK(records[i].line == i + 1);
        CHECK(records[i].json["epoch"] == i + 1);
    }
    CHECK(records[1].json["train_loss"] == 1.25);
    CHECK(records[1].text == "{\"epoch\":2,\"train_loss\":1.25,\"val_loss\":0.75}");

    const auto epochs = readTrainingLog(log);
    REQUIRE(epochs.size() == 3);
    CHECK(epochs[0].train_loss == 2.5);
    CHECK_FALSE(epochs[0].val_loss);
    CHECK(epochs[1].val_loss == 0.75);
    CHECK_FALSE(epochs[2].val_loss); // not finite: written as null, read as not measured
    CHECK_FALSE(epochs[2].train_accuracy);
}

TEST_CASE("a malformed log line is an error naming the file and the line, unless skipped",
          "[training][log]") {
    test::ScratchDir dir;
    const fs::path log = dir / "log.jsonl";
    std::ofstream(log)
        << "{\"epoch\": 1, \"seconds\": 2}\n\n[1, 2]\n{\"epoch\": 2, \"seconds\": 3}\n{\"epoch\": 3, \"se";
    CHECK_THROWS_WITH(readLogRecords(log, MalformedLines::fail),
                      Catch::Contains(log.string() + ":3:1") && Catch::Contains("expected a JSON object"));
    std::ofstream(dir / "cut.jsonl") << "{\"epoch\": 1}\n{\"epoch\": 2, \"se";
    CHECK_THROWS_WITH(readTrainingLog(dir / "cut.jsonl"),
                      Catch::Contains("cut.jsonl:2:1") && Catch::Contains("not a JSON object"));

    // Skipping: the lines that are objects, with their own line numbers (the blank line counts).
    const auto records = readLogRecords(log, MalformedLines::skip);
    REQUIRE(records.size() == 2);
    CHECK(records[0].line == 1);
    CHECK(records[1].line == 4);
    CHECK(records[1].json["epoch"] == 2);

    CHECK_THROWS_WITH(readLogRecords(dir / "missing.jsonl", MalformedLines::skip),
                      Catch::Contains("missing.jsonl") && Catch::Contains("cannot open the training log"));
}

TEST_CASE("a resumed run keeps the log's epochs up to its checkpoint, line for line", "[training][log]") {
    test::ScratchDir dir;
    const fs::path log = dir / "log.jsonl";
    // Epoch 0 (a stage's record before training) is kept too; the cut line and later epochs are not.
    const std::string kept = "{\"epoch\": 0, \"val_loss\": 1.5}\n{\"epoch\": 1,  \"seconds\": 2.0}\n"
                             "{\"epoch\": 2, \"seconds\": 0.25}\n";
    std::ofstream(log) << kept
                       << "{\"epoch\": 3, \"seconds\": 4}\n{\"note\": \"no epoch\"}\n{\"epoch\": 4, \"sec";
    keepLogEpochsUpTo(log, 2);
    CHECK(test::readBytes(log) == kept); // the kept lines as they were written, spaces included
    keepLogEpochsUpTo(dir / "missing.jsonl", 2);
    CHECK_FALSE(fs::exists(dir / "missing.jsonl"));
}

TEST_CASE("the logged seconds add up over the records that have them", "[training][log]") {
    test::ScratchDir dir;
    const fs::path log = dir / "log.jsonl";
    std::ofstream(log)
        << "{\"epoch\": 1, \"seconds\": 1.5}\n{\"epoch\": 2}\n{\"epoch\": 3, \"seconds\": \"x\"}\n"
           "{\"epoch\": 4, \"seconds\": 0.25}\n{\"epoch\": 5, \"seconds\": 10";
    CHECK(loggedSeconds(log) == 1.75); // 1.5 + 0.25, exact in binary
    CHECK(logNumber(std::numeric_limits<double>::infinity()).is_null());
    CHECK(logNumber(3.0) == 3.0);
}
