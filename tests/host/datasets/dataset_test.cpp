// The dataset readers on every real layout in ../shared/data: counts checked against counts taken
// from the metadata with shell tools (and against the datasets' published sizes where the copy is
// whole), then broken copies in a scratch folder, each refused with the file, line and column.
#include "graph/error.h"
#include "host/datasets/dataset.h"
#include "tests/host/host_test_support.h"

#include <catch2/catch.hpp>

#include <fstream>
#include <map>
#include <set>
#include <sstream>

using namespace avgraph;
using namespace avgraph::host;
namespace fs = std::filesystem;
using avgraph::test::q;

namespace {

/** `uniq -c` output as name -> count. */
std::map<std::string, size_t> shellCounts(const std::string& command) {
    auto r = test::runShell(command + " | sort | uniq -c");
    INFO(command << "\n" << r.output);
    REQUIRE(r.exit_code == 0);
    std::map<std::string, size_t> counts;
    std::istringstream in(r.output);
    size_t n;
    std::string name;
    while (in >> n && std::getline(in >> std::ws, name))
        counts[name] = n;
    return counts;
}

std::map<std::string, size_t> classCounts(const Dataset& ds) {
    std::map<std::string, size_t> m;
    auto counts = ds.classCounts();
    for (size_t c = 0; c < ds.classes.size(); ++c)
        m[ds.classes[c]] = counts[c];
    return m;
}

template <class F> std::map<std::string, size_t> countBy(const Dataset& ds, F key) {
    std::map<std::string, size_t> m;
    for (const auto& clip : ds.clips)
        ++m[key(clip)];
    return m;
}

std::map<std::string, size_t> foldCounts(const Dataset& ds) {
    return countBy(ds, [](const Clip& c) { return std::to_string(c.fold); });
}

DatasetOptions report(std::optional<DatasetFormat> format = std::nullopt) {
    DatasetOptions o;
    o.format = format;
    o.audio = AudioCheck::report;
    return o;
}

/** The message openDataset throws, or "" when it reads the dataset. */
std::string openError(const fs::path& path, DatasetOptions options = {}) {
    try {
        openDataset(path, options);
    } catch (const Error& e) {
        return e.what();
    }
    return "";
}

void write(const fs::path& file, const std::string& text) {
    fs::create_directories(file.parent_path());
    std::ofstream(file, std::ios::binary) << text;
}

/** Every clip is on exactly one side of a split, and the sides partition what they were cut from. */
void checkDisjoint(const Split& s, size_t expected_total) {
    std::set<size_t> all;
    for (const auto* side : {&s.train, &s.validation, &s.test})
        for (size_t i : *side)
            CHECK(all.insert(i).second);
    CHECK(all.size() == expected_total);
}

} // namespace

TEST_CASE("ESC-50 from meta/esc50.csv: 2000 clips, 50 classes of 40, 5 folds of 400", "[host][datasets]") {
    fs::path root = test::formatsDir() / "esc50", csv = root / "meta/esc50.csv";
    Dataset ds = openDataset(root, report());
    CHECK(ds.format == DatasetFormat::esc50);
    CHECK(ds.detected_from == "meta/esc50.csv");
    REQUIRE(ds.clips.size() == test::shellCount("tail -n +2 " + q(csv) + " | wc -l"));
    CHECK(ds.clips.size() == 2000); // published size
    CHECK(classCounts(ds) == shellCounts("tail -n +2 " + q(csv) + " | cut -d, -f4"));
    CHECK(ds.classes.size() == 50);
    for (size_t n : ds.classCounts())
        CHECK(n == 40);
    CHECK(foldCounts(ds) == shellCounts("tail -n +2 " + q(csv) + " | cut -d, -f2"));
    CHECK(ds.folds == std::vector<int>{1, 2, 3, 4, 5});
    // classes are in target order: target 0 is dog, 49 hand_saw
    CHECK(ds.classes.front() == "dog");
    CHECK(ds.classes.back() == "hand_saw");
    // only one clip of the copy has its audio
    CHECK(ds.clips.size() - ds.missing_audio == test::shellCount("ls " + q(root / "audio") + " | wc -l"));
    const Clip& clip =
        ds.clips[test::shellCount("grep -n '^1-104089-A-22.wav,' " + q(csv) + " | cut -d: -f1") - 2];
    CHECK(clip.file == "1-104089-A-22.wav");
    CHECK(clip.present);
    CHECK(ds.classes[clip.label] == "clapping");
    CHECK(clip.source == "104089");
    CHECK(clip.take == "A");
    CHECK(clip.fold == 1);

    SECTION("fold 3 is the test set, the other four train") {
        Split s = splitFold(ds, 3);
        CHECK(s.test.size() == 400);
        CHECK(s.train.size() == 1600);
        CHECK(s.validation.empty());
        for (size_t i : s.test)
            CHECK(ds.clips[i].fold == 3);
        checkDisjoint(s, 2000);
        CHECK_THROWS_WITH(splitFold(ds, 6), Catch::Contains("no fold 6") && Catch::Contains("1, 2, 3, 4, 5"));
        CHECK_THROWS_WITH(splitFold(ds, 0), Catch::Contains("no fold 0"));
    }
    SECTION("the whole file also opens from the CSV's path") {
        Dataset again = openDataset(csv, report());
        CHECK(again.format == DatasetFormat::esc50);
        CHECK(again.clips.size() == ds.clips.size());
        CHECK(fs::equivalent(again.clips.front().path.parent_path(), root / "audio"));
    }
    SECTION("without --allow-missing the first missing clip stops it, naming its line") {
        // line 2 (1-100032-A-0.wav) is the first row and its audio is not in the copy
        CHECK_THAT(openError(root),
                   Catch::Contains("esc50.csv:2:1: column 'filename': audio file not found"));
    }
}

