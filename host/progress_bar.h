#pragma once
/**
 * A one-line progress bar on standard error, drawn only when it is a terminal (a log file or CI
 * gets nothing), redrawn at most ten times a second; and the numbers the lines of a long run show.
 */
#include <chrono>
#include <cstddef>
#include <string>

namespace avgraph::host {

class ProgressBar {
public:
    ProgressBar(size_t total, bool enabled);
    ~ProgressBar();
    void update(size_t done, const std::string& label);
    void finish();

private:
    size_t total_;
    bool enabled_;
    bool drawn_ = false;
    std::chrono::steady_clock::time_point start_, last_;
};

/** True when standard error is a terminal. */
bool stderrIsTerminal();

/** "0.4213": x with `digits` digits after the point (std::fixed), for progress and epoch lines. */
std::string fixedText(double x, int digits);

/** Seconds on the steady clock since `start`. */
double secondsSince(std::chrono::steady_clock::time_point start);

} // namespace avgraph::host
