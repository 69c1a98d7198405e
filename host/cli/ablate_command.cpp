// avgraph ablate: trains and evaluates several presets (the rows of a feature ablation, e.g. the IVF
// paper's Table 1 in presets/ablation/) on the same folds with the same seeds, each fold as a child
// `avgraph train` process, and writes one table of the results (docs/ablation.md).
#include "host/cli/commands.h"
#include "io/message_text.h"

#include "graph/error.h"
#include "graph/preset.h"
#include "host/datasets/dataset.h"
#include "host/metrics/training_log.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <csignal>
#include <cstring>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <optional>
#include <set>
#include <sstream>

#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

namespace avgraph::host {

namespace fs = std::filesystem;

namespace {

struct AblateSettings {
    std::vector<std::string> presets;
    std::string data;
    std::string format;
    std::string folds;
    std::string out;
    int epochs = 0;
    long long seed = -1;
    int threads = -1; ///< -1: not given, the child's default
    std::string device;
    std::string precision; ///< empty: each row's own
    std::string av_data;
    std::string images;
    std::vector<std::string> overrides;
    bool keep_going = false;
    bool no_plots = false;
};

/** One row of the table: a preset, named by its "name" (else its file name). */
struct Row {
    std::string name;
    std::string preset;
    std::string description;
    long long seed = 0;  ///< what the row trains with: --seed, else the preset's /train/seed
    bool staged = false; ///< a staged recipe (the IVF rows): trains stages on --av-data / --images first
};

/** One row's outcome on one fold. */
struct FoldResult {
    int fold = 0;
    bool done = false;
    std::string failure; ///< why not done: the child's exit status
    double accuracy = NAN, class_average_accuracy = NAN, log_loss = NAN, class_average_log_loss = NAN;
    std::optional<double> seen_accuracy, unseen_accuracy; ///< class-average, over seen / unseen cities
    double training_seconds = 0.0;
    int epochs = 0;
    fs::path metrics;
};

/** Mean and sample standard deviation (n - 1) of the values present. */
struct Stat {
    int n = 0;
    double mean = NAN, sd = NAN;
};

Stat stat(const std::vector<double>& x) {
    Stat s;
    double sum = 0.0;
    for (double v : x)
        if (std::isfinite(v)) {
            sum += v;
            ++s.n;
        }
    if (s.n == 0)
        return s;
    s.mean = sum / s.n;
    if (s.n < 2)
        return s;
    double ss = 0.0;
    for (double v : x)
        if (std::isfinite(v))
            ss += (v - s.mean) * (v - s.mean);
    s.sd = std::sqrt(ss / (s.n - 1));
    return s;
}

nlohmann::json number(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); }
nlohmann::json number(const std::optional<double>& v) { return v ? number(*v) : nlohmann::json(nullptr); }

/** A number of metrics.json, NaN when absent or null (a non-finite value is written as null). */
double numberAt(const nlohmann::json& j, const nlohmann::json::json_pointer& p) {
    return j.contains(p) && j.at(p).is_number() ? j.at(p).get<double>() : NAN;
}

/** "81.25 ± 3.54 %" (percent) or "0.512 ± 0.020"; the sd only over two folds or more. */
std::string cell(const Stat& s, bool percent) {
    if (s.n == 0)
        return "–";
    const double k = percent ? 100.0 : 1.0;
    std::ostringstream out;
    out << std::fixed << std::setprecision(percent ? 2 : 3) << k * s.mean;
    if (s.n >= 2)
        out << " ± " << k * s.sd;
    if (percent)
        out << " %";
    return out.str();
}

std::string csvNumber(double v) {
    if (!std::isfinite(v))
        return "";
    std::ostringstream out;
    out << std::setprecision(12) << v;
    return out.str();
}

std::string csvNumber(const std::optional<double>& v) { return v ? csvNumber(*v) : ""; }

/** The training time of a fold's run: the "seconds" of every epoch in its log.jsonl, and in the
 *  log.jsonl of each stage folder beneath it (a multi-stage recipe trains its stages there). */
double trainingSeconds(const fs::path& dir, int& epochs) {
    double seconds = 0.0;
    auto add = [&](const fs::path& log, bool count) {
        if (count)
            for (const auto& r : metrics::readLogRecords(log, metrics::MalformedLines::skip))
                epochs += r.json.contains("epoch");
        seconds += metrics::loggedSeconds(log);
    };
    std::error_code ec;
    if (fs::exists(dir / "log.jsonl"))
        add(dir / "log.jsonl", true);
    for (const auto& e : fs::directory_iterator(dir, ec))
        if (e.is_directory() && fs::exists(e.path() / "log.jsonl"))
            add(e.path() / "log.jsonl", false);
    return seconds;
}

/** Whether a fold's folder holds a started training run (checkpoint or log), here or in a stage folder. */
bool holdsRun(const fs::path& dir) {
    std::error_code ec;
    if (!fs::is_directory(dir, ec))
        return false;
    for (const auto& e : fs::recursive_directory_iterator(dir, ec)) {
        const auto name = e.path().filename();
        if (name == "checkpoint.pt" || name == "log.jsonl")
            return true;
    }
    return false;
}

FoldResult readFold(int fold, const fs::path& dir) {
    FoldResult r;
    r.fold = fold;
    r.metrics = dir / "eval" / "metrics.json";
    nlohmann::json m;
    try {
        std::ifstream in(r.metrics);
        m = nlohmann::json::parse(in);
    } catch (const std::exception& e) {
        throw fileError(r.metrics, std::string("cannot read the fold's metrics: ") + e.what());
    }
    using P = nlohmann::json::json_pointer;
    r.accuracy = numberAt(m, P("/overall/accuracy/overall"));
    r.class_average_accuracy = numberAt(m, P("/overall/accuracy/class_average"));
    r.log_loss = numberAt(m, P("/overall/log_loss/overall"));
    r.class_average_log_loss = numberAt(m, P("/overall/log_loss/class_average"));
    double seen = numberAt(m, P("/by_city/seen/accuracy/class_average"));
    double unseen = numberAt(m, P("/by_city/unseen/accuracy/class_average"));
    if (std::isfinite(seen))
        r.seen_accuracy = seen;
    if (std::isfinite(unseen))
        r.unseen_accuracy = unseen;
    r.training_seconds = trainingSeconds(dir, r.epochs);
    r.done = true;
    return r;
}

/** "exit status 3" or "killed by signal 9". */
std::string describeStatus(int status) {
    if (WIFEXITED(status))
        return "exit status " + std::to_string(WEXITSTATUS(status));
    if (WIFSIGNALED(status))
        return "killed by signal " + std::to_string(WTERMSIG(status)) + " (" + strsignal(WTERMSIG(status)) +
               ")";
    return "wait status " + std::to_string(status);
}

/**
 * Runs this executable with `args` as a child process, its standard output and error sent line by line
 * to std::cout with `prefix` in front (and to `log` as they are, when given). Returns the wait status.
 */
int runChild(const std::vector<std::string>& args, const std::string& prefix, std::ostream* log) {
    static const fs::path self = fs::read_symlink("/proc/self/exe");
    std::vector<std::string> argv_text = {self.string()};
    argv_text.insert(argv_text.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : argv_text)
        argv.push_back(a.data());
    argv.push_back(nullptr);

    int pipe_fd[2];
    if (::pipe2(pipe_fd, O_CLOEXEC) != 0)
        throw Error({}, std::string("cannot create a pipe for the child process: ") + std::strerror(errno));
    std::cout.flush();
    const pid_t parent = ::getpid();
    const pid_t pid = ::fork();
    if (pid < 0) {
        ::close(pipe_fd[0]);
        ::close(pipe_fd[1]);
        throw Error({}, std::string("cannot start a child process: ") + std::strerror(errno));
    }
    if (pid == 0) {
        // Only async-signal-safe calls between fork and exec. The child dies with the ablation, so that an
        // interrupted ablation leaves no training behind to collide with the resumed one.
        ::prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (::getppid() != parent)
            ::_exit(127);
        ::dup2(pipe_fd[1], STDOUT_FILENO);
        ::dup2(pipe_fd[1], STDERR_FILENO);
        ::execv(argv[0], argv.data());
        ::_exit(127);
    }
    ::close(pipe_fd[1]);

    std::string pending;
    char buffer[4096];
    auto emit = [&](const std::string& line) {
        std::cout << prefix << line << "\n" << std::flush;
        if (log)
            *log << line << "\n" << std::flush;
    };
    for (;;) {
        ssize_t n = ::read(pipe_fd[0], buffer, sizeof buffer);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        pending.append(buffer, static_cast<size_t>(n));
        size_t start = 0, end;
        // A carriage return (a progress bar redrawn) ends a line too.
        while ((end = pending.find_first_of("\n\r", start)) != std::string::npos) {
            if (end > start)
                emit(pending.substr(start, end - start));
            start = end + 1;
        }
        pending.erase(0, start);
    }
    if (!pending.empty())
        emit(pending);
    ::close(pipe_fd[0]);
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            throw Error({}, std::string("cannot wait for the child process: ") + std::strerror(errno));
    return status;
}

std::vector<int> parseFolds(const std::string& text) {
    std::vector<int> folds;
    std::stringstream in(text);
    std::string item;
    while (std::getline(in, item, ',')) {
        try {
            size_t used = 0;
            int k = std::stoi(item, &used);
            if (used != item.size() || k < 0)
                throw std::invalid_argument("");
            if (std::count(folds.begin(), folds.end(), k))
                throw Error({}, "--folds names fold " + item + " twice");
            folds.push_back(k);
        } catch (const Error&) {
            throw;
        } catch (const std::exception&) {
            throw Error({},
                        "--folds takes fold numbers separated by commas (e.g. 1,2,3), got \"" + text + "\"");
        }
    }
    if (folds.empty())
        throw Error({}, "--folds takes fold numbers separated by commas (e.g. 1,2,3), got \"" + text + "\"");
    return folds;
}

class AblateCommand {
public:
    AblateCommand(const AblateSettings& settings, const GlobalOptions& global)
        : settings_(settings), global_(global) {}