TEST_CASE("ESC-10 as the esc10 rows of ESC-50: 400 clips, 10 classes of 40", "[host][datasets]") {
    fs::path csv = test::formatsDir() / "esc50/meta/esc50.csv";
    Dataset ds = openDataset(test::formatsDir() / "esc50", report(DatasetFormat::esc10));
    CHECK(ds.format == DatasetFormat::esc10);
    CHECK(ds.clips.size() == test::shellCount("grep -c ',True,' " + q(csv)));
    CHECK(ds.clips.size() == 400);
    CHECK(classCounts(ds) == shellCounts("grep ',True,' " + q(csv) + " | cut -d, -f4"));
    CHECK(foldCounts(ds) == shellCounts("grep ',True,' " + q(csv) + " | cut -d, -f2"));
    CHECK(ds.classes ==
          std::vector<std::string>{"dog", "rooster", "rain", "sea_waves", "crackling_fire", "crying_baby",
                                   "sneezing", "clock_tick", "helicopter",
                                   "chainsaw"}); // ESC-50 target order: 0 1 10 11 12 20 21 38 40 41
}

TEST_CASE("ESC-10 as distributed: class folders, the fold first in each file name", "[host][datasets]") {
    fs::path root = test::sharedDir() / "data/esc10";
    Dataset ds = openDataset(root); // every clip's audio is there: the default check passes
    CHECK(ds.format == DatasetFormat::esc10);
    CHECK(ds.missing_audio == 0);
    REQUIRE(ds.clips.size() == test::shellCount("find " + q(root) + " -name '*.ogg' | wc -l"));
    CHECK(ds.clips.size() == 400); // published size
    REQUIRE(ds.classes.size() == 10);
    CHECK(ds.classes.front() == "Dog bark");
    CHECK(ds.classes.back() == "Fire crackling");
    // class = folder without its number, fold = the first field of the file name
    CHECK(
        classCounts(ds) ==
        shellCounts("find " + q(root) + " -name '*.ogg' | awk -F/ '{print $(NF-1)}' | sed 's/^[0-9]* - //'"));
    CHECK(foldCounts(ds) ==
          shellCounts("find " + q(root) + " -name '*.ogg' | awk -F/ '{print $NF}' | cut -d- -f1"));
    const Clip* dog = nullptr;
    for (const auto& c : ds.clips)
        if (c.file == "001 - Dog bark/1-100032-A.ogg")
            dog = &c;
    REQUIRE(dog);
    CHECK(dog->fold == 1);
    CHECK(dog->source == "100032");
    CHECK(dog->take == "A");
    CHECK(fs::equivalent(dog->path, test::esc10Clip()));
    Split s = splitFold(ds, 5);
    CHECK(s.test.size() == foldCounts(ds)["5"]);
    checkDisjoint(s, 400);

    SECTION("--format folders reads the same folders as plain classes, without folds") {
        Dataset plain = openDataset(root, report(DatasetFormat::folders));
        CHECK(plain.format == DatasetFormat::folders);
        CHECK(plain.classes.front() == "001 - Dog bark");
        CHECK(plain.clips.size() == 400);
        CHECK(plain.folds.empty());
        Split all = splitFold(plain, 0);
        CHECK(all.train.size() == 400);
        CHECK_THROWS_WITH(splitFold(plain, 1), Catch::Contains("has no folds"));
    }
    SECTION("holding out validation keeps each source recording on one side, the same for the same seed") {
        Split a = holdOutValidation(ds, splitFold(ds, 1), 0.2, 7);
        Split b = holdOutValidation(ds, splitFold(ds, 1), 0.2, 7);
        CHECK(a.validation == b.validation);
        checkDisjoint(a, 400);
        CHECK(a.test.size() == splitFold(ds, 1).test.size());
        std::set<std::string> train_sources, val_sources;
        for (size_t i : a.train)
            train_sources.insert(ds.clips[i].source);
        for (size_t i : a.validation)
            val_sources.insert(ds.clips[i].source);
        for (const auto& s : val_sources)
            CHECK(train_sources.count(s) == 0);
        // about a fifth of the 320 training clips, per class: whole sources overshoot by at most a few
        CHECK(a.validation.size() >= 64);
        CHECK(a.validation.size() <= 64 + 10 * 3);
    }
}

