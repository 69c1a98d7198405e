#include "host/metrics/metrics.h"

#include <cmath>
#include <numeric>

namespace avgraph::metrics {

double clipLogLoss(const std::vector<double>& probabilities, int label, double eps) {
    double sum = 0.0;
    for (double p : probabilities)
        sum += std::min(std::max(p, eps), 1.0 - eps);
    double p = std::min(std::max(probabilities.at(label), eps), 1.0 - eps);
    return -std::log(p / sum);
}

namespace {

double mean(const std::vector<std::optional<double>>& values) {
    double sum = 0.0;
    int n = 0;
    for (const auto& v : values)
        if (v) {
            sum += *v;
            ++n;
        }
    return n ? sum / n : std::nan("");
}

std::optional<Breakdown> breakdown(const Predictions& p, const std::string& key,
                                   std::string ClipPrediction::*field, const std::set<std::string>& seen) {
    std::map<std::string, std::vector<size_t>> members;
    bool any = false;
    for (size_t i = 0; i < p.clips.size(); ++i) {
        const std::string& value = p.clips[i].*field;
        any = any || !value.empty();
        members[value.empty() ? "unknown" : value].push_back(i);
    }
    if (!any)
        return std::nullopt;
    Breakdown b;
    b.key = key;
    b.seen_in_training = seen;
    for (const auto& [name, indices] : members)
        b.groups[name] = summarize(p, indices);
    if (!seen.empty()) {
        std::vector<size_t> in, out;
        for (size_t i = 0; i < p.clips.size(); ++i) {
            const std::string& value = p.clips[i].*field;
            if (value.empty())
                continue;
            (seen.count(value) ? in : out).push_back(i);
        }
        if (!in.empty())
            b.seen = summarize(p, in);
        if (!out.empty())
            b.unseen = summarize(p, out);
    }
    return b;
}

nlohmann::json number(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); }

nlohmann::json number(const std::optional<double>& v) { return v ? number(*v) : nlohmann::json(nullptr); }

nlohmann::json summaryJson(const Summary& s, const std::vector<std::string>& classes) {
    nlohmann::json j;
    j["clips"] = s.clips;
    j["correct"] = s.correct;
    j["accuracy"] = {{"overall", number(s.accuracy)}, {"class_average", number(s.class_average_accuracy)}};
    j["log_loss"] = {{"overall", number(s.log_loss)}, {"class_average", number(s.class_average_log_loss)}};
    nlohmann::json cw = nlohmann::json::array();
    for (size_t c = 0; c < classes.size(); ++c)
        cw.push_back({{"class", classes[c]},
                      {"clips", s.class_clips[c]},
                      {"accuracy", number(s.class_accuracy[c])},
                      {"log_loss", number(s.class_log_loss[c])}});
    j["class_wise"] = cw;
    return j;
}

nlohmann::json breakdownJson(const Breakdown& b, const std::vector<std::string>& classes) {
    nlohmann::json j;
    j["seen_in_training"] =
        b.seen_in_training.empty()
            ? nlohmann::json(nullptr)
            : nlohmann::json(std::vector<std::string>(b.seen_in_training.begin(), b.seen_in_training.end()));
    nlohmann::json groups = nlohmann::json::object();
    for (const auto& [name, s] : b.groups) {
        groups[name] = summaryJson(s, classes);
        if (!b.seen_in_training.empty() && name != "unknown")
            groups[name]["seen_in_training"] = b.seen_in_training.count(name) > 0;
    }
    j["groups"] = groups;
    j["seen"] = b.seen ? summaryJson(*b.seen, classes) : nlohmann::json(nullptr);
    j["unseen"] = b.unseen ? summaryJson(*b.unseen, classes) : nlohmann::json(nullptr);
    return j;
}

} // namespace

Summary summarize(const Predictions& p, const std::vector<size_t>& indices_in) {
    std::vector<size_t> indices = indices_in;
    if (indices.empty()) {
        indices.resize(p.clips.size());
        std::iota(indices.begin(), indices.end(), size_t{0});
    }
    const size_t k = p.classes.size();
    Summary s;
    s.class_clips.assign(k, 0);
    std::vector<int> class_correct(k, 0);
    std::vector<double> class_loss(k, 0.0);
    double loss = 0.0;
    for (size_t i : indices) {
        const ClipPrediction& c = p.clips[i];
        double l = clipLogLoss(c.probabilities, c.label);
        ++s.clips;
        ++s.class_clips[c.label];
        loss += l;
        class_loss[c.label] += l;
        if (c.predicted == c.label) {
            ++s.correct;
            ++class_correct[c.label];
        }
    }
    s.accuracy = static_cast<double>(s.correct) / s.clips;
    s.log_loss = loss / s.clips;
    s.class_accuracy.resize(k);
    s.class_log_loss.resize(k);
    for (size_t c = 0; c < k; ++c)
        if (s.class_clips[c] > 0) {
            s.class_accuracy[c] = static_cast<double>(class_correct[c]) / s.class_clips[c];
            s.class_log_loss[c] = class_loss[c] / s.class_clips[c];
        }
    s.class_average_accuracy = mean(s.class_accuracy);
    s.class_average_log_loss = mean(s.class_log_loss);
    return s;
}

Metrics computeMetrics(const Predictions& p) {
    p.validate();
    Metrics m;
    m.classes = p.classes;
    m.overall = summarize(p, {});
    m.confusion.assign(p.classes.size(), std::vector<int>(p.classes.size(), 0));
    for (const auto& c : p.clips)
        ++m.confusion[c.label][c.predicted];
    m.by_city = breakdown(p, "city", &ClipPrediction::city, p.train_cities);
    m.by_device = breakdown(p, "device", &ClipPrediction::device, p.train_devices);
    return m;
}

nlohmann::json toJson(const Metrics& m) {
    nlohmann::json j;
    j["classes"] = m.classes;
    j["definitions"] = {
        {"accuracy.overall", "correct clips / clips"},
        {"accuracy.class_average", "mean over the classes with clips of the class-wise accuracy (DCASE)"},
        {"log_loss.overall", "mean over clips of -ln p[true class], scikit-learn log_loss with eps=1e-15"},
        {"log_loss.class_average",
         "mean over the classes with clips of the class-wise log loss (DCASE 2021/2022 ranking)"},
    };
    j["overall"] = summaryJson(m.overall, m.classes);
    j["confusion_matrix"] = {{"rows", "true class"}, {"columns", "predicted class"}, {"counts", m.confusion}};
    j["by_city"] = m.by_city ? breakdownJson(*m.by_city, m.classes) : nlohmann::json(nullptr);
    j["by_device"] = m.by_device ? breakdownJson(*m.by_device, m.classes) : nlohmann::json(nullptr);
    return j;
}

} // namespace avgraph::metrics
