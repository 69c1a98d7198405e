// models.visual_encoder against torchvision (visual_encoder_reference.py): a resnet18 scripted in
// Python, run on a real photo after torchvision's resize and ImageNet normalisation, must give the
// node's embedding; the network stays frozen; bad files and widths are refused at their parameter.
#include "nodes/models/model_nodes.h"

#include "tests/nodes/image/image_values.h"
#include "tests/nodes/node_test_support.h"

#include <catch2/catch.hpp>

#include <fstream>

namespace avgraph::test {

namespace {

const fs::path& encoderReferenceDir() { return pythonReferenceDir("visual_encoder_reference.py"); }

/** float32 through 18 layers of the same ATen kernels: embeddings up to ~7. */
constexpr double kEmbeddingAtol = 1e-4;

} // namespace

TEST_CASE("models.visual_encoder gives torchvision's embedding of a photo",
          "[models][visual_encoder][pytorch]") {
    const auto images = host::readNpy(encoderReferenceDir() / "images.npy"); // [2, 3, 384, 512], 0..255
    const auto expected = host::readNpy(encoderReferenceDir() / "embedding.npy");
    REQUIRE(images.sizes() == torch::IntArrayRef{2, 3, 384, 512});
    // The photo and its mirror image must give clearly different embeddings for the test to mean something.
    REQUIRE((expected[0] - expected[1]).abs().max().item<double>() > 100 * kEmbeddingAtol);

    auto node =
        makeNode("models.visual_encoder",
                 {{"path", (encoderReferenceDir() / "resnet18.pt").string()}, {"features", 512}}, "video");
    CHECK(node->module() == nullptr); // frozen: not a trainable node

    SECTION("a batch of images") {
        auto out = node->process({{"in", imageValue(images)}}).at("embedding");
        REQUIRE(out.tensor.sizes() == torch::IntArrayRef{2, 512});
        CHECK(out.kind == Kind::Tensor);
        CHECK(out.axes == std::vector<std::string>{"batch", "feature"});
        auto d = deviation(out.tensor, expected, kEmbeddingAtol, 0.0);
        reportDeviation("resnet18 visual encoder vs torchvision", d);
        CHECK(d.within());
    }
    SECTION("video frames [batch, frame, 3, H, W] are folded into the batch") {
        auto out = node->process({{"in", imageValue(images.unsqueeze(0))}}).at("embedding");
        REQUIRE(out.tensor.sizes() == torch::IntArrayRef{1, 2, 512});
        CHECK(out.axes == std::vector<std::string>{"batch", "frame", "feature"});
        CHECK(deviation(out.tensor[0], expected, kEmbeddingAtol, 0.0).within());
    }
    SECTION("frozen even with autograd on: no graph to the input or the weights") {
        auto x = images.clone().requires_grad_(true);
        auto out = node->process({{"in", imageValue(x)}}).at("embedding");
        CHECK(!out.tensor.requires_grad());
    }
    SECTION("a features width the module does not give is refused at the parameter") {
        auto wrong = makeNode(
            "models.visual_encoder",
            {{"path", (encoderReferenceDir() / "resnet18.pt").string()}, {"features", 2048}}, "video");
        auto e = errorOf([&] { wrong->process({{"in", imageValue(images)}}); });
        CHECK(e.where().pointer == "/nodes/video/params/features");
        CHECK_THAT(e.message(), Catch::Contains("gives 512-d embeddings, not 2048"));
    }
    SECTION("not an image") {
        auto e = errorOf([&] { node->process({{"in", imageValue(torch::rand({2, 1, 32, 32}))}}); });
        CHECK_THAT(e.message(), Catch::Contains("expected RGB images [batch, 3, H, W]"));
    }
}

TEST_CASE("models.visual_encoder refuses a missing file or one that is not TorchScript",
          "[models][visual_encoder]") {
    ScratchDir dir;
    auto e = errorOf([&] { makeNode("models.visual_encoder", {{"path", (dir / "resnet50.pt").string()}}); });
    CHECK(e.where().pointer == "/nodes/node/params/path");
    CHECK_THAT(e.message(), Catch::Contains("file not found") && Catch::Contains("resnet50.pt"));

    const auto file = dir / "not-a-module.pt";
    std::ofstream(file) << "hello";
    e = errorOf([&] { makeNode("models.visual_encoder", {{"path", file.string()}}); });
    CHECK(e.where().pointer == "/nodes/node/params/path");
    CHECK_THAT(e.message(), Catch::Contains("cannot load TorchScript module " + file.string()) &&
                                Catch::Contains("torch.jit.script(model.eval()).save"));
}

} // namespace avgraph::test