    void run() {
        loadRows();
        chooseFolds();
        const fs::path out = settings_.out;
        fs::create_directories(out);
        for (const auto& row : rows_)
            checkRowFolder(row);
        validateRows();

        std::vector<std::vector<FoldResult>> results;
        int failures = 0;
        for (const auto& row : rows_) {
            results.emplace_back();
            for (int fold : folds_) {
                FoldResult r = trainFold(row, fold);
                failures += !r.done;
                results.back().push_back(r);
                if (!r.done && !settings_.keep_going)
                    throw fileError(row.preset, "row '" + row.name + "' fold " + std::to_string(fold) +
                                                    ": `avgraph train` failed (" + r.failure +
                                                    "; its output is above, and in " +
                                                    (foldDir(row, fold) / "train-output.txt").string() +
                                                    "); the rows and folds done so far are kept: run "
                                                    "the same command again to go on from here");
            }
        }
        writeTables(results);
        if (failures > 0)
            throw Error({}, std::to_string(failures) + " row/fold run" + (failures > 1 ? "s" : "") +
                                " failed (see the table's \"folds\" column and the output above)");
    }

private:
    fs::path foldDir(const Row& row, int fold) const {
        return fs::path(settings_.out) / row.name / ("fold" + std::to_string(fold));
    }

