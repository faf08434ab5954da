"""Evaluating one run: a trained model and a clean split in, metrics out.

`embed` embeds a split with the model; `knn` finds exact nearest neighbors through
faiss; `metrics` holds the metric definitions (docs/design.md, "Metrics"); `tasks`
decides which splits and metrics each task (retrieval, classification, verification)
reports.
"""
