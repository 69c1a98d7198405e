#pragma once
/**
 * Audio-visual datasets: clips with a video and its sound, and the (frame, audio) pairs cut from them.
 *
 *     AvDataset ds = readAvDataset("TAU-urban-audio-visual-scenes-2021-development");
 *     for (size_t i : ds.train)
 *         for (AvSample& s : pairClip(ds.clips[i], 1.0, 224, 224, 1.0))
 *             use(s.frame, s.audio);               // [3, 224, 224] uint8, [1, channels, samples]
 *
 * Formats (docs/audio-visual.md):
 *  - "video-folder": every video file under the root (recursively); with class folders at the first
 *    level the folder names are the labels, else the clips are unlabelled. The sound is the video's own.
 *  - "tau-av-2021": TAU Urban Audio-Visual Scenes 2021 development: meta.csv (tab-separated:
 *    filename_audio, filename_video, scene_label, identifier), audio/NAME.wav, video/NAME.mp4 and
 *    evaluation_setup/foldK_{train,evaluate,test}.csv.
 * Metadata problems are avgraph::Error naming the file, line and column, as host/datasets/dataset.h's.
 */
#include "graph/value.h"
#include "host/datasets/dataset.h"

#include <torch/types.h>

#include <cstddef>
#include <filesystem>
#include <string>
#include <vector>

namespace avgraph::host {

struct AvClip {
    std::filesystem::path video, audio; ///< audio may equal video (the video's own soundtrack)
    int label = -1;                     ///< index into AvDataset::classes; -1 unlabelled
    std::string group;                  ///< the source recording, for splits that keep it on one side
    std::string city;                   ///< TAU: from the file name; empty otherwise
};

struct AvDataset {
    std::string format; ///< "video-folder" or "tau-av-2021"
    std::filesystem::path root;
    std::vector<std::string> classes; ///< sorted; empty when unlabelled
    std::vector<AvClip> clips;        ///< in metadata order (TAU) or path order (folders)
    std::vector<size_t> train, test;  ///< indices of the chosen fold; empty test when the layout has none
};

/** The format names readAvDataset takes. */
std::vector<std::string> avFormatNames();

/**
 * Reads an audio-visual dataset. `format` empty: "tau-av-2021" when root/meta.csv names a
 * filename_video column, else "video-folder". `fold`: the TAU evaluation setup fold (train from
 * foldK_train.csv, test from foldK_evaluate.csv; without an evaluation_setup folder every clip trains);
 * a video folder has no folds, so every clip trains and `fold` is not used.
 * @throws avgraph::Error naming the file (and line, column) for a missing root, an unknown format, a
 *         broken meta.csv or fold file, a label a fold file does not know, or a file that is not there.
 */
AvDataset readAvDataset(const std::filesystem::path& root, const std::string& format = "", int fold = 1);

/** Image files (jpg, jpeg, png, bmp, webp; any case) under root, recursively, sorted by path. An Error
 *  when root is not a folder or holds no image. */
std::vector<std::filesystem::path> listImages(const std::filesystem::path& root);

/** One training pair: a clip and the time of its frame. */
struct AvPair {
    size_t clip = 0;
    double time = 0.0;
};

/** The pairs of the given clips at `fps`: one per sample time (k + 0.5) / fps of each clip's video (its
 *  duration read from the headers), in clip order. */
std::vector<AvPair> listPairs(const AvDataset& dataset, const std::vector<size_t>& clips, double fps);

/** A decoded pair. */
struct AvSample {
    torch::Tensor frame; ///< [3, H, W] uint8 RGB, the picture shown at `time`
    /** Kind::Audio [1, channels, samples] float32 at the audio file's own rate: round(seconds * rate)
     *  samples centred on `time`, zeros where the window reaches past either end of the recording. */
    Value audio;
    double time = 0.0; ///< seconds from the start of the video
};

/**
 * Decodes a clip once (frames at `fps`, sized width x height as readVideoFrames does, and the whole
 * audio through readAudio: libsndfile, or FFmpeg for a video's soundtrack) and returns one sample per
 * frame, in time order.
 */
std::vector<AvSample> pairClip(const AvClip& clip, double fps, int64_t width, int64_t height,
                               double audio_seconds);

/**
 * The audio-visual layout a folder holds, by openDataset's detection: "tau-av-2021" for a meta.csv with a
 * filename_video column, "video-folder" for a folder with videos and no audio file; "" otherwise.
 */
std::string detectAvFormat(const std::filesystem::path& root);

/**
 * The recordings cut into segments of `seconds`, as a Dataset for training and evaluation (the DCASE 2021
 * task 1B way: 1-s segments). Recording r of duration d (its video's, from the headers) gives
 * max(1, ⌊d / seconds⌋) clips: segment k is the audio from k·seconds for `seconds` (zeros past the end)
 * with the video's picture at its middle; Clip::file is "<recording>#t=START,END" (a media fragment),
 * subsegment k, recording and source the recording (so validation splits keep a recording on one side).
 *
 * The split (fold 1 of Dataset::setup): the TAU layout's evaluation setup; a video folder has none, so the
 * last quarter of each recording's segments (rounded up; none of a one-segment recording) test and the
 * rest train; a note says so, since neighbouring seconds of one recording then sit on both sides.
 * @throws avgraph::Error for an unlabelled layout (a video folder without class folders).
 */
Dataset segmentDataset(const AvDataset& av, double seconds);

} // namespace avgraph::host
