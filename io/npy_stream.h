#pragma once
// A .npy file written piece by piece, for results as long as a recording that is too long to hold.
//
// writeNpy (io/npy.h) writes a tensor that is whole in memory. A streaming run produces its result
// a block at a time (a spectrogram's frames, an embedding per second), so this writer appends each piece
// to disk as it comes and only fixes the header's shape at the end. The finished file is byte for byte
// what writeNpy would write for the pieces concatenated, so readers cannot tell the two apart.
//
//     avgraph::host::NpyStreamWriter out("night.logmel.npy", {128, 0}, 1);  // [bins, frames], growing in
//     frames for (...)
//         out.append(logmel_block);                                          // [128, n]
//     out.finish([&](torch::Tensor& db) { db.clamp_min_(out.maximum() - 80.0); });
//
// Along the leading axis a piece is simply appended to the file. Along any other axis the values of one
// piece are not adjacent in the final C order, so pieces go to a temporary file growing-axis-major and
// finish() rewrites them in C order a few megabytes at a time: memory stays bounded by a piece and that
// chunk, never by the array.

#include <torch/types.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <vector>

namespace avgraph::host {

/**
 * A float32 .npy written piece by piece along one growing axis, so a result as long as the recording never
 * sits in memory. `shape` gives every extent but the growing axis (its entry is ignored). Pieces are
 * appended with `append` ([..., n, ...] with the same other extents, n >= 0, any float dtype, any device).
 * `finish(transform)` fixes the header's shape and moves the file into place atomically (like writeNpy:
 * <file>.tmp-<pid> then rename), optionally applying `transform` to every chunk of values on the way
 * (used to clip decibels `top_db` below the final maximum). Destroying without finish removes the
 * temporaries and leaves any existing `file` untouched.
 *
 * Errors are std::runtime_error whose message starts with the path: a shape or axis that does not fit, a
 * piece of another shape or of a non-floating dtype, an I/O failure (the writer is then broken: later
 * calls throw, and the temporaries go when it is destroyed).
 */
class NpyStreamWriter {
public:
    /**
     * Creates `<file>.tmp-<pid>` (and, for a growing axis other than the first, `<file>.pieces.tmp-<pid>`)
     * beside `file`. `growing_axis` may count from the end (-1: the last axis).
     */
    NpyStreamWriter(std::filesystem::path file, std::vector<int64_t> shape, int64_t growing_axis);
    ~NpyStreamWriter();
    NpyStreamWriter(const NpyStreamWriter&) = delete;
    NpyStreamWriter& operator=(const NpyStreamWriter&) = delete;

    /** Appends a piece shaped like the array with n >= 0 along the growing axis, stored as float32. */
    void append(const torch::Tensor& piece);
    /** Extent of the growing axis so far. */
    int64_t length() const;
    /** Maximum of all values appended so far (-inf when none; NaN propagates), of the float32 values stored.
     */
    double maximum() const;
    /**
     * Writes the final header and renames the file into place. `transform`, when given, sees every value
     * once, in slices of the final array along the growing axis (float32, CPU, contiguous, at most a few
     * megabytes each) and may change them in place; it must keep a slice's shape. Nothing more may be
     * appended afterwards; a second finish throws.
     */
    void finish(const std::function<void(torch::Tensor&)>& transform = {});
    const std::filesystem::path& path() const;

private:
    void writeAt(int fd, const void* data, size_t bytes, int64_t offset, const std::filesystem::path& where);
    void readAt(int fd, void* data, size_t bytes, int64_t offset);
    void removeTemporaries() noexcept;
    [[noreturn]] void broken(const std::string& what);

    std::filesystem::path file_, tmp_, pieces_;
    std::vector<int64_t> shape_; // the growing axis's entry holds length_ once finished
    int64_t axis_ = 0;
    int64_t outer_ = 1, inner_ = 1; // values before and after the growing axis, per step along it
    int64_t length_ = 0;
    double maximum_;
    size_t header_bytes_ = 0; // reserved at the head of tmp_ (growing axis 0)
    int tmp_fd_ = -1, pieces_fd_ = -1;
    bool finished_ = false, failed_ = false;
};

} // namespace avgraph::host
