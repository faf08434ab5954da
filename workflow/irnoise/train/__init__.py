"""Training one run: noisy labels and shards in, a model and its history out.

`job` is `irnoise train`: it reads the label files (`labels`), runs `loop`, and writes
model.pt and history.csv. `loop` runs the epochs; `runtime` is where it runs (CPU, one
GPU or a DDP rank: device, seeds, the DDP plumbing, its log); `trainee` is the module
each step calls (network and loss as one, with a noise-robust method's filter).
`models` builds a backbone with an embedding head and loads trained models; `losses`
builds pytorch-metric-learning losses by name and the class logits of those with class
weights; `methods` holds the noise-robust methods' filters; `checkpoint` saves and
restores the state of every epoch, so that a killed job resumes where it stopped.
"""
