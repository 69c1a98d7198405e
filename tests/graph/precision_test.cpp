// The precision words, what they mean on CPUs described by /proc/cpuinfo files, LibTorch's autocast
// switched on and off, and a graph whose network runs in bf16 while its features stay float32.
//
// tests/data/cpuinfo holds a processor's entry of /proc/cpuinfo for four CPUs: amd-epyc-zen3.txt was
// read off a machine of the kind the project builds on (no AVX-512); the others are written in the same
// form with their models' flags (Zen 4 has avx512_bf16; Sapphire Rapids avx512_bf16 and AMX; Skylake
// AVX-512 without bf16).
#include "graph/executor.h"
#include "graph/precision.h"
#include "io/audio_input.h"

#include "tests/graph/graph_test_support.h"
#include "tests/test_support.h"

#include <catch2/catch.hpp>

#include <fstream>

using namespace avgraph;
namespace fs = std::filesystem;

namespace {

CpuDescription fakedCpu(const std::string& name) {
    const fs::path file = test::sourceDir() / "tests/data/cpuinfo" / (name + ".txt");
    std::ifstream in(file);
    REQUIRE(in);
    std::ostringstream text;
    text << in.rdbuf();
    return describeCpu(text.str(), file.string());
}

const Location kOption{"--precision", "", "", 0, 0};

} // namespace

TEST_CASE("a CPU's bf16 comes from its cpuinfo flags", "[graph][precision]") {
    const auto zen3 = fakedCpu("amd-epyc-zen3");
    CHECK(zen3.model == "AMD EPYC");
    CHECK_FALSE(zen3.nativeBf16());
    const auto skylake = fakedCpu("intel-xeon-skylake");
    CHECK_FALSE(skylake.nativeBf16()); // AVX-512, but no bf16 instructions
    const auto zen4 = fakedCpu("amd-epyc-zen4");
    CHECK(zen4.avx512_bf16);
    CHECK_FALSE(zen4.amx_bf16);
    const auto spr = fakedCpu("intel-xeon-sapphire-rapids");
    CHECK(spr.avx512_bf16);
    CHECK(spr.amx_bf16);
    CHECK(spr.model == "Intel(R) Xeon(R) Platinum 8488C");
    // A flag that merely starts like one does not count.
    CHECK_FALSE(describeCpu("flags\t\t: avx512_bf16x amx_bf16_lite\n", "text").nativeBf16());
}

TEST_CASE("auto picks bf16 where the CPU has it natively and float32 elsewhere", "[graph][precision]") {
    const torch::Device cpu(torch::kCPU);
    for (const char* name : {"amd-epyc-zen3", "intel-xeon-skylake"}) {
        INFO(name);
        const auto choice = choosePrecision("auto", cpu, fakedCpu(name), kOption);
        CHECK(choice.precision == Precision::fp32);
        CHECK_THAT(choice.reason,
                   Catch::StartsWith("auto: ") &&
                       Catch::Contains("has no native bf16 (neither avx512_bf16 nor amx_bf16"));
        CHECK(choice.warning.empty());
    }
    const auto zen4 = choosePrecision("auto", cpu, fakedCpu("amd-epyc-zen4"), kOption);
    CHECK(zen4.precision == Precision::bf16);
    CHECK(zen4.reason == "auto: AMD EPYC 9R14 has avx512_bf16");
    const auto spr = choosePrecision("auto", cpu, fakedCpu("intel-xeon-sapphire-rapids"), kOption);
    CHECK(spr.precision == Precision::bf16);
    CHECK(spr.reason == "auto: Intel(R) Xeon(R) Platinum 8488C has avx512_bf16 and amx_bf16");
}

TEST_CASE("asked precisions: fp32 always, bf16 with a warning where it is emulated, fp16 never on the CPU",
          "[graph][precision]") {
    const torch::Device cpu(torch::kCPU);
    const auto zen3 = fakedCpu("amd-epyc-zen3");
    const auto zen4 = fakedCpu("amd-epyc-zen4");
    CHECK(choosePrecision("fp32", cpu, zen4, kOption).precision == Precision::fp32);
    CHECK(choosePrecision("fp32", cpu, zen4, kOption).reason == "asked");

    const auto native = choosePrecision("bf16", cpu, zen4, kOption);
    CHECK(native.precision == Precision::bf16);
    CHECK(native.warning.empty());
    const auto emulated = choosePrecision("bf16", cpu, zen3, kOption);
    CHECK(emulated.precision == Precision::bf16);
    CHECK_THAT(emulated.warning, Catch::StartsWith("AMD EPYC has no native bf16") &&
                                     Catch::Contains("slower than fp32") &&
                                     Catch::Contains("use fp32 or auto"));

    try {
        choosePrecision("fp16", cpu, zen4, kOption);
        FAIL("fp16 on the CPU was accepted");
    } catch (const Error& e) {
        CHECK_THAT(e.what(), Catch::StartsWith("--precision") && Catch::Contains("fp16 runs on CUDA only"));
    }
    try {
        choosePrecision("half", cpu, zen4, kOption);
        FAIL("an unknown word was accepted");
    } catch (const Error& e) {
        CHECK_THAT(e.what(), Catch::Contains("unknown precision \"half\"") &&
                                 Catch::Contains("expected one of fp32, bf16, fp16, auto"));
    }
}

