#pragma once
/**
 * Datasets of labelled clips for training and evaluation, read from the layouts they ship in
 * (avgraph::datasets; links avgraph::io to turn clips into graph inputs: clip_inputs.h).
 *
 * Aims: every public layout of the field read as it ships, checked against itself and the disk, with
 * the official evaluation setup. Non-aims: training, feature computation, copying or converting data.
 *
 *     Dataset ds = openDataset("TAU-urban-acoustic-scenes-2020-mobile-development");
 *     Split split = splitFold(ds, 1);          // fold1_train.csv / fold1_evaluate.csv
 *     for (size_t i : split.train) use(ds.clips[i].path, ds.clips[i].label);
 *
 * A Dataset is a plain value: the clips (audio path, class index, fold, and what the layout tells
 * about where each was recorded: city, device, recording location, source file), the class names,
 * and the official evaluation setup. Readers check the metadata against itself and against the
 * files on disk and throw avgraph::Error naming the metadata file, the line and the column.
 *
 * Formats (docs/datasets.md): esc50, esc10, urbansound8k, tau2019, tau2020mobile, tau2022mobile,
 * folders (one folder per class) and csv (a list: path,label[,fold]); and two audio-visual ones,
 * video-folder and tau-av-2021, whose recordings are cut into segments of audio with the video frame
 * at their middle (Clip::video, start, duration; docs/audio-visual.md).
 */
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace avgraph::host {

enum class DatasetFormat {
    esc50,
    esc10,
    urbansound8k,
    tau2019,
    tau2020mobile,
    tau2022mobile,
    folders,
    csv,
    video_folder, ///< audio-visual: class folders of videos, cut into segments (host/datasets/av_dataset.h)
    tau_av2021,   ///< audio-visual: TAU Urban Audio-Visual Scenes 2021, cut into segments
};

/** The --format name of a format, e.g. "tau2020mobile". */
std::string formatName(DatasetFormat format);
/** Parses a --format name; an Error listing the names for anything else. */
DatasetFormat parseFormatName(const std::string& name);
/** All --format names, in the order of the enum. */
std::vector<std::string> formatNames();

/** Where a clip sits in a fixed (non k-fold) split: a CSV list's split column, or a TAU
 *  evaluation set, whose clips are all test clips. */
enum class Subset { none, train, validation, test };

struct Clip {
    std::filesystem::path path; ///< the audio file (root / file)
    std::string file;           ///< as the metadata names it, e.g. "audio/airport-lisbon-1000-40000-a.wav"
    int label = -1;             ///< index into Dataset::classes; -1 when unlabelled (evaluation sets)
    int fold = 0;               ///< 1-based fold of a k-fold dataset (ESC, UrbanSound8K, csv); 0 none
    Subset subset = Subset::none;
    std::string city;      ///< TAU: parsed from the file name, e.g. "lisbon"
    std::string device;    ///< TAU: recording device, e.g. "a", "b", "s1"
    std::string recording; ///< TAU: the recording location, "city-location" (meta.csv identifier)
    std::string segment;   ///< TAU: the 10-s segment id; UrbanSound8K: "occurrence-slice"
    int subsegment = -1;   ///< TAU 2022: the 1-s segment index within the 10-s segment
    std::string source;    ///< ESC: the Freesound clip id; UrbanSound8K: fsID
    std::string take;      ///< ESC: the take letter (A, B, ...)
    int line = 0;          ///< the line of the metadata file that lists it (0: found by folder)
    // Audio-visual segments (formats video_folder and tau_av2021): a stretch of a longer recording.
    std::filesystem::path video; ///< the video whose picture goes with the audio (empty: audio only)
    double start = 0.0;          ///< seconds into the file where the clip starts
    double duration = 0.0;       ///< seconds of the clip; 0: the whole file
    bool present = true;         ///< whether the audio file exists (false only with AudioCheck::report)
};

/** A TAU evaluation setup fold: clip indices of foldK_train.csv, foldK_evaluate.csv, foldK_test.csv. */
struct SetupFold {
    std::vector<size_t> train, evaluate, test;
};

struct Dataset {
    DatasetFormat format = DatasetFormat::folders;
    std::filesystem::path root;     ///< the folder that clip files are relative to
    std::filesystem::path metadata; ///< the main metadata file (empty for a folder layout)
    std::string detected_from;      ///< what made openDataset choose the format ("--format" if named)
    std::vector<std::string> classes;
    std::vector<Clip> clips;
    std::vector<int> folds;         ///< k-fold datasets: the fold numbers present, ascending
    std::map<int, SetupFold> setup; ///< TAU: evaluation_setup/foldK_*.csv
    bool labelled = true;           ///< false for an evaluation set without labels
    size_t missing_audio = 0;       ///< clips whose audio is absent (AudioCheck::report)
    std::vector<std::string> notes; ///< things a user should know (merged duplicate rows, ...)

    /** Clips per class, in class order. */
    std::vector<size_t> classCounts() const;
};

/** What to do when the metadata lists an audio file that is not there. */
enum class AudioCheck {
    require, ///< an Error naming the metadata line (training and evaluation need every file)
    report,  ///< keep the clip with present = false and count it in Dataset::missing_audio
};

struct DatasetOptions {
    std::optional<DatasetFormat> format; ///< empty: detect from the folder or file
    AudioCheck audio = AudioCheck::require;
    /** Audio-visual layouts: the length of the segments each recording is cut into (DCASE 2021 task 1B
     *  scores 1-s segments). */
    double segment_seconds = 1.0;
};

/**
 * Reads a dataset from a folder (or a metadata file inside one: esc50.csv, UrbanSound8K.csv,
 * meta.csv, or a CSV list). Without a format the layout is detected (docs/datasets.md says how).
 * Throws avgraph::Error naming the file, line and column of a problem.
 */
Dataset openDataset(const std::filesystem::path& path, const DatasetOptions& options = {});

/** Clip indices of one training run. */
struct Split {
    std::vector<size_t> train, validation, test;
};

/**
 * The split for fold K by the dataset's convention:
 *  - ESC-50, ESC-10, UrbanSound8K, csv with a fold column: fold K is the test set, the other
 *    folds train; validation is empty (see holdOutValidation).
 *  - TAU: evaluation_setup/foldK_train.csv trains, foldK_evaluate.csv (labelled) tests.
 *  - no folds (folders, csv without fold): K = 0; a csv split column gives train/validation/test,
 *    else every clip trains; a TAU evaluation set is all test.
 * K = 0 on a dataset with folds, or a fold it does not have, is an Error listing the folds.
 */
Split splitFold(const Dataset& dataset, int fold);

/** The fold a command uses when none is named: the first fold, or 0 for a dataset without folds. */
int defaultFold(const Dataset& dataset);

/**
 * Moves about `fraction` of the training clips to validation, whole groups at a time so that clips
 * cut from one recording never sit on both sides: the group is the TAU recording location, the ESC
 * or UrbanSound8K source file, else the clip. Groups are drawn per class with a seeded shuffle, so
 * the same seed gives the same split.
 */
Split holdOutValidation(const Dataset& dataset, Split split, double fraction, unsigned seed);

} // namespace avgraph::host
