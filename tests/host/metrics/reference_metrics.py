#!/usr/bin/python3
"""Independent reference for avgraph's metrics: reads a prediction CSV with numpy and prints JSON.

Follows DCASE's task 1 definitions (docs/evaluation.md) written directly in numpy, vectorised:
scikit-learn's log_loss (eps = 1e-15: clip, renormalise rows, mean of -ln p[true]) and
class-wise accuracy / log loss averaged over the classes that have clips.

usage: reference_metrics.py PREDICTIONS.csv [TRAIN_CITIES] [TRAIN_DEVICES]   (comma-separated)
"""
import json
import sys

import numpy as np

EPS = 1e-15


def summary(y, yhat, proba, k):
    clipped = np.clip(proba, EPS, 1 - EPS)
    clipped = clipped / clipped.sum(axis=1, keepdims=True)
    losses = -np.log(clipped[np.arange(len(y)), y])
    counts = np.bincount(y, minlength=k)
    correct = np.bincount(y, weights=(y == yhat).astype(float), minlength=k)
    loss_sum = np.bincount(y, weights=losses, minlength=k)
    with np.errstate(invalid="ignore", divide="ignore"):
        class_acc = np.where(counts > 0, correct / counts, np.nan)
        class_loss = np.where(counts > 0, loss_sum / counts, np.nan)
    tolist = lambda a: [None if np.isnan(v) else float(v) for v in a]
    return {
        "clips": int(len(y)),
        "accuracy": float(np.mean(y == yhat)),
        "class_average_accuracy": float(np.nanmean(class_acc)),
        "log_loss": float(np.mean(losses)),
        "class_average_log_loss": float(np.nanmean(class_loss)),
        "class_accuracy": tolist(class_acc),
        "class_log_loss": tolist(class_loss),
    }


def main():
    path = sys.argv[1]
    seen = {"city": set(filter(None, (sys.argv[2] if len(sys.argv) > 2 else "").split(","))),
            "device": set(filter(None, (sys.argv[3] if len(sys.argv) > 3 else "").split(",")))}
    rows = [line.rstrip("\n").split("\t") for line in open(path, encoding="utf-8") if line.strip()]
    header, rows = rows[0], rows[1:]
    reserved = {"filename", "scene_label", "true_label", "city", "device"}
    classes = [h for h in header if h not in reserved]
    k = len(classes)
    col = {h: i for i, h in enumerate(header)}
    index = {c: i for i, c in enumerate(classes)}
    y = np.array([index[r[col["true_label"]]] for r in rows])
    yhat = np.array([index[r[col["scene_label"]]] for r in rows])
    proba = np.array([[float(r[col[c]]) for c in classes] for r in rows], dtype=np.float64)
    confusion = np.zeros((k, k), dtype=int)
    np.add.at(confusion, (y, yhat), 1)
    out = {"overall": summary(y, yhat, proba, k), "confusion": confusion.tolist()}
    for key in ("city", "device"):
        if key not in col:
            continue
        values = np.array([r[col[key]] for r in rows])
        groups = {}
        for g in sorted(set(values)):
            m = values == g
            groups[g] = summary(y[m], yhat[m], proba[m], k)
        entry = {"groups": groups}
        if seen[key]:
            m = np.array([v in seen[key] for v in values])
            entry["seen"] = summary(y[m], yhat[m], proba[m], k) if m.any() else None
            entry["unseen"] = summary(y[~m], yhat[~m], proba[~m], k) if (~m).any() else None
        out[key] = entry
    print(json.dumps(out))


if __name__ == "__main__":
    main()
