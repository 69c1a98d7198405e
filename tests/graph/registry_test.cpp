#include "graph/graph.h"
#include "graph/registry.h"
#include "nodes/builtin_nodes.h"

#include "tests/test_support.h"

#include <catch2/catch.hpp>

#include <fstream>

using namespace avgraph;
namespace fs = std::filesystem;

TEST_CASE("a third-party node library loads by path and its nodes run", "[graph][registry][library]") {
    Registry r;
    nodes::registerBuiltinNodes(r);
    REQUIRE(r.find("example.gain") == nullptr);
    r.loadLibrary(test::exampleNodeLibrary());
    const NodeSpec* gain = r.find("example.gain");
    REQUIRE(gain != nullptr);
    CHECK(gain->streams);
    r.loadLibrary(test::exampleNodeLibrary()); // the same file again is a no-op, not a duplicate type

    // The same library named by a preset, relative to the preset's folder.
    test::ScratchDir dir;
    fs::copy_file(test::exampleNodeLibrary(), dir / "libmine.so");
    std::ofstream(dir / "p.json") << R"({"avgraph": 1, "node_libraries": ["libmine.so"],
        "nodes": {"g": {"type": "example.gain", "params": {"gain_db": 20}}},
        "edges": [["audio", "g"]], "outputs": {"out": "g"}})";
    Registry fresh;
    nodes::registerBuiltinNodes(fresh);
    Graph g = Graph::build(Preset::load(dir / "p.json"), fresh);
    Value in;
    in.tensor = torch::full({1, 1, 8}, 0.5f);
    in.kind = Kind::Audio;
    auto out = g.node(g.find("g")).process({{"in", in}});
    CHECK(torch::allclose(out.at("out").tensor, torch::full({1, 1, 8}, 5.0f))); // +20 dB = x10
}

TEST_CASE("node libraries that cannot be used are refused with the reason", "[graph][registry][library]") {
    Registry r;
    test::ScratchDir dir;
    auto messageOf = [&](const fs::path& lib) {
        try {
            r.loadLibrary(lib);
        } catch (const Error& e) {
            CHECK(e.where().file == lib.string());
            return std::string(e.what());
        }
        FAIL("loaded " << lib);
        return std::string();
    };
    CHECK_THAT(messageOf(test::binaryDir() / "lib/libwrong_abi_nodes.so"),
               Catch::Contains("built for \"avgraph-node-abi 0") && Catch::Contains("rebuild"));
    CHECK_THAT(messageOf(dir / "absent.so"), Catch::Contains("not found"));
    std::ofstream(dir / "text.so") << "not a shared object";
    CHECK_THAT(messageOf(dir / "text.so"), Catch::Contains("cannot load node library"));
    // A real shared object without the entry points.
    CHECK_THAT(messageOf(test::binaryDir() / "lib/libavgraph_nodes.so"),
               Catch::Contains("not an avgraph node library"));
    CHECK(r.find("example.gain") == nullptr);
}

TEST_CASE("the registry rejects incomplete or duplicate specs", "[graph][registry]") {
    Registry r;
    nodes::registerBuiltinNodes(r);
    NodeSpec copy = *r.find("features.logmel");
    CHECK_THROWS_WITH(r.add(copy), Catch::Contains("registered twice"));
    NodeSpec nameless;
    nameless.type = "nofamily";
    CHECK_THROWS_WITH(r.add(nameless), Catch::Contains("family.name"));
    CHECK(r.suggest("features.logmle") == std::vector<std::string>{"features.logmel"});
}
