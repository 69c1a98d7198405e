#include "io/input_files.h"

#include "graph/error.h"
#include "tests/test_support.h"

#include <catch2/catch.hpp>

#include <fstream>

using namespace avgraph;
namespace fs = std::filesystem;

TEST_CASE("inputs expand from files, folders and lists, with unique output folders", "[host][inputs]") {
    fs::path esc10 = test::sharedDir() / "data/esc10";
    SECTION("a single file writes straight into the output folder") {
        auto in = host::expandInputs({test::esc10Clip().string()});
        REQUIRE(in.size() == 1);
        CHECK(in[0].output_subdir.empty());
    }
    SECTION("a folder is searched recursively, sorted, audio only") {
        auto in = host::expandInputs({(esc10 / "002 - Rain").string()});
        CHECK(in.size() == 40);
        CHECK(std::is_sorted(in.begin(), in.end(), [](auto& a, auto& b) { return a.path < b.path; }));
        CHECK(in[0].output_subdir == fs::path(in[0].path.stem()));
    }
    SECTION("a list names files relative to itself; same stems in two folders stay apart") {
        test::ScratchDir dir;
        fs::create_directories(dir / "a");
        fs::create_directories(dir / "b");
        fs::copy_file(test::esc10Clip(), dir / "a/clip.ogg");
        fs::copy_file(test::esc10Clip(), dir / "b/clip.ogg");
        fs::copy_file(test::esc10Clip(), dir / "b/clip.wav");
        std::ofstream(dir / "list.txt") << "# three clips\na/clip.ogg\n\n  b/clip.ogg  \n"
                                        << (dir / "b/clip.wav").string() << "\n";
        auto in = host::expandInputs({(dir / "list.txt").string()});
        REQUIRE(in.size() == 3);
        CHECK(in[0].output_subdir == fs::path("a/clip"));
        CHECK(in[1].output_subdir == fs::path("b/clip"));
        CHECK(in[2].output_subdir == fs::path("b/clip.wav"));
    }
    SECTION("what is missing is named") {
        CHECK_THROWS_WITH(host::expandInputs({"/no/such/clip.wav"}),
                          Catch::Contains("/no/such/clip.wav") && Catch::Contains("input not found"));
        test::ScratchDir dir;
        std::ofstream(dir / "list.txt") << "missing.wav\n";
        try {
            host::expandInputs({(dir / "list.txt").string()});
            FAIL("a list naming a missing file was accepted");
        } catch (const Error& e) {
            CHECK(e.where().line == 1);
            CHECK_THAT(e.what(), Catch::Contains("listed file not found"));
        }
        CHECK_THROWS_WITH(host::expandInputs({dir.path().string() + "/"}) /* only list.txt inside */,
                          Catch::Contains("holds no audio files"));
    }
}
