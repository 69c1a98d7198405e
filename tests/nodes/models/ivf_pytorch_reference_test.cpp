// The IVF networks against Python PyTorch (/usr/bin/python3 with Debian's python3-torch): the same
// networks written there (ivf_pytorch_reference.py), their weights exported with
// torch.jit.script(net).save and loaded by the nodes' `weights` parameter, must give the same outputs.
#include "nodes/models/model_nodes.h"

#include "tests/nodes/node_test_support.h"

#include <catch2/catch.hpp>

namespace avgraph::test {

namespace {

const fs::path& referenceDir() { return pythonReferenceDir("ivf_pytorch_reference.py"); }

torch::Tensor reference(const std::string& name) { return host::readNpy(referenceDir() / (name + ".npy")); }

constexpr double kAtol = 1e-5, kRtol = 1e-4;

void checkAgainstPython(const std::string& name, Kind kind, const std::string& output, nlohmann::json params,
                        bool train_differs) {
    params["weights"] = (referenceDir() / (name + ".pt")).string();
    auto node = makeNode("models." + name, params, name);
    Value x;
    x.tensor = reference(name + "_in");
    x.kind = kind;
    const auto expected = reference(name + "_eval");
    // The comparison means something only if the outputs vary far more than the tolerance.
    REQUIRE((expected - expected.flatten()[0]).abs().max().item<double>() > 100 * (kAtol + kRtol));

    torch::NoGradGuard no_grad;
    auto eval = node->process({{"in", x}}).at(output).tensor;
    REQUIRE(eval.sizes() == expected.sizes());
    auto d = deviation(eval, expected, kAtol, kRtol);
    reportDeviation(name + " eval vs PyTorch", d);
    CHECK(d.within());

    node->module()->train();
    const auto expected_train = reference(name + "_train");
    if (train_differs) // batch statistics instead of running ones
        REQUIRE((expected_train - expected).abs().max().item<double>() > 100 * (kAtol + kRtol));
    d = deviation(node->process({{"in", x}}).at(output).tensor, expected_train, kAtol, kRtol);
    reportDeviation(name + " train vs PyTorch", d);
    CHECK(d.within());
}

} // namespace

TEST_CASE("models.vqvae_encoder gives PyTorch's z_e with PyTorch's weights", "[models][ivf][pytorch]") {
    checkAgainstPython("vqvae_encoder", Kind::Image, "z_e",
                       {{"hidden", 16}, {"residual_layers", 2}, {"residual_hidden", 8}, {"embedding_dim", 8}},
                       false);
}

TEST_CASE("models.vqvae_decoder gives PyTorch's image with PyTorch's weights", "[models][ivf][pytorch]") {
    checkAgainstPython("vqvae_decoder", Kind::Tensor, "image",
                       {{"hidden", 16}, {"residual_layers", 2}, {"residual_hidden", 8}, {"embedding_dim", 8}},
                       false);
}

TEST_CASE("models.transformation_network gives PyTorch's index map with PyTorch's weights",
          "[models][ivf][pytorch]") {
    checkAgainstPython("transformation_network", Kind::Spectrum, "out",
                       {{"widths", "4,8,8,16"}, {"n_mels", 32}, {"shortcut", 8}, {"hidden", 12}, {"grid", 4}},
                       true);
}

TEST_CASE("models.critic gives PyTorch's scores with PyTorch's weights", "[models][ivf][pytorch]") {
    checkAgainstPython(
        "critic", Kind::Tensor, "score",
        {{"in_channels", 3}, {"widths", "4,8"}, {"grid", 8}, {"minibatch_kernels", 5}, {"minibatch_dims", 3}},
        false);
}

} // namespace avgraph::test
