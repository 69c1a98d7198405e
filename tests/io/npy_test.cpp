// .npy reading and writing, checked against numpy itself (the format's reference implementation) and
// against the golden arrays' JSON sidecars, never only against our own reader.
#include "io/npy.h"

#include "tests/host/host_test_support.h"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <sstream>

using namespace avgraph;
namespace fs = std::filesystem;

namespace {

std::vector<std::string> split(const std::string& s, char sep) {
    std::vector<std::string> out;
    std::string field;
    std::istringstream in(s);
    while (std::getline(in, field, sep))
        out.push_back(field);
    return out;
}

/** What numpy sees in a file: dtype, shape, format version, data offset and every value in C order. */
struct NumpyView {
    std::string dtype, shape, version;
    long offset = 0;
    std::vector<double> values;
};

NumpyView loadWithNumpy(const fs::path& file) {
    // float(x) of a float32 is exact in a Python float and repr round-trips, so values compare exactly.
    std::string out = test::python(R"(
f = open(sys.argv[1], 'rb')
version = np.lib.format.read_magic(f)
np.lib.format._read_array_header(f, version)
offset = f.tell()
a = np.load(sys.argv[1], allow_pickle=False)
print(a.dtype.str, repr(a.shape), '%d.%d' % version, offset, *[repr(float(x)) for x in a.ravel()], sep=';'))",
                                   {file});
    auto fields = split(out.substr(0, out.find('\n')), ';');
    REQUIRE(fields.size() >= 4);
    NumpyView v{fields[0], fields[1], fields[2], std::stol(fields[3]), {}};
    for (size_t i = 4; i < fields.size(); ++i)
        v.values.push_back(std::strtod(fields[i].c_str(), nullptr));
    return v;
}

/** Compares values exactly, treating NaN as equal to NaN. */
void checkValues(const torch::Tensor& expected, const std::vector<double>& got) {
    torch::Tensor e = expected.to(torch::kFloat64).contiguous().flatten();
    REQUIRE(size_t(e.numel()) == got.size());
    for (size_t i = 0; i < got.size(); ++i) {
        double want = e[int64_t(i)].item<double>();
        INFO("element " << i);
        if (std::isnan(want))
            CHECK(std::isnan(got[i]));
        else
            CHECK(got[i] == want);
    }
}

void writeHandMadeNpy(const fs::path& file, const std::string& dict, const std::string& data) {
    std::string header = dict + "\n";
    std::string out = std::string("\x93NUMPY\x01\x00", 8);
    out += char(header.size() & 0xff);
    out += char(header.size() >> 8);
    out += header + data;
    std::ofstream(file, std::ios::binary) << out;
}

} // namespace