    void loadRows() {
        std::set<std::string> names;
        for (const auto& file : settings_.presets) {
            Preset preset = Preset::load(file, settings_.overrides, "--set");
            const auto& doc = preset.document();
            if (!doc.contains("train") || !doc.at("train").is_object())
                throw Error(
                    {file, "/train", "", 0, 0},
                    "an ablation row needs a train section (how `avgraph train` fits it), so that every "
                    "row's recipe is written down; this preset has none");
            Row row;
            row.preset = file;
            row.name = preset.name().empty() ? fs::path(file).stem().string() : preset.name();
            if (doc.contains("description") && doc.at("description").is_string())
                row.description = doc.at("description").get<std::string>();
            row.staged = doc.at("train").contains("stages");
            row.seed = settings_.seed >= 0 ? settings_.seed : 0;
            if (settings_.seed < 0) {
                const auto& train = doc.at("train");
                row.seed = train.contains("seed") && train.at("seed").is_number_integer()
                               ? train.at("seed").get<long long>()
                               : 0; // the train section's default seed
            }
            if (row.name.empty() || row.name == "." || row.name == ".." ||
                row.name.find_first_of("/\\") != std::string::npos)
                throw Error(
                    {file, "/name", "", 0, 0},
                    "a row's folder is named after its preset's name, which must not be empty, \".\", "
                    "\"..\" or hold a slash; got \"" +
                        row.name + "\"");
            if (!names.insert(row.name).second)
                throw Error(
                    {file, "/name", "", 0, 0},
                    "two rows are named \"" + row.name +
                        "\"; each row's folder is named after its preset's name, so they must differ");
            rows_.push_back(row);
        }
    }

