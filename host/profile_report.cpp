#include "host/profile_report.h"

#include <algorithm>
#include <cstdio>
#include <numeric>

namespace avgraph::host {

double median(std::vector<double> values) {
    if (values.empty())
        return 0.0;
    std::sort(values.begin(), values.end());
    size_t n = values.size();
    return n % 2 ? values[n / 2] : 0.5 * (values[n / 2 - 1] + values[n / 2]);
}

void ProfileReport::add(const std::vector<StepTiming>& run) {
    for (const auto& t : run) {
        if (t.type == "input")
            continue;
        if (!seconds_.count(t.id))
            order_.push_back(t.id);
        types_[t.id] = t.type;
        seconds_[t.id].push_back(t.seconds);
    }
    last_ = run;
}

std::map<std::string, double> ProfileReport::medians() const {
    std::map<std::string, double> out;
    for (const auto& [id, s] : seconds_)
        out[id] = median(s);
    return out;
}

std::string ProfileReport::table() const {
    double sum = 0.0;
    for (const auto& [id, s] : seconds_)
        sum += std::accumulate(s.begin(), s.end(), 0.0);
    std::string out;
    char line[256];
    std::snprintf(line, sizeof line, "%-16s %-24s %5s %11s %11s %6s   %s\n", "node", "type", "runs",
                  "median ms", "total ms", "share", "last run: start..end ms");
    out += line;
    for (const auto& id : order_) {
        const auto& s = seconds_.at(id);
        double total = std::accumulate(s.begin(), s.end(), 0.0);
        double start = 0, end = 0;
        for (const auto& t : last_)
            if (t.id == id) {
                start = t.start_s;
                end = t.start_s + t.seconds;
            }
        std::snprintf(line, sizeof line, "%-16s %-24s %5zu %11.3f %11.3f %5.1f%%   %.3f..%.3f\n", id.c_str(),
                      types_.at(id).c_str(), s.size(), 1e3 * median(s), 1e3 * total,
                      sum > 0 ? 100.0 * total / sum : 0.0, 1e3 * start, 1e3 * end);
        out += line;
    }
    return out;
}

} // namespace avgraph::host