TEST_CASE("UrbanSound8K: 8732 clips in 10 folds, audio in audio/foldK", "[host][datasets]") {
    fs::path root = test::formatsDir() / "urbansound8k", csv = root / "metadata/UrbanSound8K.csv";
    Dataset ds = openDataset(root, report());
    CHECK(ds.format == DatasetFormat::urbansound8k);
    REQUIRE(ds.clips.size() == test::shellCount("tail -n +2 " + q(csv) + " | wc -l"));
    CHECK(ds.clips.size() == 8732); // published size
    CHECK(classCounts(ds) == shellCounts("tail -n +2 " + q(csv) + " | cut -d, -f8"));
    // published fold sizes (UrbanSound8K README)
    CHECK(foldCounts(ds) == std::map<std::string, size_t>{{"1", 873},
                                                          {"2", 888},
                                                          {"3", 925},
                                                          {"4", 990},
                                                          {"5", 936},
                                                          {"6", 823},
                                                          {"7", 838},
                                                          {"8", 806},
                                                          {"9", 816},
                                                          {"10", 837}});
    CHECK(ds.classes.front() == "air_conditioner"); // classID 0
    CHECK(ds.classes.back() == "street_music");     // classID 9
    CHECK(ds.clips.size() - ds.missing_audio == 1);
    for (const auto& c : ds.clips)
        if (c.present) {
            CHECK(c.file == "135776-2-0-49.wav");
            CHECK(c.fold == 1);
            CHECK(c.source == "135776");
            CHECK(c.segment == "0-49");
            CHECK(ds.classes[c.label] == "children_playing");
        }
    Split s = splitFold(ds, 10);
    CHECK(s.test.size() == 837);
    checkDisjoint(s, 8732);
}

namespace {

/** The independent view of a TAU development folder: unique rows of meta.csv, cities from the
 *  identifier column, devices from source_label, and the fold-list sizes. */
struct TauReference {
    size_t clips, train, evaluate, test;
    std::map<std::string, size_t> scenes, cities, devices;
};

TauReference tauReference(const fs::path& dev) {
    std::string meta = "tail -n +2 " + q(dev / "meta.csv") + " | tr -d '\\r' | sort -u";
    auto rows = [&](const std::string& name) {
        return test::shellCount("tail -n +2 " + q(dev / "evaluation_setup" / name) +
                                " | tr -d '\\r' | sort -u | wc -l");
    };
    return {test::shellCount(meta + " | wc -l"), rows("fold1_train.csv"),
            rows("fold1_evaluate.csv"),          rows("fold1_test.csv"),
            shellCounts(meta + " | cut -f2"),    shellCounts(meta + " | cut -f3 | cut -d- -f1"),
            shellCounts(meta + " | cut -f4")};
}

void checkTau(const Dataset& ds, const fs::path& dev) {
    TauReference ref = tauReference(dev);
    CHECK(ds.clips.size() == ref.clips);
    CHECK(classCounts(ds) == ref.scenes);
    CHECK(countBy(ds, [](const Clip& c) { return c.city; }) == ref.cities);
    CHECK(countBy(ds, [](const Clip& c) { return c.device; }) == ref.devices);
    REQUIRE(ds.setup.count(1));
    CHECK(ds.setup.at(1).train.size() == ref.train);
    CHECK(ds.setup.at(1).evaluate.size() == ref.evaluate);
    CHECK(ds.setup.at(1).test.size() == ref.test);
    Split s = splitFold(ds, 1);
    CHECK(s.train == ds.setup.at(1).train);
    CHECK(s.test == ds.setup.at(1).evaluate);
    CHECK_THROWS_WITH(splitFold(ds, 2), Catch::Contains("no fold 2 in evaluation_setup"));
    CHECK(ds.clips.size() - ds.missing_audio == test::shellCount("ls " + q(dev / "audio") + " | wc -l"));
    CHECK(std::is_sorted(ds.classes.begin(), ds.classes.end()));
}

} // namespace