    void chooseFolds() {
        DatasetOptions options;
        if (!settings_.format.empty())
            options.format = parseFormatName(settings_.format);
        Dataset ds = openDataset(settings_.data, options);
        if (!ds.labelled)
            throw fileError(
                settings_.data,
                "`avgraph ablate` trains and scores on labelled clips; this dataset is an evaluation set "
                "without labels");
        if (!settings_.folds.empty()) {
            folds_ = parseFolds(settings_.folds);
        } else if (!ds.folds.empty()) {
            folds_ = ds.folds;
        } else if (!ds.setup.empty()) {
            for (const auto& [k, unused] : ds.setup)
                folds_.push_back(k);
        } else {
            folds_ = {defaultFold(ds)};
        }
        for (int k : folds_)
            splitFold(ds, k); // an Error listing the dataset's folds, before anything trains
    }

    /** What a row's folder was trained with: a second ablation into it must agree, or its results would mix.
     */
    nlohmann::json rowSettings(const Row& row) const {
        return {{"preset", fs::absolute(row.preset).lexically_normal().string()},
                {"data", fs::absolute(settings_.data).lexically_normal().string()},
                {"format", settings_.format},
                {"overrides", settings_.overrides},
                {"epochs", settings_.epochs > 0 ? nlohmann::json(settings_.epochs) : nlohmann::json(nullptr)},
                {"seed", row.seed},
                // only staged rows take the audio-visual data, so only theirs depend on it
                {"av_data", row.staged ? settings_.av_data : ""},
                {"images", row.staged ? settings_.images : ""}};
    }

    void checkRowFolder(const Row& row) const {
        const fs::path dir = fs::path(settings_.out) / row.name, file = dir / "row.json";
        const nlohmann::json now = rowSettings(row);
        if (fs::exists(file)) {
            nlohmann::json before;
            try {
                std::ifstream in(file);
                before = nlohmann::json::parse(in);
            } catch (const std::exception& e) {
                throw fileError(file, std::string("cannot read it: ") + e.what());
            }
            if (before != now)
                throw fileError(file,
                                "row '" + row.name + "' was trained here with other settings (" +
                                    before.dump() + ", now " + now.dump() +
                                    "); its folds would not be comparable: use another --out, or remove " +
                                    dir.string());
            return;
        }
    }

    void writeRowFolder(const Row& row) const {
        const fs::path dir = fs::path(settings_.out) / row.name, file = dir / "row.json";
        if (fs::exists(file))
            return;
        fs::create_directories(dir);
        std::ofstream(file) << rowSettings(row).dump(2) << "\n";
    }

    /** The node libraries (--nodes) for a child, before its subcommand. */
    std::vector<std::string> libraryArgs() const {
        std::vector<std::string> args;
        for (const auto& lib : global_.node_libraries)
            args.insert(args.end(), {"--nodes", lib.string()});
        return args;
    }

    /** Each row through `avgraph validate` before anything trains: a broken row 9 fails in a second, not
     *  after rows 1-8 have trained. */
    void validateRows() const {
        for (const auto& row : rows_) {
            std::vector<std::string> args = libraryArgs();
            args.insert(args.end(), {"validate", row.preset});
            for (const auto& o : settings_.overrides)
                args.insert(args.end(), {"--set", o});
            int status = runChild(args, "[" + row.name + "] ", nullptr);
            if (status != 0)
                throw fileError(row.preset,
                                "row '" + row.name + "' does not validate (`avgraph validate` ended with " +
                                    describeStatus(status) + "; its message is above); nothing was trained");
        }
    }

