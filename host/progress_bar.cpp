#include "host/progress_bar.h"

#include <unistd.h>

#include <cstdio>
#include <iomanip>
#include <sstream>

namespace avgraph::host {

bool stderrIsTerminal() { return isatty(STDERR_FILENO) == 1; }

std::string fixedText(double x, int digits) {
    std::ostringstream s;
    s << std::fixed << std::setprecision(digits) << x;
    return s.str();
}

double secondsSince(std::chrono::steady_clock::time_point start) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

ProgressBar::ProgressBar(size_t total, bool enabled)
    : total_(total), enabled_(enabled), start_(std::chrono::steady_clock::now()) {}

ProgressBar::~ProgressBar() { finish(); }

void ProgressBar::update(size_t done, const std::string& label) {
    if (!enabled_ || total_ == 0)
        return;
    auto now = std::chrono::steady_clock::now();
    if (drawn_ && done < total_ && now - last_ < std::chrono::milliseconds(100))
        return;
    last_ = now;
    drawn_ = true;
    constexpr int width = 30;
    int filled = static_cast<int>(width * done / total_);
    double elapsed = std::chrono::duration<double>(now - start_).count();
    double eta = done > 0 ? elapsed * static_cast<double>(total_ - done) / static_cast<double>(done) : 0.0;
    std::string bar(static_cast<size_t>(filled), '#');
    bar.resize(width, '.');
    std::string name = label.size() > 40 ? "..." + label.substr(label.size() - 37) : label;
    std::fprintf(stderr, "\r[%s] %zu/%zu  %-40s  ETA %4.0fs\x1b[K", bar.c_str(), done, total_, name.c_str(),
                 eta);
    std::fflush(stderr);
}

void ProgressBar::finish() {
    if (drawn_) {
        std::fprintf(stderr, "\n");
        drawn_ = false;
    }
}

} // namespace avgraph::host