TEST_CASE("TAU Urban Acoustic Scenes 2019 development: CRLF, repeated rows read once", "[host][datasets]") {
    fs::path parent = test::formatsDir() / "tau2019uas",
             dev = parent / "TAU-urban-acoustic-scenes-2019-development";
    Dataset ds = openDataset(dev, report());
    CHECK(ds.format == DatasetFormat::tau2019);
    CHECK(ds.detected_from == "folder name TAU-urban-acoustic-scenes-2019-development");
    checkTau(ds, dev);
    // meta.csv repeats three rows verbatim
    CHECK(ds.clips.size() + 3 == test::shellCount("tail -n +2 " + q(dev / "meta.csv") + " | wc -l"));
    REQUIRE(ds.notes.size() == 1);
    CHECK_THAT(ds.notes[0], Catch::Contains("3 row(s) repeat an earlier row exactly"));
    const Clip& lyon = ds.clips.front();
    CHECK(lyon.file == "audio/street_pedestrian-lyon-1162-44093-a.wav");
    CHECK(ds.classes[lyon.label] == "street_pedestrian");
    CHECK(lyon.city == "lyon");
    CHECK(lyon.recording == "lyon-1162");
    CHECK(lyon.segment == "44093");
    CHECK(lyon.device == "a");
    CHECK(lyon.subsegment == -1);

    SECTION("the folder holding development, evaluation and leaderboard opens the development set") {
        Dataset from_parent = openDataset(parent, report());
        CHECK(from_parent.clips.size() == ds.clips.size());
        CHECK(from_parent.format == DatasetFormat::tau2019);
        CHECK_THAT(from_parent.notes.at(0), Catch::Contains("2019-evaluation"));
        CHECK_THAT(from_parent.notes.at(1), Catch::Contains("2019-leaderboard"));
    }
    SECTION("the evaluation and leaderboard sets open as unlabelled test clips") {
        for (const char* name :
             {"TAU-urban-acoustic-scenes-2019-evaluation", "TAU-urban-acoustic-scenes-2019-leaderboard"}) {
            fs::path eval = parent / name;
            Dataset e = openDataset(eval, report());
            CHECK(e.format == DatasetFormat::tau2019);
            CHECK_FALSE(e.labelled);
            CHECK(e.clips.size() ==
                  test::shellCount("tail -n +2 " + q(eval / "evaluation_setup/test.csv") + " | wc -l"));
            CHECK(e.clips.front().file == "audio/0.wav"); // the CR is gone
            CHECK(e.clips.front().label == -1);
            Split s = splitFold(e, 0);
            CHECK(s.test.size() == e.clips.size());
            CHECK(s.train.empty());
        }
    }
}

TEST_CASE("TAU Urban Acoustic Scenes 2020 Mobile development and evaluation", "[host][datasets]") {
    fs::path dev = test::formatsDir() / "tau2020uas_mobile/TAU-urban-acoustic-scenes-2020-mobile-development";
    Dataset ds = openDataset(dev, report());
    CHECK(ds.format == DatasetFormat::tau2020mobile);
    checkTau(ds, dev);
    CHECK(ds.notes.empty());
    CHECK(ds.clips.front().present); // airport-barcelona-0-0-a.wav is in the copy
    CHECK(ds.clips.front().city == "barcelona");
    CHECK(ds.clips.front().recording == "barcelona-0");

    SECTION("the meta.csv path opens the same dataset") {
        Dataset again = openDataset(dev / "meta.csv", report());
        CHECK(again.format == DatasetFormat::tau2020mobile);
        CHECK(again.clips.size() == ds.clips.size());
    }
    SECTION("missing audio stops the default read at the first absent file's line") {
        CHECK_THAT(openError(dev), Catch::Contains("meta.csv:3:1: column 'filename': audio file not found") &&
                                       Catch::Contains("airport-barcelona-0-1-a.wav"));
    }
    SECTION("the evaluation set: CRLF test list, no labels") {
        fs::path eval =
            test::formatsDir() / "tau2020uas_mobile/TAU-urban-acoustic-scenes-2020-mobile-evaluation";
        Dataset e = openDataset(eval, report());
        CHECK(e.format == DatasetFormat::tau2020mobile);
        CHECK_FALSE(e.labelled);
        CHECK(e.clips.size() == 3);
        CHECK(e.clips.back().file == "audio/2.wav");
    }
}