    FoldResult trainFold(const Row& row, int fold) {
        const fs::path dir = foldDir(row, fold);
        const std::string prefix = "[" + row.name + " fold " + std::to_string(fold) + "] ";
        if (fs::exists(dir / "eval" / "metrics.json")) {
            std::cout << prefix << "done before (" << (dir / "eval" / "metrics.json").string()
                      << "): not retrained\n";
            return readFold(fold, dir);
        }
        std::vector<std::string> args = libraryArgs();
        args.insert(args.end(), {"train", row.preset, "--data", settings_.data, "--fold",
                                 std::to_string(fold), "--out", dir.string()});
        if (!settings_.format.empty())
            args.insert(args.end(), {"--format", settings_.format});
        if (settings_.epochs > 0)
            args.insert(args.end(), {"--epochs", std::to_string(settings_.epochs)});
        if (settings_.seed >= 0)
            args.insert(args.end(), {"--seed", std::to_string(settings_.seed)});
        if (settings_.threads >= 0)
            args.insert(args.end(), {"--threads", std::to_string(settings_.threads)});
        if (!settings_.device.empty())
            args.insert(args.end(), {"--device", settings_.device});
        if (!settings_.precision.empty())
            args.insert(args.end(), {"--precision", settings_.precision});
        // Only staged rows take the audio-visual data; they share one stage folder, so the folds (and
        // rows whose stages agree, such as the IVF rows' VQ-VAE) train each stage once.
        if (row.staged) {
            if (!settings_.av_data.empty())
                args.insert(args.end(), {"--av-data", settings_.av_data});
            if (!settings_.images.empty())
                args.insert(args.end(), {"--images", settings_.images});
            args.insert(args.end(), {"--stage-dir", (fs::path(settings_.out) / "stages").string()});
        }
        for (const auto& o : settings_.overrides)
            args.insert(args.end(), {"--set", o});
        if (settings_.no_plots)
            args.push_back("--no-plots");
        // An interrupted run goes on from its last checkpoint (a staged row's may be in a stage).
        if (holdsRun(dir) || (row.staged && holdsRun(fs::path(settings_.out) / "stages")))
            args.push_back("--resume");

        writeRowFolder(row);
        fs::create_directories(dir);
        std::ofstream log(dir / "train-output.txt", std::ios::app);
        std::ostringstream command;
        command << "avgraph";
        for (const auto& a : args)
            command << " " << a;
        std::cout << prefix << command.str() << "\n";
        log << "$ " << command.str() << "\n";
        int status = runChild(args, prefix, &log);
        if (status == 0 && fs::exists(dir / "eval" / "metrics.json"))
            return readFold(fold, dir);
        FoldResult r;
        r.fold = fold;
        r.failure = status == 0 ? "it wrote no eval/metrics.json" : describeStatus(status);
        std::cout << prefix << "failed: " << r.failure << "\n";
        return r;
    }

