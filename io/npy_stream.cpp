#include "io/npy_stream.h"

#include "io/npy.h"

#include <torch/torch.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <fcntl.h>
#include <limits>
#include <stdexcept>
#include <string>
#include <unistd.h>

// Values are copied byte for byte between tensors and the file, and .npy's '<f4' is little-endian.
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "npy_stream.cpp assumes a little-endian host");

namespace avgraph::host {

namespace fs = std::filesystem;

namespace {

// What finish() holds at once while it reorders or transforms: large enough that each pwrite moves tens
// of kilobytes even for a few hundred rows, small enough to be nothing beside the model.
constexpr int64_t kChunkBytes = int64_t(4) << 20;

std::string growingShapeText(const std::vector<int64_t>& shape, int64_t axis, const char* growing) {
    std::string s = "[";
    for (size_t i = 0; i < shape.size(); ++i)
        s += (i ? ", " : "") + (int64_t(i) == axis ? std::string(growing) : std::to_string(shape[i]));
    return s + "]";
}

int createTemporary(const fs::path& file, const fs::path& tmp) {
    const int fd = ::open(tmp.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (fd < 0)
        throw std::runtime_error(file.string() + ": cannot create the temporary file " + tmp.string() + ": " +
                                 std::strerror(errno));
    return fd;
}

} // namespace

NpyStreamWriter::NpyStreamWriter(fs::path file, std::vector<int64_t> shape, int64_t growing_axis)
    : file_(std::move(file)), shape_(std::move(shape)), maximum_(-std::numeric_limits<double>::infinity()) {
    const int64_t rank = int64_t(shape_.size());
    if (rank == 0)
        throw std::runtime_error(file_.string() + ": a streamed .npy needs at least one axis to grow along");
    if (growing_axis < -rank || growing_axis >= rank)
        throw std::runtime_error(file_.string() + ": growing axis " + std::to_string(growing_axis) +
                                 " is not an axis of a " + std::to_string(rank) + "-D array; expected 0 to " +
                                 std::to_string(rank - 1) + " (or -1 for the last)");
    axis_ = growing_axis < 0 ? growing_axis + rank : growing_axis;
    shape_[size_t(axis_)] = 0;
    for (int64_t i = 0; i < rank; ++i) {
        if (shape_[size_t(i)] < 0)
            throw std::runtime_error(file_.string() + ": shape " + growingShapeText(shape_, axis_, "*") +
                                     " has a negative extent");
        if (i < axis_)
            outer_ *= shape_[size_t(i)];
        else if (i > axis_)
            inner_ *= shape_[size_t(i)];
    }

    tmp_ = file_;
    tmp_ += ".tmp-" + std::to_string(::getpid());
    tmp_fd_ = createTemporary(file_, tmp_);
    try {
        if (axis_ == 0) {
            const std::string header = npyHeader("<f4", shape_);
            header_bytes_ = header.size();
            writeAt(tmp_fd_, header.data(), header.size(), 0, tmp_);
        } else {
            pieces_ = file_;
            pieces_ += ".pieces.tmp-" + std::to_string(::getpid());
            pieces_fd_ = createTemporary(file_, pieces_);
        }
    } catch (...) {
        removeTemporaries();
        throw;
    }
}

NpyStreamWriter::~NpyStreamWriter() {
    if (!finished_)
        removeTemporaries();
}

void NpyStreamWriter::removeTemporaries() noexcept {
    for (int* fd : {&tmp_fd_, &pieces_fd_})
        if (*fd >= 0) {
            ::close(*fd);
            *fd = -1;
        }
    std::error_code ignored;
    if (!tmp_.empty())
        fs::remove(tmp_, ignored);
    if (!pieces_.empty())
        fs::remove(pieces_, ignored);
}

void NpyStreamWriter::broken(const std::string& what) {
    failed_ = true;
    throw std::runtime_error(file_.string() + ": " + what);
}

void NpyStreamWriter::writeAt(int fd, const void* data, size_t bytes, int64_t offset, const fs::path& where) {
    const char* p = static_cast<const char*>(data);
    while (bytes > 0) {
        const ssize_t n = ::pwrite(fd, p, bytes, off_t(offset));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            broken("writing " + where.string() + " failed (" + std::strerror(n < 0 ? errno : EIO) +
                   "); is the disk full?");
        p += n;
        bytes -= size_t(n);
        offset += n;
    }
}

void NpyStreamWriter::readAt(int fd, void* data, size_t bytes, int64_t offset) {
    char* p = static_cast<char*>(data);
    while (bytes > 0) {
        const ssize_t n = ::pread(fd, p, bytes, off_t(offset));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            broken("reading back the temporary file failed (" +
                   std::string(n < 0 ? std::strerror(errno) : "it is shorter than what was written") + ")");
        p += n;
        bytes -= size_t(n);
        offset += n;
    }
}

void NpyStreamWriter::append(const torch::Tensor& piece) {
    if (finished_)
        throw std::runtime_error(file_.string() + ": append after finish; the file is already complete");
    if (failed_)
        throw std::runtime_error(file_.string() +
                                 ": append after an earlier error; the file was not written");
    if (!piece.defined() || !piece.is_floating_point())
        throw std::runtime_error(file_.string() + ": cannot append " +
                                 (piece.defined()
                                      ? std::string("a tensor of dtype ") + c10::toString(piece.scalar_type())
                                      : std::string("an undefined tensor")) +
                                 " to a float32 .npy; expected a floating tensor");
    bool fits = piece.dim() == int64_t(shape_.size());
    for (int64_t i = 0; fits && i < piece.dim(); ++i)
        fits = i == axis_ || piece.size(i) == shape_[size_t(i)];
    if (!fits) {
        std::vector<int64_t> sizes = piece.sizes().vec();
        throw std::runtime_error(file_.string() + ": a piece shaped " + growingShapeText(sizes, -1, "") +
                                 " does not fit the array " + growingShapeText(shape_, axis_, "*") +
                                 "; expected " + growingShapeText(shape_, axis_, "n") + " with n >= 0");
    }
    const int64_t n = piece.size(axis_);
    // Growing-axis-major: one piece is one contiguous stretch of the file, whatever the axis.
    torch::Tensor data = piece.detach().to(torch::kCPU, torch::kFloat32);
    if (axis_ != 0)
        data = data.movedim(axis_, 0);
    data = data.contiguous();
    if (data.numel() > 0 && !std::isnan(maximum_)) {
        const double m = data.max().item<double>();
        maximum_ = std::isnan(m) ? m : std::max(maximum_, m);
    }
    const int64_t step_bytes = outer_ * inner_ * int64_t(sizeof(float));
    if (axis_ == 0)
        writeAt(tmp_fd_, data.data_ptr(), size_t(data.nbytes()),
                int64_t(header_bytes_) + length_ * step_bytes, tmp_);
    else
        writeAt(pieces_fd_, data.data_ptr(), size_t(data.nbytes()), length_ * step_bytes, pieces_);
    length_ += n;
}

int64_t NpyStreamWriter::length() const { return length_; }

double NpyStreamWriter::maximum() const { return maximum_; }

const fs::path& NpyStreamWriter::path() const { return file_; }

void NpyStreamWriter::finish(const std::function<void(torch::Tensor&)>& transform) {
    if (finished_)
        throw std::runtime_error(file_.string() + ": finish called twice; the file is already complete");
    if (failed_)
        throw std::runtime_error(file_.string() +
                                 ": finish after an earlier error; the file was not written");
    shape_[size_t(axis_)] = length_;
    const std::string header = npyHeader("<f4", shape_);
    const int64_t step_values = outer_ * inner_;
    // Steps along the growing axis per chunk: at least one, however wide a step is.
    const int64_t steps = step_values > 0 ? std::max<int64_t>(1, kChunkBytes / (step_values * 4)) : length_;

    // Hands a slice [.., n, ..] of the final array to `transform`; returns it as float32 contiguous.
    auto transformed = [&](torch::Tensor slice) {
        const auto sizes = slice.sizes().vec();
        transform(slice);
        if (!slice.defined() || slice.sizes().vec() != sizes)
            broken(
                "the transform changed a slice's shape from " + growingShapeText(sizes, -1, "") + " to " +
                (slice.defined() ? growingShapeText(slice.sizes().vec(), -1, "") : std::string("undefined")) +
                "; expected it to change values only");
        return slice.to(torch::kCPU, torch::kFloat32).contiguous();
    };
    std::vector<int64_t> slice_shape = shape_;
    if (axis_ == 0) {
        // The data is in place already: the header's room was reserved for any length.
        if (header.size() != header_bytes_)
            broken("internal error: the .npy header changed size while the array grew");
        writeAt(tmp_fd_, header.data(), header.size(), 0, tmp_);
        if (transform && step_values > 0)
            for (int64_t t0 = 0; t0 < length_; t0 += steps) {
                slice_shape[0] = std::min(steps, length_ - t0);
                torch::Tensor slice = torch::empty(slice_shape, torch::kFloat32);
                const int64_t at = int64_t(header_bytes_) + t0 * step_values * 4;
                readAt(tmp_fd_, slice.data_ptr(), size_t(slice.nbytes()), at);
                torch::Tensor done = transformed(slice);
                writeAt(tmp_fd_, done.data_ptr(), size_t(done.nbytes()), at, tmp_);
            }
    } else {
        // The pieces are [length, outer, inner]; C order wants [outer, length, inner]: per chunk of steps,
        // read them, transpose in memory, and write each outer index's run where it belongs.
        writeAt(tmp_fd_, header.data(), header.size(), 0, tmp_);
        if (step_values > 0)
            for (int64_t t0 = 0; t0 < length_; t0 += steps) {
                const int64_t n = std::min(steps, length_ - t0);
                torch::Tensor chunk = torch::empty({n, outer_, inner_}, torch::kFloat32);
                readAt(pieces_fd_, chunk.data_ptr(), size_t(chunk.nbytes()), t0 * step_values * 4);
                slice_shape[size_t(axis_)] = n;
                torch::Tensor slice = chunk.permute({1, 0, 2}).contiguous().view(slice_shape);
                if (transform)
                    slice = transformed(slice);
                const float* rows = slice.data_ptr<float>();
                for (int64_t o = 0; o < outer_; ++o)
                    writeAt(tmp_fd_, rows + o * n * inner_, size_t(n * inner_) * sizeof(float),
                            int64_t(header.size()) + (o * length_ + t0) * inner_ * 4, tmp_);
            }
    }

    // close() is where some file systems (NFS) report a failed write: the file must not be renamed then.
    const int closed = ::close(tmp_fd_);
    tmp_fd_ = -1;
    if (closed != 0)
        broken("writing " + tmp_.string() + " failed (" + std::strerror(errno) + "); is the disk full?");
    if (pieces_fd_ >= 0) {
        ::close(pieces_fd_);
        pieces_fd_ = -1;
    }
    std::error_code ec;
    fs::rename(tmp_, file_, ec);
    if (ec)
        broken("cannot move the finished file into place: " + ec.message());
    std::error_code ignored;
    if (!pieces_.empty())
        fs::remove(pieces_, ignored);
    finished_ = true;
}

} // namespace avgraph::host
