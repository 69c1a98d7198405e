#pragma once
/**
 * The outputs of a training graph's frozen front end (audio -> log-mel, say) for each clip, computed
 * once without gradients and kept: in memory, on disk under a folder keyed by what the front end is
 * (reused by later runs with the same front end), or not at all (computed again on every use). One
 * cache serves several runs on the same graph (the folds of a cross-validation).
 */
#include "graph/executor.h"
#include "host/datasets/dataset.h"

#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace avgraph::host::training {

class FeatureCache {
public:
    /**
     * `boundary`: node id -> the output ports the trained part reads. `mode`: "memory", "disk" or "none".
     * `folder`: where "disk" keeps its files (in a sub-folder named by a hash of the front end).
     */
    FeatureCache(Executor& executor, const std::vector<PresetInput>& inputs,
                 std::map<std::string, std::vector<std::string>> boundary, std::string mode,
                 std::filesystem::path folder);

    /** Computes (or reads) the features of every listed clip not yet cached, in batches, with a progress bar.
     */
    void prepare(const Dataset& ds, const std::vector<size_t>& clips, bool progress);
    /** The cached features of one clip: node id -> port -> value with a batch of one. */
    std::map<std::string, Ports> get(const Dataset& ds, size_t clip);

private:
    void compute(const std::vector<size_t>& clips, const std::vector<std::map<std::string, Value>>& inputs,
                 const Dataset& ds, std::vector<std::map<std::string, Ports>>* each);
    std::filesystem::path fileFor(const Dataset& ds, size_t clip) const;
    bool readDisk(const Dataset& ds, size_t clip, std::map<std::string, Ports>& out);
    void writeDisk(const Dataset& ds, size_t clip, const std::map<std::string, Ports>& features);

    Executor& executor_;
    std::vector<PresetInput> inputs_;
    std::map<std::string, std::vector<std::string>> boundary_;
    std::string mode_;
    std::filesystem::path folder_;
    std::map<size_t, std::map<std::string, Ports>> memory_;
};

} // namespace avgraph::host::training
