#include "io/output_folder.h"

#include "graph/error.h"
#include "io/atomic_file.h"
#include "io/media/media_file.h"
#include "io/npy.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <sys/file.h>
#include <unistd.h>

namespace avgraph::host {

namespace fs = std::filesystem;

namespace {
constexpr const char* kManifest = ".avgraph-outputs";
}

OutputFolder::OutputFolder(fs::path dir, std::string option)
    : dir_(std::move(dir)), option_(std::move(option)) {
    if (fs::exists(dir_) && !fs::is_directory(dir_))
        throw fileError(dir_, "the output path is a file, expected a folder");
    std::error_code ec;
    fs::create_directories(dir_, ec);
    if (ec)
        throw fileError(dir_, "cannot create the output folder: " + ec.message());
    std::ifstream in(dir_ / kManifest);
    std::string line;
    while (std::getline(in, line))
        if (!line.empty())
            ours_.insert(line);
}

fs::path OutputFolder::prepare(const fs::path& relative) {
    fs::path full = dir_ / relative;
    if (fs::exists(full) && !ours_.count(relative.generic_string()))
        throw fileError(full, "exists and was not written by avgraph; choose another " + option_ +
                                  " folder or move the file");
    std::error_code ec;
    fs::create_directories(full.parent_path(), ec);
    if (ec)
        throw fileError(full.parent_path(), "cannot create the folder: " + ec.message());
    return full;
}

void OutputFolder::record(const fs::path& relative) {
    if (ours_.insert(relative.generic_string()).second)
        saveManifest();
}

void OutputFolder::record(const std::vector<std::string>& relatives) {
    bool added = false;
    for (const auto& relative : relatives)
        added |= ours_.insert(fs::path(relative).generic_string()).second;
    if (added)
        saveManifest();
}

fs::path OutputFolder::writeNpy(const fs::path& relative, const torch::Tensor& tensor) {
    fs::path full = prepare(relative);
    host::writeNpy(full, tensor);
    record(relative);
    return full;
}

fs::path OutputFolder::writePng(const fs::path& relative, const torch::Tensor& rgb) {
    fs::path full = prepare(relative);
    try {
        host::writePng(full, rgb);
    } catch (const std::exception& e) {
        throw Error({}, e.what()); // writePng's messages start with the file
    }
    record(relative);
    return full;
}

void OutputFolder::saveManifest() const {
    // Shards of one input list (`avgraph run --shard`) may write into one folder at the same time: under an
    // exclusive lock on the folder, keep what the others recorded since this run read the manifest, and
    // write through a temporary file of this process, so that no run's entries are lost.
    const int lock = ::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (lock < 0 || ::flock(lock, LOCK_EX) != 0) {
        const std::string reason = std::strerror(errno);
        if (lock >= 0)
            ::close(lock);
        throw fileError(dir_, "cannot lock the output folder: " + reason);
    }
    std::set<std::string> all = ours_;
    {
        std::ifstream in(dir_ / kManifest);
        std::string line;
        while (std::getline(in, line))
            if (!line.empty())
                all.insert(line);
    }
    try {
        writeAtomically(dir_ / kManifest, [&](std::ostream& out) {
            for (const auto& k : all)
                out << k << "\n";
        });
    } catch (...) {
        ::close(lock); // releases the lock
        throw;
    }
    ::close(lock);
}

torch::Tensor clipOf(const Value& value, int64_t index) {
    torch::Tensor t = value.tensor.select(0, index);
    if (value.axes.size() > 1 && value.axes[1] == "channel" && t.dim() > 0 && t.size(0) == 1)
        t = t.squeeze(0);
    return t.detach().to(torch::kCPU);
}

} // namespace avgraph::host
