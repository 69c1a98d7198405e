#pragma once
/**
 * The arithmetic a graph's networks run in: float32, or mixed precision through LibTorch's autocast.
 *
 * Mixed precision applies to the nodes that hold a network (Node::module()); feature extraction, fusion
 * and everything else stay float32, so a feature node gives the same values whatever the precision.
 * Inside a network node, autocast runs convolutions, linear layers and matrix products in the lower
 * precision (bf16 on the CPU; fp16 or bf16 on CUDA) and keeps parameters float32; batch norm computes
 * in float32 (LibTorch's mixed-type kernel, or nodes/models/batch_norm.h's synchronised one after an
 * explicit float32 cast). What a network node outputs is cast back to float32, so softmax, losses and
 * whatever follows see float32. Master weights and optimizer state are float32 throughout.
 *
 * The words a user writes, in a preset's "train": {"precision": ...} or --precision:
 *
 *   fp32  float32 (the default)
 *   bf16  bfloat16 autocast. On a CPU without native bf16 (no avx512_bf16, no AMX) LibTorch emulates
 *         it: the result is the same, but it runs many times slower than float32 (CNN9 on an AMD Zen 3:
 *         training about 30×, inference about 5×), so the choice carries a warning.
 *   fp16  float16 autocast with gradient scaling in training: CUDA only (an Error on the CPU).
 *   auto  bf16 where the CPU has native bf16; on CUDA bf16 where the GPU has it (compute capability
 *         8.0 or later), else fp16; float32 otherwise.
 *
 * The CPU's description comes from /proc/cpuinfo's flags (cpuid where there is no /proc/cpuinfo);
 * AVGRAPH_CPUINFO names another file to read instead, for tests and to ask what a machine would get
 * (an Error when it cannot be read).
 */
#include "graph/error.h"

#include <c10/core/DeviceType.h>
#include <torch/types.h>

#include <string>
#include <string_view>

namespace avgraph {

enum class Precision { fp32, bf16, fp16 };

/** "fp32", "bf16", "fp16". */
const char* precisionName(Precision precision);

/** The words a preset or an option accepts, in the order errors list them. */
inline constexpr const char* kPrecisionWords[] = {"fp32", "bf16", "fp16", "auto"};
/** "fp32, bf16, fp16, auto". */
std::string precisionWordList();

/** What matters about a CPU for bf16. */
struct CpuDescription {
    std::string model; ///< "model name" of /proc/cpuinfo, for messages
    bool avx512_bf16 = false;
    bool amx_bf16 = false;
    std::string source; ///< where it was read ("/proc/cpuinfo", "cpuid", a faked file)

    bool nativeBf16() const { return avx512_bf16 || amx_bf16; }
};

/** Parses the text of a /proc/cpuinfo (its first processor's "model name" and "flags"). */
CpuDescription describeCpu(std::string_view cpuinfo, std::string source);

/** This machine's CPU: $AVGRAPH_CPUINFO, else /proc/cpuinfo, else cpuid. Read once per process. */
const CpuDescription& thisCpu();

/** A precision chosen for a device, and why, in words a training log can record. */
struct PrecisionChoice {
    Precision precision = Precision::fp32;
    std::string asked = "fp32"; ///< the word asked for
    std::string reason;         ///< "asked", "auto: this CPU has avx512_bf16", ...
    std::string warning;        ///< non-empty: say it before running (bf16 emulated on this CPU)
};

/**
 * The precision that `word` (one of kPrecisionWords) means for networks on `device`, given `cpu`.
 * Throws an Error at `where` for an unknown word (listing the accepted ones), for fp16 on the CPU,
 * and for bf16 on a GPU without it.
 */
PrecisionChoice choosePrecision(const std::string& word, const torch::Device& device,
                                const CpuDescription& cpu, const Location& where);
PrecisionChoice choosePrecision(const std::string& word, const torch::Device& device, const Location& where);

/**
 * Turns LibTorch's autocast on for this thread for its lifetime (nothing for fp32), as
 * `torch.autocast(device_type, dtype)` does, and restores what was set before. Autocast is
 * thread-local: construct it on the thread that runs the network.
 */
class AutocastScope {
public:
    AutocastScope(Precision precision, c10::DeviceType device);
    ~AutocastScope();
    AutocastScope(const AutocastScope&) = delete;
    AutocastScope& operator=(const AutocastScope&) = delete;

private:
    bool active_ = false;
    bool cuda_ = false;
    bool was_enabled_ = false;
    c10::ScalarType was_dtype_ = c10::ScalarType::Float;
};

} // namespace avgraph
