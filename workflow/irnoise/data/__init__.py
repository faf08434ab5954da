"""From raw images to training batches: everything before the noise is applied.

`datasets` reads each supported dataset in its native layout into one index of records
per split; `synthetic` generates the embedded datasets in those same layouts; `images`
checks, decodes and resizes one image for a shard (a damaged one is refused); `sharding`
writes a dataset's shards with worker processes, in the tar format of `ustar`, and its
`manifest`; `loader` streams the shards back as batches, with the noisy labels overlaid
by row. `reference_class_sizes` reads the real datasets' class-size histograms shipped
as package data. Nothing here knows about noise, models or metrics.
"""