    void writeTables(const std::vector<std::vector<FoldResult>>& results) {
        const fs::path out = settings_.out;
        bool cities = false;
        for (const auto& row : results)
            for (const auto& f : row)
                cities = cities || f.seen_accuracy || f.unseen_accuracy;

        std::string fold_list;
        for (int k : folds_)
            fold_list += (fold_list.empty() ? "" : ", ") + std::to_string(k);
        std::ostringstream md;
        md << "| row | preset | folds | accuracy | class-average accuracy | log loss |";
        if (cities)
            md << " seen cities | unseen cities |";
        md << " training time |\n|---|---|---|---|---|---|" << (cities ? "---|---|" : "") << "---|\n";

        std::ostringstream csv;
        csv << "row,preset,fold,seed,status,accuracy,class_average_accuracy,log_loss,class_average_log_loss,"
               "seen_accuracy,unseen_accuracy,epochs,training_seconds\n";
        nlohmann::json rows_json = nlohmann::json::array();

        for (size_t i = 0; i < rows_.size(); ++i) {
            const Row& row = rows_[i];
            std::vector<double> acc, class_acc, loss, class_loss, seen, unseen;
            double seconds = 0.0;
            int done = 0;
            nlohmann::json folds_json = nlohmann::json::array();
            for (const auto& f : results[i]) {
                nlohmann::json fj = {{"fold", f.fold}, {"status", f.done ? "done" : "failed"}};
                if (f.done) {
                    ++done;
                    acc.push_back(f.accuracy);
                    class_acc.push_back(f.class_average_accuracy);
                    loss.push_back(f.log_loss);
                    class_loss.push_back(f.class_average_log_loss);
                    if (f.seen_accuracy)
                        seen.push_back(*f.seen_accuracy);
                    if (f.unseen_accuracy)
                        unseen.push_back(*f.unseen_accuracy);
                    seconds += f.training_seconds;
                    fj.update({{"accuracy", number(f.accuracy)},
                               {"class_average_accuracy", number(f.class_average_accuracy)},
                               {"log_loss", number(f.log_loss)},
                               {"class_average_log_loss", number(f.class_average_log_loss)},
                               {"seen_accuracy", number(f.seen_accuracy)},
                               {"unseen_accuracy", number(f.unseen_accuracy)},
                               {"epochs", f.epochs},
                               {"training_seconds", f.training_seconds},
                               {"metrics", f.metrics.string()}});
                } else {
                    fj["failure"] = f.failure;
                }
                folds_json.push_back(fj);
                csv << csvField(row.name) << "," << csvField(row.preset) << "," << f.fold << "," << row.seed
                    << "," << (f.done ? "done" : "failed") << "," << csvNumber(f.accuracy) << ","
                    << csvNumber(f.class_average_accuracy) << "," << csvNumber(f.log_loss) << ","
                    << csvNumber(f.class_average_log_loss) << "," << csvNumber(f.seen_accuracy) << ","
                    << csvNumber(f.unseen_accuracy) << "," << (f.done ? std::to_string(f.epochs) : "") << ","
                    << (f.done ? csvNumber(f.training_seconds) : "") << "\n";
            }
            const Stat s_acc = stat(acc), s_class = stat(class_acc), s_loss = stat(loss),
                       s_class_loss = stat(class_loss), s_seen = stat(seen), s_unseen = stat(unseen);
            for (const char* which : {"mean", "sd"}) {
                const bool m = std::string(which) == "mean";
                auto v = [&](const Stat& s) { return csvNumber(m ? s.mean : s.sd); };
                csv << csvField(row.name) << "," << csvField(row.preset) << "," << which << "," << row.seed
                    << "," << done << "/" << folds_.size() << "," << v(s_acc) << "," << v(s_class) << ","
                    << v(s_loss) << "," << v(s_class_loss) << "," << v(s_seen) << "," << v(s_unseen) << ",,"
                    << (m ? csvNumber(seconds) : "") << "\n";
            }
            auto summary = [](const Stat& s) {
                return nlohmann::json{{"folds", s.n}, {"mean", number(s.mean)}, {"sd", number(s.sd)}};
            };
            rows_json.push_back({{"row", row.name},
                                 {"preset", row.preset},
                                 {"description", row.description},
                                 {"seed", row.seed},
                                 {"folds", folds_json},
                                 {"summary",
                                  {{"folds_done", done},
                                   {"accuracy", summary(s_acc)},
                                   {"class_average_accuracy", summary(s_class)},
                                   {"log_loss", summary(s_loss)},
                                   {"class_average_log_loss", summary(s_class_loss)},
                                   {"seen_accuracy", summary(s_seen)},
                                   {"unseen_accuracy", summary(s_unseen)},
                                   {"training_seconds", seconds}}}});

            std::ostringstream time;
            time << std::fixed << std::setprecision(0) << seconds << " s";
            md << "| " << row.name << " | " << row.preset << " | " << done << "/" << folds_.size() << " | "
               << cell(s_acc, true) << " | " << cell(s_class, true) << " | " << cell(s_loss, false) << " |";
            if (cities)
                md << " " << cell(s_seen, true) << " | " << cell(s_unseen, true) << " |";
            md << " " << (done ? time.str() : "–") << " |\n";
        }

        const std::string seed_note =
            settings_.seed >= 0 ? "seed " + std::to_string(settings_.seed) + " for every row (--seed)"
                                : "each row's own /train/seed (its \"seed\" in ablation.json)";
        std::ostringstream page;
        page << "# Ablation on " << settings_.data << "\n\n"
             << "Test folds: " << fold_list << ". Seed: " << seed_note << "."
             << (settings_.epochs > 0 ? " Epochs: " + std::to_string(settings_.epochs) + " (--epochs)." : "")
             << " Mean ± sample standard deviation over the folds; accuracy is correct clips / clips, the "
                "class-average accuracy DCASE's mean of the class-wise accuracies"
             << (cities ? "; seen / unseen cities: the class-average accuracy of the test clips from cities "
                          "seen / not seen in training"
                        : "")
             << "; training time: all folds together.\n\n"
             << md.str();
        nlohmann::json summary = {
            {"data", settings_.data},
            {"format", settings_.format.empty() ? nlohmann::json(nullptr) : nlohmann::json(settings_.format)},
            {"folds", folds_},
            {"seed", settings_.seed >= 0 ? nlohmann::json(settings_.seed) : nlohmann::json(nullptr)},
            {"epochs", settings_.epochs > 0 ? nlohmann::json(settings_.epochs) : nlohmann::json(nullptr)},
            {"overrides", settings_.overrides},
            {"cities", cities},
            {"rows", rows_json}};
        std::ofstream(out / "ablation.md") << page.str();
        std::ofstream(out / "ablation.csv") << csv.str();
        std::ofstream(out / "ablation.json") << summary.dump(2) << "\n";
        std::cout << "\n"
                  << md.str() << "\nwrote " << (out / "ablation.md").string() << "\nwrote "
                  << (out / "ablation.csv").string() << "\nwrote " << (out / "ablation.json").string()
                  << "\n";
    }

