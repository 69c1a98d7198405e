#include "host/metrics/plots.h"

#include "graph/error.h"
#include "io/atomic_file.h"

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <sys/wait.h>
#include <unistd.h>

namespace avgraph::metrics {

namespace fs = std::filesystem;

namespace {

/** A gnuplot single-quoted string ('' is a quote inside). */
std::string quoted(const std::string& s) {
    std::string out = "'";
    for (char c : s)
        out += c == '\'' ? std::string("''") : std::string(1, c);
    return out + "'";
}

/** A string inside a datablock: double-quoted, without double quotes inside. */
std::string dataString(std::string s) {
    for (char& c : s)
        if (c == '"')
            c = '\'';
    return "\"" + s + "\"";
}

std::string num(double v) {
    if (!std::isfinite(v))
        return "?";
    char buffer[32];
    std::snprintf(buffer, sizeof buffer, "%.6g", v);
    return buffer;
}

std::string num(const std::optional<double>& v) { return v ? num(*v) : "?"; }

std::string terminal(PlotFormat format, int width, int height) {
    std::ostringstream s;
    if (format == PlotFormat::svg)
        s << "set terminal svg size " << width << "," << height
          << " noenhanced font 'sans,11' background rgb 'white'\n";
    else
        s << "set terminal pngcairo size " << width << "," << height << " noenhanced font 'sans,10'\n";
    return s.str();
}

std::string classTics(const std::vector<std::string>& classes) {
    std::string s = "(";
    for (size_t i = 0; i < classes.size(); ++i)
        s += (i ? ", " : "") + quoted(classes[i]) + " " + std::to_string(i);
    return s + ")";
}

fs::path writeAndRun(const fs::path& dir, const std::string& name, PlotFormat format,
                     const std::string& body) {
    std::string image = name + "." + extension(format);
    std::string script = name + ".gp";
    host::writeFileAtomically(dir / script, "# Written by avgraph; run `gnuplot " + script +
                                                "` in this folder to redraw " + image + ".\n" + body);
    fs::remove(dir / image);
    runGnuplot(dir, script);
    if (!fs::exists(dir / image) || fs::file_size(dir / image) == 0)
        throw fileError(dir / script, "gnuplot wrote no " + image);
    return dir / image;
}

} // namespace

PlotFormat parsePlotFormat(const std::string& name) {
    if (name == "svg")
        return PlotFormat::svg;
    if (name == "png")
        return PlotFormat::png;
    throw Error({}, "unknown plot format '" + name + "', expected svg or png");
}

const char* extension(PlotFormat format) { return format == PlotFormat::svg ? "svg" : "png"; }

bool gnuplotAvailable() {
    const char* path = std::getenv("PATH");
    std::stringstream dirs(path ? path : "/usr/bin:/bin");
    std::string d;
    while (std::getline(dirs, d, ':'))
        if (!d.empty() && ::access((fs::path(d) / "gnuplot").c_str(), X_OK) == 0)
            return true;
    return false;
}

void runGnuplot(const fs::path& dir, const std::string& script_name) {
    int pipe_fd[2];
    if (::pipe(pipe_fd) != 0)
        throw Error({}, "cannot run gnuplot: pipe() failed");
    pid_t pid = ::fork();
    if (pid < 0)
        throw Error({}, "cannot run gnuplot: fork() failed");
    if (pid == 0) {
        ::dup2(pipe_fd[1], STDOUT_FILENO);
        ::dup2(pipe_fd[1], STDERR_FILENO);
        ::close(pipe_fd[0]);
        ::close(pipe_fd[1]);
        if (::chdir(dir.c_str()) != 0)
            ::_exit(126);
        ::execlp("gnuplot", "gnuplot", script_name.c_str(), static_cast<char*>(nullptr));
        ::_exit(127);
    }
    ::close(pipe_fd[1]);
    std::string messages;
    char buffer[4096];
    ssize_t n;
    while ((n = ::read(pipe_fd[0], buffer, sizeof buffer)) > 0)
        messages.append(buffer, static_cast<size_t>(n));
    ::close(pipe_fd[0]);
    int status = 0;
    ::waitpid(pid, &status, 0);
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    Location where{(dir / script_name).string(), "", "", 0, 0};
    if (code == 127)
        throw Error(where, "gnuplot is not installed (Debian: apt-get install gnuplot-nox; scripts/setup "
                           "installs it)");
    if (code != 0)
        throw Error(where, "gnuplot failed (exit status " + std::to_string(code) + "): " + messages);
}

fs::path plotConfusionMatrix(const fs::path& dir, const Metrics& m, PlotFormat format) {
    const int k = static_cast<int>(m.classes.size());
    int side = std::max(480, 160 + 48 * k);
    std::ostringstream s;
    s << terminal(format, side + 120, side) << "set output '"
      << "confusion_matrix." << extension(format) << "'\n"
      << "set title 'Confusion matrix (colour: share of the true class; text: clips)'\n"
      << "set xlabel 'predicted class'\nset ylabel 'true class'\n"
      << "set xrange [-0.5:" << k - 0.5 << "]\nset yrange [" << k - 0.5 << ":-0.5]\n"
      << "set xtics " << classTics(m.classes) << " rotate by 45 right\n"
      << "set ytics " << classTics(m.classes) << "\nset tics scale 0\n"
      << "set cbrange [0:1]\nset cblabel 'share of the true class'\n"
      << "set palette defined (0 'white', 1 '#08306b')\nunset key\n";
    s << "$share << EOD\n";
    for (int r = 0; r < k; ++r) {
        int total = 0;
        for (int c = 0; c < k; ++c)
            total += m.confusion[r][c];
        for (int c = 0; c < k; ++c)
            s << (c ? " " : "") << num(total ? static_cast<double>(m.confusion[r][c]) / total : 0.0);
        s << "\n";
    }
    s << "EOD\n$counts << EOD\n";
    for (int r = 0; r < k; ++r)
        for (int c = 0; c < k; ++c) {
            int total = 0;
            for (int cc = 0; cc < k; ++cc)
                total += m.confusion[r][cc];
            double share = total ? static_cast<double>(m.confusion[r][c]) / total : 0.0;
            s << c << " " << r << " " << m.confusion[r][c] << " " << (share > 0.5 ? 1 : 0) << "\n";
        }
    s << "EOD\n"
      << "plot $share matrix with image, \\\n"
      << "     $counts using 1:2:(sprintf('%d', $3)):($4 > 0 ? 0xffffff : 0x000000) with labels tc rgb "
         "variable\n";
    return writeAndRun(dir, "confusion_matrix", format, s.str());
}

fs::path plotClassAccuracy(const fs::path& dir, const Metrics& m, PlotFormat format) {
    const int k = static_cast<int>(m.classes.size());
    std::ostringstream s;
    s << terminal(format, std::max(640, 160 + 56 * k), 480) << "set output 'class_accuracy."
      << extension(format) << "'\n"
      << "set title 'Class-wise accuracy'\nset ylabel 'accuracy'\nset yrange [0:1.05]\n"
      << "set xrange [-0.6:" << k - 0.4 << "]\n"
      << "set xtics rotate by 45 right\nset grid ytics\nset style fill solid 0.8 border -1\n"
      << "set boxwidth 0.7\nset datafile missing '?'\nset key outside top center horizontal\n";
    s << "$acc << EOD\n";
    for (int c = 0; c < k; ++c)
        s << c << " " << num(m.overall.class_accuracy[c]) << " " << dataString(m.classes[c]) << "\n";
    s << "EOD\n";
    s << "plot $acc using 1:2:xtic(3) with boxes lc rgb '#4a78b5' title 'class', \\\n"
      << "     " << num(m.overall.class_average_accuracy)
      << " with lines lw 2 dt 2 lc rgb '#c0392b' title sprintf('class average %.3f', "
      << num(m.overall.class_average_accuracy) << ")\n";
    return writeAndRun(dir, "class_accuracy", format, s.str());
}

fs::path plotLearningCurves(const fs::path& dir, const std::vector<EpochRecord>& epochs, PlotFormat format) {
    bool tl = false, ta = false, vl = false, va = false;
    for (const auto& e : epochs) {
        tl = tl || e.train_loss.has_value();
        ta = ta || e.train_accuracy.has_value();
        vl = vl || e.val_loss.has_value();
        va = va || e.val_accuracy.has_value();
    }
    if (!tl && !ta && !vl && !va)
        throw Error({}, "the training log has no loss or accuracy to plot");
    std::ostringstream s;
    s << terminal(format, 1000, 420) << "set output 'learning_curves." << extension(format) << "'\n"
      << "set datafile missing '?'\nset grid\nset xlabel 'epoch'\n"
      << "set xrange [" << epochs.front().epoch - 0.5 << ":" << epochs.back().epoch + 0.5 << "]\n"
      << "$log << EOD\n# epoch train_loss train_accuracy val_loss val_accuracy\n";
    for (const auto& e : epochs)
        s << e.epoch << " " << num(e.train_loss) << " " << num(e.train_accuracy) << " " << num(e.val_loss)
          << " " << num(e.val_accuracy) << "\n";
    s << "EOD\nset multiplot layout 1,2 title 'Learning curves'\n";
    auto panel = [&](const char* title, const char* ylabel, bool train, int train_col, bool val, int val_col,
                     const char* settings) {
        s << "set title '" << title << "'\nset ylabel '" << ylabel << "'\n" << settings;
        if (!train && !val) {
            // An empty panel: gnuplot refuses a plot with no defined point, so draw a line off the range.
            s << "set yrange [0:1]\nunset key\nset label 1 'not recorded' at graph 0.5, 0.5 center\n"
              << "plot -1 notitle\nunset label 1\n";
            return;
        }
        s << "plot ";
        if (train)
            s << "$log using 1:" << train_col
              << " with linespoints pt 7 ps 0.5 lc rgb '#4a78b5' title 'training'";
        if (val)
            s << (train ? ", " : "") << "$log using 1:" << val_col
              << " with linespoints pt 5 ps 0.5 lc rgb '#c0392b' title 'validation'";
        s << "\n";
    };
    // Keys where the curves are not: losses fall, accuracies rise.
    panel("loss", "loss", tl, 2, vl, 4, "set autoscale y\nset key top right opaque\n");
    panel("accuracy", "accuracy", ta, 3, va, 5, "set yrange [0:1]\nset key bottom right opaque\n");
    s << "unset multiplot\n";
    return writeAndRun(dir, "learning_curves", format, s.str());
}

fs::path plotLogSeries(const fs::path& dir, const std::string& stem, const std::string& title,
                       const fs::path& log, const std::vector<SeriesPanel>& panels, PlotFormat format) {
    std::vector<nlohmann::json> rows;
    forEachLogRecord(log, MalformedLines::skip, [&](const LogRecord& r) {
        if (r.json.contains("epoch"))
            rows.push_back(r.json);
    });
    if (rows.empty())
        throw fileError(log, "the training log has no epoch to plot");
    std::vector<std::string> keys;
    for (const auto& p : panels)
        keys.insert(keys.end(), p.keys.begin(), p.keys.end());
    std::ostringstream s;
    s << terminal(format, 420 * static_cast<int>(panels.size()) + 160, 420) << "set output '" << stem << "."
      << extension(format) << "'\nset datafile missing '?'\nset grid\nset xlabel 'epoch'\n"
      << "$log << EOD\n# epoch";
    for (const auto& k : keys)
        s << " " << k;
    s << "\n";
    for (const auto& r : rows) {
        s << r["epoch"].dump();
        for (const auto& k : keys)
            s << " " << (r.contains(k) && r[k].is_number() ? r[k].dump() : std::string("?"));
        s << "\n";
    }
    s << "EOD\nset multiplot layout 1," << panels.size() << " title '" << title << "'\n";
    static const char* colours[] = {"#4a78b5", "#c0392b", "#27ae60", "#8e44ad", "#d35400"};
    size_t column = 2;
    for (const auto& p : panels) {
        s << "set title '" << p.title << "'\nset autoscale y\nset key top right opaque noenhanced\nplot ";
        for (size_t k = 0; k < p.keys.size(); ++k, ++column)
            s << (k ? ", " : "") << "$log using 1:" << column << " with linespoints pt 7 ps 0.4 lc rgb '"
              << colours[k % 5] << "' title '" << p.keys[k] << "'";
        s << "\n";
    }
    s << "unset multiplot\n";
    return writeAndRun(dir, stem, format, s.str());
}

fs::path plotTimeline(const fs::path& dir, const std::string& csv, const std::vector<std::string>& classes,
                      double hop, PlotFormat format) {
    const size_t n = classes.size();
    const int height = 260 + 2 * 18 * static_cast<int>(n);
    std::ostringstream s;
    s << terminal(format, 1200, height) << "set output 'timeline." << extension(format) << "'\n"
      << "set datafile separator ','\n"
      << "set multiplot layout 2,1 title 'Scene timeline' noenhanced\n"
      << "set lmargin 18\nset rmargin 12\nset grid xtics\n"
      << "set ytics " << classTics(classes) << "\nset yrange [-0.5:" << n - 0.5 << "]\n"
      << "set xlabel 'seconds'\n"
      // The top class: a segment's class whose probability is the label's confidence (the same text).
      << "set title 'most probable class'\nunset colorbox\n"
      << "plot for [c=1:" << n << "] " << quoted(csv)
      << " skip 1 using (($1+$2)/2):(column(4+c) >= $4 ? c-1 : NaN)"
      << " with points pt 7 ps 0.5 lc rgb '#4a78b5' notitle\n"
      << "set title 'class probabilities'\nset colorbox\nset cbrange [0:1]\nset cblabel 'probability'\n"
      << "set palette defined (0 'white', 0.5 '#7fa7d6', 1 '#08306b')\nset style fill solid noborder\n"
      // A box `hop` wide around each segment's centre (boxxy: x, y, xlow, xhigh, ylow, yhigh, colour).
      << "h = " << num(hop) << "\n"
      << "plot for [c=1:" << n << "] " << quoted(csv)
      << " skip 1 using (($1+$2)/2):(c-1):(($1+$2-h)/2):(($1+$2+h)/2):(c-1.5):(c-0.5):(column(4+c)) with "
         "boxxy fc "
         "palette notitle\n"
      << "unset multiplot\n";
    return writeAndRun(dir, "timeline", format, s.str());
}

fs::path plotEarlyDetection(const fs::path& dir, const std::vector<double>& seconds,
                            const std::vector<std::pair<std::string, std::vector<double>>>& series,
                            PlotFormat format) {
    std::ostringstream s;
    s << terminal(format, 640, 420) << "set output 'early_detection." << extension(format)
      << "'\nset grid\nset xlabel 'seconds of input'\nset ylabel 'accuracy (%)'\nset yrange [0:100]\n"
      << "set key bottom right opaque noenhanced\nset title 'Early detection'\n$curve << EOD\n";
    for (size_t i = 0; i < seconds.size(); ++i) {
        s << seconds[i];
        for (const auto& [name, values] : series)
            s << " " << 100.0 * values.at(i);
        s << "\n";
    }
    s << "EOD\nplot ";
    static const char* colours[] = {"#4a78b5", "#c0392b", "#27ae60", "#8e44ad", "#d35400"};
    for (size_t k = 0; k < series.size(); ++k)
        s << (k ? ", " : "") << "$curve using 1:" << k + 2 << " with linespoints pt 7 ps 0.6 lc rgb '"
          << colours[k % 5] << "' title '" << series[k].first << "'";
    s << "\n";
    return writeAndRun(dir, "early_detection", format, s.str());
}

} // namespace avgraph::metrics
