// The streamed .npy writer, checked byte for byte against writeNpy of the concatenated pieces (itself
// checked against np.save in npy_test.cpp), and loaded by numpy.
#include "io/npy_stream.h"

#include "io/npy.h"

#include "tests/host/host_test_support.h"

#include <catch2/catch.hpp>

#include <cmath>
#include <random>

using namespace avgraph;
namespace fs = std::filesystem;

namespace {

/** `shape` with `n` along `axis`. */
std::vector<int64_t> withExtent(std::vector<int64_t> shape, int64_t axis, int64_t n) {
    shape[size_t(axis)] = n;
    return shape;
}

/** Streams `pieces` through a writer and checks the file is writeNpy's of their concatenation. */
void checkAgainstWriteNpy(const test::ScratchDir& dir, const std::vector<int64_t>& shape, int64_t axis,
                          const std::vector<torch::Tensor>& pieces,
                          const std::function<void(torch::Tensor&)>& transform = {},
                          const std::function<torch::Tensor(torch::Tensor)>& expected_transform = {}) {
    const fs::path streamed = dir / "streamed.npy", whole = dir / "whole.npy";
    const int64_t dim = axis < 0 ? axis + int64_t(shape.size()) : axis; // the writer takes either
    // The growing axis's entry of the shape is ignored: give it a value that would be wrong.
    host::NpyStreamWriter writer(streamed, withExtent(shape, dim, 99), axis);
    int64_t length = 0;
    for (const auto& piece : pieces) {
        writer.append(piece);
        length += piece.size(axis);
        CHECK(writer.length() == length);
    }
    CHECK_FALSE(fs::exists(streamed)); // nothing in place before finish
    writer.finish(transform);
    CHECK(writer.path() == streamed);

    torch::Tensor all = pieces.empty() ? torch::empty(withExtent(shape, dim, 0)) : torch::cat(pieces, axis);
    if (expected_transform)
        all = expected_transform(all.to(torch::kFloat32));
    host::writeNpy(whole, all);
    CHECK(test::readBytes(streamed) == test::readBytes(whole));
    CHECK(test::filesIn(dir.path()) ==
          std::vector<std::string>{"streamed.npy", "whole.npy"}); // no temporaries
}

} // namespace

TEST_CASE("NpyStreamWriter: byte-identical to writeNpy of the concatenated pieces", "[host][npy_stream]") {
    test::ScratchDir dir;
    std::mt19937 rng(1234);
    torch::manual_seed(1234);
    auto uniform = [&](int64_t lo, int64_t hi) {
        return std::uniform_int_distribution<int64_t>(lo, hi)(rng);
    };
    const torch::ScalarType dtypes[] = {torch::kFloat32, torch::kFloat64, torch::kFloat16, torch::kBFloat16};
    for (int trial = 0; trial < 200; ++trial) {
        const int64_t rank = uniform(1, 4);
        std::vector<int64_t> shape;
        for (int64_t i = 0; i < rank; ++i)
            shape.push_back(uniform(0, 9) == 0 ? 0 : uniform(1, 5)); // now and then an empty extent
        const int64_t axis = uniform(0, rank - 1);
        std::vector<torch::Tensor> pieces;
        const int64_t count = uniform(0, 6);
        for (int64_t p = 0; p < count; ++p) {
            const int64_t n = uniform(0, 3) == 0 ? 0 : uniform(1, 7); // zero-length pieces too
            torch::Tensor piece = (torch::randn(withExtent(shape, axis, n)) * 100).to(dtypes[uniform(0, 3)]);
            if (uniform(0, 2) == 0 && rank > 1) // a view that is not contiguous
                piece = piece.transpose(0, rank - 1).contiguous().transpose(0, rank - 1);
            pieces.push_back(piece);
        }
        INFO("trial " << trial << ": shape " << torch::IntArrayRef(shape) << ", growing axis " << axis << ", "
                      << count << " pieces");
        // Negative axes count from the end, as in torch.
        checkAgainstWriteNpy(dir, shape, uniform(0, 1) ? axis : axis - rank, pieces);
        fs::remove(dir / "streamed.npy");
        fs::remove(dir / "whole.npy");
    }
}