    const AblateSettings& settings_;
    const GlobalOptions& global_;
    std::vector<Row> rows_;
    std::vector<int> folds_;
};

} // namespace

void addAblateCommand(CLI::App& app, const GlobalOptions& global) {
    auto settings = std::make_shared<AblateSettings>();
    CLI::App* cmd = app.add_subcommand(
        "ablate",
        "Train and score several presets (an ablation's rows) on the same folds with the same seeds, "
        "each fold by `avgraph train`, and tabulate the results (ablation.md, .csv, .json)");
    cmd->add_option("presets", settings->presets, "The rows' presets, in the table's order")->required();
    cmd->add_option("--data", settings->data, "Dataset folder, or its metadata / list file")->required();
    cmd->add_option("--format", settings->format, "Dataset layout (default: detected)")
        ->check(CLI::IsMember(formatNames()));
    cmd->add_option("--folds", settings->folds,
                    "Test folds, comma-separated, e.g. 1,2,3 (default: every fold of the dataset)");
    cmd->add_option("-o,--out", settings->out,
                    "Ablation folder: ROW/foldK/ (each a train run folder), ablation.md, .csv, .json")
        ->required();
    cmd->add_option("--epochs", settings->epochs, "Override every row's /train/epochs")
        ->check(CLI::Range(1, 100000));
    cmd->add_option("--seed", settings->seed, "Override every row's /train/seed (default: each row's own)")
        ->check(CLI::NonNegativeNumber);
    cmd->add_option("--threads", settings->threads, "Intra-op threads of each training (0: one per core)")
        ->check(CLI::Range(0, 1024));
    cmd->add_option("--device", settings->device, "Passed to `avgraph train`: cpu, cuda, cuda:N or auto");
    cmd->add_option("--precision", settings->precision,
                    "Passed to `avgraph train`: fp32, bf16, fp16 or auto (every row's /train/precision)")
        ->check(CLI::IsMember({"fp32", "bf16", "fp16", "auto"}))
        ->type_name("WORD");
    cmd->add_option("--av-data", settings->av_data,
                    "Passed to `avgraph train`: the audio-visual data (IVF rows)");
    cmd->add_option("--images", settings->images, "Passed to `avgraph train`: a folder of images (IVF rows)");
    cmd->add_option("--set", settings->overrides,
                    "Override a parameter of every row: node.param=value; repeatable");
    cmd->add_flag("--keep-going", settings->keep_going,
                  "After a failed row/fold, go on with the others (and exit 1 at the end)");
    cmd->add_flag("--no-plots", settings->no_plots, "Passed to `avgraph train`: write no plots");
    cmd->callback([settings, &global] { AblateCommand(*settings, global).run(); });
}

} // namespace avgraph::host