TEST_CASE("TAU Urban Acoustic Scenes 2022 Mobile: 1-s segments with their index", "[host][datasets]") {
    fs::path dev = test::formatsDir() / "tau2022uas_mobile/TAU-urban-acoustic-scenes-2022-mobile-development";
    Dataset ds = openDataset(dev, report());
    CHECK(ds.format == DatasetFormat::tau2022mobile);
    checkTau(ds, dev); // the fold lists have no newline after their last row
    const Clip& c = ds.clips.at(2);
    CHECK(c.file == "audio/airport-lisbon-1000-40000-2-a.wav");
    CHECK(c.city == "lisbon");
    CHECK(c.recording == "lisbon-1000");
    CHECK(c.segment == "40000");
    CHECK(c.subsegment == 2);
    CHECK(c.device == "a");

    SECTION("2023's evaluation folder is read as the 2022 layout") {
        fs::path eval =
            test::formatsDir() / "tau2022uas_mobile/TAU-urban-acoustic-scenes-2023-mobile-evaluation";
        Dataset e = openDataset(eval, report());
        CHECK(e.format == DatasetFormat::tau2022mobile);
        CHECK(e.clips.size() == 3);
    }
    SECTION("read as 2020 the file names have one field too many") {
        CHECK_THAT(openError(dev, report(DatasetFormat::tau2020mobile)),
                   Catch::Contains("meta.csv:2:1: column 'filename'") &&
                       Catch::Contains("scene-city-location-segment-device.wav"));
    }
}

TEST_CASE("TAU editions are told apart by content when the folder name does not say", "[host][datasets]") {
    test::ScratchDir dir;
    for (const auto& [name, want] : std::vector<std::pair<std::string, DatasetFormat>>{
             {"tau2019uas/TAU-urban-acoustic-scenes-2019-development", DatasetFormat::tau2019},
             {"tau2022uas_mobile/TAU-urban-acoustic-scenes-2022-mobile-development",
              DatasetFormat::tau2022mobile}}) {
        fs::path copy = dir / ("renamed" + std::to_string(static_cast<int>(want)));
        fs::copy(test::formatsDir() / name, copy, fs::copy_options::recursive);
        REQUIRE(test::runShell("chmod -R u+w " + q(copy)).exit_code == 0); // the shared copy is read-only
        Dataset ds = openDataset(copy, report());
        CHECK(ds.format == want);
        CHECK_THAT(ds.detected_from, Catch::StartsWith("meta.csv"));
    }
    // a device s1 makes an unnamed 2019/2020 layout 2020 Mobile
    fs::path mobile = dir / "mobile";
    write(mobile / "meta.csv", "filename\tscene_label\tidentifier\tsource_label\n"
                               "audio/park-paris-3-100-s1.wav\tpark\tparis-3\ts1\n");
    write(mobile / "audio/park-paris-3-100-s1.wav", "");
    Dataset ds = openDataset(mobile);
    CHECK(ds.format == DatasetFormat::tau2020mobile);
    CHECK(ds.clips.at(0).device == "s1");
    CHECK(ds.notes.at(0) == "no evaluation_setup folder: no official split");
}

TEST_CASE("a folder per class, and a CSV list", "[host][datasets]") {
    test::ScratchDir dir;
    for (const char* f : {"dog/a.wav", "dog/more/b.flac", "cat/c.ogg", "empty/readme.txt"})
        write(dir / "classes" / f, "");
    write(dir / "classes/loose.wav", "");
    Dataset folders = openDataset(dir / "classes");
    CHECK(folders.format == DatasetFormat::folders);
    CHECK(folders.classes == std::vector<std::string>{"cat", "dog"});
    CHECK(folders.classCounts() == std::vector<size_t>{1, 2});
    CHECK(folders.clips.at(1).file == "dog/a.wav");
    CHECK_THAT(folders.notes.at(0), Catch::Contains("1 audio file(s) directly in"));

    write(dir / "list/clips/1.wav", "");
    write(dir / "list/clips/2.wav", "");
    write(dir / "list/clips/3.wav", "");
    write(dir / "list/list.csv",
          "path,label,fold\nclips/1.wav,dog,1\nclips/2.wav,cat,2\n\"clips/3.wav\",\"dog\",2\r\n");
    Dataset list = openDataset(dir / "list/list.csv");
    CHECK(list.format == DatasetFormat::csv);
    CHECK(list.classes == std::vector<std::string>{"cat", "dog"});
    CHECK(list.folds == std::vector<int>{1, 2});
    CHECK(list.clips.at(2).file == "clips/3.wav");
    CHECK(list.clips.at(2).label == 1);
    Split s = splitFold(list, 2);
    CHECK(s.train == std::vector<size_t>{0});
    CHECK(s.test == std::vector<size_t>{1, 2});

    write(dir / "list/split.csv",
          "path,label,split\nclips/1.wav,dog,train\nclips/2.wav,cat,validation\nclips/3.wav,dog,test\n");
    Split fixed = splitFold(openDataset(dir / "list/split.csv"), 0);
    CHECK(fixed.train == std::vector<size_t>{0});
    CHECK(fixed.validation == std::vector<size_t>{1});
    CHECK(fixed.test == std::vector<size_t>{2});

    CHECK_THAT(openError(dir / "list/list.csv", report(DatasetFormat::esc50)),
               Catch::Contains("reads a folder"));
    CHECK_THAT(openError(dir / "classes", report(DatasetFormat::csv)), Catch::Contains("give the .csv file"));
    CHECK_THAT(openError(dir / "nothing"), Catch::Contains("no such dataset"));
}

