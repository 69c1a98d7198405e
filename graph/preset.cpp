#include "graph/preset.h"

#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>

namespace avgraph {

namespace fs = std::filesystem;
using nlohmann::json;

std::string pointerToken(const std::string& key) {
    std::string out;
    for (char c : key) {
        if (c == '~')
            out += "~0";
        else if (c == '/')
            out += "~1";
        else
            out += c;
    }
    return out;
}

namespace {

// Tracks where the parser is, to name duplicate keys by JSON pointer (nlohmann keeps the last
// duplicate silently, which would hide a node that was defined twice).
class DuplicateKeyCheck {
public:
    explicit DuplicateKeyCheck(std::string file) : file_(std::move(file)) {}

    bool operator()(int /*depth*/, json::parse_event_t event, json& parsed) {
        switch (event) {
        case json::parse_event_t::object_start:
            enterElement();
            frames_.push_back({true, {}, {}, 0});
            break;
        case json::parse_event_t::array_start:
            enterElement();
            frames_.push_back({false, {}, {}, 0});
            break;
        case json::parse_event_t::object_end:
        case json::parse_event_t::array_end:
            frames_.pop_back();
            break;
        case json::parse_event_t::key: {
            auto& top = frames_.back();
            top.key = parsed.get<std::string>();
            if (!top.keys.insert(top.key).second) {
                std::string where = pointer();
                bool node = frames_.size() == 2 && frames_[0].key == "nodes";
                throw Error({file_, where, node ? top.key : "", 0, 0},
                            node ? "duplicate node id '" + top.key + "': each node needs its own id"
                                 : "duplicate key '" + top.key + "'");
            }
            break;
        }
        case json::parse_event_t::value:
            enterElement();
            break;
        }
        return true;
    }

private:
    struct Frame {
        bool object;
        std::set<std::string> keys;
        std::string key;
        size_t index;
    };
    void enterElement() {
        if (!frames_.empty() && !frames_.back().object)
            ++frames_.back().index;
    }
    std::string pointer() const {
        std::string p;
        for (const auto& f : frames_)
            p += "/" + (f.object ? pointerToken(f.key) : std::to_string(f.index - 1));
        return p;
    }
    std::string file_;
    std::vector<Frame> frames_;
};

// Records which file set each value a merge patch touches. Objects merge key by key; anything
// else replaces what was there, so the base's origins below it are dropped.
void recordOrigins(const json& patch, const std::string& prefix, const std::string& file,
                   std::map<std::string, std::string>& origin) {
    for (const auto& [key, value] : patch.items()) {
        std::string ptr = prefix + "/" + pointerToken(key);
        if (!value.is_object()) {
            auto it = origin.lower_bound(ptr + "/");
            while (it != origin.end() && it->first.compare(0, ptr.size() + 1, ptr + "/") == 0)
                it = origin.erase(it);
        }
        if (value.is_null()) {
            origin.erase(ptr);
            continue;
        }
        origin[ptr] = file;
        if (value.is_object())
            recordOrigins(value, ptr, file, origin);
        else if (value.is_array())
            for (size_t i = 0; i < value.size(); ++i)
                origin[ptr + "/" + std::to_string(i)] = file;
    }
}

json loadMerged(const fs::path& file, std::vector<fs::path>& chain,
                std::map<std::string, std::string>& origin, const std::string* text = nullptr) {
    json doc = text ? parseJson(*text, file.string()) : readJsonFile(file);
    if (!doc.is_object())
        throw fileError(file, "a preset is a JSON object, this file holds " + std::string(doc.type_name()));
    json merged = json::object();
    chain.push_back(fs::weakly_canonical(file));
    if (doc.contains("extends")) {
        const json& ext = doc["extends"];
        if (!ext.is_string() || ext.get<std::string>().empty())
            throw Error({file.string(), "/extends", "", 0, 0},
                        "expected the path of a base preset (a string)");
        fs::path base = file.parent_path() / ext.get<std::string>();
        if (!fs::exists(base))
            throw Error({file.string(), "/extends", "", 0, 0}, "base preset not found: " + base.string());
        auto canonical = fs::weakly_canonical(base);
        if (std::find(chain.begin(), chain.end(), canonical) != chain.end()) {
            std::string cycle;
            for (const auto& f : chain)
                cycle += f.filename().string() + " -> ";
            throw Error({file.string(), "/extends", "", 0, 0},
                        "presets extend each other in a cycle: " + cycle + canonical.filename().string());
        }
        merged = loadMerged(base, chain, origin);
        doc.erase("extends");
    }
    chain.pop_back();
    recordOrigins(doc, "", file.string(), origin);
    merged.merge_patch(doc);
    return merged;
}

bool validId(const std::string& id) {
    return !id.empty() && std::all_of(id.begin(), id.end(), [](unsigned char c) {
        return std::isalnum(c) || c == '_' || c == '-';
    });
}

} // namespace

json parseJson(const std::string& text, const std::string& file) {
    try {
        return json::parse(text, DuplicateKeyCheck(file));
    } catch (const json::parse_error& e) {
        // e.byte is 1-based and points just past the offending character.
        size_t upto = std::min<size_t>(e.byte > 0 ? e.byte - 1 : 0, text.size());
        int line = 1, column = 1;
        for (size_t i = 0; i < upto; ++i) {
            if (text[i] == '\n') {
                ++line;
                column = 1;
            } else {
                ++column;
            }
        }
        std::string what = e.what();
        // "[json.exception.parse_error.101] parse error at line 3, column 5: syntax error while..."
        auto colon = what.find(": ", what.find("parse error"));
        std::string detail = colon == std::string::npos ? what : what.substr(colon + 2);
        throw Error({file, "", "", line, column}, "malformed JSON: " + detail);
    }
}

json readJsonFile(const fs::path& file) {
    if (fs::is_directory(file))
        throw fileError(file, "is a folder, expected a JSON file");
    std::ifstream in(file, std::ios::binary);
    if (!in)
        throw fileError(file, "cannot open the file");
    std::stringstream buffer;
    buffer << in.rdbuf();
    return parseJson(buffer.str(), file.string());
}

Preset Preset::load(const fs::path& file, const std::vector<std::string>& overrides,
                    const std::string& override_origin) {
    if (!fs::exists(file))
        throw fileError(file, "preset not found");
    std::ifstream in(file, std::ios::binary);
    std::stringstream buffer;
    buffer << in.rdbuf();
    return parse(buffer.str(), file, overrides, override_origin);
}

Preset Preset::parse(const std::string& text, const fs::path& file, const std::vector<std::string>& overrides,
                     const std::string& override_origin) {
    Preset p;
    p.file_ = file;
    std::vector<fs::path> chain;
    p.document_ = loadMerged(file, chain, p.origin_, &text);
    for (const auto& o : overrides) {
        std::string source = override_origin + " " + o;
        auto eq = o.find('=');
        auto dot = o.find('.');
        if (eq == std::string::npos || dot == std::string::npos || dot > eq || dot == 0 || dot + 1 == eq)
            throw fileError(source, "expected node.param=value");
        std::string node = o.substr(0, dot), param = o.substr(dot + 1, eq - dot - 1), raw = o.substr(eq + 1);
        auto& nodes = p.document_["nodes"];
        if (!nodes.is_object() || !nodes.contains(node)) {
            std::string known;
            if (nodes.is_object())
                for (const auto& [id, _] : nodes.items())
                    known += (known.empty() ? "" : ", ") + id;
            throw fileError(source, "the preset " + file.string() + " has no node '" + node +
                                        "' (its nodes: " + known + ")");
        }
        json value = json::parse(raw, nullptr, false);
        if (value.is_discarded())
            value = raw; // a bare word such as slaney or reflect
        nodes[node]["params"][param] = value;
        const std::string pointer = "/nodes/" + pointerToken(node) + "/params/" + pointerToken(param);
        p.origin_[pointer] = source;
        p.overridden_.insert(pointer);
    }
    p.interpret();
    return p;
}

Location Preset::locate(const std::string& pointer, const std::string& node) const {
    std::string ptr = pointer;
    while (true) {
        auto it = origin_.find(ptr);
        if (it != origin_.end())
            return {it->second, pointer, node, 0, 0};
        if (ptr.empty())
            break;
        ptr = ptr.substr(0, ptr.rfind('/'));
    }
    return {file_.string(), pointer, node, 0, 0};
}

fs::path Preset::folderOf(const std::string& pointer) const {
    // The nearest pointer at or above `pointer` that something set, as locate finds it: an override?
    for (std::string ptr = pointer;; ptr = ptr.substr(0, ptr.rfind('/'))) {
        if (overridden_.count(ptr))
            return fs::current_path(); // a path given on the command line is relative to where it was typed
        if (origin_.count(ptr) || ptr.empty())
            break;
    }
    return fs::path(locate(pointer).file).parent_path();
}

namespace {
Endpoint parseEndpoint(const json& v, const Location& where) {
    if (!v.is_string() || v.get<std::string>().empty())
        throw Error(where, "expected \"node\" or \"node.port\", got " + v.dump());
    std::string s = v.get<std::string>();
    auto dot = s.find('.');
    Endpoint e{s.substr(0, dot), dot == std::string::npos ? "" : s.substr(dot + 1)};
    if (e.node.empty() || (dot != std::string::npos && e.port.empty()))
        throw Error(where, "expected \"node\" or \"node.port\", got \"" + s + "\"");
    return e;
}

void onlyKeys(const json& obj, const std::vector<std::string>& allowed, const std::string& ptr,
              const Preset& p, const std::string& node = "") {
    for (const auto& [key, _] : obj.items()) {
        if (std::find(allowed.begin(), allowed.end(), key) != allowed.end())
            continue;
        std::string list;
        for (const auto& a : allowed)
            list += (list.empty() ? "" : ", ") + a;
        throw Error(p.locate(ptr + "/" + pointerToken(key), node),
                    "unknown key '" + key + "' (expected " + list + ")");
    }
}
} // namespace

void Preset::interpret() {
    const json& d = document_;
    onlyKeys(
        d,
        {"avgraph", "name", "description", "inputs", "nodes", "edges", "outputs", "node_libraries", "train"},
        "", *this);
    if (!d.contains("avgraph"))
        throw Error(locate(""), "missing \"avgraph\": 1, the preset format version");
    if (d["avgraph"] != 1)
        throw Error(locate("/avgraph"), "unsupported preset format version " + d["avgraph"].dump() +
                                            "; this avgraph reads version 1");
    name_ = file_.stem().string();
    if (d.contains("name")) {
        if (!d["name"].is_string())
            throw Error(locate("/name"), "expected a string");
        name_ = d["name"].get<std::string>();
    }

    if (d.contains("inputs")) {
        if (!d["inputs"].is_object() || d["inputs"].empty())
            throw Error(locate("/inputs"), "expected an object of input name: {\"kind\": ...}");
        for (const auto& [name, spec] : d["inputs"].items()) {
            std::string ptr = "/inputs/" + pointerToken(name);
            if (!validId(name))
                throw Error(locate(ptr),
                            "input name '" + name + "' may only hold letters, digits, '_' and '-'");
            if (!spec.is_object())
                throw Error(locate(ptr), "expected {\"kind\": \"audio\", \"sample_rate\": ...}");
            onlyKeys(spec, {"kind", "sample_rate"}, ptr, *this);
            PresetInput in{name, Kind::Audio, std::nullopt};
            if (spec.contains("kind")) {
                auto k =
                    spec["kind"].is_string() ? kindFromName(spec["kind"].get<std::string>()) : std::nullopt;
                if (!k || *k == Kind::Any)
                    throw Error(locate(ptr + "/kind"),
                                "expected a kind (audio, spectrum, tensor, indices, image, "
                                "probabilities), got " +
                                    spec["kind"].dump());
                in.kind = *k;
            }
            if (spec.contains("sample_rate")) {
                const auto& sr = spec["sample_rate"];
                if (!sr.is_number() || sr.get<double>() <= 0)
                    throw Error(locate(ptr + "/sample_rate"),
                                "expected a sample rate in Hz > 0, got " + sr.dump());
                in.sample_rate = sr.get<double>();
            }
            inputs_.push_back(in);
        }
    } else {
        inputs_.push_back({"audio", Kind::Audio, std::nullopt});
    }

    if (!d.contains("nodes") || !d["nodes"].is_object() || d["nodes"].empty())
        throw Error(locate("/nodes"),
                    "expected \"nodes\": an object of node id: {\"type\": ..., \"params\": ...}");
    for (const auto& [id, spec] : d["nodes"].items()) {
        std::string ptr = "/nodes/" + pointerToken(id);
        if (!validId(id))
            throw Error(locate(ptr, id), "node id may only hold letters, digits, '_' and '-'");
        for (const auto& in : inputs_)
            if (in.name == id)
                throw Error(locate(ptr, id), "duplicate id '" + id + "': it names a graph input already");
        if (!spec.is_object())
            throw Error(locate(ptr, id), "expected {\"type\": ..., \"params\": {...}}");
        onlyKeys(spec, {"type", "params", "device", "description"}, ptr, *this, id);
        if (!spec.contains("type") || !spec["type"].is_string())
            throw Error(locate(ptr, id), "missing \"type\", e.g. \"features.logmel\"");
        PresetNode n{id, spec["type"].get<std::string>(), spec.value("params", json()), ""};
        if (spec.contains("device")) {
            const auto& dev = spec["device"];
            std::string s = dev.is_string() ? dev.get<std::string>() : "";
            bool ok = s == "cpu" || s == "cuda" || s == "auto" ||
                      (s.rfind("cuda:", 0) == 0 && s.size() > 5 &&
                       std::all_of(s.begin() + 5, s.end(), [](unsigned char c) { return std::isdigit(c); }));
            if (!ok)
                throw Error(locate(ptr + "/device", id),
                            "expected \"cpu\", \"cuda\", \"cuda:N\" or \"auto\", got " + dev.dump());
            n.device = s;
        }
        nodes_.push_back(std::move(n));
    }

    if (d.contains("edges")) {
        if (!d["edges"].is_array())
            throw Error(locate("/edges"), "expected an array of [from, to] pairs");
        for (size_t i = 0; i < d["edges"].size(); ++i) {
            std::string ptr = "/edges/" + std::to_string(i);
            const auto& e = d["edges"][i];
            if (!e.is_array() || e.size() != 2)
                throw Error(locate(ptr), "expected [\"from\", \"to\"], got " + e.dump());
            edges_.push_back(
                {parseEndpoint(e[0], locate(ptr + "/0")), parseEndpoint(e[1], locate(ptr + "/1")), ptr});
        }
    }

    if (!d.contains("outputs") || !d["outputs"].is_object() || d["outputs"].empty())
        throw Error(locate("/outputs"), "expected \"outputs\": an object of output name: \"node.port\"");
    for (const auto& [name, from] : d["outputs"].items()) {
        std::string ptr = "/outputs/" + pointerToken(name);
        if (!validId(name))
            throw Error(locate(ptr), "output name '" + name +
                                         "' may only hold letters, digits, '_' and '-' "
                                         "(it becomes a file name)");
        outputs_.push_back({name, parseEndpoint(from, locate(ptr))});
    }

    if (d.contains("node_libraries")) {
        const auto& libs = d["node_libraries"];
        if (!libs.is_array())
            throw Error(locate("/node_libraries"), "expected an array of paths to node libraries (.so)");
        for (size_t i = 0; i < libs.size(); ++i) {
            std::string ptr = "/node_libraries/" + std::to_string(i);
            if (!libs[i].is_string())
                throw Error(locate(ptr), "expected a path (string)");
            fs::path lib = libs[i].get<std::string>();
            if (lib.is_relative())
                lib = folderOf(ptr) / lib;
            node_libraries_.push_back(lib.lexically_normal());
        }
    }
}

} // namespace avgraph