TEST_CASE("NpyStreamWriter: arrays larger than a chunk", "[host][npy_stream]") {
    test::ScratchDir dir;
    torch::manual_seed(5);
    std::mt19937 rng(5);
    auto piecesOf = [&](const torch::Tensor& all, int64_t axis, int64_t most) {
        std::vector<torch::Tensor> pieces;
        for (int64_t t = 0; t < all.size(axis);) {
            const int64_t n =
                std::min(all.size(axis) - t, std::uniform_int_distribution<int64_t>(0, most)(rng));
            pieces.push_back(all.narrow(axis, t, n));
            t += n;
        }
        return pieces;
    };
    SECTION("a spectrogram [bins, frames] growing in frames: several chunks of 128 runs each") {
        torch::Tensor all = torch::randn({128, 30011});
        checkAgainstWriteNpy(dir, {128, 0}, 1, piecesOf(all, 1, 3000));
    }
    SECTION("[channels, bins, frames] growing in the middle") {
        torch::Tensor all = torch::randn({3, 20011, 40});
        checkAgainstWriteNpy(dir, {3, 0, 40}, 1, piecesOf(all, 1, 4000));
    }
    SECTION("one step along the growing axis is larger than a chunk") {
        torch::Tensor all = torch::randn({1100, 5, 1000});
        checkAgainstWriteNpy(dir, {1100, 0, 1000}, 1, piecesOf(all, 1, 2));
    }
    SECTION("growing along the first axis") {
        torch::Tensor all = torch::randn({50021, 64});
        checkAgainstWriteNpy(dir, {0, 64}, 0, piecesOf(all, 0, 5000));
    }
}

TEST_CASE("NpyStreamWriter: the transform at finish, as for top_db", "[host][npy_stream]") {
    test::ScratchDir dir;
    torch::manual_seed(9);
    for (int64_t axis : {0, 1, 2}) {
        INFO("growing axis " << axis);
        const std::vector<int64_t> shape = {6, 40, 50};
        // About 10 MB of float32 in all, so that finish works through several chunks.
        const int64_t length = 2500000 / (6 * 40 * 50 / shape[size_t(axis)]);
        torch::Tensor all = torch::randn(withExtent(shape, axis, length)) * 40;
        std::vector<torch::Tensor> pieces;
        for (int64_t t = 0; t < length; t += length / 6)
            pieces.push_back(all.narrow(axis, t, std::min(length / 6, length - t)));
        const double maximum = all.max().item<double>();
        const double floor = maximum - 80.0;
        // Every value passes once, in slices of the final array along the growing axis.
        int64_t seen = 0, slices = 0;
        auto transform = [&](torch::Tensor& slice) {
            REQUIRE(slice.dim() == 3);
            REQUIRE(slice.is_contiguous());
            for (int64_t i = 0; i < 3; ++i)
                if (i != axis)
                    REQUIRE(slice.size(i) == shape[size_t(i)]);
            seen += slice.size(axis);
            ++slices;
            slice.clamp_min_(floor);
        };
        checkAgainstWriteNpy(dir, shape, axis, pieces, transform,
                             [&](torch::Tensor t) { return t.clamp_min(float(floor)); });
        CHECK(seen == length);
        CHECK(slices > 1);
        fs::remove(dir / "streamed.npy");
        fs::remove(dir / "whole.npy");
    }
}

TEST_CASE("NpyStreamWriter: maximum of the values so far", "[host][npy_stream]") {
    test::ScratchDir dir;
    host::NpyStreamWriter writer(dir / "m.npy", {0, 2}, 0);
    CHECK(writer.maximum() == -std::numeric_limits<double>::infinity());
    writer.append(torch::zeros({0, 2}));
    CHECK(writer.maximum() == -std::numeric_limits<double>::infinity());
    writer.append(torch::tensor({-3.0, -2.5}).reshape({1, 2}));
    CHECK(writer.maximum() == -2.5);
    writer.append(torch::tensor({1.0 / 3.0, -7.0}, torch::kFloat64).reshape({1, 2}));
    CHECK(writer.maximum() == double(1.0f / 3.0f)); // of the float32 stored, not the double given
    writer.append(torch::tensor({std::nanf(""), 0.0f}).reshape({1, 2}));
    CHECK(std::isnan(writer.maximum()));
    writer.append(torch::tensor({100.0f, 0.0f}).reshape({1, 2}));
    CHECK(std::isnan(writer.maximum()));
    writer.finish();
    CHECK(host::readNpy(dir / "m.npy").sizes() == torch::IntArrayRef({4, 2}));
}

TEST_CASE("NpyStreamWriter: numpy reads the files", "[host][npy_stream]") {
    test::ScratchDir dir;
    torch::Tensor spectrogram = torch::arange(3 * 1000, torch::kFloat32).reshape({3, 1000}) / 7.0f;
    torch::Tensor rows = torch::arange(2000 * 2, torch::kFloat32).reshape({2000, 2}) / 3.0f;
    {
        host::NpyStreamWriter by_frames(dir / "frames.npy", {3, -1}, -1);
        host::NpyStreamWriter by_rows(dir / "rows.npy", {-1, 2}, 0);
        host::NpyStreamWriter empty(dir / "empty.npy", {4, 0}, 1);
        for (int64_t t = 0; t < 1000; t += 300) {
            by_frames.append(spectrogram.slice(1, t, t + 300));
            by_rows.append(rows.slice(0, 2 * t, 2 * t + 600));
        }
        by_frames.finish();
        by_rows.finish();
        empty.finish();
    }
    // Shapes, dtypes and every value, as numpy sees them (the data is exact: k/7 in float32 both ways).
    std::string out = test::python(R"(
d = sys.argv[1] + '/'
f, r, e = np.load(d + 'frames.npy'), np.load(d + 'rows.npy'), np.load(d + 'empty.npy')
ok_f = np.array_equal(f, (np.arange(3000, dtype=np.float32) / np.float32(7)).reshape(3, 1000))
ok_r = np.array_equal(r, (np.arange(4000, dtype=np.float32) / np.float32(3)).reshape(2000, 2))
print(f.dtype.str, f.shape, ok_f, r.dtype.str, r.shape, ok_r, e.dtype.str, e.shape))",
                                   {dir.path()});
    CHECK(out == "<f4 (3, 1000) True <f4 (2000, 2) True <f4 (4, 0)\n");
    CHECK(host::readNpy(dir / "frames.npy").equal(spectrogram));
    CHECK(host::readNpy(dir / "rows.npy").equal(rows));
}