TEST_CASE("format names", "[host][datasets]") {
    for (const auto& name : formatNames())
        CHECK(formatName(parseFormatName(name)) == name);
    CHECK(formatNames().size() == 10); // eight audio layouts and the two audio-visual ones
    CHECK_THROWS_WITH(parseFormatName("tau2021"), Catch::Contains("unknown dataset format 'tau2021'") &&
                                                      Catch::Contains("tau2022mobile"));
}

// --- broken copies ---------------------------------------------------------------------------

namespace {

/** A small TAU 2020 development folder whose every audio file exists (empty files: only presence is checked).
 */
fs::path makeTau(const fs::path& dir, const std::string& meta, const std::string& train,
                 const std::string& evaluate) {
    fs::path dev = dir / "TAU-urban-acoustic-scenes-2020-mobile-development";
    write(dev / "meta.csv", meta);
    write(dev / "evaluation_setup/fold1_train.csv", train);
    write(dev / "evaluation_setup/fold1_evaluate.csv", evaluate);
    for (const char* f : {"airport-lisbon-1-10-a.wav", "airport-lisbon-1-11-b.wav", "park-paris-2-20-a.wav",
                          "park-paris-2-21-s2.wav"})
        write(dev / "audio" / f, "");
    return dev;
}

const std::string kMeta = "filename\tscene_label\tidentifier\tsource_label\n"
                          "audio/airport-lisbon-1-10-a.wav\tairport\tlisbon-1\ta\n"
                          "audio/airport-lisbon-1-11-b.wav\tairport\tlisbon-1\tb\n"
                          "audio/park-paris-2-20-a.wav\tpark\tparis-2\ta\n"
                          "audio/park-paris-2-21-s2.wav\tpark\tparis-2\ts2\n";
const std::string kTrain = "filename\tscene_label\naudio/airport-lisbon-1-10-a.wav\tairport\n"
                           "audio/park-paris-2-20-a.wav\tpark\n";
const std::string kEvaluate = "filename\tscene_label\naudio/airport-lisbon-1-11-b.wav\tairport\n"
                              "audio/park-paris-2-21-s2.wav\tpark\n";

std::string replaced(std::string s, const std::string& from, const std::string& to) {
    auto at = s.find(from);
    REQUIRE(at != std::string::npos);
    return s.replace(at, from.size(), to);
}

} // namespace

