#include "nodes/tensor/feature_statistics.h"

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <cstring>
#include <fstream>
#include <functional>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace avgraph::nodes {

namespace fs = std::filesystem;

namespace {

[[noreturn]] void fail(const fs::path& file, const std::string& what) {
    throw std::invalid_argument(file.string() + ": " + what);
}

/** A number or nested array of numbers as a float64 tensor; rows of a nested array must agree. */
torch::Tensor jsonToTensor(const nlohmann::json& j, const fs::path& file, const std::string& key) {
    std::vector<int64_t> shape;
    const nlohmann::json* level = &j;
    while (level->is_array()) {
        if (level->empty())
            fail(file, "\"" + key + "\" has an empty array");
        shape.push_back(static_cast<int64_t>(level->size()));
        level = &level->front();
    }
    std::vector<double> values;
    std::function<void(const nlohmann::json&, size_t)> walk = [&](const nlohmann::json& v, size_t depth) {
        if (depth == shape.size()) {
            if (!v.is_number())
                fail(file, "\"" + key + "\" must hold numbers, found " + v.dump());
            values.push_back(v.get<double>());
            return;
        }
        if (!v.is_array() || static_cast<int64_t>(v.size()) != shape[depth])
            fail(file, "\"" + key + "\" is not a rectangular array (rows of different lengths)");
        for (const auto& e : v)
            walk(e, depth + 1);
    };
    walk(j, 0);
    return torch::tensor(values, torch::kFloat64).reshape(shape);
}

FeatureStatistics readJson(const fs::path& file) {
    std::ifstream in(file);
    if (!in)
        fail(file, "cannot be read");
    nlohmann::json j;
    try {
        in >> j;
    } catch (const nlohmann::json::exception& e) {
        fail(file, std::string("is not valid JSON: ") + e.what());
    }
    if (!j.is_object() || !j.contains("mean") || !j.contains("std"))
        fail(file, "expected a JSON object {\"mean\": ..., \"std\": ...}");
    return {jsonToTensor(j["mean"], file, "mean"), jsonToTensor(j["std"], file, "std")};
}

/** The .npy array: version 1-3 header, little-endian float32/float64, C order. */
torch::Tensor readNpyArray(const fs::path& file) {
    std::ifstream in(file, std::ios::binary);
    if (!in)
        fail(file, "cannot be read");
    char magic[8];
    if (!in.read(magic, 8) || std::memcmp(magic, "\x93NUMPY", 6) != 0)
        fail(file, "is not a NumPy .npy file (no \\x93NUMPY magic)");
    const int major = static_cast<unsigned char>(magic[6]);
    uint32_t header_len = 0;
    unsigned char len_bytes[4] = {0, 0, 0, 0};
    const int len_size = major == 1 ? 2 : 4;
    if (!in.read(reinterpret_cast<char*>(len_bytes), len_size))
        fail(file, "is truncated in its header");
    for (int i = len_size - 1; i >= 0; --i)
        header_len = header_len * 256 + len_bytes[i];
    std::string header(header_len, '\0');
    if (!in.read(header.data(), header_len))
        fail(file, "is truncated in its header");
    std::smatch m;
    if (!std::regex_search(header, m, std::regex("'descr'\\s*:\\s*'([^']*)'")))
        fail(file, "has no 'descr' in its header");
    const std::string descr = m[1];
    torch::ScalarType dtype;
    if (descr == "<f4")
        dtype = torch::kFloat32;
    else if (descr == "<f8")
        dtype = torch::kFloat64;
    else
        fail(file, "holds '" + descr + "' values; expected little-endian float32 ('<f4') or float64 ('<f8')");
    if (std::regex_search(header, std::regex("'fortran_order'\\s*:\\s*True")))
        fail(file, "is in Fortran order; save it in C order (np.ascontiguousarray)");
    if (!std::regex_search(header, m, std::regex("'shape'\\s*:\\s*\\(([^)]*)\\)")))
        fail(file, "has no 'shape' in its header");
    std::vector<int64_t> shape;
    std::stringstream dims(m[1].str());
    for (std::string d; std::getline(dims, d, ',');)
        if (d.find_first_not_of(" ") != std::string::npos)
            shape.push_back(std::stoll(d));
    auto t = torch::empty(shape, dtype);
    const auto bytes = static_cast<std::streamsize>(t.numel() * t.element_size());
    if (!in.read(static_cast<char*>(t.data_ptr()), bytes))
        fail(file, "holds fewer values than its shape announces");
    return t.to(torch::kFloat64);
}

FeatureStatistics readNpy(const fs::path& file) {
    auto a = readNpyArray(file);
    if (a.dim() < 1 || a.size(0) != 2)
        fail(file, "expected an array of shape [2, ...] (mean at index 0, std at index 1), got " +
                       std::to_string(a.dim()) + " dimensions" +
                       (a.dim() >= 1 ? " with " + std::to_string(a.size(0)) + " at index 0" : ""));
    return {a[0].clone(), a[1].clone()};
}

} // namespace

FeatureStatistics loadFeatureStatistics(const fs::path& file) {
    const auto ext = file.extension().string();
    FeatureStatistics s;
    if (ext == ".json")
        s = readJson(file);
    else if (ext == ".npy")
        s = readNpy(file);
    else
        fail(file, "expected a .json or .npy file of mean and std");
    if (s.mean.sizes() != s.std.sizes())
        fail(file, "mean and std have different shapes");
    if (!torch::isfinite(s.mean).all().item<bool>() || !torch::isfinite(s.std).all().item<bool>())
        fail(file, "holds values that are not finite");
    if (!(s.std > 0).all().item<bool>())
        fail(file, "has a standard deviation that is not positive");
    return s;
}

} // namespace avgraph::nodes
