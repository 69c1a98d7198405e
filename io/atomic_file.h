#pragma once
/**
 * Files written whole or not at all.
 *
 * Everything avgraph writes for a user (.npy results, PNGs, timelines, reports, checkpoints, the
 * output folder's manifest) goes through here, so that a run killed half-way or a full disk never
 * leaves a truncated file where a good one was: the bytes go to a temporary file beside the target,
 * named with the process id (data-parallel ranks and shards writing the same folder keep apart), and
 * a rename puts it in place only once every byte is written and the stream closed.
 */
#include <filesystem>
#include <functional>
#include <ostream>
#include <string>

namespace avgraph::host {

/**
 * Writes `file` through `write`, given a binary stream on `file` + ".tmp-<pid>", then renames it over
 * `file`. On any failure the temporary file is removed, `file` is left as it was, and the error is
 * thrown: an exception of `write` as it was, or an avgraph::Error naming `file` that says whether
 * the temporary file could not be created, written ("is the disk full?") or moved into place.
 */
void writeAtomically(const std::filesystem::path& file, const std::function<void(std::ostream&)>& write);

/** writeAtomically for text. */
void writeFileAtomically(const std::filesystem::path& file, const std::string& text);

} // namespace avgraph::host
