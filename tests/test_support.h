#pragma once
// What the suites share: where things are, scratch folders, and running the avgraph CLI.
#include <algorithm>
#include <arpa/inet.h>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <netinet/in.h>
#include <random>
#include <string>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

namespace avgraph::test {

namespace fs = std::filesystem;

/** ../shared beside the checkout: goldens and real data (tests may read it, the product never). */
inline fs::path sharedDir() { return AVGRAPH_SHARED_DIR; }
inline fs::path sourceDir() { return AVGRAPH_SOURCE_DIR; }
inline fs::path binaryDir() { return AVGRAPH_BINARY_DIR; }
/** The presets the engine's tests build, broken ones included (tests/data/presets). */
inline fs::path testPresetDir() { return sourceDir() / "tests/data/presets"; }
inline fs::path avgraphExe() { return binaryDir() / "bin" / "avgraph"; }
inline fs::path exampleNodeLibrary() { return binaryDir() / "lib" / "libavgraph_example_nodes.so"; }
/** A real ESC-10 clip whose path has spaces. */
inline fs::path esc10Clip() { return sharedDir() / "data/esc10/001 - Dog bark/1-100032-A.ogg"; }

/** A fresh folder under the system temp folder, removed when the test ends. */
class ScratchDir {
public:
    ScratchDir() {
        std::random_device rd;
        path_ = fs::temp_directory_path() / ("avgraph-test-" + std::to_string(rd()) + std::to_string(rd()));
        fs::create_directories(path_);
    }
    ~ScratchDir() {
        std::error_code ec;
        fs::remove_all(path_, ec);
    }
    ScratchDir(const ScratchDir&) = delete;
    ScratchDir& operator=(const ScratchDir&) = delete;
    const fs::path& path() const { return path_; }
    fs::path operator/(const std::string& name) const { return path_ / name; }

private:
    fs::path path_;
};

/** The bytes of a file ("" when it cannot be read). */
inline std::string readBytes(const fs::path& file) {
    std::ifstream in(file, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

/** Every file name in a folder, sorted. */
inline std::vector<std::string> filesIn(const fs::path& dir) {
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(dir))
        names.push_back(e.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
}

/** Single-quotes an argument for /bin/sh. */
inline std::string shellQuote(const std::string& s) {
    std::string out = "'";
    for (char c : s)
        out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return out + "'";
}

/** A path single-quoted for /bin/sh, for the command lines the suites run. */
inline std::string q(const fs::path& p) { return shellQuote(p.string()); }

struct CommandResult {
    int exit_code = -1;
    std::string output; ///< standard output and standard error together
};

/** Runs a shell command line, capturing its output. */
inline CommandResult runShell(const std::string& command) {
    CommandResult r;
    FILE* pipe = popen((command + " 2>&1").c_str(), "r");
    if (!pipe)
        return r;
    char buffer[4096];
    size_t n;
    while ((n = fread(buffer, 1, sizeof buffer, pipe)) > 0)
        r.output.append(buffer, n);
    int status = pclose(pipe);
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return r;
}

/** Runs `avgraph` with already-quoted arguments. */
inline CommandResult runAvgraph(const std::string& arguments) {
    return runShell(shellQuote(avgraphExe().string()) + " " + arguments);
}

/** A TCP port that was free a moment ago on 127.0.0.1 (bind port 0, read it, close); -1 on failure. */
inline int freePort() {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = 0;
    socklen_t length = sizeof address;
    int port = -1;
    if (bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0 &&
        getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0)
        port = ntohs(address.sin_port);
    close(fd);
    return port;
}

} // namespace avgraph::test
