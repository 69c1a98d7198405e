#include "graph/preset.h"

#include "tests/test_support.h"

#include <catch2/catch.hpp>

#include <fstream>

using namespace avgraph;
using nlohmann::json;
namespace fs = std::filesystem;

TEST_CASE("extends is applied as an RFC 7386 merge patch relative to the preset's folder",
          "[graph][preset]") {
    Preset p = Preset::load(test::testPresetDir() / "child.json");
    const json& d = p.document();
    CHECK(p.name() == "test-child");
    REQUIRE(p.nodes().size() == 1); // mel, db and spec deleted by null
    CHECK(p.nodes()[0].id == "feat");
    CHECK(d["nodes"]["feat"]["params"]["n_mels"] == 128); // patched
    CHECK(d["nodes"]["feat"]["params"]["n_fft"] == 1024); // inherited
    CHECK(p.edges().size() == 1);                         // arrays are replaced, not merged
    REQUIRE(p.outputs().size() == 1);
    CHECK(p.outputs()[0].name == "logmel");
    // Errors and relative paths go to the file that wrote the value.
    CHECK(fs::path(p.locate("/nodes/feat/params/n_mels").file).filename() == "child.json");
    CHECK(fs::path(p.locate("/nodes/feat/params/n_fft").file).filename() == "base.json");
    CHECK(fs::path(p.locate("/nodes/feat/type").file).filename() == "base.json");
    CHECK(fs::path(p.locate("/edges/0").file).filename() == "child.json");
}

TEST_CASE("extends follows the RFC 7386 worked example", "[graph][preset]") {
    // RFC 7386 section 3: target, patch and result, carried here inside a node's params.
    test::ScratchDir dir;
    json target = json::parse(R"({"title": "Goodbye!", "author": {"givenName": "John", "familyName": "Doe"},
                                  "tags": ["example", "sample"], "content": "This will be unchanged"})");
    json patch = json::parse(R"({"title": "Hello!", "phoneNumber": "+01-123-456-7890",
                                 "author": {"familyName": null}, "tags": ["example"]})");
    json expected = json::parse(R"({"title": "Hello!", "author": {"givenName": "John"}, "tags": ["example"],
                                    "content": "This will be unchanged", "phoneNumber": "+01-123-456-7890"})");
    json base{
        {"avgraph", 1}, {"nodes", {{"x", {{"type", "t.t"}, {"params", target}}}}}, {"outputs", {{"o", "x"}}}};
    json child{{"avgraph", 1}, {"extends", "base.json"}, {"nodes", {{"x", {{"params", patch}}}}}};
    std::ofstream(dir / "base.json") << base.dump();
    std::ofstream(dir / "child.json") << child.dump();
    Preset p = Preset::load(dir / "child.json");
    CHECK(p.document()["nodes"]["x"]["params"] == expected);
}

TEST_CASE("--set overrides parameters, reading JSON values and bare words", "[graph][preset]") {
    Preset p = Preset::load(test::testPresetDir() / "base.json",
                            {"feat.n_mels=32", "mel.norm=null", "spec.pad_mode=reflect"}, "--set");
    const json& params = p.document()["nodes"];
    CHECK(params["feat"]["params"]["n_mels"] == 32);
    CHECK(params["mel"]["params"]["norm"].is_null());
    CHECK(params["spec"]["params"]["pad_mode"] == "reflect");
    CHECK(p.locate("/nodes/feat/params/n_mels").file == "--set feat.n_mels=32");

    try {
        Preset::load(test::testPresetDir() / "base.json", {"nope.n_mels=32"});
        FAIL("an override of an unknown node was accepted");
    } catch (const Error& e) {
        CHECK_THAT(e.what(), Catch::Contains("has no node 'nope'") && Catch::Contains("feat"));
    }
    CHECK_THROWS_WITH(Preset::load(test::testPresetDir() / "base.json", {"feat=32"}),
                      Catch::Contains("node.param=value"));
}

TEST_CASE("malformed JSON is reported with line and column", "[graph][preset]") {
    try {
        Preset::parse("{\n  \"avgraph\": 1,\n  \"nodes\": {,\n}", "inline.json");
        FAIL("malformed JSON was accepted");
    } catch (const Error& e) {
        CHECK(e.where().file == "inline.json");
        CHECK(e.where().line == 3);
        CHECK(e.where().column == 13);
        CHECK_THAT(e.what(), Catch::StartsWith("inline.json:3:13: malformed JSON"));
    }
}

TEST_CASE("structural mistakes name the pointer", "[graph][preset]") {
    auto errorOf = [](const std::string& text) -> Error {
        try {
            Preset::parse(text, "p.json");
        } catch (const Error& e) {
            return e;
        }
        FAIL("accepted: " << text);
        throw std::logic_error("unreachable");
    };
    CHECK(errorOf(R"({"nodes": {}})").message().find("\"avgraph\": 1") != std::string::npos);
    CHECK(errorOf(R"({"avgraph": 2, "nodes": {"a": {"type": "x.y"}}, "outputs": {"o": "a"}})")
              .where()
              .pointer == "/avgraph");
    CHECK(errorOf(R"({"avgraph": 1, "nodes": {"a": {"type": "x.y", "colour": 1}}, "outputs": {"o": "a"}})")
              .where()
              .pointer == "/nodes/a/colour");
    CHECK(errorOf(R"({"avgraph": 1, "nodes": {"a b": {"type": "x.y"}}, "outputs": {"o": "a b"}})")
              .where()
              .pointer == "/nodes/a b");
    CHECK(
        errorOf(
            R"({"avgraph": 1, "nodes": {"a": {"type": "x.y"}}, "edges": [["audio"]], "outputs": {"o": "a"}})")
            .where()
            .pointer == "/edges/0");
    CHECK(
        errorOf(R"({"avgraph": 1, "nodes": {"a": {"type": "x.y", "device": "tpu"}}, "outputs": {"o": "a"}})")
            .where()
            .pointer == "/nodes/a/device");
    CHECK(errorOf(R"({"avgraph": 1, "nodes": {"audio": {"type": "x.y"}}, "outputs": {"o": "audio"}})")
              .message()
              .find("duplicate id 'audio'") != std::string::npos);
}
