"""Training: backbones with an embedding head (`models`), pytorch-metric-learning
losses by name (`losses`), the epoch loop (`loop`), and per-epoch checkpoints that let
a killed job resume (`checkpoint`)."""
