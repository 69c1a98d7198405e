#pragma once
// What the host suites share beyond tests/test_support.h: the independent tools they check against (SoX,
// numpy), the bytes of a file, and the files no audio decoder may accept.
#include "tests/test_support.h"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace avgraph::test {

/** The real dataset layouts of ../shared/data/formats (TAU, ESC-50, UrbanSound8K). */
inline fs::path formatsDir() { return sharedDir() / "data/formats"; }

/** A JSON file the test requires to exist. */
inline nlohmann::json readJson(const fs::path& file) {
    std::ifstream in(file);
    REQUIRE(in);
    return nlohmann::json::parse(in);
}

/** A number a shell pipeline prints; a failing pipeline fails the test. */
inline size_t shellCount(const std::string& command) {
    auto r = runShell(command);
    INFO(command << "\n" << r.output);
    REQUIRE(r.exit_code == 0);
    return std::stoul(r.output);
}

/** Runs SoX (/usr/bin/sox) with already-quoted arguments; a failure fails the test with SoX's output. */
inline void sox(const std::string& arguments) {
    auto r = runShell("/usr/bin/sox " + arguments);
    INFO("sox " << arguments << "\n" << r.output);
    REQUIRE(r.exit_code == 0);
}

/**
 * Runs a Python snippet with numpy imported as np and `args` in sys.argv[1:], with Debian's interpreter
 * (the one the goldens were made with); returns what it printed. A failure fails the test.
 */
inline std::string python(const std::string& script, const std::vector<fs::path>& args = {}) {
    std::string cmd = "/usr/bin/python3 -c " + shellQuote("import sys, numpy as np\n" + script);
    for (const auto& a : args)
        cmd += " " + shellQuote(a.string());
    auto r = runShell(cmd);
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    return r.output;
}

/** A path that is no audio file, and words the decoder's error for it must contain. */
struct NotAudio {
    fs::path file;
    std::string error;
};

/**
 * Paths that readAudio and AudioFileStream must refuse, made in `dir`: an empty file, a text file, a WAV
 * of zero frames (made by SoX), a folder and a missing file. The text file's name ends in
 * `text_extension`, which decides the FFmpeg demuxer that tries it after libsndfile.
 */
inline std::vector<NotAudio> notAudioFiles(const ScratchDir& dir, const std::string& text_extension) {
    const fs::path empty = dir / "empty file.wav";
    std::ofstream(empty).close();
    const fs::path text = dir / ("not audio" + text_extension);
    std::ofstream(text) << "hello, this is text and not a RIFF header\n";
    const fs::path silent = dir / "zero frames.wav";
    sox("-n -r 16000 -c 1 " + shellQuote(silent.string()) + " trim 0 0");
    const fs::path folder = dir / "a folder.wav";
    fs::create_directories(folder);
    return {{empty, "cannot open as audio (libsndfile: "},
            {text, "; FFmpeg: "}, // libsndfile's reason first, then FFmpeg's
            {silent, "contains no audio frames"},
            {folder, "folder"},
            {dir / "missing.wav", "no such file"}};
}

} // namespace avgraph::test
