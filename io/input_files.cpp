#include "io/input_files.h"

#include "graph/error.h"

#include <algorithm>
#include <fstream>
#include <map>
#include <set>

namespace avgraph::host {

namespace fs = std::filesystem;

namespace {
std::string lower(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
    return s;
}

bool isListFile(const fs::path& file) {
    auto ext = lower(file.extension().string());
    return ext == ".txt" || ext == ".lst" || ext == ".list";
}

void addListed(const fs::path& list, std::vector<fs::path>& out) {
    std::ifstream in(list);
    if (!in)
        throw fileError(list, "cannot read the input list");
    std::string line;
    int number = 0;
    while (std::getline(in, line)) {
        ++number;
        if (!line.empty() && line.back() == '\r')
            line.pop_back();
        auto first = line.find_first_not_of(" \t");
        if (first == std::string::npos || line[first] == '#')
            continue;
        line = line.substr(first, line.find_last_not_of(" \t") - first + 1);
        fs::path p = line;
        if (p.is_relative())
            p = list.parent_path() / p;
        if (!fs::is_regular_file(p))
            throw Error({list.string(), "", "", number, 1}, "listed file not found: " + p.string());
        out.push_back(p);
    }
}
} // namespace

Shard parseShard(const std::string& text, const std::string& option) {
    // Digits only (no sign, no spaces): std::stoul would take " 2" or "-1" (wrapping to a huge count).
    auto number = [](const std::string& s, size_t& value) {
        if (s.empty() || s.size() > 9 || s.find_first_not_of("0123456789") != std::string::npos)
            return false;
        value = std::stoul(s);
        return true;
    };
    const auto slash = text.find('/');
    Shard shard;
    if (slash == std::string::npos || !number(text.substr(0, slash), shard.index) ||
        !number(text.substr(slash + 1), shard.count))
        throw Error({}, option + " " + text + ": expected INDEX/COUNT, e.g. 1/4 (shard 1 of 4)");
    if (shard.count < 1 || shard.index < 1 || shard.index > shard.count)
        throw Error({}, option + " " + text + ": expected 1 <= INDEX <= COUNT (shards are numbered 1 to " +
                            std::to_string(shard.count) + ")");
    return shard;
}

std::pair<size_t, size_t> shardRange(size_t total, const Shard& shard) {
    const size_t k = shard.index - 1, base = total / shard.count, extra = total % shard.count;
    const size_t begin = k * base + std::min(k, extra);
    return {begin, begin + base + (k < extra ? 1 : 0)};
}

bool isAudioFileName(const fs::path& file) {
    static const std::set<std::string> known{".wav",  ".wave", ".flac", ".ogg",  ".oga",
                                             ".opus", ".mp3",  ".aif",  ".aiff", ".aifc",
                                             ".au",   ".snd",  ".caf",  ".w64",  ".rf64"};
    return known.count(lower(file.extension().string())) > 0;
}

bool isVideoFileName(const fs::path& file) {
    static const std::set<std::string> known{".mp4", ".m4v",  ".mov", ".webm", ".mkv", ".avi",
                                             ".mpg", ".mpeg", ".ogv", ".flv",  ".wmv", ".3gp"};
    return known.count(lower(file.extension().string())) > 0;
}

std::vector<fs::path> audioFilesUnder(const fs::path& dir) {
    std::vector<fs::path> files;
    for (const auto& entry : fs::recursive_directory_iterator(dir))
        if (entry.is_regular_file() && isAudioFileName(entry.path()))
            files.push_back(entry.path());
    std::sort(files.begin(), files.end());
    return files;
}

bool isImageFileName(const fs::path& file) {
    static const std::set<std::string> known{".jpg", ".jpeg", ".png", ".bmp", ".webp"};
    return known.count(lower(file.extension().string())) > 0;
}

InputKind audioInputs() { return {isAudioFileName, "audio files (wav, flac, ogg, ...)"}; }
InputKind videoInputs() { return {isVideoFileName, "video files (mp4, mov, webm, mkv, ...)"}; }
InputKind imageInputs() { return {isImageFileName, "image files (jpg, jpeg, png, bmp, webp)"}; }

std::vector<InputFile> expandInputs(const std::vector<std::string>& arguments, InputKind kind) {
    std::vector<fs::path> files;
    for (const auto& arg : arguments) {
        fs::path p = arg;
        if (fs::is_directory(p)) {
            std::vector<fs::path> found;
            for (const auto& entry :
                 fs::recursive_directory_iterator(p, fs::directory_options::follow_directory_symlink))
                if (entry.is_regular_file() && kind.accepts(entry.path()))
                    found.push_back(entry.path());
            if (found.empty())
                throw fileError(arg, std::string("the folder holds no ") + kind.description);
            std::sort(found.begin(), found.end());
            files.insert(files.end(), found.begin(), found.end());
        } else if (fs::is_regular_file(p)) {
            if (isListFile(p))
                addListed(p, files);
            else
                files.push_back(p);
        } else {
            throw fileError(arg, "input not found");
        }
    }
    std::vector<InputFile> out;
    if (files.size() == 1) {
        out.push_back({files[0], {}});
        return out;
    }
    // Outputs of many inputs go below the output folder at each file's path relative to the
    // inputs' common folder, so that same-named files from different folders stay apart.
    fs::path common = fs::absolute(files[0]).parent_path().lexically_normal();
    for (const auto& f : files) {
        fs::path dir = fs::absolute(f).parent_path().lexically_normal();
        while (!common.empty() && dir.lexically_relative(common).string().rfind("..", 0) == 0)
            common = common.parent_path();
    }
    std::map<fs::path, int> used;
    for (const auto& f : files) {
        fs::path rel = fs::absolute(f).lexically_normal().lexically_relative(common);
        fs::path sub = rel.parent_path() / rel.stem();
        if (used[sub]++ > 0) // a.wav and a.flac side by side
            sub = rel.parent_path() / rel.filename();
        out.push_back({f, sub});
    }
    return out;
}

} // namespace avgraph::host