TEST_CASE("NpyStreamWriter: without finish the old file stays and no temporary is left",
          "[host][npy_stream]") {
    test::ScratchDir dir;
    const fs::path file = dir / "result.npy";
    host::writeNpy(file, torch::full({2, 2}, 5.0f));
    const std::string before = test::readBytes(file);
    for (int64_t axis : {0, 1}) {
        INFO("growing axis " << axis);
        {
            host::NpyStreamWriter writer(file, {3, 3}, axis);
            writer.append(torch::ones(withExtent({3, 3}, axis, 10)));
            CHECK(test::filesIn(dir.path()).size() ==
                  size_t(axis == 0 ? 2 : 3)); // the file and its temporaries
        }                                     // as when the run fails before the end
        CHECK(test::readBytes(file) == before);
        CHECK(test::filesIn(dir.path()) == std::vector<std::string>{"result.npy"});
    }
    // And with finish, it is replaced.
    host::NpyStreamWriter writer(file, {0}, 0);
    writer.append(torch::ones({3}));
    writer.finish();
    CHECK(host::readNpy(file).equal(torch::ones({3})));
    CHECK(test::filesIn(dir.path()) == std::vector<std::string>{"result.npy"});
}

TEST_CASE("NpyStreamWriter: errors start with the path", "[host][npy_stream]") {
    test::ScratchDir dir;
    const fs::path file = dir / "out.npy";
    auto failsWith = [&](const std::function<void()>& call, const std::string& what) {
        CHECK_THROWS_WITH(call(), Catch::StartsWith(file.string() + ": ") && Catch::Contains(what));
    };
    failsWith([&] { host::NpyStreamWriter(file, {}, 0); }, "at least one axis");
    failsWith([&] { host::NpyStreamWriter(file, {2, 3}, 2); }, "growing axis 2 is not an axis");
    failsWith([&] { host::NpyStreamWriter(file, {2, 3}, -3); }, "growing axis -3");
    failsWith([&] { host::NpyStreamWriter(file, {-2, 3}, 1); }, "negative extent");
    const fs::path nowhere = dir / "no such folder" / "out.npy";
    CHECK_THROWS_WITH(host::NpyStreamWriter(nowhere, {0}, 0),
                      Catch::StartsWith(nowhere.string() + ": cannot create the temporary file"));

    host::NpyStreamWriter writer(file, {4, 0, 2}, 1);
    failsWith(
        [&] {
            writer.append(torch::ones({4, 3}));
        },
        "a piece shaped [4, 3] does not fit the array [4, *, 2]");
    failsWith([&] { writer.append(torch::ones({5, 3, 2})); }, "expected [4, n, 2] with n >= 0");
    failsWith([&] { writer.append(torch::ones({4, 3, 2}, torch::kInt64)); }, "dtype");
    failsWith([&] { writer.append(torch::Tensor()); }, "undefined");
    writer.append(torch::ones({4, 3, 2}));
    failsWith([&] { writer.finish([](torch::Tensor& t) { t = t.flatten(); }); }, "changed a slice's shape");
    failsWith([&] { writer.append(torch::ones({4, 3, 2})); }, "after an earlier error");
    CHECK(test::filesIn(dir.path()).size() == 2); // the temporaries wait for the destructor

    const fs::path finished = dir / "finished.npy";
    host::NpyStreamWriter done(finished, {0}, 0);
    done.finish();
    CHECK_THROWS_WITH(done.append(torch::ones({1})),
                      Catch::StartsWith(finished.string()) && Catch::Contains("after finish"));
    CHECK_THROWS_WITH(done.finish(),
                      Catch::StartsWith(finished.string()) && Catch::Contains("finish called twice"));
}

TEST_CASE("NpyStreamWriter: pieces on the GPU", "[host][npy_stream]") {
    if (!torch::cuda::is_available())
        return;
    test::ScratchDir dir;
    torch::Tensor all = torch::randn({16, 100}, torch::kCUDA).to(torch::kHalf);
    checkAgainstWriteNpy(dir, {16, 0}, 1, {all.slice(1, 0, 37), all.slice(1, 37, 100)});
}