TEST_CASE("writeNpy: numpy loads the same dtype, shape and values", "[host][npy]") {
    test::ScratchDir dir;
    fs::path file = dir / "array with spaces.npy";
    torch::manual_seed(7);

    SECTION("float32 2-D, including inf, nan, a subnormal and extremes") {
        torch::Tensor t = torch::randn({3, 4}, torch::kFloat32) * 1000;
        t[0][0] = std::numeric_limits<float>::infinity();
        t[0][1] = -std::numeric_limits<float>::infinity();
        t[0][2] = std::numeric_limits<float>::quiet_NaN();
        t[1][0] = std::numeric_limits<float>::denorm_min();
        t[1][1] = std::numeric_limits<float>::max();
        t[1][2] = -0.0f;
        host::writeNpy(file, t);
        auto v = loadWithNumpy(file);
        CHECK(v.dtype == "<f4");
        CHECK(v.shape == "(3, 4)");
        CHECK(v.version == "1.0");
        CHECK(v.offset % 64 == 0);
        checkValues(t, v.values);
    }
    SECTION("1-D float64 is stored as float32 with a 1-tuple shape") {
        torch::Tensor t = torch::tensor({0.1, -2.5, 1e-30, 3.0e10, 1.0 / 3.0}, torch::kFloat64);
        host::writeNpy(file, t);
        auto v = loadWithNumpy(file);
        CHECK(v.dtype == "<f4");
        CHECK(v.shape == "(5,)");
        checkValues(t.to(torch::kFloat32), v.values);
    }
    SECTION("0-D scalar") {
        host::writeNpy(file, torch::tensor(2.75f));
        auto v = loadWithNumpy(file);
        CHECK(v.dtype == "<f4");
        CHECK(v.shape == "()");
        checkValues(torch::tensor(2.75f), v.values);
    }
    SECTION("a transposed view is written in its logical C order") {
        torch::Tensor t = torch::arange(12, torch::kFloat32).reshape({3, 4}).t();
        REQUIRE_FALSE(t.is_contiguous());
        host::writeNpy(file, t);
        auto v = loadWithNumpy(file);
        CHECK(v.shape == "(4, 3)");
        checkValues(t, v.values);
    }
    SECTION("half and bfloat16 become float32") {
        for (auto dtype : {torch::kFloat16, torch::kBFloat16}) {
            torch::Tensor t = torch::tensor({1.5, -0.25, 1024.0}).to(dtype);
            host::writeNpy(file, t);
            auto v = loadWithNumpy(file);
            CHECK(v.dtype == "<f4");
            checkValues(t, v.values);
        }
    }
    SECTION("int64, int32, uint8 and bool keep their types") {
        struct Case {
            torch::Tensor t;
            const char* dtype;
        };
        std::vector<Case> cases = {
            {torch::tensor({int64_t(-3), int64_t(1) << 40, int64_t(7), int64_t(0), int64_t(-1), int64_t(5)})
                 .reshape({2, 3}),
             "<i8"},
            {torch::tensor({-2147483647 - 1, 0, 2147483647}, torch::kInt32), "<i4"},
            {torch::tensor({0, 1, 200, 255}, torch::kUInt8), "|u1"},
            {torch::tensor({true, false, true}), "|b1"},
        };
        for (auto& c : cases) {
            host::writeNpy(file, c.t);
            auto v = loadWithNumpy(file);
            CHECK(v.dtype == c.dtype);
            checkValues(c.t, v.values);
        }
    }
    SECTION("zero-sized arrays") {
        host::writeNpy(file, torch::zeros({0, 3}));
        auto v = loadWithNumpy(file);
        CHECK(v.shape == "(0, 3)");
        CHECK(v.values.empty());
    }
}

TEST_CASE("writeNpy: files are byte-identical to np.save", "[host][npy]") {
    test::ScratchDir dir;
    // The same arithmetic on both sides (IEEE float32 division) gives the same bits.
    test::python(R"(
d = sys.argv[1]
np.save(d + '/f2.npy', (np.arange(12, dtype=np.float32) / np.float32(7)).reshape(3, 4))
np.save(d + '/f1.npy', np.arange(5, dtype=np.float32) / np.float32(3))
np.save(d + '/f0.npy', np.array(1.25, dtype=np.float32))
np.save(d + '/i8.npy', np.arange(-4, 20, dtype=np.int64).reshape(2, 3, 4))
np.save(d + '/many.npy', np.zeros((1,) * 20 + (3,), np.float32))
np.save(d + '/long.npy', np.zeros((123456789, 0), np.float32)))",
                 {dir.path()});
    std::vector<std::pair<std::string, torch::Tensor>> cases = {
        {"f2", (torch::arange(12, torch::kFloat32) / 7.0f).reshape({3, 4})},
        {"f1", torch::arange(5, torch::kFloat32) / 3.0f},
        {"f0", torch::tensor(1.25f)},
        {"i8", torch::arange(-4, 20, torch::kInt64).reshape({2, 3, 4})},
        {"many", torch::zeros({1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 3})},
        {"long", torch::zeros({123456789, 0})},
    };
    for (auto& [name, t] : cases) {
        INFO(name);
        host::writeNpy(dir / (name + ".ours.npy"), t);
        CHECK(test::readBytes(dir / (name + ".ours.npy")) == test::readBytes(dir / (name + ".npy")));
    }
}