TEST_CASE("a broken TAU folder is refused with the file, line and column", "[host][datasets][errors]") {
    test::ScratchDir dir;
    SECTION("the intact copy reads") {
        Dataset ds = openDataset(makeTau(dir.path(), kMeta, kTrain, kEvaluate));
        CHECK(ds.clips.size() == 4);
        CHECK(countBy(ds, [](const Clip& c) { return c.device; }) ==
              std::map<std::string, size_t>{{"a", 2}, {"b", 1}, {"s2", 1}});
        CHECK(splitFold(ds, 1).test.size() == 2);
    }
    SECTION("meta.csv without scene_label") {
        std::string meta =
            "filename\tidentifier\tsource_label\naudio/airport-lisbon-1-10-a.wav\tlisbon-1\ta\n";
        auto msg = openError(makeTau(dir.path(), meta, kTrain, kEvaluate));
        CHECK_THAT(msg, Catch::Contains("meta.csv:1:1: missing column 'scene_label'") &&
                            Catch::Contains("filename, identifier, source_label"));
    }
    SECTION("meta.csv written with semicolons instead of tabs") {
        std::string meta = "filename;scene_label\naudio/airport-lisbon-1-10-a.wav;airport\n";
        CHECK_THAT(openError(makeTau(dir.path(), meta, kTrain, kEvaluate)),
                   Catch::Contains("meta.csv:1:1: missing column 'filename'") &&
                       Catch::Contains("comma-separated; the header has: filename;scene_label"));
    }
    SECTION("a row too short") {
        std::string meta = replaced(kMeta, "\tpark\tparis-2\ta\n", "\n");
        CHECK_THAT(openError(makeTau(dir.path(), meta, kTrain, kEvaluate)),
                   Catch::Contains("meta.csv:4:1: column 'scene_label' is missing on this line"));
    }
    SECTION("an unknown label in fold1_train.csv") {
        std::string train = replaced(kTrain, "wav\tpark", "wav\tbeach");
        CHECK_THAT(openError(makeTau(dir.path(), kMeta, train, kEvaluate)),
                   Catch::Contains("fold1_train.csv:3:29: column 'scene_label': unknown label 'beach'") &&
                       Catch::Contains("meta.csv has: airport, park"));
    }
    SECTION("a fold label that contradicts meta.csv") {
        std::string evaluate = replaced(kEvaluate, "s2.wav\tpark", "s2.wav\tairport");
        CHECK_THAT(openError(makeTau(dir.path(), kMeta, kTrain, evaluate)),
                   Catch::Contains("fold1_evaluate.csv:3:30: column 'scene_label': label 'airport' differs "
                                   "from meta.csv line 5 ('park')"));
    }
    SECTION("a fold file naming a clip meta.csv does not have") {
        std::string train = kTrain + "audio/park-paris-2-99-a.wav\tpark\n";
        CHECK_THAT(openError(makeTau(dir.path(), kMeta, train, kEvaluate)),
                   Catch::Contains(
                       "fold1_train.csv:4:1: column 'filename': 'audio/park-paris-2-99-a.wav' is not in"));
    }
    SECTION("a clip in both train and evaluate") {
        std::string evaluate = kEvaluate + "audio/park-paris-2-20-a.wav\tpark\n";
        CHECK_THAT(openError(makeTau(dir.path(), kMeta, kTrain, evaluate)),
                   Catch::Contains("in both fold1_train.csv and fold1_evaluate.csv"));
    }
    SECTION("a missing audio file") {
        fs::path dev = makeTau(dir.path(), kMeta, kTrain, kEvaluate);
        fs::remove(dev / "audio/park-paris-2-20-a.wav");
        CHECK_THAT(openError(dev),
                   Catch::Contains("meta.csv:4:1: column 'filename': audio file not found: ") &&
                       Catch::Contains("park-paris-2-20-a.wav"));
        Dataset ds = openDataset(dev, report());
        CHECK(ds.missing_audio == 1);
        CHECK_FALSE(ds.clips.at(2).present);
    }
    SECTION("a file listed twice with different labels") {
        std::string meta = kMeta + "audio/park-paris-2-20-a.wav\tairport\tparis-2\ta\n";
        // the row says airport but its name says park: the name check speaks first
        CHECK_THAT(
            openError(makeTau(dir.path(), meta, kTrain, kEvaluate)),
            Catch::Contains("meta.csv:6:29: column 'scene_label': 'airport' but the file name says 'park'"));
        std::string meta2 = kMeta + "audio/park-paris-2-20-a.wav\tpark\tparis-2\tb\n";
        CHECK_THAT(openError(makeTau(dir.path(), meta2, kTrain, kEvaluate)),
                   Catch::Contains("meta.csv:6:42: column 'source_label': 'b' but the file name says 'a'"));
        std::string meta3 = kMeta + "audio/park-paris-2-20-a.wav\tpark\tparis-2\ta\textra\n";
        CHECK_THAT(openError(makeTau(dir.path(), meta3, kTrain, kEvaluate)),
                   Catch::Contains("meta.csv:6:1: column 'filename': 'audio/park-paris-2-20-a.wav' is listed "
                                   "twice, differently (first on line 4)"));
    }
    SECTION("an identifier that contradicts the file name") {
        std::string meta = replaced(kMeta, "\tlisbon-1\tb", "\tlisbon-7\tb");
        CHECK_THAT(openError(makeTau(dir.path(), meta, kTrain, kEvaluate)),
                   Catch::Contains("meta.csv:3:") && Catch::Contains("column 'identifier': 'lisbon-7'"));
    }
}

