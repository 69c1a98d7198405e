// The IVF networks against Python PyTorch (/usr/bin/python3 with Debian's python3-torch): the same
// networks written there (ivf_pytorch_reference.py), their weights exported with
// torch.jit.script(net).save and loaded by the nodes' `weights` parameter, must give the same outputs.
#include "nodes/models/model_nodes.h"

#include "tests/nodes/node_test_support.h"

#include <catch2/catch.hpp>

namespace avgraph::test {

namespace {

const fs::path& ivfReferenceDir() { return pythonReferenceDir("ivf_pytorch_reference.py"); }

torch::Tensor ivfReference(const std::string& name) {
    return host::readNpy(ivfReferenceDir() / (name + ".npy"));
}

constexpr double kIvfAtol = 1e-5, kIvfRtol = 1e-4;

void checkIvfAgainstPython(const std::string& name, Kind kind, const std::string& output,
                           nlohmann::json params, bool train_differs) {
    params["weights"] = (ivfReferenceDir() / (name + ".pt")).string();
    auto node = makeNode("models." + name, params, name);
    Value x;
    x.tensor = ivfReference(name + "_in");
    x.kind = kind;
    const auto expected = ivfReference(name + "_eval");
    // The comparison means something only if the outputs vary far more than the tolerance.
    REQUIRE((expected - expected.flatten()[0]).abs().max().item<double>() > 100 * (kIvfAtol + kIvfRtol));

    torch::NoGradGuard no_grad;
    auto eval = node->process({{"in", x}}).at(output).tensor;
    REQUIRE(eval.sizes() == expected.sizes());
    auto d = deviation(eval, expected, kIvfAtol, kIvfRtol);
    reportDeviation(name + " eval vs PyTorch", d);
    CHECK(d.within());

    node->module()->train();
    const auto expected_train = ivfReference(name + "_train");
    if (train_differs) // batch statistics instead of running ones
        REQUIRE((expected_train - expected).abs().max().item<double>() > 100 * (kIvfAtol + kIvfRtol));
    d = deviation(node->process({{"in", x}}).at(output).tensor, expected_train, kIvfAtol, kIvfRtol);
    reportDeviation(name + " train vs PyTorch", d);
    CHECK(d.within());
}

} // namespace

TEST_CASE("models.vqvae_encoder gives PyTorch's z_e with PyTorch's weights", "[models][ivf][pytorch]") {
    checkIvfAgainstPython(
        "vqvae_encoder", Kind::Image, "z_e",
        {{"hidden", 16}, {"residual_layers", 2}, {"residual_hidden", 8}, {"embedding_dim", 8}}, false);
}

TEST_CASE("models.vqvae_decoder gives PyTorch's image with PyTorch's weights", "[models][ivf][pytorch]") {
    checkIvfAgainstPython(
        "vqvae_decoder", Kind::Tensor, "image",
        {{"hidden", 16}, {"residual_layers", 2}, {"residual_hidden", 8}, {"embedding_dim", 8}}, false);
}

TEST_CASE("models.transformation_network gives PyTorch's index map with PyTorch's weights",
          "[models][ivf][pytorch]") {
    checkIvfAgainstPython(
        "transformation_network", Kind::Spectrum, "out",
        {{"widths", "4,8,8,16"}, {"n_mels", 32}, {"shortcut", 8}, {"hidden", 12}, {"grid", 4}}, true);
}

TEST_CASE("models.critic gives PyTorch's scores with PyTorch's weights", "[models][ivf][pytorch]") {
    checkIvfAgainstPython(
        "critic", Kind::Tensor, "score",
        {{"in_channels", 3}, {"widths", "4,8"}, {"grid", 8}, {"minibatch_kernels", 5}, {"minibatch_dims", 3}},
        false);
}

} // namespace avgraph::test
