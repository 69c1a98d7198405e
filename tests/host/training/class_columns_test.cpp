// The model's output column of each dataset class: by name when the model names its classes, in order
// when it names none, and an error naming a class the model lacks.
#include "host/training/class_columns.h"

#include <catch2/catch.hpp>

#include <stdexcept>

using namespace avgraph::host::training;

TEST_CASE("dataset classes map to the model's columns by name", "[training][classes]") {
    // The model was trained on ESC-10's classes in another order, and on more of them.
    const std::vector<std::string> model{"Rain", "Sea waves", "Dog bark", "Rooster"};
    CHECK(classColumns({"Dog bark", "Rain"}, model) == std::vector<int64_t>{2, 0});
    CHECK(classColumns({"Rooster", "Sea waves", "Rain", "Dog bark"}, model) ==
          std::vector<int64_t>{3, 1, 0, 2});
    CHECK(classColumns({}, model).empty());
}

TEST_CASE("a model that names no classes gives the dataset's in order", "[training][classes]") {
    CHECK(classColumns({"b", "a", "c"}, {}) == std::vector<int64_t>{0, 1, 2});
}

TEST_CASE("a dataset class the model does not name is an error naming it and the model's",
          "[training][classes]") {
    CHECK_THROWS_AS(classColumns({"Dog bark", "Helicopter"}, {"Rain", "Dog bark"}), std::invalid_argument);
    CHECK_THROWS_WITH(classColumns({"Dog bark", "Helicopter"}, {"Rain", "Dog bark"}),
                      Catch::Contains("\"Helicopter\"") && Catch::Contains("(Rain, Dog bark)"));
    // Names match exactly: case and spaces count.
    CHECK_THROWS_WITH(classColumns({"dog bark"}, {"Dog bark"}), Catch::Contains("\"dog bark\""));
}
