#pragma once
/**
 * The audio files a command was pointed at: files, folders (searched recursively for audio) and
 * lists (.txt/.lst/.list: one path a line, relative to the list, '#' starts a comment).
 */
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

namespace avgraph::host {

struct InputFile {
    std::filesystem::path path;
    /** Where its outputs go below the output folder: empty for a single input, else a unique
     *  relative folder (the path below the inputs' common folder, without extension). */
    std::filesystem::path output_subdir;
};

/** Which files a folder given as an input contributes: a test of the name, and what they are called. */
struct InputKind {
    bool (*accepts)(const std::filesystem::path&);
    const char* description; ///< e.g. "audio files (wav, flac, ogg, ...)", for the empty-folder error
};

/** Audio files by name (isAudioFileName): what expandInputs searches folders for by default. */
InputKind audioInputs();
/** Image files by name (jpg, jpeg, png, bmp, webp), for a preset whose input is an image. */
InputKind imageInputs();
/** Video files by name (isVideoFileName): the inputs of an audio-visual preset (its sound and a frame). */
InputKind videoInputs();

/** Expands the --input arguments, searching folders for `kind`'s files; throws avgraph::Error naming
 *  what was not found. */
std::vector<InputFile> expandInputs(const std::vector<std::string>& arguments,
                                    InputKind kind = audioInputs());

/** One of `count` parts of an input list (`avgraph run --shard INDEX/COUNT`, INDEX 1-based). */
struct Shard {
    size_t index = 1;
    size_t count = 1;
};

/** Reads "i/n" with 1 <= i <= n; throws avgraph::Error naming `option` and what was expected. */
Shard parseShard(const std::string& text, const std::string& option = "--shard");

/** The half-open range [begin, end) of shard `shard` of `total` items: contiguous, in order, sizes differing
 *  by at most one, the first shards taking the extra ones, so the n shards cover each item exactly once. */
std::pair<size_t, size_t> shardRange(size_t total, const Shard& shard);

/** Whether a file name has an extension libsndfile decodes (wav, flac, ogg, ...). */
bool isAudioFileName(const std::filesystem::path& file);
/** Whether a file name has an image extension (jpg, jpeg, png, bmp, webp; any case). */
bool isImageFileName(const std::filesystem::path& file);
/** Whether a file name has a video container's extension (mp4, mov, webm, mkv, avi, ...). */
bool isVideoFileName(const std::filesystem::path& file);

/** The audio files (by name, as isAudioFileName) anywhere below `dir`, sorted. */
std::vector<std::filesystem::path> audioFilesUnder(const std::filesystem::path& dir);

} // namespace avgraph::host
