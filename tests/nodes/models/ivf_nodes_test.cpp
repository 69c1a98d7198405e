// The IVF nodes: shapes at default and other sizes, parameter names of the weights format, the
// codebook's nearest code / loss / straight-through gradient / usage against brute force and closed
// forms, the codebook shared through one weights file, index-map rounding and interpolation, and the
// critic's gradient penalty (double backward) against finite differences.
#include "nodes/models/model_nodes.h"
#include "nodes/models/model_weights.h"

#include "tests/nodes/image/image_values.h"
#include "tests/nodes/node_test_support.h"

#include <catch2/catch.hpp>

#include <set>

namespace avgraph::test {

namespace {

Value indicesValue(torch::Tensor t) {
    Value v;
    v.tensor = std::move(t);
    v.kind = Kind::Indices;
    return v;
}

torch::Tensor run(Node& node, const std::string& in_port, const Value& in, const std::string& out_port) {
    return node.process({{in_port, in}}).at(out_port).tensor;
}

std::set<std::string> parameterNames(Node& node) {
    std::set<std::string> names;
    for (const auto& p : node.module()->named_parameters())
        names.insert(p.key());
    return names;
}

// Closed forms: a k×k convolution (or transposed convolution) with bias from a to b channels has
// k²ab + b parameters.
int64_t conv(int64_t a, int64_t b, int64_t k) { return k * k * a * b + b; }

torch::Tensor embeddingOf(Node& node) { return node.module()->named_parameters()["embedding"]; }

/** The expected message of a node's error about its input. */
void requireInputError(Node& node, const std::string& port, const Value& in, const std::string& expected) {
    try {
        node.process({{port, in}});
        FAIL("no error");
    } catch (const Error& e) {
        CHECK_THAT(e.what(), Catch::Contains("'" + node.id() + "'") &&
                                 Catch::Contains("input '" + port + "'") && Catch::Contains(expected));
    }
}

} // namespace

TEST_CASE("models.vqvae_encoder and models.vqvae_decoder map images to 1/8 grids and back",
          "[models][ivf][vqvae]") {
    torch::NoGradGuard no_grad;
    SECTION("defaults: 128x128 images, D 64, 16x16 grids") {
        auto encoder = makeNode("models.vqvae_encoder", {}, "enc");
        auto decoder = makeNode("models.vqvae_decoder", {}, "dec");
        auto z = run(*encoder, "in", imageValue(torch::rand({2, 3, 128, 128}) - 0.5), "z_e");
        CHECK(z.sizes() == torch::IntArrayRef{2, 64, 16, 16});
        auto image = decoder->process({{"in", tensorValue(z)}}).at("image");
        CHECK(image.tensor.sizes() == torch::IntArrayRef{2, 3, 128, 128});
        CHECK(image.kind == Kind::Image);
        CHECK(image.axes == std::vector<std::string>{"batch", "channel", "row", "col"});

        // Conv 4x4/2 3->64, 64->128, 128->128, Conv 3x3 128->128, 4 x (3x3 128->32, 1x1 32->128), 1x1 128->64
        const int64_t residual = 4 * (conv(128, 32, 3) + conv(32, 128, 1));
        CHECK(parameterCount(*encoder) == conv(3, 64, 4) + conv(64, 128, 4) + conv(128, 128, 4) +
                                              conv(128, 128, 3) + residual + conv(128, 64, 1));
        CHECK(parameterCount(*decoder) ==
              conv(64, 128, 3) + residual + conv(128, 128, 4) + conv(128, 64, 4) + conv(64, 3, 4));
    }
    SECTION("other sizes and a non-square image") {
        const nlohmann::json sizes{
            {"hidden", 16}, {"residual_layers", 1}, {"residual_hidden", 4}, {"embedding_dim", 8}};
        auto encoder = makeNode("models.vqvae_encoder", sizes);
        auto decoder = makeNode("models.vqvae_decoder", sizes);
        auto z = run(*encoder, "in", imageValue(torch::rand({1, 3, 32, 24})), "z_e");
        CHECK(z.sizes() == torch::IntArrayRef{1, 8, 4, 3});
        CHECK(run(*decoder, "in", tensorValue(z), "image").sizes() == torch::IntArrayRef{1, 3, 32, 24});

        // The weights format (docs/models.md)
        CHECK(parameterNames(*encoder) ==
              std::set<std::string>{"conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias",
                                    "conv3.weight", "conv3.bias", "conv4.weight", "conv4.bias",
                                    "residual1.conv1.weight", "residual1.conv1.bias",
                                    "residual1.conv2.weight", "residual1.conv2.bias", "pre_vq_conv.weight",
                                    "pre_vq_conv.bias"});
        CHECK(parameterNames(*decoder) ==
              std::set<std::string>{"conv1.weight", "conv1.bias", "residual1.conv1.weight",
                                    "residual1.conv1.bias", "residual1.conv2.weight", "residual1.conv2.bias",
                                    "deconv1.weight", "deconv1.bias", "deconv2.weight", "deconv2.bias",
                                    "deconv3.weight", "deconv3.bias"});
    }
    SECTION("float64") {
        auto encoder =
            makeNode("models.vqvae_encoder", {{"hidden", 8}, {"embedding_dim", 4}, {"dtype", "float64"}});
        CHECK(run(*encoder, "in", imageValue(torch::rand({1, 3, 16, 16})), "z_e").scalar_type() ==
              torch::kDouble);
    }
    SECTION("wrong shapes are refused naming the port and the expected shape") {
        auto encoder = makeNode("models.vqvae_encoder", {{"hidden", 8}, {"embedding_dim", 4}}, "enc");
        requireInputError(*encoder, "in", imageValue(torch::rand({1, 3, 30, 32})), "multiples of 8");
        requireInputError(*encoder, "in", imageValue(torch::rand({1, 1, 32, 32})), "[batch, 3, H, W]");
        auto decoder = makeNode("models.vqvae_decoder", {{"hidden", 8}, {"embedding_dim", 4}}, "dec");
        requireInputError(*decoder, "in", tensorValue(torch::rand({1, 5, 2, 2})),
                          "[batch, 4 (embedding_dim), h, w]");
    }
    SECTION("an odd hidden width is refused at its parameter") {
        try {
            makeNode("models.vqvae_encoder", {{"hidden", 9}});
            FAIL("no error");
        } catch (const Error& e) {
            CHECK(e.where().pointer == "/nodes/node/params/hidden");
        }
    }
}

TEST_CASE("models.vq_codebook picks the nearest code, with the VQ loss and a straight-through gradient",
          "[models][ivf][codebook]") {
    const int64_t n = 2, d = 5, h = 3, w = 4, k = 7;
    const double beta = 0.25;
    auto node = makeNode("models.vq_codebook",
                         {{"codes", k}, {"embedding_dim", d}, {"beta", beta}, {"dtype", "float64"}}, "vq");
    auto embedding = embeddingOf(*node);
    REQUIRE(embedding.sizes() == torch::IntArrayRef{k, d});
    CHECK(parameterNames(*node) == std::set<std::string>{"embedding"});
    // Initialised uniform(-1/K, 1/K)
    CHECK(embedding.abs().max().item<double>() <= 1.0 / k);
    CHECK(embedding.abs().max().item<double>() > 0.5 / k);

    torch::manual_seed(3);
    {
        torch::NoGradGuard no_grad;
        embedding.copy_(torch::randn({k, d}, torch::kDouble));
    }
    auto z_e = torch::randn({n, d, h, w}, torch::kDouble).requires_grad_(true);
    auto out = node->process({{"in", tensorValue(z_e)}});
    const auto quantized = out.at("quantized").tensor;
    const auto indices = out.at("indices");
    const auto loss = out.at("loss").tensor;
    const auto usage = out.at("usage").tensor;
    REQUIRE(quantized.sizes() == torch::IntArrayRef{n, d, h, w});
    REQUIRE(indices.tensor.sizes() == torch::IntArrayRef{n, h, w});
    CHECK(indices.kind == Kind::Indices);
    CHECK(indices.tensor.scalar_type() == torch::kLong);
    CHECK(loss.dim() == 0);
    REQUIRE(usage.sizes() == torch::IntArrayRef{k});

    // Brute force: every code's squared distance at every position.
    const auto z = z_e.detach();
    const auto e = embedding.detach();
    auto expected_e = torch::zeros_like(z);
    std::vector<double> counts(k, 0.0);
    double squared = 0.0;
    for (int64_t b = 0; b < n; ++b)
        for (int64_t r = 0; r < h; ++r)
            for (int64_t c = 0; c < w; ++c) {
                int64_t best = -1;
                double best_distance = 0.0;
                for (int64_t code = 0; code < k; ++code) {
                    double distance = 0.0;
                    for (int64_t i = 0; i < d; ++i) {
                        const double diff = z[b][i][r][c].item<double>() - e[code][i].item<double>();
                        distance += diff * diff;
                    }
                    if (best < 0 || distance < best_distance) {
                        best = code;
                        best_distance = distance;
                    }
                }
                CHECK(indices.tensor[b][r][c].item<int64_t>() == best);
                expected_e.select(0, b).select(1, r).select(1, c).copy_(e[best]);
                counts[best] += 1.0;
                squared += best_distance;
            }
    CHECK(torch::allclose(quantized.detach(), expected_e, 0, 1e-12));
    // (1 + beta) mean (z_e - e)² over all N·D·h·w entries
    CHECK(loss.item<double>() == Approx((1 + beta) * squared / (n * d * h * w)).epsilon(1e-12));
    CHECK(usage.sum().item<double>() == n * h * w);
    for (int64_t code = 0; code < k; ++code)
        CHECK(usage[code].item<double>() == counts[code]);

    SECTION("the gradient of quantized reaches z_e unchanged and not the codebook") {
        quantized.sum().backward();
        CHECK(torch::equal(z_e.grad(), torch::ones_like(z)));
        CHECK((!embedding.grad().defined() || embedding.grad().abs().max().item<double>() == 0.0));
    }
    SECTION("the loss moves the codes towards z_e and commits z_e to them") {
        loss.backward();
        const double count = static_cast<double>(n * d * h * w);
        // d/dE_k of mean (E_k - sg z)²: 2 (E_k - z) / count, summed over the positions that chose k
        auto expected_grad = torch::zeros_like(e);
        for (int64_t b = 0; b < n; ++b)
            for (int64_t r = 0; r < h; ++r)
                for (int64_t c = 0; c < w; ++c) {
                    const auto code = indices.tensor[b][r][c].item<int64_t>();
                    expected_grad[code] += 2 * (e[code] - z.select(0, b).select(1, r).select(1, c)) / count;
                }
        CHECK(torch::allclose(embedding.grad(), expected_grad, 1e-10, 1e-12));
        // d/dz of beta mean (z - sg e)²
        CHECK(torch::allclose(z_e.grad(), beta * 2 * (z - expected_e) / count, 1e-10, 1e-12));
    }
    SECTION("z_e of the wrong width is refused") {
        requireInputError(*node, "in", tensorValue(torch::randn({1, 4, 2, 2})),
                          "z_e [batch, 5 (embedding_dim), h, w]");
    }
}

TEST_CASE("models.codebook_lookup shares models.vq_codebook's weights file", "[models][ivf][codebook]") {
    ScratchDir dir;
    const nlohmann::json sizes{{"codes", 16}, {"embedding_dim", 6}};
    auto vq = makeNode("models.vq_codebook", sizes);
    {
        torch::NoGradGuard no_grad;
        embeddingOf(*vq).copy_(torch::randn({16, 6}));
    }
    const auto file = dir / "codebook.pt";
    nodes::saveNodeWeights(*vq, file);
    auto params = sizes;
    params["weights"] = file.string();
    auto trained_vq = makeNode("models.vq_codebook", params);
    auto lookup = makeNode("models.codebook_lookup", params, "lookup");
    const auto e = embeddingOf(*vq).detach();

    torch::NoGradGuard no_grad;
    auto out = trained_vq->process({{"in", tensorValue(torch::randn({3, 6, 4, 5}))}});
    const auto indices = out.at("indices");
    const auto looked_up = run(*lookup, "in", indices, "quantized");
    // The codes themselves, exactly; vq_codebook's straight-through z_e + (e - z_e) is e to rounding.
    CHECK(torch::equal(
        looked_up, e.index_select(0, indices.tensor.flatten()).reshape({3, 4, 5, 6}).permute({0, 3, 1, 2})));
    CHECK(torch::allclose(looked_up, out.at("quantized").tensor, 0, 1e-6));
    CHECK(torch::bincount(indices.tensor.flatten()).nonzero().size(0) > 4); // many codes, not one

    SECTION("an index map y = 2n/(K - 1) - 1 rounds back to n; beyond [-1, 1] it clamps") {
        auto n = torch::arange(16).reshape({1, 4, 4});
        auto y = 2.0 * n.to(torch::kFloat) / 15.0 - 1.0;
        const auto codes = e.index_select(0, n.flatten()).reshape({1, 4, 4, 6}).permute({0, 3, 1, 2});
        CHECK(torch::equal(run(*lookup, "in", tensorValue(y), "quantized"), codes));
        CHECK(torch::equal(run(*lookup, "in", tensorValue(y.unsqueeze(1)), "quantized"),
                           codes)); // [batch, 1, h, w]
        // 0.4 of a step off still rounds to n
        CHECK(torch::equal(run(*lookup, "in", tensorValue(y + 0.4 * 2.0 / 15.0), "quantized"), codes));
        auto outside = torch::tensor({-3.0f, -1.01f, 1.01f, 7.0f}).reshape({1, 2, 2});
        auto clamped = run(*lookup, "in", tensorValue(outside), "quantized");
        CHECK(torch::equal(clamped.select(2, 0).select(0, 0), torch::stack({e[0], e[0]}, 1)));
        CHECK(torch::equal(clamped.select(2, 1).select(0, 0), torch::stack({e[15], e[15]}, 1)));
    }
    SECTION("indices outside the codebook are refused") {
        requireInputError(*lookup, "in", indicesValue(torch::full({1, 2, 2}, 16, torch::kLong)),
                          "code index 16 outside [0, 16) (codes)");
        requireInputError(*lookup, "in", tensorValue(torch::zeros({1, 2, 2, 2})), "[batch, 1, h, w]");
    }
}

TEST_CASE("models.codebook_lookup with interpolate blends neighbouring codes and passes gradients",
          "[models][ivf][codebook]") {
    const int64_t k = 5;
    auto node = makeNode("models.codebook_lookup",
                         {{"codes", k}, {"embedding_dim", 3}, {"interpolate", true}, {"dtype", "float64"}});
    {
        torch::NoGradGuard no_grad;
        embeddingOf(*node).copy_(torch::randn({k, 3}, torch::kDouble));
    }
    const auto e = embeddingOf(*node).detach().clone();
    // n = 0, 2, 4 (exact codes), 2.25 and 3.5 (blends), 7 (clamped to 4)
    const std::vector<double> ns{0.0, 2.0, 4.0, 2.25, 3.5, 7.0};
    auto n = torch::tensor(ns, torch::kDouble).reshape({1, 1, 6});
    auto y = (2.0 * n / (k - 1) - 1.0).requires_grad_(true);
    auto q = run(*node, "in", tensorValue(y), "quantized"); // [1, 3, 1, 6]
    REQUIRE(q.sizes() == torch::IntArrayRef{1, 3, 1, 6});
    auto at = [&](int64_t i) { return q.detach()[0].select(1, 0).select(1, i); };
    CHECK(torch::allclose(at(0), e[0], 0, 1e-12));
    CHECK(torch::allclose(at(1), e[2], 0, 1e-12));
    CHECK(torch::allclose(at(2), e[4], 0, 1e-12));
    CHECK(torch::allclose(at(3), 0.75 * e[2] + 0.25 * e[3], 0, 1e-12));
    CHECK(torch::allclose(at(4), 0.5 * e[3] + 0.5 * e[4], 0, 1e-12));
    CHECK(torch::allclose(at(5), e[4], 0, 1e-12));

    q.sum().backward();
    REQUIRE(y.grad().defined());
    // d q/d y = (K - 1)/2 · (e[floor n + 1] - e[floor n]) inside (0, K - 1); 0 where clamped
    const double slope = (k - 1) / 2.0;
    const auto g = y.grad()[0][0];
    CHECK(g[3].item<double>() == Approx(slope * (e[3] - e[2]).sum().item<double>()).epsilon(1e-10));
    CHECK(g[4].item<double>() == Approx(slope * (e[4] - e[3]).sum().item<double>()).epsilon(1e-10));
    CHECK(g[5].item<double>() == 0.0);
}

TEST_CASE("models.transformation_network imagines 16x16 maps from log-mel spectra", "[models][ivf][g]") {
    torch::NoGradGuard no_grad;
    SECTION("defaults: index map through tanh from 64 mels x 64 frames") {
        auto g = makeNode("models.transformation_network", {}, "g");
        auto out = run(*g, "in", spectrumValue(torch::randn({2, 1, 64, 64})), "out");
        CHECK(out.sizes() == torch::IntArrayRef{2, 1, 16, 16});
        CHECK(out.abs().max().item<double>() < 1.0);
        CHECK(parameterNames(*g).count("conv_block4.conv2.weight") == 1);
        CHECK(parameterNames(*g).count("fc1.weight") == 1);
        CHECK(parameterNames(*g).count("bn_fc1.weight") == 1);
        CHECK(parameterNames(*g).count("fc2.weight") == 1);
        // fc1 takes the 1024 pooled channels and the 16-value shortcut: 1040 inputs
        CHECK(g->module()->named_parameters()["fc1.weight"].sizes() == torch::IntArrayRef{512, 1040});
        CHECK(g->module()->named_parameters()["fc2.weight"].sizes() == torch::IntArrayRef{256, 512});
        requireInputError(*g, "in", spectrumValue(torch::randn({1, 1, 40, 64})),
                          "[batch, 1, 64 (n_mels), frames >= 8]");
    }
    SECTION("quantized and no_vq modes regress D channels, linearly, from any frame count >= 8") {
        for (const std::string mode : {"quantized", "no_vq"}) {
            auto g = makeNode("models.transformation_network", {{"mode", mode},
                                                                {"widths", "4,8,8,16"},
                                                                {"n_mels", 32},
                                                                {"shortcut", 8},
                                                                {"hidden", 12},
                                                                {"grid", 4},
                                                                {"embedding_dim", 3}});
            for (int64_t frames : {8, 101}) {
                auto out = run(*g, "in", spectrumValue(10 * torch::randn({3, 1, 32, frames})), "out");
                CHECK(out.sizes() == torch::IntArrayRef{3, 3, 4, 4});
                CHECK(out.abs().max().item<double>() > 1.0); // no tanh
            }
        }
    }
}

TEST_CASE("models.transformation_network's shortcut is the loudest frame of each band, averaged 4:1",
          "[models][ivf][g]") {
    // With the convolution path's output layer zeroed, fc1 sees only the shortcut; an identity-like
    // fc1 and fc2 then expose it (hidden 16 = shortcut, grid 4: 16 outputs, mode no_vq: no tanh).
    auto g = makeNode("models.transformation_network", {{"mode", "no_vq"},
                                                        {"widths", "2,2,2,2"},
                                                        {"n_mels", 64},
                                                        {"shortcut", 16},
                                                        {"hidden", 16},
                                                        {"grid", 4},
                                                        {"embedding_dim", 1},
                                                        {"dtype", "float64"}});
    auto p = g->module()->named_parameters();
    torch::NoGradGuard no_grad;
    p["fc1.weight"].zero_();
    p["fc1.weight"].narrow(1, 2, 16).copy_(
        torch::eye(16, torch::kDouble)); // the 2 pooled channels come first
    p["fc1.bias"].zero_();
    p["fc2.weight"].copy_(torch::eye(16, torch::kDouble));
    p["fc2.bias"].zero_();
    // bn_fc1 in eval mode with running mean 0, variance 1: x / sqrt(1 + eps)
    auto x = torch::rand({1, 1, 64, 20}, torch::kDouble) + 0.5; // positive, so ReLU keeps the shortcut
    auto out = run(*g, "in", spectrumValue(x), "out").flatten();
    auto loudest = std::get<0>(x[0][0].max(1)); // [64]
    auto expected = loudest.reshape({16, 4}).mean(1) / std::sqrt(1 + 1e-5);
    CHECK(torch::allclose(out, expected, 1e-12, 1e-10));
}

TEST_CASE("models.critic scores feature maps and its gradient penalty has a second derivative",
          "[models][ivf][critic]") {
    SECTION("shapes, with and without minibatch discrimination") {
        torch::NoGradGuard no_grad;
        auto d = makeNode("models.critic", {}, "d");
        auto score = d->process({{"in", tensorValue(torch::randn({3, 1, 16, 16}))}}).at("score");
        CHECK(score.tensor.sizes() == torch::IntArrayRef{3});
        CHECK(score.axes == std::vector<std::string>{"batch"});
        CHECK(parameterNames(*d) == std::set<std::string>{"conv1.weight", "conv1.bias", "conv2.weight",
                                                          "conv2.bias", "conv3.weight", "conv3.bias",
                                                          "fc.weight", "fc.bias"});
        // 16 -> 8 -> 4 -> 2: 256 · 2 · 2 features
        CHECK(d->module()->named_parameters()["fc.weight"].sizes() == torch::IntArrayRef{1, 1024});
        requireInputError(*d, "in", tensorValue(torch::randn({3, 2, 16, 16})),
                          "[batch, 1 (in_channels), 16, 16 (grid)]");

        auto mb = makeNode("models.critic", {{"in_channels", 64}, {"minibatch_kernels", 10}});
        CHECK(run(*mb, "in", tensorValue(torch::randn({4, 64, 16, 16})), "score").sizes() ==
              torch::IntArrayRef{4});
        CHECK(mb->module()->named_parameters()["minibatch.T"].sizes() == torch::IntArrayRef{1024, 50});
        CHECK(mb->module()->named_parameters()["fc.weight"].sizes() == torch::IntArrayRef{1, 1034});
    }
    for (int64_t kernels : {0, 3}) {
        DYNAMIC_SECTION("WGAN-GP penalty backward matches finite differences, minibatch_kernels "
                        << kernels) {
            auto d = makeNode("models.critic", {{"in_channels", 2},
                                                {"widths", "4,6"},
                                                {"grid", 6},
                                                {"minibatch_kernels", kernels},
                                                {"minibatch_dims", 2},
                                                {"dtype", "float64"}});
            torch::manual_seed(11);
            const auto real = torch::randn({3, 2, 6, 6}, torch::kDouble);
            const auto fake = torch::randn({3, 2, 6, 6}, torch::kDouble);
            const auto mix = torch::rand({3, 1, 1, 1}, torch::kDouble);
            auto penalty = [&] {
                auto x = (mix * fake + (1 - mix) * real).requires_grad_(true);
                auto score = run(*d, "in", tensorValue(x), "score");
                auto grad = torch::autograd::grad({score.sum()}, {x}, {}, /*retain_graph=*/true,
                                                  /*create_graph=*/true)[0];
                return (grad.flatten(1).norm(2, 1) - 1).pow(2).mean();
            };
            auto gp = penalty();
            gp.backward();
            auto weight = d->module()->named_parameters()["conv1.weight"];
            REQUIRE(weight.grad().defined());
            CHECK(torch::isfinite(weight.grad()).all().item<bool>());
            CHECK(weight.grad().abs().max().item<double>() > 0);
            // The second derivative against central differences of the penalty in one weight.
            const double h = 1e-6;
            const double analytic = weight.grad()[0][1][1][2].item<double>();
            torch::NoGradGuard no_grad_for_edit;
            auto element = weight[0][1][1][2];
            const double w0 = element.item<double>();
            element.fill_(w0 + h);
            double up, down;
            {
                torch::AutoGradMode with_grad(true);
                up = penalty().item<double>();
            }
            element.fill_(w0 - h);
            {
                torch::AutoGradMode with_grad(true);
                down = penalty().item<double>();
            }
            element.fill_(w0);
            CHECK(analytic == Approx((up - down) / (2 * h)).epsilon(1e-5).margin(1e-9));
        }
    }
}

TEST_CASE("IVF weights that do not fit are refused at the weights parameter", "[models][ivf][weights]") {
    ScratchDir dir;
    auto small = makeNode("models.vqvae_encoder", {{"hidden", 8}, {"embedding_dim", 4}});
    nodes::saveNodeWeights(*small, dir / "enc.pt");
    try {
        makeNode("models.vqvae_encoder",
                 {{"hidden", 16}, {"embedding_dim", 4}, {"weights", (dir / "enc.pt").string()}}, "enc");
        FAIL("no error");
    } catch (const Error& e) {
        CHECK(e.where().pointer == "/nodes/enc/params/weights");
        CHECK_THAT(e.message(), Catch::Contains("conv1.weight"));
    }
    auto loaded = makeNode("models.vqvae_encoder",
                           {{"hidden", 8}, {"embedding_dim", 4}, {"weights", (dir / "enc.pt").string()}});
    CHECK(torch::equal(loaded->module()->named_parameters()["pre_vq_conv.weight"],
                       small->module()->named_parameters()["pre_vq_conv.weight"]));
}

TEST_CASE("avgraph nodes lists models.vq_codebook's ports and parameters", "[models][ivf][cli]") {
    auto r = runAvgraph("nodes models.vq_codebook");
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    for (const char* word :
         {"quantized", "indices", "loss", "usage", "codes", "embedding_dim", "beta", "weights"})
        CHECK_THAT(r.output, Catch::Contains(word));
}

} // namespace avgraph::test
