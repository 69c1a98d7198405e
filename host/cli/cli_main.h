#pragma once
#include <string>
#include <vector>

namespace avgraph::host {

/** The avgraph command line: runs one subcommand and returns the process exit status. */
int cliMain(int argc, char** argv);

/**
 * One subcommand with its arguments (`{"train", "preset.json", "--data", ...}`), as `avgraph` runs it,
 * in this process: what the Python package's train and evaluate call. Throws avgraph::Error for what
 * the user should fix, and CLI::ParseError for arguments the command does not take.
 */
void runCommand(const std::vector<std::string>& arguments);

} // namespace avgraph::host