TEST_CASE("a broken ESC-50, UrbanSound8K or CSV list is refused with the file and line",
          "[host][datasets][errors]") {
    test::ScratchDir dir;
    fs::path esc = dir / "esc";
    write(esc / "audio/1-1-A-0.wav", "");
    write(esc / "audio/2-2-A-1.wav", "");
    const std::string header = "filename,fold,target,category,esc10,src_file,take\n";
    const std::string rows = "1-1-A-0.wav,1,0,dog,True,1,A\n2-2-A-1.wav,2,1,rooster,True,2,A\n";
    SECTION("intact") {
        write(esc / "meta/esc50.csv", header + rows);
        Dataset ds = openDataset(esc);
        CHECK(ds.classes == std::vector<std::string>{"dog", "rooster"});
        CHECK(ds.folds == std::vector<int>{1, 2});
    }
    SECTION("missing column") {
        write(esc / "meta/esc50.csv",
              "filename,target,category,esc10,src_file,take\n1-1-A-0.wav,0,dog,True,1,A\n");
        CHECK_THAT(openError(esc), Catch::Contains("esc50.csv:1:1: missing column 'fold'"));
    }
    SECTION("a fold that is not a number") {
        write(esc / "meta/esc50.csv", header + rows + "2-2-A-1.wav,x,1,rooster,True,2,A\n");
        CHECK_THAT(openError(esc),
                   Catch::Contains("esc50.csv:4:13: column 'fold': expected an integer >= 1, found 'x'"));
    }
    SECTION("a target with two names") {
        write(esc / "meta/esc50.csv", header + rows + "3-3-A-1.wav,3,1,hen,True,3,A\n");
        CHECK_THAT(openError(esc), Catch::Contains("esc50.csv:4:") &&
                                       Catch::Contains("target 1 is 'rooster' on line 3, here 'hen'"));
    }
    SECTION("a duplicate file") {
        write(esc / "meta/esc50.csv", header + rows + "1-1-A-0.wav,1,0,dog,True,1,B\n");
        CHECK_THAT(openError(esc),
                   Catch::Contains("esc50.csv:4:1: column 'filename': '1-1-A-0.wav' is listed "
                                   "twice, differently (first on line 2)"));
    }
    SECTION("a missing audio file") {
        write(esc / "meta/esc50.csv", header + rows + "3-3-A-1.wav,3,1,rooster,True,3,A\n");
        CHECK_THAT(openError(esc), Catch::Contains("esc50.csv:4:1: column 'filename': audio file not found"));
    }
    SECTION("an UrbanSound8K table without classID") {
        write(dir / "us/metadata/UrbanSound8K.csv", "slice_file_name,fsID,start,end,salience,fold,class\n");
        CHECK_THAT(openError(dir / "us"), Catch::Contains("UrbanSound8K.csv:1:1: missing column 'classID'"));
    }
    SECTION("a CSV list without a path column, or with a bad split") {
        write(dir / "l/a.csv", "label,fold\ndog,1\n");
        CHECK_THAT(openError(dir / "l/a.csv"),
                   Catch::Contains("a.csv:1:1: missing column 'path' or 'file' or 'filename'"));
        write(dir / "l/x.wav", "");
        write(dir / "l/b.csv", "path,label,split\nx.wav,dog,dev\n");
        CHECK_THAT(
            openError(dir / "l/b.csv"),
            Catch::Contains("b.csv:2:11: column 'split': expected train, validation or test, found 'dev'"));
        write(dir / "l/c.csv", "path,label\n\"x.wav,dog\n");
        CHECK_THAT(openError(dir / "l/c.csv"), Catch::Contains("c.csv:2:1: a quoted field is not closed"));
    }
    SECTION("an ESC-10 folder with a file named otherwise") {
        write(dir / "e10/001 - Dog bark/1-100-A.ogg", "");
        write(dir / "e10/001 - Dog bark/bark.ogg", "");
        CHECK_THAT(openError(dir / "e10", report(DatasetFormat::esc10)),
                   Catch::Contains("bark.ogg: an ESC-10 file name is FOLD-SOURCE-TAKE.ogg"));
        // detection does not take it for ESC-10: it is a plain folder per class
        CHECK(openDataset(dir / "e10").format == DatasetFormat::folders);
    }
    SECTION("an ESC-10 source split over two folds") {
        write(dir / "e10b/001 - Dog bark/1-100-A.ogg", "");
        write(dir / "e10b/001 - Dog bark/2-100-B.ogg", "");
        CHECK_THAT(openError(dir / "e10b"), Catch::Contains("source 100 is in fold 2 here but in fold 1"));
    }
}
