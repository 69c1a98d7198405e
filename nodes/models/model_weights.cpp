#include "nodes/models/model_weights.h"

#include "nodes/models/model_params.h"

#include <torch/serialize/input-archive.h>
#include <torch/serialize/output-archive.h>
#include <torch/torch.h>

#include <set>
#include <stdexcept>
#include <string>
#include <unistd.h>
#include <utility>
#include <vector>

namespace avgraph::nodes {

namespace fs = std::filesystem;

namespace {

// The layout of Module::save, with every tensor copied to the CPU first.
void writeModule(const torch::nn::Module& module, torch::serialize::OutputArchive& archive) {
    for (const auto& p : module.named_parameters(/*recurse=*/false))
        archive.write(p.key(), p.value().detach().cpu());
    for (const auto& b : module.named_buffers(/*recurse=*/false))
        archive.write(b.key(), b.value().detach().cpu(), /*is_buffer=*/true);
    for (const auto& c : module.named_children()) {
        torch::serialize::OutputArchive child(archive.compilation_unit());
        writeModule(*c.value(), child);
        archive.write(c.key(), child);
    }
}

struct PendingCopy {
    torch::Tensor target;
    torch::Tensor source;
};

class WeightsReader {
public:
    explicit WeightsReader(const fs::path& file) : file_(file) {}

    // Checks the whole module against the archive, collecting the copies to make.
    void collect(torch::nn::Module& module, torch::serialize::InputArchive& archive,
                 const std::string& prefix) {
        std::set<std::string> expected{"training"};
        for (auto& p : module.named_parameters(/*recurse=*/false)) {
            expected.insert(p.key());
            take(archive, prefix, p.key(), p.value(), /*is_buffer=*/false);
        }
        for (auto& b : module.named_buffers(/*recurse=*/false)) {
            expected.insert(b.key());
            take(archive, prefix, b.key(), b.value(), /*is_buffer=*/true);
        }
        for (auto& c : module.named_children()) {
            expected.insert(c.key());
            torch::serialize::InputArchive child;
            if (!archive.try_read(c.key(), child))
                throw mismatch(prefix + c.key(), "the network has this submodule, the file does not");
            collect(*c.value(), child, prefix + c.key() + ".");
        }
        // Tensors or submodules the network lacks: weights of another (larger) network.
        for (const auto& key : archive.keys()) {
            if (expected.count(key))
                continue;
            c10::IValue value;
            if (archive.try_read(key, value) && (value.isTensor() || value.isModule()))
                throw mismatch(prefix + key, "the file has it, the network does not");
        }
    }

    std::vector<PendingCopy> copies;

private:
    void take(torch::serialize::InputArchive& archive, const std::string& prefix, const std::string& key,
              const torch::Tensor& target, bool is_buffer) {
        torch::Tensor source;
        if (!archive.try_read(key, source, is_buffer))
            throw mismatch(prefix + key, "missing from the file");
        if (source.sizes() != target.sizes())
            throw mismatch(prefix + key, "the file has " + shapeText(source.sizes()) + ", the network " +
                                             shapeText(target.sizes()));
        copies.push_back({target, source});
    }

    std::invalid_argument mismatch(const std::string& name, const std::string& what) const {
        return std::invalid_argument("weights file " + file_.string() + " does not fit the network: " + name +
                                     ": " + what);
    }

    fs::path file_;
};

} // namespace

void saveWeights(const torch::nn::Module& module, const fs::path& file) {
    torch::serialize::OutputArchive archive;
    writeModule(module, archive);
    if (file.has_parent_path())
        fs::create_directories(file.parent_path());
    fs::path partial = file;
    partial += ".partial-" + std::to_string(::getpid());
    try {
        archive.save_to(partial.string());
        fs::rename(partial, file);
    } catch (const c10::Error& e) {
        std::error_code ec;
        fs::remove(partial, ec);
        throw std::runtime_error("cannot write weights file " + file.string() + ": " +
                                 firstLine(e.what_without_backtrace()));
    } catch (const fs::filesystem_error& e) {
        std::error_code ec;
        fs::remove(partial, ec);
        throw std::runtime_error("cannot write weights file " + file.string() + ": " + e.what());
    }
}

void loadWeights(torch::nn::Module& module, const fs::path& file) {
    if (!fs::is_regular_file(file))
        throw std::invalid_argument("weights file " + file.string() + " not found");
    torch::serialize::InputArchive archive;
    try {
        archive.load_from(file.string(), torch::Device(torch::kCPU));
    } catch (const c10::Error& e) {
        throw std::invalid_argument("weights file " + file.string() +
                                    " is not a LibTorch archive (torch::save or torch.jit.save): " +
                                    firstLine(e.what_without_backtrace()));
    }
    WeightsReader reader(file);
    reader.collect(module, archive, "");
    torch::NoGradGuard no_grad;
    for (auto& c : reader.copies)
        c.target.copy_(c.source);
}

void saveNodeWeights(Node& node, const fs::path& file) {
    torch::nn::Module* module = node.module();
    if (!module)
        throw node.error("has no trainable module, so no weights to save");
    try {
        saveWeights(*module, file);
    } catch (const std::runtime_error& e) {
        throw node.error(e.what());
    }
}

void prepareNetwork(const Node& node, torch::nn::Module& network) {
    if (node.params().text("dtype") == "float64")
        network.to(torch::kDouble);
    if (!node.params().isNull("weights")) {
        try {
            loadWeights(network, node.params().path("weights"));
        } catch (const std::invalid_argument& e) {
            Location at = node.where();
            at.pointer += "/params/weights";
            throw Error(at, "(" + node.spec().type + ") " + e.what());
        }
    }
    network.eval();
}

} // namespace avgraph::nodes
