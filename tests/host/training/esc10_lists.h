#pragma once
// Small real datasets for the training tests, made from ../shared/data/esc10.
#include "tests/test_support.h"

#include <filesystem>
#include <fstream>

namespace avgraph::test {

/** A CSV list of the ESC-10 dog barks and rain clips (80 real clips, 5 folds from the file names). */
inline std::filesystem::path writeTwoClassList(const std::filesystem::path& dir) {
    std::filesystem::path list = dir / "dog-rain.csv";
    std::ofstream out(list);
    out << "path,label,fold\n";
    for (const char* cls : {"001 - Dog bark", "002 - Rain"})
        for (const auto& e : std::filesystem::directory_iterator(sharedDir() / "data/esc10" / cls))
            if (e.path().extension() == ".ogg")
                out << "\"" << e.path().string() << "\"," << (cls[2] == '1' ? "dog" : "rain") << ","
                    << e.path().filename().string().substr(0, 1) << "\n";
    return list;
}

} // namespace avgraph::test
