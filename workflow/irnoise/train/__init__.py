"""Training one run: noisy labels and shards in, a model and its history out.

`models` builds a backbone with an embedding head and loads trained models; `losses`
builds pytorch-metric-learning losses by name and the class logits of those with class
weights; `loop` runs the epochs (single process or DDP); `checkpoint` saves and restores
the state of every epoch, so that a killed job resumes where it stopped.
"""
