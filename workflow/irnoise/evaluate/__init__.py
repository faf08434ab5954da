"""Evaluation: embedding a clean split with a trained model (`embed`), exact kNN
through faiss (`knn`), the metric definitions (`metrics`) and which splits and metrics
each task reports (`tasks`)."""
