#pragma once
/**
 * The audio files a command was pointed at: files, folders (searched recursively for audio) and
 * lists (.txt/.lst/.list: one path a line, relative to the list, '#' starts a comment).
 */
#include <filesystem>
#include <string>
#include <vector>

namespace avgraph::host {

struct InputFile {
    std::filesystem::path path;
    /** Where its outputs go below the output folder: empty for a single input, else a unique
     *  relative folder (the path below the inputs' common folder, without extension). */
    std::filesystem::path output_subdir;
};

/** Expands the --input arguments; throws avgraph::Error naming what was not found. */
std::vector<InputFile> expandInputs(const std::vector<std::string>& arguments);

/** Whether a file name has an extension libsndfile decodes (wav, flac, ogg, ...). */
bool isAudioFileName(const std::filesystem::path& file);

/** The audio files (by name, as isAudioFileName) anywhere below `dir`, sorted. */
std::vector<std::filesystem::path> audioFilesUnder(const std::filesystem::path& dir);

} // namespace avgraph::host
