#include "nodes/features/features.h"
#include "nodes/features/spectral.h"
#include "nodes/features/spectral_params.h"

namespace avgraph::nodes {

namespace {

/** Power to decibels, clipped top_db below each clip's maximum. */
class PowerToDbNode : public Node {
public:
    explicit PowerToDbNode(const NodeContext& ctx) : Node(ctx), settings_(dbSettings(ctx.params)) {}

protected:
    Ports run(const Ports& in) override {
        const Value& power = input(in, "power");
        if (!power.tensor.is_floating_point())
            throw std::invalid_argument("input 'power' must be real-valued, got " +
                                        std::string(c10::toString(power.tensor.scalar_type())));
        return {{"db", power.withTensor(powerToDb(power.tensor, settings_))}};
    }

    void onPrepareStream(const StreamSpec& spec) override {
        if (settings_.top_db && !spec.defer_top_db)
            throw topDbStreamError(*this, *settings_.top_db);
    }
    Ports runBlock(const Ports& in) override {
        const Value& power = input(in, "power");
        DbSettings unclipped = settings_;
        unclipped.top_db.reset();
        Value v = power.withTensor(powerToDb(power.tensor, unclipped));
        v.pending_top_db = settings_.top_db; // unclipped: the consumer clips (defer_top_db)
        return {{"db", v}};
    }

private:
    DbSettings settings_;
};

} // namespace

NodeSpec powerToDbNodeSpec() {
    NodeSpec s;
    s.type = "features.power_to_db";
    s.summary =
        "Power to decibels: 10*log10(max(amin, S) / ref), optionally clipped top_db below the maximum";
    s.doc = "Matches librosa.power_to_db(S, ref, amin, top_db) of librosa 0.10 within the golden tolerance "
            "(0.01 dB). librosa clips against the maximum of the whole array it is given; here the leading "
            "dimension is the batch, so each clip is clipped against its own maximum over all its channels, "
            "bins and frames, exactly as librosa on that clip alone. Streams only with top_db null: with "
            "clipping, the clip's maximum is unknown until its end.";
    s.inputs = {PortSpec::of("power", {Kind::Spectrum, Kind::Tensor}, "non-negative power, batch first")};
    s.outputs = {PortSpec::of("db", {Kind::Any}, "the same shape in dB")};
    s.params = dbParamSpecs();
    s.streams = true;
    s.make = [](const NodeContext& ctx) { return std::make_unique<PowerToDbNode>(ctx); };
    return s;
}

} // namespace avgraph::nodes