TEST_CASE("AutocastScope turns autocast on for its lifetime and restores what was before",
          "[graph][precision]") {
    torch::NoGradGuard no_grad;
    const auto x = torch::randn({1, 2, 8, 8});
    const auto w = torch::randn({3, 2, 3, 3});
    CHECK(torch::conv2d(x, w).scalar_type() == torch::kFloat);
    {
        AutocastScope fp32(Precision::fp32, c10::DeviceType::CPU);
        CHECK(torch::conv2d(x, w).scalar_type() == torch::kFloat);
    }
    {
        AutocastScope bf16(Precision::bf16, c10::DeviceType::CPU);
        CHECK(torch::conv2d(x, w).scalar_type() == torch::kBFloat16);
        {
            AutocastScope nested(Precision::bf16, c10::DeviceType::CPU);
            CHECK(torch::conv2d(x, w).scalar_type() == torch::kBFloat16);
        }
        CHECK(torch::conv2d(x, w).scalar_type() == torch::kBFloat16); // the inner scope left it on
        // Element-wise work keeps its type: x stays float32.
        CHECK((x * 2).scalar_type() == torch::kFloat);
    }
    CHECK(torch::conv2d(x, w).scalar_type() == torch::kFloat);
}

TEST_CASE("a graph's network runs in bf16 while its features stay float32, and hands on float32",
          "[graph][precision]") {
    test::ScratchDir dir;
    const fs::path preset = dir / "cnn9-with-features.json";
    std::ofstream(preset) << R"({"avgraph": 1, "extends": ")" +
                                 (test::testPresetDir() / "eval-cnn9-small.json").string() +
                                 R"(", "outputs": {"probabilities": "softmax", "logmel": "logmel"}})";
    auto registry = test::builtinRegistry();
    Graph g = Graph::build(Preset::load(preset), *registry);
    Executor ex(g, Plan::make(g, "cpu"));
    const Value clip = host::loadAudioFor(test::esc10Clip(), {"audio", Kind::Audio, std::nullopt});
    const auto fp32 = ex.run({{"audio", clip}});

    const auto choice = ex.setPrecision("bf16", kOption);
    CHECK(choice.precision == Precision::bf16);
    CHECK(g.node(g.find("cnn9")).precision() == Precision::bf16);
    CHECK(g.node(g.find("logmel")).precision() == Precision::fp32); // no network: untouched
    const auto bf16 = ex.run({{"audio", clip}});

    CHECK(torch::equal(bf16.at("logmel").tensor, fp32.at("logmel").tensor));
    const auto& p = bf16.at("probabilities").tensor;
    CHECK(p.scalar_type() == torch::kFloat);
    CHECK(p.sum().item<double>() == Approx(1.0).epsilon(1e-6)); // the softmax after it ran in float32
    // The network's weights are random (no weights file): the two precisions give nearly the same
    // probabilities, but not the same bits, or bf16 was not on.
    const double difference = (p - fp32.at("probabilities").tensor).abs().max().item<double>();
    INFO("largest probability difference bf16 - fp32: " << difference);
    CHECK(difference > 0.0);
    CHECK(difference < 0.05);

    ex.setPrecision("fp32", kOption);
    CHECK(
        torch::equal(ex.run({{"audio", clip}}).at("probabilities").tensor, fp32.at("probabilities").tensor));

    // Only the named nodes' networks (training names the ones it runs every step).
    ex.setPrecision("bf16", kOption, {"softmax"});
    CHECK(g.node(g.find("cnn9")).precision() == Precision::fp32);
    ex.setPrecision("bf16", kOption, {"cnn9"});
    CHECK(g.node(g.find("cnn9")).precision() == Precision::bf16);
}
