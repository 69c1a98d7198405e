#pragma once
/**
 * The folder `avgraph run`, `eval` and `report` write into, and the layout of what they write.
 *
 * Files are written atomically. A file that exists already is replaced only when an earlier
 * avgraph run wrote it (the folder's `.avgraph-outputs` lists those), so a user's own files are
 * never overwritten.
 */
#include "graph/value.h"

#include <filesystem>
#include <set>
#include <string>
#include <vector>

namespace avgraph::host {

class OutputFolder {
public:
    /** Creates the folder if needed; throws avgraph::Error if it is a file or cannot be made.
     *  `option` is how the user named the folder, for the message that refuses to replace a file. */
    explicit OutputFolder(std::filesystem::path dir, std::string option = "--output");

    /** Writes `relative` (e.g. "dog/logmel.npy") as float32 .npy; returns the full path. */
    std::filesystem::path writeNpy(const std::filesystem::path& relative, const torch::Tensor& tensor);
    /** Writes `relative` (e.g. "photo/image.png") as an 8-bit RGB PNG of a [3, H, W] value in [0, 255]
     *  (clamped and rounded, io/media/media_file.h writePng); returns the full path. */
    std::filesystem::path writePng(const std::filesystem::path& relative, const torch::Tensor& rgb);
    /** Records what was written, so a later run may replace it, keeping what runs writing into the folder at
     *  the same time (shards) recorded. Called after every file too. */
    void saveManifest() const;

    const std::filesystem::path& dir() const { return dir_; }

    /** The full path of `relative`, its folder made, after checking that the file is ours to replace:
     *  for files written by other means (a streamed .npy, the timeline); `record` them once written. */
    std::filesystem::path prepare(const std::filesystem::path& relative);
    /** Records a written file in the manifest. */
    void record(const std::filesystem::path& relative);
    /** Records several files with one write of the manifest. */
    void record(const std::vector<std::string>& relatives);

private:
    std::filesystem::path dir_;
    std::string option_;
    std::set<std::string> ours_;
};

/**
 * One clip of a batched value in its natural layout: the batch axis goes, and so does a channel
 * axis of size one, giving e.g. [bins, frames] for a mono spectrum as librosa returns it.
 */
torch::Tensor clipOf(const Value& value, int64_t index);

} // namespace avgraph::host