TEST_CASE("writeNpy: atomic replacement and clear errors", "[host][npy]") {
    test::ScratchDir dir;
    fs::path file = dir / "out.npy";
    host::writeNpy(file, torch::ones({100}));
    host::writeNpy(file, torch::full({2}, 3.0f));
    auto v = loadWithNumpy(file);
    CHECK(v.shape == "(2,)");
    checkValues(torch::full({2}, 3.0f), v.values);
    for (const auto& entry : fs::directory_iterator(dir.path()))
        CHECK(entry.path().filename() == "out.npy"); // no temporary left behind

    fs::path missing = dir / "no such folder" / "x.npy";
    CHECK_THROWS_WITH(host::writeNpy(missing, torch::ones({2})), Catch::Contains(missing.string()));
    CHECK_THROWS_WITH(host::writeNpy(file, torch::ones({2}, torch::kComplexFloat)),
                      Catch::Contains(file.string()) && Catch::Contains("dtype"));
    CHECK_THROWS_WITH(host::writeNpy(file, torch::ones({2}, torch::kInt16)), Catch::Contains(file.string()));
}

TEST_CASE("readNpy: arrays written by numpy", "[host][npy]") {
    test::ScratchDir dir;
    test::python(R"(
d = sys.argv[1] + '/'
np.save(d + 'f4.npy', (np.arange(12, dtype=np.float32) / np.float32(3)).reshape(3, 4))
np.save(d + 'f8.npy', np.arange(6, dtype=np.float64).reshape(2, 3) * 0.1)
np.save(d + 'i8.npy', np.arange(-3, 3, dtype=np.int64) * 2**40)
np.save(d + 'i4.npy', np.array([[-2147483648], [2147483647]], dtype=np.int32))
np.save(d + 'u1.npy', np.arange(250, 256, dtype=np.uint8))
np.save(d + 'b1.npy', np.array([True, False, True]))
np.save(d + 'scalar.npy', np.float32(-4.5))
np.save(d + 'empty.npy', np.zeros((0, 3), np.float32))
np.save(d + 'sliced.npy', np.arange(20, dtype=np.float32).reshape(4, 5)[:, 1:3])
with open(d + 'v2.npy', 'wb') as f:
    np.lib.format.write_array(f, np.arange(4, dtype=np.float32), version=(2, 0))
with open(d + 'v3.npy', 'wb') as f:
    np.lib.format.write_array(f, np.arange(4, dtype=np.float32), version=(3, 0)))",
                 {dir.path()});

    torch::Tensor f4 = host::readNpy(dir / "f4.npy");
    CHECK(f4.scalar_type() == torch::kFloat32);
    CHECK(f4.equal((torch::arange(12, torch::kFloat32) / 3.0f).reshape({3, 4})));
    torch::Tensor f8 = host::readNpy(dir / "f8.npy");
    CHECK(f8.scalar_type() == torch::kFloat64);
    CHECK(f8.equal(torch::arange(6, torch::kFloat64).reshape({2, 3}) * 0.1));
    CHECK(host::readNpy(dir / "i8.npy").equal(torch::arange(-3, 3, torch::kInt64) * (int64_t(1) << 40)));
    CHECK(host::readNpy(dir / "i4.npy")
              .equal(torch::tensor({-2147483647 - 1, 2147483647}, torch::kInt32).reshape({2, 1})));
    CHECK(host::readNpy(dir / "u1.npy").equal(torch::arange(250, 256, torch::kInt64).to(torch::kUInt8)));
    CHECK(host::readNpy(dir / "b1.npy").equal(torch::tensor({true, false, true})));
    torch::Tensor scalar = host::readNpy(dir / "scalar.npy");
    CHECK(scalar.dim() == 0);
    CHECK(scalar.item<float>() == -4.5f);
    CHECK(host::readNpy(dir / "empty.npy").sizes() == torch::IntArrayRef({0, 3}));
    CHECK(host::readNpy(dir / "sliced.npy")
              .equal(torch::arange(20, torch::kFloat32).reshape({4, 5}).slice(1, 1, 3)));
    CHECK(host::readNpy(dir / "v2.npy").equal(torch::arange(4, torch::kFloat32)));
    CHECK(host::readNpy(dir / "v3.npy").equal(torch::arange(4, torch::kFloat32)));
}

