// The avgraph command line: parses arguments and runs one subcommand. Exit status: 0 ok,
// 1 a problem in a preset or input (the message names the file, JSON pointer and node),
// 2 a command-line usage error.
#include "host/cli/cli_main.h"

#include "graph/error.h"
#include "host/cli/commands.h"
#include "host/version.h"
#include "io/runtime.h"

#include <iostream>

namespace avgraph::host {

namespace {

/** The app with every subcommand; `global` must outlive it (the commands keep a reference). */
void addCommands(CLI::App& app, GlobalOptions& global) {
    app.set_version_flag("--version", AVGRAPH_VERSION);
    app.require_subcommand(1);
    app.fallthrough(); // --nodes may come after the subcommand
    app.add_option("--nodes", global.node_libraries,
                   "Load a node library (.so) before anything else; repeatable")
        ->check(CLI::ExistingFile);
    addRunCommand(app, global);
    addValidateCommand(app, global);
    addNodesCommand(app, global);
    addDotCommand(app, global);
    addBenchCommand(app, global);
    addReportCommand(app, global);
    addDataCommand(app, global);
    addEvalCommand(app, global);
    addTrainCommand(app, global);
    addAblateCommand(app, global);
}

constexpr const char* kAbout = "avgraph: acoustic scene classification as a graph of LibTorch nodes";

} // namespace

int cliMain(int argc, char** argv) {
    configureAllocator();
    CLI::App app{kAbout};
    GlobalOptions global;
    addCommands(app, global);
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        int code = app.exit(e);
        return code == 0 ? 0 : 2;
    } catch (const avgraph::Error& e) {
        std::cerr << "avgraph: error: " << e.what() << "\n";
        return 1;
    } catch (const std::exception& e) {
        std::cerr << "avgraph: error: " << e.what() << "\n";
        return 1;
    }
    return 0;
}

void runCommand(const std::vector<std::string>& arguments) {
    CLI::App app{kAbout};
    GlobalOptions global;
    addCommands(app, global);
    std::vector<std::string> reversed(arguments.rbegin(), arguments.rend()); // CLI11 takes them last first
    app.parse(reversed);
}

} // namespace avgraph::host
