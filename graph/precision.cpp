#include "graph/precision.h"

#include <ATen/autocast_mode.h>
#include <ATen/detail/CUDAHooksInterface.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

namespace avgraph {

const char* precisionName(Precision precision) {
    switch (precision) {
    case Precision::bf16:
        return "bf16";
    case Precision::fp16:
        return "fp16";
    case Precision::fp32:
        break;
    }
    return "fp32";
}

std::string precisionWordList() {
    std::string list;
    for (const char* word : kPrecisionWords)
        list += (list.empty() ? "" : ", ") + std::string(word);
    return list;
}

CpuDescription describeCpu(std::string_view cpuinfo, std::string source) {
    CpuDescription cpu;
    cpu.source = std::move(source);
    bool have_flags = false;
    std::istringstream lines{std::string(cpuinfo)};
    for (std::string line; std::getline(lines, line);) {
        const auto colon = line.find(':');
        if (colon == std::string::npos)
            continue;
        std::string key = line.substr(0, colon);
        key.erase(key.find_last_not_of(" \t") + 1);
        std::string value = line.substr(colon + 1);
        value.erase(0, value.find_first_not_of(" \t"));
        if (key == "model name" && cpu.model.empty())
            cpu.model = value;
        else if (key == "flags" && !have_flags) { // the first processor's; they are all alike
            have_flags = true;
            std::istringstream words(value);
            for (std::string flag; words >> flag;) {
                cpu.avx512_bf16 = cpu.avx512_bf16 || flag == "avx512_bf16";
                cpu.amx_bf16 = cpu.amx_bf16 || flag == "amx_bf16";
            }
        }
    }
    return cpu;
}

namespace {

CpuDescription readThisCpu() {
    std::string file = "/proc/cpuinfo";
    const char* faked = std::getenv("AVGRAPH_CPUINFO");
    if (faked && *faked)
        file = faked;
    std::ifstream in(file);
    if (!in && faked && *faked)
        throw fileError(file, "AVGRAPH_CPUINFO names this file as the CPU's description, but it cannot be "
                              "read; unset AVGRAPH_CPUINFO to read /proc/cpuinfo");
    if (in) {
        std::ostringstream text;
        text << in.rdbuf();
        return describeCpu(text.str(), file);
    }
    CpuDescription cpu;
    cpu.source = "cpuid";
#if defined(__x86_64__) || defined(__i386__)
    // Leaf 7: sub-leaf 1 EAX bit 5 is AVX512_BF16; sub-leaf 0 EDX bit 22 is AMX-BF16. (The kernel's
    // /proc/cpuinfo also says whether it enabled them; cpuid is only the fallback.)
    unsigned a = 0, b = 0, c = 0, d = 0;
    if (__get_cpuid_count(7, 0, &a, &b, &c, &d)) {
        cpu.amx_bf16 = (d >> 22) & 1U;
        const unsigned max_subleaf = a;
        if (max_subleaf >= 1 && __get_cpuid_count(7, 1, &a, &b, &c, &d))
            cpu.avx512_bf16 = (a >> 5) & 1U;
    }
#endif
    return cpu;
}

std::string cpuName(const CpuDescription& cpu) { return cpu.model.empty() ? "this CPU" : cpu.model; }

std::string nativeFlags(const CpuDescription& cpu) {
    if (cpu.avx512_bf16 && cpu.amx_bf16)
        return "avx512_bf16 and amx_bf16";
    return cpu.amx_bf16 ? "amx_bf16" : "avx512_bf16";
}

} // namespace

const CpuDescription& thisCpu() {
    static const CpuDescription cpu = readThisCpu();
    return cpu;
}

PrecisionChoice choosePrecision(const std::string& word, const torch::Device& device,
                                const CpuDescription& cpu, const Location& where) {
    PrecisionChoice choice;
    choice.asked = word;
    const bool cuda = device.is_cuda();
    const bool cuda_bf16 = cuda && at::detail::getCUDAHooks().supportsBFloat16ConvolutionWithCuDNNv8();
    if (word == "fp32") {
        choice.reason = "asked";
    } else if (word == "bf16") {
        choice.precision = Precision::bf16;
        choice.reason = "asked";
        if (cuda && !cuda_bf16)
            throw Error(where, "precision bf16 was asked for on " + device.str() +
                                   ", which has no bf16 (it needs compute capability 8.0 or later); use "
                                   "fp16 or auto");
        if (!cuda && !cpu.nativeBf16())
            choice.warning =
                cpuName(cpu) + " has no native bf16 (neither avx512_bf16 nor amx_bf16 in " + cpu.source +
                "): LibTorch emulates it, with the same results, but many times slower than "
                "fp32 (CNN9 on an AMD Zen 3: training about 30x, inference about 5x); use fp32 or auto on "
                "this machine";
    } else if (word == "fp16") {
        if (!cuda)
            throw Error(where, "precision fp16 runs on CUDA only; on the CPU use bf16 (native on CPUs with "
                               "avx512_bf16 or AMX) or fp32");
        choice.precision = Precision::fp16;
        choice.reason = "asked";
    } else if (word == "auto") {
        if (cuda) {
            choice.precision = cuda_bf16 ? Precision::bf16 : Precision::fp16;
            choice.reason = cuda_bf16 ? "auto: " + device.str() + " has bf16"
                                      : "auto: " + device.str() + " has no bf16 (compute capability < 8.0)";
        } else if (cpu.nativeBf16()) {
            choice.precision = Precision::bf16;
            choice.reason = "auto: " + cpuName(cpu) + " has " + nativeFlags(cpu);
        } else {
            choice.reason = "auto: " + cpuName(cpu) +
                            " has no native bf16 (neither avx512_bf16 nor amx_bf16 in " + cpu.source + ")";
        }
    } else {
        throw Error(where, "unknown precision \"" + word + "\"; expected one of " + precisionWordList());
    }
    return choice;
}

PrecisionChoice choosePrecision(const std::string& word, const torch::Device& device, const Location& where) {
    return choosePrecision(word, device, thisCpu(), where);
}

AutocastScope::AutocastScope(Precision precision, c10::DeviceType device) {
    if (precision == Precision::fp32)
        return;
    active_ = true;
    cuda_ = device == c10::DeviceType::CUDA;
    const auto dtype = precision == Precision::bf16 ? at::kBFloat16 : at::kHalf;
    if (cuda_) {
        was_enabled_ = at::autocast::is_enabled();
        was_dtype_ = at::autocast::get_autocast_gpu_dtype();
        at::autocast::set_enabled(true);
        at::autocast::set_autocast_gpu_dtype(dtype);
    } else {
        was_enabled_ = at::autocast::is_cpu_enabled();
        was_dtype_ = at::autocast::get_autocast_cpu_dtype();
        at::autocast::set_cpu_enabled(true);
        at::autocast::set_autocast_cpu_dtype(dtype);
    }
    at::autocast::increment_nesting();
}

AutocastScope::~AutocastScope() {
    if (!active_)
        return;
    // As torch.autocast's __exit__: the cache of cast weights lives as long as the outermost scope.
    if (at::autocast::decrement_nesting() == 0)
        at::autocast::clear_cache();
    if (cuda_) {
        at::autocast::set_enabled(was_enabled_);
        at::autocast::set_autocast_gpu_dtype(was_dtype_);
    } else {
        at::autocast::set_cpu_enabled(was_enabled_);
        at::autocast::set_autocast_cpu_dtype(was_dtype_);
    }
}

} // namespace avgraph
