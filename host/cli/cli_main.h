#pragma once

namespace avgraph::host {

/** The avgraph command line: runs one subcommand and returns the process exit status. */
int cliMain(int argc, char** argv);

} // namespace avgraph::host
