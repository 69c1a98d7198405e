#pragma once
/**
 * Per-node time over one or more runs of a graph, as printed by `run --profile` and `bench`.
 */
#include "graph/executor.h"

#include <map>
#include <string>
#include <vector>

namespace avgraph::host {

class ProfileReport {
public:
    void add(const std::vector<StepTiming>& run);
    /** A table: node, type, runs, median and total time, share of the summed node time, and the
     *  start/end of each node in the last run, which shows branches that overlapped. */
    std::string table() const;
    /** Median wall time of each node over the runs added. */
    std::map<std::string, double> medians() const;

private:
    std::vector<std::string> order_;
    std::map<std::string, std::string> types_;
    std::map<std::string, std::vector<double>> seconds_;
    std::vector<StepTiming> last_;
};

double median(std::vector<double> values);

} // namespace avgraph::host
