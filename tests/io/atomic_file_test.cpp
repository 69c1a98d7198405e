// Files written whole or not at all: a failed write, whatever its cause, leaves the file that was there
// and no temporary file, and says what failed.
#include "io/atomic_file.h"

#include "graph/error.h"
#include "tests/test_support.h"

#include <catch2/catch.hpp>

#include <csignal>
#include <stdexcept>
#include <sys/resource.h>

using namespace avgraph;
using avgraph::test::filesIn;
namespace fs = std::filesystem;

TEST_CASE("an atomic write replaces the file only once it is whole", "[io][atomic_file]") {
    test::ScratchDir dir;
    const fs::path file = dir / "timeline.csv";
    host::writeFileAtomically(file, "first\n");
    CHECK(test::readBytes(file) == "first\n");
    host::writeFileAtomically(file, "second\n");
    CHECK(test::readBytes(file) == "second\n");
    CHECK(filesIn(dir.path()) == std::vector<std::string>{"timeline.csv"});

    // A writer that fails half-way: its own exception, the old file, no temporary file.
    CHECK_THROWS_WITH(host::writeAtomically(file,
                                            [](std::ostream& out) {
                                                out << "half of a";
                                                throw std::runtime_error("the disk went away");
                                            }),
                      "the disk went away");
    CHECK(test::readBytes(file) == "second\n");
    CHECK(filesIn(dir.path()) == std::vector<std::string>{"timeline.csv"});
}

TEST_CASE("an atomic write that cannot create, write or rename says which, naming the file",
          "[io][atomic_file]") {
    test::ScratchDir dir;

    const fs::path nowhere = dir / "no such folder" / "metrics.json";
    CHECK_THROWS_WITH(host::writeFileAtomically(nowhere, "{}"),
                      Catch::StartsWith(nowhere.string() + ": cannot create the temporary file"));

    // A folder where the file should go: the rename fails, and the folder is left alone.
    const fs::path folder = dir / "report.md";
    fs::create_directories(folder / "inside");
    CHECK_THROWS_WITH(host::writeFileAtomically(folder, "# report\n"),
                      Catch::StartsWith(folder.string() + ": cannot move the finished file into place"));
    CHECK(fs::is_directory(folder / "inside"));
    CHECK(filesIn(dir.path()) == std::vector<std::string>{"report.md"});

    // A full disk, as the file size limit makes one (EFBIG): the old file stays.
    const fs::path file = dir / "features.npy";
    host::writeFileAtomically(file, "old");
    rlimit before{};
    REQUIRE(getrlimit(RLIMIT_FSIZE, &before) == 0);
    auto* old_handler = std::signal(SIGXFSZ, SIG_IGN); // a write past the limit fails instead of killing us
    rlimit small = before;
    small.rlim_cur = 4096;
    REQUIRE(setrlimit(RLIMIT_FSIZE, &small) == 0);
    std::string error;
    try {
        host::writeFileAtomically(file, std::string(1 << 20, 'x'));
    } catch (const Error& e) {
        error = e.what();
    }
    setrlimit(RLIMIT_FSIZE, &before);
    std::signal(SIGXFSZ, old_handler);
    CHECK_THAT(error,
               Catch::StartsWith(file.string() + ": cannot write") && Catch::EndsWith("is the disk full?"));
    CHECK(test::readBytes(file) == "old");
    CHECK(filesIn(dir.path()) == std::vector<std::string>{"features.npy", "report.md"});
}