TEST_CASE("readNpy: hand-written headers in other layouts", "[host][npy]") {
    test::ScratchDir dir;
    std::string data(reinterpret_cast<const char*>(std::vector<float>{1, 2, 3, 4, 5, 6}.data()),
                     6 * sizeof(float));
    const std::vector<std::string> dicts = {
        "{'shape': (2, 3), 'fortran_order': False, 'descr': '<f4'}",
        "{  \"descr\" : \"<f4\" ,\"fortran_order\":False,'shape':(2,3,)  ,  }   ",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2L, 3L), }",
    };
    for (size_t i = 0; i < dicts.size(); ++i) {
        INFO(dicts[i]);
        fs::path file = dir / ("hand" + std::to_string(i) + ".npy");
        writeHandMadeNpy(file, dicts[i], data);
        torch::Tensor t = host::readNpy(file);
        CHECK(t.equal(torch::arange(1, 7, torch::kFloat32).reshape({2, 3})));
        // numpy accepts the first two as well, so they are valid files, not our invention (Python 3 has no
        // 2L).
        if (i < 2) {
            auto v = loadWithNumpy(file);
            CHECK(v.shape == "(2, 3)");
            checkValues(t, v.values);
        }
    }
}

TEST_CASE("readNpy: errors name the file and say what was expected", "[host][npy]") {
    test::ScratchDir dir;
    fs::create_directories(dir / "my arrays");
    fs::path d = dir / "my arrays";
    test::python(R"(
d = sys.argv[1] + '/'
np.save(d + 'fortran.npy', np.asfortranarray(np.ones((2, 3), np.float32)))
np.save(d + 'big.npy', np.ones(3, dtype='>f4'))
np.save(d + 'complex.npy', np.ones(3, dtype=np.complex64))
np.save(d + 'int16.npy', np.ones(3, dtype=np.int16))
np.save(d + 'record.npy', np.zeros(2, dtype=[('a', '<f4'), ('b', '<i8')]))
np.save(d + 'ok.npy', np.ones((10, 10), np.float32)))",
                 {d});
    auto fails = [](const fs::path& file, const std::string& what) {
        CHECK_THROWS_WITH(host::readNpy(file), Catch::StartsWith(file.string()) && Catch::Contains(what));
    };
    fails(d / "fortran.npy", "Fortran");
    fails(d / "big.npy", "'>f4'");
    fails(d / "complex.npy", "unsupported dtype");
    fails(d / "int16.npy", "unsupported dtype");
    fails(d / "record.npy", "unsupported dtype");

    fs::copy_file(d / "ok.npy", d / "truncated.npy");
    fs::resize_file(d / "truncated.npy", fs::file_size(d / "ok.npy") - 1);
    fails(d / "truncated.npy", "truncated");
    std::ofstream(d / "text.npy") << "this is not an array\n";
    fails(d / "text.npy", "magic");
    std::ofstream(d / "empty.npy").close();
    fails(d / "empty.npy", "magic");
    writeHandMadeNpy(d / "noshape.npy", "{'descr': '<f4', 'fortran_order': False}", "");
    fails(d / "noshape.npy", "shape");
    writeHandMadeNpy(d / "garbled.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (2, -3)}", "");
    fails(d / "garbled.npy", "malformed");
    fails(d / "missing.npy", "cannot open");
    fails(d, "folder");
}

TEST_CASE("readNpy: a golden librosa array matches its sidecar and numpy", "[host][npy]") {
    fs::path golden = test::sharedDir() / "golden/sine440_1000/sine440_1000_sr16000_mel64_slaney.npy";
    fs::path sidecar = golden;
    sidecar.replace_extension(".json");
    nlohmann::json meta = nlohmann::json::parse(std::ifstream(sidecar));

    torch::Tensor mel = host::readNpy(golden);
    CHECK(mel.scalar_type() == torch::kFloat32);
    CHECK(mel.sizes().vec() == meta["shape"].get<std::vector<int64_t>>());
    // The sidecar's stats were computed by numpy on the float32 array: min and max are exact values.
    CHECK(mel.min().item<float>() == float(meta["stats"]["min"].get<double>()));
    CHECK(mel.max().item<float>() == float(meta["stats"]["max"].get<double>()));
    CHECK(mel.to(torch::kFloat64).mean().item<double>() ==
          Approx(meta["stats"]["mean"].get<double>()).epsilon(1e-6));

    auto v = loadWithNumpy(golden);
    checkValues(mel, v.values);
}
