// avgraph: the command-line host (host/cli/cli_main.cpp holds the commands).
#include "host/cli/cli_main.h"

int main(int argc, char** argv) { return avgraph::host::cliMain(argc, argv); }
