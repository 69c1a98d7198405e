#include "host/metrics/report.h"

#include "graph/error.h"
#include "io/atomic_file.h"
#include "io/output_folder.h"

#include <cmath>
#include <cstdio>
#include <sstream>

namespace avgraph::metrics {

namespace fs = std::filesystem;

namespace {

std::string fixed(double v, int digits = 4) {
    if (!std::isfinite(v))
        return "–";
    char buffer[32];
    std::snprintf(buffer, sizeof buffer, "%.*f", digits, v);
    return buffer;
}

std::string fixed(const std::optional<double>& v) { return v ? fixed(*v) : "–"; }

std::string cell(const std::string& s) {
    std::string out;
    for (char c : s)
        out += c == '|' ? std::string("\\|") : std::string(1, c);
    return out;
}

void summaryRow(std::ostringstream& md, const std::string& name, const std::string& seen, const Summary& s) {
    md << "| " << cell(name) << " | " << seen << " | " << s.clips << " | " << fixed(s.class_average_accuracy)
       << " | " << fixed(s.accuracy) << " | " << fixed(s.class_average_log_loss) << " | " << fixed(s.log_loss)
       << " |\n";
}

void breakdownSection(std::ostringstream& md, const Breakdown& b, const std::string& title) {
    bool known = !b.seen_in_training.empty();
    md << "\n## By " << title << "\n\n";
    if (known) {
        md << "Seen in training: ";
        bool first = true;
        for (const auto& name : b.seen_in_training) {
            md << (first ? "" : ", ") << name;
            first = false;
        }
        md << ".\n\n";
    } else {
        md << "The " << b.key << "s of the training set are not known: no seen / unseen split.\n\n";
    }
    md << "| " << b.key << " | seen in training | clips | accuracy (class average) | accuracy (overall) | "
       << "log loss (class average) | log loss (overall) |\n|---|---|--:|--:|--:|--:|--:|\n";
    if (b.seen)
        summaryRow(md, "**all seen**", "yes", *b.seen);
    if (b.unseen)
        summaryRow(md, "**all unseen**", "no", *b.unseen);
    for (const auto& [name, s] : b.groups) {
        std::string seen =
            !known || name == "unknown" ? "–" : (b.seen_in_training.count(name) ? "yes" : "no");
        summaryRow(md, name, seen, s);
    }
}

} // namespace

std::string reportMarkdown(const Metrics& m, const ReportOptions& options, const std::string& confusion_plot,
                           const std::string& accuracy_plot, const std::string& learning_plot,
                           size_t epochs) {
    const Summary& o = m.overall;
    std::ostringstream md;
    md << "# Evaluation report\n\n";
    if (!options.source.empty())
        md << "Predictions: `" << options.source << "`. ";
    md << o.clips << " clips, " << m.classes.size() << " classes. Metrics as DCASE task 1 defines them "
       << "(see docs/evaluation.md); every figure is also in `metrics.json`.\n\n";
    md << "## Summary\n\n| metric | value |\n|---|--:|\n"
       << "| accuracy, class average (DCASE) | " << fixed(o.class_average_accuracy) << " |\n"
       << "| accuracy, overall | " << fixed(o.accuracy) << " (" << o.correct << " / " << o.clips << ") |\n"
       << "| log loss, class average (DCASE) | " << fixed(o.class_average_log_loss) << " |\n"
       << "| log loss, overall | " << fixed(o.log_loss) << " |\n";

    md << "\n## Class-wise\n\n| class | clips | accuracy | log loss |\n|---|--:|--:|--:|\n";
    for (size_t c = 0; c < m.classes.size(); ++c)
        md << "| " << cell(m.classes[c]) << " | " << o.class_clips[c] << " | " << fixed(o.class_accuracy[c])
           << " | " << fixed(o.class_log_loss[c]) << " |\n";
    if (!accuracy_plot.empty())
        md << "\n![Class-wise accuracy](" << accuracy_plot << ")\n";

    md << "\n## Confusion matrix\n\nRows: true class; columns: predicted class; clip counts.\n\n| true \\ "
          "predicted |";
    for (const auto& name : m.classes)
        md << " " << cell(name) << " |";
    md << "\n|---|";
    for (size_t c = 0; c < m.classes.size(); ++c)
        md << "--:|";
    md << "\n";
    for (size_t r = 0; r < m.classes.size(); ++r) {
        md << "| " << cell(m.classes[r]) << " |";
        for (size_t c = 0; c < m.classes.size(); ++c)
            md << " "
               << (r == c ? "**" + std::to_string(m.confusion[r][c]) + "**"
                          : std::to_string(m.confusion[r][c]))
               << " |";
        md << "\n";
    }
    if (!confusion_plot.empty())
        md << "\n![Confusion matrix](" << confusion_plot << ")\n";

    if (m.by_city)
        breakdownSection(md, *m.by_city, "city");
    if (m.by_device)
        breakdownSection(md, *m.by_device, "device");

    if (!learning_plot.empty())
        md << "\n## Learning curves\n\n"
           << epochs << " epochs from `" << options.training_log->string() << "`.\n\n![Learning curves]("
           << learning_plot << ")\n";
    if (!options.plots)
        md << "\nPlots were not drawn (--no-plots).\n";
    return md.str();
}

void printReportSummary(std::ostream& out, const ReportResult& result) {
    const auto& o = result.metrics.overall;
    out << "accuracy " << o.class_average_accuracy << " (class average), " << o.accuracy
        << " (overall); log loss " << o.class_average_log_loss << " (class average), " << o.log_loss
        << " (overall); " << o.clips << " clips\n";
    for (const auto& f : result.files)
        out << "wrote " << f.string() << "\n";
}

ReportResult writeReport(const fs::path& out_dir, const Predictions& predictions,
                         const ReportOptions& options) {
    ReportResult result;
    // Everything that can fail on the user's input fails before anything is written.
    result.metrics = computeMetrics(predictions);
    std::vector<EpochRecord> epochs;
    if (options.training_log)
        epochs = readTrainingLog(*options.training_log);
    if (options.plots && !gnuplotAvailable())
        throw Error({},
                    "the plots need gnuplot, which is not installed (Debian: apt-get install gnuplot-nox, "
                    "or scripts/setup); --no-plots writes the report without them");

    host::OutputFolder folder(out_dir, "--out");

    std::string ext = extension(options.plot_format);
    std::vector<std::string> names = {"metrics.json", "report.md"};
    if (options.write_predictions)
        names.push_back("predictions.csv");
    if (options.plots) {
        for (std::string plot : {"confusion_matrix", "class_accuracy"}) {
            names.push_back("plots/" + plot + "." + ext);
            names.push_back("plots/" + plot + ".gp");
        }
        if (options.training_log) {
            names.push_back("plots/learning_curves." + ext);
            names.push_back("plots/learning_curves.gp");
        }
    }
    for (const auto& name : names)
        folder.prepare(name);
    folder.record(names); // before writing: a half-written folder can still be replaced

    std::string confusion, accuracy, learning;
    if (options.plots) {
        fs::path plots = out_dir / "plots";
        result.files.push_back(plotConfusionMatrix(plots, result.metrics, options.plot_format));
        confusion = "plots/confusion_matrix." + ext;
        result.files.push_back(plotClassAccuracy(plots, result.metrics, options.plot_format));
        accuracy = "plots/class_accuracy." + ext;
        if (options.training_log) {
            result.files.push_back(plotLearningCurves(plots, epochs, options.plot_format));
            learning = "plots/learning_curves." + ext;
        }
    }
    nlohmann::json j = toJson(result.metrics);
    j["source"] = options.source;
    host::writeFileAtomically(out_dir / "metrics.json", j.dump(2) + "\n");
    result.files.push_back(out_dir / "metrics.json");
    if (options.write_predictions) {
        writePredictionsCsv(out_dir / "predictions.csv", predictions);
        result.files.push_back(out_dir / "predictions.csv");
    }
    host::writeFileAtomically(out_dir / "report.md", reportMarkdown(result.metrics, options, confusion,
                                                                    accuracy, learning, epochs.size()));
    result.files.push_back(out_dir / "report.md");
    return result;
}

} // namespace avgraph::metrics
