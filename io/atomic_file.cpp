#include "io/atomic_file.h"

#include "graph/error.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <unistd.h>

namespace avgraph::host {

namespace fs = std::filesystem;

void writeAtomically(const fs::path& file, const std::function<void(std::ostream&)>& write) {
    fs::path tmp = file;
    tmp += ".tmp-" + std::to_string(::getpid());
    const Location where{file.string(), "", "", 0, 0};
    try {
        std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
        if (!out)
            throw Error(where,
                        "cannot create the temporary file " + tmp.string() + ": " + std::strerror(errno));
        write(out);
        out.close(); // where some file systems (NFS) first report a failed write
        if (!out)
            throw Error(where, "cannot write " + tmp.filename().string() + " (" + std::strerror(errno) +
                                   "); is the disk full?");
        std::error_code ec;
        fs::rename(tmp, file, ec);
        if (ec)
            throw Error(where, "cannot move the finished file into place: " + ec.message());
    } catch (...) {
        std::error_code ignored;
        fs::remove(tmp, ignored);
        throw;
    }
}

void writeFileAtomically(const fs::path& file, const std::string& text) {
    writeAtomically(file, [&](std::ostream& out) { out << text; });
}

} // namespace avgraph::host
