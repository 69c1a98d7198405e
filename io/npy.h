#pragma once
// NumPy `.npy` files: how avgraph hands features to Python and reads golden references back.
//
// Only plain C-order arrays of a few little-endian numeric types are handled; that is all features and
// goldens need, and refusing the rest with a clear message beats guessing. The format is described in
// numpy's `numpy/lib/format.py` (NEP 1).

#include <torch/torch.h>

#include <filesystem>
#include <string>

namespace avgraph::host {

/**
 * Writes `tensor` as a `.npy` file that `numpy.load` reads back with the same shape and values.
 *
 * Floating tensors of any precision are stored as float32 (`<f4`), because that is what the feature
 * goldens and downstream Python use; int64, int32, uint8 and bool are kept as `<i8`, `<i4`, `|u1`,
 * `|b1`. The tensor is copied to contiguous CPU memory first, so views and GPU tensors are fine. The
 * header is laid out as numpy does (format 1.0, or 2.0 only if the header outgrows 1.0's 64 KiB; padded
 * with spaces to a multiple of 64 bytes, ending in '\n'), so the data is aligned for memory mapping.
 *
 * The file is written to `<file>.tmp-<pid>` beside it and then renamed over `file`, so a reader never
 * sees a half-written array, even if the process dies mid-write (it is not fsync'ed, so a power cut may
 * still lose it).
 *
 * @throws avgraph::Error (a std::runtime_error) naming the file for an unsupported dtype (complex, int8, int16, ...) or
 *         an I/O failure.
 */
void writeNpy(const std::filesystem::path& file, const torch::Tensor& tensor);

/**
 * The bytes writeNpy writes before the data of a C-order array with numpy's dtype descriptor `descr`
 * ("<f4", "|u1", ...) and this shape: the magic, the format version and numpy's header dict, padded as
 * numpy pads it. numpy leaves room in the dict for the first extent to grow to 21 digits, so the length
 * does not depend on it: a writer that grows an array along its first axis can rewrite the header in
 * place at the end (NpyStreamWriter, io/npy_stream.h).
 */
std::string npyHeader(const std::string& descr, torch::IntArrayRef shape);

/**
 * Reads a C-order `.npy` array (format 1.0, 2.0 or 3.0) into a CPU tensor of the matching dtype.
 *
 * Supported dtypes: `<f4` (float32), `<f8` (float64: kept, so golden comparisons do not lose
 * precision), `<i8` (int64), `<i4` (int32), `|u1` (uint8), `|b1` (bool). Shapes may be 0-D or have zero
 * extents. Bytes after the array's data are ignored, as numpy does.
 *
 * @throws avgraph::Error (a std::runtime_error) whose message starts with the path for a missing file, bad magic, a
 *         malformed header, `fortran_order: True`, an unsupported dtype (big-endian, structured,
 *         object, ...), or data shorter than the shape requires.
 */
torch::Tensor readNpy(const std::filesystem::path& file);

} // namespace avgraph::host
