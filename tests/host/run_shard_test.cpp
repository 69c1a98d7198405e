// avgraph run --shard I/N: N runs over one input list, each on its part, write what one run writes.
#include "graph/error.h"
#include "io/input_files.h"
#include "tests/test_support.h"

#include <catch2/catch.hpp>

#include <fstream>
#include <iterator>
#include <map>
#include <regex>
#include <set>

using namespace avgraph;
using test::shellQuote;
namespace fs = std::filesystem;
using avgraph::test::q;

namespace {
fs::path logmelPreset() { return test::sourceDir() / "presets/features/logmel.json"; }
fs::path dogBarkFolder() { return test::sharedDir() / "data/esc10/001 - Dog bark"; }

std::string bytesOf(const fs::path& file) {
    std::ifstream in(file, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

/** Every .npy file below `dir` by its relative path, with its bytes. */
std::map<std::string, std::string> npyBytes(const fs::path& dir) {
    std::map<std::string, std::string> files;
    for (const auto& entry : fs::recursive_directory_iterator(dir))
        if (entry.is_regular_file() && entry.path().extension() == ".npy")
            files[entry.path().lexically_relative(dir).generic_string()] = bytesOf(entry.path());
    return files;
}

/** The clips a run reports it wrote: "... for N clip(s) ...". */
int clipsWritten(const std::string& output) {
    std::smatch m;
    REQUIRE(std::regex_search(output, m, std::regex("for ([0-9]+) clip\\(s\\)")));
    return std::stoi(m[1]);
}
} // namespace

TEST_CASE("shard ranges cover a list exactly once, in order, sizes within one, the first shards larger",
          "[host][shard]") {
    for (size_t total = 0; total <= 13; ++total) {
        for (size_t count = 1; count <= 6; ++count) {
            INFO("total " << total << ", count " << count);
            size_t next = 0;
            for (size_t index = 1; index <= count; ++index) {
                auto [begin, end] = host::shardRange(total, {index, count});
                CHECK(begin == next); // contiguous and in order: together each item exactly once
                // Closed form: the first total % count shards hold ceil(total / count), the rest floor.
                CHECK(end - begin == total / count + (index <= total % count ? 1 : 0));
                next = end;
            }
            CHECK(next == total);
        }
    }
}

TEST_CASE("--shard reads I/N and refuses anything else", "[host][shard]") {
    auto s = host::parseShard("2/3");
    CHECK(s.index == 2);
    CHECK(s.count == 3);
    CHECK(host::parseShard("1/1").count == 1);
    for (const char* bad :
         {"3/2", "0/2", "a/b", "1/0", "0/0", "-1/2", "1/-2", "2", "1/", "/2", " 1/2", "1/2/3", ""})
        CHECK_THROWS_AS(host::parseShard(bad), Error);
    CHECK_THROWS_WITH(host::parseShard("3/2"),
                      Catch::Contains("--shard 3/2") && Catch::Contains("INDEX <= COUNT"));
    CHECK_THROWS_WITH(host::parseShard("a/b"), Catch::Contains("--shard a/b: expected INDEX/COUNT"));
}

TEST_CASE("two shards of a folder, run at once into one folder, write what one run writes, each file once",
          "[host][cli][shard]") {
    test::ScratchDir whole, sharded;
    const std::string run =
        q(test::avgraphExe()) + " run " + q(logmelPreset()) + " --input " + q(dogBarkFolder());
    auto one = test::runShell(run + " --output " + q(whole.path()));
    INFO(one.output);
    REQUIRE(one.exit_code == 0);
    const auto expected = npyBytes(whole.path());
    REQUIRE(expected.size() == host::audioFilesUnder(dogBarkFolder()).size());
    REQUIRE(expected.size() >= 2);

    // Both shards at the same time, into the same folder, as data-parallel extraction runs them.
    auto both = test::runShell(run + " --output " + q(sharded.path()) + " --shard 1/2 > " +
                               q(sharded / "shard1.log") + " 2>&1 & first=$!; " + run + " --output " +
                               q(sharded.path()) + " --shard 2/2 > " + q(sharded / "shard2.log") +
                               " 2>&1 & second=$!; wait $first && wait $second");
    const std::string log1 = bytesOf(sharded / "shard1.log"), log2 = bytesOf(sharded / "shard2.log");
    INFO(log1 << "\n" << log2);
    REQUIRE(both.exit_code == 0);
    // Each shard wrote its own half (the first takes the extra clip of an odd count), the two together all.
    const int n = static_cast<int>(expected.size());
    CHECK(clipsWritten(log1) == (n + 1) / 2);
    CHECK(clipsWritten(log2) == n / 2);
    CHECK_THAT(log1, Catch::Contains("shard 1/2: inputs 1 to " + std::to_string((n + 1) / 2) + " of " +
                                     std::to_string(n)));
    const auto got = npyBytes(sharded.path());
    CHECK(got.size() == expected.size());
    for (const auto& [name, bytes] : expected) {
        INFO(name);
        REQUIRE(got.count(name) == 1);
        CHECK(got.at(name) == bytes);
    }

    // The manifest kept both shards' files: an unsharded run may replace every one of them.
    std::set<std::string> manifest;
    std::ifstream in(sharded / ".avgraph-outputs");
    for (std::string line; std::getline(in, line);)
        manifest.insert(line);
    for (const auto& [name, bytes] : expected)
        CHECK(manifest.count(name) == 1);
    auto again = test::runShell(run + " --output " + q(sharded.path()));
    INFO(again.output);
    CHECK(again.exit_code == 0);
}

TEST_CASE("--shard: bad values exit 1 with a clear message; an empty shard is no error",
          "[host][cli][shard]") {
    test::ScratchDir out;
    const std::string run = "run " + q(logmelPreset()) + " --input " + q(test::esc10Clip()) + " --output " +
                            q(out.path()) + " --shard ";
    for (const char* bad : {"3/2", "0/2", "a/b"}) {
        auto r = test::runAvgraph(run + bad);
        INFO(r.output);
        CHECK(r.exit_code == 1);
        CHECK_THAT(r.output, Catch::Contains(std::string("--shard ") + bad + ": expected"));
    }
    // One input in three shards: the first gets it, the others have nothing to do.
    auto empty = test::runAvgraph(run + "3/3");
    INFO(empty.output);
    CHECK(empty.exit_code == 0);
    CHECK_THAT(empty.output, Catch::Contains("shard 3/3 is empty"));
    CHECK(npyBytes(out.path()).empty());
    auto first = test::runAvgraph(run + "1/3");
    INFO(first.output);
    CHECK(first.exit_code == 0);
    CHECK(npyBytes(out.path()).size() == 1);
}
