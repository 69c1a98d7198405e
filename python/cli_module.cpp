// avgraph._avgraph_cli: the avgraph commands (train, eval, ...) run in the Python process, behind
// avgraph.train and avgraph.evaluate, so that they are the commands themselves and not a copy. A module
// of its own: `import avgraph` loads engine, nodes and io only, and this one (with the datasets and
// training layers) when a program first trains or evaluates.
#include "host/cli/cli_main.h"

#include <CLI/CLI.hpp>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

namespace py = pybind11;

PYBIND11_MODULE(_avgraph_cli, m) {
    m.doc() = "avgraph's commands for Python; use avgraph.train and avgraph.evaluate";
    m.def("run", [](const std::vector<std::string>& arguments) {
        std::string failure;
        {
            // A training run takes minutes to hours: other Python threads go on meanwhile.
            py::gil_scoped_release free;
            try {
                avgraph::host::runCommand(arguments);
            } catch (const CLI::ParseError& e) {
                if (e.get_exit_code() != 0)
                    failure =
                        "avgraph " + (arguments.empty() ? std::string() : arguments[0]) + ": " + e.what();
            } catch (const std::exception& e) {
                failure = e.what();
            }
        }
        if (!failure.empty()) {
            // The same avgraph.Error (a ValueError) as every other avgraph failure.
            py::object error = py::module_::import("avgraph._avgraph").attr("Error");
            PyErr_SetString(error.ptr(), failure.c_str());
            throw py::error_already_set();
        }
    });
}
